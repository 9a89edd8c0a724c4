"""``a.T`` and ``transpose(a, axes)``: the axes of a per-sample tensor permuted (``.T``
reverses them, as in NumPy); the adjoint is the upstream adjoint permuted back."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op
from .indices import element_indices, flat_index
from .shape_rule import ShapeRuleError

TRANSPOSE = "transpose"


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(perm.index(k) for k in range(len(perm)))


@dataclass(frozen=True)
class Transpose(Op):
    """The per-sample axes permuted: output axis ``k`` is input axis ``perm[k]`` (empty
    ``perm``: the matrix transpose ``a.T``)."""

    perm: tuple[int, ...] = ()

    CALL_NAMES = ("transpose",)
    moves_elements = True

    @classmethod
    def from_call(cls, call):
        call.check(1, allowed=("axes",), values=1)
        shape = call.shapes[0]
        axes = call.constant(0, "axes")
        if axes is None:
            axes = tuple(reversed(range(len(shape))))
        if (
            not isinstance(axes, tuple)
            or len(axes) != len(shape)
            or any(not -len(shape) <= int(a) < len(shape) for a in axes)
            or sorted(int(a) % len(shape) for a in axes) != list(range(len(shape)))
        ):
            raise ShapeRuleError(
                f"axes must list every axis of a tensor of shape {list(shape)} once, "
                f"e.g. {tuple(reversed(range(len(shape))))}, got {axes}"
            )
        perm = tuple(int(a) % len(shape) for a in axes)
        return cls.of(perm), tuple(shape[p] for p in perm)

    @classmethod
    def of(cls, perm: tuple[int, ...]) -> Transpose:
        """The op for ``perm``; the matrix transpose keeps the short form ``a.T``."""
        return cls(() if perm == (1, 0) else perm)

    def permutation(self, rank: int) -> tuple[int, ...]:
        """The permutation for a node of per-sample ``rank`` (a scalar's transpose is itself)."""
        return self.perm or ((1, 0) if rank == 2 else ())

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, TRANSPOSE)]

    def elements(self, node, args):
        perm = self.permutation(len(node.shape))
        shape_in = tuple(node.shape[perm.index(k)] for k in range(len(perm)))
        out = []
        for index in element_indices(node.shape):
            source = [0] * len(perm)
            for k, p in enumerate(perm):
                source[p] = index[k]
            out.append(args[0][flat_index(tuple(source), shape_in)])
        return out

    def _spelled(self, array: str, perm: tuple[int, ...], batched: bool) -> str:
        if perm == (1, 0):
            return f"np.swapaxes({array}, 1, 2)" if batched else f"{array}.T"
        full = (0, *(p + 1 for p in perm)) if batched else perm
        return f"np.transpose({array}, {full})"

    def numpy(self, node, code):
        perm = self.permutation(len(node.shape))
        spelled = self._spelled(code.use(node.inputs[0]), perm, code.batched(node.name))
        shown = f"{node.inputs[0]}.T" if not self.perm else f"transpose({node.inputs[0]}, {perm})"
        return spelled, f"{node.name} = {shown}"

    def numpy_adjoint(self, step, code):
        perm = self.permutation(len(code.node(step.source).shape))
        back = _inverse(perm)
        spelled = self._spelled(code.grad(step.source), back, code.batched(step.source))
        shown = f"(dE/d{step.source})^T" if not self.perm else f"transpose(dE/d{step.source}, {back})"
        return AdjointCode(spelled, shown)

    def latex(self, node, tex):
        """``a^T`` for a matrix; ``[a_{j,i,k}]_{i,j,k}`` for other permutations."""
        if not self.perm:
            return tex.transpose(tex.node_tex(node.inputs[0]))
        letters = tex.index_letters(node.shape)
        source = [letters[self.perm.index(k)] for k in range(len(self.perm))]
        return rf"\Bigl[{tex.el(node.inputs[0], source)}\Bigr]_{{{tex.subscript(letters)}}}"

    def latex_adjoint(self, step, tex, eq):
        a, b = step.target, step.source
        if not self.perm:
            element = rf"{tex.partial('E', tex.el(a, 'jk'))} {eq} {tex.partial('E', tex.el(b, 'kj'))}"
            vector = rf"{tex.partial('E', tex.node_tex(a))} {eq} {tex.transpose(tex.partial('E', tex.node_tex(b)))}"
            return element, vector, ""
        letters = tex.index_letters(tex.node(a).shape)
        moved = [letters[p] for p in self.perm]
        element = rf"{tex.partial('E', tex.el(a, letters))} {eq} {tex.partial('E', tex.el(b, moved))}"
        return element, "", "a permutation of the axes sends each adjoint element back to where it came from"

    def words(self, step, tex):
        return rf"back through the transpose ${tex.node_tex(step.source)}$"
