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
}


@pytest.mark.parametrize("name", list(FOUND))
def test_specs_the_generator_found(name, tmp_path):
    check_spec(FOUND[name], tmp_path)
