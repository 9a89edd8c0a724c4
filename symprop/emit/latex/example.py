"""The worked example: forward values, gradients and the update, in numbers."""

from __future__ import annotations

import sympy as sp

from ...latex_printing import given, number, paren
from ...ops import element_indices
from ...spec import flatten
from .layout import chain_terms, equation_rows, group_params, matrix_tex, negate_tex, pack_tokens, wrap_expr
from .limits import SUBSTITUTION_MAX_CHARS
from .notation import partial
from .tex import Tex, code


class ExampleSection:
    """The worked example: forward values, gradients and the update, in numbers."""

    # -- the worked example ---------------------------------------------------------

    def example_leaves(self, example) -> dict[str, object]:
        """Values of the leaves (inputs, targets, parameters) of the spec's example, by node name."""
        if self.graph_mode:
            return {**example.inputs, **example.targets, **example.params}
        return {"x": list(example.x), "t": list(example.t), **example.params}

    def example(self) -> dict | None:
        example = self.network.example
        if example is None or not self.small:
            return None
        scalar = self.d.scalar
        names = self.element_names
        given_values = self.example_leaves(example)
        point: dict[sp.Symbol, float] = {}
        for name, value in given_values.items():
            for symbol, number_ in zip(scalar.symbols[name], flatten(value)):
                point[symbol] = number_
        values = scalar.forward_values(point)
        shown = {s: given(point[s]) if s in point else number(values[s]) for s in values}
        numeric = {s: paren(t) if t.startswith("-") else t for s, t in shown.items()}

        def rows(lhs: str, expr: sp.Expr, value) -> Tex:
            formula = wrap_expr(expr, names)
            parts = [formula]
            if not isinstance(expr, sp.Symbol):
                middle = wrap_expr(expr, numeric, mul_symbol="dot")
                same_as_value = "".join(middle).replace(" ", "") == number(value).replace(" ", "")
                if middle != formula and not same_as_value and sum(len(line) for line in middle) <= SUBSTITUTION_MAX_CHARS:
                    parts.append(middle)
            if isinstance(expr, sp.Symbol) and expr in point:
                parts.append([shown[expr]])  # a given number, as given
            elif expr.is_number:
                pass
            else:
                parts.append([number(value)])
            return Tex(equation_rows(lhs, parts))

        data = [n for n in given_values if self.graph.role(n) != "param"]
        given_line = r", \qquad ".join(", ".join(rf"{names[s]} = {shown[s]}" for s in scalar.symbols[n]) for n in data)
        rate = example.learning_rate
        if rate is not None:
            given_line += rf", \qquad \alpha = {given(rate)}"
        params = []
        groups = (
            [[layer.weight] + ([layer.bias] if layer.bias else []) for layer in self.layers]  # a layer's W and b
            if not self.graph_mode
            else group_params(self.graph.params())
        )
        for members in groups:
            params.append(
                r", \qquad ".join(
                    rf"{self.node_tex(p)} = " + matrix_tex([shown[s] for s in scalar.symbols[p]], self.graph.nodes[p].shape)
                    for p in members
                )
            )
        forward = [
            rows(names[symbol], scalar.definitions[symbol], values[symbol])
            for node in self.graph.nodes.values()
            if node.op.role == "op"
            for symbol in scalar.symbols[node.name]
        ]
        blocks = []
        for param in self.params_backward():
            gradients = [scalar.gradient(param.name, index) for index in element_indices(param.shape)]
            factor_rows, seen = [], set()
            for g in gradients:
                for f in g.factors:
                    if (f.of, f.wrt) in seen:
                        continue
                    seen.add((f.of, f.wrt))
                    lhs = partial(names.get(f.of, "E"), names[f.wrt])
                    if f.of == scalar.loss_symbol:
                        factor_rows.append(self.adjoint_rows(lhs, f.wrt, f.expr, values, numeric))
                    else:
                        factor_rows.append(rows(lhs, f.expr, scalar_evaluate(f.expr, values)))
            gradient_rows, update_rows = [], []
            for g in gradients:
                total = scalar_evaluate(g.expr, values)
                product = r" \cdot ".join(negate_tex(number(scalar_evaluate(f.expr, values))) for f in g.factors)
                gradient_rows.append(Tex(rf"{partial('E', names[g.symbol])} &= {product} = {number(total)}"))
                if rate is not None:
                    new = values[g.symbol] - sp.Float(rate, 30) * total
                    update_rows.append(
                        Tex(
                            rf"{{{names[g.symbol]}}}^{{+}} &= {names[g.symbol]} - \alpha {partial('E', names[g.symbol])}"
                            rf" = {shown[g.symbol]} - {given(rate)} \cdot {negate_tex(number(total))} = {number(new)}"
                        )
                    )
            blocks.append(
                {
                    "name": Tex(self.node_tex(param.name)),
                    "plain": code(param.name),
                    "factors": factor_rows,
                    "gradients": gradient_rows,
                    "updates": update_rows,
                }
            )
        return {
            "given": Tex(given_line),
            "params": [Tex(p) for p in params],
            "forward": forward,
            "loss": Tex(number(values[scalar.loss_symbol])),
            "rate": Tex(given(rate)) if rate is not None else None,
            "blocks": blocks,
            "nodes": self.graph_backward_values(values, names, numeric) if self.graph_mode else [],
        }

    def graph_backward_values(self, values: dict, names: dict, numeric: dict) -> list[Tex]:
        """Node by node, from the loss back: the adjoint of every element and its value (CS231n style)."""
        scalar = self.d.scalar
        rows = []
        for node in reversed(list(self.graph.nodes.values())):
            if node.op.role == "target" or node.name not in scalar.symbols:
                continue
            for symbol in scalar.symbols[node.name]:
                if symbol in scalar.adjoints and symbol != scalar.loss_symbol:
                    lhs = partial("E", names[symbol])
                    rows.append(self.adjoint_rows(lhs, symbol, scalar.adjoints[symbol], values, numeric, force=True))
        return rows

    def adjoint_rows(self, lhs: str, symbol: sp.Symbol, expr: sp.Expr, values: dict, numeric: dict, force: bool = False) -> Tex:
        """``lhs = formula = the formula in numbers = value`` for an adjoint (compacted when long)."""
        names = self.element_names
        short = self.compact_adjoint(symbol, expr, force)
        if short is not None:
            expr, extra_names, stand_ins, terms = short
            adjoint_values = {d: scalar_evaluate(self.d.scalar.adjoints[u], values) for d, u in stand_ins.items()}
            names = {**names, **extra_names}
            numeric = {**numeric, **{d: negate_tex(number(v)) for d, v in adjoint_values.items()}}
            values = {**values, **adjoint_values}
        value = scalar_evaluate(expr, values)
        formula = pack_tokens(chain_terms(terms, names)) if short else wrap_expr(expr, names)
        parts = [formula]
        if not isinstance(expr, sp.Symbol):
            middle = (
                pack_tokens(chain_terms(terms, numeric, mul_symbol="dot"))
                if short
                else wrap_expr(expr, numeric, mul_symbol="dot")
            )
            if middle != formula and middle != [number(value)] and sum(map(len, middle)) <= SUBSTITUTION_MAX_CHARS:
                parts.append(middle)
        if formula != [number(value)]:
            parts.append([number(value)])
        return Tex(equation_rows(lhs, parts))


def scalar_evaluate(expr: sp.Expr, values: dict) -> sp.Float:
    from ...scalar import evaluate

    return evaluate(expr, values)
