"""LaTeX emitter: a ``Derivation`` -> a derivation handout (``<name>.tex``, optionally a PDF).

Python computes every formula and number here; ``templates/handout.tex.j2`` only arranges
them.  The handout explains the very ``Derivation`` the NumPy module runs: the backward
section walks ``derivation.steps`` in order and shows, next to each formula, the line of
``backward()`` that computes it (taken from the NumPy emitter itself).

Safety: the template environment escapes every value that is not explicitly marked as
LaTeX (``Tex``), like an HTML autoescaper; formulas are printed by
``latex_printing.HandoutLatexPrinter``, which escapes every symbol name it does not know.
So no text from a spec (the network's name, a function's name, the file name) can break or
inject into the document.

Determinism: no dates, no absolute paths, no set iteration; the same spec gives a
byte-identical file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import sympy as sp

from . import naming, registry
from .errors import SymPropError
from .graph import Activation, Dense, Loss, Softmax
from .latex_printing import given, number, ordered_terms, paren, to_latex, visible_length
from .spec import flatten
from .templating import templates_dir

if TYPE_CHECKING:
    from .derivation import Derivation, Step

#: Per-weight sections and the worked example are written out up to this many parameters
#: (the per-weight view of ``symprop.scalar`` has the same limit).
PER_WEIGHT_LIMIT = 100
#: Networks whose every layer has at most this many units are drawn neuron by neuron.
NEURON_FIGURE_MAX_UNITS = 10
#: A chain rule longer than this many factors is shown with an ellipsis in the middle.
CHAIN_MAX_FACTORS = 7
#: A dE/da of more than this many (rough) characters is written with the next layer's deltas.
LONG_FACTOR = 120
#: An activation's derivative longer than this is written f'(z) in the backward steps.
SHORT_LOCAL = 26
#: A substituted-numbers line longer than this (characters of LaTeX) is left out.
SUBSTITUTION_MAX_CHARS = 600


class Tex(str):
    """Text that is already LaTeX; anything else the template prints is escaped."""

    __slots__ = ()


def _finalize(value):
    if isinstance(value, Tex):
        return value
    if isinstance(value, bool) or value is None:
        return naming.escape_latex_text(str(value))
    if isinstance(value, int):
        return str(value)
    return naming.escape_latex_text(str(value))


def environment() -> jinja2.Environment:
    r"""Jinja with LaTeX-safe delimiters: ``\VAR{x}``, ``\BLOCK{for ...}``, ``%% for`` lines."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        line_statement_prefix="%%",
        line_comment_prefix="%#",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_finalize,
    )


def text(value: str) -> Tex:
    """Plain text (from a spec or anywhere), escaped for LaTeX."""
    return Tex(naming.escape_latex_text(value))


def code(value: str) -> Tex:
    r"""Program text in typewriter type, escaped: ``\texttt{dW2 = dZ2.T @ A1}``."""
    return Tex(r"\texttt{" + naming.escape_latex_text(value) + "}")


# ---------------------------------------------------------------------------------------
# names


def _generic(node: str, indices: str, matrix: bool = False) -> str:
    """Element ``indices`` (LaTeX, e.g. ``j`` or ``jk``) of a node: ``w^{(2)}_{jk}``."""
    base = naming.latex_base(node)
    if matrix and base[:1] == "W":
        base = "w" + base[1:]
    return f"{base}_{{{indices}}}"


def _partial(of: str, wrt: str) -> str:
    return rf"\frac{{\partial {of}}}{{\partial {wrt}}}"


def _idx(shape: tuple[int, ...]) -> str:
    """Index letters of an element of a tensor of ``shape``: '', 'j' or 'jk'."""
    return "jkl"[: len(shape)] if len(shape) <= 2 else "ijkl"[: len(shape)]


def _op_name(op) -> str:
    """The name of a layer's activation op (``identity`` for none)."""
    if op is None:
        return "identity"
    if isinstance(op, Softmax):
        return "softmax"
    return op.name


def _transpose(tex: str) -> str:
    r"""``x^{\top}`` for one letter, ``\bigl(a^{(1)}\bigr)^{\top}`` otherwise (no double superscript)."""
    if re.fullmatch(r"[A-Za-z]", tex):
        return tex + r"^{\top}"
    return r"\bigl(" + tex + r"\bigr)^{\top}"


def _shape_tex(shape: tuple[int, ...]) -> str:
    if not shape:
        return "1"
    return r" \times ".join(f"{n:,}".replace(",", "{,}") for n in shape)


def _count(n: int) -> str:
    return f"{n:,}".replace(",", "{,}")


@dataclass
class _Layer:
    """One dense layer of the graph: ``z = W a_prev (+ b)``, ``a = f(z)``."""

    index: int
    z: str
    weight: str
    data: str
    bias: str | None
    a: str | None  # the activation node, or None
    op: object | None  # its op (Activation or Softmax)
    units: int
    fan_in: int


