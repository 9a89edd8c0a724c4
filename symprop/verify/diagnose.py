"""Why a wrong claim is wrong: a constant ratio, another weight's gradient, the factor at fault.

The claim's factors are matched numerically against runs of the chain rule's factors, so
"factors 2, 3: you wrote a(1 + a)" names exactly the part that differs.
"""

from __future__ import annotations

import re

import mpmath
import sympy as sp

from .. import registry
from ..ops import unflat_index
from ..scalar import ElementGradient, Factor
from .claim_values import is_array
from .claims import ClaimFactor
from .decide import DIAGNOSIS_POINTS, DIGITS, Setting, Undecidable, close, digits_for
from .familiar import factor_text, familiar
from .result import Agreement
from .writing import sstr

#: How the note on a claim equal to the gradient to ``DIGITS`` digits (and no more) begins.
TINY = "your claim differs from the correct gradient"

# -- diagnosis -------------------------------------------------------------------------------------


def diagnose(
    setting: Setting, factors: list[ClaimFactor], claim: sp.Expr, gradient: ElementGradient
) -> tuple[list[str], list[Agreement]]:
    """Why a claim is wrong: a constant ratio, another element's gradient, the factor at fault;
    and the claim's factors that agree with the chain rule (the data of the "agrees" note)."""
    points = range(DIAGNOSIS_POINTS)
    claim_values = [setting.number(claim, k) for k in points]
    correct_values = [setting.number(gradient.expr, k) for k in points]
    if all(close(a, b) for a, b in zip(claim_values, correct_values)):
        return [_tiny_note(setting, claim, gradient.expr)], []
    notes = []
    ratio = _constant_ratio(claim_values, correct_values)
    if ratio is not None:
        notes.append(_ratio_note(ratio, "the correct gradient"))
    if ratio is None:
        other = _other_gradient(setting, claim_values, gradient)
        if other is not None:
            notes.append(other)
    factor_notes, unmatched, agreeing = _factor_notes(setting, factors, gradient, points)
    notes.extend(factor_notes)
    notes.extend(_softmax_note(setting, unmatched))
    return notes, agreeing


def _tiny_note(setting: Setting, claim: sp.Expr, correct: sp.Expr) -> str:
    """A claim equal to the gradient to ``DIGITS`` digits, told apart only at more digits."""
    digits = digits_for(claim)
    for k in range(DIAGNOSIS_POINTS):
        a, b = setting.number(claim, k, digits), setting.number(correct, k, digits)
        if a is not None and b is not None and not close(a, b, digits):
            with mpmath.workdps(digits):
                relative = mpmath.nstr(abs(a - b) / max(abs(a), abs(b)), 3)
            return f"{TINY} by a relative {relative} only (a tiny term or factor?)"
    return f"{TINY} only beyond {DIGITS} digits (a tiny term or factor?)"


def _constant_ratio(values, reference) -> sp.Rational | None:
    ratios = []
    for v, r in zip(values, reference):
        if v is None or r is None or abs(r) < 1e-12:
            return None
        ratios.append(v / r)
    first = ratios[0]
    with mpmath.workdps(DIGITS):
        if abs(first.imag) > 1e-20 or any(abs(q - first) > 1e-18 * max(1, abs(first)) for q in ratios):
            return None
    if abs(first - 1) <= 1e-25:  # equal to DIGITS digits, wrong beyond them: the tiny note says so
        return None
    guess = sp.nsimplify(sp.Float(mpmath.nstr(first.real, 25), 25), rational=True, tolerance=1e-15)
    if isinstance(guess, sp.Rational) and guess.q <= 100 and abs(guess.p) <= 100:
        return guess
    return None


def is_ratio_note(note: str) -> bool:
    """Whether a diagnosis line says the whole claim is a constant times the correct gradient or
    matrix, or differs from it by a tiny amount (no edit of one term or factor is then sought)."""
    return note.startswith(TINY) or note.startswith("your claim is ") and " times the correct " in note


def _ratio_note(ratio: sp.Rational, what: str) -> str:
    if ratio == -1:
        return f"your claim is -1 times {what}: a sign error"
    if ratio == 0:
        return f"your claim is 0, unlike {what}"
    extra = ""
    if ratio in (2, sp.Rational(1, 2)):
        extra = " (a dropped or an extra 1/2?)"
    elif ratio in (-2, -sp.Rational(1, 2)):
        extra = " (a sign error and a dropped or an extra 1/2?)"
    return f"your claim is {ratio} times {what}{extra}"


