"""A class set from a spec, a roster and a course seed: each student's key (``variants``) and
every document (``sheets``), as {file name: text} for the CLI to write all or nothing."""

from __future__ import annotations

from dataclasses import dataclass

from .key import Blueprint, Key
from .questions import Item, default_questions
from .roster import Student
from .sheets import class_answers, student_sources
from .variants import draw_variant


@dataclass
class ClassSet:
    derivation: object
    items: tuple[Item, ...]
    students: list[Student]
    keys: dict[str, Key]  # by student id

    def sources(self) -> dict[str, str]:
        outputs: dict[str, str] = {}
        for student in self.students:
            outputs.update(student_sources(self.derivation, self.keys[student.id], student))
        outputs.update(class_answers(self.students, self.keys, [i.id for i in self.items]))
        return outputs


def class_set(derivation, students: list[Student], seed: int, items: tuple[Item, ...] | None = None) -> ClassSet:
    """Every student's variant and key (the exercises plan's questions unless ``items``)."""
    items = items if items is not None else default_questions(derivation)
    blueprint = Blueprint(derivation, items)
    keys = {s.id: draw_variant(blueprint, seed, s.id)[0] for s in students}
    return ClassSet(derivation, items, students, keys)
