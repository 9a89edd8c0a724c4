"""Convolution and pooling beyond the op table (``tests/test_ops.py``): PyTorch's semantics
(when PyTorch is installed), ties of a max pooling, operands shared by all samples, and
the module's helpers in float32."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import emit_module
from reference import Reference, check_module_against_references

#: Strides, paddings, a kernel that is not square, windows that overlap and windows that
#: leave positions out, in both convolutions and both poolings.
MIXED = {
    "name": "conv_pool_mixed",
    "inputs": {"x": [2, 7, 6]},
    "targets": {"t": [2, 3]},
    "params": {"K": [3, 2, 3, 2], "kb": [3, 1, 1], "L": [2, 3, 3]},
    "nodes": {
        "h": "tanh(conv2d(x, K, stride=2, padding=1) + kb)",
        "m": "max_pool2d(h, 3, stride=1) + avg_pool2d(h, (2, 3), stride=(2, 1))",
        "y": "conv1d(reshape(m, [3, 4]), L, stride=2, padding=2)",
    },
    "loss": "half_sse(y, t)",
}


def test_the_mixed_network_agrees_with_autograd_and_central_differences(tmp_path):
    check_module_against_references(MIXED, emit_module(MIXED, tmp_path))


def test_the_mixed_network_agrees_with_pytorch(tmp_path):
    torch = pytest.importorskip("torch", reason="compared with PyTorch when it is installed")
    functional = torch.nn.functional
    module = emit_module(MIXED, tmp_path)
    rng = np.random.default_rng(3)
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in module.init_params(0).items()}
    X, T = module.sample_batch(5, 0)
    loss, grads = module.loss_and_grad(params, X, T)

    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x, t = torch.tensor(X), torch.tensor(T)
    h = torch.tanh(functional.conv2d(x, tensors["K"], stride=2, padding=1) + tensors["kb"])
    m = functional.max_pool2d(h, 3, stride=1) + functional.avg_pool2d(h, (2, 3), stride=(2, 1))
    y = functional.conv1d(m.reshape(len(x), 3, 4), tensors["L"], stride=2, padding=2)
    expected = 0.5 * ((y - t) ** 2).sum() / len(x)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    for name, tensor in tensors.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_max_pooling_splits_a_tie_evenly(tmp_path):
    spec = {"name": "pool_ties", "inputs": {"x": [1, 2, 4]}, "targets": {"t": [1, 1, 2]}, "params": {"v": [1, 2, 4]},
            "nodes": {"y": "max_pool2d(v * x, 2)"}, "loss": "half_sse(y, t)"}
    module = emit_module(spec, tmp_path)
    v = np.array([[[1.0, 1.0, 0.0, 2.0], [1.0, 0.5, 2.0, 2.0]]])  # three tied maxima in each window
    X, T = np.ones((1, 1, 2, 4)), np.zeros((1, 1, 1, 2))
    _, grads = module.loss_and_grad({"v": v}, X, T)
    # dE/dy = y - t = (1, 2); each of the three maxima of a window gets a third of it.
    expected = np.array([[[1, 1, 0, 2], [1, 0, 2, 2]]]) / 3
    np.testing.assert_allclose(grads["v"], expected)
    reference = Reference(spec).gradients({"v": v}, {"x": X}, {"t": T})
    np.testing.assert_allclose(grads["v"], reference["v"])


def test_operands_shared_by_all_samples(tmp_path):
    """A convolution and a pooling of a parameter (no batch axis), used by every sample."""
    spec = {"name": "shared_conv", "inputs": {"x": [2, 3, 3]}, "targets": {"t": []},
            "params": {"A": [2, 3, 3], "K": [2, 2, 2, 2]},
            "nodes": {"m": "max_pool2d(tanh(conv2d(A, K, padding=1)), 2, stride=1)", "y": "sum(avg_pool2d(m, 1) * x)"},
            "loss": "half_sse(y, t)"}
    check_module_against_references(spec, emit_module(spec, tmp_path))


def test_float32_stays_float32(tmp_path):
    module = emit_module(MIXED, tmp_path)
    params = module.init_params(0, dtype=np.float32)
    X, T = module.sample_batch(4, 0, dtype=np.float32)
    value, grads = module.loss_and_grad(params, X, T)
    assert np.asarray(value).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
