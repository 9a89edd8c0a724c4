"""The scalar backend (``--backend scalar``): straight-line Python over floats for tiny networks.

Its loss and gradients equal the NumPy module's to 1e-12 on every example small enough, on the
op table's samples (each op, each activation, each loss spelled or refused with a clear
message) and on random formulas; its inputs are checked; it is refused above its limit.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES
from formula_hypothesis import deterministic, graph_specs, layer_specs
from hypothesis import given
from test_ops import OP_SAMPLES

import symprop
from symprop import ops, registry
from symprop.check import load_module
from symprop.cli import main
from symprop.emit.scalar import SCALAR_BACKEND_LIMIT
from symprop.emit.scalar.module import ScalarModule
from symprop.errors import SymPropError

#: The examples small enough for the scalar backend, and the ones it refuses -> why.
SMALL = [
    "concat_two_inputs", "cs231n_neuron", "cs231n_warmup", "custom_swish", "elman_rnn", "gated_unit", "highway",
    "layer_equations_222", "one_weight_bce", "residual_block", "softmax_classifier", "tied_autoencoder", "tutorial_222",
]  # fmt: skip
REFUSED = {
    "batchnorm_mlp": "normalises over the batch",
    "mlp_784_30_10": "23,860 parameters; --backend scalar writes straight-line code for at most 300",
}
#: Ops the scalar backend refuses -> the message.
REFUSED_OPS = {ops.BatchNorm: "normalises over the batch"}
#: The largest difference allowed between the two modules' numbers, relative to their size.
AGREE = 1e-12


def _modules(network, directory: Path):
    """(NumPy module, scalar module) of ``network`` (a Network), written into ``directory``."""
    derivation = symprop.derive(network)
    numpy_module = load_module(derivation.write_numpy(directory / "numpy"))
    return numpy_module, load_module(derivation.write_scalar(directory / "scalar"))


def _listed(value):
    """Arrays (or a dict of them) as the scalar module takes them: nested lists of Python numbers."""
    if isinstance(value, dict):
        return {key: _listed(v) for key, v in value.items()}
    return None if value is None else np.asarray(value).tolist()


def assert_modules_agree(numpy_module, scalar_module, seeds=(0, 1), batch=3):
    """Loss, gradients and forward outputs of both modules at random points, to ``AGREE``."""
    for seed in seeds:
        rng = np.random.default_rng(seed + 10)
        params = {k: np.asarray(v + 0.3 * rng.standard_normal(np.shape(v))) for k, v in numpy_module.init_params(seed).items()}
        X, T = numpy_module.sample_batch(batch, seed)
        value, grads = numpy_module.loss_and_grad(params, X, T)
        listed = {k: _listed(v) for k, v in params.items()}
        ours, our_grads = scalar_module.loss_and_grad(listed, _listed(X), _listed(T))
        assert abs(ours - value) <= AGREE * max(1.0, abs(value)), (seed, ours, value)
        assert ours == pytest.approx(scalar_module.loss(listed, _listed(X), _listed(T)), rel=1e-15, abs=1e-300)
        for key, expected in grads.items():
            got = np.asarray(our_grads[key], dtype=np.float64)
            assert got.shape == np.shape(expected), key
            scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
            assert np.max(np.abs(got - expected), initial=0.0) <= AGREE * scale, (seed, key, got, expected)
        output, _ = numpy_module.forward(params, X)
        outputs, _ = scalar_module.forward(listed, _listed(X))
        assert np.allclose(np.asarray(outputs, dtype=np.float64), output, rtol=AGREE, atol=AGREE)


@pytest.mark.parametrize("name", SMALL)
def test_examples_agree_with_the_numpy_module(name, tmp_path):
    numpy_module, scalar_module = _modules(symprop.load(EXAMPLES / f"{name}.yaml"), tmp_path)
    assert_modules_agree(numpy_module, scalar_module)
    assert scalar_module.gradient_check() < 1e-6


def test_every_example_is_small_or_refused():
    names = {path.stem for path in EXAMPLES.glob("*.yaml")}
    big = names - set(SMALL) - set(REFUSED)
    for name in sorted(big):  # the rest are above the limit
        derivation = symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml"))
        assert derivation.param_count > SCALAR_BACKEND_LIMIT, name


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_examples_say_why(name):
    with pytest.raises(SymPropError, match=REFUSED[name]):
        symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml")).scalar_source()


def test_every_small_example_and_op_sample_is_clean_under_ruff(tmp_path):
    for name in SMALL:
        symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml")).write_scalar(tmp_path)
    for op, body in OP_SAMPLES.items():
        if op not in REFUSED_OPS:
            network = symprop.from_dict({"name": f"sample_{op.__name__.lower()}", **body}, source="<test>")
            symprop.derive(network).write_scalar(tmp_path)
    run = subprocess.run(["ruff", "check", "--quiet", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_worked_example_matches_the_numpy_module(tmp_path):
    numpy_module, scalar_module = _modules(symprop.load(EXAMPLES / "tutorial_222.yaml"), tmp_path)
    value, grads, updated = scalar_module.worked_example()
    expected, expected_grads, expected_updated = numpy_module.worked_example()
    assert value == pytest.approx(expected, rel=1e-14)
    assert value == pytest.approx(0.02397190, abs=5e-9)  # the tutorial's number
    for key in grads:
        assert np.allclose(grads[key], expected_grads[key], rtol=1e-13, atol=0)
        assert np.allclose(updated[key], expected_updated[key], rtol=1e-13, atol=0)


# -- the op table: each op, activation and loss spelled (and agreeing) or refused ------------



@pytest.mark.parametrize("op", list(OP_SAMPLES), ids=lambda op: op.__name__)
def test_every_op_is_spelled_or_refused(op, tmp_path):
    network = symprop.from_dict({"name": f"sample_{op.__name__.lower()}", **OP_SAMPLES[op]}, source="<test>")
    if op in REFUSED_OPS:
        with pytest.raises(SymPropError, match=REFUSED_OPS[op]):
            symprop.derive(network).scalar_source()
        return
    numpy_module, scalar_module = _modules(network, tmp_path)
    assert_modules_agree(numpy_module, scalar_module)


ACTIVATION_NAMES = sorted(registry.ACTIVATIONS)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_every_activation_has_a_scalar_spelling(name, tmp_path):
    entry = registry.ACTIVATIONS[name]
    assert entry.numpy_helper is None or entry.python is not None, f"{name}: a NumPy helper but no scalar spelling"
    spec = {
        "name": f"act_{name}", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3], "b": [2]},
        "nodes": {"y": f"{name}(W @ x + b)"}, "loss": "half_sse(y, t)",
    }  # fmt: skip
    numpy_module, scalar_module = _modules(symprop.from_dict(spec, source="<test>"), tmp_path)
    assert_modules_agree(numpy_module, scalar_module, seeds=(0, 1, 2))


@pytest.mark.parametrize("name", sorted(registry.LOSSES))
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
def test_every_loss_has_a_scalar_spelling(name, output, tmp_path):
    needs = registry.LOSSES[name].needs_output
    if (needs or "sigmoid") != output and (needs or output == "softmax"):
        pytest.skip("softmax goes with cross_entropy only")
    functions = {}
    if output == "identity" and registry.LOSSES[name].probability_output:  # refused after identity: an output
        functions, output = {"squash": "0.5 + 0.4 * tanh(z)"}, "squash"  # in (0, 1), not fused with the loss
    spec = {
        "name": f"loss_{name}", "input": 3, "layers": [{"units": 3, "activation": "tanh"}, {"units": 2, "activation": output}],
        "loss": name, "functions": functions,
    }  # fmt: skip
    numpy_module, scalar_module = _modules(symprop.from_dict(spec, source="<test>"), tmp_path)
    assert_modules_agree(numpy_module, scalar_module)


def test_binary_cross_entropy_of_a_saturated_sigmoid_is_finite(tmp_path):
    """log(1 - y) of y = 1.0 raises in math: the loss is spelled from z (softplus(z) - t z)."""
    spec = {"name": "bce_far", "input": 1, "layers": [{"units": 1, "activation": "sigmoid"}], "loss": "binary_cross_entropy"}
    numpy_module, scalar_module = _modules(symprop.from_dict(spec, source="<test>"), tmp_path)
    params = {"W1": [[40.0]], "b1": [0.0]}
    value, grads = scalar_module.loss_and_grad(params, [[1.0]], [[0.0]])
    arrays = {k: np.array(v) for k, v in params.items()}
    expected, expected_grads = numpy_module.loss_and_grad(arrays, np.ones((1, 1)), np.zeros((1, 1)))
    assert value == pytest.approx(40.0, rel=1e-12) and value == pytest.approx(expected, rel=1e-12)
    assert grads["W1"][0][0] == pytest.approx(expected_grads["W1"][0, 0], rel=1e-12)


def test_softmax_cross_entropy_far_from_zero_is_finite(tmp_path):
    """exp(1000) raises OverflowError in math: softmax and its cross-entropy are shifted by the maximum."""
    spec = {"name": "ce_far", "input": 2, "layers": [{"units": 3, "activation": "softmax"}], "loss": "cross_entropy"}
    numpy_module, scalar_module = _modules(symprop.from_dict(spec, source="<test>"), tmp_path)
    params = {"W1": [[1000.0, 0.0], [0.0, 0.0], [-1000.0, 0.0]], "b1": [0.0, 0.0, 0.0]}
    X, T = [[1.0, 0.0]], [[0.0, 1.0, 0.0]]
    value, grads = scalar_module.loss_and_grad(params, X, T)
    expected, expected_grads = numpy_module.loss_and_grad({k: np.array(v) for k, v in params.items()}, np.array(X), np.array(T))
    assert value == pytest.approx(1000.0, rel=1e-12) and value == pytest.approx(expected, rel=1e-12)
    assert np.allclose(grads["W1"], expected_grads["W1"], rtol=1e-12, atol=1e-12)


# -- what the module looks like ----------------------------------------------------------------


def test_the_module_is_straight_line_python_without_numpy(tmp_path):
    source = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).scalar_source()
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    assert imported == {"random", "tanh"}
    assert "numpy" not in source
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "loss_and_grad")
    loop = next(node for node in function.body if isinstance(node, ast.For))
    assert all(isinstance(node, (ast.Assign, ast.AugAssign, ast.Try)) for node in loop.body)  # no branches, no calls of ours
    lines = source.splitlines()
    assert "        dz2_1 = a2_1 * da2_1 * (1 - a2_1)  # dE/dz2_1 = dE/da2_1 da2_1/dz2_1" in lines
    assert "        dW1_12 += dz1_1 * x_2  # dE/dW1_12 += dE/dz1_1 dz1_1/dW1_12" in lines
    assert "        da1_1 = W2_11 * dz2_1 + W2_21 * dz2_2  # dE/da1_1 = dE/dz2_1 dz2_1/da1_1 + dE/dz2_2 dz2_2/da1_1" in lines
    path = tmp_path / "tutorial_222.py"
    path.write_text(source, encoding="utf-8")
    assert subprocess.run(["ruff", "check", "--quiet", str(path)], capture_output=True, text=True).returncode == 0


def test_running_the_module_checks_its_gradients(tmp_path):
    path = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).write_scalar(tmp_path)
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "worked example: E = 0.02397190" in run.stdout
    assert "loss_and_grad() vs central differences on all 8 coordinates" in run.stdout


def test_the_scalar_module_is_deterministic():
    network = symprop.load(EXAMPLES / "softmax_classifier.yaml")
    assert symprop.derive(network).scalar_source() == symprop.derive(network).scalar_source()


# -- bad input: the module's arguments, the command line ---------------------------------------


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    return load_module(symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).write_scalar(tmp_path_factory.mktemp("s")))


ARGUMENT_ERRORS = [
    ({"W1": [[1.0, 2.0]]}, [[0.1, 0.2]], [[0.4, 0.6]], "params: expected a dict with the keys and shapes of PARAM_SHAPES"),
    (None, [[0.1, 0.2, 0.3]], [[0.4, 0.6]], "X: each sample must be a sequence of 2 floats, got [0.1, 0.2, 0.3]"),
    (None, [0.1, 0.2], [[0.4, 0.6], [0.4, 0.6]], "X: each sample must be a sequence of 2 floats, got 0.1; a batch is a sequence"),
    (None, [[0.1, 0.2]], [[0.4, 0.6], [0.4, 0.6]], "T: expected 1 samples (the batch of X), got 2"),
    (None, [[0.1, 0.2]], [[0.4]], "T: each sample must be a sequence of 2 floats, got [0.4]"),
    (None, [], [], "X: the batch is empty"),
]


@pytest.mark.parametrize("params, X, T, message", ARGUMENT_ERRORS, ids=[f"error{i}" for i in range(len(ARGUMENT_ERRORS))])
def test_wrong_arguments_raise_one_value_error(tutorial, params, X, T, message):
    params = params or tutorial.EXAMPLE["params"]
    with pytest.raises(ValueError) as error:
        tutorial.loss_and_grad(params, X, T)
    assert str(error.value).startswith(message)


def test_forward_refuses_an_empty_batch_and_inputs_of_other_batches(tmp_path):
    # Was: forward() checked neither: [] for an empty batch (loss() refused it), and zip cut
    # inputs of different batch sizes to the shortest.
    module = load_module(symprop.derive(symprop.load(EXAMPLES / "concat_two_inputs.yaml")).write_scalar(tmp_path))
    params = module.init_params(0)
    X, _ = module.sample_batch(3, 0)
    with pytest.raises(ValueError, match=r'^X\["u"\]: the batch is empty$'):
        module.forward(params, {"u": [], "v": []})
    with pytest.raises(ValueError, match=r'^X\["v"\]: expected 3 samples \(the batch of X\["u"\]\), got 2$'):
        module.forward(params, {"u": X["u"], "v": X["v"][:2]})


def test_a_scalar_input_that_is_not_a_number_is_one_value_error(tmp_path):
    scalar_module = load_module(symprop.derive(symprop.load(EXAMPLES / "cs231n_neuron.yaml")).write_scalar(tmp_path))
    params = scalar_module.EXAMPLE["params"]
    with pytest.raises(ValueError, match=r'^X\["x1"\]: each sample must be a float, got \[1.0\]$'):
        scalar_module.loss_and_grad(params, {"x0": [2.0], "x1": [[1.0]]}, None)


def test_cross_entropy_targets_off_the_simplex_are_refused(tmp_path):
    scalar_module = load_module(symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml")).write_scalar(tmp_path))
    params = scalar_module.init_params()
    X, T = scalar_module.sample_batch(2)
    bad = [tuple(0.5 * t for t in T[0]), T[1]]
    with pytest.raises(ValueError, match=r"^T: cross-entropy targets must sum to 1 along the last axis, got \("):
        scalar_module.loss_and_grad(params, X, bad)


def test_unknown_backend_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["derive", str(EXAMPLES / "tutorial_222.yaml"), "-o", str(out), "--backend", "fortran"]) == 2
    assert capsys.readouterr().err == "symprop: error: --backend 'fortran': choose from numpy, scalar, array-api, numba\n"
    assert not out.exists()


def test_a_library_as_backend_is_pointed_to_array_api(tmp_path, capsys):
    """A new user's --backend torch: the backend that runs on PyTorch is array-api."""
    assert main(["derive", str(EXAMPLES / "tutorial_222.yaml"), "-o", str(tmp_path / "out"), "--backend", "torch"]) == 2
    said = "--backend 'torch': choose from numpy, scalar, array-api, numba (array-api runs on PyTorch, JAX and Dask arrays)"
    assert capsys.readouterr().err == f"symprop: error: {said}\n"


