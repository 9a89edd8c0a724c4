"""The class set's documents: per student a worksheet and an answer key (the exercises
edition's templates, with the student's numbers, name and id, each blank labelled with the
question id the gradebook uses), and the class answer sheet (CSV and LaTeX, one row per
student, one column per question) for the teacher.  Nothing is written here: each function
returns {file name: text}, and the CLI writes them all or nothing.
"""

from __future__ import annotations

import csv
import io

import sympy as sp

from ..emit.latex.exercises import ExerciseSheet
from ..emit.latex.tex import Tex, code, environment, text
from ..exercises import Exercises, FactorValue, Question, shown_values
from ..latex_printing import number
from .key import Key
from .roster import Student


def student_sources(derivation, key: Key, student: Student, sheet: ExerciseSheet | None = None) -> dict[str, str]:
    """``ID_worksheet.tex`` and ``ID_answers.tex`` for one student (``sheet``: one built for the
    class, its names and figure reused; only the numbers change)."""
    chosen = worksheet_exercises(derivation, key)
    sheet = sheet.at(chosen) if sheet is not None else ExerciseSheet(derivation, chosen)
    context = sheet.context()
    context["student"] = {"name": text(student.name), "id": text(student.id)}
    env = environment()
    return {
        f"{student.id}_worksheet.tex": env.get_template("exercises.tex.j2").render(**context),
        f"{student.id}_answers.tex": env.get_template("answers.tex.j2").render(**context),
    }


def worksheet_exercises(derivation, key: Key) -> Exercises:
    """The key's items as the exercises edition's questions: items about one element share a
    question (dE/dW, its formula and the step), each blank labelled with its item id; a "which
    factor" item lists its options; a whole parameter's formula is a question of its own."""
    scalar, graph = derivation.scalar, derivation.graph
    order = {name: i for i, name in enumerate(graph.nodes)}
    output_param = max(graph.params(), key=lambda p: order[graph.consumers(p.name)[0].name]).name
    groups: dict[tuple, dict[str, str]] = {}
    for item_id, answer in key.answers.items():
        item = answer.item
        if item.whole:
            group = ("matrix", None, item.wrt)
        elif item.kind in ("forward", "factor"):
            group = (item.kind, item.of, item.wrt)
        else:
            group = ("gradient", None, item.wrt)
        groups.setdefault(group, {})[item.kind] = item_id
    questions = []
    for number_, (group, roles) in enumerate(groups.items(), start=1):
        kind, of, wrt = group
        first = key.answers[next(iter(roles.values()))]
        if kind == "matrix":
            questions.append(Question(number_, "matrix", wrt, None, first.formula, first.value, labels=(roles["formula"],)))
        elif kind == "forward":
            questions.append(Question(number_, "forward", of, None, first.formula, first.value, labels=(roles["forward"],)))
        elif kind == "factor":
            choices = tuple((c.letter, c.formula) for c in first.choices)
            questions.append(
                Question(number_, "local", of, wrt, first.formula, first.value, labels=(roles["factor"],), choices=choices)
            )
        else:
            chain = first.chain
            # no dE/dE = 1 factor where a weight feeds the loss itself (as the exercises leave it out)
            factors = tuple(
                _factor_value(f, v) for f, v in zip(chain.factors, first.factor_values) if f.wrt != scalar.loss_symbol
            )
            value = sp.Mul(*first.factor_values)
            param = chain.param
            role = (
                "bias"
                if len(chain.factors) > 1 and chain.factors[-1].expr == 1
                else ("output_weight" if param == output_param else "hidden_weight")
            )
            step = "step" in roles
            current = key.values[wrt] if step else None
            updated = key.answers[roles["step"]].value if step else None
            labels = (roles.get("gradient"), roles.get("step")) if step else (roles.get("gradient"),)
            questions.append(
                Question(number_, role, wrt, None, chain.expr, value, factors, current, updated, labels, roles.get("formula"))
            )
    given = shown_values(graph, scalar, questions, key.values)
    rate = key.rate if any("step" in roles for roles in groups.values()) else None
    return Exercises(key.point, key.values, rate, given, tuple(questions))


def _factor_value(factor, value):
    return FactorValue(factor.of, factor.wrt, factor.expr, value)


def class_answers(students: list[Student], keys: dict[str, Key], ids: list[str], title: str = "") -> dict[str, str]:
    """``class_answers.csv`` and ``class_answers.tex``: every student's answers side by side;
    ``title`` (the spec and the seed) heads the LaTeX sheet, with what each column asks."""
    rows = [[s.id, s.name, *(_cell(keys[s.id], i) for i in ids)] for s in students]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "name", *ids])
    writer.writerows([[csv_safe(c) for c in row] for row in rows])
    numeric = [i for i in ids if keys[students[0].id].answers[i].item.numeric]
    first = keys[students[0].id].answers
    context = {
        "title": text(title),
        "legend": [text(f"{i}: {describe(first[i].item)}") for i in ids],
        "columns": [text(i) for i in numeric],
        "rows": [[text(s.id), text(s.name), *(Tex(_number_cell(keys[s.id].answers[i])) for i in numeric)] for s in students],
        "formulas": [{"id": text(i), "formula": _formula_cell(first[i])} for i in ids if i not in numeric],
    }
    tex = environment().get_template("class_answers.tex.j2").render(**context)
    return {"class_answers.csv": buffer.getvalue(), "class_answers.tex": tex}


def describe(item) -> str:
    """What a question asks, in a few words: ``dE/dW2_11``, ``W2_11 after one step``."""
    return {
        "forward": f"the value of {item.of}",
        "factor": f"d{item.of}/d{item.wrt}",
        "gradient": f"dE/d{item.wrt}",
        "step": f"{item.wrt} after one step",
        "formula": f"dE/d{item.wrt} as a formula",
    }[item.kind]


def _cell(key: Key, item_id: str) -> str:
    """A CSV cell: the number (with a "which factor" question's letter first: ``(c) 0.2486``), or the formula."""
    answer = key.answers[item_id]
    if not answer.item.numeric:
        return answer.text
    return f"({answer.letter}) {number(answer.value)}" if answer.choices else number(answer.value)


def _number_cell(answer) -> str:
    """A number of the LaTeX sheet, in math mode: its minus a minus sign, not a hyphen."""
    shown = f"${number(answer.value, 6)}$"
    return rf"({answer.letter})\ {shown}" if answer.choices else shown


def _formula_cell(answer) -> Tex:
    """A formula for the LaTeX sheet as the students type it (and as the CSV has it)."""
    return Tex(code(answer.text))


def csv_safe(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (a name starting with =, +, - or @)."""
    return "'" + cell if cell[:1] in ("=", "+", "@") or (cell[:1] == "-" and not _is_number(cell)) else cell


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
