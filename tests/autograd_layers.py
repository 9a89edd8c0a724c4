"""A layer stack at one point, evaluated and differentiated by autograd, independently of
symprop: the oracle of the exercises' and the class sets' answer keys."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import grad, jacobian


def _softmax(z):
    e = anp.exp(z - anp.max(z))
    return e / anp.sum(e)


ACTIVATIONS = {"sigmoid": lambda z: 1 / (1 + anp.exp(-z)), "relu": lambda z: anp.maximum(z, 0.0), "softmax": _softmax}
LOSSES = {
    "half_sse": lambda y, t: 0.5 * anp.sum((t - y) ** 2),
    "cross_entropy": lambda y, t: -anp.sum(t * anp.log(y)),
    "binary_cross_entropy": lambda y, t: -anp.mean(t * anp.log(y) + (1 - t) * anp.log(1 - y)),
}


class LayerStack:
    """``network`` (a layer stack) with weights ``params`` (by name) at input ``x`` and target ``t``."""

    def __init__(self, network, params: dict, x, t):
        self.network = network
        self.params = {name: np.array(value, dtype=float) for name, value in params.items()}
        self.x, self.t = np.array(x, dtype=float), np.array(t, dtype=float)

    def forward(self, params: dict):
        """(every layer's z and a by name, ``z1`` ... ``a2``; the loss)."""
        values, a = {}, self.x
        for i, layer in enumerate(self.network.layers, start=1):
            z = anp.dot(params[f"W{i}"], a) + (params[f"b{i}"] if f"b{i}" in params else 0.0)
            a = ACTIVATIONS[layer.activation.name](z)
            values[f"z{i}"], values[f"a{i}"] = z, a
        return values, LOSSES[self.network.loss.name](a, self.t)

    def values(self) -> dict:
        return self.forward(self.params)[0]

    def gradients(self) -> dict:
        """dE/d(each parameter), by autograd."""
        return grad(lambda params: self.forward(params)[1])(self.params)

    def local(self, layer: int, j: int) -> float:
        """d a_j / d z_j of layer ``layer`` (1-based), by autograd."""
        activation = ACTIVATIONS[self.network.layers[layer - 1].activation.name]
        return float(jacobian(activation)(self.values()[f"z{layer}"])[j, j])
