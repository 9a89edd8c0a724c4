"""Generated modules against an independent autodiff library (HIPS autograd) and central
differences, on many random networks covering every activation and loss.

The autograd side is written here from the textbook definitions, sharing no code with
symprop: it only reads the spec (sizes, activation names, constants).
"""

from __future__ import annotations

import random

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.scipy.special import erf as autograd_erf

from symprop import registry
from symprop.check import gradient_error

SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772

REFERENCE_ACTIVATIONS = {
    "identity": lambda z, c: z,
    "sigmoid": lambda z, c: 1 / (1 + anp.exp(-z)),
    "tanh": lambda z, c: anp.tanh(z),
    "relu": lambda z, c: anp.maximum(z, 0),
    "leaky_relu": lambda z, c: anp.where(z > 0, z, c.get("alpha", 0.01) * z),
    "elu": lambda z, c: anp.where(z > 0, z, c.get("alpha", 1.0) * (anp.exp(anp.minimum(z, 0)) - 1)),
    "selu": lambda z, c: SELU_SCALE * anp.where(z > 0, z, SELU_ALPHA * (anp.exp(anp.minimum(z, 0)) - 1)),
    "softplus": lambda z, c: anp.log(1 + anp.exp(z)),
    "silu": lambda z, c: z / (1 + anp.exp(-z)),
    "swish": lambda z, c: z / (1 + anp.exp(-z)),
    "gelu": lambda z, c: 0.5 * z * (1 + autograd_erf(z / anp.sqrt(2))),
}


def _softmax(z):
    e = anp.exp(z - anp.max(z, axis=1, keepdims=True))
    return e / anp.sum(e, axis=1, keepdims=True)


REFERENCE_LOSSES = {  # per-sample loss of (Y, T, constants), rows are samples
    "half_sse": lambda y, t, c: 0.5 * anp.sum((t - y) ** 2, axis=1),
    "mse": lambda y, t, c: anp.mean((y - t) ** 2, axis=1),
    "mae": lambda y, t, c: anp.mean(anp.abs(y - t), axis=1),
    "huber": lambda y, t, c: anp.mean(
        anp.where(
            anp.abs(y - t) <= c.get("delta", 1.0),
            0.5 * (y - t) ** 2,
            c.get("delta", 1.0) * (anp.abs(y - t) - 0.5 * c.get("delta", 1.0)),
        ),
        axis=1,
    ),
    "binary_cross_entropy": lambda y, t, c: -anp.mean(t * anp.log(y) + (1 - t) * anp.log(1 - y), axis=1),
    "cross_entropy": lambda y, t, c: -anp.sum(t * anp.log(y), axis=1),
}


def test_references_cover_the_registry():
    assert set(REFERENCE_ACTIVATIONS) == set(registry.ACTIVATIONS)
    assert set(REFERENCE_LOSSES) == set(registry.LOSSES)


def _choice(value):
    return (value, {}) if isinstance(value, str) else (value["name"], {k: v for k, v in value.items() if k != "name"})


def reference_loss(spec):
    """The batch loss as an autograd-differentiable function of the parameter dict."""

    def batch_loss(params, X, T):
        a = X
        for index, layer in enumerate(spec["layers"], start=1):
            z = anp.dot(a, params[f"W{index}"].T)
            if layer.get("bias", True):
                z = z + params[f"b{index}"]
            name, constants = _choice(layer["activation"])
            a = _softmax(z) if name == "softmax" else REFERENCE_ACTIVATIONS[name](z, constants)
        name, constants = _choice(spec["loss"])
        return anp.mean(REFERENCE_LOSSES[name](a, T, constants))

    return batch_loss


def random_spec(rng: random.Random, index: int, loss: str, activation: str):
    depth = rng.randint(1, 3)
    sizes = [rng.randint(1, 5) for _ in range(depth)]
    output = {
        "binary_cross_entropy": "sigmoid",
        "cross_entropy": "softmax",
    }.get(loss, rng.choice(["identity", "tanh", "sigmoid", activation]))
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)
    layers = [{"units": n, "activation": activation, "bias": rng.random() < 0.8} for n in sizes[:-1]]
    layers.append({"units": sizes[-1], "activation": output, "bias": rng.random() < 0.8})
    for layer in layers:
        if layer["activation"] in ("leaky_relu", "elu"):
            layer["activation"] = {"name": layer["activation"], "alpha": round(rng.uniform(0.05, 1.5), 2)}
    return {
        "name": f"random_{index}",
        "input": rng.randint(1, 5),
        "layers": layers,
        "loss": {"name": "huber", "delta": round(rng.uniform(0.2, 1.5), 2)} if loss == "huber" else loss,
    }


CASES = [
    (activation, loss)
    for activation in sorted(set(registry.ACTIVATIONS) - {"swish"})
    for loss in sorted(registry.LOSSES)
    if activation != "softmax"
]


@pytest.mark.parametrize(("activation", "loss"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_generated_module_matches_autograd_and_central_differences(emit, activation, loss):
    rng = random.Random(f"{activation}/{loss}")
    spec = random_spec(rng, 0, loss, activation)
    module = emit(spec)
    np_rng = np.random.default_rng(rng.randrange(2**32))
    params = {key: value + 0.3 * np_rng.standard_normal(value.shape) for key, value in module.init_params(1).items()}
    X, T = module.sample_batch(5, seed=rng.randrange(1000))
    X = X * 1.5

    value, grads = module.loss_and_grad(params, X, T)
    reference = reference_loss(spec)
    assert value == pytest.approx(reference(params, X, T), rel=1e-12, abs=1e-14)
    expected = grad(reference)(params, X, T)
    for key in params:
        scale = np.linalg.norm(expected[key]) + np.linalg.norm(grads[key]) + 1e-300
        assert np.linalg.norm(grads[key] - expected[key]) / scale < 1e-7, (spec, key)

    error, *_ = gradient_error(module, seed=rng.randrange(1000))
    assert error < 1e-7, spec


def _mixed_spec(rng: random.Random, index: int):
    """A random network whose hidden layers each pick their own activation."""
    loss = rng.choice(sorted(registry.LOSSES))
    spec = random_spec(rng, index, loss, "tanh")
    hidden = sorted(set(registry.ACTIVATIONS) - {"softmax"})
    for layer in spec["layers"][:-1]:
        layer["activation"] = rng.choice(hidden)
        if layer["activation"] in ("leaky_relu", "elu"):
            layer["activation"] = {"name": layer["activation"], "alpha": round(rng.uniform(0.05, 1.5), 2)}
    return spec


@pytest.mark.parametrize("index", range(30))
def test_random_mixed_networks(emit, index):
    rng = random.Random(1000 + index)
    spec = _mixed_spec(rng, index)
    module = emit(spec)
    params = module.init_params(index)
    X, T = module.sample_batch(4, seed=index)
    _, grads = module.loss_and_grad(params, X, T)
    expected = grad(reference_loss(spec))(params, X, T)
    for key in params:
        scale = np.linalg.norm(expected[key]) + np.linalg.norm(grads[key]) + 1e-300
        assert np.linalg.norm(grads[key] - expected[key]) / scale < 1e-7, (spec, key)
