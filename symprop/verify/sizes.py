"""Other sizes of a network for the verifier: a claim that holds at the spec's sizes must hold at
two more (a transposed or a sized factor can agree by chance at one size, never at three)."""

from __future__ import annotations

import dataclasses

from ..scalar import SCALAR_LIMIT


def sizes_label(derivation) -> str:
    """The parameters' sizes, for the verdict: 'W1 3x2, b1 3, ...'."""
    shapes = [f"{n.name} {'x'.join(map(str, n.shape)) or 'scalar'}" for n in derivation.graph.params()]
    return ", ".join(shapes)


def size_variants(network) -> list:
    """Two other size configurations of ``network`` (layer stacks; graphs via ``size_variants()``).

    Input and hidden widths change, with every width different from its neighbours'.  The
    output width changes only when the loss sums over the outputs: a loss that is a mean over
    the outputs (mse, bce...) puts a 1/n in the gradient that belongs to the task's size.
    """
    hook = getattr(network, "size_variants", None)
    if callable(hook):
        return list(hook())
    layers = getattr(network, "layers", None)
    if not layers or not hasattr(network, "inputs"):
        return []
    loss = getattr(network, "loss", None)
    vary_output = getattr(loss, "reduction", "mean") == "sum"
    variants = []
    for pattern in ((3, 4, 2, 5), (2, 3, 4), (3, 2), (2, 3)):
        widths = [pattern[i % len(pattern)] for i in range(len(layers) + 1)]
        if not vary_output:
            widths[-1] = layers[-1].units
            for i in range(len(widths) - 2, -1, -1):  # keep neighbours different
                while widths[i] == widths[i + 1] or (i > 0 and widths[i] == widths[i - 1]):
                    widths[i] += 1
        if _param_count(widths, layers) > SCALAR_LIMIT or any(_same_sizes(widths, v) for v in variants):
            continue
        new_layers = tuple(dataclasses.replace(layer, units=w) for layer, w in zip(layers, widths[1:]))
        variants.append(dataclasses.replace(network, inputs=widths[0], layers=new_layers, example=None))
        if len(variants) == 2:
            break
    return variants


def _same_sizes(widths: list[int], network) -> bool:
    return [network.inputs, *(layer.units for layer in network.layers)] == widths


def _param_count(widths: list[int], layers) -> int:
    return sum(widths[i] * widths[i + 1] + (widths[i + 1] if layer.bias else 0) for i, layer in enumerate(layers))
