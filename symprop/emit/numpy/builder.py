"""The NumPy builder: one derivation's graph, any graph (a layer stack is one), spelled line
by line on batched arrays.

Each op spells its own forward line and backward steps (``symprop.ops``) through the context
this builder offers (``ops.base.NumpyContext``); the builder names arrays, records what each
line reads, lines up arrays of different per-sample rank (``S[:, None]``) and sums adjoints
back to the shape of what they belong to (over the batch for parameters, over broadcast
axes).  Every line carries the per-sample formula it computes as a comment (``lines.Line``).
``stacked_lines`` writes the module's lines that do the work of unrolled steps at once, and
``module.NumpyModule`` arranges the lines into the module's functions.
"""

from __future__ import annotations

import ast
import itertools
import re
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from ... import module_interface as interface
from ... import naming, registry
from ...printing import EXTRA_HELPER_NEEDS, ArrayPrinter, print_array_expr
from .fusion import PendingAdjoints, cancels_nothing
from .lines import Line
from .printers import ArrayCode, FloatPrinter, MathPrinter, added_to, helper_source
from .stacking import InputProduct, folded_biases, input_products, slot_targets

if TYPE_CHECKING:
    from ...derivation import Derivation, Step
    from ...ops.base import AdjointCode, Op


def _wrapped(code: str) -> str:
    return code if re.fullmatch(r"[A-Za-z_]\w*", code) else f"({code})"


