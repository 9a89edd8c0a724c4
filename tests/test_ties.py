"""A tie of a max or min of several arguments splits the derivative evenly between the arguments
that attain it (shares summing to 1, as JAX, autograd and PyTorch differentiate ``max`` of a
vector), in every path: ``differentiation.derivative``, the per-weight view, the NumPy module, the
scalar backend and the handout.  Regression: SymPy's own derivative gave each of a tie of three
1/2 (3/2 in all) in the per-weight view, while the NumPy module of a ``max`` over axes split it
in thirds; and ``Eq(0.1 z, m)``, tried before, is rewritten by SymPy as ``Eq(z, 10 m)``, which is
false in floating point where ``0.1 z`` is the maximum."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from formula_hypothesis import deterministic
from hypothesis import given
from hypothesis import strategies as st

import symprop
from symprop import differentiation
from symprop.check import load_module
from symprop.latex_printing import to_latex

VALUES = st.sampled_from([-1, 0, 2])  # three values: ties of two, three and four are frequent


def shares(values: list[int], larger: bool = True) -> list[sp.Rational]:
    """The documented rule: 1/(number of arguments attaining the extremum) for each of them."""
    top = max(values) if larger else min(values)
    count = values.count(top)
    return [sp.Rational(1, count) if v == top else sp.S.Zero for v in values]


@deterministic(60)
@given(st.lists(VALUES, min_size=3, max_size=4), st.booleans())
def test_a_tie_splits_the_derivative_evenly(values, larger):
    xs = sp.symbols(f"x1:{len(values) + 1}", real=True)
    extremum = (sp.Max if larger else sp.Min)(*xs)
    point = dict(zip(xs, map(sp.Integer, values)))
    got = [differentiation.derivative(extremum, x).xreplace(point) for x in xs]
    assert got == shares(values, larger)
    assert sum(got) == 1


def test_an_argument_scaled_by_a_decimal_keeps_its_share_in_floating_point(tmp_path):
    """max(z, 0.1 z, -1) at z = -3: 0.1 z = -0.30000000000000004 is the maximum, and 10 times it
    is not z, so a test of ``z == 10 max`` (SymPy's rewriting of ``Eq(0.1 z, max)``) gave 0."""
    spec = {"name": "scaled", "input": 1, "functions": {"g": "max(z, 0.1*z, -1)"},
            "layers": [{"units": 1, "activation": "g", "bias": False}], "loss": "half_sse"}  # fmt: skip
    module = load_module(symprop.derive(symprop.from_dict(spec, source="<test>")).write_numpy(tmp_path))
    _, grads = module.loss_and_grad({"W1": np.array([[-3.0]])}, np.array([[1.0], [0.0]]), np.array([[0.0], [0.0]]))
    assert grads["W1"][0, 0] == 0.5 * (0.1 * -3.0) * 0.1  # mean over 2 samples of (a - t) * 0.1 * x


def per_weight(derivation, params: dict, inputs: dict, targets: dict) -> dict[str, list[float]]:
    """dE/d(each parameter element) from the per-weight view's adjoints at one sample."""
    view = derivation.scalar
    point = {}
    for values in (params, inputs, targets):
        for name, value in values.items():
            point.update(zip(view.symbols[name], np.ravel(value).tolist()))
    forward = view.forward_values(point)
    return {
        name: [float(view.adjoints.get(s, sp.S.Zero).xreplace(forward).evalf(30)) for s in view.symbols[name]]
        for name in params
    }


@pytest.fixture(scope="module")
def reduction(tmp_path_factory):
    """``y = max(v * x)`` over four elements: a tie of up to four maxima."""
    spec = {"name": "tie", "inputs": {"x": 4}, "targets": {"t": []}, "params": {"v": [4]},
            "nodes": {"y": "max(v * x)"}, "loss": "half_sse(y, t)"}  # fmt: skip
    derivation = symprop.derive(symprop.from_dict(spec, source="<test>"))
    directory = tmp_path_factory.mktemp("tie")
    numpy_module = load_module(derivation.write_numpy(directory / "numpy"))
    return derivation, numpy_module, load_module(derivation.write_scalar(directory / "scalar"))


@deterministic(25)
@given(st.lists(VALUES, min_size=4, max_size=4))
def test_every_path_splits_a_tie_of_a_max_over_axes_alike(reduction, values):
    derivation, numpy_module, scalar_module = reduction
    v, x, t = [float(value) for value in values], [1.0] * 4, 5.0
    _, numpy_grads = numpy_module.loss_and_grad({"v": np.array(v)}, np.array([x]), np.array([t]))
    _, scalar_grads = scalar_module.loss_and_grad({"v": v}, [x], [t])
    viewed = per_weight(derivation, {"v": v}, {"x": x}, {"t": t})["v"]
    expected = [float((max(values) - t) * share) for share in shares(values)]  # dE/dy = y - t
    for got in (numpy_grads["v"].tolist(), list(scalar_grads["v"]), viewed):
        assert got == pytest.approx(expected, rel=1e-15, abs=0)


@pytest.fixture(scope="module")
def formula(tmp_path_factory):
    """An activation ``max(z, 0.5 z, 0)``: a tie of all three at z = 0, of z and 0.5 z nowhere else."""
    spec = {"name": "formula_tie", "input": 1, "functions": {"g": "max(z, 0.5*z, 0)"},
            "layers": [{"units": 1, "activation": "g", "bias": False}], "loss": "half_sse"}  # fmt: skip
    derivation = symprop.derive(symprop.from_dict(spec, source="<test>"))
    directory = tmp_path_factory.mktemp("formula_tie")
    numpy_module = load_module(derivation.write_numpy(directory / "numpy"))
    return derivation, numpy_module, load_module(derivation.write_scalar(directory / "scalar"))


@deterministic(15)
@given(VALUES, VALUES)
def test_every_path_splits_a_tie_of_a_formulas_max_alike(formula, w, x):
    derivation, numpy_module, scalar_module = formula
    z = w * x
    slope = {True: 1.0, False: 0.0}[z > 0] if z != 0 else (1 + 0.5 + 0) / 3  # the mean slope of the tied
    expected = (max(z, 0) - 1.0) * slope * x  # (a - t) g'(z) x with t = 1
    _, numpy_grads = numpy_module.loss_and_grad({"W1": np.array([[float(w)]])}, np.array([[float(x)]]), np.array([[1.0]]))
    _, scalar_grads = scalar_module.loss_and_grad({"W1": [[float(w)]]}, [[float(x)]], [[1.0]])
    viewed = per_weight(derivation, {"W1": [w]}, {"x": [x]}, {"t": [1.0]})["W1"]
    assert numpy_grads["W1"][0, 0] == pytest.approx(expected, rel=1e-15, abs=0)
    assert scalar_grads["W1"][0][0] == pytest.approx(expected, rel=1e-15, abs=0)
    assert viewed[0] == pytest.approx(expected, rel=1e-15, abs=0)


def test_the_handout_writes_a_share_of_a_tie_as_an_iverson_bracket():
    a, b, c = sp.symbols("a b c", real=True)
    assert to_latex(differentiation.derivative(sp.Max(a, b, c), a)) == (
        r"\frac{\left[a = \max(a, b, c)\right]}{\left[a = \max(a, b, c)\right] + \left[b = \max(a, b, c)\right] + "
        r"\left[c = \max(a, b, c)\right]}"
    )
