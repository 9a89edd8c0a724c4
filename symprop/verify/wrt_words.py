"""What ``--wrt`` can name, in words: the hints of the refusals of the scalar and the tensor
verifier, kept in one place so both name a network's parameters and elements alike."""

from __future__ import annotations

import re

from .. import naming


def choose(derivation) -> str:
    """The nodes a gradient can be checked by."""
    return f"choose a parameter ({', '.join(derivation.param_names)}) or an intermediate node"


def wrt_hint(derivation) -> str:
    """The parameters, and their elements' spellings shown on this network's own first matrix
    (a 1-layer net has no W2)."""
    params = derivation.param_names
    shown = next((p for p in params if len(derivation.graph.nodes[p].shape) == 2), None)
    if shown is None:
        return f"parameters: {', '.join(params)}"
    return f"parameters: {', '.join(params)} ({naming.one_based_hint(shown, (0, 0))})"


def no_gradient(graph, node: str, it: str = "it") -> str:
    """Why ``--wrt node`` has no gradient to check, in words: "E does not depend on it through a
    parameter" read as a mistake for an input, on which E plainly depends."""
    role = graph.role(node)
    if node == graph.loss:
        return f"{node} is the loss itself"
    if role == "input":
        kind = {"int": "an integer input", "bool": "a mask"}.get(graph.dtypes.get(node), "an input")
        return f"{node} is {kind}: the backward pass computes no gradient for it"
    if role == "target":
        return f"{node} is a target: the backward pass computes no gradient for it"
    return f"{graph.loss} does not depend on {it} through a parameter: the backward pass computes no dE/d{node}"


def missing_bias(derivation, name: str) -> str | None:
    """Why a layer stack's bias ``b2`` or ``b2_1`` that is not there is not (``bias: false``),
    or None: "did you mean 'z1_1'?" for ``b1_1`` sent a new user the wrong way."""
    layers = getattr(derivation.network, "layers", None)
    match = re.fullmatch(r"b(\d+)(?:_\d+)?", name)
    if not layers or not match or name in derivation.param_names:
        return None
    if not any(layer.bias for layer in layers):
        return "this network has no biases (its layers say bias: false)"
    index = int(match.group(1))
    if 1 <= index <= len(layers) and not layers[index - 1].bias:
        return f"layer {index} has no bias (bias: false)"
    return None


def layer_letter(derivation, name: str) -> str | None:
    """Why ``a_1`` (``z``, ``a``, with no layer number) is not a name of a stack of several
    layers: which layer it would be is not said (on one layer it is, ``ClaimNames``)."""
    layers = getattr(derivation.network, "layers", None)
    match = re.fullmatch(r"([az])(_\d+)?", name)
    if not layers or len(layers) < 2 or not match:
        return None
    letter, index = match.group(1), match.group(2) or ""
    spelled = " or ".join(f"{letter}{k}{index}" for k in range(1, len(layers) + 1))
    return f"{name!r} does not say which layer: this network has {len(layers)}, write {spelled}"
