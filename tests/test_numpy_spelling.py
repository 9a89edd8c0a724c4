"""How the NumPy module spells what a human would write more cheaply (issues 15 and 16).

The 1/N seed of a loss that is an expression, carried as one float (``ModuleBuilder.uniform_nodes``):
constant-folded where it meets constants and sums, made an array where an op needs one.  Each
spec sends it down another path; the module must agree with autograd and central differences
and keep float32 float32.  A squared error's residual computed once; a scalar weight's
gradient one dot product."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import EXAMPLES, emit_module
from reference import check_module_against_references, relative_error

import symprop
from symprop.emit.numpy import Line, ModuleBuilder
from symprop.emit.numpy.stacked_lines import backward_lines, summed_once

BASE = {"inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3], "b": [2], "c": []}}

#: name -> (nodes, loss, a line the module must have)
PATHS = {
    "penalty_of_a_matrix": ({"y": "tanh(W @ x + b)"}, "half_sse(y, t) + 0.1 * sum(W) + c", "dc = np.full((), dc"),
    "l2_penalty": ({"y": "tanh(W @ x + b)"}, "half_sse(y, t) + 0.01 * sum(W * W) + c * c", "np.vdot(_r_Y, _r_Y) / N)"),
    "mean_of_a_batched_vector": ({"h": "tanh(W @ x + b)"}, "mean(h) + half_sse(h, t) + c * c", "dE = 1 / N"),
    "added_to_an_array": ({"z": "W @ x + b"}, "mean(z) + c * c + half_sse(z, t)", "dZ = dZ + dE_a / 2  #"),
    "into_a_dense_layer": ({"z": "W @ x + b", "y": "tanh(W @ x + c)"}, "mean(z) + half_sse(y, t)", "np.full((N, 2), "),
    "broadcast_to_a_scalar": ({"y": "tanh(W @ x + b + c)"}, "sum(b + c) + half_sse(y, t)", "dc = 2 * "),
    "an_element": ({"y": "sigmoid(W @ x + b)"}, "y[0] * 3 + half_sse(y, t) + c * c", "dE_a = np.full((N,), dE_a, dtype=Y.dtype)"),
    "a_maximum": ({"y": "sigmoid(W @ x + b)"}, "max(y) + half_sse(y, t) + c * c", "np.full((N,), "),
    "penalty_of_a_square": ({"y": "tanh(W @ x + b)"}, "half_sse(y, t) + 0.01 * sum(W ** 2) + c", "0.01 * np.vdot(W, W)"),
    "penalty_of_a_product": ({"y": "tanh(W @ x + b)"}, "half_sse(y, t) + sum(b * (b + c))", "* (b + c)"),
    "a_product_of_two_params": ({"y": "tanh(W @ x + b)"}, "half_sse(y, t) + 0.5 * sum(b * b) * c", "np.vdot(b, b)"),
}


@pytest.mark.parametrize("name", PATHS)
def test_a_uniform_seed_agrees_with_autograd(name, tmp_path):
    nodes, loss, line = PATHS[name]
    spec = {"name": name, **BASE, "nodes": nodes, "loss": loss}
    source = symprop.derive(symprop.from_dict(spec, source="<test>")).numpy_source()
    assert line in source
    assert "np.full(N, 1 / N" not in source
    module = emit_module(spec, tmp_path)
    check_module_against_references(spec, module)
    params = module.init_params(0, dtype=np.float32)
    params["c"] = np.float32(0.3)
    X, T = module.sample_batch(5, 0, dtype=np.float32)
    value, grads = module.loss_and_grad(params, X, T)
    assert np.asarray(value).dtype == np.float32
    assert {k: np.asarray(g).dtype for k, g in grads.items()} == dict.fromkeys(grads, np.float32)
    assert {k: np.shape(g) for k, g in grads.items()} == {k: np.shape(v) for k, v in params.items()}
    wide = {k: np.float64(v) if np.ndim(v) == 0 else v.astype(np.float64) for k, v in params.items()}
    _, exact = module.loss_and_grad(wide, X.astype(np.float64), T.astype(np.float64))
    assert relative_error(grads, exact) < 1e-5


def test_the_residual_blocks_penalty_is_folded():
    """Regression (issue 16): the L2 penalty's adjoint was np.full of the batch, a sum over it
    and np.full((8, 4), ...): now floats, and the cross-entropy's adjoint no dE_a[:, None]."""
    source = symprop.derive(symprop.load("examples/residual_block.yaml")).numpy_source()
    assert "    dE = 1 / N  #" in source
    assert "    dE_d = N * dE  #" in source
    assert "    dE_b = dE_c  #" in source
    assert "    dY_a = dE_a * (Y - T)  #" in source
    assert "np.full" not in source.split("def loss_and_grad")[1]
    # the loss value: the cross-entropy summed over the batch in one np.vdot, / N, plus the penalty
    assert "    E = (np.vdot(T, _lse_Y - Y_a) / N) + E_d  #" in source
    assert "    E_a = " not in _loss_and_grad(source)


