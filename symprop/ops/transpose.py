"""``a.T``: the transpose of a per-sample matrix; its adjoint is the transposed adjoint."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op

TRANSPOSE = "transpose"


@dataclass(frozen=True)
class Transpose(Op):
    """``a.T`` of a per-sample matrix."""

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, TRANSPOSE)]

    def elements(self, node, args):
        cols, rows = node.shape  # the input is (rows, cols)
        return [args[0][j * cols + i] for i in range(cols) for j in range(rows)]

    def numpy(self, node, code):
        array = code.use(node.inputs[0])
        spelled = f"np.swapaxes({array}, 1, 2)" if code.batched(node.name) else f"{array}.T"
        return spelled, f"{node.name} = {node.inputs[0]}.T"

    def numpy_adjoint(self, step, code):
        g = code.grad(step.source)
        spelled = f"np.swapaxes({g}, 1, 2)" if code.batched(step.source) else f"{g}.T"
        return AdjointCode(spelled, f"(dE/d{step.source})^T")

    def latex(self, node, tex):
        return tex.transpose(tex.node_tex(node.inputs[0]))

    def latex_adjoint(self, step, tex, eq):
        a, b = step.target, step.source
        element = rf"{tex.partial('E', tex.el(a, 'jk'))} {eq} {tex.partial('E', tex.el(b, 'kj'))}"
        vector = rf"{tex.partial('E', tex.node_tex(a))} {eq} {tex.transpose(tex.partial('E', tex.node_tex(b)))}"
        return element, vector, ""

    def words(self, step, tex):
        return rf"back through the transpose ${tex.node_tex(step.source)}$"
