"""Notebook representations of a Derivation and of one gradient (``_repr_latex_``, ``_repr_markdown_``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sympy as sp

from ... import naming
from ...latex_printing import paren, to_latex
from .handout import Handout
from .notation import partial

if TYPE_CHECKING:
    from ...derivation import Derivation


def repr_latex(derivation: Derivation) -> str:
    """The backward pass in vector form, as one display for Jupyter (``_repr_latex_``)."""
    handout = Handout(derivation)
    rows = [handout.step_math(step)[1] for step in derivation.steps]
    body = r" \\ ".join(_align(row) for row in rows)
    return r"$$\begin{aligned} " + body + r" \end{aligned}$$"


def repr_markdown(derivation: Derivation) -> str:
    """A short Markdown summary with the backward pass (``_repr_markdown_``)."""
    handout = Handout(derivation)
    network = derivation.network
    name = _markdown_escape(network.name)
    if handout.graph_mode:
        about = _markdown_escape(getattr(network, "summary", "a graph spec"))
    else:
        sizes = " → ".join([str(network.inputs)] + [str(layer.units) for layer in network.layers])
        about = f"{sizes}, {handout.param_count:,} parameters, loss {_markdown_escape(network.loss.name)}"
    return f"**{name}**: {about}\n\n{repr_latex(derivation)}\n"


def gradient_latex(gradient) -> str:
    """dE/d(one parameter element) as the chain of factors and their product (``_repr_latex_``)."""
    names = {s: _element_tex_from_name(s.name) for s in _symbols_of(gradient)}
    factors = r" \, ".join(partial(names.get(f.of, "E"), names[f.wrt]) for f in gradient.factors)
    values = r" \cdot ".join(
        paren(to_latex(f.expr, names)) if isinstance(f.expr, sp.Add) else to_latex(f.expr, names) for f in gradient.factors
    )
    lhs = rf"\frac{{\partial E}}{{\partial {names[gradient.symbol]}}}"
    if len(gradient.factors) == 1:
        return f"$${lhs} = {values}$$"
    return f"$${lhs} = {factors} = {values}$$"


def _symbols_of(gradient) -> list[sp.Symbol]:
    symbols = {gradient.symbol}
    for f in gradient.factors:
        symbols |= {f.of, f.wrt} | f.expr.free_symbols
    return sorted(symbols, key=lambda s: s.name)


def _element_tex_from_name(name: str) -> str:
    """``a2_1`` -> ``a^{(2)}_{1}``, ``W2_12`` -> ``w^{(2)}_{12}`` (layer-stack names)."""
    match = re.fullmatch(r"([A-Za-z]+\d*)_(\d+(?:_\d+)*)", name)
    if not match:
        return naming.latex_base(name)
    node, suffix = match.groups()
    if "_" in suffix:
        index = tuple(int(i) - 1 for i in suffix.split("_"))
    elif node[:1] == "W" and len(suffix) == 2:
        index = (int(suffix[0]) - 1, int(suffix[1]) - 1)
    else:
        index = (int(suffix) - 1,)
    return naming.latex_element(node, index)


def _align(row: str) -> str:
    """Put an alignment point before the first top-level '=' of a vector equation."""
    for marker in (r" \mathrel{+}= ", " = "):
        if marker in row:
            head, tail = row.split(marker, 1)
            return f"{head} &{marker.strip()} {tail}"
    return row


def _markdown_escape(value: str) -> str:
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # not ( ) or $: Jupyter's MathJax reads \( \) and $ as math delimiters
    return re.sub(r"([\\`*_\[\]#|])", r"\\\1", value).replace("$", "&#36;")
