"""The graph-spec examples written by hand in NumPy (and as JAX losses): what the emitted modules
are measured against (``benchmarks/bench_graphs.py``).

Each ``hand_<example>(params, X, T) -> (loss, grads)`` computes what the example's generated
``loss_and_grad`` computes (the batch mean of the per-sample loss and its gradients; same
parameter names and shapes, batch-major arrays, X and T as the module takes them), written as
an engineer who knows NumPy would write the network directly, without symprop:

- ``np.dot`` on transposed views for dense layers on matrices (``X @ W.T`` of the per-sample
  ``W @ x``), ``@`` on stacks of them (``np.dot`` of a 3-d array does not call BLAS: ten
  times slower);
- softmax + cross-entropy from one shifted exponential (the softmax and the log-likelihood
  share it), a squared error from one residual ``Y - T`` (a dot product for the loss, the same
  array scaled for the gradient), the 1/N of the batch mean folded in once;
- an unrolled RNN's input products for all steps in one matmul of the stacked inputs, and its
  shared weights' gradients as one matmul over the stacked steps;
- idiomatic reductions: bias gradients as ``dZ.sum(axis=0)``;
- no in-place tricks beyond the obvious ones, no preallocated buffers.

They are not derived from symprop's output; ``bench_graphs.py`` checks each against the module
before timing (1e-9 in float64).  ``jax_<example>(params, X, T) -> loss`` is the same network in
``jax.numpy`` for ``jax.jit(jax.value_and_grad(...))``.

``hand_transformer_block`` takes its exact GELU's ``erf`` from ``scipy.special`` (NumPy has
none; SciPy comes with JAX): without SciPy it is left out of ``HAND``, and ``NO_HAND`` says why
(``bench_graphs.py`` prints it and measures the example against JAX only).
"""

from __future__ import annotations

import math

import numpy as np

try:
    from scipy.special import erf
except ImportError:  # the hand transformer_block needs it; the other hand versions do not
    erf = None

dot = np.dot


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softmax_ce(Z, T):
    """(sum over the batch of the cross-entropy of softmax(Z) against T, softmax(Z) - T)."""
    Z = Z - Z.max(axis=-1, keepdims=True)
    E = np.exp(Z)
    s = E.sum(axis=-1, keepdims=True)
    loss = np.vdot(T.sum(axis=-1), np.log(s)) - np.vdot(T, Z)
    E /= s
    E -= T
    return loss, E


def hand_residual_block(p, X, T):
    W1, b1, W2, W3 = p["W1"], p["b1"], p["W2"], p["W3"]
    n = X.shape[0]
    H = np.tanh(dot(X, W1.T) + b1)
    R = dot(H, W2.T) + X
    ce, dZ = _softmax_ce(dot(R, W3.T), T)
    loss = ce / n + 0.001 * np.vdot(W1, W1)
    dZ /= n
    dR = dot(dZ, W3)
    dH = dot(dR, W2) * (1 - H * H)
    return loss, {"W1": dot(dH.T, X) + 0.002 * W1, "b1": dH.sum(axis=0), "W2": dot(dR.T, H), "W3": dot(dZ.T, R)}


def hand_gated_unit(p, X, T):
    Wa, Wg, Wo, bo = p["Wa"], p["Wg"], p["Wo"], p["bo"]
    n = X.shape[0]
    A = dot(X, Wa.T)
    S = _sigmoid(dot(X, Wg.T))
    G = A * S
    R = dot(G, Wo.T) + bo - T
    loss = 0.5 * np.vdot(R, R) / n
    R /= n
    dG = dot(R, Wo)
    dZg = dG * A * S * (1 - S)
    return loss, {"Wa": dot((dG * S).T, X), "Wg": dot(dZg.T, X), "Wo": dot(R.T, G), "bo": R.sum(axis=0)}


def hand_tied_autoencoder(p, X, T):
    W, b, c = p["W"], p["b"], p["c"]
    n = X.shape[0]
    H = _sigmoid(dot(X, W.T) + b)
    R = dot(H, W) + c - X
    loss = 0.5 * np.vdot(R, R) / n
    R /= n
    dZ = dot(R, W.T) * H * (1 - H)
    return loss, {"W": dot(H.T, R) + dot(dZ.T, X), "b": dZ.sum(axis=0), "c": R.sum(axis=0)}


