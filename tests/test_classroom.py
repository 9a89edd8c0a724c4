"""The class set (issue 14): per-student variants, answer keys checked against autograd,
worksheets that compile, grading of a synthetic class, the Moodle quiz, and every error a
teacher's files can raise (one line naming the file and the row or field, exit 2, nothing
written).  Timing is measured in benchmarks/bench_grade.py, not here."""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import re
import xml.etree.ElementTree as ET

import pytest
import synthetic_class
from autograd_layers import LayerStack
from conftest import EXAMPLES, needs_tex

import symprop
from symprop.classroom.build import class_set, open_class
from symprop.classroom.grading import Grader, parse_number
from symprop.classroom.key import Blueprint, match
from symprop.classroom.mistakes import formula_text
from symprop.classroom.moodle import quiz_xml
from symprop.classroom.questions import default_questions, parse_questions
from symprop.classroom.roster import Student
from symprop.classroom.sheets import class_answers, student_sources
from symprop.classroom.submissions import Submission
from symprop.classroom.variants import MIN_GRADIENT, draw_variant, problems
from symprop.cli import main
from symprop.emit.latex.pdf import compile_pdf
from symprop.errors import SpecError
from symprop.latex_printing import number
from symprop.scalar import evaluate

QUESTIONS = {
    "tutorial_222": [
        {"id": "q1", "kind": "forward", "of": "a1_1"},
        {"id": "q2", "kind": "factor", "of": "a1_1", "wrt": "z1_1"},
        {"id": "q3", "kind": "gradient", "wrt": "W1_11", "points": 3, "factor_points": 1},
        {"id": "q3_step", "kind": "step", "wrt": "W1_11"},
        {"id": "q4", "kind": "formula", "wrt": "W2_11", "points": 2, "factor_points": 0.5},
        {"id": "q5", "kind": "formula", "wrt": "W1_11", "points": 3},
        {"id": "q6", "kind": "formula", "wrt": "W2", "points": 2, "factor_points": 0.5},
    ],
    "softmax_classifier": [
        {"id": "q1", "kind": "forward", "of": "z2_1"},
        {"id": "q2", "kind": "gradient", "wrt": "W2_11", "points": 2, "factor_points": 0.5},
        {"id": "q3", "kind": "gradient", "wrt": "W1_11", "points": 3, "factor_points": 1},
        {"id": "q4", "kind": "step", "wrt": "W1_11"},
        {"id": "q5", "kind": "formula", "wrt": "W1_11", "points": 3},
        {"id": "q6", "kind": "formula", "wrt": "b2_1"},
    ],
}
STUDENTS = [Student(f"s{k:02d}", f"Student {k}") for k in range(40)]
SEED = 2026


@pytest.fixture(scope="module", params=sorted(QUESTIONS))
def forty(request):
    derivation = symprop.derive(symprop.load(EXAMPLES / f"{request.param}.yaml"))
    items = parse_questions({"questions": QUESTIONS[request.param]}, derivation)
    return class_set(derivation, STUDENTS, SEED, items)


# -- variants ------------------------------------------------------------------------------


def test_forty_distinct_variants_on_the_grid(forty):
    points = [json.dumps(forty.keys[s.id].point.leaves, sort_keys=True) for s in STUDENTS]
    assert len(set(points)) == 40
    for key in forty.keys.values():
        for name, value in key.point.leaves.items():
            for v in symprop.spec.flatten(value):
                assert abs(v / 0.05 - round(v / 0.05)) < 1e-9, (name, v)
        if forty.derivation.name == "softmax_classifier":
            assert sorted(key.point.leaves["t"]) == [0, 0, 1]  # one-hot stays one-hot


def test_variants_are_well_conditioned(forty):
    derivation = forty.derivation
    for key in forty.keys.values():
        assert problems(derivation, key) == []
        for answer in key.answers.values():
            if answer.item.kind == "gradient":
                assert abs(answer.value) >= MIN_GRADIENT
        for name, value in key.values.items():
            if str(name).startswith("z") and derivation.name == "tutorial_222":
                assert abs(value) <= 3  # no saturated sigmoid


def test_a_relu_network_is_asked_about_a_unit_switched_off_and_one_on():
    """A new user's finding: every softmax_classifier student had q1 (z1_1) = q2 (a1_1) and q3 = 1,
    so a forgotten relu' got full marks.  Unit 1 is now asked switched off (z < 0, a = 0, and
    dE/dW1_11 = 0, where the forgotten derivative gives a number that is not 0), unit 2 on (the
    local derivative, the output weight that reads it, its bias)."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml"))
    items = {item.id: item for item in default_questions(derivation)}
    assert {i: (str(item.of or item.wrt), [str(z) for z in item.off]) for i, item in items.items()} == {
        "q1": ("z1_1", ["z1_1"]),
        "q2": ("a1_1", ["z1_1"]),
        "q3": ("a1_2", []),
        "q4": ("W2_12", []),
        "q4_step": ("W2_12", []),
        "q5": ("W1_11", ["z1_1"]),  # no step: a weight whose gradient is 0 does not move
        "q6": ("b1_2", []),
        "q6_step": ("b1_2", []),
    }
    chosen = class_set(derivation, STUDENTS[:10], 7)
    for key in chosen.keys.values():
        assert problems(derivation, key) == []
        values = {str(s): v for s, v in key.values.items()}
        assert values["z1_1"] < -0.05 and values["z1_2"] > 0.05
        assert key.answers["q1"].value < 0 and key.answers["q2"].value == 0 and key.answers["q5"].value == 0
        assert float(key.answers["q3"].value) == 1.0  # da1_2/dz1_2
        forgot = next(m for m in key.answers["q5"].mistakes if m.key == "no_derivative_a1")
        assert abs(forgot.value) >= MIN_GRADIENT
        assert match(key.answers["q5"], forgot.value).key == "no_derivative_a1"
        assert match(key.answers["q2"], float(values["z1_1"])).key == "no_activation"


def test_a_worksheet_asking_a_relus_output_gives_none_of_its_outputs():
    """The new user's worksheet listed a^(1)_3 = z^(1)_3 = 0.2875 beside the question a^(1)_1:
    each output of the asked ReLU is its z or 0, the rule the question asks for."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml"))
    chosen = class_set(derivation, STUDENTS[:1], 7)
    sheet = student_sources(derivation, chosen.keys["s00"], STUDENTS[0])["s00_worksheet.tex"]
    given = sheet[sheet.index("Forward values") : sheet.index("Questions")]
    assert "z^{(1)}_{2} = " in given and r"a^{(1)}_{1} = \text{question 2}" in given
    assert not re.search(r"a\^\{\(1\)\}_\{[2-5]\}", given)


def test_a_variant_is_the_same_for_the_same_seed_and_id():
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    blueprint = Blueprint(derivation, default_questions(derivation))
    key, attempt = draw_variant(blueprint, SEED, "s00")
    assert attempt == 0
    assert key.point.leaves == {
        "x": [-0.95, -0.85],  # inputs are never 1 or -1 (a missing factor x would be right)
        "t": [0.85, 0.75],
        "W1": [[0.35, 0.65], [0.75, 0.15]],
        "W2": [[-0.7, 0.6], [0.35, 0.2]],
    }
    assert round(float(key.answers["q5"].value), 12) == round(-0.008657118290430336, 12)
    assert draw_variant(blueprint, SEED, "s00")[0].point == key.point
    assert draw_variant(blueprint, SEED + 1, "s00")[0].point != key.point


# -- answer keys against autograd -------------------------------------------------------------


def autograd_answers(network, key) -> dict[str, float]:
    """Every numeric item computed by autograd at the key's point (independent of symprop)."""
    leaves = key.point.leaves
    stack = LayerStack(network, {n: v for n, v in leaves.items() if n not in ("x", "t")}, leaves["x"], leaves["t"])
    values, gradients = stack.values(), stack.gradients()
    found = {}
    for item_id, answer in key.answers.items():
        item = answer.item
        if item.kind == "forward":
            name, j = str(item.of).split("_")
            found[item_id] = float(values[name][int(j) - 1])
        elif item.kind == "factor":
            name, j = str(item.of).split("_")
            found[item_id] = stack.local(int(name[1:]), int(j) - 1)
        elif item.kind in ("gradient", "step"):
            name, rest = str(item.wrt).split("_")
            index = tuple(int(c) - 1 for c in rest)
            gradient = float(gradients[name][index])
            weight = float(stack.params[name][index])
            found[item_id] = gradient if item.kind == "gradient" else weight - key.rate * gradient
    return found