def _other_gradient(setting: Setting, claim_values, gradient: ElementGradient) -> str | None:
    """'your claim is dE/dW2_21' when it matches another element's gradient."""
    for node in setting.graph.params():
        shape = node.shape
        for flat in range(len(setting.scalar.symbols[node.name])):
            index = unflat_index(flat, shape)
            other = setting.scalar.gradient(node.name, index)
            if other.symbol == gradient.symbol:
                continue
            values = [setting.number(other.expr, k) for k in range(len(claim_values))]
            if all(close(a, b) for a, b in zip(claim_values, values)):
                note = f"your claim equals d{setting.scalar.loss_symbol}/d{other.symbol}, the gradient of another weight"
                if node.name == gradient.param and len(index) == 2 and tuple(reversed(index)) == tuple(gradient.index):
                    note += f" (row and column swapped: {node.name}_jk connects input k to output j)"
                return note
    return None


def _factor_notes(
    setting: Setting, factors: list[ClaimFactor], gradient: ElementGradient, points
) -> tuple[list[str], list[Factor], list[Agreement]]:
    """Notes on the claim's factors, the chain factors no factor of the claim matched, and the
    agreements the notes name (none when every factor matched: nothing to explain)."""
    chain = _refined_chain(setting, list(gradient.factors))
    if len(factors) > 10 or (len(factors) < 2 and len(chain) < 2):
        return [], chain, []
    user = []
    for f in factors:
        value = f.value[0, 0] if is_array(f.value) and f.value.shape == (1, 1) else f.value
        if is_array(value):
            return [], chain, []
        user.append([setting.number(value, k) for k in points])
    segments = {}
    for p in range(len(chain)):
        for q in range(p, len(chain)):
            segments[(p, q)] = [setting.number(sp.Mul(*(f.expr for f in chain[p : q + 1])), k) for k in points]
    subsets = {0: [mpmath.mpc(1)] * len(points)}
    for mask in range(1, 1 << len(user)):
        low = mask & -mask
        i = low.bit_length() - 1
        subsets[mask] = [_mul(a, b) for a, b in zip(subsets[mask ^ low], user[i])]

    memo: dict[tuple[int, int], tuple[int, int, list]] = {}

    def search(p: int, used: int) -> tuple[int, int, list]:
        """(chain factors matched, -user factors used, matches) from chain position p on."""
        if p == len(chain):
            return 0, 0, []
        key = (p, used)
        if key in memo:
            return memo[key]
        best = search(p + 1, used)
        free = ((1 << len(user)) - 1) & ~used
        for q in range(p, len(chain)):
            target = segments[(p, q)]
            mask = free
            while mask:
                if all(close(a, b, DIGITS) for a, b in zip(subsets[mask], target)):
                    rest = search(q + 1, used | mask)
                    candidate = (rest[0] + q - p + 1, rest[1] - bin(mask).count("1"), [(p, q, mask), *rest[2]])
                    if candidate[:2] > best[:2]:
                        best = candidate
                mask = (mask - 1) & free
        memo[key] = best
        return best

    _, _, matches = search(0, 0)
    covered = {i for p, q, _ in matches for i in range(p, q + 1)}
    used = 0
    for _, _, mask in matches:
        used |= mask
    spare = [i for i in range(len(user)) if not used >> i & 1 and not _is_one(user[i])]
    runs = _runs([i for i in range(len(chain)) if i not in covered])
    notes = []
    agreeing = []
    if matches and (runs or spare):
        agreeing = [Agreement(_numbers(m), _label(setting, chain, p, q)) for p, q, m in matches]
        notes.append(f"agrees with the chain rule: {', '.join(a.text for a in agreeing)}")

    def wrote(indices: list[int]) -> str:
        texts = " * ".join(_wrap(factors[i].text) for i in indices)
        return f"factor{'s' if len(indices) > 1 else ''} {', '.join(str(i + 1) for i in indices)}: you wrote {texts}"

    if len(runs) == 1 and spare:
        p, q = runs[0]
        expr = sp.Mul(*(familiar(setting, f) for f in chain[p : q + 1]))
        note = f"{wrote(spare)}; {_label(setting, chain, p, q)} = {sstr(expr)}"
        product = [mpmath.mpc(1)] * len(points)
        for i in spare:
            product = [_mul(a, b) for a, b in zip(product, user[i])]
        ratio = _constant_ratio(product, segments[(p, q)])
        if ratio is not None and ratio != 1:
            note += f" ({ratio} times it)"
        notes.append(note)
        notes.extend(_sum_notes(setting, product, expr, points))
    elif len(runs) == 1:
        p, q = runs[0]
        expr = sp.Mul(*(familiar(setting, f) for f in chain[p : q + 1]))
        notes.append(f"missing factor: {_label(setting, chain, p, q)} = {sstr(expr)}")
    elif not runs and spare:
        notes.append(f"extra {wrote(spare)} (the chain rule has no such factor)")
    elif runs:
        for p, q in runs:
            expr = sp.Mul(*(familiar(setting, f) for f in chain[p : q + 1]))
            notes.append(f"no factor of yours equals {_label(setting, chain, p, q)} = {sstr(expr)}")
        if spare:
            notes.append(f"{wrote(spare)} (matches no factor of the chain rule)")
    return notes, [chain[i] for i in range(len(chain)) if i not in covered], agreeing