def test_a_penalty_is_one_dot_product_and_one_step():
    """Issue 16: sum(W1 * W1) is np.vdot(W1, W1) (0.5 us against 1.4 us for (W1 ** 2).sum() on
    an (8, 4) W1), and the two arguments of W1 * W1 send one step, 2 W1, not two lines."""
    source = symprop.derive(symprop.load("examples/residual_block.yaml")).numpy_source()
    assert "    E_d = 0.001 * np.vdot(W1, W1)  # E_d = 0.001 * sum(W1 * W1)" in source
    assert "E_b" not in source.split("def forward")[1].split("def _batch_loss")[0]
    assert _loss_and_grad(source).count("\n    dW1 = ") == 1  # the penalty's step, then the layer's, in place
    assert _loss_and_grad(source).count("\n    dW1 += np.dot(") == 1
    assert "    dW1 = dE_b * 2.0 * W1  #" in source


def test_a_scalar_weights_gradient_is_one_dot_product():
    source = symprop.derive(symprop.load("examples/cs231n_neuron.yaml")).numpy_source()
    assert "    dw1 = np.vdot(dF_d, X1)  #" in source  # dE/df_b is dE/df_d renamed (emit.numpy.fusion)


def _loss_and_grad(source: str) -> str:
    return source.split("def loss_and_grad")[1].split("def sgd_step")[0]


@pytest.mark.parametrize(
    ("example", "residual", "gradient"),
    [
        ("tutorial_222", "_r_A2 = A2 - T", "dA2 = _r_A2 / N  #"),
        ("self_attention", "_r_Y = Y - T", "dY = _r_Y * (0.0625 / N)  #"),  # mse over 32 outputs: 2 / 32
    ],
)
def test_a_squared_errors_residual_is_computed_once(example, residual, gradient):
    body = _loss_and_grad(symprop.derive(symprop.load(f"examples/{example}.yaml")).numpy_source())
    difference = residual.split(" = ")[1]
    assert body.count(difference) == 1
    assert f"    {residual}  # the residual, for the loss and its gradient" in body
    assert "np.vdot(" + residual.split(" = ")[0] + ", " + residual.split(" = ")[0] + ")" in body
    assert f"    {gradient}" in body


def test_a_bias_shared_by_the_steps_is_summed_once_from_what_the_builder_recorded():
    """``summed_once`` gathers a bias's per-step sums over the batch (elman_rnn's dbh: one sum of
    the concatenation) and reads an input product's stack where it holds those very adjoints
    (lstm's dbf: the rows of ``_dWf_x``).  It finds them in what the builder recorded as it wrote
    the lines (``Line.summed``, ``Line.stack``; renamed with the code), not by a regex over them."""
    elman = ModuleBuilder(symprop.derive(symprop.load(EXAMPLES / "elman_rnn.yaml")), stacked=True)
    codes = [line.code for line in backward_lines(elman)]
    assert "dbh = _batch_sum(np.concatenate([dH5_d, dH4_d, dH3_d, dH2_d, dH1_a]))" in codes
    assert not any(code.startswith("dbh = dbh + ") for code in codes)
    lstm = ModuleBuilder(symprop.derive(symprop.load(EXAMPLES / "lstm.yaml")), stacked=True)
    lines = backward_lines(lstm)
    stacks = {line.stack[0]: line.stack[1] for line in lines if line.stack}
    assert "_dWf_x" in stacks and all(name.startswith("dF") for name in stacks["_dWf_x"])
    assert "dbf = _batch_sum(_dWf_x)" in [line.code for line in lines]
    # a line whose code only looks like a sum is not gathered: the record, not the text, decides
    assert summed_once(lstm, [Line("dbf = _batch_sum(dF1_e)", ""), Line("dbf = dbf + _batch_sum(dF2_e)", "")]) == [
        Line("dbf = _batch_sum(dF1_e)", ""),
        Line("dbf = dbf + _batch_sum(dF2_e)", ""),
    ]