def test_every_key_equals_autograd(forty):
    checked = 0
    for student in STUDENTS:
        key = forty.keys[student.id]
        for item_id, expected in autograd_answers(forty.derivation.network, key).items():
            assert float(key.answers[item_id].value) == pytest.approx(expected, rel=1e-12, abs=1e-15), (student.id, item_id)
            checked += 1
    assert checked == 40 * sum(1 for i in forty.items if i.numeric)


def test_the_default_questions_keys_equal_autograd():
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    chosen = class_set(derivation, STUDENTS[:5], SEED)
    assert [i.id for i in chosen.items] == ["q1", "q2", "q3", "q4", "q4_step", "q5", "q5_step"]
    for student in STUDENTS[:5]:
        key = chosen.keys[student.id]
        for item_id, expected in autograd_answers(derivation.network, key).items():
            assert float(key.answers[item_id].value) == pytest.approx(expected, rel=1e-12)


# -- documents ---------------------------------------------------------------------------------


def test_every_student_has_a_worksheet_and_a_key(forty):
    sources = forty.sources()
    names = set(sources)
    for student in STUDENTS:
        assert {f"{student.id}_worksheet.tex", f"{student.id}_answers.tex"} <= names
    assert {"class_answers.csv", "class_answers.tex", "quiz.xml"} <= names
    first = forty.keys["s00"]
    worksheet = sources["s00_worksheet.tex"]
    assert r"Name: Student 0 (s00)" in worksheet
    for answer in first.answers.values():
        if answer.item.numeric:
            assert number(answer.value) not in worksheet  # no answer on the worksheet
            assert number(answer.value) in sources["s00_answers.tex"]
    rows = sources["class_answers.csv"].splitlines()
    assert rows[0] == "id,name," + ",".join(i.id for i in forty.items)
    assert len(rows) == 41


def test_two_students_documents_compile(forty, tmp_path):
    needs_tex()
    sources = class_answers(STUDENTS, forty.keys, [i.id for i in forty.items])
    for student in STUDENTS[:2]:
        sources.update(student_sources(forty.derivation, forty.keys[student.id], student))
    for name in ("s00_worksheet.tex", "s00_answers.tex", "s01_worksheet.tex", "s01_answers.tex", "class_answers.tex"):
        (tmp_path / name).write_text(sources[name], encoding="utf-8")
        assert compile_pdf(tmp_path / name).stat().st_size > 5_000


def test_names_are_escaped_in_the_documents():
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    student = Student("x-1", r"Émile O'Brien & Co_% $x$ \relax {}")
    sources = class_set(derivation, [student], SEED).sources()
    assert r"Émile O'Brien \& Co\_\% \$x\$ \textbackslash{}relax \{\}" in sources["x-1_worksheet.tex"]
    assert r"\relax" not in sources["x-1_answers.tex"].replace(r"\textbackslash{}relax", "")


# -- grading a synthetic class ---------------------------------------------------------------


def test_a_synthetic_class_is_graded(forty, tmp_path):
    rows, truth = synthetic_class.submissions(forty)
    synthetic_class.write_csv(rows, tmp_path / "answers.csv")
    graded, outputs = forty.grade(tmp_path / "answers.csv")
    points = {i.id: i.points for i in forty.items}
    kinds = {i.id: i.kind for i in forty.items}
    counts = collections.Counter()
    for row in graded:
        for mark in row.marks:
            kind, planted = truth[(row.student_id, mark.item_id)]
            if kind == "right":
                assert mark.points == points[mark.item_id], (row.student_id, mark)
            elif kind == "mistake":
                counts["planted"] += 1
                # a step taken with the student's own planted wrong gradient (or a(1 - a) from their
                # a = z) is right from their earlier answer: follow-through, which says so
                followed = mark.verdict == "follow_through"
                counts["followed"] += followed
                counts["named"] += mark.mistake == planted or followed
                assert mark.points < points[mark.item_id] or followed
                if kinds[mark.item_id] == "formula":
                    assert mark.verdict in ("wrong", "partial")
            else:
                assert mark.points == 0 and mark.verdict in ("empty", "unreadable", "wrong")
    assert counts["planted"] >= 60
    assert counts["named"] >= 0.9 * counts["planted"]
    assert counts["followed"] > 0
    assert len([name for name in outputs if name.startswith("feedback/")]) == 40


def test_a_wrong_formula_without_factor_points_gets_nothing(forty, tmp_path):
    formula = next(i for i in forty.items if i.kind == "formula" and i.factor_points == 0)
    key = forty.keys["s00"]
    wrong = synthetic_class.planted(key.answers[formula.id], 0)[0]
    (tmp_path / "answers.csv").write_text(f"id,{formula.id}\ns00,{json.dumps(wrong)}\n", encoding="utf-8")
    graded, _ = forty.grade(tmp_path / "answers.csv")
    mark = next(m for m in graded[0].marks if m.item_id == formula.id)
    assert (mark.verdict, mark.points) == ("wrong", 0.0)


@pytest.mark.parametrize(
    "text, value",
    [
        ("0.0259", 0.0259),
        ("0,0259", 0.0259),
        ("\u22120.5", -0.5),
        ("$-1.25e-3$", -0.00125),
        ("= 0.5", 0.5),
        (" .5 ", 0.5),
        ("abc", None),
        ("1.2.3", None),
        ("1,2,3", None),
        ("", None),
        ("nan", None),
        ("1e999", None),
    ],
)
def test_numbers_as_students_write_them(text, value):
    assert parse_number(text) == value


def test_feedback_names_what_a_wrong_number_is(tmp_path):
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    chosen = class_set(derivation, STUDENTS[:1], SEED)
    key = chosen.keys["s00"]
    factors = key.answers["q4"].factor_values
    dE_dz = float(factors[0] * factors[1])  # the last factor a1_1 left out
    (tmp_path / "a.csv").write_text(f"id,q4\ns00,{dE_dz:.6f}\n", encoding="utf-8")
    graded, outputs = chosen.grade(tmp_path / "a.csv")
    mark = next(m for m in graded[0].marks if m.item_id == "q4")
    assert mark.explanation[0] == "this is dE/dz2_1, not dE/dW2_11: the last factor dz2_1/dW2_11 = a1_1 is missing"
    assert mark.points == 1.0  # two of the three factors right, 0.5 each
    assert "this is dE/dz2_1, not dE/dW2_11" in outputs["feedback/s00.md"]


# -- what students hand in: a folder, and everything wrong with it ----------------------------


def test_a_folder_of_submissions_with_everything_wrong(tmp_path):
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    students = [Student(i, f"Student {i}") for i in ("a1", "a2", "a3", "a4", "a5")]
    chosen = class_set(derivation, students, SEED)
    right = chosen.keys["a1"].answers
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "a1.yaml").write_text(
        "\n".join(f"{i}: '{str(float(a.value)).replace('.', ',')}'" for i, a in right.items()), encoding="utf-8"
    )
    (folder / "a2.csv").write_text("question,answer\nq1,abc\nq2,\nq9,1\n", encoding="utf-8")
    (folder / "a3.yaml").write_text("q1: [unclosed\n", encoding="utf-8")
    (folder / "a4.yaml").write_bytes(b"q1: \xff\xfe\n")
    (folder / "zz.yaml").write_text("q1: 1\n", encoding="utf-8")
    graded, outputs = chosen.grade(folder)
    by_id = {row.student_id: row for row in graded}
    maximum = sum(i.points for i in chosen.items)
    assert by_id["a1"].total == maximum
    assert by_id["a2"].notes == [
        "unknown question id(s) q9 ignored",
        "q1: 'abc' is not a number (write e.g. 0.0259 or 0,0259)",
        "q2: empty",
        *[f"{i}: empty" for i in right if i not in ("q1", "q2")],
    ]
    assert by_id["a3"].notes[0].startswith("a3.yaml: could not be read (")
    assert by_id["a4"].notes[0].startswith("a4.yaml: could not be read (") and "UTF-8" in by_id["a4"].notes[0]
    assert by_id["a5"].notes == ["no submission"] and by_id["a5"].total == 0
    assert by_id["zz"].notes == ["not on the roster; not graded"]
    (folder / "a5.yaml").write_text("", encoding="utf-8")  # an empty file: one note, not one per question
    graded, _ = chosen.grade(folder)
    assert [row.notes for row in graded if row.student_id == "a5"] == [["the submission answers nothing"]]
    book = outputs["gradebook.csv"].splitlines()
    assert book[0] == "id,name,q1,q2,q3,q4,q4_step,q5,q5_step,total (of 9),note"
    assert book[-1] == "zz,,,,,,,,,,not on the roster; not graded"


