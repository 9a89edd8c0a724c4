"""The graph: named intermediate tensors, each produced by an op with its own rules.

Every op knows three things about itself, the way micrograd's ``Value`` ops and Tangent's
adjoint templates do: how to compute its output (NumPy code on batched arrays), how to
send an adjoint back to each input (a fixed tensor rule for linear ops; a SymPy-derived
derivative for elementwise ones), and what each output element is as a scalar SymPy
expression (for the per-weight expansion of small networks and the proofs).

Shapes are per sample: a vector node has shape ``(n,)``, the loss ``()``; parameters have
their full shape.  Batched arrays in the generated code have a leading batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from . import naming, registry
from .spec import ActivationChoice, LossChoice, Network

#: Bound on the effort spent simplifying a derived elementwise derivative.
SIMPLIFY_MAX_OPS = 60


def tidy(expr: sp.Expr) -> sp.Expr:
    """Bounded simplification: cheap steps always, ``simplify`` only on small expressions."""
    candidates = [expr, sp.factor_terms(expr)]
    if sp.count_ops(expr) <= SIMPLIFY_MAX_OPS:
        candidates.append(sp.simplify(expr))
    return min(candidates, key=sp.count_ops)


@dataclass(frozen=True)
class Node:
    name: str
    op: Op
    inputs: tuple[str, ...] = ()
    shape: tuple[int, ...] = ()


class Op:
    """Base of all ops.  ``role`` tells leaves apart: 'input', 'target', 'param', or 'op'."""

    role = "op"
    latex_name = ""

    def elements(self, node: Node, args: list[list[sp.Expr]]) -> list[sp.Expr]:
        """The node's elements (flattened, row-major) as scalar expressions of its inputs'."""
        raise NotImplementedError


@dataclass(frozen=True)
class Leaf(Op):
    role: str = "input"


@dataclass(frozen=True)
class Dense(Op):
    """``z = W a + b`` per sample; batched: ``Z = A @ W.T + b``."""

    def elements(self, node, args):
        weights, inputs = args[0], args[1]
        rows, cols = node.shape[0], len(inputs)
        bias = args[2] if len(args) > 2 else [0] * rows
        return [sum(weights[j * cols + k] * inputs[k] for k in range(cols)) + bias[j] for j in range(rows)]


@dataclass(frozen=True)
class Activation(Op):
    """An elementwise ``a = f(z)``: a registry activation or a formula in ``z``."""

    choice: ActivationChoice

    @property
    def name(self) -> str:
        return self.choice.name

    def apply(self, z: sp.Expr) -> sp.Expr:
        if self.choice.formula is not None:
            return self.choice.formula.subs(registry.Z, z)
        return self.choice.entry.apply(z, self.choice.constants)

    def definition(self) -> sp.Expr:
        """f(z) written out in elementary functions (what SymPy differentiates)."""
        if self.choice.formula is not None:
            return self.choice.formula
        return self.choice.entry.definition_at(registry.Z, self.choice.constants)

    @cached_property
    def derived(self) -> sp.Expr:
        """f'(z) exactly as SymPy derives it from the definition, before any rewriting."""
        return sp.diff(self.definition(), registry.Z)

    @cached_property
    def derivative(self) -> sp.Expr:
        """f'(z) as the backward pass computes it: in the output ``A`` where cheaper."""
        entry = self.choice.entry
        if entry is not None and entry.present is not None:
            return entry.derivative_in_output(self.choice.constants)
        return tidy(sp.diff(self.apply(registry.Z), registry.Z))

    @property
    def is_identity(self) -> bool:
        return self.choice.name == "identity"

    def elements(self, node, args):
        return [self.apply(z) for z in args[0]]


@dataclass(frozen=True)
class Softmax(Op):
    """``y_i = exp(z_i) / sum_k exp(z_k)`` over one sample's vector."""

    def elements(self, node, args):
        exps = [sp.exp(z) for z in args[0]]
        total = sum(exps)
        return [e / total for e in exps]


@dataclass(frozen=True)
class Loss(Op):
    """The per-sample loss ``E`` of output ``y`` and target ``t``; the batch loss is its mean."""

    choice: LossChoice

    @property
    def elementwise(self) -> sp.Expr:
        return self.choice.elementwise()

    @cached_property
    def derivative(self) -> sp.Expr:
        """d ell / d y for one output, as SymPy derives it (before the 1/n of a mean)."""
        return tidy(sp.diff(self.elementwise, registry.Y))

    def scale(self, outputs: int) -> sp.Expr:
        """The factor in front of the sum over outputs: 1, or 1/n for a mean."""
        return sp.Rational(1, outputs) if self.choice.reduction == "mean" else sp.S.One

    def elements(self, node, args):
        ys, ts = args
        terms = [self.elementwise.xreplace({registry.Y: y, registry.T: t}) for y, t in zip(ys, ts)]
        return [self.scale(len(ys)) * sum(terms)]


@dataclass
class Graph:
    """Nodes in topological order (inputs first, the loss last)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    loss: str = "E"

    def add(self, node: Node) -> Node:
        self.nodes[node.name] = node
        return node

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes.values() if name in n.inputs]

    def role(self, name: str) -> str:
        return self.nodes[name].op.role

    @cached_property
    def needs_grad(self) -> set[str]:
        """Nodes whose adjoint is needed: those that depend on a parameter."""
        needed: set[str] = set()
        for node in self.nodes.values():
            if node.op.role == "param" or any(i in needed for i in node.inputs):
                needed.add(node.name)
        return needed

    def params(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.op.role == "param"]

    def leaves(self, role: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.op.role == role]

    def array(self, name: str) -> str:
        return naming.array_name(name, self.role(name) == "param")

    def grad(self, name: str) -> str:
        return naming.grad_name(name, self.role(name) == "param")


def lower(network: Network) -> Graph:
    """The layer stack as a graph: x -> z1 -> a1 -> ... -> aL, t -> E."""
    graph = Graph()
    graph.add(Node("x", Leaf("input"), shape=(network.inputs,)))
    previous = "x"
    for index, layer in enumerate(network.layers, start=1):
        fan_in = graph.nodes[previous].shape[0]
        weight = graph.add(Node(f"W{index}", Leaf("param"), shape=(layer.units, fan_in)))
        inputs = [weight.name, previous]
        if layer.bias:
            inputs.append(graph.add(Node(f"b{index}", Leaf("param"), shape=(layer.units,))).name)
        graph.add(Node(f"z{index}", Dense(), tuple(inputs), (layer.units,)))
        op = Softmax() if layer.activation.name in registry.VECTOR_ACTIVATIONS else Activation(layer.activation)
        previous = graph.add(Node(f"a{index}", op, (f"z{index}",), (layer.units,))).name
    graph.add(Node("t", Leaf("target"), shape=(network.outputs,)))
    graph.add(Node("E", Loss(network.loss), (previous, "t"), ()))
    return graph
