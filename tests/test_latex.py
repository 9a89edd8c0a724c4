"""The LaTeX handout: content, determinism, escaping, and (with TeX installed) compilation.

Compiling needs ``latexmk`` and a TeX distribution with TikZ (Debian: texlive-latex-base,
texlive-latex-recommended, texlive-pictures, latexmk).  Without it the compile tests skip,
saying so, unless ``SYMPROP_REQUIRE_TEX=1`` is set (as in CI), where they fail instead.
"""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
from pathlib import Path

import pytest
import sympy as sp
import yaml
from conftest import EXAMPLES, LEAKY_HUBER, needs_pdftotext, needs_tex

import symprop
from symprop.emit.latex import PER_WEIGHT_LIMIT, compile_pdf, latex_source, write_latex
from symprop.emit.latex.pdf import overfull_boxes
from symprop.errors import SymPropError
from symprop.latex_printing import to_latex


def example_specs() -> list[Path]:
    """Network specs among ``examples/*.yaml`` (a YAML mapping with a name; claims files are lists)."""
    specs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "name" in data:
            specs.append(path)
    return specs


def derive(name: str):
    return symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml"))


@pytest.fixture(scope="module")
def tutorial_tex() -> str:
    return latex_source(derive("tutorial_222"))


# -- content ------------------------------------------------------------------------


def test_tutorial_numbers_appear(tutorial_tex):
    for number in ("0.20944600", "0.23802157", "0.51998934", "0.02592286", "0.43703857"):
        assert number in tutorial_tex, number
    assert "= 0.02193381 + 0.00203809 = 0.02397190" in tutorial_tex  # E_o1 + E_o2 = E
    # the worked example writes the chain-rule product of the tutorial, factor by factor
    assert "0.20944600 \\cdot 0.23802157 \\cdot 0.51998934 = 0.02592286" in tutorial_tex
    assert "0.45 - 0.5 \\cdot 0.02592286 = 0.43703857" in tutorial_tex


def test_tutorial_numbers_agree_with_the_numpy_module(tutorial_tex, emit):
    """The handout's numbers come from the Derivation; they match what the generated module computes."""
    module = emit("tutorial_222")
    _, grads, updated = module.worked_example()
    assert f"{grads['W2'][0, 0]:.8f}" in tutorial_tex
    assert f"{grads['W1'][1, 1]:.8f}" in tutorial_tex
    assert f"{updated['W1'][0, 1]:.8f}" in tutorial_tex


def test_sigmoid_is_derived_step_by_step(tutorial_tex):
    sigmoid = tutorial_tex.split(r"\subsection{Activation sigmoid}")[1].split(r"\subsection")[0]
    steps = [
        r"\sigma(z) &= \frac{1}{1 + e^{- z}}",  # the definition
        r"\frac{e^{- z}}{(1 + e^{- z})^{2}}",  # SymPy's derivative
        r"\frac{1}{1 + e^{- z}} \cdot (1 - \frac{1}{1 + e^{- z}})",  # the definition put in
        r"\sigma(z) \cdot (1 - \sigma(z))",  # by its name
        r"\boxed{a (1 - a)}",  # in the output: what the backward pass computes
    ]
    positions = [sigmoid.replace(r"\left", "").replace(r"\right", "").find(step) for step in steps]
    assert all(p >= 0 for p in positions), dict(zip(steps, positions))
    assert positions == sorted(positions)


def test_sections_and_notation(tutorial_tex):
    for heading in (
        "The network",
        "Forward pass and loss",
        "Local derivatives, derived by SymPy",
        "Backpropagation, step by step",
        "Summary: the gradient of each parameter",
        "Worked example",
        "The code",
    ):
        assert rf"\section{{{heading}}}" in tutorial_tex, heading
    assert r"\begin{tikzpicture}" in tutorial_tex and r"\node[neuron]" in tutorial_tex
    # names shared with the NumPy module and the verifier
    assert r"\texttt{W2\_21} for $w^{(2)}_{21}$" in tutorial_tex
    assert r"\texttt{dZ2 = dA2 * A2 * (1.0 - A2)}" in tutorial_tex or r"\texttt{dZ2 = A2" in tutorial_tex
    assert r"\texttt{dW1 = np.dot(dZ1.T, X)}" in tutorial_tex
    # the delta recursion and the matrix form
    assert r"\left(\bigl(W^{(2)}\bigr)^{\top} \delta^{(2)}\right) \odot a^{(1)} \odot (1 - a^{(1)})" in tutorial_tex
    assert r"\boxed{\delta^{(1)} \, x^{\top}}" in tutorial_tex
    # the worked example writes every weight out in numbers: no second, symbolic list of them
    assert "Every weight, written out" not in tutorial_tex


def test_every_backward_line_of_the_module_is_explained(tmp_path):
    d = derive("layer_equations_222")
    tex = latex_source(d)
    module = d.numpy_source()
    body = module.split("def backward(")[1].split("return {")[0]
    for line in body.splitlines():
        code = line.split("  #")[0].strip()
        if "=" in code and code.startswith("d"):
            assert code.replace("_", r"\_") in tex, code


