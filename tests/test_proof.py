"""The proof: on small networks, every per-weight gradient of the Derivation equals
``sympy.diff`` of the fully expanded loss.

The reference side is independent of the registry's derivative presentations: the expanded
loss has every registry function replaced by its defining formula before SymPy
differentiates it.  Equality is checked by evaluating both sides to 40 significant digits at
several random rational points (for the smallest networks also symbolically): two different
analytic expressions agreeing to 1e-30 at random points is not a coincidence one needs to
fear.
"""

from __future__ import annotations

import random

import pytest
import sympy as sp
from reference import LOSS_OUTPUTS

import symprop
from symprop import registry
from symprop.scalar import evaluate

ACTIVATIONS = sorted(name for name in registry.ACTIVATIONS if name != "swish")  # swish is silu's alias
HUBER_DELTA = 0.3  # small, so that random points fall on both branches


def _layers(sizes, activation, output_activation, bias=True):
    hidden = [{"units": n, "activation": activation, "bias": bias} for n in sizes[:-1]]
    return hidden + [{"units": sizes[-1], "activation": output_activation, "bias": bias}]


def _assert_gradients_equal_diff_of_expanded_loss(spec, points=3, seed=0):
    d = symprop.derive(symprop.from_dict(spec, source="<proof>"))
    scalar = d.scalar
    reference_loss = registry.expand_definitions(scalar.expanded_loss)
    rng = random.Random(seed)
    leaves = scalar.leaves("input") + scalar.leaves("param") + scalar.leaves("target")
    gradients = scalar.gradients()
    for _ in range(points):
        point = {}
        for symbol in leaves:
            low, high = (0.05, 0.95) if symbol.name.startswith("t_") else (-1.2, 1.2)
            point[symbol] = sp.Rational(round(rng.uniform(low, high), 4)).limit_denominator(10**4)
        if spec["loss"] == "cross_entropy":  # targets of a softmax output are one-hot
            hot = rng.randrange(len(scalar.leaves("target")))
            point |= {t: sp.Integer(int(i == hot)) for i, t in enumerate(scalar.leaves("target"))}
        values = scalar.forward_values(point, digits=50)
        for gradient in gradients:
            ours = evaluate(gradient.expr, values, 50)
            reference = sp.diff(reference_loss, gradient.symbol).xreplace(point).evalf(50)
            # SELU's constants are 16-digit decimals: Float arithmetic on them is good to ~1e-17.
            tolerance = sp.Float("1e-15") if reference_loss.has(sp.Float) else sp.Float("1e-30")
            assert abs(ours - reference) <= tolerance * (1 + abs(reference)), (
                f"{spec['name']}: dE/d{gradient.symbol} = {ours} but diff of the expanded loss = {reference}"
            )


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_in_a_three_layer_network(activation):
    spec = {
        "name": f"proof_{activation}",
        "input": 2,
        "layers": _layers([3, 2, 2], activation, "identity"),
        "loss": "half_sse",
    }
    _assert_gradients_equal_diff_of_expanded_loss(spec)


@pytest.mark.parametrize("loss", sorted(registry.LOSSES))
def test_every_loss_with_its_usual_output(loss):
    assert set(LOSS_OUTPUTS) == set(registry.LOSSES), "a new loss needs an output activation here"
    spec = {
        "name": f"proof_{loss}",
        "input": 3,
        "layers": _layers([3, 3], "tanh", LOSS_OUTPUTS[loss]),
        "loss": {"name": "huber", "delta": HUBER_DELTA} if loss == "huber" else loss,
    }
    _assert_gradients_equal_diff_of_expanded_loss(spec)


@pytest.mark.parametrize(
    ("functions", "activation", "loss"),
    [
        ({"swish_b": "z * sigmoid(beta * z)"}, "swish_b", {"formula": "log(cosh(y - t))"}),
        ({"soft": "z / (1 + abs(z))"}, "soft", {"formula": "(y - t)^4 / 4"}),
        ({"bump": "exp(-z^2) + tanh(z) * beta"}, "bump", {"formula": "sqrt(1 + (y - t)^2) - 1"}),
    ],
    ids=["swish_logcosh", "softsign_quartic", "bump_pseudohuber"],
)
def test_formula_activations_and_losses(functions, activation, loss):
    spec = {
        "name": "proof_formula",
        "input": 2,
        "constants": {"beta": 1.5},
        "functions": functions,
        "layers": _layers([3, 2], activation, {"name": "leaky_relu", "alpha": 0.1}),
        "loss": loss,
    }
    _assert_gradients_equal_diff_of_expanded_loss(spec)


def test_tutorial_network_symbolically():
    """On the tutorial's 2-2-2 every per-weight gradient minus diff of the expanded loss
    simplifies to exactly zero."""
    d = symprop.derive(symprop.load("examples/tutorial_222.yaml"))
    reference_loss = registry.expand_definitions(d.scalar.expanded_loss)
    for gradient in d.scalar.gradients():
        ours = registry.expand_definitions(d.scalar.expand(gradient.expr))
        assert sp.simplify(ours - sp.diff(reference_loss, gradient.symbol)) == 0, gradient.symbol
