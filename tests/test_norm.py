"""Normalisation (``symprop/ops/norm.py``): layer_norm's compact gradient and stable forward,
softmax at large inputs, and every decision batch_norm's coupling of the samples forced
(the module, ``symprop check``, the per-weight view, worked examples, the handout, a batch
of one).  Both ops also run through the op table (``test_ops.py``) and the examples through
``test_tensor_graphs.py``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import EXAMPLES, emit_module
from reference import check_module_against_references

import symprop
from symprop.check import check_module
from symprop.cli import main
from symprop.errors import SpecError, SymPropError
from symprop.ops import BatchNorm, LayerNorm

LAYER_NORM = {"name": "layer_norm_only", "inputs": {"x": [3, 16]}, "targets": {"t": [3, 16]},
              "params": {"W": [16, 16], "g": [16], "b": [16]}, "nodes": {"y": "g * layer_norm(x @ W) + b"},
              "loss": "mse(y, t)"}
SOFTMAX = {"name": "softmax_only", "inputs": {"x": [3, 16]}, "targets": {"t": [3, 16]},
           "params": {"g": [16]}, "nodes": {"y": "softmax(g * x, axis=-1)"}, "loss": "mse(y, t)"}
BATCH_NORM = {"name": "batch_norm_only", "inputs": {"x": 4}, "targets": {"t": 2}, "params": {"W": [2, 4], "g": [2]},
              "nodes": {"y": "g * batch_norm(W @ x)"}, "loss": "half_sse(y, t)"}
#: BatchNorm2d: x of shape [C, H, W] normalised per channel over the batch, H and W.
BATCH_NORM_2D = {"name": "batch_norm_2d", "inputs": {"x": [2, 3, 3]}, "targets": {"t": [2, 3, 3]},
                 "params": {"g": [2, 1, 1], "c": [2, 1, 1]},
                 "nodes": {"y": "g * batch_norm(x * x, axis=(1, 2), eps=0.001) + c"}, "loss": "mse(y, t)"}


def _strict(function, *args):
    """``function(*args)`` with every warning an error, and every floating-point error but
    underflow: exp of a very negative number (softmax's masked or far-behind entries) is 0
    to the last bit, which NumPy does not warn about by default either."""
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        return function(*args)


# -- layer_norm ------------------------------------------------------------------------------


def test_layer_norm_backward_is_one_compact_line(tmp_path):
    """dx = (g - mean(g) - xhat * mean(g * xhat)) * (1 / sigma): one step, one line, reading
    the output and the saved 1/sigma (not x, not the mean or the variance); along the last axis
    the means are row sums by BLAS over n (NumPy's mean reduces one short row at a time)."""
    d = symprop.derive(symprop.from_dict(LAYER_NORM, source="<test>"))
    (node,) = [n for n in d.graph.nodes.values() if isinstance(n.op, LayerNorm)]
    (step,) = [s for s in d.steps if s.source == node.name]
    source = d.numpy_source()
    g, y, n = f"d{d.graph.array(node.name)}", d.graph.array(node.name), node.shape[-1]
    expected = f"({g} - (_row_sum({g}) / {n}) - {y} * (_row_sum({g} * {y}) / {n})) * _rstd_{y}"
    assert expected in source
    assert f'"_rstd_{y}": _rstd_{y}' in source  # the cache keeps 1/sigma from the forward pass
    check_module_against_references(LAYER_NORM, emit_module(LAYER_NORM, tmp_path))


@pytest.mark.parametrize("spec", [LAYER_NORM, SOFTMAX], ids=["layer_norm", "softmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finite_without_warnings_at_large_inputs(spec, dtype, tmp_path):
    module = emit_module(spec, tmp_path)
    params = module.init_params(0, dtype=dtype)
    X, T = module.sample_batch(3, 0, dtype=dtype)
    rng = np.random.default_rng(1)
    for X_big in (1000 * np.sign(X) + rng.standard_normal(X.shape), np.full_like(X, 1000.0), -1000 * np.abs(X)):
        X_big = X_big.astype(dtype)
        Y, _ = _strict(module.forward, params, X_big)
        value, grads = _strict(module.loss_and_grad, params, X_big, T)
        assert Y.dtype == dtype and np.all(np.isfinite(Y)) and np.isfinite(value)
        assert all(g.dtype == dtype and np.all(np.isfinite(g)) for g in grads.values())
    if spec is LAYER_NORM:  # a spread of 1 at an offset of 1000: to float32's precision too (E[x^2] - E[x]^2 is not)
        X_big = (1000 + rng.standard_normal(X.shape)).astype(dtype)
        identity = {"W": np.eye(16, dtype=dtype), "g": np.ones(16, dtype), "b": np.zeros(16, dtype)}
        Y, _ = _strict(module.forward, identity, np.full_like(X, 1000))  # no variance at all: eps keeps it finite
        assert not Y.any()
        Y, _ = _strict(module.forward, identity, X_big)
        exact = X_big.astype(np.float64) - X_big.astype(np.float64).mean(axis=-1, keepdims=True)
        exact /= np.sqrt((exact**2).mean(axis=-1, keepdims=True) + 1e-5)
        assert np.abs(Y - exact).max() < (1e-3 if dtype == np.float32 else 1e-10)


def test_transformer_block_runs_in_float32_end_to_end(tmp_path):
    module = emit_module("transformer_block", tmp_path)
    params = module.init_params(0, dtype=np.float32)
    X, T = module.sample_batch(4, 0, dtype=np.float32)
    Y, cache = _strict(module.forward, params, X)
    value, grads = _strict(module.loss_and_grad, params, X, T)
    assert Y.dtype == np.float32 and all(v.dtype == np.float32 for v in cache.values() if v.dtype.kind == "f")
    assert np.asarray(value).dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    reference = module.loss_and_grad({k: v.astype(np.float64) for k, v in params.items()}, X.astype(np.float64), T)[1]
    for key, g in grads.items():
        assert np.abs(g - reference[key]).max() <= 1e-4 * (1 + np.abs(reference[key]).max()), key


# -- batch_norm: the samples of a batch are coupled -------------------------------------------


def test_batch_norm_is_checked_against_the_batch_loss(tmp_path):
    """The oracle normalises over the whole batch; the module's own gradient_check and
    ``symprop check`` differentiate the batch loss, so they agree with its backward()."""
    for spec in (BATCH_NORM, BATCH_NORM_2D):
        module = emit_module(spec, tmp_path)
        check_module_against_references(spec, module)
        assert check_module(module.__file__).passed


def test_batch_norm_couples_the_samples(tmp_path):
    module = emit_module(BATCH_NORM, tmp_path)
    params = module.init_params(0)
    X, _ = module.sample_batch(4, 0)
    moved = X.copy()
    moved[3] += 1.0
    first, _ = module.forward(params, X)
    second, _ = module.forward(params, moved)
    assert not np.allclose(first[0], second[0])  # sample 0's output moved with sample 3
    assert np.allclose(first.mean(axis=0), 0) and np.allclose(first.std(axis=0), np.abs(params["g"]), rtol=1e-4)


def test_batch_norm_refuses_a_batch_of_one(tmp_path):
    module = emit_module(BATCH_NORM, tmp_path)
    params = module.init_params(0)
    X, T = module.sample_batch(1, 0)
    for call in (lambda: module.forward(params, X), lambda: module.loss_and_grad(params, X, T)):
        with pytest.raises(ValueError, match=r"^batch_norm needs at least 2 samples in a batch .*got a batch of 1$"):
            call()
    # Pooling per-sample axes (BatchNorm2d over H and W) gives statistics even for one sample.
    module_2d = emit_module(BATCH_NORM_2D, tmp_path)
    X, T = module_2d.sample_batch(1, 0)
    value, _ = module_2d.loss_and_grad(module_2d.init_params(0), X, T)
    assert np.isfinite(value)


def test_batch_norm_has_no_per_weight_view():
    d = symprop.derive(symprop.from_dict(BATCH_NORM, source="<test>"))
    assert not d.has_scalar  # 10 parameters, but one sample cannot say what batch_norm does
    (node,) = [n.name for n in d.graph.nodes.values() if isinstance(n.op, BatchNorm)]
    with pytest.raises(SymPropError, match=rf"^node {node}: batch_norm normalises over the batch, so one sample has no"):
        d.scalar  # noqa: B018


def test_batch_norm_refuses_verify_in_one_line(tmp_path, capsys):
    spec = tmp_path / "bn.yaml"
    spec.write_text(
        "name: bn\ninputs: {x: 4}\ntargets: {t: 2}\nparams: {W: [2, 4], g: [2]}\n"
        "nodes: {y: g * batch_norm(W @ x)}\nloss: half_sse(y, t)\n"
    )
    assert main(["verify", str(spec), "--wrt", "g[0]", "--claim", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "batch_norm normalises over the batch" in error


def test_batch_norm_refuses_a_worked_example():
    spec = {**BATCH_NORM, "example": {"x": [1, 2, 3, 4], "t": [0, 1], "params": {"W": [[0.1] * 4] * 2, "g": [1, 1]}}}
    with pytest.raises(SpecError, match=r"example: a worked example is one sample, but node y normalises over the batch"):
        symprop.from_dict(spec, source="<test>")


def test_the_handout_and_module_say_the_statistics_come_from_the_batch():
    d = symprop.derive(symprop.load(EXAMPLES / "batchnorm_mlp.yaml"))
    tex = d.latex()
    assert r"\operatorname{mean}_{\text{batch}}" in tex
    assert "one sample's $E$ depends" in tex and "gradient of one sample's $E$" not in tex
    assert "are over the batch" in tex  # the backward step's remark, in words
    assert "normalises over the batch (batch_norm, training-mode statistics" in d.numpy_source()


@pytest.mark.parametrize("function", ["layer_norm", "batch_norm"])
def test_a_normalisation_of_a_target_dependent_value(function, tmp_path):
    """Computed by _batch_loss and recomputed in backward(), with the 1/sigma it saves."""
    spec = {"name": f"{function}_of_target", "inputs": {"x": 3}, "targets": {"t": 3}, "params": {"W": [3, 3]},
            "nodes": {"y": "tanh(W @ x)"}, "loss": f"sum({function}(y - t) * t) + mse(y, t)"}
    module = emit_module(spec, tmp_path)
    check_module_against_references(spec, module)
    assert any(name.startswith("_rstd_") for name in module.backward.__code__.co_varnames)
