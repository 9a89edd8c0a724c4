"""Element indices of per-sample tensors: every index of a shape, row-major positions, and
which element of an operand NumPy broadcasting reads."""

from __future__ import annotations

import itertools


def element_indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every index of ``shape``, row-major (``[()]`` for a scalar)."""
    return list(itertools.product(*(range(n) for n in shape)))


def flat_index(index: tuple[int, ...], shape: tuple[int, ...]) -> int:
    """The row-major position of ``index`` in an array of ``shape`` (0 for a scalar)."""
    flat = 0
    for i, n in zip(index, shape):
        flat = flat * n + i
    return flat


def unflat_index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index at row-major position ``flat`` of ``shape`` (``flat_index`` undone)."""
    index = []
    for n in reversed(shape):
        flat, i = divmod(flat, n)
        index.append(i)
    return tuple(reversed(index))


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    """NumPy's broadcast of per-sample shapes (trailing axes aligned, size 1 stretches); None if they clash."""
    rank = max(len(s) for s in shapes)
    result = []
    for axis in range(rank):
        sizes = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0} - {1}
        if len(sizes) > 1:
            return None
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def broadcast_flat(index: tuple[int, ...], shape: tuple[int, ...]) -> int:
    """The flat position in an array of ``shape`` that output element ``index`` reads under broadcasting."""
    own = index[len(index) - len(shape) :] if shape else ()
    flat = 0
    for i, n in zip(own, shape):
        flat = flat * n + (i if n > 1 else 0)
    return flat


def broadcast_tokens(letters: str, shape: tuple[int, ...], out: tuple[int, ...]) -> list[str]:
    """The index of an operand of ``shape`` at output element ``letters`` (of shape ``out``) under
    NumPy broadcasting: the trailing letters, 1 on an axis of size 1 that was stretched."""
    own = letters[len(letters) - len(shape) :] if shape else ""
    return ["1" if n == 1 and m > 1 else c for c, n, m in zip(own, shape, out[len(out) - len(shape) :])]
