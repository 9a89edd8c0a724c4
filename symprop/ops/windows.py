"""What convolution (``ops.conv``) and pooling (``ops.pool``) share: windows sliding over the
spatial axes of a per-sample tensor (channels first: ``[C, H, W]`` or ``[C, L]``).

Here are their shape rules' common parts (a size, stride or padding given as one whole
number or one per spatial axis) and the position of a window's element (``s i + p - P``), in
code for the elements and in LaTeX for the handout.
"""

from __future__ import annotations

import itertools
from typing import Any

from .base import ShapeRuleError, whole_number

#: Index letters of the output positions and of the offsets within a window, per spatial axis.
POSITION_LETTERS = "ij"
OFFSET_LETTERS = "pq"


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


def source_tex(stride: tuple[int, ...], padding: tuple[int, ...]) -> list[str]:
    """The handout's ``s i + p - P`` for each spatial axis: ``2i+p``, ``i+q-1``."""
    out = []
    for i, p, s, pad in zip(POSITION_LETTERS, OFFSET_LETTERS, stride, padding):
        text = f"{'' if s == 1 else s}{i}+{p}"
        out.append(text + (f"-{pad}" if pad else ""))
    return out
