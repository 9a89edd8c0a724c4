"""The correct gradient written as plain claim text: products of factors, matrices, array formulas."""

from __future__ import annotations

import re

import sympy as sp

from .. import registry


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


def sstr(expr: sp.Expr) -> str:
    return sp.sstr(with_steps(expr))


def _factor_text(expr: sp.Expr) -> str:
    text = sstr(expr)
    if isinstance(expr, sp.Add) or text.startswith("-"):
        return f"({text})"
    return text


def product_text(factors) -> str:
    shown = [f for f in factors if f.expr != 1] or list(factors)
    return " * ".join(_factor_text(f.expr) for f in shown)


def matrix_text(matrix: sp.ImmutableMatrix) -> str:
    """The correct matrix element by element, or its shape and first element when long."""
    text = full_matrix_text(matrix)
    if len(text) <= 300:
        return text
    rows, cols = matrix.shape
    return f"a {rows}x{cols} matrix (no array formula for this graph); element [0, 0]: {sstr(matrix[0, 0])}"


def full_matrix_text(matrix: sp.ImmutableMatrix) -> str:
    return "[" + "; ".join(", ".join(sstr(matrix[i, j]) for j in range(matrix.shape[1])) for i in range(matrix.shape[0])) + "]"


def array_formula(derivation, target: str) -> str | None:
    """dE/d``target`` per sample in array notation, from the derivation's steps (or None).

    The same tensor rules the NumPy module runs, written with column vectors:
    ``dE/dW = delta @ a_prev.T``, ``dE/db = delta``, ``dE/da_prev = W.T @ delta``.
    The text is itself a valid matrix claim (the tests verify it as one).
    """
    graph = derivation.graph
    adjoint: dict[str, str] = {}

    def local(expr: sp.Expr, **names: str) -> str | None:
        table = {"z": registry.Z, "a": registry.A, "y": registry.Y, "t": registry.T}
        expr = with_steps(expr.xreplace({table[k]: sp.Symbol(v) for k, v in names.items()}))
        if expr.has(sp.Piecewise):
            return None
        return sp.sstr(expr)

    for step in derivation.steps:
        source = graph.nodes[step.source]
        if step.rule == "loss":
            text = local(step.local, y=source.inputs[0], t=source.inputs[1])
        elif step.rule == "fused":
            text = local(step.local, a=source.inputs[0], t=source.inputs[1], z=step.target)
        elif step.rule == "activation":
            factor = local(step.local, z=step.target, a=step.source)
            text = (
                None
                if factor is None
                else (adjoint[step.source] if factor == "1" else f"{_p(adjoint[step.source])} * {_p(factor)}")
            )
        elif step.rule == "softmax":
            g = _p(adjoint[step.source])
            text = f"{step.source} * ({g} - sum({g} * {step.source}))"
        elif step.rule == "dense_weight":
            text = f"{_p(adjoint[step.source])} @ {source.inputs[1]}.T"
        elif step.rule == "dense_bias":
            text = adjoint[step.source]
        elif step.rule == "dense_input":
            text = f"{source.inputs[0]}.T @ {_p(adjoint[step.source])}"
        else:
            return None
        if text is None:
            return None
        adjoint[step.target] = f"{adjoint[step.target]} + {text}" if step.accumulate else text
    return adjoint.get(target)


def _p(text: str) -> str:
    return text if re.fullmatch(r"[\w.]+", text) else f"({text})"