def hand_concat_two_inputs(p, X, T):
    U, V = X["u"], X["v"]
    Wu, Wv, W, b = p["Wu"], p["Wv"], p["W"], p["b"]
    n = U.shape[0]
    Zu = dot(U, Wu.T)
    Hu = np.maximum(Zu, 0)
    Hv = np.tanh(dot(V, Wv.T))
    H = np.concatenate([Hu, Hv], axis=1)
    ce, dZ = _softmax_ce(dot(H, W.T) + b, T)
    dZ /= n
    dH = dot(dZ, W)
    dZu = dH[:, :4] * (Zu > 0)
    dZv = dH[:, 4:] * (1 - Hv * Hv)
    return ce / n, {"Wu": dot(dZu.T, U), "Wv": dot(dZv.T, V), "W": dot(dZ.T, H), "b": dZ.sum(axis=0)}


def hand_highway(p, X, T):
    Wh, bh, Wt, bt = p["Wh"], p["bh"], p["Wt"], p["bt"]
    n = X.shape[0]
    H = np.tanh(dot(X, Wh.T) + bh)
    G = _sigmoid(dot(X, Wt.T) + bt)
    D = H - X
    R = X + G * D - T  # y = g h + (1 - g) x
    loss = 0.5 * np.vdot(R, R) / n
    R /= n
    dZh = R * G * (1 - H * H)
    dZt = R * D * G * (1 - G)
    return loss, {"Wh": dot(dZh.T, X), "bh": dZh.sum(axis=0), "Wt": dot(dZt.T, X), "bt": dZt.sum(axis=0)}


def hand_elman_rnn(p, X, T):
    Wx, Wh, bh, Wy, by = p["Wx"], p["Wh"], p["bh"], p["Wy"], p["by"]
    steps = 5
    Xs = np.stack([X[f"x{k}"] for k in range(1, steps + 1)])  # (steps, batch, 3)
    n, width = Xs.shape[1], Wh.shape[0]
    Hs = Xs @ Wx.T + bh  # every step's input product in one matmul
    Hs[0] = np.tanh(Hs[0])
    for k in range(1, steps):
        Hs[k] = np.tanh(Hs[k] + dot(Hs[k - 1], Wh.T))
    R = dot(Hs[-1], Wy.T) + by - T
    loss = 0.5 * np.vdot(R, R) / n
    R /= n
    dZ = np.empty_like(Hs)
    dH = dot(R, Wy)
    for k in range(steps - 1, -1, -1):
        dZ[k] = dH * (1 - Hs[k] * Hs[k])
        if k:
            dH = dot(dZ[k], Wh)
    flat = dZ.reshape(-1, width)
    return loss, {
        "Wx": dot(flat.T, Xs.reshape(-1, Xs.shape[2])),
        "Wh": dot(dZ[1:].reshape(-1, width).T, Hs[:-1].reshape(-1, width)),
        "bh": flat.sum(axis=0),
        "Wy": dot(R.T, Hs[-1]),
        "by": R.sum(axis=0),
    }


def hand_cs231n_neuron(p, X, T):
    w0, w1, w2 = p["w0"], p["w1"], p["w2"]
    X0, X1 = X["x0"], X["x1"]
    F = 1 / (1 + np.exp(-(w0 * X0 + w1 * X1 + w2)))
    G = F * (1 - F) / F.shape[0]
    return F.mean(), {"w0": dot(G, X0), "w1": dot(G, X1), "w2": G.sum()}


def hand_self_attention(p, X, T):
    Wq, Wk, Wv, Wo, bo = p["Wq"], p["Wk"], p["Wv"], p["Wo"], p["bo"]
    n, steps, d = X.shape
    Q, K, V = X @ Wq, X @ Wk, X @ Wv
    scale = 1 / math.sqrt(d)  # a Python float: float32 stays float32
    S = np.where(np.tril(np.ones((steps, steps), dtype=bool)), (Q @ K.transpose(0, 2, 1)) * scale, -1e9)
    S -= S.max(axis=-1, keepdims=True)
    P = np.exp(S)
    P /= P.sum(axis=-1, keepdims=True)
    H = X + P @ V
    R = H @ Wo + bo - T
    loss = np.vdot(R, R) / (R[0].size * n)
    R *= 2 / (R[0].size * n)
    dH = R @ Wo.T
    dP = dH @ V.transpose(0, 2, 1)
    dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))  # 0 where masked: p is 0 there
    dS *= scale
    X2 = X.reshape(-1, d)
    return loss, {
        "Wq": dot(X2.T, (dS @ K).reshape(-1, d)),
        "Wk": dot(X2.T, (dS.transpose(0, 2, 1) @ Q).reshape(-1, d)),
        "Wv": dot(X2.T, (P.transpose(0, 2, 1) @ dH).reshape(-1, d)),
        "Wo": dot(H.reshape(-1, d).T, R.reshape(-1, R.shape[-1])),
        "bo": R.sum(axis=(0, 1)),
    }


