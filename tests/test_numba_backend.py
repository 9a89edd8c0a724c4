"""The numba backend (``--backend numba``): layer stacks with fused ``@njit`` loops.

Its loss and gradients equal the NumPy module's to 1e-12 (float64) on every layer-stack example,
every activation of the registry (one stack holding them all, so that Numba compiles few
networks) and every loss (a small network each); float32 and mixed precisions; reused arrays
never leak into returned gradients; its exp and tanh match NumPy's; the cache serves a second
process.  Refusals: a missing Numba (simulated) is one line, exit 2, nothing written.  Graph
specs: ``test_numba_graphs.py``.  Tests that need Numba skip without it, and fail instead under
``SYMPROP_REQUIRE_BACKENDS=1`` (CI).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES
from reference import LOSS_OUTPUTS

import symprop
from symprop import registry
from symprop.check import load_module
from symprop.cli import main
from symprop.emit.numba import NUMBA_MISSING
from symprop.emit.numba.kernels import typed
from symprop.emit.numba.module import broken
from symprop.errors import SymPropError
from symprop.spec_file import read_yaml

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
REQUIRE = os.environ.get("SYMPROP_REQUIRE_BACKENDS") == "1"
AGREE = 1e-12

#: Every layer-stack example (a spec without ``nodes:``); graph specs: test_numba_graphs.py.
EXAMPLE_SPECS = sorted(EXAMPLES.glob("*.yaml"))
LAYER_STACKS = [path.stem for path in EXAMPLE_SPECS if "nodes" not in read_yaml(path)]
GRAPH_SPECS = [path.stem for path in EXAMPLE_SPECS if path.stem not in LAYER_STACKS]

#: Binary cross-entropy of a sigmoid written as a formula: the registry's stable spelling of the loss
#: (``python_elementwise``), not the fused softplus form.
LOGISTIC = {"logistic": "1 / (1 + exp(-z))"}
ACTIVATIONS = sorted(registry.ACTIVATIONS)


@pytest.fixture
def numba_needed():
    """Skip without Numba, or fail when CI demands the backends (SYMPROP_REQUIRE_BACKENDS=1)."""
    if HAVE_NUMBA:
        return
    if REQUIRE:
        pytest.fail("SYMPROP_REQUIRE_BACKENDS=1 but numba is not installed")
    pytest.skip("numba is not installed (pip install numba)")


def modules(network, directory: Path):
    """(NumPy module, numba module) of ``network`` (an example name or a dict spec)."""
    if isinstance(network, str):
        network = symprop.load(EXAMPLES / f"{network}.yaml")
    else:
        network = symprop.from_dict(network, source="<test>")
    derivation = symprop.derive(network)
    return load_module(derivation.write_numpy(directory / "numpy")), load_module(derivation.write_numba(directory / "numba"))


def point(numpy_module, seed=0, batch=5, dtype=np.float64):
    rng = np.random.default_rng(seed + 10)
    params = {k: (v + 0.3 * rng.standard_normal(v.shape)).astype(dtype) for k, v in numpy_module.init_params(seed).items()}
    X, T = numpy_module.sample_batch(batch, seed, dtype=dtype)
    return params, X, T


def assert_close(got, expected, tolerance, what):
    assert np.shape(got) == np.shape(expected), what
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert np.max(np.abs(np.asarray(got, np.float64) - expected), initial=0.0) <= tolerance * scale, what


def assert_agree(numpy_module, numba_module, seeds=(0, 1), batch=5, keys=None):
    """loss_and_grad(), and forward(), loss() and backward(), equal the NumPy module's to AGREE."""
    for seed in seeds:
        params, X, T = point(numpy_module, seed, batch)
        value, grads = numpy_module.loss_and_grad(params, X, T)
        ours, our_grads = numba_module.loss_and_grad(params, X, T)
        assert abs(ours - value) <= AGREE * max(1.0, abs(value)), (seed, ours, value)
        output, cache = numba_module.forward(params, X)
        assert_close(output, numpy_module.forward(params, X)[0], AGREE, "forward")
        assert abs(numba_module.loss(params, X, T) - value) <= AGREE * max(1.0, abs(value))
        separate = numba_module.backward(params, cache, T)
        for key in keys or grads:
            assert np.any(grads[key] != 0), key  # a gradient that is all zeros would prove nothing
            assert_close(our_grads[key], grads[key], AGREE, (seed, key))
            assert_close(separate[key], grads[key], AGREE, (seed, key, "backward"))


