"""The 2-2-2 sigmoid network without biases (examples/tutorial_222.yaml, half_sse), written
out by hand in pure Python: what one would type to avoid NumPy's per-call cost at batch 1.

The yardstick of ``bench_scalar.py`` for symprop's scalar backend.  Same interface as the
generated scalar module's ``loss_and_grad``: params a dict of nested tuples, X and T
sequences of samples; the loss is the batch mean.  Written as a person would: plain names,
the textbook sigmoid ``1 / (1 + exp(-z))`` (which raises OverflowError below z = -709),
the error ``o - t`` shared by the loss and the backward pass, no argument checks.
"""

from math import exp


def loss_and_grad(params, X, T):
    (w11, w12), (w21, w22) = params["W1"]
    (v11, v12), (v21, v22) = params["W2"]
    loss = 0.0
    gw11 = gw12 = gw21 = gw22 = gv11 = gv12 = gv21 = gv22 = 0.0
    for (x1, x2), (t1, t2) in zip(X, T):
        h1 = 1.0 / (1.0 + exp(-(w11 * x1 + w12 * x2)))
        h2 = 1.0 / (1.0 + exp(-(w21 * x1 + w22 * x2)))
        o1 = 1.0 / (1.0 + exp(-(v11 * h1 + v12 * h2)))
        o2 = 1.0 / (1.0 + exp(-(v21 * h1 + v22 * h2)))
        e1, e2 = o1 - t1, o2 - t2
        loss += 0.5 * (e1 * e1 + e2 * e2)
        d1 = e1 * o1 * (1.0 - o1)
        d2 = e2 * o2 * (1.0 - o2)
        gv11 += d1 * h1
        gv12 += d1 * h2
        gv21 += d2 * h1
        gv22 += d2 * h2
        c1 = (d1 * v11 + d2 * v21) * h1 * (1.0 - h1)
        c2 = (d1 * v12 + d2 * v22) * h2 * (1.0 - h2)
        gw11 += c1 * x1
        gw12 += c1 * x2
        gw21 += c2 * x1
        gw22 += c2 * x2
    n = len(X)
    return loss / n, {
        "W1": ((gw11 / n, gw12 / n), (gw21 / n, gw22 / n)),
        "W2": ((gv11 / n, gv12 / n), (gv21 / n, gv22 / n)),
    }
