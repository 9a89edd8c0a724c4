"""The NumPy module of a graph spec: the tensor ops' spellings on batched arrays.

Same template, printers and layer rules as a layer stack (``emit_numpy``); a graph spec adds:

* several inputs and targets (dicts of arrays keyed by name when there are several);
* arrays without a batch axis: parameters and whatever is computed from parameters alone
  (``W.T``, ``sum(W * W)``); a batched array of lower per-sample rank is lined up by
  inserting axes after the batch axis (``S[:, None]``), and adjoints are summed back to the
  shape of what they belong to (over the batch for parameters, over broadcast axes);
* the tensor rules of ``derivation.Step``: 'elementwise', 'matmul' (as ``@``/``.T`` where it
  is a plain matrix product, else ``np.einsum``), 'transpose', 'sum', 'concat', and 'loss' /
  'fused' for a loss function inside the loss expression (times its own adjoint);
* nodes that depend on a target are computed by ``_batch_loss`` (forward() has no T); the
  ones the backward pass needs are recomputed there.
"""

from __future__ import annotations

import math
import pprint
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from . import registry
from .emit_numpy import Line, _ModuleBuilder
from .graph import Activation, Concat, Dense, Elementwise, Loss, MatMul, Node, Reduce, Softmax, Transpose, arg_symbol

if TYPE_CHECKING:
    from .derivation import Step

#: Width of wrapped docstring text in generated modules.
DOC_WIDTH = 100


class ArrayCode(sp.Symbol):
    """A symbol printed as a piece of NumPy code, such as ``S[:, None]`` (a batched array
    lined up with arrays of higher per-sample rank)."""

    def _numpycode(self, printer):
        return self.name


def contract(operands: list[tuple[str, str]], out: str) -> str:
    """NumPy for ``einsum(operands -> out)``: ``a @ b`` (with ``.T`` where needed) when it is
    a plain matrix product, ``np.einsum`` otherwise.  ``operands`` are (array, subscripts)."""
    if len(operands) == 2:
        (a, sa), (b, sb) = operands
        shared = [c for c in sa if c in sb]
        distinct = len(set(sa)) == len(sa) and len(set(sb)) == len(sb)
        if len(shared) == 1 and distinct and len(sa) <= 2 and len(sb) <= 2 and shared[0] not in out:
            j = shared[0]
            free_a, free_b = [c for c in sa if c != j], [c for c in sb if c != j]

            def last(code: str, subs: str) -> str:
                return code if subs[-1] == j else f"{code}.T"

            def first(code: str, subs: str) -> str:
                return code if subs[0] == j else f"{code}.T"

            if list(out) == free_a + free_b:
                return f"{last(a, sa)} @ {first(b, sb)}"
            if list(out) == free_b + free_a:
                return f"{last(b, sb)} @ {first(a, sa)}"
    subscripts = ",".join(s for _, s in operands)
    arrays = ", ".join(code for code, _ in operands)
    return f'np.einsum("{subscripts}->{out}", {arrays})'


def _wrapped(code: str) -> str:
    return code if re.fullmatch(r"[A-Za-z_]\w*", code) else f"({code})"


