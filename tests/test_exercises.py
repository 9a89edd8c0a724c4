"""Exercises: the worksheet's questions, the answer key's numbers (checked against autograd and the
seed tutorials), no answer on the worksheet, both documents compiling, the CLI flag and its errors."""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pytest
from autograd import grad
from autograd_layers import LayerStack
from conftest import EXAMPLES, LEAKY_HUBER, needs_tex

import symprop
from symprop.check import load_module
from symprop.cli import main
from symprop.emit.latex import compile_pdf
from symprop.emit.latex.exercises import ExerciseSheet
from symprop.exercises import Point, plan
from symprop.latex_printing import number

WITH_EXAMPLE = ["tutorial_222", "layer_equations_222", "softmax_classifier", "one_weight_bce", "cs231n_neuron"]


@cache
def derived(name: str):
    return symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml"))


def element(d, symbol) -> tuple[str, tuple[int, ...]]:
    """(node, 0-based index) of an element symbol, read from its name (``W2_12``, ``f_a``)."""
    for node, symbols in d.scalar.symbols.items():
        if symbol in symbols:
            shape = d.graph.nodes[node].shape
            flat = symbols.index(symbol)
            return node, tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()
    raise KeyError(symbol)


# -- the seed tutorials' numbers ------------------------------------------------------------

SEEDS = [
    # backprop-worked-example-2-2-2.md: dE/dW5 = 0.02592286, W5+ = 0.43703857 (W5 is W2[0,0])
    ("tutorial_222", "output_weight", ("0.02592286", "0.43703857")),
    # Mazur's worked example (layer_equations_222's numbers): dE/dw5 = 0.082167041, w5+ = 0.35891648,
    # dE/dw1 = 0.000438568, w1+ = 0.149780716
    ("layer_equations_222", "output_weight", ("0.08216704", "0.35891648")),
    ("layer_equations_222", "hidden_weight", ("0.00043857", "0.14978072")),
    ("layer_equations_222", "forward", ("0.37750000",)),  # net_h1 = 0.3775 (then out_h1, the second)
    # the layer-equations tutorial's one weight: dL/dw = -0.2007
    ("one_weight_bce", "output_weight", ("-0.20065617", "0.82006562")),
    # CS231n: df/dw0 = -0.20, df/dw2 = 0.20 (no step: f is not a loss)
    ("cs231n_neuron", "hidden_weight", ("-0.19661193",)),
    ("cs231n_neuron", "bias", ("0.19661193",)),
]


@pytest.mark.parametrize(("name", "kind", "expected"), SEEDS)
def test_answers_are_the_tutorials_numbers(name, kind, expected):
    question = next(q for q in derived(name).exercises().questions if q.kind == kind)
    assert tuple(number(a) for a in question.answers) == expected


def test_the_plan_of_each_network():
    """Which elements are asked, chosen from the structure: W2[0,0] (output), W1[0,0] (hidden), b1[0]."""
    asked = {name: [(a.kind, str(a.of), str(a.wrt) if a.wrt else None) for a in plan(derived(name))] for name in WITH_EXAMPLE}
    assert asked["layer_equations_222"] == [
        ("forward", "z1_1", None),
        ("forward", "a1_1", None),
        ("local", "a1_1", "z1_1"),
        ("output_weight", "W2_11", None),
        ("hidden_weight", "W1_11", None),
        ("bias", "b1_1", None),
    ]
    assert [kind for kind, *_ in asked["tutorial_222"]] == ["forward", "forward", "local", "output_weight", "hidden_weight"]
    assert [kind for kind, *_ in asked["one_weight_bce"]] == ["forward", "forward", "local", "output_weight"]
    assert asked["cs231n_neuron"] == [
        ("forward", "f_a", None),
        ("local", "f", "f_g"),  # the 1/x gate: -1/f_g^2
        ("output_weight", "w1", None),
        ("hidden_weight", "w0", None),
        ("bias", "w2", None),
    ]


# -- every answer against autograd ------------------------------------------------------------


