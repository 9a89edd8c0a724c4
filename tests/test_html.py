"""The HTML and Markdown editions of the handout (``symprop/emit/web``).

The browser tests open every bundled example's page in a real headless Chromium (one browser
for all of them, ``tests/browser.py``) and check what a reader would see: every formula
typeset by KaTeX without an error, KaTeX's fonts loaded from the page itself, nothing fetched,
every in-page link landing on an anchor.  The Markdown edition goes through a CommonMark
renderer (markdown-it-py) and then through KaTeX's auto-render in the same browser, as a
plain blog would show it.  Without Chromium they skip, except in CI
(``SYMPROP_REQUIRE_BROWSER=1``, set by ``.ci/run``), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from html import escape, unescape

import pytest
from browser import Browser, needs_browser
from conftest import EXAMPLES, ROOT

import symprop
from symprop import registry
from symprop.cli import main
from symprop.emit.latex.handout import Handout
from symprop.emit.web import katex
from symprop.emit.web.markdown import to_markdown
from symprop.emit.web.markup import MarkupError, parse, plain_text, table_cells, to_html
from symprop.emit.web.page import html_source, spread_pairs
from symprop.emit.web.svg import GRADIENT, VALUE

SPECS = sorted(EXAMPLES.glob("*.yaml"))
BLOG_EXAMPLES = ("tutorial_222", "softmax_classifier", "transformer_block")
#: The README's screenshot: written when SYMPROP_UPDATE_SCREENSHOT=1 (the tests leave the tree alone otherwise).
SCREENSHOT = ROOT / "docs" / "img" / "html_page.png"

#: What the page reports once its script ran: formulas, formulas KaTeX typeset, its errors,
#: KaTeX fonts that failed to load and those that loaded, links to missing anchors, fetches,
#: figure labels that spill out of their box (SVG sizes a box by an estimate of its label).
PAGE_REPORT = """
document.fonts.ready.then(() => {
  const math = [...document.querySelectorAll(".math")];
  const fonts = [...document.fonts].filter(f => f.family.includes("KaTeX"));
  return JSON.stringify({
    math: math.length,
    typeset: math.filter(e => e.querySelector(".katex")).length,
    errors: [...document.querySelectorAll(".katex-error")].map(e => e.title + " in: " + e.textContent.slice(0, 300)),
    fonts_failed: fonts.filter(f => f.status === "error").map(f => f.family),
    fonts_loaded: fonts.filter(f => f.status === "loaded").length,
    dead_links: [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute("href"))
      .filter(h => !document.getElementById(h.slice(1))),
    fetched: performance.getEntriesByType("resource").map(r => r.name),
    overflowing: [...document.querySelectorAll("svg.figure .label.node > div")].filter(label => {
      const a = label.getBoundingClientRect(), b = label.closest("foreignObject").previousElementSibling.getBoundingClientRect();
      return Math.max(b.left - a.left, a.right - b.right, b.top - a.top, a.bottom - b.bottom) > 3;
    }).map(label => label.textContent.slice(0, 60)),
    scrolling: [...document.querySelectorAll("figure")].filter(f => {
      const style = getComputedStyle(f);
      return ["auto", "scroll"].includes(style.overflowY) && f.scrollHeight > f.clientHeight;
    }).length,
    wide: [...document.querySelectorAll("figure")].filter(f => f.scrollWidth > f.clientWidth).map(f =>
      ["auto", "scroll"].includes(getComputedStyle(f).overflowX)),
  });
})
"""


@pytest.fixture(scope="module")
def derivations():
    return {spec.stem: symprop.derive(symprop.load(spec)) for spec in SPECS}


@pytest.fixture(scope="module")
def pages(derivations, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    return {name: d.write_html(folder) for name, d in derivations.items()}


def _report(browser: Browser) -> dict:
    return json.loads(browser.evaluate(PAGE_REPORT))


# -- in a browser -------------------------------------------------------------------------------


def _page_problems(browser: Browser, path, wide: dict | None = None) -> dict:
    """What is wrong with the page at ``path`` once open in ``browser`` (nothing: an empty dict);
    ``wide``, when given, takes the number of figures wider than the page by the page's path."""
    browser.open(path)
    report = _report(browser)
    declared = browser.evaluate("document.documentElement.dataset.formulas")
    wrong = {
        "errors": report["errors"][:5],
        "untypeset": report["math"] - report["typeset"],
        "fonts_failed": report["fonts_failed"],
        "dead_links": report["dead_links"][:5],
        "fetched": report["fetched"][:5],
        "labels wider than their box in the figure": report["overflowing"][:5],
        "figures with a vertical scrollbar": report["scrolling"],  # a new user's finding
        "wide figures that do not scroll sideways": report["wide"].count(False),
    }
    wrong = {k: v for k, v in wrong.items() if v}
    if wide is not None:
        wide[path] = len(report["wide"])
    if report["math"] == 0 or declared != str(report["math"]) or report["fonts_loaded"] == 0:
        wrong["counts"] = (report["math"], declared, report["fonts_loaded"])
    return wrong