def hand_lstm(p, X, T):
    """Each gate its own matrices, as the spec gives them; each gate's input products for all
    steps in one matmul, its shared weights' gradients in one matmul over the steps."""
    n, steps, _ = X.shape
    Wi, Wf, Wo, Wg, Ui, Uf, Uo, Ug = (p[k] for k in ("Wi", "Wf", "Wo", "Wg", "Ui", "Uf", "Uo", "Ug"))
    width = Ui.shape[0]
    Xt = X.transpose(1, 0, 2)  # (steps, batch, features)
    Ig, Fg, Og, Gg = (Xt @ W.T + p[b] for W, b in ((Wi, "bi"), (Wf, "bf"), (Wo, "bo"), (Wg, "bg")))
    C, Ct, Hs = np.empty_like(Ig), np.empty_like(Ig), np.empty_like(Ig)
    for k in range(steps):
        if k:
            h = Hs[k - 1]
            Ig[k] += dot(h, Ui.T)
            Fg[k] += dot(h, Uf.T)
            Og[k] += dot(h, Uo.T)
            Gg[k] += dot(h, Ug.T)
        Ig[k], Og[k], Gg[k] = _sigmoid(Ig[k]), _sigmoid(Og[k]), np.tanh(Gg[k])
        if k:
            Fg[k] = _sigmoid(Fg[k])
            C[k] = Fg[k] * C[k - 1] + Ig[k] * Gg[k]
        else:
            C[k] = Ig[k] * Gg[k]
        Ct[k] = np.tanh(C[k])
        Hs[k] = Og[k] * Ct[k]
    R = dot(Hs[-1], p["Wy"].T) + p["by"] - T
    loss = 0.5 * np.vdot(R, R) / n
    R /= n
    dI, dF, dO, dG = (np.zeros_like(Ig) for _ in range(4))
    dH = dot(R, p["Wy"])
    dC = 0
    for k in range(steps - 1, -1, -1):
        i, f, o, g, ct = Ig[k], Fg[k], Og[k], Gg[k], Ct[k]
        dO[k] = dH * ct * o * (1 - o)
        dC = dC + dH * o * (1 - ct * ct)
        dI[k] = dC * g * i * (1 - i)
        dG[k] = dC * i * (1 - g * g)
        if k:
            dF[k] = dC * C[k - 1] * f * (1 - f)
            dC = dC * f
            dH = dot(dI[k], Ui) + dot(dF[k], Uf) + dot(dO[k], Uo) + dot(dG[k], Ug)
    X2 = Xt.reshape(-1, Xt.shape[2])
    H2 = Hs[:-1].reshape(-1, width)
    grads = {"Wy": dot(R.T, Hs[-1]), "by": R.sum(axis=0)}
    for name, d in (("i", dI), ("f", dF), ("o", dO), ("g", dG)):
        flat = d.reshape(-1, width)
        grads[f"W{name}"] = dot(flat.T, X2)
        grads[f"U{name}"] = dot(d[1:].reshape(-1, width).T, H2)
        grads[f"b{name}"] = flat.sum(axis=0)
    return loss, grads


