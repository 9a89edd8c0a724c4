"""What the handout takes from the best tutorials: the four backprop equations in a box, the table
of a tutorial's names (the spec's ``tutorial_names``), the first weight told factor by factor, the
weights on the figure's edges, CS231n's gate patterns and grouped sigmoid gate, and the lecture's
warm-up f = (x + y) z."""

from __future__ import annotations

import re

import pytest
import sympy as sp
from conftest import EXAMPLES

import symprop
from symprop.aliases import alias_latex
from symprop.cli import main
from symprop.emit.latex.handout import Handout
from symprop.ops.base import arg_symbol
from symprop.ops.elementwise import Elementwise

LAYERS_222 = EXAMPLES / "tutorial_222.yaml"


@pytest.fixture(scope="module")
def derivations():
    names = ("tutorial_222", "softmax_classifier", "custom_swish", "layer_equations_222", "cs231n_neuron", "cs231n_warmup")
    return {name: symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml")) for name in names}


def _derive(text: str, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return symprop.derive(symprop.load(spec))


# -- the box of the four equations -----------------------------------------------------------

BOX_222 = [
    r"\text{output error} \quad & \delta^{(2)} = \frac{\partial E}{\partial a^{(2)}} \odot \sigma'(z^{(2)})"
    r" = (a^{(2)} - t) \odot a^{(2)} \odot (1 - a^{(2)})",
    r"\text{hidden error} \quad & \delta^{(l)} = \Bigl(\bigl(W^{(l+1)}\bigr)^{\top} \delta^{(l+1)}\Bigr)"
    r" \odot \sigma'(z^{(l)}), \quad l = 1",
    r"\text{weight gradient} \quad & \frac{\partial E}{\partial W^{(l)}} = \delta^{(l)} \, \bigl(a^{(l-1)}\bigr)^{\top},"
    r" \quad a^{(0)} = x, \quad l = 1, 2",
    r"\text{bias gradient} \quad & \frac{\partial E}{\partial b^{(l)}} = \delta^{(l)} \quad \text{(this network has no biases)}",
]


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("tutorial_222", BOX_222),
        (
            "softmax_classifier",  # softmax fused with cross-entropy; relu hidden layer; biases
            [
                r"\text{output error} \quad & \delta^{(2)} = \frac{\partial E}{\partial z^{(2)}} = a^{(2)} - t",
                r"\text{hidden error} \quad & \delta^{(l)} = \Bigl(\bigl(W^{(l+1)}\bigr)^{\top} \delta^{(l+1)}\Bigr)"
                r" \odot \operatorname{relu}'(z^{(l)}), \quad l = 1",
                BOX_222[2],
                r"\text{bias gradient} \quad & \frac{\partial E}{\partial b^{(l)}} = \delta^{(l)}",
            ],
        ),
        (
            "custom_swish",  # an identity output (no "odot 1"), two different hidden activations
            [
                r"\text{output error} \quad & \delta^{(3)} = \frac{\partial E}{\partial a^{(3)}} = - \tanh{(t - a^{(3)})}",
                r"\text{hidden error} \quad & \delta^{(l)} = \Bigl(\bigl(W^{(l+1)}\bigr)^{\top} \delta^{(l+1)}\Bigr)"
                r" \odot f_l'(z^{(l)}), \quad l = 1, 2",
                BOX_222[2].replace("l = 1, 2", "l = 1, 2, 3"),
                r"\text{bias gradient} \quad & \frac{\partial E}{\partial b^{(l)}} = \delta^{(l)}",
            ],
        ),
    ],
)
def test_the_box_has_the_four_equations_in_the_networks_names(derivations, name, rows):
    d = derivations[name]
    assert Handout(d).context()["backprop_box"] == rows
    for edition in ("full", "student"):
        box = re.search(
            r"\\subsection\*\{The four equations of backpropagation\}.*?\\boxed\{\\begin\{aligned\}(.*?)\\end\{aligned\}",
            d.latex(edition),
            re.S,
        )
        assert [row.strip() for row in box.group(1).split(r"\\[0.4ex]")] == rows, edition
        page = d.html(edition)
        assert "<h3>The four equations of backpropagation</h3>" in page
        assert r"\text{output error}" in page and r"\text{bias gradient}" in page


