"""The notebook's ``_repr_latex_`` of a Derivation (its ``_repr_markdown_``, the whole handout, is the web
edition's Markdown: ``symprop/emit/web/markdown.py``)."""

from __future__ import annotations

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


def _align(row: str) -> str:
    """Put an alignment point before the first top-level '=' of a vector equation."""
    for marker in (r" \mathrel{+}= ", " = "):
        if marker in row:
            head, tail = row.split(marker, 1)
            return f"{head} &{marker.strip()} {tail}"
    return row
