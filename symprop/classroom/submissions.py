"""What students hand in: one CSV for the class (a row per student: ``id`` and a column per
question id), or a folder of per-student files ``ID.yaml`` (question id: answer) or ``ID.csv``
(rows ``question,answer``).  Nothing here judges an answer; a file that cannot be read becomes
a note on its student's row, never a stop: the rest of the class is still graded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SymPropError
from ..spec_file import parse, read_text
from .roster import csv_delimiter

MAX_FILES = 5000


@dataclass
class Submission:
    student_id: str
    answers: dict[str, str] = field(default_factory=dict)  # question id -> text as handed in
    notes: list[str] = field(default_factory=list)  # problems reading it


def read_submissions(path: str | Path) -> dict[str, Submission]:
    """Submissions by student id, from a class CSV or a folder; a ``SymPropError`` only when
    ``path`` itself cannot be read (a missing file or folder)."""
    path = Path(path)
    if path.is_dir():
        return _folder(path)
    if not path.exists():
        raise SymPropError(f"{path}: --answers: no such file or folder")
    text = read_text(path, "answers file")
    return _class_csv(text, str(path))


def _class_csv(text: str, source: str) -> dict[str, Submission]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(text)))
    except csv.Error as exc:
        raise SymPropError(f"{source}: not a readable CSV file ({exc})") from None
    if not rows:
        raise SymPropError(f"{source}: the answers file is empty; expected a header row with id and question ids")
    header = [cell.strip() for cell in rows[0]]
    lowered = [cell.lower() for cell in header]
    if "id" not in lowered:
        raise SymPropError(f"{source}: row 1: no id column; the header names id and the question ids")
    at = lowered.index("id")
    found: dict[str, Submission] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row + [""] * (len(header) - len(row))
        sid = cells[at].strip()
        if not sid:
            continue
        submission = found.setdefault(sid, Submission(sid))
        if submission.answers:
            submission.notes.append(f"row {number} repeats id {sid}; the first row was graded")
            continue
        submission.answers = {h: c for h, c, lo in zip(header, cells, lowered) if lo not in ("id", "name") and h}
        if len(row) > len(header):
            submission.notes.append(f"row {number} has {len(row) - len(header)} cell(s) beyond the header; ignored")
    return found


def _folder(folder: Path) -> dict[str, Submission]:
    found: dict[str, Submission] = {}
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".csv") and p.is_file())
    for path in files[:MAX_FILES]:
        sid = path.stem
        submission = found.setdefault(sid, Submission(sid))
        if submission.answers:
            submission.notes.append(f"{path.name}: a second file for {sid}; ignored")
            continue
        try:
            text = read_text(path, "answers file")
            submission.answers = _yaml(text, str(path)) if path.suffix.lower() != ".csv" else _pairs(text, str(path))
        except SymPropError as exc:
            submission.notes.append(f"{path.name}: could not be read ({_short(exc)})")
    return found


def _yaml(text: str, source: str) -> dict[str, str]:
    data = parse(text, source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SymPropError("expected a mapping of question id: answer")
    return {str(k): "" if v is None else str(v) for k, v in data.items()}


def _pairs(text: str, source: str) -> dict[str, str]:
    try:
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(text))
        rows = [row for row in rows if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise SymPropError(f"not a readable CSV file ({exc})") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["question", "answer"]:
        rows = rows[1:]
    return {row[0].strip(): ",".join(row[1:]).strip() for row in rows if row and row[0].strip()}


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 160 else text[:157] + "..."