@pytest.mark.parametrize("name", ["tutorial_222", "layer_equations_222", "softmax_classifier", "one_weight_bce"])
def test_every_answer_equals_autograd(name):
    d = derived(name)
    example = d.network.example
    stack = LayerStack(d.network, example.params, example.x, example.t)
    values, gradients = stack.values(), stack.gradients()
    rate = example.learning_rate
    for q in d.exercises().questions:
        node, index = element(d, q.of)
        if q.kind == "forward":
            expected = (float(values[node][index]),)
        elif q.kind == "local":
            expected = (stack.local(int(node[1:]), index[0]),)
        else:
            gradient = float(gradients[node][index])
            expected = (gradient, float(stack.params[node][index]) - rate * gradient)
        assert [float(a) for a in q.answers] == pytest.approx(expected, rel=1e-12, abs=1e-15), (name, q.kind)


def test_cs231n_answers_equal_autograd():
    """The graph spec: df/dw by autograd, the 1/x gate's local derivative -1/f_g^2."""
    import autograd.numpy as anp

    d = derived("cs231n_neuron")
    w = {k: float(v) for k, v in d.network.example.params.items()}
    x0, x1 = (d.network.example.inputs[k] for k in ("x0", "x1"))

    def f(w):
        return 1 / (1 + anp.exp(-(w["w0"] * x0 + w["w1"] * x1 + w["w2"])))

    gradients = grad(f)(w)
    f_g = 1 + np.exp(-(w["w0"] * x0 + w["w1"] * x1 + w["w2"]))
    answers = {q.kind: [float(a) for a in q.answers] for q in d.exercises().questions}  # one of each kind
    expected = {
        "forward": [w["w0"] * x0],
        "local": [-1 / f_g**2],
        "output_weight": [float(gradients["w1"])],
        "hidden_weight": [float(gradients["w0"])],
        "bias": [float(gradients["w2"])],
    }
    assert answers.keys() == expected.keys()
    for kind, values in expected.items():
        assert answers[kind] == pytest.approx(values, rel=1e-12), kind


SMALL_GRAPH = {
    "name": "small_graph",
    "inputs": {"x": 2},
    "targets": {"t": 1},
    "params": {"W1": [2, 2], "b1": [2], "W2": [1, 2]},
    "nodes": {"h": "tanh(W1 @ x + b1)", "y": "W2 @ h"},
    "loss": "half_sse(y, t)",
    "example": {
        "x": [0.5, -0.3],
        "t": [0.2],
        "learning_rate": 0.1,
        "params": {"W1": [[0.1, 0.2], [-0.3, 0.4]], "b1": [0.05, -0.05], "W2": [[0.7, -0.6]]},
    },
}


def test_a_graph_spec_of_vectors_against_its_module(tmp_path):
    """A graph spec's questions (tanh's 1 - h^2 as the local derivative) against the module's own gradient."""
    d = symprop.derive(symprop.from_dict(SMALL_GRAPH, source="small_graph.yaml"))
    example = SMALL_GRAPH["example"]
    module = load_module(d.write_numpy(tmp_path))
    params = {k: np.array(v, dtype=np.float64) for k, v in example["params"].items()}
    x = np.array([example["x"]])
    _, grads = module.loss_and_grad(params, x, np.array([example["t"]]))
    z = params["W1"] @ x[0] + params["b1"]
    expected = {
        "h_a_1": (z[0],),
        "h_1": (np.tanh(z[0]),),
        "local": (1 - np.tanh(z[0]) ** 2,),
        "W2_11": (grads["W2"][0, 0], 0.7 - 0.1 * grads["W2"][0, 0]),
        "W1_11": (grads["W1"][0, 0], 0.1 - 0.1 * grads["W1"][0, 0]),
        "b1_1": (grads["b1"][0], 0.05 - 0.1 * grads["b1"][0]),
    }
    got = {("local" if q.kind == "local" else str(q.of)): [float(a) for a in q.answers] for q in d.exercises().questions}
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert got[key] == pytest.approx(values, rel=1e-12), key
    worksheet, answers = d.exercises_latex()
    assert leaked(worksheet, [number(a) for q in d.exercises().questions for a in q.answers]) == []
    # dE/dh_1 has one path: its factors in the chain rule's order, (y_1 - t_1) before (W_2)_{11}
    assert r"\frac{\partial E}{\partial h_{1}} &= (y_{1} - t_{1}) \cdot (W_{2})_{11}" in answers