def test_a_submission_id_in_another_case_is_the_roster_students(tmp_path):
    """The roster tells ids apart in any case (s01 and S01 are one id), so S05 in the answers is s05's."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    students = [Student("s05", "Grace Hopper"), Student("s06", "Alan Turing")]
    chosen = class_set(derivation, students, SEED)
    q1 = number(chosen.keys["s05"].answers["q1"].value)
    (tmp_path / "a.csv").write_text(f"id;q1\nS05;{q1}\n", encoding="utf-8")
    graded, _ = chosen.grade(tmp_path / "a.csv")
    assert [(row.student_id, "no submission" in row.notes) for row in graded] == [("s05", False), ("s06", True)]
    assert graded[0].marks[0].verdict == "right"
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "S05.yaml").write_text("q1: 1\n", encoding="utf-8")
    (folder / "s05.yaml").write_text(f"q1: {q1}\n", encoding="utf-8")
    graded, _ = chosen.grade(folder)
    assert graded[0].marks[0].verdict == "right"  # the exact id is graded, the other case noted
    assert "a second submission under the id S05; ignored" in graded[0].notes
    (tmp_path / "b.csv").write_text(f"ID,Name,Q1\ns05,Grace,{q1}\n", encoding="utf-8")  # a spreadsheet's capitals
    graded, _ = chosen.grade(tmp_path / "b.csv")
    assert graded[0].marks[0].verdict == "right" and not any("unknown question" in n for n in graded[0].notes)
    assert [row.student_id for row in graded] == ["s05", "s06"]


# -- the Moodle quiz -------------------------------------------------------------------------------


def test_the_moodle_quiz_is_well_formed(forty):
    key = forty.keys["s00"]
    numeric = next(i for i in forty.items if i.kind == "gradient")
    answer = key.answers[numeric.id]
    first = next(c for c in answer.candidates if c.mistake)
    answer.candidates[answer.candidates.index(first)] = dataclasses.replace(first, text="a < b & 'c' ]]>")
    try:
        root = ET.fromstring(quiz_xml(forty))
    finally:
        answer.candidates[answer.candidates.index(dataclasses.replace(first, text="a < b & 'c' ]]>"))] = first
    assert root.tag == "quiz"
    kinds = collections.Counter(q.get("type") for q in root)
    assert kinds["category"] == len(forty.items)
    assert kinds["numerical"] == 40 * sum(1 for i in forty.items if i.kind in ("forward", "gradient", "step"))
    assert kinds["multichoice"] == sum(1 for i in forty.items if i.kind in ("formula", "factor"))
    feedbacks = []
    for question in root:
        if question.get("type") == "category":
            assert question.find("category/text").text.startswith("$course$/top/symprop/")
            continue
        assert question.find("name/text").text
        assert question.find("questiontext").get("format") == "html"
        assert question.find("questiontext/text").text.startswith(f"<p>The network {forty.derivation.network.name}, per sample")
        assert float(question.find("defaultgrade").text) > 0
        answers = question.findall("answer")
        assert [a.get("fraction") for a in answers].count("100") == 1 and answers[0].get("fraction") == "100"
        if question.get("type") == "numerical":
            bands = [(float(a.find("text").text), float(a.find("tolerance").text)) for a in answers]
            assert all(tolerance > 0 for _, tolerance in bands)
            # no two bands overlap (found trying the tool as a teacher: Moodle takes the first)
            for i, (v, tv) in enumerate(bands):
                assert all(abs(v - w) > tv + tw for w, tw in bands[i + 1 :]), bands
        else:
            assert len(answers) >= 2
            assert question.find("single").text == "true"
        feedbacks += [a.find("feedback/text").text for a in answers]
    assert "<p>a &lt; b &amp; &#x27;c&#x27; ]]&gt;</p>" in feedbacks


# -- the command line: the teacher's commands, and their errors -------------------------------


def test_a_roster_of_a_spreadsheet_in_semicolons():
    from symprop.classroom.roster import parse_roster

    students = parse_roster('id;name\ns1;Zoë Müller\ns2;"Łukasz; Żółć"\n', "roster.csv")
    assert [(s.id, s.name) for s in students] == [("s1", "Zoë Müller"), ("s2", "Łukasz; Żółć")]


def test_classroom_then_grade(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,Ada\ns2,Grace\n", encoding="utf-8")
    out = tmp_path / "class"
    assert main(["classroom", str(EXAMPLES / "tutorial_222.yaml"), "--roster", str(roster), "-o", str(out), "--seed", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "class_answers.csv",
        "class_answers.tex",
        "classroom.json",
        "quiz.xml",
        "s1_answers.tex",
        "s1_worksheet.tex",
        "s2_answers.tex",
        "s2_worksheet.tex",
    ]
    chosen = open_class(out)
    assert chosen.keys["s1"].point == class_set(chosen.derivation, chosen.students, 3).keys["s1"].point
    answers = tmp_path / "answers.csv"
    answers.write_text("id;q1;q2\ns1;0,1;x\n", encoding="utf-8")
    assert main(["grade", str(out), "--answers", str(answers)]) == 0
    assert "graded 2 students" in capsys.readouterr().out
    # a new user's finding: a row not on the roster was said only in the gradebook's note column
    answers.write_text("id;q1;q2\ns1;0,1;x\ns9;0,2;x\n", encoding="utf-8")
    assert main(["grade", str(out), "--answers", str(answers)]) == 0
    said = "graded 2 students; wrote {} and 2 feedback files; no submission: s2; not on the roster, not graded: s9\n"
    assert capsys.readouterr().out == said.format(out / "gradebook.csv")
    assert (out / "gradebook.csv").read_text(encoding="utf-8").splitlines()[2].startswith("s2,Grace,0,0,")
    assert (out / "feedback" / "s1.md").read_text(encoding="utf-8").startswith("# Feedback: Ada (s1)")
    # Regression (found trying the tool as a teacher): a second class set into the same folder
    # left the first one's keys, PDFs and feedback beside the new worksheets.
    before = sorted(p.name for p in out.iterdir())
    assert main(["classroom", str(EXAMPLES / "tutorial_222.yaml"), "--roster", str(roster), "-o", str(out), "--seed", "4"]) == 2
    assert "holds a class set already (classroom.json)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before


ROSTER_ERRORS = [
    ("", "roster.csv: file: the roster is empty; expected a header row 'id,name' and one row per student"),
    ("id,nom\n1,a\n", "roster.csv: row 1: missing column name; the header must name id and name"),
    ("student,nom\n", "roster.csv: row 1: missing columns id, name; the header must name id and name"),
    ("id,name\n", "roster.csv: file: the roster has a header but no students"),
    ("id,name\ns1,A\ns1,B\n", "roster.csv: row 3: id 's1' is already used in row 2; ids must be unique"),
    ("id,name\n,A\n", "roster.csv: row 2: the id is empty"),
    (
        "id,name\n../x,A\n",
        "roster.csv: row 2: id '../x': use letters, digits, '-' and '_' (at most 64), it names the student's files",
    ),
    ("id,name\ns1,\n", "roster.csv: row 2: student 's1' has no name"),
    # found trying the tool as a teacher: names pdflatex cannot set failed the whole class's PDFs,
    # ids that differ in case collide as files, an unquoted comma cut a name short
    (
        "id,name\ns1,Nguy\u1ec5n An\n",
        "roster.csv: row 2: student 's1': the name's '\u1ec5' (U+1EC5) cannot be set on the worksheets (LaTeX here sets "
        "Latin letters with the accents of Latin-1 and Latin Extended-A); write the name without it",
    ),
    ("id,name\ns01,A\nS01,B\n", "roster.csv: row 3: id 'S01' differs from row 2's only in case; their files would collide"),
    (
        "id,name\ns1,Lovelace, Ada\n",
        'roster.csv: row 2: 3 cells where the header has 2; a name with a comma goes in quotes ("Lovelace, Ada")',
    ),
    (b"id,name\ns1,Jos\xe9\n", "roster.csv: file: not UTF-8 text at byte 14 (line 2); save the file as UTF-8"),
    (
        "id,name\n" + "s1,A\n" * 300_000,
        "roster.csv: file: the roster is larger than 1,000,000 bytes; a roster is a short text file",
    ),
    (
        "id,name\n" + "".join(f"s{k},A\n" for k in range(2001)),
        "roster.csv: row 2002: more than 2,000 students; a roster lists one class",
    ),
]


@pytest.mark.parametrize("content, message", ROSTER_ERRORS, ids=range(len(ROSTER_ERRORS)))
def test_roster_errors(tmp_path, capsys, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "roster.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code = main(["classroom", str(EXAMPLES / "tutorial_222.yaml"), "--roster", "roster.csv", "-o", "out"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"symprop: error: {message}\n"
    assert not (tmp_path / "out").exists()


QUESTION_ERRORS = [
    ([], "questions: expected a non-empty list of questions"),
    (
        [{"id": "q1", "kind": "forwrd", "of": "a1_1"}],
        "questions[0].kind: 'forwrd': expected one of forward, factor, gradient, step, formula (did you mean 'forward'?)",
    ),
    (
        [{"id": "q1", "kind": "forward", "of": "a9_1"}],
        "questions[0].of: 'a9_1' is not an element of tutorial_222 (did you mean 'a2_1'?); write it as W2_11, a1_1",
    ),
    (
        [{"id": "q1", "kind": "forward", "of": "x_1"}],
        "questions[0].of: x_1 is given, not computed; ask a computed value (z, a, ...)",
    ),
    (
        [{"id": "q1", "kind": "gradient", "wrt": "a1_1"}],
        "questions[0].wrt: a1_1 is not a parameter's element; a gradient question is about a weight or bias",
    ),
    (
        [{"id": "q1", "kind": "factor", "of": "a1_1", "wrt": "z1_2"}],
        "questions[0].wrt: a1_1 is not computed directly from z1_2; a factor is one step's derivative",
    ),
    ([{"id": "q1", "kind": "gradient", "wrt": "W1_11", "of": "a1_1"}], "questions[0].of: a gradient question takes wrt, not of"),
    (
        [{"id": "q1", "kind": "forward", "of": "a1_1", "points": -1}],
        "questions[0].points: expected a number from 0 to 100, got -1",
    ),
    (
        [{"id": "q1", "kind": "forward", "of": "a1_1", "factor_points": 0.5}],
        "questions[0].factor_points: partial credit per chain-rule factor is for gradient and formula questions",
    ),
    (
        [{"id": "q1", "kind": "forward", "of": "a1_1"}, {"id": "q1", "kind": "forward", "of": "a1_2"}],
        "questions[1].id: 'q1' is used twice",
    ),
    (
        [{"id": "1q", "kind": "forward", "of": "a1_1"}],
        "questions[0].id: expected a name of letters, digits and '_' (it names a gradebook column)",
    ),
    (
        [{"id": "q1", "kind": "step", "wrt": "W1_11", "follow_through": 2}],
        "questions[0].follow_through: expected a number from 0 to 1, got 2",
    ),
    (
        [{"id": "q1", "kind": "forward", "of": "a1_1", "point": 1}],
        "questions[0].point: unknown field (did you mean 'points'?); fields: id, kind, of, wrt, points, factor_points, "
        "follow_through",
    ),
]


@pytest.mark.parametrize("questions, message", QUESTION_ERRORS, ids=range(len(QUESTION_ERRORS)))
def test_question_errors(questions, message):
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    with pytest.raises(SpecError) as info:
        parse_questions({"questions": questions}, derivation, "q.yaml")
    assert str(info.value) == f"q.yaml: {message}"


def test_a_step_question_needs_a_learning_rate():
    spec = symprop.spec_file.read_yaml(EXAMPLES / "tutorial_222.yaml")
    del spec["example"]["learning_rate"]
    derivation = symprop.derive(symprop.from_dict(spec, "s.yaml"))
    message = r"questions\[0\].kind: a step question needs the example's learning_rate and targets \(else E is no loss\)"
    with pytest.raises(SpecError, match=message):
        parse_questions({"questions": [{"id": "q", "kind": "step", "wrt": "W1_11"}]}, derivation, "q.yaml")
    # Regression (found reading the change again): a learning rate without targets (cs231n_neuron)
    # passed here, then the key's step crashed on its missing rate (sp.Float(None)).
    neuron = symprop.derive(symprop.load(EXAMPLES / "cs231n_neuron.yaml"))
    with pytest.raises(SpecError, match=message):
        parse_questions({"questions": [{"id": "q", "kind": "step", "wrt": "w0"}]}, neuron, "q.yaml")


def test_grade_a_folder_that_classroom_did_not_write(tmp_path, capsys):
    assert main(["grade", str(tmp_path), "--answers", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err
        == f"symprop: error: {tmp_path / 'classroom.json'}: not found; grade the folder that symprop classroom wrote\n"
    )


CATALOGUE = [
    ("tutorial_222", "q4", ["sign", "no_derivative_a2", "sigmoid_plus_a2", "wrong_layer_a2", "double", "half"]),
    (
        "tutorial_222",
        "q5",
        [
            "sign",
            "no_derivative_a1",
            "sigmoid_plus_a1",
            "no_derivative_a2",
            "sigmoid_plus_a2",
            "wrong_layer_a1",
            "transpose",
            "one_term",
            "double",
            "half",
        ],
    ),
    ("tutorial_222", "q3", ["activation_value", "sigmoid_plus", "in_z", "sign_local"]),
    ("softmax_classifier", "q5", ["no_derivative_a1"]),  # through the switched-off unit: 0, the mistake is not
    ("softmax_classifier", "q6", ["sign", "transpose", "one_term", "softmax_as_sigmoid", "double", "half"]),
]


@pytest.mark.parametrize("name, item_id, mistakes", CATALOGUE)
def test_the_catalogue_of_typical_mistakes(name, item_id, mistakes):
    derivation = symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml"))
    key = class_set(derivation, STUDENTS[:1], 1).keys["s00"]
    assert [m.key for m in key.answers[item_id].mistakes] == mistakes


def test_a_moodle_question_says_what_the_network_is():
    """Regression (found trying the tool as a teacher): a quiz question gave the numbers but not
    the network, so students needed the worksheet beside the quiz."""
    from symprop.classroom.moodle import network_text

    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    assert network_text(derivation) == (
        "The network tutorial_222, per sample (vectors are columns): z1 = W1 @ x; a1 = sigmoid(z1); "
        "z2 = W2 @ a1; a2 = sigmoid(z2); E = half_sse(a2, t). W1_12 is the element of W1 in row 1, column 2."
    )
    graph = symprop.derive(symprop.load(EXAMPLES / "cs231n_neuron.yaml"))
    assert network_text(graph).endswith("f = 1 / (1 + exp(-(w0 * x0 + w1 * x1 + w2))); E = f (the loss).")


def test_softmax_under_cross_entropy_has_its_own_typical_mistakes():
    """Regression (found trying the tool as a teacher): a softmax classifier's output-layer
    gradient had only the sign error in its catalogue.  The Jacobian's diagonal alone gives
    dE/dz_j = -t_j (1 - a_j); softmax taken as a sigmoid gives (a_j - t_j) a_j (1 - a_j)."""
    from symprop.classroom.mistakes import gradient_mistakes

    derivation = symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml"))
    scalar = derivation.scalar
    chain = scalar.gradient("W2", (1, 0))  # dE/dW2_21 = (a2_2 - t_2) a1_1
    a, t, a1 = scalar.symbols["a2"][1], scalar.symbols["t"][1], scalar.symbols["a1"][0]
    assert chain.expr == (a - t) * a1
    found = {w.key: w for w in gradient_mistakes(derivation, chain)}
    assert found["softmax_diagonal"].formula == -t * (1 - a) * a1
    assert found["softmax_as_sigmoid"].formula == (a - t) * a * (1 - a) * a1
    assert found["softmax_diagonal"].text.startswith("only the diagonal of softmax's Jacobian is used: dE/dz_j = -t_j (1 - a_j)")
    assert found["softmax_as_sigmoid"].right_factors == len(chain.factors) - 1


def test_the_mean_and_the_square_of_mse_are_typical_mistakes():
    spec = symprop.spec_file.read_yaml(EXAMPLES / "tutorial_222.yaml")
    spec["loss"] = "mse"
    derivation = symprop.derive(symprop.from_dict(spec, "mse.yaml"))
    answer = class_set(derivation, STUDENTS[:1], 1).keys["s00"].answers["q4"]
    found = {m.key: m for m in answer.mistakes}
    assert found["mean"].value == pytest.approx(2 * answer.value, rel=1e-20)  # 1/N left out, N = 2
    assert found["loss_constant"].value == pytest.approx(answer.value / 2, rel=1e-20)  # the 2 of the square left out
    assert found["mean"].text == "the 1/N of the mean over the N = 2 outputs is missing"


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            "residual_block",
            "example: a class set needs a worked example (each student's numbers vary its inputs, targets and weights); "
            "add an 'example'",
        ),
        ("custom_swish", "a class set needs the per-weight view, and it has 139 parameters (at most 100)"),
    ],
)
def test_a_spec_a_class_set_cannot_use(tmp_path, capsys, spec, message):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,A\n", encoding="utf-8")
    path = str(EXAMPLES / f"{spec}.yaml")
    assert main(["classroom", path, "--roster", str(roster), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"symprop: error: {path}: {message}\n"
    assert not (tmp_path / "out").exists()


FORMULAS = [
    ("(a2_1-t_1)a2_1(1-a2_1)a1_1", "right", 2.0, None),
    (r"(a_1^{(2)} - t_1)\,a_1^{(2)}(1-a_1^{(2)})\,a_1^{(1)}", "right", 2.0, None),
    ("δ2_1·a1_1", "right", 2.0, None),
    ("(y_1 − t_1)·y_1(1 − y_1)·a1_1", "right", 2.0, None),
    (r"\delta^{(2)}_1 a^{(1)}_1", "right", 2.0, None),
    ("sigma'(z2_1)(a2_1-t_1)a1_1", "right", 2.0, None),
    ("(t_1-a2_1)a2_1(1-a2_1)a1_1", "partial", 1.0, "sign"),
    ("(a2_1-t_1)a2_1(1+a2_1)a1_1", "partial", 1.0, "sigmoid_plus_a2"),
    ("(a2_1-t_1)a1_1", "partial", 1.0, "no_derivative_a2"),
    ("(a2_1-t_1)a2_1(1-a2_1)", "partial", 1.0, None),  # the last factor a1_1 missing: two factors right
    ("(a2_1-t_1", "unreadable", 0.0, None),
    ("foo*a1_1", "unreadable", 0.0, None),
]


@pytest.mark.parametrize("claim, verdict, points, mistake", FORMULAS)
def test_formulas_as_students_write_them(claim, verdict, points, mistake):
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    items = parse_questions(
        {"questions": [{"id": "f", "kind": "formula", "wrt": "W2_11", "points": 2, "factor_points": 0.5}]}, derivation
    )
    chosen = class_set(derivation, STUDENTS[:1], 1, items)
    (mark,) = Grader(derivation, items, chosen.keys).grade_one(STUDENTS[0], Submission("s00", {"f": claim})).marks
    assert (mark.verdict, mark.points, mark.mistake) == (verdict, points, mistake)


@pytest.fixture(scope="module")
def two_formulas():
    """A class of one asked dE/dW2_11 (f) and dE/dW2 (m) as formulas, and its grader."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    questions = [
        {"id": "f", "kind": "formula", "wrt": "W2_11", "points": 2, "factor_points": 0.5},
        {"id": "m", "kind": "formula", "wrt": "W2", "points": 2, "factor_points": 0.5},
    ]
    items = parse_questions({"questions": questions}, derivation)
    return Grader(derivation, items, class_set(derivation, STUDENTS[:1], 1, items).keys)


