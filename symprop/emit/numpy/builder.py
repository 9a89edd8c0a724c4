"""The NumPy builder: one derivation's graph, any graph (a layer stack is one), spelled line
by line on batched arrays.

Each op spells its own forward line and backward steps (``symprop.ops``) through the context
this builder offers (``ops.base.NumpyContext``); the builder names arrays, records what each
line reads, lines up arrays of different per-sample rank (``S[:, None]``) and sums adjoints
back to the shape of what they belong to (over the batch for parameters, over broadcast
axes).  Every line carries the per-sample formula it computes as a comment.
``module.NumpyModule`` arranges the lines into the module's functions.
"""

from __future__ import annotations

import ast
import itertools
import re
import textwrap
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from ... import module_interface as interface
from ... import naming, registry
from ...printing import EXTRA_HELPER_NEEDS, ArrayPrinter, print_array_expr
from .fusion import PendingAdjoints, cancels_nothing
from .printers import ArrayCode, FloatPrinter, MathPrinter, added_to, helper_source
from .stacking import InputProduct, folded_biases, input_products, slot_targets, source_products

if TYPE_CHECKING:
    from ...derivation import Derivation, Step


def _wrapped(code: str) -> str:
    return code if re.fullmatch(r"[A-Za-z_]\w*", code) else f"({code})"


