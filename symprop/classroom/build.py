"""A class set from a spec, a roster and a course seed: each student's key (``variants``) and
every document (``sheets``), as {file name: text} for the CLI to write all or nothing; and back
from its folder's ``classroom.json`` (the spec, the questions, the seed, the roster) to grade it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..emit.latex.exercises import ExerciseSheet
from ..errors import SymPropError
from ..loading import from_dict
from ..spec_file import read_text
from .grading import Grader, Row
from .key import Blueprint, Key
from .moodle import quiz_xml
from .questions import Item, default_questions, parse_questions
from .report import feedback, gradebook
from .roster import Student
from .sheets import class_answers, student_sources, worksheet_exercises
from .submissions import read_submissions
from .variants import draw_variant

MANIFEST = "classroom.json"


@dataclass
class ClassSet:
    derivation: Any
    items: tuple[Item, ...]
    students: list[Student]
    seed: int
    keys: dict[str, Key]  # by student id
    blueprint: Blueprint
    spec_data: Any = None  # the spec as read (stored in the manifest, to grade later)
    questions_data: Any = None

    def sources(self) -> dict[str, str]:
        outputs: dict[str, str] = {}
        sheet = ExerciseSheet(self.derivation, worksheet_exercises(self.derivation, self.keys[self.students[0].id]))
        for student in self.students:
            outputs.update(student_sources(self.derivation, self.keys[student.id], student, sheet))
        title = f"{self.derivation.network.name}, seed {self.seed}"
        outputs.update(class_answers(self.students, self.keys, [i.id for i in self.items], title))
        outputs["quiz.xml"] = quiz_xml(self)
        if self.spec_data is not None:
            outputs[MANIFEST] = json.dumps(
                {
                    "spec": self.spec_data,
                    "source": Path(self.derivation.network.source).name,
                    "questions": self.questions_data,
                    "seed": self.seed,
                    "students": [[s.id, s.name] for s in self.students],
                },
                indent=1,
                ensure_ascii=False,
            )
        return outputs

    def grade(self, answers: str | Path) -> tuple[list[Row], dict[str, str]]:
        """Grade the submissions at ``answers``: the rows and {file name: text} (gradebook, feedback)."""
        rows = Grader(self.derivation, self.items, self.keys, self.blueprint).grade(self.students, read_submissions(answers))
        outputs = {"gradebook.csv": gradebook(rows, self.items)}
        name = self.derivation.network.name
        for row in rows:
            if row.student is not None:
                outputs[f"feedback/{row.student_id}.md"] = feedback(row, self.items, name)
        return rows, outputs


def class_set(
    derivation, students: list[Student], seed: int, items: tuple[Item, ...] | None = None, spec_data=None, questions_data=None
) -> ClassSet:
    """Every student's variant and key (the exercises plan's questions unless ``items``)."""
    network = derivation.network
    if derivation.scalar_refusal is not None:
        raise SymPropError(f"{network.source}: a class set needs the per-weight view, and it has {derivation.scalar_refusal}")
    if network.example is None:
        raise SymPropError(
            f"{network.source}: example: a class set needs a worked example (each student's numbers vary its "
            "inputs, targets and weights); add an 'example'"
        )
    items = items if items is not None else default_questions(derivation)
    blueprint = Blueprint(derivation, items)
    keys = {s.id: draw_variant(blueprint, seed, s.id)[0] for s in students}
    return ClassSet(derivation, items, students, seed, keys, blueprint, spec_data, questions_data)


def open_class(folder: str | Path) -> ClassSet:
    """The class set written by ``symprop classroom`` into ``folder`` (keys drawn again: the same numbers)."""
    from ..api import derive

    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise SymPropError(f"{path}: not found; grade the folder that symprop classroom wrote")
    try:
        data = json.loads(read_text(path, "class manifest"))
        spec, source, seed = data["spec"], str(data["source"]), int(data["seed"])
        students = [Student(str(i), str(n)) for i, n in data["students"]]
        questions = data["questions"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SymPropError(f"{path}: not a class manifest written by symprop classroom ({exc})") from None
    derivation = derive(from_dict(spec, f"{path} (spec {source})"))
    items = parse_questions(questions, derivation, f"{path} (questions)") if questions is not None else None
    return class_set(derivation, students, seed, items, spec, questions)
