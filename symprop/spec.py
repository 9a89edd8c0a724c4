"""Layer stacks as data: a validated ``Network`` (its layers, loss, worked example) and the
choices it is made of, and the stack as a graph (``Network.to_graph``).  ``spec_reader``
validates a spec into one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from . import registry
from .graph import Graph
from .ops import Activation, Dense, Leaf, Loss, Node, Softmax


@dataclass(frozen=True)
class ActivationChoice:
    """A layer's activation: a registry entry with its constants, or a user formula in z."""

    name: str
    constants: tuple[sp.Expr, ...] = ()
    formula: sp.Expr | None = None  # in registry.Z, for user-defined functions

    @property
    def entry(self) -> registry.Activation | None:
        return registry.ACTIVATIONS.get(self.name)

    @property
    def keywords(self) -> list[str]:
        """The constants as a graph spec writes them: ``["alpha=0.1"]`` for leaky_relu."""
        entry = self.entry
        if entry is None:
            return []
        spelled = [repr(float(value)) if value.is_number else str(value) for value in self.constants]
        return [f"{name}={value}" for (name, _), value in zip(entry.constants, spelled)]


@dataclass(frozen=True)
class LossChoice:
    """The loss: a registry entry with its constants, or a user formula in y and t (summed)."""

    name: str
    constants: tuple[sp.Expr, ...] = ()
    formula: sp.Expr | None = None  # in registry.Y and registry.T
    #: the formula with the spec's constants by name (``c*(y - t)**2``, not ``(y - t)**2/2``), as
    #: ``Network.function_forms`` keeps an activation's: the handout writes it so beside their values
    form: sp.Expr | None = field(default=None, compare=False)

    @property
    def entry(self) -> registry.Loss | None:
        return registry.LOSSES.get(self.name)

    def elementwise(self) -> sp.Expr:
        return self.formula if self.formula is not None else self.entry.elementwise(self.constants)

    @property
    def reduction(self) -> str:
        return "sum" if self.formula is not None else self.entry.reduction


#: Initialisers of graph-spec parameters (``params: {W: {shape: [8, 4], init: normal, std: 0.1}}``)
#: -> the arguments each takes, with their defaults.  fan_in is the product of every axis but the
#: first (a matrix's columns; a vector's length).
INITS: dict[str, dict[str, float]] = {
    "zeros": {},
    "ones": {},
    "normal": {"mean": 0.0, "std": 1.0},  # N(mean, std^2)
    "uniform": {"low": 0.0, "high": 1.0},  # U(low, high)
    "fan_in_normal": {},  # N(0, 1/fan_in): LeCun, the default of matrices (as in layer stacks)
    "fan_in_uniform": {},  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)): what PyTorch's nn.Linear draws
}


@dataclass(frozen=True, eq=False)
class ParamInit:
    """How ``init_params`` draws one parameter: an ``INITS`` name and its arguments
    (``standard_normal_scalar``: the default of a scalar parameter)."""

    kind: str
    args: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Layer:
    units: int
    activation: ActivationChoice
    bias: bool = True


@dataclass(frozen=True)
class Example:
    """Concrete numbers for a worked example: one sample, its target, parameter values."""

    x: tuple[float, ...]
    t: tuple[float, ...]
    params: dict[str, list]
    learning_rate: float | None = None

    @property
    def inputs(self) -> dict[str, list[float]]:
        """The sample by input name, as ``GraphExample.inputs`` (the layer stack's input is x)."""
        return {"x": list(self.x)}

    @property
    def targets(self) -> dict[str, list[float]]:
        return {"t": list(self.t)}


