"""The array-API backend (``--backend array-api``): the NumPy module's lines spelled against the
array API standard (``translate``), so that one file runs on any conforming array library
through array-api-compat, its one dependency."""

from .module import ArrayApiModule, module_source

__all__ = ["ArrayApiModule", "module_source"]