@pytest.mark.parametrize("name", LAYER_STACKS)
def test_examples_agree_with_the_numpy_module(name, tmp_path, numba_needed):
    assert_agree(*modules(name, tmp_path))


def test_every_activation_agrees(tmp_path, numba_needed):
    """One stack with a hidden layer of each registry activation (one module for Numba to compile,
    in one test: a parametrised one would compile it once per pytest-xdist worker); the table is
    the registry, and each activation's own weights are compared."""
    layers = [{"units": 4, "activation": name} for name in ACTIVATIONS] + [{"units": 2, "activation": "identity"}]
    spec = {"name": "all_activations", "input": 3, "layers": layers, "loss": "half_sse"}
    numpy_module, numba_module = modules(spec, tmp_path)
    failed = []
    for index, activation in enumerate(ACTIVATIONS, start=1):
        try:
            assert_agree(numpy_module, numba_module, seeds=(0,), keys=[f"W{index}", f"b{index}"])
        except AssertionError as error:
            failed.append(f"{activation}: {error}")
    assert not failed, failed


@pytest.mark.parametrize(("loss", "output"), [*LOSS_OUTPUTS.items(), ("binary_cross_entropy", "logistic")])
def test_every_loss_agrees(loss, output, tmp_path, numba_needed):
    layers = [{"units": 4, "activation": "tanh"}, {"units": 3, "activation": output}]
    spec = {"name": f"loss_{loss}_{output}", "input": 3, "layers": layers, "loss": loss, "functions": LOGISTIC}
    assert_agree(*modules(spec, tmp_path))


def test_the_loss_table_covers_the_registry():
    assert set(LOSS_OUTPUTS) == set(registry.LOSSES)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return modules("mlp_784_30_10", tmp_path_factory.mktemp("mlp")) if HAVE_NUMBA else None


def test_float32_stays_float32(mlp, numba_needed):
    numpy_module, numba_module = mlp
    params, X, T = point(numpy_module, dtype=np.float32)
    value, grads = numpy_module.loss_and_grad(params, X, T)
    ours, our_grads = numba_module.loss_and_grad(params, X, T)
    assert ours == pytest.approx(value, rel=1e-5)
    for key, expected in grads.items():
        assert our_grads[key].dtype == np.float32, key
        assert_close(our_grads[key], expected, 1e-5, key)


def test_mixed_precisions_compute_in_the_widest(mlp, numba_needed):
    """float32 inputs with float64 parameters: float64 throughout, as NumPy would."""
    numpy_module, numba_module = mlp
    params, X, T = point(numpy_module)
    X32 = X.astype(np.float32)
    value, grads = numpy_module.loss_and_grad(params, X32, T)
    ours, our_grads = numba_module.loss_and_grad(params, X32, T)
    assert abs(ours - value) <= AGREE * abs(value)
    for key, expected in grads.items():
        assert our_grads[key].dtype == np.float64, key
        assert_close(our_grads[key], expected, AGREE, key)


def test_reused_arrays_never_reach_the_caller(mlp, numba_needed):
    """The workspace serves the next call; gradients returned earlier keep their values."""
    numpy_module, numba_module = mlp
    params, X, T = point(numpy_module, batch=6)
    _, first = numba_module.loss_and_grad(params, X, T)
    kept = {key: value.copy() for key, value in first.items()}
    other, X2, T2 = point(numpy_module, seed=3, batch=6)
    _, second = numba_module.loss_and_grad(other, X2, T2)
    for key, value in first.items():
        assert np.array_equal(value, kept[key]), key
        assert_close(second[key], numpy_module.loss_and_grad(other, X2, T2)[1][key], AGREE, key)
    _, third = numba_module.loss_and_grad(params, X[:2], T[:2])  # another batch size: its own arrays
    assert_close(third["W1"], numpy_module.loss_and_grad(params, X[:2], T[:2])[1]["W1"], AGREE, "batch 2")


@pytest.mark.parametrize("transposed", [False, True])
def test_either_orientation_of_the_products_agrees(mlp, transposed, numba_needed):
    """_product's two ways (np.dot(A, W.T), or np.dot(W, A.T) copied back), whichever its timing
    picked: the same loss and gradients as the NumPy module's."""
    numpy_module, numba_module = mlp
    params, X, T = point(numpy_module, batch=7)
    numba_module.loss_and_grad(params, X, T)  # times them, once per shape
    shapes = [key for key in numba_module._TRANSPOSED if key[0][0] == 7]
    assert len(shapes) == 2  # the two layers
    numba_module._TRANSPOSED.update(dict.fromkeys(shapes, transposed))
    value, grads = numpy_module.loss_and_grad(params, X, T)
    ours, our_grads = numba_module.loss_and_grad(params, X, T)
    assert abs(ours - value) <= AGREE * abs(value)
    for key, expected in grads.items():
        assert_close(our_grads[key], expected, AGREE, key)


