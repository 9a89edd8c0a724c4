"""The dense layer ``z = W a + b``: the matrix product with a bias, per sample.

Batched (X of shape (batch, inputs)) it is ``Z = X W^T + b``; its adjoints are the fixed
rules every autodiff system has: ``dW = dZ^T A``, ``db = sum over the batch of dZ``,
``dA = dZ W``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Adjoint, AdjointCode, Op

WEIGHT, BIAS, INPUT = "dense_weight", "dense_bias", "dense_input"


@dataclass(frozen=True)
class Dense(Op):
    """``z = W a + b`` per sample; inputs (W, a) or (W, a, b)."""

    dense_layer = True

    def elements(self, node, args):
        weights, inputs = args[0], args[1]
        rows, cols = node.shape[0], len(inputs)
        bias = args[2] if len(args) > 2 else [0] * rows
        return [sum(weights[j * cols + k] * inputs[k] for k in range(cols)) + bias[j] for j in range(rows)]

    def adjoint_rules(self, node, shapes):
        rules = [Adjoint(0, WEIGHT)]
        if len(node.inputs) > 2:
            rules.append(Adjoint(2, BIAS))
        return [*rules, Adjoint(1, INPUT)]

    # -- NumPy --------------------------------------------------------------------------

    def latex_gate(self, node, tex):
        """A matrix times a vector (``W x``), plus a bias where there is one: named, as the
        computational-graph figure has no single symbol for it."""
        return r"\mathrm{affine}" if len(node.inputs) > 2 else r"\mathrm{matmul}"

    def numpy(self, node, code):
        weight, data, *bias = node.inputs
        stacked = code.input_product(node)  # W x[k] read from one product of every step's x
        if stacked is not None:
            product, shown = stacked
        else:
            # np.dot, not @: on small batches its per-call cost is lower (benchmarks/profile_generated.py).
            product, shown = f"np.dot({code.use(data)}, {code.use(weight)}.T)", f"{weight} {data}"
        spelled = product + (f" + {code.use(bias[0])}" if bias and not code.folded(node.name, bias[0]) else "")
        return spelled, f"{node.name} = {shown}" + (f" + {bias[0]}" if bias else "")

    def numpy_adjoint(self, step, code):
        source = code.node(step.source)
        weight, data, *_ = source.inputs
        upstream = code.grad(step.source)
        if step.rule == WEIGHT:
            return AdjointCode(f"np.dot({upstream}.T, {code.use(data)})", f"dE/d{step.source} {data}^T, summed over the batch")
        if step.rule == BIAS:
            return AdjointCode(code.batch_sum(upstream), f"dE/d{step.source}, summed over the batch")
        return AdjointCode(f"np.dot({upstream}, {code.use(weight)})", f"{weight}^T dE/d{step.source}")

    # -- LaTeX --------------------------------------------------------------------------

    def latex(self, node, tex):
        inputs = [tex.node_tex(i) for i in node.inputs]  # a thin space: W_x x_1, never "Wxx1"
        return f"{inputs[0]} \\, {inputs[1]}" + (f" + {inputs[2]}" if len(inputs) > 2 else "")

    def latex_adjoint(self, step, tex, eq):
        el, partial, transpose_tex = tex.generic, tex.partial, tex.transpose
        source = tex.node(step.source)
        weight, data, *bias = source.inputs
        delta_j = tex.adjoint_element(step.source, "j")
        delta = tex.adjoint_tex(step.source)
        zj = el(step.source, "j")
        batch = "summed over the samples of a batch"
        if step.rule == WEIGHT:
            wjk = el(weight, "jk", True)
            element = rf"{partial('E', wjk)} {eq} {partial('E', zj)} \, {partial(zj, wjk)} = {delta_j} \, {el(data, 'k')}"
            vector = rf"{partial('E', tex.node_tex(weight))} {eq} {delta} \, {transpose_tex(tex.node_tex(data))}"
            return element, vector, batch
        if step.rule == BIAS:
            bj = el(bias[0], "j")
            element = rf"{partial('E', bj)} {eq} {partial('E', zj)} \, {partial(zj, bj)} = {delta_j} \cdot 1"
            return element, rf"{partial('E', tex.node_tex(bias[0]))} {eq} {delta}", batch
        # the letters of the layer that receives: its unit j, the next layer's i (as the delta
        # recursion writes it in the step after this one)
        aj, zi = el(data, "j"), el(step.source, "i")
        rows = source.shape[0]
        element = (
            rf"{partial('E', aj)} {eq} \sum_{{i=1}}^{{{rows}}} {partial('E', zi)} \, {partial(zi, aj)}"
            rf" = \sum_{{i=1}}^{{{rows}}} {tex.adjoint_element(step.source, 'i')} \, {el(weight, 'ij', True)}"
        )
        return element, rf"{partial('E', tex.node_tex(data))} {eq} {transpose_tex(tex.node_tex(weight))} {delta}", ""

    def latex_upstream(self, step, tex):
        """dE/da of the layer's input, spelled out (element j, vector) for the next step back:
        the delta recursion ``sum_i delta_i w_ij``."""
        el, transpose_tex = tex.generic, tex.transpose
        if step.rule != INPUT:
            return None
        dense = tex.node(step.source)
        rows = dense.shape[0]
        element = rf"\sum_{{i=1}}^{{{rows}}} {tex.adjoint_element(dense.name, 'i')} \, {el(dense.inputs[0], 'ij', True)}"
        vector = rf"{transpose_tex(tex.node_tex(dense.inputs[0]))} {tex.adjoint_tex(dense.name)}"
        return element, vector, "the delta recursion: the next layer's error signal, sent back through its weights"

    def words(self, step, tex):
        if step.rule == INPUT and tex.graph_mode:  # a graph spec has no layers: name the weights
            return rf"back through the weights ${tex.node_tex(tex.node(step.source).inputs[0])}$"
        return {
            WEIGHT: "the weights' gradient",
            BIAS: "the biases' gradient",
            INPUT: "back through the weights to the layer's input",
        }[step.rule]

    def claim_adjoint(self, step, upstream, plain):
        weight, data, *_ = plain.node(step.source).inputs
        if step.rule == WEIGHT:
            return f"{plain.p(upstream)} @ {data}.T"
        if step.rule == BIAS:
            return upstream
        return f"{weight}.T @ {plain.p(upstream)}"
