r"""What the best tutorials print besides the derivation: the four equations of backpropagation in
one box (layer stacks), the table from the handout's names to a tutorial's (the spec's
``tutorial_names``), and, for a computational graph of scalars, how each gate routes the gradient and a chain
of gates grouped into the activation it computes (CS231n's sigmoid gate)."""

from __future__ import annotations

import itertools

import sympy as sp

from ... import naming, registry
from ...aliases import alias_latex
from ...latex_printing import number, paren, to_latex, unbracketed
from .derivative_steps import readable_derivative
from .notation import partial, transpose_tex
from .tex import Tex, text

#: Most one-input gates a chain may have to be grouped (the lecture's sigmoid has four).
GROUP_MAX_GATES = 6
#: Largest composition of gates compared with an activation by ``simplify`` (which can hang).
GROUP_MAX_OPS = 40
_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


class TutorialSection:
    """The backprop box, the alias table, the gate patterns and the grouped gates."""

    # -- the four equations ---------------------------------------------------------

    def backprop_box(self) -> list[Tex] | None:
        r"""The four equations of backpropagation (output error, hidden error, weight and bias
        gradient) in this network's names, each specialised to its activations and loss:
        ``\delta^{(2)} = \partial E/\partial a^{(2)} \odot \sigma'(z^{(2)}) = (a^{(2)} - t) \odot
        a^{(2)} \odot (1 - a^{(2)})``.  Rows of an ``aligned``: label, equation."""
        if self.graph_mode or not self.layers:
            return None
        last, hidden = self.layers[-1], self.layers[:-1]
        big_l = last.index
        delta_l = self.adjoint_tex(last.z)
        out = self.node_tex(last.a or last.z)
        written = self._delta_definition(last.z).split(" = ", 1)[-1]
        if self._f_prime(last, "z") == "1":  # the identity: delta is dE/da
            written = unbracketed(written.removesuffix(r" \odot 1")).strip()
            output = rf"{delta_l} = {partial('E', out)} = {written}"
        elif last.a is None or self.output.op.coupled:  # no activation, or softmax fused with its loss
            output = rf"{delta_l} = {partial('E', self.node_tex(last.z))} = {written}"
        else:
            output = rf"{delta_l} = {partial('E', out)} \odot {self._f_prime(last, self.node_tex(last.z))} = {written}"
        rows = [(text("output error"), output)]
        if hidden:
            same = len({self._f_prime(layer, "z") for layer in hidden}) == 1
            generic = self._f_prime(hidden[0], "z^{(l)}") if same else "f_l'(z^{(l)})"
            if generic == "1":
                recursion = r"\delta^{(l)} = \bigl(W^{(l+1)}\bigr)^{\top} \delta^{(l+1)}"
            else:
                recursion = rf"\delta^{{(l)}} = \Bigl(\bigl(W^{{(l+1)}}\bigr)^{{\top}} \delta^{{(l+1)}}\Bigr) \odot {generic}"
            rows.append((text("hidden error"), recursion + rf", \quad {self._layer_range(len(hidden))}"))
        rows.append(
            (
                text("weight gradient"),
                rf"{partial('E', 'W^{(l)}')} = \delta^{{(l)}} \, {transpose_tex('a^{(l-1)}')}, \quad a^{{(0)}} = x, \quad "
                + self._layer_range(big_l),
            )
        )
        biased = [layer for layer in self.layers if layer.bias]
        bias = rf"{partial('E', 'b^{(l)}')} = \delta^{{(l)}}"
        if not biased:
            bias += r" \quad \text{(this network has no biases)}"
        elif len(biased) < len(self.layers):
            bias += r", \quad \text{for } l = " + ", ".join(str(layer.index) for layer in biased)
        rows.append((text("bias gradient"), bias))
        return [Tex(rf"\text{{{label}}} \quad & {equation}") for label, equation in rows]

    def _f_prime(self, layer, z: str) -> str:
        """f'(z) of a layer with its activation's name: ``\\sigma'(z^{(2)})``; 1 for none or the identity."""
        if layer.op is None or getattr(layer.op, "derivative", None) == 1:
            return "1"
        return rf"{self.function_tex(layer.op)}'({z})"

    @staticmethod
    def _layer_range(count: int) -> str:
        """``l = 1``, ``l = 1, 2``, ``l = 1, \\dots, 7``."""
        if count <= 3:
            return "l = " + ", ".join(str(i) for i in range(1, count + 1))
        return rf"l = 1, \dots, {count}"

    # -- the tutorial's names --------------------------------------------------------

    @property
    def aliases(self) -> dict[str, str]:
        return getattr(self.network, "aliases", {}) or {}

    def alias_names(self) -> dict[sp.Symbol, str]:
        """``element_names`` with the tutorial's name wherever the spec gives one."""
        names = dict(self.element_names)
        for symbol in names:
            if symbol.name in self.aliases:
                names[symbol] = alias_latex(self.aliases[symbol.name])
        return names

    def alias_table(self) -> list[list[dict]] | None:
        """The table's rows, each of one or two tensors the spec names elements of (two in the
        student edition, set in 10 pt, where two fit the width): a tensor's symbol and
        ``w_{11} = W_1, ...``."""
        if not self.aliases:
            return None
        rows: dict[str, list[str]] = {}
        for element, alias in self.aliases.items():
            node, index = self._element_of(element)
            rows.setdefault(node, []).append(f"${naming.latex_element(node, index, self.layered)} = {alias_latex(alias)}$")
        cells = [{"symbol": Tex(f"${self.node_tex(node)}$"), "names": Tex(", ".join(names))} for node, names in rows.items()]
        per_row = 2 if self.edition == "student" else 1
        return [cells[i : i + per_row] for i in range(0, len(cells), per_row)]

    def _element_of(self, element: str) -> tuple[str, tuple[int, ...]]:
        """(node, 0-based index) of an element's claim name (``W2_12`` -> ``W2``, (0, 1))."""
        for node in self.graph.nodes.values():
            for index in _indices(node.shape):
                if naming.element_name(node.name, index) == element:
                    return node.name, index
        raise KeyError(element)  # read_aliases accepted only the network's elements

    # -- computational graphs of scalars --------------------------------------------

    @property
    def scalar_graph(self) -> bool:
        """A graph spec of scalars only, the lecture's picture (tensors have their own rules)."""
        return self.graph_mode and all(not node.shape for node in self.graph.nodes.values())

    def gate_patterns(self) -> list[Tex] | None:
        """How each kind of gate this graph has routes the gradient (CS231n: add distributes,
        multiply swaps, max routes), one sentence per kind, from the ops present; None for
        a layer stack or a graph with no such gates."""
        if not self.scalar_graph:
            return None
        seen: dict[str, str] = {}
        for node in self.graph.nodes.values():
            pattern = node.op.gate_pattern(node, self)
            if pattern is not None:
                kind, sentence = pattern
                seen.setdefault(kind, sentence)
        return [Tex(sentence) for sentence in seen.values()] or None

    def grouped_gates(self) -> list[Tex] | None:
        """The activations of the graph as single gates with their local gradient in their own
        output and, at the worked example, its value: a ``sigmoid`` node as it stands, and a
        chain of one-input gates that together compute a registry activation (the lecture's
        ``1/(1 + exp(-x))`` is four gates and one sigmoid) grouped: CS231n's sigmoid gate."""
        if not self.scalar_graph or not self.d.has_scalar:
            return None
        found = []
        for node in self.graph.nodes.values():
            if node.op.activation:
                f = self.function_tex(node.op)
                opening = text("The ") + f"${f}$" + text(" gate of ") + f"${self.node_tex(node.name)}$:"
                derivative = node.op.derivative  # a registry's in its textbook form (sigma' = f (1 - f)); a formula's shortest
                derivative = readable_derivative(derivative) if node.op.choice.formula is not None else derivative
                found.append(self._local_gradient(node, node.inputs[0], f, derivative, opening))
                continue
            chain = self._gate_chain(node)
            if chain is None:
                continue
            source, composed, gates = chain
            for name, entry in registry.ACTIVATIONS.items():
                if entry.constants or not _same_function(composed, entry.definition_at(registry.Z)):
                    continue
                out, x = self.node_tex(node.name), self.node_tex(source)
                f = entry.latex or rf"\mathrm{{{naming.escape_latex_text(name)}}}"
                opening = text(f"The {_WORDS.get(gates, str(gates))} gates from ") + f"${x}$" + text(" to ") + f"${out}$"
                opening += text(" compute one function, ") + f"${out} = {f}({x})$" + text(": grouped into one gate,")
                line = self._local_gradient(node, source, f, entry.derivative_in_output(), opening)
                found.append(line.removesuffix(".") + text(", the product of the local gradients of the gates it groups."))
                break
        return [Tex(line) for line in found] or None

    def _gate_chain(self, node) -> tuple[str, sp.Expr, int] | None:
        """(the chain's input, its composition in z, its gates) for the longest chain of at
        least two single-use one-input gates ending at scalar ``node`` (``Op.gate_formula``)."""
        composed = node.op.gate_formula(node)
        if composed is None or node.shape:
            return None
        gates, current = 1, node
        while gates < GROUP_MAX_GATES:
            inner = self.graph.nodes[current.inputs[0]]
            formula = inner.op.gate_formula(inner)
            if formula is None or len(self.users(inner.name)) != 1:
                break
            composed = composed.xreplace({registry.Z: formula})
            gates, current = gates + 1, inner
        if gates < 2 or any(user.op.gate_formula(user) is not None for user in self.users(node.name)):
            return None
        return current.inputs[0], composed, gates

    def _local_gradient(self, node, source: str, f: str, local: sp.Expr, opening: str) -> str:
        """``opening, its local gradient is df/dx = f'(x) = f (1 - f) = 0.19661193.``"""
        out, x = self.node_tex(node.name), self.node_tex(source)
        words = opening + text(" its local gradient is ")
        words += rf"$\partial {out} / \partial {x} = {f}'({x}) = {to_latex(local, {registry.A: out, registry.Z: x})}"
        point = self.example_point
        if point is not None:
            values = point[1]
            at = {registry.A: values[self.d.scalar.symbols[node.name][0]], registry.Z: values[self.d.scalar.symbols[source][0]]}
            numbers = {symbol: paren(number(value)) if value < 0 else number(value) for symbol, value in at.items()}
            words += f" = {to_latex(local, numbers, mul_symbol='dot')} = {number(local.xreplace(at))}"
        return words + "$."


def _same_function(composed: sp.Expr, formula: sp.Expr) -> bool:
    """Whether two formulas in z agree: at a few points first (cheap), then by simplification."""
    z = registry.Z
    if composed.free_symbols - {z} or formula.free_symbols - {z} or sp.count_ops(composed) > GROUP_MAX_OPS:
        return False
    for point in (-1.3, 0.4, 2.1):
        a, b = (sp.N(e.xreplace({z: sp.Float(point)}), 20) for e in (composed, formula))
        if not (a.is_number and b.is_number) or abs(complex(a - b)) > 1e-12:
            return False
    return sp.simplify(sp.expand_log(composed - formula)) == 0


def _indices(shape: tuple[int, ...]):
    return itertools.product(*map(range, shape))
