r"""The handout's prose, read back from LaTeX for the web editions.

The handout's section classes write their prose once, as LaTeX text (``Tex``: words with
``$...$`` math, ``\texttt{...}``, ``\emph{...}``, ``\\`` and escaped characters).  The HTML and
Markdown editions reuse that prose instead of writing it a second time, so this module reads
the small part of LaTeX's text mode the handout writes into a tree (``parse``) and writes the
tree as HTML, every character escaped (``to_html``).  Anything else is refused with an error
naming it: a new construct in the handout must be taught here, never passed to a page as raw
LaTeX.  Math is kept as LaTeX; the page typesets it with KaTeX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

#: Escaped characters of ``naming.escape_latex_text`` (and ``~``, LaTeX's no-break space).
_ESCAPED = {"_": "_", "{": "{", "}": "}", "$": "$", "&": "&", "#": "#", "%": "%", ",": "\u2009", " ": " "}
#: Commands written as an escape followed by an empty group: ``\^{}``, ``\~{}``, ``\textbackslash{}``.
_WITH_EMPTY_GROUP = {"^": "^", "~": "~", "textbackslash": "\\"}
_SPACES = {"quad": "\u2003", "qquad": "\u2003\u2003"}
_SMALLER = ("footnotesize", "scriptsize", "small", "tiny")


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Math:
    tex: str


@dataclass(frozen=True)
class Code:
    value: str


@dataclass(frozen=True)
class Emph:
    children: tuple


@dataclass(frozen=True)
class Small:
    children: tuple


@dataclass(frozen=True)
class Break:
    pass


class MarkupError(ValueError):
    """LaTeX the web editions cannot read (a construct this module was not taught)."""


def parse(tex: str) -> tuple:
    """The nodes of a piece of the handout's LaTeX prose."""
    nodes, end = _Reader(tex).group(0, closing=False)
    return nodes


class _Reader:
    def __init__(self, tex: str):
        self.tex = tex

    def fail(self, what: str):
        raise MarkupError(f"the web editions cannot read {what} in {self.tex!r}")

    def group(self, i: int, closing: bool) -> tuple[tuple, int]:
        """Nodes from ``i`` up to the closing brace (``closing``) or the end; returns the index after it."""
        tex, out, text = self.tex, [], []

        def flush():
            if text:
                out.append(Text("".join(text)))
                text.clear()

        while i < len(tex):
            c = tex[i]
            if c == "}":
                if not closing:
                    self.fail("an unmatched '}'")
                flush()
                return tuple(out), i + 1
            if c == "{":
                inner, i = self.group(i + 1, closing=True)
                flush()
                out.extend(inner)
                continue
            if c == "$":
                end = _math_end(tex, i + 1)
                if end is None:
                    self.fail("an unclosed '$'")
                flush()
                out.append(Math(tex[i + 1 : end]))
                i = end + 1
                continue
            if c == "~":
                text.append("\u00a0")
                i += 1
                continue
            if c != "\\":
                text.append(c)
                i += 1
                continue
            name = re.match(r"[A-Za-z]+|.", tex[i + 1 :], re.S)
            if name is None:
                self.fail("a '\\' at the end")
            name = name.group(0)
            i += 1 + len(name)
            if name.isalpha():  # as in TeX, spaces after a control word are not text
                while i < len(tex) and tex[i] == " ":
                    i += 1
            if name == "\\":
                flush()
                out.append(Break())
                i = _skip_optional(tex, i)
            elif name in _ESCAPED:
                text.append(_ESCAPED[name])
            elif name in _WITH_EMPTY_GROUP:
                text.append(_WITH_EMPTY_GROUP[name])
                if tex.startswith("{}", i):
                    i += 2
            elif name in _SPACES:
                text.append(_SPACES[name])
            elif name in ("texttt", "emph"):
                if not tex.startswith("{", i):
                    self.fail(f"\\{name} without a braced argument")
                inner, i = self.group(i + 1, closing=True)
                flush()
                if name == "emph":
                    out.append(Emph(inner))
                elif all(isinstance(n, Text) for n in inner):
                    out.append(Code("".join(n.value for n in inner)))
                else:
                    self.fail("\\texttt of anything but text")
            elif name in _SMALLER:  # a size switch: the rest of the group
                inner, i = self.group(i, closing=closing)
                flush()
                # a switch again inside (a TikZ node's line after \\ repeats it) is the same size:
                # the page has one small size, and a <small> in a <small> would be smaller still
                out.append(Small(tuple(c for n in inner for c in (n.children if isinstance(n, Small) else (n,)))))
                return tuple(out), i
            else:
                self.fail(f"\\{name}")
        if closing:
            self.fail("an unclosed '{'")
        flush()
        return tuple(out), i


def _math_end(tex: str, i: int) -> int | None:
    """Index of the ``$`` closing math that starts at ``i`` (an escaped ``\\$`` does not close)."""
    while i < len(tex):
        if tex[i] == "\\":
            i += 2
        elif tex[i] == "$":
            return i
        else:
            i += 1
    return None


def table_cells(row: str) -> list[str]:
    r"""The cells of a row of a LaTeX ``tabular`` (``$w_{11}$ & $0.2$ & ...``): split at each
    ``&`` outside math and braces (an escaped ``\&`` is text); each cell is prose for ``parse``."""
    cells, start, depth, i = [], 0, 0, 0
    while i < len(row):
        c = row[i]
        if c == "\\":
            i += 2
            continue
        if c == "$":
            end = _math_end(row, i + 1)
            if end is None:
                raise MarkupError(f"the web editions cannot read an unclosed '$' in {row!r}")
            i = end + 1
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "&" and depth == 0:
            cells.append(row[start:i].strip())
            start = i + 1
        i += 1
    cells.append(row[start:].strip())
    return cells


def _skip_optional(tex: str, i: int) -> int:
    r"""After ``\\``: skip its optional spacing argument (``\\[2pt]``)."""
    match = re.match(r"\[[^\]]*\]", tex[i:])
    return i + match.end() if match else i


# -- writing ----------------------------------------------------------------------------


def math_html(tex: str, display: bool = False) -> str:
    """A formula for the page's KaTeX call: its LaTeX, escaped, in an element of class ``math``."""
    if display:
        return f'<div class="math display">{escape(tex, quote=False)}</div>'
    return f'<span class="math">{escape(tex, quote=False)}</span>'


def to_html(nodes: tuple) -> str:
    """The nodes as HTML; every character of text, code and math escaped."""
    out = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(escape(node.value, quote=False))
        elif isinstance(node, Math):
            out.append(math_html(node.tex))
        elif isinstance(node, Code):
            out.append(f"<code>{escape(node.value, quote=False)}</code>")
        elif isinstance(node, Emph):
            out.append(f"<em>{to_html(node.children)}</em>")
        elif isinstance(node, Small):
            out.append(f"<small>{to_html(node.children)}</small>")
        else:
            out.append("<br>")
    return "".join(out)


def plain_text(nodes: tuple) -> str:
    """The nodes as plain text (math as its LaTeX): for titles and attributes."""
    parts = []
    for node in nodes:
        if isinstance(node, (Text, Code)):
            parts.append(node.value)
        elif isinstance(node, Math):
            parts.append(node.tex)
        elif isinstance(node, (Emph, Small)):
            parts.append(plain_text(node.children))
        else:
            parts.append(" ")
    return "".join(parts)
