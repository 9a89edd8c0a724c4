"""Sections of graph-spec handouts: op definitions, node tables, forward lines, parameters."""

from __future__ import annotations

from ... import naming
from ...latex_printing import paren
from .layout import equation_rows, wrap_expr
from .notation import partial, shape_tex
from .tex import Tex, code, text


class GraphSpecSection:
    """Sections of graph-spec handouts: op definitions, node tables, forward lines, parameters."""

    # -- graph specs ----------------------------------------------------------------

    def op_definition(self, node) -> str:
        """What an op node computes, in the handout's notation (per sample), as its op writes it."""
        return node.op.latex(node, self)

    def graph_tables(self) -> tuple[list[dict], list[dict]]:
        """(leaves: inputs, targets, parameters; op nodes with their definitions)."""
        roles = {"input": "input", "target": "target", "param": "parameter"}
        leaves, ops = [], []
        for node in self.graph.nodes.values():
            role = node.op.role
            row = {
                "symbol": Tex(f"${self.node_tex(node.name)}$"),
                "shape": Tex(f"${shape_tex(node.shape)}$" if node.shape else "scalar"),
                "module": code(self.graph.array(node.name)),
                "plain": code(naming.element_name(node.name, (0,) * len(node.shape))),
            }
            if role in roles:
                leaves.append({**row, "role": text(roles[role])})
            else:
                ops.append({**row, "definition": Tex(f"${self.node_tex(node.name)} = {self.op_definition(node)}$")})
        return leaves, ops

    def graph_forward(self) -> tuple[list[Tex], list[Tex]]:
        """(one equation per op node, and for small graphs every element written out)."""
        equations = [
            Tex(rf"{self.node_tex(n.name)} &= {self.op_definition(n)}") for n in self.graph.nodes.values() if n.op.role == "op"
        ]
        elements = []
        if self.small:
            names = self.element_names
            symbols = [s for n in self.graph.nodes.values() if n.op.role == "op" for s in self.d.scalar.symbols[n.name]]
            if len(symbols) <= 60 and any(n.shape for n in self.graph.nodes.values() if n.op.role == "op"):
                for symbol in symbols:
                    definition = self.d.scalar.definitions[symbol]
                    elements.append(Tex(equation_rows(names[symbol], [wrap_expr(definition, names)])))
        return equations, elements

    def elementwise_locals(self) -> list[Tex]:
        """d out / d input of every elementwise op, as SymPy derives it: one row per node (the op
        writes it, ``Op.latex_locals``)."""
        rows = (node.op.latex_locals(node, self) for node in self.graph.nodes.values())
        return [Tex(row) for row in rows if row is not None]

    def graph_parameters(self) -> list[dict]:
        """Each parameter's gradient as the sum of what its uses send back."""
        items = []
        for param in self.params_backward():
            contributions = [(i, step) for i, step in enumerate(self.d.steps) if step.target == param.name]
            formulas = [_right_side(self.step_math(step)) for _, step in contributions]
            total = " + ".join(paren(f) if (" + " in f or " - " in f) and len(formulas) > 1 else f for f in formulas)
            lines = [code(line.code) for i, _ in contributions for line in self.numpy_lines[i]]
            items.append(
                {
                    "name": Tex(self.node_tex(param.name)),
                    "plain": code(param.name),
                    "shape": Tex(shape_tex(param.shape) if param.shape else "1"),
                    "uses": len(contributions),
                    "matrix": Tex(rf"{partial('E', self.node_tex(param.name))} = {total}"),
                    "code": lines,
                }
            )
        return items


def _right_side(forms: tuple[str, str, str]) -> str:
    """The right-hand side of a step's array form (of its element form where it has none)."""
    element, vector, _ = forms
    return (vector or element).split(" = ", 1)[-1].split(r" \mathrel{+}= ", 1)[-1]
