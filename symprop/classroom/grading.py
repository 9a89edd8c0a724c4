"""Marking a class: each answer against the student's own key, with a reason in words.

A number is right within ``key.RELATIVE`` (relative) or ``key.ABSOLUTE`` of the key; commas as
decimal marks, a Unicode minus, ``$...$`` and a leading ``=`` are accepted.  A wrong number is
compared with the typical mistakes, then with every intermediate of the student's derivation
(``key.Answer.candidates``), and the feedback names what it is.  A formula is judged by the
verifier on the student's variant (its counterexample is at the student's own numbers; a
number typed for a formula is told the question asks for a formula, for no points);
partial credit counts the chain-rule factors the verifier found right, or those a recognised
mistake keeps right.  Every problem (empty, text in a number, an unreadable formula, a missing
or an extra student) is a note on the row, never a stop.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from dataclasses import dataclass, field

import sympy as sp

from ..errors import SymPropError
from ..formula import FormulaError
from ..latex_printing import number
from ..spec import Example
from .key import Answer, Blueprint, Candidate, Key, close, match
from .mistakes import formula_text
from .roster import Student
from .submissions import Submission

MAX_ANSWER = 2000  # characters of one answer read
#: the gradebook note of a student on the roster with no answers (the CLI's summary lists them)
NO_SUBMISSION = "no submission"


@dataclass
class Mark:
    item_id: str
    points: float
    given: str
    verdict: str  # right, wrong, partial, follow_through, empty, unreadable
    explanation: list[str] = field(default_factory=list)
    mistake: str | None = None  # the key of the typical mistake named


@dataclass
class Row:
    student: Student | None
    student_id: str
    marks: list[Mark]
    notes: list[str]

    @property
    def total(self) -> float:
        return sum(m.points for m in self.marks)


def _as_typed(text: str) -> str:
    """A student's number as typed, without ``$``, a leading ``=``, spaces, and with ASCII minus."""
    t = text.strip().strip("$").strip().replace("\u2212", "-").replace(" ", "").replace("\u00a0", "")
    return t.lstrip("=≈").strip()


def parse_number(text: str) -> float | None:
    """A student's number: ``0.0259``, ``0,0259``, ``-1.2e-3``, ``−0.5``, ``$0.5$``, ``= 0.5``; None otherwise."""
    t = _as_typed(text)
    if t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", t):
        return None
    value = float(t)
    return value if math.isfinite(value) else None


def _too_few_places(given: str, value: float, right: float) -> int | None:
    """The decimal places of ``given`` (1 to 3) when it is ``right`` rounded to them (0.39 for
    0.39339941: not right within the tolerance, but no mistake either), else None; not for a 0
    (0.0 for 0.026 is more likely a unit taken as dead than a rounding)."""
    digits = re.fullmatch(r"[+-]?\d*[.,](\d{1,3})", _as_typed(given))
    if digits is None:
        return None
    places = len(digits.group(1))
    return places if value and abs(value - right) <= 0.5 * 10.0**-places * (1 + 1e-9) else None


def _on_roster(students: list[Student], submissions: dict[str, Submission]) -> tuple[dict[str, Submission], list[str]]:
    """The submissions by roster id, matched in any case as the roster tells ids apart
    (``S05.yaml`` is s05's), and the ids on no one's row.  An exact id wins over another case."""
    roster = {s.id.casefold(): s.id for s in students}
    matched: dict[str, Submission] = {}
    unknown = []
    for sid, submission in sorted(submissions.items(), key=lambda pair: pair[0] not in roster.values()):
        rid = roster.get(sid.casefold())
        if rid is None:
            unknown.append(sid)
        elif rid in matched:
            matched[rid].notes.append(f"a second submission under the id {sid}; ignored")
        else:
            matched[rid] = submission
    return matched, unknown


def _by_question(asked: set[str], answers: dict[str, str]) -> dict[str, str]:
    """The answers by question id, a header's ``Q1`` read as ``q1`` (a spreadsheet's capitals);
    an exact id wins over another case."""
    folded = {qid.casefold(): qid for qid in asked}
    found: dict[str, str] = {}
    for given_id, text in sorted(answers.items(), key=lambda pair: pair[0] not in asked):
        found.setdefault(given_id if given_id in asked else folded.get(given_id.casefold(), given_id), text)
    return found


