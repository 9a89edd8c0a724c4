"""The backward pass step by step, each step beside the NumPy line that computes it."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import sympy as sp

from ... import registry
from ...graph import Loss, Softmax
from ...latex_printing import paren, to_latex, visible_length
from .layout import split_equation
from .limits import SHORT_LOCAL
from .notation import generic_element, index_letters, partial, transpose_tex
from .tex import Tex, code

if TYPE_CHECKING:
    from ...derivation import Step


class BackwardSection:
    """The backward pass step by step, each step beside the NumPy line that computes it."""

    # -- backward -------------------------------------------------------------------

    @cached_property
    def numpy_lines(self) -> dict[int, list]:
        """The lines of the module's backward() for each step, exactly as the NumPy emitter writes them.

        The emitter builds the whole module (its state numbers the temporaries); its
        ``backward_line`` is wrapped to record which lines each step produced.
        """
        from ...emit_numpy import _ModuleBuilder

        builder_class = _ModuleBuilder
        if self.graph_mode:
            from ...emit_numpy_graph import GraphModuleBuilder as builder_class
        builder = builder_class(self.d)
        recorded: list[tuple[Step, list]] = []
        original = builder.backward_line

        def recording(step):
            lines = original(step)
            recorded.append((step, lines))
            return lines

        builder.backward_line = recording
        builder.context()
        lines: dict[int, list] = {}
        position = 0
        for i, step in enumerate(self.d.steps):
            for j in range(position, len(recorded)):
                if recorded[j][0] == step:
                    lines[i], position = recorded[j][1], j + 1
                    break
            else:
                lines[i] = []
        return lines

    def backward(self) -> list[dict]:
        items = []
        for i, step in enumerate(self.d.steps):
            element, vector, note = self.step_math(step)
            items.append(
                {
                    "title": Tex(self.step_title(step)),
                    "element": Tex(split_equation(element)),
                    "vector": Tex(split_equation(vector)),
                    "note": Tex(note),
                    "code": [code(line.code) for line in self.numpy_lines[i]],
                }
            )
        return items

    def step_title(self, step: Step) -> str:
        target = self.graph.nodes[step.target]
        source = rf"${self.node_tex(step.source)}$"
        what = {
            "loss": "the loss at the output",
            "fused": "the output layer's error signal" if not self.graph_mode else f"the loss and {source} together",
            "activation": "back through the activation",
            "softmax": "back through the softmax",
            "dense_weight": "the weights' gradient",
            "dense_bias": "the biases' gradient",
            "dense_input": "back through the weights to the layer's input",
            "elementwise": f"back through {source}",
            "matmul": f"back through the matrix product {source}",
            "transpose": f"back through the transpose {source}",
            "sum": f"back through the sum {source}",
            "concat": f"back through the concatenation {source}",
        }.get(step.rule, f"back through {source}")
        if step.accumulate:
            what += ", added to what it already received"
        if target.op.role == "param" or step.rule in ("dense_input", "loss") or self.graph_mode:
            return rf"$\partial E / \partial {self.node_tex(step.target)}$: {what}"
        return rf"${self.adjoint_tex(step.target)}$: {what}"

    def step_math(self, step: Step) -> tuple[str, str, str]:
        """(element form, vector form, a remark) of one backward step."""
        source = self.graph.nodes[step.source]
        eq = r"\mathrel{+}=" if step.accumulate else "="
        rule = step.rule
        # a loss inside a larger loss expression (graph specs): its own adjoint multiplies
        upstream_of_loss = "" if step.source == self.graph.loss else rf"{partial('E', self.node_tex(step.source))} \cdot "
        if rule == "loss":
            y, tgt = step.target, source.inputs[1]
            j = index_letters(self.graph.nodes[y].shape)
            local = self._local(step.local, {registry.Y: self._el(y, j), registry.T: self._el(tgt, j)})
            vector = self._local(step.local, {registry.Y: self.node_tex(y), registry.T: self.node_tex(tgt)}, vector=True)
            return (
                rf"{partial('E', self._el(y, j))} {eq} {upstream_of_loss}{local}",
                rf"{partial('E', self.node_tex(y))} {eq} {upstream_of_loss}{paren(vector) if upstream_of_loss else vector}",
                "",
            )
        if rule == "fused":
            activation = self.graph.nodes[source.inputs[0]]
            z, a, tgt = step.target, activation.name, source.inputs[1]
            j = index_letters(activation.shape)
            names = {registry.Z: self._el(z, j), registry.A: self._el(a, j), registry.T: self._el(tgt, j)}
            vnames = {registry.Z: self.node_tex(z), registry.A: self.node_tex(a), registry.T: self.node_tex(tgt)}
            delta = self.adjoint_element(z, j)
            chain = rf"{partial('E', self._el(a, j))} \, {partial(self._el(a, j), self._el(z, j))}"
            vector = rf"{self.adjoint_tex(z)} {eq} {upstream_of_loss}{self._local(step.local, vnames, vector=True)}"
            if isinstance(activation.op, Softmax):
                chain = rf"\sum_i {partial('E', self._el(a, 'i'))} \, {partial(self._el(a, 'i'), self._el(z, j))}"
                note = "softmax and cross-entropy together; derived in the section on local derivatives"
                return rf"{delta} {eq} {chain} = {upstream_of_loss}{self._local(step.local, names)}", vector, note
            loss: Loss = source.op
            dloss = loss.scale(activation.shape[0] if activation.shape else 1) * loss.derivative.xreplace(
                {registry.Y: registry.A}
            )
            product = rf"{self._factor(dloss, names)} \cdot {self._factor(activation.op.derivative, names)}"
            element = rf"{delta} {eq} {chain} = {upstream_of_loss}{product}"
            note = ""
            if step.local != dloss * activation.op.derivative:
                element += rf" = {upstream_of_loss}{self._local(step.local, names)}"
                note = "the two factors multiplied and simplified by SymPy"
            return element, vector, note
        if rule == "activation":
            z, a = step.target, step.source
            j = index_letters(source.shape)
            names = {registry.Z: self._el(z, j), registry.A: self._el(a, j)}
            vnames = {registry.Z: self.node_tex(z), registry.A: self.node_tex(a)}
            local = self._factor(step.local, names)
            vlocal = self._local(step.local, vnames, vector=True)
            if isinstance(step.local, sp.Add):
                vlocal = paren(vlocal)
            if visible_length(local) > SHORT_LOCAL:  # long: by name, as derived in the local-derivatives section
                f = self.function_tex(source.op)
                local, vlocal = f"{f}'({self._el(z, j)})", f"{f}'({self.node_tex(z)})"
            upstream, vupstream, kind = self._upstream(a)
            grad_a = partial("E", self._el(a, j))
            element = rf"{self.adjoint_element(z, j)} {eq} {grad_a} \, {partial(self._el(a, j), self._el(z, j))} = "
            element += rf"{paren(upstream)} \cdot {local}" if upstream else rf"{grad_a} \cdot {local}"
            vector = rf"{self.adjoint_tex(z)} {eq} {partial('E', self.node_tex(a))} \odot {vlocal}"
            if upstream:
                vector += rf" = {paren(vupstream)} \odot {vlocal}"
            note = {
                "dense_input": "the delta recursion: the next layer's error signal, sent back through its weights",
                "loss": "the loss's derivative times the activation's",
            }.get(kind, "")
            return element, vector, note
        if rule == "softmax":
            z, a = step.target, step.source
            element = (
                rf"{partial('E', generic_element(z, 'j'))} {eq} {generic_element(a, 'j')} \Bigl("
                rf"{partial('E', generic_element(a, 'j'))} - \sum_i "
                rf"{partial('E', generic_element(a, 'i'))} {generic_element(a, 'i')}\Bigr)"
            )
            grad_a = partial("E", self.node_tex(a))
            vector = (
                rf"{partial('E', self.node_tex(z))} {eq} {self.node_tex(a)} \odot \Bigl("
                rf"{grad_a} - {transpose_tex(grad_a)} {self.node_tex(a)}\Bigr)"
            )
            return element, vector, r"from the softmax Jacobian $\partial y_i / \partial z_j = y_i(\delta_{ij} - y_j)$"
        if rule in ("dense_weight", "dense_bias", "dense_input"):
            return self._dense_math(step, source, eq)
        if rule == "elementwise":
            return self._elementwise_math(step, source, eq)
        if rule == "matmul":
            return self._matmul_math(step, source, eq)
        if rule == "transpose":
            a, b = step.target, step.source
            element = rf"{partial('E', self._el(a, 'jk'))} {eq} {partial('E', self._el(b, 'kj'))}"
            vector = rf"{partial('E', self.node_tex(a))} {eq} {transpose_tex(partial('E', self.node_tex(b)))}"
            return element, vector, ""
        if rule == "sum":
            a, s = step.target, step.source
            shape_in = self.graph.nodes[a].shape
            idx = index_letters(shape_in)
            axis = getattr(source.op, "axis", None)
            kept = "" if axis is None else idx[:axis] + idx[axis + 1 :]
            scale = "" if step.local == 1 else to_latex(step.local) + r" \, "
            element = rf"{partial('E', self._el(a, idx))} {eq} {scale}{partial('E', self._el(s, kept))}"
            vector = rf"{partial('E', self.node_tex(a))} {eq} {scale}{partial('E', self.node_tex(s))}"
            vector += r" \text{ in every element}" if axis is None else rf" \text{{ along axis {axis + 1}}}"
            return (
                element,
                vector,
                "a sum sends its adjoint to every term unchanged" + (", times the 1/n of a mean" if scale else ""),
            )
        if rule == "concat":
            a, c = step.target, step.source
            offset = source.op.offset(step.argument)
            n = self.graph.nodes[a].shape[0]
            shifted = f"{offset} + j" if offset else "j"
            element = rf"{partial('E', self._el(a, 'j'))} {eq} {partial('E', self._el(c, shifted))}"
            part = rf"\Bigl({partial('E', self.node_tex(c))}\Bigr)_{{{offset + 1}..{offset + n}}}"
            vector = rf"{partial('E', self.node_tex(a))} {eq} {part}"
            return element, vector, "a concatenation hands each part its own slice of the adjoint"
        raise NotImplementedError(f"the handout has no presentation of the backward rule {rule!r}")

    def _dense_math(self, step: Step, source, eq: str) -> tuple[str, str, str]:
        weight, data, *bias = source.inputs
        delta_j = self.adjoint_element(step.source, "j")
        delta = self.adjoint_tex(step.source)
        zj = generic_element(step.source, "j")
        batch = "summed over the samples of a batch"
        if step.rule == "dense_weight":
            wjk = generic_element(weight, "jk", True)
            element = rf"{partial('E', wjk)} {eq} {partial('E', zj)} \, {partial(zj, wjk)}"
            element += rf" = {delta_j} \, {generic_element(data, 'k')}"
            vector = rf"{partial('E', self.node_tex(weight))} {eq} {delta} \, {transpose_tex(self.node_tex(data))}"
            return element, vector, batch
        if step.rule == "dense_bias":
            bj = generic_element(bias[0], "j")
            element = rf"{partial('E', bj)} {eq} {partial('E', zj)} \, {partial(zj, bj)} = {delta_j} \cdot 1"
            vector = rf"{partial('E', self.node_tex(bias[0]))} {eq} {delta}"
            return element, vector, batch
        ak = generic_element(data, "k")
        rows = source.shape[0]
        element = (
            rf"{partial('E', ak)} {eq} \sum_{{j=1}}^{{{rows}}} {partial('E', zj)} \, {partial(zj, ak)}"
            rf" = \sum_{{j=1}}^{{{rows}}} {delta_j} \, {generic_element(weight, 'jk', True)}"
        )
        vector = rf"{partial('E', self.node_tex(data))} {eq} {transpose_tex(self.node_tex(weight))} {delta}"
        return element, vector, ""

    def _elementwise_math(self, step: Step, source, eq: str) -> tuple[str, str, str]:
        """out = f(u0, u1, ...) elementwise (with broadcasting): dE/du_i = dE/dout * df/du_i."""
        from ...graph import arg_symbol

        out_idx = index_letters(source.shape)
        names, vnames = {}, {}
        for k, name in enumerate(source.inputs):
            rank = len(self.graph.nodes[name].shape)
            names[arg_symbol(k)] = self._el(name, out_idx[len(out_idx) - rank :] if rank else "")
            vnames[arg_symbol(k)] = self.node_tex(name)
        names[registry.A] = self._el(source.name, out_idx)
        vnames[registry.A] = self.node_tex(source.name)
        target = step.target
        rank = len(self.graph.nodes[target].shape)
        target_idx = out_idx[len(out_idx) - rank :] if rank else ""
        summed = [c for c in out_idx if c not in target_idx]
        total = (r"\sum_{" + ",".join(summed) + "} ") if summed else ""
        grad_out = partial("E", self._el(source.name, out_idx))
        local = step.local
        factor = "" if local == 1 else rf" \cdot {self._factor(local, names)}"
        element = (
            rf"{partial('E', self._el(target, target_idx))} {eq} {total}{grad_out} \, "
            rf"{partial(self._el(source.name, out_idx), self._el(target, target_idx))} = {total}{grad_out}{factor}"
        )
        vector_valued = bool(source.shape)
        vlocal = self._local(local, vnames, vector=vector_valued)
        if isinstance(local, sp.Add) or local.could_extract_minus_sign():
            vlocal = paren(vlocal)
        vfactor = "" if local == 1 else (rf" \odot {vlocal}" if vector_valued else rf" \cdot {vlocal}")
        vector = rf"{partial('E', self.node_tex(target))} {eq} {partial('E', self.node_tex(source.name))}{vfactor}"
        note = f"summed over the broadcast {'index' if len(summed) == 1 else 'indices'} {', '.join(summed)}" if summed else ""
        return element, vector, note

    def _matmul_math(self, step: Step, source, eq: str) -> tuple[str, str, str]:
        """c = a @ b per sample (matrix or vector operands)."""
        a, b = source.inputs
        c = source.name
        left, right = self.graph.nodes[a].shape, self.graph.nodes[b].shape
        g = partial("E", self.node_tex(c))
        A, B = self.node_tex(a), self.node_tex(b)
        if step.argument == 0:
            if len(left) == 2 and len(right) == 2:
                vector = rf"{g} \, {transpose_tex(B)}"
                element = rf"\sum_k {partial('E', self._el(c, 'ik'))} \, {self._el(b, 'jk')}"
                idx = "ij"
            elif len(left) == 2:
                vector = rf"{g} \, {transpose_tex(B)}"
                element = rf"{partial('E', self._el(c, 'i'))} \, {self._el(b, 'j')}"
                idx = "ij"
            elif len(right) == 2:
                vector = rf"{B} \, {g}"
                element = rf"\sum_k {self._el(b, 'jk')} \, {partial('E', self._el(c, 'k'))}"
                idx = "j"
            else:
                vector = rf"{g} \, {B}"
                element = rf"{partial('E', self.node_tex(c))} \, {self._el(b, 'j')}"
                idx = "j"
            target = a
        else:
            if len(left) == 2 and len(right) == 2:
                vector = rf"{transpose_tex(A)} \, {g}"
                element = rf"\sum_i {self._el(a, 'ij')} \, {partial('E', self._el(c, 'ik'))}"
                idx = "jk"
            elif len(left) == 2:
                vector = rf"{transpose_tex(A)} \, {g}"
                element = rf"\sum_i {self._el(a, 'ij')} \, {partial('E', self._el(c, 'i'))}"
                idx = "j"
            elif len(right) == 2:
                vector = rf"{A} \, {transpose_tex(g)}"
                element = rf"{self._el(a, 'j')} \, {partial('E', self._el(c, 'k'))}"
                idx = "jk"
            else:
                vector = rf"{g} \, {A}"
                element = rf"{partial('E', self.node_tex(c))} \, {self._el(a, 'j')}"
                idx = "j"
            target = b
        return (
            rf"{partial('E', self._el(target, idx))} {eq} {element}",
            rf"{partial('E', self.node_tex(target))} {eq} {vector}",
            "the matrix-product rule",
        )

    def _upstream(self, node: str) -> tuple[str | None, str | None, str | None]:
        """dE/d``node`` spelled out (element j, vector) when one step alone sends it, and that step's rule."""
        senders = [s for s in self.d.steps if s.target == node]
        if len(senders) != 1:
            return None, None, None
        step = senders[0]
        if step.rule == "dense_input":
            return self._recursion(node, "j"), self._recursion_vector(node), step.rule
        if step.rule == "loss":
            element = self._local(step.local, {registry.Y: generic_element(node, "j"), registry.T: "t_{j}"})
            vector = self._local(step.local, {registry.Y: self.node_tex(node), registry.T: "t"}, vector=True)
            return element, vector, step.rule
        return None, None, None

    def _recursion(self, node: str, index: str) -> str | None:
        """``sum_i delta_i w_ij`` when ``node``'s adjoint comes from one dense layer only."""
        senders = [s for s in self.d.steps if s.target == node]
        if len(senders) != 1 or senders[0].rule != "dense_input":
            return None
        dense = self.graph.nodes[senders[0].source]
        rows = dense.shape[0]
        return (
            rf"\sum_{{i=1}}^{{{rows}}} {self.adjoint_element(dense.name, 'i')} \,"
            rf" {generic_element(dense.inputs[0], 'i' + index, True)}"
        )

    def _recursion_vector(self, node: str) -> str | None:
        """``(W^{(l+1)})^T delta^{(l+1)}`` when ``node``'s adjoint comes from one dense layer only."""
        senders = [s for s in self.d.steps if s.target == node]
        if len(senders) != 1 or senders[0].rule != "dense_input":
            return None
        dense = self.graph.nodes[senders[0].source]
        return rf"{transpose_tex(self.node_tex(dense.inputs[0]))} {self.adjoint_tex(dense.name)}"

    def _local(self, expr: sp.Expr, names: dict[sp.Symbol, str], vector: bool = False) -> str:
        if vector:
            return to_latex(expr, names, hadamard=True)
        return to_latex(expr, names)

    def _factor(self, expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
        if isinstance(expr, sp.Add) or expr.could_extract_minus_sign():
            return paren(to_latex(expr, names))
        return to_latex(expr, names)

    @staticmethod
    def _paren(tex: str) -> str:
        return paren(tex) if (" + " in tex or " - " in tex or r"\odot" in tex) else tex
