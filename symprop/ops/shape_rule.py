"""What an op's shape rule is given, a call of the graph-spec language (``Call``, its ``Arg``s),
and the checks rules share: the count of tensors and constants, whole numbers, ``axis=`` values.
A rule refuses its arguments with ``ShapeRuleError`` (one phrase); the spec reader adds the
node and the column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp


class ShapeRuleError(ValueError):
    """Arguments an op's shape rule refuses; the spec reader adds the node and the column."""


@dataclass(frozen=True)
class Arg:
    """One positional argument of a call in a graph spec: a tensor (its per-sample ``shape``,
    its ``dtype``: 'float', 'int' for indices, 'bool' for a mask, and whether it is
    ``batched``: varies by sample) or a constant ``value`` (a SymPy number, a string such as
    einsum's subscripts, or a tuple of whole numbers)."""

    text: str
    shape: tuple[int, ...] | None = None
    value: Any = None
    dtype: str = "float"
    #: Whether a tensor varies by sample (has the batch axis in the module).
    batched: bool = False

    @property
    def is_tensor(self) -> bool:
        return self.shape is not None


@dataclass(frozen=True)
class Call:
    """A call ``function(args, **keywords)`` of a graph spec, as an op's shape rule sees it.
    The node's inputs are the tensor arguments, in order."""

    function: str
    args: tuple[Arg, ...]
    keywords: dict

    @property
    def tensors(self) -> list[Arg]:
        return [a for a in self.args if a.is_tensor]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [a.shape for a in self.tensors]

    def check(self, count: int | None = None, allowed: tuple[str, ...] = (), values: int = 0) -> None:
        """The common part of a shape rule: ``count`` tensors (any number for None), at most
        ``values`` constant arguments after them, and only the keywords ``allowed``."""
        tensors = self.tensors
        constants = [a for a in self.args if not a.is_tensor]
        if count is not None and len(tensors) != count:
            got = str(len(tensors))
            if constants:
                got += f" (and {len(constants)} constant{'s' if len(constants) > 1 else ''})"
            raise ShapeRuleError(f"takes {count} tensor argument{'s' if count > 1 else ''}, got {got}")
        if len(constants) > values:
            if not values:
                raise ShapeRuleError(f"{constants[0].text} must be a tensor")
            raise ShapeRuleError(f"takes at most {values} constant argument(s)")
        unknown = sorted(set(self.keywords) - set(allowed))
        if unknown:
            only = f" (only {', '.join(k + '=' for k in allowed)})" if allowed else ""
            raise ShapeRuleError(f"unexpected keyword {unknown[0]}={only}")

    def constant(self, position: int, keyword: str, default: Any = None) -> Any:
        """A constant given at ``position`` among the constant arguments, or as ``keyword=``."""
        constants = [a.value for a in self.args if not a.is_tensor]
        if position < len(constants):
            if keyword in self.keywords:
                raise ShapeRuleError(f"{keyword} is given twice")
            return constants[position]
        return self.keywords.get(keyword, default)


def whole_number(value: Any, what: str, low: int | None = None) -> int:
    """``value`` as a Python int (a SymPy or Python whole number), else ShapeRuleError."""
    if isinstance(value, bool) or not isinstance(value, (int, sp.Integer)):
        raise ShapeRuleError(f"{what} must be a whole number, got {_shown(value)}")
    number = int(value)
    if low is not None and number < low:
        raise ShapeRuleError(f"{what} must be at least {low}, got {number}")
    return number


def axis_list(value: Any, rank: int, what: str = "axis") -> tuple[int, ...]:
    """An ``axis=`` value (a whole number or a tuple of them, negative from the end) as sorted
    non-negative axes of a per-sample tensor of ``rank``; ShapeRuleError when out of range."""
    items = value if isinstance(value, tuple) else (value,)
    axes = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, sp.Integer)):
            raise ShapeRuleError(f"{what} must be a whole number or a tuple of them, got {_shown(value)}")
        if not -rank <= int(item) < rank:
            raise ShapeRuleError(f"{what} {int(item)} is out of range for a tensor of rank {rank} (per sample)")
        axes.append(int(item) % rank)
    if len(set(axes)) != len(axes):
        raise ShapeRuleError(f"{what} {_shown(value)} repeats an axis")
    return tuple(sorted(axes))


def _shown(value: Any) -> str:
    if isinstance(value, sp.Rational) and not value.is_Integer:
        return repr(float(value))
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value) if isinstance(value, str) else str(value)
