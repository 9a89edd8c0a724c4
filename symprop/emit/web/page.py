"""The HTML edition of the handout: one self-contained page per network.

The page is built from the LaTeX handout's own template context (``Handout.context()``): the
same sections, formulas, steps, NumPy lines and numbers, so the two editions cannot tell
different stories.  ``templates/handout.html.j2`` arranges them; the filters below say how a
value of that context is shown on a page (a formula typeset by KaTeX, prose read back from
LaTeX by ``markup``, rows of an ``align`` as one ``aligned`` display).  Everything that is not
marked up here is escaped by Jinja's HTML autoescaping, so no text from a spec can inject
markup.  What only a page has is added here: the figure as SVG (``svg``), the anchors that
link every line of ``backward()`` to the step it computes and back, and KaTeX (``katex``),
inlined so that the page needs nothing beside it.  Output is deterministic, like the handout.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from ... import templating
from ...errors import SymPropError
from ..latex.handout import Handout, latex_file_name
from ..latex.limits import CODE_MAX_LINES
from ..latex.unrolled import Gap, gapped
from . import katex
from .markup import math_html, parse, plain_text, table_cells, to_html
from .svg import figure_svg

if TYPE_CHECKING:
    from ...derivation import Derivation


def html_source(derivation: Derivation, edition: str = "full") -> str:
    """The HTML edition of ``derivation``'s handout in ``edition`` (``full``, ``student``: the
    LaTeX handout's editions, ``Handout``'s ``show`` flags): a complete page."""
    handout = Handout(derivation, edition)
    context = handout.context()
    steps, listing = {}, []
    if context["show"]["numpy"]:  # the NumPy lines beside the steps, and backward() in full
        steps = code_lines(handout)
        lines = [line for step in steps.values() for line in step]
        shown = gapped(lines, [True] * len(lines), CODE_MAX_LINES)
        # Links only to what the page shows: a long handout leaves steps out, a long listing lines.
        shown_steps = {item["step"] for item in context["backward"] if "step" in item}
        listed = {line["number"] for line in shown if not isinstance(line, Gap)}
        for line in lines:
            line["to_listing"] = line["number"] in listed
            line["to_step"] = line["step"] in shown_steps
        listing = [{"gap": f"... {len(x.items)} more lines ..."} if isinstance(x, Gap) else x for x in shown]
    page = {
        **context,
        "title": f"Backpropagation, derived step by step: {derivation.network.name}",
        "figure_svg": Markup(figure_svg(context["figure"])) if context["figure"] else None,
        "step_lines": steps,
        "listing": listing,
        "katex_version": katex.KATEX_VERSION,
        "katex_style": Markup(katex.style()),
        "katex_script": Markup(katex.script()),
    }
    return environment().get_template("handout.html.j2").render(**page)


def write_html(derivation: Derivation, directory: str | Path, edition: str = "full") -> Path:
    """Write ``<name>.html`` (the student edition ``<name>_student.html``) into ``directory``
    (created if needed); returns its path."""
    return write_edition(derivation, directory, ".html", lambda d: html_source(d, edition), edition)


def write_edition(derivation: Derivation, directory: str | Path, suffix: str, source, edition: str = "full") -> Path:
    """Write the text ``source(derivation)`` into ``directory`` (created if needed), named as the
    LaTeX handout of ``edition`` is (``latex_file_name``) but with ``suffix``; returns its path."""
    name = derivation.name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise SymPropError(f"network name {name!r} cannot be used as a file name; use letters, digits and '_'")
    directory = Path(directory)
    text = source(derivation)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / edition_file_name(name, edition, suffix)
    path.write_text(text, encoding="utf-8")
    return path


def edition_file_name(name: str, edition: str, suffix: str) -> str:
    """``<name><suffix>``, the student edition ``<name>_student<suffix>``: as the LaTeX handout's."""
    return str(Path(latex_file_name(name, edition)).with_suffix(suffix))


