"""The constants of the registry activations and losses a network uses (leaky_relu's ``alpha``,
Huber's ``delta``), by name: the handout writes them so, and a claim copied from it reads them
back (``claims.ClaimNames``, ``tensor_values``)."""

from __future__ import annotations

import sympy as sp


def entry_constants(derivation) -> dict[str, sp.Expr]:
    """The constants of the registry activations and loss the network uses, by name, with the
    values the network gives them (leaky_relu's ``alpha``: 1/10, Huber's ``delta``): the handout
    writes them so (``\\mathrm{alpha} z``), and a claim copied from it reads them back.  A name
    with two values in one network (two leaky_relu layers, alpha 0.1 and 0.2) is left out, as is one
    that a spec constant or a node already has."""
    return {name: values[0] for name, values in entry_constant_values(derivation).items() if len(values) == 1}


def entry_constant_values(derivation) -> dict[str, list[sp.Expr]]:
    """Every value each registry constant takes in the network (``entry_constants``), in order,
    names that a spec constant or a node has left out."""
    found: dict[str, list[sp.Expr]] = {}
    for node in derivation.graph.nodes.values():
        choice = getattr(node.op, "choice", None) if node.op.activation or node.op.loss_function else None
        if choice is None or choice.formula is not None or choice.entry is None:
            continue
        for (name, _), value in zip(choice.entry.constants, choice.constants):
            if value not in found.setdefault(name, []):
                found[name].append(value)
    taken = set(getattr(derivation.network, "constants", None) or {}) | set(derivation.graph.nodes)
    return {name: values for name, values in found.items() if name not in taken}