@dataclass(frozen=True)
class Network:
    """A validated layer stack.  Parameters are W1, b1, W2, b2, ... by dense layer."""

    name: str
    inputs: int
    layers: tuple[Layer, ...]
    loss: LossChoice
    constants: dict[str, sp.Expr] = field(default_factory=dict)
    functions: dict[str, sp.Expr] = field(default_factory=dict)
    example: Example | None = None
    source: str = "<python>"
    #: each function with the spec's constants by name (``z / (1 + c*z**2)``, not ``z / (z**2/2 + 1)``):
    #: the handout writes it so beside the constants' values
    function_forms: dict[str, sp.Expr] = field(default_factory=dict)
    #: element name -> the name a tutorial gives it (the spec's ``tutorial_names``: ``symprop.aliases``)
    aliases: dict[str, str] = field(default_factory=dict)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes, fan_in = {}, self.inputs
        for index, layer in enumerate(self.layers, start=1):
            shapes[f"W{index}"] = (layer.units, fan_in)
            if layer.bias:
                shapes[f"b{index}"] = (layer.units,)
            fan_in = layer.units
        return shapes

    @property
    def outputs(self) -> int:
        return self.layers[-1].units

    @property
    def summary(self) -> str:
        """One line for the module docstring: ``2 -> 2 (sigmoid) -> 2 (sigmoid); loss half_sse``."""
        layers = [str(self.inputs)]
        for layer in self.layers:
            layers.append(f"{layer.units} ({layer.activation.name}{'' if layer.bias else ', no bias'})")
        loss = self.loss.name if self.loss.formula is None else f"formula {self.loss.formula}"
        return f"{' -> '.join(layers)}; loss {loss}, averaged over the batch"

    @property
    def nodes(self) -> dict[str, str]:
        """Each layer's two nodes and what they compute per sample, as a graph spec would write them."""
        nodes, previous = {}, "x"
        for index, layer in enumerate(self.layers, start=1):
            nodes[f"z{index}"] = f"W{index} @ {previous}" + (f" + b{index}" if layer.bias else "")
            nodes[f"a{index}"] = f"{layer.activation.name}({', '.join([f'z{index}', *layer.activation.keywords])})"
            previous = f"a{index}"
        return nodes

    @property
    def loss_text(self) -> str:
        output = f"a{len(self.layers)}"
        if self.loss.formula is None:
            return f"{self.loss.name}({output}, t)"
        return f"sum over the outputs of {self.loss.formula}, with y = {output}"

    @property
    def param_inits(self) -> dict[str, ParamInit]:
        """Weights drawn from N(0, 1/fan_in) (LeCun), biases zero."""
        return {name: ParamInit("fan_in_normal" if len(shape) == 2 else "zeros") for name, shape in self.param_shapes().items()}

    def to_graph(self) -> Graph:
        """The layer stack as a graph: x -> z1 -> a1 -> ... -> aL, t -> E."""
        graph = Graph()
        graph.add(Node("x", Leaf("input"), shape=(self.inputs,)))
        previous = "x"
        for index, layer in enumerate(self.layers, start=1):
            fan_in = graph.nodes[previous].shape[0]
            weight = graph.add(Node(f"W{index}", Leaf("param"), shape=(layer.units, fan_in)))
            inputs = [weight.name, previous]
            if layer.bias:
                inputs.append(graph.add(Node(f"b{index}", Leaf("param"), shape=(layer.units,))).name)
            graph.add(Node(f"z{index}", Dense(), tuple(inputs), (layer.units,)))
            op = Softmax() if layer.activation.name in registry.VECTOR_ACTIVATIONS else Activation(layer.activation)
            previous = graph.add(Node(f"a{index}", op, (f"z{index}",), (layer.units,))).name
        graph.add(Node("t", Leaf("target"), shape=(self.outputs,)))
        graph.add(Node("E", Loss(self.loss), (previous, "t"), ()))
        graph.output = previous
        return graph


def flatten(data: Any):
    """The numbers of a nested list (or tuple) of numbers, row-major."""
    if isinstance(data, (list, tuple)):
        for item in data:
            yield from flatten(item)
    else:
        yield data
