"""Every mistake in a tensor graph spec is one line naming the file, the node and what is wrong
(both shapes for a mismatch), one test per message."""

from __future__ import annotations

import re

import pytest

import symprop

BASE = {
    "name": "bad",
    "inputs": {"x": [4, 3], "ids": {"shape": [4], "dtype": "int", "range": 5}, "m": {"shape": [4], "dtype": "bool"}},
    "targets": {"t": 2},
    "params": {"W": [3, 2], "V": [5, 3]},
}

CASES = [
    ("sum(x @ x)", "shape mismatch in '@' at column 7: x has shape [4, 3], x has shape [4, 3] (the inner sizes differ)"),
    (
        "sum(reshape(x, [2, 2, 3]) @ reshape(V, [3, 5]) @ W)",
        "reshape(x, [2, 2, 3]) @ reshape(V, [3, 5]) has shape [2, 2, 5], W has shape [3, 2] (the inner sizes differ)",
    ),
    (
        "sum(reshape(x, [2, 2, 3]) @ reshape(V[0:3], [3, 3, 1]))",
        "has shape [2, 2, 3], reshape(V[0:3], [3, 3, 1]) has shape [3, 3, 1] (the leading axes do not broadcast)",
    ),
    ("sum(x + W)", "shape mismatch in '+' at column 7: x has shape [4, 3], W has shape [3, 2]"),
    ("sum(x, axis=2)", "sum(...) at column 1: axis 2 is out of range for a tensor of rank 2 (per sample)"),
    ("sum(softmax(x, axis=-3))", "axis -3 is out of range for a tensor of rank 2 (per sample)"),
    ('sum(einsum("ij,jk->ik", x, V))', "einsum(...) at column 5: letter j is 3 in x (shape [4, 3]) but 5 in V (shape [5, 3])"),
    ('sum(einsum("ijk->i", x))', "'ijk' has 3 letter(s) but x has shape [4, 3]"),
    ("sum(V[x])", "indexing at column 5: x is a float tensor; an index must be an integer input (declared with dtype: int)"),
    ("sum(x[1.5])", "an index must be a whole number, got 1.5 at column 7"),
    ("sum(ids * 2.0) + sum(x @ W)", "ids holds integers (at column 9); an integer tensor can only index a table (Emb[ids])"),
    ("sum(tanh(ids)) + sum(x @ W)", "ids holds integers (at column 5)"),
    ("sum(m + 1) + sum(x @ W)", "m is a boolean mask (at column 7); a mask can only choose between values: where(m, a, b)"),
    ("sum(reshape(x, [5, 2]) @ W)", "a reshape must keep the size: x has shape [4, 3] (12 elements), [5, 2] has 10"),
    ("sum(x[4] @ W)", "indexing at column 5: index 4 is out of range for axis 0 of x (size 4, shape [4, 3])"),
    ("sum(x[2:1] @ W)", "the slice 2:1 of axis 0 of x (size 4) is empty"),
    ("sum(x[::-1] @ W)", "a slice's step must be positive"),
    ("sum(x[ids])", "x varies by sample; only a table that does not (a parameter) can be indexed by a tensor"),
    ("sum(W[ids])", "the ids take 5 values (range: 5) but W has 3 rows"),
    ("sum(where(x, x, 0) @ W)", "the condition x is a float tensor; it must be a boolean mask (an input with dtype: bool"),
    ('sum(x @ W) + "a"', "'a' is not a number or a tensor; only a function's arguments may be strings or lists"),
    ("sum(x @ W) * [1, 2]", "[1, 2] is not a number or a tensor"),
    ("sum(min(x, axis=0) @ W)", "min over axes is not in the language; write -max(-x, axis=...)"),
    # a new user's outer product, taken as a dot product when the sizes matched: now refused with both spellings
    (
        "sum(x[0] @ x[1].T) + sum(x @ W)",
        "'@' at column 10: x[0] @ x[1].T of two vectors would be their dot product (a vector's .T is itself, as in NumPy), "
        'not the outer product x[0] x[1]^T; write einsum("i,j->ij", x[0], x[1]) for the outer product, or x[0] @ x[1] for',
    ),
    ("sum(log(-2) * (x @ W), axis=0)", "formula is not a real number here (the log or a root of a negative number?)"),
    ("sum((-8) ** (1/3) * (x @ W), axis=0)", "formula is not a real number here"),
    ("sum((x @ W) ** 100000)", "the exponent of '**' must be within +-1000, got 100000 at column"),
    # a new user's W x, as on paper: Python's message was "invalid syntax. Perhaps you forgot a comma?"
    ("sum(x W)", "syntax error at column 7: no operator between 'x' and 'W' (write '*' for a product, '@' for a matrix product)"),
    # a new user's causal mask as in PyTorch, masked_fill(-inf): was "unknown name 'inf' (did you mean 'sin'?)"
    # a new user's mixture-of-experts weights (one per row) against NumPy's broadcasting along the last axis
    (
        "sum(x[:, 0] * x, axis=0) @ W",
        "x[:, 0] has shape [4], x has shape [4, 3]; broadcasting lines up the last axes, as in NumPy: to pair x[:, 0] "
        "with the leading axes, write reshape(x[:, 0], [4, 1])",
    ),
    (
        "sum(x[:, None] @ W)",
        "None (NumPy's new axis) is not allowed in an index at column 10; add an axis of size 1 with reshape(x, [...])",
    ),
    ("sum(where(m, x @ W, -inf), axis=0)", "'inf' is not allowed at column 22; numbers are finite: write a large one, as -1e9"),
]


