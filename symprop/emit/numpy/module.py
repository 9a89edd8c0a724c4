"""The NumPy module of a derivation: the builder's lines arranged into forward(), _batch_loss(),
backward() and loss_and_grad(), with the docstring, the argument checks, the initialisers and
the worked example (``arguments``), for ``templates/numpy_module.py.j2`` (one template, no
branches on the kind of spec: a layer stack is a graph).

* One input and one target are plain arrays; several are dicts of arrays keyed by name.
* Nodes that depend on a target are computed by ``_batch_loss`` (forward() has no T); the ones
  the backward pass needs are recomputed in backward().  loss_and_grad() holds the lines of
  forward(), _batch_loss() and backward() in one function: each value computed once, no cache.
* A loss function at the root of the loss (``op.loss_function``) is summed over the batch in
  one expression (``E = -(T * _log_softmax(Z2)).sum() / N``); any other loss expression is
  computed per sample and averaged, and the reverse pass is seeded with 1/N.
"""

from __future__ import annotations

import ast
import math
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import sympy as sp

from ... import module_interface as interface
from ... import registry
from ...ops.base import arg_symbol
from ...templating import render
from .arguments import DOC_WIDTH, Arguments, init_doc
from .builder import ModuleBuilder
from .lines import Line, refitted
from .memory import chained_in_place, makes_new_array, released, written_in_place
from .rewrites import PRODUCT_MIN_SIZE, substituted, tuned_products
from .sharing import shared_residual, shared_values, transposed_once
from .stacked_lines import backward_lines, product_lines

if TYPE_CHECKING:
    from ...derivation import Derivation


