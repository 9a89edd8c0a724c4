"""The handout's figure as SVG, drawn from the very layout the LaTeX figure is drawn from.

``emit/latex/figure.py`` and ``graph_figure.py`` compute every position of the figure (in
centimetres, y upwards, as TikZ reads them) and every label (LaTeX); this module only draws
them: circles, boxes and arrows (bent where the layout bends them) as SVG shapes, each label
as HTML in a ``foreignObject`` whose math the page typesets with KaTeX: a computational
graph's gates in its boxes, and on its edges the worked example's values (green, above) and
gradients (red, below), turned with the edge as TikZ's ``sloped`` turns them; a small
network's weights where ``figure.py`` places them.  TikZ sizes a box to its text; SVG cannot measure text, so
a box's width is estimated from its label (``math_units``) and the
arrows end on that estimate.  The block diagram of a wide layer stack is the one figure whose
positions TikZ places itself (``right=of``): its boxes are put side by side here, 14 mm apart
as there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..latex.edge_routing import parse_bend
from .markup import Break, Code, Emph, Math, Small, Text, parse, to_html

#: Pixels per centimetre of the TikZ layout, and a character's width (px) by kind.
PX = 48.0
MATH_CHAR, TEXT_CHAR = 10.0, 7.4
#: The TikZ styles' fills and strokes.
FILLS = {"neuron": "#eff0fd", "input": "#e0e0e0", "param": "#e6f9e6", "op": "#eff0fd", "loss": "#fcebeb", "gap": "none"}
EDGE, LIGHT_EDGE, READS = "#4d4d4d", "#8c8c8c", "#1d6b1d"
#: An edge's value at the worked example (TikZ's green!40!black) and its gradient (red!70!black).
VALUE, GRADIENT = "#006600", "#b30000"
#: How far the loss's outgoing arrow runs (cm, as the TikZ figure's ``++(1.3, 0)``).
OUT_ARROW = 1.3


@dataclass
class Shape:
    """A node: centre (px, y downwards), half width and height, a circle or a (rounded) box."""

    x: float
    y: float
    hw: float
    hh: float
    fill: str
    html: str
    circle: bool = False
    rounded: bool = True
    thick: bool = False

    def boundary(self, dx: float, dy: float) -> tuple[float, float]:
        """Where the ray from the centre in direction (dx, dy) leaves the shape."""
        length = math.hypot(dx, dy) or 1.0
        if self.circle:
            t = self.hw / length
        else:
            t = min(self.hw / abs(dx) if dx else math.inf, self.hh / abs(dy) if dy else math.inf)
        return self.x + dx * t, self.y + dy * t


@dataclass
class Curve:
    """An arrow's path (px): a line, or a cubic Bezier (``c0``, ``c1`` its control points)."""

    start: tuple[float, float]
    end: tuple[float, float]
    c0: tuple[float, float] | None = None
    c1: tuple[float, float] | None = None

    def at(self, t: float) -> tuple[float, float, float]:
        """The point at TikZ's ``pos=t`` (the curve's time, not its length) and the direction
        there, in degrees, turned as TikZ's ``sloped`` turns a label: never upside down."""
        (x0, y0), (x3, y3) = self.start, self.end
        if self.c0 is None or self.c1 is None:
            x, y, dx, dy = x0 + (x3 - x0) * t, y0 + (y3 - y0) * t, x3 - x0, y3 - y0
        else:
            (x1, y1), (x2, y2) = self.c0, self.c1
            u = 1 - t
            x = u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3
            y = u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3
            dx = 3 * u * u * (x1 - x0) + 6 * u * t * (x2 - x1) + 3 * t * t * (x3 - x2)
            dy = 3 * u * u * (y1 - y0) + 6 * u * t * (y2 - y1) + 3 * t * t * (y3 - y2)
        angle = math.degrees(math.atan2(dy, dx))
        if angle > 90:
            angle -= 180
        elif angle <= -90:
            angle += 180
        return x, y, angle