@pytest.mark.parametrize("name", sorted(symprop.registry.LOSSES))
def test_a_loss_is_named_as_a_teacher_says_it_beside_its_spec_name(name):
    """The prose says "half the sum of squared errors (\\texttt{half\\_sse})", not "the half\\_sse
    loss" (a new user's finding: loss names were typeset as code names)."""
    title = symprop.registry.LOSSES[name].title
    assert title and "_" not in title and title == title.strip()
    spec = yaml.safe_load((EXAMPLES / "tutorial_222.yaml").read_text())
    spec["loss"] = name
    if name == "cross_entropy":
        spec["layers"][-1]["activation"] = "softmax"
    tex = latex_source(symprop.derive(symprop.from_dict(spec)))
    delta = r", $\mathrm{delta} = 1$" if name == "huber" else ""  # its constant, by name
    spelled = title + r" (\texttt{" + name.replace("_", r"\_") + "}" + delta + ")"
    assert f"The loss of one sample is {spelled}:" in tex
    # page 1: without the spec's name, with its formula (Huber's cases are no part of a line of prose)
    said = "written out in section 2" if name == "huber" else "$E = "
    assert f"The loss of one sample is {title} of $a^{{(2)}}$ against $t$, {said}" in tex
    assert r"\subsection{The loss, " + spelled.removeprefix("the ") + "}" in tex or name == "cross_entropy"


def test_softmax_cross_entropy_fused_gradient():
    tex = latex_source(derive("softmax_classifier"))
    assert "Softmax and cross-entropy together" in tex
    assert r"\boxed{a^{(2)}_{j} - t_j}" in tex
    assert "y_{1} (t_{1} + t_{2} + t_{3}) - t_{1}" in tex  # SymPy's result on three classes


def test_formula_activation_has_its_own_derivation():
    tex = latex_source(derive("custom_swish"))
    title = r"\subsection{Activation swish\_b (a formula from the spec, with $\mathrm{beta} = 1.5$)}"
    section = tex.split(title)[1].split(r"\subsection")[0]
    assert "product rule" in section and "multiplied out" in section and r"\boxed" in section
    assert r"\subsection{Function sigmoid}" in tex  # the formula calls sigmoid: its derivation is included
    assert "139 parameters" in tex and "Every weight, written out" not in tex


SOFTSQ = {
    "name": "softsq_342",
    "input": 3,
    "constants": {"c": 0.5},
    "functions": {"softsq": "z / (1 + c*z**2)"},
    "layers": [{"units": 4, "activation": "softsq"}, {"units": 2, "activation": "sigmoid"}],
    "loss": "half_sse",
}


def test_a_formula_activation_names_the_spec_constant_and_its_value():
    """A teacher's trial: a spec's ``c = 0.5`` never appeared, every page read z/(z^2/2 + 1).  The
    layer table and the activation's section write the formula in c, beside c's value (a graph
    spec's section too); a formula without constants reads as before."""
    tex = latex_source(symprop.derive(symprop.from_dict(SOFTSQ)))
    assert r"$f_{\mathrm{softsq}}(z) = \frac{z}{c z^{2} + 1}$ with $c = 0.5$ &" in tex  # the layer table
    title = r"\subsection{Activation softsq (a formula from the spec, with $c = 0.5$)}"
    section = tex.split(title)[1].split(r"\subsection")[0]
    # derived in c, as a textbook writes it, never in its value's fraction (z / (z^2/2 + 1))
    assert r"f_{\mathrm{softsq}}(z) &= \frac{z}{c z^{2} + 1}\\" in section
    assert r"&= \boxed{\frac{1 - c z^{2}}{(c z^{2} + 1)^{2}}}" in section and r"\frac{z^{2}}{2}" not in section
    graph = {
        "name": "softsq_graph",
        "inputs": {"x": 3},
        "targets": {"t": 2},
        "params": {"W": [2, 3]},
        "constants": {"c": 0.5},
        "functions": {"softsq": "z / (1 + c*z**2)"},
        "nodes": {"y": "softsq(W @ x)"},
        "loss": "half_sse(y, t)",
    }
    assert title in latex_source(symprop.derive(symprop.from_dict(graph)))
    plain = latex_source(symprop.derive(symprop.from_dict({**SOFTSQ, "functions": {"softsq": "z / (1 + z**2)"}})))
    assert r"\subsection{Activation softsq (a formula from the spec)}" in plain and "with $c" not in plain