def _sum_notes(setting: Setting, claimed, expr: sp.Expr, points) -> list[str]:
    """What is wrong with a sum over the next layer: terms left out, or W used for W^T."""
    notes = []
    swap = _transpose_swap(setting)
    if swap and expr.xreplace(swap) != expr:
        swapped = [setting.number(expr.xreplace(swap), k) for k in points]
        if all(close(a, b, DIGITS) for a, b in zip(claimed, swapped)):
            used = sorted((s for s in expr.free_symbols if s in swap and swap[s] != s), key=str)
            example = f" ({swap[used[0]]} where {used[0]} belongs)" if used else ""
            notes.append(
                f"transpose: your sum uses W where the chain rule has W^T{example}; "
                "going back a layer, dE/da_j = sum over k of W_kj * delta_k"
            )
            return notes
    terms = sp.Add.make_args(expr)
    if not 2 <= len(terms) <= 8:
        return notes
    values = [[setting.number(t, k) for k in points] for t in terms]
    for mask in range(1, (1 << len(terms)) - 1):
        kept = [i for i in range(len(terms)) if mask >> i & 1]
        with mpmath.workdps(DIGITS):
            total = [sum((values[i][k] for i in kept), mpmath.mpc(0)) for k in range(len(points))]
        if all(close(a, b, DIGITS) for a, b in zip(claimed, total)):
            missing = [_term_text(setting, terms[i]) for i in range(len(terms)) if not mask >> i & 1]
            what = "term" if len(missing) == 1 else "terms"
            notes.append(f"your sum is missing the {what} {' + '.join(missing)} (the sum runs over every unit of the next layer)")
            break
    return notes


def _transpose_swap(setting: Setting) -> dict[sp.Symbol, sp.Symbol]:
    """W_jk <-> W_kj for every weight matrix (the mistake of using W for W^T), wherever both
    elements exist: all of a square matrix, the leading square block of another (a 2x3 W2's
    W2_12 for W2_21; a sum that needs W2_31 could not be written with W2 alone)."""
    swap = {}
    for node in setting.graph.params():
        if len(node.shape) == 2:
            symbols = setting.scalar.symbols[node.name]
            columns = node.shape[1]
            n = min(node.shape)
            for i in range(n):
                for j in range(n):
                    swap[symbols[i * columns + j]] = symbols[j * columns + i]
    return swap


def _term_text(setting: Setting, term: sp.Expr) -> str:
    """A term of a delta sum as people write it, ``W2_21*delta2_2``, when a delta fits."""
    for delta, adjoint in setting.names.deltas.items():
        if adjoint == 0:
            continue
        rest = sp.cancel(term / adjoint)
        if rest.free_symbols and len(rest.free_symbols) == 1 and rest.count_ops() <= 1:
            return f"{sstr(rest)}*{delta}"
    return sstr(term)


