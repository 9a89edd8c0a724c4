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

import itertools
import math
from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from . import naming, registry
from .registry import derivative
from .spec import ActivationChoice, LossChoice, Network

#: Bound on the effort spent simplifying a derived elementwise derivative.
SIMPLIFY_MAX_OPS = 60
TRIG_SIMPLIFY_MAX_OPS = 20
_TRIGONOMETRIC = (sp.sin, sp.cos, sp.tan, sp.sinh, sp.cosh, sp.tanh)


def tidy(expr: sp.Expr) -> sp.Expr:
    """Bounded simplification: cheap steps always, ``simplify`` only where
    ``simplification_skipped`` finds no reason against it.  Any failure of ``simplify``
    leaves the unsimplified, correct expression."""
    candidates = [expr, sp.factor_terms(expr)]
    if simplification_skipped(expr) is None:
        try:
            candidates.append(sp.simplify(expr))
        except (RecursionError, ValueError, TypeError, NotImplementedError, sp.PolynomialError):
            pass
    return min(candidates, key=sp.count_ops)


def simplification_skipped(expr: sp.Expr) -> str | None:
    """Why ``tidy`` does not run ``simplify`` on ``expr``, or None.

    Its cost is unbounded: large expressions (trigonometric and hyperbolic ones sooner: 17 s
    at 39 operations), steps (the derivative of max/min: seconds, to make it longer) and
    piecewise conditions that are not polynomial (SymPy solves them as inequalities, which
    for ``exp(sigmoid(y)) > 1`` recurses without end) are left as derived."""
    limit = TRIG_SIMPLIFY_MAX_OPS if expr.has(*_TRIGONOMETRIC) else SIMPLIFY_MAX_OPS
    size = sp.count_ops(expr)
    if size > limit:
        return f"{size} operations (simplified up to {limit})"
    if expr.has(sp.Heaviside):
        return "it has a step (the derivative of max or min)"
    if not _polynomial_conditions(expr):
        return "a piecewise condition is not polynomial"
    return None


def _polynomial_conditions(expr: sp.Expr) -> bool:
    return all((r.lhs - r.rhs).is_polynomial() for r in expr.atoms(sp.core.relational.Relational))


@dataclass(frozen=True)
class Node:
    name: str
    op: Op
    inputs: tuple[str, ...] = ()
    shape: tuple[int, ...] = ()


class Op:
    """Base of all ops.  ``role`` tells leaves apart: 'input', 'target', 'param', or 'op'."""

    role = "op"

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
    def derivative(self) -> sp.Expr:
        """f'(z) as the backward pass computes it: in the output ``A`` where cheaper."""
        entry = self.choice.entry
        if entry is not None and entry.present is not None:
            return entry.derivative_in_output(self.choice.constants)
        return tidy(self.derived)

    @cached_property
    def derived(self) -> sp.Expr:
        """f'(z) as SymPy derives it, before simplification."""
        return derivative(self.apply(registry.Z), registry.Z)

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
        return tidy(self.derived)

    @cached_property
    def derived(self) -> sp.Expr:
        """d ell / d y as SymPy derives it, before simplification."""
        return derivative(self.elementwise, registry.Y)

    def scale(self, outputs: int) -> sp.Expr:
        """The factor in front of the sum over outputs: 1, or 1/n for a mean."""
        return sp.Rational(1, outputs) if self.choice.reduction == "mean" else sp.S.One

    def elements(self, node, args):
        ys, ts = args
        terms = [self.elementwise.xreplace({registry.Y: y, registry.T: t}) for y, t in zip(ys, ts)]
        return [self.scale(len(ys)) * sum(terms)]


# -- tensor ops of graph specs (symprop.tensor_spec) --------------------------------------
#
# Shapes are per sample, of rank 0, 1 or 2.  Each op lists its backward rules in
# ``adjoint_rules()``: (argument position, rule name, elementwise local factor or None); the
# Derivation records them as Steps and each emitter spells every rule once.


def arg_symbol(index: int) -> sp.Symbol:
    """The generic symbol of argument ``index`` of an elementwise op: ``u0``, ``u1``, ..."""
    return sp.Symbol(f"u{index}", real=True)


def element_indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every index of ``shape``, row-major (``[()]`` for a scalar)."""
    return list(itertools.product(*(range(n) for n in shape)))


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    """NumPy's broadcast of per-sample shapes (trailing axes aligned, size 1 stretches); None if they clash."""
    rank = max(len(s) for s in shapes)
    result = []
    for axis in range(rank):
        sizes = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0} - {1}
        if len(sizes) > 1:
            return None
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def _broadcast_flat(index: tuple[int, ...], shape: tuple[int, ...]) -> int:
    """The flat position in an array of ``shape`` that output element ``index`` reads under broadcasting."""
    own = index[len(index) - len(shape) :] if shape else ()
    flat = 0
    for i, n in zip(own, shape):
        flat = flat * n + (i if n > 1 else 0)
    return flat


