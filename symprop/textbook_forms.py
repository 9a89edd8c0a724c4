"""The form of an expression a textbook writes, among equal forms: the shortest, and of equally
short ones, the one with its signs where a textbook puts them (``1 - y``, not ``y - 1``)."""

from __future__ import annotations

import itertools

import sympy as sp

#: A product with more sums than this is not tried with its signs moved (``sign_variants``: 2^(n-1) forms).
SIGN_VARIANTS_MAX_SUMS = 4


def textbook_form(candidates: list[sp.Expr], size) -> sp.Expr:
    """The shortest of ``candidates`` by ``size``, and among equally short ones (and their forms as
    short with their signs moved between their sums: ``sign_variants``) the one a textbook writes
    (``sign_preference``):
    binary cross-entropy's ``(y - t) / (y (1 - y))``, not SymPy's ``(t - y) / (y (y - 1))``.
    The first of full ties."""
    sizes = [size(candidate) for candidate in candidates]
    shortest = [candidate for candidate, n in zip(candidates, sizes) if n == min(sizes)]
    forms = dict.fromkeys(form for candidate in shortest for form in sign_variants(candidate))
    # only as short: a variant shorter by ``size`` is not always narrower on the page (custom_swish's
    # derivative as one fraction was 20 pt wider than the text)
    return min((form for form in forms if size(form) == min(sizes)), key=sign_preference)


def sign_variants(expr: sp.Expr) -> list[sp.Expr]:
    """``expr`` and, when it is a product, the same product with some of its sums (or odd powers
    of sums) negated, and its sign changed if their number is odd: equal in value, and as long
    (``(t - y) / (y (y - 1))`` and ``(y - t) / (y (1 - y))``) or shorter (``-(y - 1) / y`` and
    ``(1 - y) / y``)."""
    if not isinstance(expr, sp.Mul):
        return [expr]
    factors = list(sp.Mul.make_args(expr))
    sums = [i for i, f in enumerate(factors) if isinstance(_odd_power_base(f), sp.Add)]
    if len(sums) > SIGN_VARIANTS_MAX_SUMS:
        return [expr]
    found = [expr]
    for count in range(1, len(sums) + 1):
        for chosen in itertools.combinations(sums, count):
            flipped = [_negated_base(f) if i in chosen else f for i, f in enumerate(factors)]
            found.append(sp.Mul(sp.S.NegativeOne**count, *flipped))
    return found


def sign_preference(expr: sp.Expr) -> tuple[int, int]:
    """How far ``expr``'s signs are from a textbook's, the smaller the better: a leading minus
    (``-(t - y)/y`` against ``(y - t)/y``), then sums written against the habit: the complement
    of one is ``1 - y`` (``y (1 - y)``, ``(1 - t) log(1 - y)``), not ``y - 1``, while any other
    constant comes after, ``z - 2``, not ``2 - z``."""
    leading = int(bool(expr.as_coeff_Mul()[0].is_negative))
    constants = [part.as_coeff_Add()[0] for part in expr.atoms(sp.Add)]
    unusual = sum(1 for c in constants if c == -1 or (c.is_positive and c != 1))
    return leading, unusual


def _odd_power_base(factor: sp.Expr) -> sp.Expr | None:
    """The base of ``factor`` if negating it negates ``factor`` (itself, or a base to an odd power)."""
    if isinstance(factor, sp.Pow):
        exponent = factor.exp
        return factor.base if exponent.is_integer and exponent.is_odd else None
    return factor


def _negated_base(factor: sp.Expr) -> sp.Expr:
    """``factor`` with its sum (``_odd_power_base``) negated term by term: ``y - 1`` to ``1 - y``."""
    base = _odd_power_base(factor)
    negated = sp.Add(*(-term for term in base.args))
    return negated if factor is base else sp.Pow(negated, factor.exp)
