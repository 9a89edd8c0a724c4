"""The array-API backend (``--backend array-api``): the NumPy module against the array API standard.

Its loss and gradients equal the NumPy module's to 1e-12 on NumPy, array-api-strict, PyTorch
(CPU), JAX (CPU, also under ``jax.jit``) and Dask, over the examples and the op table's samples
(``test_ops.OP_SAMPLES``, as the scalar backend's tests use them); each op is spelled or
refused with one clear line; the translation table is checked row by row.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import numpy as np
import pytest
from conftest import EXAMPLES, needs_library
from test_ops import OP_SAMPLES

import symprop
from symprop import ops
from symprop.check import check_module, load_module
from symprop.cli import main
from symprop.emit.array_api.translate import NotSpelled, spelled
from symprop.errors import SymPropError

#: Examples the backend refuses -> the message's reason.
REFUSED = {
    "cnn_digits": "cannot spell c_a (Conv): it is spelled with sliding windows",
    "transformer_block": "cannot spell erf (gelu): its helper writes arrays in place",
}
#: Ops the backend refuses -> the message's reason.
REFUSED_OPS = {
    ops.Conv: "(Conv): it is spelled with sliding windows and padding written in place",
    ops.Pool: "(Pool): it is spelled with arrays written in place",
    ops.Einsum: "the array API standard has no spelling of np.einsum",
}
EXAMPLE_NAMES = sorted(path.stem for path in EXAMPLES.glob("*.yaml") if path.stem not in REFUSED)
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


def _as(value, convert):
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: _as(v, convert) for key, v in value.items()}
    return convert(value)


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
        ours, our_grads = computed(function(_as(params, convert), _as(X, convert), _as(T, convert)))
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
def test_every_op_is_spelled_or_refused(op, tmp_path):
    network = symprop.from_dict({"name": f"sample_{op.__name__.lower()}", **OP_SAMPLES[op]}, source="<test>")
    if op in REFUSED_OPS:
        with pytest.raises(SymPropError, match=REFUSED_OPS[op].replace("(", r"\(").replace(")", r"\)")):
            symprop.derive(network).array_api_source()
        return
    assert_backends_agree(network, tmp_path)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_examples_say_why_and_write_nothing(name, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["derive", str(EXAMPLES / f"{name}.yaml"), "-o", str(out), "--backend", "array-api"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and REFUSED[name] in err and err.rstrip().endswith("(use --backend numpy)"), err
    assert not out.exists()


def test_the_modules_are_clean_under_ruff(tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)  # the docstring quotes the spec's path: relative, as in generated/
    for name in EXAMPLE_NAMES:
        symprop.derive(symprop.load(f"examples/{name}.yaml")).write_array_api(tmp_path)
    for op, body in OP_SAMPLES.items():
        if op not in REFUSED_OPS:
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
     ("y = np.einsum('ij->j', x)", "np.einsum"), ("a.flags.writeable = False", ".flags")],
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
