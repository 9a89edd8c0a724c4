"""The numba backend on graph specs: loss_and_grad's lines as one ``@njit`` function.

Its loss and gradients equal the NumPy module's to 1e-12 (float64) on every graph-spec example
and op sample it spells; the others are refused in one line (the table below says which, with
the message), exit 2, nothing written.  float32 stays float32; mixed precisions compute in the
widest; the module has the NumPy module's functions and docstrings.  Numba compiles for seconds
to minutes (the LSTM: about 90 s), so the modules go to pytest's cache folder, imported by name:
Numba's cache serves the next run while a module is unchanged.  Tests that need Numba skip
without it (they fail instead under ``SYMPROP_REQUIRE_BACKENDS=1``, as in CI).
"""

from __future__ import annotations

import ast
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES
from test_numba_backend import GRAPH_SPECS, numba_needed  # noqa: F401 (a fixture)
from test_ops import OP_SAMPLES

import symprop
from symprop.cli import main
from symprop.errors import SymPropError

AGREE = 1e-12

#: What the backend cannot spell, with its one line (the rest must agree with the NumPy module).
REFUSED = {
    "cnn_digits": "the helper _conv_kept",
    "sample_reduce": "np.full",
    "sample_einsum": "np.einsum",
    "sample_reshape": "np.tensordot",
    "sample_index": "the helper _unindex",
    "sample_tril": "np.tensordot",
    "sample_layernorm": "the helper _normalize along another axis than the last",
    "sample_conv": "the helper _conv",
    "sample_pool": "the helper _max_pool",
    "leaky_gate": "the helper _leaky_relu (it takes 2 arguments)",
}
OP_NETWORKS = {f"sample_{op.__name__.lower()}": body for op, body in OP_SAMPLES.items()}
#: Small specs of what only the numba backend's spelling tells apart (the op samples cover the ops).
OP_NETWORKS |= {
    "rms_norm": {  # .mean(axis=1) of a vector per sample, its adjoint np.broadcast_to
        "inputs": {"x": 6}, "targets": {"t": 4}, "params": {"W": [4, 6], "g": [4]},
        "nodes": {"h": "W @ x", "n": "g * h / sqrt(mean(h * h, axis=0) + 1e-6)"}, "loss": "half_sse(n, t)",
    },
    "reductions": {  # a mean over two axes and along the last, a sum along the first, all keepdims
        "inputs": {"x": [2, 3]}, "targets": {"t": [2, 3]}, "params": {"g": [2, 3]},
        "nodes": {"h": "g * x", "n": "h / sqrt(mean(h * h, axis=(0, 1), keepdims=1) + 1e-6) + mean(h, axis=-1, keepdims=1)"
                  " + sum(h, axis=0, keepdims=1)"},
        "loss": "half_sse(n, t)",
    },
    # attention heads of 20 x 20 (products of stacks of 4 axes with the batch's, each by BLAS: 20^3 > 4096)
    # and a gelu (its Kept helpers as loops): transformer_block has heads of 8 (loops)
    "wide_heads": {
        "inputs": {"x": [20, 40]}, "targets": {"t": [20, 40]}, "params": {"Wq": [40, 40], "Wk": [40, 40]},
        "nodes": {"q": "transpose(reshape(x @ Wq, [20, 2, 20]), [1, 0, 2])",
                  "k": "transpose(reshape(x @ Wk, [20, 2, 20]), [1, 0, 2])",
                  "s": "gelu(q @ transpose(k, [0, 2, 1]) / 20) @ q", "y": "reshape(transpose(s, [1, 0, 2]), [20, 40]) + x"},
        "loss": "mse(y, t)",
    },
    "gelu_mlp": {  # gelu's Kept helpers (x and Phi(x)) as one loop each, on a vector per sample
        "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [4, 3], "V": [2, 4]},
        "nodes": {"a": "gelu(W @ x)", "y": "V @ a"}, "loss": "mse(y, t)",
    },
    "leaky_gate": {  # an activation with a constant: its helper takes the constant too (not one loop)
        "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3]},
        "nodes": {"y": "leaky_relu(W @ x)"}, "loss": "mse(y, t)",
    },
    "gated_experts": {  # the adjoint of gate[0] and gate[1]: one np.stack
        "inputs": {"x": 4}, "targets": {"t": 3}, "params": {"W1": [3, 4], "W2": [3, 4], "Wg": [2, 4]},
        "nodes": {"gate": "softmax(Wg @ x, axis=-1)", "e1": "W1 @ x", "e2": "W2 @ x", "y": "gate[0] * e1 + gate[1] * e2"},
        "loss": "half_sse(y, t)",
    },
}  # fmt: skip
#: Specs random graphs found failing (scripts/fuzz_backends.py), each a regression case in float64 and float32.
FOUND = {
    # keepdims of a sum over a per-sample vector (dW of a parameter of shape [1]): Numba sums a
    # vector along axis 0 to a number, which np.expand_dims refused (a TypingError at the first call).
    "found_keepdims_vector_sum": {
        "inputs": {"x": [3]}, "targets": {"t": [3]}, "params": {"W": [1]}, "nodes": {"h": "x * W"}, "loss": "half_sse(h, t)",
    },
    # _silu calls _sigmoid: the kernel's _nb_silu called _nb_sigmoid, which was not written (NameError at compile time).
    "found_silu_calls_sigmoid": {
        "inputs": {"x": [3]}, "targets": {"t": [3]}, "params": {"W": [3]}, "nodes": {"h": "silu(x) * W"},
        "loss": "half_sse(h, t)",
    },
    # dE_b = dE_a / 2 of float32 numbers (not arrays): Numba divides a float32 by an int in float64,
    # so float32 parameters got float64 gradients.
    "found_loss_over_whole_number": {
        "inputs": {"x": [3]}, "targets": {"t": [3]}, "params": {"W": [3]}, "nodes": {"h": "W * x"},
        "loss": "half_sse(h, t) + sum(W ** 2) / 2",
    },
    # mse's dE/dh = r * (2 / 3 / N): 2 / 3 a Python float, so float64 again (a quotient of two numbers is one constant now).
    "found_quotient_of_numbers": {
        "inputs": {"x": [3]}, "targets": {"t": [3]}, "params": {"W": [3]}, "nodes": {"h": "W * x"}, "loss": "mse(h, t)",
    },
}  # fmt: skip
OP_NETWORKS |= FOUND


