"""The printers of the NumPy module: plain math for the comments (``MathPrinter``), a piece
of code as a symbol (``ArrayCode``), and the helper functions a module carries (``helper_source``)."""

from __future__ import annotations

import sympy as sp

from ... import registry
from ...printing import EXTRA_HELPERS, ArrayPrinter


class MathPrinter(ArrayPrinter):
    """Prints the same expressions as plain math for comments: ``sigmoid(z1)``, ``exp(z)``.
    Constants stay as written (``2 - tanh(1)``), in parentheses where they need them."""

    fold_constants = False
    _NAMES = {"maximum": "max", "minimum": "min"}

    def _module_format(self, fqn, register=True):
        name = fqn.split(".")[-1]
        return self._NAMES.get(name, name)

    def _print_Heaviside(self, expr):
        # step(x) of formulas is 0 at 0; the derivative of max(a, b) is 1/2 there (registry.derivative).
        if expr.args[1] == 0:
            return f"step({self._print(expr.args[0])})"
        return f"heaviside({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def print_registry_function(self, expr):
        return f"{expr.entry.name}({', '.join(self._print(a) for a in expr.args)})"

    def _print_logcosh(self, expr):
        return f"log(cosh({self._print(expr.args[0])}))"

    def _print_erf(self, expr):
        return f"erf({self._print(expr.args[0])})"


class ArrayCode(sp.Symbol):
    """A symbol printed as a piece of NumPy code, such as ``S[:, None]`` (a batched array
    lined up with arrays of higher per-sample rank)."""

    def _numpycode(self, printer):
        return self.name


def helper_source(name: str) -> str:
    if name == "erf":
        from ...numpy_helpers import ERF_SOURCE  # loads NumPy: only for a module that needs erf

        return ERF_SOURCE.rstrip() + "\n"
    if name in EXTRA_HELPERS:
        return EXTRA_HELPERS[name]
    entry = registry.ACTIVATIONS[name]
    args = ", ".join(["x", *(n for n, _ in entry.constants)])
    x = sp.Symbol("x")
    formula = registry.expand_definitions(entry.apply(x, tuple(sp.Symbol(n) for n, _ in entry.constants)))
    definition = MathPrinter().doprint(formula)
    body, _, note = entry.numpy_helper.partition("  # ")
    doc = f"{entry.name}(x) = {definition}" + (f", {note}" if note else "")
    return f'def _{entry.name}({args}):\n    """{doc}."""\n    return {body}\n'