def test_a_graph_of_too_many_elements_is_one_line(tmp_path, capsys):
    """Regression: one weight over 20,000 inputs passed the parameter limit (a line per element)."""
    spec = tmp_path / "wide.yaml"
    text = "name: wide\ninputs: {x: 20000}\ntargets: {t: 1}\nparams: {w: [1]}\nnodes: {y: w * sum(x)}\nloss: half_sse(y, t)\n"
    spec.write_text(text)
    assert main(["derive", str(spec), "-o", str(tmp_path / "out"), "--backend", "scalar"]) == 2
    assert capsys.readouterr().err == (
        "symprop: error: wide: 20,005 elements per sample; --backend scalar writes straight-line code for at most 10,000 "
        "(use --backend numpy)\n"
    )


def test_a_network_above_the_limit_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["derive", str(EXAMPLES / "mlp_784_30_10.yaml"), "-o", str(out), "--backend", "scalar"]) == 2
    assert capsys.readouterr().err == (
        "symprop: error: mlp_784_30_10: 23,860 parameters; --backend scalar writes straight-line code for at most 300 "
        "(use --backend numpy)\n"
    )
    assert not out.exists()


def test_the_limit_is_on_parameters(tmp_path):
    """300 parameters are written, 301 refused."""
    def spec(units):
        return {"name": "wide", "input": units - 1, "layers": [{"units": 1, "activation": "identity"}], "loss": "mse"}

    assert symprop.derive(symprop.from_dict(spec(300), source="<test>")).scalar_source()
    with pytest.raises(SymPropError, match="301 parameters"):
        symprop.derive(symprop.from_dict(spec(301), source="<test>")).scalar_source()