def figure_svg(figure: dict) -> str:
    """The figure of the handout's context (``Handout.figure()`` or ``graph_figure()``) as inline SVG."""
    drawing = _Drawing()
    kind = figure["kind"]
    if kind == "neurons":
        _neurons(drawing, figure)
    elif kind in ("graph", "diagram"):
        _boxes(drawing, figure)
    elif kind == "blocks":
        _blocks(drawing, figure)
    else:
        raise ValueError(f"no SVG drawing for a figure of kind {kind!r}")
    return drawing.svg()


# -- sizes ------------------------------------------------------------------------------------


def label_size(tex: str, scale: float = 1.0) -> tuple[float, float]:
    """(width, height) in px that a label of the handout's LaTeX prose roughly needs."""
    lines: list[float] = [0.0]
    heights: list[float] = [18.0 * scale]

    def walk(nodes, factor):
        for node in nodes:
            if isinstance(node, Break):
                lines.append(0.0)
                heights.append(18.0 * factor)
            elif isinstance(node, Math):
                lines[-1] += math_units(node.tex) * MATH_CHAR * factor
                heights[-1] = max(heights[-1], (24.0 if "^" in node.tex and "_" in node.tex else 20.0) * factor)
            elif isinstance(node, (Text, Code)):
                lines[-1] += len(node.value) * TEXT_CHAR * factor
            elif isinstance(node, (Emph, Small)):
                walk(node.children, factor * (0.8 if isinstance(node, Small) else 1.0))

    walk(parse(tex), scale)
    return max(lines), sum(heights)


#: Commands that print nothing themselves, and those set with space around them (relations, operators).
_INVISIBLE = {"left", "right", "mathrm", "operatorname", "mathbb", "text", "mathit", "bigl", "bigr", "Bigl", "Bigr"}
_SPACED = {"in", "times", "cdot", "odot", "to", "le", "ge"}


def math_units(tex: str) -> float:
    """The width of a formula in characters of its text size: scripts at 0.7, space around
    relations and operators and after punctuation, commands as one symbol (a rough measure;
    SVG cannot measure)."""
    units, scales, script = 0.0, [1.0], False
    for token in re.findall(r"\\[A-Za-z]+|\\.|.", tex):
        scale = scales[-1] * (0.7 if script else 1.0)
        if token in "^_":
            script = True
            continue
        if token == "{":
            scales.append(scale)
        elif token == "}":
            if len(scales) > 1:
                scales.pop()
        elif token.startswith("\\") and token[1:] in _INVISIBLE:
            pass
        elif token.startswith("\\") and token[1:] in _SPACED or token in "=+-<>":
            units += 2.0 * scale
        elif token in ",;":  # punctuation, and the thin space math sets after it
            units += 0.9 * scale
        elif token != " ":
            units += (0.5 if token == "." else 1.0) * scale
        script = False
    return units


def _html(tex: str) -> str:
    return to_html(parse(tex))


def _px(value: str) -> float:
    return float(value) * PX


def _mm(size: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)mm", size)
    if match is None:
        raise ValueError(f"a figure size in mm expected, got {size!r}")
    return float(match.group(1)) / 10 * PX


# -- the figures ------------------------------------------------------------------------------


def _neurons(d: _Drawing, figure: dict) -> None:
    radius = _mm(figure["size"]) / 2
    shapes = {}
    for n in figure["nodes"]:
        shapes[n["name"]] = d.add(
            Shape(_px(n["x"]), -_px(n["y"]), radius, radius, FILLS[n["style"]], _html(f"${n['label']}$"), circle=True, thick=True)
        )
    for e in figure["edges"]:
        source, target = shapes[e["source"]], shapes[e["target"]]
        if e["label"]:  # a tiny network: arrows, each with its weight, where figure.py places it
            position, side = label_place(e["place"])
            label = f"${e['label']}$"
            d.edge_label(d.arrow(source, target), position, side, _html(label), "weight", label_size(label, 0.8))
        else:
            d.line(source, target)
    loss = d.add(Shape(_px(figure["loss_x"]), 0.0, 18.0, 18.0, FILLS["loss"], _html("$E$"), thick=True))
    target = d.add(Shape(loss.x, loss.y + loss.hh + 0.35 * PX + 12, 34.0, 12.0, "none", _html("target $t$")))
    d.arrow(target, loss)
    for name in figure["outputs"]:
        d.arrow(shapes[name], loss)
    top = -_px(figure["caption_y"])
    for c in figure["captions"]:
        tex = rf"{c['text']}\\\footnotesize {c['sub']}"
        width, height = label_size(tex, 0.9)
        d.text(_px(c["x"]), top + height / 2, width / 2 + 8, height / 2, _html(tex), "caption")


