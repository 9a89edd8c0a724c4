"""NumPy emitter: a ``Derivation`` -> the source of a standalone module (numpy only).

Python computes every line here; ``templates/numpy_module.py.j2`` only arranges them.
Each tensor rule of ``derivation.Step`` has one code spelling below, and every line
carries the per-sample formula it computes as a comment.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from . import registry
from .graph import Activation, Dense, Loss, Softmax
from .numpy_helpers import ERF_SOURCE
from .printing import EXTRA_HELPERS, ArrayPrinter, print_array_expr
from .templating import render

if TYPE_CHECKING:
    from .derivation import Derivation, Step


class MathPrinter(ArrayPrinter):
    """Prints the same expressions as plain math for comments: ``sigmoid(z1)``, ``exp(z)``.
    Constants stay as written (``2 - tanh(1)``), in parentheses where they need them."""

    fold_constants = False
    _NAMES = {"maximum": "max", "minimum": "min"}

    def _module_format(self, fqn, register=True):
        name = fqn.split(".")[-1]
        return self._NAMES.get(name, name)

    def _print_Heaviside(self, expr):
        # step(x) of formulas is 0 at 0; the derivative of max/min is 1/2 there.
        if expr.args[1] == 0:
            return f"step({self._print(expr.args[0])})"
        return f"heaviside({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def print_registry_function(self, expr):
        return f"{expr.entry.name}({', '.join(self._print(a) for a in expr.args)})"

    def _print_logcosh(self, expr):
        return f"log(cosh({self._print(expr.args[0])}))"

    def _print_erf(self, expr):
        return f"erf({self._print(expr.args[0])})"


@dataclass(frozen=True)
class Line:
    code: str
    comment: str

    #: Longest generated line (ruff's limit for the repository is 130).
    WIDTH = 120

    @property
    def text(self) -> str:
        """The statement with its formula comment, for a function body (indent 4): the comment
        goes after the code when it fits, else on the line above."""
        inline = f"{self.code}  # {self.comment}"
        if len(inline) + 4 <= self.WIDTH:
            return inline
        return f"# {self.comment}\n    {self.code}"


class _ModuleBuilder:
    """Builds the template context for one derivation."""

    def __init__(self, derivation: Derivation):
        self.d = derivation
        self.graph = derivation.graph
        self.printer = ArrayPrinter()
        self.math = MathPrinter()
        self.cached: set[str] = set()  # forward arrays the backward pass reads
        self.params_read: set[str] = set()  # parameters the backward pass reads
        self.temporaries = itertools.count(1)

    # -- names -----------------------------------------------------------------------

    def array(self, node: str) -> str:
        return self.graph.array(node)

    def grad(self, node: str) -> str:
        return self.graph.grad(node)

    def use(self, node: str) -> str:
        """The array of ``node``, recorded as needed by the backward pass."""
        role = self.graph.role(node)
        if role == "param":
            self.params_read.add(node)
        elif role != "target":
            self.cached.add(node)
        return self.array(node)

    def symbols_for(self, activation_node: str, expr: sp.Expr, arrays: bool) -> dict[sp.Symbol, sp.Symbol]:
        """Substitution of the registry's generic symbols in ``expr`` by arrays (or math names)."""
        node = self.graph.nodes[activation_node]
        nodes = {registry.Z: node.inputs[0], registry.A: node.name, registry.T: "t"}
        if arrays:
            return {s: sp.Symbol(self.use(nodes[s]), real=True) for s in expr.free_symbols if s in nodes}
        return {s: sp.Symbol(nodes[s], real=True) for s in expr.free_symbols if s in nodes}

    def code(self, expr: sp.Expr) -> str:
        return print_array_expr(expr, self.printer)

    def filled(self, expr: sp.Expr, like: str) -> str:
        """The code of ``expr``, an array of the shape of node ``like`` even when ``expr`` reads
        no array (a constant activation ``0 * z``, a loss formula without ``y``)."""
        if expr.free_symbols - {sp.Symbol("N")}:
            return self.code(expr)
        return f"np.full_like({self.use(like)}, {self.code(expr)})"

    def formula(self, expr: sp.Expr) -> str:
        return print_array_expr(expr, self.math)

    # -- forward ---------------------------------------------------------------------

    def forward_lines(self) -> list[Line]:
        lines = []
        for node in self.graph.nodes.values():
            op = node.op
            out = self.array(node.name)
            if isinstance(op, Dense):
                weight, data, *bias = node.inputs
                code = f"np.dot({self.array(data)}, {weight}.T)" + (f" + {bias[0]}" if bias else "")
                math = f"{node.name} = {weight} {data}" + (f" + {bias[0]}" if bias else "")
            elif isinstance(op, Activation):
                z = node.inputs[0]
                code = self.filled(op.apply(sp.Symbol(self.array(z), real=True)), z)
                math = f"{node.name} = {self.formula(op.apply(sp.Symbol(z, real=True)))}"
                if not op.is_identity:
                    math += f"  ({op.name})" if op.choice.formula is not None else ""
            elif isinstance(op, Softmax):
                self.printer.helpers.add("softmax")
                code = f"_softmax({self.array(node.inputs[0])})"
                math = f"{node.name} = softmax({node.inputs[0]})"
            else:
                continue
            lines.append(Line(f"{out} = {code}", math))
        return lines

    def loss_lines(self) -> tuple[list[str], str, str]:
        """(arrays the loss reads, the per-sample loss as NumPy code, as math)."""
        loss_node = self.graph.nodes[self.graph.loss]
        op: Loss = loss_node.op
        output = self.graph.nodes[loss_node.inputs[0]]
        n = output.shape[0]
        target = self.array("t")
        if isinstance(output.op, Softmax) and op.choice.name == "cross_entropy":
            self.printer.helpers.add("log_softmax")
            z = output.inputs[0]
            return [z], f"-({target} * _log_softmax({self.array(z)})).sum()", "E = -sum_i t_i log(softmax(z)_i)"
        y = self.array(output.name)
        entry = op.choice.entry
        if entry is not None and entry.numpy_elementwise:
            terms = entry.numpy_elementwise.format(y=y, t=target)
            self.printer.helpers.update(entry.helper_needs)
        else:
            terms = self.filled(op.elementwise.xreplace({registry.Y: sp.Symbol(y), registry.T: sp.Symbol(target)}), output.name)
        scale = f" / {n}" if op.choice.reduction == "mean" and n > 1 else ""
        math_terms = self.formula(op.elementwise.xreplace({registry.Y: sp.Symbol("y_i"), registry.T: sp.Symbol("t_i")}))
        reduction = "mean_i" if op.choice.reduction == "mean" else "sum_i"
        return [output.name], f"({terms}).sum(){scale}", f"E = {reduction} {math_terms}"

    # -- backward --------------------------------------------------------------------

    def backward_lines(self) -> list[Line]:
        lines: list[Line] = []
        for step in self.d.steps:
            lines.extend(self.backward_line(step))
        return lines

    def shared(self, expr: sp.Expr) -> tuple[list[Line], sp.Expr]:
        """Common subexpressions of ``expr`` as temporaries ``_s1, _s2, ...`` (computed once)."""
        names = (sp.Symbol(f"_s{next(self.temporaries)}") for _ in iter(int, 1))
        replacements, (reduced,) = sp.cse(expr, symbols=names, optimizations=None)
        lines = [Line(f"{name} = {self.code(value)}", f"{self.formula(value)}, used twice") for name, value in replacements]
        return lines, reduced

    def backward_line(self, step: Step) -> list[Line]:
        g_out = self.grad(step.source)
        target = self.grad(step.target)
        source = self.graph.nodes[step.source]
        math_target = f"dE/d{step.target}"
        rule = step.rule
        prelude: list[Line] = []
        if rule == "fused":
            activation = self.graph.nodes[source.inputs[0]]
            prelude, local = self.shared(step.local.xreplace(self.symbols_for(activation.name, step.local, arrays=True)))
            code = self.filled(local / sp.Symbol("N"), activation.inputs[0])
            math = self.formula(step.local.xreplace(self.symbols_for(activation.name, step.local, arrays=False)))
        elif rule == "loss":
            y, t = sp.Symbol(self.use(source.inputs[0]), real=True), sp.Symbol(self.array("t"), real=True)
            code = self.filled(step.local.xreplace({registry.Y: y, registry.T: t}) / sp.Symbol("N"), source.inputs[0])
            math = self.formula(
                step.local.xreplace({registry.Y: sp.Symbol(source.inputs[0]), registry.T: sp.Symbol("t")})
            )
        elif rule == "activation":
            prelude, local = self.shared(step.local.xreplace(self.symbols_for(source.name, step.local, arrays=True)))
            code = self.elementwise_product(g_out, local)
            local_math = self.math.parenthesize(
                step.local.xreplace(self.symbols_for(source.name, step.local, arrays=False)), PRECEDENCE["Mul"], strict=True
            )
            math = f"dE/d{source.name} * {local_math}" if local_math != "1" else f"dE/d{source.name}"
        elif rule == "softmax":
            y = self.use(source.name)
            code = f"{y} * ({g_out} - ({g_out} * {y}).sum(axis=1, keepdims=True))"
            math = f"{source.name} * (dE/d{source.name} - sum_i dE/d{source.name}_i {source.name}_i)"
        elif rule == "dense_weight":
            data = source.inputs[1]
            code = f"np.dot({g_out}.T, {self.use(data)})"
            math = f"dE/d{step.source} {data}^T, summed over the batch"
        elif rule == "dense_bias":
            code = f"{g_out}.sum(axis=0)"
            math = f"dE/d{step.source}, summed over the batch"
        elif rule == "dense_input":
            weight = source.inputs[0]
            code = f"np.dot({g_out}, {self.use(weight)})"
            math = f"{weight}^T dE/d{step.source}"
        else:
            raise NotImplementedError(f"no NumPy spelling for the backward rule {rule!r}")
        if step.accumulate:
            return [*prelude, Line(f"{target} = {target} + {code}", f"{math_target} += {math}")]
        return [*prelude, Line(f"{target} = {code}", f"{math_target} = {math}")]

    def elementwise_product(self, upstream: str, local: sp.Expr) -> str:
        """``upstream * local``; a piecewise factor takes the product into its branches so
        that ``np.where`` keeps the dtype of the arrays.  A 0/1 step (relu') multiplies by
        the boolean mask instead: ``np.where`` with an unpredictable condition runs ~5 ns
        per element, 5-15x slower than the multiply (NumPy 2.4, benchmarks/profile_generated.py)."""
        if local == 1:
            return upstream
        if isinstance(local, sp.Piecewise) and len(local.args) == 2 and local.args[1].cond == sp.true:
            (value, condition), (otherwise, _) = local.args
            if value == 1 and otherwise == 0:  # a step (relu'): multiply by the boolean mask
                return f"{upstream} * ({self.code(condition)})"
        if local.has(sp.Piecewise):
            return self.code(sp.piecewise_fold(sp.Symbol(upstream) * local))
        return f"{upstream} * {self.printer.parenthesize(local, PRECEDENCE['Mul'], strict=True)}"

    # -- the whole module ------------------------------------------------------------

    def context(self) -> dict:
        network = self.d.network
        forward = self.forward_lines()
        backward = self.backward_lines()
        backward_reads = [n for n in self.graph.nodes if n in self.cached]
        loss_reads, loss_code, loss_math = self.loss_lines()
        output = self.graph.nodes[self.graph.loss].inputs[0]
        self.cached.update([*loss_reads, output])
        cache_order = [n for n in self.graph.nodes if n in self.cached]
        params = self.graph.params()
        return {
            "graph": False,  # a layer stack (graph specs: emit_numpy_graph)
            "name": network.name,
            "source": Path(network.source).as_posix(),
            "summary": _summary(network),
            "param_shapes": [(p.name, p.shape) for p in params],
            "param_arrays": [(p.name, self.array(p.name)) for p in params],
            "weights": [(p.name, p.shape, p.shape[-1]) for p in params if len(p.shape) == 2],
            "biases": [(p.name, p.shape) for p in params if len(p.shape) == 1],
            "helpers": self.helper_sources(),
            "input_array": self.array("x"),
            "inputs": network.inputs,
            "outputs": network.outputs,
            "output_array": self.array(output),
            "forward": forward,
            "cache": [(n, self.array(n)) for n in cache_order],
            "backward_cache": [(n, self.array(n)) for n in backward_reads],
            "loss_code": loss_code,
            "loss_math": loss_math,
            "loss_arrays": [(n, self.array(n)) for n in loss_reads],
            "backward": backward,
            "backward_params": [(p.name, self.array(p.name)) for p in params if p.name in self.params_read],
            "grads": [(p.name, self.grad(p.name)) for p in params],
            "one_hot_targets": network.loss.entry is not None and network.loss.entry.needs_output == "softmax",
            "example": _example(network),
        }

    def helper_sources(self) -> list[str]:
        needed, sources = set(self.printer.helpers), []
        for name in list(needed):
            entry = registry.ACTIVATIONS.get(name)
            if entry is not None:
                needed.update(entry.helper_needs)
        for name in sorted(needed):
            sources.append(_helper_source(name))
        return sources


