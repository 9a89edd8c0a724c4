"""Every function of the formula language in every position: each formula that once failed
(wrong numbers, a traceback, or a derivation that did not finish) as a hidden and an output
activation of a layer stack, as a loss formula, and as a graph-spec node or loss, each checked
against HIPS autograd and central differences (``formula_strategies.check_spec``)."""

from __future__ import annotations

import time

import pytest
import sympy as sp
from formula_strategies import CONSTANTS, check_spec

import symprop
from symprop import differentiation, registry
from symprop.errors import SymPropError
from symprop.spec_reader import MATH_FUNCTIONS

#: Activation formulas in z that failed: lost brackets, NameError (functools), DiracDelta,
#: complex-to-float, a broadcast error (a constant activation), minutes of simplification.
ACTIVATIONS = [
    "z * (2 - tanh(1))",
    "z*z*(1 + sqrt(2))",
    "z - sigmoid(1)*z",
    "max(z, 0.5)",
    "min(z, sin(z))",
    "min(max(z, 0), 6)",
    "sign(z) * z",
    "step(z) * z + z",
    "abs(z) * z + abs(log(1 + z^2))",
    "z / softplus(1)",
    "min(z, softplus(selu(1)))",
    "log(cosh(0.1)) * z",
    "z - z + 0.5",
    "0 * z",
    "abs(gelu(c0 + z))",
    "(-(z / cosh(z)))",
]
#: Loss formulas in y and t.
LOSSES = [
    "(y - t)^2 * (1 + exp(1))",
    "max(0, 1 - y * t)",
    "sign(y - t) * (y - t)",
    "step(y - t) * (y - t)^2 + (y - t)^2",
    "y",
    "0.5",
    "leaky_relu(expm1(sigmoid(y)))",
    "(((0.5 + y) + sigmoid(y)) - (max(c0, t) + (y - t)))",
]


def layers(hidden="tanh", output="identity", loss="half_sse", functions=None) -> dict:
    return {
        "name": "regression",
        "input": 2,
        "constants": dict(CONSTANTS),
        "functions": functions or {},
        "layers": [{"units": 3, "activation": hidden}, {"units": 2, "activation": output}],
        "loss": loss if loss == "half_sse" else {"formula": loss},
    }


def graph(h="tanh(z)", y="z", loss="(y - t)^2") -> dict:
    """A graph spec h = h(W1 @ x + b1), y = y(W2 @ h), E = sum(loss(y, t)) (formulas in z, y, t)."""
    return {
        "name": "regression_graph",
        "inputs": {"x": 3},
        "targets": {"t": 2},
        "params": {"W1": [3, 3], "b1": [3], "W2": [2, 3]},
        "constants": dict(CONSTANTS),
        "nodes": {"h": h.replace("z", "(W1 @ x + b1)"), "y": y.replace("z", "(W2 @ h)")},
        "loss": f"sum({loss})",
        "_formulas": {"h": h, "y": y, "loss": loss},
    }


def _matches(spec: dict):
    """The spec matches autograd at the first of a few random points that is not near a kink."""
    for seed in range(5):
        outcome = check_spec(spec, seed=seed)
        if outcome.status != "skip":
            break
    assert outcome.status == "match", (outcome.status, outcome.detail)


@pytest.mark.parametrize("formula", ACTIVATIONS)
def test_activation_formula_in_a_hidden_layer(formula):
    _matches(layers(hidden="f", functions={"f": formula}))


#: Activations whose derivative in z is 0: nothing would train behind them as the output.
FLAT_ACTIVATIONS = ["z - z + 0.5", "0 * z"]


@pytest.mark.parametrize("formula", [formula for formula in ACTIVATIONS if formula not in FLAT_ACTIVATIONS])
def test_activation_formula_in_the_output_layer(formula):
    _matches(layers(output="f", functions={"f": formula}, loss="(y - t)^2 / 2"))


