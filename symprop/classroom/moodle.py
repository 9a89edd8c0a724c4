"""The class's questions as a Moodle XML quiz (Question bank > Import > Moodle XML format).

Numeric questions (a forward value, a gradient, a weight after one step) are ``numerical``
questions, one per student's variant, grouped in one category per question id (so that a
quiz's "random question from category" draws a variant per student); each has the right
answer with an absolute tolerance of ``max(RELATIVE * |value|, ABSOLUTE)`` and, with fraction
0, every typical mistake's number with its feedback (Moodle takes the first answer that
matches, the right one first).  A formula question and a "which factor" question are
``multichoice`` questions, the same for every student: the right formula and the typical
mistakes' formulas as distractors.  Text is HTML-escaped, then XML-escaped by ElementTree.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET

from ..latex_printing import number
from .key import tolerance
from .mistakes import formula_text, matrix_mistakes


def quiz_xml(chosen) -> str:
    """The Moodle XML of a ``build.ClassSet``."""
    quiz = ET.Element("quiz")
    name = chosen.derivation.network.name
    students = chosen.students
    for item in chosen.items:
        _category(quiz, f"$course$/top/symprop/{name}/{item.id}")
        if item.kind in ("forward", "gradient", "step"):
            for student in students:
                _numerical(quiz, chosen, item, student)
        else:
            _multichoice(quiz, chosen, item, chosen.keys[students[0].id].answers[item.id])
    ET.indent(quiz)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="unicode") + "\n"


def _category(quiz: ET.Element, path: str) -> None:
    question = ET.SubElement(quiz, "question", type="category")
    _text(ET.SubElement(question, "category"), path)


def _numerical(quiz: ET.Element, chosen, item, student) -> None:
    key = chosen.keys[student.id]
    answer = key.answers[item.id]
    prompt = _prompt(chosen, item, key)
    question = _header(quiz, "numerical", f"{item.id} {student.id}", prompt, item.points, network_text(chosen.derivation))
    right = float(answer.value)
    _answer(question, 100, number(answer.value), "Right.", tolerance(right))
    seen = [right]
    for candidate in answer.candidates:
        # bands that do not overlap: Moodle takes the first answer whose band holds the number
        if candidate.mistake and all(abs(candidate.value - v) > tolerance(v) + tolerance(candidate.value) for v in seen):
            seen.append(candidate.value)
            _answer(question, 0, number(candidate.value), candidate.text, tolerance(candidate.value))


def _multichoice(quiz: ET.Element, chosen, item, answer) -> None:
    name = chosen.derivation.network.name
    if item.whole:
        prompt = (
            f"Which formula is dE/d{item.wrt}, the whole matrix, for the network {name}? (Vectors are columns, "
            "* is elementwise, @ the matrix product, .T the transpose.)"
        )
        options = [(answer.text, "Right.")] + matrix_mistakes(answer.text)
    else:
        wrt = f"d{answer.item.of}/d{answer.item.wrt}" if item.kind == "factor" else f"dE/d{item.wrt}"
        prompt = f"Which formula is {wrt} (in forward values) for the network {name}?"
        wrongs = chosen.blueprint.wrongs.get(item.id, [])
        options = [(formula_text(answer.formula), "Right.")] + [(formula_text(w.formula), w.text) for w in wrongs]
    question = _header(quiz, "multichoice", item.id, prompt, item.points, network_text(chosen.derivation))
    for tag, value in (("single", "true"), ("shuffleanswers", "true"), ("answernumbering", "abc")):
        _text_element(question, tag, value)
    shown = set()
    for k, (text, why) in enumerate(options):  # the right one first
        if text not in shown:
            shown.add(text)
            _answer(question, 0 if k else 100, text, why)


def _prompt(chosen, item, key) -> str:
    given = "; ".join(f"{name} = {value}" for name, value in key.point.leaves.items())
    what = {
        "forward": f"the forward value {item.of}",
        "gradient": f"the gradient dE/d{item.wrt}",
        "step": f"the value of {item.wrt} after one step of gradient descent with learning rate {key.rate}",
    }[item.kind]
    return f"For the network {chosen.derivation.network.name} with {given}, compute {what} (to 4 decimal places)."


def network_text(derivation) -> str:
    """What a quiz question says of the network, since a Moodle question stands without the
    worksheet: its nodes per sample, its loss, and how a weight element is named."""
    network, loss = derivation.network, derivation.graph.loss
    lines = [f"{name} = {expression}" for name, expression in network.nodes.items()]
    lines.append(f"E = {loss} (the loss)" if loss in network.nodes else f"E = {network.loss_text}")
    matrices = [node.name for node in derivation.graph.params() if len(node.shape) == 2]
    naming = f" {matrices[0]}_12 is the element of {matrices[0]} in row 1, column 2." if matrices else ""
    return f"The network {network.name}, per sample (vectors are columns): " + "; ".join(lines) + "." + naming


def _header(quiz: ET.Element, kind: str, name: str, prompt: str, points: float, network: str) -> ET.Element:
    question = ET.SubElement(quiz, "question", type=kind)
    _text(ET.SubElement(question, "name"), name)
    text = f"<p>{html.escape(network)}</p><p>{html.escape(prompt)}</p>"
    _text(ET.SubElement(question, "questiontext", format="html"), text)
    _text(ET.SubElement(question, "generalfeedback", format="html"), "")
    _text_element(question, "defaultgrade", f"{points:g}")
    _text_element(question, "penalty", "0.3333333")
    _text_element(question, "hidden", "0")
    return question


def _answer(question: ET.Element, fraction: int, value: str, feedback: str, tolerance: float | None = None) -> None:
    numeric = tolerance is not None
    answer = ET.SubElement(question, "answer", fraction=str(fraction), format="moodle_auto_format" if numeric else "html")
    _text(answer, value if numeric else html.escape(value))
    if tolerance is not None:
        _text_element(answer, "tolerance", repr(tolerance))
    _text(ET.SubElement(answer, "feedback", format="html"), f"<p>{html.escape(feedback)}</p>")


def _text(parent: ET.Element, value: str) -> None:
    ET.SubElement(parent, "text").text = value


def _text_element(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value
