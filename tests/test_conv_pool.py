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


#: Max poolings after a relu (whose fresh output the module lets the pooling's adjoint write into,
#: ``out=``): windows that cover the input, that leave a remainder, that leave gaps between
#: them, and that overlap; and convolutions whose kernel adjoint sums per-sample products
#: (no more output channels than positions) or takes one product (np.tensordot).
POOLINGS = [
    ("covered", [2, 4, 6], "max_pool2d(relu(v * x), 2)"),
    ("remainder", [2, 5, 7], "max_pool2d(relu(v * x), 2)"),
    ("gaps", [1, 7, 7], "max_pool2d(relu(v * x), 2, stride=3)"),
    ("overlap", [2, 5, 5], "max_pool2d(relu(v * x), 3, stride=2)"),
    ("1-D overlap", [2, 9], "max_pool1d(relu(v * x), 3, stride=2) + avg_pool1d(relu(v * x), 3, stride=2)"),
    ("1-D gaps", [3, 8], "max_pool1d(v * x, 2, stride=3) * avg_pool1d(v * x, 2, stride=3)"),
    ("1-D of a value shared by the samples", [2, 3], "max_pool1d(relu(v), 2) * x"),
    ("kernel as one product", [2, 3, 3], "conv2d(relu(v * x), K)"),
    ("kernel as per-sample products", [2, 6, 6], "max_pool2d(relu(conv2d(v * x, K, padding=1)), 2)"),
]


@pytest.mark.parametrize("label, shape, expression", POOLINGS, ids=[row[0] for row in POOLINGS])
def test_pooling_and_convolution_adjoints_agree_with_autograd(tmp_path, label, shape, expression):
    spec = {"name": "pooling_case", "inputs": {"x": shape}, "targets": {"t": []},
            "params": {"v": shape, **({"K": [3, shape[0], 3, 3]} if "K" in expression else {})},
            "nodes": {"y": f"sum({expression})"}, "loss": "half_sse(y, t)"}
    module = emit_module(spec, tmp_path)
    check_module_against_references(spec, module)
    if "max_pool2d(relu" in expression:
        assert "out=" in (tmp_path / "pooling_case.py").read_text()  # the relu's array written into


#: Convolutions whose columns (im2col) the forward line keeps for the kernel's adjoint (no more
#: rows, C * kernel size, than C + O), of a batched x and of one shared by all samples, and one
#: whose columns the backward pass copies again (larger ones).
KEPT_COLUMNS = [
    ("kept", {"x": [1, 5, 5]}, {"K": [8, 1, 3, 3]}, "relu(conv2d(x, K, padding=1))", True),
    ("kept, x shared by the samples", {"x": [4, 4, 4]}, {"A": [1, 5, 5], "K": [4, 1, 2, 2]}, "conv2d(A, K) * x", True),
    ("copied again", {"x": [2, 5, 5]}, {"K": [3, 2, 3, 3]}, "relu(conv2d(x, K, padding=1))", False),
]


@pytest.mark.parametrize("label, inputs, params, expression, kept", KEPT_COLUMNS, ids=[row[0] for row in KEPT_COLUMNS])
def test_the_forward_line_keeps_small_columns_for_the_kernels_adjoint(tmp_path, label, inputs, params, expression, kept):
    spec = {"name": "kept_columns", "inputs": inputs, "targets": {"t": []}, "params": params,
            "nodes": {"y": f"sum({expression})"}, "loss": "half_sse(y, t)"}
    module = emit_module(spec, tmp_path)
    check_module_against_references(spec, module)
    source = (tmp_path / "kept_columns.py").read_text()
    assert ("_columns_Y_a = _conv_kept(" in source) == kept
    assert ("_conv_adjoint_kernel(dY_a, _im2col(" in source) == (not kept)


def test_a_convolution_returns_a_contiguous_array(tmp_path):
    """_conv writes its output in (batch, O, *positions) order: what follows runs on contiguous
    arrays (a reshape of it is a view)."""
    module = emit_module(MIXED, tmp_path)
    X = np.random.default_rng(0).standard_normal((4, 2, 7, 6))
    out = module._conv(X, np.ones((3, 2, 3, 2)), (2, 2), (1, 1))
    assert out.shape == (4, 3, 4, 4) and out.flags.c_contiguous


@pytest.mark.parametrize("window", [15, 16])  # 225 ties counted in bytes, 256 in the array's dtype
def test_a_window_of_equal_elements_splits_its_adjoint_among_all(tmp_path, window):
    spec = {"name": "pool_all_ties", "inputs": {"x": [1, window, window]}, "targets": {"t": [1, 1, 1]},
            "params": {"v": [1, window, window]}, "nodes": {"y": f"max_pool2d(v * x, {window})"},
            "loss": "half_sse(y, t)"}
    module = emit_module(spec, tmp_path)
    X, T = np.ones((2, 1, window, window)), np.zeros((2, 1, 1, 1))
    _, grads = module.loss_and_grad({"v": np.ones((1, window, window))}, X, T)
    # dE/dy = y - t = 1 for each sample, averaged over the two; every element is a maximum.
    np.testing.assert_allclose(grads["v"], np.full((1, window, window), 1 / window**2))
