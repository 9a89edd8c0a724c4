"""The handout read as a teacher reads it before handing it out: each test here catches one
kind of defect found that way (issue 13) coming back, on every example it can reach.

The kinds: a derivation step labelled with what it does not do; ``X = X``; a product of sums
printed without its brackets; names that read as layers or run together; index letters that
change between lines; a chain rule whose labels do not multiply out; the same gradient
derived several times; slips of grammar and arithmetic ("1 parameters", ``(1/1) sum``).
"""

from __future__ import annotations

import re
import zlib

import pytest
import sympy as sp
from conftest import EXAMPLES, needs_tex
from test_latex import example_specs

import symprop
from symprop import registry
from symprop.cli import main
from symprop.emit.latex import EDITIONS, compile_pdf, latex_source
from symprop.emit.latex.derivative_steps import derivative_lines, displayed_definition, readable_derivative
from symprop.emit.latex.handout import Handout
from symprop.errors import SymPropError


def derive(name: str):
    return symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml"))


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    """Every example's handout (full edition), by name."""
    return {path.stem: latex_source(symprop.derive(symprop.load(path))) for path in example_specs()}


# -- the local derivatives: every step says what it does ----------------------------------


def local_sections(name: str) -> list[dict]:
    return Handout(derive(name)).local_derivatives()


def test_a_formula_activations_derivative_is_written_as_a_teacher_writes_it():
    """A teacher's finding: softsq ``z / (1 + 0.5 z^2)`` showed its derivative as the backward
    pass computes it, ``2(1 - 2z^2/(z^2+2))/(z^2+2)``; the page boxes the shortest equal form,
    ``2(2 - z^2)/(z^2+2)^2``, and says it is an equal form of what the backward pass computes."""
    spec = {
        "name": "softsq",
        "input": 2,
        "functions": {"softsq": "z / (1 + 0.5 * z**2)"},
        "layers": [{"units": 2, "activation": "softsq"}, {"units": 1, "activation": "identity"}],
        "loss": "mse",
    }
    d = symprop.derive(symprop.from_dict(spec))
    section = latex_source(d).split(r"\subsection{Activation softsq (a formula from the spec)}")[1].split(r"\subsection")[0]
    boxed = r"\boxed{\frac{2 (2 - z^{2})}{(z^{2} + 2)^{2}}}"
    assert boxed + r" && \text{simplified (equal to the backward pass's form, shorter)}" in section
    # the quotient rule's products with a dot: u v' = z z read as z^2 or a typo (a teacher's finding)
    assert r"- z \cdot z}" in section
    computed = next(node.op for node in d.graph.nodes.values() if node.op.activation and node.op.name == "softsq").derivative
    shown = readable_derivative(computed)
    assert shown != computed and sp.simplify(shown - computed) == 0
    swish = local_sections("custom_swish")  # equally long forms: the computed one stays, and says so
    assert any("as the backward pass computes it" in str(line.reason) for s in swish for line in s["lines"])


def test_the_sigmoid_step_is_justified_as_the_tutorial_does():
    """The key step of sigmoid' = sigma (1 - sigma): add and subtract 1 in the numerator."""
    (sigmoid, _) = local_sections("tutorial_222")
    reasons = [line.reason for line in sigmoid["lines"]]
    rhs = [line.rhs for line in sigmoid["lines"]]
    step = reasons.index("1 added and subtracted in the numerator")
    assert r"(1 + e^{- z}) - 1" in rhs[step]
    assert reasons[step - 1] == "the denominator split in two" and reasons[step + 1].startswith("the fraction split")
    assert not any("SymPy" in r or "definition of the function" in r for r in reasons)


def test_tanh_is_derived_from_its_exponentials():
    tanh = next(s for s in local_sections("residual_block") if s["title"] == "Activation tanh")
    assert tanh["definition"] == r"\frac{e^{z} - e^{- z}}{e^{z} + e^{- z}}"  # not tanh(z) = tanh(z)
    reasons = [line.reason for line in tanh["lines"]]
    assert reasons[0].startswith("quotient rule") and "the first fraction is 1" in reasons
    assert tanh["lines"][-1].rhs == "1 - a^{2}" and tanh["lines"][-1].boxed