@dataclass(frozen=True)
class Elementwise(Op):
    """An elementwise formula of its inputs, in ``u0, u1, ...``, with NumPy broadcasting:
    ``u0 + u1``, ``u0*u1``, ``1 - u0``, ``u0**2``, ``exp(u0)``, ``u0/1000``...

    ``shapes`` are the inputs' per-sample shapes; ``label`` is the operation as written
    (``+``, ``*``, ``exp``), for presentation.  The local derivative for each input is derived
    by SymPy; where it contains the op itself (``exp``) it is written in the output ``A``.
    """

    expr: sp.Expr
    shapes: tuple[tuple[int, ...], ...]
    label: str = ""

    @property
    def arity(self) -> int:
        return len(self.shapes)

    @cached_property
    def derivatives(self) -> tuple[sp.Expr, ...]:
        result = []
        for index in range(self.arity):
            local = derivative(self.expr, arg_symbol(index))
            if isinstance(self.expr, sp.Function) and local.has(self.expr):
                local = local.xreplace({self.expr: registry.A})
            if not local.has(sp.Piecewise):
                local = tidy(local)
            result.append(local)
        return tuple(result)

    def adjoint_rules(self):
        return [(index, "elementwise", local) for index, local in enumerate(self.derivatives)]

    def elements(self, node, args):
        out = []
        for index in element_indices(node.shape):
            values = {arg_symbol(i): args[i][_broadcast_flat(index, shape)] for i, shape in enumerate(self.shapes)}
            out.append(self.expr.xreplace(values))
        return out


@dataclass(frozen=True)
class MatMul(Op):
    """``a @ b`` per sample, with NumPy's rules for vectors: (m,k)@(k,n) -> (m,n),
    (m,k)@(k,) -> (m,), (k,)@(k,n) -> (n,), (k,)@(k,) -> () (the dot product)."""

    left: tuple[int, ...]
    right: tuple[int, ...]

    @staticmethod
    def result_shape(left: tuple[int, ...], right: tuple[int, ...]) -> tuple[int, ...] | None:
        if not left or not right or len(left) > 2 or len(right) > 2 or left[-1] != right[0]:
            return None
        return left[:-1] + right[1:]

    def subscripts(self) -> tuple[str, str, str]:
        """Per-sample einsum letters (left, right, out): ``ij,jk->ik`` and its vector forms."""
        left = "ij" if len(self.left) == 2 else "j"
        right = "jk" if len(self.right) == 2 else "j"
        return left, right, left[:-1] + right[1:]

    def adjoint_rules(self):
        return [(0, "matmul", None), (1, "matmul", None)]

    def elements(self, node, args):
        left, right = args
        inner = self.left[-1]
        rows = self.left[0] if len(self.left) == 2 else 1
        cols = self.right[1] if len(self.right) == 2 else 1
        return [sum(left[i * inner + j] * right[j * cols + k] for j in range(inner)) for i in range(rows) for k in range(cols)]


@dataclass(frozen=True)
class Transpose(Op):
    """``a.T`` of a per-sample matrix."""

    def adjoint_rules(self):
        return [(0, "transpose", None)]

    def elements(self, node, args):
        cols, rows = node.shape  # the input is (rows, cols)
        return [args[0][j * cols + i] for i in range(cols) for j in range(rows)]


@dataclass(frozen=True)
class Reduce(Op):
    """``sum(a)`` / ``mean(a)`` over the whole per-sample tensor (``axis`` None) or one axis."""

    shape_in: tuple[int, ...]
    axis: int | None = None
    mean: bool = False

    @property
    def count(self) -> int:
        return math.prod(self.shape_in) if self.axis is None else self.shape_in[self.axis]

    @property
    def scale(self) -> sp.Expr:
        return sp.Rational(1, self.count) if self.mean else sp.S.One

    def adjoint_rules(self):
        return [(0, "sum", self.scale)]

    def elements(self, node, args):
        flat = dict(zip(element_indices(self.shape_in), args[0]))
        if self.axis is None:
            return [self.scale * sum(args[0])]
        out = []
        for index in element_indices(node.shape):
            terms = [flat[index[: self.axis] + (k,) + index[self.axis :]] for k in range(self.shape_in[self.axis])]
            out.append(self.scale * sum(terms))
        return out


@dataclass(frozen=True)
class Concat(Op):
    """``concat(a, b, ...)`` of per-sample vectors."""

    sizes: tuple[int, ...]

    def offset(self, argument: int) -> int:
        return sum(self.sizes[:argument])

    def adjoint_rules(self):
        return [(index, "concat", None) for index in range(len(self.sizes))]

    def elements(self, node, args):
        return [value for arg in args for value in arg]


@dataclass
class Graph:
    """Nodes in topological order (inputs first, the loss last)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    loss: str = "E"
    #: The node forward() returns (graph specs); None: the loss's first input (layer stacks).
    output: str | None = None
    #: Whether the per-weight view also sends adjoints to the inputs (dE/dx, as the
    #: computational-graph tutorials show them); the NumPy code never computes them.
    input_adjoints: bool = False
    #: Array names that differ from ``naming.array_name`` (a graph spec's node ``t`` is ``T_``,
    #: since ``T`` holds the targets); the adjoint is ``d`` + the array name.
    array_names: dict[str, str] = field(default_factory=dict)

    def add(self, node: Node) -> Node:
        self.nodes[node.name] = node
        return node

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes.values() if name in n.inputs]

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


def lower(network: Network) -> Graph:
    """The layer stack as a graph: x -> z1 -> a1 -> ... -> aL, t -> E.

    A graph spec (``symprop.tensor_spec.GraphNetwork``) builds its own graph of the same ops.
    """
    to_graph = getattr(network, "to_graph", None)
    if to_graph is not None:
        return to_graph()
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
