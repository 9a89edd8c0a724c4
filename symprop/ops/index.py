"""``x[0]``, ``x[:, 0:4]``, ``x[-1, ::2]``: constant whole numbers and slices on the leading
per-sample axes.  The adjoint puts the upstream adjoint back where the elements came from,
zeros elsewhere (``_unindex``, a helper of the module)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op, ShapeRuleError, element_indices, flat_index

INDEX = "index"

HELPER = (
    "def _unindex(g, like, index):\n"
    '    """The adjoint of like[index]: g where the elements came from, zeros elsewhere."""\n'
    "    out = np.zeros(like.shape, dtype=g.dtype)\n"
    "    out[index] = g\n"
    "    return out\n"
)


def _item_code(item: tuple) -> str:
    if item[0] == "int":
        return str(item[1])
    _, start, stop, step = item
    text = f"{'' if start is None else start}:{'' if stop is None else stop}"
    return text + (f":{step}" if step not in (None, 1) else "")


@dataclass(frozen=True)
class Index(Op):
    """Basic indexing of the per-sample tensor (shape ``shape_in``): ``items`` are
    ``("int", k)`` or ``("slice", start, stop, step)`` with bounds made non-negative."""

    shape_in: tuple[int, ...]
    items: tuple[tuple, ...]

    moves_elements = True

    @classmethod
    def from_items(cls, shape: tuple[int, ...], items: tuple, text: str) -> tuple[Index, tuple[int, ...]]:
        if len(items) > len(shape):
            raise ShapeRuleError(f"{len(items)} indices for {text} of shape {list(shape)}")
        normal, out = [], []
        for axis, (item, size) in enumerate(zip(items, shape)):
            if item[0] == "int":
                k = item[1]
                if not -size <= k < size:
                    raise ShapeRuleError(
                        f"index {k} is out of range for axis {axis} of {text} (size {size}, shape {list(shape)})"
                    )
                normal.append(("int", k % size))
                continue
            start, stop, step = slice(*item[1:]).indices(size)
            count = len(range(start, stop, step))
            if count == 0:
                raise ShapeRuleError(f"the slice {_item_code(item)} of axis {axis} of {text} (size {size}) is empty")
            normal.append(("slice", start, stop, step))
            out.append(count)
        return cls(tuple(shape), tuple(normal)), tuple(out) + tuple(shape[len(items) :])

    def positions(self) -> list[list[int]]:
        """For each kept axis of the leading ones, the input positions it takes."""
        return [list(range(i[1], i[2], i[3])) if i[0] == "slice" else [i[1]] for i in self.items]

    def code(self, batched: bool) -> str:
        return ", ".join([":"] * batched + [_item_code(i) for i in self.items])

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, INDEX)]

    def elements(self, node, args):
        chosen = self.positions()
        out = []
        for index in element_indices(node.shape):
            source, k = [], 0
            for item, places in zip(self.items, chosen):
                if item[0] == "int":
                    source.append(places[0])
                else:
                    source.append(places[index[k]])
                    k += 1
            source += list(index[k:])
            out.append(args[0][flat_index(tuple(source), self.shape_in)])
        return out

    def numpy(self, node, code):
        array = code.use(node.inputs[0])
        shown = ", ".join(_item_code(i) for i in self.items)
        return f"{array}[{self.code(code.batched(node.name))}]", f"{node.name} = {node.inputs[0]}[{shown}]"

    def numpy_adjoint(self, step, code):
        code.require_helper("unindex", HELPER)
        g = code.grad(step.source)
        like = code.use(step.target)
        spelled = f"_unindex({g}, {like}, np.s_[{self.code(code.batched(step.source))}])"
        shown = ", ".join(_item_code(i) for i in self.items)
        return AdjointCode(spelled, f"dE/d{step.source} placed at [{shown}], zeros elsewhere")

    def latex(self, node, tex):
        shown = ", ".join(_item_code(i) for i in self.items).replace(":", "{:}")
        return rf"{tex.node_tex(node.inputs[0])}_{{[{shown}]}}"

    def latex_adjoint(self, step, tex, eq):
        shown = ", ".join(_item_code(i) for i in self.items).replace(":", "{:}")
        vector = (
            rf"\Bigl({tex.partial('E', tex.node_tex(step.target))}\Bigr)_{{[{shown}]}} {eq} "
            rf"{tex.partial('E', tex.node_tex(step.source))}"
        )
        return "", vector, "the other elements were not used: their adjoint from this step is zero"

    def words(self, step, tex):
        return rf"back through the slice ${tex.node_tex(step.source)}$"