def test_a_graph_spec_has_no_box(derivations):
    """A graph has no layers l: the box's recursion does not apply (its gate patterns do)."""
    d = derivations["cs231n_neuron"]
    assert Handout(d).context()["backprop_box"] is None
    assert "four equations" not in d.latex() and "four equations" not in d.html()


def test_the_student_edition_leaves_the_matrix_forms_to_the_box(derivations):
    """The student edition says each parameter's matrix form once, in the box; the full one beside each."""
    d = derivations["tutorial_222"]
    assert r"\boxed{\delta^{(2)} \, \bigl(a^{(1)}\bigr)^{\top}}" in d.latex("full")
    assert r"\boxed{\delta^{(2)} \, \bigl(a^{(1)}\bigr)^{\top}}" not in d.latex("student")
    assert "The box above gives the same for the whole matrix." in d.latex("student")


# -- the tutorial's names ----------------------------------------------------------------------


def test_the_spec_names_the_tutorials_weights_and_units():
    aliases = symprop.load(LAYERS_222).aliases
    assert aliases == {
        "W1_11": "W1", "W1_12": "W2", "W1_21": "W3", "W1_22": "W4",
        "W2_11": "W5", "W2_12": "W6", "W2_21": "W7", "W2_22": "W8",
        "z1_1": "z1", "z1_2": "z2", "z2_1": "z3", "z2_2": "z4",
        "a1_1": "h1", "a1_2": "h2", "a2_1": "o1", "a2_2": "o2",
    }  # fmt: skip


def test_the_alias_table_maps_each_tensors_elements(derivations):
    """One tensor a row (two in the student edition's 10 pt, where two fit the text width)."""
    cells = [
        ("$W^{(1)}$", "$w^{(1)}_{11} = W_{1}$, $w^{(1)}_{12} = W_{2}$, $w^{(1)}_{21} = W_{3}$, $w^{(1)}_{22} = W_{4}$"),
        ("$W^{(2)}$", "$w^{(2)}_{11} = W_{5}$, $w^{(2)}_{12} = W_{6}$, $w^{(2)}_{21} = W_{7}$, $w^{(2)}_{22} = W_{8}$"),
        ("$z^{(1)}$", "$z^{(1)}_{1} = z_{1}$, $z^{(1)}_{2} = z_{2}$"),
        ("$z^{(2)}$", "$z^{(2)}_{1} = z_{3}$, $z^{(2)}_{2} = z_{4}$"),
        ("$a^{(1)}$", "$a^{(1)}_{1} = h_{1}$, $a^{(1)}_{2} = h_{2}$"),
        ("$a^{(2)}$", "$a^{(2)}_{1} = o_{1}$, $a^{(2)}_{2} = o_{2}$"),
    ]
    d = derivations["tutorial_222"]
    for edition, per_row in (("full", 1), ("student", 2)):
        table = Handout(d, edition).context()["aliases"]
        assert [[(c["symbol"], c["names"]) for c in row] for row in table] == [
            cells[i : i + per_row] for i in range(0, 6, per_row)
        ]
        source = d.latex(edition)
        assert r"\subsection*{The tutorial's names}" in source
        first = " & ".join(" & ".join(cell) for cell in cells[:per_row]) + r"\\"
        assert "\n" + first + "\n" in source, edition
        page = d.html(edition)
        assert "<h3>The tutorial's names</h3>" in page and page.count('<tr><td><span class="math">') >= 6


def test_no_alias_table_without_aliases(derivations):
    d = derivations["layer_equations_222"]
    assert Handout(d).context()["aliases"] is None
    assert "tutorial's names" not in d.latex("student") and "tutorial's names" not in d.html("student")