def test_a_formula_loss_names_the_spec_constants_as_an_activation_does():
    """A teacher's finding: an activation's constants read by name with their values ("with
    $c = 0.5$"), a formula loss's as bare numbers (2 (y - t)^2, never k).  The loss now reads as
    the activation does: page 1, section 2's sentence and ell(y, t), its section's title and
    definition (by name; derived by name too, as leaky_relu's alpha); the figure's caption gives the
    activation's constants."""
    spec = {**SOFTSQ, "constants": {"c": 0.5, "k": 2}, "loss": {"formula": "k * (y - t)**2 + c * log(cosh(y - t))"}}
    tex = latex_source(symprop.derive(symprop.from_dict(spec)))
    constants = "with $c = 0.5$, $k = 2$"
    assert (
        r"The loss of one sample is a formula of the spec, $E = \sum_{i=1}^{2} (c \log{(\cosh{(t_{i} - a^{(2)}_{i})})}"
        rf" + k (a^{{(2)}}_{{i}} - t_{{i}})^{{2}})$ {constants}; the module returns its mean over the batch."
    ) in tex
    assert f"The loss of one sample is a formula of the spec, {constants}:" in tex
    assert r"\ell(y, t) = c \log{(\cosh{(t - y)})} + k (y - t)^{2}\\" in tex  # section 2, by name
    assert r"E = \sum_{i=1}^{2} (c \log{(\cosh{(t_{i} - a^{(2)}_{i})})} + k (a^{(2)}_{i} - t_{i})^{2})" in tex  # by name
    section = tex.split(rf"\subsection{{The loss, a formula of the spec, {constants}}}")[1].split(r"\section")[0]
    assert r"\ell(y, t) &= c \log{(\cosh{(t - y)})} + k (y - t)^{2}\\" in section
    assert r"&= \boxed{2 k y - c \tanh{(t - y)} - 2 k t}" in section
    assert r"\footnotesize softsq, bias $b^{(1)}$\\\footnotesize with $c = 0.5$}" in tex  # the figure's caption
    # without constants, as before: no "with", the formula once
    plain = latex_source(symprop.derive(symprop.from_dict({**spec, "loss": {"formula": "(y - t)**2"}})))
    assert r"\subsection{The loss, a formula of the spec}" in plain and "a formula of the spec, with" not in plain
    assert "The loss of one sample is a formula of the spec, $E = " in plain


def test_a_registry_loss_names_its_constants_as_an_activation_does():
    """Huber's delta appeared only as a number inside the cases; its title gives it by name and
    value, as leaky_relu's gives alpha."""
    spec = {**SOFTSQ, "loss": {"name": "huber", "delta": 0.5}}
    tex = latex_source(symprop.derive(symprop.from_dict(spec)))
    assert r"The loss of one sample is the Huber loss (\texttt{huber}, $\mathrm{delta} = 0.5$):" in tex
    assert r"\subsection{The loss, Huber loss (\texttt{huber}, $\mathrm{delta} = 0.5$)}" in tex


def test_formulas_write_leaky_relu_and_huber_constants_by_name():
    """A teacher's finding: leaky_relu's formulas read z/10 and 1/10 right under "alpha = 0.1",
    Huber's 1/2 and 1/8 under "delta = 0.5".  Every formula now writes the constant by its name,
    upright as a spec's constants are (alpha and delta already mean the learning rate and the error
    signal), beside its value; the worked example puts the value in with the other numbers."""
    tex = latex_source(symprop.derive(symprop.from_dict(LEAKY_HUBER)))
    leaky = tex.split(r"\subsection{Activation leaky\_relu ($\mathrm{alpha} = 0.1$)}")[1].split(r"\subsection")[0]
    assert (
        r"\operatorname{leaky\_relu}(z) &= \begin{cases} z & \text{if } z > 0 \\ \mathrm{alpha} \, z & \text{otherwise}"
        r" \end{cases}\\"
    ) in leaky
    assert (
        r"\operatorname{leaky\_relu}'(z) &= \boxed{\begin{cases} 1 & \text{if } z > 0 \\ \mathrm{alpha} & \text{otherwise}"
        r" \end{cases}} && \text{as the backward pass computes it}"
    ) in leaky
    huber = tex.split(r"\subsection{The loss, Huber loss (\texttt{huber}, $\mathrm{delta} = 0.5$)}")[1].split(r"\section")[0]
    ell = (
        r"\begin{cases} \frac{(y - t)^{2}}{2} & \text{if } \left|{t - y}\right| \leq \mathrm{delta} \\"
        r" \mathrm{delta} \, \left(\left|{t - y}\right| - \frac{\mathrm{delta}}{2}\right) & \text{otherwise} \end{cases}"
    )
    assert rf"\ell(y, t) &= {ell}\\" in huber and rf"\ell(y, t) = {ell}\\" in tex  # its section, section 2
    assert (
        r"\frac{\partial \ell}{\partial y} &= \boxed{\begin{cases} y - t & \text{if } \left|{t - y}\right| \leq \mathrm{delta}"
        r" \\ - \mathrm{delta} \, \operatorname{sign}{(t - y)} & \text{otherwise} \end{cases}}"
    ) in huber
    # the mean's 1/2 before the cases, not a fraction over them; the cases out of the line of prose
    assert r"\partial E / \partial y_{j} = \frac{1}{2} \cdot \frac{\partial \ell}{\partial y}(y_{j}, t_{j})$." in huber
    assert (
        r"\frac{\partial E}{\partial a^{(2)}_{j}} = \frac{1}{2} \begin{cases} a^{(2)}_{j} - t_{j} & \text{if }"
        r" \left|{t_{j} - a^{(2)}_{j}}\right| \leq \mathrm{delta} \\"
        r" - \mathrm{delta} \, \operatorname{sign}{(t_{j} - a^{(2)}_{j})}"
    ) in tex  # the backward step
    # the worked example: the formula by name, then in numbers, the constant as the spec gives it
    assert (
        r"\frac{\partial a^{(1)}_{2}}{\partial z^{(1)}_{2}} &= \begin{cases} 1 & \text{if } z^{(1)}_{2} > 0 \\ \mathrm{alpha}"
        r" & \text{otherwise} \end{cases} = 0.10000000"
    ) in tex
    assert r"\left|{0.21645000 - 0.8}\right| \leq 0.5 \\ - 0.5 \cdot \operatorname{sign}{(0.8 - 0.21645000)}" in tex
    for fraction in (r"\frac{z}{10}", r"\frac{1}{10}", r"\frac{1}{8}", r"\leq \frac{1}{2}"):
        assert fraction not in tex
    # small enough for every weight written out (no worked example): the factors by name as well
    written = latex_source(symprop.derive(symprop.from_dict({k: v for k, v in LEAKY_HUBER.items() if k != "example"})))
    factor = r"\cdot \begin{cases} 1 & \text{if } z^{(1)}_{1} > 0 \\ \mathrm{alpha} & \text{otherwise} \end{cases} \cdot x_{1}"
    assert factor in written
    assert r"\frac{1}{10}" not in written and r"\frac{1}{8}" not in written
    # a graph spec's worked example, element by element through each node's users
    graph = {
        "name": "leaky_huber_graph",
        "inputs": {"x": 2},
        "targets": {"t": 2},
        "params": {"W": [2, 2]},
        "nodes": {"y": "leaky_relu(W @ x, alpha=0.1)"},
        "loss": "huber(y, t, delta=0.5)",
        "example": {"x": [0.5, -0.3], "t": [0.2, 0.7], "params": {"W": [[0.1, 0.2], [0.3, -0.4]]}},
    }
    worked = latex_source(symprop.derive(symprop.from_dict(graph)))
    slope = r"\begin{cases} 1 & \text{if } (y_{\mathrm{a}})_{1} > 0 \\ \mathrm{alpha} & \text{otherwise} \end{cases} \\"
    lhs = r"\frac{\partial E}{\partial (y_{\mathrm{a}})_{1}} &= \frac{\partial E}{\partial y_{1}} \cdot "
    assert lhs + slope in worked
    numbers = r"\begin{cases} 1 & \text{if } (-0.01000000) > 0 \\ 0.1 & \text{otherwise} \end{cases}"
    assert r"&= (-0.10050000) \cdot " + numbers in worked
    assert r"\leq \frac{1}{2}" not in worked and r"\frac{1}{10}" not in worked