@pytest.mark.parametrize("node, words", CASES, ids=[c[0] for c in CASES])
def test_a_tensor_mistake_is_one_line_naming_the_node(node, words):
    spec = {**BASE, "nodes": {"y": node}, "loss": "half_sse(y, t)"}
    with pytest.raises(symprop.SpecError) as error:
        symprop.from_dict(spec, source="bad.yaml")
    message = str(error.value)
    assert message.startswith("bad.yaml: nodes.y: ") and words in message and "\n" not in message


@pytest.mark.parametrize(
    "inputs, field, words",
    [
        ({"ids": {"shape": [4], "dtype": "int"}}, "inputs.ids", "an int input needs its range"),
        ({"ids": {"shape": [4], "dtype": "float16"}}, "inputs.ids.dtype", "expected one of float, int, bool"),
        ({"ids": {"shape": [4], "dtype": "bool", "range": 3}}, "inputs.ids.range", "only an int input has a range"),
        ({"ids": {"shape": [4], "dtype": "int", "range": 0}}, "inputs.ids.range", "expected a positive whole number"),
        ({"ids": {"dtype": "int", "range": 3}}, "inputs.ids", "the shape is missing"),
        ({"ids": {"shape": [4], "dtipe": "int"}}, "inputs.ids.dtipe", "unknown field (did you mean 'dtype'?)"),
    ],
)
def test_a_bad_discrete_input_names_its_field(inputs, field, words):
    spec = {**BASE, "inputs": {"x": [4, 3], **inputs}, "nodes": {"y": "sum(x @ W, axis=0)"}, "loss": "half_sse(y, t)"}
    with pytest.raises(symprop.SpecError) as error:
        symprop.from_dict(spec, source="bad.yaml")
    assert str(error.value).startswith(f"bad.yaml: {field}: ") and words in str(error.value)


@pytest.fixture(scope="module")
def gather_module(tmp_path_factory):
    from conftest import emit_module

    spec = {
        "name": "lookup",
        "inputs": {"ids": {"shape": [3], "dtype": "int", "range": 5}, "m": {"shape": [3, 1], "dtype": "bool"}},
        "targets": {"t": [3, 2]},
        "params": {"V": [5, 2]},
        "nodes": {"y": "where(m, V[ids], 0)"},
        "loss": "half_sse(y, t)",
    }
    return emit_module(spec, tmp_path_factory.mktemp("lookup"))


@pytest.mark.parametrize(
    "ids, mask, words",
    [
        ([[0, 1, 5]], [[[True], [False], [True]]], 'X["ids"]: expected indices in [0, 5), got values 0 to 5'),
        ([[0, -1, 2]], [[[True], [False], [True]]], 'X["ids"]: expected indices in [0, 5), got values -1 to 2'),
        ([[0.0, 1.0, 2.0]], [[[True], [False], [True]]], 'X["ids"]: expected integers (indices in [0, 5)), got dtype float64'),
        ([[0, 1, 2]], [[[1.0], [0.0], [1.0]]], 'X["m"]: expected a boolean mask, got dtype float64'),
        ([0, 1, 2], [[[True], [False], [True]]], 'X["ids"]: expected shape (batch, 3); a single sample needs a batch axis'),
    ],
)
def test_the_module_checks_integer_and_mask_inputs(gather_module, ids, mask, words):
    import numpy as np

    params = gather_module.init_params()
    X = {"ids": np.array(ids), "m": np.array(mask)}
    with pytest.raises(ValueError) as error:
        gather_module.loss(params, X, np.zeros((1, 3, 2)))
    assert words in str(error.value)


def test_the_module_draws_valid_integer_and_mask_inputs(gather_module):
    X, T = gather_module.sample_batch(6)
    assert X["ids"].dtype.kind == "i" and X["ids"].min() >= 0 and X["ids"].max() < 5 and X["ids"].shape == (6, 3)
    assert X["m"].dtype == bool and X["m"].shape == (6, 3, 1)
    assert gather_module.gradient_check() < 1e-7


def test_cross_entropy_targets_that_do_not_sum_to_one_are_refused(tmp_path):
    """Regression (found by the tensor generator): softmax + cross-entropy's fused gradient y - t
    holds only for targets whose rows sum to one; a soft target summing to 0.8 got a silently
    wrong gradient.  The module now refuses it, naming the row; class indices and one-hot rows pass."""
    import numpy as np
    from conftest import emit_module

    module = emit_module("softmax_classifier", tmp_path)
    params = module.init_params()
    X, T = module.sample_batch(4)
    module.loss_and_grad(params, X, T)
    module.loss_and_grad(params, X, np.array([0, 2, 1, 1]))
    soft = T.copy()
    soft[2] = [0.5, 0.2, 0.1]
    with pytest.raises(ValueError, match=r"^T: cross-entropy targets must sum to 1 along the last axis; row 2 sums to 0.8$"):
        module.loss_and_grad(params, X, soft)