def code_lines(handout: Handout) -> dict[int, list[dict]]:
    """The lines of the module's ``backward()`` by derivation step, numbered from 1 in the order
    of the function: a line's anchor is ``line-N``, its step's ``step-I``."""
    out, number = {}, 0
    for i, lines in enumerate(handout.numpy_lines):
        out[i] = []
        for line in lines:
            number += 1
            out[i].append({"number": number, "step": i, "code": line.code})
    return out


# -- how the template shows a value --------------------------------------------------------


def prose(tex: str | None) -> Markup:
    """LaTeX prose of the handout (words, ``$...$``, ``\\texttt``) as HTML."""
    return Markup(to_html(parse(tex or "")))


def inline(tex: str) -> Markup:
    return Markup(math_html(tex))


def display(tex: str) -> Markup:
    return Markup(math_html(tex, display=True))


def rows(lines: list[str], environment: str = "aligned", separator: str = r"\\") -> Markup:
    r"""Rows of an ``align*`` (``gather*``: ``environment="gathered"``) as one display each run;
    an ``\intertext{...}`` row (a gap's note) becomes a paragraph between two displays."""
    out, run = [], []

    def close():
        if run:
            body = f" {separator}\n".join(run)
            out.append(math_html(rf"\begin{{{environment}}}{body}\end{{{environment}}}", display=True))
            run.clear()

    for line in lines:
        match = re.fullmatch(r"\\intertext\{(.*)\}", line.strip(), re.S)
        if match:
            close()
            out.append(f'<p class="gap">{to_html(parse(match.group(1)))}</p>')
        else:
            run.append(spread_pairs(line) if environment == "aligned" else line)
    close()
    return Markup("\n".join(out))


def spread_pairs(row: str) -> str:
    r"""An ``align`` row with a ``\quad`` more before each pair of columns after the first
    (``a &= 1 & b &= 2``: two equations side by side).  LaTeX's ``align*`` spreads the pairs
    over the line; KaTeX's ``aligned`` sets them 1em apart, where they read as one equation."""
    out, depth, column, i = [], 0, 0, 0
    while i < len(row):
        environment = re.match(r"\\(begin|end)\{[^{}]*\}", row[i:])
        if environment:  # a matrix's & are its own
            depth += 1 if environment.group(1) == "begin" else -1
            out.append(environment.group(0))
            i += environment.end()
            continue
        if row.startswith("\\\\", i) and depth == 0:  # a new line of the row: its first column again
            column = 0
        if row[i] == "\\":
            out.append(row[i : i + 2])
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(row[i], 0)
        out.append(row[i])
        if row[i] == "&" and depth == 0:
            column += 1
            if column % 2 == 0:
                out.append(r"\quad ")
        i += 1
    return "".join(out)


def derivative_rows(item: dict) -> list[str]:
    r"""A local derivative's rows, as the LaTeX handout's ``align*`` writes them: the definition,
    then each step with its reason (``&& \text{...}``), the one the backward pass uses boxed."""
    out = [f"{item['f']} &= {item['definition']}"]
    for i, line in enumerate(item["lines"]):
        rhs = rf"\boxed{{{line.rhs}}}" if line.boxed else line.rhs
        out.append(f"{item['fprime'] if i == 0 else ''} &= {rhs} && \\text{{{line.reason}}}")
    return out


def cells(row: str) -> list[str]:
    """The cells of a row of one of the handout's tables (LaTeX ``a & b & c``), each prose."""
    return table_cells(row)


def text(tex: str) -> str:
    """Prose as plain text (for a title attribute): Jinja escapes it."""
    return plain_text(parse(tex or ""))


def environment() -> jinja2.Environment:
    env = templating.environment(autoescape=True)
    env.filters.update(
        prose=prose, math=inline, display=display, rows=rows, text=text, derivative_rows=derivative_rows, cells=cells
    )
    return env
