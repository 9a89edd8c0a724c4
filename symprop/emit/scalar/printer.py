"""Printing element formulas as Python over floats, with the ``math`` module's functions.

SymPy's ``PythonCodePrinter`` with symprop's shared arithmetic (``printing.PlainArithmetic``):
constants folded into literals, ``t - y`` as written.  The functions the code calls are
imported by name (``from math import exp, tanh``), collected in ``imports``: a global name
costs less a call than ``math.exp``, and every ``math`` name the code uses is a reserved word
of specs (a node cannot be called ``exp``; the module builder checks all names are distinct).

``math`` raises where NumPy would return inf or nan (``exp(1000)``: OverflowError; ``log(0)``,
``sqrt(-1)``: ValueError), so a value out of range stops the scalar module with an exception
instead of carrying a nan; the spellings below avoid it where NumPy's spellings are stable.
A registered activation is written with its own spelling (``registry.Activation.python``).
"""

from __future__ import annotations

import math
import re

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

from ...errors import SymPropError
from ...latex_printing import unbracketed
from ...printing import PlainArithmetic, stabilise
from ...registry import RegistryFunction

#: log(cosh(x)) without overflow (the NumPy backend's ``_logcosh``).
LOGCOSH = "abs({x}) + log1p(exp(-2.0 * abs({x}))) - 0.6931471805599453"

_SIMPLE = re.compile(r"^(?:[A-Za-z_]\w*|\d+(?:\.\d*)?(?:e-?\d+)?)$")
_SLOT = re.compile(r"\{(\w+)\}")
_CALLED = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")


class ScalarPrinter(PlainArithmetic, PythonCodePrinter):
    """Python code of a scalar SymPy expression; ``imports`` collects the ``math`` names used."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": False, "strict": True})
        self.imports: set[str] = set()

    def _module_format(self, fqn, register=True):
        name = fqn.split(".")[-1]
        if name in vars(math):
            self.imports.add(name)
        return name

    def spelled(self, template: str, **args: str) -> str:
        """``template`` (Python with ``{x}``-style slots) with the arguments' code in its slots,
        bracketed unless a name or a number, and the ``math`` functions it calls recorded."""
        def slot(match: re.Match) -> str:
            code = args[match.group(1)]
            alone = template[match.start() - 1 : match.start()] == "(" and template[match.end() : match.end() + 1] in "),"
            return code if alone or _SIMPLE.match(code) else f"({code})"

        self.imports.update(name for name in _CALLED.findall(template) if name in vars(math))
        return _SLOT.sub(slot, template)

    def _print_Function(self, expr):
        if isinstance(expr, RegistryFunction):  # SymPy's dispatch skips it: a subclass renamed
            return self.registry_function(expr)
        return super()._print_Function(expr)

    def registry_function(self, expr):
        entry = expr.entry
        if entry.python is None:
            raise SymPropError(f"{entry.name} has no spelling in the scalar backend (registry.Activation.python)")
        names = ["x", *(n for n, _ in entry.constants)]
        return bracketed(self.spelled(entry.python, **{n: self._print(a) for n, a in zip(names, expr.args)}))

    def _print_logcosh(self, expr):
        return bracketed(self.spelled(LOGCOSH, x=self._print(expr.args[0])))

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_sign(self, expr):
        x = self._print(expr.args[0])
        x = x if _SIMPLE.match(x) else f"({x})"
        return f"((0.0 < {x}) - ({x} < 0.0))"

    def _print_Heaviside(self, expr):
        # H(x) with its value at 0: 0 for the formulas' step(x), 1/2 for the derivative of max(a, b), 1 for
        # whether an argument attains a max of more (differentiation.derivative).
        x, at_zero = self._print(expr.args[0]), self._print(expr.args[1])
        if expr.args[1] == 0:
            return f"(1.0 if {x} > 0.0 else 0.0)"
        return f"(1.0 if {x} > 0.0 else {at_zero} if {x} == 0.0 else 0.0)"

    def _print_DiracDelta(self, expr):
        return "0.0"  # the derivative of a step: 0 almost everywhere, as the NumPy module has it

    def _print_KroneckerDelta(self, expr):
        i, j = (self._print(a) for a in expr.args)
        return f"(1.0 if {i} == {j} else 0.0)"

    def _print_Max(self, expr):
        return f"max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr):
        return f"min({', '.join(self._print(a) for a in expr.args)})"

    def _print_Piecewise(self, expr):
        *branches, (last, cond) = expr.args
        if cond != sp.true:
            raise SymPropError(f"a piecewise formula without a default branch cannot be printed: {expr}")
        code = self._print(last)
        for value, condition in reversed(branches):
            code = f"{self._print(value)} if {self._print(condition)} else {code}"
        return f"({code})"

    def _print_And(self, expr):
        return " and ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Or(self, expr):
        return " or ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        if exponent == 2 and sp.count_ops(base) <= 1:  # x * x, (t - y) * (t - y): ** 2 costs ~70 ns more a float
            factor = self.parenthesize(base, PRECEDENCE["Mul"])
            return f"({factor} * {factor})"
        if exponent.is_number and not exponent.is_integer and exponent != sp.S.Half and not exponent.is_negative:
            # math.pow raises on a negative base where ** would return a complex number
            return f"{self._module_format('math.pow')}({self._print(base)}, {self._print(exponent)})"
        return super()._print_Pow(expr, rational)


def bracketed(code: str) -> str:
    """``code`` in brackets, unless one pair of them already holds all of it (a spelling stands
    where SymPy's printer put a function call, which binds tighter than any operator)."""
    return code if unbracketed(code) != code else f"({code})"


def python_code(expr: sp.Expr, printer: ScalarPrinter) -> str:
    """One element formula as Python (after the stability pass); SymPropError if it cannot be."""
    try:
        return printer.doprint(stabilise(expr))
    except SymPropError:
        raise
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise SymPropError(f"the scalar backend cannot spell {expr}: {exc}") from None
