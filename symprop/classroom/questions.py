"""What a class is asked: a small questions YAML, or by default the exercises plan.

    questions:
      - {id: q1, kind: forward, of: a1_1, points: 1}            # a forward value
      - {id: q2, kind: factor, of: a1_1, wrt: z1_1, points: 1}  # which factor: a local derivative
      - {id: q3, kind: gradient, wrt: W1_11, points: 3, factor_points: 1}
      - {id: q4, kind: step, wrt: W1_11, points: 1}             # the weight after one step
      - {id: q5, kind: formula, wrt: W2_11, points: 2, factor_points: 0.5}
      - {id: q6, kind: formula, wrt: W2, points: 2}             # the whole matrix: delta2 a1^T
      - {id: q7, kind: step, wrt: W1_11, follow_through: 0.5}

Elements are named as the verifier names them (``W2_11``, ``a1_1``, 1-based); a formula
question may name a whole parameter (``W2``): the answer is its gradient as a matrix, in the
vector notation of the handout (``delta2 a1^T``, ``(W2^T delta2) * a1*(1 - a1)``).
``factor_points`` is the partial credit per chain-rule factor that is right when the answer is
not.  ``follow_through`` (a fraction of ``points``, default ``FOLLOW_THROUGH``) is the credit for
a number that is wrong only because it was computed, by the right method, from the student's
own wrong answer to another question (a step taken with their gradient, a gradient from their
forward value).  A "which factor" question is multiple choice on the worksheet (a letter).  The
file is read and checked like a spec: one line naming the file and the field for any problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp

from ..errors import SpecError, did_you_mean
from ..exercises import plan, step_rate

if TYPE_CHECKING:
    from ..derivation import Derivation

KINDS = ("forward", "factor", "gradient", "step", "formula")
FIELDS = ("id", "kind", "of", "wrt", "points", "factor_points", "follow_through")
#: The default follow-through credit: all of it.  The earlier mistake already costs its own
#: question's points; charging it again on every answer computed from it marks one slip many
#: times (examiners call this "error carried forward").  A teacher who wants the method only
#: partly rewarded sets e.g. ``follow_through: 0.5``.
FOLLOW_THROUGH = 1.0
MAX_QUESTIONS = 50
MAX_POINTS = 100
ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


@dataclass(frozen=True)
class Item:
    """One answer asked for: ``of`` is the value (forward) or the step's output (factor);
    ``wrt`` the step's input (factor) or the parameter element (gradient, step, formula)."""

    id: str
    kind: str
    of: sp.Symbol | None
    wrt: sp.Symbol | None
    points: float = 1.0
    factor_points: float = 0.0
    follow_through: float = FOLLOW_THROUGH
    whole: bool = False  # a formula question about a whole parameter (``wrt`` is its name, W2)
    off: tuple[sp.Symbol, ...] = ()  # gate units asked switched off (``exercises.Ask.off``)

    @property
    def numeric(self) -> bool:
        """Whether the answer is a number (a "which factor" question also takes its letter)."""
        return self.kind != "formula"


def default_questions(derivation: Derivation) -> tuple[Item, ...]:
    """The exercises plan as items: each forward value, the local derivative, and each gradient
    with the weight after one step (when the example has a learning rate and targets)."""
    items = []
    has_step = _step_rate(derivation) is not None
    for number, ask in enumerate(plan(derivation), start=1):
        if ask.kind == "forward":
            items.append(Item(f"q{number}", "forward", ask.of, None, off=ask.off))
        elif ask.kind == "local":
            items.append(Item(f"q{number}", "factor", ask.of, ask.wrt, off=ask.off))
        else:
            items.append(Item(f"q{number}", "gradient", None, ask.of, 2.0, 0.5, off=ask.off))
            if has_step and not ask.off:  # a switched-off unit's weight does not move: no step to ask
                items.append(Item(f"q{number}_step", "step", None, ask.of))
    return tuple(items)


