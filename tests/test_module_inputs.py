"""The generated module's public functions check X and T (issue 11), and user text in it is escaped.

One test per message of ``_checked`` / ``_inputs`` / ``_targets``, on a layer stack and on graph specs.
"""

from __future__ import annotations

import ast
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, needs_tex

import symprop
from symprop.check import load_module
from symprop.emit.latex import compile_pdf

SOFTMAX_3 = {
    "name": "softmax3",
    "input": 4,
    "layers": [{"units": 5, "activation": "tanh"}, {"units": 3, "activation": "softmax"}],
    "loss": "cross_entropy",
}
GRAPH_CE = {
    "name": "graph_ce",
    "inputs": {"x": 4},
    "targets": {"t": 3},
    "params": {"W": [3, 4], "b": [3]},
    "nodes": {"y": "softmax(W @ x + b)"},
    "loss": "cross_entropy(y, t)",
}


@pytest.fixture
def softmax3(emit):
    module = emit(SOFTMAX_3)
    X, T = module.sample_batch(4)
    return module, module.init_params(), X, T


def test_one_hot_targets_of_the_wrong_width_are_refused(softmax3):
    # Was: T of shape (4, 1) for 3 classes broadcast silently and gave the loss -0.0.
    module, params, X, _ = softmax3
    message = r"^T: expected shape \(batch, 3\) or integer class indices of shape \(batch,\), got \(4, 1\)$"
    with pytest.raises(ValueError, match=message):
        module.loss(params, X, np.ones((4, 1)))


def test_a_single_sample_without_batch_axis_is_refused_with_the_fix(softmax3):
    # Was: a raw NumPy error inside loss_and_grad.
    module, params, X, T = softmax3
    message = r"^X: expected shape \(batch, 4\); a single sample needs a batch axis: X\[None\], got \(4,\)$"
    with pytest.raises(ValueError, match=message):
        module.loss_and_grad(params, X[0], T[:1])


@pytest.mark.parametrize("function", ["loss", "loss_and_grad"])
def test_class_indices_are_accepted_as_pytorch_does(softmax3, function):
    # Was: a raw broadcast error for integer labels.
    module, params, X, T = softmax3
    labels = T.argmax(axis=1)
    with_indices = getattr(module, function)(params, X, labels)
    with_one_hot = getattr(module, function)(params, X, T)
    if function == "loss":
        assert with_indices == pytest.approx(with_one_hot)
    else:
        assert with_indices[0] == pytest.approx(with_one_hot[0])
        for key in params:
            np.testing.assert_allclose(with_indices[1][key], with_one_hot[1][key])