RIGHT_F = "the right formula: (a2_1 - t_1) * a2_1*(1 - a2_1) * a1_1"
NOT_A_NUMBER = "this question asks for a formula (in the names of the network), not a number"
UNREADABLE = "the formula could not be read: unknown name 'dunno' at column 1; write a formula in the network's names, e.g. "


@pytest.mark.parametrize(
    "qid, given, verdict, explanation",
    [
        # Regression (found as a student): a number in a formula question was read as the formula
        # "0.0308" and told "factor 1: you wrote 0.0308 ...; your formula gives 0.0308".
        ("f", "0.0308", "wrong", [NOT_A_NUMBER, RIGHT_F]),
        ("f", "-0,02465", "wrong", [f"{NOT_A_NUMBER}; -0.02465 is its value at your numbers", RIGHT_F]),  # the key: -0.0246543
        ("m", "2", "wrong", [NOT_A_NUMBER, "the right formula: ((a2 - t) * (a2*(1 - a2))) @ a1.T"]),
        # Regression (found as a student): an unknown name listed every node, alias and function
        # of the verifier, in the feedback and in the gradebook's note
        ("f", "dunno", "unreadable", [UNREADABLE + "a1_1, a2_1, t_1"]),
        ("m", "dunno", "unreadable", [UNREADABLE + "a2, t, a1"]),
        ("m", "dunno[i]", "unreadable", [UNREADABLE + "a2, t, a1"]),
        ("f", "a_1^(2) t_1", "unreadable", [UNREADABLE.replace("'dunno'", "'a_1'") + "a1_1, a2_1, t_1"]),
        (
            "f",
            "a2_1*sigmoid2(z2_1)",
            "unreadable",
            [
                "the formula could not be read: unknown name 'sigmoid2' (did you mean 'sigmoid'?) at column 6; "
                "write a formula in the network's names, e.g. a1_1, a2_1, t_1"
            ],
        ),
        (
            "f",
            "a2_0",
            "unreadable",
            ["the formula could not be read: unknown name 'a2_0' at column 1; indices count from 1: a2_1 is NumPy's a2[0]"],
        ),
        ("f", "(a2_1-t_1", "unreadable", ["the formula could not be read: syntax error at column 1: '(' was never closed"]),
    ],
)
def test_feedback_on_a_number_or_an_unreadable_formula(two_formulas, qid, given, verdict, explanation):
    row = two_formulas.grade_one(STUDENTS[0], Submission("s00", {qid: given}))
    mark = next(m for m in row.marks if m.item_id == qid)
    assert (mark.verdict, mark.points, mark.explanation) == (verdict, 0.0, explanation)
    if verdict == "unreadable":  # the gradebook's note is the same one line
        assert f"{qid}: {explanation[0]}" in row.notes