def test_chain_rule_steps_write_the_sigmoid_in_its_output():
    """A teacher's finding: some chain-rule sums printed (1 - sigma(z)) sigma(z) where the handout
    writes a (1 - a) everywhere else, as the tutorials do: the steps before a branch
    (``ScalarDerivation.branch_terms``) and a graph spec's worked dE/dz through its users."""
    scalar = derive("tutorial_222").scalar
    terms = scalar.branch_terms(scalar.symbols["W1"][0])
    a1 = scalar.symbols["a1"][0]
    assert [str(f.expr) for f in terms[0]] == ["a2_1 - t_1", "a2_1*(1 - a2_1)", "W2_11", "a1_1*(1 - a1_1)", "x_1"]
    assert all(f.expr == a1 * (1 - a1) for f in terms[1] if f.of == a1)
    spec = {
        "name": "sigmoid_twice",
        "inputs": {"x": 2},
        "targets": {"t": 2},
        "params": {"W": [2, 2], "V": [2, 2]},
        "nodes": {"h": "sigmoid(W @ x)", "y": "V @ h + h"},
        "loss": "half_sse(y, t)",
        "example": {
            "x": [0.5, -0.3],
            "t": [0.2, 0.7],
            "params": {"W": [[0.1, 0.2], [0.3, -0.4]], "V": [[0.5, -0.6], [0.7, 0.8]]},
        },
    }
    tex = latex_source(symprop.derive(symprop.from_dict(spec)))
    assert (
        r"\frac{\partial E}{\partial (h_{\mathrm{a}})_{1}} &= \frac{\partial E}{\partial h_{1}} \cdot h_{1} (1 - h_{1})"
        r" = 0.77730350 \cdot 0.49750002 \cdot (1 - 0.49750002) \\"
    ) in tex
    assert r"(1 - \sigma((h_{\mathrm{a}})_{1}))" not in tex


def test_constants_are_written_one_way_as_the_spec_gives_them():
    """A teacher's finding: a formula's beta read 1.5, leaky_relu's alpha \\frac{1}{10} and Huber's
    delta \\frac{1}{2} on the same kind of line (three formatters); each now reads as the spec
    wrote it.  leaky_relu's alpha was also missing from the figure's caption and the layer table,
    where a formula's constants were given."""
    tex = latex_source(derive("custom_swish"))
    assert r"\subsection{Activation leaky\_relu ($\mathrm{alpha} = 0.1$)}" in tex
    assert r"2 & 8 & leaky\_relu with $\mathrm{alpha} = 0.1$ &" in tex  # the layer table
    assert r"\footnotesize leaky\_relu, bias $b^{(2)}$\\\footnotesize with $\mathrm{alpha} = 0.1$}" in tex  # the figure
    assert r"\frac{1}{10}$" not in tex
    small = {**SOFTSQ, "layers": [{"units": 2, "activation": {"name": "leaky_relu", "alpha": 0.1}}], "loss": "half_sse"}
    written = latex_source(symprop.derive(symprop.from_dict(small)))  # unit by unit, the call with its constant
    assert r"a^{(1)}_{1} &= \operatorname{leaky\_relu}(z^{(1)}_{1}, 0.1)" in written
    plain = latex_source(derive("tutorial_222"))  # sigmoid has no constants: no "with"
    assert "sigmoid with" not in plain and r"\\\footnotesize with" not in plain


