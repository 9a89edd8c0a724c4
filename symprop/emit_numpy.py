"""NumPy emitter: a ``Derivation`` -> the source of a standalone module (numpy only).

Python computes every line here; ``templates/numpy_module.py.j2`` only arranges them.
Each tensor rule of ``derivation.Step`` has one code spelling below, and every line
carries the per-sample formula it computes as a comment.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from . import module_interface as interface
from . import registry
from .numpy_helpers import ERF_SOURCE
from .printing import EXTRA_HELPERS, ArrayPrinter, print_array_expr

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


class ArrayCode(sp.Symbol):
    """A symbol printed as a piece of NumPy code, such as ``S[:, None]`` (a batched array
    lined up with arrays of higher per-sample rank)."""

    def _numpycode(self, printer):
        return self.name


def _wrapped(code: str) -> str:
    return code if re.fullmatch(r"[A-Za-z_]\w*", code) else f"({code})"


def _axes(axes: list[int]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


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
        comment = interface.comment_text(self.comment)
        inline = f"{self.code}  # {comment}"
        if len(inline) + 4 <= self.WIDTH:
            return inline
        return f"# {comment}\n    {self.code}"


class ModuleBuilder:
    """Builds the template context for one derivation."""

    def __init__(self, derivation: Derivation):
        self.d = derivation
        self.graph = derivation.graph
        self.printer = ArrayPrinter()
        self.math = MathPrinter()
        self.cached: set[str] = set()  # forward arrays the backward pass reads
        self.params_read: set[str] = set()  # parameters the backward pass reads
        self.targets_read: set[str] = set()  # targets the backward pass reads
        self.reads: set[str] | None = None  # while spelling a forward line: the nodes it reads
        self.step_lines: list[list[Line]] = []  # the lines each step of the derivation wrote
        self.op_helpers: dict[str, str] = {}  # helper functions an op brings itself, by name
        self.temporaries = itertools.count(1)

    # -- names -----------------------------------------------------------------------

    def array(self, node: str) -> str:
        return self.graph.array(node)

    def grad(self, node: str) -> str:
        return self.graph.grad(node)

    def node(self, name: str):
        return self.graph.nodes[name]

    def batched(self, name: str) -> bool:
        return name in self.graph.batched

    def use(self, node: str) -> str:
        """The array of ``node``, recorded as read: by the forward line being spelled, or else
        by the backward pass (a parameter, a target, or a cached forward value)."""
        if self.reads is not None:
            self.reads.add(node)
            return self.array(node)
        role = self.graph.role(node)
        if role == "param":
            self.params_read.add(node)
        elif role == "target":
            self.targets_read.add(node)
        else:
            self.cached.add(node)
        return self.array(node)

    def code(self, expr: sp.Expr) -> str:
        return print_array_expr(expr, self.printer)

    def filled(self, expr: sp.Expr, like: str) -> str:
        """The code of ``expr``, an array of the shape of node ``like`` even when ``expr`` reads
        no array (a constant activation ``0 * z``, a loss formula without ``y``)."""
        if expr.free_symbols - {sp.Symbol("N")}:
            return self.code(expr)
        return f"np.full_like({self.use(like)}, {self.code(expr)})"

    def constant_shape(self, node) -> str:
        """An array of the shape (and dtype) of elementwise ``node``, for a formula that cancels
        its inputs (``0 * h``): the broadcast of its operands."""
        arrays = [self.operand(name, node).name for name in node.inputs]
        if len(arrays) == 1:
            return arrays[0]
        return f"np.broadcast_arrays({', '.join(arrays)})[0]"

    def verbatim(self, code: str) -> sp.Symbol:
        """A piece of NumPy code as a symbol, to be used inside a printed expression."""
        return ArrayCode(code, real=True)

    def require_helper(self, name: str, source: str) -> None:
        """A helper function an op's spelling calls (``_logsumexp``), written once into the module."""
        self.op_helpers[name] = source

    def formula(self, expr: sp.Expr) -> str:
        return print_array_expr(expr, self.math)

    def operand(self, name: str, out) -> sp.Symbol:
        """The array of input ``name`` as it enters elementwise code that produces ``out``."""
        array = self.use(name)
        missing = len(out.shape) - len(self.graph.nodes[name].shape)
        if missing > 0 and self.batched(name):
            return ArrayCode(f"{array}[:, {', '.join(['None'] * missing)}]", real=True)
        return sp.Symbol(array, real=True)

    def expanded(self, name: str, rank: int) -> sp.Symbol:
        """The adjoint array of per-sample scalar (or lower-rank) node ``name``, lined up with rank ``rank``."""
        grad = self.grad(name)
        missing = rank - len(self.graph.nodes[name].shape)
        if missing > 0 and self.batched(name):
            return ArrayCode(f"{grad}[:, {', '.join(['None'] * missing)}]", real=True)
        return sp.Symbol(grad, real=True)

    def shared(self, expr: sp.Expr) -> tuple[list[Line], sp.Expr]:
        """Common subexpressions of ``expr`` as temporaries ``_s1, _s2, ...`` (computed once)."""
        names = (sp.Symbol(f"_s{next(self.temporaries)}") for _ in iter(int, 1))
        replacements, (reduced,) = sp.cse(expr, symbols=names, optimizations=None)
        lines = [Line(f"{name} = {self.code(value)}", f"{self.formula(value)}, used twice") for name, value in replacements]
        return lines, reduced

    def product(self, upstream: sp.Symbol, local: sp.Expr) -> str:
        """``upstream * local``; a piecewise factor takes the product into its branches so
        that ``np.where`` keeps the dtype of the arrays.  A 0/1 step (relu') multiplies by
        the boolean mask instead: ``np.where`` with an unpredictable condition runs ~5 ns
        per element, 5-15x slower than the multiply (NumPy 2.4, benchmarks/profile_generated.py)."""
        up = self.code(upstream)
        if local == 1:
            return up
        if local == -1:
            return f"-{up}"
        if isinstance(local, sp.Piecewise) and len(local.args) == 2 and local.args[1].cond == sp.true:
            (value, condition), (otherwise, _) = local.args
            if value == 1 and otherwise == 0:  # a step (relu'): multiply by the boolean mask
                return f"{up} * ({self.code(condition)})"
        if local.has(sp.Piecewise):
            return self.code(sp.piecewise_fold(upstream * local))
        return f"{up} * {self.printer.parenthesize(local, PRECEDENCE['Mul'], strict=True)}"

    def reduce_to(self, code: str, batched: bool, shape: tuple[int, ...], target: str) -> tuple[str, str]:
        """Sum an adjoint of (batched?, ``shape``) back to the shape of ``target``: over the batch
        for an unbatched target, over leading and stretched axes of a broadcast.
        Returns (code, note for the comment)."""
        node = self.graph.nodes[target]
        base = 1 if batched else 0
        axes = [0] if batched and not self.batched(target) else []
        extra = len(shape) - len(node.shape)
        axes += [base + k for k in range(extra)]
        # Size-1 axes of the target that the broadcast stretched, counted after dropping ``axes``.
        first = 1 if batched and self.batched(target) else 0
        kept = [first + k for k in range(len(node.shape)) if node.shape[k] == 1 and shape[extra + k] > 1]
        notes = []
        if axes:
            total = base + len(shape)
            code = f"{_wrapped(code)}.sum()" if len(axes) == total else f"{_wrapped(code)}.sum(axis={_axes(axes)})"
            notes.append("summed over the batch" if axes == [0] else "summed over the broadcast axes")
        if kept:
            code = f"{_wrapped(code)}.sum(axis={_axes(kept)}, keepdims=True)"
            notes = notes or ["summed over the broadcast axes"]
        return code, (", " + notes[0]) if notes else ""

    # -- forward ---------------------------------------------------------------------

    def node_line(self, node) -> tuple[Line, set[str]]:
        """The forward line of op ``node`` (spelled by its op) and the nodes it reads."""
        self.reads = set()
        try:
            code, math = node.op.numpy(node, self)
        finally:
            reads, self.reads = self.reads, None
        return Line(f"{self.array(node.name)} = {code}", math), reads

    def forward_lines(self) -> list[Line]:
        return [self.node_line(n)[0] for n in self.graph.nodes.values() if n.op.role == "op" and n.name != self.graph.loss]

    def loss_lines(self) -> tuple[list[str], str, str]:
        """(nodes the loss reads, the loss summed over the batch as NumPy code, its formula)."""
        node = self.graph.nodes[self.graph.loss]
        self.reads = set()
        try:
            code, math = node.op.numpy(node, self, over_batch=True)
        finally:
            reads, self.reads = self.reads, None
        return [n for n in self.graph.nodes if n in reads and self.graph.role(n) != "target"], code, math

    # -- backward --------------------------------------------------------------------

    def backward_lines(self) -> list[Line]:
        lines: list[Line] = []
        self.step_lines = []
        for step in self.d.steps:
            written = self.backward_line(step)
            self.step_lines.append(written)
            lines.extend(written)
        return lines

    def backward_line(self, step: Step) -> list[Line]:
        """The lines of one step, spelled by the op of the node that sends the adjoint."""
        spelled = self.graph.nodes[step.source].op.numpy_adjoint(step, self)
        target, math_target = self.grad(step.target), f"dE/d{step.target}"
        if step.accumulate:
            line = Line(f"{target} = {target} + {spelled.code}", f"{math_target} += {spelled.math}{spelled.note}")
        else:
            line = Line(f"{target} = {spelled.code}", f"{math_target} = {spelled.math}{spelled.note}")
        return [*spelled.prelude, line]

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
        classes = network.outputs if _one_hot_targets(network) else None
        body = (
            f"Arrays are batch-major: X has shape (batch, {network.inputs}), T and the output (batch, {network.outputs}).\n"
            "A weight W has shape (outputs, inputs), so a dense layer computes Z = A @ W.T + b."
        )
        note = interface.check_note(
            f"X of shape (batch, {network.inputs}), T of shape (batch, {network.outputs})", classes is not None
        )
        unpack = [f'{self.array(p.name)} = params["{p.name}"]' for p in params]
        inline = [
            "X = _inputs(X)",
            "T = _targets(T, X)",
            *unpack,
            *(line.text for line in forward),
            "N = T.shape[0]",
            f"E = {loss_code} / N",
            *(line.text for line in backward),
            *self.returned_gradients(),
        ]
        return {
            "name": network.name,
            "marker": interface.MARKER,
            "docstring": interface.module_docstring(
                network.name, _summary(network), Path(network.source).as_posix(), body, note
            ),
            "param_shapes": [(p.name, p.shape) for p in params],
            "init_doc": "Weights drawn from N(0, 1 / fan_in) (LeCun), biases zero.",
            "inits": [
                (p.name, interface.init_code("fan_in_normal" if len(p.shape) == 2 else "zeros", p.shape))
                for p in sorted(params, key=lambda p: len(p.shape) != 2)
            ],
            "check_inputs": [f"return {interface.checked_call('X', 'X', (network.inputs,))}"],
            "check_targets": [f"return {interface.checked_call('T', 'T', (network.outputs,), 'like', classes)}"],
            "helpers": self.helper_sources(),
            "forward_prologue": unpack,
            "output_array": self.array(output),
            "forward": forward,
            "cache": [(n, self.array(n)) for n in cache_order],
            "backward_cache": [(n, self.array(n)) for n in backward_reads],
            "loss_math": interface.docstring_text(loss_math),
            "loss_body": [
                *(f'{self.array(n)} = cache["{self.array(n)}"]' for n in loss_reads),
                f"return {loss_code} / T.shape[0]",
            ],
            "backward": backward,
            "backward_prologue": ["N = T.shape[0]"],
            "backward_params": [(p.name, self.array(p.name)) for p in params if p.name in self.params_read],
            "grads": [(p.name, self.grad(p.name)) for p in params],
            "loss_and_grad": inline,
            "sample_batch": _sample_batch(network, classes),
            "example": _example(network),
        }

    def returned_gradients(self) -> list[str]:
        """The last lines of ``loss_and_grad``: the loss and the gradient of every parameter."""
        return ["return E, {", *(f'    "{p.name}": {self.grad(p.name)},' for p in self.graph.params()), "}"]

    def helper_sources(self) -> list[str]:
        needed, sources = set(self.printer.helpers), []
        for name in list(needed):
            entry = registry.ACTIVATIONS.get(name)
            if entry is not None:
                needed.update(entry.helper_needs)
        for name in sorted(needed):
            sources.append(helper_source(name))
        sources += [self.op_helpers[name] for name in sorted(self.op_helpers)]
        return [*sources, interface.CHECK_SOURCE]


