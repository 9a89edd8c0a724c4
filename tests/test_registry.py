"""The registry: every derivative presentation equals the derivative SymPy derives from the
definition, and every NumPy helper computes the definition."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symprop
from symprop import registry

ENTRIES = sorted(set(registry.ACTIVATIONS) - {"swish"})
ROOT = Path(__file__).resolve().parent.parent
POINTS = [-3.7, -1.2, -0.4, 0.3, 0.9, 2.6]


@pytest.mark.parametrize("name", ENTRIES)
def test_presented_derivative_equals_derived_derivative(name):
    entry = registry.ACTIVATIONS[name]
    constants = entry.constant_values()
    # Differentiated with every registry function written out: independent of fdiff.
    derived = sp.diff(registry.expand_definitions(entry.definition_at(registry.Z, constants)), registry.Z)
    presented = registry.expand_definitions(entry.derivative_at(registry.Z, constants))
    for point in POINTS:  # away from the kinks of the piecewise entries
        at = {registry.Z: sp.Rational(point)}
        assert abs(presented.xreplace(at).evalf(40) - derived.xreplace(at).evalf(40)) < 1e-30, (name, point)
    if not presented.has(sp.Piecewise, sp.Float):
        assert sp.simplify(presented - derived) == 0, name


@pytest.mark.parametrize("name", ENTRIES)
def test_numpy_spelling_computes_the_definition(tmp_path, name):
    """The emitted forward pass of a one-unit identity-weight network is f itself."""
    module = symprop.check.load_module(
        symprop.derive(
            symprop.from_dict(
                {"name": "f", "input": 1, "layers": [{"units": 1, "activation": name, "bias": False}], "loss": "mse"}
            )
        ).write_numpy(tmp_path)
    )
    entry = registry.ACTIVATIONS[name]
    definition = sp.lambdify(registry.Z, entry.definition_at(registry.Z), modules=["mpmath"])
    X = np.array([[p] for p in POINTS])
    output, _ = module.forward({"W1": np.array([[1.0]])}, X)
    expected = [float(definition(p)) for p in POINTS]
    assert np.allclose(output[:, 0], expected, rtol=1e-14, atol=1e-15), name


TUNED = [name for name in ENTRIES if registry.ACTIVATIONS[name].numpy_function]


@pytest.mark.parametrize("name", TUNED)
def test_a_hand_written_numpy_helper_computes_its_expression(name):
    """``Activation.numpy_function`` (the module's in-place sigmoid) against ``numpy_helper``'s
    expression: the same numbers and dtype on float arrays of any shape, 0-d arrays, NumPy and
    Python numbers, integer arrays; its argument left as it was."""
    from symprop.emit.numpy.printers import helper_source

    tuned, plain = {"np": np}, {"np": np}
    exec(helper_source(name), tuned)
    exec(helper_source(name, tuned=False), plain)
    assert helper_source(name) != helper_source(name, tuned=False)
    rng = np.random.default_rng(0)
    values = [1.5, np.float32(-0.25), np.array(0.7), np.arange(-3, 3), *(
        (40 * rng.standard_normal(shape)).astype(dtype)
        for shape in [(1, 2), (64, 30), (5, 4, 3)]
        for dtype in (np.float64, np.float32, np.float16)
    )]
    for value in values:
        before = np.array(value, copy=True)
        ours, theirs = tuned[f"_{name}"](value), plain[f"_{name}"](value)
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype
        assert np.array_equal(ours, theirs), (name, value)
        assert np.array_equal(value, before)


IN_PLACE = [name for name in ENTRIES if registry.fresh_helper(name)]


@pytest.mark.parametrize("name", IN_PLACE)
def test_an_in_place_numpy_helper_computes_its_expression(name):
    """``Activation.numpy_fresh_function`` (``_sigmoid_fresh``, for an argument made for the call)
    against ``numpy_helper``'s expression: the same numbers and dtype on float arrays of every
    float dtype and on integer arrays (which it leaves to ``_sigmoid``); a float array is
    overwritten and returned, no new array."""
    from symprop.emit.numpy.printers import helper_source

    fresh, plain = {"np": np}, {"np": np}
    exec(helper_source(name), fresh)
    exec(helper_source(registry.fresh_helper(name)), fresh)
    exec(helper_source(name, tuned=False), plain)
    rng = np.random.default_rng(1)
    values = [np.arange(-3, 3), np.array(0.7), *(
        (40 * rng.standard_normal(shape)).astype(dtype)
        for shape in [(1, 2), (64, 30), (5, 4, 3)]
        for dtype in (np.float64, np.float32, np.float16, np.longdouble)
    )]
    for value in values:
        theirs = plain[f"_{name}"](np.array(value, copy=True))
        ours = fresh[f"_{registry.fresh_helper(name)}"](value)
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype
        assert np.array_equal(ours, theirs), (name, value)
        assert (ours is value) == (value.ndim > 0 and value.dtype.kind == "f")


KEPT = [name for name in ENTRIES if registry.ACTIVATIONS[name].kept]


@pytest.mark.parametrize("name", KEPT)
def test_a_kept_part_presents_the_derived_derivative(name):
    """``Kept``: f' written in the part of f kept (gelu's Phi, ``k``) is f' as derived once ``k``
    is that part again."""
    entry = registry.ACTIVATIONS[name]
    constants = entry.constant_values()
    k = sp.Symbol("k", real=True)
    presented = entry.kept.present(registry.Z, k, *constants).xreplace({k: entry.kept.keep(registry.Z, *constants)})
    assert sp.simplify(presented - entry.derived_derivative(constants)) == 0, name


@pytest.mark.parametrize("name", KEPT)
def test_the_kept_numpy_helpers_compute_their_expressions(name):
    """``Kept.function`` (``_gelu_kept``): f bit for bit as ``numpy_helper``'s expression and as
    ``Kept.plain_function``, and the part kept; ``Kept.derivative`` (in place) bit for bit as
    ``Kept.plain_derivative`` and
    f' as presented: to 1e-15 (float64) or 1e-6 (float32) of the exact numbers, on arrays of
    both float dtypes and integer arrays; the arguments left as they were."""
    from symprop.emit.numpy.printers import helper_source

    entry = registry.ACTIVATIONS[name]
    constants = entry.constant_values()
    k = sp.Symbol("k", real=True)
    exact_part = sp.lambdify(registry.Z, entry.kept.keep(registry.Z, *constants), modules=["mpmath"])
    exact_derivative = sp.lambdify((registry.Z, k), entry.kept.present(registry.Z, k, *constants), modules=["mpmath"])
    kept, derivative = registry.kept_helpers(name)
    tuned, plain = {"np": np}, {"np": np}
    for helper in (*entry.helper_needs, name, kept, derivative):
        exec(helper_source(helper), tuned)
        exec(helper_source(helper, tuned=False), plain)
    assert helper_source(derivative) != helper_source(derivative, tuned=False)
    assert helper_source(kept) != helper_source(kept, tuned=False)
    for number in (1.5, np.float32(-0.25), np.array(0.7)):  # numbers: the kept helper's other path
        (ours, part), (theirs, their_part) = tuned[f"_{kept}"](number), plain[f"_{kept}"](number)
        assert np.array_equal(ours, theirs) and np.asarray(ours).dtype == np.asarray(theirs).dtype
        assert np.array_equal(part, their_part)
    rng = np.random.default_rng(2)
    values = [np.arange(-3, 3), *(
        (4 * rng.standard_normal(shape)).astype(dtype)
        for shape in [(1, 2), (64, 30), (5, 4, 3)]
        for dtype in (np.float64, np.float32)
    )]
    for value in values:
        before = np.array(value, copy=True)
        (ours, part), theirs = tuned[f"_{kept}"](value), tuned[f"_{name}"](value)
        (plain_value, plain_part) = plain[f"_{kept}"](value)
        slope, expression = tuned[f"_{derivative}"](value, part), plain[f"_{derivative}"](value, part)
        assert ours.dtype == theirs.dtype == part.dtype == slope.dtype == expression.dtype
        assert np.array_equal(ours, theirs) and np.array_equal(slope, expression), (name, value)
        assert np.array_equal(plain_value, ours) and np.array_equal(plain_part, part), (name, value)
        points = np.asarray(value, dtype=np.float64)
        tolerance = 1e-15 if part.dtype == np.float64 else 1e-6
        np.testing.assert_allclose(part, np.vectorize(lambda z: float(exact_part(z)))(points), rtol=tolerance, atol=tolerance)
        exact = np.vectorize(lambda z: float(exact_derivative(z, exact_part(z))))(points)
        np.testing.assert_allclose(slope, exact, rtol=4 * tolerance, atol=tolerance)
        assert np.array_equal(value, before)


def test_an_activation_with_a_kept_part_computes_it_once():
    """gelu's forward line keeps Phi for the backward pass, in the NumPy and array-API modules: one
    erf a pass, not two; the handout writes the derivative as derived, and says what the NumPy line
    reads (the kept array's name as code only, never in the math)."""
    spec = {
        "name": "g",
        "inputs": {"x": 3},
        "targets": {"t": 2},
        "params": {"W": [4, 3], "V": [2, 4]},
        "nodes": {"a": "gelu(W @ x)", "y": "V @ a"},
        "loss": "mse(y, t)",
    }
    d = symprop.derive(symprop.from_dict(spec))
    for source in (d.numpy_source(), d.array_api_source()):
        assert "A, _cdf_A = _gelu_kept(A_a)" in source
        assert "_erf(" not in source.split("def loss_and_grad")[1]
        assert "dA_a = dA * _gelu_derivative(A_a, _cdf_A)" in source
    latex = d.latex()
    assert r"the NumPy line reads \texttt{\_cdf\_A} $= \left(\operatorname{erf}" in latex  # the code's name explained
    assert "cdf" not in re.sub(r"\\texttt\{[^}]*\}", "", latex)  # and only as code


def test_an_activation_of_a_product_works_in_place_and_of_a_view_not():
    """The module's sigmoid of a product made in its own line works in place (``_sigmoid_fresh``);
    of a slice of an array that later steps read (the LSTM's ``_Wi_x[0]``) it makes a new array,
    and the array-API module never works in place (JAX arrays are immutable)."""
    lstm = symprop.derive(symprop.load(ROOT / "examples" / "lstm.yaml"))
    source = lstm.numpy_source()
    assert "I1 = _sigmoid(_Wi_x[0])" in source
    assert "I2 = _sigmoid_fresh(_Wi_x[1] + np.dot(H1, Ui.T))" in source
    assert "_fresh" not in lstm.array_api_source()


def test_softmax_cross_entropy_gradient_is_derived_not_typed():
    assert symprop.ops.loss.softmax_cross_entropy_gradient() == registry.A - registry.T


@pytest.mark.parametrize("name", sorted(registry.LOSSES))
def test_loss_derivative_is_derived_from_the_definition(name):
    from symprop.ops import Loss
    from symprop.spec import LossChoice

    entry = registry.LOSSES[name]
    op = Loss(LossChoice(name, entry.constant_values()))
    for y, t in [(0.3, 0.7), (0.8, 0.1), (0.55, 0.5)]:
        at = {registry.Y: sp.Rational(y), registry.T: sp.Rational(t)}
        numeric = (
            op.elementwise.xreplace({**at, registry.Y: at[registry.Y] + sp.Rational(1, 10**12)})
            - op.elementwise.xreplace({**at, registry.Y: at[registry.Y] - sp.Rational(1, 10**12)})
        ) / sp.Rational(2, 10**12)
        assert math.isclose(float(op.derivative.xreplace(at)), float(numeric.evalf(40)), rel_tol=1e-9), name


def test_selu_constants_are_the_papers():
    """Klambauer et al. 2017 (and PyTorch's): the scale was 1.0507009873536432, wrong from the 12th digit (regression)."""
    assert registry.SELU_SCALE == sp.Float("1.0507009873554804934193349852946", 32)
    assert registry.SELU_ALPHA == sp.Float("1.6732632423543772848170429916717", 32)


SELU_SPEC = {
    "name": "selu_only", "inputs": {"x": 7}, "targets": {"t": 7}, "params": {"b": [7]},
    "nodes": {"y": "selu(x + b)"}, "loss": "half_sse(y, t)",
}  # fmt: skip


@pytest.mark.parametrize("backend", ["numpy", "scalar"])
def test_selu_equals_pytorchs(backend, tmp_path):
    """The module's selu and its gradient against torch.nn.functional.selu and torch's autograd, to 1e-15."""
    torch = pytest.importorskip("torch")
    derivation = symprop.derive(symprop.from_dict(SELU_SPEC, source="<test>"))
    written = derivation.write_numpy(tmp_path) if backend == "numpy" else derivation.write_scalar(tmp_path)
    module = symprop.check.load_module(written)
    x = np.array([[-3.7, -1.2, -0.4, 0.0, 0.3, 0.9, 2.6]])
    b, t = np.zeros(7), np.full((1, 7), 0.5)
    output, _ = module.forward({"b": b}, x)
    z = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.selu(z)
    assert np.max(np.abs(np.asarray(output) - expected.detach().numpy())) <= 1e-15
    ((expected - torch.tensor(t)) ** 2 / 2).sum().backward()
    _, grads = module.loss_and_grad({"b": b}, x, t)
    assert np.max(np.abs(np.asarray(grads["b"]) - z.grad.numpy()[0])) <= 1e-15


@pytest.mark.parametrize("name", [name for name in ENTRIES if registry.ACTIVATIONS[name].numpy_new_array])
def test_a_helper_said_to_make_its_array_never_returns_its_argument(name):
    """``Activation.numpy_new_array``: the module may write into the helper's result
    (``emit.numpy.memory.NEW_ARRAY_CALLS``), so it must share no memory with the argument."""
    from symprop.emit.numpy.printers import helper_source

    namespace = {"np": np}
    for helper in (name, *registry.ACTIVATIONS[name].helper_needs):
        exec(helper_source(helper), namespace)
    for dtype in (np.float64, np.float32):
        value = np.linspace(-2.0, 2.0, 24, dtype=dtype).reshape(4, 6)
        constants = [float(c) for c in registry.ACTIVATIONS[name].constant_values()]
        result = namespace[f"_{name}"](value, *constants)
        assert not np.shares_memory(result, value), (name, dtype)