def test_a_word_in_a_product_is_set_apart_from_its_neighbours():
    """A teacher's finding: custom_swish's z sigma(beta z) read "betaz", the upright constant glued
    to the next factor.  A product with a word in it is spaced by a thin space; products of letters
    are not (z \\sigma(...)), and a product spelled with \\cdot keeps it."""
    tex = latex_source(derive("custom_swish"))
    assert r"$f_{\mathrm{swish\_b}}(z) = z \sigma(\mathrm{beta} \, z)$ with $\mathrm{beta} = 1.5$" in tex
    assert r"\mathrm{beta} z" not in tex
    z, beta, x = sp.symbols("z beta x")
    assert to_latex(3 * beta * z / 2) == r"\frac{3 \, \mathrm{beta} \, z}{2}"
    assert to_latex(beta**2 * x * sp.exp(2 * z)) == r"\mathrm{beta}^{2} \, x \, e^{2 z}"  # the inner 2 z is not spaced
    assert to_latex(beta * z, mul_symbol="dot") == r"\mathrm{beta} \cdot z"
    assert to_latex(x * z) == "x z"


def test_section_titles_begin_with_a_capital():
    """A teacher's trial: "3.1 softsq", "3.3 the loss, ...".  A title that begins with a word
    begins with a capital; a symbol or a spec's own name comes after the word."""
    for name in ("tutorial_222", "custom_swish", "concat_two_inputs", "highway"):
        titles = re.findall(r"\\(?:sub)*section\*?\{(.)", latex_source(derive(name)))
        assert titles and all(not t.islower() for t in titles), (name, titles)


def test_a_registry_function_raised_to_a_power_is_typeset():
    """Regression: a formula with ``sigmoid(z)**2`` stopped the handout with a TypeError
    (SymPy's LaTeX printer passes a power's exponent to the function's ``_latex``)."""
    spec = {
        "name": "sigsq",
        "input": 2,
        "functions": {"sigsq": "sigmoid(z)**2"},
        "layers": [{"units": 2, "activation": "sigsq"}, {"units": 1, "activation": "identity"}],
        "loss": "mse",
    }
    tex = latex_source(symprop.derive(symprop.from_dict(spec)))
    assert r"f_{\mathrm{sigsq}}(z) &= \sigma(z)^{2}" in tex


def test_graph_spec_handout_reproduces_cs231n():
    tex = latex_source(derive("cs231n_neuron"))
    assert "Backward pass, node by node" in tex
    for value in ("-0.19661193", "0.39322387", "-0.39322387", "-0.58983580", "0.19661193", "0.73105858"):
        assert value in tex, value


def test_large_network_has_matrix_form_only():
    spec = {
        "name": "mlp_784_512_512_10",
        "input": 784,
        "layers": [
            {"units": 512, "activation": "relu"},
            {"units": 512, "activation": "relu"},
            {"units": 10, "activation": "softmax"},
        ],
        "loss": "cross_entropy",
    }
    tex = latex_source(symprop.derive(symprop.from_dict(spec)))
    assert "Every weight, written out" not in tex and "Worked example" not in tex
    assert r"\section{Per-weight derivatives}" in tex
    assert f"at most {PER_WEIGHT_LIMIT} parameters" in tex and "669{,}706 parameters" in tex
    assert r"\boxed{\delta^{(1)} \, x^{\top}}" in tex
    assert len(tex) < 60_000


# -- determinism and safety -----------------------------------------------------------


@pytest.mark.parametrize("name", ["tutorial_222", "custom_swish", "cs231n_neuron"])
def test_output_is_deterministic(name):
    first = latex_source(derive(name))
    second = latex_source(derive(name))
    assert first == second
    assert not re.search(r"\d{4}-\d\d-\d\d|/tmp/|/home/|/work/", first), "dates or absolute paths in the handout"


HOSTILE = "x}\\input{/etc/passwd}$\\immediate\\write18{rm -rf ~}%"


def hostile_derivation():
    network = symprop.load(EXAMPLES / "tutorial_222.yaml")
    network = dataclasses.replace(network, name=HOSTILE, source="evil}\\input{x}%.yaml")
    return symprop.derive(network)


def test_hostile_names_are_escaped():
    tex = latex_source(hostile_derivation())
    assert "\\input{" not in tex and "\\write18" not in tex and "\\immediate" not in tex
    assert r"x\}\textbackslash{}input\{/etc/passwd\}\$\textbackslash{}immediate" in tex
    assert r"evil\}\textbackslash{}input\{x\}\%.yaml" in tex


def test_hostile_name_is_not_a_file_name(tmp_path):
    with pytest.raises(SymPropError, match="file name"):
        write_latex(hostile_derivation(), tmp_path)
    assert not list(tmp_path.iterdir())


def test_spec_reader_rejects_hostile_names(tmp_path):
    spec = (EXAMPLES / "tutorial_222.yaml").read_text(encoding="utf-8")
    path = tmp_path / "hostile.yaml"
    path.write_text(spec.replace("name: tutorial_222", 'name: "x}\\\\input{/etc/passwd}"'), encoding="utf-8")
    with pytest.raises(symprop.SpecError):
        symprop.load(path)


