"""The array-API backend (``--backend array-api``): the NumPy module against the array API standard.

Its loss and gradients equal the NumPy module's to 1e-12 on NumPy, array-api-strict, PyTorch
(CPU), JAX (CPU, also under ``jax.jit``) and Dask, over the examples and the op table's samples
(``test_ops.OP_SAMPLES``, as the scalar backend's tests use them); every op is spelled, and a line
the standard cannot spell is refused with one clear line; the translation table is checked row by row.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings

import numpy as np
import pytest
from backend_strategies import converted
from conftest import EXAMPLES, needs_library
from test_ops import OP_SAMPLES

import symprop
from symprop import ops
from symprop.check import check_module, load_module
from symprop.cli import main
from symprop.emit.array_api.translate import NotSpelled, spelled
from symprop.errors import SymPropError

#: Every example and op sample is spelled (conv, pool, einsum and erf included); a line the
#: standard cannot spell is refused in one line: test_an_unspelled_line_is_one_line_and_writes_nothing.
EXAMPLE_NAMES = sorted(path.stem for path in EXAMPLES.glob("*.yaml"))
AGREE = 1e-12
LIBRARIES = ("numpy", "array_api_strict", "torch", "jax", "jax.jit", "dask")


def _converter(library: str):
    """(array -> the library's array, the loss_and_grad to call, result -> NumPy) for ``library``."""
    if library == "numpy":
        return np.asarray, None, lambda value: value
    if library == "array_api_strict":
        return needs_library("array_api_strict").asarray, None, lambda value: value
    if library == "torch":
        torch = needs_library("torch")
        return torch.asarray, None, lambda value: value
    if library.startswith("jax"):
        jax = needs_library("jax")
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        return jnp.asarray, jax.jit if library == "jax.jit" else None, lambda value: value
    dask = needs_library("dask")
    import dask.array as da

    return da.asarray, None, lambda value: dask.compute(value)[0]


def _numpy(value) -> np.ndarray:
    return np.asarray(value.cpu() if hasattr(value, "cpu") else value, dtype=np.float64)


def assert_backends_agree(network, directory, libraries=LIBRARIES, batch=3):
    """The array-API module's loss and gradients on each library equal the NumPy module's to ``AGREE``."""
    derivation = symprop.derive(network)
    numpy_module = load_module(derivation.write_numpy(directory / "numpy"))
    module = load_module(derivation.write_array_api(directory / "array_api"))
    rng = np.random.default_rng(10)
    params = {k: np.asarray(v + 0.3 * rng.standard_normal(np.shape(v))) for k, v in numpy_module.init_params(0).items()}
    X, T = numpy_module.sample_batch(batch, 0)
    value, grads = numpy_module.loss_and_grad(params, X, T)
    for library in libraries:
        convert, transform, computed = _converter(library)
        function = transform(module.loss_and_grad) if transform else module.loss_and_grad
        ours, our_grads = computed(function(converted(params, convert), converted(X, convert), converted(T, convert)))
        assert abs(float(_numpy(ours)) - value) <= AGREE * max(1.0, abs(value)), (library, ours, value)
        for key, expected in grads.items():
            got = _numpy(our_grads[key])
            assert got.shape == np.shape(expected), (library, key)
            scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
            assert np.max(np.abs(got - expected), initial=0.0) <= AGREE * scale, (library, key)
    return module


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_examples_agree_with_the_numpy_module_on_every_library(name, tmp_path):
    assert_backends_agree(symprop.load(EXAMPLES / f"{name}.yaml"), tmp_path)


@pytest.mark.parametrize("op", list(OP_SAMPLES), ids=lambda op: op.__name__)
def test_every_op_is_spelled(op, tmp_path):
    network = symprop.from_dict({"name": f"sample_{op.__name__.lower()}", **OP_SAMPLES[op]}, source="<test>")
    assert_backends_agree(network, tmp_path)


#: Specs random graphs found failing (scripts/fuzz_backends.py), each a regression case.
FOUND = {
    # reshape to a per-sample scalar: xp.reshape(X, X.shape[0]), a shape the standard takes as a tuple only
    "found_reshape_to_a_scalar": {
        "inputs": {"x": []}, "targets": {"t": []}, "params": {"W": []}, "nodes": {"h": "reshape(x, []) * W"},
        "loss": "half_sse(h, t)",
    },
    # np.tensordot(A, B, axes=(1, 2)): the standard asks for a sequence of axes on each side (PyTorch raised)
    "found_tensordot_of_single_axes": {
        "inputs": {"x": [3]}, "targets": {"t": [2, 3]}, "params": {"W": [2, 3, 3]}, "nodes": {"h": "W @ x"},
        "loss": "half_sse(h, t)",
    },
    # x - x is zeros of np.broadcast_arrays(X, X)[0]: the tuple was indexed [0, ...] (a TypeError)
    "found_an_index_of_broadcast_arrays": {
        "inputs": {"x": [2]}, "targets": {"t": [2]}, "params": {"W": [2]}, "nodes": {"z": "x - x", "h": "W * x + z"},
        "loss": "half_sse(h, t)",
    },
    # a table of one axis looked up: xp.reshape(..., (*I.shape)), a SyntaxError when the module was written
    "found_lookup_in_a_vector": {
        "inputs": {"i": {"shape": [3], "dtype": "int", "range": 5}}, "targets": {"t": [3]}, "params": {"W": [5]},
        "nodes": {"h": "W[i]"}, "loss": "half_sse(h, t)",
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FOUND))
def test_found_specs_agree_with_the_numpy_module(name, tmp_path):
    assert_backends_agree(symprop.from_dict({"name": name, **FOUND[name]}, source="<test>"), tmp_path)


def test_the_modules_are_clean_under_ruff(tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)  # the docstring quotes the spec's path: relative, as in generated/
    for name in EXAMPLE_NAMES:
        symprop.derive(symprop.load(f"examples/{name}.yaml")).write_array_api(tmp_path)
    for op, body in OP_SAMPLES.items():
        network = symprop.from_dict({"name": f"sample_{op.__name__.lower()}", **body}, source="<t>")
        symprop.derive(network).write_array_api(tmp_path)
    run = subprocess.run(["ruff", "check", "--quiet", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_the_module_is_the_numpy_module_in_the_standard(tmp_path):
    """Same functions, docstrings and formula comments; the array code calls xp, not np."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    source, numpy_source = derivation.array_api_source(), derivation.numpy_source()
    tree, numpy_tree = ast.parse(source), ast.parse(numpy_source)

    def functions(t):
        return {n.name: ast.get_docstring(n) for n in t.body if isinstance(n, ast.FunctionDef)}

    public = {name: doc for name, doc in functions(numpy_tree).items() if not name.startswith("_")}
    ours = functions(tree)
    for name, doc in public.items():
        assert name in ours, name
        if name not in ("init_params", "sample_batch"):  # these say which namespace they return
            assert ours[name] == doc, name
    imported = {alias.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for alias in n.names}
    assert imported == {"numpy", "array_namespace", "device", "is_array_api_obj", "is_lazy_array"}
    lines = source.splitlines()
    assert "    dZ2 = dA2 * A2 * (1 - A2)  # dE/dz2 = dE/da2 * a2 * (1 - a2)" in lines
    assert "    dW2 = dZ2.T @ A1  # dE/dW2 = dE/dz2 a1^T, summed over the batch" in lines
    assert "    _r_A2 = A2 - T  # the residual, for the loss and its gradient" in lines
    assert any(line.startswith("    E = 0.5 * xp.sum(_r_A2 * _r_A2) / N  # E = half_sse(a2, t)") for line in lines)
    for name in ("forward", "_batch_loss", "backward", "loss_and_grad"):
        body = ast.get_source_segment(source, next(n for n in tree.body if getattr(n, "name", "") == name))
        assert "np." not in body, name


def test_worked_example_and_gradient_check(tmp_path):
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    path = derivation.write_array_api(tmp_path)
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "worked example: E = 0.02397190" in run.stdout
    assert check_module(path).error < 1e-7  # symprop check runs it as it runs a NumPy module


def test_init_params_and_sample_batch_take_a_namespace_and_dtype(tmp_path):
    strict = needs_library("array_api_strict")
    module = load_module(symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml")).write_array_api(tmp_path))
    params = module.init_params(0, dtype=strict.float32, xp=strict)
    X, T = module.sample_batch(2, 0, dtype=strict.float32, xp=strict)
    assert all(v.dtype == strict.float32 for v in params.values()) and X.dtype == strict.float32
    value, grads = module.loss_and_grad(params, X, T)
    assert value.dtype == strict.float32 and all(g.dtype == strict.float32 for g in grads.values())


@pytest.mark.parametrize("dtype", [np.float32, np.dtype("float32"), "float32"], ids=["type", "dtype", "name"])
def test_init_params_and_sample_batch_read_numpy_dtypes_in_the_namespace(tmp_path, dtype):
    """Regression (a trial as a new user): ``init_params(0, np.float32, torch)`` raised
    torch's TypeError from inside the module; array-api-strict refused it too."""
    strict = needs_library("array_api_strict")
    module = load_module(symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml")).write_array_api(tmp_path))
    params = module.init_params(0, dtype, strict)
    X, T = module.sample_batch(2, 0, dtype, strict)
    assert all(v.dtype == strict.float32 for v in params.values()) and X.dtype == T.dtype == strict.float32


def test_wrong_arguments_raise_the_numpy_modules_messages(tmp_path):
    strict = needs_library("array_api_strict")
    module = load_module(symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml")).write_array_api(tmp_path))
    params = module.init_params(xp=strict)
    X, T = module.sample_batch(2, xp=strict)
    with pytest.raises(ValueError, match=r"^X: expected shape \(batch, 4\), got \(2, 3\)$"):
        module.loss(params, X[:, :3], T)
    with pytest.raises(ValueError, match=r"^T: cross-entropy targets must sum to 1 along the last axis; row 1 sums to 0.5$"):
        module.loss(params, X, strict.concat([T[:1, ...], 0.5 * T[1:, ...]]))
    one_hot = module.loss(params, X, strict.argmax(T, axis=1))  # class indices, as PyTorch takes them
    assert float(one_hot) == pytest.approx(float(module.loss(params, X, T)), rel=1e-15)
    with pytest.raises(ValueError, match=r"^X: the batch is empty \(shape \(0, 4\)\)$"):  # was nan
        module.loss_and_grad(params, X[:0, ...], T[:0, ...])


def test_a_sequence_cross_entropy_takes_class_indices_per_step(tmp_path):
    """As the NumPy module (test_module_inputs): T [6, 5] given as indices of shape (batch, 6)."""
    strict = needs_library("array_api_strict")
    from test_module_inputs import SEQUENCE_CE

    module = load_module(symprop.derive(symprop.from_dict(SEQUENCE_CE)).write_array_api(tmp_path))
    params = module.init_params(xp=strict)
    X, T = module.sample_batch(3, xp=strict)
    indices = strict.argmax(T, axis=2)
    assert float(module.loss(params, X, indices)) == pytest.approx(float(module.loss(params, X, T)), rel=1e-15)
    with pytest.raises(ValueError, match=r"^T: expected class indices of shape \(batch, 6\), got \(3, 5\)$"):
        module.loss(params, X, indices[:, :5])


# -- the command line ----------------------------------------------------------------------------


def test_backend_array_api_writes_the_module(tmp_path):
    spec = str(EXAMPLES / "tutorial_222.yaml")
    assert main(["derive", spec, "-o", str(tmp_path), "--backend", "array-api", "--emit", "numpy"]) == 0
    written = (tmp_path / "tutorial_222.py").read_text(encoding="utf-8")
    assert written == symprop.derive(symprop.load(spec)).array_api_source()
    assert 'BACKEND = "array-api"' in written


def test_missing_array_api_compat_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "array_api_compat" else real(name, *a))
    out = tmp_path / "out"
    assert main(["derive", str(EXAMPLES / "tutorial_222.yaml"), "-o", str(out), "--backend", "array-api"]) == 2
    assert capsys.readouterr().err == (
        "symprop: error: --backend array-api: the module imports array-api-compat, which is not installed "
        "(pip install array-api-compat, or symprop[array-api])\n"
    )
    assert not out.exists()
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    with pytest.raises(SymPropError, match=r"^--backend array-api: the module imports array-api-compat, which is not installed"):
        derivation.write_array_api(out)  # the Python API says it too, before anything is written
    assert not out.exists()


# -- the translation table, row by row -------------------------------------------------------------

SPELLINGS = [
    ("Z = np.dot(X, W.T)", "Z = X @ W.T"),
    ("s = A.sum(1)", "s = xp.sum(A, axis=1)"),
    ("s = A.sum(axis=(1, 2), keepdims=True)  # why", "s = xp.sum(A, axis=(1, 2), keepdims=True)  # why"),
    ("d = g * (Z > 0)", "d = xp.where(Z > 0, g, 0.0)"),
    ("dW += G", "dW = dW + G"),
    ("c = np.concatenate([a, b], axis=1)", "c = xp.concat([a, b], axis=1)"),
    ("e = np.vdot(y - t, y - t)", "e = xp.sum((y - t) * (y - t))"),
    ("h = x[:, None]", "h = x[:, None, ...]"),
    ("W = params['W']", "W = params['W']"),
    ("m = np.tril(np.ones((3, 3), dtype=bool))", "m = xp.tril(xp.ones((3, 3), dtype=xp.bool))"),
    ("y = np.swapaxes(x, 1, 2)", "y = _swapaxes(x, 1, 2)"),
    ("y = np.einsum('ij,jk,k->i', x, A, v, optimize=True)", "y = _einsum('ij,jk,k->i', x, A, v)"),
    ("y = x.reshape(3, 2)", "y = xp.reshape(x, (3, 2))"),
    ("d = np.full((3, 3), g[None, None])", "d = xp.broadcast_to(g[None, None, ...], (3, 3))"),
    ("u = np.log(np.maximum(u, np.finfo(u.dtype).tiny))", "u = xp.log(xp.maximum(u, xp.finfo(u.dtype).smallest_normal))"),
]


@pytest.mark.parametrize("numpy_code, expected", SPELLINGS, ids=[row[0] for row in SPELLINGS])
def test_spelling(numpy_code, expected):
    assert spelled(numpy_code, set(), set()) == expected


@pytest.mark.parametrize(
    "numpy_code, what",
    [("np.add.at(out, ids, g)", "np.add.at"), ("y[0] = 1.0", "item assignment"), ("np.maximum(a, b, out=a)", "out="),
     ("a.flags.writeable = False", ".flags")],
)  # fmt: skip
def test_what_the_standard_cannot_spell_is_refused(numpy_code, what):
    with pytest.raises(NotSpelled, match=what.replace(".", r"\.")):
        spelled(numpy_code, set(), set())


@pytest.mark.parametrize("index, shape", [("[::2]", [3, 2]), ("[-1]", [2]), ("[1:4:2, 1]", [2])])
def test_an_index_puts_its_adjoint_back_without_writing_in_place(index, shape, tmp_path):
    """``_unindex`` of the array-API module builds the adjoint axis by axis (JAX arrays are immutable)."""
    spec = {
        "name": "indexed", "inputs": {"x": [5, 2]}, "targets": {"t": shape}, "params": {"A": [5, 2]},
        "nodes": {"y": f"(A * x){index}"}, "loss": "half_sse(y, t)",
    }  # fmt: skip
    assert_backends_agree(symprop.from_dict(spec, source="<test>"), tmp_path, libraries=("array_api_strict", "jax.jit"))


# -- convolution and pooling -------------------------------------------------------------------------

#: Windows the op samples may not cover: case -> (per-sample x, params, y, y's shape).
WINDOWED = {
    "conv2d stride 2 padding 1, rows dropped": ([2, 7, 6], {"v": [2, 7, 6], "K": [3, 2, 3, 3]},
                                                "conv2d(v * x, K, stride=2, padding=1)", [3, 4, 3]),
    "conv2d stride 3 > kernel 2, padding (0, 2)": ([2, 8, 5], {"v": [2, 8, 5], "K": [3, 2, 2, 3]},
                                                   "conv2d(v * x, K, stride=(3, 1), padding=(0, 2))", [3, 3, 7]),
    "conv1d stride 2 padding 1": ([2, 9], {"L": [3, 2, 4]}, "conv1d(x * x, L, stride=2, padding=1)", [3, 4]),
    "conv2d of a value shared by the samples": ([3, 4, 4], {"P": [2, 6, 6], "K": [3, 2, 3, 3]},
                                                "conv2d(P, K, padding=1)[:, 0:4, 0:4] * x", [3, 4, 4]),
    "max pool 3 stride 1: overlaps, ties": ([2, 5, 6], {"v": [2, 5, 6]}, "max_pool2d(relu(v * x), 3, stride=1)", [2, 3, 4]),
    "max pool (3, 2) stride (2, 1)": ([2, 7, 5], {"v": [2, 7, 5]}, "max_pool2d(relu(v * x), (3, 2), stride=(2, 1))", [2, 3, 4]),
    "max pool 2 stride 3: gaps": ([2, 7, 7], {"v": [2, 7, 7]}, "max_pool2d(v * x, 2, stride=3)", [2, 2, 2]),
    "avg pool 3 stride (1, 2): overlaps": ([2, 5, 6], {"v": [2, 5, 6]}, "avg_pool2d(v * x, 3, stride=(1, 2))", [2, 3, 2]),
    "max pool of a value shared by the samples": ([2, 2, 2], {"P": [2, 4, 5]}, "max_pool2d(relu(P), 2) * x", [2, 2, 2]),
    "max pool 1-D 3 stride 2: overlaps, ties": ([2, 9], {"v": [2, 9]}, "max_pool1d(relu(v * x), 3, stride=2)", [2, 4]),
    "avg pool 1-D 2 stride 3: gaps": ([2, 8], {"v": [2, 8]}, "avg_pool1d(v * x, 2, stride=3)", [2, 3]),
    "avg pool 1-D of a value shared by the samples": ([2, 2], {"P": [2, 5]}, "avg_pool1d(P, 2) * x", [2, 2]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(WINDOWED))
def test_windows_agree_with_the_numpy_module(case, tmp_path):
    shape, params, y, target = WINDOWED[case]
    spec = {"name": "windowed", "inputs": {"x": shape}, "targets": {"t": target}, "params": params, "nodes": {"y": y},
            "loss": "half_sse(y, t)"}  # fmt: skip
    libraries = ("numpy", "array_api_strict", "jax.jit", "dask")
    assert_backends_agree(symprop.from_dict(spec, source="<test>"), tmp_path, libraries=libraries, batch=4)


#: x (one sample, one channel, 2 x 3), the windows' maxima y and adjoints g (2 x 2 windows,
#: stride 1), and dE/dx: each window's adjoint split evenly between its tied maxima, overlapping
#: windows adding up (the first window's 2 to its two 2s, the second's 3 to its three).
TIES = ([[1.0, 2.0, 2.0], [0.0, 2.0, 1.0]], [[2.0, 2.0]], [[2.0, 3.0]], [[0.0, 2.0, 1.0], [0.0, 2.0, 0.0]])


@pytest.mark.parametrize("library", ("numpy", "array_api_strict", "jax.jit", "dask"))
def test_max_pool_splits_its_adjoint_between_ties(library, tmp_path):
    spec = {"name": "pooled", "inputs": {"x": [1, 2, 3]}, "targets": {"t": [1, 1, 2]}, "params": {"v": [1, 2, 3]},
            "nodes": {"y": "max_pool2d(v * x, 2, stride=1)"}, "loss": "half_sse(y, t)"}  # fmt: skip
    derivation = symprop.derive(symprop.from_dict(spec, source="<test>"))
    module = load_module(derivation.write_array_api(tmp_path / "array_api"))
    numpy_module = load_module(derivation.write_numpy(tmp_path / "numpy"))
    x, y, g, expected = (np.asarray(value)[None, None] for value in TIES)
    assert np.array_equal(numpy_module._max_pool_adjoint(g, x, y, (2, 2), (1, 1)), expected)
    convert, transform, computed = _converter(library)
    adjoint = (transform or (lambda f: f))(lambda g, x, y: module._max_pool_adjoint(g, x, y, (2, 2), (1, 1)))
    assert np.array_equal(_numpy(computed(adjoint(convert(g), convert(x), convert(y)))), expected)
    assert np.array_equal(_numpy(computed(module._max_pool(convert(x), (2, 2), (1, 1)))), y)


def test_an_unspelled_line_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    """What the backend cannot spell is refused in one line (here a tanh made unspellable: every
    op is spelled now, so that the message is still checked)."""
    from symprop.emit.array_api import translate

    monkeypatch.setattr(translate, "SAME", translate.SAME - {"tanh"})
    out = tmp_path / "out"
    assert main(["derive", str(EXAMPLES / "elman_rnn.yaml"), "-o", str(out), "--backend", "array-api"]) == 2
    assert capsys.readouterr().err == (
        "symprop: error: elman_rnn: --backend array-api: the array API standard has no spelling of np.tanh, "
        "in `H1 = np.tanh(np.dot(X1, Wx.T) + bh)` (use --backend numpy)\n"
    )
    assert not out.exists()


# -- erf (exact GELU): msun's formulas with xp.where, nothing written in place ----------------------

#: erf's grid: 0, +-tiny, subnormals, each range's boundaries and their neighbours, a dense sweep, huge, inf, nan.
ERF_EDGES = np.array([2.0**-28, 2.0**-14, 0.84375, 1.25, 1 / 0.35, 2.857150077819824, 4.0, 6.0, 28.0])  # and float32's
ERF_GRID = np.concatenate(
    [[0.0, 5e-324, 1e-310, np.finfo(np.float64).smallest_normal, 1e-300, 1e-20, 1e300, np.finfo(np.float64).max],
     np.nextafter(ERF_EDGES, 0.0), ERF_EDGES, np.nextafter(ERF_EDGES, np.inf), np.linspace(0.0, 8.0, 20_001),
     np.logspace(-320, 3, 4_000), [np.inf, np.nan]]
)  # fmt: skip
ERF_GRID = np.concatenate([ERF_GRID, -ERF_GRID])
#: Libraries whose erf is the NumPy module's to the last bit; the others' exp (and XLA's fused
#: multiply-adds under jax.jit) differ by up to one ulp (float32 is computed in float32 too).
ERF_BITWISE = ("numpy", "array_api_strict", "dask")


@pytest.fixture(scope="module")
def array_api_erf(tmp_path_factory):
    """The ``_erf`` of an array-API module (a GELU's)."""
    spec = {"name": "exact_gelu", "inputs": {"x": 3}, "targets": {"t": 3}, "params": {"v": [3]},
            "nodes": {"y": "gelu(v * x)"}, "loss": "half_sse(y, t)"}  # fmt: skip
    derivation = symprop.derive(symprop.from_dict(spec, source="<test>"))
    return load_module(derivation.write_array_api(tmp_path_factory.mktemp("erf")))._erf


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("library", LIBRARIES)
def test_erf_is_the_numpy_modules_on_every_library(library, dtype, array_api_erf):
    from symprop.numpy_helpers import erf

    convert, transform, computed = _converter(library)
    function = transform(array_api_erf) if transform else array_api_erf
    x = ERF_GRID[np.abs(ERF_GRID) <= np.finfo(dtype).max].astype(dtype)
    got = computed(function(convert(x)))
    assert got.dtype == convert(x).dtype
    got, expected = np.asarray(_numpy(got), dtype=dtype), erf(x)
    if library.startswith("jax"):  # XLA on the CPU flushes subnormal numbers to zero
        keep = np.abs(x) >= np.finfo(dtype).smallest_normal
        expected, got, x = expected[keep | (x == 0)], got[keep | (x == 0)], x[keep | (x == 0)]
    if library in ERF_BITWISE:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-15 if dtype == np.float64 else 2.0**-23, atol=0.0)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(x))  # erf(-0) = -0
    np.testing.assert_array_equal(got[np.isinf(x)], np.sign(x[np.isinf(x)]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_erf_evaluates_no_range_outside_it(array_api_erf, dtype):
    """Each range sees only arguments clamped into it: no overflow, division by zero or nan on NumPy."""
    x = ERF_GRID[np.abs(ERF_GRID) <= np.finfo(dtype).max].astype(dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        array_api_erf(x)


# -- einsum: pairwise matmuls of the standard ------------------------------------------------------

#: Subscripts -> the operands' shapes: a matrix product, a batched one, a transpose, a sum, an outer
#: product, three operands, a dot product to a scalar, an elementwise product, a letter summed alone.
EINSUMS = {
    "ij,jk->ik": [(2, 3), (3, 4)],
    "bij,bjk->bik": [(5, 2, 3), (5, 3, 4)],
    "ij->ji": [(2, 3)],
    "ij->i": [(2, 3)],
    "ijk->": [(2, 3, 4)],
    "i,j->ij": [(2,), (3,)],
    "ij,jk,k->i": [(2, 3), (3, 4), (4,)],
    "nij,njk,nkl->nli": [(2, 3, 4), (2, 4, 5), (2, 5, 3)],
    "i,i->": [(4,), (4,)],
    "ij,ij->ji": [(2, 3), (2, 3)],
    "nik,jk->nji": [(2, 3, 4), (5, 4)],
    "ab,cd->da": [(2, 3), (4, 5)],
}


@pytest.fixture(scope="module")
def array_api_einsum(tmp_path_factory):
    """The ``_einsum`` of an array-API module (the op table's einsum sample)."""
    network = symprop.from_dict({"name": "sample_einsum", **OP_SAMPLES[ops.Einsum]}, source="<test>")
    return load_module(symprop.derive(network).write_array_api(tmp_path_factory.mktemp("einsum")))._einsum


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("subscripts", list(EINSUMS))
def test_einsum_is_numpys_on_every_library(subscripts, library, array_api_einsum):
    convert, transform, computed = _converter(library)
    rng = np.random.default_rng(3)
    operands = [rng.standard_normal(shape) for shape in EINSUMS[subscripts]]
    function = transform(array_api_einsum, static_argnums=0) if transform else array_api_einsum
    got = _numpy(computed(function(subscripts, *(convert(A) for A in operands))))
    expected = np.einsum(subscripts, *operands)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_einsum_networks_agree_with_the_numpy_module(tmp_path):
    """Contractions that ``contract`` leaves to np.einsum, forward and backward: an outer product
    with a letter summed alone, a product of three, a transpose of a product."""
    spec = {
        "name": "einsums", "inputs": {"x": [2, 3]}, "targets": {"t": [3, 2]},
        "params": {"u": [4], "B": [2, 4]},
        "nodes": {"o": 'einsum("ij,k->jk", x, u)', "p": 'einsum("jk,ik,ij->ji", o, B, x)', "y": "tanh(p) + o @ B.T"},
        "loss": "half_sse(y, t)",
    }  # fmt: skip
    module = assert_backends_agree(symprop.from_dict(spec, source="<test>"), tmp_path)
    assert "_einsum(" in module.__loader__.get_source(module.__name__)


@pytest.mark.parametrize("subscripts", list(EINSUMS))
def test_einsum_on_dask_arrays_of_many_chunks(subscripts, array_api_einsum):
    """The reshapes of ``_einsum`` merge axes that Dask has cut into chunks (one row per chunk)."""
    da = needs_library("dask.array")
    rng = np.random.default_rng(4)
    operands = [rng.standard_normal(shape) for shape in EINSUMS[subscripts]]
    chunked = [da.from_array(A, chunks=(1,) + A.shape[1:]) for A in operands]
    got = array_api_einsum(subscripts, *chunked).compute()
    np.testing.assert_allclose(got, np.einsum(subscripts, *operands), rtol=1e-12, atol=1e-12)


# -- max, min, step and abs (np.heaviside, which the standard lacks) ---------------------------------

KINKS = {
    "name": "kinks", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3], "V": [2, 3]},
    "nodes": {"z": "W @ x", "y": "max(z, 0.3 * z) + min(V @ x, 0.1) + step(z) * z + abs(V @ x)"},
    "loss": "half_sse(y, t)",
}  # fmt: skip


def test_max_min_step_and_abs_agree_with_the_numpy_module(tmp_path):
    """Regression (a new user's trial): max(a, b), min(a, b) and step(z) were refused, 'the array API
    standard has no spelling of np.heaviside'."""
    network = symprop.from_dict(KINKS, source="<test>")
    module = assert_backends_agree(network, tmp_path, libraries=("numpy", "array_api_strict", "jax.jit", "dask"))
    assert "_heaviside(" in open(module.__file__, encoding="utf-8").read()


def test_heaviside_is_numpys_at_every_kind_of_point():
    """np.heaviside's values: 0 below, 1 above, h at 0, nan at nan; the dtype kept."""
    from symprop.emit.array_api.helpers import CALLED

    assert spelled("y = np.heaviside(x, 0.5)", set(), set()) == "y = _heaviside(x, 0.5)"
    namespace = {"array_namespace": needs_library("array_api_compat").array_namespace}
    exec(CALLED["_heaviside"], namespace)  # the helper's own source, as the module holds it
    for dtype in (np.float64, np.float32):
        x = np.array([-2.0, -0.0, 0.0, 1e-300, np.nan, np.inf, -np.inf], dtype=dtype)
        for h in (0.0, 0.5, 1.0):
            got = namespace["_heaviside"](x, h)
            assert got.dtype == dtype and np.array_equal(got, np.heaviside(x, h), equal_nan=True), (dtype, h)


def test_what_the_standard_cannot_spell_names_the_line():
    with pytest.raises(NotSpelled) as error:
        spelled("Y = Z * 2.0\nD = np.add.at(Y, ids, G)  # dE/dy = ...", set(), set())
    assert str(error.value) == "np.add.at, in `D = np.add.at(Y, ids, G)  # dE/dy = ...`"