def test_backend_scalar_writes_the_module_under_the_same_name(tmp_path, capsys):
    spec = str(EXAMPLES / "tutorial_222.yaml")
    assert main(["derive", spec, "-o", str(tmp_path), "--backend", "scalar", "--emit", "numpy"]) == 0
    written = (tmp_path / "tutorial_222.py").read_text(encoding="utf-8")
    assert written == symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).scalar_source()
    assert "import numpy" not in written


# -- random networks of the formula language ---------------------------------------------------


def _agree_on_random_formulas(spec: dict):
    """Both modules of a random formula network agree to ``AGREE`` wherever NumPy's values are
    finite and moderate; points where ``math`` overflows (NumPy's inf) are skipped."""
    import warnings

    from formula_strategies import LARGEST, public
    from hypothesis import assume

    network = symprop.from_dict(public(spec), source="<formula test>")
    with tempfile.TemporaryDirectory() as scratch:
        numpy_module, scalar_module = _modules(network, Path(scratch))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rng = np.random.default_rng(0)
        params = {k: np.asarray(v + 0.3 * rng.standard_normal(np.shape(v))) for k, v in numpy_module.init_params(0).items()}
        X, T = numpy_module.sample_batch(3, 0)
        value, grads = numpy_module.loss_and_grad(params, X, T)
    values = [value, *(g for g in grads.values())]
    assume(all(np.all(np.isfinite(v)) and np.max(np.abs(v), initial=0.0) < LARGEST for v in values))
    listed = {k: _listed(v) for k, v in params.items()}
    try:
        ours, our_grads = scalar_module.loss_and_grad(listed, _listed(X), _listed(T))
    except (OverflowError, ZeroDivisionError):
        assume(False)  # an intermediate NumPy carried as inf (exp(800)) or divided by zero
    assert abs(ours - value) <= AGREE * max(1.0, abs(value)), (ours, value, spec)
    for key, expected in grads.items():
        got = np.asarray(our_grads[key], dtype=np.float64)
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        assert np.max(np.abs(got - expected), initial=0.0) <= AGREE * scale, (key, got, expected, spec)







