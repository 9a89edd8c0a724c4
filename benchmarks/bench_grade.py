"""Time to grade a class of 40: the synthetic submissions of tests/synthetic_class.py (right
answers, planted typical mistakes, garbage) on tutorial_222 and softmax_classifier, with the
questions of tests/test_classroom.py (numeric and formula questions).

    python benchmarks/bench_grade.py [--students 40]

Prints, per spec, the time to draw the class's keys (what ``symprop grade`` does first, from
the class folder) and the time to grade, and how many planted mistakes were named.  The issue
asks for the whole class graded in under 30 s.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import synthetic_class  # noqa: E402
from test_classroom import QUESTIONS  # noqa: E402

import symprop  # noqa: E402
from symprop.classroom.build import class_set  # noqa: E402
from symprop.classroom.questions import parse_questions  # noqa: E402
from symprop.classroom.roster import Student  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    args = parser.parse_args()
    students = [Student(f"s{k:02d}", f"Student {k}") for k in range(args.students)]
    for name in sorted(QUESTIONS):
        derivation = symprop.derive(symprop.load(ROOT / "examples" / f"{name}.yaml"))
        items = parse_questions({"questions": QUESTIONS[name]}, derivation)
        start = time.perf_counter()
        chosen = class_set(derivation, students, 2026, items)
        keys = time.perf_counter() - start
        rows, truth = synthetic_class.submissions(chosen)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "answers.csv"
            synthetic_class.write_csv(rows, path)
            start = time.perf_counter()
            graded, outputs = chosen.grade(path)
            grading = time.perf_counter() - start
        counts = collections.Counter()
        for row in graded:
            for mark in row.marks:
                kind, planted = truth[(row.student_id, mark.item_id)]
                if kind == "mistake":
                    counts["planted"] += 1
                    counts["named"] += mark.mistake == planted or mark.verdict == "follow_through"
        print(
            f"{name}: {len(students)} students x {len(items)} questions: keys {keys:.1f} s, grading {grading:.1f} s, "
            f"total {keys + grading:.1f} s; planted mistakes named {counts['named']}/{counts['planted']}"
        )


if __name__ == "__main__":
    main()