def _boxes(d: _Drawing, figure: dict) -> None:
    """The computational graph (``graph``) and the block diagram of a graph spec (``diagram``)."""
    shapes = {}
    for n in figure["nodes"]:
        tex = f"${n['label']}$"
        if n.get("gate"):  # the computational graph: the op's gate, its name small below
            tex = rf"${n['gate']}$\\{{\scriptsize ${n['label']}$}}"
        if "shape" in n:  # the diagram: the node, its shape, what it reads without an arrow
            tex += rf"\\\footnotesize ${n['shape']}$"
        width, height = label_size(tex)
        if n.get("reads"):
            read_width, read_height = label_size(f"${n['reads']}$", 0.7)
            width, height = max(width, read_width), height + read_height
        minimum = (11 if "shape" in n else 9) / 10 * PX, (9 if "shape" in n else 7) / 10 * PX
        html = _html(tex)
        if n.get("reads"):
            reads = _html(f"${n['reads']}$")
            html += f'<br><span class="reads" style="color:{READS}">{reads}</span>'
        style = n["style"]
        shapes[n["name"]] = d.add(
            Shape(
                _px(n["x"]),
                -_px(n["y"]),
                max(width + 8, minimum[0]) / 2,
                max(height + 8, minimum[1]) / 2,
                FILLS[style],
                html,
                rounded=style != "input" and style != "param",
                thick=style == "loss",
            )
        )
    gap = figure.get("gap")
    if gap:
        tex = rf"$\cdots$\\{gap['text']}\\$\cdots$"
        shapes[gap["name"]] = d.add(Shape(_px(gap["x"]), 0.0, 0.65 * PX, 40.0, "none", _html(tex), rounded=False), kind="gap")
    for e in figure["edges"]:
        turn, looseness = parse_bend(e["bend"]) if e.get("bend") else (0.0, 1.0)
        curve = d.arrow(shapes[e["source"]], shapes[e["target"]], turn, e.get("style") == "dashed", looseness)
        if e.get("value"):
            _value_and_gradient(d, curve, e["value"], e["gradient"])
    out = figure.get("out")
    if out:  # the loss's value, and dE/dE = 1, on an arrow out of it
        loss = shapes[out["node"]]
        start = (loss.x + loss.hw, loss.y)
        curve = d.line_arrow(start, (start[0] + OUT_ARROW * PX, start[1]))
        _value_and_gradient(d, curve, out["value"], out["gradient"])


def _value_and_gradient(d: _Drawing, curve: Curve, value: str, gradient: str) -> None:
    """What the computational-graph lecture writes on an edge: the value (green, above) and the
    gradient of E by it (red, below), halfway along, turned with the edge."""
    for tex, side, colour in ((value, "above", VALUE), (gradient, "below", GRADIENT)):
        d.edge_label(curve, 0.5, side, _html(f"${tex}$"), "value", label_size(f"${tex}$", 0.7), colour)


def label_place(place: str) -> tuple[float, str]:
    """TikZ's ``pos=0.2, below`` (``figure.py``'s label place) as (0.2, "below")."""
    match = re.fullmatch(r"pos=(\d+(?:\.\d+)?), (above|below)", place)
    if match is None:
        raise ValueError(f"a label place the SVG figure cannot draw: {place!r}")
    return float(match.group(1)), match.group(2)


