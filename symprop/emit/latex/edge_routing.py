"""Which way an arrow of a figure bends so that it passes no box.

An arrow is drawn as TikZ draws ``to[bend left=θ]`` (and the SVG figure copies it): a cubic
Bézier whose control points lie at 0.3915 of the chord from each end (looseness 1), turned by
θ off the chord.  Straight first; else the smallest turn, to the left (over, for an arrow
drawn rightwards) before the right, whose curve stays clear of every box it does not join.
Pure geometry, in the figure's own units (cm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: TikZ's control distance for looseness 1, as a fraction of the chord.
REACH = 0.3915
#: The turns tried, in degrees, smallest first.
TURNS = (15, 25, 35, 45, 60, 75)
#: Points sampled along a curve to test it against the boxes.
SAMPLES = 48


@dataclass(frozen=True)
class Box:
    """A box centred at (x, y) with half width and half height (margins included)."""

    x: float
    y: float
    half_width: float
    half_height: float

    def holds(self, px: float, py: float) -> bool:
        return abs(px - self.x) <= self.half_width and abs(py - self.y) <= self.half_height


def _curve(start: Box, end: Box, turn: float) -> list[tuple[float, float]]:
    """Points of the arrow from ``start`` to ``end`` turned by ``turn`` degrees (left positive)."""
    (x0, y0), (x3, y3) = (start.x, start.y), (end.x, end.y)
    chord = math.atan2(y3 - y0, x3 - x0)
    reach = REACH * math.hypot(x3 - x0, y3 - y0)
    out, into = chord + math.radians(turn), chord - math.radians(turn)
    x1, y1 = x0 + reach * math.cos(out), y0 + reach * math.sin(out)
    x2, y2 = x3 - reach * math.cos(into), y3 - reach * math.sin(into)
    points = []
    for i in range(1, SAMPLES):
        t = i / SAMPLES
        a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
        points.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
    return points


def clear(start: Box, end: Box, turn: float, others: list[Box]) -> bool:
    inside_ends = (start, end)
    for px, py in _curve(start, end, turn):
        if any(box.holds(px, py) for box in inside_ends):
            continue  # still leaving the source, or already arriving
        if any(box.holds(px, py) for box in others):
            return False
    return True


def bend(start: Box, end: Box, others: list[Box], default: str) -> str:
    """The TikZ bend option of the arrow from ``start`` to ``end`` ("" for straight) that passes
    none of ``others``; ``default`` when every turn tried meets one."""
    if clear(start, end, 0, others):
        return ""
    for turn in TURNS:
        if clear(start, end, turn, others):
            return f"bend left={turn}"
        if clear(start, end, -turn, others):
            return f"bend right={turn}"
    return default
