"""``reshape(a, shape)``: the same elements, in the same row-major order, in a new per-sample
shape (one size may be -1: whatever is left); the adjoint is reshaped back."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op
from .shape_rule import ShapeRuleError

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

    def latex_element(self, node, tex):
        into, out, condition = _index_map(self.shape_in, node.shape, tex)
        rhs = tex.el(node.inputs[0], into)
        return tex.el(node.name, out), rhs + (rf", \quad \text{{where }} {condition}" if condition else "")

    def latex_adjoint(self, step, tex, eq):
        a, b = step.target, step.source
        into, out, condition = _index_map(self.shape_in, tex.node(b).shape, tex)
        element = rf"{tex.partial('E', tex.el(a, into))} {eq} {tex.partial('E', tex.el(b, out))}"
        if condition:
            element += rf", \quad \text{{where }} {condition}"
        shape = r" \times ".join(map(str, self.shape_in)) or "1"
        back = rf"\operatorname{{reshape}}_{{{shape}}}\left({tex.partial('E', tex.node_tex(b))}\right)"
        vector = rf"{tex.partial('E', tex.node_tex(a))} {eq} {back}"
        return element, vector, "a reshape keeps every element in its row-major place: its adjoint is reshaped back"

    def words(self, step, tex):
        return rf"back through the reshape ${tex.node_tex(step.source)}$"


def _groups(shape_in: tuple[int, ...], shape_out: tuple[int, ...]) -> list[tuple[list[int], list[int]]]:
    """Runs of input and output axes that hold the same elements (their sizes multiply to the
    same number): ``(4, 6) -> (4, 2, 3)`` is ``[([0], [0]), ([1], [1, 2])]``."""
    groups, i, j = [], 0, 0
    while i < len(shape_in) or j < len(shape_out):
        ins, outs, size_in, size_out = [], [], 1, 1
        if i < len(shape_in):
            ins, size_in, i = [i], shape_in[i], i + 1
        if j < len(shape_out):
            outs, size_out, j = [j], shape_out[j], j + 1
        while size_in != size_out:
            if size_in < size_out:
                ins.append(i)
                size_in, i = size_in * shape_in[i], i + 1
            else:
                outs.append(j)
                size_out, j = size_out * shape_out[j], j + 1
        groups.append((ins, outs))
    return groups


def _position(tokens: list[str], sizes: list[int]) -> str:
    """The 1-based row-major position of the index ``tokens`` in axes of ``sizes``:
    ``6(i-1) + 3(j-1) + k`` (an axis of size 1 is always 1 and adds nothing)."""
    terms, stride = [], 1
    for token, size in zip(reversed(tokens), reversed(sizes)):
        if token != "1":
            terms.append(token if stride == 1 else f"{stride}({token}-1)")
        stride *= size
    return " + ".join(reversed(terms)) or "1"


def _index_map(shape_in: tuple[int, ...], shape_out: tuple[int, ...], tex) -> tuple[list[str], list[str], str]:
    """Index tokens (input, output) of the same element before and after a reshape, and a
    condition tying them where neither side can be written in the other's letters.

    Axes that keep their size keep their letter; several axes merged into one are written as
    the position in the merged one (``y_{j,k} = x_{2(j-1)+k}``); axes of size 1 are 1."""
    letters = iter(tex.index_letters((1,) * (len(shape_in) + len(shape_out)), avoid=""))
    into = ["1"] * len(shape_in)
    out = ["1"] * len(shape_out)
    conditions = []
    for ins, outs in _groups(shape_in, shape_out):
        real_in = [a for a in ins if shape_in[a] > 1]
        real_out = [a for a in outs if shape_out[a] > 1]
        if not real_in and not real_out:
            continue
        if len(real_in) == 1 and len(real_out) == 1:
            into[real_in[0]] = out[real_out[0]] = next(letters)
        elif len(real_in) == 1:  # one input axis split into several
            for a in real_out:
                out[a] = next(letters)
            into[real_in[0]] = _position([out[a] for a in outs], [shape_out[a] for a in outs])
        elif len(real_out) == 1:  # several input axes merged into one
            for a in real_in:
                into[a] = next(letters)
            out[real_out[0]] = _position([into[a] for a in ins], [shape_in[a] for a in ins])
        else:  # regrouped: both sides need letters, tied by their row-major position
            for a in real_in:
                into[a] = next(letters)
            for a in real_out:
                out[a] = next(letters)
            conditions.append(
                f"{_position([out[a] for a in outs], [shape_out[a] for a in outs])} = "
                f"{_position([into[a] for a in ins], [shape_in[a] for a in ins])}"
            )
    return into, out, ", ".join(conditions)
