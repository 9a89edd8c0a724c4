"""``_usual_arguments``: loss_and_grad's usual case of its argument checks in one call (issue 16).

It may only say yes where ``_inputs``, ``_checked_params`` and ``_targets`` would pass the
arguments unchanged: for every bundled example and many broken arguments, loss_and_grad returns
the same numbers, or raises the same message, as with the full checks alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT

from symprop.check import load_module

GENERATED = ROOT / "generated"
EXAMPLES = sorted(path.stem for path in GENERATED.glob("*.py"))


class Subclass(np.ndarray):
    """An ndarray subclass: not the usual case (the checks turn it into an ndarray)."""


def _broken_arrays(A: np.ndarray):
    """Arrays the checks refuse, convert or must look at closely, made from a valid ``A``."""
    yield "int", A.astype(np.int64) if A.dtype.kind == "f" else A.astype(np.float64)
    yield "float32", A.astype(np.float32)
    yield "bool", A > 0
    yield "short batch", A[:-1]
    yield "empty batch", A[:0]
    yield "no batch axis", A[0]
    yield "extra axis", A[None]
    yield "list", A.tolist()
    yield "subclass", A.view(Subclass)
    yield "reversed", A[::-1]  # not contiguous: still usual
    if A.ndim >= 2:
        yield "fortran", np.asfortranarray(A)
        yield "wider", np.concatenate([A, A[..., :1]], axis=-1)
    if A.dtype.kind in "iu":
        for value in (-1, A.max() + 1000):
            B = A.copy()
            B.flat[-1] = value
            yield f"index {value}", B
    if A.dtype.kind == "f" and A.ndim >= 2:
        for value in (np.nan, np.inf, 2.0, 1 + 2e-4, 1 + 1e-9):
            B = A.copy()
            B[-1] = B[-1] * value if np.isfinite(value) else value
            yield f"row * {value}", B
        yield "probabilities", 0.5 * A + 0.5 / A.shape[-1]
        yield "class indices", A.reshape(len(A), -1).argmax(axis=1)


def _variants(params: dict, X, T):
    """(what, params, X, T): the valid arguments with one thing broken."""
    yield "valid", params, X, T
    for what, value in ({"X": X, "T": T}).items():
        if isinstance(value, dict):
            for key, array in value.items():
                for how, broken in _broken_arrays(array):
                    yield f"{what}[{key!r}] {how}", params, *_replaced(what, X, T, {**value, key: broken})
            yield f"{what} missing a key", params, *_replaced(what, X, T, dict(list(value.items())[1:]))
            yield f"{what} extra key", params, *_replaced(what, X, T, {**value, "extra": next(iter(value.values()))})
            yield f"{what} as a list", params, *_replaced(what, X, T, list(value.values()))
        elif value is not None:
            for how, broken in _broken_arrays(value):
                yield f"{what} {how}", params, *_replaced(what, X, T, broken)
            yield f"{what} None", params, *_replaced(what, X, T, None)
            yield f"{what} as a dict", params, *_replaced(what, X, T, {"x": value})
    for key, array in params.items():
        yield f"params[{key!r}] missing", {k: v for k, v in params.items() if k != key}, X, T
        yield f"params[{key!r}] list", {**params, key: np.asarray(array).tolist()}, X, T
        yield f"params[{key!r}] reshaped", {**params, key: np.reshape(array, (-1, 1))}, X, T
    yield "params as a list", list(params.values()), X, T


def _replaced(what: str, X, T, value):
    return (value, T) if what == "X" else (X, value)


def _outcome(module, params, X, T):
    """loss_and_grad's loss and gradients, or its ValueError's message."""
    try:
        with np.errstate(all="ignore"):
            return module.loss_and_grad(params, X, T)
    except ValueError as error:
        return str(error)


def _unchanged(checked, given) -> bool:
    """Whether a check returned the arrays it was given (a dict of them: a new dict)."""
    return all(checked[k] is given[k] for k in given) if isinstance(given, dict) else checked is given


def _same(one, other) -> bool:
    if isinstance(one, str) or isinstance(other, str):
        return one == other
    (loss, grads), (other_loss, other_grads) = one, other
    return np.array_equal(loss, other_loss, equal_nan=True) and all(
        np.array_equal(grads[k], other_grads[k], equal_nan=True) for k in grads
    )


#: Spellings no bundled example has: a mask input and two targets (dicts), one-hot targets along
#: the last axis of a matrix and along another axis (``_sums_along``).
SPECS = {
    "two_targets": {
        "inputs": {"x": 4, "m": {"shape": [3], "dtype": "bool"}},
        "targets": {"t": 3, "s": 2},
        "params": {"W": [3, 4], "V": [2, 4]},
        "nodes": {"y": "softmax(where(m, W @ x, -1e9))", "h": "V @ x"},
        "loss": "cross_entropy(y, t) + half_sse(h, s)",
    },
    "softmax_along_rows": {
        "inputs": {"x": [3, 4]},
        "targets": {"t": [3, 4]},
        "params": {"W": [4, 4]},
        "nodes": {"p": "softmax(x @ W)"},
        "loss": "cross_entropy(p, t)",
    },
    "softmax_along_axis_0": {
        "inputs": {"x": [3, 4]},
        "targets": {"t": [3, 4]},
        "params": {"W": [4, 4]},
        "nodes": {"p": "softmax(x @ W, axis=0)"},
        "loss": "cross_entropy(p, t)",
    },
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", EXAMPLES)
def test_the_usual_case_passes_every_check_unchanged(name, dtype, monkeypatch):
    _check_the_usual_case(load_module(GENERATED / f"{name}.py"), dtype, monkeypatch)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_usual_case_of_dicts_masks_and_targets_along_an_axis(name, emit, monkeypatch):
    module = emit({"name": name, **SPECS[name]})
    assert "_sums_along(T" in module.__loader__.get_source(module.__name__) or name == "two_targets"
    _check_the_usual_case(module, np.float64, monkeypatch)


def _check_the_usual_case(module, dtype, monkeypatch):
    params = module.init_params(0, dtype=dtype)
    X, T = module.sample_batch(5, 0, dtype=dtype)
    assert module._usual_arguments(params, X, T)  # the arguments sample_batch() and init_params() give
    refused = 0
    for what, p, X2, T2 in _variants(params, X, T):
        usual = module._usual_arguments(p, X2, T2)
        assert usual in (True, False), what
        fast = _outcome(module, p, X2, T2)
        with monkeypatch.context() as patch:  # the full checks alone, as before _usual_arguments
            patch.setattr(module, "_usual_arguments", lambda *arguments: False)
            full = _outcome(module, p, X2, T2)
        assert _same(fast, full), (what, fast if isinstance(fast, str) else "numbers", full)
        if usual:
            assert not isinstance(full, str), what
            assert _unchanged(module._inputs(X2), X2), what
            assert module._checked_params(p) is p
            with np.errstate(all="ignore"):  # a NaN in X is no error
                output = module.forward(p, X2)[0]
            assert _unchanged(module._targets(T2, output), T2), what
        refused += isinstance(full, str)
    assert refused > 10

