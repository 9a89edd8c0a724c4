"""Leaves of the graph: inputs, targets and parameters (they compute nothing)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Op


@dataclass(frozen=True)
class Leaf(Op):
    role: str = "input"