def refusal(name: str) -> str:
    return f"{name}: --backend numba has no spelling of {REFUSED[name]} (use --backend numpy)"


def network(name: str):
    if name in OP_NETWORKS:
        return symprop.from_dict({"name": name, **OP_NETWORKS[name]}, source="<test>")
    return symprop.load(EXAMPLES / f"{name}.yaml")


@pytest.fixture(scope="module")
def folder(request) -> Path:
    """Where the modules go: pytest's cache, so that Numba's cache outlives the run."""
    path = Path(request.config.cache.mkdir("numba_graphs"))
    sys.path.insert(0, str(path))
    yield path
    sys.path.remove(str(path))


def imported(source: str, folder: Path, name: str):
    """The module of ``source`` as ``folder/name.py``, imported by name (rewritten only when changed)."""
    path = folder / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        path.write_text(source)
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def modules(name: str, folder: Path):
    derivation = symprop.derive(network(name))
    return (
        imported(derivation.numpy_source(), folder, f"numpy_{name}"),
        imported(derivation.numba_source(), folder, f"numba_{name}"),
    )


def assert_agree(numpy_module, numba_module, dtype=np.float64, batch=3, tolerance=AGREE):
    rng = np.random.default_rng(10)
    params = {
        k: np.asarray(v + 0.3 * rng.standard_normal(np.shape(v))).astype(dtype) for k, v in numpy_module.init_params(0).items()
    }
    X, T = numpy_module.sample_batch(batch, 0, dtype=dtype)
    value, grads = numpy_module.loss_and_grad(params, X, T)
    ours, our_grads = numba_module.loss_and_grad(params, X, T)
    assert abs(float(ours) - float(value)) <= tolerance * max(1.0, abs(float(value))), (ours, value)
    assert set(our_grads) == set(grads)
    for key, expected in grads.items():
        got = our_grads[key]
        assert got.shape == np.shape(expected) and got.dtype == np.asarray(expected).dtype, key
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        assert np.max(np.abs(got - expected), initial=0.0) <= tolerance * scale, key
    return params, X, T


SPELLED = [name for name in [*GRAPH_SPECS, *OP_NETWORKS] if name not in REFUSED]


@pytest.mark.parametrize("name", SPELLED)
def test_agrees_with_the_numpy_module(name, folder, numba_needed):  # noqa: F811
    assert_agree(*modules(name, folder))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_numba_cannot_spell_is_one_line(name, numba_needed):  # noqa: F811
    with pytest.raises(SymPropError) as caught:
        symprop.derive(network(name)).numba_source()
    assert str(caught.value) == refusal(name)


