"""Leaves of the graph: inputs, targets, parameters (they compute nothing)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Op

#: The dtypes of a graph spec's inputs: floating point, whole numbers that index a table
#: (``ids: {shape: [6], dtype: int, range: 50}``), and masks (``dtype: bool``).
DTYPES = ("float", "int", "bool")


@dataclass(frozen=True)
class Leaf(Op):
    """A leaf: ``role`` is 'input', 'target' or 'param'; an input may be discrete
    (``dtype`` 'int' with values in ``[0, classes)``, or 'bool')."""

    role: str = "input"
    dtype_name: str = "float"
    classes: int | None = None

    def dtype(self, inputs: list[str]) -> str:
        return self.dtype_name
