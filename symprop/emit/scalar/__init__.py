"""The scalar backend (``--backend scalar``): straight-line Python over floats for tiny
networks.  ``printer`` prints element formulas with the ``math`` module; ``module`` arranges
each op's lines (``Op.scalar``) and the symbolic reverse pass into ``templates/scalar_module.py.j2``."""

from .module import SCALAR_BACKEND_LIMIT, ScalarModule, module_source

__all__ = ["SCALAR_BACKEND_LIMIT", "ScalarModule", "module_source"]