def test_the_refusal_table_names_only_examples_and_op_samples():
    """A stale row (an example renamed, an op sample gone) would test nothing."""
    assert set(REFUSED) <= set(GRAPH_SPECS) | set(OP_NETWORKS)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_a_1d_pooling_alone_is_refused_in_one_line(kind, numba_needed):  # noqa: F811
    """The op sample pools in 1-D after 2-D (refused at the first); each 1-D pooling alone too."""
    spec = {"name": "pool1d", "inputs": {"x": [2, 6]}, "targets": {"t": [2, 2]}, "params": {"v": [2, 6]},
            "nodes": {"y": f"{kind}_pool1d(v * x, 3)"}, "loss": "half_sse(y, t)"}  # fmt: skip
    with pytest.raises(SymPropError) as caught:
        symprop.derive(symprop.from_dict(spec, source="<test>")).numba_source()
    assert str(caught.value) == f"pool1d: --backend numba has no spelling of the helper _{kind}_pool (use --backend numpy)"


@pytest.mark.parametrize("name", ["wide_heads", "gelu_mlp"])
def test_stacked_products_and_gelu_agree_in_float32(name, folder, numba_needed):  # noqa: F811
    """float32 stays float32 through _matmul's loops and BLAS, and through gelu's loops (fastmath's erf)."""
    assert_agree(*modules(name, folder), dtype=np.float32, tolerance=1e-5)


def test_fast_erf_is_within_5e_16_of_math_erf_and_computes_float32_in_float32(folder, numba_needed):  # noqa: F811
    """fastmath's erf (gelu's loops call it) against math.erf over the whole range, with the sign,
    0, +-1 beyond 6, inf and NaN; in float32 a float32 within 3e-7."""
    _, numba_module = modules("wide_heads", folder)
    x = np.concatenate([np.linspace(-8, 8, 20001), np.geomspace(1e-300, 7, 2000), [1.0, 6.0, np.inf]])
    x = np.concatenate([x, -x, [0.0]])
    expected = np.array([math.erf(v) for v in x])
    got = np.array([numba_module._fast_erf(v) for v in x])
    assert np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1e-300)) < 5e-16
    assert np.isnan(numba_module._fast_erf(np.nan))
    small = x.astype(np.float32)
    got32 = np.array([numba_module._fast_erf(v) for v in small])  # Numba returns a float32 as a Python float
    returns = {str(signature.args[0]): str(signature.return_type) for signature in numba_module._fast_erf.nopython_signatures}
    assert returns["float32"] == "float32"
    assert np.max(np.abs(got32 - [math.erf(v) for v in small])) < 3e-7


def test_matmul_broadcasts_stacks_as_numpy(folder, numba_needed):  # noqa: F811
    """_matmul's stacks of any number of leading axes, broadcast as NumPy's (the specs above have
    equal ones): each matrix of the output from the right pair, by loops and by BLAS."""
    _, numba_module = modules("wide_heads", folder)
    rng = np.random.default_rng(0)
    pairs = [((5, 2, 3, 4), (2, 4, 3)), ((2, 3, 4), (5, 2, 4, 3)), ((5, 1, 3, 4), (1, 2, 4, 3)), ((3, 1, 2, 3, 4), (2, 1, 4, 5)),
             ((2, 20, 30), (4, 1, 30, 20)), ((4, 3, 4), (4, 2)), ((2, 3, 4, 5), (5, 2))]  # fmt: skip
    for dtype in (np.float64, np.float32):
        for a, b in pairs:
            A, B = rng.standard_normal(a).astype(dtype), rng.standard_normal(b).astype(dtype)
            got = numba_module._nb_matmul(A, B)
            assert got.dtype == dtype and got.shape == (A @ B).shape, (a, b)
            np.testing.assert_allclose(got, A @ B, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5, err_msg=str((a, b)))
        A, B = np.transpose(rng.standard_normal((3, 2, 4, 5)), (0, 2, 1, 3)), rng.standard_normal((3, 4, 5, 2))  # a view
        np.testing.assert_allclose(numba_module._nb_matmul(A.astype(dtype), B.astype(dtype)), A @ B, rtol=1e-5, atol=1e-5)


def test_a_refusal_exits_2_and_writes_nothing(tmp_path, capsys, numba_needed):  # noqa: F811
    code = main(["derive", str(EXAMPLES / "cnn_digits.yaml"), "--backend", "numba", "-o", str(tmp_path)])
    assert code == 2 and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().err.strip() == f"symprop: error: {refusal('cnn_digits')}"