class Grader:
    def __init__(self, derivation, items, keys: dict[str, Key], blueprint=None):
        self.derivation, self.items, self.keys = derivation, items, keys
        self.blueprint = blueprint if blueprint is not None else Blueprint(derivation, items)

    def grade(self, students: list[Student], submissions: dict[str, Submission]) -> list[Row]:
        rows = []
        submissions, unknown = _on_roster(students, submissions)
        for student in students:
            submission = submissions.get(student.id)
            if submission is None:
                rows.append(Row(student, student.id, [Mark(i.id, 0.0, "", "empty") for i in self.items], [NO_SUBMISSION]))
                continue
            rows.append(self.grade_one(student, submission))
        for sid in sorted(unknown):
            rows.append(Row(None, sid, [], ["not on the roster; not graded"]))
        return rows

    def grade_one(self, student: Student, submission: Submission) -> Row:
        key = self.keys[student.id]
        notes = list(submission.notes)
        asked = {i.id for i in self.items}
        answers = _by_question(asked, submission.answers)
        extra = sorted(k for k in answers if k not in asked)
        if extra:
            notes.append(f"unknown question id(s) {', '.join(extra[:5])} ignored")
        marks = []
        verifier = None
        wrong: dict[str, float] = {}  # earlier numbers that were wrong: what a later answer may follow through from
        for item in self.items:
            given = answers.get(item.id, "")[:MAX_ANSWER]
            answer = key.answers[item.id]
            if not given.strip():
                marks.append(Mark(item.id, 0.0, given, "empty", ["no answer"]))
                notes.append(f"{item.id}: empty")
            elif item.numeric:
                marks.append(self.numeric(answer, given))
                value = parse_number(given)
                if marks[-1].verdict in ("wrong", "partial") and value is not None:
                    marks[-1] = self.followed(key, answer, given, value, wrong) or marks[-1]
                    wrong[item.id] = value
            else:
                if verifier is None:
                    verifier = self.verifier(key)
                marks.append(self.formula(answer, given, verifier, key))
            if marks[-1].verdict == "unreadable":
                notes.append(f"{item.id}: {marks[-1].explanation[0]}")
        if all(m.verdict == "empty" for m in marks):  # an empty file: one note, not one per question
            notes = [n for n in notes if not n.endswith(": empty")] + ["the submission answers nothing"]
        return Row(student, student.id, marks, notes)

    # -- numbers ------------------------------------------------------------------------

    def numeric(self, answer: Answer, given: str) -> Mark:
        item = answer.item
        if answer.choices and (letter := parse_letter(given)) is not None:
            return self.choice(answer, given, letter)
        value = parse_number(given)
        if value is None:
            hint = "an option's letter (write e.g. b)" if answer.choices else "a number (write e.g. 0.0259 or 0,0259)"
            return Mark(item.id, 0.0, given, "unreadable", [f"{_quote(given)} is not {hint}"])
        right = float(answer.value)
        if close(value, right):
            return Mark(item.id, item.points, given, "right", [])
        found = match(answer, value)
        lines = [f"the right value is {number(answer.value)}"]
        if found is None:
            places = _too_few_places(given, value, right)
            if places is not None:
                said = f"this is the right value rounded to {places} decimal place{'s' if places > 1 else ''}: give at least 4"
            else:
                said = "it matches none of the intermediate values of your derivation nor a typical mistake"
            lines.insert(0, said)
            return Mark(item.id, 0.0, given, "wrong", lines)
        lines.insert(0, found.text)
        points = min(found.right_factors * item.factor_points, item.points)
        return Mark(item.id, points, given, "partial" if points else "wrong", lines, found.key if found.mistake else None)

    def followed(self, key: Key, answer: Answer, given: str, value: float, wrong: dict[str, float]) -> Mark | None:
        """Follow-through: ``value`` is wrong, but right from the student's own wrong answers to
        earlier questions (``wrong``); the item's ``follow_through`` share of its points."""
        item = answer.item
        found = self.blueprint.follow_through(key, item, wrong) if wrong else None
        if found is None or not close(value, found[0]):
            return None
        computed, sources = found
        named = ", ".join(f"{i} ({wrong[i]:g})" for i in sources)
        lines = [
            f"right method from your answer to {named}: computed from it, this is {number(computed)}",
            f"the right value is {number(answer.value)}; your earlier answer costs its own points, "
            + ("not these again" if item.follow_through == 1 else f"and this one earns {item.follow_through:g} of its points"),
        ]
        points = item.points * item.follow_through
        return Mark(item.id, points, given, "follow_through", lines)

    def choice(self, answer: Answer, given: str, letter: str) -> Mark:
        """A "which factor" question answered with the letter of an option."""
        item = answer.item
        chosen = next((c for c in answer.choices if c.letter == letter), None)
        right = f"the right option is ({answer.letter}), {formula_text(answer.formula)} = {number(answer.value)}"
        if chosen is None:
            letters = ", ".join(c.letter for c in answer.choices)
            return Mark(item.id, 0.0, given, "unreadable", [f"there is no option ({letter}); the options are {letters}"])
        if chosen.mistake is None:
            return Mark(item.id, item.points, given, "right", [])
        lines = [f"({letter}) is {formula_text(chosen.formula)}: {chosen.mistake.text}", right]
        return Mark(item.id, 0.0, given, "wrong", lines, chosen.mistake.key)

    # -- formulas -----------------------------------------------------------------------

    def verifier(self, key: Key):
        """The verifier on the student's variant: the derivation with the student's numbers as its example."""
        from ..verify.verifier import Verifier

        variant = copy.copy(self.derivation)
        variant.network = dataclasses.replace(self.derivation.network, example=_example(self.derivation.network.example, key))
        return Verifier(variant)

    def formula(self, answer: Answer, given: str, verifier, key: Key) -> Mark:
        from ..verify.diagnose import is_ratio_note
        from ..verify.tensor_decide import ClaimShapeError

        item = answer.item
        value = parse_number(given)  # "0,0308" too: a number, judged below, not an unreadable formula
        try:
            result = _checked(verifier, str(item.wrt), given, value)
        except ClaimShapeError as exc:  # read, but its shapes do not fit: a wrong formula, not an unreadable one
            return Mark(item.id, 0.0, given, "wrong", [str(exc)])
        except (SymPropError, FormulaError) as exc:
            return Mark(item.id, 0.0, given, "unreadable", [_unreadable(str(exc), answer)])
        if result.correct:  # a number too, when the gradient is a constant
            return Mark(item.id, item.points, given, "right", [])
        if value is not None:
            return Mark(item.id, 0.0, given, "wrong", [_a_number(value, answer), f"the right formula: {result.expected}"])
        lines = [f"read as: {result.understood}", *result.diagnosis]
        mistake = None
        right_factors = result.right_factors
        if result.values:
            lines.append(f"at your numbers your formula gives {result.values['claim']}, the right one {result.values['correct']}")
            claimed = parse_number(result.values["claim"])
            found = match(answer, claimed) if claimed is not None else None
            if found is not None and found.mistake:
                if _constant_times(found, answer):  # the mistake's text says what "-1 times the correct gradient" says
                    lines = [line for line in lines if not is_ratio_note(line)]
                lines.insert(0, found.text)
                mistake, right_factors = found.key, max(right_factors, found.right_factors)
        lines.append(f"the right formula: {result.expected}")
        points = min(right_factors * item.factor_points, item.points)
        return Mark(item.id, points, given, "partial" if points else "wrong", lines, mistake)


