"""``logsumexp(x) = log(sum_i exp(x_i))`` of a per-sample vector: a smooth maximum.

Computed shifted by the maximum, so no exponential overflows; its adjoint is the upstream
adjoint times ``softmax(x)``, written ``exp(x - logsumexp(x))`` from the forward value.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .base import Adjoint, AdjointCode, Op, ShapeRuleError, check_call

LOGSUMEXP = "logsumexp"

#: The module's helper: stable for any input (the shift by the maximum).
HELPER = (
    "def _logsumexp(x):\n"
    '    """log(sum(exp(x))) over the last axis, shifted by the maximum so exp never overflows."""\n'
    "    m = x.max(axis=-1, keepdims=True)\n"
    "    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]\n"
)


@dataclass(frozen=True)
class LogSumExp(Op):
    """``log(sum_i exp(x_i))`` of one sample's vector (a scalar per sample)."""

    name = "logsumexp"
    CALL_NAMES = ("logsumexp",)

    @classmethod
    def from_call(cls, function, shapes, keywords, texts):
        check_call(shapes, keywords, 1)
        if len(shapes[0]) != 1:
            raise ShapeRuleError(f"logsumexp needs a vector, got shape {list(shapes[0])}")
        return cls(), ()

    def elements(self, node, args):
        return [sp.log(sum(sp.exp(x) for x in args[0]))]

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, LOGSUMEXP)]

    def numpy(self, node, code):
        code.require_helper("logsumexp", HELPER)
        return f"_logsumexp({code.use(node.inputs[0])})", f"{node.name} = log(sum_i exp({node.inputs[0]}_i))"

    def numpy_adjoint(self, step, code):
        target = code.node(step.target)
        forward = code.code(code.operand(step.source, target))  # the forward value, lined up with x
        upstream = code.code(code.expanded(step.source, 1))
        spelled = f"{upstream} * np.exp({code.use(step.target)} - {forward})"
        return AdjointCode(spelled, f"dE/d{step.source} * softmax({step.target})")

    def latex(self, node, tex):
        return rf"\log \sum_i e^{{{tex.el(node.inputs[0], 'i')}}}"

    def latex_adjoint(self, step, tex, eq):
        x, s = step.target, step.source
        upstream = tex.partial("E", tex.node_tex(s))
        element = rf"{tex.partial('E', tex.el(x, 'j'))} {eq} {upstream} \, e^{{{tex.el(x, 'j')} - {tex.node_tex(s)}}}"
        vector = rf"{tex.partial('E', tex.node_tex(x))} {eq} {upstream} \, \operatorname{{softmax}}\left({tex.node_tex(x)}\right)"
        return element, vector, r"the derivative of a log-sum-exp is the softmax: $\partial s / \partial x_j = e^{x_j - s}$"

    def words(self, step, tex):
        return rf"back through the log-sum-exp ${tex.node_tex(step.source)}$"