@pytest.mark.parametrize("given", ["a1_1*(1-a1_1)", "delta2_1 a1_1", "(a2_1 - t_1) a2_1(1 - a2_1) a1_2"])
def test_one_number_for_a_whole_matrix_is_told_its_shape(two_formulas, given):
    """Regression (a new user's trial): a formula of one number answering dE/dW2 was graded
    element by element ("element [0, 0] (W2_11) differs", a factor found missing there)."""
    row = two_formulas.grade_one(STUDENTS[0], Submission("s00", {"m": given}))
    (mark,) = [m for m in row.marks if m.item_id == "m"]
    assert (mark.verdict, mark.points) == ("wrong", 0.0)
    assert mark.explanation[1:] == [
        "the claim is one number, but dE/dW2 is a 2x2 matrix",
        "the right formula: ((a2 - t) * (a2*(1 - a2))) @ a1.T",
    ]


@pytest.mark.parametrize(
    "qid, given, said",
    [
        ("f", "(t_1-a2_1)a2_1(1-a2_1)a1_1", "the sign of the error is flipped (t - y instead of y - t)"),
        ("f", "-(a2_1-t_1)a2_1(1-a2_1)a1_1", "the sign of the error is flipped (t - y instead of y - t)"),
        ("m", "(t - a2)*a2*(1 - a2) @ a1.T", "your claim is -1 times the correct matrix: a sign error"),
        ("f", "2(a2_1-t_1)a2_1(1-a2_1)a1_1", "your answer is 2 x the right one: the 1/2 of the half squared error dropped?"),
    ],
)
def test_a_constant_times_the_right_formula_is_said_once(two_formulas, qid, given, said):
    """Regression (found as a student): a sign error got two or three bullets saying it ("the sign
    of the error is flipped", "-1 times the correct matrix", "-1 times the correct gradient")."""
    row = two_formulas.grade_one(STUDENTS[0], Submission("s00", {qid: given}))
    mark = next(m for m in row.marks if m.item_id == qid)
    assert mark.verdict == "partial"
    ratios = [line for line in mark.explanation if "sign" in line or " times the correct" in line or " x the right" in line]
    assert ratios == [said]


def test_a_graph_spec_without_targets_has_a_sign_mistake_without_an_error():
    derivation = symprop.derive(symprop.load(EXAMPLES / "cs231n_neuron.yaml"))
    key = class_set(derivation, STUDENTS[:1], 3).keys["s00"]
    (sign,) = [m for m in key.answers["q4"].mistakes if m.key == "sign"]
    assert sign.text == "the sign is flipped"
    assert float(sign.value) == -float(key.answers["q4"].value)


