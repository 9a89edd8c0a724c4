"""What ``--wrt`` can name, in words: the hints of the refusals of the scalar and the tensor
verifier, kept in one place so both name a network's parameters and elements alike."""

from __future__ import annotations

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
    element = naming.element_name(shown, (0, 0))
    return f"parameters: {', '.join(params)} (elements like {element} are 1-based, {shown}[0,0] is 0-based)"


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