def _axes(axes: list[int]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


class ModuleBuilder:
    """Spells a derivation's graph in NumPy: the ``NumpyContext`` every op writes its lines
    through, recording what each line reads (forward arrays the backward pass needs become
    the cache; parameters and targets it needs are unpacked).

    ``stacked``: the module's arrangement, which computes some per-step work for all steps at
    once (``stacking``: the input products of unrolled steps, slices' adjoints in one stack);
    without it (the handout, the verifier's probe) every line is its own step's."""

    #: Whether the module's whole numbers in array arithmetic are floats (``FloatPrinter``; the
    #: array-API module keeps them as written: the speed-up is NumPy's own).
    float_literals = True

    #: Whether slices' adjoints stacked sample by sample (``np.stack(parts, axis=1)``) are one
    #: ``np.concatenate`` along axis 1 and a reshape: np.stack spends Python time on each part
    #: first (9 parts of (64, 16): 5.5 against 8.7 us, NumPy 2.4).  The array-API builder keeps
    #: np.stack: Dask cannot reshape (batch, parts x width) chunks into (batch, parts, width).
    concatenated_rows = True

    #: Whether a line may add into a view of an array (``np.add(dS[:, 1:6], ..., out=dS[:, 1:6])``,
    #: ``stacked_lines.source_lines``): the array API standard has no out=, the numba backend no np.add(out=);
    #: their builders keep the adjoint of a source some of whose input products take a range of
    #: its slices as one stack of slots.
    adds_into_views = True

    #: Whether a line may index by an integer array of more than one axis (``Emb[Ids.T]``, an op's
    #: ``numpy_row_products``) or by a list (an input product's rows ``S[:, [0, 2]]``): the array
    #: API standard and Numba index by 1-D arrays only, and by no list.
    fancy_indexing = True

    def __init__(self, derivation: Derivation, stacked: bool = False):
        self.d = derivation
        self.graph = derivation.graph
        self.products: dict[str, InputProduct] = {}
        self.folded_sites: set[tuple[str, str]] = set()  # (node, bias): the bias its product added
        if stacked:
            self.products, self.folded_sites = folded_biases(self.graph, input_products(self.graph, self.fancy_indexing))
        self.slots = slot_targets(self.graph, derivation.steps) if stacked else {}
        #: Whole numbers of array arithmetic written as floats (``FloatPrinter``), in the module and
        #: in the handout's NumPy lines alike (the handout quotes the module's lines).
        self.printer = FloatPrinter() if self.float_literals else ArrayPrinter()
        self.math = MathPrinter()
        self.cached: set[str] = set()  # forward arrays the backward pass reads
        self.params_read: set[str] = set()  # parameters the backward pass reads
        self.targets_read: set[str] = set()  # targets the backward pass reads
        self.saved_read: dict[str, set[str]] = {}  # node -> arrays its forward line saved that backward reads
        self.saved_in_lines: dict[str, str] = {}  # saved array -> its node, for arrays forward-style lines read
        self.reads: set[str] | None = None  # while spelling a forward line: the nodes it reads
        self.op_helpers: dict[str, str] = {}  # helper functions an op brings itself, by name
        self.temporaries = itertools.count(1)
        #: Nodes whose adjoint is one Python float, the same for every sample and element: the
        #: 1/N seed of a loss that is an expression, and what it reaches through ops that take
        #: it so (``Op.numpy_uniform``): residual_block's L2 penalty gets ``dE_d = N * dE`` and
        #: ``dE_c = dE_d * 0.001``, not ``np.full`` of the batch, its sum and ``np.full((8, 4), ...)``.
        #: Any other op gets it as an array first (``materialized``).
        self.uniform_nodes: set[str] = set()
        #: While ``stacked_lines.backward_lines`` spells the module's backward pass: the adjoints
        #: not yet written (``fusion``: chains of elementwise steps as one line); None for the handout's steps.
        self.pending: PendingAdjoints | None = None
        #: Each ``_batch_sum`` of one adjoint spelled -> (that adjoint, the axes argument): the
        #: line whose value it is records it (``Line.summed``) for ``stacked_lines.summed_once``.
        self.batch_sums: dict[str, tuple[str, str]] = {}

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
        self.printing(expr)
        return print_array_expr(expr, self.printer)

    def printing(self, expr: sp.Expr) -> None:
        """Tell a ``FloatPrinter`` whether ``expr`` computes an array: whether it reads a symbol
        that is neither the batch size nor a uniform adjoint (a Python float: ``uniform_nodes``)."""
        if isinstance(self.printer, FloatPrinter):
            floats = {self.grad(n) for n in self.uniform_nodes} | {"N"}
            self.printer.in_arrays = any(symbol.name not in floats for symbol in expr.free_symbols)

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

    def saved(self, node: str, what: str) -> str:
        """The array ``what`` that the forward line of ``node`` saved (``Op.numpy_saves``), recorded
        as read (so the cache keeps it): by the backward pass, or by a line of the loss."""
        name = naming.saved_name(self.array(node), what)
        if self.reads is None:
            self.saved_read.setdefault(node, set()).add(name)
        else:
            self.saved_in_lines[name] = node
        return name

    def require_helper(self, name: str, source: str, needs: tuple[str, ...] = ()) -> None:
        """A helper function an op's spelling calls (``_logsumexp``), written once into the module,
        and the printer's helpers it calls (``batch_sum``)."""
        self.op_helpers[name] = source
        self.printer.helpers.update(needs)

    def formula(self, expr: sp.Expr) -> str:
        return print_array_expr(expr, self.math)

    def folded(self, node: str, bias: str) -> bool:
        """Whether the forward line of ``node`` leaves out input ``bias``: its input product
        added it for every step (``stacking.folded_biases``)."""
        return self.reads is not None and (node, bias) in self.folded_sites

    def operand(self, name: str, out) -> sp.Expr:
        """The array of input ``name`` as it enters elementwise code that produces ``out`` (0 for
        a bias an input product added already: ``folded``)."""
        if self.folded(out.name, name):
            return sp.S.Zero
        array = self.use(name)
        missing = len(out.shape) - len(self.graph.nodes[name].shape)
        if missing > 0 and self.batched(name):
            return ArrayCode(f"{array}[:, {', '.join(['None'] * missing)}]", real=True)
        return sp.Symbol(array, real=True)

    def uniform(self, name: str) -> bool:
        """Whether the adjoint of ``name`` is one Python float (see ``self.uniform_nodes``)."""
        return name in self.uniform_nodes

    def uniform_code(self, code: str) -> bool:
        """Whether ``code`` is arithmetic of uniform adjoints, ``N`` and numbers only: a float."""
        try:
            tree = ast.parse(code, mode="eval")
        except SyntaxError:
            return False
        names = {self.grad(n) for n in self.uniform_nodes} | {"N"}
        allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.operator, ast.unaryop)
        found = [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)]
        return (
            bool(set(found) & (names - {"N"}))
            and set(found) <= names
            and all(isinstance(node, allowed) for node in ast.walk(tree))
        )

    def materialized(self, name: str) -> list[Line]:
        """The line that makes the uniform adjoint of ``name`` an array of its node's batched
        shape and the output's dtype (for an op that does not take a float), or nothing."""
        if name not in self.uniform_nodes:
            return []
        self.uniform_nodes.discard(name)
        node, grad = self.graph.nodes[name], self.grad(name)
        shape = (["N"] if self.batched(name) else []) + [str(n) for n in node.shape]
        spelled = f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(shape)})"
        code = f"{grad} = np.full({spelled}, {grad}, dtype={self.use(self.graph.output)}.dtype)"
        return [Line(code, f"dE/d{name}, the same for every element, as an array")]

    def expanded(self, name: str, rank: int) -> sp.Symbol:
        """The adjoint array of per-sample scalar (or lower-rank) node ``name``, lined up with rank ``rank``."""
        grad = self.grad(name)
        if name in self.uniform_nodes:  # a float lines up with anything
            return sp.Symbol(grad, real=True)
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

    def temporary(self, code: str, comment: str) -> tuple[str, Line]:
        """A temporary ``_s<k>`` holding ``code`` (a mask, a shared factor): its name and its line."""
        name = f"_s{next(self.temporaries)}"
        return name, Line(f"{name} = {code}", comment)

    def product(self, upstream: sp.Symbol, local: sp.Expr) -> str:
        """``upstream * local``; a piecewise factor takes the product into its branches so
        that ``np.where`` keeps the dtype of the arrays.  A 0/1 step (relu') multiplies by
        the boolean mask instead: ``np.where`` with an unpredictable condition runs ~5 ns
        per element, 5-15x slower than the multiply (NumPy 2.4, benchmarks/profile_generated.py)."""
        fused = self.pending.take(upstream, local) if self.pending is not None and not local.has(sp.Piecewise) else None
        notes = []
        if fused is not None:  # a waiting adjoint (``fusion``): folded into the product, or renamed
            done, expr, notes = fused
            if done:
                code = self.code(expr)
                self.pending.last = (code, expr, notes)
                return code
            upstream = expr
        up = self.code(upstream)
        if isinstance(local, sp.Piecewise) and len(local.args) == 2 and local.args[1].cond == sp.true:
            (value, condition), (otherwise, _) = local.args
            if value == 1 and otherwise == 0:  # a step (relu'): multiply by the boolean mask
                return f"{up} * ({self.code(condition)})"
        if local.has(sp.Piecewise):
            return self.code(sp.piecewise_fold(upstream * local))
        if local == 1:
            code = up
        elif local == -1:
            code = f"-{up}"
        else:
            self.printing(upstream * local)
            code = f"{up} * {self.printer.parenthesize(local, PRECEDENCE['Mul'], strict=True)}"
        if self.pending is not None and cancels_nothing(upstream * local, upstream, local):
            self.pending.last = (code, upstream * local, notes)
        return code

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
        if self.uniform_code(code):  # a float: its sum is the float times the count of what is summed
            counts = (["N"] if batched and 0 in axes else []) + [str(shape[a - base]) for a in axes if a >= base]
            counts += [str(shape[extra + k - first]) for k in kept]
            if counts:
                note = "summed over the batch" if axes == [0] else "summed over the broadcast axes"
                return f"{' * '.join(counts)} * {_wrapped(code)}", ", " + note
            return code, ""
        if axes:
            total = base + len(shape)
            if len(axes) == total:
                code = f"{_wrapped(code)}.sum()"
            elif axes == list(range(len(axes))):  # the leading axes: by BLAS
                code = self.batch_sum(code, len(axes))
            else:
                code = f"{_wrapped(code)}.sum(axis={_axes(axes)})"
            notes.append("summed over the batch" if axes == [0] else "summed over the broadcast axes")
        if kept:
            code = f"{_wrapped(code)}.sum(axis={_axes(kept)}, keepdims=True)"
            notes = notes or ["summed over the broadcast axes"]
        return code, (", " + notes[0]) if notes else ""

    def batch_sum(self, code: str, axes: int = 1) -> str:
        """``code`` summed over its first ``axes`` axes (the batch, and leading broadcast axes),
        by BLAS: ``_batch_sum`` multiplies by ones, 5-15x faster than ``.sum(axis=0)`` on
        (batch, few) arrays (NumPy 2.4, OpenBLAS; 1.6 against 21 us on (1024, 4))."""
        self.printer.helpers.add("batch_sum")
        suffix = "" if axes == 1 else f", {axes}"
        spelled = f"_batch_sum({code}{suffix})"
        if code.isidentifier():  # a sum of one adjoint, which ``stacked_lines.summed_once`` may gather
            self.batch_sums[spelled] = (code, suffix)
        return spelled

    def input_product(self, node) -> tuple[str, str] | None:
        """(code, formula) of dense node ``node``'s ``W x[k]`` as a row of the product of every
        step (``stacking.input_products``), recorded as reading W and x; None when it has none."""
        product = self.products.get(node.name)
        if product is None:
            return None
        self.use(product.weight)
        self.use(product.source)
        slot = product.slots[product.members.index(node.name)]
        return f"{product.array}[{product.row(node.name)}]", f"{product.weight} {product.source}[{slot}]"

    # -- lines ---------------------------------------------------------------------------

    def row_products(self, product: InputProduct) -> tuple[str, str, set[str]] | None:
        """(code, how, the nodes it reads) of an input product as the source's op spells it
        (``Op.numpy_row_products``: an embedding projects its table, then picks), or None."""
        if not self.fancy_indexing:
            return None
        node = self.graph.nodes[product.source]
        bias = f" + {self.array(product.bias)}" if product.bias else ""
        weight = f"{self.array(product.weight)}.T"
        self.reads = set()
        try:
            spelled = node.op.numpy_row_products(node, self, product.selection(), len(product.positions), weight, bias)
        finally:
            reads, self.reads = self.reads, None
        return None if spelled is None else (*spelled, reads)

    def spelled(self, node, **options) -> tuple[str, str, set[str]]:
        """(the code of op ``node``'s batched value, its formula, the nodes it reads)."""
        self.reads = set()
        try:
            code, math = node.op.numpy(node, self, **options)
        finally:
            reads, self.reads = self.reads, None
        return code, math, reads

    def node_line(self, node) -> tuple[Line, set[str]]:
        """The forward line of op ``node`` and the nodes it reads."""
        code, math, reads = self.spelled(node)
        saves = node.op.numpy_saves(node, self.graph)
        arrays = [self.array(node.name), *(naming.saved_name(self.array(node.name), what) for what in saves)]
        return Line(f"{', '.join(arrays)} = {code}", math), reads

    def part_lines(self, names: list[str]) -> tuple[list[Line], set[str]]:
        """The lines of nodes ``names``, and what they read from outside them."""
        lines, reads = [], set()
        for name in names:
            line, read = self.node_line(self.graph.nodes[name])
            lines.append(line)
            reads |= read
        return lines, reads - set(names)

    def step_lines(self) -> list[list[Line]]:
        """The lines of backward(), step by step (the handout shows each beside its math)."""
        return [self.backward_line(step) for step in self.d.steps]

    def backward_line(self, step: Step) -> list[Line]:
        """The lines of one step, spelled by the op of the node that sends the adjoint; in the
        module's backward pass an elementwise product may wait instead (``fusion``)."""
        op, pending = self.graph.nodes[step.source].op, self.pending
        before = [] if op.numpy_uniform else self.materialized(step.source)
        if pending is not None:
            before += pending.start(step.source)
        spelled = self.adjoint_code(op, step)
        target, math_target = self.graph.grad(step.target), f"dE/d{step.target}"
        math = spelled.math if pending is None else pending.named_as_read(spelled.math)
        formula = f"{math_target} {'+=' if step.accumulate else '='} {math}{spelled.note}"
        last = pending.last if pending is not None and pending.last and pending.last[0] == spelled.code else None
        if (
            last is not None
            and (step.target in pending.deferrable or (isinstance(last[1], sp.Symbol) and step.target in pending.renamable))
            and not self.uniform_code(spelled.code)
            and not pending.names_waiting(spelled.code)
            and (not step.accumulate or step.target in pending.exprs)
            and cancels_nothing(pending.exprs.get(step.target, 0) + last[1], pending.exprs.get(step.target, sp.S.Zero), last[1])
        ):
            self.uniform_nodes.discard(step.target)
            pending.add(step.target, last[1], [formula, *last[2]], spelled.code)
            lines = pending.resolved([*before, *spelled.prelude])
            pending.read(step.source)
            return lines
        value = added_to(target, spelled.code) if step.accumulate else spelled.code
        line = Line(
            f"{target} = {value}",
            ", ".join([formula, *(pending.folded if pending is not None else [])]),
            self.batch_sums.get(spelled.code),
        )
        if self.uniform_code(spelled.code) and (not step.accumulate or step.target in self.uniform_nodes):
            self.uniform_nodes.add(step.target)
        else:  # an array (a float plus an array of the target's shape is one too)
            self.uniform_nodes.discard(step.target)
        if pending is None:
            return [*before, *spelled.prelude, line]
        lines = pending.resolved([*before, *spelled.prelude, line], step.target if step.accumulate else None)
        pending.read(step.source)
        return lines

    def adjoint_code(self, op: Op, step: Step) -> AdjointCode:
        """The op's code of a backward step (the numba backend's builder asks for its own first)."""
        return op.numpy_adjoint(step, self)

    def helper_names(self) -> list[str]:
        """The printer's helper functions the lines call (activations, stable log-softmax), and the ones they call."""
        needed = set(self.printer.helpers)
        for name in list(needed):
            fresh = registry.fresh_activation(name)  # an in-place helper falls back on its activation's
            if fresh is not None:
                needed.add(name := fresh.name)
            entry = registry.ACTIVATIONS.get(name) or registry.kept_owner(name)  # _gelu_kept: what gelu calls
            if entry is not None:
                needed.update(entry.helper_needs)
        while True:  # and the helpers those call (_softmax: _row_sum, which calls _ones)
            more = {n for name in needed for n in EXTRA_HELPER_NEEDS.get(name, ())} - needed
            if not more:
                return sorted(needed)
            needed |= more

    def helper_sources(self) -> list[str]:
        """The helper functions the lines call (activations, stable log-softmax, an op's own), and the argument check."""
        sources = [helper_source(name) for name in self.helper_names()]
        sources += [self.op_helpers[name] for name in sorted(self.op_helpers)]
        params_check = interface.params_check_source([(p.name, p.shape) for p in self.graph.params()])
        return [*sources, interface.CHECK_SOURCE, params_check]
