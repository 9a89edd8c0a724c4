"""Why a numerically decided claim is wrong: a constant ratio, a transpose, a known mistake.

The exact diagnosis (``diagnose``) matches the factors of a product with the chain rule's.
A tensor claim is a contraction, not a product of scalars, so here the diagnosis asks which
*mistake* the claim equals, at every point:

* a constant multiple of the gradient (a sign, a 1/2, a 1/sqrt(d));
* the gradient transposed, or the claim with one of its own subexpressions transposed;
* the backward pass with one step done the way people get it wrong (``Probe.replay``):
  a constant factor left out (the 1/sqrt(d) of attention scores), an elementwise factor
  left out (an activation's derivative, the other operand of a product), the softmax's
  Jacobian without its subtracted term or taken as elementwise, one contribution to an
  adjoint left out (the recurrent path, a residual connection);
* for a weight used several times (shared over time steps), one use's contribution alone.

Each mistake is named in the spec's own terms: the node it belongs to and its formula.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import sympy as sp

from ..errors import SymPropError
from ..formula import FormulaError
from .claims_text import Names, normalize
from .index_edits import index_edits
from .tensor_claims import Part, transposable_parts
from .tensor_decide import Evaluation, TensorCheck, TensorWrt

#: At most this many mistakes are reported.
MAX_NOTES = 3


def diagnose(check: TensorCheck, wrt: TensorWrt, evaluation: Evaluation) -> list[str]:
    """The cheap findings first (one use of a shared weight, a ratio, a transpose, an edit of
    the claim that makes it right); the replayed mistakes only when those explain nothing."""
    values = evaluation.values
    if evaluation.transposed_shape:
        if check.agrees(wrt, values):
            return [f"your claim is the transpose of dE/d{wrt.name} (which has the shape of {wrt.node})"]
        notes = [f"your claim has the shape of the transpose of dE/d{wrt.name}, and its transpose is not right either"]
    else:
        notes = []
    mistakes = Mistakes(check, wrt)
    notes += mistakes.shared(values)
    ratio = _ratio(check, wrt, values)
    if ratio is not None:
        notes.append(_ratio_note(ratio, check))
    if _is_transpose(check, wrt, values):
        shape = list(check.graph.nodes[wrt.node].shape)
        notes.append(f"your claim is the transpose of dE/d{wrt.name} ({wrt.node} has shape {shape})")
    parts = index_edits(evaluation.text, check.names, check.letter_ranges(wrt)) + evaluation.reader.parts
    edits = right_after_edit(check, wrt, evaluation.text, parts)
    notes += [f"{part.text} your claim is right: {part.mistake}" for part in edits[:1]]
    if len(notes) <= (ratio is not None) + evaluation.transposed_shape:
        notes += mistakes.matching(values)
    return notes


def transpose_hint(check: TensorCheck, wrt: TensorWrt, claim: str) -> str:
    """`` (with W2.T in place of W2 it would be right)`` for a claim whose shapes do not fit (in
    index notation: ``with W2[i,j] in place of W2[j,i]``), or ''."""
    parts = transposable_parts(claim, check.names.loss) + index_edits(claim, check.names, check.letter_ranges(wrt))
    fixed = right_after_edit(check, wrt, claim, parts)
    return f" ({fixed[0].text} it would be right)" if fixed else ""


def plain_transpose_hint(check: TensorCheck, wrt: str, claim) -> str:
    """``transpose_hint`` of a claim the exact reader found ill-shaped, read again as the tensor
    reader reads it; '' for a LaTeX claim or one it reads otherwise (the hint is a bonus)."""
    if not isinstance(claim, str):
        return ""
    try:
        return transpose_hint(check, check.parse_wrt(wrt), normalize(claim, Names.of_tensor(check.names), tensor=True))
    except (FormulaError, SymPropError):
        return ""


def plain_edit_notes(check: TensorCheck, wrt: str, claim) -> list[str]:
    """For a claim the exact check found wrong: the edit (a sign, a factor, a transpose, an
    index) that makes it right, read as the tensor reader reads it (``- 2 * t * ...`` where
    ``+`` belongs); [] for a LaTeX claim, one it reads otherwise, or no such edit."""
    if not isinstance(claim, str):
        return []
    try:
        target = check.parse_wrt(wrt)
        text = normalize(claim, Names.of_tensor(check.names), tensor=True)
        evaluation = check.evaluate(target, text)
    except (FormulaError, SymPropError):
        return []
    parts = index_edits(text, check.names, check.letter_ranges(target)) + evaluation.reader.parts
    return [f"{part.text} your claim is right: {part.mistake}" for part in right_after_edit(check, target, text, parts)[:1]]


def right_after_edit(check: TensorCheck, wrt: TensorWrt, text: str, parts: list[Part]) -> list[Part]:
    """The edits of the claim (a transpose, a sign, a factor left out, an index) that make it right."""
    found = []
    for part in parts:
        try:
            if part.claim is not None:  # an edit of the text
                evaluation = check.evaluate(wrt, part.claim)
            else:
                evaluation = check.evaluate(wrt, text, change=part)
        except SymPropError:
            continue
        if not evaluation.transposed_shape and check.agrees(wrt, evaluation.values):
            found.append(part)
    return found


# -- ratios and transposes ------------------------------------------------------------------------


def _ratio(check: TensorCheck, wrt: TensorWrt, values) -> float | None:
    ratios = []
    for k, point in enumerate(check.points):
        correct = check.correct(wrt, point)
        scale = check.scale(wrt, point)
        big = np.abs(correct) > 1e-6 * scale
        if not big.any():
            return None
        ratios.append(values[k][big] / correct[big])
    ratios = np.concatenate([r.reshape(-1) for r in ratios])
    first = ratios[0]
    if not np.all(np.isfinite(ratios)) or np.any(np.abs(ratios - first) > 1e-7 * max(1.0, abs(first))) or abs(first - 1) < 1e-9:
        return None
    return float(first)


def _ratio_note(ratio: float, check: TensorCheck) -> str:
    if abs(ratio) < 1e-12:
        return "your claim is 0, unlike the correct gradient"
    fraction = Fraction(ratio).limit_denominator(100)
    exact = abs(float(fraction) - ratio) < 1e-9 * abs(ratio)
    # as many digits as tell it from a whole number: 1.0000001, not 1 (6 digits said "1 times")
    digits = next((p for p in range(6, 18) if abs(float(f"{ratio:.{p}g}") - ratio) <= 1e-9 * abs(ratio)), 17)
    shown = str(fraction) if exact else f"{ratio:.{digits}g}"
    note = f"your claim is {shown} times the correct gradient"
    if exact and fraction == -1:
        return note + ": a sign error"
    if exact and abs(fraction) in (2, Fraction(1, 2)):
        return note + " (a dropped or an extra 1/2?)"
    sizes = {n for node in check.graph.nodes.values() for n in node.shape if n > 1}
    for n in sorted(sizes):
        if abs(ratio - np.sqrt(n)) < 1e-9 * np.sqrt(n):
            return note + f" (a missing 1/sqrt({n})?)"
        if abs(ratio - 1 / np.sqrt(n)) < 1e-9:
            return note + f" (an extra 1/sqrt({n})?)"
    return note


def _is_transpose(check: TensorCheck, wrt: TensorWrt, values) -> bool:
    shape = check.correct(wrt, check.points[0]).shape
    if len(shape) < 2 or shape != shape[::-1]:
        return False
    flipped = [np.transpose(check.correct(wrt, point)) for point in check.points]
    return check.agrees(wrt, values, flipped)


# -- known mistakes in the backward pass ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Mistake:
    """The backward pass with step ``index`` spelled ``code`` (None: a step left out), and what that means."""

    index: int
    code: str | None
    text: str


class Mistakes:
    """The known mistakes of one claim's backward pass, and which of them the claim equals."""

    def __init__(self, check: TensorCheck, wrt: TensorWrt):
        self.check = check
        self.wrt = wrt
        self.probe = check.probe
        self.graph = check.graph
        self.steps = check.derivation.steps
        self.last = max(i for i, step in enumerate(self.steps) if step.target == wrt.node)

    def matching(self, values) -> list[str]:
        """The mistakes the claim equals at every point (screened at the first point)."""
        check, wrt = self.check, self.wrt
        notes: list[str] = []
        first = check.points[0]
        for mistake in self.candidates():
            if len(notes) == MAX_NOTES:
                break
            changed = self._mistaken(mistake, first)
            if not check.same(wrt, values[0], changed, first) or check.same(wrt, check.correct(wrt, first), changed, first):
                continue
            if all(check.same(wrt, values[k], self._mistaken(mistake, point), point) for k, point in enumerate(check.points)):
                notes.append(mistake.text)
        return notes

    def _mistaken(self, mistake: Mistake, point) -> np.ndarray:
        """The gradient at ``point`` had the backward pass made ``mistake``."""
        return self.wrt.part(self.probe.replay(point, {mistake.index: mistake.code}, stop=self.last + 1)[self.wrt.node])

    # -- the candidates ------------------------------------------------------------------------

    def candidates(self):
        counts: dict[str, int] = {}
        for step in self.steps[: self.last + 1]:
            counts[step.target] = counts.get(step.target, 0) + 1
        for index, step in enumerate(self.steps[: self.last + 1]):
            source = self.graph.nodes[step.source]
            where = self.describe(step.source)
            if source.op.coupled:  # a softmax: its Jacobian's mistakes
                yield from self._softmax(index, step, where)
            elif step.local is not None and step.local != 1 and step.rule != "loss":
                yield from self._factor(index, step, where)
            if counts[step.target] > 1 and step.target != self.wrt.node:
                yield Mistake(index, self._zero(step) if not step.accumulate else None,
                              f"your claim leaves out the contribution to dE/d{step.target} through {where}")

    def _factor(self, index: int, step, where: str):
        local = step.local
        math = self.graph.nodes[step.source].op.numpy_adjoint(step, self.probe.builder).math
        factor = math.split(" * ", 1)[1] if " * " in math else str(local)
        if local.is_number:
            factor = _constant_text(local)
            text = f"your claim leaves out the factor {factor} of {where}"
        else:
            text = f"your claim leaves out the factor {factor} of dE/d{step.target} = {math} ({where})"
        code = self._spelled(dataclasses.replace(step, local=sp.S.One))
        yield Mistake(index, code, text)

    def _softmax(self, index: int, step, where: str):
        b = self.probe.builder
        out, up, target = b.array(step.source), b.grad(step.source), b.grad(step.target)
        plus = f"{target} + " if step.accumulate else ""
        y = step.source
        right = f"the adjoint of its input is {y} * (dE/d{y} - sum_k dE/d{y}_k {y}_k) along its axis"
        yield Mistake(
            index,
            f"{target} = {plus}{out} * {up}",
            f"your claim leaves out the subtracted term of the softmax's Jacobian ({where}): {right}, not {y} * dE/d{y}",
        )
        yield Mistake(
            index,
            f"{target} = {plus}{up} * {out} * (1 - {out})",
            f"your claim takes the softmax as elementwise, {y} * (1 - {y}) ({where}): its Jacobian is not diagonal; {right}",
        )

    def _spelled(self, step) -> str:
        return "\n".join(line.code for line in self.probe.builder.backward_line(step))

    def _zero(self, step) -> str:
        node = self.graph.nodes[step.target]
        shape = ((1,) if step.target in self.graph.batched else ()) + node.shape
        return f"{self.probe.builder.grad(step.target)} = np.zeros({shape})"

    def shared(self, values) -> list[str]:
        """A node used several times (a weight shared over time steps, a state read by two
        gates): the claim is one use's contribution alone, or leaves one out."""
        check, wrt, node = self.check, self.wrt, self.wrt.node
        uses = [i for i, step in enumerate(self.steps) if step.target == node]
        if len(uses) < 2:
            return []
        parts = {i: [wrt.part(self.probe.contribution(point, i)) for point in check.points] for i in uses}
        totals = [check.correct(wrt, point) for point in check.points]
        weight = self.graph.role(node) == "param"
        for index in uses:
            where = self.describe(self.steps[index].source)
            others = [self.describe(self.steps[i].source) for i in uses if i != index]
            if check.agrees(wrt, values, parts[index]):
                if weight:
                    return [
                        f"your claim is only the contribution of {node}'s use in {where} (1 of {len(uses)} uses): "
                        "the gradient of a shared weight adds the contributions of all its uses"
                    ]
                return [f"your claim leaves out the contribution to dE/d{node} through {'; '.join(others)}"]
            if check.agrees(wrt, values, [total - part for total, part in zip(totals, parts[index])]):
                return [f"your claim leaves out the contribution to dE/d{node} through {where}"]
        return []

    def describe(self, name: str) -> str:
        """The node of the spec a graph node belongs to, with its formula: ``s = q @ k.T / sqrt(16)``."""
        written = getattr(self.check.derivation.network, "nodes", None) or {}
        found, seen = name, set()
        while found not in written and found not in seen:
            seen.add(found)
            consumers = self.graph.consumers(found)
            if not consumers:
                break
            found = consumers[0].name
        if found in written:
            return f"{found} = {written[found]}"
        return name


def _constant_text(value: sp.Expr) -> str:
    """``1/4 (= 1/sqrt(16))`` for a constant that is one over a square root."""
    value = sp.nsimplify(value)
    text = str(value)
    if value.is_positive:
        inverse = 1 / value**2
        if inverse.is_Integer and inverse > 1:
            text += f" (= 1/sqrt({inverse}))"
    return text
