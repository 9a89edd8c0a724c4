"""``x[0]``, ``x[:, 0:4]``, ``x[-1, ::2]``: constant whole numbers and slices on the leading
per-sample axes.  The adjoint puts the upstream adjoint back where the elements came from,
zeros elsewhere (``_unindex``, a helper of the module)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op
from .indices import element_indices, flat_index
from .shape_rule import ShapeRuleError

INDEX = "index"

HELPER = (
    "def _unindex(g, like, index):\n"
    '    """The adjoint of like[index]: g where the elements came from, zeros elsewhere."""\n'
    "    out = np.zeros(like.shape, dtype=g.dtype)\n"
    "    out[index] = g\n"
    "    return out\n"
)

#: Arrays of the array API standard may be immutable (JAX): the adjoint is built axis by axis,
#: each axis's rows taken from g where the index picked them, zeros elsewhere.
ARRAY_API_HELPER = (
    "def _unindex(g, like, index):\n"
    '    """The adjoint of like[index]: g where the elements came from, zeros elsewhere, built axis\n'
    '    by axis (xp.take, and a mask): the array API standard\'s arrays may be immutable."""\n'
    "    xp = array_namespace(g)\n"
    "    for axis, item in enumerate(index):\n"
    "        n = like.shape[axis]\n"
    "        if isinstance(item, int):  # the axis it removed, back with size 1\n"
    "            g = xp.expand_dims(g, axis=axis)\n"
    "            item = slice(item % n, item % n + 1)\n"
    "        picked = range(*item.indices(n))\n"
    "        if picked == range(n):\n"
    "            continue\n"
    "        source, hit = [0] * n, [False] * n\n"
    "        for k, position in enumerate(picked):\n"
    "            source[position], hit[position] = k, True\n"
    "        g = xp.take(g, xp.asarray(source, device=device(g)), axis=axis)\n"
    "        shape = tuple(n if a == axis else 1 for a in range(g.ndim))\n"
    "        g = xp.where(xp.reshape(xp.asarray(hit, device=device(g)), shape), g, 0.0)\n"
    "    return g\n"
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

    array_api_helpers = {"unindex": ARRAY_API_HELPER}

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

    def slot(self, node):
        """``k`` for ``x[k]`` (one whole number on the first axis, nothing else)."""
        if len(self.items) == 1 and self.items[0][0] == "int":
            return self.items[0][1]
        return None

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

    def tokens(self, node, tex) -> tuple[list[str], list[str]]:
        """Index tokens (of the input, of the output) of one element, 1-based as the handout
        counts: ``x[0]`` is ``x_{1,k}``, ``x[:, 2:4]`` is ``x_{j,k+2}``, ``x[::2]`` is ``x_{2j-1}``."""
        out = tex.index_letters(node.shape)
        into, k = [], 0
        for item in self.items:
            if item[0] == "int":
                into.append(str(item[1] + 1))
                continue
            _, start, _, step = item
            into.append(_affine(step, out[k], start + 1 - step))
            k += 1
        return into + list(out[k:]), list(out)

    def latex(self, node, tex):
        into, out = self.tokens(node, tex)
        element = tex.el(node.inputs[0], into)
        return rf"\Bigl[{element}\Bigr]_{{{tex.subscript(out)}}}" if out else element

    def latex_adjoint(self, step, tex, eq):
        into, out = self.tokens(tex.node(step.source), tex)
        element = rf"{tex.partial('E', tex.el(step.target, into))} {eq} {tex.partial('E', tex.el(step.source, out))}"
        letters = ", ".join(out)
        where = f", for every ${letters}$" if letters else ""
        return element, "", f"each element goes back where it was taken{where}; the others get nothing from this step"

    def words(self, step, tex):
        return rf"back through the slice ${tex.node_tex(step.source)}$"


def _affine(step: int, letter: str, constant: int) -> str:
    """``step * letter + constant`` as an index: ``k``, ``k+2``, ``2k-1``, ``9-k``."""
    scaled = letter if step == 1 else f"-{letter}" if step == -1 else f"{step}{letter}"
    if constant == 0:
        return scaled
    if step < 0:
        return f"{constant}{scaled}"
    return f"{scaled}{constant:+d}"