@pytest.mark.parametrize(
    ("alias", "tex"),
    [("W5", "W_{5}"), ("h", "h"), ("net_h1", r"\mathrm{net}_{h1}"), ("Etotal", r"\mathrm{Etotal}"), ("o_2", "o_{2}")],
)
def test_an_alias_in_latex(alias, tex):
    assert alias_latex(alias) == tex


def test_alias_latex_refuses_what_the_reader_would_refuse():
    with pytest.raises(ValueError):
        alias_latex(r"\input{x}")


SPEC_222 = LAYERS_222.read_text().split("tutorial_names:")[0]

# (case, the tutorial_names field, the field named, the message after it)
BAD_ALIASES = [
    (
        "unknown_name",
        "tutorial_names: {W3_11: w9}",
        "tutorial_names.W3_11",
        "unknown name 'W3_11'; expected a tensor (x, W1, z1, a1, W2, z2, a2, t, E) or one of its elements by its "
        "claim name (x_1, x_2, W1_11, ...)",
    ),
    (
        "element_out_of_range",
        "tutorial_names: {W2_13: w9}",
        "tutorial_names.W2_13",
        "unknown name 'W2_13'; expected a tensor (x, W1, z1, a1, W2, z2, a2, t, E) or one of its elements by its "
        "claim name (x_1, x_2, W1_11, ...)",
    ),
    (
        "latex_in_value",
        r"tutorial_names: {W2_11: '\input{secret}'}",
        "tutorial_names.W2_11",
        "expected a name of letters and digits such as W5, h or net_h1, got str '\\\\input{secret}'",
    ),
    (
        "space_in_value",
        "tutorial_names: {W2_11: 'w 5'}",
        "tutorial_names.W2_11",
        "expected a name of letters and digits such as W5, h or net_h1, got str 'w 5'",
    ),
    (
        "number_value",
        "tutorial_names: {W2_11: 5}",
        "tutorial_names.W2_11",
        "expected a name of letters and digits such as W5, h or net_h1, got int 5",
    ),
    (
        "tensor_alias_with_digits",
        "tutorial_names: {a1: h1}",
        "tutorial_names.a1",
        "a whole tensor's alias is letters only (its elements add their index: h -> h1, h2), got 'h1'",
    ),
    (
        "same_alias_twice",
        "tutorial_names: {a1: h, z1_1: h1}",
        "tutorial_names.z1_1",
        "the name 'h1' also names a1_1; each name may stand for one element",
    ),
    (
        "not_a_mapping",
        "tutorial_names: [W5]",
        "tutorial_names",
        "expected a mapping of handout name: tutorial name (W2_11: W5, a1: h), got list ['W5']",
    ),
    (
        "empty_mapping",
        "tutorial_names: {}",
        "tutorial_names",
        "expected a mapping of handout name: tutorial name (W2_11: W5, a1: h), got dict {}",
    ),
    (
        "too_many",
        "tutorial_names: {" + ", ".join(f"x_{i}: v{i}" for i in range(201)) + "}",
        "tutorial_names",
        "201 names; at most 200 are allowed",
    ),
]


@pytest.mark.parametrize(("case", "field", "where", "message"), BAD_ALIASES, ids=[c[0] for c in BAD_ALIASES])
def test_bad_aliases_give_one_line_naming_file_and_field(tmp_path, capsys, case, field, where, message):
    spec = tmp_path / f"{case}.yaml"
    spec.write_text(SPEC_222 + field + "\n")
    out = tmp_path / "out"
    assert main(["derive", str(spec), "-o", str(out), "--emit", "all"]) == 2
    err = capsys.readouterr().err
    assert err == f"symprop: error: {spec}: {where}: {message}\n"
    assert not out.exists()


def test_a_graph_spec_does_not_take_aliases(tmp_path, capsys):
    """Aliases name a layer stack's elements; a graph spec's names are its author's already."""
    spec = tmp_path / "graph.yaml"
    spec.write_text((EXAMPLES / "cs231n_warmup.yaml").read_text() + "tutorial_names: {q: a}\n")
    assert main(["derive", str(spec), "-o", str(tmp_path / "out")]) == 2
    assert f"{spec}: tutorial_names: unknown field" in capsys.readouterr().err


