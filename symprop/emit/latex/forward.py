"""Notation table, forward equations, the loss and the local derivative of every activation and loss."""

from __future__ import annotations

import sympy as sp

from ... import naming, registry
from ...latex_printing import paren, to_latex
from .derivative_steps import (
    derivative_lines,
    displayed_definition,
    fold_constants,
    readable_derivative,
    registry_calls,
    same_function,
)
from .limits import LAYERS_MAX
from .notation import Layer, constants_tex, count_tex, op_name, partial, shape_tex
from .tex import Tex, code, text
from .unrolled import Gap, gapped


class ForwardSection:
    """Notation table, forward equations, the loss and the local derivative of every activation and loss."""

    # -- notation -------------------------------------------------------------------

    def shown_layers(self) -> list:
        """The layers a section lists one by one (of a very deep stack the first ones and the
        last quarter), a ``Gap`` for those left out."""
        return gapped(self.layers, [True] * len(self.layers), LAYERS_MAX)

    def layers_gap(self, gap: Gap) -> dict:
        return {"gap": text(self.unrolled.left_out([layer.z for layer in gap.items], "layers"))}

    def layer_rows(self) -> list[dict]:
        rows = []
        for layer in self.shown_layers():
            if isinstance(layer, Gap):
                rows.append(self.layers_gap(layer))
                continue
            activation = op_name(layer.op)
            params = [rf"${self.node_tex(layer.weight)}$: ${shape_tex((layer.units, layer.fan_in))}$"]
            if layer.bias:
                params.append(rf"${self.node_tex(layer.bias)}$: ${count_tex(layer.units)}$")
            f = self.function_tex(layer.op) if layer.op else r"\operatorname{id}"
            if layer.op is not None and layer.op.activation and layer.op.choice.formula is not None:
                form = self.function_form(layer.op)  # the spec's constants by name, with their values
                described = rf"${f}(z) = {form[0]}$ with {form[1]}" if form else rf"${f}(z) = {to_latex(layer.op.definition())}$"
            else:
                if f.startswith(r"\operatorname"):
                    described = text(activation)
                elif f.lstrip("\\") == activation:  # \tanh reads "tanh": not "tanh (tanh)"
                    described = f"${f}$"
                else:
                    described = f"${f}$ (" + text(activation) + ")"
                constants = self.op_constants(layer.op)  # leaky_relu's alpha, as a formula's c above
                described += f" with {constants}" if constants else ""
            rows.append(
                {
                    "index": layer.index,
                    "units": Tex(count_tex(layer.units)),
                    "activation": Tex(described),
                    "params": Tex(", ".join(params)),
                }
            )
        return rows

    def notation(self) -> list[dict]:
        first = self.layers[0]
        last = self.layers[-1]
        out = last.a or last.z
        example_w = (1, 0) if last.units > 1 else (0, 0)

        def row(symbol, meaning, shape, module, elements):
            return {
                "symbol": Tex(symbol),
                "meaning": Tex(meaning),
                "shape": Tex(shape),
                "module": Tex(module),
                "elements": Tex(elements),
            }

        def claim(node: str, index: tuple[int, ...]) -> str:
            return code(naming.element_name(node, index)) + rf" for ${naming.latex_element(node, index)}$"

        rows = [
            row(
                "$x$", "input of one sample; also written $a^{(0)}$", "$n_0$", code("X") + r" $(N \times n_0)$", claim("x", (0,))
            ),
            row(
                r"$W^{(l)}$",
                r"weights of layer $l$; $w^{(l)}_{jk}$ connects input $k$ to unit $j$",
                r"$n_l \times n_{l-1}$",
                ", ".join(code(w) for w in dict.fromkeys((first.weight, last.weight))),  # one layer: W1, not "W1, W1"
                claim(last.weight, example_w),
            ),
        ]
        if any(layer.bias for layer in self.layers):
            bias = next(layer.bias for layer in self.layers if layer.bias)
            rows.append(row(r"$b^{(l)}$", r"biases of layer $l$", "$n_l$", code(bias), claim(bias, (0,))))
        rows += [
            row(
                r"$z^{(l)}$",
                rf"pre-activation: $z^{{(l)}} = W^{{(l)}} a^{{(l-1)}}{self.bias_term('b^{(l)}')}$",
                "$n_l$",
                code(self.graph.array(first.z)) + r" $(N \times n_l)$",
                claim(last.z, (0,)),
            ),
        ]
        if any(layer.a for layer in self.layers):
            a = next(layer.a for layer in self.layers if layer.a)
            rows.append(
                row(
                    r"$a^{(l)}$",
                    rf"activation: $a^{{(l)}} = f_l(z^{{(l)}})$; the output is ${self.node_tex(out)}$",
                    "$n_l$",
                    code(self.graph.array(a)),
                    claim(out, (0,)),
                )
            )
        rows += [
            row("$t$", "target of the sample", "$n_L$", code("T"), claim("t", (0,))),
            row(
                "$E$",
                # beside loss(params, X, T); the student edition has no module column, and page 1
                # says the batch mean already (without it, E's row took a second line there)
                "loss of one sample" + (" (the module's loss is the mean over the batch)" if self.shows_code else ""),
                "scalar",
                code("loss(params, X, T)"),
                code("E"),
            ),
            row(
                r"$\delta^{(l)}$",
                r"error signal $\partial E / \partial z^{(l)}$",
                "$n_l$",
                code(self.graph.grad(first.z)) + r" (includes the $1/N$ of the batch mean)",
                "",
            ),
            row(
                r"$\frac{\partial E}{\partial W^{(l)}}$",
                r"gradient of the loss for $W^{(l)}$",
                r"$n_l \times n_{l-1}$",
                code(self.graph.grad(first.weight)),
                "",
            ),
        ]
        return rows

    def bias_term(self, b: str) -> str:
        """`` + b`` in the notation's general formulas, or nothing when no layer has a bias
        (tutorial_222's z = W a: a teacher reads ``+ b`` as a parameter the network lacks)."""
        return f" + {b}" if any(layer.bias for layer in self.layers) else ""

    # -- forward --------------------------------------------------------------------

    def forward(self) -> list[dict]:
        """Per layer: the vector equations, and for small networks every element."""
        out = []
        for layer in self.shown_layers():
            if isinstance(layer, Gap):
                out.append(self.layers_gap(layer))
                continue
            bias = f" + {self.node_tex(layer.bias)}" if layer.bias else ""
            bias_j = f" + {self.generic(layer.bias, 'j')}" if layer.bias else ""
            equations = [
                rf"{self.node_tex(layer.z)} &= {self.node_tex(layer.weight)} {self.node_tex(layer.data)}{bias}, &"
                rf"{self.generic(layer.z, 'j')} &= \sum_{{k=1}}^{{{layer.fan_in}}} {self.generic(layer.weight, 'jk', True)}"
                rf" {self.generic(layer.data, 'k')}{bias_j}"
            ]
            if layer.a:
                equations.append(self.activation_equation(layer))
            elements = []
            if self.small and self.network.example is None:  # a worked example writes each unit out in numbers
                names = self.element_names
                for node in (layer.z, layer.a):
                    if node is None:
                        continue
                    for symbol in self.d.scalar.symbols[node]:
                        elements.append(rf"{names[symbol]} &= {to_latex(self.d.scalar.definitions[symbol], names)}")
            out.append({"index": layer.index, "equations": [Tex(e) for e in equations], "elements": [Tex(e) for e in elements]})
        return out

    def activation_equation(self, layer: Layer) -> str:
        a, z = self.node_tex(layer.a), self.node_tex(layer.z)
        element, definition = layer.op.latex_element(self.graph.nodes[layer.a], self)
        return rf"{a} &= {self.function_tex(layer.op)}({z}), &" rf"{element} &= {definition}"

    def loss(self) -> dict:
        op = self.loss_node.op
        n = self.output.shape[0]
        out = self.output.name
        i = "i" if n > 1 else "1"  # one output: E = l(a_1, t_1), never (1/1) sum_{i=1}^{1}
        front = r"\frac{1}{" + str(n) + "}" if op.choice.reduction == "mean" and n > 1 else ""
        total = rf"{front}\sum_{{i=1}}^{{{n}}} " if n > 1 else ""
        form = self.loss_form(self.loss_node)  # a formula's constants by name, as an activation's
        named = self.by_name(op)  # a registry loss's too (Huber's delta)
        ell = to_latex(op.elementwise if named is None else named[0])
        general = rf"E = {total}\ell\bigl({self.generic(out, i)}, t_{i}\bigr),\qquad \ell(y, t) = " + ell
        written = "E = " + op.latex(self.loss_node, self)  # as the loss writes itself everywhere
        elements = None
        if self.small and self.network.example is None:
            names = self.element_names
            loss_symbol = self.d.scalar.loss_symbol
            definition = self.named_element(None, loss_symbol, self.d.scalar.definitions[loss_symbol])
            elements = Tex(rf"E = {to_latex(definition, names)}")
        return {
            "name": Tex(loss_title(op.choice) + (f", with {form[2]}" if form else "")),
            "general": Tex(general),
            "written": Tex(written),
            "elements": elements,
        }

    # -- local derivatives ------------------------------------------------------------

    def local_derivatives(self) -> list[dict]:
        sections, seen = [], set()
        activations = [n.op for n in self.graph.nodes.values() if n.op.activation]
        for op in activations:
            for entry_name in registry_calls(op.definition()):
                if entry_name not in seen:
                    seen.add(entry_name)
                    sections.append(self.entry_derivation(registry.ACTIVATIONS[entry_name]))
            key = (op.name, op.choice.constants)
            if key in seen:
                continue
            seen.add(key)
            if op.choice.formula is None:
                sections.append(self.entry_derivation(op.choice.entry, op.choice.constants, op.name))
            else:
                sections.append(self.formula_derivation(op))
        for node in self.graph.nodes.values():
            if node.op.loss_function and (node.op.choice.name, node.op.choice.constants) not in seen:
                seen.add((node.op.choice.name, node.op.choice.constants))
                sections.append(self.loss_derivation(node))
        return [s for s in sections if s is not None]

    def entry_derivation(self, entry: registry.Activation, constants: tuple = (), label: str | None = None) -> dict:
        constants = constants or entry.constant_values()
        # derived and written in the constants by name (\mathrm{alpha} z), their values in the title
        symbols = registry.constant_symbols(entry.constants)
        f = entry.latex or (r"\operatorname{" + naming.escape_latex_text(entry.name) + "}")
        named_definition = entry.definition_at(registry.Z, symbols)
        definition = displayed_definition(named_definition)  # tanh in exponentials
        presentation = entry.derivative_in_output(symbols) if entry.present else None
        if entry.numpy_helper:
            named = (registry.function_for(entry.name)(registry.Z, *symbols), f)
        else:
            named = (named_definition, f) if definition != named_definition else None
        lines = derivative_lines(definition, registry.Z, presentation, named)
        # an op's activation, or a function its formula calls; the word first: titles begin capitalised
        title = ("Activation " if label else "Function ") + text(label or entry.name)
        if entry.constants:
            title = Tex(title + " (" + constants_tex((n, v) for (n, _), v in zip(entry.constants, constants)) + ")")
        return {
            "title": title,
            "f": Tex(f + r"(z)"),
            "fprime": Tex(f + r"'(z)"),
            "definition": Tex(to_latex(fold_constants(definition))),
            "lines": lines,
            "output_note": Tex(
                rf"With $a = {f}(z)$, the activation the forward pass already computed, the backward pass"
                rf" computes ${f}'$ from $a$ alone instead of evaluating ${f}$ again."
            )
            if presentation is not None and presentation.has(registry.A)
            else None,
        }

    def formula_derivation(self, op) -> dict:
        f = self.function_tex(op)
        named = self.by_name(op)  # derived in the spec's constants by name, as an entry's (entry_derivation)
        definition = op.definition() if named is None else named[0]
        computed = op.derivative if named is None else op.derivative_by_name(definition)
        derivative = readable_derivative(computed)  # the NumPy module computes op.derivative
        same = derivative == computed and (named is None or computed.xreplace(named[1]) == op.derivative)
        lines = derivative_lines(definition, registry.Z, None, None, final=derivative, computed=same)
        values = None if named is None else self.constant_values(definition)
        return {
            "title": Tex(
                "Activation " + text(op.name) + " (a formula from the spec" + (f", with {values}" if values else "") + ")"
            ),
            "f": Tex(f + "(z)"),
            "fprime": Tex(f + "'(z)"),
            "definition": Tex(to_latex(fold_constants(definition))),
            "lines": lines,
            "output_note": None,
        }

    def loss_derivation(self, node) -> dict | None:
        op = node.op
        if any(step.source == node.name for step in self._fused_softmax_steps()):
            return None  # the fused softmax + cross-entropy section covers it
        y, t = self.loss_variables(node)
        # derived in its constants by name (Huber's delta, a formula's c), as an activation's (entry_derivation)
        named = self.by_name(op)
        elementwise = op.elementwise if named is None else named[0]
        derivative = op.derivative if named is None else op.shown_local(op.derivative, self)
        ell, final = (e.subs({registry.Y: y, registry.T: t}) for e in (elementwise, derivative))
        lines = derivative_lines(ell, y, None, None, final=final)
        form = self.loss_form(node)
        return {
            "title": Tex("The loss, " + loss_title(op.choice, article=False) + (f", with {form[2]}" if form else "")),
            "f": Tex(rf"\ell({to_latex(y)}, {to_latex(t)})"),
            "fprime": Tex(rf"\frac{{\partial \ell}}{{\partial {to_latex(y)}}}"),
            "definition": Tex(to_latex(ell)),
            "lines": lines,
            "output_note": self.mean_note(node),
        }

    def loss_variables(self, node) -> tuple[sp.Symbol, sp.Symbol]:
        """The loss's output and target as its local derivative writes them: y and t, or the
        spec's names where a node of the graph is already written y or t (highway's gate t, its
        target ``target``): the section would otherwise read t as the gate."""
        variables = []
        for generic, name in zip((registry.Y, registry.T), node.inputs):
            own = sp.Symbol(name, real=True)
            shown = self.node_tex(name)
            clash = shown != to_latex(generic) and any(self.node_tex(n) == to_latex(generic) for n in self.graph.nodes)
            variables.append(own if clash and to_latex(own) == shown else generic)
        return variables[0], variables[1]

    def mean_note(self, node) -> Tex | None:
        """For a loss that is a mean over the outputs, the 1/n that the derivative of one
        term leaves out: ``E = (1/n) sum_j ell(y_j, t_j)``, and so ``dE/dy_j``."""
        outputs = int(sp.prod(self.graph.nodes[node.inputs[0]].shape))
        scale = node.op.scale(outputs)
        if scale == 1:
            return None
        shown = node.op.shown_local(node.op.derivative, self)  # its constants by name
        derivative = to_latex(shown, {registry.Y: "y_{j}", registry.T: "t_{j}"})
        if isinstance(shown, sp.Add):
            derivative = paren(derivative)
        if shown.has(sp.Piecewise):  # a case split (Huber's) is no part of a line of prose: it ran into the margin
            derivative = r"\frac{\partial \ell}{\partial y}(y_{j}, t_{j})"
        loss = self.node_tex(node.name)
        return Tex(
            rf"The loss is the mean of $\ell$ over the {outputs} outputs, ${loss} = \frac{{1}}{{{outputs}}}"
            rf" \sum_{{j}} \ell(y_{{j}}, t_{{j}})$, so"
            rf" $\partial {loss} / \partial y_{{j}} = \frac{{1}}{{{outputs}}} \cdot {derivative}$."
        )

    def _fused_softmax_steps(self) -> list:
        """The steps in which a loss and the softmax before it are fused (dE/dz = y - t)."""
        nodes = self.graph.nodes
        return [s for s in self.d.steps if nodes[s.source].op.fused_step(s) and nodes[nodes[s.source].inputs[0]].op.coupled]

    def softmax_cross_entropy(self) -> dict | None:
        """The fused gradient y - t, derived by SymPy on three classes and in general."""
        fused = next(iter(self._fused_softmax_steps()), None)
        if fused is None:
            return None
        softmax = self.graph.nodes[self.graph.nodes[fused.source].inputs[0]]
        zs = sp.symbols("z1:4", real=True)
        ts = sp.symbols("t1:4", real=True)
        names = {**{z: f"z_{{{i}}}" for i, z in enumerate(zs, 1)}, **{t: f"t_{{{i}}}" for i, t in enumerate(ts, 1)}}
        exps = [sp.exp(z) for z in zs]
        total = sum(exps)
        loss = -sum(t * sp.log(e / total) for t, e in zip(ts, exps))
        raw = sp.diff(loss, zs[0])
        y1 = exps[0] / total
        ysym = sp.Symbol("y1_sym", real=True)
        names[ysym] = "y_{1}"
        collected = ysym * sum(ts) - ts[0]
        if not same_function(raw, collected.xreplace({ysym: y1}), list(zs) + list(ts)):
            raise AssertionError("softmax cross-entropy: SymPy's derivative does not match y_1 (t_1+t_2+t_3) - t_1")
        out, z = softmax.name, softmax.inputs[0]
        return {
            "raw": Tex(to_latex(sp.together(raw), names)),
            "collected": Tex(to_latex(collected, names)),
            "y": Tex(self.generic(out, "j")),
            "y_i": Tex(self.generic(out, "i")),
            "z": Tex(self.generic(z, "j")),
            "z_k": Tex(self.generic(z, "k")),
            "delta": Tex(self.adjoint_element(z, "j")),
            # a softmax along another axis than the last: its rows, and the targets', run along that axis
            "along": Tex("" if softmax.op.axis == -1 else f" along axis {len(softmax.shape) + softmax.op.axis + 1}"),
            # delta^(2)_j = dE/dz^(2)_j in a layer stack; a graph spec's adjoint is its own name
            "lhs": Tex(
                self.adjoint_element(z, "j")
                + ("" if self.graph_mode else " = " + partial("E", self.generic(z, "j")))
            ),
        }


def loss_title(choice, article: bool = True) -> Tex:
    """How the handout's prose names a loss: "the cross-entropy (\\texttt{cross\\_entropy})", the
    spec's name beside what a teacher calls it (and its constants: "the Huber loss (\\texttt{huber},
    $\\mathrm{delta} = 1$)"); "a formula of the spec" for a formula.  Without
    ``article``, for a list or a title ("loss: cross-entropy"), no leading "the"."""
    title = "a formula of the spec" if choice.formula is not None else registry.LOSSES[choice.name].title
    if not article:
        title = title.removeprefix("the ")
    if choice.formula is not None:
        return Tex(text(title))
    # its constants by name with their values, as an activation's title gives them (Huber's delta)
    constants = constants_tex((n, v) for (n, _), v in zip(choice.entry.constants, choice.constants))
    return Tex(text(title) + " (" + ", ".join(filter(None, [code(choice.name), constants])) + ")")