def test_derivation_methods_and_notebook_reprs(tmp_path):
    d = derive("tutorial_222")
    path = d.write_latex(tmp_path)
    assert path == tmp_path / "tutorial_222.tex"
    assert path.read_text(encoding="utf-8") == d.latex()
    assert d._repr_latex_().startswith("$$\\begin{aligned}") and d._repr_latex_().endswith("$$")
    assert "`tutorial_222`" in d._repr_markdown_()
    gradient = d.scalar.gradient("W2", (0, 0))._repr_latex_()
    assert r"\frac{\partial E}{\partial w^{(2)}_{11}}" in gradient and "a^{(1)}_{1}" in gradient


def test_a_derivation_at_a_prompt_says_what_it_derived():
    """A new user's `print(d)` after README's `d = symprop.derive(net)` gave
    <symprop.api.Derivation object at 0x7f2e16997250>."""
    assert repr(derive("tutorial_222")) == "<Derivation of tutorial_222: 8 parameters in W1, W2>"
    assert repr(derive("mlp_784_30_10")) == "<Derivation of mlp_784_30_10: 23,860 parameters in W1, b1, W2, b2>"


# -- compiling ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: p.stem)
def test_every_example_compiles(spec, tmp_path):
    needs_tex()
    tex = write_latex(symprop.derive(symprop.load(spec)), tmp_path)
    pdf = compile_pdf(tex, keep_log=True)
    assert pdf == tex.with_suffix(".pdf") and pdf.stat().st_size > 10_000
    # nothing set into the margin (a new user found the tanh derivation 14 pt into it)
    wide = [(width, where) for width, where in overfull_boxes(tex.with_suffix(".log").read_text(encoding="utf-8")) if width > 1]
    assert not wide, f"{spec.stem}: lines wider than the text: {wide}"


TWO_INPUTS = {  # named so that its page 5 began with a step's remark (the name is on the pages)
    "name": "ti7",
    "inputs": {"u": 3, "v": 2},
    "targets": {"t": 7},
    "params": {"Wu": [7, 3], "Wv": [7, 2], "b": [7]},
    "nodes": {"h": "tanh(Wu @ u + Wv @ v + b)", "y": "sigmoid(h)"},
    "loss": "half_sse(y, t)",
}


def test_no_line_is_stranded_from_its_paragraph_or_its_display(tmp_path):
    """A teacher's trial: a graph spec's page began with "computes." (a paragraph's last line) and
    this spec's page 5 with "the loss's derivative times the activation's." (a backward step's
    remark, its display on page 4).  The preamble forbids widows and orphans (none above a display
    either), and a backward step keeps its display whole, with its remark and NumPy line."""
    tex_source = latex_source(symprop.derive(symprop.from_dict(TWO_INPUTS, source="ti7.yaml")))
    assert r"\widowpenalty=10000 \clubpenalty=10000 \displaywidowpenalty=10000" in tex_source
    step = r"\begingroup\interdisplaylinepenalty=10000 \postdisplaypenalty=10000"
    assert tex_source.count(step) == tex_source.count(r"\paragraph{$\partial E") > 0
    needs_pdftotext()
    tex = tmp_path / "ti7.tex"
    tex.write_text(tex_source, encoding="utf-8")
    pdf = compile_pdf(tex)
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    heads = [next((line.strip() for line in page.splitlines() if line.strip()), "") for page in pages.split("\f")[1:]]
    assert not [head for head in heads if head.startswith(("the loss's", "the loss’s", "computes", "NumPy:"))], heads


def test_hostile_handout_compiles(tmp_path):
    needs_tex()
    tex = tmp_path / "hostile.tex"
    tex.write_text(latex_source(hostile_derivation()), encoding="utf-8")
    assert compile_pdf(tex).is_file()


def test_latex_errors_are_reported(tmp_path):
    needs_tex()
    tex = tmp_path / "broken.tex"
    tex.write_text("\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}\n", encoding="utf-8")
    with pytest.raises(SymPropError, match="Undefined control sequence"):
        compile_pdf(tex)
    assert not tex.with_suffix(".pdf").exists()


def test_missing_latexmk_is_a_clear_error(tmp_path, monkeypatch):
    tex = tmp_path / "a.tex"
    tex.write_text("x", encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SymPropError, match="latexmk not found"):
        compile_pdf(tex)


def test_the_product_rule_subtracts_a_negative_term():
    """Regression: softsign's product rule printed '... + - \\frac{...}'."""
    import sympy as sp

    from symprop import differentiation
    from symprop.emit.latex.derivative_steps import chain_rule_step

    z = sp.Symbol("z", real=True)
    tex, value, reason = chain_rule_step(z / (1 + differentiation.Abs(z)), z)
    assert reason == "product rule" and "+ -" not in tex and " - " in tex
    assert sp.simplify(value - sp.diff(z / (1 + differentiation.Abs(z)), z)) == 0


