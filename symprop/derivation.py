"""The reverse pass: from the graph to the adjoint of every node and parameter.

Like micrograd's ``backward()``: walk the nodes in reverse topological order and let each
node's op send its adjoint to its inputs (``Op.adjoint_rules``; a loss fused with its output
activation first, ``Op.fused_adjoint``).  What a step sends is recorded abstractly (the op's
rule label plus, for elementwise rules, the scalar SymPy factor), so that the NumPy emitter
and the LaTeX emitter render the very same derivation through the same op.

Work per layer is independent of its width: the symbolic parts are scalar formulas in the
generic element symbols of ``registry`` (``z``, ``a``, ``y``, ``t``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .errors import SpecError
from .graph import Graph
from .ops import Adjoint
from .scalar import SCALAR_LIMIT, SCALAR_MAX_ELEMENTS, SCALAR_MAX_TERMS, ScalarDerivation, ScalarView
from .spec import Network


@dataclass(frozen=True)
class Step:
    """One line of the backward pass: (a contribution to) the adjoint of ``target``.

    ``rule`` is the label the op of ``source`` gave the step (``symprop.ops``: each op
    interprets its own labels when it spells the step in NumPy or LaTeX); ``local`` is its
    elementwise factor where it has one, in the generic symbols of ``registry`` (``Z``, ``A``,
    ``Y``, ``T``) or ``ops.arg_symbol(i)``; for a loss it includes the 1/n of a mean over
    outputs but not the 1/N mean over the batch.  ``argument`` is the input of ``source``
    the step differentiates (one node may be several inputs: ``W * W``, ``concat(x, x)``).
    """

    target: str
    source: str
    rule: str
    local: sp.Expr | None = None
    accumulate: bool = False
    argument: int | None = None


class Derivation:
    """Everything derived for one network: the graph and its backward steps."""

    def __init__(self, network: Network, graph: Graph | None = None):
        self.network = network
        self.graph = graph or network.to_graph()
        #: What was left unsimplified to keep the derivation bounded in time (one line each).
        self.notes: list[str] = []
        self.steps = self._reverse_pass()
        if getattr(network, "kind", "layers") == "graph" and self.flat():  # a stack's flat loss: spec_reader.FieldReader.loss
            raise SpecError(
                network.source,
                "loss",
                "every parameter's gradient is 0 wherever it is defined (the loss reaches them only through "
                "step, sign or another flat function), so training would change nothing; write a loss that changes "
                "with the parameters",
            )
        self.notes += [note for node in self.graph.nodes.values() if (note := node.op.simplification_note(node, self.graph))]

    @property
    def name(self) -> str:
        return self.network.name

    def flat(self) -> bool:
        """Whether no parameter gets a gradient: every path from the loss to one passes a step
        whose factor is 0 (``sum(step(y - t))``).  The steps run from the loss down."""
        reached = {self.graph.loss}
        for step in self.steps:
            if step.source in reached and not (step.local is not None and step.local == 0):
                reached.add(step.target)
        return not any(node.name in reached for node in self.graph.params())

    def _fusions(self) -> dict[str, Adjoint]:
        """The fusions of the graph, decided in one pass before the reverse pass: loss node ->
        the one adjoint that replaces its own and its output activation's (``a - t``).  The
        graph keeps both nodes, so the handout and the verifier can still show the two factors."""
        graph = self.graph
        fusions = {}
        for node in graph.nodes.values():
            if node.op.role == "op" and node.name in graph.needs_grad:
                fused = node.op.fused_adjoint(node, graph, self.notes)
                if fused is not None:
                    fusions[node.name] = fused
        return fusions

    def _reverse_pass(self) -> list[Step]:
        graph = self.graph
        steps: list[Step] = []
        done: set[str] = set()  # targets that already have an adjoint
        fusions = self._fusions()
        skip = {graph.nodes[name].inputs[0] for name in fusions}  # the activations a fusion covers

        def send(target: str, source: str, rule: str, local: sp.Expr | None = None, argument: int | None = None):
            if target not in graph.needs_grad:
                return
            steps.append(Step(target, source, rule, local, accumulate=target in done, argument=argument))
            done.add(target)

        for node in reversed(list(graph.nodes.values())):
            if node.name in skip or node.op.role != "op" or node.name not in graph.needs_grad:
                continue
            fused = fusions.get(node.name)
            if fused is not None:  # the output activation and the loss in one step
                output = graph.nodes[node.inputs[0]]
                send(output.inputs[0], node.name, fused.rule, fused.local, fused.argument)
                continue
            shapes = [graph.nodes[i].shape for i in node.inputs]
            for adjoint in node.op.adjoint_rules(node, shapes):
                send(node.inputs[adjoint.argument], node.name, adjoint.rule, adjoint.local, adjoint.argument)
        return steps

    @cached_property
    def scalar(self) -> ScalarDerivation:
        """The per-weight view; SymPropError above ``SCALAR_LIMIT`` parameters, above
        ``SCALAR_MAX_TERMS`` chain-rule terms, or with batch_norm."""
        return ScalarDerivation(self)

    @cached_property
    def param_count(self) -> int:
        return int(sum(sp.prod(n.shape) for n in self.graph.params()))

    @cached_property
    def element_count(self) -> int:
        """The elements of one sample's graph: every node's, inputs and parameters included."""
        return sum(math.prod(n.shape) for n in self.graph.nodes.values())

    @cached_property
    def elements(self) -> ScalarView:
        """The graph's elements for one sample (symbols and definitions, no limit), built once:
        the per-weight view, the scalar backend and ``chain_terms`` read the same one."""
        return ScalarView(self)

    @cached_property
    def chain_terms(self) -> int:
        """The chain-rule terms of the largest per-weight derivative (``ScalarView.chain_terms``)."""
        return self.elements.chain_terms

    @property
    def scalar_refusal(self) -> str | None:
        """Why there is no per-weight view (one phrase), or None."""
        if self.coupled_nodes:
            return f"{', '.join(self.coupled_nodes)} normalises over the batch"
        if self.param_count > SCALAR_LIMIT:
            return f"{self.param_count} parameters (at most {SCALAR_LIMIT})"
        if self.element_count > SCALAR_MAX_ELEMENTS:
            return f"{self.element_count:,} elements per sample (at most {SCALAR_MAX_ELEMENTS:,})"
        if self.chain_terms > SCALAR_MAX_TERMS:
            return f"a per-weight derivative of {self.chain_terms:,} chain-rule terms (at most {SCALAR_MAX_TERMS:,})"
        return None

    @cached_property
    def coupled_nodes(self) -> list[str]:
        """Nodes whose op couples the samples of a batch (batch_norm): one sample's loss then
        depends on its batch, and one sample's elements cannot say what the op does."""
        return [node.name for node in self.graph.nodes.values() if node.op.batch_coupled]

    @property
    def has_scalar(self) -> bool:
        """Whether the per-weight view exists: at most ``SCALAR_LIMIT`` parameters and
        ``SCALAR_MAX_TERMS`` chain-rule terms a derivative, no coupled node (``scalar_refusal``)."""
        return self.scalar_refusal is None

    @cached_property
    def param_names(self) -> list[str]:
        return [n.name for n in self.graph.params()]


def derive(network: Network) -> Derivation:
    """Derive every gradient of ``network`` (a ``Network`` from ``load``/``from_dict``)."""
    return Derivation(network)
