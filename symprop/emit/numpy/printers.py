"""The printers of the NumPy module: plain math for the comments (``MathPrinter``), whole
numbers of array arithmetic as floats (``FloatPrinter``), a piece of code as a symbol
(``ArrayCode``), and the helper functions a module carries (``helper_source``)."""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

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
        # step(x) of formulas is 0 at 0; the derivative of max(a, b) is 1/2 there (differentiation.derivative).
        if expr.args[1] == 0:
            return f"step({self._print(expr.args[0])})"
        return f"heaviside({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def print_registry_function(self, expr):
        return f"{expr.entry.name}({', '.join(self._print(a) for a in expr.args)})"

    def _print_logcosh(self, expr):
        return f"log(cosh({self._print(expr.args[0])}))"

    def _print_erf(self, expr):
        return f"erf({self._print(expr.args[0])})"


class FloatPrinter(ArrayPrinter):
    """The module's printer: while ``in_arrays`` (the expression computes an array), a whole
    number is printed as a float, ``1.0 - A``.  NumPy 2 takes a Python int through a slower
    scalar path than a Python float: ``1 - A`` costs 550 ns on a (1, 2) float64 array, ``1.0 - A``
    420 ns (NumPy 2.4); a float keeps float32 arrays float32 all the same.  A power's exponent
    stays an int (``H ** 2`` is NumPy's fast square)."""

    def __init__(self):
        super().__init__()
        self.in_arrays = False

    def _print_Integer(self, expr):
        return f"{expr.p}.0" if self.in_arrays else super()._print_Integer(expr)

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        if not (exponent.is_Integer and exponent.is_positive):
            return super()._print_Pow(expr, rational)
        return f"{self.parenthesize(base, PRECEDENCE['Pow'], strict=True)} ** {exponent.p}"


class ArrayCode(sp.Symbol):
    """A symbol printed as a piece of NumPy code, such as ``S[:, None]`` (a batched array
    lined up with arrays of higher per-sample rank)."""

    def _numpycode(self, printer):
        return self.name


def helper_source(name: str, tuned: bool = True) -> str:
    """The source of helper ``name``; ``tuned``: an activation's hand-written NumPy function
    where it has one (``Activation.numpy_function``), else the one from its expression (what
    the array-API module translates)."""
    if name == "erf":
        from ...numpy_helpers import ERF_SOURCE  # loads NumPy: only for a module that needs erf

        return ERF_SOURCE.rstrip() + "\n"
    if name in EXTRA_HELPERS:
        return EXTRA_HELPERS[name]

    fresh = registry.fresh_activation(name)
    if fresh is not None:
        return fresh.numpy_fresh_function
    kept = registry.kept_source(name, tuned)
    if kept is not None:
        return kept
    entry = registry.ACTIVATIONS[name]
    if tuned and entry.numpy_function:
        return entry.numpy_function
    args = ", ".join(["x", *(n for n, _ in entry.constants)])
    x = sp.Symbol("x")
    formula = registry.expand_definitions(entry.apply(x, tuple(sp.Symbol(n) for n, _ in entry.constants)))
    definition = MathPrinter().doprint(formula)
    body, _, note = entry.numpy_helper.partition("  # ")
    doc = f"{entry.name}(x) = {definition}" + (f", {note}" if note else "")
    return f'def _{entry.name}({args}):\n    """{doc}."""\n    return {body}\n'


def added_to(target: str, code: str) -> str:
    """``target + code``, written ``target - rest`` for a ``code`` that begins with a minus
    (``dZ6 + -dH6_a`` read oddly): the same number, as Python's unary minus binds tighter than
    any binary operator and negation is exact."""
    if code.startswith("-") and not code.startswith("--"):
        return f"{target} - {code[1:]}"
    return f"{target} + {code}"