def test_every_example_page_renders_in_chromium(pages, tmp_path):
    """Every formula of every bundled example's page typeset, no KaTeX error, fonts from the page."""
    chromium = needs_browser()
    problems, wide = {}, {}
    with Browser(chromium) as browser:
        for name, path in pages.items():
            wrong = _page_problems(browser, path, wide)
            if wrong:
                problems[name] = wrong
        browser.open(pages["tutorial_222"], width=1000, height=1500)
        shot = tmp_path / "html_page.png"
        browser.screenshot(shot)
    assert problems == {}
    # lstm's and embedding_gru's figures are wider than the page, and scroll sideways (checked above)
    assert wide[pages["lstm"]] and wide[pages["embedding_gru"]] and not wide[pages["tutorial_222"]]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("SYMPROP_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


#: A graph of scalars with a target and a learning rate: its figure carries values and gradients,
#: its worked example takes a step of gradient descent node by node (no bundled example does both).
SCALAR_STEP = {
    "name": "scalar_step",
    "inputs": {"x": []},
    "targets": {"t": []},
    "params": {"w": [], "b": []},
    "nodes": {"y": "sigmoid(w*x + b)"},
    "loss": "half_sse(y, t)",
    "example": {"x": 0.5, "t": 1.0, "learning_rate": 0.1, "params": {"w": 2.0, "b": -1.0}},
}


def test_the_student_edition_and_a_graph_step_render_in_chromium(derivations, tmp_path):
    """The student edition's pages (a layer stack, a graph spec, the computational graph) and a
    graph spec's step of gradient descent, as the examples' pages are checked."""
    pages = {
        f"{n}_student": derivations[n].write_html(tmp_path, "student")
        for n in ("tutorial_222", "residual_block", "cs231n_neuron")
    }
    assert sorted(p.name for p in pages.values()) == [
        "cs231n_neuron_student.html",
        "residual_block_student.html",
        "tutorial_222_student.html",
    ]
    step = symprop.derive(symprop.from_dict(SCALAR_STEP))
    pages["scalar_step"] = step.write_html(tmp_path)
    assert "<h3>One step of gradient descent</h3>" in pages["scalar_step"].read_text(encoding="utf-8")
    with Browser(needs_browser()) as browser:
        problems = {name: wrong for name, path in pages.items() if (wrong := _page_problems(browser, path))}
    assert problems == {}


def test_the_markdown_edition_survives_commonmark_and_auto_render(derivations, tmp_path):
    """Each example's Markdown through markdown-it (CommonMark, and a blog's typographer on top),
    then KaTeX's auto-render in Chromium: every formula of the HTML page comes out exactly and
    typesets without an error."""
    markdown_it = pytest.importorskip("markdown_it")
    renderers = {
        "commonmark": markdown_it.MarkdownIt("commonmark"),
        "typographer": markdown_it.MarkdownIt("commonmark", {"typographer": True}).enable(["replacements", "smartquotes"]),
    }
    files, expected = {}, {}
    for name, d in derivations.items():
        page = d.html()
        markdown = to_markdown(page)
        # the figure's labels are not in the Markdown edition: left out where they stand (removing them
        # by value took page 1's $x$ before the figure's once page 1 named the inputs in math)
        outside = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
        formulas = [unescape(f) for f in re.findall(r'class="math(?: display)?">(.*?)</(?:span|div)>', outside, re.S)]
        for kind, renderer in renderers.items():
            body = renderer.render(markdown)
            found = _auto_render_segments(unescape(re.sub(r"<[^>]+>", "", body)))
            assert [" ".join(f.split()) for f in formulas] == found, f"{name} ({kind}): a formula did not survive"
        if name in BLOG_EXAMPLES:  # the browser confirms auto-render finds and typesets them (a few suffice:
            # the formulas are those the page test typesets, and their text was just checked for all)
            expected[name] = len(formulas)
            files[name] = tmp_path / f"{name}.html"
            files[name].write_text(_blog_page(renderers["typographer"].render(markdown)), encoding="utf-8")
    chromium = needs_browser()
    problems = {}
    with Browser(chromium) as browser:
        for name, path in files.items():
            browser.open(path)
            result = json.loads(
                browser.evaluate(
                    'JSON.stringify({katex: document.querySelectorAll(".katex").length,'
                    ' errors: [...document.querySelectorAll(".katex-error")].map(e => e.title)})'
                )
            )
            if result["errors"] or result["katex"] != expected[name]:
                problems[name] = (result["katex"], expected[name], result["errors"][:3])
    assert problems == {}


def test_every_op_activation_and_loss_typesets(tmp_path):
    """Beyond the examples: every formula that the handout of each op's sample (``test_ops``),
    of every activation and loss, and of a formula using every function, puts on a page,
    gathered on one sheet and typeset by KaTeX in Chromium without an error: each LaTeX macro
    the handout can write is one KaTeX reads."""
    from test_ops import OP_SAMPLES

    specs = [{"name": f"sample_{op.__name__.lower()}", **body} for op, body in OP_SAMPLES.items()]
    activations = sorted(set(registry.ACTIVATIONS) - {"swish"})  # swish: silu's alias
    layers = [{"units": 4, "activation": a} for a in activations]
    specs.append({"name": "every_activation", "input": 4, "layers": layers, "loss": "huber"})
    for loss in sorted(set(registry.LOSSES) - {"cross_entropy"}):  # cross-entropy: in the op samples
        specs.append({"name": f"loss_{loss}", "input": 2, "layers": [{"units": 2, "activation": "sigmoid"}], "loss": loss})
    every_function = "abs(z) + sign(z) + step(z) + max(z, 0) + min(z, 1) + erf(z) + log1p(z*z) + expm1(z) + cosh(z)"
    layers = [{"units": 2, "activation": "f"}]
    specs.append({"name": "every_function", "input": 2, "functions": {"f": every_function}, "layers": layers, "loss": "mae"})
    formulas = {}
    for spec in specs:
        page = symprop.derive(symprop.from_dict(spec)).html()
        for kind, tex in re.findall(r'class="math( display)?">(.*?)</(?:span|div)>', page, re.S):
            formulas.setdefault((unescape(tex), bool(kind)), spec["name"])
    sheet = "".join(
        f'<div class="math{" display" if display else ""}" data-from="{name}">{escape(tex, quote=False)}</div>'
        for (tex, display), name in formulas.items()
    )
    path = tmp_path / "sheet.html"
    path.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{katex.style()}</style></head><body>{sheet}'
        f"<script>{katex.script()}</script><script>"
        'document.querySelectorAll(".math").forEach(e => katex.render(e.textContent, e,'
        ' {displayMode: e.classList.contains("display"), throwOnError: false}));</script></body></html>',
        encoding="utf-8",
    )
    with Browser(needs_browser()) as browser:
        browser.open(path)
        result = json.loads(
            browser.evaluate(
                'JSON.stringify({katex: document.querySelectorAll(".math > .katex, .math > .katex-display").length, errors:'
                ' [...document.querySelectorAll(".katex-error")].map(e => e.closest(".math").dataset.from + ": " + e.title)})'
            )
        )
    assert result == {"katex": len(formulas), "errors": []}


