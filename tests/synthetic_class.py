"""A synthetic class's submissions with known answers: right ones (in several spellings),
planted typical mistakes (from each answer's catalogue) and garbage.  Used by
tests/test_classroom.py and benchmarks/bench_grade.py."""

from __future__ import annotations

from symprop.classroom.mistakes import formula_text
from symprop.latex_printing import number

GARBAGE = ["", "abc", "1.2.3", "x_1 * ((", "foo*bar + 2"]


def right_text(answer, k: int) -> str:
    if answer.item.whole:
        return answer.text
    if not answer.item.numeric:
        return formula_text(answer.formula) if k % 2 else formula_text(answer.formula).replace("*", " * ")
    if answer.choices and k % 2:
        return f"({answer.letter})" if k % 4 == 1 else answer.letter.upper()
    value = float(answer.value)
    spelling = k % 3
    if spelling == 0:
        return number(answer.value)
    if spelling == 1:
        return f"{value:.6f}".replace(".", ",")  # a comma as the decimal mark
    return f"{value:.4f}".replace("-", "\u2212")  # 4 decimal places, a Unicode minus


def planted(answer, k: int):
    """(text, mistake key) of the k-th typical mistake of ``answer``, or None without one."""
    if answer.item.kind == "step":
        choices = [c for c in answer.candidates if c.mistake]
        if not choices:
            return None
        c = choices[k % len(choices)]
        return f"{c.value:.6f}", c.key
    if not answer.mistakes:
        return None
    m = answer.mistakes[k % len(answer.mistakes)]
    letter = next((c.letter for c in answer.choices if c.mistake == m), None)
    if letter is not None and k % 2:
        return letter, m.key  # a "which factor" question answered with the option's letter
    text = formula_text(m.formula) if not answer.item.numeric else f"{float(m.value):.6f}"
    return text, m.key


def carried(answer, gradient_mistake: str):
    """(text, key) of a step question answered with the gradient of ``gradient_mistake``, or None."""
    found = next((c for c in answer.candidates if c.key == f"step_{gradient_mistake}"), None)
    return None if found is None else (f"{found.value:.6f}", found.key)


def submissions(chosen) -> tuple[list[dict[str, str]], dict[tuple[str, str], tuple[str, str | None]]]:
    """Rows of a class CSV (id and a column per question) and, per (student, question), what
    was handed in: ("right", None), ("mistake", key) or ("garbage", None).  Student k is
    right throughout when k % 4 == 0, has planted mistakes when k % 4 is 1 or 2 (when 2, a step
    taken with the student's own wrong gradient, where it has one), garbage when 3."""
    rows, truth = [], {}
    for k, student in enumerate(chosen.students):
        key = chosen.keys[student.id]
        row = {"id": student.id}
        gradients = {}  # wrt -> the mistake planted in its gradient question
        for j, item in enumerate(chosen.items):
            answer = key.answers[item.id]
            kind = k % 4
            mistake = planted(answer, k // 4 + j) if kind in (1, 2) else None
            if kind == 2 and item.kind == "step" and str(item.wrt) in gradients:
                # the step taken with the student's own wrong gradient: right from their earlier answer
                mistake = carried(answer, gradients[str(item.wrt)]) or mistake
            if item.kind == "gradient" and mistake is not None:
                gradients[str(item.wrt)] = mistake[1]
            if kind == 3:
                row[item.id] = GARBAGE[(k + j) % len(GARBAGE)]
                truth[(student.id, item.id)] = ("garbage", None)
            elif mistake is not None:
                row[item.id] = mistake[0]
                truth[(student.id, item.id)] = ("mistake", mistake[1])
            else:
                row[item.id] = right_text(answer, k + j)
                truth[(student.id, item.id)] = ("right", None)
        rows.append(row)
    return rows, truth


def write_csv(rows: list[dict[str, str]], path) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