def test_check_false_skips_the_checks_and_changes_no_number(softmax3, emit):
    """loss_and_grad(..., check=False), for a training loop over data it checked once (issue 15):
    the same loss and gradients on valid data; no check on invalid data (here a row of T that
    sums to 2, which check=True refuses)."""
    for module, params, X, T in (softmax3, _graph(emit)):
        loss, grads = module.loss_and_grad(params, X, T)
        fast_loss, fast_grads = module.loss_and_grad(params, X, T, check=False)
        assert fast_loss == loss
        assert all(np.array_equal(fast_grads[k], grads[k]) for k in grads)
        T2 = T.copy()
        T2[0] = 1.0
        with pytest.raises(ValueError, match=r"^T: cross-entropy targets must sum to 1 along the last axis; row 0 sums to 3$"):
            module.loss_and_grad(params, X, T2)
        module.loss_and_grad(params, X, T2, check=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_targets_off_the_simplex_are_refused_past_the_exact_one_hot_shortcut(softmax3, emit, dtype):
    """_on_simplex returns at once when every row sums to exactly 1 (one comparison of bytes, the
    one-hot case); anything else still goes through the tolerance: probabilities summing to 1
    within the tolerance pass, a row off by 2e-4, NaN or inf (an inf - inf row sums to NaN) is refused."""
    for module, params, X, T in (softmax3, _graph(emit)):
        params = {k: v.astype(dtype) for k, v in params.items()}
        X, T = X.astype(dtype), T.astype(dtype)
        module.loss_and_grad(params, X, T)
        near = T * dtype(1 + 1e-6)  # within the tolerance, not exactly 1: past the shortcut
        assert not (near.sum(axis=1) == 1).any()
        module.loss_and_grad(params, X, near)
        for bad, shown in ((1 + 2e-4, "1.0002"), (np.nan, "nan"), (np.inf, "inf")):
            T2 = T.copy()
            T2[1] = T2[1] * bad if np.isfinite(bad) else [bad, -bad, 0][: T.shape[1]]
            if not np.isfinite(bad):
                shown = "nan"  # inf + -inf + 0
            message = rf"^T: cross-entropy targets must sum to 1 along the last axis; row 1 sums to {shown}$"
            with pytest.raises(ValueError, match=message), np.errstate(invalid="ignore"):  # inf - inf
                module.loss_and_grad(params, X, T2)
        T2 = T.copy()
        T2[1] = 0.0
        T2[1, 0] = np.inf  # a row summing to +inf
        with pytest.raises(ValueError, match=r"row 1 sums to inf$"), np.errstate(invalid="ignore"):
            module.loss_and_grad(params, X, T2)


def test_check_false_still_turns_class_indices_one_hot(softmax3, emit):
    """Regression: with check=False, class indices of shape (batch,) went into the module
    unconverted and broadcast against the (batch, classes) output when the batch size equals
    the number of classes: a wrong gradient with no error.  They are still turned one-hot."""
    for module, params, X, T in (softmax3, _graph(emit)):
        classes = T.shape[1]
        X, T = X[:classes], T[:classes]
        assert X.shape[0] == classes
        indices = T.argmax(axis=1)
        loss, grads = module.loss_and_grad(params, X, T)
        fast_loss, fast_grads = module.loss_and_grad(params, X, indices, check=False)
        assert fast_loss == pytest.approx(loss, rel=1e-15)
        assert all(np.allclose(fast_grads[k], grads[k], rtol=1e-14, atol=0) for k in grads)


def _graph(emit):
    module = emit(GRAPH_CE)
    X, T = module.sample_batch(4)
    return module, module.init_params(), X, T


@pytest.mark.parametrize("value", [-1, -(2**62), 5])
def test_negative_and_large_indices_are_refused_in_one_pass(emit, value):
    """Indices are checked as unsigned integers (one pass): a negative one, which NumPy would
    read from the end of the table, is as far outside [0, n) as a large one."""
    spec = {
        "name": "lookup",
        "inputs": {"ids": {"shape": [3], "dtype": "int", "range": 5}},
        "targets": {"t": 2},
        "params": {"V": [5, 2]},
        "nodes": {"y": "sum(V[ids], axis=0)"},
        "loss": "half_sse(y, t)",
    }
    module = emit(spec)
    _, T = module.sample_batch(2)
    X = np.array([[0, 1, 4], [2, 3, value]])
    with pytest.raises(ValueError, match=rf"^X: expected indices in \[0, 5\), got values {min(value, 0)} to {max(value, 4)}$"):
        module.loss(module.init_params(), X, T)


def test_class_indices_out_of_range_are_refused(softmax3):
    module, params, X, _ = softmax3
    with pytest.raises(ValueError, match=r"^T: class indices must be in \[0, 3\), got values 0 to 3$"):
        module.loss(params, X, np.array([0, 1, 2, 3]))


def test_class_indices_of_another_batch_are_refused(softmax3):
    module, params, X, _ = softmax3
    with pytest.raises(ValueError, match=r"^T: expected 4 class indices \(the batch of X\), got shape \(5,\)$"):
        module.loss(params, X, np.zeros(5, dtype=int))


def test_targets_of_another_batch_are_refused(softmax3):
    module, params, X, T = softmax3
    with pytest.raises(ValueError, match=r"^T: expected 4 samples \(the batch of X\), got shape \(3, 3\)$"):
        module.loss_and_grad(params, X, T[:3])


def test_integer_inputs_are_refused(softmax3):
    module, params, X, _ = softmax3
    with pytest.raises(ValueError, match=r"^X: expected a floating-point array, got dtype int64$"):
        module.forward(params, np.ones((2, 4), dtype=np.int64))


def test_backward_checks_its_targets(softmax3):
    module, params, X, T = softmax3
    _, cache = module.forward(params, X)
    with pytest.raises(ValueError, match=r"^T: expected shape \(batch, 3\)"):
        module.backward(params, cache, T[:, :2])
    np.testing.assert_allclose(module.backward(params, cache, T.argmax(axis=1))["W1"], module.backward(params, cache, T)["W1"])


def test_float32_class_indices_give_float32_targets(softmax3):
    module, params, X, T = softmax3
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    E, grads = module.loss_and_grad(params32, X.astype(np.float32), T.argmax(axis=1))
    assert grads["W1"].dtype == np.float32


def test_regression_targets_refuse_class_indices(emit):
    module = emit("tutorial_222")
    X, _ = module.sample_batch(3)
    with pytest.raises(ValueError, match=r"^T: expected shape \(batch, 2\), got \(3,\)$"):
        module.loss(module.init_params(), X, np.array([0, 1, 1]))
    message = r"^T: expected shape \(batch, 2\); a single sample needs a batch axis: T\[None\], got \(2,\)$"
    with pytest.raises(ValueError, match=message):
        module.loss(module.init_params(), X[:1], np.array([0.5, 0.5]))


def test_graph_cross_entropy_accepts_class_indices(emit):
    module = emit(GRAPH_CE)
    params = module.init_params()
    X, T = module.sample_batch(5)
    E_indices, grads_indices = module.loss_and_grad(params, X, T.argmax(axis=1))
    E, grads = module.loss_and_grad(params, X, T)
    assert E_indices == pytest.approx(E)
    np.testing.assert_allclose(grads_indices["W"], grads["W"])
    with pytest.raises(ValueError, match=r"^T: expected shape \(batch, 3\) or integer class indices"):
        module.loss(params, X, np.ones((5, 1)))


SEQUENCE_CE = {
    "name": "sequence_ce",
    "inputs": {"x": [6, 4]},
    "targets": {"t": [6, 5]},
    "params": {"W": [4, 5]},
    "nodes": {"y": "softmax(x @ W, axis=-1)"},
    "loss": "cross_entropy(y, t)",
}


def test_a_sequence_cross_entropy_accepts_class_indices_per_step(emit):
    """A new user's language model (2026-12-06): next-token targets T [6, 10] given as indices of
    shape (batch, 6), as PyTorch takes them, were refused ("expected shape (batch, 6, 10)")."""
    module = emit(SEQUENCE_CE)
    params = module.init_params()
    X, T = module.sample_batch(6)
    indices = T.argmax(axis=2)
    E, grads = module.loss_and_grad(params, X, T)
    for check in (True, False):
        E_indices, grads_indices = module.loss_and_grad(params, X, indices, check=check)
        assert E_indices == pytest.approx(E, rel=1e-15)
        np.testing.assert_allclose(grads_indices["W"], grads["W"], rtol=1e-14)
    with pytest.raises(ValueError, match=r"^T: expected class indices of shape \(batch, 6\), got \(6, 5\)$"):
        module.loss(params, X, indices[:, :5])
    message = r"^T: expected shape \(batch, 6, 5\) or integer class indices of shape \(batch, 6\), got \(6, 6, 4\)$"
    with pytest.raises(ValueError, match=message):
        module.loss(params, X, np.ones((6, 6, 4)))
    with pytest.raises(ValueError, match=r"^T: class indices must be in \[0, 5\), got values 0 to 5$"):
        module.loss(params, X, np.where(indices == indices[0, 0], 5, 0))


def test_graph_with_several_inputs_checks_the_keys(emit):
    module = emit("concat_two_inputs")
    params = module.init_params()
    X, T = module.sample_batch(3)
    with pytest.raises(ValueError, match=r"^X: expected a dict of arrays with the keys \['u', 'v'\], got keys \['u'\]$"):
        module.loss(params, {"u": X["u"]}, T)
    with pytest.raises(ValueError, match=r"^X: expected a dict of arrays with the keys \['u', 'v'\], got ndarray$"):
        module.forward(params, X["u"])


def test_graph_with_several_inputs_checks_each_shape_and_batch(emit):
    module = emit("concat_two_inputs")
    params = module.init_params()
    X, T = module.sample_batch(3)
    with pytest.raises(ValueError, match=r'^X\["v"\]: expected shape \(batch, 2\), got \(3, 3\)$'):
        module.forward(params, {"u": X["u"], "v": X["u"]})
    with pytest.raises(ValueError, match=r'^X\["v"\]: expected 3 samples \(the batch of X\), got shape \(2, 2\)$'):
        module.forward(params, {"u": X["u"], "v": X["v"][:2]})


EMPTY_BATCHES = [
    ("tutorial_222", "loss_and_grad", r'^X: the batch is empty \(shape \(0, 2\)\)$'),
    ("tutorial_222", "loss", r'^X: the batch is empty \(shape \(0, 2\)\)$'),
    ("tutorial_222", "forward", r'^X: the batch is empty \(shape \(0, 2\)\)$'),
    ("embedding_gru", "loss_and_grad", r'^X: the batch is empty \(shape \(0, 6\)\)$'),  # integer ids
    ("concat_two_inputs", "loss_and_grad", r'^X\["u"\]: the batch is empty \(shape \(0, 3\)\)$'),
]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(("network", "function", "message"), EMPTY_BATCHES)
def test_an_empty_batch_is_refused(emit, network, function, message):
    # Was: loss_and_grad(P, X[:0], T[:0]) returned nan (the mean over no samples) with a RuntimeWarning.
    module = emit(network)
    X, T = module.sample_batch(3)
    empty = (lambda A: {k: v[:0] for k, v in A.items()}) if isinstance(X, dict) else (lambda A: A[:0])
    arguments = (empty(X),) if function == "forward" else (empty(X), T[:0])
    with pytest.raises(ValueError, match=message):
        getattr(module, function)(module.init_params(), *arguments)


def test_checks_do_not_copy_the_inputs(emit):
    module = emit("tutorial_222")
    X, T = module.sample_batch(3)
    _, cache = module.forward(module.init_params(), X)
    assert cache["X"] is X


# -- user text in generated code ---------------------------------------------------------------

HOSTILE = 'p"""+str(__import__("os").system("touch PWNED"))+"""q\\ $ % { } \'x\' "'


def _hostile_names() -> list[str]:
    names = [HOSTILE + ".yaml"]
    if sys.platform != "win32":
        names.append(HOSTILE + "\nnext line.yaml")
    return names


@pytest.mark.parametrize("filename", _hostile_names(), ids=["quotes-backslash", "newline"])
def test_a_spec_path_with_quotes_and_backslashes_runs_nothing_on_import(tmp_path, filename):
    # Was: the path went unescaped into the docstring: a file named like this ran the command on import.
    spec = tmp_path / filename
    shutil.copy(EXAMPLES / "tutorial_222.yaml", spec)
    derivation = symprop.derive(symprop.load(spec))
    out = tmp_path / "out"
    path = derivation.write_numpy(out)
    cwd = os.getcwd()
    os.chdir(out)
    try:
        module = load_module(path)
    finally:
        os.chdir(cwd)
    assert not list(tmp_path.rglob("PWNED"))
    assert f"Spec: {spec.as_posix()}. Regenerate" in module.__doc__
    assert module.gradient_check() < 1e-6


def test_a_graph_spec_path_with_quotes_runs_nothing_on_import(tmp_path):
    spec = tmp_path / (HOSTILE + ".yaml")
    shutil.copy(EXAMPLES / "residual_block.yaml", spec)
    path = symprop.derive(symprop.load(spec)).write_numpy(tmp_path / "out")
    module = load_module(path)
    assert not list(tmp_path.rglob("PWNED"))
    assert spec.as_posix() in module.__doc__


@pytest.mark.parametrize("filename", _hostile_names(), ids=["quotes-backslash", "newline"])
def test_the_handout_of_a_hostile_path_compiles(tmp_path, filename):
    # The file name reaches the handout's first comment line and its author line, escaped.
    spec = tmp_path / filename
    shutil.copy(EXAMPLES / "tutorial_222.yaml", spec)
    tex = symprop.derive(symprop.load(spec)).latex()
    assert tex.splitlines()[1].startswith("\\documentclass") or tex.splitlines()[0].startswith("%")
    assert all(line.startswith("%") for line in tex.split("\\documentclass")[0].splitlines())
    needs_tex()
    (tmp_path / "h.tex").write_text(tex, encoding="utf-8")
    assert compile_pdf(tmp_path / "h.tex").is_file()


def test_docstring_text_round_trips():
    from symprop.module_interface import docstring_text

    for text in ['a"""b', 'end"', "back\\slash", "tab\there", "nl\nx", "\x00\u2028", '""""""', 'x"']:
        source = f'"""{docstring_text(text)}"""'
        assert ast.literal_eval(source) == text


def test_examples_in_the_module_are_floats(emit):
    # The example's integer values ([[1]]) must not be refused as integer inputs.
    module = emit("one_weight_bce")
    E, _, _ = module.worked_example()
    assert np.isfinite(E)


def test_gradient_check_samples_large_networks(emit):
    module = emit("mlp_784_30_10")
    error, compared, everything = module.gradient_check(details=True)
    assert everything == 23860 and compared < 2000 and error < 1e-6


def test_generated_module_says_it_is_a_symprop_module(tmp_path):
    path = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).write_numpy(tmp_path)
    assert Path(path).read_text().splitlines()[0] == "# symprop-module: 1"


