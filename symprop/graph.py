"""The graph: named intermediate tensors in topological order, each produced by an op.

This module is the container only; everything about an op (its shape, elements, adjoint
rules and spellings) lives in ``symprop.ops``.  Shapes are per sample: a vector node has
shape ``(n,)``, the loss ``()``; parameters have their full shape.  Batched arrays in the
generated code have a leading batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from . import naming
from .ops import Node


@dataclass
class Graph:
    """Nodes in topological order (inputs first, the loss last)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    loss: str = "E"
    #: The node forward() returns (a layer stack: its last activation).
    output: str | None = None
    #: Whether the per-weight view also sends adjoints to the inputs (dE/dx, as the
    #: computational-graph tutorials show them); the NumPy code never computes them.
    input_adjoints: bool = False
    #: Array names that differ from ``naming.array_name`` (a graph spec's node ``t`` is ``T_``,
    #: since ``T`` holds the targets); the adjoint is ``d`` + the array name.
    array_names: dict[str, str] = field(default_factory=dict)

    def add(self, node: Node) -> Node:
        self.nodes[node.name] = node
        self.__dict__.pop("_consumer_index", None)  # made again when next asked for
        return node

    def consumers(self, name: str) -> list[Node]:
        """The nodes that read ``name``, in graph order."""
        return list(self._consumer_index.get(name, ()))

    @cached_property
    def _consumer_index(self) -> dict[str, list[Node]]:
        """Node -> the nodes that read it: one pass over the graph, not one a question (the
        emitters ask for every node's consumers: that was quadratic in an unrolled network)."""
        index: dict[str, list[Node]] = {}
        for node in self.nodes.values():
            for name in dict.fromkeys(node.inputs):
                index.setdefault(name, []).append(node)
        return index

    def role(self, name: str) -> str:
        return self.nodes[name].op.role

    def downstream_of(self, *roles: str) -> set[str]:
        """The leaves of the given roles and every node computed from them."""
        found: set[str] = set()
        for node in self.nodes.values():
            if node.op.role in roles or any(i in found for i in node.inputs):
                found.add(node.name)
        return found

    @cached_property
    def needs_grad(self) -> set[str]:
        """Nodes whose adjoint is needed: those that depend on a parameter."""
        return self.downstream_of("param")

    @cached_property
    def batched(self) -> set[str]:
        """Nodes that vary from sample to sample: inputs, targets and what depends on them.
        Their arrays carry a leading batch axis; the others (parameters and what is computed
        from parameters alone) do not."""
        return self.downstream_of("input", "target")

    @cached_property
    def dtypes(self) -> dict[str, str]:
        """Every node's dtype: 'float', or 'int' / 'bool' for indices and masks (no gradient)."""
        found: dict[str, str] = {}
        for node in self.nodes.values():
            found[node.name] = node.op.dtype([found[i] for i in node.inputs])
        return found

    def params(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.op.role == "param"]

    def leaves(self, role: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.op.role == role]

    def array(self, name: str) -> str:
        if name in self.array_names:
            return self.array_names[name]
        return naming.array_name(name, self.role(name) == "param")

    def grad(self, name: str) -> str:
        if name in self.array_names:
            return "d" + self.array_names[name]
        return naming.grad_name(name, self.role(name) == "param")

    def node_of_grad(self, grad: str) -> str | None:
        """The node whose adjoint array is named ``grad`` (``grad``'s inverse), if any."""
        return self._grad_names.get(grad)

    @cached_property
    def _grad_names(self) -> dict[str, str]:
        return {self.grad(name): name for name in self.nodes}