# -- the first weight, factor by factor ---------------------------------------------------------

FIRST_WEIGHTS_222 = [
    # the output layer's first weight, in the worked-example tutorial's names and numbers
    r"\frac{\partial E}{\partial W_{5}} &= \frac{\partial E}{\partial o_{1}} \cdot \frac{\partial o_{1}}{\partial z_{3}}"
    r" \cdot \frac{\partial z_{3}}{\partial W_{5}} = 0.20944600 \cdot 0.23802157 \cdot 0.51998934 = 0.02592286",
    r"{W_{5}}^{+} &= W_{5} - \alpha \, \frac{\partial E}{\partial W_{5}} = 0.45 - 0.5 \cdot 0.02592286 = 0.43703857"
    r" \qquad (W_{5} = w^{(2)}_{11})",
    # the hidden layer's first weight
    r"\frac{\partial E}{\partial W_{1}} &= \frac{\partial E}{\partial h_{1}} \cdot \frac{\partial h_{1}}{\partial z_{1}}"
    r" \cdot \frac{\partial z_{1}}{\partial W_{1}} = 0.03240681 \cdot 0.24960043 \cdot 0.10000000 = 0.00080888",
    r"{W_{1}}^{+} &= W_{1} - \alpha \, \frac{\partial E}{\partial W_{1}} = 0.3 - 0.5 \cdot 0.00080888 = 0.29959556"
    r" \qquad (W_{1} = w^{(1)}_{11})",
]


@pytest.mark.parametrize("edition", ["full", "student"])
def test_the_first_weight_of_each_layer_is_told_factor_by_factor(derivations, edition):
    source = derivations["tutorial_222"].latex(edition)
    for line in FIRST_WEIGHTS_222:
        assert line in source, line
    assert "written out for the first weight in\nthe tutorial's names" in source
    page = derivations["tutorial_222"].html(edition)
    assert r"\frac{\partial E}{\partial W_{5}}" in page and "0.43703857" in page


def test_without_aliases_the_first_weight_is_told_in_the_handouts_names(derivations):
    source = derivations["layer_equations_222"].latex()
    first = re.search(r"\\frac\{\\partial E\}\{\\partial w\^\{\(2\)\}_\{11\}\} &= (.*)", source).group(1)
    assert first.startswith(
        r"\frac{\partial E}{\partial a^{(2)}_{1}} \cdot \frac{\partial a^{(2)}_{1}}{\partial z^{(2)}_{1}}"
        r" \cdot \frac{\partial z^{(2)}_{1}}{\partial w^{(2)}_{11}} = "
    )
    assert r"{w^{(2)}_{11}}^{+} &= w^{(2)}_{11} - \alpha \, \frac{\partial E}{\partial w^{(2)}_{11}} = " in source


# -- the weights on the figure's edges ------------------------------------------------------------


def test_every_edge_of_the_small_figure_carries_its_weight_and_crossing_labels_sit_apart(derivations):
    """Each of the 8 connections of the 2-2-2 network is labelled with its weight (and, where the
    spec names it, the tutorial's name); of two edges that cross, one label sits near its source
    and the other near its target (never both mid-way)."""
    tutorial = {"11": 1, "12": 2, "21": 3, "22": 4}
    for name, named in (("tutorial_222", True), ("layer_equations_222", False)):
        edges = Handout(derivations[name]).context()["figure"]["edges"]
        expected = {
            f"w^{{({n})}}_{{{jk}}}": f"w^{{({n})}}_{{{jk}}}" + (f" = W_{{{tutorial[jk] + 4 * (n - 1)}}}" if named else "")
            for n in (1, 2)
            for jk in tutorial
        }
        assert sorted(e["label"] for e in edges) == sorted(expected.values()), name
        places = {e["label"]: e["place"] for e in edges}
        for layer in (1, 2):
            place = {jk: places[expected[f"w^{{({layer})}}_{{{jk}}}"]] for jk in tutorial}
            assert place["11"] == place["22"] == "pos=0.5, above"
            assert {place["21"], place["12"]} == {"pos=0.2, below", "pos=0.8, below"}
    caption = "carries the weight $w^{(l)}_{jk}$ (and its name in the tutorial)."
    assert caption in derivations["tutorial_222"].latex("student")
    assert caption not in derivations["layer_equations_222"].latex("student")