def _with(params, **changes):
    out = {**params, **changes}
    return {k: v for k, v in out.items() if v is not None}


#: A bad ``params`` -> the one line its ValueError says.  The first row is the new user's: a (5, 1)
#: bias broadcast into E = 2.08 instead of 1.36, with no error.
BAD_PARAMS = [
    (lambda p: _with(p, b1=p["b1"][:, None]), "params['b1']: expected an array of shape (5,), got (5, 1)"),
    (lambda p: _with(p, W1=p["W1"].T), "params['W1']: expected an array of shape (5, 4), got (4, 5)"),
    (lambda p: _with(p, b2=None), "params: no parameter 'b2'; expected a dict of arrays with the keys W1, b1, W2, b2"),
    (lambda p: _with(p, W2=p["W2"].tolist()), "params['W2']: expected an array of shape (3, 5), got list"),
    (lambda p: list(p.values()), "params: expected a dict of arrays with the keys W1, b1, W2, b2 (as init_params() gives), got"),
]


def _backend_module(backend, tmp_path):
    derivation = symprop.derive(symprop.from_dict(SOFTMAX_3, source="<test>"))
    if backend == "numba":
        pytest.importorskip("numba")
        return load_module(derivation.write_numba(tmp_path))
    if backend == "array-api":
        pytest.importorskip("array_api_compat")
        return load_module(derivation.write_array_api(tmp_path))
    return load_module(derivation.write_numpy(tmp_path))