@deterministic(40)
@given(layer_specs())
def test_layer_stacks_of_random_formulas_agree_with_the_numpy_module(spec):
    _agree_on_random_formulas(spec)


@deterministic(20)
@given(graph_specs())
def test_graph_specs_of_random_formulas_agree_with_the_numpy_module(spec):
    _agree_on_random_formulas(spec)


def test_symprop_check_runs_the_scalar_modules_own_check(tmp_path, capsys):
    path = symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml")).write_scalar(tmp_path)
    assert main(["check", str(path)]) == 0
    assert "43" in capsys.readouterr().out  # every coordinate compared


@pytest.mark.parametrize("node", ["max(v * x)", "max_pool2d(reshape(v * x, [1, 2, 2]), 2)"])
def test_a_tie_of_three_maxima_splits_the_adjoint_as_the_numpy_module(node, tmp_path):
    """SymPy's derivative of Max(a, b, c) gives 1/2 to each of a tie of three (3/2 in all); the
    scalar backend splits the adjoint evenly, as the NumPy module does (regression)."""
    spec = {"name": "tie", "inputs": {"x": 4}, "targets": {"t": []}, "params": {"v": [4]},
            "nodes": {"y": node}, "loss": "half_sse(sum(y), t)"}  # fmt: skip
    numpy_module, scalar_module = _modules(symprop.from_dict(spec, source="<test>"), tmp_path)
    params, X, T = {"v": [1.0, 1.0, 1.0, 0.5]}, [[2.0, 2.0, 2.0, 1.0]], [0.0]
    value, grads = scalar_module.loss_and_grad(params, X, T)
    expected, expected_grads = numpy_module.loss_and_grad({"v": np.array(params["v"])}, np.array(X), np.array(T))
    assert value == pytest.approx(expected, rel=1e-15)
    assert grads["v"] == pytest.approx(tuple(expected_grads["v"]), rel=1e-15)
    assert grads["v"] == pytest.approx((4 / 3, 4 / 3, 4 / 3, 0.0), rel=1e-15)  # dE/dy = 2, times x = 2, over 3


