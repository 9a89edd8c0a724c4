"""What convolution (``ops.conv``) and pooling (``ops.pool``) share: windows sliding over the
spatial axes of a per-sample tensor (channels first: ``[C, H, W]`` or ``[C, L]``).

Here are their shape rules' common parts (a size, stride or padding given as one whole
number or one per spatial axis) and the position of a window's element (``s i + p - P``), in
code for the elements and in LaTeX for the handout.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from .. import naming
from .shape_rule import ShapeRuleError, whole_number

#: The handout's index letters, each role with the letters that stand in for its first when a
#: node of the graph is shown as one of them (a pooling node p and an offset p would read
#: alike): output channel, (input) channel, output positions and offsets within a window
#: (one letter per spatial axis, taken as a group).
CHOICES = {
    "out": ("o", "s", "z"),
    "channel": ("c", "k", "l", "r"),
    "positions": ("ij", "mn", "ef"),
    "offsets": ("pq", "uv", "ab"),
}


@dataclass(frozen=True)
class Letters:
    """Index letters for one op's handout lines (see ``index_letters``)."""

    out: str
    channel: str
    positions: tuple[str, ...]
    offsets: tuple[str, ...]

    def source(self, stride: tuple[int, ...], padding: tuple[int, ...]) -> list[str]:
        """The handout's ``s i + p - P`` for each spatial axis: ``2i+p``, ``i+q-1``."""
        out = []
        for i, p, s, pad in zip(self.positions, self.offsets, stride, padding):
            out.append(f"{'' if s == 1 else s}{i}+{p}" + (f"-{pad}" if pad else ""))
        return out


def index_letters(graph: Any, dims: int) -> Letters:
    """The first choice of ``CHOICES`` for every role that no node of ``graph`` is shown as
    (``c``, or ``c_{1}`` for a node ``c1``), for ``dims`` spatial axes."""
    shown = set()
    for name in graph.nodes:
        tex = naming.latex_base(name, layered=False)  # convolutions are in graph specs only
        if re.fullmatch(r"[a-z](_\{.*\})?", tex):
            shown.add(tex[0])

    def pick(role: str, size: int = 1) -> str:
        return next((c[:size] for c in CHOICES[role] if not shown & set(c[:size])), CHOICES[role][0][:size])

    return Letters(pick("out"), pick("channel"), tuple(pick("positions", dims)), tuple(pick("offsets", dims)))


def per_axis(value: Any, what: str, dims: int, low: int) -> tuple[int, ...]:
    """A size, stride or padding: one whole number for every spatial axis, or a tuple of
    ``dims`` of them; each at least ``low``.  ShapeRuleError otherwise."""
    if isinstance(value, tuple):
        if len(value) != dims:
            raise ShapeRuleError(f"{what} must be a whole number or {dims} of them, got {len(value)}: {value}")
        return tuple(whole_number(v, what, low) for v in value)
    return (whole_number(value, what, low),) * dims


def spatial_text(values: tuple[int, ...]) -> str:
    """``2`` for (2, 2), ``(2, 3)`` otherwise: how a per-axis number is shown in comments."""
    return str(values[0]) if len(set(values)) == 1 else "(" + ", ".join(map(str, values)) + ")"


def output_size(size: int, window: int, stride: int, padding: int = 0) -> int:
    """Window positions along an axis of ``size`` (PyTorch's floor rule)."""
    return (size + 2 * padding - window) // stride + 1


def window_sources(
    out_position: tuple[int, ...], offsets: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...]
) -> tuple[int, ...]:
    """The input position that window element ``offsets`` of output position ``out_position``
    reads: ``s i + p - P`` along each axis (outside the input: the zero padding)."""
    return tuple(s * i + p - pad for i, p, s, pad in zip(out_position, offsets, stride, padding))


def window_elements(spatial: tuple[int, ...], window: tuple[int, ...], out_position, stride, padding):
    """(offsets, input position) of the elements of one window that lie inside the input."""
    for offsets in itertools.product(*(range(m) for m in window)):
        source = window_sources(out_position, offsets, stride, padding)
        if all(0 <= q < n for q, n in zip(source, spatial)):
            yield offsets, source