def hand_embedding_gru(p, X, T):
    n, steps = X.shape
    width = p["Uz"].shape[0]
    Et = p["Emb"][X.T]  # (steps, batch, 12)
    pre = {g: Et @ p[f"W{g}"].T + p[f"b{g}"] for g in ("z", "r", "n")}
    Z, Rg, Nn, Hs, M = (np.empty_like(pre["z"]) for _ in range(5))  # M: r * h_prev
    Z[0], Nn[0] = _sigmoid(pre["z"][0]), np.tanh(pre["n"][0])
    Hs[0] = Z[0] * Nn[0]
    for k in range(1, steps):
        h = Hs[k - 1]
        Z[k] = _sigmoid(pre["z"][k] + dot(h, p["Uz"].T))
        Rg[k] = _sigmoid(pre["r"][k] + dot(h, p["Ur"].T))
        M[k] = Rg[k] * h
        Nn[k] = np.tanh(pre["n"][k] + dot(M[k], p["Un"].T))
        Hs[k] = h + Z[k] * (Nn[k] - h)
    ce, dY = _softmax_ce(dot(Hs[-1], p["Wy"].T) + p["by"], T)
    dY /= n
    d = {g: np.zeros_like(pre["z"]) for g in ("z", "r", "n")}
    dH = dot(dY, p["Wy"])
    for k in range(steps - 1, 0, -1):
        h, z, nn = Hs[k - 1], Z[k], Nn[k]
        d["z"][k] = dH * (nn - h) * z * (1 - z)
        d["n"][k] = dH * z * (1 - nn * nn)
        dM = dot(d["n"][k], p["Un"])
        d["r"][k] = dM * h * Rg[k] * (1 - Rg[k])
        dH = dH * (1 - z) + dM * Rg[k] + dot(d["z"][k], p["Uz"]) + dot(d["r"][k], p["Ur"])
    d["z"][0] = dH * Nn[0] * Z[0] * (1 - Z[0])
    d["n"][0] = dH * Z[0] * (1 - Nn[0] * Nn[0])
    E2 = Et.reshape(-1, Et.shape[2])
    grads = {"Wy": dot(dY.T, Hs[-1]), "by": dY.sum(axis=0)}
    dE = np.zeros_like(E2)
    for g in ("z", "r", "n"):
        flat = d[g].reshape(-1, width)
        grads[f"W{g}"] = dot(flat.T, E2)
        grads[f"b{g}"] = flat.sum(axis=0)
        grads[f"U{g}"] = dot(d[g][1:].reshape(-1, width).T, (M[1:] if g == "n" else Hs[:-1]).reshape(-1, width))
        dE += dot(flat, p[f"W{g}"])
    grads["Emb"] = np.zeros_like(p["Emb"])
    np.add.at(grads["Emb"], X.T.reshape(-1), dE)
    return ce / n, grads


def hand_batchnorm_mlp(p, X, T, eps=1e-5):
    W1, g, c, W2, b2 = p["W1"], p["g"], p["c"], p["W2"], p["b2"]
    n = X.shape[0]
    Z = dot(X, W1.T)
    Z -= Z.mean(axis=0)
    rstd = 1 / np.sqrt((Z * Z).mean(axis=0) + eps)
    Zn = Z * rstd
    A = g * Zn + c
    H = np.maximum(A, 0)
    ce, dY = _softmax_ce(dot(H, W2.T) + b2, T)
    dY /= n
    dA = dot(dY, W2) * (A > 0)
    dZn = dA * g
    dZ = (dZn - dZn.mean(axis=0) - Zn * (dZn * Zn).mean(axis=0)) * rstd
    return ce / n, {
        "W1": dot(dZ.T, X),
        "g": (dA * Zn).sum(axis=0),
        "c": dA.sum(axis=0),
        "W2": dot(dY.T, H),
        "b2": dY.sum(axis=0),
    }


def hand_cnn_digits(p, X, T):
    """im2col on channels-last rows: the 3x3 windows of the zero-padded image copied once into an
    (N * 64, 9) matrix, the convolution one matmul with the (8, 9) kernel; 2x2 pooling as the
    maximum of the four strided slices of a (N, 4, 2, 4, 2, 8) view, its adjoint sent to every
    element equal to its window's maximum (ties are at a dead relu, where the gradient is 0)."""
    K, kb, W, b = p["K"], p["kb"], p["W"], p["b"]
    n = X.shape[0]
    Xp = np.zeros((n, 10, 10), dtype=X.dtype)
    Xp[:, 1:9, 1:9] = X[:, 0]
    cols = np.lib.stride_tricks.sliding_window_view(Xp, (3, 3), axis=(1, 2)).reshape(n * 64, 9)
    A = dot(cols, K.reshape(8, 9).T)
    A += kb.reshape(8)
    np.maximum(A, 0, out=A)  # relu in place: A > 0 below is also where the pre-activation was
    A6 = A.reshape(n, 4, 2, 4, 2, 8)
    P = np.maximum(np.maximum(A6[:, :, 0, :, 0], A6[:, :, 0, :, 1]), np.maximum(A6[:, :, 1, :, 0], A6[:, :, 1, :, 1]))
    H = P.transpose(0, 3, 1, 2).reshape(n, 128)  # the spec's reshape of (8, 4, 4), channel first
    ce, dY = _softmax_ce(dot(H, W.T) + b, T)
    dY /= n
    dP = dot(dY, W).reshape(n, 8, 4, 4).transpose(0, 2, 3, 1)[:, :, None, :, None, :]
    top = P[:, :, None, :, None, :]
    dA = ((A6 == top) & (A6 > 0)) * dP
    dA = dA.reshape(n * 64, 8)
    return ce / n, {
        "K": dot(dA.T, cols).reshape(8, 1, 3, 3),
        "kb": dA.sum(axis=0).reshape(8, 1, 1),
        "W": dot(dY.T, H),
        "b": dY.sum(axis=0),
    }


