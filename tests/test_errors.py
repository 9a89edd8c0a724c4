"""Every error a user can hit with a bad spec: one line naming the file and the field, exit
status 2, and nothing written."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

import symprop
from symprop.cli import main

GOOD_HEAD = "name: net\ninput: 2\n"
RELU = "layers: [{units: 2, activation: relu}]\n"

# (case id, spec text, field named in the message, words the message must contain)
BAD_SPECS = [
    ("yaml_syntax", "name: x\ninput: 2\nlayers: [ {units: 2\n", "line 4, column 1", "not valid YAML"),
    ("not_a_mapping", "- 1\n- 2\n", "spec", "expected a mapping"),
    ("unknown_field", GOOD_HEAD + "layer: []\nloss: mse\n", "layer", "unknown field"),
    ("missing_loss", GOOD_HEAD + RELU, "loss", "missing"),
    ("name_not_identifier", 'name: "my net"\ninput: 2\n' + RELU + "loss: mse\n", "name", "expected a name"),
    ("name_is_keyword", "name: class\ninput: 2\n" + RELU + "loss: mse\n", "name", "cannot be used as a name"),
    ("input_not_number", "name: x\ninput: two\n" + RELU + "loss: mse\n", "input", "positive whole number"),
    ("units_zero", GOOD_HEAD + "layers: [{units: 0, activation: relu}]\nloss: mse\n", "layers[0].units", "positive"),
    ("no_layers", GOOD_HEAD + "layers: []\nloss: mse\n", "layers", "non-empty list"),
    (
        "unknown_activation",
        GOOD_HEAD + "layers: [{units: 2, activation: sigmod}]\nloss: mse\n",
        "layers[0].activation",
        "unknown activation 'sigmod'",
    ),
    (
        "softmax_on_hidden_layer",
        GOOD_HEAD + "layers: [{units: 2, activation: softmax}, {units: 2, activation: softmax}]\nloss: cross_entropy\n",
        "layers[0].activation",
        "output layer only",
    ),
    (
        "unknown_activation_constant",
        GOOD_HEAD + "layers: [{units: 2, activation: {name: leaky_relu, slope: 0.1}}]\nloss: mse\n",
        "layers[0].activation.slope",
        "no constant 'slope'",
    ),
    (
        "bias_not_boolean",
        GOOD_HEAD + "layers: [{units: 2, activation: relu, bias: 'no'}]\nloss: mse\n",
        "layers[0].bias",
        "true or false",
    ),
    ("unknown_loss", GOOD_HEAD + RELU + "loss: msee\n", "loss", "unknown loss 'msee'"),
    ("cross_entropy_without_softmax", GOOD_HEAD + RELU + "loss: cross_entropy\n", "loss", "needs a softmax"),
    (
        "softmax_without_cross_entropy",
        GOOD_HEAD + "layers: [{units: 2, activation: softmax}]\nloss: mse\n",
        "loss",
        "goes with cross_entropy",
    ),
    ("huber_negative_delta", GOOD_HEAD + RELU + "loss: {name: huber, delta: -1}\n", "loss.delta", "positive number"),
    (
        "formula_unknown_name",
        GOOD_HEAD + 'functions: {f: "z * foo(z)"}\nlayers: [{units: 2, activation: f}]\nloss: mse\n',
        "functions.f",
        "unknown name 'foo'",
    ),
    (
        "formula_dunder_import",
        GOOD_HEAD + "functions: {f: \"__import__('os').system('ls')\"}\nlayers: [{units: 2, activation: f}]\nloss: mse\n",
        "functions.f",
        "not allowed",
    ),
    (
        "formula_attribute_access",
        GOOD_HEAD + RELU + 'loss: {formula: "y.__class__"}\n',
        "loss.formula",
        "attribute access is not allowed",
    ),
    (
        "formula_syntax_error",
        GOOD_HEAD + 'functions: {f: "z * (1 +"}\nlayers: [{units: 2, activation: f}]\nloss: mse\n',
        "functions.f",
        "syntax error at column 5",
    ),
    (
        "formula_huge_power",
        GOOD_HEAD + 'functions: {f: "z ** 9 ** 9 ** 9"}\nlayers: [{units: 2, activation: f}]\nloss: mse\n',
        "functions.f",
        "number too large",
    ),
    (
        "formula_not_a_string",
        GOOD_HEAD + "functions: {f: 3}\nlayers: [{units: 2, activation: f}]\nloss: mse\n",
        "functions.f",
        "expected a formula as a string",
    ),
    (
        "example_param_wrong_shape",
        GOOD_HEAD + RELU + "loss: mse\nexample: {x: [1, 2], t: [1, 2], params: {W1: [[1, 2, 3], [1, 2, 3]], b1: [0, 0]}}\n",
        "example.params.W1",
        "expected shape [2, 2], got shape [2, 3]",
    ),
    (
        "formula_log_of_negative",
        GOOD_HEAD + "functions: {f: 'log(-1) * z'}\nlayers: [{units: 2, activation: f}]\nloss: mse\n",
        "functions.f",
        "formula is not a real number here (the log or a root of a negative number?)",
    ),
    (
        "formula_root_of_negative",
        GOOD_HEAD + RELU + "loss: {formula: '(-8) ** (1/3) * (y - t) + sqrt(-1 - y^2)'}\n",
        "loss.formula",
        "formula is not a real number here",
    ),
    (  # regression: a loss of t alone was accepted and gave zero gradients silently
        "formula_loss_without_y",
        GOOD_HEAD + RELU + "loss: {formula: 't^2'}\n",
        "loss.formula",
        "the formula 't^2' does not use the prediction y",
    ),
    (
        "formula_loss_constant",
        GOOD_HEAD + RELU + "loss: {formula: '(y - y) + 3'}\n",
        "loss.formula",
        "does not use the prediction y",
    ),
    (  # regression: a number computed by functions (exp(exp(5)), 1e64) as an argument hung the derivation
        "formula_tower_of_exponentials",
        GOOD_HEAD + "functions: {f: 'exp(exp(exp(exp(5)))) * z'}\nlayers: [{units: 2, activation: f}]\nloss: mse\n",
        "functions.f",
        "number too large in a function argument at column 9; numbers in exponents and function arguments must be "
        "within +-1000",
    ),
    (  # regression: a loss flat in y (derivative 0 wherever defined) was accepted and trained nothing
        "formula_loss_flat_in_y",
        GOOD_HEAD + RELU + "loss: {formula: 'step(y - t) + max(sign(y), 0) * t'}\n",
        "loss.formula",
        "the formula 'step(y - t) + max(sign(y), 0) * t' is flat in the prediction y (its derivative in y is 0 "
        "wherever it is defined), so every gradient would be 0; write a loss that changes with y",
    ),
    (  # regression: a flat output activation (step(z)) was accepted: every gradient was 0
        "formula_activation_flat_in_z",
        GOOD_HEAD + "functions: {stp: 'step(z)'}\nlayers: [{units: 2, activation: tanh}, {units: 2, activation: stp}]\n"
        "loss: mse\n",
        "layers[1].activation",
        "the output activation stp is flat in z (its derivative in z is 0 wherever it is defined), so every gradient "
        "would be 0; write an activation that changes with z",
    ),
    (  # regression: log of an identity output's values (outside (0, 1)) was accepted
        "binary_cross_entropy_of_identity",
        GOOD_HEAD + "layers: [{units: 2, activation: identity}]\nloss: binary_cross_entropy\n",
        "loss",
        "binary_cross_entropy needs outputs in (0, 1), but the output layer's activation identity gives values outside it "
        "(their log is nan): use a sigmoid output layer",
    ),
    (  # regression: a spec of a trillion weights was accepted (init_params would exhaust memory)
        "too_many_parameters",
        GOOD_HEAD + "layers: [{units: 4000}, {units: 1000000}]\nloss: mse\n",
        "layers[1].units",
        "the network has 4,001,012,000 parameters up to here, more than the 50,000,000 symprop allows",
    ),
    (
        "example_unknown_param",
        GOOD_HEAD + RELU + "loss: mse\nexample: {x: [1, 2], t: [1, 2], params: {W1: [[1, 2], [1, 2]], b1: [0, 0], W7: [1]}}\n",
        "example.params.W7",
        "unknown parameter",
    ),
    (
        "example_negative_learning_rate",
        GOOD_HEAD + RELU + "loss: mse\n"
        "example: {x: [1, 2], t: [1, 2], learning_rate: -1, params: {W1: [[1, 2], [1, 2]], b1: [0, 0]}}\n",
        "example.learning_rate",
        "positive number",
    ),
]


@pytest.mark.parametrize(("case", "text", "field", "words"), BAD_SPECS, ids=[case[0] for case in BAD_SPECS])
def test_bad_spec_gives_one_clear_line_exit_2_and_no_output(tmp_path, capsys, case, text, field, words):
    spec = tmp_path / f"{case}.yaml"
    spec.write_text(text)
    out = tmp_path / "out"
    status = main(["derive", str(spec), "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"symprop: error: {spec}: {field}"), err
    assert words in err
    assert not out.exists() or not any(out.iterdir())


GRAPH_HEAD = "name: net\ninputs: {x: 4}\ntargets: {t: 3}\nparams: {W: [3, 4], b: [3]}\n"

# (case id, graph spec text, field, words): graph specs as BAD_SPECS
BAD_GRAPH_SPECS = [
    (  # regression: cross-entropies of values outside (0, 1) were accepted (log of them: nan)
        "binary_cross_entropy_of_a_linear_node",
        GRAPH_HEAD + "nodes: {z: W @ x + b}\nloss: binary_cross_entropy(z, t)\n",
        "loss",
        "binary_cross_entropy needs outputs in (0, 1) (it takes their log), but z is linear (it can be any number); "
        "write binary_cross_entropy(sigmoid(z), ...)",
    ),
    (
        "cross_entropy_of_a_tanh",
        GRAPH_HEAD + "nodes: {z: tanh(W @ x + b)}\nloss: cross_entropy(z, t)\n",
        "loss",
        "but z is a tanh, whose values leave (0, 1); write cross_entropy(softmax(z), ...)",
    ),
    (  # regression: a billion parameters were accepted
        "too_many_parameters",
        GRAPH_HEAD.replace("b: [3]", "b: [3], V: {shape: [50000, 1000], init: zeros}")
        + "nodes: {z: sigmoid(W @ x + b) + sum(V)}\nloss: half_sse(z, t)\n",
        "params.V",
        "the network has 50,000,015 parameters up to here, more than the 50,000,000 symprop allows",
    ),
    (  # regression: a loss flat in every parameter (sum(step(y - t))) was accepted and trained nothing
        "loss_flat_in_every_parameter",
        GRAPH_HEAD + "nodes: {z: W @ x + b}\nloss: sum(step(z - t)) + 2 * sum(sign(z))\n",
        "loss",
        "every parameter's gradient is 0 wherever it is defined (the loss reaches them only through step, sign or "
        "another flat function), so training would change nothing; write a loss that changes with the parameters",
    ),
    (  # regression: exp(exp(exp(exp(5)))) hung the derivation
        "tower_of_exponentials",
        GRAPH_HEAD + "nodes: {z: exp(exp(exp(exp(5)))) * (W @ x + b)}\nloss: half_sse(z, t)\n",
        "nodes.z",
        "number too large in a function argument at column 9",
    ),
    (  # regression: an input of a billion elements a sample was accepted (24 GB and minutes, then killed)
        "too_many_input_elements",
        GRAPH_HEAD.replace("x: 4", "x: [1000, 1000, 1000]") + "nodes: {z: W @ x + b}\nloss: half_sse(z, t)\n",
        "inputs.x",
        "x has 1,000,000,000 elements per sample (shape [1000, 1000, 1000]), more than the 1,000,000 symprop allows "
        "(8 MB a sample in float64); make it smaller",
    ),
    (
        "too_many_int_input_elements",
        GRAPH_HEAD.replace("x: 4", "x: {shape: [2000, 1000], dtype: int, range: 3}")
        + "nodes: {z: W @ x + b}\nloss: half_sse(z, t)\n",
        "inputs.x",
        "x has 2,000,000 elements per sample (shape [2000, 1000])",
    ),
    (  # regression: a node of a billion elements built from a small input was accepted
        "too_many_node_elements",
        GRAPH_HEAD.replace("x: 4", "x: 1000")
        + "nodes:\n  z: W @ x[:4] + b + sum(einsum('i,j,k->ijk', x, x, x))\nloss: half_sse(z, t)\n",
        "nodes.z",
        "\"einsum('i,j,k->ijk', x, x, x)\" has 1,000,000,000 elements per sample (shape [1000, 1000, 1000])",
    ),
]


@pytest.mark.parametrize(("case", "text", "field", "words"), BAD_GRAPH_SPECS, ids=[case[0] for case in BAD_GRAPH_SPECS])
def test_bad_graph_spec_gives_one_clear_line_exit_2_and_no_output(tmp_path, capsys, case, text, field, words):
    test_bad_spec_gives_one_clear_line_exit_2_and_no_output(tmp_path, capsys, case, text, field, words)


def test_a_cross_entropy_of_any_other_expression_is_the_spec_writers(tmp_path):
    """Only outputs certainly outside (0, 1) are refused: a sigmoid, a softmax, or an expression
    such as 0.5 + 0.4 * tanh(z) derive."""
    for y in ("sigmoid(W @ x + b)", "softmax(W @ x + b)", "0.5 + 0.4 * tanh(W @ x + b)"):
        spec = symprop.from_dict(
            {"name": "ok", "inputs": {"x": 4}, "targets": {"t": 3}, "params": {"W": [3, 4], "b": [3]}, "nodes": {"y": y},
             "loss": "binary_cross_entropy(y, t)"}
        )  # fmt: skip
        assert symprop.derive(spec).graph.loss


def test_a_network_just_below_the_parameter_limit_derives_as_fast_as_a_small_one(tmp_path):
    """Deriving never computes per weight: 49 million parameters (7000 x 7000) cost what 56 do."""
    seconds = {}
    for units in (7, 7000):
        spec = {"name": f"wide{units}", "input": units, "layers": [{"units": units, "activation": "sigmoid"}], "loss": "mse"}
        start = time.perf_counter()
        derivation = symprop.derive(symprop.from_dict(spec))
        assert f"({units}, {units})" in derivation.write_numpy(tmp_path).read_text()
        derivation.write_latex(tmp_path)
        seconds[units] = time.perf_counter() - start
    assert seconds[7000] < 3 * seconds[7] + 2, seconds


def test_one_weight_over_many_inputs_derives_in_seconds(tmp_path):
    """Regression: sum(x) of 10,000 inputs built its per-weight view with Python's sum (quadratic
    in SymPy: minutes); now with Add, and above 10,000 elements a sample there is no such view."""
    for size, scalar in ((5000, True), (20000, False)):
        spec = {"name": "wide", "inputs": {"x": size}, "targets": {"t": 1}, "params": {"w": [1]}, "nodes": {"y": "w * sum(x)"},
                "loss": "half_sse(y, t)"}  # fmt: skip
        start = time.perf_counter()
        derivation = symprop.derive(symprop.from_dict(spec))
        assert derivation.has_scalar is scalar
        derivation.write_latex(tmp_path)
        assert time.perf_counter() - start < 30  # it took minutes; 30 s leaves room for a loaded CI machine
    assert derivation.scalar_refusal == "20,005 elements per sample (at most 10,000)"


def test_missing_spec_file(tmp_path, capsys):
    status = main(["derive", str(tmp_path / "nowhere.yaml"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert "nowhere.yaml" in err and "cannot read the spec" in err


def test_existing_outputs_survive_a_failed_derive(tmp_path, capsys):
    good = tmp_path / "net.yaml"
    good.write_text(GOOD_HEAD + RELU + "loss: mse\n")
    out = tmp_path / "out"
    assert main(["derive", str(good), "-o", str(out), "--emit", "numpy"]) == 0
    before = (out / "net.py").read_text()
    good.write_text(GOOD_HEAD + RELU + "loss: msee\n")
    assert main(["derive", str(good), "-o", str(out), "--emit", "numpy"]) == 2
    assert (out / "net.py").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["net.py"]


def test_console_script_reports_errors_with_status_2(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(textwrap.dedent(GOOD_HEAD + "layers: [{units: 2, activation: sigmod}]\nloss: mse\n"))
    result = subprocess.run(
        [sys.executable, "-m", "symprop", "derive", str(spec), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().endswith(
        "unknown activation 'sigmod' (did you mean 'sigmoid'?); expected one of: "
        + ", ".join(
            ["elu", "gelu", "identity", "leaky_relu", "relu", "selu", "sigmoid", "silu", "softmax", "softplus", "swish", "tanh"]
        )
    )


@pytest.mark.parametrize(
    ("case", "loss", "x", "words"),
    [
        ("log_of_negative", "log(y) - t", -1, "computes -1.0 + 3.14159265358979323846264338328*I here"),
        ("sqrt_of_negative", "sqrt(y) * t", -1, "computes 1.0*I here"),
        ("division_by_zero", "1/y + t", 0, "computes zoo here"),
    ],
)
def test_worked_example_where_the_loss_is_not_a_real_number(tmp_path, capsys, case, loss, x, words):
    """One line and exit 2, not a traceback from the handout's number printing."""
    spec = tmp_path / f"{case}.yaml"
    spec.write_text(
        "name: net\ninput: 1\nlayers: [{units: 1, activation: identity}]\n"
        f"loss: {{formula: '{loss}'}}\nexample: {{x: [{x}], t: [1], params: {{W1: [[1]], b1: [0]}}}}\n"
    )
    out = tmp_path / "out"
    assert main(["derive", str(spec), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"symprop: error: {spec}: example: the worked example ") and words in err, err
    assert "not a finite real number" in err
    assert not out.exists() or not any(out.iterdir())


def test_worked_example_with_numbers_beyond_decimal_precision(tmp_path, capsys):
    """exp(1000) and y * t = 1e14 have more digits before the point than Decimal's default
    precision of 28: the handout prints every one of them (it raised decimal.InvalidOperation)."""
    spec = tmp_path / "big.yaml"
    spec.write_text(
        "name: big\ninput: 1\nlayers: [{units: 1, activation: identity}]\nloss: {formula: 'exp(y) + y * t'}\n"
        "example: {x: [1000], t: [100000000000.0], params: {W1: [[1]], b1: [0]}}\n"
    )
    out = tmp_path / "out"
    assert main(["derive", str(spec), "-o", str(out), "--emit", "latex"]) == 0, capsys.readouterr().err
    tex = (out / "big.tex").read_text()
    assert "197007111401704699388887935224" + "0" * 405 + ".00000000" in tex  # exp(1000), to 30 digits


@pytest.mark.parametrize("loader", range(2))
def test_numbers_in_exponent_notation_are_numbers(tmp_path, capsys, monkeypatch, loader):
    """YAML 1.1 (PyYAML) reads 1e-3 as text, so `learning_rate: 1e-3` was "expected a finite
    number, got the text '1e-3'"; it is a number, as in YAML 1.2, with either parser."""
    from symprop import spec_file

    monkeypatch.setattr(spec_file, "LOADER", spec_file.LOADERS[min(loader, len(spec_file.LOADERS) - 1)])
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "name: net\ninput: 2\nconstants: {c: 2E-1}\nlayers: [{units: 2, activation: {name: leaky_relu, alpha: 1e-2}}]\n"
        "loss: {formula: 'c * (y - t)^2'}\n"
        "example: {x: [1e0, -2e+1], t: [.5e1, 1.0e5], learning_rate: 1e-3, params: {W1: [[1, 2], [3, 4]], b1: [0, 0]}}\n"
    )
    network = symprop.load(spec)
    assert network.example.learning_rate == 0.001 and list(network.example.x) == [1.0, -20.0]
    assert list(network.example.t) == [5.0, 100000.0]
    spec.write_text(GOOD_HEAD + RELU + "constants: {c: 1e400}\nloss: {formula: 'c * (y - t)^2'}\n")
    assert main(["derive", str(spec), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"symprop: error: {spec}: constants.c: expected a finite number, got inf\n"