def _blocks(d: _Drawing, figure: dict) -> None:
    """The block diagram of a wide layer stack: side by side, 14 mm apart, then the loss."""
    x, previous = 0.0, None
    for b in figure["blocks"]:
        width, height = label_size(b["label"])
        half = width / 2 + 10
        shape = Shape(
            x + half,
            0.0,
            half,
            max(height + 16, 1.4 * PX) / 2,
            FILLS["input" if previous is None else "op"],
            _html(b["label"]),
            thick=True,
        )
        d.add(shape)
        if previous is not None:
            d.arrow(previous, shape)
            edge_width, edge_height = label_size(b["edge"], 0.9)
            middle = (previous.x + previous.hw + shape.x - shape.hw) / 2
            d.text(middle, -edge_height / 2 - 4, edge_width / 2 + 4, edge_height / 2, _html(b["edge"]), "caption")
        x += 2 * half + 1.4 * PX
        previous = shape
    loss = d.add(Shape(x + 18, 0.0, 18.0, 18.0, FILLS["loss"], _html("$E$"), thick=True))
    d.arrow(previous, loss)
    target = d.add(Shape(loss.x, loss.y + loss.hh + 0.5 * PX + 12, 34.0, 12.0, "none", _html("target $t$")))
    d.arrow(target, loss)


# -- drawing ----------------------------------------------------------------------------------