def _layer_norm(Z, eps=1e-5):
    """(Z normalised over its last axis, 1 / its standard deviation): a new array, and what the
    backward needs."""
    Z = Z - Z.mean(axis=-1, keepdims=True)
    rstd = 1 / np.sqrt((Z * Z).mean(axis=-1, keepdims=True) + eps)
    Z *= rstd
    return Z, rstd


def _layer_norm_back(dZn, Zn, rstd):
    """The adjoint of the layer norm's input from that of its output (before the gain)."""
    return (dZn - dZn.mean(axis=-1, keepdims=True) - Zn * (dZn * Zn).mean(axis=-1, keepdims=True)) * rstd


#: The mask of the future: token t attends to tokens 1..t only.
_FUTURE = ~np.tril(np.ones((8, 8), dtype=bool))


def hand_transformer_block(p, X, T):
    """Every token a row of one (N * 8, 32) matrix for the layer norms and the dense products;
    the heads as (N, 4, 8, 8) stacks multiplied by ``@``; Q, K, V each from its own matrix, as the
    spec gives them.  The forward keeps Phi(z) of the GELU z Phi(z) for its derivative
    Phi(z) + z phi(z); the softmax's masked entries are exactly 0, so their adjoint is too."""
    n, steps, d = X.shape
    heads, width = 4, d // 4
    rows = n * steps
    scale = 1 / math.sqrt(width)  # a Python float: float32 stays float32
    X2, T2 = X.reshape(rows, d), T.reshape(rows, d)

    def split(Z):  # (N * 8, 32) -> (N, 4, 8, 8): head, token, feature
        return Z.reshape(n, steps, heads, width).transpose(0, 2, 1, 3)

    def merge(Z):  # (N, 4, 8, 8) -> (N * 8, 32)
        return Z.transpose(0, 2, 1, 3).reshape(rows, d)

    N1n, _ = _layer_norm(X2)  # x needs no adjoint: no backward through this norm
    N1 = N1n * p["g1"]
    N1 += p["b1"]
    Q, K, V = split(dot(N1, p["Wq"])), split(dot(N1, p["Wk"])), split(dot(N1, p["Wv"]))
    P = Q @ K.transpose(0, 1, 3, 2)
    P *= scale
    P[..., _FUTURE] = -1e9
    P -= P.max(axis=-1, keepdims=True)
    np.exp(P, out=P)
    P /= P.sum(axis=-1, keepdims=True)
    A = merge(P @ V)  # the heads side by side again
    H = dot(A, p["Wo"])
    H += X2
    H += p["bo"]
    N2n, r2 = _layer_norm(H)
    N2 = N2n * p["g2"]
    N2 += p["b2"]
    Z = dot(N2, p["W1"])
    Z += p["c1"]
    Phi = erf(Z * (1 / math.sqrt(2)))
    Phi += 1
    Phi *= 0.5
    G = Z * Phi
    R = dot(G, p["W2"])  # f, then y - t in place
    R += p["c2"]
    R += H
    R -= T2
    loss = np.vdot(R, R) / R.size
    R *= 2 / R.size  # the adjoint of y: of f and (through the residual) of h

    dZ = dot(R, p["W2"].T)
    slope = Z * Z  # the GELU's: Phi(z) + z phi(z), phi(z) = exp(-z^2 / 2) / sqrt(2 pi)
    slope *= -0.5
    np.exp(slope, out=slope)
    slope *= Z
    slope *= 1 / math.sqrt(2 * math.pi)
    slope += Phi
    dZ *= slope
    dN2 = dot(dZ, p["W1"].T)
    grads = {
        "W2": dot(G.T, R),
        "c2": R.sum(axis=0),
        "W1": dot(N2.T, dZ),
        "c1": dZ.sum(axis=0),
        "g2": (dN2 * N2n).sum(axis=0),
        "b2": dN2.sum(axis=0),
    }
    dN2 *= p["g2"]
    dH = _layer_norm_back(dN2, N2n, r2)
    dH += R
    grads["Wo"] = dot(A.T, dH)
    grads["bo"] = dH.sum(axis=0)
    dA = split(dot(dH, p["Wo"].T))
    dV = P.transpose(0, 1, 3, 2) @ dA
    dS = dA @ V.transpose(0, 1, 3, 2)  # the adjoint of P, then of the scaled scores in place
    dS -= (dS * P).sum(axis=-1, keepdims=True)
    dS *= P
    dS *= scale
    dQ, dK, dV = merge(dS @ K), merge(dS.transpose(0, 1, 3, 2) @ Q), merge(dV)
    grads["Wq"], grads["Wk"], grads["Wv"] = dot(N1.T, dQ), dot(N1.T, dK), dot(N1.T, dV)
    dN1 = dot(dQ, p["Wq"].T)
    dN1 += dot(dK, p["Wk"].T)
    dN1 += dot(dV, p["Wv"].T)
    grads["g1"] = (dN1 * N1n).sum(axis=0)
    grads["b1"] = dN1.sum(axis=0)
    return loss, grads


