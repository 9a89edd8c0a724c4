"""The handout of one Derivation: the template context, assembled from one section class per concern."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import sympy as sp

from ... import naming, registry
from ...errors import SymPropError
from ...latex_printing import given, paren, to_latex, visible_length
from ...ops import element_indices
from ...ops.base import at_elements
from ...scalar import SCALAR_MAX_TERMS
from ...version import __version__
from .backward import BackwardSection
from .derivative_steps import same_function
from .example import ExampleSection
from .figure import FigureSection
from .forward import ForwardSection
from .graph_figure import GraphFigureSection
from .graph_spec import GraphSpecSection
from .layout import larger_than
from .limits import CODE_MAX_LINES, LAYERS_MAX, LONG_FACTOR, PER_WEIGHT_LIMIT, PER_WEIGHT_VALUES
from .notation import Layer, constants_tex, count_tex, count_words, generic_element, index_tokens, op_name, partial
from .parameters import ParameterSection
from .tex import Tex, code, environment, text
from .tutorial import TutorialSection
from .unrolled import Gap, Unrolled, gapped

if TYPE_CHECKING:
    from ...derivation import Derivation

#: The editions of a handout, as a teacher chooses them: each is a choice of what to show, the
#: template is one.  ``full``: the derivation, each step beside the NumPy line that computes
#: it, the names ``symprop verify`` accepts, every weight written out (when no worked example
#: does it in numbers) and the module's code.  ``student``: the derivation once, the summary
#: and the worked numbers, nothing about the code.
EDITIONS = ("full", "student")


class Handout(
    FigureSection,
    GraphFigureSection,
    ForwardSection,
    BackwardSection,
    ParameterSection,
    ExampleSection,
    GraphSpecSection,
    TutorialSection,
):
    """Builds the template context for one derivation."""

    def __init__(self, derivation: Derivation, edition: str = "full"):
        if edition not in EDITIONS:
            raise SymPropError(f"unknown edition {edition!r}; choose one of {', '.join(EDITIONS)}")
        self.edition = edition
        self.uses_delta_form = False  # set when a long sum is written with the deltas
        self.graph_mode = getattr(derivation.network, "kind", "layers") == "graph"
        self.layered = not self.graph_mode  # digits in names are layers (z2: z^(2)) in layer stacks only
        self.d = derivation
        self.graph = derivation.graph
        self.network = derivation.network
        self.loss_node = self.graph.nodes[self.graph.loss]
        self.output = self.graph.nodes[self.loss_node.inputs[0]]
        self.values = sum(int(sp.prod(n.shape)) for n in self.graph.nodes.values())
        self.small = derivation.has_scalar and self.param_count <= PER_WEIGHT_LIMIT and self.values <= PER_WEIGHT_VALUES

    # -- structure ------------------------------------------------------------------

    @property
    def param_count(self) -> int:
        return self.d.param_count

    @cached_property
    def layers(self) -> list[Layer]:
        layers = []
        for node in self.graph.nodes.values():
            if not node.op.dense_layer:
                continue
            weight, data, *bias = node.inputs
            consumers = self.users(node.name)
            act = consumers[0] if len(consumers) == 1 and consumers[0].op.layer_activation else None
            layers.append(
                Layer(
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
        consumer = {p.name: self.users(p.name)[0].name for p in params}
        order = {name: i for i, name in enumerate(self.graph.nodes)}
        return sorted(params, key=lambda p: (-order[consumer[p.name]], position[p.name]))

    def users(self, name: str) -> list:
        """The nodes that read ``name`` (``Graph.consumers``, from a table built once: it scans the graph)."""
        return [self.graph.nodes[c] for c in self.unrolled.consumers[name]]

    def node_tex(self, node: str) -> str:
        return naming.latex_base(node, self.layered)

    def adjoint_tex(self, node: str) -> str:
        """The handout's name for dE/d``node``: delta for a layer's output (layer stacks)."""
        if self.graph.nodes[node].op.dense_layer and not self.graph_mode:
            return r"\delta" + naming.latex_layer_mark(node)
        return partial("E", self.node_tex(node))

    def adjoint_element(self, node: str, index: str) -> str:
        if self.graph.nodes[node].op.dense_layer and not self.graph_mode:
            return r"\delta" + naming.latex_layer_mark(node) + f"_{{{index}}}"
        return partial("E", self.generic(node, index))

    def el(self, node: str, index: str | tuple[str, ...]) -> str:
        """Element ``index`` of a node (letters, e.g. ``j``, ``jk``, ``ijk``, or a list of index
        expressions; empty for a scalar): ``w_{jk}``, ``s_{i,j,k}``, ``c_{j,8+k}``."""
        tokens = index_tokens(index)
        if not tokens:
            return self.node_tex(node)
        return generic_element(node, tokens, matrix=len(tokens) == 2, layered=self.layered)

    def generic(self, node: str, indices: str | tuple[str, ...], matrix: bool = False) -> str:
        """Element ``indices`` of a node, as ``el`` but a matrix only when asked (``w^{(2)}_{jk}``)."""
        return generic_element(node, indices, matrix, self.layered)

    def function_tex(self, op) -> str:
        """How an activation is named in formulas: ``\\sigma``, ``f_{swish\\_b}`` (the op says)."""
        return op.function_latex()

    def op_constants(self, op) -> str | None:
        """An activation's constants with their values (``$\\mathrm{alpha} = 0.1$``,
        ``$\\mathrm{beta} = 1.5$``), a registry entry's or a spec formula's alike; None without any."""
        if op is None or not op.activation:
            return None
        if op.choice.formula is not None:
            form = self.d.network.function_forms.get(op.choice.name)
            return None if form is None else self.constant_values(form)
        return constants_tex((name, value) for (name, _), value in zip(op.choice.entry.constants, op.choice.constants))

    def function_form(self, op) -> tuple[str, str] | None:
        """An activation that is a formula of the spec as the spec writes it: its definition with
        the spec's constants by name (``\\frac{z}{c z^{2} + 1}``) and their values (``$c = 0.5$``),
        so that a student connects the page to the spec's c; None when it uses no constant."""
        form = self.d.network.function_forms.get(op.choice.name)
        values = None if form is None else self.constant_values(form)
        return None if values is None else (to_latex(form), values)

    def loss_form(self, node) -> tuple[str, str, str] | None:
        """A loss that is a formula of the spec as the spec writes it, as ``function_form`` gives
        an activation: ell(y, t) with the spec's constants by name, the loss of the output's
        elements so (``Loss.form_latex``) and the constants' values; None when it uses no constant."""
        summed = node.op.form_latex(node, self) if node.op.loss_function else None
        if summed is None:
            return None
        form = node.op.choice.form
        return to_latex(form), summed, self.constant_values(form)

    def by_name(self, op) -> tuple[sp.Expr, dict[sp.Symbol, sp.Expr]] | None:
        """An activation's definition f(z) or a loss's ell(y, t) with its constants by name, and
        their values: a registry entry's (leaky_relu's ``alpha``, Huber's ``delta``) or a spec
        formula's (custom_swish's ``beta``); None without constants.  The handout derives and
        writes formulas so, ``\\mathrm{alpha} z`` under ``$\\mathrm{alpha} = 0.1$`` (never
        ``\\frac{z}{10}``), as a textbook does; the worked example puts the numbers in."""
        found = self.own_constants(op)
        if found is None or any(str(s) in self.ambiguous_constants for s in found[1]):
            return None  # alpha of 0.1 and of 0.2, or a node alpha: the numbers, as the module has them
        return found

    def own_constants(self, op) -> tuple[sp.Expr, dict[sp.Symbol, sp.Expr]] | None:
        """``by_name``'s form and values of ``op``, whether or not a name is ambiguous."""
        choice = getattr(op, "choice", None) if op is not None and (op.activation or op.loss_function) else None
        if choice is None:
            return None
        if choice.formula is not None:
            form = choice.form if op.loss_function else getattr(self.d.network, "function_forms", {}).get(choice.name)
            spec = getattr(self.d.network, "constants", None) or {}
            values = {} if form is None else {s: spec[str(s)] for s in form.free_symbols if str(s) in spec}
        elif choice.entry.constants:
            symbols = registry.constant_symbols(choice.entry.constants)
            form = choice.entry.define(*((registry.Y, registry.T) if op.loss_function else (registry.Z,)), *symbols)
            values = dict(zip(symbols, choice.constants))
        else:
            return None
        return (form, values) if values else None

    def named_local(self, op, expr: sp.Expr, named: sp.Expr) -> sp.Expr:
        """``named`` (a formula of ``op``'s with its constants by name, ``by_name``) where it is
        ``expr`` once the constants' values are put in, else ``expr``: what the page writes is
        always what the module computes."""
        form = self.by_name(op)
        if form is None:
            return expr
        filled = named.xreplace(form[1])
        return named if filled == expr or same_function(filled, expr, sorted(expr.free_symbols, key=str)) else expr

    def named_element(self, of: sp.Symbol, wrt: sp.Symbol, expr: sp.Expr) -> sp.Expr:
        """A worked factor d``of``/d``wrt`` (``expr``) with its op's constants by name: an
        activation's da/dz (``\\mathrm{alpha}``, not 1/10), the loss's dE/dy (Huber's
        ``\\mathrm{delta}``), the loss's definition (``of`` None, ``wrt`` the loss); ``expr`` otherwise
        (``of`` None: the definition of ``wrt``, any other element)."""
        scalar = self.d.scalar
        if of is None and wrt != scalar.loss_symbol:
            return expr
        if of is None or of == scalar.loss_symbol:
            node = self.loss_node
            form = self.by_name(node.op) if node.op.loss_function else None
            if form is None:
                return expr
            ys, ts = (scalar.symbols[n] for n in node.inputs[:2])
            named, scale = form[0], node.op.scale(len(ys))
            if of is None:
                return self.named_local(node.op, expr, scale * sp.Add(*(at_elements(named, y=y, t=t) for y, t in zip(ys, ts))))
            if wrt not in ys:
                return expr
            derivative = node.op.shown_local(scale * node.op.derivative, self)
            return self.named_local(node.op, expr, at_elements(derivative, y=wrt, t=ts[ys.index(wrt)]))
        element = scalar.element_of(of)
        op = self.graph.nodes[element[0]].op if element else None
        form = self.by_name(op) if op is not None and op.activation else None
        if form is None:
            return expr
        derivative = op.derivative_by_name(form[0])  # as the local derivatives' section boxes it
        return self.named_local(op, expr, at_elements(derivative, z=wrt, a=of))

    @cached_property
    def ambiguous_constants(self) -> set[str]:
        """The names ``by_name`` may not write, because one name would stand for two numbers on
        the page: a name with two values in the network (two leaky_relu layers, alpha 0.1 and
        0.2; elu's alpha 1 beside leaky_relu's 0.1; a spec constant alpha beside an entry's), or a
        node's name (a node alpha).  Their ops' formulas are written in numbers."""
        values: dict[str, set[float]] = {}
        for name, value in (getattr(self.d.network, "constants", None) or {}).items():
            values.setdefault(name, set()).add(float(value))
        for node in self.graph.nodes.values():
            found = self.own_constants(node.op)
            for symbol, value in found[1].items() if found else ():
                values.setdefault(str(symbol), set()).add(float(value))
        return {name for name, seen in values.items() if len(seen) > 1 or name in self.graph.nodes}

    @cached_property
    def named_constants(self) -> dict[sp.Symbol, sp.Expr]:
        """Every constant the formulas write by name (``by_name``), with its value."""
        forms = [self.by_name(node.op) for node in self.graph.nodes.values()]
        return {s: v for form in forms if form is not None for s, v in form[1].items()}

    def constant_numbers(self) -> dict[sp.Symbol, str]:
        """``named_constants`` in numbers, as a formula in numbers writes them (``0.1``, ``(-0.5)``)."""
        return {s: paren(given(float(v))) if v < 0 else given(float(v)) for s, v in self.named_constants.items()}

    def constant_values(self, form: sp.Expr) -> str | None:
        """``$c = 0.5$, $k = 2$``: the spec's constants that ``form`` uses, with the values the
        spec gives them; None when it uses none."""
        constants = self.d.network.constants
        used = sorted((s for s in form.free_symbols if str(s) in constants), key=str)
        return constants_tex((str(c), constants[str(c)]) for c in used)

    @cached_property
    def element_index(self) -> dict[sp.Symbol, tuple[str, tuple[int, ...]]]:
        """Node and (0-based) index of every element symbol of the per-weight view."""
        return {
            symbol: (node, index)
            for node, symbols in self.d.scalar.symbols.items()
            for symbol, index in zip(symbols, element_indices(self.graph.nodes[node].shape))
        }

    @cached_property
    def element_names(self) -> dict[sp.Symbol, str]:
        """LaTeX of every element symbol of the per-weight view (small networks)."""
        return {
            symbol: naming.latex_element(node, index, self.layered) for symbol, (node, index) in self.element_index.items()
        }

    @property
    def element_users(self) -> dict[sp.Symbol, list[sp.Symbol]]:
        """For every element symbol, the op elements whose definitions use it (forward order)."""
        return self.d.scalar.users

    def chain_sum(self, symbol: sp.Symbol) -> list[list[sp.Expr]] | None:
        """dE/d``symbol`` as a sum over the elements it reaches where its path first branches
        (``ScalarDerivation.branch_terms``), each term its factors; None when the path never branches."""
        terms = self.d.scalar.branch_terms(symbol)
        return None if terms is None else [[self.named_element(f.of, f.wrt, f.expr) for f in term] for term in terms]

    def compact_adjoint(self, symbol: sp.Symbol, full: sp.Expr, force: bool = False):
        """dE/d``symbol`` written through its users, when ``full`` is too long to read.

        ``sum_u dE/du * du/dsymbol`` over the elements ``u`` computed from ``symbol`` (the next
        layer's deltas for a layer stack).  Returns (expression, LaTeX names of the new
        dE/du symbols, new symbol -> u), or None when ``full`` is short enough.
        """
        scalar = self.d.scalar
        if not force and not larger_than(full, 150) and visible_length(to_latex(full, self.element_names)) <= LONG_FACTOR:
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
            names[d_u] = self.adjoint_element(node, letter) if letter else partial("E", self.node_tex(node))
            local = self.named_element(u, symbol, scalar.step_local(u, symbol))  # a(1 - a); alpha by name
            terms.append((d_u, local))
            expr += d_u * local
        if not force:
            self.uses_delta_form = True
        return expr, names, stand_ins, terms

    # -- the code ---------------------------------------------------------------------

    def layers_summary(self, parts: list[str]) -> Tex:
        """Page 1's paragraph on a layer stack: its units layer by layer, its parameters, and the
        loss in words and as a formula, as a graph spec's says it (``loss_summary``)."""
        return Tex(
            "Units per layer, from the input: " + r" $\to$ ".join(text(part) for part in parts)
            + f"; {count_words(self.param_count, 'parameter')} in all. {self.loss_summary()}"
        )

    @property
    def shows_code(self) -> bool:
        """Whether this edition shows the code (``ops.base.LatexContext``): the full one."""
        return self.edition == "full"

    def batch_mean_words(self) -> str:
        """``the module returns its mean over the batch``, said without the code in the student
        edition (which says nothing about code: a new user's finding)."""
        if self.shows_code:
            return "the module returns its mean over the batch"
        return "the loss of a batch is its mean over the samples"

    def batch_sentence(self, coupled: bool) -> Tex:
        """Section 2's last sentence: how the loss and the gradients of a batch come from one
        sample's (the module's mean in the full edition; said without the code in the student
        edition), for both templates and every kind of spec; ``coupled``: a node normalises over
        the batch, so one sample's E is not its own."""
        if self.shows_code:
            mean, gathered = "For a batch of $N$ samples the module returns the mean", "the module averages them over the batch"
        else:
            mean, gathered = "The loss of a batch of $N$ samples is the mean", "the batch's gradient is their mean"
        one = "every gradient below is the gradient of one sample's $E$"
        if not self.graph_mode:
            return Tex(rf"{mean}, $E_{{\text{{batch}}}} = \frac{{1}}{{N}} \sum_{{s=1}}^{{N}} E_s$; {one}, and {gathered}.")
        if coupled:
            return Tex(
                f"{mean} over the samples, and every gradient below is the gradient of that batch loss: the adjoints"
                " carry its $1/N$, and the step back through the batch normalisation gathers what every sample sends back."
            )
        return Tex(f"{mean} over the samples; {one}.")

    def code_listing(self) -> list[Tex]:
        """backward()'s lines (of a very long one, the first and the last, and how many between)."""
        lines = [line.code for i in range(len(self.d.steps)) for line in self.numpy_lines[i]]
        shown = gapped(lines, [True] * len(lines), CODE_MAX_LINES)
        return [text(f"... {len(x.items)} more lines ...") if isinstance(x, Gap) else code(x) for x in shown]

    @cached_property
    def unrolled(self) -> Unrolled:
        return Unrolled.of(self.d)

    # -- everything -------------------------------------------------------------------

    def context(self) -> dict:
        network = self.network
        common = {
            "mode": "graph" if self.graph_mode else "layers",
            "name": text(network.name),
            "source": text("".join(c if c.isprintable() else "?" for c in Path(network.source).name)),
            "version": text(__version__),
            "param_count": Tex(count_tex(self.param_count) + (" parameter" if self.param_count == 1 else " parameters")),
            "limit": PER_WEIGHT_LIMIT,
            # said only when the values, not the parameters, are what is too many
            "values": Tex(count_tex(self.values))
            if self.param_count <= PER_WEIGHT_LIMIT and self.values > PER_WEIGHT_VALUES
            else None,
            "values_limit": PER_WEIGHT_VALUES,
            # said only when the chain rule's terms, not the sizes, are what is too many
            "chain_terms": Tex(count_tex(self.d.chain_terms))
            if self.param_count <= PER_WEIGHT_LIMIT and self.values <= PER_WEIGHT_VALUES and not self.d.has_scalar
            and not self.d.coupled_nodes
            else None,
            "chain_terms_limit": Tex(count_tex(SCALAR_MAX_TERMS)),
            "local": self.local_derivatives(),
            "softmax_ce": self.softmax_cross_entropy(),
            "backward": self.backward(),
            "backprop_box": self.backprop_box(),
            "aliases": self.alias_table(),
            "gate_patterns": self.gate_patterns(),
            "grouped_gates": self.grouped_gates(),
        }
        if self.graph_mode:
            leaves, ops = self.graph_tables()
            equations, elements = self.graph_forward()
            context = {
                **common,
                "summary": self.graph_summary(),
                "loss_sentence": self.loss_sentence(),
                "figure": self.graph_figure(),
                "leaves": leaves,
                "ops": ops,
                "graph_forward": equations,
                "graph_elements": elements,
                "elementwise": self.elementwise_locals(),
                "index_notation": self.index_notation,
                "parameters": self.graph_parameters(),
                # Nodes whose statistics come from the batch: one sample's E is then not independent.
                "coupled": Tex(", ".join(f"${self.node_tex(n.name)}$" for n in self.graph.nodes.values() if n.op.batch_coupled)),
            }
            context["batch_sentence"] = self.batch_sentence(bool(context["coupled"]))
        else:
            parts = [str(network.inputs)] + [f"{layer.units} ({op_name(layer.op)})" for layer in self.layers]
            if len(parts) > LAYERS_MAX:  # a deep stack: its first and last layers
                parts = [*parts[:4], f"... ({len(parts) - 6} more layers)", *parts[-2:]]
            sizes = [network.inputs] + [layer.units for layer in self.layers]
            context = {
                **common,
                "summary": self.layers_summary(parts),
                "figure": self.figure(),
                "layers": self.layer_rows(),
                "sizes": Tex(", ".join(rf"n_{{{i}}} = {count_tex(n)}" for i, n in enumerate(sizes))),
                "notation": self.notation(),
                "batch_product": Tex(r"Z = A\,W^{\top}" + self.bias_term("b")),
                "forward": self.forward(),
                "loss": self.loss(),
                "parameters": self.parameters(),
                "output": Tex(self.node_tex(self.output.name)),
                "batch_sentence": self.batch_sentence(coupled=False),
            }
        context["example"] = self.example()
        full = self.shows_code
        context["show"] = {
            "numpy": full,  # NumPy lines, the module's names and the code
            # every weight written out: in the full edition, unless the worked example does it in numbers
            "per_weight": full and context["example"] is None,
            # each parameter's matrix form: the student edition has it in the box of the four equations
            "matrix_forms": full or not context.get("backprop_box"),
        }
        context["edition"] = self.edition
        # the student edition is the one printed for a class: 10 pt keeps the 2-2-2 network's in 5 pages
        context["font_size"] = "11pt" if full else "10pt"
        context["per_weight"] = self.per_weight() if context["show"]["per_weight"] else None
        context["delta_form"] = self.uses_delta_form
        context["code"] = self.code_listing() if full else []
        return context

def latex_source(derivation: Derivation, edition: str = "full") -> str:
    """The handout of ``derivation`` as LaTeX source (a complete document), in ``edition``."""
    return environment().get_template("handout.tex.j2").render(**Handout(derivation, edition).context())


def latex_file_name(name: str, edition: str = "full") -> str:
    """``<name>.tex``, the student edition ``<name>_student.tex``: both fit in one folder."""
    return f"{name}.tex" if edition == "full" else f"{name}_{edition}.tex"


def write_latex(derivation: Derivation, directory: str | Path, edition: str = "full") -> Path:
    """Write the handout (``latex_file_name``) into ``directory`` (created if needed); returns its path."""
    name = derivation.name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise SymPropError(f"network name {name!r} cannot be used as a file name; use letters, digits and '_'")
    directory = Path(directory)
    source = latex_source(derivation, edition)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / latex_file_name(name, edition)
    path.write_text(source, encoding="utf-8")
    return path