# -- gate patterns and the grouped sigmoid ------------------------------------------------------


def test_the_gate_patterns_are_those_of_the_gates_present(derivations):
    neuron = Handout(derivations["cs231n_neuron"]).context()["gate_patterns"]
    assert neuron == [
        r"A multiply gate ($\times$) swaps its inputs (a switcher): each input receives the output's gradient times the"
        " other input's value.",
        "An add gate ($+$) distributes the gradient (a distributor): each input receives it unchanged.",
        r"The $\times (-1)$ gate multiplies the gradient by $-1$, its local gradient.",
        "The $e^{x}$ gate multiplies the gradient by its local gradient $e^{x}$ at its input $x$.",
        "A gate adding a constant ($+1$) passes the gradient on unchanged: its local gradient is 1.",
        r"The $\frac{1}{x}$ gate multiplies the gradient by its local gradient $- \frac{1}{x^{2}}$ at its input $x$.",
    ]
    warmup = Handout(derivations["cs231n_warmup"]).context()["gate_patterns"]
    assert warmup == [neuron[1], neuron[0]]  # the add gate comes first in f = (x + y) z
    assert Handout(derivations["tutorial_222"]).context()["gate_patterns"] is None  # a layer stack


U0 = arg_symbol(0)


@pytest.mark.parametrize(
    ("formula", "kind", "number"),
    [(U0 + 1, "shift", 1), (U0 - sp.Rational(1, 2), "shift", -sp.Rational(1, 2)), (-U0, "scale", -1), (3 * U0, "scale", 3),
     (U0, "scale", 1), (sp.exp(U0), "function", None), (1 / U0, "function", None)],
)  # fmt: skip
def test_a_gate_of_one_input_is_classified_once_for_its_symbol_and_its_sentence(formula, kind, number):
    """Elementwise.one_input_gate, which latex_gate and gate_pattern both read (they simplified twice)."""
    assert Elementwise(formula, ((),)).one_input_gate == (kind, number)


def test_a_max_gate_routes_and_a_sigmoid_op_gives_its_local_gradient(tmp_path):
    d = _derive(
        "name: routed\ninputs: {x0: [], x1: []}\nparams: {w0: [], w1: [], w2: []}\n"
        "nodes: {s: 'w0*x0 + w1*x1 + w2', f: 'sigmoid(s)', g: 'max(f, x0)'}\nloss: g\n"
        "example: {x0: -1.0, x1: -2.0, params: {w0: 2.0, w1: -3.0, w2: -3.0}}\n",
        tmp_path,
    )
    context = Handout(d).context()
    assert "A max gate routes the gradient (a router): the larger input gets it, the other 0." in context["gate_patterns"]
    assert (
        r"The $\sigma$ gate multiplies the gradient by its local gradient $\sigma'(x) = \sigma(x) (1 - \sigma(x))$"
        " at its input $x$." in context["gate_patterns"]
    )
    assert context["grouped_gates"] == [
        r"The $\sigma$ gate of $f$: its local gradient is $\partial f / \partial s = \sigma'(s) = f (1 - f)"
        r" = 0.73105858 \cdot (1 - 0.73105858) = 0.19661193$."
    ]


def test_the_lectures_expanded_sigmoid_is_grouped_into_one_gate(derivations):
    """1/(1 + exp(-x)) is four gates on the slide; grouped, its local gradient is (1 - sigma) sigma = 0.20."""
    d = derivations["cs231n_neuron"]
    line = (
        r"The four gates from $f_{\mathrm{d}}$ to $f$ compute one function, $f = \sigma(f_{\mathrm{d}})$: grouped into one"
        r" gate, its local gradient is $\partial f / \partial f_{\mathrm{d}} = \sigma'(f_{\mathrm{d}}) = f (1 - f)"
        r" = 0.73105858 \cdot (1 - 0.73105858) = 0.19661193$,"
        " the product of the local gradients of the gates it groups."
    )
    assert Handout(d).context()["grouped_gates"] == [line]
    assert line in d.latex("student")
    assert "\\subsection{Gate patterns}" in d.latex() and "Gate patterns</h3>" in d.html()
    assert "0.19661193" in d.html("student")