@pytest.mark.parametrize("formula", FLAT_ACTIVATIONS)
def test_a_flat_output_activation_is_refused(formula):
    with pytest.raises(symprop.SpecError, match="the output activation f is flat in z"):
        symprop.from_dict(layers(output="f", functions={"f": formula}, loss="(y - t)^2 / 2"))


@pytest.mark.parametrize("formula", ACTIVATIONS)
def test_activation_formula_as_a_graph_node(formula):
    _matches(graph(h=formula))


@pytest.mark.parametrize("formula", [loss for loss in LOSSES if "y" in loss])  # without y: refused (test_errors)
def test_loss_formula(formula):
    _matches(layers(loss=formula))


@pytest.mark.parametrize("formula", [loss for loss in LOSSES if "t" in loss])
def test_loss_formula_in_a_graph_spec(formula):
    _matches(graph(loss=formula))


def test_constant_factor_of_a_graph_node():
    """``W2 @ h * (1 - log(2))`` printed as ``Y = 1 - np.log(2) * Y1``."""
    spec = graph(y="z * (1 - log(2))")
    assert spec["nodes"]["y"] == "(W2 @ h) * (1 - log(2))"
    _matches(spec)


def test_hinge_and_relu6_print_nested_maximum():
    source = symprop.derive(symprop.from_dict(layers(hidden="relu6", functions={"relu6": "min(max(z, 0), 6)"}))).numpy_source()
    assert "np.minimum(6.0, np.maximum(0.0, Z1))" in source
    assert "functools" not in source


def test_derivations_stay_bounded_in_time():
    """These took 120 s or more (cancel/factor of a fused output, simplify of hyperbolic terms)."""
    for spec in [
        layers(output="f", functions={"f": "abs(gelu(c0 + z))"}, loss="log(cosh(y - t))"),
        layers(hidden="f", output="g", functions={"f": "(-(z / cosh(z)))", "g": ACTIVATIONS[-1]}, loss="cosh(y + tanh(c0))"),
    ]:
        start = time.perf_counter()
        symprop.derive(symprop.from_dict(spec)).numpy_source()
        assert time.perf_counter() - start < 15, spec


def test_what_is_left_unsimplified_is_noted():
    slow = "((log((0.1 + softplus(z))) - (exp(z) ^ 0.5)) / sigmoid((z / cosh(z))))"
    spec = layers(output="g", functions={"g": slow}, loss="max(y, t)^2")
    notes = symprop.derive(symprop.from_dict(spec)).notes
    assert notes == [
        "a2: the output activation and the loss are not fused: their product has 42 operations (cancelled up to 40)",
        "a2: the derivative of g is not simplified: 39 operations (simplified up to 20)",
        "E: the derivative of the loss formula is not simplified: it has a step (the derivative of max or min)",
    ]
    assert symprop.derive(symprop.from_dict(layers())).notes == []


def test_a_derivative_sympy_cannot_take_is_a_clear_error():
    mystery = sp.Function("mystery")
    with pytest.raises(SymPropError, match="cannot differentiate mystery"):
        differentiation.derivative(mystery(registry.Z), registry.Z)


def test_subgradient_convention():
    """abs'(0) = 0, sign' = step' = 0, step(0) = 0, max/min split a tie 1/2 : 1/2 (as autograd does)."""
    z = registry.Z
    step = MATH_FUNCTIONS["step"]
    assert (step(sp.Integer(0)), step(sp.Integer(2))) == (0, 1)
    assert differentiation.derivative(step(z), z) == 0
    assert differentiation.derivative(differentiation.Abs(z), z).subs(z, 0) == 0
    assert differentiation.derivative(differentiation.sign(z) * z, z) == differentiation.sign(z)
    assert differentiation.derivative(sp.Heaviside(z), z) == 0
    assert differentiation.derivative(sp.Max(z, 0), z).subs(z, 0) == sp.S.Half
