"""The scalar backend's module: straight-line Python over floats, one sample at a time.

For tiny networks (at most ``SCALAR_BACKEND_LIMIT`` parameters), where the NumPy module's cost
is NumPy's own per call (tens of microseconds at 2-2-2 and batch 1) rather than arithmetic.
Each element of each node is one line (``z1_1 = W1_11 * x_1 + W1_12 * x_2``), spelled by its
op (``Op.scalar``); the backward pass is ``ScalarView.symbolic_adjoints``, one line per adjoint
element or chain-rule contribution (``dz2_1 = da2_1 * a2_1 * (1 - a2_1)``), commented with
its chain-rule formula.  A loop over the samples of a batch runs these lines and sums the
parameters' gradients; values computed from the parameters alone are computed once, before it.

The public functions are the NumPy module's, so one can replace the other: ``forward``,
``loss``, ``backward``, ``loss_and_grad``, ``init_params``, ``sgd_step``, ``sample_batch``,
``gradient_check``, ``worked_example``.  A batch is a sequence of samples; a sample of a
vector input is a sequence of floats (nested sequences for a matrix); parameters are nested
tuples (``init_params``); several inputs or targets are a dict of batches keyed by name.
The template is ``templates/scalar_module.py.j2``.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import sympy as sp

from ... import module_interface as interface
from ...errors import SymPropError
from ...ops import axis_groups
from ...scalar import SCALAR_MAX_ELEMENTS, ScalarView
from ...templating import render
from .layout import INDENT, WIDTH, Line, chunked, pattern, pattern_lines, tuples, value_lines
from .printer import ScalarPrinter, python_code

if TYPE_CHECKING:
    from ...derivation import Derivation

#: Most parameters a network may have for the scalar backend: its code grows with the elements
#: (a line per element and per chain-rule contribution), and above a few hundred weights NumPy's
#: per-call cost no longer dominates (docs/benchmarks.md).
SCALAR_BACKEND_LIMIT = 300
#: The module's own names in the functions that loop over the samples (the template's helpers).
SAMPLE_HELPERS = {"_total", "_plain", "_sample_error", "_params_error"}


class ScalarCode:
    """What an op's ``scalar`` hook is given (``ops.base.ScalarContext``)."""

    def __init__(self, view: ScalarView):
        self.view = view
        self.printer = ScalarPrinter()

    def code(self, expr: sp.Expr) -> str:
        return python_code(expr, self.printer)

    def spelled(self, template: str, **args: str) -> str:
        return self.printer.spelled(template, **args)

    def temporary(self, node: str, what: str) -> str:
        return f"_{node}_{what}"


