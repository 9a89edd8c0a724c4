"""Property: on random graph specs (``tensor_strategies``) the array-API module (on NumPy,
array-api-strict and PyTorch, float64 and float32) and the scalar module agree with the NumPy
module, at batch 3 and at batch 1 (``backend_strategies.check_backends``).  The NumPy module is
checked against autograd by ``test_tensor_property``; ``scripts/fuzz_backends.py N`` runs many
more (and the numba module, too slow to compile here).
"""

from __future__ import annotations

import os

from backend_strategies import check_backends
from hypothesis import given
from tensor_specs import spec_settings, tensor_specs

EXAMPLES = int(os.environ.get("SYMPROP_BACKEND_EXAMPLES", "8"))


@spec_settings(EXAMPLES)
@given(spec=tensor_specs())
def test_random_graph_specs_agree_on_the_array_api_and_scalar_backends(spec, tmp_path_factory):
    refused = check_backends(spec, tmp_path_factory.mktemp("backends"))
    assert all(r.startswith("scalar") for r in refused), refused  # the array-API module spells every op