@pytest.mark.parametrize("name", sorted(FOUND))
def test_found_specs_agree_in_float32(name, folder, numba_needed):  # noqa: F811
    assert_agree(*modules(name, folder), dtype=np.float32, tolerance=1e-5)


def test_float32_stays_float32_and_mixed_precisions_compute_in_the_widest(folder, numba_needed):  # noqa: F811
    numpy_module, numba_module = modules("gated_unit", folder)
    assert_agree(numpy_module, numba_module, dtype=np.float32, tolerance=1e-5)
    params = numpy_module.init_params(0, dtype=np.float32)
    params["Wo"] = params["Wo"].astype(np.float64)
    X, T = numpy_module.sample_batch(4, 0)
    value, grads = numpy_module.loss_and_grad(params, X, T)
    ours, our_grads = numba_module.loss_and_grad(params, X, T)
    assert abs(ours - value) <= 1e-6 * abs(value)
    assert all(our_grads[k].dtype == np.float64 for k in grads)


def test_the_checks_stay_and_check_false_skips_them(folder, numba_needed):  # noqa: F811
    numpy_module, numba_module = modules("gated_unit", folder)
    params = numpy_module.init_params(0)
    X, T = numpy_module.sample_batch(4, 0)
    with pytest.raises(ValueError, match=r"^X: expected shape \(batch, 6\), got \(4, 5\)$"):
        numba_module.loss_and_grad(params, X[:, :5], T)
    with pytest.raises(ValueError, match=r"^T: expected 4 samples \(the batch of X\), got shape \(3, 2\)$"):
        numba_module.loss_and_grad(params, X, T[:3])
    assert numba_module.loss_and_grad(params, X, T, check=False)[0] == pytest.approx(numpy_module.loss(params, X, T), rel=1e-12)