def _helper_source(name: str) -> str:
    if name == "erf":
        return ERF_SOURCE.rstrip() + "\n"
    if name in EXTRA_HELPERS:
        return EXTRA_HELPERS[name]
    entry = registry.ACTIVATIONS[name]
    args = ", ".join(["x", *(n for n, _ in entry.constants)])
    x = sp.Symbol("x")
    formula = registry.expand_definitions(entry.apply(x, tuple(sp.Symbol(n) for n, _ in entry.constants)))
    definition = MathPrinter().doprint(formula)
    body, _, note = entry.numpy_helper.partition("  # ")
    doc = f"{entry.name}(x) = {definition}" + (f", {note}" if note else "")
    return f'def _{entry.name}({args}):\n    """{doc}."""\n    return {body}\n'


def _summary(network) -> str:
    layers = [str(network.inputs)]
    for layer in network.layers:
        layers.append(f"{layer.units} ({layer.activation.name}{'' if layer.bias else ', no bias'})")
    loss = network.loss.name if network.loss.formula is None else f"formula {network.loss.formula}"
    return f"{' -> '.join(layers)}; loss {loss}, averaged over the batch"


def _example(network) -> dict | None:
    example = network.example
    if example is None:
        return None
    return {
        "X": repr([list(example.x)]),
        "T": repr([list(example.t)]),
        "params": [(name, _array_literal(value)) for name, value in example.params.items()],
        "learning_rate": repr(example.learning_rate if example.learning_rate is not None else 0.1),
    }


def _array_literal(value) -> str:
    """A nested list as Python source; a long matrix gets one row per line (for the
    template's ``np.array(...)`` inside the EXAMPLE dict, indented by 8)."""
    flat = repr(value)
    if len(flat) <= 90 or not isinstance(value, list) or not isinstance(value[0], list):
        return flat
    rows = "".join(f"\n            {row!r}," for row in value)
    return f"[{rows}\n        ]"


def module_source(derivation: Derivation) -> str:
    builder = _ModuleBuilder
    if getattr(derivation.network, "kind", "layers") == "graph":
        from .emit_numpy_graph import GraphModuleBuilder as builder  # tensor ops of graph specs
    return render("numpy_module.py.j2", **builder(derivation).context())


def write_module(derivation: Derivation, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{derivation.name}.py"
    path.write_text(module_source(derivation), encoding="utf-8")
    return path

