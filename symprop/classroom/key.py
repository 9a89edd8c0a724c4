"""One student's answer key: every item answered at the student's point, with the values a
wrong answer is compared with (every intermediate of the derivation) and the catalogue of
typical mistakes.

A numeric answer is right within ``tolerance`` of the key (``RELATIVE``, or ``ABSOLUTE``: the
worksheet asks for 4 decimal places); the Moodle quiz and the draw of variants use the same
band.  Where it is wrong, ``match`` says what it is instead: a typical mistake (``mistakes``),
or one intermediate value (a chain-rule factor, a partial product, a forward value, another
weight's gradient), with the chain-rule factors it still has right.  ``follow_through`` gives
what an answer would be when computed, by the right method, from the student's own answers to
the questions it builds on.

A "which factor" question is multiple choice: the right local derivative and its typical
mistakes as ``choices``, lettered a, b, ... in an order drawn from the student's numbers (so a
neighbour's letter is no help).  A formula question about a whole parameter has the matrix of
its elements' gradients as its ``formula`` and the array formula (``delta2 @ a1.T``) as its text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import sympy as sp

from ..exercises import Point, local_formula, step_rate
from ..scalar import ElementGradient, evaluate
from ..spec import flatten
from .mistakes import Wrong, at_point, formula_text, forward_mistakes, gradient_mistakes, local_mistakes, step_mistakes
from .questions import Item

RELATIVE = 1e-3
ABSOLUTE = 5e-5
LETTERS = "abcdefgh"


@dataclass(frozen=True)
class Candidate:
    """A value a wrong answer may be: ``text`` says what it is, ``right_factors`` the partial credit."""

    key: str
    text: str
    value: float
    right_factors: int = 0
    mistake: bool = False  # from the catalogue of typical mistakes
    formula: sp.Expr | None = None  # a typical mistake's formula (in forward values)


@dataclass(frozen=True)
class Choice:
    """One option of a "which factor" question: its letter, its formula, and (a distractor) the
    typical mistake it is."""

    letter: str
    formula: sp.Expr
    mistake: Candidate | None = None


@dataclass
class Answer:
    item: Item
    formula: sp.Expr  # in forward values (a whole parameter's: the matrix of its elements')
    value: sp.Float  # (a whole parameter's: the matrix of values)
    chain: ElementGradient | None = None  # gradient, step and element formula items
    factor_values: tuple[sp.Float, ...] = ()
    candidates: list[Candidate] = field(default_factory=list)  # mistakes first, then intermediates
    choices: tuple[Choice, ...] = ()  # a "which factor" question's options, in the worksheet's order
    text: str = ""  # the answer as a student writes it in plain text (a formula, or a number)

    @property
    def mistakes(self) -> list[Candidate]:
        """The typical mistakes that change this answer at the student's numbers."""
        return [c for c in self.candidates if c.mistake]

    @property
    def letter(self) -> str | None:
        """The right option's letter (a "which factor" question)."""
        return next((c.letter for c in self.choices if c.mistake is None), None)


@dataclass
class Key:
    point: Point
    values: dict[sp.Symbol, sp.Float]  # every element's value at the point
    rate: float | None
    answers: dict[str, Answer]


def tolerance(right: float) -> float:
    """How far from ``right`` a number still counts as ``right`` (grading, Moodle, variants)."""
    return max(RELATIVE * abs(right), ABSOLUTE)


def close(given: float, right: float) -> bool:
    return abs(given - right) <= tolerance(right)