def test_the_module_is_the_numpy_module_with_loss_and_grad_compiled(numba_needed):  # noqa: F811
    """Same functions and docstrings; forward and backward are the NumPy module's own text."""
    derivation = symprop.derive(symprop.load(EXAMPLES / "lstm.yaml"))
    source, numpy_source = derivation.numba_source(), derivation.numpy_source()
    tree, numpy_tree = ast.parse(source), ast.parse(numpy_source)

    def public(t):
        return {n.name: ast.get_docstring(n) for n in t.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}

    assert public(tree) == public(numpy_tree)
    for name in ("forward", "backward", "loss"):
        (ours,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
        (theirs,) = [n for n in numpy_tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
        assert ast.dump(ours) == ast.dump(theirs), name


def test_the_modules_are_clean_under_ruff(tmp_path, monkeypatch, numba_needed):  # noqa: F811
    monkeypatch.chdir(EXAMPLES.parent)  # the docstring quotes the spec's path: relative, as in generated/
    for name in SPELLED:
        spec = network(name) if name in OP_NETWORKS else symprop.load(f"examples/{name}.yaml")
        (tmp_path / f"{name}.py").write_text(symprop.derive(spec).numba_source())
    run = subprocess.run(["ruff", "check", "--quiet", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


#: A NumPy line of the builder's vocabulary that Numba cannot compile, and what the refusal names.
NOT_SPELLED = {
    "A[0] = B": "an array written in place (item assignment)",
    "A[0] += B": "an array written in place (item assignment)",
    "C = np.einsum('ij->i', A)": "np.einsum",
    "C = _conv(A, B)": "the helper _conv",
    "C = _batch_sum(A, 3)": "the helper _batch_sum over more than two axes",
    "C = _softmax(A, axis=1)": "the helper _softmax along another axis than the last",
    "C, L = _softmax_lse(A, axis=-2)": "the helper _softmax_lse along another axis than the last",
    "C = A.swapaxes(1, 2)": "the array method .swapaxes()",
    "C = A.max(axis=1)": ".max(axis=...)",
    "C = A.sum(keepdims=True)": ".sum(keepdims=...) without axis=",
    "C = A.mean(axis=k)": ".mean(axis=k)",
    "C = A.sum(axis=(-1, 0))": ".sum(axis=(-1, 0)) (negative axes)",
    "np.dot(A, B, out=C)": "np.dot(..., out=...)",
    "C = sorted(A)": "the call sorted()",
}


@pytest.mark.parametrize("line", NOT_SPELLED)
def test_each_line_numba_cannot_compile_is_refused_by_name(line):
    from symprop.emit.numba.spelling import NotSpelled, Spelling, spelled_statement

    with pytest.raises(NotSpelled) as caught:
        spelled_statement(ast.parse(line).body[0], Spelling(frozenset({"batch_sum", "softmax"})))
    assert str(caught.value) == NOT_SPELLED[line]


def test_the_spelling_of_the_builder_vocabulary():
    """Each rule of spelling.py, on one line each (a tuple to concatenate, the steps' product,
    vdot, literals of the dtype, N of the dtype, tanh and exp as loops, helpers renamed, del gone,
    reductions along literal axes, a tuple to stack, products of any rank, a contiguous swapaxes,
    a whole number np.where chooses of the dtype and np.where of an array and a number as one loop,
    the batch sum over two axes)."""
    from symprop.emit.numba.spelling import Spelling, spelled_statement

    spelling = Spelling(frozenset({"sigmoid", "batch_sum"}))
    lines = {
        "C = np.concatenate([A, B], axis=1)": "C = np.concatenate((A, B), axis=1)",
        "P = X.swapaxes(0, 1) @ W.T + b": "P = _nb_steps_matmul(X, W.T) + b",
        "C = A @ B": "C = _nb_matmul(A, B)",
        "C = np.swapaxes(A, 1, 2)": "C = np.ascontiguousarray(np.swapaxes(A, 1, 2))",
        "C = np.where(M, A, -1000000000)": "C = _nb_where_number(M, A, _c_1000000000_0, True)",
        "C = np.where(M, 0.0, A)": "C = _nb_where_number(M, A, _c0_0, False)",
        "C = np.where(M, A, B)": "C = np.where(M, A, B)",
        "C = _batch_sum(A, 2)": "C = _nb_batch_sum2(A)",
        "E = 0.5 * np.vdot(R, R) / N": "E = _c0_5 * np.sum(R * R) / _Nf",
        "C = np.tanh(A) + np.exp(B)": "C = _tanh_array(A) + _exp_array(B)",
        "C = _sigmoid(A)": "C = _nb_sigmoid(A)",
        "C = X[:, 1:3].reshape(-1, 4)": "C = np.ascontiguousarray(X[:, 1:3]).reshape(-1, 4)",
        "C = A.mean(axis=(1, 2))": "C = _nb_mean_axis(_nb_mean_axis(A, 2), 1)",
        "C = A.sum(axis=(0, 2), keepdims=True)": (
            "C = np.expand_dims(np.expand_dims(np.asarray(A.sum(axis=2).sum(axis=0)), 0), 2)"
        ),
        "C = np.stack([A, B], axis=1)": "C = np.stack((A, B), axis=1)",
        "del A, B": "",
    }
    assert {line: spelled_statement(ast.parse(line).body[0], spelling) for line in lines} == lines
    assert spelling.literals == {"_c0_5": 0.5, "_c_1000000000_0": -1e9, "_c0_0": 0.0} and spelling.loops == {"tanh", "exp"}
    assert spelling.helpers == {"steps_matmul", "matmul", "sigmoid", "mean_axis", "batch_sum2", "where_number"}


def test_the_products_of_stacks_of_matrices_are_numpy_s(numba_needed):  # noqa: F811
    """The numba module's ``@`` (helpers.OWN's ``_matmul``): NumPy's products (to 1e-12) for 2 to 4 axes, a
    stack of one broadcast, stacks that do not broadcast an error (np.broadcast_shapes': never the wrong matrices)."""
    from numba import njit

    from symprop.emit.numba.helpers import OWN

    names = {"np": np}
    exec(OWN["matmul"], names)  # the helper's own text, as the module holds it
    matmul = njit(names["_matmul"])
    rng = np.random.default_rng(0)
    pairs = [((5, 2, 3), (3, 4)), ((1, 2, 3), (5, 3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((6, 5, 2, 3), (5, 3, 4))]
    for left, right in pairs:
        A, B = rng.standard_normal(left), rng.standard_normal(right)
        assert np.max(np.abs(matmul(A, B) - A @ B)) <= 1e-12, (left, right)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        matmul(np.ones((4, 2, 3)), np.ones((5, 3, 4)))


def own_helpers(names: tuple[str, ...], needs: tuple[str, ...] = ()) -> dict:
    """helpers.OWN's helpers ``names`` (each after those it calls) compiled from their own text, with
    fastmath's ``needs``, as the module holds them: by name (``_where_number``)."""
    from numba import njit

    from symprop.emit.numba import fastmath
    from symprop.emit.numba.helpers import OWN

    found = {"np": np, "njit": njit, "JIT": {}, "floor": math.floor}
    for source in fastmath.sources(set(needs)):
        exec(source, found)
    for name in names:
        exec(OWN[name], found)
        if not OWN[name].startswith("@"):  # one with its own decorator (_row_dot, inlined) is compiled already
            found[f"_{name}"] = njit(found[f"_{name}"])
    return found


def test_where_of_an_array_and_a_number_is_numpy_s(numba_needed):  # noqa: F811
    """_where_number: np.where(c, a, b) (and np.where(c, b, a)) for a number b, one loop where c's shape
    is the trailing part of a's, Numba's np.where for any other broadcast (c of more axes than a, c of
    a's leading axes, an empty mask), of a's dtype; NaN and inf chosen as they are."""
    where = own_helpers(("where_number",))["_where_number"]
    rng = np.random.default_rng(0)
    pairs = [((8, 8), (6, 4, 8, 8)), ((8, 8), (8, 8)), ((6, 4, 8, 8), (6, 4, 8, 8)), ((6, 1, 8, 8), (6, 4, 8, 8)),
             ((8,), (3, 8)), ((3, 1), (1, 5)), ((6, 4, 8, 8), (8, 8)), ((0, 8), (3, 0, 8)), ((3, 1), (3, 4))]  # fmt: skip
    for dtype in (np.float64, np.float32):
        for mask, shape in pairs:
            c, a = rng.random(mask) > 0.5, rng.standard_normal(shape).astype(dtype)
            a.ravel()[:2] = [np.nan, np.inf][: a.size]
            for when in (True, False):
                expected = np.where(c, a, dtype(-1e9)) if when else np.where(c, dtype(-1e9), a)
                got = where(c, a, dtype(-1e9), when)
                assert got.dtype == dtype and got.shape == expected.shape, (mask, shape)
                np.testing.assert_array_equal(got, expected, err_msg=str((mask, shape, when)))
    # regression (review): a mask of numbers (check=False lets an int8 mask through) is true where
    # nonzero, as np.where's; the loop compared it with True and chose b for 2 and -1
    c, a = np.array([[2, 0, -1], [1, 0, 3]], np.int8), rng.standard_normal((4, 2, 3))
    for when in (True, False):
        expected = np.where(c, a, -3.0) if when else np.where(c, -3.0, a)
        np.testing.assert_array_equal(where(c, a, -3.0, when), expected)


def test_the_softmax_rows_are_numpy_s(numba_needed):  # noqa: F811
    """_softmax_lse (and _softmax, through _softmax_rows' flat loops) against NumPy's (5e-16 in float64):
    rows of 1 to 9 elements, a masked row (-1e9), large numbers; a row holding NaN is NaN throughout, the others stay."""
    softmax_lse = own_helpers(("row_dot", "softmax_rows", "softmax_lse"), ("exp",))["_softmax_lse"]
    rng = np.random.default_rng(1)
    for shape in [(5, 1), (4, 3, 8), (2, 3, 4, 9), (7,)]:
        z = 30 * rng.standard_normal(shape)
        z[..., -1:] = -1e9
        p, lse = softmax_lse(z)
        top = z.max(axis=-1, keepdims=True)
        total = np.exp(z - top).sum(axis=-1, keepdims=True)
        np.testing.assert_allclose(p, np.exp(z - top) / total, rtol=5e-16 * 8, atol=1e-300)
        np.testing.assert_allclose(lse, np.log(total) + top, rtol=5e-16)
    z = rng.standard_normal((3, 4))
    z[1, 2] = np.nan
    p, _ = softmax_lse(z)
    assert np.isnan(p[1]).all() and not np.isnan(p[[0, 2]]).any()


@pytest.mark.parametrize("local", ["i", "out", "out1", "x_", "x_flat"])
def test_a_helper_whose_local_is_named_as_the_loops_own_is_not_looped(local):
    """Regression (8a52a1a): scalar_loop wrote a helper's body into a loop of its own i, out, out<k>
    and x_/x_flat; a local of one of those names would have been overwritten inside the loop."""
    from symprop.emit.numba.graph import scalar_loop

    helper = 'def _h(x):\n    """h."""\n    {0} = np.exp(x)\n    return {0} * x\n'
    assert scalar_loop(ast.parse(helper.format(local)).body[0]) is None
    assert scalar_loop(ast.parse(helper.format("e")).body[0]) is not None
