"""Notebook representations of a Derivation and of one gradient (``_repr_latex_``, ``_repr_markdown_``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .handout import Handout

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
