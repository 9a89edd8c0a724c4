"""A chain-rule factor in the form people know: ``f*(1 - f)``, not the node form ``exp(f_e)/f_g**2``.

A graph spec written as one expression (``f = 1/(1 + exp(-(w0*x0 + ...)))``) is split into one
node per operation, so the derivative of its sigmoid comes out in those nodes' names.  A
person writes it in the output's own name, as the lecture does.  For display only: the form
shown is the first of ``f*(1 - f)`` (sigmoid), ``1 - f^2`` (tanh) and ``f`` (exp) that agrees
with the factor to 30 digits at the diagnosis points; the verdict never depends on it.

The parts that lowering made (``f_d`` of that expression, ``hu_a = Wu u`` of ``hu = relu(Wu @ u)``)
are names the person never wrote: what is left of them after the familiar form is written out
in the spec's own names (``step(Wu_11*u_1 + Wu_12*u_2 + Wu_13*u_3)``, not ``step(hu_a_1)``).
"""

from __future__ import annotations

import re

import sympy as sp

from ..scalar import Factor
from .decide import DIAGNOSIS_POINTS, DIGITS, Setting, close
from .writing import chain_text


def familiar(setting: Setting, factor: Factor) -> sp.Expr:
    """``factor.expr``, or an equal familiar form in the name of the node it differentiates, in
    the spec's own names."""
    expr, node = factor.expr, factor.of
    if not isinstance(node, sp.Symbol) or not _node_form(expr, node):
        return in_spec_names(setting, expr)
    for candidate in (node * (1 - node), 1 - node**2, node):
        if all(_equal(setting, candidate, expr, k) for k in range(DIAGNOSIS_POINTS)):
            return in_spec_names(setting, candidate)
    return in_spec_names(setting, expr)


def in_spec_names(setting: Setting, expr: sp.Expr) -> sp.Expr:
    """``expr`` with every element of a part (a node the spec does not declare) replaced by its
    definition, until only the spec's names remain."""
    definitions = setting.scalar.definitions
    while parts := expr.free_symbols & setting.parts:
        expr = expr.xreplace({s: definitions[s] for s in parts})
    return expr


def spoken(setting: Setting, symbol: sp.Expr) -> str:
    """The name of one element as the person wrote it: a part's element is its expression in
    the spec, bracketed, with the element's index (``g_a_1``: ``(Wa @ x)_1``; ``f_a``:
    ``(w0 * x0)``); every other name is the spec's own (``a2_1``, ``W2_11``)."""
    if symbol not in setting.parts:
        return str(symbol)
    texts = getattr(setting.derivation.network, "parts", {})
    node = next((n for n, symbols in setting.scalar.symbols.items() if symbol in symbols), None)
    if node not in texts:
        return str(symbol)
    text = texts[node]
    if not re.fullmatch(r"\w+(\[[^\]]*\])?", text):
        text = f"({text})"
    return text + str(symbol)[len(node) :]


def factor_text(setting: Setting, of: sp.Expr, wrt: sp.Expr) -> str:
    """``dE/da2_1``, ``dE/d(Wa @ x)_1``: a chain-rule factor in the spec's names (``spoken``)."""
    return f"d{spoken(setting, of)}/d{spoken(setting, wrt)}"


def expected_text(setting: Setting, factors) -> str:
    """The correct gradient, the product of ``factors`` (an ``ElementGradient``'s), each factor in
    its familiar form and in the order of the chain rule; a factor that is an adjoint written as
    the chain rule gives it (``chain_terms``), where that is provably the same expression."""
    shown = [f for f in factors if f.expr != 1] or list(factors)
    return chain_text([[[familiar(setting, g) for g in term] for term in chain_terms(setting, f) or [[f]]] for f in shown])


#: Adjoints of more SymPy operations than this stay as they are (expanding them to compare could take long).
CHAIN_TERMS_MAX_OPS = 400


def chain_terms(setting: Setting, factor: Factor) -> list[list[Factor]] | None:
    """dE/d``factor.wrt`` as the chain rule gives it: the local derivatives of its one path to
    the loss, the loss's first (``[a2_1 - t_1, a2_1*(1 - a2_1), W2_11]``), or a term like that
    per element it feeds where its paths branch; None for a factor that is no adjoint, or where
    the terms, multiplied out, do not give ``factor.expr`` itself (``expand`` of the difference
    is 0): a fused step (softmax with cross-entropy is ``y - t`` only because the targets sum to
    one) keeps SymPy's form, as does a path no longer than one factor or through a part."""
    scalar = setting.scalar
    symbol = factor.wrt
    if factor.of != scalar.loss_symbol or sp.count_ops(factor.expr) > CHAIN_TERMS_MAX_OPS:
        return None
    path = scalar.chain_factors(symbol)
    if path is not None:
        terms = [[f for f in path if f.expr != 1] or path[:1]]
    elif len(scalar.users.get(symbol, [])) < 2 or (terms := scalar.branch_terms(symbol)) is None:
        # the sum the handout writes, where the paths branch at the element itself: a step before
        # the branch would repeat its factor in every term (gated_unit's sigmoid gate; SymPy factors it out)
        return None
    if len(terms) == 1 and len(terms[0]) < 2:
        return None
    # through a part lowering made (cs231n's f_a ... f_g) the factors are in names the person never
    # wrote, and a bare -1 reads oddly (``*(-1)``): SymPy's form, in the spec's names, reads better
    if any(f.of in setting.parts or (f.expr.is_number and f.expr.is_negative) for term in terms for f in term):
        return None
    built = sp.Add(*(sp.Mul(*(f.expr for f in term)) for term in terms))
    return terms if sp.expand(built - factor.expr) == 0 else None


def _node_form(expr: sp.Expr, node: sp.Symbol) -> bool:
    """An exp or a division in names other than the node's own: what a person would not write."""
    written = expr.has(sp.exp) or any(p.exp.is_negative for p in expr.atoms(sp.Pow))
    return written and node not in expr.free_symbols


def _equal(setting: Setting, a: sp.Expr, b: sp.Expr, k: int) -> bool:
    first, second = setting.number(a, k), setting.number(b, k)
    return first is not None and second is not None and close(first, second, DIGITS)
