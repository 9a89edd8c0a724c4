"""``a @ b`` per sample, with NumPy's rules: (m,k)@(k,n) -> (m,n), (m,k)@(k,) -> (m,),
(k,)@(k,n) -> (n,), (k,)@(k,) -> () (the dot product), and leading axes broadcast
((h,t,d)@(d,e) -> (h,t,e), (h,t,d)@(h,d,s) -> (h,t,s)).

It is a contraction (``ops.einsum``): forward and backward are spelled by ``contract``,
as ``A @ B`` with ``np.swapaxes`` where it can be; a leading axis of size 1 that the other
operand stretches is indexed away (``A[:, 0]``) and its adjoint summed back onto it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op
from .contraction import batch_letter, contract
from .einsum import contraction_elements, index_sum
from .indices import broadcast_shape

MATMUL = "matmul"
#: Letters of the leading (broadcast) axes; the matrix axes are i, j, k.
LEADING = "abcdefgh"
#: The same letters in the handout.
TEX_LEADING = "lmnpqrsu"


@dataclass(frozen=True)
class MatMul(Op):
    """``a @ b`` per sample; ``left`` and ``right`` are the operands' per-sample shapes."""

    left: tuple[int, ...]
    right: tuple[int, ...]

    @staticmethod
    def result_shape(left: tuple[int, ...], right: tuple[int, ...]) -> tuple[int, ...] | None:
        if not left or not right:
            return None
        inner = right[0] if len(right) == 1 else right[-2]
        if left[-1] != inner:
            return None
        lead = broadcast_shape(left[:-2], right[:-2]) if len(left) > 2 or len(right) > 2 else ()
        if lead is None:
            return None
        return lead + left[-2:-1] + right[-1:] * (len(right) > 1)

    def layout(self) -> tuple[str, str, str, tuple[int, ...], tuple[int, ...]]:
        """Per-sample letters (left, right, out) and the leading axes of each operand that are
        size 1 against a longer one (indexed away: they have no letter)."""
        lead_a, lead_b = self.left[:-2], self.right[:-2]
        rank = max(len(lead_a), len(lead_b))
        letters = LEADING[:rank]
        squeezed_a, squeezed_b = [], []
        sa, sb = "", ""
        for position in range(rank):
            size_a = lead_a[position - rank + len(lead_a)] if position - rank + len(lead_a) >= 0 else None
            size_b = lead_b[position - rank + len(lead_b)] if position - rank + len(lead_b) >= 0 else None
            for size, other, subs_list, squeezed, own in (
                (size_a, size_b, "a", squeezed_a, lead_a),
                (size_b, size_a, "b", squeezed_b, lead_b),
            ):
                if size is None:
                    continue
                if size == 1 and other not in (None, 1):
                    squeezed.append(position - rank + len(own))
                elif subs_list == "a":
                    sa += letters[position]
                else:
                    sb += letters[position]
        left = sa + ("ij" if len(self.left) >= 2 else "j")
        right = sb + ("jk" if len(self.right) >= 2 else "j")
        out = letters + ("i" if len(self.left) >= 2 else "") + ("k" if len(self.right) >= 2 else "")
        return left, right, out, tuple(squeezed_a), tuple(squeezed_b)

    def subscripts(self) -> tuple[str, str, str]:
        """Per-sample einsum letters (left, right, out): ``ij,jk->ik`` and its other forms."""
        return self.layout()[:3]

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, MATMUL), Adjoint(1, MATMUL)]

    def elements(self, node, args):
        left, right, out, squeezed_a, squeezed_b = self.layout()
        shapes = tuple(
            tuple(n for p, n in enumerate(s) if p not in q) for s, q in ((self.left, squeezed_a), (self.right, squeezed_b))
        )
        # A squeezed axis has size 1: dropping it leaves the row-major order of the elements unchanged.
        return contraction_elements((left, right), out, shapes, args)

    # -- NumPy --------------------------------------------------------------------------

    def _operands(self, node, code, skip: int | None = None) -> tuple[list[tuple[str, str]], str, str]:
        """The operands (code, letters) in the module, the output's letters and the batch letter;
        operand ``skip`` (the one an adjoint is for) is not read, only its letters are given."""
        left, right, out, squeezed_a, squeezed_b = self.layout()
        n = batch_letter(left, right, out)
        operands = []
        for position, (name, subs, squeezed) in enumerate(zip(node.inputs, (left, right), (squeezed_a, squeezed_b))):
            batched = code.batched(name)
            if position == skip:
                operands.append(("", n * batched + subs))
                continue
            array = code.use(name)
            if squeezed:
                index = [":"] * batched + ["0" if p in squeezed else ":" for p in range(len(code.node(name).shape))]
                array = f"{array}[{', '.join(index)}]"
            operands.append((array, n * batched + subs))
        return operands, n * code.batched(node.name) + out, n

    def sizes(self) -> dict[str, int]:
        """The size of each per-sample letter of ``layout`` (for ``contract``'s reshapes)."""
        left, right, _, squeezed_a, squeezed_b = self.layout()
        found = {}
        for letters, shape, squeezed in ((left, self.left, squeezed_a), (right, self.right, squeezed_b)):
            found.update(zip(letters, (n for p, n in enumerate(shape) if p not in squeezed)))
        return found

    def numpy(self, node, code):
        operands, out, _ = self._operands(node, code)
        a, b = node.inputs
        return contract(operands, out, self.sizes()), f"{node.name} = {a} @ {b}"

    def numpy_adjoint(self, step, code):
        source = step.source
        node = code.node(source)
        a, b = node.inputs
        k = step.argument
        operands, out, _ = self._operands(node, code, skip=k)
        other = operands[1 - k]
        want = operands[k][1]
        spelled = contract([(code.grad(source), out), other], want, self.sizes())
        squeezed = self.layout()[3 + k]
        if squeezed:
            batched = code.batched(step.target)
            axes = tuple(p + batched for p in squeezed)
            spelled = f"np.expand_dims({spelled}, {axes[0] if len(axes) == 1 else axes})"
        math = f"dE/d{source} {b}^T" if k == 0 else f"{a}^T dE/d{source}"
        note = ", summed over the batch" if code.batched(source) and not code.batched(step.target) else ""
        return AdjointCode(spelled, math, note)

    # -- LaTeX --------------------------------------------------------------------------

    def tex_layout(self) -> tuple[list[str], list[str], str]:
        """Index tokens of the two operands and the letters of the output, as the handout writes
        them: the matrix axes i, j, k, the leading axes l, m, n, ... (a, b, c would read as
        nodes, e as the exponential), and 1 for a leading axis of size 1 that the other operand
        stretches."""
        left, right, out, squeezed_a, squeezed_b = self.layout()
        table = str.maketrans(LEADING, TEX_LEADING)
        tokens = []
        for letters, shape, squeezed in ((left, self.left, squeezed_a), (right, self.right, squeezed_b)):
            letters = iter(letters.translate(table))
            tokens.append(["1" if p in squeezed else next(letters) for p in range(len(shape))])
        return tokens[0], tokens[1], out.translate(table)

    def latex(self, node, tex):
        """``a b``: the matrix product (for every index of the leading axes, when there are)."""
        return f"{tex.node_tex(node.inputs[0])} \\, {tex.node_tex(node.inputs[1])}"

    def latex_element(self, node, tex):
        if len(node.shape) < 2 and max(len(self.left), len(self.right)) <= 2:
            return None  # W x, x^T W: the vector notation says it
        left, right, out = self.tex_layout()
        a, b = node.inputs
        factors = [(tex.el(a, left), _letters(left)), (tex.el(b, right), _letters(right))]
        return tex.el(node.name, out), index_sum(factors, out)

    def latex_adjoint(self, step, tex, eq):
        a, b = tex.node(step.source).inputs
        c, el, T = step.source, tex.el, tex.transpose
        ranks = (len(self.left), len(self.right))
        if max(ranks) > 2:
            left, right, out = self.tex_layout()
            k = step.argument
            subs = (left, right)[k]
            other = (right, left)[k]
            factors = [(tex.partial("E", el(c, out)), out), (el((b, a)[k], other), _letters(other))]
            element = rf"{tex.partial('E', el((a, b)[k], subs))} {eq} {index_sum(factors, _letters(subs))}"
            note = "the matrix-product rule for every index of the leading axes"
            if any(c in TEX_LEADING and c not in subs for c in out):
                note += "; summed over the leading axes the other operand alone has (it was reused along them)"
            return element, "", note
        g, A, B = tex.partial("E", tex.node_tex(c)), tex.node_tex(a), tex.node_tex(b)

        def dc(index: str) -> str:
            return tex.partial("E", el(c, index) if index else tex.node_tex(c))

        if step.argument == 0:  # (vector form, element form, the target's index letters) by operand ranks
            target, forms = (
                a,
                {
                    (2, 2): (rf"{g} \, {T(B)}", rf"\sum_k {dc('ik')} \, {el(b, 'jk')}", "ij"),
                    (2, 1): (rf"{g} \, {T(B)}", rf"{dc('i')} \, {el(b, 'j')}", "ij"),
                    (1, 2): (rf"{B} \, {g}", rf"\sum_k {el(b, 'jk')} \, {dc('k')}", "j"),
                    (1, 1): (rf"{g} \, {B}", rf"{dc('')} \, {el(b, 'j')}", "j"),
                },
            )
        else:
            target, forms = (
                b,
                {
                    (2, 2): (rf"{T(A)} \, {g}", rf"\sum_i {el(a, 'ij')} \, {dc('ik')}", "jk"),
                    (2, 1): (rf"{T(A)} \, {g}", rf"\sum_i {el(a, 'ij')} \, {dc('i')}", "j"),
                    (1, 2): (rf"{A} \, {T(g)}", rf"{el(a, 'j')} \, {dc('k')}", "jk"),
                    (1, 1): (rf"{g} \, {A}", rf"{dc('')} \, {el(a, 'j')}", "j"),
                },
            )
        vector, element, idx = forms[ranks]
        return (
            rf"{tex.partial('E', el(target, idx))} {eq} {element}",
            rf"{tex.partial('E', tex.node_tex(target))} {eq} {vector}",
            "the matrix-product rule",
        )

    def words(self, step, tex):
        return rf"back through the matrix product ${tex.node_tex(step.source)}$"


def _letters(tokens: list[str]) -> str:
    """The letters among index tokens (a stretched axis of size 1 is written 1 and summed over nothing)."""
    return "".join(t for t in tokens if t.isalpha())