def test_feedback_shows_a_students_name_as_typed():
    """A roster's name reaches the feedback Markdown escaped: markup in it stays text."""
    from markdown_it import MarkdownIt

    from symprop.classroom.report import markdown_text

    html = MarkdownIt().render("# " + markdown_text("*Ann* <script>x</script> [a](b) _c_ #1 $x$"))
    assert html == "<h1>*Ann* &lt;script&gt;x&lt;/script&gt; [a](b) _c_ #1 $x$</h1>\n"
    assert r"\$x\$" in markdown_text("$x$")  # no math for a viewer with KaTeX either
    # punctuation that is markup only at a line's start stays as typed: the file reads as text too
    assert markdown_text("Łukasz Ağaoğlu, Jr.") == "Łukasz Ağaoğlu, Jr."
    name = "Jean-Luc + Marie (1.) O'Brien!"
    assert markdown_text(name) == name
    html = MarkdownIt().render("# Feedback: " + markdown_text(name + " [a](b) *c*"))
    assert html == "<h1>Feedback: Jean-Luc + Marie (1.) O'Brien! [a](b) *c*</h1>\n"


def test_a_missing_derivative_is_named_by_the_gradients_own_element():
    """Regression (found trying the tool as a teacher): the feedback for dE/dW2_21 said a2_1's
    derivative was missing; its chain holds a2_2's."""
    from symprop.classroom.mistakes import gradient_mistakes

    d = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    texts = [w.text for w in gradient_mistakes(d, d.scalar.gradient("W2", (1, 0))) if w.key == "no_derivative_a2"]
    assert texts == ["the derivative of a2's activation (sigmoid'(z) = a2_2*(1 - a2_2)) is missing"]


