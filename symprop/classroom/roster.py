"""The class list: a CSV file with the columns ``id`` and ``name``, one student a row.

Ids become file names (``ID_worksheet.tex``) and the key of every student's numbers, so they
are checked here: present, unique, letters, digits, ``-`` and ``_`` only.  Any problem is one
line naming the file and the row, before anything is written.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SpecError
from ..spec_file import read_text

#: Most students a roster may list (a class, not a registry).
MAX_STUDENTS = 2000
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_NAME = 200


@dataclass(frozen=True)
class Student:
    id: str
    name: str


def read_roster(path: str | Path) -> list[Student]:
    """The students of the roster ``path``; a ``SpecError`` naming the file and row otherwise."""
    source = str(path)
    text = read_text(path, "roster")
    return parse_roster(text, source)


def parse_roster(text: str, source: str = "<roster>") -> list[Student]:
    rows = _rows(text, source)
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise SpecError(source, "file", "the roster is empty; expected a header row 'id,name' and one row per student")
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [column for column in ("id", "name") if column not in header]
    if missing:
        raise SpecError(
            source,
            "row 1",
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; the header must name id and name",
        )
    id_at, name_at = header.index("id"), header.index("name")
    students: list[Student] = []
    seen: dict[str, int] = {}
    seen_folded: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(students) >= MAX_STUDENTS:
            raise SpecError(source, f"row {number}", f"more than {MAX_STUDENTS:,} students; a roster lists one class")
        if len(row) > len(header) and any(cell.strip() for cell in row[len(header) :]):
            raise SpecError(
                source,
                f"row {number}",
                f"{len(row)} cells where the header has {len(header)}; a name with a comma goes in quotes (\"Lovelace, Ada\")",
            )
        cells = row + [""] * (len(header) - len(row))
        sid, name = cells[id_at].strip(), " ".join(cells[name_at].split())
        if not sid:
            raise SpecError(source, f"row {number}", "the id is empty")
        if not ID.fullmatch(sid):
            raise SpecError(
                source,
                f"row {number}",
                f"id {sid[:40]!r}: use letters, digits, '-' and '_' (at most 64), it names the student's files",
            )
        if sid in seen:
            raise SpecError(source, f"row {number}", f"id {sid!r} is already used in row {seen[sid]}; ids must be unique")
        if not name:
            raise SpecError(source, f"row {number}", f"student {sid!r} has no name")
        if len(name) > MAX_NAME or not name.isprintable():
            raise SpecError(
                source, f"row {number}", f"student {sid!r}: the name is not one printable line of at most {MAX_NAME} characters"
            )
        unset = next((c for c in name if not _typeset(c)), None)
        if unset is not None:
            raise SpecError(
                source,
                f"row {number}",
                f"student {sid!r}: the name's {unset!r} (U+{ord(unset):04X}) cannot be set on the worksheets (LaTeX here sets "
                "Latin letters with the accents of Latin-1 and Latin Extended-A); write the name without it",
            )
        folded = seen_folded.get(sid.casefold())
        if folded is not None:
            raise SpecError(
                source, f"row {number}", f"id {sid!r} differs from row {folded}'s only in case; their files would collide"
            )
        seen[sid] = number
        seen_folded[sid.casefold()] = number
        students.append(Student(sid, name))
    if not students:
        raise SpecError(source, "file", "the roster has a header but no students")
    return students


def csv_delimiter(text: str) -> str:
    """The separator of a CSV file: ',' or, as spreadsheets save them where ',' is the decimal
    mark, ';'; told by the first line (the one rule for rosters and answers files)."""
    first = text.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def _rows(text: str, source: str) -> list[list[str]]:
    """The CSV rows (separated as ``csv_delimiter`` tells)."""
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(text)))
    except csv.Error as exc:
        raise SpecError(source, "file", f"not a readable CSV file ({exc})") from None


#: Beyond Latin-1 and Latin Extended-A, the typographic quotes and dashes pdflatex sets too.
_PUNCTUATION = set("\u2018\u2019\u201c\u201d\u2013\u2014\u2026")


def _typeset(character: str) -> bool:
    """Whether pdflatex (no font packages) sets ``character`` in a name: tested with Zoë,
    Łukasz Żółć, Ondřej, İlkay Ağaoğlu; Vietnamese, Greek, CJK and emoji fail to compile."""
    return ord(character) < 0x180 or character in _PUNCTUATION
