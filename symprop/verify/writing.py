"""The correct gradient written as plain claim text: products of factors, matrices, array formulas."""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.str import StrPrinter

from .. import registry

#: Expressions printed longer than this are shown as they are: factoring them could take long.
FACTOR_LIMIT = 300
#: ``sympy.factor`` (multivariate polynomial factoring: 40 ms for tutorial_222's dE/dW1_11 of
#: 8 symbols) only for expressions of at most this many symbols; ``factor_terms`` for all.
FACTOR_SYMBOLS = 4


def with_steps(expr: sp.Expr) -> sp.Expr:
    """Piecewise((1, z > 0), (0, True)) written as step(z), the claim language's name for it."""
    return expr.replace(
        lambda e: (
            isinstance(e, sp.Piecewise)
            and len(e.args) == 2
            and e.args[0].expr == 1
            and e.args[1].expr == 0
            and isinstance(e.args[0].cond, sp.StrictGreaterThan)
            and e.args[0].cond.rhs == 0
        ),
        lambda e: sp.Function("step")(e.args[0].cond.lhs),
    )


class ClaimPrinter(StrPrinter):
    """SymPy's plain text (the claim language) with a sum's positive terms first, as people
    write a difference: ``y_1 - t_1``, not ``-t_1 + y_1``."""

    def _as_ordered_terms(self, expr, order=None):
        terms = super()._as_ordered_terms(expr, order=order)
        return [t for t in terms if not t.could_extract_minus_sign()] + [t for t in terms if t.could_extract_minus_sign()]


def _text(expr: sp.Expr) -> str:
    return ClaimPrinter().doprint(expr)


def readable(expr: sp.Expr) -> tuple[sp.Expr, str]:
    """``expr`` (steps as ``step(z)``) in its shortest printed form, and that text, of itself, its
    common factor taken out (``factor_terms``) and, of few symbols, ``factor``:
    ``(h_1 - x_1)*(y_1 - target_1)``, not ``h_1*(y_1 - target_1) - x_1*(y_1 - target_1)``.  The
    same expression each time, only grouped differently; a long expression (over
    ``FACTOR_LIMIT`` characters) stays as it is.  Each form is printed once.  Unlike the handout's
    ``textbook_forms.textbook_form`` it moves no signs between sums: the verifier's text stays as
    SymPy grouped it (``(t_1 - y_1)/(y_1*(y_1 - 1))``, not ``(y_1 - t_1)/(y_1*(1 - y_1))``)."""
    expr = with_steps(expr)
    shown = [(expr, _text(expr))]
    if len(shown[0][1]) > FACTOR_LIMIT:
        return shown[0]
    others = [sp.factor_terms(expr)] + ([sp.factor(expr)] if len(expr.free_symbols) <= FACTOR_SYMBOLS else [])
    shown += [(other, _text(other)) for other in others]
    return min(shown, key=lambda form: len(form[1]))  # the first of equally long forms


def sstr(expr: sp.Expr) -> str:
    return readable(expr)[1]


def _factor_text(expr: sp.Expr) -> str:
    shown, text = readable(expr)
    if isinstance(shown, sp.Add) or text.startswith("-"):
        return f"({text})"
    return text


def chain_text(factors: list[list[list[sp.Expr]]]) -> str:
    """A chain-rule product as a person writes it, ``dE/da * da/dz * dz/dW``: each factor its
    terms (a sum over the paths where they branch, bracketed), each term its own factors in the
    order the chain rule gives them, never re-sorted into one SymPy product
    (``((a2_1 - t_1)*a2_1*(1 - a2_1)*W2_11 + ...) * a1_1*(1 - a1_1) * x_1``)."""

    def term(exprs: list[sp.Expr]) -> str:
        return "*".join(_factor_text(e) for e in exprs)

    return " * ".join(term(f[0]) if len(f) == 1 else "(" + " + ".join(map(term, f)) + ")" for f in factors)


#: A correct matrix written out longer than this is shown by its shape and first element.
MATRIX_TEXT_LIMIT = 300


def matrix_text(matrix: sp.ImmutableMatrix) -> str:
    """The correct matrix element by element, or its shape and first element when long
    (known as soon as the elements written so far pass ``MATRIX_TEXT_LIMIT``: each costs a
    ``readable``)."""
    rows, cols = matrix.shape
    texts = []
    for i in range(rows):
        texts.append([sstr(matrix[i, j]) for j in range(cols)])
        # each element with its separator (", " or "; "; the brackets for the last): the text's length
        if sum(len(t) + 2 for row in texts for t in row) > MATRIX_TEXT_LIMIT:
            return f"a {rows}x{cols} matrix (no array formula for this graph); element [0, 0]: {texts[0][0]}"
    return "[" + "; ".join(", ".join(row) for row in texts) + "]"


def elementwise_text(matrix: sp.ImmutableMatrix, symbols: dict[str, list[sp.Symbol]]) -> str | None:
    """A vector whose element i is one formula of element i of vectors of its length, written
    once in the nodes' names (``2*t*(1 - y)*log(y)``, not ``[2*t_1*(1 - y_1)*log(y_1); ...]``);
    None for any other matrix.  ``symbols``: each node's element symbols."""
    rows, cols = matrix.shape
    if cols != 1 or rows < 2:
        return None
    owner = {s: (node, i) for node, elements in symbols.items() if len(elements) == rows for i, s in enumerate(elements)}
    written = set()
    for i in range(rows):
        element = matrix[i, 0]
        if any(owner.get(s, (None, -1))[1] != i for s in element.free_symbols):
            return None
        written.add(element.xreplace({s: sp.Symbol(owner[s][0]) for s in element.free_symbols}))
    return sstr(written.pop()) if len(written) == 1 else None


def array_formula(derivation, target: str) -> str | None:
    """dE/d``target`` per sample in array notation, from the derivation's steps (or None).

    The same tensor rules the NumPy module runs, written with column vectors by each op
    (``Op.claim_adjoint``): ``dE/dW = delta @ a_prev.T``, ``dE/db = delta``,
    ``dE/da_prev = W.T @ delta``.  The text is itself a valid matrix claim (the tests verify
    it as one).  None as soon as an op on the way has no such spelling.
    """
    plain = PlainContext(derivation.graph)
    adjoint: dict[str, str] = {}
    for step in derivation.steps:
        text = derivation.graph.nodes[step.source].op.claim_adjoint(step, adjoint.get(step.source), plain)
        if text is None:
            return None
        adjoint[step.target] = f"{adjoint[step.target]} + {text}" if step.accumulate else text
    return adjoint.get(target)


class PlainContext:
    """What an op needs to write its adjoint in the claim language (``Op.claim_adjoint``)."""

    def __init__(self, graph):
        self.graph = graph

    def node(self, name: str):
        return self.graph.nodes[name]

    @staticmethod
    def local(expr: sp.Expr, **names: str) -> str | None:
        """An elementwise factor in the generic symbols, with node names put in (z=, a=, y=, t=)."""
        table = {"z": registry.Z, "a": registry.A, "y": registry.Y, "t": registry.T}
        expr = with_steps(expr.xreplace({table[k]: sp.Symbol(v) for k, v in names.items()}))
        if expr.has(sp.Piecewise):
            return None
        return sstr(expr)

    @staticmethod
    def p(text: str) -> str:
        """``text`` in brackets unless it is a name."""
        return _p(text)


def _p(text: str) -> str:
    return text if re.fullmatch(r"[\w.]+", text) else f"({text})"