def test_no_student_gets_an_input_of_one():
    """Regression (found trying the tool as a teacher): 5 of 40 students had x1 = 1 or -1, so
    dE/dz (the last factor x left out) was marked right for dE/dW."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    chosen = class_set(derivation, STUDENTS, SEED)
    inputs = [x for student in STUDENTS for x in chosen.keys[student.id].point.leaves["x"]]
    assert 0 < min(abs(x) for x in inputs) and max(abs(x) for x in inputs) < 1


# -- whole-matrix formula questions ----------------------------------------------------------------

MATRIX_FORMULAS = [
    ("W2", "delta2 a1^T", "right", 2.0, []),
    ("W2", "δ2 a1ᵀ", "right", 2.0, []),
    ("W2", r"\delta^{(2)} \left(a^{(1)}\right)^T", "right", 2.0, []),
    ("W2", "((a2 - t) * a2*(1 - a2)) @ a1.T", "right", 2.0, []),
    ("W2", "a1 delta2^T", "wrong", 0.0, ["your matrix is the transpose of the correct one"]),
    ("W2", "(t - a2)*a2*(1 - a2) @ a1.T", "partial", 1.0, ["a sign error"]),
    ("W2", "(a2 - t)*(1 - a2) @ a1.T", "partial", 1.0, ["factor 2: you wrote (1 - a2)"]),
    ("W2", "delta2 @ a1", "wrong", 0.0, ["inner sizes differ"]),
    ("W1", "((W2^T delta2) ⊙ a1(1 - a1)) x^T", "right", 3.0, []),
    ("W1", "((W2 delta2) * a1*(1 - a1)) @ x.T", "unreadable", 0.0, ["'W2 delta2': two arrays side by side"]),
    ("W1", "((W2 @ delta2) * a1*(1 - a1)) @ x.T", "partial", 1.0, ["transpose: your sum uses W where the chain rule has W^T"]),
    ("b1", "(W2^T delta2) * a1*(1 - a1)", "right", 3.0, []),
]


@pytest.mark.parametrize("wrt, claim, verdict, points, said", MATRIX_FORMULAS)
def test_whole_matrix_formulas_as_students_write_them(wrt, claim, verdict, points, said):
    spec = symprop.spec_file.read_yaml(EXAMPLES / "tutorial_222.yaml")
    spec["layers"][0]["bias"] = True
    spec["example"]["params"]["b1"] = [0.35, 0.35]
    derivation = symprop.derive(symprop.from_dict(spec, "biased.yaml"))
    points_of = {"W2": 2, "W1": 3, "b1": 3}[wrt]
    items = parse_questions(
        {"questions": [{"id": "m", "kind": "formula", "wrt": wrt, "points": points_of, "factor_points": 0.5}]}, derivation
    )
    chosen = class_set(derivation, STUDENTS[:1], 1, items)
    (mark,) = Grader(derivation, items, chosen.keys).grade_one(STUDENTS[0], Submission("s00", {"m": claim})).marks
    assert (mark.verdict, mark.points) == (verdict, points), mark.explanation
    for text in said:
        assert any(text in line for line in mark.explanation), mark.explanation


def test_a_whole_matrix_question_on_every_document(forty):
    if forty.derivation.name != "tutorial_222":
        pytest.skip("asked of tutorial_222's class")
    key = forty.keys["s00"]
    answer = key.answers["q6"]
    assert answer.text == "((a2 - t) * (a2*(1 - a2))) @ a1.T"
    assert answer.formula.shape == (2, 2) and answer.formula[0, 1] == forty.derivation.scalar.gradient("W2", (0, 1)).expr
    sources = forty.sources()
    worksheet, answers = sources["s00_worksheet.tex"], sources["s00_answers.tex"]
    assert r"\textbf{5.}\enspace Whole matrix: write $\frac{\partial E}{\partial W^{(2)}}$" in worksheet
    assert r"\text{[q6]}\ \frac{\partial E}{\partial W^{(2)}}" in worksheet
    assert r"\frac{\partial E}{\partial W^{(2)}} &= \boxed{\delta^{(2)} \, \bigl(a^{(1)}\bigr)^{\top}}" in answers
    assert r"\delta^{(2)} &= (a^{(2)} - t) \odot a^{(2)} \odot (1 - a^{(2)})" in answers
    assert sources["class_answers.csv"].splitlines()[1].endswith(",((a2 - t) * (a2*(1 - a2))) @ a1.T")
    assert r"q6: \texttt{((a2 - t) * (a2*(1 - a2))) @ a1.T}" in sources["class_answers.tex"]
    (question,) = [q for q in ET.fromstring(sources["quiz.xml"]) if q.findtext("name/text") == "q6"]
    options = {a.findtext("text"): a.get("fraction") for a in question.findall("answer")}
    assert options == {
        "((a2 - t) * (a2*(1 - a2))) @ a1.T": "100",
        "((t - a2) * (a2*(1 - a2))) @ a1.T": "0",
        "a1 @ ((a2 - t) * (a2*(1 - a2))).T": "0",
        "((a2 - t) * (a2*(1 - a2))) @ a1": "0",
    }


def test_a_gradient_question_asks_one_element():
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    with pytest.raises(SpecError) as info:
        parse_questions({"questions": [{"id": "q", "kind": "gradient", "wrt": "W2"}]}, derivation, "q.yaml")
    assert str(info.value) == (
        "q.yaml: questions[0].wrt: W2 is a whole parameter; a gradient question asks one element (W2_11), "
        "a formula question may ask the whole matrix"
    )


# -- "which factor" on paper: multiple choice ------------------------------------------------------


def test_which_factor_is_multiple_choice_on_the_worksheet():
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    chosen = class_set(derivation, STUDENTS[:3], SEED)
    orders = set()
    for student in STUDENTS[:3]:
        answer = chosen.keys[student.id].answers["q3"]  # da1_1/dz1_1
        assert [c.letter for c in answer.choices] == ["a", "b", "c", "d", "e"]
        assert sorted(formula_text(c.formula) for c in answer.choices) == sorted(
            ["a1_1*(1 - a1_1)", "a1_1", "a1_1*(a1_1 + 1)", "z1_1*(1 - z1_1)", "-a1_1*(1 - a1_1)"]
        )
        assert formula_text(next(c.formula for c in answer.choices if c.letter == answer.letter)) == "a1_1*(1 - a1_1)"
        orders.add(tuple(formula_text(c.formula) for c in answer.choices))
    assert len(orders) > 1  # the letters differ between students
    sources = chosen.sources()
    worksheet, key = sources["s00_worksheet.tex"], sources["s00_answers.tex"]
    right = chosen.keys["s00"].answers["q3"].letter
    assert r"\mbox{\textbf{(a)}\ $" in worksheet and r"\text{[q3]}\ \text{letter}" in worksheet
    assert rf"\text{{[q3]}}\ \text{{letter}} = \text{{({right})}}" in key
    assert f",({right}) " in sources["class_answers.csv"].splitlines()[1]


def test_which_factor_is_graded_from_the_letter():
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    chosen = class_set(derivation, STUDENTS[:1], SEED)
    answer = chosen.keys["s00"].answers["q3"]
    plus = next(c.letter for c in answer.choices if c.mistake is not None and c.mistake.key == "sigmoid_plus")
    grader = Grader(derivation, chosen.items, chosen.keys)
    cases = [
        (answer.letter, "right", 1.0, None),
        (f"({answer.letter.upper()})", "right", 1.0, None),
        (number(answer.value), "right", 1.0, None),  # the value itself is still taken
        (plus, "wrong", 0.0, "sigmoid_plus"),
        ("h", "unreadable", 0.0, None),
        ("maybe", "unreadable", 0.0, None),
    ]
    for given, verdict, points, mistake in cases:
        (mark,) = [m for m in grader.grade_one(STUDENTS[0], Submission("s00", {"q3": given})).marks if m.item_id == "q3"]
        assert (mark.verdict, mark.points, mark.mistake) == (verdict, points, mistake), (given, mark)
    (mark,) = [m for m in grader.grade_one(STUDENTS[0], Submission("s00", {"q3": plus})).marks if m.item_id == "q3"]
    assert mark.explanation == [
        f"({plus}) is a1_1*(a1_1 + 1): sigma'(z) is written a(1 + a); it is a(1 - a)",
        f"the right option is ({answer.letter}), a1_1*(1 - a1_1) = {number(answer.value)}",
    ]
    (mark,) = [m for m in grader.grade_one(STUDENTS[0], Submission("s00", {"q3": "h"})).marks if m.item_id == "q3"]
    assert mark.explanation == ["there is no option (h); the options are a, b, c, d, e"]


# -- follow-through credit -------------------------------------------------------------------------


def _followed_class(follow_through=None):
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    questions = [
        {"id": "q1", "kind": "forward", "of": "z1_1"},
        {"id": "q2", "kind": "forward", "of": "a1_1"},
        {"id": "q3", "kind": "gradient", "wrt": "W1_11", "points": 3, "factor_points": 1},
        {"id": "q4", "kind": "step", "wrt": "W1_11", "points": 2},
    ]
    if follow_through is not None:
        questions[3]["follow_through"] = follow_through
    items = parse_questions({"questions": questions}, derivation)
    return derivation, items, class_set(derivation, STUDENTS[:1], SEED, items)


def test_follow_through_from_a_wrong_gradient_and_a_wrong_forward_value():
    derivation, items, chosen = _followed_class()
    key = chosen.keys["s00"]
    assert [float(key.answers[i].value) for i in ("q1", "q2")] == [pytest.approx(-0.885), pytest.approx(0.29214272857551865)]
    w, rate = float(key.values[items[3].wrt]), key.rate
    grader = Grader(derivation, items, chosen.keys, chosen.blueprint)

    def marks(answers):
        return {m.item_id: m for m in grader.grade_one(STUDENTS[0], Submission("s00", answers)).marks}

    # q3 wrong (0.05, no intermediate): the step taken with it is right from it
    found = marks({"q3": "0.05", "q4": f"{w - rate * 0.05:.6f}"})
    assert (found["q3"].points, found["q4"].verdict, found["q4"].points) == (0.0, "follow_through", 2.0)
    assert found["q4"].explanation == [
        f"right method from your answer to q3 (0.05): computed from it, this is {number(w - rate * 0.05)}",
        f"the right value is {number(key.answers['q4'].value)}; your earlier answer costs its own points, not these again",
    ]
    # z1_1 wrong (0.5): a1_1 = sigma(0.5), and the gradient and step from it
    a = 1 / (1 + math.exp(-0.5))
    fixed = chosen.blueprint.values(key.point, {items[0].of: 0.5})  # z1_1
    gradient = float(evaluate(chosen.blueprint.chains["q3"].expr, fixed))
    found = marks({"q1": "0.5", "q2": f"{a:.6f}", "q3": f"{gradient:.6f}", "q4": f"{w - rate * gradient:.6f}"})
    assert [(found[i].verdict, found[i].points) for i in ("q1", "q2", "q3", "q4")] == [
        ("wrong", 0.0),
        ("follow_through", 1.0),
        ("follow_through", 3.0),
        ("follow_through", 2.0),
    ]
    assert found["q2"].explanation[0] == "right method from your answer to q1 (0.5): computed from it, this is 0.62245933"
    # the step is taken with their gradient alone: their forward value is not named as its source
    assert found["q4"].explanation[0].startswith(f"right method from your answer to q3 ({float(f'{gradient:.6f}'):g}): ")
    found = marks({"q1": "0.5", "q3": "0.05", "q4": f"{w - rate * 0.05:.6f}"})
    assert (found["q4"].verdict, found["q4"].points) == ("follow_through", 2.0)
    said = f"right method from your answer to q3 (0.05): computed from it, this is {number(w - rate * 0.05)}"
    assert found["q4"].explanation[0] == said
    # a right earlier answer is no excuse: the same wrong step without a wrong gradient is wrong
    found = marks({"q3": number(key.answers["q3"].value), "q4": f"{w - rate * 0.05:.6f}"})
    assert (found["q4"].verdict, found["q4"].points) == ("wrong", 0.0)


@pytest.mark.parametrize("share, points", [(0.5, 1.0), (0, 0.0)])
def test_follow_through_credit_is_set_in_the_questions(share, points):
    derivation, items, chosen = _followed_class(share)
    key = chosen.keys["s00"]
    w = float(key.values[items[3].wrt])
    grader = Grader(derivation, items, chosen.keys, chosen.blueprint)
    submission = Submission("s00", {"q3": "0.05", "q4": f"{w - key.rate * 0.05:.6f}"})
    found = {m.item_id: m for m in grader.grade_one(STUDENTS[0], submission).marks}
    assert (found["q4"].verdict, found["q4"].points) == ("follow_through", points)
    assert found["q4"].explanation[1].endswith(f"and this one earns {share:g} of its points")


# -- the command line: --pdf, and a class no variant fits ------------------------------------------


def test_classroom_pdf_compiles_every_document(tmp_path, capsys):
    needs_tex()
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,Ada Lovelace\ns2,Zoë Müller\ns3,Łukasz Żółć\n", encoding="utf-8")
    questions = tmp_path / "q.yaml"
    questions.write_text(
        "questions:\n"
        "  - {id: q1, kind: forward, of: a1_1}\n"
        "  - {id: q2, kind: factor, of: a1_1, wrt: z1_1}\n"
        "  - {id: q3, kind: gradient, wrt: W1_11, points: 3, factor_points: 1}\n"
        "  - {id: q3_step, kind: step, wrt: W1_11}\n"
        "  - {id: q4, kind: formula, wrt: W2_11, points: 2}\n"
        "  - {id: q5, kind: formula, wrt: W1, points: 3}\n",
        encoding="utf-8",
    )
    out = tmp_path / "class"
    args = ["classroom", str(EXAMPLES / "tutorial_222.yaml"), "--roster", str(roster), "-o", str(out), "--questions"]
    assert main([*args, str(questions), "--pdf"]) == 0
    assert capsys.readouterr().out == f"wrote 17 files for 3 students into {out}\n"
    pdfs = sorted(p.name for p in out.glob("*.pdf"))
    assert pdfs == ["class_answers.pdf", *(f"s{k}_{kind}.pdf" for k in (1, 2, 3) for kind in ("answers", "worksheet"))]
    for pdf in pdfs:
        assert (out / pdf).read_bytes().startswith(b"%PDF") and (out / pdf).stat().st_size > 5_000, pdf


def test_no_well_conditioned_variant(tmp_path, capsys, monkeypatch):
    """Every draw refused (here: every sigmoid counts as saturated): one line, exit 2, nothing written."""
    from symprop.classroom import variants

    monkeypatch.setattr(variants, "SATURATED", -1.0)
    monkeypatch.setattr(variants, "MAX_ATTEMPTS", 3)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,Ada\n", encoding="utf-8")
    path = str(EXAMPLES / "tutorial_222.yaml")
    assert main(["classroom", path, "--roster", str(roster), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"symprop: error: {path}: no well-conditioned variant for student 's1' in 3 draws (the last: a1: ")
    assert err.endswith("); ask about other elements in --questions\n") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text, delimiter",
    [
        ("id,name\ns1,A\n", ","),
        ("id;name\ns1;A\n", ";"),
        ('id,name\ns1,"A; B"\n', ","),  # a ';' in a later row does not count
        ("id;q1;q2\ns1;0,5;1,5\n", ";"),  # decimal commas in the rows, not in the header
        ("question;answer\nq1;0,0259\n", ";"),
        ("id,name;x\n", ","),  # a tie-break: more commas than semicolons, or as many
    ],
)
def test_one_rule_tells_a_csv_files_separator(text, delimiter):
    """Rosters and answers files (class and per student) are split by the same rule; the roster
    used to want no ',' at all in its header, the answers file more ';' than ','."""
    from symprop.classroom.roster import csv_delimiter

    assert csv_delimiter(text) == delimiter


def test_a_students_answers_file_in_semicolons(tmp_path):
    from symprop.classroom.submissions import read_submissions

    (tmp_path / "s1.csv").write_text("question;answer\nq1;0,0259\nq2;(a) \n", encoding="utf-8")
    assert read_submissions(tmp_path)["s1"].answers == {"q1": "0,0259", "q2": "(a)"}


def test_which_factor_on_a_gate_has_its_value_as_a_distractor():
    """CS231n's 1/x gate: d(1/x)/dx, its sign flipped, and 1/x itself (not only two options)."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "cs231n_neuron.yaml"))
    answer = class_set(derivation, STUDENTS[:1], 0).keys["s00"].answers["q2"]
    assert sorted((formula_text(c.formula), c.mistake.key if c.mistake else None) for c in answer.choices) == [
        ("-1/f_g^2", None),
        ("1/f_g", "gate_value"),
        ("f_g^(-2)", "sign_local"),
    ]


