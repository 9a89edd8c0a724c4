"""The chain rule for each parameter, factor by factor, and the per-weight derivatives of small networks."""

from __future__ import annotations

from ...ops import element_indices
from .layout import chain_terms, equation_rows, pack_tokens, product_tokens, sum_of_products
from .limits import PARAMS_MAX
from .notation import count_words, partial, shape_tex, transpose_tex
from .tex import Tex, code, text
from .unrolled import Gap, gapped


def brace(factors: str, label: str) -> str:
    """``factors`` with ``label`` under a brace: what the group is called."""
    return rf"\underbrace{{{factors}}}_{{{label}}}"


class ParameterSection:
    """The chain rule for each parameter, factor by factor, and the per-weight derivatives of small networks."""

    # -- the chain rule per parameter ----------------------------------------------

    def parameters(self) -> list[dict]:
        """Each parameter's gradient, output layer first: one element's chain rule with its
        factors grouped under braces that multiply out as written (the layer's error signal
        delta, the next layer's weights, ...), then the matrix form the module computes."""
        items = []
        params = self.params_backward()
        layer_of = {layer.z: layer for layer in self.layers}
        for param in gapped(params, [True] * len(params), PARAMS_MAX):
            if isinstance(param, Gap):
                items.append({"gap": text(f"{count_words(len(param.items), 'parameter')} left out to keep the handout short")})
                continue
            layer = layer_of[self.users(param.name)[0].name]
            is_weight = layer.weight == param.name
            p = self.node_tex(param.name)
            delta = self.adjoint_tex(layer.z)
            rhs = rf"{delta} \, {transpose_tex(self.node_tex(layer.data))}" if is_weight else delta
            index = "jk" if is_weight else "j"
            element = self.generic(param.name, index, matrix=is_weight)
            result = self.adjoint_element(layer.z, "j") + (rf" \, {self.generic(layer.data, 'k')}" if is_weight else "")
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
                    "chain": Tex(rf"{partial('E', element)} &= {self._element_chain(layer, element, is_weight)} = {result}"),
                    "matrix": Tex(rf"{partial('E', p)} &= \boxed{{{rhs}}}"),
                    "delta": Tex(self._delta_definition(layer.z)),
                    "code": code(grad_line.code) if grad_line else None,
                }
            )
        return items

    def _element_chain(self, layer, element: str, is_weight: bool) -> str:
        """dE/d(one element of a layer's W or b) as the chain of its local derivatives, each group
        braced with the name it has in the backward pass.  An output layer's chain ends at the
        loss; a hidden layer's goes through the next layer's error signal and weights, summed
        over that layer's units i (the delta recursion), so the braces multiply out elementwise:
        ``sum_i delta'_i w'_ij f'(z_j) a_k``."""
        zj = self.generic(layer.z, "j")
        last = brace(partial(zj, element), self.generic(layer.data, "k") if is_weight else "1")
        following = next((other for other in self.layers if other.index == layer.index + 1), None)
        delta_j = self.adjoint_element(layer.z, "j")
        if following is None:  # the output layer: up to its z, the factors are its delta
            if layer.a is None or self.output.op.coupled:  # no activation, or softmax fused with its loss
                return rf"{brace(partial('E', zj), delta_j)} \, {last}"
            aj = self.generic(layer.a, "j")
            group = partial("E", aj) + r" \, " + partial(aj, zj)
            return rf"{brace(group, delta_j)} \, {last}"
        zi = self.generic(following.z, "i")
        a = layer.a or layer.z
        aj = self.generic(a, "j")
        factors = [
            brace(partial("E", zi), self.adjoint_element(following.z, "i")),
            brace(partial(zi, aj), self.generic(following.weight, "ij", matrix=True)),
        ]
        if layer.a is not None:
            factors.append(brace(partial(aj, zj), rf"{self.function_tex(layer.op)}'({zj})"))
        return rf"\sum_{{i=1}}^{{{following.units}}} " + r" \, ".join([*factors, last])

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
                exprs, row_names = [self.named_element(f.of, f.wrt, f.expr) for f in g.factors], dict(names)  # alpha by name
                short = self.compact_adjoint(g.factors[0].wrt, g.factors[0].expr)
                from_loss = short is None and g.factors[0].of == self.d.scalar.loss_symbol
                terms = self.chain_sum(g.factors[0].wrt) if from_loss else None
                if terms is not None and len(terms) > 1:  # a sum: its terms in the order of the chain rule
                    tokens = sum_of_products(terms, row_names)
                    if len(exprs) > 1:
                        tokens[0], tokens[-1] = r"\Bigl(" + tokens[0], tokens[-1] + r"\Bigr)"
                        rest = product_tokens(exprs[1:], row_names)  # dotted after its first
                        tokens += [r"\cdot " + rest[0], *rest[1:]]
                    product = pack_tokens(tokens)
                elif short is None:
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