class _Handout:
    """Builds the template context for one derivation."""

    def __init__(self, derivation: Derivation):
        self.uses_delta_form = False  # set when a long sum is written with the deltas
        self.graph_mode = getattr(derivation.network, "kind", "layers") == "graph"
        self.d = derivation
        self.graph = derivation.graph
        self.network = derivation.network
        self.loss_node = self.graph.nodes[self.graph.loss]
        self.output = self.graph.nodes[self.loss_node.inputs[0]]
        self.small = derivation.has_scalar and self.param_count <= PER_WEIGHT_LIMIT

    # -- structure ------------------------------------------------------------------

    @cached_property
    def param_count(self) -> int:
        return sum(int(sp.prod(n.shape)) for n in self.graph.params())

    @cached_property
    def layers(self) -> list[_Layer]:
        layers = []
        for node in self.graph.nodes.values():
            if not isinstance(node.op, Dense):
                continue
            weight, data, *bias = node.inputs
            consumers = self.graph.consumers(node.name)
            act = consumers[0] if len(consumers) == 1 and isinstance(consumers[0].op, (Activation, Softmax)) else None
            layers.append(
                _Layer(
                    len(layers) + 1,
                    node.name,
                    weight,
                    data,
                    bias[0] if bias else None,
                    act.name if act else None,
                    act.op if act else None,
                    node.shape[0],
                    self.graph.nodes[data].shape[0],
                )
            )
        return layers

    def params_backward(self) -> list:
        """Parameters in the order backpropagation reaches them: last layer first, W before b."""
        params = self.graph.params()
        position = {p.name: i for i, p in enumerate(params)}
        consumer = {p.name: self.graph.consumers(p.name)[0].name for p in params}
        order = list(self.graph.nodes)
        return sorted(params, key=lambda p: (-order.index(consumer[p.name]), position[p.name]))

    def node_tex(self, node: str) -> str:
        return naming.latex_base(node)

    def adjoint_tex(self, node: str) -> str:
        """The handout's name for dE/d``node``: delta for a layer's output (layer stacks)."""
        if isinstance(self.graph.nodes[node].op, Dense) and not self.graph_mode:
            return r"\delta" + self._superscript(node)
        return _partial("E", self.node_tex(node))

    def adjoint_element(self, node: str, index: str) -> str:
        if isinstance(self.graph.nodes[node].op, Dense) and not self.graph_mode:
            return r"\delta" + self._superscript(node) + f"_{{{index}}}"
        return _partial("E", _generic(node, index))

    def _el(self, node: str, index: str) -> str:
        """Element ``index`` (letters, e.g. ``j``, ``jk``; empty for a scalar) of a node."""
        if not index:
            return self.node_tex(node)
        return _generic(node, index, matrix=len(index) == 2)

    def _superscript(self, node: str) -> str:
        match = re.match(r"^[A-Za-z]+?(\d+)$", node)
        return f"^{{({match.group(1)})}}" if match else f"_{{{naming.escape_latex_name(node)}}}"

    def function_tex(self, op) -> str:
        """How an activation is named in formulas: ``\\sigma``, ``f_{swish\\_b}``."""
        if isinstance(op, Softmax):
            return r"\operatorname{softmax}"
        if op.choice.formula is not None:
            return r"f_{\mathrm{" + naming.escape_latex_text(op.name) + "}}"
        return op.choice.entry.latex or (r"\operatorname{" + naming.escape_latex_text(op.name) + "}")

    @cached_property
    def element_index(self) -> dict[sp.Symbol, tuple[str, tuple[int, ...]]]:
        """Node and (0-based) index of every element symbol of the per-weight view."""
        return {
            symbol: (node, index)
            for node, symbols in self.d.scalar.symbols.items()
            for symbol, index in zip(symbols, _param_indices(self.graph.nodes[node].shape))
        }

    @cached_property
    def element_names(self) -> dict[sp.Symbol, str]:
        """LaTeX of every element symbol of the per-weight view (small networks)."""
        return {symbol: naming.latex_element(node, index) for symbol, (node, index) in self.element_index.items()}

    @cached_property
    def element_users(self) -> dict[sp.Symbol, list[sp.Symbol]]:
        """For every element symbol, the op elements whose definitions use it (forward order)."""
        users: dict[sp.Symbol, list[sp.Symbol]] = {}
        for symbol, definition in self.d.scalar.definitions.items():
            for used in sorted(definition.free_symbols, key=lambda s: s.name):
                users.setdefault(used, []).append(symbol)
        return users

    def compact_adjoint(self, symbol: sp.Symbol, full: sp.Expr, force: bool = False):
        """dE/d``symbol`` written through its users, when ``full`` is too long to read.

        ``sum_u dE/du * du/dsymbol`` over the elements ``u`` computed from ``symbol`` (the next
        layer's deltas for a layer stack).  Returns (expression, LaTeX names of the new
        dE/du symbols, new symbol -> u), or None when ``full`` is short enough.
        """
        scalar = self.d.scalar
        if not force and not _larger_than(full, 150) and visible_length(to_latex(full, self.element_names)) <= LONG_FACTOR:
            return None
        users = self.element_users.get(symbol, [])
        if not users or any(u not in scalar.adjoints for u in users):
            return None
        stand_ins, names, terms = {}, {}, []
        expr = sp.S.Zero
        for u in users:
            node, index = self.element_index[u]
            d_u = sp.Symbol(f"adjoint_of_{u.name}", real=True)
            stand_ins[d_u] = u
            letter = naming.element_suffix(index).replace("_", ",") if index else ""
            names[d_u] = self.adjoint_element(node, letter) if letter else _partial("E", self.node_tex(node))
            local = sp.diff(scalar.definitions[u], symbol)
            terms.append((d_u, local))
            expr += d_u * local
        if not force:
            self.uses_delta_form = True
        return expr, names, stand_ins, terms

    # -- the figure -----------------------------------------------------------------

    def figure(self) -> dict:
        sizes = [self.network.inputs] + [layer.units for layer in self.layers]
        if max(sizes) <= NEURON_FIGURE_MAX_UNITS and len(self.layers) <= 6:
            return self.neuron_figure(sizes)
        return self.block_figure(sizes)

    def neuron_figure(self, sizes: list[int]) -> dict:
        widest = max(sizes)
        step_x, step_y = 3.6, (1.9 if widest <= 3 else max(1.15, 8.0 / widest))
        columns = []
        labels = {0: [naming.latex_element("x", (i,)) for i in range(sizes[0])]}
        for layer in self.layers:
            node = layer.a or layer.z
            labels[layer.index] = [naming.latex_element(node, (i,)) for i in range(layer.units)]
        nodes, edges = [], []
        for col, size in enumerate(sizes):
            names = []
            for i in range(size):
                y = ((size - 1) / 2 - i) * step_y
                name = f"n{col}x{i}"
                names.append(name)
                nodes.append(
                    {
                        "name": name,
                        "x": f"{col * step_x:.2f}",
                        "y": f"{y:.2f}",
                        "label": Tex(labels[col][i]),
                        "style": "input" if col == 0 else "neuron",
                    }
                )
            columns.append(names)
        few = all(a * b <= 9 for a, b in zip(sizes, sizes[1:]))  # label weights on tiny networks only
        for layer in self.layers:
            for j, target in enumerate(columns[layer.index]):
                for k, source in enumerate(columns[layer.index - 1]):
                    label = naming.latex_element(layer.weight, (j, k)) if few else ""
                    edges.append({"source": source, "target": target, "label": Tex(label)})
        captions = [{"x": "0.00", "text": Tex(r"input $x$"), "sub": Tex(f"${sizes[0]}$ units")}]
        top = max(sizes) * step_y / 2 + 0.2
        for layer in self.layers:
            activation = _op_name(layer.op)
            bias = "" if layer.bias is None else rf", bias ${self.node_tex(layer.bias)}$"
            captions.append(
                {
                    "x": f"{layer.index * step_x:.2f}",
                    "text": Tex(rf"layer {layer.index}: ${self.node_tex(layer.a or layer.z)}$"),
                    "sub": Tex(text(activation) + bias),
                }
            )
        loss_x = f"{len(self.layers) * step_x + 2.2:.2f}"
        return {
            "kind": "neurons",
            "nodes": nodes,
            "edges": edges,
            "outputs": columns[-1],
            "captions": captions,
            "caption_y": f"{-top:.2f}",
            "loss_x": loss_x,
            "size": "11mm" if widest <= 4 else "9mm",
            "edge_style": "->, gray!70!black" if few else "gray!55, line width=0.3pt",
        }

    def block_figure(self, sizes: list[int]) -> dict:
        blocks = [{"name": "b0", "label": Tex(rf"$x \in \mathbb{{R}}^{{{_count(sizes[0])}}}$"), "edge": Tex("")}]
        for layer in self.layers:
            node = layer.a or layer.z
            f = self.function_tex(layer.op) if layer.op is not None else r"\operatorname{id}"
            bias = f" + {self.node_tex(layer.bias)}" if layer.bias else ""
            label = (
                rf"${self.node_tex(node)} \in \mathbb{{R}}^{{{_count(layer.units)}}}$\\"
                rf"\footnotesize ${self.node_tex(node)} = {f}({self.node_tex(layer.weight)}"
                rf"{self.node_tex(layer.data)}{bias})$"
            )
            edge = rf"${self.node_tex(layer.weight)}$\\\footnotesize ${_shape_tex((layer.units, layer.fan_in))}$"
            blocks.append({"name": f"b{layer.index}", "label": Tex(label), "edge": Tex(edge)})
        return {"kind": "blocks", "blocks": blocks}

    # -- notation -------------------------------------------------------------------

    def layer_rows(self) -> list[dict]:
        rows = []
        for layer in self.layers:
            activation = _op_name(layer.op)
            params = [rf"${self.node_tex(layer.weight)}$: ${_shape_tex((layer.units, layer.fan_in))}$"]
            if layer.bias:
                params.append(rf"${self.node_tex(layer.bias)}$: ${_count(layer.units)}$")
            f = self.function_tex(layer.op) if layer.op else r"\operatorname{id}"
            if isinstance(layer.op, Activation) and layer.op.choice.formula is not None:
                described = rf"${f}(z) = {to_latex(layer.op.definition())}$"
            elif f.startswith(r"\operatorname"):
                described = text(activation)
            else:
                described = f"${f}$ (" + text(activation) + ")"
            rows.append(
                {
                    "index": layer.index,
                    "units": Tex(_count(layer.units)),
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
            return rf"${naming.latex_element(node, index)}$ = " + code(naming.element_name(node, index))

        rows = [
            row(
                "$x$", "input of one sample; also written $a^{(0)}$", "$n_0$", code("X") + r" $(N \times n_0)$", claim("x", (0,))
            ),
            row(
                r"$W^{(l)}$",
                r"weights of layer $l$; $w^{(l)}_{jk}$ connects input $k$ to unit $j$",
                r"$n_l \times n_{l-1}$",
                code(first.weight) + ", " + code(last.weight),
                claim(last.weight, example_w),
            ),
        ]
        if any(layer.bias for layer in self.layers):
            bias = next(layer.bias for layer in self.layers if layer.bias)
            rows.append(row(r"$b^{(l)}$", r"biases of layer $l$", "$n_l$", code(bias), claim(bias, (0,))))
        rows += [
            row(
                r"$z^{(l)}$",
                r"pre-activation: $z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}$",
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
                "loss of one sample (the module's loss is the mean over the batch)",
                "scalar",
                code("loss(params, X, T)"),
                "$E$ = " + code("E"),
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

    # -- forward --------------------------------------------------------------------

    def forward(self) -> list[dict]:
        """Per layer: the vector equations, and for small networks every element."""
        out = []
        for layer in self.layers:
            bias = f" + {self.node_tex(layer.bias)}" if layer.bias else ""
            bias_j = f" + {_generic(layer.bias, 'j')}" if layer.bias else ""
            equations = [
                rf"{self.node_tex(layer.z)} &= {self.node_tex(layer.weight)} {self.node_tex(layer.data)}{bias}, &"
                rf"{_generic(layer.z, 'j')} &= \sum_{{k=1}}^{{{layer.fan_in}}} {_generic(layer.weight, 'jk', True)}"
                rf" {_generic(layer.data, 'k')}{bias_j}"
            ]
            if layer.a:
                equations.append(self.activation_equation(layer))
            elements = []
            if self.small:
                names = self.element_names
                for node in (layer.z, layer.a):
                    if node is None:
                        continue
                    for symbol in self.d.scalar.symbols[node]:
                        elements.append(rf"{names[symbol]} &= {to_latex(self.d.scalar.definitions[symbol], names)}")
            out.append({"index": layer.index, "equations": [Tex(e) for e in equations], "elements": [Tex(e) for e in elements]})
        return out

    def activation_equation(self, layer: _Layer) -> str:
        a, z = self.node_tex(layer.a), self.node_tex(layer.z)
        if isinstance(layer.op, Softmax):
            return (
                rf"{a} &= \operatorname{{softmax}}({z}), &"
                rf"{_generic(layer.a, 'j')} &= \frac{{e^{{{_generic(layer.z, 'j')}}}}}"
                rf"{{\sum_{{i=1}}^{{{layer.units}}} e^{{{_generic(layer.z, 'i')}}}}}"
            )
        f = self.function_tex(layer.op)
        return rf"{a} &= {f}({z}), &" rf"{_generic(layer.a, 'j')} &= {f}({_generic(layer.z, 'j')})"

    def loss(self) -> dict:
        op: Loss = self.loss_node.op
        n = self.output.shape[0]
        y = sp.Symbol("y_i_generic", real=True)
        t = sp.Symbol("t_i_generic", real=True)
        out = self.output.name
        term_expr = op.elementwise.xreplace({registry.Y: y, registry.T: t})
        term = to_latex(term_expr, {y: _generic(out, "i"), t: "t_{i}"})
        front = r"\frac{1}{" + str(n) + "}" if op.choice.reduction == "mean" else ""
        name = op.choice.name if op.choice.formula is None else "formula"
        general = rf"E = {front}\sum_{{i=1}}^{{{n}}} \ell\bigl({_generic(out, 'i')}, t_i\bigr),\qquad \ell(y, t) = " + to_latex(
            op.elementwise
        )
        written = rf"E = {front}\sum_{{i=1}}^{{{n}}} {paren(term) if isinstance(term_expr, sp.Add) else term}"
        elements = None
        if self.small:
            names = self.element_names
            loss_symbol = self.d.scalar.loss_symbol
            elements = Tex(rf"E = {to_latex(self.d.scalar.definitions[loss_symbol], names)}")
        return {
            "name": text(name),
            "general": Tex(general),
            "written": Tex(written),
            "elements": elements,
            "batch": Tex(r"E_{\text{batch}} = \frac{1}{N} \sum_{s=1}^{N} E_s"),
        }

    # -- local derivatives ------------------------------------------------------------

    def local_derivatives(self) -> list[dict]:
        sections, seen = [], set()
        activations = [n.op for n in self.graph.nodes.values() if isinstance(n.op, Activation)]
        for op in activations:
            for entry_name in _registry_calls(op.definition()):
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
            if isinstance(node.op, Loss) and (node.op.choice.name, node.op.choice.constants) not in seen:
                seen.add((node.op.choice.name, node.op.choice.constants))
                sections.append(self.loss_derivation(node))
        return [s for s in sections if s is not None]

    def entry_derivation(self, entry: registry.Activation, constants: tuple = (), label: str | None = None) -> dict:
        constants = constants or entry.constant_values()
        f = entry.latex or (r"\operatorname{" + naming.escape_latex_text(entry.name) + "}")
        definition = entry.definition_at(registry.Z, constants)
        presentation = entry.derivative_in_output(constants) if entry.present else None
        named = registry.function_for(entry.name)(registry.Z, *constants) if entry.numpy_helper else None
        lines = _derivative_lines(definition, registry.Z, presentation, named)
        title = text(label or entry.name)
        if entry.constants:
            title = Tex(
                title
                + " ("
                + ", ".join(rf"${naming.escape_latex_name(n)} = {to_latex(v)}$" for (n, _), v in zip(entry.constants, constants))
                + ")"
            )
        return {
            "title": title,
            "f": Tex(f + r"(z)"),
            "fprime": Tex(f + r"'(z)"),
            "definition": Tex(to_latex(_fold(definition))),
            "lines": lines,
            "output_note": Tex(rf"with $a = {f}(z)$, the activation the forward pass already computed")
            if presentation is not None and presentation.has(registry.A)
            else None,
        }

    def formula_derivation(self, op: Activation) -> dict:
        f = self.function_tex(op)
        definition = op.definition()
        derivative = op.derivative
        lines = _derivative_lines(definition, registry.Z, None, None, final=derivative)
        return {
            "title": Tex(text(op.name) + " (a formula from the spec)"),
            "f": Tex(f + "(z)"),
            "fprime": Tex(f + "'(z)"),
            "definition": Tex(to_latex(_fold(definition))),
            "lines": lines,
            "output_note": None,
        }

    def loss_derivation(self, node) -> dict | None:
        op: Loss = node.op
        if isinstance(self.graph.nodes[node.inputs[0]].op, Softmax):
            return None  # the fused softmax + cross-entropy section covers it
        ell = op.elementwise
        lines = _derivative_lines(ell, registry.Y, None, None, final=op.derivative)
        name = op.choice.name if op.choice.formula is None else "formula"
        return {
            "title": Tex("the loss, " + text(name)),
            "f": Tex(r"\ell(y, t)"),
            "fprime": Tex(r"\frac{\partial \ell}{\partial y}"),
            "definition": Tex(to_latex(ell)),
            "lines": lines,
            "output_note": None,
        }

    def softmax_cross_entropy(self) -> dict | None:
        """The fused gradient y - t, derived by SymPy on three classes and in general."""
        fused = next(
            (
                s
                for s in self.d.steps
                if s.rule == "fused" and isinstance(self.graph.nodes[self.graph.nodes[s.source].inputs[0]].op, Softmax)
            ),
            None,
        )
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
        if not _same(raw, collected.xreplace({ysym: y1}), list(zs) + list(ts)):
            raise AssertionError("softmax cross-entropy: SymPy's derivative does not match y_1 (t_1+t_2+t_3) - t_1")
        out, z = softmax.name, softmax.inputs[0]
        return {
            "raw": Tex(to_latex(sp.together(raw), names)),
            "collected": Tex(to_latex(collected, names)),
            "y": Tex(_generic(out, "j")),
            "y_i": Tex(_generic(out, "i")),
            "z": Tex(_generic(z, "j")),
            "z_k": Tex(_generic(z, "k")),
            "delta": Tex(self.adjoint_element(z, "j")),
        }

    # -- backward -------------------------------------------------------------------

    @cached_property
    def numpy_lines(self) -> dict[int, list]:
        """The lines of the module's backward() for each step, exactly as the NumPy emitter writes them.

        The emitter builds the whole module (its state numbers the temporaries); its
        ``backward_line`` is wrapped to record which lines each step produced.
        """
        from .emit_numpy import _ModuleBuilder

        builder_class = _ModuleBuilder
        if self.graph_mode:
            from .emit_numpy_graph import GraphModuleBuilder as builder_class
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
                    "element": Tex(_split_equation(element)),
                    "vector": Tex(_split_equation(vector)),
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
        upstream_of_loss = "" if step.source == self.graph.loss else rf"{_partial('E', self.node_tex(step.source))} \cdot "
        if rule == "loss":
            y, tgt = step.target, source.inputs[1]
            j = _idx(self.graph.nodes[y].shape)
            local = self._local(step.local, {registry.Y: self._el(y, j), registry.T: self._el(tgt, j)})
            vector = self._local(step.local, {registry.Y: self.node_tex(y), registry.T: self.node_tex(tgt)}, vector=True)
            return (
                rf"{_partial('E', self._el(y, j))} {eq} {upstream_of_loss}{local}",
                rf"{_partial('E', self.node_tex(y))} {eq} {upstream_of_loss}{paren(vector) if upstream_of_loss else vector}",
                "",
            )
        if rule == "fused":
            activation = self.graph.nodes[source.inputs[0]]
            z, a, tgt = step.target, activation.name, source.inputs[1]
            j = _idx(activation.shape)
            names = {registry.Z: self._el(z, j), registry.A: self._el(a, j), registry.T: self._el(tgt, j)}
            vnames = {registry.Z: self.node_tex(z), registry.A: self.node_tex(a), registry.T: self.node_tex(tgt)}
            delta = self.adjoint_element(z, j)
            chain = rf"{_partial('E', self._el(a, j))} \, {_partial(self._el(a, j), self._el(z, j))}"
            vector = rf"{self.adjoint_tex(z)} {eq} {upstream_of_loss}{self._local(step.local, vnames, vector=True)}"
            if isinstance(activation.op, Softmax):
                chain = rf"\sum_i {_partial('E', self._el(a, 'i'))} \, {_partial(self._el(a, 'i'), self._el(z, j))}"
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
            j = _idx(source.shape)
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
            grad_a = _partial("E", self._el(a, j))
            element = rf"{self.adjoint_element(z, j)} {eq} {grad_a} \, {_partial(self._el(a, j), self._el(z, j))} = "
            element += rf"{paren(upstream)} \cdot {local}" if upstream else rf"{grad_a} \cdot {local}"
            vector = rf"{self.adjoint_tex(z)} {eq} {_partial('E', self.node_tex(a))} \odot {vlocal}"
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
                rf"{_partial('E', _generic(z, 'j'))} {eq} {_generic(a, 'j')} \Bigl("
                rf"{_partial('E', _generic(a, 'j'))} - \sum_i {_partial('E', _generic(a, 'i'))} {_generic(a, 'i')}\Bigr)"
            )
            grad_a = _partial("E", self.node_tex(a))
            vector = (
                rf"{_partial('E', self.node_tex(z))} {eq} {self.node_tex(a)} \odot \Bigl("
                rf"{grad_a} - {_transpose(grad_a)} {self.node_tex(a)}\Bigr)"
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
            element = rf"{_partial('E', self._el(a, 'jk'))} {eq} {_partial('E', self._el(b, 'kj'))}"
            vector = rf"{_partial('E', self.node_tex(a))} {eq} {_transpose(_partial('E', self.node_tex(b)))}"
            return element, vector, ""
        if rule == "sum":
            a, s = step.target, step.source
            shape_in = self.graph.nodes[a].shape
            idx = _idx(shape_in)
            axis = getattr(source.op, "axis", None)
            kept = "" if axis is None else idx[:axis] + idx[axis + 1 :]
            scale = "" if step.local == 1 else to_latex(step.local) + r" \, "
            element = rf"{_partial('E', self._el(a, idx))} {eq} {scale}{_partial('E', self._el(s, kept))}"
            vector = rf"{_partial('E', self.node_tex(a))} {eq} {scale}{_partial('E', self.node_tex(s))}"
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
            element = rf"{_partial('E', self._el(a, 'j'))} {eq} {_partial('E', self._el(c, shifted))}"
            part = rf"\Bigl({_partial('E', self.node_tex(c))}\Bigr)_{{{offset + 1}..{offset + n}}}"
            vector = rf"{_partial('E', self.node_tex(a))} {eq} {part}"
            return element, vector, "a concatenation hands each part its own slice of the adjoint"
        raise NotImplementedError(f"the handout has no presentation of the backward rule {rule!r}")

    def _dense_math(self, step: Step, source, eq: str) -> tuple[str, str, str]:
        weight, data, *bias = source.inputs
        delta_j = self.adjoint_element(step.source, "j")
        delta = self.adjoint_tex(step.source)
        zj = _generic(step.source, "j")
        batch = "summed over the samples of a batch"
        if step.rule == "dense_weight":
            wjk = _generic(weight, "jk", True)
            element = rf"{_partial('E', wjk)} {eq} {_partial('E', zj)} \, {_partial(zj, wjk)}"
            element += rf" = {delta_j} \, {_generic(data, 'k')}"
            vector = rf"{_partial('E', self.node_tex(weight))} {eq} {delta} \, {_transpose(self.node_tex(data))}"
            return element, vector, batch
        if step.rule == "dense_bias":
            bj = _generic(bias[0], "j")
            element = rf"{_partial('E', bj)} {eq} {_partial('E', zj)} \, {_partial(zj, bj)} = {delta_j} \cdot 1"
            vector = rf"{_partial('E', self.node_tex(bias[0]))} {eq} {delta}"
            return element, vector, batch
        ak = _generic(data, "k")
        rows = source.shape[0]
        element = (
            rf"{_partial('E', ak)} {eq} \sum_{{j=1}}^{{{rows}}} {_partial('E', zj)} \, {_partial(zj, ak)}"
            rf" = \sum_{{j=1}}^{{{rows}}} {delta_j} \, {_generic(weight, 'jk', True)}"
        )
        vector = rf"{_partial('E', self.node_tex(data))} {eq} {_transpose(self.node_tex(weight))} {delta}"
        return element, vector, ""

    def _elementwise_math(self, step: Step, source, eq: str) -> tuple[str, str, str]:
        """out = f(u0, u1, ...) elementwise (with broadcasting): dE/du_i = dE/dout * df/du_i."""
        from .graph import arg_symbol

        out_idx = _idx(source.shape)
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
        grad_out = _partial("E", self._el(source.name, out_idx))
        local = step.local
        factor = "" if local == 1 else rf" \cdot {self._factor(local, names)}"
        element = (
            rf"{_partial('E', self._el(target, target_idx))} {eq} {total}{grad_out} \, "
            rf"{_partial(self._el(source.name, out_idx), self._el(target, target_idx))} = {total}{grad_out}{factor}"
        )
        vector_valued = bool(source.shape)
        vlocal = self._local(local, vnames, vector=vector_valued)
        if isinstance(local, sp.Add) or local.could_extract_minus_sign():
            vlocal = paren(vlocal)
        vfactor = "" if local == 1 else (rf" \odot {vlocal}" if vector_valued else rf" \cdot {vlocal}")
        vector = rf"{_partial('E', self.node_tex(target))} {eq} {_partial('E', self.node_tex(source.name))}{vfactor}"
        note = f"summed over the broadcast {'index' if len(summed) == 1 else 'indices'} {', '.join(summed)}" if summed else ""
        return element, vector, note

    def _matmul_math(self, step: Step, source, eq: str) -> tuple[str, str, str]:
        """c = a @ b per sample (matrix or vector operands)."""
        a, b = source.inputs
        c = source.name
        left, right = self.graph.nodes[a].shape, self.graph.nodes[b].shape
        g = _partial("E", self.node_tex(c))
        A, B = self.node_tex(a), self.node_tex(b)
        if step.argument == 0:
            if len(left) == 2 and len(right) == 2:
                vector = rf"{g} \, {_transpose(B)}"
                element = rf"\sum_k {_partial('E', self._el(c, 'ik'))} \, {self._el(b, 'jk')}"
                idx = "ij"
            elif len(left) == 2:
                vector = rf"{g} \, {_transpose(B)}"
                element = rf"{_partial('E', self._el(c, 'i'))} \, {self._el(b, 'j')}"
                idx = "ij"
            elif len(right) == 2:
                vector = rf"{B} \, {g}"
                element = rf"\sum_k {self._el(b, 'jk')} \, {_partial('E', self._el(c, 'k'))}"
                idx = "j"
            else:
                vector = rf"{g} \, {B}"
                element = rf"{_partial('E', self.node_tex(c))} \, {self._el(b, 'j')}"
                idx = "j"
            target = a
        else:
            if len(left) == 2 and len(right) == 2:
                vector = rf"{_transpose(A)} \, {g}"
                element = rf"\sum_i {self._el(a, 'ij')} \, {_partial('E', self._el(c, 'ik'))}"
                idx = "jk"
            elif len(left) == 2:
                vector = rf"{_transpose(A)} \, {g}"
                element = rf"\sum_i {self._el(a, 'ij')} \, {_partial('E', self._el(c, 'i'))}"
                idx = "j"
            elif len(right) == 2:
                vector = rf"{A} \, {_transpose(g)}"
                element = rf"{self._el(a, 'j')} \, {_partial('E', self._el(c, 'k'))}"
                idx = "jk"
            else:
                vector = rf"{g} \, {A}"
                element = rf"{_partial('E', self.node_tex(c))} \, {self._el(a, 'j')}"
                idx = "j"
            target = b
        return (
            rf"{_partial('E', self._el(target, idx))} {eq} {element}",
            rf"{_partial('E', self.node_tex(target))} {eq} {vector}",
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
            element = self._local(step.local, {registry.Y: _generic(node, "j"), registry.T: "t_{j}"})
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
            rf" {_generic(dense.inputs[0], 'i' + index, True)}"
        )

    def _recursion_vector(self, node: str) -> str | None:
        """``(W^{(l+1)})^T delta^{(l+1)}`` when ``node``'s adjoint comes from one dense layer only."""
        senders = [s for s in self.d.steps if s.target == node]
        if len(senders) != 1 or senders[0].rule != "dense_input":
            return None
        dense = self.graph.nodes[senders[0].source]
        return rf"{_transpose(self.node_tex(dense.inputs[0]))} {self.adjoint_tex(dense.name)}"

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

    # -- the chain rule per parameter ----------------------------------------------

    def parameters(self) -> list[dict]:
        items = []
        for param in self.params_backward():
            path = self._path_to_loss(param.name)
            consumer = self.graph.consumers(param.name)[0]
            is_weight = consumer.inputs[0] == param.name
            p = self.node_tex(param.name)
            data = consumer.inputs[1]
            if path is None:
                chain, grouped = None, None
            else:
                chain, grouped = self._chain(param.name, path)
            delta = self.adjoint_tex(consumer.name)
            rhs = rf"{delta} \, {_transpose(self.node_tex(data))}" if is_weight else delta
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
                    "shape": Tex(_shape_tex(param.shape)),
                    "chain": Tex(chain) if chain else None,
                    "grouped": Tex(grouped) if grouped else None,
                    "delta": Tex(self._delta_definition(consumer.name)),
                    "matrix": Tex(rhs if chain else rf"{_partial('E', p)} = {rhs}"),
                    "code": code(grad_line.code) if grad_line else None,
                }
            )
        return items

    def _path_to_loss(self, param: str) -> list[str] | None:
        """[param, z, a, z', a', ..., E] when each node has exactly one consumer."""
        path = [param]
        current = param
        while current != self.graph.loss:
            consumers = self.graph.consumers(current)
            if len(consumers) != 1:
                return None
            current = consumers[0].name
            path.append(current)
        return path

    def _chain(self, param: str, path: list[str]) -> tuple[str, str]:
        """The chain rule from E down to ``param``: plain, and with its groups named."""
        nodes = list(reversed(path))  # E, a_L, z_L, ..., z_l, param
        # softmax + cross-entropy: dE/dz is one factor (y - t); the softmax output is skipped
        fused_skip = isinstance(self.output.op, Softmax)
        factors = []  # (of, wrt)
        for of, wrt in zip(nodes, nodes[1:]):
            factors.append((of, wrt))
        plain_parts = [_partial(self._tex_or_e(of), self.node_tex(wrt)) for of, wrt in factors]
        if fused_skip and len(factors) >= 2:
            plain_parts = [_partial("E", self.node_tex(factors[1][1]))] + plain_parts[2:]
            factors = [("E", factors[1][1])] + factors[2:]
        # Groups: each dense output z closes a delta; name the factors after it.
        groups = []
        for of, wrt in factors:
            label = self._factor_label(of, wrt)
            groups.append((_partial(self._tex_or_e(of), self.node_tex(wrt)), label))
        plain = self._ellipsis([p for p in plain_parts])
        grouped_parts = []
        # The leading factors up to the last layer's z are delta of the output layer.
        first_z = next((i for i, (of, wrt) in enumerate(factors) if isinstance(self.graph.nodes[wrt].op, Dense)), None)
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
        if isinstance(node.op, Dense):
            weight, data, *bias = node.inputs
            if wrt == weight:
                return _transpose(self.node_tex(data))
            if wrt == data:
                return rf"{self.node_tex(weight)}"
            return r"1"
        if isinstance(node.op, Activation):
            return rf"{self.function_tex(node.op)}'({self.node_tex(wrt)})"
        if isinstance(node.op, Softmax):
            return r"\text{softmax Jacobian}"
        return r"\ell'"

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
            for index in _param_indices(param.shape):
                g = self.d.scalar.gradient(param.name, index)
                lhs = _partial("E", names[g.symbol])
                factors = r" \, ".join(_partial(names.get(f.of, "E"), names[f.wrt]) for f in g.factors)
                exprs, row_names = [f.expr for f in g.factors], dict(names)
                short = self.compact_adjoint(g.factors[0].wrt, g.factors[0].expr)
                if short is None:
                    product = _pack(_product_tokens(exprs, row_names))
                else:
                    row_names.update(short[1])
                    tokens = _chain_terms(short[3], row_names)
                    if len(exprs) > 1:
                        tokens[0], tokens[-1] = r"\Bigl(" + tokens[0], tokens[-1] + r"\Bigr)"
                        rest = _product_tokens(exprs[1:], row_names)
                        tokens += [r"\cdot " + rest[0], *rest[1:]]
                    product = _pack(tokens)
                parts = [[factors], product] if len(g.factors) > 1 else [product]
                rows.append(Tex(_equation_rows(lhs, parts, force_rows=len(g.factors) > 1)))
            out.append({"name": Tex(self.node_tex(param.name)), "rows": rows})
        return out

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
            formula = _wrap(expr, names)
            parts = [formula]
            if not isinstance(expr, sp.Symbol):
                middle = _wrap(expr, numeric, mul_symbol="dot")
                if middle != formula and sum(len(line) for line in middle) <= SUBSTITUTION_MAX_CHARS:
                    parts.append(middle)
            if isinstance(expr, sp.Symbol) and expr in point:
                parts.append([shown[expr]])  # a given number, as given
            elif expr.is_number:
                pass
            else:
                parts.append([number(value)])
            return Tex(_equation_rows(lhs, parts))

        data = [n for n in given_values if self.graph.role(n) != "param"]
        given_line = r", \qquad ".join(", ".join(rf"{names[s]} = {shown[s]}" for s in scalar.symbols[n]) for n in data)
        rate = example.learning_rate
        if rate is not None:
            given_line += rf", \qquad \alpha = {given(rate)}"
        params = []
        groups = (
            [[layer.weight] + ([layer.bias] if layer.bias else []) for layer in self.layers]  # a layer's W and b
            if not self.graph_mode
            else _group_params(self.graph.params())
        )
        for members in groups:
            params.append(
                r", \qquad ".join(
                    rf"{self.node_tex(p)} = " + _matrix_tex([shown[s] for s in scalar.symbols[p]], self.graph.nodes[p].shape)
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
            gradients = [scalar.gradient(param.name, index) for index in _param_indices(param.shape)]
            factor_rows, seen = [], set()
            for g in gradients:
                for f in g.factors:
                    if (f.of, f.wrt) in seen:
                        continue
                    seen.add((f.of, f.wrt))
                    lhs = _partial(names.get(f.of, "E"), names[f.wrt])
                    if f.of == scalar.loss_symbol:
                        factor_rows.append(self.adjoint_rows(lhs, f.wrt, f.expr, values, numeric))
                    else:
                        factor_rows.append(rows(lhs, f.expr, scalar_evaluate(f.expr, values)))
            gradient_rows, update_rows = [], []
            for g in gradients:
                total = scalar_evaluate(g.expr, values)
                product = r" \cdot ".join(_neg(number(scalar_evaluate(f.expr, values))) for f in g.factors)
                gradient_rows.append(Tex(rf"{_partial('E', names[g.symbol])} &= {product} = {number(total)}"))
                if rate is not None:
                    new = values[g.symbol] - sp.Float(rate, 30) * total
                    update_rows.append(
                        Tex(
                            rf"{{{names[g.symbol]}}}^{{+}} &= {names[g.symbol]} - \alpha {_partial('E', names[g.symbol])}"
                            rf" = {shown[g.symbol]} - {given(rate)} \cdot {_neg(number(total))} = {number(new)}"
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

    # -- graph specs ----------------------------------------------------------------

    def op_definition(self, node) -> str:
        """What an op node computes, in the handout's notation (per sample)."""
        from .graph import Concat, Elementwise, MatMul, Reduce, Transpose, arg_symbol

        op, inputs = node.op, [self.node_tex(i) for i in node.inputs]
        if isinstance(op, Dense):
            return f"{inputs[0]} {inputs[1]}" + (f" + {inputs[2]}" if len(inputs) > 2 else "")
        if isinstance(op, (Activation, Softmax)):
            return rf"{self.function_tex(op)}\left({inputs[0]}\right)"
        if isinstance(op, Loss):
            name = op.choice.name if op.choice.formula is None else "loss"
            return rf"\operatorname{{{naming.escape_latex_text(name)}}}\left({inputs[0]}, {inputs[1]}\right)"
        if isinstance(op, Elementwise):
            names = {arg_symbol(k): tex for k, tex in enumerate(inputs)}
            return to_latex(op.expr, names, hadamard=bool(node.shape))
        if isinstance(op, MatMul):
            return f"{inputs[0]} \\, {inputs[1]}"
        if isinstance(op, Transpose):
            return _transpose(inputs[0])
        if isinstance(op, Reduce):
            what = r"\operatorname{mean}" if op.mean else r"\operatorname{sum}"
            axis = "" if op.axis is None else rf"_{{\text{{axis }}{op.axis + 1}}}"
            return rf"{what}{axis}\left({inputs[0]}\right)"
        if isinstance(op, Concat):
            return r"\begin{pmatrix} " + r" \\ ".join(inputs) + r" \end{pmatrix}"
        return rf"\operatorname{{{naming.escape_latex_text(type(op).__name__)}}}\left({', '.join(inputs)}\right)"

    def graph_tables(self) -> tuple[list[dict], list[dict]]:
        """(leaves: inputs, targets, parameters; op nodes with their definitions)."""
        roles = {"input": "input", "target": "target", "param": "parameter"}
        leaves, ops = [], []
        for node in self.graph.nodes.values():
            role = node.op.role
            row = {
                "symbol": Tex(f"${self.node_tex(node.name)}$"),
                "shape": Tex(f"${_shape_tex(node.shape)}$" if node.shape else "scalar"),
                "module": code(self.graph.array(node.name)),
                "plain": code(naming.element_name(node.name, (0,) * len(node.shape))),
            }
            if role in roles:
                leaves.append({**row, "role": text(roles[role])})
            else:
                ops.append({**row, "definition": Tex(f"${self.node_tex(node.name)} = {self.op_definition(node)}$")})
        return leaves, ops

    def graph_figure(self) -> dict | None:
        """The computational graph: one column per depth, leaves on the left, the loss on the right."""
        nodes = list(self.graph.nodes.values())
        if len(nodes) > 60:
            return None
        depth: dict[str, int] = {}
        for node in nodes:
            depth[node.name] = 1 + max((depth[i] for i in node.inputs), default=-1)
        for node in nodes:  # a leaf sits just before its first use, not all of them in column 0
            uses = [depth[c.name] for c in self.graph.consumers(node.name)]
            if node.op.role != "op" and uses:
                depth[node.name] = min(uses) - 1
        columns: dict[int, list[str]] = {}
        for node in nodes:
            columns.setdefault(depth[node.name], []).append(node.name)
        step_x, step_y = 2.3, 1.1
        placed = []
        for col, names in sorted(columns.items()):
            for row, name in enumerate(names):
                node = self.graph.nodes[name]
                style = {"input": "input", "target": "input", "param": "param"}.get(node.op.role, "op")
                if name == self.graph.loss:
                    style = "loss"
                placed.append(
                    {
                        "name": f"g{len(placed)}",
                        "node": name,
                        "x": f"{col * step_x:.2f}",
                        "y": f"{((len(names) - 1) / 2 - row) * step_y:.2f}",
                        "label": Tex(self.node_tex(name)),
                        "style": style,
                    }
                )
        ids = {p["node"]: p["name"] for p in placed}
        edges = [{"source": ids[i], "target": ids[n.name]} for n in nodes for i in dict.fromkeys(n.inputs)]
        return {"kind": "graph", "nodes": placed, "edges": edges}

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
                    elements.append(Tex(_equation_rows(names[symbol], [_wrap(definition, names)])))
        return equations, elements

    def elementwise_locals(self) -> list[Tex]:
        """d out / d input of every elementwise op, as SymPy derives it: one row per node."""
        from .graph import Elementwise, arg_symbol

        rows = []
        for node in self.graph.nodes.values():
            if not isinstance(node.op, Elementwise):
                continue
            names = {arg_symbol(k): self.node_tex(i) for k, i in enumerate(node.inputs)}
            names[registry.A] = self.node_tex(node.name)
            parts = []
            for name in dict.fromkeys(node.inputs):  # the same input twice (W * W): the sum of both
                total = sum(d for i, d in zip(node.inputs, node.op.derivatives) if i == name)
                parts.append(rf"{_partial(self.node_tex(node.name), self.node_tex(name))} = {to_latex(total, names)}")
            definition = to_latex(node.op.expr, names)
            rows.append(Tex(rf"{self.node_tex(node.name)} &= {definition}: & " + r", \quad ".join(parts)))
        return rows

    def graph_parameters(self) -> list[dict]:
        """Each parameter's gradient as the sum of what its uses send back."""
        items = []
        for param in self.params_backward():
            contributions = [(i, step) for i, step in enumerate(self.d.steps) if step.target == param.name]
            formulas = [self.step_math(step)[1].split(" = ", 1)[-1].split(r" \mathrel{+}= ", 1)[-1] for _, step in contributions]
            total = " + ".join(paren(f) if (" + " in f or " - " in f) and len(formulas) > 1 else f for f in formulas)
            lines = [code(line.code) for i, _ in contributions for line in self.numpy_lines[i]]
            items.append(
                {
                    "name": Tex(self.node_tex(param.name)),
                    "plain": code(param.name),
                    "shape": Tex(_shape_tex(param.shape) if param.shape else "1"),
                    "uses": len(contributions),
                    "matrix": Tex(rf"{_partial('E', self.node_tex(param.name))} = {total}"),
                    "code": lines,
                }
            )
        return items

    def graph_backward_values(self, values: dict, names: dict, numeric: dict) -> list[Tex]:
        """Node by node, from the loss back: the adjoint of every element and its value (CS231n style)."""
        scalar = self.d.scalar
        rows = []
        for node in reversed(list(self.graph.nodes.values())):
            if node.op.role == "target" or node.name not in scalar.symbols:
                continue
            for symbol in scalar.symbols[node.name]:
                if symbol in scalar.adjoints and symbol != scalar.loss_symbol:
                    lhs = _partial("E", names[symbol])
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
            numeric = {**numeric, **{d: _neg(number(v)) for d, v in adjoint_values.items()}}
            values = {**values, **adjoint_values}
        value = scalar_evaluate(expr, values)
        formula = _pack(_chain_terms(terms, names)) if short else _wrap(expr, names)
        parts = [formula]
        if not isinstance(expr, sp.Symbol):
            middle = _pack(_chain_terms(terms, numeric, mul_symbol="dot")) if short else _wrap(expr, numeric, mul_symbol="dot")
            if middle != formula and middle != [number(value)] and sum(map(len, middle)) <= SUBSTITUTION_MAX_CHARS:
                parts.append(middle)
        if formula != [number(value)]:
            parts.append([number(value)])
        return Tex(_equation_rows(lhs, parts))

    # -- the code ---------------------------------------------------------------------

    def code_listing(self) -> list[Tex]:
        lines = []
        for i in range(len(self.d.steps)):
            lines.extend(code(line.code) for line in self.numpy_lines[i])
        return lines

    # -- everything -------------------------------------------------------------------

    def context(self) -> dict:
        from . import __version__

        network = self.network
        common = {
            "mode": "graph" if self.graph_mode else "layers",
            "name": text(network.name),
            "source": text("".join(c if c.isprintable() else "?" for c in Path(network.source).name)),
            "version": text(__version__),
            "param_count": Tex(_count(self.param_count)),
            "limit": PER_WEIGHT_LIMIT,
            "local": self.local_derivatives(),
            "softmax_ce": self.softmax_cross_entropy(),
            "backward": self.backward(),
        }
        if self.graph_mode:
            leaves, ops = self.graph_tables()
            equations, elements = self.graph_forward()
            summary = getattr(network, "summary", "")
            context = {
                **common,
                "summary": text(summary),
                "figure": self.graph_figure(),
                "leaves": leaves,
                "ops": ops,
                "graph_forward": equations,
                "graph_elements": elements,
                "elementwise": self.elementwise_locals(),
                "loss_node": Tex(self.node_tex(self.graph.loss)),
                "parameters": self.graph_parameters(),
            }
        else:
            parts = [str(network.inputs)] + [f"{layer.units} ({_op_name(layer.op)})" for layer in self.layers]
            loss_name = network.loss.name if network.loss.formula is None else "a formula"
            sizes = [network.inputs] + [layer.units for layer in self.layers]
            context = {
                **common,
                "summary": Tex(r" $\to$ ".join(text(part) for part in parts)),
                "loss_name": text(loss_name),
                "figure": self.figure(),
                "layers": self.layer_rows(),
                "sizes": Tex(", ".join(rf"n_{{{i}}} = {_count(n)}" for i, n in enumerate(sizes))),
                "notation": self.notation(),
                "forward": self.forward(),
                "loss": self.loss(),
                "parameters": self.parameters(),
                "output": Tex(self.node_tex(self.output.name)),
            }
        context["per_weight"] = self.per_weight()
        context["example"] = self.example()
        context["delta_form"] = self.uses_delta_form
        context["code"] = self.code_listing()
        return context


def scalar_evaluate(expr: sp.Expr, values: dict) -> sp.Float:
    from .scalar import evaluate

    return evaluate(expr, values)


# ---------------------------------------------------------------------------------------
# local derivatives, step by step


@dataclass
class _Line:
    rhs: Tex
    reason: Tex
    boxed: bool = False


@dataclass
class _Lines:
    definition_steps: list[_Line] = field(default_factory=list)
    derivative_steps: list[_Line] = field(default_factory=list)


def _fold(expr: sp.Expr) -> sp.Expr:
    """A constant times a piecewise function as one piecewise function (for display)."""
    return sp.piecewise_fold(expr) if expr.has(sp.Piecewise) else expr


def _registry_calls(expr: sp.Expr) -> list[str]:
    """Names of the registry functions that ``expr`` calls, in a stable order."""
    return sorted({call.entry.name for call in expr.atoms(registry.RegistryFunction)})


def _derivative_lines(definition, var, presentation=None, named=None, final=None) -> list[_Line]:
    """f'(var), step by step, each line checked equal to SymPy's derivative.

    1. the chain rule applied once to the outermost function, unevaluated;
    2. SymPy's derivative of the definition;
    3. for an entry with a presentation in terms of its output (sigmoid's ``a (1 - a)``):
       the presentation with the definition put in for the output, first with each factor
       brought to one fraction, then as written; then with the function's name; then boxed,
       in ``a``.  Otherwise ``final`` (the simplified derivative the backward pass uses).
    """
    raw = sp.diff(definition, var)
    free = sorted(definition.free_symbols | {var}, key=lambda s: s.name)
    lines: list[_Line] = []
    seen: list[str] = []

    def add(expr_tex: str, reason: str, check: sp.Expr | None = None, boxed: bool = False):
        if check is not None and not _same(check, raw, free):
            return
        if expr_tex in seen:
            return
        seen.append(expr_tex)
        lines.append(_Line(Tex(expr_tex), Tex(reason), boxed))

    chain = _chain_rule(definition, var)
    if chain is not None:
        add(chain[0], "chain rule" if "product" not in chain[2] else chain[2], chain[1])
    add(to_latex(_fold(raw)), "SymPy's derivative", raw)
    if presentation is not None:
        has_piecewise = presentation.has(sp.Piecewise) or definition.has(sp.Piecewise)
        if not has_piecewise and presentation.has(registry.A):
            factors = sp.Mul.make_args(presentation)
            plugged = [f.xreplace({registry.A: definition}) for f in factors]
            together = [_together(registry.expand_definitions(p)) for p in plugged]
            add(_product(together), "one fraction per factor", sp.Mul(*together))
            add(_product(plugged), "the definition of the function", sp.Mul(*plugged))
            if named is not None:
                add(
                    _product([f.xreplace({registry.A: named}) for f in factors]),
                    "by its name",
                    presentation.xreplace({registry.A: named}),
                )
        elif not has_piecewise:
            add(to_latex(registry.expand_definitions(presentation)), "simplified", registry.expand_definitions(presentation))
        check = presentation.xreplace({registry.A: definition}) if presentation.has(registry.A) else presentation
        boxed_reason = "in terms of the output $a$" if presentation.has(registry.A) else "as the backward pass computes it"
        if _same(check, raw, free):
            seen_before = [line for line in lines if line.rhs == to_latex(presentation)]
            for line in seen_before:
                lines.remove(line)
                seen.remove(line.rhs)
            add(to_latex(presentation), boxed_reason, boxed=True)
    elif final is not None:
        add(to_latex(final), "simplified (as the backward pass computes it)", final, boxed=True)
        if not any(line.boxed for line in lines) and lines:
            lines[-1].boxed = True
    return lines


def _chain_rule(expr: sp.Expr, var: sp.Symbol) -> tuple[str, sp.Expr, str] | None:
    """One unevaluated application of the chain (or product) rule: (LaTeX, value, reason)."""
    if not expr.has(var) or expr == var or isinstance(expr, sp.Piecewise):
        return None
    if isinstance(expr, sp.Add):
        parts, values = [], []
        shown = False
        for term in sp.Add.make_args(expr):
            if not term.has(var):
                continue
            sign = ""
            if term.could_extract_minus_sign():
                sign, term = "-", -term
            inner = _chain_rule(term, var)
            if inner is None:
                tex, value = _paren_if_sum(sp.diff(term, var)), sp.diff(term, var)
            else:
                tex, value, _ = inner
                shown = True
            parts.append((sign, tex))
            values.append(-value if sign else value)
        if not shown:
            return None
        text_ = ""
        for i, (sign, tex) in enumerate(parts):
            text_ += (" - " if i else "- ") + tex if sign else (" + " if i else "") + tex
        return text_, sp.Add(*values), "chain rule"
    if isinstance(expr, sp.Mul):
        constant = sp.Mul(*[f for f in expr.args if not f.has(var)])
        dependent = [f for f in expr.args if f.has(var)]
        prefix = "" if constant == 1 else ("-" if constant == -1 else _coefficient(constant) + r" \cdot ")
        if len(dependent) == 1:
            inner = _chain_rule(dependent[0], var)
            if inner is None:
                return None
            return prefix + inner[0], constant * inner[1], inner[2]
        # product rule: sum over factors of (derivative of that factor) * (the others)
        terms, values = [], []
        for i, factor in enumerate(dependent):
            others = dependent[:i] + dependent[i + 1 :]
            d = sp.diff(factor, var)
            pieces = ([] if d == 1 else [d]) + others
            terms.append(_product(pieces))
            values.append(sp.Mul(d, *others))
        body = " + ".join(terms)
        tex = prefix + (paren(body) if prefix else body)
        return tex, constant * sp.Add(*values), "product rule"
    if isinstance(expr, sp.Pow) and not expr.exp.has(var):
        base, n = expr.args
        if base == var:
            return None
        inner = sp.diff(base, var)
        n_tex = "" if n == 1 else ("-" if n == -1 else _coefficient(n) + r" \cdot ")
        power = rf"{paren(to_latex(base))}^{{{to_latex(n - 1)}}}" if n - 1 != 1 else paren(to_latex(base))
        tex = rf"{n_tex}{power} \cdot {_paren_if_sum(inner)}"
        return tex, n * base ** (n - 1) * inner, "chain rule"
    if isinstance(expr, (sp.Function, sp.exp, sp.log)) and expr.args and expr.args[0].has(var):
        u = expr.args[0]
        if u == var or any(a.has(var) for a in expr.args[1:]):
            return None
        inner = sp.diff(u, var)
        dummy = sp.Symbol("u_dummy", real=True)
        outer = sp.diff(expr.func(dummy, *expr.args[1:]), dummy).xreplace({dummy: u})
        if inner == 1:
            return None
        tex = rf"{_paren_if_sum(outer)} \cdot {_paren_if_sum(inner)}"
        return tex, outer * inner, "chain rule"
    return None


def _together(expr: sp.Expr) -> sp.Expr:
    """One fraction, keeping each exponential as written (1 - 1/(1+e^-z) -> e^-z/(1+e^-z))."""
    exps = sorted(expr.atoms(sp.exp), key=sp.default_sort_key)
    stand_ins = {e: sp.Symbol(f"_exp{i}", positive=True) for i, e in enumerate(exps)}
    result = sp.together(expr.xreplace(stand_ins))
    return result.xreplace({v: k for k, v in stand_ins.items()})


def _coefficient(c: sp.Expr) -> str:
    tex = to_latex(c)
    return paren(tex) if c.could_extract_minus_sign() and c != -1 else tex


def _paren_if_sum(expr: sp.Expr) -> str:
    tex = to_latex(expr)
    if isinstance(expr, sp.Add) or expr.could_extract_minus_sign():
        return paren(tex)
    return tex


def _product(factors) -> str:
    return r" \cdot ".join(_paren_if_sum(f) if isinstance(f, sp.Add) else to_latex(f) for f in factors)


#: Points where two formulas in one or two variables are compared.
_POINTS = [-1.3, -0.45, 0.2, 0.35, 0.7, 1.6]


def _same(a: sp.Expr, b: sp.Expr, variables: list[sp.Symbol]) -> bool:
    """``a == b``, decided numerically at fixed points (30 digits): deterministic and bounded.

    Only used to decide which display steps to show; the derivation itself is proved in
    the registry and proof tests.
    """
    difference = registry.expand_definitions(sp.sympify(a) - sp.sympify(b))
    if difference == 0:
        return True
    variables = sorted(set(variables) | difference.free_symbols, key=lambda s: s.name)
    for shift, _ in enumerate(_POINTS):
        point = {v: sp.Float(_POINTS[(shift + i * 2) % len(_POINTS)] + 0.01 * i, 30) for i, v in enumerate(variables)}
        if registry.Y in point and registry.T in point:  # keep y in (0, 1) for logs of y and 1 - y
            point[registry.Y] = sp.Float(0.15 + 0.12 * shift, 30)
            point[registry.T] = sp.Float(0.9 - 0.13 * shift, 30)
        value = difference.xreplace(point).evalf(30)
        if not value.is_number or abs(complex(value)) > 1e-20:
            return False
    return True


#: Width of one display line, in the rough characters of ``latex_printing.visible_length``.
WRAP_WIDTH = 62


def _chain_terms(terms: list[tuple[sp.Symbol, sp.Expr]], names: dict, **settings) -> list[str]:
    """``dE/du * du/dx + ...`` as one token per term, each product kept as written."""
    tokens = []
    for i, (adjoint, local) in enumerate(terms):
        sign = "-" if local.could_extract_minus_sign() else "+"
        local = -local if sign == "-" else local
        tex = to_latex(adjoint, names, **settings)
        if local != 1:
            local_tex = to_latex(local, names, **settings)
            tex += r" \cdot " + (paren(local_tex) if isinstance(local, sp.Add) else local_tex)
        tokens.append((("- " if i else "-") if sign == "-" else ("+ " if i else "")) + tex)
    return tokens


def _split_equation(tex: str) -> str:
    """``a = b = c`` on one line if it fits, else as ``aligned`` rows, one per right-hand side."""
    if visible_length(tex) <= WRAP_WIDTH + 20:
        return tex
    parts = re.split(r" (=|\\mathrel\{\+\}=) ", tex)
    if len(parts) < 5:
        return tex
    lhs, rest = parts[0], parts[1:]
    rows = [f"{lhs} &{rest[0]} {rest[1]}"] + [f"&{rest[i]} {rest[i + 1]}" for i in range(2, len(rest), 2)]
    return r"\begin{aligned} " + r" \\ ".join(rows) + r" \end{aligned}"


def _group_params(params) -> list[list[str]]:
    """Scalars and vectors of a graph spec together on lines of up to four; each matrix alone."""
    groups: list[list[str]] = []
    small = False  # whether the last group holds scalars and vectors
    for p in params:
        if len(p.shape) < 2 and small and len(groups[-1]) < 4:
            groups[-1].append(p.name)
        else:
            groups.append([p.name])
            small = len(p.shape) < 2
    return groups


def _larger_than(expr: sp.Expr, nodes: int) -> bool:
    """Whether ``expr`` has more than ``nodes`` nodes (counted lazily: cheap on huge expressions)."""
    for count, _ in enumerate(sp.preorder_traversal(expr), start=1):
        if count > nodes:
            return True
    return False


def _neg(tex: str) -> str:
    return paren(tex) if tex.startswith("-") else tex


def _terms_tokens(expr: sp.Expr, names: dict, open_: str = "", close: str = "", **settings) -> list[str]:
    """A sum as one token per term (``+ term``), wrapped in ``open_`` ... ``close``."""
    tokens = []
    for i, (sign, term) in enumerate(ordered_terms(expr)):
        tex = to_latex(term, names, **settings)
        if isinstance(term, sp.Add):
            tex = paren(tex)
        prefix = "- " if sign == "-" else ("+ " if i else "")
        tokens.append(prefix + tex)
    tokens[0] = open_ + tokens[0]
    tokens[-1] = tokens[-1] + close
    return tokens


def _product_tokens(factors: list[sp.Expr], names: dict, **settings) -> list[str]:
    """Factors joined by a dot; a factor too long for a line is split into its terms."""
    tokens = []
    for i, factor in enumerate(factors):
        dot = r"\cdot " if i else ""
        tex = to_latex(factor, names, **settings)
        if isinstance(factor, sp.Add) and visible_length(tex) > WRAP_WIDTH:
            parts = _terms_tokens(factor, names, r"\Bigl(", r"\Bigr)", **settings)
            parts[0] = dot + parts[0]
            tokens.extend(parts)
        else:
            if isinstance(factor, sp.Add) or factor.could_extract_minus_sign():
                tex = paren(tex)
            tokens.append(dot + tex)
    return tokens


def _wrap(expr: sp.Expr, names: dict, **settings) -> list[str]:
    """``expr`` as LaTeX, split into lines no wider than ``WRAP_WIDTH`` where it can be."""
    tex = to_latex(expr, names, **settings)
    if visible_length(tex) <= WRAP_WIDTH:
        return [tex]
    if isinstance(expr, sp.Add):
        tokens = []
        for i, (sign, term) in enumerate(ordered_terms(expr)):
            prefix = "- " if sign == "-" else ("+ " if i else "")
            term_tex = to_latex(term, names, **settings)
            if isinstance(term, sp.Mul) and visible_length(term_tex) > WRAP_WIDTH and not _has_denominator(term):
                sub = _product_tokens(list(term.as_ordered_factors()), names, **settings)
                sub[0] = prefix + sub[0]
                tokens.extend(sub)
            else:
                tokens.append(prefix + term_tex)
        return _pack(tokens)
    if isinstance(expr, sp.Mul) and not _has_denominator(expr):
        sign = "-" if expr.could_extract_minus_sign() else ""
        tokens = _product_tokens(list((-expr if sign else expr).as_ordered_factors()), names, **settings)
        tokens[0] = sign + tokens[0]
        return _pack(tokens)
    return [tex]


def _has_denominator(expr: sp.Expr) -> bool:
    return any(f.is_Pow and f.exp.is_negative for f in sp.Mul.make_args(expr))


def _pack(tokens: list[str]) -> list[str]:
    """Greedy line filling: as many tokens per line as fit in ``WRAP_WIDTH``."""
    lines: list[str] = []
    for token in tokens:
        if lines and visible_length(lines[-1] + " " + token) <= WRAP_WIDTH:
            lines[-1] += " " + token
        else:
            lines.append(token)
    return lines


def _equation_rows(lhs: str, parts: list[list[str]], force_rows: bool = False) -> str:
    """``lhs = part = part ...`` as align rows: on one row when it fits, else a row per part."""
    parts = [p for p in parts if p]
    one_row = f"{lhs} &= " + " = ".join(p[0] for p in parts)
    if not force_rows and all(len(p) == 1 for p in parts) and visible_length(one_row) <= WRAP_WIDTH + 14:
        return one_row
    rows = []
    for i, part in enumerate(parts):
        rows.append((f"{lhs} &= " if i == 0 else "&= ") + part[0])
        rows += [rf"&\quad {line}" for line in part[1:]]
    return " \\\\\n".join(rows)


def _param_indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    from .scalar import _indices

    return _indices(shape)


def _matrix_tex(entries: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return entries[0]
    if len(shape) == 1:
        return r"\begin{pmatrix} " + r" \\ ".join(entries) + r" \end{pmatrix}"
    rows, cols = shape
    body = r" \\ ".join(" & ".join(entries[r * cols : (r + 1) * cols]) for r in range(rows))
    return r"\begin{pmatrix} " + body + r" \end{pmatrix}"


# ---------------------------------------------------------------------------------------
# public functions


def latex_source(derivation: Derivation) -> str:
    """The handout of ``derivation`` as LaTeX source (a complete document)."""
    return environment().get_template("handout.tex.j2").render(**_Handout(derivation).context())


def write_latex(derivation: Derivation, directory: str | Path) -> Path:
    """Write ``<name>.tex`` into ``directory`` (created if needed); returns its path."""
    name = derivation.name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise SymPropError(f"network name {name!r} cannot be used as a file name; use letters, digits and '_'")
    directory = Path(directory)
    source = latex_source(derivation)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.tex"
    path.write_text(source, encoding="utf-8")
    return path


def compile_pdf(tex_path: str | Path, timeout: float = 300) -> Path:
    """Compile ``tex_path`` with latexmk in a temporary directory; the PDF lands next to it.

    Raises ``SymPropError`` when latexmk is missing or LaTeX reports an error (with the
    first error line of the log).
    """
    tex_path = Path(tex_path).resolve()
    if not tex_path.is_file():
        raise SymPropError(f"{tex_path}: no such file")
    latexmk = shutil.which("latexmk")
    if latexmk is None:
        raise SymPropError(
            "latexmk not found: install a TeX distribution to build PDFs "
            "(Debian/Ubuntu: apt-get install latexmk texlive-latex-base texlive-latex-recommended texlive-pictures)"
        )
    with tempfile.TemporaryDirectory(prefix="symprop-tex-") as work:
        work_path = Path(work)
        shutil.copyfile(tex_path, work_path / "handout.tex")
        env = {**os.environ, "max_print_line": "1000"}
        try:
            result = subprocess.run(
                [latexmk, "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "handout.tex"],
                cwd=work_path,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SymPropError(f"{tex_path.name}: latexmk did not finish within {timeout:.0f} s") from None
        pdf = work_path / "handout.pdf"
        log = work_path / "handout.log"
        log_text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else result.stdout + result.stderr
        if result.returncode != 0 or not pdf.is_file():
            error = _first_error(log_text).replace("./handout.tex:", "line ")
            raise SymPropError(f"{tex_path.name}: LaTeX failed: {error}")
        target = tex_path.with_suffix(".pdf")
        shutil.copyfile(pdf, target)
    return target


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!") or re.match(r"^.*:\d+: ", line):
            detail = line.lstrip("! ").strip()
            context = next((lines[j].strip() for j in range(i + 1, min(i + 4, len(lines))) if lines[j].startswith("l.")), "")
            return f"{detail} ({context})" if context else detail
    tail = [line for line in lines if line.strip()][-1:] or ["no log"]
    return tail[0]


# ---------------------------------------------------------------------------------------
# notebooks


def repr_latex(derivation: Derivation) -> str:
    """The backward pass in vector form, as one display for Jupyter (``_repr_latex_``)."""
    handout = _Handout(derivation)
    rows = [handout.step_math(step)[1] for step in derivation.steps]
    body = r" \\ ".join(_align(row) for row in rows)
    return r"$$\begin{aligned} " + body + r" \end{aligned}$$"


def repr_markdown(derivation: Derivation) -> str:
    """A short Markdown summary with the backward pass (``_repr_markdown_``)."""
    handout = _Handout(derivation)
    network = derivation.network
    name = _markdown_escape(network.name)
    if handout.graph_mode:
        about = _markdown_escape(getattr(network, "summary", "a graph spec"))
    else:
        sizes = " → ".join([str(network.inputs)] + [str(layer.units) for layer in network.layers])
        about = f"{sizes}, {handout.param_count:,} parameters, loss {_markdown_escape(network.loss.name)}"
    return f"**{name}**: {about}\n\n{repr_latex(derivation)}\n"


def gradient_latex(gradient) -> str:
    """dE/d(one parameter element) as the chain of factors and their product (``_repr_latex_``)."""
    names = {s: _element_tex_from_name(s.name) for s in _symbols_of(gradient)}
    factors = r" \, ".join(_partial(names.get(f.of, "E"), names[f.wrt]) for f in gradient.factors)
    values = r" \cdot ".join(
        paren(to_latex(f.expr, names)) if isinstance(f.expr, sp.Add) else to_latex(f.expr, names) for f in gradient.factors
    )
    lhs = rf"\frac{{\partial E}}{{\partial {names[gradient.symbol]}}}"
    if len(gradient.factors) == 1:
        return f"$${lhs} = {values}$$"
    return f"$${lhs} = {factors} = {values}$$"


def _symbols_of(gradient) -> list[sp.Symbol]:
    symbols = {gradient.symbol}
    for f in gradient.factors:
        symbols |= {f.of, f.wrt} | f.expr.free_symbols
    return sorted(symbols, key=lambda s: s.name)


def _element_tex_from_name(name: str) -> str:
    """``a2_1`` -> ``a^{(2)}_{1}``, ``W2_12`` -> ``w^{(2)}_{12}`` (layer-stack names)."""
    match = re.fullmatch(r"([A-Za-z]+\d*)_(\d+(?:_\d+)*)", name)
    if not match:
        return naming.latex_base(name)
    node, suffix = match.groups()
    if "_" in suffix:
        index = tuple(int(i) - 1 for i in suffix.split("_"))
    elif node[:1] == "W" and len(suffix) == 2:
        index = (int(suffix[0]) - 1, int(suffix[1]) - 1)
    else:
        index = (int(suffix) - 1,)
    return naming.latex_element(node, index)


def _align(row: str) -> str:
    """Put an alignment point before the first top-level '=' of a vector equation."""
    for marker in (r" \mathrel{+}= ", " = "):
        if marker in row:
            head, tail = row.split(marker, 1)
            return f"{head} &{marker.strip()} {tail}"
    return row


def _markdown_escape(value: str) -> str:
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # not ( ) or $: Jupyter's MathJax reads \( \) and $ as math delimiters
    return re.sub(r"([\\`*_\[\]#|])", r"\\\1", value).replace("$", "&#36;")