@pytest.mark.parametrize("backend", ["numpy", "array-api", "numba"])
@pytest.mark.parametrize(("broken", "message"), BAD_PARAMS, ids=["bias_column", "transposed", "missing", "a_list", "not_a_dict"])
def test_every_public_function_checks_the_parameters(tmp_path, backend, broken, message):
    module = _backend_module(backend, tmp_path)
    params = module.init_params()
    X, T = module.sample_batch(6)
    _, cache = module.forward(params, X)
    bad = broken(params)
    calls = {
        "forward": lambda: module.forward(bad, X),
        "loss": lambda: module.loss(bad, X, T),
        "backward": lambda: module.backward(bad, cache, T),
        "loss_and_grad": lambda: module.loss_and_grad(bad, X, T),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError) as error:
            call()
        assert str(error.value).startswith(message), (name, str(error.value))


def test_check_false_skips_the_parameter_check_too(softmax3, monkeypatch):
    """Neither _usual_arguments (every check's usual case, parameters' shapes included) nor
    _checked_params is called with check=False."""
    module, params, X, T = softmax3
    good = module.loss_and_grad(params, X, T)

    def refuse(*arguments):
        raise AssertionError("checked")

    monkeypatch.setattr(module, "_checked_params", refuse)
    monkeypatch.setattr(module, "_usual_arguments", refuse)
    value, grads = module.loss_and_grad(params, X, T, check=False)  # not called
    assert value == good[0] and all(np.array_equal(grads[k], good[1][k]) for k in grads)
    with pytest.raises(AssertionError, match="checked"):
        module.loss_and_grad(params, X, T)