def _auto_render_segments(text: str) -> list[str]:
    r"""The math KaTeX's auto-render finds with its default delimiters ($$..$$, \(..\)), in order."""
    found = []
    for match in re.finditer(r"\$\$(.*?)\$\$|\\\((.*?)\\\)", text, re.S):
        found.append(" ".join((match.group(1) if match.group(1) is not None else match.group(2)).split()))
    return found


def _blog_page(body: str) -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{katex.style()}</style></head><body>{body}'
        f"<script>{katex.script()}</script><script>{katex.auto_render()}</script>"
        "<script>renderMathInElement(document.body, {throwOnError: false});</script></body></html>"
    )


# -- without a browser ----------------------------------------------------------------------------


def test_the_page_is_self_contained_and_deterministic(derivations):
    d = derivations["tutorial_222"]
    page = d.html()
    assert page == d.html()
    assert not re.search(r"""(?:src|href)=["']?(?:https?:|//)""", page), "the page links something outside itself"
    assert "url(fonts/" not in page and page.count("data:font/woff2;base64,") == 20
    assert f"KaTeX {katex.KATEX_VERSION}" in page


def test_the_page_shows_what_the_handout_shows(derivations):
    """The same derivation: every backward step's formulas and NumPy lines, every section."""
    for name in ("tutorial_222", "residual_block", "self_attention"):
        d = derivations[name]
        handout = Handout(d)
        context = handout.context()
        page = d.html()
        for item in context["backward"]:
            for form in item.get("forms", []):
                assert escape(form, quote=False) in page, (name, form)
            if "step" in item:
                assert f'id="step-{item["step"]}"' in page
        for lines in handout.numpy_lines:  # backward()'s lines, as the NumPy emitter writes them
            for line in lines:
                assert escape(line.code, quote=False) in page, (name, line.code)
        titles = re.findall(r"\\section\{([^}]*)\}", d.latex())
        assert titles == [unescape(t) for t in re.findall(r"<h2>(.*?)</h2>", page)], name


