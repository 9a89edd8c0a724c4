"""``softmax(z)`` over one sample's vector: ``y_i = exp(z_i) / sum_k exp(z_k)``.

Not elementwise: every output depends on every input, so its adjoint is the Jacobian-vector
product ``dz = y * (dy - sum_i dy_i y_i)``.  After cross-entropy the two fuse into ``y - t``
(``symprop.derivation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .base import Adjoint, AdjointCode, Op, ShapeRuleError, check_call

SOFTMAX = "softmax"


@dataclass(frozen=True)
class Softmax(Op):
    """``y_i = exp(z_i) / sum_k exp(z_k)`` over one sample's vector."""

    name = "softmax"
    coupled = True
    CALL_NAMES = ("softmax",)

    @classmethod
    def from_call(cls, function, shapes, keywords, texts):
        check_call(shapes, keywords, 1)
        if len(shapes[0]) != 1:
            raise ShapeRuleError(f"softmax needs a vector, got shape {list(shapes[0])}")
        return cls(), shapes[0]

    def elements(self, node, args):
        exps = [sp.exp(z) for z in args[0]]
        total = sum(exps)
        return [e / total for e in exps]

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, SOFTMAX)]

    def scalar_adjoints(self, node, upstream, view):
        """dE/dz_k = sum_i dE/da_i a_i (delta_ik - a_k)."""
        outs = view.symbols[node.name]
        for k, z in enumerate(view.symbols[node.inputs[0]]):
            yield z, sum(bar * a * (int(i == k) - outs[k]) for i, (a, bar) in enumerate(zip(outs, upstream)))

    def numpy(self, node, code):
        code.printer.helpers.add("softmax")
        return f"_softmax({code.use(node.inputs[0])})", f"{node.name} = softmax({node.inputs[0]})"

    def numpy_adjoint(self, step, code):
        name = step.source
        y, g = code.use(name), code.grad(name)
        return AdjointCode(
            f"{y} * ({g} - ({g} * {y}).sum(axis=-1, keepdims=True))",
            f"{name} * (dE/d{name} - sum_i dE/d{name}_i {name}_i)",
        )

    def latex(self, node, tex):
        return rf"{tex.function_tex(self)}\left({tex.node_tex(node.inputs[0])}\right)"

    def latex_adjoint(self, step, tex, eq):
        z, a = step.target, step.source
        el, partial = tex.generic, tex.partial
        element = (
            rf"{partial('E', el(z, 'j'))} {eq} {el(a, 'j')} \Bigl("
            rf"{partial('E', el(a, 'j'))} - \sum_i {partial('E', el(a, 'i'))} {el(a, 'i')}\Bigr)"
        )
        grad_a = partial("E", tex.node_tex(a))
        vector = (
            rf"{partial('E', tex.node_tex(z))} {eq} {tex.node_tex(a)} \odot \Bigl("
            rf"{grad_a} - {tex.transpose(grad_a)} {tex.node_tex(a)}\Bigr)"
        )
        return element, vector, r"from the softmax Jacobian $\partial y_i / \partial z_j = y_i(\delta_{ij} - y_j)$"

    def words(self, step, tex):
        return "back through the softmax"

    def claim_adjoint(self, step, upstream, plain):
        g = plain.p(upstream)
        return f"{step.source} * ({g} - sum({g} * {step.source}))"