def test_a_weight_that_feeds_the_loss_itself():
    """CS231n's warm-up, f = (x + y) z: df/dz = q = 3, without a factor df/df = 1."""
    spec = {
        "name": "warmup",
        "inputs": {"x": [], "y": []},
        "params": {"z": []},
        "nodes": {"q": "x + y", "f": "q * z"},
        "loss": "f",
        "example": {"x": -2.0, "y": 5.0, "params": {"z": -4.0}},
    }
    d = symprop.derive(symprop.from_dict(spec, source="warmup.yaml"))
    weight = next(q for q in d.exercises().questions if q.kind == "output_weight")
    assert [(str(f.of), str(f.wrt), str(f.expr), number(f.value)) for f in weight.factors] == [("f", "z", "q", "3.00000000")]
    assert number(weight.value) == "3.00000000" and weight.updated is None
    _, answers = d.exercises_latex()
    assert r"\frac{\partial f}{\partial f}" not in answers


def test_a_variant_re_renders_with_its_own_numbers(tmp_path):
    """Other weights (issue 14's per-student variant): the same questions, the module's own gradient."""
    d = derived("tutorial_222")
    example = d.network.example
    params = {"W1": [[0.2, -0.1], [0.5, 0.3]], "W2": [[0.6, 0.1], [-0.4, 0.8]]}
    variant = d.exercises(Point({"x": [0.3, -0.2], "t": [0.9, 0.1], **params}, 0.25))
    assert [q.kind for q in variant.questions] == [q.kind for q in d.exercises().questions]
    module = load_module(d.write_numpy(tmp_path))
    arrays = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    _, grads = module.loss_and_grad(arrays, np.array([[0.3, -0.2]]), np.array([[0.9, 0.1]]))
    got = {q.kind: q for q in variant.questions}
    assert float(got["output_weight"].value) == pytest.approx(grads["W2"][0, 0], rel=1e-12)
    assert float(got["hidden_weight"].updated) == pytest.approx(0.2 - 0.25 * grads["W1"][0, 0], rel=1e-12)
    worksheet, answers = d.exercises_latex(Point({"x": [0.3, -0.2], "t": [0.9, 0.1], **params}, 0.25))
    assert number(got["output_weight"].value) in answers and "0.02592286" not in answers
    assert example.learning_rate == 0.5  # the spec's example is untouched


# -- the documents ---------------------------------------------------------------------------


def leaked(worksheet: str, numbers: list[str]) -> list[str]:
    """The answers (8 decimals, sign aside) that the worksheet prints."""
    return [n for n in numbers if re.search(rf"(?<![\d.]){re.escape(n.lstrip('-'))}", worksheet)]


@pytest.mark.parametrize("name", WITH_EXAMPLE)
def test_the_worksheet_holds_no_answer(name):
    d = derived(name)
    worksheet, answers = d.exercises_latex()
    questions = d.exercises().questions
    numbers = [number(a) for q in questions for a in q.answers]
    assert numbers and all(n in answers for n in numbers)
    assert leaked(worksheet, numbers) == []
    # every question numbered, with a blank to write in, on the worksheet
    assert [int(n) for n in re.findall(r"\\textbf\{(\d+)\.\}", worksheet)] == [q.number for q in questions]
    assert worksheet.count(r"\rule[-0.5ex]{6cm}{0.4pt}") == len(numbers)
    assert "Name:" in worksheet and "Date:" in worksheet


# each: a forward value the worksheet gives, and one the answer key lists (asked ones marked)
FORWARD = [
    ("tutorial_222", "a^{(1)}_{2} = 0.52747230", r"z^{(1)}_{1} = 0.08000000\ (\text{question 1})"),
    ("softmax_classifier", "z^{(1)}_{5} = 0.33000000", r"a^{(1)}_{1} = 0.95000000\ (\text{question 2})"),
    ("cs231n_neuron", r"f_{\mathrm{b}} = 6.00000000", r"f_{\mathrm{g}} = 1.36787944"),
]


@pytest.mark.parametrize(("name", "worksheet_row", "key_row"), FORWARD)
def test_the_key_lists_every_forward_value_and_each_question_names_the_answers_it_needs(name, worksheet_row, key_row):
    """A new user's finding 4: tutorial_222's q4 needs a2, which the worksheet neither gave nor said
    how to get, and the key never showed it.  The worksheet gives no value computed from an asked
    one (f_c = f_a + f_b with f_b would give f_a away); a question that needs one says which
    answers it is computed from, and the key lists every forward value."""
    d = derived(name)
    chosen = d.exercises()
    worksheet, answers = d.exercises_latex()
    assert worksheet_row in worksheet and key_row not in worksheet
    assert worksheet_row in answers and key_row in answers
    asked = {q.of for q in chosen.questions if q.kind == "forward"}
    for symbol in chosen.given:  # nothing given is computed from an asked value
        assert not d.scalar.definitions[symbol].free_symbols & asked
    sheet = ExerciseSheet(d)
    for q in chosen.questions:
        read = {s for s in q.formula.free_symbols if s in d.scalar.definitions} - set(chosen.given)
        needs = re.search(r"It needs your answer to questions? ([\d, ]+)\.", sheet.question(q)["prompt"])
        if read and q.kind not in ("matrix",) and not q.choices:
            assert needs and all(int(n) < q.number for n in needs.group(1).split(", ")), (q.number, read)