def _headings(page: str) -> list[str]:
    """The page's section, subsection and paragraph headings (h2, h3, h4) as plain text, math as its LaTeX."""
    return [unescape(re.sub(r"<[^>]+>", "", h)) for h in re.findall(r"<h[234][^>]*>(.*?)</h[234]>", page, re.S)]


def _latex_headings(source: str) -> list[str]:
    """The handout's ``\\section``, ``\\subsection`` and ``\\paragraph`` titles, read as the page reads prose."""
    out = []
    for match in re.finditer(r"\\(?:section|subsection\*?|paragraph)\{", source):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(source[i], 0)
            i += 1
        out.append(plain_text(parse(source[match.end() : i - 1])))
    return out


@pytest.mark.parametrize("edition", ["full", "student"])
def test_every_page_has_the_handouts_headings_in_order(derivations, edition):
    """Same sections, subsections and paragraphs as the LaTeX handout of that edition, in its order."""
    for name, d in derivations.items():
        assert _headings(d.html(edition)) == _latex_headings(d.latex(edition)), (name, edition)


def test_the_student_edition_leaves_the_code_out(derivations):
    """No NumPy line, no module name, no listing: what the student handout leaves out."""
    for name in ("tutorial_222", "residual_block", "cs231n_neuron", "lstm"):
        d = derivations[name]
        page = d.html("student")
        content = page.split("<script>")[0]
        assert ", student edition</p>" in content and "student edition" not in d.html()
        for lines in Handout(d).numpy_lines:
            for line in lines:
                assert escape(line.code, quote=False) not in content, (name, line.code)
        for word in ("NumPy", 'class="numpy"', 'id="code"', 'href="#line-'):
            assert word not in content, (name, word)
        # (the student handout still names backward() where a long one leaves steps out)
        assert content.count("backward()") == d.latex("student").count("backward()"), name
        markdown = to_markdown(page)
        assert "```" not in markdown and "NumPy" not in markdown and "## The code" not in markdown
        assert "## Backpropagation, step by step" in markdown


def test_the_student_edition_says_nothing_about_code(derivations):
    """A new user's finding: the student edition still said "the module returns its mean over the
    batch" (and "backward() in the module has them all", "the NumPy line reads those windows").
    It says what a batch's loss is instead, in LaTeX, HTML and Markdown."""
    said = re.compile(r"\bmodule\b|NumPy|backward\(\)|Python", re.I)
    for name, d in derivations.items():
        page = d.html("student").split("<script>")[0].split("</style>")[-1]
        for edition, source in (("latex", d.latex("student")), ("html", page), ("md", to_markdown(page))):
            assert not said.findall(source), (name, edition, said.findall(source))
        assert "module returns its mean over the batch" in d.latex() or "module returns the mean" in d.latex(), name
    student = derivations["tutorial_222"].latex("student")
    assert "}{2}$; the loss of a batch is its mean over the samples." in student
    assert "The loss of a batch of $N$ samples is the mean, $E_{\\text{batch}}" in student