def test_numpy_spellings_of_reductions_derive(tmp_path):
    """keepdims=True and a positional axis, as NumPy users write them (sum(x, 1, keepdims=True))."""
    from conftest import emit_module
    from reference import check_module_against_references

    spec = {
        "name": "numpy_spellings",
        "inputs": {"x": [2, 3]},
        "targets": {"t": [2, 3]},
        "params": {"W": [3, 3]},
        "nodes": {"h": "x @ W", "y": "h - mean(h, 1, keepdims=True) + max(h, axis=0, keepdims=True) * sum(h, -1, keepdims=1)"},
        "loss": "half_sse(y, t)",
    }
    check_module_against_references(spec, emit_module(spec, tmp_path))


EXAMPLE_SPEC = {
    "name": "lookup",
    "inputs": {"ids": {"shape": [2], "dtype": "int", "range": 3}, "m": {"shape": [2], "dtype": "bool"}},
    "targets": {"t": 2},
    "params": {"Emb": [3, 2]},
    "nodes": {"y": "where(m, sum(Emb[ids], axis=0), 0.5)"},
    "loss": "half_sse(y, t)",
}


@pytest.mark.parametrize(
    ("ids", "mask", "field", "words"),
    [
        ([2, 7], [1, 0], "example.ids", "expected whole numbers in [0, 3) (indices), got 7"),
        ([0.5, 1], [1, 0], "example.ids", "expected whole numbers in [0, 3) (indices), got 0.5"),
        ([-1, 0], [1, 0], "example.ids", "got -1"),
        ([2, 0], [2, 0], "example.m", "expected a mask of true and false (or 1 and 0), got 2"),
    ],
)
def test_a_worked_example_of_a_discrete_input_is_checked(ids, mask, field, words):
    """An index out of range picked no row of the table and a mask of 0.5 half chose: the
    handout's numbers were those of an impossible sample, without an error."""
    example = {"ids": ids, "m": mask, "t": [0.5, -0.5], "params": {"Emb": [[0.1, 0.2], [0.3, 0.4], [0.5, -0.6]]}}
    with pytest.raises(symprop.SpecError) as error:
        symprop.from_dict({**EXAMPLE_SPEC, "example": example}, source="bad.yaml")
    assert str(error.value).startswith(f"bad.yaml: {field}: ") and words in str(error.value)


def test_a_worked_example_mask_may_be_true_and_false():
    """YAML's true and false were "not a rectangular array of numbers"; they are 1 and 0."""
    example = {"ids": [2, 0], "m": [True, False], "t": [0.5, -0.5], "params": {"Emb": [[0.1, 0.2], [0.3, 0.4], [0.5, -0.6]]}}
    network = symprop.from_dict({**EXAMPLE_SPEC, "example": example})
    assert network.example.inputs["m"] == [1, 0]
    assert "0.5" in symprop.derive(network).latex()


@pytest.mark.parametrize(
    "wrt, said", [("m", "m is a mask"), ("ids", "ids is an integer input"), ("ids[0]", "ids is an integer input")]
)
def test_verify_wrt_an_index_or_a_mask_is_refused(wrt, said):
    """A small graph shows dE/dx of its float inputs; an int or bool input has no gradient, but
    --wrt on one was judged ("WRONG, correct: 0", exit 1) instead of refused."""
    network = symprop.from_dict(EXAMPLE_SPEC)
    wrt_name = re.escape(wrt.replace("[0]", "_1"))
    with pytest.raises(symprop.SymPropError, match=rf"^--wrt {wrt_name}: {said}: the backward pass computes no gradient for it"):
        symprop.verify(network, wrt, "1")


def test_a_step_variable_outside_braces_is_told_to_go_in_braces():
    """A new user's GRU wrote X[k-1] in a repeated node (2026-12-06): the message was only
    "unknown name 'k'" with the list of every name; the step is replaced in braces alone."""
    spec = {
        "name": "bad",
        "inputs": {"X": [3, 2]},
        "targets": {"t": 4},
        "params": {"W": [4, 2], "U": [4, 4]},
        "nodes": {"h1": "tanh(W @ X[0])", "h{k}": {"for": "k in 2..3", "value": "tanh(W @ X[k-1] + U @ h{k-1})"}},
        "loss": "half_sse(h3, t)",
    }
    with pytest.raises(symprop.SpecError) as error:
        symprop.from_dict(spec, source="bad.yaml")
    assert str(error.value) == (
        "bad.yaml: nodes.h2: unknown name 'k' at column 12; the step k is replaced only in braces: "
        "write X[{k-1}], h{k-1} or x{k}"
    )
