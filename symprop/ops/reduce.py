"""``sum(a)``, ``mean(a)`` and ``max(a)`` over a whole per-sample tensor or some of its axes
(``axis=1``, ``axis=(0, 2)``, ``keepdims=1``).

The adjoint of a sum is spread back over the summed elements unchanged (times the 1/n of a
mean); that of a maximum goes to the elements equal to it, split evenly between ties (as
autograd does, and as ``max(a, b)`` splits a tie).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from .base import Adjoint, AdjointCode, Op, axes_code, batched_axes
from .indices import element_indices
from .shape_rule import ShapeRuleError, axis_list

SUM = "sum"
KINDS = ("sum", "mean", "max")


@dataclass(frozen=True)
class Reduce(Op):
    """``kind`` (sum, mean or max) over ``axes`` of the per-sample tensor (None: all of them)."""

    shape_in: tuple[int, ...]
    axes: tuple[int, ...] | None = None
    kind: str = "sum"
    keepdims: bool = False

    CALL_NAMES = ("sum", "mean", "max")

    @property
    def numpy_uniform(self) -> bool:
        """A sum or mean spreads a uniform adjoint (one float) as that float: see numpy_adjoint."""
        return self.kind != "max"

    @classmethod
    def from_call(cls, call):
        if call.function == "max" and len(call.tensors) == 2:
            raise ShapeRuleError("elementwise max of two tensors is handled elsewhere")  # not reached: lowering
        call.check(1, allowed=("axis", "keepdims"), values=0 if call.function == "max" else 1)
        shape = call.shapes[0]
        axis = call.constant(0, "axis")  # sum(x, 1) as in NumPy; max(x, 1) is the elementwise maximum
        keep = call.keywords.get("keepdims", False)
        if keep not in (0, 1):  # True and False compare equal to 1 and 0
            raise ShapeRuleError(f"keepdims must be True or False (or 1 or 0), got {keep}")
        keep = bool(keep)
        if axis is None:
            axes = None
            kept = tuple(1 for _ in shape) if keep else ()
        else:
            if not shape:
                raise ShapeRuleError("a scalar has no axis to reduce")
            axes = axis_list(axis, len(shape))
            kept = tuple(1 if k in axes else n for k, n in enumerate(shape) if keep or k not in axes)
        return cls(tuple(shape), axes, call.function, keep), kept

    @property
    def reduced(self) -> tuple[int, ...]:
        return tuple(range(len(self.shape_in))) if self.axes is None else self.axes

    @property
    def count(self) -> int:
        return math.prod(self.shape_in[k] for k in self.reduced)

    @property
    def scale(self) -> sp.Expr:
        return sp.Rational(1, self.count) if self.kind == "mean" else sp.S.One

    @property
    def function(self) -> str:
        return self.kind

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, SUM, self.scale)]

    def elements(self, node, args):
        flat = dict(zip(element_indices(self.shape_in), args[0]))
        groups: dict[tuple, list] = {}
        for index, value in flat.items():
            key = tuple(i for k, i in enumerate(index) if k not in self.reduced)
            groups.setdefault(key, []).append(value)
        # The terms are distinct element symbols, so SymPy's Max has nothing to reduce: evaluating
        # it would only compare every pair of them (quadratic, 30 s for 100 elements).
        if self.kind == "max":
            return [sp.Max(*terms, evaluate=False) for terms in groups.values()]
        return [self.scale * sp.Add(*terms) for terms in groups.values()]  # sum(): quadratic in the terms

    # -- NumPy --------------------------------------------------------------------------

    def numpy(self, node, code):
        batched = code.batched(node.name)
        keep = ", keepdims=True" if self.keepdims else ""
        pair = self.vdot_operands(node, code)
        if pair is not None:  # sum(W * W), an L2 penalty: the product is never stored
            return f"np.vdot({code.use(pair[0])}, {code.use(pair[1])})", f"{node.name} = sum({pair[0]} * {pair[1]})"
        if batched or self.axes is not None:
            axes = batched_axes(self.reduced, batched)
            spelled = f"{code.use(node.inputs[0])}.{self.function}(axis={axes_code(axes) if axes else '()'}{keep})"
        else:
            spelled = f"{code.use(node.inputs[0])}.{self.function}({keep[2:]})"
        where = "" if self.axes is None else f", axis={axes_code(self.axes)}"
        return spelled, f"{node.name} = {self.function}({node.inputs[0]}{where}{keep})"

    def vdot_operands(self, node, code) -> tuple[str, str] | None:
        """The two nodes whose product this node sums whole, when it is one ``np.vdot`` of
        parameter-sized arrays (``Op.product_operands``): one BLAS pass, 0.5 us for an (8, 4) W
        against 1.4 us for ``(W ** 2).sum()`` (NumPy 2.4)."""
        if self.kind != SUM or self.keepdims or self.axes is not None or code.batched(node.name):
            return None
        source = code.node(node.inputs[0])
        pair = source.op.product_operands(source)
        return pair if pair is not None and not any(code.batched(name) for name in pair) else None

    def expanded(self, array: str, batched: bool) -> str:
        """A reduced array lined up with the input again (``M[:, None]``)."""
        if self.keepdims:
            return array
        per_sample = [":"] * len(self.shape_in)
        for k in self.reduced:
            per_sample[k] = "None"
        index = [":"] * batched + per_sample
        return f"{array}[{', '.join(index)}]" if "None" in index else array

    def numpy_adjoint(self, step, code):
        source = code.node(step.source)
        target = code.node(step.target)
        batched = code.batched(source.name)
        upstream = self.expanded(code.grad(step.source), batched)
        if self.kind == "max":
            array = code.use(step.target)
            name, line = code.temporary(
                f"({array} == {self.expanded(code.use(step.source), batched)}).astype({array}.dtype)",
                f"where {step.target} equals its maximum {step.source}",
            )
            axes = axes_code(batched_axes(self.reduced, batched))
            spelled = f"{upstream} * {name} / {name}.sum(axis={axes}, keepdims=True)"
            return AdjointCode(spelled, f"dE/d{source.name} where {step.target} is the maximum, ties split", prelude=(line,))
        if code.uniform(source.name):  # one float for every element: spread, it stays that float
            spelled = code.grad(source.name) + (f" / {self.count}" if self.kind == "mean" else "")
            return AdjointCode(spelled, f"dE/d{source.name}, the same for every element of the {self.function}")
        shape = "(N" + "".join(f", {n}" for n in target.shape) + ("," if not target.shape else "") + ")"
        if batched:  # a view: no copy of a batch of per-sample tensors
            spelled = f"np.broadcast_to({upstream}, {shape})"
        else:  # values of parameters alone, small: a fresh array in ~1 us (np.broadcast_to's wrapper takes ~7)
            spelled = f"np.full({tuple(target.shape)}, {upstream})"
        if self.kind == "mean":
            spelled = f"{spelled} / {self.count}"
        elif target.op.role == "param" and batched:
            spelled = f"{spelled}.copy()"
        return AdjointCode(
            spelled, f"dE/d{source.name}, spread over the {self.function}" + (f" / {self.count}" if self.kind == "mean" else "")
        )

    # -- LaTeX --------------------------------------------------------------------------

    def latex(self, node, tex):
        what = rf"\operatorname{{{self.function}}}"
        if self.axes is None:
            axis = ""
        else:
            axis = rf"_{{\text{{axis }}{', '.join(str(k + 1) for k in self.axes)}}}"
        return rf"{what}{axis}\left({tex.node_tex(node.inputs[0])}\right)"

    def tokens(self, tex) -> tuple[str, list[str], str]:
        """(the input's letters, the output's index: the kept letters, 1 on a kept axis of
        keepdims, the summed letters)."""
        letters = tex.index_letters(self.shape_in)
        summed = "".join(c for k, c in enumerate(letters) if k in self.reduced)
        kept = [("1" if self.keepdims else "") if k in self.reduced else c for k, c in enumerate(letters)]
        return letters, [c for c in kept if c], summed

    def latex_element(self, node, tex):
        if self.axes is None:
            return None  # sum(a) of everything says it
        letters, kept, summed = self.tokens(tex)
        a = tex.el(node.inputs[0], letters)
        if self.kind == "max":
            rhs = rf"\max_{{{','.join(summed)}}} {a}"
        else:
            front = rf"\frac{{1}}{{{self.count}}} " if self.kind == "mean" else ""
            rhs = rf"{front}\sum_{{{','.join(summed)}}} {a}"
        return tex.el(node.name, kept), rhs

    def latex_adjoint(self, step, tex, eq):
        a, s = step.target, step.source
        letters, kept, summed = self.tokens(tex)
        upstream = tex.partial("E", tex.el(s, kept))
        if self.kind == "max":
            others = [c + "'" if c in summed else c for c in letters]
            ties = rf"\sum_{{{','.join(c + chr(39) for c in summed)}}} [{tex.el(a, others)} = {tex.el(s, kept)}]"
            chosen = rf"\frac{{[{tex.el(a, letters)} = {tex.el(s, kept)}]}}{{{ties}}}"
            element = rf"{tex.partial('E', tex.el(a, letters))} {eq} {upstream} \, {chosen}"
            return element, "", "the maximum sends its adjoint to the element that attains it (split evenly between ties)"
        scale = "" if step.local == 1 else tex.to_latex(step.local) + r" \, "
        element = rf"{tex.partial('E', tex.el(a, letters))} {eq} {scale}{upstream}"
        note = "a sum sends its adjoint to every term unchanged" + (", times the 1/n of a mean" if scale else "")
        if self.axes is not None:
            return element, "", note + f", the same for every ${', '.join(summed)}$"
        whole = tex.partial("E", tex.node_tex(s))
        vector = rf"{tex.partial('E', tex.node_tex(a))} {eq} {scale}{whole} \text{{ in every element}}"
        return element, vector, note

    def gate_pattern(self, node, tex):
        """A sum distributes the gradient, a mean shares it out, a max routes it to the largest element."""
        said = {
            "sum": "A sum distributes the gradient: every element it adds up receives the sum's gradient unchanged.",
            "mean": "A mean shares the gradient out: every element it averages receives it divided by their count.",
            "max": "A maximum routes the gradient: the largest element receives all of it, the others none.",
        }
        return f"reduce {self.kind}", said[self.kind]

    def words(self, step, tex):
        what = "maximum" if self.kind == "max" else "sum"
        return rf"back through the {what} ${tex.node_tex(step.source)}$"
