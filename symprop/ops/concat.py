"""``concat(a, b, ...)`` of per-sample vectors; each part gets its own slice of the adjoint."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op, ShapeRuleError, check_call

CONCAT = "concat"


@dataclass(frozen=True)
class Concat(Op):
    """``concat(a, b, ...)`` of per-sample vectors."""

    sizes: tuple[int, ...]

    CALL_NAMES = ("concat",)

    @classmethod
    def from_call(cls, function, shapes, keywords, texts):
        check_call(shapes, keywords)
        if len(shapes) < 2:
            raise ShapeRuleError("needs at least two vectors")
        for text, shape in zip(texts, shapes):
            if len(shape) != 1:
                raise ShapeRuleError(f"concat joins vectors; {text} has shape {list(shape)}")
        sizes = tuple(shape[0] for shape in shapes)
        return cls(sizes), (sum(sizes),)

    def offset(self, argument: int) -> int:
        return sum(self.sizes[:argument])

    def adjoint_rules(self, node, shapes):
        return [Adjoint(index, CONCAT) for index in range(len(self.sizes))]

    def elements(self, node, args):
        return [value for arg in args for value in arg]

    def numpy(self, node, code):
        args = node.inputs
        batched = [a for a in args if code.batched(a)]
        parts = []
        for a, size in zip(args, self.sizes):
            array = code.use(a)
            if batched and not code.batched(a):
                array = f"np.broadcast_to({array}, ({code.array(batched[0])}.shape[0], {size}))"
            parts.append(array)
        return f"np.concatenate([{', '.join(parts)}], axis=-1)", f"{node.name} = concat({', '.join(args)})"

    def numpy_adjoint(self, step, code):
        g = code.grad(step.source)
        start = self.offset(step.argument)
        stop = start + self.sizes[step.argument]
        batched = code.batched(step.source)
        spelled = f"{g}[:, {start}:{stop}]" if batched else f"{g}[{start}:{stop}]"
        spelled, note = code.reduce_to(spelled, batched, (stop - start,), step.target)
        return AdjointCode(spelled, f"dE/d{step.source}[{start}:{stop}]", note)

    def latex(self, node, tex):
        return r"\begin{pmatrix} " + r" \\ ".join(tex.node_tex(i) for i in node.inputs) + r" \end{pmatrix}"

    def latex_adjoint(self, step, tex, eq):
        a, c = step.target, step.source
        offset = self.offset(step.argument)
        n = tex.node(a).shape[0]
        shifted = f"{offset} + j" if offset else "j"
        element = rf"{tex.partial('E', tex.el(a, 'j'))} {eq} {tex.partial('E', tex.el(c, shifted))}"
        part = rf"\Bigl({tex.partial('E', tex.node_tex(c))}\Bigr)_{{{offset + 1}..{offset + n}}}"
        vector = rf"{tex.partial('E', tex.node_tex(a))} {eq} {part}"
        return element, vector, "a concatenation hands each part its own slice of the adjoint"

    def words(self, step, tex):
        return rf"back through the concatenation ${tex.node_tex(step.source)}$"
