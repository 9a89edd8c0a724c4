"""Float32 end to end, and no NaN, overflow or warning at pre-activations of magnitude 1000."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from symprop import registry

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