def parse_questions(data, derivation: Derivation, source: str = "<questions>") -> tuple[Item, ...]:
    if not isinstance(data, dict) or set(data) != {"questions"}:
        raise SpecError(source, "questions", "expected a mapping with one key, questions: a list of questions")
    entries = data["questions"]
    if not isinstance(entries, list) or not entries:
        raise SpecError(source, "questions", "expected a non-empty list of questions")
    if len(entries) > MAX_QUESTIONS:
        raise SpecError(source, "questions", f"{len(entries)} questions; at most {MAX_QUESTIONS}")
    scalar = derivation.scalar
    elements = {str(s): s for symbols in scalar.symbols.values() for s in symbols}
    params = {str(s) for node in derivation.graph.params() for s in scalar.symbols[node.name]}
    matrices = {node.name for node in derivation.graph.params() if node.shape}
    has_rate = _step_rate(derivation) is not None
    items: list[Item] = []
    for i, entry in enumerate(entries):
        where = f"questions[{i}]"  # 0-based, as a spec's layers[0] and a claims file's claims[0]
        if not isinstance(entry, dict):
            raise SpecError(source, where, "expected a mapping with id, kind and of or wrt")
        for key in entry:
            if key not in FIELDS:
                raise SpecError(
                    source, f"{where}.{key}", f"unknown field{did_you_mean(key, FIELDS)}; fields: {', '.join(FIELDS)}"
                )
        qid = entry.get("id")
        if not isinstance(qid, str) or not ID.fullmatch(qid):
            raise SpecError(source, f"{where}.id", "expected a name of letters, digits and '_' (it names a gradebook column)")
        if any(item.id == qid for item in items):
            raise SpecError(source, f"{where}.id", f"{qid!r} is used twice")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise SpecError(source, f"{where}.kind", f"{kind!r}: expected one of {', '.join(KINDS)}{did_you_mean(kind, KINDS)}")
        needed = {"forward": ("of",), "factor": ("of", "wrt")}.get(kind, ("wrt",))
        names = {}
        whole = kind == "formula" and entry.get("wrt") in matrices
        for key in ("of", "wrt"):
            value = entry.get(key)
            if key not in needed:
                if value is not None:
                    raise SpecError(source, f"{where}.{key}", f"a {kind} question takes {' and '.join(needed)}, not {key}")
                continue
            if whole:
                names[key] = sp.Symbol(value)
                continue
            if key == "wrt" and value in matrices:
                raise SpecError(
                    source,
                    f"{where}.wrt",
                    f"{value} is a whole parameter; a {kind} question asks one element ({value}_11), a formula question "
                    "may ask the whole matrix",
                )
            if not isinstance(value, str) or value not in elements:
                raise SpecError(
                    source,
                    f"{where}.{key}",
                    f"{value!r} is not an element of {derivation.name}{did_you_mean(value, elements)}; write it as W2_11, a1_1",
                )
            names[key] = elements[value]
        if whole and _array_formula(derivation, str(names["wrt"])) is None:
            raise SpecError(
                source,
                f"{where}.wrt",
                f"{names['wrt']}'s gradient has no array formula here; ask one element ({names['wrt']}_11)",
            )
        if kind in ("gradient", "step", "formula") and not whole and str(names["wrt"]) not in params:
            raise SpecError(
                source,
                f"{where}.wrt",
                f"{names['wrt']} is not a parameter's element; a {kind} question is about a weight or bias",
            )
        if kind == "forward" and names["of"] not in scalar.definitions:
            raise SpecError(source, f"{where}.of", f"{names['of']} is given, not computed; ask a computed value (z, a, ...)")
        if kind == "factor":
            definition = scalar.definitions.get(names["of"])
            if definition is None or names["wrt"] not in definition.free_symbols:
                raise SpecError(
                    source,
                    f"{where}.wrt",
                    f"{names['of']} is not computed directly from {names['wrt']}; a factor is one step's derivative",
                )
        if kind == "step" and not has_rate:
            raise SpecError(
                source, f"{where}.kind", "a step question needs the example's learning_rate and targets (else E is no loss)"
            )
        points = _number(entry.get("points", 1), source, f"{where}.points", 0, MAX_POINTS)
        factor_points = _number(entry.get("factor_points", 0), source, f"{where}.factor_points", 0, points)
        if factor_points and kind not in ("gradient", "formula"):
            raise SpecError(
                source, f"{where}.factor_points", "partial credit per chain-rule factor is for gradient and formula questions"
            )
        follow = _number(entry.get("follow_through", FOLLOW_THROUGH), source, f"{where}.follow_through", 0, 1)
        items.append(Item(qid, kind, names.get("of"), names.get("wrt"), points, factor_points, follow, whole))
    return tuple(items)


def _number(value, source: str, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise SpecError(source, where, f"expected a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _step_rate(derivation: Derivation) -> float | None:
    example = derivation.network.example
    return step_rate(derivation, example.learning_rate if example is not None else None)


def _array_formula(derivation: Derivation, node: str) -> str | None:
    from ..verify.writing import array_formula

    return array_formula(derivation, node)
