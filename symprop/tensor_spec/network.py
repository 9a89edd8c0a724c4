"""The result of reading a graph spec: ``GraphNetwork`` (and its worked example)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from ..graph import Graph
from ..ops import (
    Node,
)
from ..spec import ParamInit, flatten

# -- the result ------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphExample:
    """Concrete numbers for a worked example: one sample of every input and target, and
    every parameter (nested lists as in the spec)."""

    inputs: dict[str, Any]
    targets: dict[str, Any]
    params: dict[str, Any]
    learning_rate: float | None = None

    @property
    def x(self) -> tuple[float, ...]:
        """The single input, flattened (as ``Example.x`` of a layer stack)."""
        return _single(self.inputs, "input")

    @property
    def t(self) -> tuple[float, ...]:
        return _single(self.targets, "target")


def _single(values: dict[str, Any], what: str) -> tuple[float, ...]:
    if len(values) != 1:
        raise AttributeError(f"the example has {len(values)} {what}s; use .{what}s[name]")
    return tuple(flatten(next(iter(values.values()))))


@dataclass(frozen=True, eq=False)
class GraphNetwork:
    """A validated graph spec; ``to_graph()`` gives the graph the Derivation works on.

    ``inputs``, ``targets`` and ``params`` map names to per-sample shapes (parameters: their
    full shape); ``nodes`` maps each declared node to its expression as understood (one line,
    normalised); ``output`` is the node ``forward()`` returns.
    """

    name: str
    inputs: dict[str, tuple[int, ...]]
    targets: dict[str, tuple[int, ...]]
    params: dict[str, tuple[int, ...]]
    nodes: dict[str, str]
    loss_text: str
    output: str
    constants: dict[str, sp.Expr] = field(default_factory=dict)
    functions: dict[str, sp.Expr] = field(default_factory=dict)
    #: each function with the spec's constants by name, as the handout writes it (``spec.Network``'s)
    function_forms: dict[str, sp.Expr] = field(default_factory=dict)
    example: GraphExample | None = None
    source: str = "<python>"
    graph_nodes: tuple[Node, ...] = ()
    loss_node: str = "E"
    array_names: dict[str, str] = field(default_factory=dict)
    param_inits: dict[str, ParamInit] = field(default_factory=dict)
    #: The step k of each name of a repeated entry (``h{k}: {for: k in 2..10, ...}``, inputs
    #: ``x{k}`` too), and of the nodes written out for the steps before (``h1``): the handout
    #: lays an unrolled network out step by step and shows the first and last steps of a long one.
    steps: dict[str, int] = field(default_factory=dict)
    #: The nodes the reader made for parts of a written expression (``p_b``, lettered after the
    #: node they belong to) and the spec's text of each (``where(tril(8), s, -1e9)``): the
    #: verifier writes a correct answer in the spec's names, not in these.
    parts: dict[str, str] = field(default_factory=dict)

    kind = "graph"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self.params)

    def to_graph(self) -> Graph:
        """A fresh ``Graph`` of this spec (the nodes are immutable; the graph caches)."""
        nodes = {n.name: n for n in self.graph_nodes}
        return Graph(nodes, self.loss_node, output=self.output, input_adjoints=True, array_names=dict(self.array_names))

    @property
    def summary(self) -> str:
        def shapes(table):  # of many (x1 ... x1000 of a repeated entry): the first and the last ones
            items = [f"{n} {_shape_text(s)}" for n, s in table.items()]
            if len(items) > SUMMARY_MAX_NAMES:
                items = [*items[:3], f"... ({len(items) - 5} more)", *items[-2:]]
            return ", ".join(items) or "none"

        ops = sum(1 for n in self.graph_nodes if n.op.role == "op")
        if not self.targets:  # cs231n's neuron: f is differentiated, not minimised against a target
            return (
                f"graph of {ops} ops; inputs {shapes(self.inputs)}; no targets; parameters {shapes(self.params)}; "
                f"differentiated: {self.loss_text} (an output, not a loss against targets), averaged over the batch"
            )
        return (
            f"graph of {ops} ops; inputs {shapes(self.inputs)}; targets {shapes(self.targets)}; "
            f"parameters {shapes(self.params)}; loss {self.loss_text}, averaged over the batch"
        )


#: A summary lists at most this many inputs, targets or parameters of each kind.
SUMMARY_MAX_NAMES = 24


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(scalar)" if not shape else "(" + " x ".join(map(str, shape)) + ")"


