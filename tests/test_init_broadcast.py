"""Graph specs: parameter initialisers (``init:``) and the refused row-wise broadcast (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

import symprop
from symprop.errors import SpecError

LAYER_NORM = {
    "name": "layer_norm",
    "inputs": {"x": 4},
    "targets": {"t": 3},
    "params": {"W1": [8, 4], "b1": [8], "g": [8], "W2": [3, 8]},
    "nodes": {
        "h": "W1 @ x + b1",
        "c": "h - mean(h)",
        "n": "g * c / sqrt(mean(c * c) + 0.00001)",
        "y": "W2 @ tanh(n)",
    },
    "loss": "half_sse(y, t)",
}


def _spec(**params):
    spec = {**LAYER_NORM, "params": {**LAYER_NORM["params"], **params}}
    return spec


def test_a_gain_starts_at_one_and_a_bias_at_zero(emit):
    # Was: every vector parameter zero, so a layer-norm gain of 0 stopped training.
    network = symprop.from_dict(LAYER_NORM)
    assert network.param_inits["g"].kind == "ones"
    assert network.param_inits["b1"].kind == "zeros"
    assert network.param_inits["W1"].kind == "fan_in_normal"
    params = emit(LAYER_NORM).init_params()
    np.testing.assert_array_equal(params["g"], np.ones(8))
    np.testing.assert_array_equal(params["b1"], np.zeros(8))


def test_a_vector_subtracted_or_renamed_is_a_bias():
    spec = {
        "name": "shift",
        "inputs": {"x": 3},
        "targets": {"t": 3},
        "params": {"W": [3, 3], "s": [3], "d": [3]},
        "nodes": {"m": "-d", "y": "W @ x - s + m"},
        "loss": "half_sse(y, t)",
    }
    inits = symprop.from_dict(spec).param_inits
    assert inits["s"].kind == "zeros" and inits["d"].kind == "zeros"


def test_a_bias_of_any_shape_starts_at_zero():
    """A new user's conv1d bias kb [4, 1], as the README adds one, and mixture-of-experts biases
    [3, 4] (2026-12-06): as matrices they were drawn N(0, 1/fan_in), the conv bias N(0, 1)."""
    spec = {
        "name": "conv_bias",
        "inputs": {"x": [2, 10]},
        "targets": {"t": [3, 4]},
        "params": {"K": [4, 2, 3], "kb": [4, 1], "W": [3, 4, 8], "be": [3, 4]},
        "nodes": {"c": "tanh(conv1d(x, K) + kb)", "y": "einsum('ejl,jl->ej', W, c) + be"},
        "loss": "half_sse(y, t)",
    }
    inits = symprop.from_dict(spec).param_inits
    assert inits["kb"].kind == "zeros" and inits["be"].kind == "zeros"
    assert inits["K"].kind == "fan_in_normal" and inits["W"].kind == "fan_in_normal"


def test_a_divisor_is_not_zero():
    spec = {
        "name": "scale",
        "inputs": {"x": 3},
        "targets": {"t": 3},
        "params": {"W": [3, 3], "s": [3]},
        "nodes": {"y": "(W @ x) / s"},
        "loss": "half_sse(y, t)",
    }
    assert symprop.from_dict(spec).param_inits["s"].kind == "ones"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"shape": [8], "init": "zeros"}, np.zeros(8)),
        ({"shape": [8], "init": "ones"}, np.ones(8)),
        ({"shape": 8, "init": "normal", "std": 1e-12, "mean": 2.0}, np.full(8, 2.0)),
    ],
)
def test_the_init_field_sets_the_initialiser(emit, entry, expected):
    params = emit(_spec(g=entry)).init_params()
    np.testing.assert_allclose(params["g"], expected, atol=1e-9)


def test_uniform_and_fan_in_uniform_stay_in_their_bounds(emit):
    spec = _spec(g={"shape": [8], "init": "uniform", "low": -0.5, "high": -0.25}, W1={"shape": [8, 4], "init": "fan_in_uniform"})
    params = emit(spec).init_params(seed=3)
    assert (params["g"] >= -0.5).all() and (params["g"] < -0.25).all()
    assert (np.abs(params["W1"]) <= 1 / np.sqrt(4)).all() and params["W1"].std() > 0.1


def test_init_params_keeps_the_dtype(emit):
    spec = _spec(g={"shape": [8], "init": "normal", "std": 0.1})
    params = emit(spec).init_params(dtype=np.float32)
    assert all(value.dtype == np.float32 for value in params.values())


def test_an_unknown_initialiser_is_a_spec_error():
    message = r"params\.g\.init: expected one of zeros, ones, normal, uniform, fan_in_normal, fan_in_uniform, got 'xavier'"
    with pytest.raises(SpecError, match=message):
        symprop.from_dict(_spec(g={"shape": [8], "init": "xavier"}))


def test_an_argument_of_another_initialiser_is_a_spec_error():
    with pytest.raises(SpecError, match=r"params\.g\.std: unknown field \(init uniform takes low, high\)"):
        symprop.from_dict(_spec(g={"shape": [8], "init": "uniform", "std": 1}))


def test_an_argument_without_init_is_a_spec_error():
    with pytest.raises(SpecError, match=r"params\.g\.std: unknown field \(an argument needs an init\)"):
        symprop.from_dict(_spec(g={"shape": [8], "std": 1}))


def test_a_missing_shape_is_a_spec_error():
    with pytest.raises(SpecError, match=r"params\.g: expected \{shape: \[rows, columns\], init: \.\.\.\}; the shape is missing"):
        symprop.from_dict(_spec(g={"init": "ones"}))


def test_a_non_positive_std_is_a_spec_error():
    with pytest.raises(SpecError, match=r"params\.g\.std: expected a positive standard deviation, got 0\.0"):
        symprop.from_dict(_spec(g={"shape": [8], "init": "normal", "std": 0}))


def test_an_empty_uniform_range_is_a_spec_error():
    with pytest.raises(SpecError, match=r"params\.g\.high: expected low < high, got low 1\.0, high 1\.0"):
        symprop.from_dict(_spec(g={"shape": [8], "init": "uniform", "low": 1, "high": 1}))


def test_a_non_finite_argument_is_a_spec_error():
    with pytest.raises(SpecError, match=r"params\.g\.std: expected a finite number, got inf"):
        symprop.from_dict(_spec(g={"shape": [8], "init": "normal", "std": float("inf")}))


def test_the_init_params_docstring_names_the_initialisers(emit, tmp_path):
    path = symprop.derive(symprop.from_dict(LAYER_NORM)).write_numpy(tmp_path)
    text = path.read_text()
    assert "W1, W2 N(0, 1/fan_in); b1 zeros; g ones." in text


# -- broadcasting --------------------------------------------------------------------------------

ROWS = {
    "name": "rows",
    "inputs": {"x": 3},
    "targets": {"t": 3},
    "params": {"W": [3, 3], "V": [3, 3]},
    "nodes": {"e": "exp(W * x)", "p": "e / sum(e, axis=1)", "y": "V @ sum(p, axis=0)"},
    "loss": "half_sse(y, t)",
}


def test_row_totals_against_a_square_matrix_are_refused_with_the_fix():
    # Was: accepted silently; NumPy lines the vector up with the columns, so row i was divided
    # by the totals of every row instead of its own.
    message = (
        r"nodes\.p: ambiguous broadcast in '/' at column 3: sum\(e, axis=1\) has shape \[3\] \(one value per row "
        r"of a \[3, 3\] tensor\) and e has shape \[3, 3\]; a vector broadcasts along the last axis, so it is combined "
        r"with its columns, not its rows\. To combine row i with value i, write \(e\.T / sum\(e, axis=1\)\)\.T, or keep "
        r"the reduced axis \(keepdims=1: a column of shape \[3, 1\]\)$"
    )
    with pytest.raises(SpecError, match=message):
        symprop.from_dict(ROWS)


def test_row_totals_against_a_non_square_matrix_get_the_same_hint():
    spec = {**ROWS, "inputs": {"x": 4}, "params": {"W": [3, 4], "V": [3, 4]}}
    with pytest.raises(SpecError, match=r"so it does not line up with it\. To combine row i with value i, write"):
        symprop.from_dict(spec)


def test_row_values_through_a_function_are_refused_too():
    spec = {**ROWS, "nodes": {**ROWS["nodes"], "s": "1 / sqrt(mean(e, axis=1))", "p": "s * e"}}
    with pytest.raises(SpecError, match=r"nodes\.p: ambiguous broadcast in '\*'.*write \(s \* e\.T\)\.T, or keep the"):
        symprop.from_dict(spec)


def test_the_transposed_fix_and_column_totals_are_accepted(emit):
    for p in ("(e.T / sum(e, axis=1)).T", "e / sum(e, axis=0)", "e / sum(e, axis=1, keepdims=1)"):  # both fixes of the hint
        module = emit({**ROWS, "nodes": {**ROWS["nodes"], "p": p}})
        assert module.gradient_check() < 1e-6


def test_the_transposed_fix_normalises_each_row(emit):
    spec = {**ROWS, "nodes": {**ROWS["nodes"], "p": "(e.T / sum(e, axis=1)).T"}, "output": "p"}
    module = emit(spec)
    X, _ = module.sample_batch(2)
    P, _ = module.forward(module.init_params(), X)
    np.testing.assert_allclose(P.sum(axis=2), np.ones((2, 3)))
