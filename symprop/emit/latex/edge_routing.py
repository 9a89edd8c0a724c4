"""Which way an arrow of a figure bends so that it passes no box.

An arrow is drawn as TikZ draws ``to[bend left=θ]`` (and the SVG figure copies it): it leaves
its box's border turned by θ off the line between the two centres and enters the other's border
turned by θ the other way, a cubic Bézier whose control points lie at 0.3915 of the chord
between those two border points (looseness 1).  (Modelled from the centres, the curve bulged
further than the one drawn: self_attention's X -> h arc was judged clear of the q box it
crossed, a new user's finding.)  Straight first; else the smallest turn, to the left (over, for an arrow
drawn rightwards) before the right, whose curve stays clear of every box it does not join.
Pure geometry, in the figure's own units (cm).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: TikZ's control distance for looseness 1, as a fraction of the chord.
REACH = 0.3915
#: The turns tried, in degrees, smallest first; then the same with a longer reach (TikZ's
#: looseness), for an arc that must climb over a whole column (self_attention's X -> h, over q;
#: lstm's c1 -> c2 over h1 and the four gates of step 2, which needs 90 degrees: at 75 it ran
#: through o2, a user's finding).
TURNS = (15, 25, 35, 45, 60, 75, 90)
LOOSENESS = (1.0, 1.5, 2.0)
#: Points sampled along a curve to test it against the boxes.
SAMPLES = 48


@dataclass(frozen=True)
class Box:
    """A box centred at (x, y) with half width and half height (margins included)."""

    x: float
    y: float
    half_width: float
    half_height: float
    margin: float = 0.0  # the air in the half sizes: the drawn border lies this far inside

    def holds(self, px: float, py: float) -> bool:
        return abs(px - self.x) <= self.half_width and abs(py - self.y) <= self.half_height

    def border(self, angle: float) -> tuple[float, float]:
        """Where a ray from the centre at ``angle`` (radians) leaves the drawn rectangle."""
        dx, dy = math.cos(angle), math.sin(angle)
        w, h = self.half_width - self.margin, self.half_height - self.margin
        reach = min(w / abs(dx) if dx else math.inf, h / abs(dy) if dy else math.inf)
        return self.x + reach * dx, self.y + reach * dy


def _curve(start: Box, end: Box, turn: float, looseness: float = 1.0) -> list[tuple[float, float]]:
    """Points of the arrow from ``start`` to ``end`` turned by ``turn`` degrees (left positive)."""
    chord = math.atan2(end.y - start.y, end.x - start.x)
    out, into = chord + math.radians(turn), chord - math.radians(turn)
    (x0, y0), (x3, y3) = start.border(out), end.border(into + math.pi)
    reach = REACH * looseness * math.hypot(x3 - x0, y3 - y0)
    x1, y1 = x0 + reach * math.cos(out), y0 + reach * math.sin(out)
    x2, y2 = x3 - reach * math.cos(into), y3 - reach * math.sin(into)
    points = []
    for i in range(1, SAMPLES):
        t = i / SAMPLES
        a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
        points.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
    return points


def clear(start: Box, end: Box, turn: float, others: list[Box], looseness: float = 1.0) -> bool:
    inside_ends = (start, end)
    for px, py in _curve(start, end, turn, looseness):
        if any(box.holds(px, py) for box in inside_ends):
            continue  # still leaving the source, or already arriving
        if any(box.holds(px, py) for box in others):
            return False
    return True


def bend(start: Box, end: Box, others: list[Box], default: str) -> str:
    """The TikZ bend option of the arrow from ``start`` to ``end`` ("" for straight) that passes
    none of ``others`` (``bend left=60, looseness=1.5``: a turn with a longer reach); ``default``
    when every turn tried meets one."""
    if clear(start, end, 0, others):
        return ""
    for looseness in LOOSENESS:
        reach = "" if looseness == 1 else f", looseness={looseness:g}"
        for turn in TURNS:
            if clear(start, end, turn, others, looseness):
                return f"bend left={turn}{reach}"
            if clear(start, end, -turn, others, looseness):
                return f"bend right={turn}{reach}"
    return default


def parse_bend(option: str) -> tuple[float, float]:
    """(the turn in degrees, left positive; the looseness) of a bend option ``bend`` wrote (or
    ``_edge``'s default): what the SVG figure and the tests read back."""
    match = re.fullmatch(r"bend (left|right)=(\d+)(?:, looseness=([\d.]+))?", option)
    if match is None:
        raise ValueError(f"an edge bend the figure cannot draw: {option!r}")
    side, turn, looseness = match.groups()
    return float(turn) * (1 if side == "left" else -1), float(looseness or 1)
