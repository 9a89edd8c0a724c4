"""Bounded simplification of derived elementwise derivatives (``tidy``), and why it was left
out where it was (``simplification_skipped``, ``formula_note``): ``simplify`` can hang."""

from __future__ import annotations

import sympy as sp

from ..textbook_forms import textbook_form

#: Bound on the effort spent simplifying a derived elementwise derivative.
SIMPLIFY_MAX_OPS = 60
TRIG_SIMPLIFY_MAX_OPS = 20
_TRIGONOMETRIC = (sp.sin, sp.cos, sp.tan, sp.sinh, sp.cosh, sp.tanh)


def tidy(expr: sp.Expr) -> sp.Expr:
    """Bounded simplification: cheap steps always, ``simplify`` only where
    ``simplification_skipped`` finds no reason against it.  Any failure of ``simplify``
    leaves the unsimplified, correct expression."""
    candidates = [expr, sp.factor_terms(expr)]
    if expr.is_polynomial():
        # simplify would only factor or expand a polynomial; its first call also imports
        # sympy.physics.units (0.2 s of every command whose loss is a squared error).
        candidates += [sp.factor(expr), sp.expand(expr)]
    elif simplification_skipped(expr) is None:
        try:
            candidates.append(sp.simplify(expr))
        except (RecursionError, ValueError, TypeError, NotImplementedError, sp.PolynomialError):
            pass
    return textbook_form(candidates, sp.count_ops)


def simplification_skipped(expr: sp.Expr) -> str | None:
    """Why ``tidy`` does not run ``simplify`` on ``expr``, or None.

    Its cost is unbounded: large expressions (trigonometric and hyperbolic ones sooner: 17 s
    at 39 operations), steps (the derivative of max/min: seconds, to make it longer) and
    piecewise conditions that are not polynomial (SymPy solves them as inequalities, which
    for ``exp(sigmoid(y)) > 1`` recurses without end) are left as derived."""
    limit = TRIG_SIMPLIFY_MAX_OPS if expr.has(*_TRIGONOMETRIC) else SIMPLIFY_MAX_OPS
    size = sp.count_ops(expr)
    if size > limit:
        return f"{size} operations (simplified up to {limit})"
    if expr.has(sp.Heaviside):
        return "it has a step (the derivative of max or min)"
    if not _polynomial_conditions(expr):
        return "a piecewise condition is not polynomial"
    return None


def formula_note(choice, derived: sp.Expr, node, graph, what: str) -> str | None:
    """The ``simplification_note`` of an op defined by a user's formula (``choice.formula``):
    why its derivative ``derived`` was left unsimplified, when the gradient needs it."""
    if choice.formula is None or node.name not in graph.needs_grad:
        return None
    reason = simplification_skipped(derived)
    return None if reason is None else f"{node.name}: the derivative of {what} is not simplified: {reason}"


def _polynomial_conditions(expr: sp.Expr) -> bool:
    return all((r.lhs - r.rhs).is_polynomial() for r in expr.atoms(sp.core.relational.Relational))
