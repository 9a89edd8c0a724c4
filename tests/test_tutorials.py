"""The tutorials' worked numbers, to the digits they print, from the generated modules and the
Derivation's scalar view."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from conftest import EXAMPLES

import symprop
from symprop.scalar import evaluate


def test_worked_example_222_forward_loss_gradient_and_update(emit):
    module = emit("tutorial_222")
    params, X = module.EXAMPLE["params"], module.EXAMPLE["X"]
    output, cache = module.forward(params, X)
    assert cache["A1"][0, 0] == pytest.approx(0.51998934, abs=5e-9)  # h1
    assert output[0, 0] == pytest.approx(0.60944600, abs=5e-9)  # o1
    E, grads, updated = module.worked_example()
    assert round(E, 8) == 0.02397190
    assert round(grads["W2"][0, 0], 8) == 0.02592286  # dE/dW5
    assert round(updated["W2"][0, 0], 8) == 0.43703857  # W5+


def test_worked_example_chain_factors_from_the_scalar_view():
    """dE/dW5 = 0.20944600 x 0.23802157 x 0.51998934 = 0.02592286, factor by factor."""
    d = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    example = d.network.example
    scalar = d.scalar
    point = dict(zip(scalar.symbols["x"], example.x))
    point |= dict(zip(scalar.symbols["t"], example.t))
    for name, value in example.params.items():
        point |= dict(zip(scalar.symbols[name], np.ravel(value)))
    values = scalar.forward_values(point)
    assert round(float(values[sp.Symbol("z1_1", real=True)]), 8) == 0.08  # z1 = 0.3*0.1 + 0.25*0.2
    gradient = scalar.gradient("W2", (0, 0))
    factors = [round(float(evaluate(f.expr, values)), 8) for f in gradient.factors]
    assert factors == [0.20944600, 0.23802157, 0.51998934]
    assert round(float(evaluate(gradient.expr, values)), 8) == 0.02592286
    assert round(float(values[scalar.loss_symbol]), 8) == 0.02397190


def test_one_weight_sigmoid_cross_entropy(emit):
    """x = 0.5, w = 0.8, target 1: yhat = 0.5987, L = 0.513, dL/dz = -0.4013, dL/dw = -0.2007."""
    module = emit("one_weight_bce")
    params, X = module.EXAMPLE["params"], module.EXAMPLE["X"]
    output, cache = module.forward(params, X)
    assert round(output[0, 0], 4) == 0.5987
    E, grads, _ = module.worked_example()
    assert round(E, 3) == 0.513
    assert round(grads["W1"][0, 0], 4) == -0.2007
    assert round(grads["W1"][0, 0] / 0.5, 4) == -0.4013  # dL/dz = dL/dw / x


def test_one_weight_fused_gradient_is_yhat_minus_t():
    d = symprop.derive(symprop.load(EXAMPLES / "one_weight_bce.yaml"))
    fused = [step for step in d.steps if step.rule == "fused"]
    assert len(fused) == 1
    assert fused[0].local == symprop.registry.A - symprop.registry.T


def test_softmax_cross_entropy_gradient_is_y_minus_t(emit):
    d = symprop.derive(symprop.load(EXAMPLES / "softmax_classifier.yaml"))
    fused = [step for step in d.steps if step.rule == "fused"]
    assert [step.local for step in fused] == [symprop.registry.A - symprop.registry.T]
    assert "dZ2 = (A2 - T) / N" in d.numpy_source()


def test_python_api_writes_the_same_module_as_the_cli(tmp_path):
    from symprop.cli import main

    d = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    api = d.write_numpy(tmp_path / "api")
    assert main(["derive", str(EXAMPLES / "tutorial_222.yaml"), "-o", str(tmp_path / "cli"), "--emit", "numpy"]) == 0
    assert api.read_text() == (tmp_path / "cli" / "tutorial_222.py").read_text()
