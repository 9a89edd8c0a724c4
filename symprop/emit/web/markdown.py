r"""The Markdown edition of the handout, and the notebook's ``_repr_markdown_``.

It is the HTML edition written as Markdown: the page (``page.html_source``) is read back with
the standard library's HTML parser and each element written in plain Markdown, so the two
editions cannot drift apart.  Plain means no raw HTML (many renderers drop it): a table becomes
a list of its rows, and the figure is left out with a note.  Math is where Markdown renderers
differ, so there are two flavours:

- ``commonmark``, the Markdown edition (``symprop derive --emit md``): for a renderer that knows
  no math, such as markdown-it or any CommonMark blog engine, followed by KaTeX's auto-render
  in the browser.  CommonMark treats a backslash before any ASCII punctuation as an escape
  (``\\`` becomes ``\``, ``\,`` becomes ``,``), and ``_`` and ``*`` as emphasis, and a
  typographer turns ``'`` into a curly quote: inside math every ASCII punctuation character is
  therefore escaped with a backslash, which CommonMark turns back into exactly that character
  and which stops every typographer.  The renderer's output then holds each formula exactly
  as written, in ``$$ ... $$`` (display, on one line) or ``\( ... \)`` (inline), the
  delimiters auto-render looks for by default.  The source is hard to read by eye; the
  rendered page is right.
- ``math``, for renderers that take math out before Markdown sees it (Jupyter, VS Code, GitHub,
  pandoc): the LaTeX as it is, in ``$ ... $`` and ``$$ ... $$``.  The notebook uses it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from .page import html_source, write_edition

if TYPE_CHECKING:
    from ...derivation import Derivation

FLAVOURS = ("commonmark", "math")
#: Characters of text that Markdown could read as markup (``$``: math in the math-aware flavour).
_TEXT_SPECIAL = set("\\`*_[]<>#|~!$&")
_SKIPPED = {"head", "script", "style", "nav"}


def markdown_source(derivation: Derivation, flavour: str = "commonmark", edition: str = "full") -> str:
    """The handout in ``edition`` (``full``, ``student``) as Markdown (a complete document)."""
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {FLAVOURS}, not {flavour!r}")
    return to_markdown(html_source(derivation, edition), flavour)


def write_markdown(derivation: Derivation, directory: str | Path, edition: str = "full") -> Path:
    """Write ``<name>.md`` (the student edition ``<name>_student.md``; the CommonMark flavour)
    into ``directory`` (created if needed); returns its path."""
    return write_edition(derivation, directory, ".md", lambda d: markdown_source(d, edition=edition), edition)


# -- reading the page -------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict
    children: list = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()


_VOID = {"meta", "br", "link", "img", "hr", "input", "path", "circle", "rect"}


class _Reader(HTMLParser):
    """The page as a tree of ``Element`` and text (entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs))
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def to_markdown(page: str, flavour: str = "commonmark") -> str:
    """The HTML edition's page as Markdown of ``flavour``."""
    reader = _Reader()
    reader.feed(page)
    reader.close()
    writer = _Writer(flavour)
    blocks = writer.blocks(reader.root)
    return "\n\n".join(b for b in blocks if b) + "\n"


# -- writing Markdown -------------------------------------------------------------------------


class _Writer:
    def __init__(self, flavour: str):
        self.flavour = flavour

    # math and text

    def math(self, tex: str, display: bool) -> str:
        tex = " ".join(tex.split())  # one line: no line of a formula can start a Markdown block
        if self.flavour == "math":
            return f"$$ {tex} $$" if display else f"${tex}$"
        escaped = "".join("\\" + c if c in string.punctuation else c for c in tex)
        return f"$$ {escaped} $$" if display else rf"\\( {escaped} \\)"

    @staticmethod
    def text(value: str) -> str:
        return "".join("\\" + c if c in _TEXT_SPECIAL else c for c in value)

    def inline(self, node) -> str:
        """Inline content of ``node`` as Markdown on one line."""
        if isinstance(node, str):
            return self.text(re.sub(r"\s+", " ", node))
        if "page-only" in node.classes:  # what only a page has: links between code and steps
            return ""
        if "math" in node.classes:
            return self.math(_text_of(node), display="display" in node.classes)
        if node.tag == "br":
            return " "
        inner = "".join(self.inline(c) for c in node.children)
        if node.tag == "code":
            value = _text_of(node)
            fence = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
            pad = " " if value.startswith("`") or value.endswith("`") else ""
            return f"{fence}{pad}{value}{pad}{fence}"
        if node.tag in ("em", "i") and inner.strip():
            return f"*{inner.strip()}*"
        if node.tag in ("strong", "b") and inner.strip():
            return f"**{inner.strip()}**"
        return inner

    def paragraph(self, node) -> str:
        return re.sub(r" {2,}", " ", "".join(self.inline(c) for c in node.children)).strip()

    # blocks

    def blocks(self, node) -> list[str]:
        out: list[str] = []
        for child in node.children:
            if isinstance(child, str):
                if child.strip():
                    out.append(self.text(" ".join(child.split())))
                continue
            out.extend(self.block(child))
        return out

    def block(self, node: Element) -> list[str]:
        tag = node.tag
        if tag in _SKIPPED:
            return []
        if tag in ("h1", "h2", "h3", "h4"):
            return ["#" * int(tag[1]) + " " + self.paragraph(node)]
        if tag == "p":
            return [self.paragraph(node)]
        if "math" in node.classes:
            return [self.math(_text_of(node), display=True)]
        if tag == "pre":
            return [self.code(node)]
        if tag == "table":
            return self.table(node)
        if tag == "ul":  # a list of sentences (the gate patterns): one item a line
            items = [c for c in node.children if isinstance(c, Element) and c.tag == "li"]
            return ["\n".join("- " + self.paragraph(item) for item in items)]
        if tag == "figure":
            caption = next((c for c in node.children if isinstance(c, Element) and c.tag == "figcaption"), None)
            note = "*(The figure is drawn in the HTML and PDF editions.)*"
            return [note + (" " + self.paragraph(caption) if caption else "")]
        return self.blocks(node)  # html, body, header, main, section, div

    def code(self, node: Element) -> str:
        lines = [_text_of(c, skip="number") for c in node.children if isinstance(c, Element) and "line" in c.classes]
        if not lines:
            lines = _text_of(node).splitlines()
        body = "\n".join(lines)
        fence = "`" * max(3, max((len(run) + 1 for run in re.findall(r"`+", body)), default=0))
        return f"{fence}python\n{body}\n{fence}"

    def table(self, node: Element) -> list[str]:
        """A table as a list: the columns named once, then one item per row, its cells joined."""
        rows = [e for e in _walk(node) if e.tag == "tr"]
        out = []
        for row in rows:
            cells = [c for c in row.children if isinstance(c, Element) and c.tag in ("th", "td")]
            parts = [self.paragraph(c) for c in cells]
            if all(c.tag == "th" for c in cells):
                out.append("Columns: " + " · ".join(parts) + ".")
            else:
                out.append("- " + " · ".join(p if p else "–" for p in parts))
        return [out[0], "\n".join(out[1:])] if out and out[0].startswith("Columns") else ["\n".join(out)]


def _text_of(node, skip: str = "") -> str:
    """The text inside ``node``, without that of elements of class ``skip`` (a listing's line numbers)."""
    if isinstance(node, str):
        return node
    if skip and skip in node.classes:
        return ""
    return "".join(_text_of(c, skip) for c in node.children)


def _walk(node: Element):
    for child in node.children:
        if isinstance(child, Element):
            yield child
            yield from _walk(child)
