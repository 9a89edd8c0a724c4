"""Float32 end to end, and no NaN, overflow or warning at pre-activations of magnitude 1000."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symprop
from symprop import registry
from symprop.check import load_module

HIDDEN = sorted(set(registry.ACTIVATIONS) - {"softmax", "swish"})
USUAL_OUTPUT = {
    "half_sse": "sigmoid",
    "mse": "identity",
    "mae": "tanh",
    "huber": "identity",
    "binary_cross_entropy": "sigmoid",
    "cross_entropy": "softmax",
}


def _spec(activation, loss):
    return {
        "name": "numerics",
        "input": 3,
        "layers": [{"units": 4, "activation": activation}, {"units": 3, "activation": USUAL_OUTPUT[loss]}],
        "loss": loss,
    }


CASES = [(a, "mse") for a in HIDDEN] + [("tanh", loss) for loss in sorted(registry.LOSSES)]


def _extreme_inputs(module, dtype):
    """Inputs and weights making every pre-activation about +-1000 (both signs present)."""
    params = module.init_params(0, dtype=dtype)
    for key in params:
        params[key] = (np.sign(params[key]) * (1.0 if key.startswith("W") else 0.0)).astype(dtype)
    X, T = module.sample_batch(6, seed=3, dtype=dtype)
    X = (np.where(X > 0, 1, -1) * 1000.0 / 3).astype(dtype)
    return params, X, T


@pytest.mark.parametrize(("activation", "loss"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_finite_without_warnings_at_pre_activations_of_1000(emit, activation, loss, dtype):
    module = emit(_spec(activation, loss))
    params, X, T = _extreme_inputs(module, dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        warnings.simplefilter("error")
        output, cache = module.forward(params, X)
        value, grads = module.loss_and_grad(params, X, T)
    assert np.abs(cache["Z1"] if "Z1" in cache else X @ params["W1"].T).max() >= 999 * 0.99
    assert np.all(np.isfinite(output)) and np.isfinite(value)
    for key, g in grads.items():
        assert np.all(np.isfinite(g)), key


@pytest.mark.parametrize(("activation", "loss"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_float32_end_to_end(emit, activation, loss):
    module = emit(_spec(activation, loss))
    params64 = module.init_params(2)
    X64, T64 = module.sample_batch(8, seed=2)
    params32 = {k: v.astype(np.float32) for k, v in params64.items()}
    X32, T32 = X64.astype(np.float32), T64.astype(np.float32)
    value32, grads32 = module.loss_and_grad(params32, X32, T32)
    value64, grads64 = module.loss_and_grad(params64, X64, T64)
    assert np.asarray(value32).dtype == np.float32
    assert value32 == pytest.approx(value64, rel=1e-4, abs=1e-5)
    for key in params64:
        assert grads32[key].dtype == np.float32, key
        assert np.allclose(grads32[key], grads64[key], rtol=1e-3, atol=1e-4), key
    updated = module.sgd_step(params32, grads32, 0.1)
    assert all(v.dtype == np.float32 for v in updated.values())


# -- cross-entropy of a softmax along another axis than the last --------------------------------

SOFTMAX_AXIS_0 = {
    "name": "softmax_axis_0", "inputs": {"x": [3, 4]}, "targets": {"t": [3, 4]}, "params": {"W": [4, 4]},
    "nodes": {"z": "x @ W", "p": "softmax(z, axis=0)"}, "loss": "cross_entropy(p, t)",
}  # fmt: skip


def _stable_reference(W, X, T):
    """The loss and dE/dW of SOFTMAX_AXIS_0 from the log-softmax along axis 0 of each sample:
    log p = z - logsumexp(z), and dE/dz = p * sum(t) - t along it (any targets)."""
    Z = X @ W
    top = Z.max(axis=1, keepdims=True)
    lse = top + np.log(np.exp(Z - top).sum(axis=1, keepdims=True))
    dZ = (np.exp(Z - lse) * T.sum(axis=1, keepdims=True) - T) / len(X)
    return (T * (lse - Z)).sum() / len(X), np.einsum("nij,nik->jk", X, dZ)


@pytest.mark.parametrize("backend", ["numpy", "array-api", "scalar"])
def test_cross_entropy_of_a_softmax_along_axis_0_is_stable(backend, tmp_path):
    """Regression: along another axis than the last, softmax and cross-entropy were not fused, so
    log(p) of an underflowed p gave nan (and the scalar module a math domain error) once the logits
    were ~750 apart; now the loss is sum t (logsumexp(z) - z) and dE/dz = p - t, as on the last axis."""
    if backend == "array-api":
        pytest.importorskip("array_api_compat")
    import symprop
    from symprop.check import load_module

    module = load_module(symprop.derive(symprop.from_dict(SOFTMAX_AXIS_0)).write_module(tmp_path, backend))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 3, 4)) * 100
    W = np.eye(4) * 10
    T = np.moveaxis(np.eye(3)[rng.integers(0, 3, size=(2, 4))], -1, 1)  # one-hot along axis 0 of a sample
    assert np.ptp(X @ W, axis=1).max() > 1000
    if backend == "scalar":
        value, grads = module.loss_and_grad({"W": W.tolist()}, X.tolist(), T.tolist())
    else:
        value, grads = module.loss_and_grad({"W": W}, X, T)
    expected, expected_grad = _stable_reference(W, X, T)
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-12)
    assert np.allclose(np.asarray(grads["W"], dtype=float), expected_grad, rtol=1e-12, atol=1e-9)
    assert module.gradient_check() < 1e-7  # sample_batch draws targets one-hot along axis 0


@pytest.mark.parametrize("backend", ["numpy", "array-api", "scalar"])
def test_cross_entropy_targets_must_sum_to_one_along_the_softmax_axis(backend, tmp_path):
    """y - t is the gradient only for targets whose rows along the softmax's axis sum to one:
    one-hot along the last axis (3 rows of 4: column 3 sums to 0) is refused, naming the axis and the row."""
    if backend == "array-api":
        pytest.importorskip("array_api_compat")
    import symprop
    from symprop.check import load_module

    module = load_module(symprop.derive(symprop.from_dict(SOFTMAX_AXIS_0)).write_module(tmp_path, backend))
    X, T = np.ones((1, 3, 4)), np.eye(4)[[[0, 1, 2]]]
    params = {"W": np.eye(4)}
    if backend == "scalar":
        X, T, params = X.tolist(), T.tolist(), {"W": np.eye(4).tolist()}
    where = "; row 0, 3 sums to 0$" if backend != "scalar" else ", got "
    with pytest.raises(ValueError, match="^T: cross-entropy targets must sum to 1 along axis -2" + where):
        module.loss_and_grad(params, X, T)


def test_every_activation_of_a_scalar_parameter_runs(tmp_path):
    """Regression (scripts/fuzz_backends.py, spec 7121): gelu of a parameter of shape [] crashed in
    _gelu_derivative ("return arrays must be of ArrayType": a NumPy scalar has no out=)."""
    for name in sorted(registry.ACTIVATIONS):
        spec = {"name": f"scalar_{name}", "inputs": {"x": 2}, "targets": {"t": 2}, "params": {"W": [2, 2], "s": []},
                "nodes": {"y": f"{name}(s) * (W @ x)"}, "loss": "half_sse(y, t)"}  # fmt: skip
        module = load_module(symprop.derive(symprop.from_dict(spec)).write_numpy(tmp_path))
        params = {**module.init_params(0), "s": np.asarray(0.3)}
        X, T = module.sample_batch(3, 0)
        _, grads = module.loss_and_grad(params, X, T)
        assert np.shape(grads["s"]) == (), name
        step = 1e-6  # dE/ds against a central difference of the loss: the scalar branch computes new math
        up, down = (module.loss_and_grad({**params, "s": np.asarray(0.3 + h)}, X, T)[0] for h in (step, -step))
        assert abs(grads["s"] - (up - down) / (2 * step)) <= 1e-6 * max(1.0, abs(grads["s"])), name