class Blueprint:
    """What every student's key shares (the formulas, the chains, the mistakes' formulas); a
    key at a point only evaluates them."""

    def __init__(self, derivation, items: tuple[Item, ...]):
        self.derivation, self.items = derivation, items
        scalar = derivation.scalar
        self.formulas: dict[str, sp.Expr] = {}
        self.chains: dict[str, ElementGradient] = {}
        self.wrongs: dict[str, list[Wrong]] = {}
        self._written: dict[sp.Expr, str] = {}
        self.texts: dict[str, str] = {}  # each formula as a student writes it (a whole parameter's: its array formula)
        for item in items:
            if item.whole:
                from ..verify.writing import array_formula

                node = str(item.wrt)
                shape = derivation.graph.nodes[node].shape
                rows, cols = (shape[0], shape[1]) if len(shape) == 2 else (shape[0], 1)
                indices = [(i, j) if len(shape) == 2 else (i,) for i in range(rows) for j in range(cols)]
                elements = [scalar.gradient(node, index).expr for index in indices]
                self.formulas[item.id] = sp.ImmutableMatrix(rows, cols, elements)
                self.texts[item.id] = array_formula(derivation, node)
            elif item.kind == "forward":
                self.formulas[item.id] = scalar.definitions[item.of]
                self.wrongs[item.id] = forward_mistakes(derivation, item.of)
            elif item.kind == "factor":
                self.formulas[item.id] = local_formula(derivation, item.of, item.wrt)
                self.wrongs[item.id] = local_mistakes(derivation, item.of, item.wrt, self.formulas[item.id])
            else:
                chain = scalar.gradient(*scalar.element_of(item.wrt))
                self.chains[item.id] = chain
                self.formulas[item.id] = chain.expr
                self.wrongs[item.id] = gradient_mistakes(derivation, chain)
        self.gradients = [g for g in scalar.gradients()] if self.chains else []

    def text(self, item: Item) -> str:
        """The item's formula as a student writes it, worked out once for the class."""
        if item.id not in self.texts:
            self.texts[item.id] = self.written(self.formulas[item.id])
        return self.texts[item.id]

    def written(self, formula: sp.Expr) -> str:
        """``formula_text``, once per formula for the class (SymPy's printer is slow)."""
        if formula not in self._written:
            self._written[formula] = formula_text(formula)
        return self._written[formula]

    def values(self, point: Point, fixed: dict[sp.Symbol, float] | None = None) -> dict[sp.Symbol, sp.Float]:
        scalar = self.derivation.scalar
        given: dict[sp.Symbol, object] = {}
        for name, value in point.leaves.items():
            given.update(zip(scalar.symbols[name], flatten(value)))
        return scalar.forward_values(given, fixed=fixed)

    def follow_through(self, key: Key, item: Item, earlier: dict[str, float]) -> tuple[float, list[str]] | None:
        """``item``'s answer computed by the right method from the student's own wrong answers to
        earlier questions (``earlier``: item id -> their number), and the ids it was computed
        from; None when none of those answers changes it.  A forward value given wrong is carried
        through the forward pass (a1 = sigma(their z1)); a step is taken with their gradient of the
        same weight when they gave one."""
        asked = {i.id: i for i in self.items}

        def computed(ids: list[str]) -> float:
            fixed = {asked[i].of: earlier[i] for i in ids if asked[i].kind == "forward"}
            values = self.values(key.point, fixed) if fixed else key.values
            if item.kind == "step":
                gradient = next((earlier[i] for i in ids if asked[i].kind == "gradient" and asked[i].wrt == item.wrt), None)
                if gradient is None:
                    gradient = evaluate(self.chains[item.id].expr, values)
                return float(values[item.wrt] - sp.Float(key.rate, 30) * gradient)
            return float(evaluate(self.formulas[item.id], values))

        sources = [i for i in earlier if asked[i].kind == "forward" or (item.kind == "step" and asked[i].kind == "gradient")]
        right = float(key.answers[item.id].value)
        used = [i for i in sources if not close(computed([i]), right)]
        if not used:
            return None
        if item.kind == "step" and (gradients := [i for i in used if asked[i].kind == "gradient"]):
            used = gradients  # the step is taken with their gradient: their forward values do not enter it
        return computed(used), used

    def key(self, point: Point) -> Key:
        derivation, scalar = self.derivation, self.derivation.scalar
        values = self.values(point)
        rate = step_rate(derivation, point.learning_rate)
        forward = _forward_candidates(derivation, values)
        gradients = [(g, evaluate(g.expr, values)) for g in self.gradients]
        answers: dict[str, Answer] = {}
        for item in self.items:
            formula = self.formulas[item.id]
            if item.whole:
                matrix = formula.applyfunc(lambda e: evaluate(e, values))
                answers[item.id] = Answer(item, formula, matrix, text=self.texts[item.id])
                continue
            if item.kind in ("forward", "factor"):
                answer = Answer(item, formula, evaluate(formula, values))
                answer.candidates = [
                    Candidate(m.key, m.text, float(m.value), 0, True, m.formula)
                    for m in at_point(self.wrongs[item.id], answer.value, values)
                ]
                if item.kind == "factor":
                    answer.choices = _choices(formula, answer.mistakes, point, self.written)
                answer.candidates += [c for c in forward if c.key != f"value_{item.of}"]
                answer.text = self.text(item) if item.kind == "factor" else ""
                answers[item.id] = answer
                continue
            chain = self.chains[item.id]
            factor_values = tuple(evaluate(f.expr, values) for f in chain.factors)
            gradient = sp.Mul(*factor_values)
            mistakes = at_point(self.wrongs[item.id], gradient, values)
            if item.kind == "step":
                weight = values[item.wrt]
                updated = weight - sp.Float(rate, 30) * gradient
                answer = Answer(item, item.wrt - sp.Rational(repr(rate)) * formula, updated, chain, factor_values)
                answer.candidates = [
                    Candidate(k, t, float(v), 0, True)
                    for k, t, v in step_mistakes(weight, rate, gradient, mistakes)
                    if not close(float(v), float(updated))  # alpha times a small error: not told apart from the right weight
                ]
                answer.candidates.append(
                    Candidate(
                        "gradient_only",
                        f"this is dE/d{item.wrt}, the gradient; the question asks the weight after the step, "
                        f"{item.wrt} - alpha * dE/d{item.wrt}",
                        float(gradient),
                    )
                )
            else:
                answer = Answer(item, formula, gradient, chain, factor_values, text=self.text(item))
                answer.candidates = [Candidate(m.key, m.text, float(m.value), m.right_factors, True, m.formula) for m in mistakes]
                answer.candidates += _chain_candidates(scalar, chain, factor_values)
                answer.candidates += _gradient_candidates(chain, gradients)
                answer.candidates += forward
            answers[item.id] = answer
        return Key(point, values, rate, answers)


