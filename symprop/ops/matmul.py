"""``a @ b`` per sample, with NumPy's rules for vectors: (m,k)@(k,n) -> (m,n),
(m,k)@(k,) -> (m,), (k,)@(k,n) -> (n,), (k,)@(k,) -> () (the dot product).

Forward and backward are tensor contractions; ``contract`` spells one as ``a @ b`` (with
``.T`` where needed) when it is a plain matrix product, as ``np.einsum`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op

MATMUL = "matmul"


def contract(operands: list[tuple[str, str]], out: str) -> str:
    """NumPy for ``einsum(operands -> out)``; ``operands`` are (array, subscripts)."""
    if len(operands) == 2:
        (a, sa), (b, sb) = operands
        shared = [c for c in sa if c in sb]
        distinct = len(set(sa)) == len(sa) and len(set(sb)) == len(sb)
        if len(shared) == 1 and distinct and len(sa) <= 2 and len(sb) <= 2 and shared[0] not in out:
            j = shared[0]
            free_a, free_b = [c for c in sa if c != j], [c for c in sb if c != j]

            def last(code: str, subs: str) -> str:
                return code if subs[-1] == j else f"{code}.T"

            def first(code: str, subs: str) -> str:
                return code if subs[0] == j else f"{code}.T"

            if list(out) == free_a + free_b:
                return f"{last(a, sa)} @ {first(b, sb)}"
            if list(out) == free_b + free_a:
                return f"{last(b, sb)} @ {first(a, sa)}"
    subscripts = ",".join(s for _, s in operands)
    arrays = ", ".join(code for code, _ in operands)
    return f'np.einsum("{subscripts}->{out}", {arrays})'


@dataclass(frozen=True)
class MatMul(Op):
    """``a @ b`` per sample; ``left`` and ``right`` are the operands' per-sample shapes."""

    left: tuple[int, ...]
    right: tuple[int, ...]

    @staticmethod
    def result_shape(left: tuple[int, ...], right: tuple[int, ...]) -> tuple[int, ...] | None:
        if not left or not right or len(left) > 2 or len(right) > 2 or left[-1] != right[0]:
            return None
        return left[:-1] + right[1:]

    def subscripts(self) -> tuple[str, str, str]:
        """Per-sample einsum letters (left, right, out): ``ij,jk->ik`` and its vector forms."""
        left = "ij" if len(self.left) == 2 else "j"
        right = "jk" if len(self.right) == 2 else "j"
        return left, right, left[:-1] + right[1:]

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, MATMUL), Adjoint(1, MATMUL)]

    def elements(self, node, args):
        left, right = args
        inner = self.left[-1]
        rows = self.left[0] if len(self.left) == 2 else 1
        cols = self.right[1] if len(self.right) == 2 else 1
        return [sum(left[i * inner + j] * right[j * cols + k] for j in range(inner)) for i in range(rows) for k in range(cols)]

    # -- NumPy --------------------------------------------------------------------------

    def numpy(self, node, code):
        left, right, out = self.subscripts()
        a, b = node.inputs
        n = code.batched
        spelled = contract([(code.use(a), "n" * n(a) + left), (code.use(b), "n" * n(b) + right)], "n" * n(node.name) + out)
        return spelled, f"{node.name} = {a} @ {b}"

    def numpy_adjoint(self, step, code):
        left, right, out = self.subscripts()
        source = step.source
        a, b = code.node(source).inputs
        n = code.batched
        upstream = (code.grad(source), "n" * n(source) + out)
        if step.argument == 0:
            spelled = contract([upstream, (code.use(b), "n" * n(b) + right)], "n" * n(a) + left)
            math = f"dE/d{source} {b}^T"
        else:
            spelled = contract([(code.use(a), "n" * n(a) + left), upstream], "n" * n(b) + right)
            math = f"{a}^T dE/d{source}"
        note = ", summed over the batch" if n(source) and not n(step.target) else ""
        return AdjointCode(spelled, math, note)

    # -- LaTeX --------------------------------------------------------------------------

    def latex(self, node, tex):
        return f"{tex.node_tex(node.inputs[0])} \\, {tex.node_tex(node.inputs[1])}"

    def latex_adjoint(self, step, tex, eq):
        a, b = tex.node(step.source).inputs
        c, el, T = step.source, tex.el, tex.transpose
        g, A, B = tex.partial("E", tex.node_tex(c)), tex.node_tex(a), tex.node_tex(b)

        def dc(index: str) -> str:
            return tex.partial("E", el(c, index) if index else tex.node_tex(c))

        ranks = (len(self.left), len(self.right))
        if step.argument == 0:  # (vector form, element form, the target's index letters) by operand ranks
            target, forms = a, {
                (2, 2): (rf"{g} \, {T(B)}", rf"\sum_k {dc('ik')} \, {el(b, 'jk')}", "ij"),
                (2, 1): (rf"{g} \, {T(B)}", rf"{dc('i')} \, {el(b, 'j')}", "ij"),
                (1, 2): (rf"{B} \, {g}", rf"\sum_k {el(b, 'jk')} \, {dc('k')}", "j"),
                (1, 1): (rf"{g} \, {B}", rf"{dc('')} \, {el(b, 'j')}", "j"),
            }
        else:
            target, forms = b, {
                (2, 2): (rf"{T(A)} \, {g}", rf"\sum_i {el(a, 'ij')} \, {dc('ik')}", "jk"),
                (2, 1): (rf"{T(A)} \, {g}", rf"\sum_i {el(a, 'ij')} \, {dc('i')}", "j"),
                (1, 2): (rf"{A} \, {T(g)}", rf"{el(a, 'j')} \, {dc('k')}", "jk"),
                (1, 1): (rf"{g} \, {A}", rf"{dc('')} \, {el(a, 'j')}", "j"),
            }
        vector, element, idx = forms[ranks]
        return (
            rf"{tex.partial('E', el(target, idx))} {eq} {element}",
            rf"{tex.partial('E', tex.node_tex(target))} {eq} {vector}",
            "the matrix-product rule",
        )

    def words(self, step, tex):
        return rf"back through the matrix product ${tex.node_tex(step.source)}$"
