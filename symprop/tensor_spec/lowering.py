"""Pass 2 of a graph spec: expression trees -> graph nodes, in dependency order, shapes checked."""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING, Any

import sympy as sp

from .. import naming, registry
from ..formula import FormulaError
from ..ops import (
    Activation,
    Dense,
    Elementwise,
    Gather,
    Index,
    Leaf,
    MatMul,
    Node,
    Reduce,
    ShapeRuleError,
    Transpose,
    arg_symbol,
    broadcast_shape,
)
from ..spec_reader import MAX_UNITS, substituting, too_many_elements
from .calls import ELEMENTWISE_FUNCTIONS, TENSOR_FUNCTIONS, CallLowering, operands
from .expressions import OPERATOR_SYMBOLS, TensorExpr, TensorReader

if TYPE_CHECKING:
    from .reader import GraphReader



# -- pass 2: trees -> graph nodes ----------------------------------------------------------


class Lowering(CallLowering):
    """Turns the parsed expressions into graph nodes, in dependency order, checking shapes."""

    def __init__(self, reader: GraphReader, inputs, targets, params, constants, functions, texts, kinds=None):
        """``kinds``: the discrete inputs, name -> (dtype, number of classes or None)."""
        self.reader = reader
        self.dtypes: dict[str, str] = {}
        self.inputs, self.targets, self.params = inputs, targets, params
        self.functions = functions
        self.texts = texts
        self.nodes: dict[str, Node] = {}
        self.batched: set[str] = set()
        self.target_dependent: set[str] = set()
        self.param_dependent: set[str] = set()
        self.taken = set(reader.declared) | {"E"}
        #: The lettered parts (``p_b``) and the spec's text of each (``where(tril(8), s, -1e9)``).
        self.parts: dict[str, str] = {}
        self.taken_arrays = set(reader.arrays)
        callables: dict[str, Any] = {name: None for name in (*TENSOR_FUNCTIONS, *registry.LOSSES)}
        callables.update({name: substituting(body) for name, body in functions.items()})  # f(0.3) folds
        for name in registry.ACTIVATIONS:
            callables[name] = registry.ACTIVATIONS[name].apply
        for name, function in ELEMENTWISE_FUNCTIONS.items():
            callables[name] = function
        self.callables = callables
        self.tensor_names = set(inputs) | set(targets) | set(params) | set(texts)
        self.constants = constants
        self.trees: dict[str, tuple[TensorExpr | sp.Expr, TensorReader]] = {}
        self.where = ""
        self.current: TensorReader | None = None
        kinds = kinds or {}
        for role, table in (("input", inputs), ("target", targets), ("param", params)):
            for name, shape in table.items():
                dtype, classes = kinds.get(name, ("float", None))
                self.add(Node(name, Leaf(role, dtype, classes), (), shape))

    def fail(self, message: str, where: str | None = None):
        self.reader.fail(where or self.where, message)

    # -- bookkeeping -------------------------------------------------------------------------

    def add(self, node: Node) -> str:
        self.nodes[node.name] = node
        self.dtypes[node.name] = node.op.dtype([self.dtypes[i] for i in node.inputs])
        role = node.op.role
        if role in ("input", "target") or any(i in self.batched for i in node.inputs):
            self.batched.add(node.name)
        if role == "target" or any(i in self.target_dependent for i in node.inputs):
            self.target_dependent.add(node.name)
        if role == "param" or any(i in self.param_dependent for i in node.inputs):
            self.param_dependent.add(node.name)
        return node.name

    def fresh(self, root: str) -> str:
        """The next free name for a part of node ``root``: root_a, root_b, ... (``naming.fresh_part_name``)."""
        return naming.fresh_part_name(root, self.taken, self.taken_arrays)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.nodes[name].shape

    # -- driving -----------------------------------------------------------------------------

    def parse(self, text: str, where: str) -> tuple[Any, TensorReader]:
        reader = TensorReader(text, self.tensor_names, self.constants, self.callables, self.reader.step_variables.get(where))
        try:
            return reader.read(), reader
        except FormulaError as exc:
            self.reader.fail(where, str(exc))

    def build(self, loss_text: str):
        for name, (where, text) in self.texts.items():
            self.trees[name] = self.parse(text, where)
        loss_tree = self.parse(loss_text, "loss")
        for name in self.order():
            self.node(name)
        self.where, self.current = "loss", loss_tree[1]
        tree = loss_tree[0]
        if isinstance(tree, TensorExpr) and tree.kind == "ref":
            loss = self.reference(tree)  # the loss is a node itself (CS231n's f)
            if loss not in self.texts:
                self.fail(f"the loss must be computed by a node or an expression, not the {self.nodes[loss].op.role} {loss}")
        else:
            loss = self.emit(tree, "E", root="E")
        if self.shape(loss):
            self.fail(f"the loss must be a scalar per sample, got shape {list(self.shape(loss))}; sum it, e.g. sum(...)")
        if loss not in self.param_dependent:
            self.fail("the loss does not depend on any parameter")
        if loss not in self.batched:
            self.fail("the loss does not depend on any input or target")
        self.check_used(loss)
        shown = {name: self.trees[name][1].normalised() for name in self.texts}
        return tuple(self.nodes.values()), loss, shown, loss_tree[1].normalised()

    def check_used(self, loss: str):
        used = {loss}
        for node in reversed(list(self.nodes.values())):
            if node.name in used:
                used.update(node.inputs)
        for name, (where, _) in self.texts.items():
            if name not in used:
                self.fail(f"node {name!r} is never used: the loss does not depend on it", where)
        for section, table in (("params", self.params), ("inputs", self.inputs), ("targets", self.targets)):
            for name in table:
                if name not in used:
                    what = {"params": "parameter", "inputs": "input", "targets": "target"}[section]
                    self.fail(f"{what} {name!r} is never used: the loss does not depend on it", f"{section}.{name}")

    def uses(self, name: str) -> list[str]:
        """The declared nodes that node ``name``'s expression refers to, left to right."""
        found, stack = [], [self.trees[name][0]]
        while stack:
            tree = stack.pop()
            if not isinstance(tree, TensorExpr):
                continue
            if tree.kind == "ref" and tree.name in self.texts and tree.name not in found:
                found.append(tree.name)
            stack.extend(reversed(tree.args))
        return found

    def order(self) -> list[str]:
        """The declared nodes, each after the nodes it uses (a depth-first walk from each node in
        the spec's order, with an explicit stack: an unrolled network may be thousands of nodes
        deep).  A cycle fails, naming it, at the node where it closes."""
        done: set[str] = set()
        order: list[str] = []
        for start in self.texts:
            path: list[str] = []  # the nodes being visited, outermost first
            pending = [(start, None)]  # per level: a node and its uses still to visit
            while pending:
                name, todo = pending[-1]
                if todo is None:
                    if name in done:
                        pending.pop()
                        continue
                    if name in path:
                        cycle = [*path[path.index(name) :], name]
                        if len(cycle) > 9:  # keep the message one readable line
                            cycle = [*cycle[:4], f"... ({len(cycle) - 8} more)", *cycle[-4:]]
                        self.fail(f"cycle: {' -> '.join(cycle)}", self.texts[name][0])
                    path.append(name)
                    todo = iter(self.uses(name))
                    pending[-1] = (name, todo)
                following = next(todo, None)
                if following is not None:
                    pending.append((following, None))
                    continue
                pending.pop()
                path.pop()
                done.add(name)
                order.append(name)
        return order

    def node(self, name: str) -> str:
        """Build declared node ``name``, once the nodes it uses are built (see ``order``)."""
        if name in self.nodes:
            return name
        saved = self.where, self.current
        tree, reader = self.trees[name]
        self.where, self.current = self.texts[name][0], reader
        if not isinstance(tree, TensorExpr):
            self.fail(f"the expression is the constant {tree}; a node must depend on an input or a parameter")
        value = self.reference(tree) if tree.kind == "ref" else self.emit(tree, name, root=name)
        if value != name:  # the node is another one under a new name (r: h, or v.T of a vector)
            shape = self.shape(value)
            self.add(Node(name, Elementwise(arg_symbol(0), (shape,), "="), (value,), shape))
        self.where, self.current = saved
        return name

    def reference(self, tree: TensorExpr) -> str:
        if tree.name in self.texts:
            return self.node(tree.name)
        return tree.name

    # -- expressions -------------------------------------------------------------------------

    def value(self, tree, root: str) -> str | sp.Expr:
        """A sub-expression: the name of its node, or a SymPy number."""
        if not isinstance(tree, TensorExpr):
            return tree
        if tree.kind == "ref":
            return self.reference(tree)
        cached = getattr(tree, "_built", None)
        if cached is not None:
            return cached
        result = self.emit(tree, None, root=root)
        tree._built = result
        return result

    def text(self, tree) -> str:
        if isinstance(tree, TensorExpr):
            return self.current.segment(tree.node)
        return str(tree)

    def at(self, tree: TensorExpr) -> str:
        return self.current.position(tree.node)

    def new(self, name: str | None, root: str, op, inputs: tuple[str, ...], shape, tree: TensorExpr | None = None) -> str:
        self.check_dtypes(op, inputs, tree)
        if math.prod(shape) > MAX_UNITS:  # einsum("i,j,k->ijk", x, x, x) of a small x
            label = name if name is not None else repr(self.text(tree)) if tree is not None else f"a part of {root}"
            self.fail(too_many_elements(label, tuple(shape)))
        if name is None:
            name = self.fresh(root)
            if tree is not None:
                self.parts[name] = self.text(tree)
        return self.add(Node(name, op, inputs, tuple(shape)))

    def check_dtypes(self, op, inputs: tuple[str, ...], tree: TensorExpr | None) -> None:
        """Integer inputs only index tables and boolean masks only choose (``op.discrete_inputs``);
        every other use of them is refused, naming the input and what it is for."""
        at = f" (at {self.at(tree)})" if tree is not None else ""
        for position, name in enumerate(inputs):
            dtype = self.dtypes[name]
            if position in op.discrete_inputs or (op.moves_elements and position == 0):
                continue
            if dtype == "int":
                self.fail(f"{name} holds integers{at}; an integer tensor can only index a table (Emb[{name}]) or be sliced")
            if dtype == "bool":
                self.fail(f"{name} is a boolean mask{at}; a mask can only choose between values: where({name}, a, b)")

    def emit(self, tree: TensorExpr, name: str | None, root: str) -> str:
        """Build the op of ``tree`` (its arguments first) as a node called ``name`` (or a fresh part name)."""
        kind = tree.kind
        if kind in ("add", "sub", "mul", "div", "pow", "neg"):
            if kind == "add":
                dense = self.dense(tree, name, root)
                if dense is not None:
                    return dense
            return self.elementwise(tree, name, root)
        if kind == "matmul":
            return self.matmul(tree, name, root)
        if kind == "T":
            operand = self.tensor(tree.args[0], root, "'.T'")
            shape = self.shape(operand)
            if len(shape) < 2:
                return operand  # a vector's transpose is itself, as in NumPy
            return self.new(name, root, Transpose.of(tuple(reversed(range(len(shape))))), (operand,), shape[::-1], tree)
        if kind == "call":
            return self.call(tree, name, root)
        if kind == "index":
            return self.index(tree, name, root)
        raise AssertionError(kind)

    def index(self, tree: TensorExpr, name: str | None, root: str) -> str:
        """``x[0]``, ``x[:, 0:4]`` (an ``Index``) or ``E[ids]`` (a ``Gather``)."""
        operand = self.tensor(tree.args[0], root, "indexing")
        items = tree.keywords["items"]
        indices = [self.tensor(arg, root, "an index") for arg in tree.args[1:]]
        text = self.text(tree.args[0])
        try:
            if indices:
                if len(items) != 1:
                    raise ShapeRuleError(f"a table is indexed by one integer tensor alone, e.g. {text}[ids]")
                ids = indices[0]
                if self.dtypes[ids] != "int":
                    raise ShapeRuleError(
                        f"{self.text(tree.args[1])} is a {self.dtypes[ids]} tensor; an index must be an integer input "
                        "(declared with dtype: int)"
                    )
                if operand in self.batched:
                    raise ShapeRuleError(
                        f"{text} varies by sample; only a table that does not (a parameter) can be indexed by a tensor"
                    )
                op, shape = Gather.from_shapes(self.shape(operand), self.shape(ids), text, self.nodes[ids].op)
                return self.new(name, root, op, (operand, ids), shape, tree)
            op, shape = Index.from_items(self.shape(operand), items, text)
        except ShapeRuleError as exc:
            self.fail(f"indexing at {self.at(tree)}: {exc}")
        return self.new(name, root, op, (operand,), shape, tree)

    def tensor(self, tree, root: str, construct: str) -> str:
        value = self.value(tree, root)
        if not isinstance(value, str):
            self.fail(f"{construct} needs a tensor, got the number {value}")
        return value

    def elementwise(self, tree: TensorExpr, name: str | None, root: str) -> str:
        kind = tree.kind
        values = [self.value(arg, root) for arg in tree.args]
        inputs, symbols = operands(values)
        if kind == "neg":
            expr = -symbols[0]
        else:
            left, right = symbols
            expr = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv, "pow": operator.pow}[
                kind
            ](left, right)
        shapes = tuple(self.shape(i) for i in inputs)
        shape = broadcast_shape(*shapes) if shapes else ()
        if kind != "neg":
            self.check_row_broadcast(tree, values, shape)
        if shape is None:
            (left, right) = tree.args
            self.fail(
                f"shape mismatch in '{OPERATOR_SYMBOLS[kind]}' at {self.at(tree)}: {self.text(left)} has shape "
                f"{list(self.shape(values[0]))}, {self.text(right)} has shape {list(self.shape(values[1]))}"
                + self.leading_axes_hint(tree.args, [self.shape(v) for v in values])
            )
        label = "-" if kind == "neg" else OPERATOR_SYMBOLS[kind]
        return self.new(name, root, Elementwise(expr, shapes, label), inputs, shape, tree)

    def leading_axes_hint(self, trees, shapes) -> str:
        """For a tensor that matches the leading axes of the other (g [3] with e [3, 4], an
        expert's weight per row): broadcasting lines up the last axes, and the reshape that fits."""
        (short, short_shape), (_, long_shape) = sorted(zip(trees, shapes), key=lambda pair: len(pair[1]))
        extra = len(long_shape) - len(short_shape)
        if not short_shape or extra == 0 or long_shape[: len(short_shape)] != short_shape:
            return ""
        fit = list(short_shape) + [1] * extra
        return (
            f"; broadcasting lines up the last axes, as in NumPy: to pair {self.text(short)} with the leading axes, "
            f"write reshape({self.text(short)}, {fit})"
        )

    def source_of(self, name: str) -> str:
        """``name`` followed back through elementwise functions of it alone (1 / s, sqrt(s), -s, renames)."""
        node = self.nodes[name]
        while isinstance(node.op, (Elementwise, Activation)) and len(node.inputs) == 1:
            node = self.nodes[node.inputs[0]]
        return node.name

    def row_values(self, name: str) -> str | None:
        """The matrix M when ``name`` is one value per row of M (``sum(M, axis=1)``, ``mean(M, axis=1)``,
        or an elementwise function of it alone)."""
        node = self.nodes[self.source_of(name)]
        if isinstance(node.op, Reduce) and len(node.op.shape_in) == 2 and node.op.axes == (1,) and not node.op.keepdims:
            return node.inputs[0]
        return None

    def check_row_broadcast(self, tree: TensorExpr, values: list, shape) -> None:
        """Refuse per-row values of a matrix M (a reduction over axis=1) combined elementwise with M
        (or a function of it): NumPy's broadcasting lines a vector up with the LAST axis, so
        ``e / sum(e, axis=1)`` divides column j by the total of row j, silently wrong on a square
        matrix (a bare shape mismatch otherwise, which gets the same hint).  The message gives the
        transpose that means "row by row"; a vector of column totals (axis=0) lines up as meant."""
        if len(values) != 2 or not all(isinstance(v, str) for v in values):
            return
        for position, (vector, matrix) in enumerate((values, values[::-1])):
            origin = self.row_values(vector)
            if origin is None or len(self.shape(matrix)) != 2:
                continue
            if shape is not None and self.source_of(matrix) != self.source_of(origin):
                continue  # another matrix: combining with its columns may well be meant
            symbol = OPERATOR_SYMBOLS[tree.kind]
            left, right = tree.args
            v_text, m_text = (self.text(left), self.text(right)) if position == 0 else (self.text(right), self.text(left))
            m_t = f"{m_text}.T" if m_text.isidentifier() else f"({m_text}).T"
            fixed = f"({v_text} {symbol} {m_t}).T" if position == 0 else f"({m_t} {symbol} {v_text}).T"
            what = "is combined with its columns, not its rows" if shape is not None else "does not line up with it"
            self.fail(
                f"ambiguous broadcast in '{symbol}' at {self.at(tree)}: {v_text} has shape {list(self.shape(vector))} "
                f"(one value per row of a {list(self.shape(origin))} tensor) and {m_text} has shape "
                f"{list(self.shape(matrix))}; a vector broadcasts along the last axis, so it {what}. "
                f"To combine row i with value i, write {fixed}, or keep the reduced axis (keepdims=1: a column of "
                f"shape {[self.shape(origin)[0], 1]})"
            )

    def dense(self, tree: TensorExpr, name: str | None, root: str) -> str | None:
        """``W @ v + b`` (either order) with parameters W (matrix) and b (vector) and a batched
        vector v: one dense node, as in a layer stack."""
        for product, bias in (tree.args, tree.args[::-1]):
            if not (isinstance(product, TensorExpr) and product.kind == "matmul" and isinstance(bias, TensorExpr)):
                continue
            if bias.kind != "ref" or bias.name not in self.params:
                continue
            weight = product.args[0]
            if weight.kind != "ref" or weight.name not in self.params or len(self.params[weight.name]) != 2:
                continue
            rows, cols = self.params[weight.name]
            if self.params[bias.name] != (rows,):
                continue
            data = self.value(product.args[1], root)
            if isinstance(data, str) and data in self.batched and self.shape(data) == (cols,):
                return self.new(name, root, Dense(), (weight.name, data, bias.name), (rows,), tree)
        return None

    def matmul(self, tree: TensorExpr, name: str | None, root: str) -> str:
        left = self.tensor(tree.args[0], root, "'@'")
        right = self.tensor(tree.args[1], root, "'@'")
        a, b = self.shape(left), self.shape(right)
        if len(a) == 1 and len(b) == 1 and tree.args[1].kind == "T":
            u, v = self.text(tree.args[0]), self.text(tree.args[1].args[0])
            self.fail(
                f"'@' at {self.at(tree)}: {u} @ {v}.T of two vectors would be their dot product (a vector's .T is "
                f"itself, as in NumPy), not the outer product {u} {v}^T; write einsum(\"i,j->ij\", {u}, {v}) for the "
                f"outer product, or {u} @ {v} for the dot product"
            )
        shape = MatMul.result_shape(a, b)
        if shape is None:
            if not a or not b:
                detail = "a scalar cannot be multiplied with '@' (use '*')"
            elif a[-1] != (b[0] if len(b) == 1 else b[-2]):
                detail = "the inner sizes differ"
            else:
                detail = "the leading axes do not broadcast"
            self.fail(
                f"shape mismatch in '@' at {self.at(tree)}: {self.text(tree.args[0])} has shape {list(a)}, "
                f"{self.text(tree.args[1])} has shape {list(b)} ({detail})"
            )
        if left in self.params and len(a) == 2 and right in self.batched and len(b) == 1:
            return self.new(name, root, Dense(), (left, right), shape, tree)
        return self.new(name, root, MatMul(a, b), (left, right), shape, tree)
