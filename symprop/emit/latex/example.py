"""The worked example: forward values, gradients and the update, in numbers."""

from __future__ import annotations

from functools import cached_property

import sympy as sp

from ...exercises import step_rate as rate_of_step
from ...latex_printing import given, number, ordered_terms, paren, to_latex
from ...ops import element_indices
from ...spec import flatten
from .layout import (
    chain_terms,
    equation_rows,
    group_params,
    matrix_tex,
    negate_tex,
    pack_tokens,
    segments,
    sum_of_products,
    wrap_expr,
)
from .limits import SUBSTITUTION_MAX_CHARS, ZEROS_NAMED
from .notation import count_words, partial
from .tex import Tex, code, text


class ExampleSection:
    """The worked example: forward values, gradients and the update, in numbers."""

    # -- the worked example ---------------------------------------------------------

    def example_leaves(self, example) -> dict[str, object]:
        """Values of the leaves (inputs, targets, parameters) of the spec's example, by node name."""
        if self.graph_mode:
            return {**example.inputs, **example.targets, **example.params}
        return {"x": list(example.x), "t": list(example.t), **example.params}

    @cached_property
    def example_point(self) -> tuple[dict, dict] | None:
        """(the given values of the leaves, every element's value) of the spec's example, by
        element symbol; None without an example (or a per-weight view)."""
        example = self.network.example
        if example is None or not self.small:
            return None
        point: dict[sp.Symbol, float] = {}
        for name, value in self.example_leaves(example).items():
            for symbol, number_ in zip(self.d.scalar.symbols[name], flatten(value)):
                point[symbol] = number_
        return point, self.d.scalar.forward_values(point)

    def example(self) -> dict | None:
        if self.example_point is None:
            return None
        example = self.network.example
        scalar = self.d.scalar
        names = self.element_names
        given_values = self.example_leaves(example)
        point, values = self.example_point
        shown = {s: given(point[s]) if s in point else number(values[s]) for s in values}
        numeric = {s: paren(t) if t.startswith("-") else t for s, t in shown.items()}
        # the constants a formula writes by name (named_element), in numbers as the spec gives them
        values = {**values, **self.named_constants}
        numeric.update(self.constant_numbers())
        # what a target of 0 multiplies is 0: - 0 log(y_1) is left out of the numbers, not printed; an
        # input of 0 stays, as the answer key and a student write it: 0.5 * 1 + (-0.4) * 0 + 0.1
        zeros = {s: sp.S.Zero for s, v in point.items() if v == 0 and self.graph.role(self.element_index[s][0]) == "target"}
        self._example_state = (values, numeric, zeros, shown)

        data = [n for n in given_values if self.graph.role(n) != "param"]
        given_line = r", \qquad ".join(", ".join(rf"{names[s]} = {shown[s]}" for s in scalar.symbols[n]) for n in data)
        rate = example.learning_rate
        step_rate = rate_of_step(self.d, rate)
        if step_rate is not None:
            given_line += rf", \qquad \alpha = {given(step_rate)}"
        groups = (
            [[layer.weight] + ([layer.bias] if layer.bias else []) for layer in self.layers]  # a layer's W and b
            if not self.graph_mode
            else group_params(self.graph.params())
        )
        params = [
            r", \qquad ".join(
                rf"{self.node_tex(p)} = " + matrix_tex([shown[s] for s in scalar.symbols[p]], self.graph.nodes[p].shape)
                for p in members
            )
            for members in groups
        ]
        if sum(len(scalar.symbols[p]) for members in groups for p in members) <= 12:  # small: all on one line
            params = [r", \qquad ".join(params)]
        forward = [
            self.value_rows(
                names[symbol],
                self.named_element(None, symbol, scalar.definitions[symbol]),  # the loss's constants by name
                values[symbol],
                loss=symbol == scalar.loss_symbol,
            )
            for node in self.graph.nodes.values()
            if node.op.role == "op"
            for symbol in scalar.symbols[node.name]
        ]
        shown_factors: set = set()  # a factor shared by W and b (their layer's da/dz) is written once
        blocks = [self.gradient_block(param, step_rate, shown_factors) for param in self.params_backward()]
        return {
            "given": Tex(given_line),
            "params": [Tex(p) for p in params],
            "forward": tex_groups(segments(forward)),
            "loss": Tex(number(values[scalar.loss_symbol])),
            "rate": Tex(given(step_rate)) if step_rate is not None else None,
            "no_step": Tex(
                rf"There are no targets: ${self.node_tex(self.graph.loss)}$ is the network's output, differentiated"
                " as the lecture does, not a loss to minimise, so no step of gradient descent is taken."
            )
            if rate is not None and step_rate is None
            else None,
            "blocks": [b for b in blocks if b["rows"] or b["table"] or b["zeros"]],
            "updates": tex_groups(segments([row for b in blocks for row in b["updates"]])),
            "nodes": self.graph_backward_values(values, names, numeric) if self.graph_mode else [],
        }

    def value_rows(self, lhs: str, expr: sp.Expr, value, loss: bool = False) -> str:
        """``lhs = formula = the formula in numbers = value`` as align rows (the numbers left out
        where they would repeat the formula or the value, or run too long; a sum of a loss's
        terms also shown term by term: ``0.02193381 + 0.00203809``)."""
        values, numeric, zeros, shown = self._example_state
        names = self.element_names
        formula = wrap_expr(expr, names)
        parts = [formula]
        if not isinstance(expr, sp.Symbol) and not expr.has(sp.Piecewise):  # a case split in numbers reads worse than its value
            terms = [sign_term for sign_term in signed_terms(expr) if sign_term.xreplace(zeros) != 0]
            middle = in_numbers(expr, zeros, numeric)
            same_as_value = "".join(middle).replace(" ", "") == number(value).replace(" ", "")
            if middle != formula and not same_as_value and sum(len(line) for line in middle) <= SUBSTITUTION_MAX_CHARS:
                parts.append(middle)
            if loss and len(terms) > 1:
                parts.append([" + ".join(number(scalar_evaluate(t, values)) for t in terms).replace("+ -", "- ")])
        if isinstance(expr, sp.Symbol) and expr in shown:
            parts.append([shown[expr]])  # a given number, as given
        elif not expr.is_number:
            parts.append([number(value)])
        return equation_rows(lhs, parts)

    def gradient_block(self, param, rate, shown_factors: set) -> dict:
        """One parameter's gradients, as the worked-example tutorial tells them: the chain-rule
        factors (each value once; those equal to one forward value on one row), the first
        weight's product and update written out, then every weight in a table (its factors,
        their product, its update).  Gradients that are 0 because a factor is (a dead relu, an
        input of 0) are said in one line, not listed."""
        scalar = self.d.scalar
        values, _, _, shown = self._example_state
        names = self.element_names
        gradients = [scalar.gradient(param.name, index) for index in element_indices(param.shape)]
        totals = {g.symbol: scalar_evaluate(g.expr, values) for g in gradients}
        moving = [g for g in gradients if totals[g.symbol] != 0]
        still = [g for g in gradients if totals[g.symbol] == 0]

        def update(g) -> tuple[str, str]:
            new = values[g.symbol] - sp.Float(rate, 30) * totals[g.symbol]
            return (
                rf"{shown[g.symbol]} - {given(rate)} \cdot {negate_tex(number(totals[g.symbol]))} = {number(new)}",
                number(new),
            )

        groups, written, updates, table = [], [], [], None
        if self.graph_mode:  # a graph spec's example lists every adjoint node by node already
            if rate is not None:
                updates = [rf"{{{names[g.symbol]}}}^{{+}} &= {update(g)[0]}" for g in moving]
        else:
            groups = [*self.factor_rows(moving, values, shown_factors), self.delta_rows(param, gradients, values)]
            if moving:  # the first weight told as the tutorial does: its factors, their product, the update
                first, told = moving[0], self.alias_names()
                chain = r" \cdot ".join(partial(told.get(f.of, "E"), told[f.wrt]) for f in first.factors)
                product = r" \cdot ".join(negate_tex(number(scalar_evaluate(f.expr, values))) for f in first.factors)
                weight = told[first.symbol]
                written.append(rf"{partial('E', weight)} &= {chain} = {product} = {number(totals[first.symbol])}")
                named = rf" \qquad ({weight} = {names[first.symbol]})" if weight != names[first.symbol] else ""
                if rate is not None:
                    step = rf"{weight} - \alpha \, {partial('E', weight)}"
                    written.append(rf"{{{weight}}}^{{+}} &= {step} = {update(first)[0]}{named}")
                elif named:
                    written[-1] += named
            if len(moving) > 1:
                table = self.gradient_table(moving, totals, values, update if rate is not None else None)
        zeros = Tex(self.zero_gradients(param, moving, still, values)) if still and not self.graph_mode else None
        return {
            "name": Tex(self.node_tex(param.name)),
            "plain": code(param.name),
            "rows": tex_groups([segment for group in [*groups, written] for segment in segments(group)]),
            "table": table,
            "zeros": zeros,
            "updates": updates,
        }

    def delta_rows(self, param, gradients: list, values: dict) -> list[str]:
        """``delta_j = dE/da_j . da_j/dz_j = value`` of a layer whose deltas the layer below
        uses (a hidden unit's dE/da is written with them): each unit's once."""
        layer = next(layer for layer in self.layers if param.name in (layer.weight, layer.bias))
        if layer.index == 1 or layer.weight != param.name:
            return []
        rows, seen = [], set()
        for g in gradients:
            head = g.factors[:-1]
            unit = g.factors[-1].of
            if len(head) < 2 or unit in seen:
                continue
            seen.add(unit)
            delta = self.adjoint_element(layer.z, str(self.element_index[unit][1][0] + 1))
            product = r" \cdot ".join(negate_tex(number(scalar_evaluate(f.expr, values))) for f in head)
            rows.append(rf"{delta} &= {product} = {number(scalar_evaluate(sp.Mul(*(f.expr for f in head)), values))}")
        return rows

    def gradient_table(self, gradients: list, totals: dict, values: dict, update) -> dict:
        """Every weight on a row: its chain-rule factors, their product (dE/dw) and the update."""
        names = self.element_names
        first = gradients[0]
        generic = self.generic_names(first)
        header = [partial(generic.get(f.of, "E"), generic[f.wrt]) for f in first.factors]
        header.append(partial("E", generic[first.symbol]))
        if update is not None:
            header.append(rf"{{{generic[first.symbol]}}}^{{+}}")
        rows = []
        for g in gradients:
            cells = [names[g.symbol]] + [number(scalar_evaluate(f.expr, values)) for f in g.factors]
            cells.append(number(totals[g.symbol]))
            if update is not None:
                cells.append(update(g)[1])
            rows.append(Tex(" & ".join(f"${c}$" for c in cells)))
        return {"columns": "c" * (len(header) + 1), "header": Tex(" & ".join(["", *(f"${h}$" for h in header)])), "rows": rows}

    def generic_names(self, gradient) -> dict:
        """The symbols of one weight's chain rule named with index letters: its row j (and column
        k), as the derivation above writes them (``w^{(2)}_{jk}``, ``a^{(2)}_{j}``)."""
        node, index = self.element_index[gradient.symbol]
        letters = {index[0]: "j"} if index else {}
        generic = {gradient.symbol: self.generic(node, "jk" if len(index) == 2 else "j", matrix=len(index) == 2)}
        for f in gradient.factors:
            for symbol in (f.of, f.wrt):
                if symbol in generic or symbol not in self.element_index:
                    continue
                other, position = self.element_index[symbol]
                generic[symbol] = self.generic(other, letters.get(position[0], "i")) if position else self.node_tex(other)
        return generic

    def factor_rows(self, gradients: list, values: dict, seen: set) -> list[list[str]]:
        """Each distinct chain-rule factor of ``gradients`` once, with its formula and value, in
        groups by their place in the chain (every dE/da, then every da/dz, ...); factors that
        are one and the same forward value (dz_1/dw_11 = dz_2/dw_21 = x_1) on one row."""
        scalar = self.d.scalar
        names = self.element_names
        shown = self._example_state[3]
        rows: list[tuple[int, list[str], object]] = []  # (place in the chain, left sides, row or value)
        same_value = {}  # ``seen``: the factors written already (in this block or an earlier one)
        for g in gradients:
            for place, f in enumerate(g.factors):
                if (f.of, f.wrt) in seen:
                    continue
                seen.add((f.of, f.wrt))
                lhs = partial(names.get(f.of, "E"), names[f.wrt])
                if isinstance(f.expr, sp.Symbol):
                    if f.expr in same_value:
                        rows[same_value[f.expr]][1].append(lhs)
                        continue
                    same_value[f.expr] = len(rows)
                    rows.append((place, [lhs], f.expr))
                elif f.of == scalar.loss_symbol:  # a hidden unit's: through the next layer's deltas, as the tutorial does
                    force = not self.graph_mode and len(scalar.users.get(f.wrt, [])) > 1
                    named = self.named_element(f.of, f.wrt, f.expr)  # constants by name (Huber's delta)
                    rows.append((place, [lhs], self.adjoint_rows(lhs, f.wrt, named, values, self._example_state[1], force)))
                else:
                    named = self.named_element(f.of, f.wrt, f.expr)  # leaky_relu's alpha
                    rows.append((place, [lhs], self.value_rows(lhs, named, scalar_evaluate(f.expr, values))))
        groups: dict[int, list[str]] = {}
        for place, lhs, row in rows:
            if isinstance(row, sp.Symbol):
                row = rf"{' = '.join(lhs)} &= {names[row]} = {shown[row]}"
            groups.setdefault(place, []).append(row)
        return [groups[place] for place in sorted(groups)]

    def zero_gradients(self, param, moving: list, still: list, values: dict) -> str:
        """``The other 12 gradients of W^(1) are 0, because da_2/dz_2 = da_3/dz_3 = 0``: the
        factors that make them 0, named once (of many, the first ones)."""
        names = self.element_names
        zero = {}
        for g in still:
            for f in g.factors:
                if scalar_evaluate(f.expr, values) == 0:
                    zero.setdefault(partial(names.get(f.of, "E"), names[f.wrt]), None)
                    break
        shown = list(zero)[:ZEROS_NAMED] + ([r"\dots"] if len(zero) > ZEROS_NAMED else [])
        what = count_words(len(still), "gradient")
        head = f"The other {what}" if moving else f"All {what}"
        words = text(f"{head} of ") + f"${self.node_tex(param.name)}$" + text(" are 0, each through a factor 0: ")
        kept = text(" Those weights keep their values.") if self.network.example.learning_rate is not None else ""
        return words + "$" + " = ".join(shown) + " = 0$." + kept

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
        return tex_groups(segments(rows))

    def adjoint_rows(self, lhs: str, symbol: sp.Symbol, expr: sp.Expr, values: dict, numeric: dict, force: bool = False) -> str:
        """``lhs = formula = the formula in numbers = value`` for an adjoint: a sum over the
        elements computed from ``symbol`` in the order of the chain rule, or through their
        adjoints when that is shorter (``compact_adjoint``)."""
        names = self.element_names
        short = self.compact_adjoint(symbol, expr, force)
        terms = self.chain_sum(symbol) if short is None else None
        if short is not None:
            expr, extra_names, stand_ins, chain = short
            adjoint_values = {d: scalar_evaluate(self.d.scalar.adjoints[u], values) for d, u in stand_ins.items()}
            names = {**names, **extra_names}
            numeric = {**numeric, **{d: negate_tex(number(v)) for d, v in adjoint_values.items()}}
            values = {**values, **adjoint_values}
        value = scalar_evaluate(expr, values)
        if short is not None:
            formula = pack_tokens(chain_terms(chain, names))
            middle = pack_tokens(chain_terms(chain, numeric, mul_symbol="dot"))
        elif terms is not None:
            formula = pack_tokens(sum_of_products(terms, names))
            middle = pack_tokens(sum_of_products(terms, numeric, mul_symbol="dot"))
        else:
            formula = wrap_expr(expr, names)
            middle = wrap_expr(expr, numeric, mul_symbol="dot")
        parts = [formula]
        if not isinstance(expr, sp.Symbol):
            if middle != formula and middle != [number(value)] and sum(map(len, middle)) <= SUBSTITUTION_MAX_CHARS:
                parts.append(middle)
        if formula != [number(value)]:
            parts.append([number(value)])
        return equation_rows(lhs, parts)