def test_the_handout_states_the_chain_rule_terms_cap():
    """Issue 16: the per-weight view is capped by its expression size (chain-rule terms), not only
    by the parameter count; a 7-step Elman RNN (42 parameters, 10,922 terms a derivative of Wx)
    says so in the LaTeX and HTML editions."""
    body = yaml.safe_load((EXAMPLES / "elman_rnn.yaml").read_text(encoding="utf-8"))
    body["inputs"] = {"x{k}": {"for": "k in 1..7", "value": 3}}
    body["nodes"]["h{k}"]["for"] = "k in 2..7"
    body["nodes"]["y"] = "Wy @ h7 + by"
    d = symprop.derive(symprop.from_dict(body))
    tex = d.latex()
    assert "would be a sum of 10{,}922 chain-rule terms" in tex
    assert "at most 100 parameters and 1{,}000 terms a derivative" in tex
    assert "would be a sum of 10,922 chain-rule terms" in d.html()


@pytest.mark.parametrize("name", ["gated_unit", "highway", "concat_two_inputs"])
def test_no_doubled_multiplication_dot(name):
    """A new user's regression: per-weight rows whose adjoint is a sum put a dot before every
    later factor, which already had one: ``(1 - h_v^2) \\cdot \\cdot v_1`` (30 in gated_unit)."""
    tex = latex_source(symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml")))
    assert not re.search(r"\\cdot\s*\\cdot", tex)
    assert r"\cdot" in tex


def test_an_adjoint_added_with_a_minus_is_a_subtraction():
    """A new user's finding: the handout's code line ``dZ6 = dZ6 + -dH6_a`` (embedding_gru)."""
    tex = latex_source(symprop.derive(symprop.load(EXAMPLES / "embedding_gru.yaml")))
    assert r"\texttt{dZ6 = dZ6 - dH6\_a}" in tex
    assert not re.search(r"= (\w+) \+ -", tex)


#: Each loss as a handout writes it in a formula (tutorial_222 with that loss: two outputs a^(2)),
#: printed from its term: never its spec name as an identifier (a new user's finding:
#: ``E = half_sse(a^(2), t)``, ``\operatorname{cross\_entropy}(y, t)``).
LOSS_FORMULAS = {
    "binary_cross_entropy": r"-\frac{1}{2} \sum_{i=1}^{2} (t_{i} \log{(a^{(2)}_{i})} + (1 - t_{i}) \log{(1 - a^{(2)}_{i})})",
    "cross_entropy": r"-\sum_{i=1}^{2} t_{i} \log{(a^{(2)}_{i})}",
    "half_sse": r"\sum_{i=1}^{2} \frac{(t_{i} - a^{(2)}_{i})^{2}}{2}",
    "huber": r"\frac{1}{2} \sum_{i=1}^{2} \begin{cases} \frac{(a^{(2)}_{i} - t_{i})^{2}}{2} & \text{if } "
    r"\left|{t_{i} - a^{(2)}_{i}}\right| \leq \mathrm{delta} \\ \mathrm{delta} \, \left(\left|{t_{i} - a^{(2)}_{i}}\right|"
    r" - \frac{\mathrm{delta}}{2}\right) & \text{otherwise} \end{cases}",  # delta by name, as the spec says it
    "mae": r"\frac{1}{2} \sum_{i=1}^{2} \left|{t_{i} - a^{(2)}_{i}}\right|",
    "mse": r"\frac{1}{2} \sum_{i=1}^{2} (a^{(2)}_{i} - t_{i})^{2}",
}


@pytest.mark.parametrize("name", sorted(symprop.registry.LOSSES))
def test_a_loss_is_written_as_its_formula_in_every_edition(name):
    spec = yaml.safe_load((EXAMPLES / "tutorial_222.yaml").read_text())
    spec["loss"] = name
    if name == "cross_entropy":
        spec["layers"][-1]["activation"] = "softmax"
    d = symprop.derive(symprop.from_dict(spec))
    tex, html = latex_source(d), d.html()
    sources = [tex, html, *d.exercises_latex()]
    assert "E = " + LOSS_FORMULAS[name] + "\n" in tex
    assert "E = " + LOSS_FORMULAS[name] in sources[2]  # the worksheet's network
    graph = {"name": "g", "inputs": {"x": 2}, "targets": {"t": 2}, "params": {"W": [2, 2]},
             "nodes": {"a2": ("softmax" if name == "cross_entropy" else "sigmoid") + "(W @ x)"}, "loss": f"{name}(a2, t)"}
    graph_tex = latex_source(symprop.derive(symprop.from_dict(graph)))
    assert "E &= " + LOSS_FORMULAS[name].replace("a^{(2)}", "(a_{2})") + "\n" in graph_tex
    for source in (*sources, graph_tex, symprop.derive(symprop.from_dict(graph)).html()):
        assert not re.search(r"operatorname\{[^}]*" + name.replace("_", r"\\_"), source)


def test_a_loss_of_one_output_keeps_its_signs():
    """No sum from 1 to 1, and no minus pulled out of an unbracketed sum (a first draft wrote
    ``-t log a + (1 - t) log(1 - a)`` for one_weight_bce, a sign wrong)."""
    tex = latex_source(derive("one_weight_bce"))
    assert r"E = - t_{1} \log{(a^{(1)}_{1})} - (1 - t_{1}) \log{(1 - a^{(1)}_{1})}" + "\n" in tex


def test_binary_cross_entropy_derivative_is_boxed_as_a_textbook_writes_it():
    """A new user's finding: the handout boxed SymPy's ``(t - y)/(y (y - 1))``, as long as the
    textbook's ``(y - t)/(y (1 - y))``.  Among equally short forms the one with the sums' signs
    a textbook uses wins (``textbook_forms.textbook_form``), and sigmoid + BCE still fuse to a - t
    (SymPy's product of the two now cancels by itself: the step still shows the product)."""
    tex = latex_source(derive("one_weight_bce"))
    assert r"&= \boxed{\frac{y - t}{y (1 - y)}} && \text{simplified (as the backward pass computes it)}" in tex
    assert r"\frac{t - y}" not in tex and "y - 1)" not in tex
    assert r"\cdot a^{(1)}_{j} (1 - a^{(1)}_{j}) = a^{(1)}_{j} - t_{j}\\" in tex
    assert r"\delta^{(1)} = a^{(1)} - t" + "\n" in tex


def test_equally_short_forms_prefer_the_textbook_signs():
    import sympy as sp

    from symprop.textbook_forms import textbook_form

    y, t, z = sp.symbols("y t z")
    assert str(textbook_form([(t - y) / (y * (y - 1))], sp.count_ops)) == "(-t + y)/(y*(1 - y))"
    assert str(textbook_form([(z - 1) / (z - 3)], sp.count_ops)) == "(z - 1)/(z - 3)"  # 1 - z, but 3 - z: a tie
    assert str(textbook_form([(z - 2) * (z - 3)], sp.count_ops)) == "(z - 3)*(z - 2)"  # not 2 - z
    assert str(textbook_form([(z - 1) * (z - 3)], sp.count_ops)) == "(z - 3)*(z - 1)"  # a tie: as it was
    assert textbook_form([y * (1 - y)], sp.count_ops) == y * (1 - y)  # one sum: nothing to move


def test_rows_of_named_functions_are_not_paired_past_the_margin():
    """A new user's finding: in the worked numbers of a 2-2-1 tanh network (student edition, 10 pt)
    ``a1 = tanh(...)`` and ``a2 = tanh(...)`` were set side by side, wider than the text and pushed
    into the left margin: ``\\tanh`` was counted one character wide.  sigma rows still pair."""
    from symprop.emit.latex.layout import segments

    tanh_rows = [rf"a^{{(1)}}_{{{j}}} &= \tanh{{(z^{{(1)}}_{{{j}}})}} = \tanh{{(0.60000000)}} = 0.53704957" for j in (1, 2)]
    assert segments(tanh_rows) == [tanh_rows]
    sigma_rows = [rf"a^{{(1)}}_{{{j}}} &= \sigma(z^{{(1)}}_{{{j}}}) = \sigma(0.40000000) = 0.59868766" for j in (1, 2)]
    assert segments(sigma_rows) == [[" & ".join(sigma_rows)]]
    spec = {"name": "xor_net", "input": 2, "loss": "binary_cross_entropy",
            "layers": [{"units": 2, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}],
            "example": {"x": [1, 0], "t": [1], "learning_rate": 0.5,
                        "params": {"W1": [[0.5, -0.4], [0.3, 0.8]], "b1": [0.1, -0.2],
                                   "W2": [[0.7, -0.6]], "b2": [0.05]}}}  # fmt: skip
    student = symprop.derive(symprop.from_dict(spec)).latex("student")
    assert r"= 0.53704957\\" + "\n" + r"a^{(1)}_{2} &= \tanh" in student


def _two_alphas(first: str) -> dict:
    return {
        "name": "two_alphas",
        "inputs": {"x": 2},
        "targets": {"t": 2},
        "params": {"W": [2, 2], "V": [2, 2]},
        "nodes": {"h": first, "y": "leaky_relu(V @ h, alpha=0.1)"},
        "loss": "half_sse(y, t)",
        "example": {
            "x": [0.5, -0.3],
            "t": [0.2, 0.7],
            "params": {"W": [[0.1, 0.2], [0.3, -0.4]], "V": [[0.5, -0.6], [0.7, 0.8]]},
        },
    }


@pytest.mark.parametrize("first", ["leaky_relu(W @ x, alpha=0.3)", "elu(W @ x)"])
def test_a_constant_name_of_two_values_is_written_in_numbers_in_the_worked_example(first):
    """Regression (review): the worked example put one value in for every alpha (leaky_relu's 0.3
    and 0.1, elu's 1 beside leaky_relu's 0.1): dE/dh_a read 0.1 where the layer's alpha is 0.3 or 1,
    and printed a wrong number.  A name with two values is written in numbers, and every worked
    number agrees with the module's."""
    tex = latex_source(symprop.derive(symprop.from_dict(_two_alphas(first))))
    # dE/d(h_a)_1 = dE/dh_1 * h's slope at (h_a)_1 = -0.01 < 0: 0.3, or elu's alpha e^z = 0.99005
    slope = 0.3 if "leaky" in first else math.exp(-0.01)
    upstream = re.search(r"&= \((-0\.\d+)\) \\cdot \\begin\{cases\} 1 & \\text\{if \} \(-0\.01000000\) > 0", tex)
    assert upstream is not None
    value = re.search(r"&= (-?\d\.\d{8})\\\\", tex[upstream.end() :])
    assert abs(float(value.group(1)) - float(upstream.group(1)) * slope) < 1e-7