def test_the_figure_draws_gates_values_and_gradients(derivations):
    """The computational graph as the lecture draws it: each gate in its box, each edge's value
    and gradient on it, the loss's on the arrow out of it; bent edges as curves."""
    d = derivations["cs231n_neuron"]
    figure = Handout(d).context()["figure"]
    svg = re.search(r"<svg.*?</svg>", d.html(), re.S).group(0)
    labels = [unescape(m) for m in re.findall(r'class="math">(.*?)</span>', svg)]
    gates = [n["gate"] for n in figure["nodes"] if n["gate"]]
    numbers = [x for e in figure["edges"] for x in (e["value"], e["gradient"])] + [
        figure["out"]["value"],
        figure["out"]["gradient"],
    ]
    for tex in gates + numbers:
        assert tex in labels, tex
    assert svg.count(f'style="color:{VALUE}"') == len(figure["edges"]) + 1
    assert svg.count(f'style="color:{GRADIENT}"') == len(figure["edges"]) + 1
    bent = derivations["residual_block"]  # bent over and under
    curves = re.findall(r'<path d="M[^"]* C', re.search(r"<svg.*?</svg>", bent.html(), re.S).group(0))
    assert len(curves) == sum(1 for e in Handout(bent).context()["figure"]["edges"] if e["bend"]) > 0


def test_table_cells_and_align_pairs():
    assert table_cells(r" & $\frac{a}{b}$ & ${w^{(2)}_{jk}}^{+}$") == ["", r"$\frac{a}{b}$", r"${w^{(2)}_{jk}}^{+}$"]
    assert table_cells(r"$a & b$ & x \& y & {c & d}") == ["$a & b$", r"x \& y", "{c & d}"]
    row = r"a &= \begin{pmatrix} 1 & 2 \end{pmatrix} & b &= 2 \\ &= 3 & c &= {x & y} && \text{r}"
    assert spread_pairs(row) == (
        r"a &= \begin{pmatrix} 1 & 2 \end{pmatrix} &\quad  b &= 2 \\ &= 3 &\quad  c &= {x & y} &\quad & \text{r}"
    )


def test_each_code_line_links_to_its_step_and_back(derivations):
    page = derivations["tutorial_222"].html()
    listing = re.findall(r'<a class="line" id="line-(\d+)" href="#step-(\d+)">', page)
    assert [n for n, _ in listing] == [str(i) for i in range(1, len(listing) + 1)] and len(listing) == 6
    for number, step in listing:
        assert f'id="step-{step}"' in page and f'href="#line-{number}"' in page


def test_user_text_is_escaped(tmp_path):
    spec = {
        "name": "esc",
        "input": 2,
        "functions": {"my_f": "z * sigmoid(z)"},
        "layers": [{"units": 2, "activation": "my_f"}],
        "loss": "half_sse",
    }
    d = symprop.derive(symprop.from_dict(spec, source='<img src=x onerror="alert(1)">&.yaml'))
    page = d.html()
    content = page.split("<script>")[0]  # KaTeX's own script writes tags
    assert "<img " not in content and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;.yaml" in content
    markdown = d.markdown()
    assert '`<img src=x onerror="alert(1)">&.yaml`' in markdown  # a code span: CommonMark shows it verbatim
    markdown_it = pytest.importorskip("markdown_it")
    assert "<img" not in markdown_it.MarkdownIt("commonmark").render(markdown)


def test_the_markup_reader_knows_the_handouts_prose_and_refuses_the_rest():
    assert to_html(parse(r"$\partial E / \partial h$: back through \texttt{dW\_1}, \emph{a < b}")) == (
        '<span class="math">\\partial E / \\partial h</span>: back through <code>dW_1</code>, <em>a &lt; b</em>'
    )
    small = to_html(parse(r"$x$\\\footnotesize 30{,}784 \textbackslash{}"))
    assert small == '<span class="math">x</span><br><small>30,784 \\</small>'
    # a TikZ caption's line after \\ repeats the size (its node forgets it): one <small>, not one in another
    lines = to_html(parse(r"a\\\footnotesize b\\\footnotesize with $c = 0.5$"))
    assert lines == 'a<br><small>b<br>with <span class="math">c = 0.5</span></small>'
    for bad in (r"\textbf{x}", "$x", "{x", "x}", r"\texttt{$x$}"):
        with pytest.raises(MarkupError):
            parse(bad)


