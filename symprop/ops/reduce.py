"""``sum(a)`` / ``mean(a)`` over a whole per-sample tensor or one axis: the adjoint is spread
back over the summed elements unchanged (times the 1/n of a mean)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from .base import Adjoint, AdjointCode, Op, ShapeRuleError, check_call, element_indices

SUM = "sum"


def _axes(axes: list[int]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


@dataclass(frozen=True)
class Reduce(Op):
    """``sum(a)`` / ``mean(a)`` over the whole per-sample tensor (``axis`` None) or one axis."""

    shape_in: tuple[int, ...]
    axis: int | None = None
    mean: bool = False

    CALL_NAMES = ("sum", "mean")

    @classmethod
    def from_call(cls, function, shapes, keywords, texts):
        check_call(shapes, keywords, 1, allowed=("axis",))
        shape = shapes[0]
        axis = keywords.get("axis")
        if axis is None:
            return cls(shape, None, function == "mean"), ()
        if not (isinstance(axis, sp.Integer) and -len(shape) <= int(axis) < len(shape)):
            raise ShapeRuleError(f"axis must be a whole number for a tensor of shape {list(shape)}, got {axis}")
        axis = int(axis) % len(shape)
        return cls(shape, axis, function == "mean"), shape[:axis] + shape[axis + 1 :]

    @property
    def count(self) -> int:
        return math.prod(self.shape_in) if self.axis is None else self.shape_in[self.axis]

    @property
    def scale(self) -> sp.Expr:
        return sp.Rational(1, self.count) if self.mean else sp.S.One

    @property
    def function(self) -> str:
        return "mean" if self.mean else "sum"

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, SUM, self.scale)]

    def elements(self, node, args):
        flat = dict(zip(element_indices(self.shape_in), args[0]))
        if self.axis is None:
            return [self.scale * sum(args[0])]
        out = []
        for index in element_indices(node.shape):
            terms = [flat[index[: self.axis] + (k,) + index[self.axis :]] for k in range(self.shape_in[self.axis])]
            out.append(self.scale * sum(terms))
        return out

    # -- NumPy --------------------------------------------------------------------------

    def numpy(self, node, code):
        array = code.use(node.inputs[0])
        if code.batched(node.name):
            axes = list(range(1, len(self.shape_in) + 1)) if self.axis is None else [self.axis + 1]
            spelled = f"{array}.{self.function}(axis={_axes(axes) if axes else '()'})"
        else:
            spelled = f"{array}.{self.function}()" if self.axis is None else f"{array}.{self.function}(axis={self.axis})"
        where = "" if self.axis is None else f", axis={self.axis}"
        return spelled, f"{node.name} = {self.function}({node.inputs[0]}{where})"

    def numpy_adjoint(self, step, code):
        source = code.node(step.source)
        target = code.node(step.target)
        batched = code.batched(source.name)
        if self.axis is None:
            per_sample = ["None"] * len(self.shape_in)  # the sum is one number per sample
        else:
            per_sample = [":"] * len(source.shape)
            per_sample.insert(self.axis, "None")
        index = [":"] * batched + per_sample
        g = code.grad(step.source)
        upstream = f"{g}[{', '.join(index)}]" if "None" in index else g
        shape = "(N" + "".join(f", {n}" for n in target.shape) + ("," if not target.shape else "") + ")"
        spelled = f"np.broadcast_to({upstream}, {shape if batched else tuple(target.shape)})"
        if self.mean:
            spelled = f"{spelled} / {self.count}"
        elif target.op.role == "param":
            spelled = f"{spelled}.copy()"
        return AdjointCode(
            spelled, f"dE/d{source.name}, spread over the {self.function}" + (f" / {self.count}" if self.mean else "")
        )

    # -- LaTeX --------------------------------------------------------------------------

    def latex(self, node, tex):
        what = rf"\operatorname{{{self.function}}}"
        axis = "" if self.axis is None else rf"_{{\text{{axis }}{self.axis + 1}}}"
        return rf"{what}{axis}\left({tex.node_tex(node.inputs[0])}\right)"

    def latex_adjoint(self, step, tex, eq):
        a, s = step.target, step.source
        idx = tex.index_letters(tex.node(a).shape)
        kept = "" if self.axis is None else idx[: self.axis] + idx[self.axis + 1 :]
        scale = "" if step.local == 1 else tex.to_latex(step.local) + r" \, "
        element = rf"{tex.partial('E', tex.el(a, idx))} {eq} {scale}{tex.partial('E', tex.el(s, kept))}"
        vector = rf"{tex.partial('E', tex.node_tex(a))} {eq} {scale}{tex.partial('E', tex.node_tex(s))}"
        vector += r" \text{ in every element}" if self.axis is None else rf" \text{{ along axis {self.axis + 1}}}"
        note = "a sum sends its adjoint to every term unchanged" + (", times the 1/n of a mean" if scale else "")
        return element, vector, note

    def words(self, step, tex):
        return rf"back through the sum ${tex.node_tex(step.source)}$"