HAND = {
    "residual_block": hand_residual_block,
    "gated_unit": hand_gated_unit,
    "tied_autoencoder": hand_tied_autoencoder,
    "concat_two_inputs": hand_concat_two_inputs,
    "highway": hand_highway,
    "elman_rnn": hand_elman_rnn,
    "cs231n_neuron": hand_cs231n_neuron,
    "self_attention": hand_self_attention,
    "lstm": hand_lstm,
    "embedding_gru": hand_embedding_gru,
    "batchnorm_mlp": hand_batchnorm_mlp,
    "cnn_digits": hand_cnn_digits,
}
if erf is not None:
    HAND["transformer_block"] = hand_transformer_block

#: example -> why it has no hand version (it is measured against JAX only).
NO_HAND = {} if erf is not None else {"transformer_block": "scipy is not installed, and NumPy has no erf (pip install scipy)"}

#: Every example measured.
NETWORKS = (*HAND, *NO_HAND)


# -- the same networks in JAX (losses only: jax.value_and_grad differentiates them) ----------------


def jax_losses(jax) -> dict:
    """example -> loss(params, X, T) in ``jax.numpy``."""
    jnp, nn = jax.numpy, jax.nn

    def ce(z, t):
        return -(t * nn.log_softmax(z, axis=-1)).sum() / z.shape[0]

    def half_sse(y, t):
        return 0.5 * ((y - t) ** 2).sum() / y.shape[0]

    def residual_block(p, x, t):
        h = jnp.tanh(x @ p["W1"].T + p["b1"])
        return ce((x + h @ p["W2"].T) @ p["W3"].T, t) + 0.001 * (p["W1"] ** 2).sum()

    def gated_unit(p, x, t):
        g = (x @ p["Wa"].T) * nn.sigmoid(x @ p["Wg"].T)
        return half_sse(g @ p["Wo"].T + p["bo"], t)

    def tied_autoencoder(p, x, t):
        h = nn.sigmoid(x @ p["W"].T + p["b"])
        return half_sse(h @ p["W"] + p["c"], x)

    def concat_two_inputs(p, x, t):
        h = jnp.concatenate([nn.relu(x["u"] @ p["Wu"].T), jnp.tanh(x["v"] @ p["Wv"].T)], axis=1)
        return ce(h @ p["W"].T + p["b"], t)

    def highway(p, x, t):
        h = jnp.tanh(x @ p["Wh"].T + p["bh"])
        g = nn.sigmoid(x @ p["Wt"].T + p["bt"])
        return half_sse(g * h + (1 - g) * x, t)

    def elman_rnn(p, x, t):
        h = jnp.tanh(x["x1"] @ p["Wx"].T + p["bh"])
        for k in range(2, 6):
            h = jnp.tanh(x[f"x{k}"] @ p["Wx"].T + h @ p["Wh"].T + p["bh"])
        return half_sse(h @ p["Wy"].T + p["by"], t)

    def cs231n_neuron(p, x, t):
        return nn.sigmoid(p["w0"] * x["x0"] + p["w1"] * x["x1"] + p["w2"]).mean()

    def self_attention(p, x, t):
        q, k, v = x @ p["Wq"], x @ p["Wk"], x @ p["Wv"]
        steps = x.shape[1]
        s = jnp.where(jnp.tril(jnp.ones((steps, steps), dtype=bool)), q @ k.transpose(0, 2, 1) / jnp.sqrt(16.0), -1e9)
        y = (x + nn.softmax(s, axis=-1) @ v) @ p["Wo"] + p["bo"]
        return ((y - t) ** 2).mean(axis=(1, 2)).mean()

    def lstm(p, x, t):
        def gate(g, f, xk, h):
            z = xk @ p[f"W{g}"].T + p[f"b{g}"]
            return f(z if h is None else z + h @ p[f"U{g}"].T)

        h = c = None
        for k in range(x.shape[1]):
            xk = x[:, k]
            i, o, g = gate("i", nn.sigmoid, xk, h), gate("o", nn.sigmoid, xk, h), gate("g", jnp.tanh, xk, h)
            c = i * g if c is None else gate("f", nn.sigmoid, xk, h) * c + i * g
            h = o * jnp.tanh(c)
        return half_sse(h @ p["Wy"].T + p["by"], t)

    def embedding_gru(p, x, t):
        e = p["Emb"][x]
        h = None
        for k in range(e.shape[1]):
            xk = e[:, k]
            z = xk @ p["Wz"].T + p["bz"]
            n = xk @ p["Wn"].T + p["bn"]
            if h is None:
                h = nn.sigmoid(z) * jnp.tanh(n)
                continue
            z = nn.sigmoid(z + h @ p["Uz"].T)
            r = nn.sigmoid(xk @ p["Wr"].T + p["br"] + h @ p["Ur"].T)
            n = jnp.tanh(n + (r * h) @ p["Un"].T)
            h = (1 - z) * h + z * n
        return ce(h @ p["Wy"].T + p["by"], t)

    def batchnorm_mlp(p, x, t):
        z = x @ p["W1"].T
        z = (z - z.mean(axis=0)) / jnp.sqrt(z.var(axis=0) + 1e-5)
        h = nn.relu(p["g"] * z + p["c"])
        return ce(h @ p["W2"].T + p["b2"], t)

    def cnn_digits(p, x, t):
        # conv2d(x, K, padding=1) is PyTorch's (a cross-correlation, NCHW, OIHW); 2x2 max pooling
        # by reduce_window (at batch 64 a third faster than a reshape and a max over the windows'
        # axes, as fast at 1024).  A tie within a window is at a dead relu: no gradient either way.
        c = jax.lax.conv_general_dilated(x, p["K"], window_strides=(1, 1), padding=((1, 1), (1, 1)))
        c = nn.relu(c + p["kb"])
        h = jax.lax.reduce_window(c, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        h = h.reshape(c.shape[0], 128)
        return ce(h @ p["W"].T + p["b"], t)

    def transformer_block(p, x, t):
        def layer_norm(z, g, b):
            z = z - z.mean(axis=-1, keepdims=True)
            return g * z / jnp.sqrt((z * z).mean(axis=-1, keepdims=True) + 1e-5) + b

        def heads(z):  # (batch, T, d) -> (batch, heads, T, 8)
            return z.reshape(z.shape[0], 8, 4, 8).transpose(0, 2, 1, 3)

        n1 = layer_norm(x, p["g1"], p["b1"])
        q, k, v = heads(n1 @ p["Wq"]), heads(n1 @ p["Wk"]), heads(n1 @ p["Wv"])
        s = jnp.where(jnp.tril(jnp.ones((8, 8), dtype=bool)), q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(8.0), -1e9)
        o = (nn.softmax(s, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], 8, 32)
        h = x + o @ p["Wo"] + p["bo"]
        f = nn.gelu(layer_norm(h, p["g2"], p["b2"]) @ p["W1"] + p["c1"], approximate=False) @ p["W2"] + p["c2"]
        return (((h + f) - t) ** 2).mean(axis=(1, 2)).mean()

    return {name: value for name, value in locals().items() if name in NETWORKS}