#: 300 x 20 multiply-adds a sample in the first layer (at least ``PRODUCT_MIN_SIZE``), 60 in the second.
WIDE = {
    "name": "wide",
    "input": 300,
    "layers": [{"units": 20, "activation": "sigmoid"}, {"units": 3, "activation": "tanh"}],
    "loss": "half_sse",
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_large_layer_product_takes_either_orientation_with_the_same_numbers(dtype, tmp_path):
    """Issue 15 part 5: loss_and_grad() computes a layer's product of at least PRODUCT_MIN_SIZE
    multiply-adds a sample by ``_batch_product``, in the faster of BLAS's two orientations (float64
    784-30-10 at batch 1024: 0.85x hand NumPy, from 1.04x); forward() keeps np.dot.  Either
    orientation gives loss() and backward()'s numbers, in the arrays' dtype."""
    derivation = symprop.derive(symprop.from_dict(WIDE, source="<test>"))
    source = derivation.numpy_source()
    body = _loss_and_grad(source)
    assert "_batch_product(X, W1) + b1" in body and "np.dot(A1, W2.T)" in body  # 60 a sample: np.dot
    assert "np.dot(X, W1.T) + b1" in source.split("def forward")[1].split("def _batch_loss")[0]
    module = emit_module(WIDE, tmp_path)
    params = module.init_params(1, dtype=dtype)
    X, T = module.sample_batch(7, 0, dtype=dtype)
    output, cache = module.forward(params, X)
    expected = module.loss(params, X, T), module.backward(params, cache, T)
    module._TRANSPOSED_FASTER.clear()
    module.loss_and_grad(params, X, T)  # the first product of a shape times both orientations
    key = (X.shape, params["W1"].shape, np.dtype(dtype), np.dtype(dtype))
    assert list(module._TRANSPOSED_FASTER) == [key]
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for transposed in (False, True):
        module._TRANSPOSED_FASTER[key] = transposed
        loss, grads = module.loss_and_grad(params, X, T)
        assert np.asarray(loss).dtype == dtype and all(g.dtype == dtype for g in grads.values())
        assert abs(loss - expected[0]) <= tolerance * abs(expected[0])
        for name, grad in grads.items():
            assert grad.flags.c_contiguous
            np.testing.assert_allclose(grad, expected[1][name], rtol=tolerance, atol=tolerance * np.abs(grad).max())
    assert list(module._TRANSPOSED_FASTER) == [key]


def test_only_the_numpy_module_tunes_its_products(tmp_path):
    derivation = symprop.derive(symprop.from_dict(WIDE, source="<test>"))
    for backend in ("array-api", "numba"):
        path = derivation.write_module(tmp_path, backend)
        text = path.read_text(encoding="utf-8")
        assert "_batch_product" not in text


def test_a_product_keeps_np_dot_where_the_orientations_differ_in_bits(tmp_path, monkeypatch):
    """Regression: ``_batch_product`` chose its orientation by timing alone, so with a BLAS whose
    two orientations sum in different orders a run's gradient bits depended on which was faster at
    the first call.  Now the turned product is taken only where it gives np.dot's bits: a BLAS made
    to differ in the last bit (here, by a stand-in for np whose turned product is off by one ulp)
    keeps np.dot, however the timing falls."""
    module = emit_module(WIDE, tmp_path)
    params = module.init_params(1)
    X, _ = module.sample_batch(64, 0)
    W = params["W1"]

    class OtherBlas:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def dot(a, b):
            product = np.dot(a, b)
            return np.nextafter(product, np.inf) if a is W else product

    clock = {"now": 0.0, "calls": 0}

    def turned_looks_faster():  # each round: start, middle (+2 s as written), end (+1 s turned)
        now = clock["now"]
        clock["now"] += (2.0, 1.0, 0.0)[clock["calls"] % 3]
        clock["calls"] += 1
        return now

    monkeypatch.setattr(time, "perf_counter", turned_looks_faster)
    key = (X.shape, W.shape, X.dtype, W.dtype)
    module._TRANSPOSED_FASTER.clear()
    module._batch_product(X, W)  # this BLAS's orientations: the turned one, if its bits are np.dot's
    assert module._TRANSPOSED_FASTER[key] == np.array_equal(np.dot(W, X.T).T, np.dot(X, W.T))
    monkeypatch.setattr(module, "np", OtherBlas())
    module._TRANSPOSED_FASTER.clear()
    assert np.array_equal(module._batch_product(X, W), np.dot(X, W.T))
    assert module._TRANSPOSED_FASTER == {key: False}