@pytest.mark.parametrize("name", sorted(registry.ACTIVATIONS))
def test_every_step_label_describes_its_line(name):
    """A step said to make fractions shows one; one said to name the function names it; the
    definition is never defined by itself."""
    entry = registry.ACTIVATIONS[name]
    constants = entry.constant_values()
    definition = displayed_definition(entry.definition_at(registry.Z, constants))
    presentation = entry.derivative_in_output(constants) if entry.present else None
    lines = derivative_lines(definition, registry.Z, presentation, None)
    assert lines and lines[-1].boxed
    for line in lines:
        if "fraction" in line.reason or "denominator" in line.reason or "numerator" in line.reason:
            assert r"\frac" in line.rhs, (name, line)
        assert "SymPy's derivative" not in line.reason and "definition of the function" not in line.reason
    f = entry.latex or name
    assert sp.latex(definition) != f"{f}(z)"


# -- brackets: every term of a backward step carries the adjoint it sends back ------------


def top_level_split(tex: str, separators: tuple[str, ...]) -> list[str]:
    """``tex`` split at ``separators`` outside every bracket ({}, (), [])."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(tex):
        c = tex[i]
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif depth == 0:
            hit = next((s for s in separators if tex.startswith(s, i)), None)
            if hit:
                parts.append(tex[start:i])
                i += len(hit)
                start = i
                continue
        i += 1
    parts.append(tex[start:])
    return parts


ADJOINT = re.compile(r"\\partial E\}|\\delta\^")


def unbracketed_sums(form: str) -> list[str]:
    """The right-hand sides of ``form`` in which some top-level term carries an adjoint
    (dE/d..., a layer's delta) and another does not: a backward step is linear in the adjoints
    it receives, so such a line is a product of sums printed without its brackets
    (``dE/dE_a . y_j - t_j``)."""
    bad = []
    for side in top_level_split(form, (" = ", r" \mathrel{+}= ", " += "))[1:]:
        terms = [t for t in top_level_split(side, (" + ", " - ")) if t.strip()]
        carrying = [bool(ADJOINT.search(t)) for t in terms]
        if any(carrying) and not all(carrying):
            bad.append(side)
    return bad


def test_the_bracket_checker_finds_the_defect_of_issue_13():
    assert unbracketed_sums(r"\frac{\partial E}{\partial y_{j}} = \frac{\partial E}{\partial E_{a}} \cdot y_{j} - t_{j}")
    assert not unbracketed_sums(r"\frac{\partial E}{\partial y_{j}} = \frac{\partial E}{\partial E_{a}} \cdot (y_{j} - t_{j})")
    assert not unbracketed_sums(r"\delta^{(1)}_{j} = \Bigl(\sum_{i} \delta^{(2)}_{i} w_{ij}\Bigr) \cdot a_{j} (1 - a_{j})")


@pytest.mark.parametrize("path", example_specs(), ids=lambda p: p.stem)
def test_no_backward_step_prints_a_product_of_sums_without_brackets(path):
    h = Handout(symprop.derive(symprop.load(path)))
    for step in h.d.steps:
        for form in h.step_math(step)[:2]:
            assert not unbracketed_sums(form), form


# -- no X = X ---------------------------------------------------------------------------------


def _normal(side: str) -> str:
    side = re.sub(r"\\(left|right|bigl|bigr|Bigl|Bigr)(?=[()\[\]|.])", "", side)
    return re.sub(r"\s+|&|\\[,;:!]|\\quad", "", side)


def equal_neighbours(source: str) -> list[str]:
    """Equations of ``source`` in which one side is followed by the very same side (``E = E``,
    ``tanh(z) = tanh(z)``), ignoring alignment marks, spaces and bracket sizes."""
    found = []
    for line in re.split(r"\\\\|\n", source):
        sides = [_normal(s) for s in top_level_split(line, ("=",))]
        for left, right in zip(sides, sides[1:]):
            left = re.split(r"\$|\\\[|\\text\{[^}]*\}", left)[-1]  # the math just before the '='
            right = re.split(r"\$|\\\]|,|\\text\{", right)[0]
            if left and left == right and not left.isdigit():
                found.append(line.strip())
    return found


def test_the_equal_sides_checker_finds_the_defects_of_issue_13():
    assert equal_neighbours(r"The loss of one sample is $E = E$.")
    assert equal_neighbours(r"\tanh(z) &= \tanh\left(z\right)\\")
    assert not equal_neighbours(r"The loss of one sample is $E = f$; $x_{1} = 0.1$, $w^{+} = w - \alpha g$.")


def test_no_handout_says_x_equals_x(sources):
    for name, source in sources.items():
        assert not equal_neighbours(source), (name, equal_neighbours(source)[:3])


# -- names ------------------------------------------------------------------------------------


GRAPH_EXAMPLES = [p for p in example_specs() if "nodes" in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", GRAPH_EXAMPLES, ids=lambda p: p.stem)
def test_graph_spec_names_read_as_their_spec_writes_them(path, sources):
    """No layer marks in graph specs (x0 is x_0, the RNN's h1 is h_1, never h^(1)); the parts of
    a node are lettered (E_a, not E^(1) next to W^(1)); every node has a name of its own."""
    source = sources[path.stem]
    assert not re.search(r"\^\{\(\d+\)\}", source), re.search(r".{40}\^\{\(\d+\)\}.{20}", source)
    h = Handout(symprop.derive(symprop.load(path)))
    names = [h.node_tex(n) for n in h.graph.nodes]
    assert len(set(names)) == len(names)
    for node in h.graph.nodes:
        if h.unrolled.owner[node] != node:  # a part of a node of the spec
            assert re.fullmatch(r"[A-Za-z0-9]+_[a-z]+", node), node
            assert r"\mathrm{" in h.node_tex(node)


def test_names_of_the_rnn_and_the_lecture():
    h = Handout(derive("elman_rnn"))
    assert [h.node_tex(n) for n in ("x1", "h1", "h5", "Wx", "bh", "h2_a")] == [
        "x_{1}", "h_{1}", "h_{5}", "W_{x}", "b_{h}", r"h_{2\mathrm{a}}",
    ]  # fmt: skip
    assert h.op_definition(h.graph.nodes["h1_a"]) == r"W_{x} \, x_{1} + b_{h}"  # never "Wxx1"
    assert h.el("Wx", "jk") == "(W_{x})_{jk}" and h.el("h5", "j") == "(h_{5})_{j}"
    lecture = Handout(derive("cs231n_neuron"))
    assert [lecture.node_tex(n) for n in ("x0", "w0", "w2")] == ["x_{0}", "w_{0}", "w_{2}"]
    layers = Handout(derive("tutorial_222"))  # in a layer stack a digit is the layer
    assert layers.node_tex("W2") == "W^{(2)}" and layers.el("W2", "jk") == "w^{(2)}_{jk}"


# -- index letters --------------------------------------------------------------------------


def test_index_letters_stay_the_same_from_line_to_line():
    """dE/da_j of a hidden layer is sum_i delta_i w_ij both where it is computed and where the
    delta recursion uses it (it was sum_j delta_j w_jk, then sum_i delta_i w_ij)."""
    h = Handout(derive("tutorial_222"))
    recursion = r"\sum_{i=1}^{2} \delta^{(2)}_{i} \, w^{(2)}_{ij}"
    back_through_weights, hidden_delta = (
        h.step_math(s)[0] for s in h.d.steps if s.target in ("a1", "z1")
    )
    assert back_through_weights.startswith(r"\frac{\partial E}{\partial a^{(1)}_{j}}")
    assert back_through_weights.endswith(recursion)
    assert recursion in hidden_delta and hidden_delta.startswith(r"\delta^{(1)}_{j}")


# -- editions -------------------------------------------------------------------------------


def pdf_pages(path) -> int:
    """Pages of a PDF written by pdfLaTeX (its page objects may sit in compressed object streams)."""
    data = path.read_bytes()
    chunks = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            chunks.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return sum(len(re.findall(rb"/Type\s*/Page(?![a-z])", chunk)) for chunk in chunks)


#: Every number of the worked-example tutorial (backprop-worked-example-2-2-2.md), to its 8 decimals.
SEED_NUMBERS = (
    "0.08000000", "0.11000000", "0.51998934", "0.52747230", "0.44498412", "0.68047592", "0.60944600",
    "0.66384491", "0.02193381", "0.00203809", "0.02397190", "0.20944600", "0.23802157", "0.02592286",
    "0.43703857",
)  # fmt: skip


def test_the_student_edition_of_the_tutorial(tmp_path):
    """The 2-2-2 tutorial as a student gets it: the derivation once, the summary, the worked
    numbers (every one of the tutorial's), the sigmoid step justified, nothing about the code;
    at most 5 pages."""
    d = derive("tutorial_222")
    source = d.latex("student")
    for number in SEED_NUMBERS:
        assert number in source, number
    assert "1 added and subtracted in the numerator" in source
    assert r"\section{Summary: the gradient of each parameter}" in source
    for code_only in ("NumPy", "texttt{dW", "claims", "The code", "Every weight, written out", "the module's loss"):
        assert code_only not in source, code_only
    assert source.count(r"\frac{\partial E}{\partial w^{(2)}_{jk}} &=") == 1  # W2's chain rule once, in the summary
    needs_tex()
    path = d.write_latex(tmp_path, edition="student")
    assert path.name == "tutorial_222_student.tex"
    assert pdf_pages(compile_pdf(path)) <= 5


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("name", ["tutorial_222", "softmax_classifier", "cs231n_neuron", "self_attention"])
def test_every_edition_compiles(name, edition, tmp_path):
    needs_tex()
    pdf = compile_pdf(derive(name).write_latex(tmp_path, edition=edition))
    assert pdf.is_file() and pdf_pages(pdf) >= 1


def test_the_command_line_writes_the_edition_asked_for(tmp_path):
    spec = str(EXAMPLES / "tutorial_222.yaml")
    assert main(["derive", spec, "-o", str(tmp_path), "--emit", "latex", "--edition", "student"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["tutorial_222_student.tex"]
    with pytest.raises(SymPropError, match="unknown edition"):
        derive("tutorial_222").latex("teacher")


# -- slips, zeros, and a gradient that is not a loss's ----------------------------------------


SLIPS = {
    "a count of one in the plural": re.compile(r"\b1 (parameters|gradients|layers)\b"),
    "the same name twice in a list": re.compile(r"\\texttt\{(\w+)\}, \\texttt\{\1\}"),
    "a mean of one term": re.compile(r"\\frac\{1\}\{1\}"),
    "a sum of one term": re.compile(r"\\sum_\{i=1\}\^\{1\}"),
    "a term times a given 0": re.compile(r"- 0 \\cdot"),
    "a bracketed argument in brackets": re.compile(r"\(\(-\d"),
    "a sentence that is false of most activations": re.compile("no exponential needs"),
}


def test_an_input_of_0_keeps_its_term_in_the_worked_numbers():
    """A new user's finding: with x_2 = 0 the handout wrote z_1 = w_11 x_1 + w_12 x_2 + b_1 =
    0.5 * 1 + 0.1 (w_12 x_2 left out), the answer key 0.5 * 1 + (-0.4) * 0 + 0.1; a target of 0
    still drops its term (- 0 log(y_1))."""
    spec = {
        "name": "zero_input",
        "input": 2,
        "layers": [{"units": 2, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}],
        "loss": "binary_cross_entropy",
        "example": {
            "x": [1.0, 0.0],
            "t": [1.0],
            "params": {"W1": [[0.5, -0.4], [0.3, 0.8]], "b1": [0.1, -0.1], "W2": [[0.7, -0.6]], "b2": [0.05]},
            "learning_rate": 0.5,
        },
    }
    tex = symprop.derive(symprop.from_dict(spec, "zero_input.yaml")).latex("student")
    assert r"= 0.5 \cdot 1 + (-0.4) \cdot 0 + 0.1 = 0.60000000" in tex


def test_no_handout_has_the_slips_of_issue_13(sources):
    for name, source in sources.items():
        for slip, pattern in SLIPS.items():
            assert not pattern.search(source), (name, slip, pattern.search(source))
    assert r"\keep{" in sources["tutorial_222"].split(r"\section{The code}")[0][-200:]  # no heading stranded at a page foot


def network_paragraph(tex: str) -> str:
    """Page 1's paragraph on the network: from its section's heading to the figure."""
    start = tex.index(r"\section{The network}") + len(r"\section{The network}")
    return tex[start : tex.index(r"\begin{center}", start)].strip()


def test_page_one_says_the_network_in_words_not_in_the_specs_text(sources):
    """A user's finding: page 1 quoted the spec ("graph of 14 ops; ... loss mse(y, t), averaged
    over the batch"; "loss: half the sum of squared errors (half_sse)"). It now says it as a
    teacher would: the parameters by their symbols, the loss in words and as a formula."""
    for path in example_specs():
        network = symprop.load(path)
        paragraph = network_paragraph(sources[path.stem])
        assert "(" not in network.loss_text or network.loss_text not in paragraph, path.stem  # mse(y, t), half_sse(a2, t)
        assert not re.search(r"\\texttt|\bops\b|; loss\b|loss:", paragraph), (path.stem, paragraph)
        assert not any(name in paragraph.replace(r"\_", "_") for name in registry.LOSSES if "_" in name), path.stem
        assert "The loss of one sample is " in paragraph or "There is no loss against targets" in paragraph, path.stem
        assert "$E = " in paragraph or path.stem.startswith("cs231n"), path.stem  # a layer stack's too
        assert "the module returns its mean over the batch." in paragraph, path.stem
    attention = network_paragraph(sources["self_attention"])
    assert attention.startswith("The network is a computational graph of 14 operations. It reads the input $X$")
    assert r"$W_{q}$ ($16 \times 16$)" in attention and "836 numbers in all" in attention
    assert (r"The loss of one sample is the mean squared error of $y$ against $t$, "
            r"$E = \frac{1}{32} \sum_{j,k} (y_{jk} - t_{jk})^{2}$;") in attention  # fmt: skip
    assert network_paragraph(sources["tutorial_222"]) == (
        r"Units per layer, from the input: 2 $\to$ 2 (sigmoid) $\to$ 2 (sigmoid); 8 parameters in all. The loss of one "
        r"sample is half the sum of squared errors of $a^{(2)}$ against $t$, $E = \sum_{i=1}^{2} \frac{(t_{i} - "
        r"a^{(2)}_{i})^{2}}{2}$; the module returns its mean over the batch."
    )  # a teacher's finding: a layer stack's page 1 gave the loss in words only, a graph spec's its formula too
    assert network_paragraph(sources["custom_swish"]).endswith(
        r"The loss of one sample is a formula of the spec, $E = \sum_{i=1}^{3} \log{(\cosh{(t_{i} - a^{(3)}_{i})})}$; "
        "the module returns its mean over the batch."
    )
    assert "the output $f$ (written $E$ in the backward pass)" in network_paragraph(sources["cs231n_neuron"])
    assert "$x_{0}$ and $x_{1}$ (scalars)" in network_paragraph(sources["cs231n_neuron"])


def after_forward_pass(tex: str) -> tuple[str, str]:
    """(the last line of a graph spec's forward equations, the sentence after them)."""
    start = tex.index(r"\section{Forward pass and loss}")
    end = tex.index(r"\section{Local derivatives", start)
    section = tex[start:end]
    last_align = section.rindex(r"\end{align*}")
    lines = section[:last_align].rsplit(r"\begin{align*}", 1)[1].strip().split("\\\\\n")
    return lines[-1].strip(), section[last_align + len(r"\end{align*}") :].strip()


def test_the_loss_is_said_once_after_the_forward_pass(sources):
    """A user's finding: self_attention's forward pass ended with E = 1/32 sum (y - t)^2 and the
    next sentence said it again ("The loss of one sample is E = ..."). Where the last line is the
    loss's formula, the sentence says it in words; where its parts are named apart, it puts them
    together; a network without a loss says what stands in for one."""
    for path in example_specs():
        d = symprop.derive(symprop.load(path))
        if getattr(d.network, "kind", "layers") != "graph":
            continue
        last, after = after_forward_pass(sources[path.stem])
        formula = last.split("&=", 1)[-1].strip()
        assert formula not in after.replace(" \\\\\n&\\quad", ""), (path.stem, after)
    assert after_forward_pass(sources["self_attention"])[1].startswith(
        "The last line is the loss of one sample, the mean squared error of $y$ against $t$.\nFor a batch of $N$"
    )
    assert after_forward_pass(sources["residual_block"])[1].startswith(
        r"Put together, the loss of one sample is $E = -\sum_{i=1}^{3} t_{i} \log{(y_{i})} + "
    )
    assert after_forward_pass(sources["cs231n_neuron"])[1].startswith("The output $f$ is what the backward pass differentiates")
    assert after_forward_pass(sources["batchnorm_mlp"])[1].startswith(
        "The last line is the loss of one sample, the cross-entropy of $y$ against $t$.\nBut $h_{\\mathrm{b}}$ normalises"
    )


@pytest.mark.parametrize("name", ["self_attention", "tutorial_222"])
def test_the_html_edition_says_the_network_and_its_loss_as_the_pdf_does(name):
    """The page is built from the same context: page 1's paragraph and the loss sentence read the same."""
    from symprop.emit.web.page import html_source

    d = derive(name)
    page = re.sub(r"\s+", " ", html_source(d))
    context = Handout(d).context()
    words = [w for w in re.split(r"\$[^$]*\$", context["summary"]) if len(w.strip()) > 3]
    assert words and all(re.sub(r"\s+", " ", w).strip() in page for w in words), words
    if name == "self_attention":
        assert "The last line is the loss of one sample, the mean squared error of" in page
        assert "The loss of one sample is the mean squared error of" in page


def test_gradients_that_are_zero_are_said_once_not_listed():
    """softmax_classifier's dead relu units: W1's 12 zero gradients in one sentence, no rows of zeros."""
    source = latex_source(derive("softmax_classifier"), "student")
    assert "The other 12 gradients of $W^{(1)}$ are 0" in source
    example = source.split(r"\section{Worked example}")[1]
    assert not re.search(r"\$0\.00000000\$", example)  # no table row of zeros
    assert r"\operatorname{relu}(-0.08000000)" in example  # relu((-0.08)) before


def test_a_network_without_targets_takes_no_step_of_gradient_descent():
    """cs231n_neuron differentiates f, the neuron's output: not a loss, so no update, no alpha."""
    source = latex_source(derive("cs231n_neuron"))
    assert "no targets" in source and "targets none" not in source
    assert "no step of gradient descent is taken" in source
    assert r"\alpha" not in source.split(r"\section{Worked example}")[1]
    assert "}^{+}" not in source  # no w^+


# -- one derivation, in the chain rule's order, with braces that multiply out ------------------


def group_end(tex: str, start: int) -> int:
    """The index just past the brace group opening at ``start``."""
    depth = 0
    for i in range(start, len(tex)):
        depth += {"{": 1, "}": -1}.get(tex[i], 0)
        if depth == 0:
            return i + 1
    raise ValueError(tex[start:])


def underbrace_labels(tex: str) -> list[str]:
    labels = []
    for match in re.finditer(r"\\underbrace(?=\{)", tex):
        after = group_end(tex, match.end())
        assert tex.startswith("_{", after)
        labels.append(tex[after + 2 : group_end(tex, after + 1) - 1])
    return labels


def test_the_summary_braces_multiply_out_and_the_chain_rule_is_written_once():
    """The hidden layer's chain rule is a sum over the next layer's units whose braces are
    delta_i, w_ij, f'(z_j), x_k: their product, elementwise, is the gradient; the matrix form
    needs the transpose of W^(2) (it did not say so); the line is not written twice."""
    h = Handout(derive("tutorial_222"))
    w1 = next(p for p in h.parameters() if p["plain"] == r"\texttt{W1}")
    labels = underbrace_labels(w1["chain"])
    assert w1["chain"].count(r"\underbrace") == 4 and w1["chain"].count(r"\sum_{i=1}^{2}") == 1
    assert labels == [r"\delta^{(2)}_{i}", "w^{(2)}_{ij}", r"\sigma'(z^{(1)}_{j})", "x_{k}"]
    assert w1["chain"].endswith(r"= \delta^{(1)}_{j} \, x_{k}")
    assert r"\bigl(W^{(2)}\bigr)^{\top} \delta^{(2)}" in w1["delta"]


def test_sums_are_printed_in_the_chain_rules_order():
    """dE/dr_1 = sum_i dE/dy_i w_i1, the loss's factor first, not SymPy's w_11 (y_1 - t_1)."""
    h = Handout(derive("residual_block"))
    w2 = next(p for p in h.per_weight() if p["name"] == "W_{2}")
    assert r"\Bigl((y_{1} - t_{1}) \cdot (W_{3})_{11} + (y_{2} - t_{2}) \cdot (W_{3})_{21}" in w2["rows"][0]


def test_a_weight_used_twice_gets_twice_its_derivative():
    """E_b = W_1 (.) W_1: dE_b/dW_1 = 2 W_1, not W_1 + W_1."""
    locals_ = "".join(Handout(derive("residual_block")).elementwise_locals())
    assert r"\frac{\partial E_{\mathrm{b}}}{\partial W_{1}} = 2 W_{1}" in locals_ and "W_{1} + W_{1}" not in locals_


def test_one_delta_per_meaning():
    """The error signal is delta; Kronecker's delta is written [i = j] beside it."""
    source = latex_source(derive("softmax_classifier"))
    assert r"\delta_{ij}" not in source and "[i = j]" in source


def test_a_step_between_scalars_is_one_line():
    h = Handout(derive("cs231n_neuron"))
    for item in h.backward():
        assert len(item["forms"]) == 1, item["title"]


# -- figures --------------------------------------------------------------------------------


def test_the_lectures_graph_carries_its_gates_and_numbers():
    figure = Handout(derive("cs231n_neuron")).graph_figure()
    assert figure["kind"] == "graph"
    gates = [n["gate"] for n in figure["nodes"] if n["gate"]]
    assert gates == [r"\times", r"\times", "+", "+", r"\times (-1)", "e^{x}", "+1", r"\frac{1}{x}"]
    on_edges = {(e["value"], e["gradient"]) for e in figure["edges"]}
    # the lecture's slide: w0 = 2 (-0.20), x0 = -1 (0.39), w1 = -3 (-0.39), x1 = -2 (-0.59), w2 = -3 (0.20)
    assert {("2.00", "-0.20"), ("-1.00", "0.39"), ("-3.00", "-0.39"), ("-2.00", "-0.59"), ("-3.00", "0.20")} <= on_edges
    assert ("0.37", "-0.53") in on_edges and (figure["out"]["value"], figure["out"]["gradient"]) == ("0.73", "1.00")


def test_figures_stay_readable():
    """An unrolled network is drawn step by step (not shrunk to 3 pt); an edge that skips
    columns bends over the boxes between; crossing weights' labels sit apart."""
    assert Handout(derive("elman_rnn")).graph_figure()["kind"] == "diagram"
    residual = Handout(derive("residual_block")).graph_figure()
    assert residual["kind"] == "graph" and any(e["bend"] for e in residual["edges"])
    places = {e["place"] for e in Handout(derive("tutorial_222")).figure()["edges"]}
    assert places == {"pos=0.5, above", "pos=0.2, below", "pos=0.8, below"}


def test_table_cells_do_not_break_words(sources):
    """Paragraph columns of tables are ragged right: no 'in-put' hyphenated in a narrow cell."""
    for name, source in sources.items():
        for spec in re.findall(r"\\begin\{tabular\}\{(.*)\}\n", source):
            assert not re.search(r"(?<!arraybackslash\})p\{", spec), (name, spec)


@pytest.mark.parametrize("targets", [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
def test_a_target_of_zero_keeps_each_number_under_its_own_term(targets):
    """Regression (found trying the tool as a new user): with a one-hot target the loss's row in
    numbers was simplified as a whole, so (0 - a_2)^2/2 moved to the front and each number stood
    under the other term; the row of term values was swapped the same way."""
    spec = {
        "name": "one_hot",
        "input": 2,
        "layers": [{"units": 2, "activation": "sigmoid"}],
        "loss": "half_sse",
        "example": {"x": [0.5, -0.2], "t": targets, "params": {"W1": [[0.1, -0.2], [0.4, 0.5]], "b1": [0.1, 0.0]}},
    }
    tex = symprop.derive(symprop.from_dict(spec)).latex()
    a = [1 / (1 + 2.718281828459045 ** -z) for z in (0.1 * 0.5 + 0.2 * 0.2 + 0.1, 0.4 * 0.5 - 0.5 * 0.2)]
    row = tex[tex.index(r"E &= \frac{(t_{1}") :]
    row = row[: row.index(r"\end{align*}")]
    in_numbers = [f"{v:.8f}" for v in a]
    assert row.index(in_numbers[0]) < row.index(in_numbers[1])
    term_values = [f"{(t - v) ** 2 / 2:.8f}" for t, v in zip(targets, a)]
    assert f"{term_values[0]} + {term_values[1]}" in row


ROUTED = ["residual_block", "highway", "gated_unit", "tied_autoencoder", "concat_two_inputs", "cs231n_neuron"]


@pytest.mark.parametrize("name", ROUTED)
def test_no_arrow_of_the_computational_graph_runs_through_a_box(name):
    """Regression (found trying the tool as a new user): a residual's skip edge was bent by a
    fixed angle over whatever stood between, through h_a and W_2's boxes. Each arrow now takes
    the smallest turn, over or under, whose curve misses every box it does not join."""
    from symprop.emit.latex import edge_routing
    from symprop.emit.latex.graph_figure import box_extent

    figure = Handout(derive(name)).graph_figure()
    assert figure["kind"] == "graph"
    boxes = {p["name"]: box_extent(p) for p in figure["nodes"]}
    for edge in figure["edges"]:
        turn, looseness = edge_routing.parse_bend(edge["bend"]) if edge["bend"] else (0, 1)
        others = [box for key, box in boxes.items() if key not in (edge["source"], edge["target"])]
        assert edge_routing.clear(boxes[edge["source"]], boxes[edge["target"]], turn, others, looseness), edge


def test_no_arrow_of_a_block_diagram_runs_through_a_box(monkeypatch):
    """A new user's finding: self_attention's X -> h arc crossed the q box (the router modelled
    the curve from the boxes' centres, TikZ draws it from their borders: a flatter curve), and
    lstm's dashed c2 -> steps arrow ran through h2 (arrows to and from the gap were not routed).
    Every arrow of every example's block diagram now misses every box it does not join; lstm's
    c1 -> c2, which has to climb over h1 and the four gates of step 2, ran through o2 (no turn
    up to 75 degrees cleared them, and the fallback bend was drawn): it now turns by 90."""
    from symprop.emit.latex import edge_routing

    chosen, bend = [], edge_routing.bend
    monkeypatch.setattr(edge_routing, "bend", lambda *args: chosen.append((*args, bend(*args))) or chosen[-1][-1])
    blocked = set()
    for spec in sorted(EXAMPLES.glob("*.yaml")):
        d = derive(spec.stem)
        if getattr(d.network, "kind", "layers") != "graph" or Handout(d).graph_figure()["kind"] != "diagram":
            continue
        for start, end, others, _, option in chosen:
            turn, looseness = edge_routing.parse_bend(option) if option else (0, 1)
            if not edge_routing.clear(start, end, turn, others, looseness):
                blocked.add((spec.stem, (round(start.x, 2), start.y), (round(end.x, 2), end.y)))
        chosen.clear()
    assert blocked == set()
    lstm = Handout(derive("lstm")).graph_figure()
    ids = {n["label"]: n["name"] for n in lstm["nodes"]}
    cell = next(e for e in lstm["edges"] if (e["source"], e["target"]) == (ids["c_{1}"], ids["c_{2}"]))
    assert cell["bend"] == "bend left=90, looseness=2"  # over h1 and the gates of step 2
    selfattention = [e["bend"] for e in Handout(derive("self_attention")).graph_figure()["edges"]]
    assert "bend left=75, looseness=1.5" in selfattention  # X -> h, over q


def test_a_bend_is_read_back_as_drawn():
    from symprop.emit.latex.edge_routing import parse_bend

    assert parse_bend("bend left=15") == (15, 1)
    assert parse_bend("bend right=35") == (-35, 1)
    assert parse_bend("bend left=75, looseness=1.5") == (75, 1.5)
    with pytest.raises(ValueError, match="an edge bend the figure cannot draw"):
        parse_bend("out=30, in=150")


def test_an_arrow_bends_the_least_and_over_before_under():
    from symprop.emit.latex.edge_routing import Box, bend

    start, end = Box(0, 0, 0.5, 0.4), Box(6, 0, 0.5, 0.4)
    assert bend(start, end, [Box(3, 2, 0.5, 0.4)], "x") == ""  # nothing in the way: straight
    assert bend(start, end, [Box(3, 0, 0.5, 0.4)], "x") == "bend left=15"  # over the box between
    assert bend(start, end, [Box(3, 0, 0.5, 0.4), Box(3, 0.8, 0.5, 0.4)], "x") == "bend right=15"  # under a column
    wall = [Box(3, y / 2, 0.5, 0.4) for y in range(-20, 21)]
    assert bend(start, end, wall, "bend left=40") == "bend left=40"  # no way round: the default


def test_the_notation_writes_no_bias_a_network_lacks():
    """A new user's finding (trial4): tutorial_222 has no biases (its layers table lists W only,
    its box says "this network has no biases"), yet the notation read z = W a + b and
    Z = A W^T + b.  With biases (layer_equations_222) both keep their + b."""
    without = latex_source(derive("tutorial_222"))
    assert r"$z^{(l)} = W^{(l)} a^{(l-1)}$" in without and r"$Z = A\,W^{\top}$." in without
    assert "+ b^{(l)}$" not in without and r"W^{\top} + b" not in without
    html = derive("tutorial_222").html()
    assert r"Z = A\,W^{\top}</span>." in html
    with_bias = latex_source(derive("layer_equations_222"))
    assert r"$z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}$" in with_bias and r"$Z = A\,W^{\top} + b$." in with_bias


def test_a_graph_spec_has_no_layer_to_go_back_to():
    """A new user's finding (trial4): gated_unit (a graph spec, no layers) titled dE/dg "back
    through the weights to the layer's input"; it names the weights instead.  A layer stack
    keeps its layer."""
    graph = latex_source(derive("gated_unit"))
    assert r"\partial E / \partial g$: back through the weights $W_{o}$}" in graph
    assert "layer's input" not in graph
    assert "back through the weights to the layer's input" in latex_source(derive("tutorial_222"))


def test_the_loss_derivative_does_not_reuse_a_node_name_for_the_target():
    """A new user's finding (trial4): highway's gate is t and its target ``target``, yet the
    loss's local derivative read l(y, t) = (t - y)^2 / 2, dl/dy = y - t, t then being the gate.
    It uses the spec's target name there; where no node is written t, it stays t."""
    highway = latex_source(derive("highway"))
    assert r"\ell(y, \mathrm{target}) &= \frac{(\mathrm{target} - y)^{2}}{2}" in highway
    assert r"\boxed{y - \mathrm{target}}" in highway and r"\ell(y, t)" not in highway
    assert r"\ell(y, t) &= \frac{(t - y)^{2}}{2}" in latex_source(derive("gated_unit"))