def test_class_index_targets_and_checks(tmp_path, numba_needed):
    """The NumPy module's argument checks and one-hot targets, unchanged."""
    numpy_module, numba_module = modules("softmax_classifier", tmp_path)
    params, X, T = point(numpy_module)
    labels = np.argmax(T, axis=1)
    expected = numpy_module.loss_and_grad(params, X, labels)[0]
    assert numba_module.loss_and_grad(params, X, labels)[0] == pytest.approx(expected, rel=AGREE)
    message = r"^X: expected shape \(batch, 4\); a single sample needs a batch axis: X\[None\], got \(4,\)$"
    with pytest.raises(ValueError, match=message):
        numba_module.loss_and_grad(params, X[0], T)
    with pytest.raises(ValueError, match=r"^X: the batch is empty \(shape \(0, 4\)\)$"):  # was nan
        numba_module.loss_and_grad(params, X[:0], T[:0])


def test_exp_and_tanh_match_numpy(mlp, numba_needed):
    """The vectorisable helpers (emit/numba/fastmath.py) within a few ulps of NumPy's, with
    inf, 0, subnormals and NaN where NumPy has them."""
    _, numba_module = mlp
    x = np.concatenate([np.linspace(-760, 760, 20001), np.linspace(-3, 3, 20001), np.geomspace(1e-300, 30, 2000)])
    x = np.concatenate([x, -x, [0.0, np.inf, -np.inf, np.nan, 709.7, 709.8, -745.2, -708.5]])
    with np.errstate(over="ignore"):
        expected = {"exp": np.exp(x), "tanh": np.tanh(x)}
    for name, function in (("exp", numba_module._exp), ("tanh", numba_module._tanh)):
        got = np.array([function(v) for v in x])
        assert np.array_equal(np.isnan(got), np.isnan(expected[name])), name
        finite = np.isfinite(expected[name]) & (np.abs(expected[name]) > 1e-290)
        infinite = np.isinf(expected[name])
        assert np.array_equal(got[infinite], expected[name][infinite]) and np.array_equal(got == 0, expected[name] == 0), name
        if name == "tanh":  # exp's subnormals (below 1e-290) may differ from NumPy's in their last bits
            tails = ~finite & ~np.isnan(got)
            assert np.array_equal(got[tails], expected[name][tails]), name
        relative = np.abs(got[finite] - expected[name][finite]) / np.abs(expected[name][finite])
        assert relative.max() < 5e-16, (name, x[finite][np.argmax(relative)])
    tiny = np.array([numba_module._exp(v) for v in (-720.0, -740.0, -800.0, 800.0)])
    assert tiny[0] == pytest.approx(np.exp(-720.0), rel=1e-10) and tiny[1] > 0 and tiny[2] == 0 and tiny[3] == np.inf


def test_exp_and_tanh_compute_float32_in_float32(mlp, numba_needed):
    """In float32 the helpers compute in float32 (their constants are written F(...), F = type(x)),
    within 3 ulp of NumPy's float32 exp and tanh, with its inf and 0."""
    _, numba_module = mlp
    x = np.concatenate([np.linspace(-110, 95, 20001), np.linspace(-3, 3, 20001), [0.0, np.inf, -np.inf, 88.8, -104.0]])
    x = x.astype(np.float32)
    with np.errstate(over="ignore"):
        expected = {"exp": np.exp(x), "tanh": np.tanh(x)}
    for name, function in (("exp", numba_module._exp), ("tanh", numba_module._tanh)):
        got = np.array([function(v) for v in x], dtype=np.float64)
        returns = {str(signature.args[0]): str(signature.return_type) for signature in function.nopython_signatures}
        assert returns["float32"] == "float32", name
        finite = np.isfinite(expected[name]) & (expected[name] != 0)
        assert np.array_equal(got[~finite], expected[name][~finite]), name
        ulps = np.abs(got[finite] - expected[name][finite]) / np.spacing(np.abs(expected[name][finite]))
        assert ulps.max() <= 3, (name, x[finite][np.argmax(ulps)])


