"""Property: every graph spec built from the tensor grammar derives, emits a module that passes
ruff, agrees with HIPS autograd and central differences (relative error 1e-7) through
``check_module_against_references``, and runs in float32 end to end.

Specs come from ``tensor_strategies`` (ranks 0-4, broadcasting, ``@`` with leading axes,
einsum, transposes, reshapes, reductions, softmax and log-sum-exp along any axis, concat,
slices, table lookups, masks; nodes and parameters used more than once).
``derandomize=True`` keeps CI deterministic; ``SYMPROP_TENSOR_EXAMPLES=2000`` runs more, and
``scripts/fuzz_tensors.py N`` runs the same generator without Hypothesis (faster, no shrinking).

``FOUND`` lists the specs the generator found failing, each kept as a regression case.
"""

from __future__ import annotations

import pytest
from tensor_strategies import check_spec

import symprop


def _spec(name: str, **fields) -> dict:
    return {"name": name, **fields}


FOUND = {
    # contraction.py summed a letter found in one operand only, then kept the wrong letters:
    # "ij,i->i" became einsum("j,i->i", A.sum(axis=1), v).  Batched: a ValueError at run time;
    # parameters alone: a silently wrong loss, sum(A) * v instead of A.sum(axis=1) * v.
    "einsum_letter_in_one_operand_batched": _spec(
        "found_einsum_batched",
        inputs={"x": [3, 3]}, targets={"t": [3]}, params={"v": [3]},
        nodes={"y": 'einsum("ij,i->i", x, v)'}, loss="half_sse(y, t)",
    ),
    "einsum_letter_in_one_operand_parameters": _spec(
        "found_einsum_params",
        inputs={"x": [3]}, targets={"t": [3]}, params={"A": [3, 3], "v": [3]},
        nodes={"y": 'einsum("ij,i->i", A, v) * x'}, loss="half_sse(y, t)",
    ),
    "einsum_letter_in_one_operand_scalar_out": _spec(
        "found_einsum_scalar",
        inputs={"x": [4]}, params={"W": [1]},
        nodes={"h": "max(x, W)", "s": 'einsum("i,I->", h, W)', "y": "reshape(h, [2, 2])"},
        loss="sum(y ** 2) / 2 + 0.1 * (s ** 2)",
    ),
    # Cross-entropy after a softmax was fused into y - t whatever the target: right only when
    # each row of t sums to one, which a declared target promises and an input or a computed
    # value does not (dE/dz = y * sum(t) - t).  Now fused only with a declared target.
    "cross_entropy_of_an_input": _spec(
        "found_ce_input",
        inputs={"x": [3], "u": [3]}, params={"W": [3, 3]},
        nodes={"y": "softmax(W @ x)"}, loss="cross_entropy(y, u)",
    ),
    "cross_entropy_of_a_computed_target": _spec(
        "found_ce_computed",
        inputs={"x": [3]}, targets={"t": [3]}, params={"W": [3, 3]},
        nodes={"y": "softmax(W @ x)"}, loss="cross_entropy(y, sigmoid(t))",
    ),
    # ... and with no targets at all, loss() failed: NameError, the batch size read from the
    # output (Y), which _batch_loss did not load (it reads only softmax's input).
    "cross_entropy_without_targets_loss": _spec(
        "found_ce_no_targets",
        inputs={"x": [2], "u": [2]}, params={"W": [2, 2]},
        nodes={"p": "softmax(W @ x)"}, loss="cross_entropy(p, softmax(u))",
    ),
    # Cross-entropy targets of rank 2: sample_batch drew them uniform in (0.05, 0.95), rows not
    # summing to one, so the module's own gradient_check failed against the fused y - t; now
    # one-hot along the last axis (the softmax's), as for vectors.
    "cross_entropy_of_matrix_rows": _spec(
        "found_ce_rows",
        inputs={"x": [2, 3]}, targets={"t": [2, 3]}, params={"W": [3, 3]},
        nodes={"z": "x @ W"}, loss="cross_entropy(softmax(z), t)",
    ),
    "cross_entropy_of_a_rank_3_softmax": _spec(
        "found_ce_rank3",
        inputs={"x": [2, 3, 2]}, targets={"t": [2, 3, 2]}, params={"W": []},
        nodes={"z": "W * x"}, loss="cross_entropy(softmax(z), t)",
    ),
    # transpose() of a per-sample scalar was taken for the matrix transpose (its empty
    # permutation is .T's): np.swapaxes(X, 1, 2) on a (batch,) array, an AxisError.
    "transpose_of_a_scalar": _spec(
        "found_transpose_scalar",
        inputs={"s": []}, targets={"t": []}, params={"w": []},
        nodes={"y": "transpose(w * s)"}, loss="half_sse(y, t)",
    ),
}


@pytest.mark.parametrize("name", list(FOUND))
def test_specs_the_generator_found(name, tmp_path):
    check_spec(FOUND[name], tmp_path)


@pytest.mark.parametrize(
    "node, words",
    [
        # NumPy refuses axis 5 of a rank-3 tensor; it was read as axis 5 % 3 = 2 (found by the generator)
        ("transpose(X, [0, 5, 1])", "axes must list every axis of a tensor of shape [2, 3, 2] once"),
        ("transpose(X, [0, -4, 1])", "axes must list every axis"),
        # the language's own limits, kept on purpose
        ("X[::-1]", "a slice's step must be positive"),
        ("where(m, 1, 2) * X", "at least one of the two values must be a tensor"),
    ],
)
def test_specs_outside_the_language_are_refused(node, words):
    spec = _spec(
        "refused",
        inputs={"X": [2, 3, 2], "m": {"shape": [2], "dtype": "bool"}}, targets={"t": [2, 3, 2]}, params={"W": [2, 3, 2]},
        nodes={"y": f"W * ({node})"}, loss="half_sse(y, t)",
    )
    with pytest.raises(symprop.SpecError) as error:
        symprop.from_dict(spec, source="<test>")
    assert words in str(error.value)
