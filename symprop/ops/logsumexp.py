"""``logsumexp(x, axis=-1) = log(sum_i exp(x_i))`` along one axis: a smooth maximum.

Computed shifted by the maximum, so no exponential overflows; its adjoint is the upstream
adjoint times ``softmax(x)``, written ``exp(x - logsumexp(x))`` from the forward value.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .base import Adjoint, AdjointCode, Op
from .softmax import axis_groups, axis_suffix, one_axis, row_tags, scalar_exps

LOGSUMEXP = "logsumexp"

#: The module's helper: stable for any input (the shift by the maximum).
HELPER = (
    "def _logsumexp(x, axis=-1):\n"
    '    """log(sum(exp(x))) along an axis, shifted by the maximum so exp never overflows."""\n'
    "    m = x.max(axis=axis, keepdims=True)\n"
    "    return np.squeeze(m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True)), axis=axis)\n"
)

#: Numba's spelling along the last axis of a (batch, n) array (Numba has no keepdims): a loop over rows.
NUMBA_HELPER = (
    "def _logsumexp(x, axis=-1):\n"
    '    """log(sum(exp(x))) along the last axis of 2-D x, shifted by the row maximum."""\n'
    "    out = np.empty(x.shape[0], x.dtype)\n"
    "    for i in range(x.shape[0]):\n"
    "        m = x[i].max()\n"
    "        out[i] = m + np.log(np.sum(np.exp(x[i] - m)))\n"
    "    return out\n"
)


@dataclass(frozen=True)
class LogSumExp(Op):
    """``log(sum_i exp(x_i))`` along ``axis`` (counted from the end) of one sample's tensor."""

    shape_in: tuple[int, ...] = ()
    axis: int = -1

    name = "logsumexp"
    CALL_NAMES = ("logsumexp",)

    @classmethod
    def from_call(cls, call):
        shape, axis = one_axis(call, "logsumexp")
        return cls(shape, axis - len(shape)), shape[:axis] + shape[axis + 1 :]

    def elements(self, node, args):
        return [sp.log(sum(sp.exp(args[0][p]) for p in group)) for group in axis_groups(self.shape_in, self.axis)]

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, LOGSUMEXP)]

    def scalar(self, node, code):
        """max + log(sum_i exp(x_i - max)) per row: exp never overflows."""
        xs, outs = code.view.symbols[node.inputs[0]], code.view.symbols[node.name]
        groups = axis_groups(self.shape_in, self.axis)
        lines = []
        for out, group, tag in zip(outs, groups, row_tags(groups)):
            row, top, exps = scalar_exps(code, node.name, [xs[p] for p in group], tag)
            lines += [*row, (out.name, code.code(top + sp.log(sp.Add(*exps))))]
        return lines

    @property
    def numba_helpers(self) -> dict[str, str]:
        """Along the one axis of a vector per sample (NUMBA_HELPER); none otherwise (refused)."""
        return {"logsumexp": NUMBA_HELPER} if len(self.shape_in) == 1 else {}

    def numpy(self, node, code):
        code.require_helper("logsumexp", HELPER)
        where = axis_suffix(self.axis)
        return f"_logsumexp({code.use(node.inputs[0])}{where})", f"{node.name} = log(sum_i exp({node.inputs[0]}_i)){where}"

    def numpy_adjoint(self, step, code):
        target = code.node(step.target)
        batched = code.batched(step.source)
        index = [":"] * batched + [":"] * len(target.shape)
        index[len(index) + self.axis] = "None"
        forward = f"{code.use(step.source)}[{', '.join(index)}]" if batched or len(target.shape) > 1 else code.use(step.source)
        upstream = f"{code.grad(step.source)}[{', '.join(index)}]" if batched or len(target.shape) > 1 else code.grad(step.source)
        spelled = f"{upstream} * np.exp({code.use(step.target)} - {forward})"
        return AdjointCode(spelled, f"dE/d{step.source} * softmax({step.target})")

    def tokens(self, tex) -> tuple[str, str, str]:
        """(the input's letters, the output's, the letter summed along the axis)."""
        letters = tex.index_letters(self.shape_in)
        k = len(self.shape_in) + self.axis
        return letters, letters[:k] + letters[k + 1 :], letters[k]

    def latex(self, node, tex):
        if len(self.shape_in) == 1:
            return rf"\log \sum_i e^{{{tex.el(node.inputs[0], 'i')}}}"
        axis = len(self.shape_in) + self.axis + 1
        return rf"\operatorname{{logsumexp}}_{{\text{{axis }}{axis}}}\left({tex.node_tex(node.inputs[0])}\right)"

    def latex_element(self, node, tex):
        if len(self.shape_in) == 1:
            return None
        letters, kept, k = self.tokens(tex)
        return tex.el(node.name, kept), rf"\log \sum_{{{k}}} e^{{{tex.el(node.inputs[0], letters)}}}"

    def latex_adjoint(self, step, tex, eq):
        x, s = step.target, step.source
        letters, kept, _ = self.tokens(tex)
        upstream = tex.partial("E", tex.el(s, kept))
        element = rf"{tex.partial('E', tex.el(x, letters))} {eq} {upstream} \, e^{{{tex.el(x, letters)} - {tex.el(s, kept)}}}"
        vector = ""
        if len(self.shape_in) == 1:
            softmax = rf"\operatorname{{softmax}}\left({tex.node_tex(x)}\right)"
            vector = rf"{tex.partial('E', tex.node_tex(x))} {eq} {upstream} \, {softmax}"
        return element, vector, r"the derivative of a log-sum-exp is the softmax: $\partial s / \partial x_j = e^{x_j - s}$"

    def words(self, step, tex):
        return rf"back through the log-sum-exp ${tex.node_tex(step.source)}$"
