"""``einsum("ij,jk->ik", a, b)``: a tensor contraction written with index letters.

Its adjoint for each operand is again a contraction: the upstream adjoint with the other
operands, onto the operand's letters (``dA_ij = sum_k dC_ik B_jk``); a letter that only the
operand had was summed in the forward pass, so its adjoint is spread back along it.  Also
the index notation every contraction of the handout uses (``index_sum``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import sympy as sp

from .base import Adjoint, AdjointCode, Op, shape_code
from .contraction import batch_letter, broadcast_missing, contract
from .indices import flat_index
from .shape_rule import ShapeRuleError

EINSUM = "einsum"


def contraction_elements(subscripts: tuple[str, ...], out: str, shapes: tuple[tuple[int, ...], ...], args) -> list[sp.Expr]:
    """The elements of a contraction (row-major over ``out``) from its operands' elements."""
    sizes = {c: n for subs, shape in zip(subscripts, shapes) for c, n in zip(subs, shape)}
    summed = sorted({c for subs in subscripts for c in subs} - set(out))
    elements = []
    for index in itertools.product(*(range(sizes[c]) for c in out)):
        value = dict(zip(out, index))
        total = sp.S.Zero
        for inner in itertools.product(*(range(sizes[c]) for c in summed)):
            value.update(zip(summed, inner))
            term = sp.S.One
            for subs, shape, arg in zip(subscripts, shapes, args):
                term *= arg[flat_index(tuple(value[c] for c in subs), shape)]
            total += term
        elements.append(total)
    return elements


def index_sum(factors: list[tuple[str, str]], out: str) -> str:
    """``\\sum_{j} a_{ij} \\, b_{jk}``: a product of elements summed over the letters not in
    ``out``; ``factors`` are (LaTeX of an element, its index letters)."""
    summed = sorted({c for _, subs in factors for c in subs} - set(out))
    total = (r"\sum_{" + ",".join(summed) + "} ") if summed else ""
    return total + r" \, ".join(element for element, _ in factors)


def bracket(element: str, out: str, tex) -> str:
    """A tensor given by its elements: ``[\\sum_j a_{ij} b_{jk}]_{ik}`` (a scalar: the sum
    itself); the handout says once what the bracket means."""
    return rf"\Bigl[{element}\Bigr]_{{{tex.subscript(out)}}}" if out else element


def parse_subscripts(text: str, shapes: list[tuple[int, ...]], texts: list[str]) -> tuple[tuple[str, ...], str]:
    """``"ij,jk->ik"`` checked against the operands' shapes: (operand letters, output letters)."""
    if "." in text:
        raise ShapeRuleError("einsum's '...' is not supported: name every axis with a letter")
    if not re.fullmatch(r"[A-Za-z,]*(->[A-Za-z]*)?", text.replace(" ", "")):
        raise ShapeRuleError(f"einsum subscripts may hold letters, ',' and one '->', got {text!r}")
    text = text.replace(" ", "")
    left, arrow, out = text.partition("->")
    subscripts = tuple(left.split(","))
    if len(subscripts) != len(shapes):
        raise ShapeRuleError(f"the subscripts {text!r} name {len(subscripts)} operand(s), got {len(shapes)} tensor(s)")
    sizes: dict[str, tuple[int, str]] = {}
    for subs, shape, name in zip(subscripts, shapes, texts):
        if len(subs) != len(shape):
            raise ShapeRuleError(f"{subs!r} has {len(subs)} letter(s) but {name} has shape {list(shape)}")
        if len(set(subs)) != len(subs):
            raise ShapeRuleError(f"{subs!r} repeats a letter within one operand (a diagonal), which is not supported")
        for c, n in zip(subs, shape):
            if c in sizes and sizes[c][0] != n:
                raise ShapeRuleError(f"letter {c} is {sizes[c][0]} in {sizes[c][1]} but {n} in {name} (shape {list(shape)})")
            sizes.setdefault(c, (n, f"{name} (shape {list(shape)})"))
    if not arrow:
        counts = {c: left.count(c) for c in sizes}
        out = "".join(sorted(c for c, k in counts.items() if k == 1))
    if len(set(out)) != len(out):
        raise ShapeRuleError(f"the output {out!r} repeats a letter")
    unknown = [c for c in out if c not in sizes]
    if unknown:
        raise ShapeRuleError(f"the output letter {unknown[0]} is in no operand")
    return subscripts, out


