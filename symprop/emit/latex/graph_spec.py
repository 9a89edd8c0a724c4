"""Sections of graph-spec handouts: op definitions, node tables, forward lines, parameters."""

from __future__ import annotations

from functools import cached_property

from ... import naming, registry
from ...latex_printing import is_sum, paren, visible_length
from ...tensor_spec.network import SUMMARY_MAX_NAMES
from .layout import elided, equation_rows, pack_tokens, split_equation, wrap_expr
from .limits import (
    FORWARD_MAX_NODES,
    PARAM_LINE_MAX,
    PARAM_MAX_LINES,
    PARAM_MAX_TERMS,
    PARAMS_MAX,
    SUMMARY_LOSS_MAX,
    TABLE_ROWS,
)
from .notation import count_words, partial, shape_tex
from .tex import Tex, code, text
from .unrolled import Gap, gapped


class GraphSpecSection:
    """Sections of graph-spec handouts: op definitions, node tables, forward lines, parameters."""

    # -- graph specs ----------------------------------------------------------------

    def op_definition(self, node) -> str:
        """What an op node computes, in the handout's notation (per sample), as its op writes it."""
        return node.op.latex(node, self)

    @cached_property
    def shown_ops(self) -> list:
        """The op nodes the forward pass shows, in order, with ``Gap`` for each run left out (the
        middle steps of a long unrolled network; the middle of a very long graph)."""
        ops = [n for n in self.graph.nodes.values() if n.op.role == "op"]
        return gapped(ops, [self.unrolled.shown(n.name) for n in ops], FORWARD_MAX_NODES)

    def graph_tables(self) -> tuple[list[list[dict]], list[list[dict]]]:
        """(leaves: inputs, targets, parameters; op nodes with their definitions), each as tables
        of at most ``TABLE_ROWS`` rows (a table does not break across pages)."""
        roles = {"input": "input", "target": "target", "param": "parameter"}
        leaves, ops = [], []
        nodes = [n for n in self.graph.nodes.values() if n.op.role in roles]
        for node in gapped(nodes, [self.unrolled.shown(n.name) for n in nodes], FORWARD_MAX_NODES):
            if isinstance(node, Gap):
                leaves.append({"gap": text(self.unrolled.left_out([n.name for n in node.items], "inputs"))})
                continue
            role = node.op.role
            row = {
                "symbol": Tex(f"${self.node_tex(node.name)}$"),
                "shape": Tex(f"${shape_tex(node.shape)}$" if node.shape else "scalar"),
                "module": code(self.graph.array(node.name)),
                "plain": code(naming.element_name(node.name, (0,) * len(node.shape))),
            }
            leaves.append({**row, "role": text(roles[role])})
        for node in self.shown_ops:
            if isinstance(node, Gap):
                ops.append({"gap": text(self.unrolled.left_out([n.name for n in node.items], "nodes"))})
                continue
            ops.append(
                {
                    "definition": Tex(f"${self.node_tex(node.name)} = {self.op_definition(node)}$"),
                    "shape": Tex(f"${shape_tex(node.shape)}$" if node.shape else "scalar"),
                    "module": code(self.graph.array(node.name)),
                    "plain": code(naming.element_name(node.name, (0,) * len(node.shape))),
                }
            )
        return _tables(leaves), _tables(ops)

    def graph_forward(self) -> tuple[list[Tex], list[Tex]]:
        """(one equation per op node, with its element in index notation beside it for a
        tensor; and for small graphs every element written out)."""
        equations = [Tex(self.forward_gap(n) if isinstance(n, Gap) else self.forward_equation(n)) for n in self.shown_ops]
        elements = []
        if self.small and self.network.example is None:  # a worked example writes each element out in numbers
            names = self.element_names
            symbols = [s for n in self.graph.nodes.values() if n.op.role == "op" for s in self.d.scalar.symbols[n.name]]
            if len(symbols) <= 60 and any(n.shape for n in self.graph.nodes.values() if n.op.role == "op"):
                for symbol in symbols:
                    definition = self.d.scalar.definitions[symbol]
                    elements.append(Tex(equation_rows(names[symbol], [wrap_expr(definition, names)])))
        return equations, elements

    def forward_equation(self, node) -> str:
        """``s &= q \\, k^T`` and, where a tensor (rank 2 or more) goes in or comes out, what one
        element is, as its op writes it (``s_{ik} &= \\sum_j q_{ij} k_{jk}``); elementwise
        activations need none, and an op returns none where vectors and matrices say it all."""
        equation = rf"{self.node_tex(node.name)} &= {self.op_definition(node)}"
        ranks = [len(self.graph.nodes[i].shape) for i in (node.name, *node.inputs)]
        if max(ranks) < 2 or node.op.activation:
            return equation
        element = node.op.latex_element(node, self)
        return equation if element is None else rf"{equation}, & {element[0]} &= {element[1]}"

    def forward_gap(self, gap: Gap) -> str:
        """A row of the forward equations standing for the nodes left out."""
        return rf"\intertext{{\quad$\vdots$\quad\emph{{{text(self.unrolled.left_out([n.name for n in gap.items], 'nodes'))}.}}}}"

    def loss_definition(self) -> str:
        """``E = cross_entropy(y, t) + sum(W_1 (.) W_1) / 1000``: the loss as the spec writes it,
        its parts put back in (``E = E`` would say nothing), or ``E = f`` when the loss is a node
        of the spec."""
        loss = self.graph.loss
        if self.unrolled.owner.get(loss) != loss or loss in self.unrolled.declared:
            return f"E = {self.node_tex(loss)}"
        return f"E = {self.op_definition_inlined(self.graph.nodes[loss])}"

    # -- the network and its loss, in words ------------------------------------------------

    def graph_summary(self) -> Tex:
        """Page 1's paragraph on the network, as a teacher says it: how many operations, what it
        reads, its parameters, and the loss in words and as a formula (not the spec's text)."""
        leaves = {role: [n for n in self.graph.nodes.values() if n.op.role == role] for role in ("input", "target", "param")}
        ops = sum(1 for n in self.graph.nodes.values() if n.op.role == "op")
        targets = (
            f"the {_plural('target', leaves['target'])} {self._listed(leaves['target'])}" if leaves["target"] else "no targets"
        )
        reads = f"It reads the {_plural('input', leaves['input'])} {self._listed(leaves['input'])} and {targets}"
        params = leaves["param"]
        if params:
            reads += (
                f", and its {_plural('parameter', params)} {'are' if len(params) > 1 else 'is'} {self._listed(params)}"
                f": {count_words(self.param_count, 'number')} in all"
            )
        return Tex(f"The network is a computational graph of {count_words(ops, 'operation')}. {reads}. {self.loss_summary()}")

    def _listed(self, nodes: list) -> str:
        """``$W_{q}$ ($16 \times 16$), ... and $b_{o}$ ($4$)``: names with their shapes per sample
        (of many, the first three and the last two, and how many between)."""
        scalars = not any(n.shape for n in nodes)  # cs231n's: "x_0 and x_1 (scalars)", said once
        items = [f"${self.node_tex(n.name)}$" + ("" if scalars else f" (${shape_tex(n.shape)}$)") for n in nodes]
        if len(items) > SUMMARY_MAX_NAMES:
            items = [*items[:3], f"... ({len(items) - 5} more)", *items[-2:]]
        listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        return listed + ("" if not scalars else " (scalars)" if len(nodes) > 1 else " (a scalar)")

    def loss_words(self) -> str | None:
        """``the mean squared error of $y$ against $t$``: the loss node in words, when it is one
        loss of the registry (not a sum of terms, not a node of the spec)."""
        node = self.graph.nodes[self.graph.loss]
        if not node.op.loss_function or node.op.choice.formula is not None:
            return None
        title = registry.LOSSES[node.op.choice.name].title
        prediction, target = (self.node_tex(i) for i in node.inputs[:2])
        return f"{title} of ${prediction}$ against ${target}$"

    def loss_summary(self) -> str:
        """Page 1's sentence on the loss, of a graph spec and a layer stack alike: its name in words
        and its formula (left to section 2 when long)."""
        form = None if self.graph_mode else self.loss_form(self.loss_node)  # a formula's constants by name
        if self.graph_mode:
            definition = self.loss_definition()
        else:
            definition = f"E = {form[1] if form else self.loss_node.op.latex(self.loss_node, self)}"
        if definition == f"E = {self.node_tex(self.graph.loss)}":  # cs231n's neuron: the output f itself
            return (
                f"There is no loss against targets: the handout differentiates the output ${self.node_tex(self.graph.loss)}$"
                f" (written $E$ in the backward pass), and {self.batch_mean_words()}."
            )
        op = self.loss_node.op
        words = self.loss_words() or ("a formula of the spec" if op.loss_function and op.choice.formula is not None else None)
        # a long formula, or a cases environment (Huber's), is no part of a line of prose
        inline = visible_length(definition) <= SUMMARY_LOSS_MAX and r"\begin" not in definition
        formula = (f"${definition}$" + (f" with {form[2]}" if form else "")) if inline else "written out in section 2"
        said = f"{words}, {formula}" if words else formula
        return f"The loss of one sample is {said}; {self.batch_mean_words()}."

    def loss_sentence(self) -> Tex:
        """After the forward equations, the loss of one sample said once: in words when the last
        line already gives its formula; put together when its parts are named apart (``E_a + E_d``);
        a network without a loss says what stands in for one."""
        loss = self.node_tex(self.graph.loss)
        definition = self.loss_definition()
        if definition == f"E = {loss}":
            return Tex(f"The output ${loss}$ is what the backward pass differentiates; it calls it $E$, as it would a loss.")
        words = self.loss_words()
        if words and definition == f"E = {self.op_definition(self.graph.nodes[self.graph.loss])}":
            return Tex(f"The last line is the loss of one sample, {words}.")
        return Tex(f"Put together, the loss of one sample is ${definition}$.")

    def op_definition_inlined(self, node) -> str:
        """What ``node`` computes with the parts of its owner's expression written in (not named)."""
        handout, owner = self, self.unrolled.owner[node.name]

        class Inlined:
            def __getattr__(self, name):
                return getattr(handout, name)

            def node_tex(self, name: str) -> str:
                part = handout.graph.nodes[name]
                if part.op.role != "op" or name == owner or handout.unrolled.owner[name] != owner:
                    return handout.node_tex(name)
                inner = handout.op_definition_inlined(part)
                return paren(inner) if is_sum(inner) else inner

        return node.op.latex(node, Inlined())

    @cached_property
    def index_notation(self) -> bool:
        """Whether the forward pass is written in index notation somewhere (an element beside a
        tensor, or a definition by its elements, ``[...]_{jk}``): the handout then says how it
        reads.  Vectors and matrices alone keep the tutorials' notation, unexplained."""
        equations = [self.forward_equation(n) for n in self.shown_ops if not isinstance(n, Gap)]
        return any(", & " in e or r"\Bigl[" in e for e in equations)

    def elementwise_locals(self) -> list[Tex]:
        """d out / d input of every elementwise op, as SymPy derives it: one row per node (the op
        writes it, ``Op.latex_locals``)."""
        rows = []
        for node in self.shown_ops:
            if isinstance(node, Gap):
                rows.append(Tex(self.forward_gap(node)))
            elif (row := node.op.latex_locals(node, self)) is not None:
                rows.append(Tex(row))
        return rows if any(not row.startswith(r"\intertext") for row in rows) else []

    def graph_parameters(self) -> list[dict]:
        """Each parameter's gradient as the sum of what its uses send back (of many uses, the
        first and the last ones, and how many between)."""
        items = []
        params = self.params_backward()
        for param in gapped(params, [True] * len(params), PARAMS_MAX):
            if isinstance(param, Gap):
                items.append({"gap": text(f"{len(param.items)} parameters left out to keep the handout short")})
                continue
            contributions = [(i, step) for i, step in enumerate(self.d.steps) if step.target == param.name]
            forms = [self.step_math(step) for _, step in contributions]
            lines = [line.code for i, _ in contributions for line in self.numpy_lines[i]]
            hidden = len(lines) - PARAM_MAX_LINES + 1
            lines = elided(lines, PARAM_MAX_LINES, f"... {hidden} more lines like these ...")
            items.append(
                {
                    "name": Tex(self.node_tex(param.name)),
                    "plain": code(param.name),
                    "shape": Tex(shape_tex(param.shape) if param.shape else "1"),
                    "uses": len(contributions),
                    "matrix": Tex(self.gradient_formula(param.name, forms)),
                    "code": [code(line) for line in lines],
                }
            )
        return items

    def gradient_formula(self, param: str, forms: list[tuple[str, str, str]]) -> str:
        """dE/d``param`` from the forms of its contributions: the sum of their array forms (on
        several rows when long), or, where a use is written element by element only, every
        use's element equation in turn (= then +=)."""
        if not all(vector for _, vector, _ in forms):
            rows = elided([split_equation(element) for element, _, _ in forms], PARAM_MAX_TERMS, r"\vdots")
            return rows[0] if len(rows) == 1 else r"\begin{gathered} " + r" \\ ".join(rows) + r" \end{gathered}"
        formulas = [_right_side(f) for f in forms]
        counted = {f: formulas.count(f) for f in formulas}  # the two uses of W in W * W: 2 (dE/dv . W), once
        terms = [
            (f"{counted[f]} " if counted[f] > 1 else "")
            + (paren(f) if is_sum(f) and (len(counted) > 1 or counted[f] > 1) else f)
            for f in counted
        ]
        terms = elided(terms, PARAM_MAX_TERMS, r"\cdots")
        lhs = partial("E", self.node_tex(param))
        line = f"{lhs} = " + " + ".join(terms)
        if visible_length(line) <= PARAM_LINE_MAX:
            return line
        tokens = pack_tokens([terms[0], *("+ " + t for t in terms[1:])])
        return r"\begin{aligned} " + equation_rows(lhs, [tokens]) + r" \end{aligned}"


def _plural(noun: str, items: list) -> str:
    return noun if len(items) == 1 else noun + "s"


def _tables(rows: list[dict]) -> list[list[dict]]:
    return [rows[i : i + TABLE_ROWS] for i in range(0, len(rows), TABLE_ROWS)]


def _right_side(forms: tuple[str, str, str]) -> str:
    """The right-hand side of a step's array form (of its element form where it has none)."""
    element, vector, _ = forms
    return (vector or element).split(" = ", 1)[-1].split(r" \mathrel{+}= ", 1)[-1]