def test_a_worksheet_with_formulas_says_how_to_type_them():
    """Regression (found as a student): the worksheet shows a^{(2)}_1, and a formula typed as
    a_1^(2) is "unknown name 'a_1'"; a sheet asking a formula names the typed names, each one the
    grader reads, and a sheet asking only numbers says nothing of it."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    questions = [
        {"id": "q1", "kind": "formula", "wrt": "W2_11"},
        {"id": "q2", "kind": "formula", "wrt": "W2"},
    ]
    items = parse_questions({"questions": questions}, derivation)
    sheet = class_set(derivation, STUDENTS[:1], SEED, items).sources()["s00_worksheet.tex"]
    assert (
        "Type each formula in plain text with the names of elements and arrays ($a^{(1)}_{1}$ as \\texttt{a1\\_1}, "
        "$a^{(2)}_{1}$ as \\texttt{a2\\_1}, $t_{1}$ as \\texttt{t\\_1}, $W^{(2)}$ as \\texttt{W2}, $\\delta^{(2)}$ as "
        "\\texttt{delta2}, $M^{\\top}$ as \\texttt{M.T}, the matrix product as \\texttt{@}), or in \\LaTeX." in sheet
    )
    from symprop.verify import Verifier

    verifier = Verifier(EXAMPLES / "tutorial_222.yaml")
    assert verifier.check("W2_11", "(a2_1 - t_1)*a2_1*(1 - a2_1)*a1_1").verdict == "correct"
    assert verifier.check("W2", "(delta2 @ a1.T)").verdict == "correct"
    numbers_only = class_set(derivation, STUDENTS[:1], SEED).sources()["s00_worksheet.tex"]
    assert "Type each formula" not in numbers_only


@pytest.mark.parametrize(
    "factor, feedback",
    [
        (2, "your answer is 2 x the right one: the 1/2 of the half squared error dropped?"),
        (0.5, "your answer is 1/2 x the right one: the 2 from differentiating the square dropped?"),
    ],
)
def test_the_loss_constant_is_a_typical_mistake(tmp_path, factor, feedback):
    """Regression (a new user's trial): q4 = 2 x the key was 'matches none of the intermediate
    values ... nor a typical mistake', though the README lists the loss's constant 1/N or 2."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    chosen = class_set(derivation, STUDENTS[:1], SEED)
    answer = chosen.keys["s00"].answers["q4"]
    (tmp_path / "a.csv").write_text(f"id,q4\ns00,{factor * float(answer.value):.8f}\n", encoding="utf-8")
    graded, _ = chosen.grade(tmp_path / "a.csv")
    mark = next(m for m in graded[0].marks if m.item_id == "q4")
    assert mark.explanation == [feedback, f"the right value is {number(answer.value)}"]
    assert mark.mistake == ("double" if factor == 2 else "half")


def test_the_mean_over_the_outputs_taken_twice_is_a_typical_mistake():
    from symprop.classroom.mistakes import gradient_mistakes

    spec = {"name": "mse3", "input": 2, "layers": [{"units": 3, "activation": "sigmoid"}], "loss": "mse"}
    derivation = symprop.derive(symprop.from_dict(spec, "mse3.yaml"))
    chain = derivation.scalar.gradient("W1", (0, 0))
    found = {w.key: w for w in gradient_mistakes(derivation, chain)}
    assert found["mean_twice"].formula == chain.expr / 3
    said = "your answer is 1/3 x the right one: the 1/N of the mean over the N = 3 outputs taken twice?"
    assert found["mean_twice"].text == said
    wrong = (found["mean"].formula, found["double"].formula, found["half"].formula)
    assert wrong == (3 * chain.expr, 2 * chain.expr, chain.expr / 2)


def test_the_class_answer_sheet_writes_numbers_in_math_mode(forty):
    """A new user's finding: the sheet's negative numbers had hyphens, not minus signs."""
    tex = class_answers(STUDENTS, forty.keys, [i.id for i in forty.items])["class_answers.tex"]
    cells = [cell.strip() for line in tex.splitlines() if line.startswith("s0") for cell in line.rstrip("\\ ").split("&")[2:]]
    wrong = [c for c in cells if not re.fullmatch(r"(\([a-e]\)\\ )?\$[^$]+\$", c) or re.search(r"(?<!\$)-", c)]
    assert cells and not wrong, wrong[:6]
    assert any(c.startswith("$-") for c in cells)


def test_a_value_that_prints_an_asked_answer_is_not_given():
    """Asked z1_1 alone on a ReLU net: a1_1 is the same number, so the worksheet hides it, and the
    gradient that reads a1_1 says it needs question 1."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml"))
    questions = [{"id": "q1", "kind": "forward", "of": "z1_1"}, {"id": "q2", "kind": "gradient", "wrt": "W2_11"}]
    items = parse_questions({"questions": questions}, derivation)
    chosen = class_set(derivation, STUDENTS[:1], SEED, items)
    key = chosen.keys["s00"]
    values = {str(s): v for s, v in key.values.items()}
    assert values["a1_1"] == values["z1_1"] > 0
    worksheet = chosen.sources()["s00_worksheet.tex"]
    assert number(values["z1_1"]).lstrip("-") not in worksheet
    assert number(values["z1_2"]) in worksheet  # a value not computed from the asked one is given
    assert "(It needs your answer to question 1.)" in worksheet


@pytest.mark.parametrize(
    "wrt, given",
    [
        # Regression (a helper's finding): braces sent every answer to the LaTeX reader, so a plain
        # sum over subscripts came back unreadable ("unexpected at position 4 ('_')")
        ("W1_11", "sum_{k} W2_k1 * delta2_k * a1_1*(1 - a1_1) * x_1"),
        ("W1_11", "sum_{k=1}^{2} W2_k1 delta2_k a1_1 (1 - a1_1) x_1"),
        # LaTeX with braces and no backslash is still LaTeX
        ("W2_11", "(a^{(2)}_1 - t_1) a^{(2)}_1 (1 - a^{(2)}_1) a^{(1)}_1"),
    ],
)
def test_a_plain_sum_with_braces_is_read_as_plain(wrt, given):
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    items = parse_questions({"questions": [{"id": "f", "kind": "formula", "wrt": wrt, "points": 2}]}, derivation)
    grader = Grader(derivation, items, class_set(derivation, STUDENTS[:1], 1, items).keys)
    (mark,) = grader.grade_one(STUDENTS[0], Submission("s00", {"f": given})).marks
    assert (mark.verdict, mark.points) == ("right", 2.0), mark.explanation


@pytest.mark.parametrize(
    "places, said",
    [
        (2, "this is the right value rounded to 2 decimal places: give at least 4"),
        (1, "this is the right value rounded to 1 decimal place: give at least 4"),
    ],
)
def test_a_number_rounded_too_early_is_told_so(tmp_path, places, said):
    """A new user's finding: 0.39 for the key 0.39339941 was 'matches none of the intermediate
    values of your derivation nor a typical mistake', though it is the right value, rounded."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    chosen = class_set(derivation, STUDENTS[:1], SEED)
    answer = chosen.keys["s00"].answers["q2"]  # a1_1 = 0.29214273
    rounded = f"{float(answer.value):.{places}f}"
    assert not math.isclose(float(rounded), float(answer.value), rel_tol=1e-3)  # wrong at 4 places
    (tmp_path / "a.csv").write_text(f"id,q2\ns00,{rounded}\n", encoding="utf-8")
    graded, _ = chosen.grade(tmp_path / "a.csv")
    mark = next(m for m in graded[0].marks if m.item_id == "q2")
    assert (mark.points, mark.explanation) == (0.0, [said, f"the right value is {number(answer.value)}"])
