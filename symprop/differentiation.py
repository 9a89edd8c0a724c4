"""Differentiation in the subgradient convention of the README: SymPy's ``diff``, with |x|
of a real argument, sign and max/min of several arguments differentiated as JAX, autograd
and PyTorch do, and a derivative SymPy cannot evaluate refused by name."""

from __future__ import annotations

import sympy as sp

from .errors import SymPropError


class Abs(sp.Abs):
    """|x| of a real argument: d|u| = sign(u) du (SymPy's own Abs differentiates a
    possibly complex argument through re/im/atan2 when it cannot tell that u is real)."""

    def _eval_derivative(self, x):
        return sign(self.args[0]) * sp.diff(self.args[0], x)


class _Extremum(sp.Function):
    """A stand-in for a max or min of three or more arguments while ``derivative`` differentiates
    it (SymPy's own ``Max`` cannot be subclassed: its simplification compares ``cls == Max``).

    A tie splits the derivative evenly between the arguments that attain the extremum, so the
    shares sum to 1, as JAX, autograd and PyTorch differentiate ``max`` of a vector.  SymPy's
    derivative of ``Max(a, b, c)`` in ``a``, ``H(a - Max(b, c))`` with H(0) = 1/2, gives each of
    a tie of three 1/2 (3/2 in all).  For two arguments both rules give 1/2 : 1/2, and SymPy's
    ``H(a - b)`` is kept.  ``[x attains the max]`` is written ``H(x - max)`` with H(0) = 1 (no
    argument exceeds its maximum): exact in floating point, unlike ``Eq(0.1 z, m)``, which SymPy
    rewrites as ``Eq(z, 10 m)``."""

    larger: bool
    sympy_class: type

    def _eval_derivative(self, symbol):
        # One fraction, sum_i [x_i attains it] dx_i / sum_i [x_i attains it], not a fraction an
        # argument: as long as one of them, and it is what the handout writes.  The arguments are
        # those of a Max or Min SymPy has reduced already: evaluating them again compares every
        # pair (quadratic, seconds for 50 arguments, once for every symbol differentiated).
        extremum = self.sympy_class(*self.args, evaluate=False)

        def attains(x):
            return sp.Heaviside(x - extremum if self.larger else extremum - x, 1)

        return sp.Add(*(attains(x) * sp.diff(x, symbol) for x in self.args)) / sp.Add(*(attains(x) for x in self.args))


class _Largest(_Extremum):
    larger, sympy_class = True, sp.Max


class _Smallest(_Extremum):
    larger, sympy_class = False, sp.Min


_STAND_IN = {sp.Max: _Largest, sp.Min: _Smallest}


def _differentiate(expr: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    """``sp.diff``, with every max and min of three or more arguments split evenly at a tie."""
    if not any(len(m.args) > 2 for m in expr.atoms(sp.Max, sp.Min)):
        return sp.diff(expr, symbol)
    stood_in = expr.replace(
        lambda e: isinstance(e, (sp.Max, sp.Min)) and len(e.args) > 2, lambda e: _STAND_IN[type(e)](*e.args)
    )
    return sp.diff(stood_in, symbol).replace(lambda e: isinstance(e, _Extremum), lambda e: e.sympy_class(*e.args, evaluate=False))


class sign(sp.sign):
    """sign(x) of a real argument; its derivative is 0 (almost everywhere, as in autograd)."""

    def _eval_derivative(self, x):
        return sp.S.Zero


def derivative(expr: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    """d expr / d symbol for the backward pass, in the subgradient convention of the README.

    A DiracDelta (SymPy's derivative of its own sign or Heaviside, e.g. from max) is 0 almost
    everywhere, which is what the generated code and autograd use.  A derivative SymPy leaves
    unevaluated cannot be computed by the generated code: SymPropError naming the function."""
    result = _differentiate(expr, symbol)
    if result.has(sp.DiracDelta):
        result = result.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    unevaluated = sorted({str(d.expr.func) for d in result.atoms(sp.Derivative)})
    if unevaluated:
        raise SymPropError(f"cannot differentiate {', '.join(unevaluated)} in {expr}: SymPy has no derivative for it")
    return result