def test_every_example_context_reads_as_prose(derivations):
    """Every example's page builds: no prose the markup reader was not taught."""
    for name, d in derivations.items():
        assert html_source(d).startswith("<!DOCTYPE html>"), name


def test_cli_writes_the_web_editions(tmp_path):
    spec = str(EXAMPLES / "tutorial_222.yaml")
    assert main(["derive", spec, "-o", str(tmp_path / "a"), "--emit", "html,md"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["tutorial_222.html", "tutorial_222.md"]
    assert main(["derive", spec, "-o", str(tmp_path / "s"), "--emit", "all", "--edition", "student"]) == 0
    written = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert written == ["tutorial_222.py", "tutorial_222_student.html", "tutorial_222_student.md", "tutorial_222_student.tex"]
    d = symprop.derive(symprop.load(spec))
    assert (tmp_path / "s" / "tutorial_222_student.html").read_text(encoding="utf-8") == d.html("student")
    assert (tmp_path / "s" / "tutorial_222_student.md").read_text(encoding="utf-8") == d.markdown(edition="student")
    assert d.write_markdown(tmp_path / "w", "student") == tmp_path / "w" / "tutorial_222_student.md"
    assert main(["derive", spec, "-o", str(tmp_path / "b")]) == 0  # the default: module and handout
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["tutorial_222.py", "tutorial_222.tex"]
    with pytest.raises(SystemExit):
        main(["derive", spec, "-o", str(tmp_path / "c"), "--emit", "htm"])
    assert main(["derive", spec, "-o", str(tmp_path / "d"), "--emit", "html", "--pdf"]) == 2
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_the_notebook_markdown_is_the_whole_derivation(derivations):
    d = derivations["tutorial_222"]
    shown = d._repr_markdown_()
    for section in ("## The network", "## Backpropagation, step by step", "## Worked example", "## The code"):
        assert section in shown
    assert r"$$ \begin{aligned}" in shown and "= 0.02193381 + 0.00203809 = 0.02397190" in shown  # LaTeX as it is, for Jupyter
    assert "```python\ndA2 = (A2 - T) / N" in shown


def test_the_layer_table_names_an_activation_once():
    """A new user's finding: the layer table printed "tanh (tanh)", the function's LaTeX name and
    its registry name, the same word twice (HTML and LaTeX); sigma (sigmoid) keeps both."""
    spec = {"name": "xor_net", "input": 2, "loss": "binary_cross_entropy",
            "layers": [{"units": 2, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}]}  # fmt: skip
    d = symprop.derive(symprop.from_dict(spec))
    page, tex = d.html(), d.latex()
    assert "(tanh)</td>" not in page and '<td>1</td><td>2</td><td><span class="math">\\tanh</span></td>' in page
    assert "1 & 2 & $\\tanh$ & $W^{(1)}$" in tex and "$\\tanh$ (tanh)" not in tex
    assert "2 & 1 & $\\sigma$ (sigmoid) &" in tex


#: The least gap (cm) between a weight's label and an edge crossing its own: the SVG's estimate of
#: a label's size is about 10% short of TikZ's (w21 = W3: 1.37 against 1.52 cm).
CLEARANCE = 0.15


def _corners_clear_of_crossing_edges(figure) -> list[tuple[str, str]]:
    """(label, crossing edge's label) for each weight label of a neuron figure whose box (as the SVG
    estimates its size: ``label_size``) reaches over, or within ``CLEARANCE`` of, an edge that
    crosses its own."""
    from symprop.emit.web.svg import PX, label_place, label_size

    at = {n["name"]: (float(n["x"]), float(n["y"])) for n in figure["nodes"]}
    radius = float(figure["size"].removesuffix("mm")) / 20
    edges = [e for e in figure["edges"] if e["label"]]

    def side(point, a, b) -> float:
        return (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0])

    found = []
    for e in edges:
        (ax, ay), (bx, by) = at[e["source"]], at[e["target"]]
        length = ((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5
        ux, uy = (bx - ax) / length, (by - ay) / length
        position, where = label_place(e["place"])
        px, py = ax + ux * (radius + position * (length - 2 * radius)), ay + uy * (radius + position * (length - 2 * radius))
        width, height = (v / PX for v in label_size(f"${e['label']}$", 0.8))
        nx, ny = (uy, -ux) if where == "below" else (-uy, ux)
        ends, depths = (-width / 2, width / 2), (0.03, 0.03 + height)
        corners = [(px + s * ux + d * nx, py + s * uy + d * ny) for s in ends for d in depths]
        for other in edges:
            a, b = at[other["source"]], at[other["target"]]
            crossing = other is not e and side(at[e["source"]], a, b) * side(at[e["target"]], a, b) < 0
            far = ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5
            gaps = [side(c, a, b) / far for c in corners]  # signed distances in cm
            if crossing and (len({g > 0 for g in gaps}) > 1 or min(map(abs, gaps)) < CLEARANCE):
                found.append((str(e["label"]), str(other["label"])))
    return found


def test_weight_labels_keep_off_the_edges_that_cross_theirs():
    """A new user's finding: in tutorial_222's figure (PDF and HTML, same coordinates) w21 = W3
    ran into the edge of w12, and w12 = W2 into that of w21: the X of two crossing edges is now
    taller where the labels are long (the tutorial's names)."""
    from symprop.emit.latex.handout import Handout

    for name in ("tutorial_222", "layer_equations_222"):
        figure = Handout(symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml"))).figure()
        assert figure["kind"] == "neurons" and _corners_clear_of_crossing_edges(figure) == [], name
    spec = {"name": "xor_net", "input": 2, "loss": "binary_cross_entropy",
            "layers": [{"units": 2, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}]}  # fmt: skip
    assert _corners_clear_of_crossing_edges(Handout(symprop.derive(symprop.from_dict(spec))).figure()) == []


def test_constants_and_words_in_products_read_as_in_the_pdf():
    """A teacher's finding (custom_swish): z sigma(beta z) read "betaz", and leaky_relu's alpha was
    missing from the layer table and the figure while a formula's beta was there; the web page
    reads as the PDF does: a thin space after the word, every constant as the spec gives it."""
    page = symprop.derive(symprop.load(EXAMPLES / "custom_swish.yaml")).html()
    assert r"z \sigma(\mathrm{beta} \, z)" in page and r"\mathrm{beta} z" not in page
    assert '<td>leaky_relu with <span class="math">\\mathrm{alpha} = 0.1</span></td>' in page  # the layer table
    assert '<br>with <span class="math">\\mathrm{alpha} = 0.1</span>' in page  # the figure's caption
    assert r"\frac{1}{10}</span>" not in page


@pytest.mark.parametrize("name", ["tutorial_222", "concat_two_inputs", "batchnorm_mlp"])
def test_the_batch_mean_sentence_is_one_sentence_in_both_templates(derivations, name):
    """The sentence on a batch's mean was chosen by ``show.numpy`` in three places of each
    template; Python writes it once (``Handout.batch_sentence``), for the PDF and the page, the
    full and the student edition, a layer stack, a graph spec and one normalised over the batch."""
    d = derivations[name]
    for edition, mean in (("full", "For a batch of $N$ samples the module returns the mean"),
                          ("student", "The loss of a batch of $N$ samples is the mean")):  # fmt: skip
        tex, page = d.latex(edition), d.html(edition)
        assert tex.count(mean) == 1, (name, edition)
        assert page.count(mean.replace("$N$", '<span class="math">N</span>')) == 1, (name, edition)
    full = d.latex()
    if name == "tutorial_222":
        assert r"$E_{\text{batch}} = \frac{1}{N} \sum_{s=1}^{N} E_s$; every gradient below" in full
        assert "and the module averages them over the batch." in full
    elif name == "batchnorm_mlp":
        assert "the mean over the samples, and every gradient below is the gradient of that batch loss" in full
    else:
        assert "the mean over the samples; every gradient below is the gradient of one sample's $E$." in full
