"""The values of an exact claim and the operations on them: numbers (SymPy expressions) and
2-D SymPy matrices (vectors are columns), with NumPy's broadcasting of size-1 axes; a
``ShapeError`` where shapes do not fit.  Read by ``claims.ClaimReader``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy as sp

from .. import spec_reader
from ..formula import FormulaError

Value = Any  # a scalar sp.Expr or an sp.ImmutableMatrix (always 2-D)


class ShapeError(Exception):
    """An operation on arrays whose shapes do not fit (a mathematical, not a syntax, mistake).

    ``located``: the message names where in the claim; the operation that failed adds its
    column (``at``), the operations around it pass the error on as it is."""

    def __init__(self, message: str, located: bool = False):
        super().__init__(message)
        self.located = located

    def at(self, where: str) -> ShapeError:
        """This error with ``where`` (its column) appended, unless it already names one."""
        return self if self.located else ShapeError(f"{self} {where}", located=True)


# -- array helpers -------------------------------------------------------------------------


def is_array(value: Value) -> bool:
    return isinstance(value, sp.MatrixBase)


def shape_of(value: Value) -> tuple[int, ...]:
    return tuple(value.shape) if is_array(value) else ()


def describe_shape(value_or_shape) -> str:
    shape = value_or_shape if isinstance(value_or_shape, tuple) else shape_of(value_or_shape)
    if not shape:
        return "a number"
    rows, cols = shape
    if cols == 1:
        return f"a column of {rows} ({rows}x1)"
    if rows == 1:
        return f"a row of {cols} (1x{cols})"
    return f"a {rows}x{cols} matrix"


def broadcast(op: Callable, symbol: str) -> Callable[[Value, Value], Value]:
    """``op`` elementwise on numbers and arrays, with NumPy's broadcasting of size-1 axes."""

    def apply(left: Value, right: Value) -> Value:
        if not is_array(left) and not is_array(right):
            return op(left, right)
        if not is_array(left):
            return right.applyfunc(lambda r: op(left, r))
        if not is_array(right):
            return left.applyfunc(lambda v: op(v, right))
        (r1, c1), (r2, c2) = left.shape, right.shape
        rows = _fit(r1, r2)
        cols = _fit(c1, c2)
        if rows is None or cols is None:
            raise ShapeError(f"'{symbol}' of {describe_shape(left)} and {describe_shape(right)}: shapes do not fit")
        return sp.ImmutableMatrix(
            rows,
            cols,
            lambda i, j: op(left[i if r1 > 1 else 0, j if c1 > 1 else 0], right[i if r2 > 1 else 0, j if c2 > 1 else 0]),
        )

    return apply


def _fit(a: int, b: int) -> int | None:
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    return None


def matmul(left: Value, right: Value) -> Value:
    if not is_array(left) or not is_array(right):
        raise FormulaError("'@' multiplies two arrays; use '*' with a number")
    if left.shape[1] != right.shape[0]:
        raise ShapeError(f"'@' of {describe_shape(left)} and {describe_shape(right)}: inner sizes differ")
    return sp.ImmutableMatrix(left @ right)


def transpose(value: Value) -> Value:
    return sp.ImmutableMatrix(value.T) if is_array(value) else value


def elementwise(function: Callable[..., sp.Expr]) -> Callable[..., Value]:
    """A scalar function applied to each element when its first argument is an array."""

    def apply(first, *rest):
        if any(is_array(r) for r in rest):
            raise ValueError("only the first argument may be an array")
        if is_array(first):
            return first.applyfunc(lambda e: function(e, *rest))
        return function(first, *rest)

    return apply


def _softmax(value: Value) -> Value:
    if not is_array(value) or 1 not in value.shape:
        raise ValueError("softmax takes a vector")
    exps = [sp.exp(e) for e in value]
    total = sp.Add(*exps)
    return sp.ImmutableMatrix(value.shape[0], value.shape[1], [e / total for e in exps])


def _sum(value: Value) -> Value:
    return sp.Add(*value) if is_array(value) else value


def _diag(value: Value) -> Value:
    if not is_array(value) or 1 not in value.shape:
        raise ValueError("diag takes a vector")
    return sp.ImmutableMatrix(sp.diag(*value))


def _outer(left: Value, right: Value) -> Value:
    if not (is_array(left) and is_array(right) and 1 in left.shape and 1 in right.shape):
        raise ValueError("outer takes two vectors")
    return sp.ImmutableMatrix(len(left), len(right), lambda i, j: left[i] * right[j])


def _step(z: sp.Expr) -> sp.Expr:
    return sp.Piecewise((1, z > 0), (0, True))


#: The functions of spec formulas, plus ``ln`` and ``step`` that hand derivations use.
MATH_FUNCTIONS: dict[str, Callable[..., sp.Expr]] = {
    **spec_reader.MATH_FUNCTIONS,
    "ln": sp.log,
    "step": _step,
    "heaviside": _step,
    "sech": lambda z: 1 / sp.cosh(z),
}

ARRAY_FUNCTIONS: dict[str, Callable[..., Value]] = {
    "softmax": _softmax,
    "sum": _sum,
    "diag": _diag,
    "outer": _outer,
}
