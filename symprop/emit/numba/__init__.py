"""The numba backend (``--backend numba``): the NumPy module with the elementwise work of each
layer fused into ``@njit`` loops.  ``kernels`` writes the loops, ``module`` the functions around
them and the rest, taken from the NumPy module, for ``templates/numba_module.py.j2``."""

from .module import NUMBA_MISSING, NumbaModule, module_source, require_numba

__all__ = ["NUMBA_MISSING", "NumbaModule", "module_source", "require_numba"]