def test_spec_names_are_escaped():
    worksheet, answers = derived("tutorial_222").exercises_latex()
    for source in (worksheet, answers):
        assert r"\texttt{tutorial\_222}" in source and "tutorial_222" not in source.split("\n", 1)[1]
    worksheet, _ = derived("cs231n_neuron").exercises_latex()
    assert r"\texttt{f\_a}" in worksheet


@pytest.mark.parametrize("name", ["tutorial_222", "cs231n_neuron", "softmax_classifier"])
def test_worksheet_and_answer_key_compile(name, tmp_path):
    needs_tex()
    for path in derived(name).write_exercises(tmp_path):
        assert compile_pdf(path).stat().st_size > 10_000


def test_cli_writes_the_worksheet_and_the_key(tmp_path, capsys):
    assert main(["derive", str(EXAMPLES / "tutorial_222.yaml"), "-o", str(tmp_path), "--emit", "numpy", "--exercises"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "tutorial_222.py",
        "tutorial_222_answers.tex",
        "tutorial_222_exercises.tex",
    ]
    worksheet, answers = derived("tutorial_222").exercises_latex()
    assert (tmp_path / "tutorial_222_exercises.tex").read_text() == worksheet
    assert (tmp_path / "tutorial_222_answers.tex").read_text() == answers


def test_cli_pdf_compiles_the_worksheet_and_the_key(tmp_path):
    needs_tex()
    assert (
        main(["derive", str(EXAMPLES / "one_weight_bce.yaml"), "-o", str(tmp_path), "--emit", "numpy", "--exercises", "--pdf"])
        == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "one_weight_bce.py",
        "one_weight_bce_answers.pdf",
        "one_weight_bce_answers.tex",
        "one_weight_bce_exercises.pdf",
        "one_weight_bce_exercises.tex",
    ]


def test_cli_pdf_without_a_latex_document(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["derive", str(EXAMPLES / "tutorial_222.yaml"), "-o", str(out), "--emit", "numpy", "--pdf"]) == 2
    assert capsys.readouterr().err == (
        "symprop: error: --pdf needs a LaTeX document: add latex to --emit (or --emit all), or --exercises\n"
    )
    assert not out.exists()


def test_cli_exercises_without_a_worked_example(tmp_path, capsys):
    out = tmp_path / "out"
    spec = EXAMPLES / "residual_block.yaml"
    assert main(["derive", str(spec), "-o", str(out), "--exercises"]) == 2
    assert capsys.readouterr().err == (
        f"symprop: error: {spec}: example: --exercises needs a worked example (the numbers its questions ask "
        "about); add an 'example' with the inputs, targets and parameters\n"
    )
    assert not out.exists()


def test_api_exercises_without_a_worked_example_talk_api(tmp_path):
    """A new user's finding: ``d.write_exercises()`` from Python said "--exercises needs a worked
    example", a flag they never passed.  The API names its methods and its point= instead."""
    spec = EXAMPLES / "residual_block.yaml"
    d = symprop.derive(symprop.load(spec))
    for call in (lambda: d.write_exercises(tmp_path), d.exercises_latex, d.exercises):
        with pytest.raises(symprop.SymPropError) as raised:
            call()
        assert str(raised.value) == (
            f"{spec}: example: the exercises (exercises(), write_exercises(), exercises_latex()) need a worked example "
            "(the numbers its questions ask about); add an 'example' with the inputs, targets and parameters, or pass "
            "point= (a symprop.exercises.Point: the numbers to ask about)"
        )
        assert "--exercises" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_exercises_of_a_network_without_a_per_weight_view():
    spec = {
        "name": "wide",
        "input": 20,
        "layers": [{"units": 8, "activation": "sigmoid"}],
        "loss": "half_sse",
        "example": {"x": [0.1] * 20, "t": [0.5] * 8, "params": {"W1": [[0.1] * 20] * 8, "b1": [0.0] * 8}},
    }
    d = symprop.derive(symprop.from_dict(spec, source="wide.yaml"))
    with pytest.raises(symprop.errors.SymPropError) as error:
        d.exercises()
    assert str(error.value) == "wide.yaml: --exercises needs the per-weight view, and it has 168 parameters (at most 100)"


def test_the_worksheet_defines_an_activation_that_is_a_formula_of_the_spec():
    """A new user's finding (trial4): a 3-4-2 network with ``softsq: z / (1 + c z^2)`` got a
    worksheet whose network read a = f_softsq(z) and never said what f_softsq is, so no student
    could answer its forward or local-derivative questions.  Both documents define it, once."""
    spec = {
        "name": "softsq_32",
        "input": 3,
        "constants": {"c": 0.5},
        "functions": {"softsq": "z / (1 + c * z**2)"},
        "layers": [{"units": 2, "activation": "softsq"}, {"units": 1, "activation": "sigmoid"}],
        "loss": "half_sse",
        "example": {
            "x": [0.5, -1.0, 2.0],
            "t": [1.0],
            "params": {"W1": [[0.1, -0.2, 0.3], [0.4, 0.1, -0.1]], "b1": [0.0, 0.1], "W2": [[0.3, -0.1]], "b2": [0.1]},
        },
    }
    worksheet, answers = symprop.derive(symprop.from_dict(spec)).exercises_latex()
    # the spec's constant by name, with its value (a teacher's trial: z/(z^2/2 + 1) never said c)
    definition = r"\text{where } f_{\mathrm{softsq}}(z) = \frac{z}{c z^{2} + 1},\quad\text{with $c = 0.5$}"
    assert worksheet.count(definition) == 1 and answers.count(definition) == 1
    # a registry activation needs no definition
    assert r"\text{where }" not in derived("tutorial_222").exercises_latex()[0]


def test_the_worksheet_names_elements_as_the_handout_and_the_verifier_do():
    """A teacher's trial: the worksheet tagged its questions ``z1[0]``, ``W2[0,0]`` (NumPy's 0-based
    indices) beside $z^{(1)}_1$, $w^{(2)}_{11}$, while the handout's claims column and ``symprop
    verify`` read ``z1_1``, ``W2_11``.  A student now reads one convention, indices from 1 as the
    subscripts, said once at the first tag; and the local derivative is taken at z, not at a."""
    worksheet = derived("tutorial_222").exercises_latex()[0]
    assert "[0" not in re.sub(r"\\rule\[[^]]*\]", "", worksheet)
    assert r"(\texttt{z1\_1}, the handout's name: indices count from 1)" in worksheet
    assert r"(\texttt{W2\_11}) as a product" in worksheet and r"(\texttt{W1\_11}) as a product" in worksheet
    assert "the local derivative of $a^{(1)}_{1}$ taken at $z^{(1)}_{1}$" in worksheet
    assert "the local derivative at" not in worksheet
    for name in ("z1_1", "W2_11", "W1_11"):  # the verifier reads each tag
        assert symprop.verify(derived("tutorial_222").network, name, "0") is not None


def test_an_answer_key_writes_registry_constants_by_name_and_their_numbers():
    """A teacher's finding: the answer key wrote leaky_relu's slope 1/10 and Huber's 1/2 and 1/8
    where the handout writes alpha and delta, and (once the handout did) delta stood in the line
    of numbers: a formula writes the constant by name, its numbers line the spec's value."""
    _, answers = symprop.derive(symprop.from_dict(LEAKY_HUBER)).exercises_latex()
    slope = r"\begin{cases} 1 & \text{if } z^{(1)}_{2} > 0 \\ \mathrm{alpha} & \text{otherwise} \end{cases} = 0.10000000"
    assert slope in answers
    assert r"\left|{0.21645000 - 0.8}\right| \leq 0.5 \\ - 0.5 \cdot \operatorname{sign}{(0.8 - 0.21645000)}" in answers
    assert r"\leq \mathrm{delta} \\ - \mathrm{delta} \, \operatorname{sign}" in answers
    for fraction in (r"\frac{1}{10}", r"\frac{1}{8}", r"\leq \frac{1}{2}"):
        assert fraction not in answers