def signed_terms(expr: sp.Expr) -> list[sp.Expr]:
    """The terms of a sum (or the expression alone) in the order the formula prints them."""
    if not isinstance(expr, sp.Add):
        return [expr]
    return [term if sign == "+" else -term for sign, term in ordered_terms(expr)]


def in_numbers(expr: sp.Expr, zeros: dict, numeric: dict) -> list[str]:
    """``expr`` in numbers, a sum term by term in the formula's order: a 0 put into one term
    simplifies that term alone (``(0 - a_2)^2`` to ``a_2^2``) and never reorders the sum, so
    each number stays under the term it belongs to. Terms that become 0 are left out."""
    if not isinstance(expr, sp.Add):
        return wrap_expr(expr.xreplace(zeros), numeric, mul_symbol="dot")
    tokens = []
    for sign, term in ordered_terms(expr):
        part = term.xreplace(zeros)
        if part == 0:
            continue
        tex = to_latex(part, numeric, mul_symbol="dot")
        if tex.startswith("-"):  # the term's own sign, once the 0 went in
            sign, tex = ("-" if sign == "+" else "+"), tex[1:].lstrip()
        tokens.append(("- " if sign == "-" else ("+ " if tokens else "")) + tex)
    return pack_tokens(tokens) if tokens else ["0"]


def tex_groups(groups: list[list[str]]) -> list[list[Tex]]:
    return [[Tex(row) for row in group] for group in groups]


def scalar_evaluate(expr: sp.Expr, values: dict) -> sp.Float:
    from ...scalar import evaluate

    return evaluate(expr, values)
