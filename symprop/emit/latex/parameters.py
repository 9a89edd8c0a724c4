"""The chain rule for each parameter, factor by factor, and the per-weight derivatives of small networks."""

from __future__ import annotations

from ...ops import element_indices
from .layout import chain_terms, equation_rows, pack_tokens, product_tokens
from .limits import CHAIN_MAX_FACTORS, PARAMS_MAX
from .notation import partial, shape_tex, transpose_tex
from .tex import Tex, code, text
from .unrolled import Gap, gapped


class ParameterSection:
    """The chain rule for each parameter, factor by factor, and the per-weight derivatives of small networks."""

    # -- the chain rule per parameter ----------------------------------------------

    def parameters(self) -> list[dict]:
        items = []
        params = self.params_backward()
        for param in gapped(params, [True] * len(params), PARAMS_MAX):
            if isinstance(param, Gap):
                items.append({"gap": text(f"{len(param.items)} parameters left out to keep the handout short")})
                continue
            path = self._path_to_loss(param.name)
            consumer = self.users(param.name)[0]
            is_weight = consumer.inputs[0] == param.name
            p = self.node_tex(param.name)
            data = consumer.inputs[1]
            if path is None:
                chain, grouped = None, None
            else:
                chain, grouped = self._chain(param.name, path)
            delta = self.adjoint_tex(consumer.name)
            rhs = rf"{delta} \, {transpose_tex(self.node_tex(data))}" if is_weight else delta
            grad_line = next(
                (
                    line
                    for i, step in enumerate(self.d.steps)
                    if step.target == param.name
                    for line in self.numpy_lines[i]
                    if line.code.startswith(self.graph.grad(param.name))
                ),
                None,
            )
            items.append(
                {
                    "name": Tex(p),
                    "plain": code(param.name),
                    "shape": Tex(shape_tex(param.shape)),
                    "chain": Tex(chain) if chain else None,
                    "grouped": Tex(grouped) if grouped else None,
                    "delta": Tex(self._delta_definition(consumer.name)),
                    "matrix": Tex(rhs if chain else rf"{partial('E', p)} = {rhs}"),
                    "code": code(grad_line.code) if grad_line else None,
                }
            )
        return items

    def _path_to_loss(self, param: str) -> list[str] | None:
        """[param, z, a, z', a', ..., E] when each node has exactly one consumer."""
        path = [param]
        current = param
        while current != self.graph.loss:
            consumers = self.users(current)
            if len(consumers) != 1:
                return None
            current = consumers[0].name
            path.append(current)
        return path

    def _chain(self, param: str, path: list[str]) -> tuple[str, str]:
        """The chain rule from E down to ``param``: plain, and with its groups named."""
        nodes = list(reversed(path))  # E, a_L, z_L, ..., z_l, param
        # softmax + cross-entropy: dE/dz is one factor (y - t); the softmax output is skipped
        fused_skip = self.output.op.coupled
        factors = []  # (of, wrt)
        for of, wrt in zip(nodes, nodes[1:]):
            factors.append((of, wrt))
        plain_parts = [partial(self._tex_or_e(of), self.node_tex(wrt)) for of, wrt in factors]
        if fused_skip and len(factors) >= 2:
            plain_parts = [partial("E", self.node_tex(factors[1][1]))] + plain_parts[2:]
            factors = [("E", factors[1][1])] + factors[2:]
        # Groups: each dense output z closes a delta; name the factors after it.
        groups = []
        for of, wrt in factors:
            label = self._factor_label(of, wrt)
            groups.append((partial(self._tex_or_e(of), self.node_tex(wrt)), label))
        plain = self._ellipsis([p for p in plain_parts])
        grouped_parts = []
        # The leading factors up to the last layer's z are delta of the output layer.
        first_z = next((i for i, (of, wrt) in enumerate(factors) if self.graph.nodes[wrt].op.dense_layer), None)
        if first_z is not None:
            lead = " ".join(g for g, _ in groups[: first_z + 1])
            grouped_parts.append(rf"\underbrace{{{lead}}}_{{{self.adjoint_tex(factors[first_z][1])}}}")
            rest = groups[first_z + 1 :]
        else:
            rest = groups
        grouped_parts += [rf"\underbrace{{{g}}}_{{{label}}}" for g, label in rest]
        grouped = self._ellipsis(grouped_parts)
        return plain, grouped

    def _tex_or_e(self, node: str) -> str:
        return "E" if node == self.graph.loss else self.node_tex(node)

    def _factor_label(self, of: str, wrt: str) -> str:
        """What d ``of`` / d ``wrt`` is, in words of the handout's notation."""
        node = self.graph.nodes[of]
        return node.op.latex_factor(node, wrt, self)

    @staticmethod
    def _ellipsis(parts: list[str]) -> str:
        if len(parts) > CHAIN_MAX_FACTORS:
            parts = parts[:2] + [r"\cdots"] + parts[-3:]
        return r" \, ".join(parts)

    def _delta_definition(self, z: str) -> str:
        """delta of a dense output, as the backward section computes it (vector form)."""
        step = next((s for s in self.d.steps if s.target == z), None)
        if step is None:
            return ""
        vector = self.step_math(step)[1]
        return f"{self.adjoint_tex(z)} = {vector.rsplit(' = ', 1)[-1]}"

    # -- per weight -----------------------------------------------------------------

    def per_weight(self) -> list[dict] | None:
        """Every parameter element's chain rule, output layer first (small networks)."""
        if not self.small:
            return None
        names = self.element_names
        out = []
        for param in self.params_backward():
            rows = []
            for index in element_indices(param.shape):
                g = self.d.scalar.gradient(param.name, index)
                lhs = partial("E", names[g.symbol])
                factors = r" \, ".join(partial(names.get(f.of, "E"), names[f.wrt]) for f in g.factors)
                exprs, row_names = [f.expr for f in g.factors], dict(names)
                short = self.compact_adjoint(g.factors[0].wrt, g.factors[0].expr)
                if short is None:
                    product = pack_tokens(product_tokens(exprs, row_names))
                else:
                    row_names.update(short[1])
                    tokens = chain_terms(short[3], row_names)
                    if len(exprs) > 1:
                        tokens[0], tokens[-1] = r"\Bigl(" + tokens[0], tokens[-1] + r"\Bigr)"
                        rest = product_tokens(exprs[1:], row_names)
                        tokens += [r"\cdot " + rest[0], *rest[1:]]
                    product = pack_tokens(tokens)
                parts = [[factors], product] if len(g.factors) > 1 else [product]
                rows.append(Tex(equation_rows(lhs, parts, force_rows=len(g.factors) > 1)))
            out.append({"name": Tex(self.node_tex(param.name)), "rows": rows})
        return out