def _axes(axes: list[int]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


class GraphModuleBuilder(_ModuleBuilder):
    """The template context of a graph spec's module (see the module docstring)."""

    def __init__(self, derivation):
        super().__init__(derivation)
        self.network = derivation.network
        self.targets_read: set[str] = set()
        self.reads: set[str] | None = None  # while spelling a forward line: the nodes it reads
        graph = self.graph
        self.output = graph.output
        keep = self.ancestors(self.output)
        dependent = {n.name for n in graph.nodes.values() if n.op.role == "target"}
        for node in graph.nodes.values():
            if any(i in dependent for i in node.inputs):
                dependent.add(node.name)
        #: Op nodes computed by _batch_loss: those that depend on a target, and the loss node
        #: unless forward() returns it (CS231n's f is both the output and the loss).
        self.loss_part = [
            n.name
            for n in graph.nodes.values()
            if n.op.role == "op" and (n.name in dependent or n.name == graph.loss) and n.name not in keep
        ]

    def ancestors(self, name: str) -> set[str]:
        found = {name}
        for node in reversed(list(self.graph.nodes.values())):
            if node.name in found:
                found.update(node.inputs)
        return found

    def batched(self, name: str) -> bool:
        return name in self.graph.batched

    def use(self, node: str) -> str:
        if self.reads is not None:
            self.reads.add(node)
            return self.array(node)
        if self.graph.role(node) == "target":
            self.targets_read.add(node)
            return self.array(node)
        return super().use(node)

    def operand(self, name: str, out: Node) -> sp.Symbol:
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

    def product(self, upstream: sp.Symbol, local: sp.Expr) -> str:
        """``upstream * local`` (a piecewise factor takes the product into its branches)."""
        if local == 1:
            return self.code(upstream)
        if local == -1:
            return f"-{self.code(upstream)}"
        if local.has(sp.Piecewise):
            return self.code(sp.piecewise_fold(upstream * local))
        return f"{self.code(upstream)} * {self.printer.parenthesize(local, PRECEDENCE['Mul'], strict=True)}"

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

    # -- forward -----------------------------------------------------------------------------

    def node_line(self, node: Node) -> tuple[Line, set[str]]:
        """The forward line of op ``node`` and the nodes it reads."""
        self.reads = set()
        try:
            code, math_ = self.forward_code(node)
        finally:
            reads, self.reads = self.reads, None
        return Line(f"{self.array(node.name)} = {code}", math_), reads

    def forward_code(self, node: Node) -> tuple[str, str]:
        op, name, args = node.op, node.name, node.inputs
        if isinstance(op, Dense):
            weight, data, *bias = args
            code = f"{self.use(data)} @ {self.use(weight)}.T" + (f" + {self.use(bias[0])}" if bias else "")
            return code, f"{name} = {weight} {data}" + (f" + {bias[0]}" if bias else "")
        if isinstance(op, Activation):
            z = args[0]
            code = self.filled(op.apply(sp.Symbol(self.use(z), real=True)), z)
            note = f"  ({op.name})" if op.choice.formula is not None else ""
            return code, f"{name} = {self.formula(op.apply(sp.Symbol(z, real=True)))}{note}"
        if isinstance(op, Softmax):
            self.printer.helpers.add("softmax")
            return f"_softmax({self.use(args[0])})", f"{name} = softmax({args[0]})"
        if isinstance(op, Loss):
            return self.loss_code(node)
        if isinstance(op, Elementwise):
            expr = op.expr.xreplace({arg_symbol(i): self.operand(a, node) for i, a in enumerate(args)})
            shown = op.expr.xreplace({arg_symbol(i): sp.Symbol(a, real=True) for i, a in enumerate(args)})
            code = self.code(expr) if expr.free_symbols else f"np.full_like({self.constant_shape(node)}, {self.code(expr)})"
            return code, f"{name} = {self.formula(shown)}"
        if isinstance(op, MatMul):
            left, right, out = op.subscripts()
            a, b = args
            code = contract(
                [(self.use(a), "n" * self.batched(a) + left), (self.use(b), "n" * self.batched(b) + right)],
                "n" * self.batched(name) + out,
            )
            return code, f"{name} = {a} @ {b}"
        if isinstance(op, Transpose):
            array = self.use(args[0])
            code = f"np.swapaxes({array}, 1, 2)" if self.batched(name) else f"{array}.T"
            return code, f"{name} = {args[0]}.T"
        if isinstance(op, Reduce):
            function = "mean" if op.mean else "sum"
            array = self.use(args[0])
            rank = len(op.shape_in)
            if self.batched(name):
                axes = list(range(1, rank + 1)) if op.axis is None else [op.axis + 1]
                code = f"{array}.{function}(axis={_axes(axes) if axes else '()'})"
            else:
                code = f"{array}.{function}()" if op.axis is None else f"{array}.{function}(axis={op.axis})"
            where = "" if op.axis is None else f", axis={op.axis}"
            return code, f"{name} = {function}({args[0]}{where})"
        if isinstance(op, Concat):
            batched = [a for a in args if self.batched(a)]
            parts = []
            for a, size in zip(args, op.sizes):
                array = self.use(a)
                if batched and not self.batched(a):
                    array = f"np.broadcast_to({array}, ({self.array(batched[0])}.shape[0], {size}))"
                parts.append(array)
            return f"np.concatenate([{', '.join(parts)}], axis=-1)", f"{name} = concat({', '.join(args)})"
        raise NotImplementedError(f"no NumPy spelling for op {type(op).__name__} (node {name})")

    def loss_code(self, node: Node) -> tuple[str, str]:
        """A loss function of (output, target), per sample."""
        op: Loss = node.op
        y, t = node.inputs
        output = self.graph.nodes[y]
        target = self.use(t)
        rank = len(output.shape)
        axis = ["", ", axis=-1", ", axis=(-2, -1)"][rank]
        title = f"{node.name} = {op.choice.name}({y}, {t})"
        if isinstance(output.op, Softmax) and op.choice.name == "cross_entropy":
            self.printer.helpers.add("log_softmax")
            z = output.inputs[0]
            return f"-np.sum({target} * _log_softmax({self.use(z)}){axis})", f"{title} = -sum_i {t}_i log(softmax({z})_i)"
        array = self.use(y)
        entry = op.choice.entry
        if entry is not None and entry.numpy_elementwise:
            terms = entry.numpy_elementwise.format(y=array, t=target)
            self.printer.helpers.update(entry.helper_needs)
        else:
            symbols = {registry.Y: sp.Symbol(array, real=True), registry.T: sp.Symbol(target, real=True)}
            terms = self.filled(op.elementwise.xreplace(symbols), y)
        size = math.prod(output.shape)
        scale = f" / {size}" if op.choice.reduction == "mean" and size > 1 else ""
        code = f"np.sum({terms}{axis}){scale}" if rank else f"{terms}{scale}"
        return code, title

    def constant_shape(self, node: Node) -> str:
        """An array of the shape (and dtype) of elementwise ``node``, for a formula that cancels
        its inputs (``0 * h``): the broadcast of its operands."""
        arrays = [self.operand(name, node).name for name in node.inputs]
        if len(arrays) == 1:
            return arrays[0]
        return f"np.broadcast_arrays({', '.join(arrays)})[0]"

    # -- backward ----------------------------------------------------------------------------

    def backward_line(self, step: Step) -> list[Line]:
        rule = step.rule
        source = self.graph.nodes[step.source]
        if rule in ("dense_weight", "dense_bias", "dense_input", "activation"):
            return super().backward_line(step)
        if rule == "softmax" and self.batched(source.name):
            return super().backward_line(step)
        g_out = self.grad(step.source)
        target = self.grad(step.target)
        prelude: list[Line] = []
        note = ""
        if rule == "elementwise":
            names = {arg_symbol(i): a for i, a in enumerate(source.inputs)}
            arrays = {s: self.operand(a, source) for s, a in names.items() if s in step.local.free_symbols}
            if registry.A in step.local.free_symbols:
                arrays[registry.A] = sp.Symbol(self.use(source.name), real=True)
            prelude, local = self.shared(step.local.xreplace(arrays))
            code = self.product(sp.Symbol(g_out, real=True), local)
            code, note = self.reduce_to(code, self.batched(source.name), source.shape, step.target)
            shown = {s: sp.Symbol(a, real=True) for s, a in names.items()} | {registry.A: sp.Symbol(source.name, real=True)}
            local_math = self.math.parenthesize(step.local.xreplace(shown), PRECEDENCE["Mul"], strict=True)
            math_ = f"dE/d{source.name}" + (f" * {local_math}" if local_math != "1" else "")
        elif rule in ("loss", "fused"):
            prelude, code, math_, batched, shape = self.loss_step(step, source)
            code, note = self.reduce_to(code, batched, shape, step.target)
        elif rule == "softmax":  # of a vector computed from parameters alone
            y = self.use(source.name)
            code = f"{y} * ({g_out} - ({g_out} * {y}).sum(axis=-1, keepdims=True))"
            math_ = f"{source.name} * (dE/d{source.name} - sum_i dE/d{source.name}_i {source.name}_i)"
        elif rule == "matmul":
            left, right, out = source.op.subscripts()
            a, b = source.inputs
            upstream = (g_out, "n" * self.batched(source.name) + out)
            if step.argument == 0:
                code = contract([upstream, (self.use(b), "n" * self.batched(b) + right)], "n" * self.batched(a) + left)
                math_ = f"dE/d{source.name} {b}^T"
            else:
                code = contract([(self.use(a), "n" * self.batched(a) + left), upstream], "n" * self.batched(b) + right)
                math_ = f"{a}^T dE/d{source.name}"
            if self.batched(source.name) and not self.batched(step.target):
                note = ", summed over the batch"
        elif rule == "transpose":
            code = f"np.swapaxes({g_out}, 1, 2)" if self.batched(source.name) else f"{g_out}.T"
            math_ = f"(dE/d{source.name})^T"
        elif rule == "sum":
            code, math_ = self.sum_step(step, source, g_out)
        elif rule == "concat":
            start = source.op.offset(step.argument)
            stop = start + source.op.sizes[step.argument]
            code = f"{g_out}[:, {start}:{stop}]" if self.batched(source.name) else f"{g_out}[{start}:{stop}]"
            code, note = self.reduce_to(code, self.batched(source.name), (stop - start,), step.target)
            math_ = f"dE/d{source.name}[{start}:{stop}]"
        else:
            raise NotImplementedError(f"no NumPy spelling for the backward rule {rule!r}")
        math_target = f"dE/d{step.target}"
        if step.accumulate:
            return [*prelude, Line(f"{target} = {target} + {code}", f"{math_target} += {math_}{note}")]
        return [*prelude, Line(f"{target} = {code}", f"{math_target} = {math_}{note}")]

    def loss_step(self, step: Step, source: Node):
        """A loss function's step: dE/dy ('loss') or dE/dz through the output activation ('fused')."""
        y, t = source.inputs
        final = source.name == self.graph.loss
        if step.rule == "loss":
            mapping = {registry.Y: y, registry.T: t}
        else:
            mapping = {registry.Z: self.graph.nodes[y].inputs[0], registry.A: y, registry.T: t}
        arrays = {s: sp.Symbol(self.use(n), real=True) for s, n in mapping.items() if s in step.local.free_symbols}
        prelude, local = self.shared(step.local.xreplace(arrays))
        if not local.free_symbols:  # a loss without y: its (zero or constant) derivative, one per element
            local = ArrayCode(self.filled(local, y), real=True)
        shape = self.graph.nodes[step.target].shape
        batched = any(self.batched(n) for n in (y, t))
        if final:
            code = self.code(local / sp.Symbol("N"))
        else:
            code = self.product(self.expanded(source.name, len(shape)), local)
            batched = batched or self.batched(source.name)
        shown = self.formula(step.local.xreplace({s: sp.Symbol(n, real=True) for s, n in mapping.items()}))
        math_ = shown if final else f"dE/d{source.name} * ({shown})"
        return prelude, code, math_, batched, shape

    def sum_step(self, step: Step, source: Node, g_out: str) -> tuple[str, str]:
        op: Reduce = source.op
        target = self.graph.nodes[step.target]
        batched = self.batched(source.name)
        if op.axis is None:
            per_sample = ["None"] * len(op.shape_in)  # the sum is one number per sample
        else:
            per_sample = [":"] * len(source.shape)
            per_sample.insert(op.axis, "None")
        index = [":"] * batched + per_sample
        upstream = f"{g_out}[{', '.join(index)}]" if "None" in index else g_out
        shape = _batch_shape(target.shape).replace("batch", "N") if batched else str(tuple(target.shape))
        code = f"np.broadcast_to({upstream}, {shape})"
        if op.mean:
            code = f"{code} / {op.count}"
        elif self.graph.role(step.target) == "param":
            code = f"{code}.copy()"
        function = "mean" if op.mean else "sum"
        return code, f"dE/d{source.name}, spread over the {function}" + (f" / {op.count}" if op.mean else "")

    # -- the whole module --------------------------------------------------------------------

    def context(self) -> dict:
        graph, network = self.graph, self.network
        ops = [n for n in graph.nodes.values() if n.op.role == "op"]
        forward, forward_reads = [], set()
        for node in ops:
            if node.name not in self.loss_part:
                line, reads = self.node_line(node)
                forward.append(line)
                forward_reads |= reads
        loss_lines, loss_reads = self.part_lines(self.loss_part)
        backward = self.backward_lines()
        # Target-dependent values the backward pass reads are recomputed in backward().
        needed = {n for n in self.cached if n in self.loss_part}
        while True:
            recompute = [n for n in self.loss_part if n in needed]
            recompute_lines, recompute_reads = self.part_lines(recompute)
            more = {n for n in recompute_reads if n in self.loss_part} - needed
            if not more:
                break
            needed |= more
        seed = []
        if not isinstance(graph.nodes[graph.loss].op, Loss):
            out = self.array(self.output)
            code = f"{self.grad(graph.loss)} = np.full(N, 1 / N, dtype={out}.dtype)"
            seed.append(Line(code, f"dE/d{graph.loss} = 1 for each sample, times the 1/N of the batch mean"))
            self.cached.add(self.output)
        n_expr = self.batch_size()
        backward_reads = (self.cached | {n for n in recompute_reads if graph.role(n) not in ("param", "target")}) - set(
            self.loss_part
        )
        for n in recompute_reads:
            if graph.role(n) == "param":
                self.params_read.add(n)
            elif graph.role(n) == "target":
                self.targets_read.add(n)
        # The loss node itself is in the cache when forward() computes it (it is the output).
        loss_node = {graph.loss} - set(self.loss_part)
        cached = (backward_reads | {n for n in loss_reads if graph.role(n) != "target"} | {self.output} | loss_node) - set(
            self.loss_part
        )
        forward_params = {n for n in forward_reads | cached if graph.role(n) == "param"}
        forward_inputs = {n for n in forward_reads | cached if graph.role(n) == "input"}
        order = list(graph.nodes)
        backward_prologue = [*self.unpack_targets(self.targets_read)]
        body = [line.text for line in [*recompute_lines, *seed, *backward]]
        if n_expr is not None and any(re.search(r"\bN\b", text) for text in body):
            backward_prologue.append(f"N = {n_expr}")
        backward_prologue += [line.text for line in [*recompute_lines, *seed]]
        params = graph.params()
        return {
            "graph": True,
            "name": network.name,
            "source": Path(network.source).as_posix(),
            "summary": "\n".join(textwrap.wrap(network.summary, DOC_WIDTH, break_long_words=False)),
            "layout": self.layout(),
            "param_shapes": [(p.name, p.shape) for p in params],
            "param_arrays": [(p.name, self.array(p.name)) for p in params],
            "weights": [(p.name, p.shape, p.shape[-1]) for p in params if len(p.shape) == 2],
            "biases": [(p.name, p.shape) for p in params if len(p.shape) == 1],
            "scalars": [p.name for p in params if not p.shape],
            "helpers": self.helper_sources(),
            "forward_prologue": [
                *self.unpack_inputs(forward_inputs),
                *(f'{self.array(p)} = params["{p}"]' for p in order if p in forward_params),
            ],
            "forward": forward,
            "output_array": self.array(self.output),
            "cache": [(n, self.array(n)) for n in order if n in cached],
            "backward_cache": [(n, self.array(n)) for n in order if n in backward_reads and graph.role(n) != "param"],
            "loss_math": f"E = {network.loss_text}" if len(network.loss_text) <= 60 else "E (the loss in the module docstring)",
            "loss_body": [
                *self.unpack_targets({n for n in loss_reads if graph.role(n) == "target"}),
                *(f'{self.array(n)} = cache["{self.array(n)}"]' for n in order if n in loss_reads | loss_node and n in cached),
                *(line.text for line in loss_lines),
                f"return np.mean({self.array(graph.loss)})",
            ],
            "backward": backward,
            "backward_params": [(p.name, self.array(p.name)) for p in params if p.name in self.params_read],
            "backward_prologue": backward_prologue,
            "grads": [(p.name, self.grad(p.name)) for p in params],
            "sample_batch": self.sample_batch(),
            "example": self.example(),
        }

    def part_lines(self, names: list[str]) -> tuple[list[Line], set[str]]:
        lines, reads = [], set()
        for name in names:
            line, read = self.node_line(self.graph.nodes[name])
            lines.append(line)
            reads |= read
        return lines, reads - set(names)

    def batch_size(self) -> str | None:
        targets = self.graph.leaves("target")
        if len(targets) == 1:
            return "T.shape[0]"
        if targets:
            return f'T["{targets[0].name}"].shape[0]'
        self.cached.add(self.output)
        return f"{self.array(self.output)}.shape[0]"

    def unpack_inputs(self, names: set[str]) -> list[str]:
        inputs = self.graph.leaves("input")
        if len(inputs) == 1:
            return [f"{self.array(n.name)} = X" for n in inputs if n.name in names and self.array(n.name) != "X"]
        return [f'{self.array(n.name)} = X["{n.name}"]' for n in inputs if n.name in names]

    def unpack_targets(self, names: set[str]) -> list[str]:
        targets = self.graph.leaves("target")
        if len(targets) == 1:
            return [f"{self.array(n.name)} = T" for n in targets if n.name in names and self.array(n.name) != "T"]
        return [f'{self.array(n.name)} = T["{n.name}"]' for n in targets if n.name in names]

    def layout(self) -> str:
        graph, network = self.graph, self.network

        def arrays(role: str, letter: str, what: str) -> str:
            leaves = graph.leaves(role)
            if not leaves:
                return f"{letter}: none (pass None)."
            if len(leaves) == 1:
                return f"{letter}: the {what} {leaves[0].name}, an array of shape {_batch_shape(leaves[0].shape)}."
            shapes = ", ".join(f'"{n.name}" {_batch_shape(n.shape)}' for n in leaves)
            return f"{letter}: a dict of arrays keyed by {what} name: {shapes}."

        output = graph.nodes[self.output]
        text = [
            arrays("input", "X", "input"),
            arrays("target", "T", "target"),
            f"forward() returns {self.output}, of shape {_batch_shape(output.shape)}.",
            "Expressions are per sample (an input is a column vector); on a batch, W @ x becomes X @ W.T.",
            "Parameters, and values computed from parameters alone, have no batch axis.",
        ]
        lines = []
        for paragraph in text:
            lines += textwrap.wrap(paragraph, DOC_WIDTH, break_long_words=False)
        lines += ["", "Nodes, per sample:"]
        for name, expression in [*network.nodes.items(), (graph.loss if graph.loss != "E" else "E", network.loss_text)]:
            if name in network.nodes and name == graph.loss:
                continue
            lines += textwrap.wrap(
                f"{name} = {expression}", DOC_WIDTH, initial_indent="    ", subsequent_indent="        ", break_long_words=False
            )
        if graph.loss in network.nodes:
            lines.append(f"    E = {graph.loss} (the loss)")
        return "\n".join(lines)

    def sample_batch(self) -> list[str]:
        graph = self.graph
        one_hot = {
            n.inputs[1]
            for n in graph.nodes.values()
            if isinstance(n.op, Loss) and n.op.choice.name == "cross_entropy" and len(graph.nodes[n.inputs[1]].shape) == 1
        }

        def draw(node: Node) -> str:
            shape = "(batch" + "".join(f", {n}" for n in node.shape) + ("," if not node.shape else "") + ")"
            if node.op.role == "input":
                return f"rng.standard_normal({shape}).astype(dtype)"
            if node.name in one_hot:
                size = node.shape[0]
                return f"np.eye({size}, dtype=dtype)[rng.integers(0, {size}, size=batch)]"
            return f"rng.uniform(0.05, 0.95, size={shape}).astype(dtype)"

        lines = ["rng = np.random.default_rng(seed)"]
        for role, letter in (("input", "X"), ("target", "T")):
            leaves = graph.leaves(role)
            if not leaves:
                lines.append(f"{letter} = None")
            elif len(leaves) == 1:
                lines.append(f"{letter} = {draw(leaves[0])}")
            else:
                lines.append(f"{letter} = {{")
                lines += [f'    "{n.name}": {draw(n)},' for n in leaves]
                lines.append("}")
        lines.append("return X, T")
        return lines

    def example(self) -> dict | None:
        example = self.network.example
        if example is None:
            return None

        def batch_of_one(values: dict) -> str:
            if not values:
                return "None"
            arrays = {name: _array_code([_floats(value)]) for name, value in values.items()}
            if len(arrays) == 1:
                return next(iter(arrays.values()))
            return "{\n" + "".join(f'        "{n}": {code},\n' for n, code in arrays.items()) + "    }"

        rate = example.learning_rate if example.learning_rate is not None else 0.1
        return {
            "X": batch_of_one(example.inputs),
            "T": batch_of_one(example.targets),
            "params": [(name, _array_code(_floats(value))) for name, value in example.params.items()],
            "learning_rate": repr(float(rate)),
        }


def _batch_shape(shape: tuple[int, ...]) -> str:
    return "(batch" + "".join(f", {n}" for n in shape) + ("," if not shape else "") + ")"


def _floats(value):
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return float(value)


def _array_code(value) -> str:
    text = pprint.pformat(value, width=100, compact=True)
    return "np.array(" + text.replace("\n", "\n" + " " * 8) + ")"


__all__ = ["GraphModuleBuilder", "contract"]
