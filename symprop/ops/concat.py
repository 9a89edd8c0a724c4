"""``concat(a, b, ..., axis=-1)`` of per-sample tensors that agree on every other axis; each
part gets its own slice of the adjoint."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op, shape_code
from .indices import element_indices, flat_index
from .shape_rule import ShapeRuleError, axis_list

CONCAT = "concat"


@dataclass(frozen=True)
class Concat(Op):
    """``concat(a, b, ...)`` along per-sample ``axis`` (non-negative); ``sizes`` along it."""

    sizes: tuple[int, ...]
    axis: int = 0

    CALL_NAMES = ("concat",)

    @classmethod
    def from_call(cls, call):
        call.check(None, allowed=("axis",))
        shapes = call.shapes
        if len(shapes) < 2:
            raise ShapeRuleError("needs at least two tensors")
        first = shapes[0]
        if not first:
            raise ShapeRuleError(f"concat joins vectors or tensors; {call.tensors[0].text} is a scalar")
        (axis,) = axis_list(call.keywords.get("axis", -1), len(first))
        for arg in call.tensors[1:]:
            shape = arg.shape
            if len(shape) != len(first) or any(a != b for k, (a, b) in enumerate(zip(shape, first)) if k != axis):
                raise ShapeRuleError(
                    f"the parts must agree on every axis but axis {axis - len(first)}: {call.tensors[0].text} has shape "
                    f"{list(first)}, {arg.text} has shape {list(shape)}"
                )
        sizes = tuple(shape[axis] for shape in shapes)
        return cls(sizes, axis), first[:axis] + (sum(sizes),) + first[axis + 1 :]

    def offset(self, argument: int) -> int:
        return sum(self.sizes[:argument])

    def adjoint_rules(self, node, shapes):
        return [Adjoint(index, CONCAT) for index in range(len(self.sizes))]

    def elements(self, node, args):
        out = []
        for index in element_indices(node.shape):
            position = index[self.axis]
            part = 0
            while position >= self.sizes[part]:
                position -= self.sizes[part]
                part += 1
            shape = node.shape[: self.axis] + (self.sizes[part],) + node.shape[self.axis + 1 :]
            out.append(args[part][flat_index(index[: self.axis] + (position,) + index[self.axis + 1 :], shape)])
        return out

    def from_end(self, node_shape: tuple[int, ...]) -> int:
        return self.axis - len(node_shape)

    def numpy(self, node, code):
        args = node.inputs
        batched = [a for a in args if code.batched(a)]
        parts = []
        for a in args:
            array = code.use(a)
            if batched and not code.batched(a):
                array = f"np.broadcast_to({array}, {shape_code(code.node(a).shape, True, code.array(batched[0]))})"
            parts.append(array)
        axis = self.from_end(node.shape)
        where = "" if axis == -1 else f", axis={axis}"
        return f"np.concatenate([{', '.join(parts)}], axis={axis})", f"{node.name} = concat({', '.join(args)}{where})"

    def numpy_adjoint(self, step, code):
        g = code.grad(step.source)
        start = self.offset(step.argument)
        stop = start + self.sizes[step.argument]
        batched = code.batched(step.source)
        shape = code.node(step.target).shape
        index = [":"] * batched + [":"] * self.axis + [f"{start}:{stop}"]
        spelled = f"{g}[{', '.join(index)}]"
        spelled, note = code.reduce_to(spelled, batched, shape, step.target)
        return AdjointCode(
            spelled, f"dE/d{step.source}[{start}:{stop}]" + (f" along axis {self.axis}" if len(shape) > 1 else ""), note
        )

    def latex(self, node, tex):
        if len(node.shape) == 1:
            return r"\begin{pmatrix} " + r" \\ ".join(tex.node_tex(i) for i in node.inputs) + r" \end{pmatrix}"
        return (
            rf"\operatorname{{concat}}_{{\text{{axis }}{self.axis + 1}}}\left("
            + ", ".join(tex.node_tex(i) for i in node.inputs)
            + r"\right)"
        )

    def part_tokens(self, letters: str, argument: int) -> list[str]:
        """The index of part ``argument``'s element that sits at ``letters`` of the whole: the
        letter of the axis shifted back by the parts before it (``k - 3``)."""
        offset = self.offset(argument)
        k = letters[self.axis]
        return [*letters[: self.axis], f"{k} - {offset}" if offset else k, *letters[self.axis + 1 :]]

    def latex_element(self, node, tex):
        if len(node.shape) == 1:
            return None  # the stacked vector says it
        letters = tex.index_letters(node.shape)
        k = letters[self.axis]
        rows = []
        for argument, name in enumerate(node.inputs):
            low, high = self.offset(argument), self.offset(argument) + self.sizes[argument]
            where = rf"{k} \le {high}" if argument == 0 else rf"{low} < {k} \le {high}"
            rows.append(rf"{tex.el(name, self.part_tokens(letters, argument))} & \text{{if }} {where}")
        return tex.el(node.name, letters), r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"

    def latex_adjoint(self, step, tex, eq):
        a, c = step.target, step.source
        offset = self.offset(step.argument)
        shape = tex.node(a).shape
        letters = tex.index_letters(shape)
        k = letters[self.axis]
        shifted = [*letters[: self.axis], f"{offset} + {k}" if offset else k, *letters[self.axis + 1 :]]
        element = rf"{tex.partial('E', tex.el(a, letters))} {eq} {tex.partial('E', tex.el(c, shifted))}"
        n = shape[self.axis]
        part = rf"\Bigl({tex.partial('E', tex.node_tex(c))}\Bigr)_{{{offset + 1}..{offset + n}}}"
        vector = rf"{tex.partial('E', tex.node_tex(a))} {eq} {part}" if len(shape) == 1 else ""
        return element, vector, "a concatenation hands each part its own slice of the adjoint"

    def words(self, step, tex):
        return rf"back through the concatenation ${tex.node_tex(step.source)}$"