def _choices(right: sp.Expr, mistakes: list[Candidate], point: Point, written) -> tuple[Choice, ...]:
    """The options of a "which factor" question: the right formula and up to four typical
    mistakes, each formula once, ordered by a hash of the student's numbers."""
    options: list[Choice] = [Choice("", right)]
    for m in mistakes:
        if len(options) < 5 and all(m.formula != o.formula for o in options):
            options.append(Choice("", m.formula, m))
    seed = repr(sorted(point.leaves.items()))
    options.sort(key=lambda o: hashlib.sha256(f"{seed}\0{written(o.formula)}".encode()).hexdigest())
    return tuple(Choice(LETTERS[i], o.formula, o.mistake) for i, o in enumerate(options))


def match(answer: Answer, given: float) -> Candidate | None:
    """What a wrong number is: the first candidate it is close to."""
    for candidate in answer.candidates:
        if close(given, candidate.value):
            return candidate
    return None


# -- the intermediates ----------------------------------------------------------------------


def _chain_candidates(scalar, chain: ElementGradient, values: tuple[sp.Float, ...]) -> list[Candidate]:
    """Partial products of the chain rule (the last factors missing), each factor alone, and the
    product with one factor missing."""
    factors, n = chain.factors, len(chain.factors)
    loss, target = scalar.loss_symbol, chain.symbol
    found = []
    for k in range(n - 1, 0, -1):
        missing = factors[k:]
        words = ", ".join(f"d{f.of}/d{f.wrt} = {_text(f.expr)}" for f in missing)
        found.append(
            Candidate(
                f"partial_{k}",
                f"this is d{loss}/d{factors[k - 1].wrt}, not d{loss}/d{target}: the last "
                + (f"factors {words} are missing" if len(missing) > 1 else f"factor {words} is missing"),
                float(sp.Mul(*values[:k])),
                k,
            )
        )
    for i in range(n - 1):
        f = factors[i]
        rest = sp.Mul(*(v for j, v in enumerate(values) if j != i))
        found.append(
            Candidate(
                f"without_{i + 1}", f"the chain-rule factor d{f.of}/d{f.wrt} = {_text(f.expr)} is missing", float(rest), n - 1
            )
        )
    if n > 1:
        for i, f in enumerate(factors):
            found.append(
                Candidate(
                    f"factor_{i + 1}",
                    f"this is only the chain-rule factor d{f.of}/d{f.wrt} = {_text(f.expr)}",
                    float(values[i]),
                    1,
                )
            )
    return found


def _gradient_candidates(chain: ElementGradient, gradients) -> list[Candidate]:
    """Every other weight's gradient: 'this is dE/dW2_12' (with row and column swapped, said)."""
    found = []
    for other, value in gradients:
        if other.symbol == chain.symbol:
            continue
        note = ""
        if other.param == chain.param and len(other.index) == 2 and tuple(reversed(other.index)) == tuple(chain.index):
            note = f" (row and column swapped: {other.param}_jk connects input k to unit j)"
        found.append(
            Candidate(
                f"gradient_{other.symbol}", f"this is dE/d{other.symbol}, the gradient of another weight{note}", float(value)
            )
        )
    return found


def _forward_candidates(derivation, values) -> list[Candidate]:
    """Every forward value and every leaf: 'this is the value of z1_1'."""
    scalar = derivation.scalar
    found = []
    for node in derivation.graph.nodes.values():
        if node.name == derivation.graph.loss:
            continue
        for symbol in scalar.symbols[node.name]:
            what = "a forward value" if symbol in scalar.definitions else "a given number"
            found.append(Candidate(f"value_{symbol}", f"this is the value of {symbol} ({what})", float(values[symbol])))
    return found


def _text(expr: sp.Expr) -> str:
    return str(expr).replace("**", "^")