def parse_letter(text: str) -> str | None:
    """The option a student wrote: ``b``, ``(b)``, ``B)``, ``b.``; None for anything else."""
    found = re.fullmatch(r"\s*\(?\s*([A-Ha-h])\s*[).]?\s*", text)
    return found.group(1).lower() if found else None


def _checked(verifier, wrt: str, given: str, value):
    """The verifier's result for an answer: LaTeX when it has a backslash; else plain (a number as
    its repr), and LaTeX again if plain cannot read it and it has braces (``a^{(2)}_1``), while a
    plain sum with braces (``sum_{i} W2[i,j] * delta2[i]``) stays plain."""
    from ..verify.tensor_decide import ClaimShapeError

    if "\\" in given:
        return verifier.check(wrt, claim_latex=given)
    try:
        return verifier.check(wrt, given if value is None else repr(value))
    except ClaimShapeError:  # read: a wrong formula
        raise
    except (SymPropError, FormulaError):
        if "{" not in given:
            raise
        return verifier.check(wrt, claim_latex=given)


def _example(example, key: Key):
    leaves = key.point.leaves
    params = {name: value for name, value in leaves.items() if name in example.params}
    if not isinstance(example, Example):  # a graph spec's: values by node name
        return dataclasses.replace(
            example,
            inputs={n: leaves[n] for n in example.inputs},
            targets={n: leaves[n] for n in example.targets},
            params=params,
        )
    return dataclasses.replace(example, x=tuple(leaves["x"]), t=tuple(leaves["t"]), params=params)


def _constant_times(found: Candidate, answer: Answer) -> bool:
    """Whether a typical mistake is a constant times the right answer (the sign, the loss's 1/2)."""
    if found.formula is None or isinstance(answer.formula, sp.MatrixBase) or answer.formula == 0:
        return False
    return (found.formula / answer.formula).is_number


def _a_number(value: float, answer: Answer) -> str:
    """What a number typed as a formula is told (its points: none, as for a wrong formula)."""
    said = "this question asks for a formula (in the names of the network), not a number"
    if not isinstance(answer.value, sp.MatrixBase) and close(value, float(answer.value)):
        said += f"; {value:g} is its value at your numbers"
    return said


_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
#: how the verifier quotes the claim before saying what is wrong with it (the feedback shows the answer)
_CLAIM = re.compile(rf"(?:LaTeX )?claim (?:{_QUOTED})(?: \((?:read as (?:{_QUOTED})|read from the LaTeX)\))?: ")
#: the vocabulary an unknown name lists (every node, alias and function: for the command line)
_VOCABULARY = re.compile(r"; (?:nodes|variables|functions): .*")


def _unreadable(message: str, answer: Answer) -> str:
    """The verifier's refusal as one short line: without the claim quoted back, and with one
    hint in the names the worksheet shows (the answer's own) in place of the whole vocabulary."""
    quoted = _CLAIM.match(message)
    message = message[quoted.end() :] if quoted else message
    names = list(dict.fromkeys(re.findall(r"(?<![.\w])[A-Za-z]\w*(?![\w(])", answer.text)))[:3]
    hint = f"; write a formula in the network's names, e.g. {', '.join(names)}" if names else ""
    return "the formula could not be read: " + _VOCABULARY.sub(lambda _: hint, message, count=1)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= 40 else text[:37] + "...")