def _axes(axes: list[int]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


@dataclass(frozen=True)
class Line:
    code: str
    comment: str
    #: (array, axes argument) of a line ``grad = [grad + ]_batch_sum(array[, axes])`` that
    #: ``backward_line`` wrote, and (name, its arrays) of a stack of adjoints that ``weight_lines``
    #: wrote: what ``ModuleBuilder.summed_once`` gathers, recorded, not read back from the code
    summed: tuple[str, str] | None = field(default=None, compare=False)
    stack: tuple[str, frozenset[str]] | None = field(default=None, compare=False)

    def renamed(self, code: str, comment: str, names: list[tuple[str, str]]) -> Line:
        """The line with ``code`` and ``comment``, written after renaming arrays (``names``:
        (old, new) in the order they were applied): its record renamed alike."""

        def new(name: str) -> str:
            for old, other in names:
                name = other if name == old else name
            return name

        summed = None if self.summed is None else (new(self.summed[0]), self.summed[1])
        stack = None if self.stack is None else (self.stack[0], frozenset(map(new, self.stack[1])))
        return Line(code, comment, summed, stack)

    #: Longest generated line (ruff's limit for the repository is 130).
    WIDTH = 120
    LIMIT = 130

    @property
    def text(self) -> str:
        """The statement with its formula comment, for a function body (indent 4): the comment
        goes after the code when it fits, else on the line above.  A statement longer than
        ruff's limit by itself (an einsum of rank-4 arrays) is marked for ruff, not broken."""
        comment = interface.comment_text(self.comment)
        inline = f"{self.code}  # {comment}"
        if len(inline) + 4 <= self.WIDTH:
            return inline
        above = "\n    ".join(f"# {part}" for part in textwrap.wrap(comment, self.LIMIT - 6, break_long_words=False))
        if len(self.code) + 4 > self.LIMIT:
            return f"{above}\n    {self.code}  # noqa: E501"
        return f"{above}\n    {self.code}"


def refitted(text: str) -> str:
    """``text``, a statement as ``Line.text`` laid it out, laid out again after a rewrite renamed
    its parts (``_H5_minus_T`` for ``H5 - T``): a line the names made longer than ruff's limit
    gets its comment above, or is marked for ruff as ``Line.text`` marks one."""
    *above, last = text.split("\n")
    code_line = last.strip()
    if len(code_line) + 4 <= Line.LIMIT or "noqa" in code_line:
        return text
    code, inline, comment = code_line.partition("  # ")
    if inline and not above:
        return Line(code, comment).text
    return "\n".join([*above, f"{last}  # noqa: E501"])


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
    #: ``source_lines``): the array API standard has no out=, the numba backend no np.add(out=);
    #: their builders keep the adjoint of a source some of whose input products take a range of
    #: its slices as one stack of slots.
    adds_into_views = True

    #: Whether a line may index by an integer array of more than one axis (``Emb[Ids.T]``, an op's
    #: ``numpy_row_products``): the array API standard and Numba index by 1-D arrays only.
    fancy_indexing = True

    def __init__(self, derivation: Derivation, stacked: bool = False):
        self.d = derivation
        self.graph = derivation.graph
        self.products: dict[str, InputProduct] = {}
        self.folded_sites: set[tuple[str, str]] = set()  # (node, bias): the bias its product added
        if stacked:
            self.products, self.folded_sites = folded_biases(self.graph, input_products(self.graph))
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
        #: While backward_lines() spells the module's backward pass: the adjoints not yet written
        #: (``fusion``: chains of elementwise steps as one line); None for the handout's steps.
        self.pending: PendingAdjoints | None = None
        #: Each ``_batch_sum`` of one adjoint spelled -> (that adjoint, the axes argument): the
        #: line whose value it is records it (``Line.summed``) for ``summed_once``.
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
        if code.isidentifier():  # a sum of one adjoint, which ``summed_once`` may gather
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

    def product_lines(self) -> dict[str, tuple[Line, set[str]]]:
        """The line of each input product (``stacking``), by the first node that reads it, and
        what it reads: placed before that node's line."""
        found = {}
        for product in dict.fromkeys(self.products.values()):
            source, weight = self.array(product.source), self.array(product.weight)
            code = f"{product.array} = {source}{product.selection()}.swapaxes(0, 1) @ {weight}.T"
            bias = f" + {product.bias}" if product.bias else ""
            if product.bias:
                code += f" + {self.array(product.bias)}"
            own = self.row_products(product)
            if own is not None:
                code = f"{product.array} = {own[0]}"
            positions, first = list(product.positions), product.positions[0]
            if not product.selection():
                comment = f"{product.array}[k] = {product.weight} {product.source}[k]{bias} for every step k"
            elif positions == list(range(first, positions[-1] + 1)):
                comment = (
                    f"{product.array}[k - {first}] = {product.weight} {product.source}[k]{bias} for k = {first}..{positions[-1]}"
                )
            else:
                comment = f"{product.array}[r] = {product.weight} {product.source}[k_r]{bias} for k_r in {positions}"
            comment += f": {own[1] if own else 'one product for all the steps'}" + (", the bias added once" if bias else "")
            reads = ({product.source} if own is None else own[2]) | {product.weight} | ({product.bias} if product.bias else set())
            found[product.members[0]] = (Line(code, comment), reads)
        return found

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

    def backward_lines(self) -> list[Line]:
        """The lines of backward() in the module: each step's (``step_lines``), except that the
        adjoint of a tensor taken apart in slices is put together in one stack, at the last of
        its steps (``stacking.slot_targets``), and the weight of an input product gets its
        gradient from all the steps in one product, at the last of its steps."""
        steps = self.d.steps
        weight_steps = {
            i: self.products[step.source]
            for i, step in enumerate(steps)
            if step.source in self.products and step.target == self.products[step.source].weight
        }
        weighted = set(weight_steps.values())
        through = {  # sources whose adjoint is one product per input product (``stacking.source_products``)
            source: products
            for source, products in source_products(self.graph, self.products, self.slots).items()
            if set(products) <= weighted and (self.adds_into_views or not any(p.selection() for p in products))
        }
        skipped, source_at = {}, {}  # steps gathered into a source's lines -> that source; its last step -> it
        for i, step in enumerate(steps):
            product = self.products.get(step.source)
            if step.target in through:
                skipped[i] = step.target
            elif product is not None and product.source in through and step.target == self.node(step.source).inputs[1]:
                skipped[i] = product.source
            elif i in weight_steps and weight_steps[i].source in through:
                source_at[weight_steps[i].source] = i
        source_at = {max(source_at.get(s, -1), *(i for i, t in skipped.items() if t == s)): s for s in through}
        last, gathered = {}, {}  # each gathering line's key -> its last step, the steps it gathers
        for i, step in enumerate(steps):
            key = step.target if step.target in self.slots else weight_steps.get(i)
            if key is not None and i not in skipped:
                last[key] = i
                gathered.setdefault(key, []).append(step.source)
        blocked = {step.source for i, step in enumerate(steps) if step.target in self.slots or i in weight_steps}
        self.pending = pending = PendingAdjoints(self, blocked, Line)
        lines, assigned = [], set()
        for i, step in enumerate(steps):
            if i in skipped:
                pending.read(step.source)
            elif step.target in self.slots:
                if last[step.target] != i:
                    continue
                for name in dict.fromkeys(s for sources in self.slots[step.target].values() for s in sources):
                    lines += self.materialized(name)
                lines += pending.resolved([self.slot_line(step.target)])
                pending.read(*gathered[step.target])
            elif i in weight_steps:
                if last[weight_steps[i]] != i:
                    continue
                for name in weight_steps[i].members:
                    lines += self.materialized(name)
                product = weight_steps[i]
                lines += pending.resolved(self.weight_lines(product, step.target in assigned, product.source in through))
                pending.read(*gathered[weight_steps[i]])
            else:  # whether it adds to what is there: the steps above may have moved
                lines += self.backward_line(replace(step, accumulate=step.target in assigned))
            if i in source_at:
                lines += self.source_lines(source_at[i], through[source_at[i]])
            if i not in skipped:
                assigned.add(step.target)
        lines += pending.flush()
        self.pending = None
        for param in self.graph.params():  # a gradient is an array of its parameter's shape
            lines += self.materialized(param.name)
        return self.summed_once(lines)

    def summed_once(self, lines: list[Line]) -> list[Line]:
        """``lines`` with a parameter's gradient that is only sums over the batch of adjoints
        (a bias shared by unrolled steps: ``db = db + _batch_sum(dZ_k)`` a step) computed in one
        sum of their concatenation, where the last of them was: the same sums in another order,
        one BLAS call instead of one and an addition a step (the LSTM's four biases: 3 against 12
        us each at batch 64, 52 against 164 at 1024).  The adjoints are complete when their sum
        is taken and never assigned again, so they can be read later.  When an input product's
        stacked adjoints (``weight_lines``, named) are those very adjoints, the sum reads the
        stack, after its line: no second concatenation."""
        # the adjoints a named stack holds -> (its line, its name)
        stacks = {line.stack[1]: (position, line.stack[0]) for position, line in enumerate(lines) if line.stack}
        grads = {self.grad(p.name): p.name for p in self.graph.params()}
        found: dict[str, list[tuple[int, str, str]]] = {}
        assigned: dict[str, int] = {}
        for position, line in enumerate(lines):
            target = line.code.split(" = ", 1)[0]
            if target not in grads:
                continue
            assigned[target] = assigned.get(target, 0) + 1
            if line.summed:
                found.setdefault(target, []).append((position, *line.summed))
        dropped: set[int] = set()
        after: dict[int, list[Line]] = {}
        for grad, terms in found.items():
            if len(terms) < 2 or len(terms) != assigned[grad] or len({axes for _, _, axes in terms}) > 1:
                continue
            arrays = ", ".join(array for _, array, _ in terms)
            what = " + ".join(f"dE/d{self.graph.node_of_grad(array)}" for _, array, _ in terms)
            comment = f"dE/d{grads[grad]} = {what}, summed over the batch in one sum"
            dropped.update(position for position, _, _ in terms)
            position, code = terms[-1][0], f"{grad} = _batch_sum(np.concatenate([{arrays}]){terms[0][2]})"
            held = stacks.get(frozenset(array for _, array, _ in terms))
            if held is not None and not terms[0][2]:
                position, code = max(position, held[0]), f"{grad} = _batch_sum({held[1]})"
                comment += " (the rows of the stack)"
            after.setdefault(position, []).append(Line(code, comment))
        return [out for i, line in enumerate(lines) for out in ([] if i in dropped else [line]) + after.get(i, [])]

    def weight_lines(self, product: InputProduct, accumulate: bool, named: bool = False) -> list[Line]:
        """dE/dW of an input product's weight, sum over k of dZ_k^T x[k]: the members' adjoints
        stacked (batch, steps, outputs) times the source's rows, one product over the batch and
        the steps (``stacking``: faster at batch 64, slower at 1024, docs/benchmarks.md).
        ``named`` (or a bias the product folded in): the stack is an array of its own
        (``InputProduct.stacked``), which the source's adjoint (``source_lines``) or the bias's
        gradient (``summed_once``) reads too."""
        rows: dict[int, list[str]] = {}
        for member in product.members:
            rows.setdefault(product.row(member), []).append(self.grad(member))
        stacked = [" + ".join(rows[r]) for r in sorted(rows)]
        outputs, inputs = self.graph.nodes[product.weight].shape
        source = f"{self.use(product.source)}{product.selection()}"
        rows_code = (
            f"np.concatenate([{', '.join(stacked)}], axis=1)"
            if self.concatenated_rows
            else f"np.stack([{', '.join(stacked)}], axis=1)"
        )
        before = []
        x = f"{product.source}[k]"
        if named or product.bias:  # the bias's gradient sums the same stack (``summed_once``)
            shown = f"dE/d({product.weight} {x}) of every step, rows of (batch x steps)"
            # the stack of these very adjoints (concatenated, one a row) is what a bias's sum may read
            one_each = self.concatenated_rows and all(len(r) == 1 for r in rows.values())
            held = (product.stacked, frozenset(stacked)) if one_each else None
            before = [Line(f"{product.stacked} = {rows_code}.reshape(-1, {outputs})", shown, stack=held)]
            rows_code = product.stacked
        else:
            rows_code += f".reshape(-1, {outputs})"
        code = f"np.dot({rows_code}.T, {source}.reshape(-1, {inputs}))"
        grad = self.grad(product.weight)
        math = f"sum over k of dE/d({product.weight} {x}) {x}^T, summed over the batch, one product for all the steps"
        if accumulate:
            return [*before, Line(f"{grad} = {grad} + {code}", f"dE/d{product.weight} += {math}")]
        return [*before, Line(f"{grad} = {code}", f"dE/d{product.weight} = {math}")]

    def source_lines(self, source: str, products: tuple[InputProduct, ...]) -> list[Line]:
        """dE/d``source`` of a tensor read only through input products (``stacking.source_products``):
        each product's stacked adjoints (``weight_lines``) times its weight, one product over the
        batch and the steps; a product of some of the steps adds into a view of those steps."""
        node = self.graph.nodes[source]
        shape = ", ".join(str(n) for n in node.shape)
        rest = ", ".join(str(n) for n in node.shape[1:])
        grad = self.grad(source)
        full = [p for p in products if not p.selection()]
        terms = [f"np.dot({p.stacked}, {self.use(p.weight)})" for p in full]
        shown = f"dE/d{source}[k] = " + " + ".join(f"{p.weight}^T dE/d({p.weight} {source}[k])" for p in full)
        if len(terms) > 1:
            lines = [Line(f"{grad} = ({' + '.join(terms)}).reshape(-1, {shape})", f"{shown}: one product each for all the steps")]
        elif terms:
            lines = [Line(f"{grad} = {terms[0]}.reshape(-1, {shape})", f"{shown}: one product for all the steps")]
        else:
            lines = [Line(f"{grad} = np.zeros_like({self.use(source)})", f"dE/d{source}, added to below")]
        for p in products:
            if p.selection():
                view, rows = f"{grad}{p.selection()}", len(p.positions)
                product = f"np.dot({p.stacked}, {self.use(p.weight)}).reshape(-1, {rows}, {rest})"
                math = f"dE/d{source}[k] += {p.weight}^T dE/d({p.weight} {source}[k])"
                steps = f"for k = {p.positions[0]}..{p.positions[-1]}, in place"
                lines.append(Line(f"np.add({view}, {product}, out={view})", f"{math} {steps}"))
        return lines

    def slot_line(self, target: str) -> Line:
        """dE/d``target`` as one stack along its first per-sample axis: slot k the sum of the
        adjoints of the slices ``target[k]`` (zeros where no slice was taken)."""
        slots = self.slots[target]
        node = self.graph.nodes[target]
        zeros = f"np.zeros_like({self.grad(next(iter(slots.values()))[0])})"
        parts = [" + ".join(self.grad(s) for s in slots[k]) if k in slots else zeros for k in range(node.shape[0])]
        axis = 1 if self.batched(target) else 0
        shown = ", ".join(" + ".join(f"dE/d{s}" for s in slots[k]) if k in slots else "0" for k in range(node.shape[0]))
        code = f"{self.grad(target)} = np.stack([{', '.join(parts)}], axis={axis})"
        rows = "".join(f"\n        {part}," for part in parts)  # one slot a line, if need be
        if axis == 1 and len(node.shape) > 1 and self.concatenated_rows:  # (batch, slots, ...), reshaped
            rest = ", ".join(str(n) for n in node.shape[1:])
            code = f"{self.grad(target)} = np.concatenate([{', '.join(parts)}], axis=1).reshape(-1, {node.shape[0]}, {rest})"
            if len(code) + 4 > Line.LIMIT:
                code = f"{self.grad(target)} = np.concatenate([{rows}\n    ], axis=1).reshape(-1, {node.shape[0]}, {rest})"
        elif len(code) + 4 > Line.LIMIT:
            code = f"{self.grad(target)} = np.stack([{rows}\n    ], axis={axis})"
        return Line(code, f"dE/d{target} = [{shown}]: slot k gets the adjoints of its slices {target}[k]")

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
        spelled = op.numpy_adjoint(step, self)
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
