"""The reverse pass: from the graph to the adjoint of every node and parameter.

Like micrograd's ``backward()``: walk the nodes in reverse topological order and let each
node send its adjoint to its inputs.  What a step sends is recorded abstractly (a rule
name plus, for elementwise rules, the scalar SymPy factor), so that the NumPy emitter and
the LaTeX emitter render the very same derivation.

Work per layer is independent of its width: the symbolic parts are scalar formulas in the
generic element symbols of ``registry`` (``z``, ``a``, ``y``, ``t``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import sympy as sp

from . import registry
from .graph import Activation, Dense, Graph, Loss, Node, Softmax, lower, simplification_skipped
from .spec import Network

#: Largest product (in SymPy operations) that fusing an output activation with its loss tries to cancel.
FUSE_MAX_OPS = 40


@dataclass(frozen=True)
class Step:
    """One line of the backward pass: (a contribution to) the adjoint of ``target``.

    ``rule`` names the tensor rule: 'loss' (dE/dy), 'fused' (dE/dz of an output activation
    and the loss together), 'activation' (dE/dz = dE/da * f'), 'softmax', 'dense_weight',
    'dense_bias', 'dense_input'.  ``local`` is the elementwise factor for the first three,
    written in the symbols of ``registry`` (``Z``, ``A``, ``Y``/``T``); for 'loss' and 'fused'
    it includes the 1/n of a mean over outputs but not the 1/N mean over the batch.

    Graph specs add 'elementwise' (``local`` = d out / d input ``argument``, in the symbols
    ``graph.arg_symbol(i)`` and ``A`` for the output), 'matmul', 'transpose', 'sum' (``local``
    = the 1/n of a mean, else 1) and 'concat'.  Their 'loss' and 'fused' steps may come from a
    loss function inside the loss expression; the upstream adjoint of that node then multiplies.
    """

    target: str
    source: str
    rule: str
    local: sp.Expr | None = None
    accumulate: bool = False
    #: Which input of ``source`` the step differentiates (tensor ops of graph specs, where
    #: one node may be several inputs: ``W * W``, ``concat(x, x)``); None for the layer rules.
    argument: int | None = None


@cache
def softmax_cross_entropy_gradient() -> sp.Expr:
    """dE/dz of cross-entropy after softmax, derived by SymPy on a 3-vector: ``A - T``.

    The derivation gives ``y_j * sum(t) - t_j``; with targets that sum to one (one-hot or
    probability rows, as the spec requires) that is ``y_j - t_j``.
    """
    zs = sp.symbols("z1:4", real=True)
    ts = sp.symbols("t1:4", real=True)
    exps = [sp.exp(z) for z in zs]
    loss = -sum(t * sp.log(e / sum(exps)) for t, e in zip(ts, exps))
    grad = sp.diff(loss, zs[0])
    y0 = exps[0] / sum(exps)
    on_simplex = sp.simplify(grad.subs(ts[2], 1 - ts[0] - ts[1]) - (y0 - ts[0]))
    if on_simplex != 0:
        raise AssertionError(f"softmax cross-entropy gradient did not reduce to y - t: {on_simplex}")
    return registry.A - registry.T


class Derivation:
    """Everything derived for one network: the graph and its backward steps."""

    def __init__(self, network: Network, graph: Graph | None = None):
        self.network = network
        self.graph = graph or lower(network)
        #: What was left unsimplified to keep the derivation bounded in time (one line each).
        self.notes: list[str] = []
        self.steps = self._reverse_pass()
        self.notes += self._simplification_notes()

    @property
    def name(self) -> str:
        return self.network.name

    def _reverse_pass(self) -> list[Step]:
        graph = self.graph
        steps: list[Step] = []
        done: set[str] = set()  # targets that already have an adjoint
        skip: set[str] = set()  # nodes whose backward a fused step already covered

        def send(target: str, source: str, rule: str, local: sp.Expr | None = None, argument: int | None = None):
            if target not in graph.needs_grad:
                return
            steps.append(Step(target, source, rule, local, accumulate=target in done, argument=argument))
            done.add(target)

        for node in reversed(list(graph.nodes.values())):
            if node.name in skip or node.op.role != "op" or node.name not in graph.needs_grad:
                continue
            op = node.op
            if isinstance(op, Loss):
                output = graph.nodes[node.inputs[0]]
                fused = self._fused_output(node, output)
                if fused is not None:
                    send(output.inputs[0], node.name, "fused", fused)
                    skip.add(output.name)
                else:
                    send(output.name, node.name, "loss", op.scale(math.prod(output.shape)) * op.derivative)
            elif isinstance(op, Activation):
                send(node.inputs[0], node.name, "activation", op.derivative)
            elif isinstance(op, Softmax):
                send(node.inputs[0], node.name, "softmax")
            elif isinstance(op, Dense):
                weight, data, *bias = node.inputs
                send(weight, node.name, "dense_weight")
                if bias:
                    send(bias[0], node.name, "dense_bias")
                send(data, node.name, "dense_input")
            elif hasattr(op, "adjoint_rules"):  # the tensor ops of graph specs
                for argument, rule, local in op.adjoint_rules():
                    send(node.inputs[argument], node.name, rule, local, argument)
            else:
                raise NotImplementedError(f"no adjoint rule for op {type(op).__name__} (node {node.name})")
        return steps

    def _fused_output(self, loss_node: Node, output: Node) -> sp.Expr | None:
        """dE/dz for an output activation whose only consumer is the loss, when the product
        of the two derivatives simplifies (sigmoid + binary cross-entropy gives ``a - t``,
        softmax + cross-entropy ``y - t``), or None."""
        if len(self.graph.consumers(output.name)) != 1:
            return None
        loss: Loss = loss_node.op
        if isinstance(output.op, Softmax):
            return softmax_cross_entropy_gradient() if loss.choice.name == "cross_entropy" else None
        if not isinstance(output.op, Activation):
            return None
        activation: Activation = output.op
        dloss = loss.derivative.xreplace({registry.Y: registry.A})
        product = loss.scale(math.prod(output.shape)) * dloss * activation.derivative
        if product.has(sp.Piecewise):
            return None
        # Fuse only when cancelling really shortens the product (BCE + sigmoid gives a - t);
        # otherwise the backward pass keeps the two chain-rule steps, dE/da and da/dz.
        # cancel/factor of a large product can run for minutes: bounded like graph.tidy.
        size = sp.count_ops(product)
        if size > FUSE_MAX_OPS:
            self.notes.append(
                f"{output.name}: the output activation and the loss are not fused: their product has {size} operations "
                f"(cancelled up to {FUSE_MAX_OPS})"
            )
            return None
        try:
            simplest = min([sp.cancel(product), sp.factor(product)], key=sp.count_ops)
        except (RecursionError, sp.PolynomialError):
            return None
        return simplest if sp.count_ops(simplest) < size else None

    def _simplification_notes(self) -> list[str]:
        """Formula derivatives that ``graph.tidy`` left as derived, and why."""
        notes = []
        for node in self.graph.nodes.values():
            op = node.op
            if isinstance(op, (Activation, Loss)) and op.choice.formula is not None and node.name in self.graph.needs_grad:
                reason = simplification_skipped(op.derived)
                if reason is not None:
                    what = "the loss formula" if isinstance(op, Loss) else op.choice.name
                    notes.append(f"{node.name}: the derivative of {what} is not simplified: {reason}")
        return notes

    @cached_property
    def scalar(self):
        """The per-weight view (``ScalarDerivation``); SymPropError above ``SCALAR_LIMIT`` parameters."""
        from .scalar import ScalarDerivation

        return ScalarDerivation(self)

    @property
    def has_scalar(self) -> bool:
        from .scalar import SCALAR_LIMIT

        return sum(sp.prod(n.shape) for n in self.graph.params()) <= SCALAR_LIMIT

    @cached_property
    def param_names(self) -> list[str]:
        return [n.name for n in self.graph.params()]

    def write_numpy(self, directory: str | Path) -> Path:
        """Write ``<name>.py`` into ``directory`` (created if needed); returns the path."""
        from .emit_numpy import write_module

        return write_module(self, Path(directory))

    def numpy_source(self) -> str:
        from .emit_numpy import module_source

        return module_source(self)

    def write_latex(self, directory: str | Path) -> Path:
        """Write the handout ``<name>.tex`` into ``directory`` (created if needed); returns the path."""
        from .emit_latex import write_latex

        return write_latex(self, Path(directory))

    def latex(self) -> str:
        """The handout as LaTeX source (a complete document)."""
        from .emit_latex import latex_source

        return latex_source(self)

    def _repr_latex_(self) -> str:
        from .emit_latex import repr_latex

        return repr_latex(self)

    def _repr_markdown_(self) -> str:
        from .emit_latex import repr_markdown

        return repr_markdown(self)


def derive(network: Network) -> Derivation:
    """Derive every gradient of ``network`` (a ``Network`` from ``load``/``from_dict``)."""
    return Derivation(network)