def test_float32_layers_never_widen_to_float64(tmp_path, numba_needed):
    """A float32 layer's loops hold no float64 arithmetic: no fpext in their LLVM code (a float
    literal is a float64 to Numba; the kernels write their numbers F(0.5), in the arrays' type)."""
    _, numba_module = modules("mlp_784_30_10", tmp_path)
    params, X, T = point(numba_module, dtype=np.float32)
    numba_module.loss_and_grad(params, X, T)
    for kernel in (numba_module._layer1_forward, numba_module._layer1_backward):
        (code,) = [text for signature, text in kernel.inspect_llvm().items() if "float32" in str(signature)]
        assert "fpext" not in code, kernel.__name__


@pytest.mark.parametrize(
    "code, expected",
    [
        ("0.5 + 0.5 * _tanh(0.5 * z)", "F(0.5) + F(0.5) * _tanh(F(0.5) * z)"),
        ("(1 if z > 0 else 0)", "(F(1) if z > F(0) else F(0))"),
        ("z ** 3 - 1e-12", "z ** 3 - F(1e-12)"),  # an exponent stays an integer
        ("a1 * (1 - a1)", "a1 * (F(1) - a1)"),  # a digit in a name is no number
    ],
)
def test_numbers_are_written_in_the_arrays_type(code, expected):
    assert typed(code) == expected


def test_a_long_line_is_broken_inside_its_brackets():
    code = "        d = D1[i, j] * (" + " + ".join(f"F({k}.5) * z" for k in range(12)) + ")"
    lines = broken(code, 60)
    assert len(lines) > 1 and all(len(line) <= 60 for line in lines)
    assert ast.dump(ast.parse("\n".join(lines).strip())) == ast.dump(ast.parse(code.strip()))


def test_the_check_command_passes(tmp_path, capsys, numba_needed):
    path = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).write_numba(tmp_path)
    assert main(["check", str(path)]) == 0


def test_a_second_process_loads_the_compiled_loops_from_the_cache(tmp_path, numba_needed):
    """Imported by its name, the module caches its loops beside itself: the next process
    loads them (a cache hit) instead of compiling."""
    symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).write_numba(tmp_path)
    script = textwrap.dedent(
        """
        import tutorial_222 as m
        params = m.init_params(0)
        X, T = m.sample_batch(4, 0)
        m.loss_and_grad(params, X, T)
        print(sum(m._output_loss_and_delta.stats.cache_hits.values()), m.CACHE)
        """
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    command = [sys.executable, "-c", script]
    runs = [subprocess.run(command, capture_output=True, text=True, env=environment, check=True) for _ in range(2)]
    assert [run.stdout.split() for run in runs] == [["0", "True"], ["1", "True"]]
    assert any(path.suffix == ".nbi" for path in (tmp_path / "__pycache__").iterdir())


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_the_modules_are_clean_under_ruff(tmp_path, numba_needed, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)  # the docstrings name the spec as given: examples/NAME.yaml
    for name in LAYER_STACKS:
        symprop.derive(symprop.load(f"examples/{name}.yaml")).write_numba(tmp_path)
    result = subprocess.run(["ruff", "check", "--no-cache", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_the_modules_need_no_settings_to_pass_ruff_comparison_checks(tmp_path, numba_needed):
    """A module written into a user's folder is checked without this repository's settings:
    the NaN test of _exp was ``x == x``, a name compared with itself (PLR0124)."""
    symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).write_numba(tmp_path)
    command = ["ruff", "check", "--isolated", "--no-cache", "--select", "E4,E7,E9,F,PLR0124", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout


def test_the_cli_writes_the_module(tmp_path, numba_needed):
    spec = str(EXAMPLES / "tutorial_222.yaml")
    assert main(["derive", spec, "-o", str(tmp_path), "--backend", "numba", "--emit", "numpy"]) == 0
    written = (tmp_path / "tutorial_222.py").read_text(encoding="utf-8")
    assert written == symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).module_source("numba")
    assert "@njit(cache=CACHE, **JIT)" in written


def test_a_missing_numba_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    out = tmp_path / "out"
    assert main(["derive", str(EXAMPLES / "tutorial_222.yaml"), "-o", str(out), "--backend", "numba"]) == 2
    assert capsys.readouterr().err == f"symprop: error: {NUMBA_MISSING}\n"
    assert NUMBA_MISSING == "--backend numba needs Numba: pip install numba (or pip install 'symprop[numba]')"
    assert not out.exists()
    with pytest.raises(SymPropError, match="needs Numba"):
        symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).numba_source()