@dataclass(frozen=True)
class Einsum(Op):
    """A contraction: ``subscripts`` per operand, ``out`` the result's letters, ``shapes`` the
    operands' per-sample shapes."""

    subscripts: tuple[str, ...]
    out: str
    shapes: tuple[tuple[int, ...], ...]

    CALL_NAMES = ("einsum",)

    @classmethod
    def from_call(cls, call):
        if not call.args or call.args[0].is_tensor or not isinstance(call.args[0].value, str):
            raise ShapeRuleError('the first argument must be the subscripts, e.g. einsum("ij,jk->ik", a, b)')
        call.check(None, values=1)
        if not call.tensors:
            raise ShapeRuleError("needs at least one tensor")
        subscripts, out = parse_subscripts(call.args[0].value, call.shapes, [a.text for a in call.tensors])
        sizes = {c: n for subs, shape in zip(subscripts, call.shapes) for c, n in zip(subs, shape)}
        return cls(subscripts, out, tuple(call.shapes)), tuple(sizes[c] for c in out)

    @property
    def text(self) -> str:
        return f"{','.join(self.subscripts)}->{self.out}"

    def elements(self, node, args):
        return contraction_elements(self.subscripts, self.out, self.shapes, args)

    def adjoint_rules(self, node, shapes):
        return [Adjoint(i, EINSUM) for i in range(len(self.subscripts))]

    def _batched(self, node, code) -> tuple[str, list[str], str]:
        """(the batch letter, every operand's letters in the module, the output's)."""
        n = batch_letter(*self.subscripts, self.out)
        operands = [n * code.batched(i) + s for i, s in zip(node.inputs, self.subscripts)]
        return n, operands, n * code.batched(node.name) + self.out

    def _sizes(self, node, code) -> dict[str, int]:
        """The size of each per-sample letter (for ``contract``'s reshapes)."""
        found = {}
        for name, letters in zip(node.inputs, self.subscripts):
            found.update(zip(letters, code.node(name).shape))
        return found

    # -- NumPy --------------------------------------------------------------------------

    def numpy(self, node, code):
        _, operands, out = self._batched(node, code)
        spelled = contract([(code.use(i), s) for i, s in zip(node.inputs, operands)], out, self._sizes(node, code))
        return spelled, f'{node.name} = einsum("{self.text}", {", ".join(node.inputs)})'

    def numpy_adjoint(self, step, code):
        source = code.node(step.source)
        _, operands, out = self._batched(source, code)
        k = step.argument
        others = [(code.use(i), s) for j, (i, s) in enumerate(zip(source.inputs, operands)) if j != k]
        want = operands[k]
        available = set(out) | {c for _, s in others for c in s}
        have = "".join(c for c in want if c in available)
        spelled = contract([(code.grad(step.source), out), *others], have, self._sizes(source, code))
        if have != want:
            target = code.node(step.target)
            batched = code.batched(step.target)  # only then is the target's array read (its batch size)
            spelled = broadcast_missing(
                spelled, have, want, shape_code(target.shape, batched, code.use(step.target) if batched else "")
            )
        subs = ",".join([self.out] + [s for j, s in enumerate(self.subscripts) if j != k])
        named = ", ".join([f"dE/d{step.source}"] + [i for j, i in enumerate(source.inputs) if j != k])
        return AdjointCode(spelled, f'einsum("{subs}->{self.subscripts[k]}", {named})')

    # -- LaTeX --------------------------------------------------------------------------

    def latex(self, node, tex):
        """Written with the spec's own letters: ``[\\sum_{j,k} x_{ij} A_{jk} v_k]_i``."""
        factors = [(tex.el(i, s), s) for i, s in zip(node.inputs, self.subscripts)]
        return bracket(index_sum(factors, self.out), self.out, tex)

    def latex_adjoint(self, step, tex, eq):
        source = tex.node(step.source)
        k = step.argument
        target_subs = self.subscripts[k]
        factors = [(tex.partial("E", tex.el(step.source, self.out)), self.out)]
        factors += [(tex.el(i, s), s) for j, (i, s) in enumerate(zip(source.inputs, self.subscripts)) if j != k]
        element = rf"{tex.partial('E', tex.el(step.target, target_subs))} {eq} {index_sum(factors, target_subs)}"
        spread = [
            c for c in target_subs if c not in self.out and all(c not in s for j, s in enumerate(self.subscripts) if j != k)
        ]
        note = "the adjoint of a contraction is a contraction: the upstream adjoint with the other operands"
        if spread:
            letters = ", ".join(spread)
            note += f"; ${letters}$ was summed in the forward pass, so the adjoint is the same for every ${letters}$"
        return element, "", note

    def words(self, step, tex):
        return rf"back through the contraction ${tex.node_tex(step.source)}$"
