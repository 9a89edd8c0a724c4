"""A hand-optimised NumPy MLP: the reference the generated modules are measured against.

Written by hand for speed, not generated and not derived from symprop's output.  It takes
the same parameters (``W`` of shape (outputs, inputs), ``b``), the same batch-major arrays
and the same loss definitions (batch mean of the per-sample loss), and returns the same
``(loss, grads)`` as a generated module's ``loss_and_grad``.

What makes it fast, compared with a straightforward transcription of the formulas:
- the per-layer work is resolved once, in ``make_loss_and_grad``: the returned function
  is a tight loop over tuples, with no dictionary cache and no string dispatch;
- every elementwise step after the matmul works in place on the matmul's output
  (``Z += b``; ``tanh(Z, out=Z)``; ``dA *= f'``), so a layer allocates one array forward and
  about two backward; activations whose derivative needs only their output (sigmoid, tanh,
  relu) keep nothing but that output;
- the 1/N of the batch mean is folded into the output error once;
- half_sse reuses the residual ``Y - T`` for both the loss (a dot product) and the
  gradient; softmax + cross-entropy computes ``exp`` once and gets the log-likelihood
  from the same shifted logits;
- matmuls are ``np.dot`` on the transposed views ``W.T`` and ``dZ.T`` (BLAS reads them
  without a copy).  ``np.dot`` rather than ``@``: it has less call overhead on small
  arrays, and at batch 1 the weight gradient ``dZ.T @ A`` is an outer product (inner
  dimension 1) for which ``@`` takes a much slower path than ``np.dot`` (measured with
  NumPy 2.4 and OpenBLAS: 35 µs against 10 µs in float64 and 35 against 5 in float32 for
  30 x 784, which is more than half the whole forward+backward pass);

Only what the benchmarks need: hidden activations identity, sigmoid, tanh, relu; output
sigmoid/tanh/identity with half_sse, or softmax with cross_entropy.  Numerically as
safe as the generated code: sigmoid is computed as (1 + tanh(z/2)) / 2, which never
overflows, and softmax is shifted by the row maximum.
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")


def _activate(Z, kind):
    """Apply the activation in place on Z (the fresh matmul output) and return it."""
    if kind == "sigmoid":
        Z *= 0.5
        np.tanh(Z, out=Z)
        Z += 1.0
        Z *= 0.5
    elif kind == "tanh":
        np.tanh(Z, out=Z)
    elif kind == "relu":
        np.maximum(Z, 0.0, out=Z)
    return Z


def _deactivate(dA, A, kind):
    """dZ = dA * f'(Z), in place on dA, with f' written in terms of the output A."""
    if kind == "sigmoid":
        s = 1.0 - A
        s *= A
        dA *= s
    elif kind == "tanh":
        s = A * A
        np.subtract(1.0, s, out=s)
        dA *= s
    elif kind == "relu":
        dA *= A > 0
    return dA


def make_loss_and_grad(spec: dict):
    """``loss_and_grad(params, X, T) -> (loss, grads)`` for a layer-stack spec dict."""
    layers = []
    for index, layer in enumerate(spec["layers"], start=1):
        activation = layer["activation"]
        last = index == len(spec["layers"])
        if activation not in ACTIVATIONS and not (last and activation == "softmax"):
            raise ValueError(f"reference MLP: unsupported activation {activation!r}")
        bias = f"b{index}" if layer.get("bias", True) else None
        layers.append((f"W{index}", bias, activation))
    output_kind = layers[-1][2]
    loss_kind = spec["loss"]
    if (output_kind == "softmax") != (loss_kind == "cross_entropy") or loss_kind not in ("half_sse", "cross_entropy"):
        raise ValueError(f"reference MLP: unsupported output/loss {output_kind}/{loss_kind}")
    hidden = tuple(layers[:-1])
    weight_out, bias_out, _ = layers[-1]
    # backward order: (weight, bias, activation of the layer *below*, which dA goes through)
    backward_hidden = tuple((w, b, act) for (w, b, act) in reversed(hidden))
    softmax_output = output_kind == "softmax"

    dot = np.dot

    def loss_and_grad(params, X, T):
        # ---- forward: keep only each layer's output A (its derivative needs nothing else)
        acts = [X]
        A = X
        for weight, bias, kind in hidden:
            Z = dot(A, params[weight].T)
            if bias is not None:
                Z += params[bias]
            A = _activate(Z, kind)
            acts.append(A)
        Z = dot(A, params[weight_out].T)
        if bias_out is not None:
            Z += params[bias_out]
        inv_n = 1.0 / X.shape[0]
        # ---- loss and dE/dZ of the output layer, 1/N folded in
        if softmax_output:
            Z -= Z.max(axis=1, keepdims=True)  # shifted logits
            E = np.exp(Z)
            s = E.sum(axis=1, keepdims=True)
            log_s = np.log(s)
            loss = (np.dot(T.sum(axis=1), log_s[:, 0]) - np.vdot(T, Z)) * inv_n
            E /= s  # softmax output Y
            E -= T
            E *= inv_n
            dZ = E
        else:
            Y = _activate(Z, output_kind)
            R = Y - T
            loss = 0.5 * np.vdot(R, R) * inv_n
            R *= inv_n
            dZ = _deactivate(R, Y, output_kind)
        # ---- backward
        grads = {}
        A = acts[-1]
        grads[weight_out] = dot(dZ.T, A)
        if bias_out is not None:
            grads[bias_out] = dZ.sum(axis=0)
        W_above = params[weight_out]
        level = len(acts) - 1
        for weight, bias, kind in backward_hidden:
            A = acts[level]
            dZ = _deactivate(dot(dZ, W_above), A, kind)
            level -= 1
            grads[weight] = dot(dZ.T, acts[level])
            if bias is not None:
                grads[bias] = dZ.sum(axis=0)
            W_above = params[weight]
        return loss, grads

    return loss_and_grad