def helper_source(name: str) -> str:
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


def _one_hot_targets(network) -> bool:
    """Cross-entropy on a softmax output: one-hot targets (or class indices)."""
    return network.loss.entry is not None and network.loss.entry.needs_output == "softmax"


def _summary(network) -> str:
    layers = [str(network.inputs)]
    for layer in network.layers:
        layers.append(f"{layer.units} ({layer.activation.name}{'' if layer.bias else ', no bias'})")
    loss = network.loss.name if network.loss.formula is None else f"formula {network.loss.formula}"
    return f"{' -> '.join(layers)}; loss {loss}, averaged over the batch"


def _sample_batch(network, classes: int | None) -> list[str]:
    """The body of ``sample_batch``: random inputs, and one-hot or (0, 1) targets."""
    if classes is not None:
        targets = f"T = np.eye({classes}, dtype=dtype)[rng.integers(0, {classes}, size=batch)]"
    else:
        targets = f"T = rng.uniform(0.05, 0.95, size=(batch, {network.outputs})).astype(dtype)"
    return [
        "rng = np.random.default_rng(seed)",
        f"X = rng.standard_normal((batch, {network.inputs})).astype(dtype)",
        targets,
        "return X, T",
    ]


def _example(network) -> dict | None:
    example = network.example
    if example is None:
        return None
    return {
        "X": f"np.array({[[float(v) for v in example.x]]!r})",  # floats: the module refuses integer inputs
        "T": f"np.array({[[float(v) for v in example.t]]!r})",
        "params": [(name, f"np.array({_array_literal(_floats(value))})") for name, value in example.params.items()],
        "learning_rate": repr(example.learning_rate if example.learning_rate is not None else 0.1),
    }


def _floats(value):
    return [_floats(v) for v in value] if isinstance(value, list) else float(value)


def _array_literal(value) -> str:
    """A nested list as Python source; a long matrix gets one row per line (for the
    template's ``np.array(...)`` inside the EXAMPLE dict, indented by 8)."""
    flat = repr(value)
    if len(flat) <= 90 or not isinstance(value, list) or not isinstance(value[0], list):
        return flat
    rows = "".join(f"\n            {row!r}," for row in value)
    return f"[{rows}\n        ]"