class ScalarModule:
    """The template context of one derivation's scalar module (see the module docstring)."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        self.network = network = derivation.network
        self.graph = graph = derivation.graph
        name = derivation.name
        if derivation.coupled_nodes:
            raise SymPropError(
                f"{name}: --backend scalar computes one sample at a time, but {', '.join(derivation.coupled_nodes)} "
                "normalises over the batch (batch_norm): use --backend numpy"
            )
        count = derivation.param_count
        if count > SCALAR_BACKEND_LIMIT:
            raise SymPropError(
                f"{name}: {count:,} parameters; --backend scalar writes straight-line code for at most "
                f"{SCALAR_BACKEND_LIMIT} (use --backend numpy)"
            )
        elements = derivation.element_count
        if elements > SCALAR_MAX_ELEMENTS:  # a line per element: x of 1,000,000 and one weight
            raise SymPropError(
                f"{name}: {elements:,} elements per sample; --backend scalar writes straight-line code for at most "
                f"{SCALAR_MAX_ELEMENTS:,} (use --backend numpy)"
            )
        if not graph.leaves("input") and not graph.leaves("target"):
            raise SymPropError(f"{name}: --backend scalar needs an input or a target to run over the samples of a batch")
        self.view = derivation.elements
        self.code = ScalarCode(self.view)
        self.formulas = {**network.nodes, graph.loss: network.loss_text}
        self.forward_lines = self._forward_lines()
        self.backward_lines = self._backward_lines()
        self._check_names()

    # -- the lines ------------------------------------------------------------------------

    def _forward_lines(self) -> list[Line]:
        lines = []
        for node in self.graph.nodes.values():
            if node.op.role != "op":
                continue
            formula = self.formulas.get(node.name)
            for position, (target, code) in enumerate(node.op.scalar(node, self.code)):
                comment = f"{node.name} = {formula}" if formula not in (None, node.name) and position == 0 else ""
                lines.append(Line(target, code, comment, node=node.name))
        return lines

    def adjoint(self, symbol: sp.Symbol) -> sp.Symbol:
        return sp.Symbol("d" + symbol.name, real=True)

    def _backward_lines(self) -> list[Line]:
        view, graph = self.view, self.graph
        params = {s for p in graph.params() for s in view.symbols[p.name]}
        assigned: set[sp.Symbol] = set()
        lines = []
        # A forward value written out again in a derivative (exp(z) in d exp(z)/dz) is read instead.
        computed = {d: s for s, d in view.definitions.items() if not (d.is_Atom or d.is_number)}
        for source, symbol, value in view.symbolic_adjoints(self.adjoint):
            value = value.xreplace(computed)
            accumulate = symbol in params or symbol in assigned
            assigned.add(symbol)
            upstream = sorted((s for s in view.symbols[source] if self.adjoint(s) in value.free_symbols), key=str)
            # A loss fused with its output activation sends dE/dz past the activation.
            fused = source in view.fused and symbol not in view.symbols[graph.nodes[source].inputs[0]]
            terms = " + ".join(f"dE/d{o} d{o}/d{symbol}" for o in upstream)
            if fused:
                terms += f" ({graph.nodes[source].inputs[0]} and the loss in one step)"
            comment = f"dE/d{symbol} {'+=' if accumulate else '='} {terms}"
            lines.append(Line(self.adjoint(symbol).name, self.code.code(value), comment, "+=" if accumulate else "="))
        return lines

    def _check_names(self) -> None:
        """Every name the module assigns or calls is distinct (a node called ``dz1`` would be
        the adjoint of ``z1``): SymPropError naming the first clash."""
        # the functions' own names, and the builtins and helpers their bodies call
        fixed = {"params", "X", "T", "N", "cache", "outputs", *SAMPLE_HELPERS}
        fixed |= {"len", "zip", "abs", "max", "min", "isinstance", "int", "float", "ValueError", "TypeError", "KeyError"}
        samples = [self.sample(n.name) for role in ("input", "target") for n in self.graph.leaves(role) if n.shape]
        leaves = set(samples)
        if len(samples) != len(leaves):  # an input total (_total_sample) beside an input total_sample
            twice = sorted({name for name in samples if samples.count(name) > 1})[0]
            raise SymPropError(
                f"{self.derivation.name}: --backend scalar would loop over two inputs or targets as {twice!r}; "
                "rename one of them"
            )
        elements = {s.name for symbols in self.view.symbols.values() for s in symbols}
        made = [line.target for line in self.forward_lines]
        temporaries = {name for name in made if name not in elements}
        adjoints = {self.adjoint(s).name for symbols in self.view.symbols.values() for s in symbols}
        groups = [fixed, leaves, elements, temporaries, adjoints - elements, self.code.printer.imports]
        seen: set[str] = set()
        for group in groups:
            clash = sorted(group & seen)
            if clash:
                raise SymPropError(
                    f"{self.derivation.name}: --backend scalar would use the name {clash[0]!r} twice "
                    "(a node's element, an adjoint d<element>, a math function or the module's own); rename the node"
                )
            seen |= group
        if len(made) != len(set(made)):  # two nodes' temporaries (_a_max of a, of a_max's ...)
            twice = sorted({name for name in made if made.count(name) > 1})
            raise SymPropError(f"{self.derivation.name}: --backend scalar would assign {twice[0]!r} twice; rename the node")

    # -- functions ------------------------------------------------------------------------

    def sample(self, leaf: str) -> str:
        """The loop variable holding one sample of an input or a target: the element itself for
        a scalar one (nothing to unpack), else ``_`` and the name (``_plain_sample`` for an input
        ``plain``: ``_plain`` is a helper the loop calls)."""
        if not self.graph.nodes[leaf].shape:
            return self.view.symbols[leaf][0].name
        return f"_{leaf}_sample" if f"_{leaf}" in SAMPLE_HELPERS else f"_{leaf}"

    def leaves(self, role: str) -> list:
        return self.graph.leaves(role)

    def batches(self, with_targets: bool) -> list[tuple[str, str]]:
        """(batch expression, sample variable) of each input (and target) the loop runs over."""
        out = []
        for role, letter in (("input", "X"), ("target", "T")) if with_targets else (("input", "X"),):
            leaves = self.leaves(role)
            for leaf in leaves:
                batch = letter if len(leaves) == 1 else f'{letter}["{leaf.name}"]'
                out.append((batch, leaf.name))
        return out

    def body(self, returned: set[str], with_backward: bool) -> tuple[list[Line], list[Line], set[str]]:
        """(lines before the loop, lines inside it, names they read) computing ``returned``:
        only the lines something returned depends on (straight-line code, read backwards)."""
        lines = [*self.forward_lines, *(self.backward_lines if with_backward else [])]
        live, kept = set(returned), []
        for line in reversed(lines):
            if line.target in live:
                kept.insert(0, line)
                if line.op == "=":
                    live.discard(line.target)
                live |= line.reads
        batched = self.graph.batched
        before = [line for line in kept if line.node and line.node not in batched]
        inside = [line for line in kept if line not in before]
        return before, inside, live

    def unpacking(self, name: str, shape: tuple[int, ...], value: str, indent: int) -> list[str]:
        """``(W1_11, W1_12), (W1_21, W1_22) = value``: a nested sequence into its elements, on
        several lines (one row a line) where one line would be longer than ``WIDTH``."""
        symbols = [s.name for s in self.view.symbols[name]]
        if not shape:
            return [f"{symbols[0]} = {value}"]
        flat = f"{pattern(symbols, shape)} = {value}"
        if indent + len(flat) <= WIDTH:
            return [flat]
        return ["(", *pattern_lines(symbols, shape, indent + 4, "    "), f") = {value}"]

    def nested(self, name: str, shape: tuple[int, ...], before: str, after: str, indent: int, prefix: str = "") -> list[str]:
        """``before`` + the elements of ``name`` (or their adjoints, ``prefix`` d) as nested tuples
        of ``shape`` + ``after``, on several lines where one would be longer than ``WIDTH``."""
        names = [prefix + s.name for s in self.view.symbols[name]]
        if not shape:
            return [before + names[0] + after]
        one = f"{before}({pattern(names, shape)}){after}"
        if indent + len(one) <= WIDTH:
            return [one]
        return [before + "(", *pattern_lines(names, shape, indent + 4, "    "), ")" + after]

    def function(self, returned: set[str], with_targets: bool, with_backward: bool, start: list[str]) -> dict:
        """One public function's body (forward, loss, loss_and_grad): ``head``, the lines before
        the loop over samples (``start`` among them), and ``inside``, the loop's body."""
        before, inside, reads = self.body(returned, with_backward)
        graph = self.graph
        params = [p for p in graph.params() if {s.name for s in self.view.symbols[p.name]} & reads]
        head = []
        if params:
            head.append("try:")
            for p in params:
                head += ["    " + text for text in self.unpacking(p.name, p.shape, f'_plain(params["{p.name}"])', 8)]
            head += ["except (KeyError, TypeError, ValueError):", "    raise ValueError(_params_error()) from None"]
        head += [text for line in before for text in line.text(4)]
        loop = self.batches(with_targets)
        batches = [batch for batch, _ in loop]
        # forward() too: an empty batch (the mean over no samples in loss()) and inputs of
        # different batch sizes (which zip would cut to the shortest) are refused, as in the NumPy module;
        # the labels may hold double quotes (X["u"]): messages in single quotes
        head += ["N = len(" + batches[0] + ")", "if not N:", f"    raise ValueError({batches[0] + ': the batch is empty'!r})"]
        for batch in batches[1:]:
            head += [
                f"if len({batch}) != N:",
                f"    raise ValueError(f'{batch}: expected {{N}} samples (the batch of {batches[0]}), got {{len({batch})}}')",
            ]
        head += start
        samples = ", ".join(self.sample(leaf) for _, leaf in loop)
        plain = [f"_plain({batch})" for batch in batches]  # NumPy arrays as lists: every line computes on floats
        zipped = plain[0] if len(loop) == 1 else f"zip({', '.join(plain)})"
        if 4 + len(f"for {samples} in {zipped}:") <= WIDTH:
            head.append(f"for {samples} in {zipped}:")
        else:  # several inputs: zip's arguments one a line
            head += [f"for {samples} in zip(", *(f"    {batch}," for batch in plain), "):"]
        for batch, leaf in loop:
            node = graph.nodes[leaf]
            if not {s.name for s in self.view.symbols[leaf]} & reads:
                continue
            error = f"_sample_error({batch!r}, {self.sample(leaf)}, {_shape_text(node.shape)!r})"
            if not node.shape:  # the loop variable is the element: a number, or one ValueError
                head += [f"    if not isinstance({self.sample(leaf)}, (int, float)):", f"        raise ValueError({error})"]
                continue
            head += ["    try:", *("        " + text for text in self.unpacking(leaf, node.shape, self.sample(leaf), 12))]
            head += ["    except (TypeError, ValueError):", f"        raise ValueError({error}) from None"]
        if with_targets:
            for condition, statement in self.simplex_checks(reads):
                head += [f"    if {condition}:", f"        {statement}"]
        return {"head": head, "inside": [text for line in inside for text in line.text(INDENT)]}

    def simplex_checks(self, reads: set[str]) -> list[tuple[str, str]]:
        """(condition, the raise statement) for targets of a softmax cross-entropy fused into y - t: that is
        the gradient only when each row sums to one (as the NumPy module's ``_on_simplex``)."""
        graph, checks = self.graph, []
        simplex = interface.simplex_targets(self.derivation)
        for target in sorted(simplex):
            symbols = [s.name for s in self.view.symbols[target]]
            if not set(symbols) & reads:
                continue
            label = "T" if len(graph.leaves("target")) == 1 else f'T["{target}"]'
            axis = simplex[target]
            along = "the last axis" if axis == -1 else f"axis {axis}"
            message = f"{label}: cross-entropy targets must sum to 1 along {along}, got {{{self.sample(target)}!r}}"
            for row in axis_groups(graph.nodes[target].shape, axis):
                total = " + ".join(symbols[p] for p in row)
                checks.append((f"abs({total} - 1.0) > 1e-4", f"raise ValueError(f{message!r})"))
        return checks

    def context(self) -> dict:
        graph, network, view = self.graph, self.network, self.view
        params = graph.params()
        output = graph.output
        loss_name = view.loss_symbol.name
        grads = {s.name for p in params for s in view.symbols[p.name]}
        output_value = self.nested(output, graph.nodes[output].shape, "outputs.append(", ")", INDENT)
        seeded = "d" + loss_name in {r for line in self.backward_lines for r in line.reads}
        accumulators = [f"d{s.name}" for p in params for s in view.symbols[p.name]]
        seed = [f"d{loss_name} = 1.0 / N  # dE/dE = 1 for each sample, times the 1/N of the batch mean"] if seeded else []
        start = [*seed, "_total = 0.0", *chunked(accumulators, " = ", " = 0.0", WIDTH - 4)]
        loss_and_grad = self.function({loss_name} | {"d" + g for g in grads}, True, True, start)
        forward = self.function({s.name for s in view.symbols[output]}, False, False, ["outputs = []"])
        inits = [(p.name, self.init_code(p)) for p in params]
        loss = self.function({loss_name}, True, False, ["_total = 0.0"])
        return {
            "name": network.name,
            "marker": interface.MARKER,
            "gradient_floor": interface.GRADIENT_FLOOR,
            "docstring": self.docstring(),
            "imports": self.imports(forward, loss, loss_and_grad),
            "param_shapes": [(p.name, p.shape) for p in params],
            "inits": inits,
            # the generator only when a parameter is drawn at random (not all zeros and ones)
            "init_prologue": ["rng = random.Random(seed)"] if any("rng." in code for _, code in inits) else [],
            "forward": forward,
            "output_value": output_value,
            "loss": loss,
            "loss_and_grad": loss_and_grad,
            "loss_symbol": loss_name,
            "grads": [text for p in params for text in self.nested(p.name, p.shape, f'"{p.name}": ', ",", 8, "d")],
            "sample_batch": self.sample_batch(),
            "example": self.example(),
            "limit": SCALAR_BACKEND_LIMIT,
        }

    def imports(self, *functions: dict) -> list[str]:
        """The ``math`` functions the kept lines call (a line nothing reads is left out, and so
        may be a function only it called: softmax's log-sum-exp without a cross-entropy)."""
        text = "\n".join(line for function in functions for line in [*function["head"], *function["inside"]])
        return sorted(name for name in self.code.printer.imports if re.search(rf"(?<![\w.]){name}\(", text))

    def docstring(self) -> str:
        graph, network = self.graph, self.network
        source = Path(network.source).as_posix()
        output_shape = graph.nodes[graph.output].shape

        def described(role: str, letter: str, what: str) -> str:
            leaves = graph.leaves(role)
            if not leaves:
                return f"{letter}: none (pass None)."
            if len(leaves) == 1:
                leaf = leaves[0]
                return f"{letter}: a sequence of samples; a sample of the {what} {leaf.name} is {_shape_text(leaf.shape)}."
            each = ", ".join(f'"{n.name}" {_shape_text(n.shape)}' for n in leaves)
            return f"{letter}: a dict of batches keyed by {what} name, each a sequence of samples: {each}."

        paragraphs = [
            f"Network: {network.summary}.",
            f"Spec: {source}. Regenerate with `symprop derive {source} --backend scalar`; do not edit by hand.",
            "",
            "Straight-line Python over floats (the scalar backend): no NumPy, one line per element and per "
            "chain-rule product, each commented with its formula, for tiny networks (at most "
            f"{SCALAR_BACKEND_LIMIT} parameters) where NumPy's cost per call is most of the time.",
            described("input", "X", "input"),
            described("target", "T", "target"),
            f"forward() returns a list with one output {graph.output} per sample, {_shape_text(output_shape)}.",
            "params: a dict of nested tuples of floats with the shapes of PARAM_SHAPES (init_params); "
            "gradients come back in the same form. A wrong shape raises one ValueError naming the argument. "
            "math raises where NumPy would return inf or nan (OverflowError, ValueError).",
            "The loss is the mean over the batch of the per-sample loss. Running this file checks "
            "loss_and_grad() against central differences of loss().",
        ]
        title = f"{network.name}: forward pass, loss and backpropagation in plain Python, generated by symprop."
        lines = [*textwrap.wrap(title, 100, break_long_words=False), ""]  # a name of 64 characters: two lines
        for paragraph in paragraphs:
            lines += textwrap.wrap(paragraph, 100, break_long_words=False, break_on_hyphens=False) or [""]
        lines += ["", "Nodes, per sample:"]
        for name, expression in [*network.nodes.items(), (graph.loss, network.loss_text)]:
            if name in network.nodes and name == graph.loss:
                continue
            lines += textwrap.wrap(f"{name} = {expression}", 100, initial_indent="    ", subsequent_indent="        ")
        return "\n".join(interface.docstring_text(line, at_end=False) for line in lines) + "\n"

    def init_code(self, param) -> str:
        """Python drawing a parameter (``rng``, a ``random.Random``, in scope); the same
        distributions as the NumPy module's initialisers, not the same numbers."""
        init = self.network.param_inits[param.name]
        kind, args, shape = init.kind, init.args, param.shape
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else max(math.prod(shape), 1)
        if kind in ("zeros", "ones"):
            return f"_drawn({shape}, lambda: {1.0 if kind == 'ones' else 0.0})"
        if kind == "fan_in_normal":
            return f"_drawn({shape}, lambda: rng.gauss(0.0, {1 / math.sqrt(fan_in)!r}))"
        if kind == "fan_in_uniform":
            bound = 1 / math.sqrt(fan_in)
            return f"_drawn({shape}, lambda: rng.uniform({-bound!r}, {bound!r}))"
        if kind == "normal":
            return f"_drawn({shape}, lambda: rng.gauss({float(args.get('mean', 0.0))!r}, {float(args.get('std', 1.0))!r}))"
        if kind == "uniform":
            low, high = float(args.get("low", 0.0)), float(args.get("high", 1.0))
            return f"_drawn({shape}, lambda: rng.uniform({low!r}, {high!r}))"
        if kind == "standard_normal_scalar":
            return "_drawn((), lambda: rng.gauss(0.0, 1.0))"
        raise ValueError(f"unknown initialiser {kind!r}")

    def sample_batch(self) -> list[str]:
        """The body of sample_batch(): inputs N(0, 1), targets in (0.05, 0.95), cross-entropy
        targets one-hot along their softmax's axis (the last by default), indices and masks at random."""
        graph = self.graph
        one_hot = interface.one_hot_axes(graph)

        def draw(node) -> str:
            shape = node.shape
            if node.op.dtype_name == "int":
                return f"_shaped([rng.randrange({node.op.classes}) for _ in range({math.prod(shape)})], {shape})"
            if node.op.dtype_name == "bool":
                return f"_drawn({shape}, lambda: rng.random() < 0.5)"
            if node.op.role == "input":
                return f"_drawn({shape}, lambda: rng.gauss(0.0, 1.0))"
            if node.name in one_hot:
                axis = one_hot[node.name]
                return f"_one_hot({shape}, rng)" if axis == -1 else f"_one_hot({shape}, rng, {axis})"
            return f"_drawn({shape}, lambda: rng.uniform(0.05, 0.95))"

        return interface.sample_batch_lines(graph, "rng = random.Random(seed)", lambda n: f"[{draw(n)} for _ in range(batch)]")

    def example(self) -> dict | None:
        example = self.network.example
        if example is None:
            return None

        def batch_of_one(values: dict) -> str:
            return interface.batch_of_one(
                values,
                lambda value: f"[{tuples(value)}]",
                lambda codes: "{" + ", ".join(f'"{n}": {c}' for n, c in codes.items()) + "}",
            )

        return {
            "X": batch_of_one(example.inputs),
            "T": batch_of_one(example.targets),
            "params": [line for name, value in example.params.items() for line in value_lines(f'"{name}": ', value, ",", 8)],
            "learning_rate": interface.example_rate(example),
        }


def _shape_text(shape: tuple[int, ...]) -> str:
    if not shape:
        return "a float"
    if len(shape) == 1:
        return f"a sequence of {shape[0]} floats"
    return "nested sequences of shape " + "(" + ", ".join(map(str, shape)) + ")"


def module_source(derivation: Derivation) -> str:
    """The scalar module of ``derivation``; SymPropError when the network is too big for it."""
    return render("scalar_module.py.j2", **ScalarModule(derivation).context())

