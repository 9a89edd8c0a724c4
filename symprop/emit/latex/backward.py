"""The backward pass step by step, each step beside the NumPy line that computes it.

Each step is written by the op of the node that sends the adjoint (``Op.latex_adjoint`` and
``Op.words``); this section gives them the handout as their context and lays the steps out.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import sympy as sp

from ...latex_printing import paren, to_latex, visible_length
from ...ops.base import accumulate
from ..numpy import ModuleBuilder
from .layout import split_equation
from .limits import BACKWARD_MAX_STEPS, SIDE_BY_SIDE
from .notation import index_letters, partial, subscript, transpose_tex
from .tex import Tex, code, text
from .unrolled import Gap, gapped

if TYPE_CHECKING:
    from ...derivation import Step


class BackwardSection:
    """The backward pass step by step, each step beside the NumPy line that computes it."""

    @cached_property
    def numpy_lines(self) -> list[list]:
        """The lines of the module's backward() for each step, exactly as the NumPy builder
        writes them."""
        return ModuleBuilder(self.d).step_lines()

    def backward(self) -> list[dict]:
        """Each step shown (of a long unrolled network, those of the steps shown; of a very long
        one, the first and the last) with its forms and NumPy lines; a gap for each run left out."""
        steps = list(enumerate(self.d.steps))
        keep = [self.unrolled.shown(step.source) for step in self.d.steps]
        items = []
        for entry in gapped(steps, keep, BACKWARD_MAX_STEPS):
            if isinstance(entry, Gap):
                words = self.unrolled.left_out([step.source for _, step in entry.items], "backward steps")
                items.append({"gap": text(words + ("; backward() in the module has them all" if self.shows_code else ""))})
                continue
            i, step = entry
            element, vector, note = self.step_math(step)
            if not self.graph.nodes[step.target].shape and not self.graph.nodes[step.source].shape:
                vector = ""  # between scalars the element form is the whole story: no second, equal line
            elif vector and self.visible_length(element) + self.visible_length(vector) <= SIDE_BY_SIDE:
                element, vector = rf"{element}, \qquad {vector}", ""  # short: both forms on one line
            items.append(
                {
                    "step": i,  # its index in derivation.steps: the HTML edition links code lines to it
                    "title": Tex(self.step_title(step)),
                    "forms": [Tex(split_equation(form)) for form in (element, vector) if form],
                    "note": Tex(note),
                    "code": [code(line.code) for line in self.numpy_lines[i]],
                }
            )
        return items

    def step_title(self, step: Step) -> str:
        what = self.graph.nodes[step.source].op.words(step, self)
        if step.accumulate:
            what += ", added to what it already received"
        name = self.adjoint_tex(step.target)  # a layer's delta, or else dE/d(node) written inline
        if not name.startswith(r"\delta"):
            name = rf"\partial E / \partial {self.node_tex(step.target)}"
        return rf"${name}$: {what}"

    def step_math(self, step: Step) -> tuple[str, str, str]:
        """(element form, vector form, a remark) of one backward step, as its op writes it."""
        return self.graph.nodes[step.source].op.latex_adjoint(step, self, accumulate(step))

    # -- what the ops ask of the handout (``symprop.ops.base.LatexContext``) ----------------

    def node(self, name: str):
        return self.graph.nodes[name]

    def upstream(self, node: str) -> tuple[str, str, str] | None:
        """dE/d``node`` spelled out (element j, vector, a remark) when one step alone sends it
        and its op can spell it (the delta recursion; the loss's derivative)."""
        senders = [s for s in self.d.steps if s.target == node]
        if len(senders) != 1:
            return None
        spell = getattr(self.graph.nodes[senders[0].source].op, "latex_upstream", None)
        return spell(senders[0], self) if spell else None

    def local(self, expr: sp.Expr, names: dict[sp.Symbol, str], vector: bool = False) -> str:
        if vector:
            return to_latex(expr, names, hadamard=True)
        return to_latex(expr, names)

    def factor(self, expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
        if isinstance(expr, sp.Add) or expr.could_extract_minus_sign():
            return paren(to_latex(expr, names))
        return to_latex(expr, names)

    partial = staticmethod(partial)
    transpose = staticmethod(transpose_tex)
    index_letters = staticmethod(index_letters)
    subscript = staticmethod(subscript)
    paren = staticmethod(paren)
    visible_length = staticmethod(visible_length)
    to_latex = staticmethod(to_latex)