def test_the_api_names_the_backends():
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    assert derivation.module_source("scalar") == derivation.scalar_source()
    assert derivation.module_source() == derivation.numpy_source()
    assert derivation.module_source("array-api") == derivation.array_api_source()
    with pytest.raises(SymPropError, match=r"^unknown backend 'cuda': choose from numpy, scalar, array-api, numba$"):
        derivation.module_source("cuda")


def test_a_node_named_like_a_builtin_is_refused_in_one_line():
    """A node ``len`` would shadow the len() the loop calls (an UnboundLocalError at run time)."""
    spec = {"name": "shadow", "inputs": {"x": 2}, "targets": {"t": []}, "params": {"v": [2]},
            "nodes": {"len": "sum(v * x)"}, "loss": "half_sse(len, t)"}  # fmt: skip
    derivation = symprop.derive(symprop.from_dict(spec, source="<test>"))
    with pytest.raises(SymPropError, match=r"^shadow: --backend scalar would use the name 'len' twice"):
        derivation.scalar_source()
    assert derivation.numpy_source()  # the NumPy backend has no such name


def test_inputs_named_like_the_loops_helpers_get_other_loop_variables(tmp_path):
    """Regression: inputs total, plain (and targets sample_error, params_error) were refused: their
    loop variable _total, _plain, ... was the module's accumulator or helper."""
    spec = {"name": "helpers", "inputs": {"total": 2, "plain": 2}, "targets": {"sample_error": 1, "params_error": []},
            "params": {"w": [1, 2]}, "nodes": {"y": "w @ (total * plain)"},
            "loss": "half_sse(y, sample_error) + half_sse(sum(y), params_error)"}  # fmt: skip
    numpy_module, scalar_module = _modules(symprop.from_dict(spec), tmp_path)
    assert_modules_agree(numpy_module, scalar_module)
    source = (tmp_path / "scalar" / "helpers.py").read_text()
    assert "for _total_sample, _plain_sample in zip(_plain(X[\"total\"]), _plain(X[\"plain\"])):" in source


