"""How the handout writes names: elements, partial derivatives, transposes, shapes, layers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ... import naming
from ...latex_printing import given

#: Index letters of vectors and matrices (the tutorials' j and jk), then for tensors of
#: rank 3 and more (i, j, k, l, m, n); the rest serve when a formula needs letters besides.
VECTOR_LETTERS = "jkilmnpqrsuvw"
TENSOR_LETTERS = "ijklmnpqrsuvw"


def index_tokens(index: str | tuple[str, ...] | list[str]) -> list[str]:
    """The indices of an element: a sequence as given; a string split at commas (``j,8+k``)
    or else one letter each, primes kept with their letter (``jk'`` is j, k')."""
    if not isinstance(index, str):
        return list(index)
    if "," in index:
        return index.split(",")
    tokens: list[str] = []
    for c in index:
        if c == "'" and tokens:
            tokens[-1] += c
        else:
            tokens.append(c)
    return tokens


def subscript(index: str | tuple[str, ...] | list[str]) -> str:
    """Indices as a subscript: side by side for a vector or a matrix of single letters or
    digits (``jk``, ``tu'``, ``12``), separated by commas otherwise (``h,t,u``; ``j,8+k``), so
    that every element of a tensor reads unambiguously."""
    tokens = index_tokens(index)
    simple = len(tokens) <= 2 and all(re.fullmatch(r"[A-Za-z0-9]'*", t) for t in tokens)
    return "".join(tokens) if simple else ",".join(tokens)


def generic_element(node: str, indices: str | tuple[str, ...], matrix: bool = False, layered: bool = True) -> str:
    """Element ``indices`` (e.g. ``j``, ``jk``, ``ijk``, or a list of index expressions) of a
    node: ``w^{(2)}_{jk}``, ``s_{i,j,k}``, a graph spec's ``(W_{1})_{jk}`` (``naming.latex_indexed``)."""
    return naming.latex_indexed(node, subscript(indices), layered, matrix)


def partial(of: str, wrt: str) -> str:
    return rf"\frac{{\partial {of}}}{{\partial {wrt}}}"


def index_letters(shape: tuple[int, ...], avoid: str = "") -> str:
    """Index letters of an element of a tensor of ``shape``, one per axis: '', 'j', 'jk',
    'ijk', 'ijkl', ...; none of the letters in ``avoid`` (those a formula already uses)."""
    pool = VECTOR_LETTERS if len(shape) <= 2 else TENSOR_LETTERS
    return "".join(c for c in pool if c not in avoid)[: len(shape)]


def constants_tex(named) -> str | None:
    """``$\\mathrm{alpha} = 0.1$, $c = 0.5$``: constants (name, value) by the spec's names with
    their values as a spec writes them (0.1, not \\frac{1}{10}); None for none.  The one spelling
    of constants on every page: titles, the layer table, the figure's captions, exercises."""
    return ", ".join(rf"${naming.escape_latex_name(name)} = {given(float(value))}$" for name, value in named) or None


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


def count_words(n: int, noun: str) -> str:
    """``1 parameter``, ``12 parameters``: a count with its noun, singular for one."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


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
