"""How the scalar module's statements are laid out: one line where it fits in ``WIDTH``
columns, else the comment above and a long sum broken after each term; unpacking patterns
and nested tuples one row a line.  Brackets only change where lines break, never the code."""

from __future__ import annotations

import re
import textwrap

from ... import module_interface as interface
from ...latex_printing import unbracketed

#: Longest generated line (ruff's limit for the project), after indentation.
WIDTH = 130
#: Indentation of the lines inside the loop over samples.
INDENT = 8
_NAME = re.compile(r"(?<![\w.'\"])[A-Za-z_]\w*")


class Line:
    """One statement: ``target op code``, the names it reads, and its comment."""

    def __init__(self, target: str, code: str, comment: str = "", op: str = "=", node: str = ""):
        code = unbracketed(code)  # a statement needs no outer brackets
        self.target, self.code, self.comment, self.op, self.node = target, code, comment, op, node
        self.reads = set(_NAME.findall(code))

    def text(self, indent: int) -> list[str]:
        """The statement as lines of at most ``WIDTH`` columns at ``indent``: the comment moves
        above when it does not fit, a long sum is broken after each term."""
        statement = f"{self.target} {self.op} {self.code}"
        comment = interface.comment_text(self.comment)
        if comment and indent + len(statement) + len(comment) + 4 <= WIDTH:
            return [f"{statement}  # {comment}"]
        above = textwrap.wrap(comment, WIDTH - indent - 2, break_long_words=False) if comment else []
        lines = [f"# {text}" for text in above]
        if indent + len(statement) <= WIDTH:
            return [*lines, statement]
        terms = [piece for term in _top_level_terms(self.code) for piece in _pieces(term, WIDTH - indent - 4)]
        return [*lines, f"{self.target} {self.op} (", *(f"    {term}" for term in terms), ")"]


def _top_level_terms(code: str) -> list[str]:
    """``a + b - c`` as ``["a", "+ b", "- c"]``: split before each + or - outside brackets."""
    terms, depth, start = [], 0, 0
    for position, char in enumerate(code):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and code[position - 1 : position + 2] in (" + ", " - "):
            terms.append(code[start : position - 1])
            start = position
    return [*terms, code[start:]]


def _pieces(term: str, width: int) -> list[str]:
    """A term longer than ``width`` broken before operators inside it, greedily (inside the
    statement's brackets a line may break between any two tokens)."""
    if len(term) <= width:
        return [term]
    pieces, current = [], ""
    for token in re.split(r"(?= [-+*/] )", term):  # each token starts with its operator
        if current and len(current) + len(token) > width:
            pieces.append(current)
            current = token.lstrip()
        else:
            current += token
    return [*pieces, current]


def value_lines(before: str, value, after: str, indent: int) -> list[str]:
    """``before`` + a spec's numbers as nested tuples + ``after``: one line, or one row a line."""
    one = before + tuples(value) + after
    if indent + len(one) <= WIDTH or not (isinstance(value, list) and all(isinstance(v, list) for v in value)):
        return [one]
    return [before + "(", *(f"    {tuples(row)}," for row in value), ")" + after]


def pattern(names: list[str], dims: tuple[int, ...]) -> str:
    """The unpacking pattern of nested sequences of shape ``dims``: ``(a, b), (c, d)``."""
    if len(dims) == 1:
        return ", ".join(names) + ("," if len(names) == 1 else "")
    size = len(names) // dims[0]
    rows = ", ".join(f"({pattern(names[i * size : (i + 1) * size], dims[1:])})" for i in range(dims[0]))
    return rows + ("," if dims[0] == 1 else "")  # one row: still a tuple


def pattern_lines(names: list[str], dims: tuple[int, ...], indent: int, pad: str) -> list[str]:
    """``pattern`` over several lines (each item of the first axis on its own, each line ending
    in a comma), ``pad`` before each, none longer than ``WIDTH`` at ``indent``."""
    if len(dims) == 1:
        return [pad + ", ".join(chunk) + "," for chunk in _chunks(names, WIDTH - indent - 1)]
    size = len(names) // dims[0]
    lines = []
    for i in range(dims[0]):
        part = names[i * size : (i + 1) * size]
        one = f"({pattern(part, dims[1:])}),"
        if indent + len(one) <= WIDTH:
            lines.append(pad + one)
        else:
            lines += [pad + "(", *pattern_lines(part, dims[1:], indent + 4, pad + "    "), pad + "),"]
    return lines


def _chunks(names: list[str], width: int) -> list[list[str]]:
    """``names`` in runs whose ``", "``-joined text is at most ``width`` long."""
    runs, current = [], []
    for name in names:
        if current and len(", ".join([*current, name])) > width:
            runs.append(current)
            current = []
        current.append(name)
    return [*runs, current] if current else runs


def tuples(value) -> str:
    """A spec's number or nested list as nested tuples of floats."""
    if isinstance(value, list):
        return "(" + ", ".join(tuples(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(float(value))


def chunked(names: list[str], joiner: str, end: str, width: int) -> list[str]:
    """``a = b = c = 0.0`` statements of at most ``width`` columns."""
    lines, current = [], []
    for name in names:
        if current and len(joiner.join([*current, name]) + end) > width:
            lines.append(joiner.join(current) + end)
            current = []
        current.append(name)
    return [*lines, joiner.join(current) + end] if current else lines