class NumpyModule:
    """The template context of one derivation's module (see the module docstring)."""

    #: The builder that spells the lines (the array-API backend's spells them in the standard).
    builder_class = ModuleBuilder
    #: Whether an activation of a value made for its line, or a relu's mask product, may overwrite
    #: an array (``in_place_calls``, ``written_in_place``); not in the array-API module, whose arrays
    #: may be immutable (JAX).
    in_place = True
    #: Whether loss_and_grad() computes a layer's product of a batch and a weight matrix by
    #: ``_batch_product`` (``rewrites.tuned_products``), in the faster of BLAS's two orientations; not in
    #: the array-API module (another library's arrays) nor in Numba's (its own products).
    tuned_products = True

    def __init__(self, derivation: Derivation):
        self.builder = self.builder_class(derivation, stacked=True)
        #: The module's text about its arguments: checks, unpacking, initialisers, examples.
        self.arguments = Arguments(self.builder, derivation.network)
        self.network = derivation.network
        self.graph = graph = derivation.graph
        self.output = graph.output
        keep = self.ancestors(self.output)
        dependent = graph.downstream_of("target")
        #: Op nodes computed by _batch_loss: those that depend on a target, and the loss node
        #: unless forward() returns it (CS231n's f is both the output and the loss).
        self.loss_part = [
            n.name
            for n in graph.nodes.values()
            if n.op.role == "op" and (n.name in dependent or n.name == graph.loss) and n.name not in keep
        ]
        loss = graph.nodes[graph.loss]
        #: Whether the loss is one loss function, spelled summed over the batch.
        self.total = loss.op.loss_function and graph.loss in self.loss_part

    def inlined(self, parts: list[tuple[str, Line, set[str]]], needed: set[str]) -> list[Line]:
        """The forward lines, with each value that one later line reads once, and nothing else
        needs (not cached for backward, not read by the loss), written into that line: the
        spec's ``h2 = tanh(Wx x2 + Wh h1 + bh)`` as one line, as one would write it by hand.
        Fewer arrays stay alive: at batch 1024 a fresh array per helper node costs page faults
        (a (1024, 16) float64 temporary is 128 kB, glibc's mmap threshold), and NumPy frees an
        inner temporary as soon as the expression is done with it."""
        b, graph = self.builder, self.graph
        uses: dict[str, int] = {}
        for _, line, reads in parts:
            right = line.code.split(" = ", 1)[1]
            for name in reads:
                uses[name] = uses.get(name, 0) + len(re.findall(rf"\b{re.escape(b.array(name))}\b", right))
        pending: dict[str, tuple[str, str]] = {}  # node -> (its code, its formula), not yet written
        lines = []
        for name, line, reads in parts:
            code, math = line.code, line.comment
            for read in sorted(reads & pending.keys()):
                spelled, formula = pending.pop(read)
                if self.in_place and b.batched(read) and makes_new_array(ast.parse(spelled, mode="eval").body):
                    code = self.in_place_calls(code, b.array(read))
                code = substituted(code, b.array(read), spelled)
                math = substituted(math, read, formula)
            node = graph.nodes.get(name)  # None for an input product (``stacking``): never written into another line
            single = node is not None and not node.op.numpy_saves(node, graph) and " = " in math
            if single and name not in needed and uses.get(name) == 1:
                pending[name] = (code.split(" = ", 1)[1], math.split(" = ", 1)[1])
            else:
                lines.append(Line(code, math))
        return lines

    def in_place_calls(self, code: str, array: str) -> str:
        """``code`` with each activation helper that ``array`` alone is given to, an array made
        for this line and held by nothing else, replaced by its in-place helper where it has one
        (``_sigmoid(Z1)`` by ``_sigmoid_fresh(Z1)``): no new array, as NumPy written by hand works
        on the fresh output of ``np.dot``."""

        def in_place(match: re.Match) -> str:
            helper = registry.fresh_helper(match.group(1))
            if helper is None:
                return match.group(0)
            self.builder.printer.helpers.add(helper)
            return f"_{helper}({array})"

        left, right = code.split(" = ", 1)
        return f"{left} = " + re.sub(rf"(?<![\w.])_(\w+)\({re.escape(array)}\)", in_place, right)

    def in_place_lines(self, statements: list[str], kept: set[str]) -> list[str]:
        """``written_in_place`` and ``chained_in_place`` of loss_and_grad's statements (with the
        shapes of the batched float nodes' arrays and adjoints), where arrays may be written in place."""
        if not self.in_place:
            return statements
        b, graph = self.builder, self.graph
        dtypes = graph.dtypes
        nodes = [n for n in graph.nodes if b.batched(n) and dtypes[n] == "float" and graph.role(n) not in ("input", "target")]
        exact = {b.array(n): graph.nodes[n].shape for n in nodes}
        bounded = {b.grad(n): graph.nodes[n].shape for n in nodes}
        # a value of parameters alone of one element, and its adjoint, are NumPy numbers: no out=
        # (np.multiply(dH3, W1 > 0.0, out=dH3) of h3 = relu(sum(W)) was a TypeError)
        scalars = [n for n, node in graph.nodes.items() if not b.batched(n) and not node.shape]
        numbers = {name for n in scalars for name in (b.array(n), b.grad(n))}
        return chained_in_place(written_in_place(statements, kept | numbers), exact, bounded)

    def linear_mean(self, name: str) -> tuple[str, str, list[str]] | None:
        """(code, formula, the loss nodes it replaces) of the batch mean of node ``name``, a per-sample
        scalar: a loss function's sum over the batch / N, a value without a batch axis itself, a
        linear combination of those the same combination; None for anything else."""
        b, node = self.builder, self.graph.nodes[name]
        if not b.batched(name):
            return b.array(name), name, []
        if name not in self.loss_part or node.shape:
            return None
        if node.op.loss_function:
            code, math, _ = b.spelled(node, over_batch=True)
            return f"{code} / N", f"mean_batch({name})", [name]
        expr = node.op.linear_form()
        if expr is None or any(self.graph.nodes[i].shape for i in node.inputs):
            return None
        symbols = [arg_symbol(k) for k in range(len(node.inputs))]
        parts = [self.linear_mean(i) for i in node.inputs]
        if None in parts:
            return None
        spelled = [part[0] if re.fullmatch(r"[A-Za-z_]\w*", part[0]) else f"({part[0]})" for part in parts]
        code = b.code(expr.xreplace({u: b.verbatim(c) for u, c in zip(symbols, spelled)}))
        math = b.formula(expr.xreplace({u: sp.Symbol(part[1]) for u, part in zip(symbols, parts)}))
        return code, math, [name, *(n for part in parts for n in part[2])]

    def ancestors(self, name: str) -> set[str]:
        found = {name}
        for node in reversed(list(self.graph.nodes.values())):
            if node.name in found:
                found.update(node.inputs)
        return found

    def context(self) -> dict:
        b, graph, network = self.builder, self.graph, self.network
        forward_parts = [
            (node.name, *b.node_line(node))
            for node in graph.nodes.values()
            if node.op.role == "op" and node.name not in self.loss_part
        ]
        # Each input product of unrolled steps (``stacking``) just before the first line that reads it.
        products = product_lines(b)
        for position in reversed(range(len(forward_parts))):
            name = forward_parts[position][0]
            if name in products:
                line, reads = products[name]
                forward_parts.insert(position, (line.code.split(" = ")[0], line, reads))
        product_of = {b.products[m].array: set(b.products[m].members) for m in products}
        per_sample = [n for n in self.loss_part if not (self.total and n == graph.loss)]
        loss_lines, loss_reads = b.part_lines(per_sample)
        total_code = total_math = None
        if self.total:
            total_code, total_math, reads = b.spelled(graph.nodes[graph.loss], over_batch=True)
            loss_reads |= reads - set(per_sample)
        # A loss that is an expression (not one loss function) seeds the reverse pass with 1/N, one
        # float for every sample (``ModuleBuilder.uniform_nodes``): constant-folded where it meets constants.
        uniform_seed = not graph.nodes[graph.loss].op.loss_function and b.batched(graph.loss)
        if uniform_seed:
            b.uniform_nodes.add(graph.loss)
        backward = backward_lines(b)
        # Target-dependent values the backward pass reads are recomputed in backward().
        needed = {n for n in [*b.cached, *b.saved_read] if n in self.loss_part}
        while True:
            recompute = [n for n in self.loss_part if n in needed]
            recompute_lines, recompute_reads = b.part_lines(recompute)
            more = {n for n in recompute_reads if n in self.loss_part} - needed
            if not more:
                break
            needed |= more
        # A loss that is a linear combination of loss functions and values without a batch axis
        # (residual_block's cross-entropy + L2 penalty): its batch mean in loss_and_grad is that
        # combination of the loss functions summed over the batch (one np.vdot each) / N.
        mean = None if self.total else self.linear_mean(graph.loss)
        dropped = set(mean[2]) - needed if mean else set()
        seed = []
        if uniform_seed:
            code = f"{b.grad(graph.loss)} = 1 / N"
            seed.append(Line(code, f"dE/d{graph.loss} = 1 for each sample, times the 1/N of the batch mean"))
        elif not graph.nodes[graph.loss].op.loss_function:
            out = b.array(self.output)
            code = f"{b.grad(graph.loss)} = np.full(N, 1 / N, dtype={out}.dtype)"
            seed.append(Line(code, f"dE/d{graph.loss} = 1 for each sample, times the 1/N of the batch mean"))
            b.cached.add(self.output)
        n_expr = self.arguments.batch_size()
        backward_reads = (b.cached | {n for n in recompute_reads if graph.role(n) not in ("param", "target")}) - set(
            self.loss_part
        )
        for n in recompute_reads:
            if graph.role(n) == "param":
                b.params_read.add(n)
            elif graph.role(n) == "target":
                b.targets_read.add(n)
        # The loss node itself is in the cache when forward() computes it (it is the output).
        loss_node = {graph.loss} - set(self.loss_part)
        cached = (backward_reads | {n for n in loss_reads if graph.role(n) != "target"} | {self.output} | loss_node) - set(
            self.loss_part
        )
        # Forward lines whose value nothing reads are left out (a softmax whose cross-entropy is
        # spelled from its input and needs no gradient: an unused variable, work for nothing).
        # (and the nodes whose forward line saves an array the loss reads: softmax's log-sum-exp)
        needed_later = cached | loss_reads | recompute_reads | set(b.saved_in_lines.values())
        kept_parts, forward_reads, wanted = [], set(), set(needed_later)
        for name, line, reads in reversed(forward_parts):
            if name in wanted or product_of.get(name, set()) & wanted:
                kept_parts.insert(0, (name, line, reads))
                forward_reads |= reads
                wanted |= reads
        forward = self.inlined(kept_parts, needed_later | {self.output})
        forward_params = {n for n in forward_reads | cached if graph.role(n) == "param"}
        forward_inputs = {n for n in forward_reads | cached if graph.role(n) == "input"}
        order = list(graph.nodes)
        saved = {n: sorted(names) for n, names in b.saved_read.items() if n not in self.loss_part}

        for_loss: dict[str, set[str]] = {}  # node -> what its forward line saved that the loss reads
        for array, node in b.saved_in_lines.items():
            if node not in self.loss_part:
                for_loss.setdefault(node, set()).add(array)

        def kept(names: set[str], also: dict[str, set[str]] | None = None) -> list[tuple[str, str]]:
            """(node, array) to cache, in forward order: a node's array, then what its line saved
            for backward (and ``also``)."""
            extra = also or {}
            return [
                (n, a)
                for n in order
                for a in ([b.array(n)] if n in names else []) + sorted({*saved.get(n, []), *extra.get(n, ())})
            ]

        backward_prologue = [*self.arguments.unpack_targets(b.targets_read)]
        body = [line.text for line in [*recompute_lines, *seed, *backward]]
        if any(re.search(r"\bN\b", text) for text in body):
            backward_prologue.append(f"N = {n_expr}")
        backward_prologue += [line.text for line in [*recompute_lines, *seed]]
        params = graph.params()
        read = forward_reads | loss_reads | b.cached | b.params_read | b.targets_read
        if self.total:
            batch_loss = [f"return {total_code} / {n_expr}"]
            loss_value = [f"N = {n_expr}", Line(f"E = {total_code} / N", f"{total_math}, averaged over the batch").text]
        elif b.batched(graph.loss):  # the mean as .sum() / N: np.mean costs ~3 us more a call
            batch_loss = [f"return {b.array(graph.loss)}.sum() / {b.array(graph.loss)}.shape[0]"]
            loss_value = [f"N = {n_expr}", f"E = {b.array(graph.loss)}.sum() / N"]
            if mean:
                loss_value[1] = Line(f"E = {mean[0]}", f"E = {mean[1]}: the mean over the batch, term by term").text
        else:
            batch_loss = [f"return np.mean({b.array(graph.loss)})"]
            loss_value = [f"E = np.mean({b.array(graph.loss)})"]
            if any(re.search(r"\bN\b", line.text) for line in [*seed, *backward]):
                loss_value.append(f"N = {n_expr}")
        unpacked = [
            "X = _inputs(X) if check else X",
            "params = _checked_params(params) if check else params",
            *self.arguments.unpack_inputs({n for n in read if graph.role(n) == "input"}),
            *(f'{b.array(p)} = params["{p}"]' for p in order if graph.role(p) == "param" and p in read),
        ]
        computed = [
            *(line.text for line in forward),
            self.arguments.targets_line(b.array(self.output)),
            *self.arguments.unpack_targets({n for n in read if graph.role(n) == "target"}),
            *(line.text for name, line in zip(per_sample, loss_lines) if name not in dropped),
            *loss_value,
            *(line.text for line in [*seed, *backward]),
        ]
        if self.tuned_products:
            rows = {b.array(n) for n, node in graph.nodes.items() if b.batched(n) and len(node.shape) == 1}
            weights = {b.array(p.name) for p in params if len(p.shape) == 2 and p.shape[0] * p.shape[1] >= PRODUCT_MIN_SIZE}
            computed, tuned = tuned_products(computed, rows, weights)
            if tuned:
                b.printer.helpers.add("batch_product")
        kept_names = {"X", "T", "E", "N", "check", *(b.grad(p.name) for p in params)}
        if self.in_place:  # NumPy's own arrays (measured with OpenBLAS): not the array-API or numba lines
            computed = transposed_once(computed, {b.array(p.name): math.prod(p.shape) for p in params})
        rewritten = self.in_place_lines(shared_values(shared_residual(computed)), kept_names)
        kept_names |= {text.split(" = ")[0] for text in unpacked}
        inline = [
            *unpacked,
            *map(refitted, released(rewritten, kept_names)),
            "return E, {",
            *(f'    "{p.name}": {b.grad(p.name)},' for p in params),
            "}",
        ]
        # What _batch_loss reads from the cache: a loss summed over the batch divides by the batch
        # size, which is the output's when there are no targets (batch_size).
        batch_reads = loss_reads | loss_node | ({self.output} if self.total and not graph.leaves("target") else set())
        classes = self.arguments.class_targets()
        inits = self.arguments.inits()
        init_lines = [(name, interface.init_code(kind, shape, args)) for name, kind, shape, args in inits]
        return {
            "name": network.name,
            "marker": interface.MARKER,
            "gradient_floor": interface.GRADIENT_FLOOR,
            "docstring": interface.module_docstring(
                network.name,
                "\n".join(textwrap.wrap(network.summary, DOC_WIDTH, break_long_words=False)),
                Path(network.source).as_posix(),
                self.arguments.layout(),
                interface.check_note("X and T as above", self.arguments.index_shape(classes)),
            ),
            "param_shapes": [(p.name, p.shape) for p in params],
            "init_doc": init_doc(inits),
            "inits": init_lines,
            # the generator only when a parameter is drawn at random (not all zeros and ones)
            "init_prologue": ["rng = np.random.default_rng(seed)"] if any("rng." in code for _, code in init_lines) else [],
            "check_inputs": self.arguments.checks("input", "X", None, {}),
            "check_targets": self.arguments.checks("target", "T", "like", classes),
            "usual_arguments": self.arguments.usual(),
            "helpers": self.helpers(),
            "forward_prologue": [
                *self.arguments.unpack_inputs(forward_inputs),
                *(f'{b.array(p)} = params["{p}"]' for p in order if p in forward_params),
            ],
            "forward": forward,
            "output_array": b.array(self.output),
            "cache": kept(cached, for_loss),
            "backward_cache": kept({n for n in backward_reads if graph.role(n) != "param"}),
            "loss_math": interface.docstring_text(
                f"E = {network.loss_text}" if len(network.loss_text) <= 60 else "E (the loss in the module docstring)"
            ),
            "loss_body": [
                *self.arguments.unpack_targets({n for n in loss_reads if graph.role(n) == "target"}),
                *(f'{b.array(n)} = cache["{b.array(n)}"]' for n in order if n in batch_reads and n in cached),
                *(f'{a} = cache["{a}"]' for n in order for a in sorted(for_loss.get(n, ()))),
                *(line.text for line in loss_lines),
                *batch_loss,
            ],
            "backward": backward,
            "backward_params": [(p.name, b.array(p.name)) for p in params if p.name in b.params_read],
            "backward_prologue": backward_prologue,
            "grads": [(p.name, b.grad(p.name)) for p in params],
            "loss_and_grad": inline,
            "sample_batch": self.arguments.sample_batch(),
            "example": self.arguments.example(),
        }

    def helpers(self) -> list[str]:
        """The helper functions' sources: the builder's, and the check of cross-entropy targets."""
        if not self.arguments.simplex_targets():
            return self.builder.helper_sources()
        self.builder.printer.helpers.add("ones")  # _on_simplex's row sums, and the ones they are compared with
        return [*self.builder.helper_sources(), interface.SIMPLEX_SOURCE]


def module_source(derivation: Derivation) -> str:
    return render("numpy_module.py.j2", **NumpyModule(derivation).context())