def test_two_inputs_with_one_loop_variable_are_refused(tmp_path):
    """Regression (review of ea59fd7): an input total (loop variable _total_sample) beside an input
    total_sample looped as one variable, so total took total_sample's values: loss 1740.5 against
    the NumPy module's 264.5, with no error."""
    spec = {"name": "twice", "inputs": {"total": 2, "total_sample": 2}, "targets": {"t": 1}, "params": {"w": [1, 2]},
            "nodes": {"y": "w @ (total * total_sample)"}, "loss": "half_sse(y, t)"}  # fmt: skip
    message = r"^twice: --backend scalar would loop over two inputs or targets as '_total_sample'; rename one of them$"
    with pytest.raises(SymPropError, match=message):
        symprop.derive(symprop.from_dict(spec)).scalar_source()


def test_the_elements_of_one_sample_are_built_once():
    """Derivation.elements: the chain-rule count, the per-weight view and the scalar backend read
    one ScalarView (chain_terms built one and the per-weight view another)."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    assert derivation.chain_terms == 2  # W1_11 reaches E through a2_1 and a2_2
    view = derivation.elements
    assert derivation.scalar.symbols is view.symbols and derivation.scalar.definitions is view.definitions
    assert ScalarModule(derivation).view is view


# -- NumPy arrays as arguments (regression: sign() of a NumPy scalar was a numpy boolean subtract) --

#: Each activation of the registry, each loss, and the formula functions spelled with sign().
ARRAY_SPECS = {
    **{
        f"activation_{name}": {
            "name": f"act_{name}", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3], "b": [2]},
            "nodes": {"y": f"{name}(W @ x + b)"}, "loss": "half_sse(y, t)",
        }
        for name in ACTIVATION_NAMES
    },
    **{
        f"loss_{name}": {
            "name": f"loss_{name}", "input": 3, "layers": [
                {"units": 3, "activation": "tanh"}, {"units": 2, "activation": registry.LOSSES[name].needs_output or "sigmoid"},
            ],
            "loss": name,
        }
        for name in sorted(registry.LOSSES)
    },
    "abs_max_min_step": {
        "name": "abs_max_min_step", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3]},
        "nodes": {"z": "W @ x", "y": "abs(z) + max(z, 0.3 * z) + min(z, 0.0) + step(z) * z"}, "loss": "mae(y, t)",
    },
}  # fmt: skip


def _numbers(value) -> list:
    """The numbers of nested dicts, tuples and lists, flat."""
    if isinstance(value, dict):
        value = list(value.values())
    return [x for item in value for x in _numbers(item)] if isinstance(value, (list, tuple)) else [value]


@pytest.mark.parametrize("key", sorted(ARRAY_SPECS))
def test_numpy_arrays_give_the_numbers_of_lists(key, tmp_path):
    """The README: NumPy arrays are accepted. float64 arrays give exactly the numbers of the same
    values as lists, float32 arrays those of their values as lists; every number is a Python float."""
    derivation = symprop.derive(symprop.from_dict(ARRAY_SPECS[key], source="<test>"))
    module = load_module(derivation.write_scalar(tmp_path))
    X, T = module.sample_batch(3, 0)
    rng = np.random.default_rng(0)
    raw = {k: np.asarray(v) + 0.3 * rng.standard_normal(np.shape(v)) for k, v in module.init_params(0).items()}
    for dtype in (np.float64, np.float32):
        params = {k: v.astype(dtype) for k, v in raw.items()}
        arrays = np.asarray(X, dtype=dtype), np.asarray(T, dtype=dtype)
        lists = {k: v.tolist() for k, v in params.items()}, arrays[0].tolist(), arrays[1].tolist()
        value, grads = module.loss_and_grad(params, *arrays)
        assert (value, grads) == module.loss_and_grad(*lists), dtype
        assert {type(x) for x in [value, *_numbers(grads)]} == {float}, dtype
        outputs, _ = module.forward(params, arrays[0])
        assert outputs == module.forward(lists[0], lists[1])[0], dtype
        assert module.sgd_step(params, grads, 0.1) == module.sgd_step(lists[0], grads, 0.1), dtype
