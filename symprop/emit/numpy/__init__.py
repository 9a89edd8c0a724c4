"""The NumPy backend: ``builder`` spells a graph line by line, ``module`` arranges the lines
into the standalone module (``templates/numpy_module.py.j2``), ``printers`` prints formulas."""

from .builder import ModuleBuilder
from .lines import Line
from .module import NumpyModule, module_source
from .printers import MathPrinter, helper_source

__all__ = ["Line", "MathPrinter", "ModuleBuilder", "NumpyModule", "helper_source", "module_source"]
