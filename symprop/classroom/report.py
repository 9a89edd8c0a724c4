"""The grading's outputs: ``gradebook.csv`` (a row per student, a column per question, the
total and a note) and ``feedback/ID.md`` per student, in words a student understands."""

from __future__ import annotations

import csv
import io

from .grading import Row
from .key import ABSOLUTE, RELATIVE
from .sheets import csv_safe

VERDICTS = {
    "right": "right",
    "wrong": "wrong",
    "partial": "partly right",
    "follow_through": "right from your earlier answer",
    "empty": "no answer",
    "unreadable": "could not be read",
}


def gradebook(rows: list[Row], items) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    maximum = sum(i.points for i in items)
    writer.writerow(["id", "name", *(i.id for i in items), f"total (of {maximum:g})", "note"])
    for row in rows:
        points = {m.item_id: f"{m.points:g}" for m in row.marks}
        name = row.student.name if row.student else ""
        total = f"{row.total:g}" if row.student else ""
        cells = [row.student_id, name, *(points.get(i.id, "") for i in items), total, "; ".join(row.notes)]
        writer.writerow([csv_safe(c) for c in cells])
    return buffer.getvalue()


def feedback(row: Row, items, spec_name: str) -> str:
    maximum = sum(i.points for i in items)
    lines = [f"# Feedback: {markdown_text(row.student.name)} ({markdown_text(row.student_id)})", ""]
    lines.append(f"Exercises on `{spec_name}`, with your own numbers. Score: **{row.total:g} of {maximum:g}**.")
    lines.append(f"Numbers count as right within {RELATIVE:g} relative (or {ABSOLUTE:g} absolute) of the key.")
    if row.notes:
        lines += ["", "Notes: " + "; ".join(row.notes) + "."]
    by_id = {i.id: i for i in items}
    for mark in row.marks:
        item = by_id[mark.item_id]
        lines += ["", f"## {mark.item_id}: {VERDICTS[mark.verdict]} ({mark.points:g} of {item.points:g})", ""]
        if mark.given.strip():
            lines.append(f"Your answer: `{_inline(mark.given)}`")
        for line in mark.explanation:
            lines.append(f"- {line}")
    return "\n".join(lines) + "\n"


def markdown_text(text: str) -> str:
    """A roster's text as literal Markdown inside a line (never at its start): the punctuation
    that means markup there escaped (a name like ``*Ann*`` or ``<b>`` stays as typed), on one
    line.  ``. - + ! ( )`` mean something only at a line's start or after ``]`` and stay as
    typed, so that the file reads as plain text too (``Jr.``, ``Jean-Luc``, not ``Jr\\.``)."""
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in " ".join(text.split()))


MARKDOWN_SPECIAL = set("\\`*_[]<>#|~&$")


def _inline(text: str) -> str:
    return " ".join(text.split()).replace("`", "'")[:300]
