"""How the handout writes names: elements, partial derivatives, transposes, shapes, layers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ... import naming


def generic_element(node: str, indices: str, matrix: bool = False) -> str:
    """Element ``indices`` (LaTeX, e.g. ``j`` or ``jk``) of a node: ``w^{(2)}_{jk}``."""
    base = naming.latex_base(node)
    if matrix and base[:1] == "W":
        base = "w" + base[1:]
    return f"{base}_{{{indices}}}"


def partial(of: str, wrt: str) -> str:
    return rf"\frac{{\partial {of}}}{{\partial {wrt}}}"


def index_letters(shape: tuple[int, ...]) -> str:
    """Index letters of an element of a tensor of ``shape``: '', 'j' or 'jk'."""
    return "jkl"[: len(shape)] if len(shape) <= 2 else "ijkl"[: len(shape)]


def op_name(op) -> str:
    """The name of a layer's activation op (``identity`` for none)."""
    return "identity" if op is None else op.name


def transpose_tex(tex: str) -> str:
    r"""``x^{\top}`` for one letter, ``\bigl(a^{(1)}\bigr)^{\top}`` otherwise (no double superscript)."""
    if re.fullmatch(r"[A-Za-z]", tex):
        return tex + r"^{\top}"
    return r"\bigl(" + tex + r"\bigr)^{\top}"


def shape_tex(shape: tuple[int, ...]) -> str:
    if not shape:
        return "1"
    return r" \times ".join(f"{n:,}".replace(",", "{,}") for n in shape)


def count_tex(n: int) -> str:
    return f"{n:,}".replace(",", "{,}")


@dataclass
class Layer:
    """One dense layer of the graph: ``z = W a_prev (+ b)``, ``a = f(z)``."""

    index: int
    z: str
    weight: str
    data: str
    bias: str | None
    a: str | None  # the activation node, or None
    op: object | None  # its op (Activation or Softmax)
    units: int
    fan_in: int
