"""``reshape(a, shape)``: the same elements, in the same row-major order, in a new per-sample
shape (one size may be -1: whatever is left); the adjoint is reshaped back."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op, ShapeRuleError

RESHAPE = "reshape"


@dataclass(frozen=True)
class Reshape(Op):
    """The per-sample tensor of shape ``shape_in`` read row-major into the node's shape."""

    shape_in: tuple[int, ...]

    CALL_NAMES = ("reshape",)
    moves_elements = True

    @classmethod
    def from_call(cls, call):
        call.check(1, allowed=("shape",), values=1)
        shape_in = call.shapes[0]
        shape = call.constant(0, "shape")
        if isinstance(shape, tuple):
            pass
        elif shape is not None and not isinstance(shape, str) and getattr(shape, "is_Integer", False):
            shape = (int(shape),)
        else:
            raise ShapeRuleError(f"the new shape must be a list of whole numbers, e.g. [8, 4], got {shape}")
        size = math.prod(shape_in)
        if shape.count(-1) > 1 or any(n < -1 or n == 0 for n in shape):
            raise ShapeRuleError(f"the new shape may hold positive sizes and one -1, got {list(shape)}")
        if -1 in shape:
            known = math.prod(n for n in shape if n != -1)
            if size % known:
                raise ShapeRuleError(f"cannot reshape {list(shape_in)} ({size} elements) into {list(shape)}")
            shape = tuple(size // known if n == -1 else n for n in shape)
        if math.prod(shape) != size:
            raise ShapeRuleError(
                f"a reshape must keep the size: {call.tensors[0].text} has shape {list(shape_in)} ({size} elements), "
                f"{list(shape)} has {math.prod(shape)}"
            )
        return cls(tuple(shape_in)), tuple(shape)

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, RESHAPE)]

    def elements(self, node, args):
        return list(args[0])

    @staticmethod
    def _spelled(array: str, shape: tuple[int, ...], batched: bool) -> str:
        sizes = ([f"{array}.shape[0]"] if batched else []) + [str(n) for n in shape]
        if not sizes:
            return f"{array}.reshape(())"
        return f"{array}.reshape({', '.join(sizes)})"

    def numpy(self, node, code):
        spelled = self._spelled(code.use(node.inputs[0]), node.shape, code.batched(node.name))
        return spelled, f"{node.name} = reshape({node.inputs[0]}, {list(node.shape)})"

    def numpy_adjoint(self, step, code):
        spelled = self._spelled(code.grad(step.source), self.shape_in, code.batched(step.source))
        return AdjointCode(spelled, f"reshape(dE/d{step.source}, {list(self.shape_in)})")

    def latex(self, node, tex):
        shape = r" \times ".join(map(str, node.shape)) or "1"
        return rf"\operatorname{{reshape}}_{{{shape}}}\left({tex.node_tex(node.inputs[0])}\right)"

    def latex_adjoint(self, step, tex, eq):
        a, b = step.target, step.source
        shape = r" \times ".join(map(str, self.shape_in)) or "1"
        back = rf"\operatorname{{reshape}}_{{{shape}}}\left({tex.partial('E', tex.node_tex(b))}\right)"
        vector = rf"{tex.partial('E', tex.node_tex(a))} {eq} {back}"
        return "", vector, "a reshape keeps every element in its row-major place: its adjoint is reshaped back"

    def words(self, step, tex):
        return rf"back through the reshape ${tex.node_tex(step.source)}$"