class _Drawing:
    """Shapes, lines and labels in px, written out as one ``<svg>`` whose viewBox holds them all."""

    def __init__(self):
        self.back: list[str] = []  # lines and arrows, under the shapes
        self.front: list[str] = []
        self.extent = [math.inf, math.inf, -math.inf, -math.inf]

    def grow(self, x0: float, y0: float, x1: float, y1: float) -> None:
        e = self.extent
        self.extent = [min(e[0], x0), min(e[1], y0), max(e[2], x1), max(e[3], y1)]

    def add(self, s: Shape, kind: str = "node") -> Shape:
        stroke = "none" if s.fill == "none" else "#222"
        width = 1.6 if s.thick else 1.0
        if s.circle:
            self.front.append(
                f'<circle cx="{s.x:.1f}" cy="{s.y:.1f}" r="{s.hw:.1f}" fill="{s.fill}" stroke="{stroke}" stroke-width="{width}"/>'
            )
        else:
            corner = 5 if s.rounded else 0
            self.front.append(
                f'<rect x="{s.x - s.hw:.1f}" y="{s.y - s.hh:.1f}" width="{2 * s.hw:.1f}" height="{2 * s.hh:.1f}" rx="{corner}"'
                f' fill="{s.fill}" stroke="{stroke}" stroke-width="{width}"/>'
            )
        self.label(s.x, s.y, s.hw, s.hh, s.html, kind)
        self.grow(s.x - s.hw, s.y - s.hh, s.x + s.hw, s.y + s.hh)
        return s

    def text(self, x: float, y: float, hw: float, hh: float, html: str, kind: str) -> None:
        self.label(x, y, hw, hh, html, kind)
        self.grow(x - hw, y - hh, x + hw, y + hh)

    def label(self, x: float, y: float, hw: float, hh: float, html: str, kind: str, turn: str = "", style: str = "") -> None:
        """HTML centred at (x, y) in a box of half sizes (hw, hh); ``turn``: an SVG transform,
        ``style``: the label's own style attribute (its colour)."""
        # The foreignObject is wider than the box: a label a little wider than estimated still shows whole.
        spare = 40.0
        turn = f' transform="{turn}"' if turn else ""
        box = f'x="{x - hw - spare:.1f}" y="{y - hh:.1f}" width="{2 * (hw + spare):.1f}" height="{2 * hh:.1f}"'
        self.front.append(
            f"<foreignObject {box}{turn}>"
            f'<div xmlns="http://www.w3.org/1999/xhtml" class="label {kind}"{style}><div>{html}</div></div></foreignObject>'
        )

    def arrow(self, a: Shape, b: Shape, bend: float = 0.0, dashed: bool = False, looseness: float = 1.0) -> Curve:
        dx, dy = b.x - a.x, b.y - a.y
        angle = math.atan2(dy, dx)
        turn = math.radians(bend)  # TikZ's bend left: leave turned by -bend (y down: counter-clockwise)
        out = (math.cos(angle - turn), math.sin(angle - turn))
        into = (math.cos(angle + turn), math.sin(angle + turn))
        x0, y0 = a.boundary(*out)
        x1, y1 = b.boundary(-into[0], -into[1])
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        if bend:
            reach = 0.3915 * looseness * math.hypot(x1 - x0, y1 - y0)  # TikZ's control distance
            c0 = (x0 + out[0] * reach, y0 + out[1] * reach)
            c1 = (x1 - into[0] * reach, y1 - into[1] * reach)
            path = f"M{x0:.1f},{y0:.1f} C{c0[0]:.1f},{c0[1]:.1f} {c1[0]:.1f},{c1[1]:.1f} {x1:.1f},{y1:.1f}"
            self.grow(min(x0, c0[0], c1[0], x1), min(y0, c0[1], c1[1], y1), max(x0, c0[0], c1[0], x1), max(y0, c0[1], c1[1], y1))
            curve = Curve((x0, y0), (x1, y1), c0, c1)
        else:
            path = f"M{x0:.1f},{y0:.1f} L{x1:.1f},{y1:.1f}"
            curve = Curve((x0, y0), (x1, y1))
        self.back.append(f'<path d="{path}" fill="none" stroke="{EDGE}" stroke-width="1.1"{dash} marker-end="url(#arrow)"/>')
        return curve

    def line_arrow(self, start: tuple[float, float], end: tuple[float, float]) -> Curve:
        """An arrow between two points (not shapes): the loss's arrow out of the figure."""
        (x0, y0), (x1, y1) = start, end
        path = f"M{x0:.1f},{y0:.1f} L{x1:.1f},{y1:.1f}"
        self.back.append(f'<path d="{path}" fill="none" stroke="{EDGE}" stroke-width="1.1" marker-end="url(#arrow)"/>')
        self.grow(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        return Curve(start, end)

    def line(self, a: Shape, b: Shape) -> None:
        x0, y0 = a.boundary(b.x - a.x, b.y - a.y)
        x1, y1 = b.boundary(a.x - b.x, a.y - b.y)
        self.back.append(f'<path d="M{x0:.1f},{y0:.1f} L{x1:.1f},{y1:.1f}" stroke="{LIGHT_EDGE}" stroke-width="0.6"/>')

    def edge_label(
        self, curve: Curve, position: float, side: str, html: str, kind: str, size: tuple[float, float], colour: str = ""
    ) -> None:
        """A label on an edge, ``position`` of the way along (TikZ's ``pos``), turned with the edge
        (``sloped``) and set ``above`` or ``below`` it, 1.5 px clear (``inner sep``); ``size``: its
        estimated (width, height)."""
        x, y, angle = curve.at(position)
        hw, hh = size[0] / 2 + 2, size[1] / 2
        offset = (hh + 1.5) * (-1 if side == "above" else 1)
        style = f' style="color:{colour}"' if colour else ""
        self.label(x, y + offset, hw, hh, html, kind, turn=f"rotate({angle:.1f} {x:.1f} {y:.1f})", style=style)
        reach = max(hw, abs(offset) + hh)
        self.grow(x - reach, y - reach, x + reach, y + reach)

    def svg(self) -> str:
        x0, y0, x1, y1 = self.extent
        margin = 12.0
        x0, y0, width, height = x0 - margin, y0 - margin, x1 - x0 + 2 * margin, y1 - y0 + 2 * margin
        marker = (
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"'
            ' orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{EDGE}"/></marker></defs>'
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="figure" viewBox="{x0:.1f} {y0:.1f} {width:.1f} {height:.1f}"'
            f' width="{width:.0f}" height="{height:.0f}" style="max-width: max(100%, {0.85 * width:.0f}px)" role="img">{marker}'
            + "".join(self.back)
            + "".join(self.front)
            + "</svg>"
        )