def test_no_group_where_the_gates_compute_no_activation(tmp_path):
    d = _derive(
        "name: chain\ninputs: {x: []}\nparams: {w: []}\nnodes: {f: '1/(2 + exp(w*x))'}\nloss: f\n"
        "example: {x: 1.0, params: {w: 0.5}}\n",
        tmp_path,
    )
    assert Handout(d).context()["grouped_gates"] is None


# -- the warm-up: f = (x + y) z -----------------------------------------------------------------


def test_the_warmup_carries_the_lectures_numbers(derivations):
    """x = -2, y = 5, z = -4: q = 3, f = -12; df/dz = 3, df/dq = -4, df/dx = df/dy = -4."""
    d = derivations["cs231n_warmup"]
    figure = Handout(d).context()["figure"]
    edges = {(e["source"], e["target"]): (e["value"], e["gradient"]) for e in figure["edges"]}
    names = {n["name"]: n["label"] for n in figure["nodes"]}
    by_label = {(names[s], names[t]): v for (s, t), v in edges.items()}
    assert by_label == {
        ("x", "q"): ("-2.00", "-4.00"),
        ("y", "q"): ("5.00", "-4.00"),
        ("z", "f"): ("-4.00", "3.00"),
        ("q", "f"): ("3.00", "-4.00"),
    }
    assert (figure["out"]["value"], figure["out"]["gradient"]) == ("-12.00", "1.00")
    source = d.latex()
    for line in (
        r"q &= x + y = (-2) + 5 = 3.00000000",
        r"f &= q z = 3.00000000 \cdot (-4) = -12.00000000",
        r"\frac{\partial E}{\partial q} &= \frac{\partial E}{\partial f} \cdot z = 1.00000000 \cdot (-4) = -4.00000000",
        r"\frac{\partial E}{\partial z} &= \frac{\partial E}{\partial f} \cdot q = 1.00000000 \cdot 3.00000000 = 3.00000000",
        r"\frac{\partial E}{\partial y} &= \frac{\partial E}{\partial q} = -4.00000000",
        r"\frac{\partial E}{\partial x} &= \frac{\partial E}{\partial q} = -4.00000000",
    ):
        assert line in source, line


def test_the_gate_patterns_survive_markdown_as_a_list(derivations):
    """Each sentence one list item, its math inline (a list item is no display of its own)."""
    from symprop.emit.web.markdown import to_markdown

    markdown = to_markdown(derivations["cs231n_warmup"].html("student"))
    section = markdown.split("### Gate patterns")[1].split("## ")[0]
    items = [line for line in section.splitlines() if line.startswith("- ")]
    assert items == [
        r"- An add gate (\\( \+ \\)) distributes the gradient (a distributor): each input receives it unchanged.",
        r"- A multiply gate (\\( \\times \\)) swaps its inputs (a switcher): each input receives the output's gradient times"
        " the other input's value.",
    ]


def test_a_negative_value_in_the_grouped_gradient_is_bracketed(tmp_path):
    """1 - f^2 at f = -0.76: 1 - (-0.76159416)^2, never 1 - -0.76159416^2."""
    d = _derive(
        "name: tanh_gate\ninputs: {x: []}\nparams: {w: []}\nnodes: {s: 'w*x', f: 'tanh(s)'}\nloss: f\n"
        "example: {x: -1.0, params: {w: 1.0}}\n",
        tmp_path,
    )
    assert Handout(d).context()["grouped_gates"] == [
        r"The $\tanh$ gate of $f$: its local gradient is $\partial f / \partial s = \tanh'(s) = 1 - f^{2}"
        r" = 1 - (-0.76159416)^{2} = 0.41997434$."
    ]