def _refined_chain(setting: Setting, chain: list[Factor]) -> list[Factor]:
    """A fused output step split back into dE/da * da/dz, the way people derive it by hand.

    The derivation fuses an output activation with the loss when that simplifies
    (sigmoid + binary cross-entropy gives ``a - t``); a person writes the two factors.
    Their product is the fused factor, so matching against the finer chain is still exact
    (a run of chain factors can match one factor of the claim).
    """
    graph, scalar = setting.graph, setting.scalar
    first = chain[0]
    if first.of != scalar.loss_symbol:
        return chain
    loss = graph.nodes[graph.loss]
    output = graph.nodes[loss.inputs[0]]
    if not output.op.activation or not loss.op.loss_function or output.inputs[0] not in scalar.symbols:
        return chain
    zs = scalar.symbols[output.inputs[0]]
    if first.wrt not in zs:
        return chain
    position = zs.index(first.wrt)
    a = scalar.symbols[output.name][position]
    t = scalar.symbols[loss.inputs[1]][position]
    dloss = loss.op.scale(len(zs)) * loss.op.derivative.xreplace({registry.Y: a, registry.T: t})
    dact = output.op.derivative.xreplace({registry.Z: first.wrt, registry.A: a})
    return [Factor(first.of, a, dloss), Factor(a, first.wrt, dact), *chain[1:]]


def _softmax_note(setting: Setting, unmatched: list[Factor]) -> list[str]:
    """The softmax coupling, when a factor the claim got wrong goes through a softmax's input."""
    for node in setting.graph.nodes.values():
        if node.op.coupled and node.name in setting.graph.needs_grad:  # a softmax
            a, z = node.name, node.inputs[0]
            inputs = set(setting.scalar.symbols[z])
            if not any(f.wrt in inputs for f in unmatched):  # only a factor across the softmax (d./dz_k)
                continue
            return [
                f"{a} is a softmax of {z}: every {a}_i depends on every {z}_k, so dE/d{z}_k = "
                f"sum over i of dE/d{a}_i * {a}_i*(delta_ik - {a}_k) (with cross-entropy: {a}_k - t_k)"
            ]
    return []


def _label(setting: Setting, chain: list[Factor], p: int, q: int) -> str:
    """``da1_1/dz1_1`` for a run of chain factors; trailing factors equal to 1 (``dz/db``) are
    left out of the name, so a bias's activation factor is da/dz, as people call it.  In the
    spec's names: a part of an expression as the spec wrote it (``factor_text``)."""
    while q > p and chain[q].expr == 1:
        q -= 1
    return factor_text(setting, chain[p].of, chain[q].wrt)


def _numbers(mask: int) -> tuple[int, ...]:
    """The claim's factors in ``mask``, 1-based."""
    return tuple(i + 1 for i in range(mask.bit_length()) if mask >> i & 1)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _mul(a, b):
    if a is None or b is None:
        return None
    with mpmath.workdps(DIGITS):
        return a * b


def _is_one(values) -> bool:
    return all(close(v, mpmath.mpc(1)) for v in values)


def _wrap(text: str) -> str:
    if re.fullmatch(r"[\w.\[\], ]+", text) or re.fullmatch(r"\(.*\)(\.T)?", text):
        return text
    return f"({text})"


#: The whole matrix explained: an element's own diagnosis would compare it with its mirror's
#: gradient ("you wrote a1 * delta2.T; dE/dW2_12 = ..."), which only confuses.
TRANSPOSED = "your matrix is the transpose of the correct one (W has shape (outputs, inputs))"
#: A whole-array claim summed to one number (``sum(delta2)`` for dE/db2): the module's sum over a batch.
PER_SAMPLE = (
    "a claim is about one sample (a batch of one): the sum over the batch that the module's gradient takes is not part of it"
)


def is_transpose(setting: Setting, value, expected) -> bool:
    """Whether a claim of the transposed shape is the transpose of the gradient: a hint only, so a
    claim the comparison cannot decide keeps its verdict (wrong, by its shape) without the hint."""
    try:
        return setting.compare(list(zip(value.T, expected)))[0]
    except Undecidable:
        return False


def matrix_notes(setting: Setting, value, expected, k: int) -> list[str]:
    claim = [setting.number(e, k) for e in value]
    correct = [setting.number(e, k) for e in expected]
    notes = []
    nonzero = [(c, g) for c, g in zip(claim, correct) if g is not None and abs(g) > 1e-12]
    if nonzero and len(nonzero) == len(correct):
        ratio = _constant_ratio([c for c, _ in nonzero], [g for _, g in nonzero])
        if ratio is not None:
            notes.append(_ratio_note(ratio, "the correct matrix"))
    rows, cols = expected.shape
    if rows == cols and rows > 1:
        transposed = [setting.number(expected[j, i], k) for i in range(rows) for j in range(cols)]
        if all(close(a, b) for a, b in zip(claim, transposed)):
            notes.append(TRANSPOSED)
    return notes
