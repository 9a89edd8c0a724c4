"""The numba backend (``--backend numba``): for a layer stack the NumPy module with the
elementwise work of each layer fused into ``@njit`` loops (``kernels`` writes the loops, ``module``
the functions around them, for ``templates/numba_module.py.j2``); for a graph spec the NumPy
module with its ``loss_and_grad`` run as one ``@njit`` function (``graph``, ``spelling``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec import Network
from .graph import graph_module_source
from .module import NUMBA_MISSING, NumbaModule, require_numba, stack_module_source

if TYPE_CHECKING:
    from ...derivation import Derivation

__all__ = ["NUMBA_MISSING", "NumbaModule", "module_source", "require_numba"]


def module_source(derivation: Derivation) -> str:
    """The numba module of ``derivation``; SymPropError without Numba, or for a graph spec with an
    op Numba cannot spell."""
    if isinstance(derivation.network, Network):
        return stack_module_source(derivation)
    return graph_module_source(derivation)
