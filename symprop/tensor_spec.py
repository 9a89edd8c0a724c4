"""Graph specs: networks written as named tensor expressions -> ``GraphNetwork`` -> ``Graph``.

A layer stack covers the tutorials; a graph spec says what any other network computes::

    name: residual_block
    inputs: {x: 4}
    targets: {t: 3}
    params: {W1: [8, 4], b1: [8], W2: [4, 8], W3: [3, 4]}
    nodes:
      h: tanh(W1 @ x + b1)
      r: x + W2 @ h                # skip connection
      y: softmax(W3 @ r)
    loss: cross_entropy(y, t) + 0.001 * sum(W1 * W1)

Expressions are per sample, as in the tutorials: an input of size n is a column vector
``(n,)``; ``inputs``/``targets`` give a size or a shape list (``[]`` for a scalar), ``params``
a shape list (or a size for a vector), or ``{shape: ..., init: ...}`` with one of ``INITS``
(the default: ``_default_init``).  The generated module runs them on batches (X of
shape (batch, n); with several inputs or targets, dicts of such arrays keyed by name).
The batch loss is the mean over samples of ``loss``, which must be a scalar per sample.

The language: numbers, names (inputs, targets, params, nodes, ``constants``), ``@`` (NumPy's
matmul rules on per-sample shapes: matrix @ vector, vector @ vector is the dot product),
elementwise ``+ - * /`` with NumPy broadcasting (scalars, and a vector against the rows of a
matrix, lined up with its last axis; per-row values of a matrix against that matrix are
refused as ambiguous: ``_Builder.check_row_broadcast``), ``**`` (and ``^``) to a constant,
``.T`` (the transpose; a vector's is itself, as in NumPy), every registered activation
(``leaky_relu(h, alpha=0.2)``) and ``functions`` entry, ``exp log sqrt abs sinh cosh sin cos
erf sign step log1p expm1 max min``, ``softmax`` and ``logsumexp`` (of a vector), ``sum`` and ``mean`` (whole
tensor, or ``axis=k`` of the per-sample tensor), ``concat(a, b, ...)`` of vectors, and the
registered losses as functions of (output, target): ``cross_entropy(y, t)``, ``half_sse(y,
t)``, ``mse``, ``mae``, ``huber(y, t, delta=1)``, ``binary_cross_entropy``. Anything else is
a ``SpecError`` naming the node and the construct. Text is parsed by a whitelisting AST
reader (``symprop.formula``), never ``eval``/``sympify``.

A node may be repeated: ``h{k}: {for: k in 2..5, value: "tanh(Wx @ x{k} + Wh @ h{k-1} + bh)"}``
defines h2 ... h5 (``{k}``, ``{k-1}``, ``{k+1}`` are replaced by numbers in the name and the
expression); inputs, targets and params accept the same form (``x{k}: {for: k in 1..5,
value: 3}``).  That is how an unrolled RNN shares its weights across steps.

Lowering (the second pass) makes every operation one graph node, named after the node
it belongs to (``h1``, ``h2``, ... for the parts of ``h``; ``E1``, ... for the loss), as
in the computational graphs of CS231n; a matrix parameter times a batched vector, plus
optionally a vector parameter (``W @ x + b``), is one dense node as in a layer stack, so a
layer stack written as a graph spec gives the same graph.  Shared parameters and reused
nodes are simply several uses of one node: their gradient contributions add up.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from . import naming, registry
from .errors import did_you_mean
from .formula import FormulaError, FormulaReader
from .graph import Graph
from .ops import (
    OPS,
    Activation,
    Dense,
    Elementwise,
    Leaf,
    Loss,
    MatMul,
    Node,
    Reduce,
    ShapeRuleError,
    Transpose,
    arg_symbol,
    broadcast_shape,
)
from .spec import INITS, MATH_FUNCTIONS, ActivationChoice, FieldReader, LossChoice, ParamInit, flatten, kind_of, substituting

TOP_LEVEL_FIELDS = {"name", "inputs", "targets", "params", "nodes", "loss", "output", "constants", "functions", "example"}
#: Functions of the tensor language besides activations, math functions and losses.
#: The language's names of the tensor ops (``softmax``, ``sum``, ...): each op declares its own.
CALLS = {name: op for op in OPS for name in op.CALL_NAMES}
TENSOR_FUNCTIONS = tuple(CALLS)
#: Elementwise math functions (``tanh`` is a registered activation and counts as one).
ELEMENTWISE_FUNCTIONS = {name: f for name, f in MATH_FUNCTIONS.items() if name not in registry.ACTIVATIONS}
#: Generated-module names no node array may take (see ``_check_array_names``).
MAX_RANK = 2
MAX_REPEAT = 1000
#: Most names of inputs, targets, params and nodes together, repeats expanded (a few
#: hundred ``h{k}: {for: k in 1..1000}`` lines would otherwise declare millions).
MAX_NAMES = 5000
_REPEAT = re.compile(r"^\s*([A-Za-z]\w*)\s+in\s+(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
_ELEMENT_LIKE = re.compile(r"_\d+$")


# -- the result ------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphExample:
    """Concrete numbers for a worked example: one sample of every input and target, and
    every parameter (nested lists as in the spec)."""

    inputs: dict[str, Any]
    targets: dict[str, Any]
    params: dict[str, Any]
    learning_rate: float | None = None

    @property
    def x(self) -> tuple[float, ...]:
        """The single input, flattened (as ``Example.x`` of a layer stack)."""
        return _single(self.inputs, "input")

    @property
    def t(self) -> tuple[float, ...]:
        return _single(self.targets, "target")


def _single(values: dict[str, Any], what: str) -> tuple[float, ...]:
    if len(values) != 1:
        raise AttributeError(f"the example has {len(values)} {what}s; use .{what}s[name]")
    return tuple(flatten(next(iter(values.values()))))


@dataclass(frozen=True, eq=False)
class GraphNetwork:
    """A validated graph spec; ``to_graph()`` gives the graph the Derivation works on.

    ``inputs``, ``targets`` and ``params`` map names to per-sample shapes (parameters: their
    full shape); ``nodes`` maps each declared node to its expression as understood (one line,
    normalised); ``output`` is the node ``forward()`` returns.
    """

    name: str
    inputs: dict[str, tuple[int, ...]]
    targets: dict[str, tuple[int, ...]]
    params: dict[str, tuple[int, ...]]
    nodes: dict[str, str]
    loss_text: str
    output: str
    constants: dict[str, sp.Expr] = field(default_factory=dict)
    functions: dict[str, sp.Expr] = field(default_factory=dict)
    example: GraphExample | None = None
    source: str = "<python>"
    graph_nodes: tuple[Node, ...] = ()
    loss_node: str = "E"
    array_names: dict[str, str] = field(default_factory=dict)
    param_inits: dict[str, ParamInit] = field(default_factory=dict)

    kind = "graph"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self.params)

    def to_graph(self) -> Graph:
        """A fresh ``Graph`` of this spec (the nodes are immutable; the graph caches)."""
        nodes = {n.name: n for n in self.graph_nodes}
        return Graph(nodes, self.loss_node, output=self.output, input_adjoints=True, array_names=dict(self.array_names))

    @property
    def summary(self) -> str:
        def shapes(table):
            return ", ".join(f"{n} {_shape_text(s)}" for n, s in table.items()) or "none"

        return (
            f"graph of {sum(1 for n in self.graph_nodes if n.op.role == 'op')} ops; inputs {shapes(self.inputs)}; "
            f"targets {shapes(self.targets)}; parameters {shapes(self.params)}; "
            f"loss {self.loss_text}, averaged over the batch"
        )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(scalar)" if not shape else "(" + " x ".join(map(str, shape)) + ")"


def read_graph_spec(data: Any, source: str = "<python>") -> GraphNetwork:
    """Validate a graph spec given as plain data (parsed YAML or a dict built in Python)."""
    return GraphReader(source).network(data)


# -- pass 1: text -> expression trees ----------------------------------------------------


@dataclass(eq=False)
class _Expr:
    """A parsed tensor expression: an operation ``kind`` on ``args`` (trees, names or numbers)."""

    kind: str  # 'ref', 'add', 'sub', 'mul', 'div', 'pow', 'neg', 'matmul', 'T', 'call'
    node: ast.AST
    args: tuple = ()
    name: str = ""  # the referenced name ('ref') or the called function ('call')
    keywords: dict = field(default_factory=dict)


_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow", ast.MatMult: "matmul"}
_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "matmul": "@"}


class TensorReader(FormulaReader):
    """Reads one expression into an ``_Expr`` tree; numbers are folded into SymPy numbers.

    ``tensors`` are the names that stand for tensors (resolved in pass 2, so nodes may be used
    before they are defined and cycles are found there), ``constants`` the spec's constants,
    ``callables`` the function names of the language.
    """

    BINARY_OPERATORS = {**FormulaReader.BINARY_OPERATORS, ast.MatMult: operator.matmul}

    def __init__(self, text: str, tensors: set[str], constants: dict[str, sp.Expr], callables: dict[str, Any]):
        super().__init__(text, constants, callables)
        self.tensors = tensors

    def visit_Name(self, node: ast.Name) -> Any:
        self._check_name(node)
        if node.id in self.tensors:
            return _Expr("ref", node, name=node.id)
        return super().visit_Name(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        self._operator(node, node.op, self.BINARY_OPERATORS)  # rejects %, //, ...
        kind = _BINARY[type(node.op)]
        left, right = self.visit(node.left), self.visit(node.right)
        if kind == "pow" and isinstance(right, _Expr):
            raise self.error(node.right, "the exponent of '**' must be a constant")
        if kind != "matmul" and not isinstance(left, _Expr) and not isinstance(right, _Expr):
            return super().visit_BinOp(node)  # numbers only: fold, with the reader's safety checks
        if kind == "matmul" and not (isinstance(left, _Expr) and isinstance(right, _Expr)):
            raise self.error(node, "'@' needs a tensor on both sides", "use '*' to scale by a number")
        return _Expr(kind, node, (left, right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        self._operator(node, node.op, self.UNARY_OPERATORS)
        operand = self.visit(node.operand)
        if not isinstance(operand, _Expr):
            return super().visit_UnaryOp(node)
        return operand if isinstance(node.op, ast.UAdd) else _Expr("neg", node, (operand,))

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        if node.attr != "T":
            raise self.error(node, f"attribute '.{node.attr}' is not allowed", "the only attribute is .T, the transpose")
        value = self.visit(node.value)
        if not isinstance(value, _Expr):
            raise self.error(node, "a number has no transpose")
        return _Expr("T", node, (value,))

    def visit_Call(self, node: ast.Call) -> Any:
        name = self._function_name(node.func)
        args = tuple(self.visit(arg) for arg in node.args)
        keywords = self.read_keywords(node)
        if not any(isinstance(a, _Expr) for a in args) and name in self.functions and callable(self.functions[name]):
            # A function of numbers only (exp(1), sigmoid(0)): fold it, as a formula would.
            return super().visit_Call(node)
        return _Expr("call", node, args, name, keywords)

    def read_keywords(self, node: ast.Call) -> dict[str, Any]:
        keywords = {}
        for item in node.keywords:
            if item.arg is None:
                raise self.error(item, "'**' unpacking is not allowed")
            value = self.visit(item.value)
            if isinstance(value, _Expr):
                raise self.error(item.value, f"the value of {item.arg}= must be a number")
            keywords[item.arg] = value
        return keywords

    def _check_value(self, node: ast.AST, value: Any) -> None:
        if not isinstance(value, _Expr):
            super()._check_value(node, value)

    def _check_small_numbers(self, node: ast.AST, value: Any, where: str) -> None:
        if not isinstance(value, _Expr):
            super()._check_small_numbers(node, value, where)

    def known_variables(self) -> list[str]:
        return sorted({*self.tensors, *self.symbols})

    def segment(self, node: ast.AST) -> str:
        """The text of a sub-expression (for messages), on one line."""
        return ast.unparse(node)

    def position(self, node: ast.AST) -> str:
        """'column N' (or 'line L, column N') of a sub-expression in the user's text; for a
        binary operation, of its operator."""
        lineno, offset = node.lineno, node.col_offset
        if isinstance(node, ast.BinOp):
            lineno, offset = node.left.end_lineno, node.left.end_col_offset
            line = self.source.split("\n")[lineno - 1].encode()
            while offset < len(line) and line[offset : offset + 1] in (b" ", b")", b"\t"):
                offset += 1
        line = self.source.split("\n")[lineno - 1]
        column = len(line.encode()[:offset].decode(errors="replace"))
        return self._where(lineno, column)

    def normalised(self) -> str:
        """The expression as understood, on one line (comments and line breaks dropped)."""
        return ast.unparse(ast.parse(self.source, mode="eval"))


# -- the reader ----------------------------------------------------------------------------


class GraphReader(FieldReader):
    """Validates a graph spec; every check raises a ``SpecError`` naming the field (``nodes.r``)."""

    def network(self, data: Any) -> GraphNetwork:
        if not isinstance(data, dict):
            self.fail("spec", f"expected a mapping of fields ({', '.join(sorted(TOP_LEVEL_FIELDS))}), got {kind_of(data)}")
        unknown = sorted(set(map(str, data)) - TOP_LEVEL_FIELDS)
        hint = " (a graph spec has inputs and nodes, not input and layers)" if unknown[:1] in (["input"], ["layers"]) else ""
        self.known_fields(data, TOP_LEVEL_FIELDS, "", hint)
        for required in ("name", "inputs", "params", "nodes", "loss"):
            if required not in data:
                self.fail(required, "missing; a graph spec needs name, inputs, params, nodes and loss")
        name = self.module_name(data["name"], "name")
        constants = self.constants(data.get("constants") or {})
        functions = self.functions(data.get("functions") or {}, constants)
        self.declared: dict[str, str] = {}  # every name -> the field that declares it
        self.names_left = MAX_NAMES
        for key in constants:
            self.declared[key] = f"constants.{key}"
        for key in functions:
            self.declared[key] = f"functions.{key}"
        inputs = self.leaves(data["inputs"], "inputs", required=True)
        targets = self.leaves(data.get("targets") or {}, "targets")
        params, inits = self.param_leaves(data["params"])
        texts = self.node_texts(data["nodes"])
        if not isinstance(data["loss"], str):
            self.fail("loss", f"expected the loss as an expression, e.g. half_sse(y, t); got {kind_of(data['loss'])}")
        self.check_array_names(inputs, targets, params, texts)
        builder = _Builder(self, inputs, targets, params, constants, functions, texts)
        graph_nodes, loss_node, shown, loss_text = builder.build(data["loss"])
        output = self.output(data.get("output"), builder, texts)
        fields = dict(
            name=name,
            inputs=inputs,
            targets=targets,
            params=params,
            nodes=shown,
            loss_text=loss_text,
            output=output,
            constants=constants,
            functions=functions,
            source=self.source,
            graph_nodes=graph_nodes,
            loss_node=loss_node,
            array_names=self.array_names,
            param_inits=_param_inits(params, inits, graph_nodes),
        )
        network = GraphNetwork(**fields)
        if data.get("example") is not None:
            network = GraphNetwork(**fields, example=self.graph_example(data["example"], network))
        return network

    # -- declarations ----------------------------------------------------------------------

    def repeated(self, data: dict, section: str) -> list[tuple[str, str, Any]]:
        """(name, field, value) of a section, with ``name{k}: {for: k in a..b, value: v}`` expanded."""
        items = []
        for key, value in data.items():
            where = f"{section}.{key}"
            if isinstance(key, str) and "{" in key:
                if not isinstance(value, dict) or set(value) != {"for", "value"}:
                    self.fail(where, "a name with {k} repeats: expected {for: k in 1..5, value: ...}")
                match = _REPEAT.match(str(value["for"]))
                if not match:
                    self.fail(f"{where}.for", f"expected 'k in FIRST..LAST' (whole numbers), got {value['for']!r}")
                variable, first, last = match.group(1), int(match.group(2)), int(match.group(3))
                if last < first or last - first >= MAX_REPEAT:
                    self.fail(f"{where}.for", f"expected FIRST <= LAST and at most {MAX_REPEAT} steps, got {first}..{last}")
                self.count_names(last - first + 1, where)
                for k in range(first, last + 1):
                    name = self.substitute(key, variable, k, where)
                    body = value["value"]
                    if isinstance(body, str):
                        body = self.substitute(body, variable, k, f"{where}.value")
                    items.append((name, f"{section}.{name}", body))
            else:
                self.count_names(1, where)
                items.append((key, where, value))
        return items

    def count_names(self, count: int, where: str):
        self.names_left -= count
        if self.names_left < 0:
            self.fail(where, f"more than {MAX_NAMES} names in inputs, targets, params and nodes together")

    def substitute(self, text: str, variable: str, k: int, where: str) -> str:
        def replace(match: re.Match) -> str:
            name, sign, amount = match.group(1), match.group(2), match.group(3)
            if name != variable:
                self.fail(where, f"{match.group(0)} uses {name!r}; only {{{variable}}} and {{{variable}+-n}} are replaced")
            offset = int(amount) if amount else 0
            return str(k + offset if sign != "-" else k - offset)

        result = re.sub(r"\{\s*([A-Za-z]\w*)\s*(?:([+-])\s*(\d+))?\s*\}", replace, text)
        if "{" in result or "}" in result:
            self.fail(where, "only {k}, {k+n} and {k-n} may stand in braces")
        return result

    def declare(self, name: Any, where: str) -> str:
        name = self.identifier(name, where)
        if name == "E":
            self.fail(where, "'E' names the loss; choose another name")
        if name in self.declared:
            self.fail(where, f"{name!r} is already declared at {self.declared[name]}")
        if name in registry.ACTIVATIONS or name in MATH_FUNCTIONS or name in registry.LOSSES or name in TENSOR_FUNCTIONS:
            self.fail(where, f"{name!r} is a function of the expression language; choose another name")
        if _ELEMENT_LIKE.search(name):
            self.fail(where, f"{name!r} ends in _<digits>, which names elements (x_1 is element 1 of x); choose another name")
        self.declared[name] = where
        return name

    def leaves(self, data: Any, section: str, required: bool = False) -> dict:
        if not isinstance(data, dict):
            self.fail(section, f"expected a mapping of name: size or shape, got {kind_of(data)}")
        if required and not data:
            self.fail(section, "expected at least one entry")
        shapes = {}
        for name, where, value in self.repeated(data, section):
            name = self.declare(name, where)
            shapes[name] = self.shape(value, where)
        return shapes

    def param_leaves(self, data: Any) -> tuple[dict[str, tuple[int, ...]], dict[str, ParamInit]]:
        """``params``: name -> shape, and the initialisers given (``W: {shape: [8, 4], init: normal}``;
        the short form ``W: [8, 4]`` takes the default, see ``_default_init``)."""
        if not isinstance(data, dict):
            self.fail("params", f"expected a mapping of name: shape or {{shape: ..., init: ...}}, got {kind_of(data)}")
        if not data:
            self.fail("params", "expected at least one entry")
        shapes, inits = {}, {}
        for name, where, value in self.repeated(data, "params"):
            name = self.declare(name, where)
            if isinstance(value, dict):
                shapes[name], init = self.param_entry(value, where)
                if init is not None:
                    inits[name] = init
            else:
                shapes[name] = self.shape(value, where)
        return shapes, inits

    def param_entry(self, value: dict, where: str) -> tuple[tuple[int, ...], ParamInit | None]:
        """One ``{shape: ..., init: ..., <its arguments>}`` entry of ``params``."""
        if "shape" not in value:
            self.fail(where, "expected {shape: [rows, columns], init: ...}; the shape is missing")
        kind = value.get("init")
        if kind is not None and kind not in INITS:
            self.fail(f"{where}.init", f"expected one of {', '.join(INITS)}, got {kind!r}")
        allowed = {"shape", "init", *INITS.get(kind, {})}
        unknown = sorted(map(str, set(value) - allowed))
        if unknown:
            takes = ", ".join(INITS.get(kind, {})) or "no arguments"
            what = f"init {kind} takes {takes}" if kind else "an argument needs an init"
            self.fail(f"{where}.{unknown[0]}", f"unknown field ({what}); expected shape, init and its arguments")
        shape = self.shape(value["shape"], f"{where}.shape")
        if kind is None:
            return shape, None
        args = {key: float(self.number(value.get(key, default), f"{where}.{key}")) for key, default in INITS[kind].items()}
        if kind == "normal" and args["std"] <= 0:
            self.fail(f"{where}.std", f"expected a positive standard deviation, got {args['std']!r}")
        if kind == "uniform" and not args["low"] < args["high"]:
            self.fail(f"{where}.high", f"expected low < high, got low {args['low']!r}, high {args['high']!r}")
        return shape, ParamInit(kind, args)

    def shape(self, value: Any, where: str) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            return (self.positive_int(value, where),)
        if not isinstance(value, list):
            self.fail(where, f"expected a size (4) or a shape list ([8, 4], [] for a scalar), got {kind_of(value)}")
        if len(value) > MAX_RANK:
            self.fail(where, f"expected at most {MAX_RANK} dimensions, got {len(value)}")
        return tuple(self.positive_int(n, f"{where}[{i}]") for i, n in enumerate(value))

    def node_texts(self, data: Any) -> dict[str, tuple[str, str]]:
        """name -> (field, expression text), in the spec's order."""
        if not isinstance(data, dict) or not data:
            self.fail("nodes", f"expected a non-empty mapping of name: expression, got {kind_of(data)}")
        texts = {}
        for name, where, value in self.repeated(data, "nodes"):
            name = self.declare(name, where)
            if not isinstance(value, str):
                self.fail(where, f"expected an expression as a string, e.g. tanh(W @ x + b); got {kind_of(value)}")
            texts[name] = (where, value)
        return texts

    def check_array_names(self, inputs, targets, params, texts):
        """Names become variables of the generated module (``x`` -> ``X``, ``W`` -> ``W``, its
        adjoint ``dX``): where that variable is taken (``T`` holds the targets, ``h`` and ``H``
        would clash), the array gets a trailing ``_`` (node ``t`` -> ``T_``).  Sets
        ``self.array_names`` (the exceptions) and ``self.arrays`` (every variable taken)."""
        single = {}
        if len(inputs) == 1:
            single[next(iter(inputs))] = "X"
        if len(targets) == 1:
            single[next(iter(targets))] = "T"
        declared = [name for name, where in self.declared.items() if not where.startswith(("constants.", "functions."))]
        names = [(name, name in params) for name in declared]
        self.array_names, self.arrays = naming.module_arrays(names, single)

    def output(self, data: Any, builder: _Builder, texts) -> str:
        if data is not None:
            if not isinstance(data, str) or data not in texts:
                self.fail("output", f"expected the name of a node ({', '.join(texts)}), got {data!r}{did_you_mean(data, texts)}")
            if data in builder.target_dependent:
                self.fail("output", f"{data} depends on a target; forward() computes from the inputs alone")
            chosen = data
        else:
            free = [n for n in texts if n not in builder.target_dependent]
            if not free:
                self.fail("nodes", "every node depends on a target; forward() needs a node computed from the inputs alone")
            chosen = free[-1]
        if chosen not in builder.batched:
            self.fail("output" if data is not None else texts[chosen][0], f"{chosen} does not depend on any input")
        return chosen

    def graph_example(self, data: Any, network: GraphNetwork) -> GraphExample:
        if not isinstance(data, dict):
            self.fail("example", f"expected a mapping of input and target values, params and learning_rate, got {kind_of(data)}")
        self.known_fields(data, {*network.inputs, *network.targets, "params", "learning_rate"}, "example.")
        values = {}
        for name, shape in {**network.inputs, **network.targets}.items():
            if name not in data:
                self.fail(f"example.{name}", f"missing; expected a value of shape {list(shape)}")
            self.array(data[name], f"example.{name}", shape)
            values[name] = data[name]
        params, rate = self.example_params(data, network.params)
        return GraphExample(
            {n: values[n] for n in network.inputs},
            {n: values[n] for n in network.targets},
            params,
            rate,
        )


# -- pass 2: trees -> graph nodes ----------------------------------------------------------


class _Builder:
    """Turns the parsed expressions into graph nodes, in dependency order, checking shapes."""

    def __init__(self, reader: GraphReader, inputs, targets, params, constants, functions, texts):
        self.reader = reader
        self.inputs, self.targets, self.params = inputs, targets, params
        self.functions = functions
        self.texts = texts
        self.nodes: dict[str, Node] = {}
        self.batched: set[str] = set()
        self.target_dependent: set[str] = set()
        self.param_dependent: set[str] = set()
        self.taken = set(reader.declared) | {"E"}
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
        self.trees: dict[str, tuple[_Expr | sp.Expr, TensorReader]] = {}
        self.where = ""
        self.current: TensorReader | None = None
        for role, table in (("input", inputs), ("target", targets), ("param", params)):
            for name, shape in table.items():
                self.add(Node(name, Leaf(role), (), shape))

    def fail(self, message: str, where: str | None = None):
        self.reader.fail(where or self.where, message)

    # -- bookkeeping -------------------------------------------------------------------------

    def add(self, node: Node) -> str:
        self.nodes[node.name] = node
        role = node.op.role
        if role in ("input", "target") or any(i in self.batched for i in node.inputs):
            self.batched.add(node.name)
        if role == "target" or any(i in self.target_dependent for i in node.inputs):
            self.target_dependent.add(node.name)
        if role == "param" or any(i in self.param_dependent for i in node.inputs):
            self.param_dependent.add(node.name)
        return node.name

    def fresh(self, root: str) -> str:
        """The next free name for a part of node ``root``: root1, root2, ..."""
        return naming.fresh_part_name(root, self.taken, self.taken_arrays)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.nodes[name].shape

    # -- driving -----------------------------------------------------------------------------

    def parse(self, text: str, where: str) -> tuple[Any, TensorReader]:
        reader = TensorReader(text, self.tensor_names, self.constants, self.callables)
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
        if isinstance(tree, _Expr) and tree.kind == "ref":
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
            if not isinstance(tree, _Expr):
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
        if not isinstance(tree, _Expr):
            self.fail(f"the expression is the constant {tree}; a node must depend on an input or a parameter")
        value = self.reference(tree) if tree.kind == "ref" else self.emit(tree, name, root=name)
        if value != name:  # the node is another one under a new name (r: h, or v.T of a vector)
            shape = self.shape(value)
            self.add(Node(name, Elementwise(arg_symbol(0), (shape,), "="), (value,), shape))
        self.where, self.current = saved
        return name

    def reference(self, tree: _Expr) -> str:
        if tree.name in self.texts:
            return self.node(tree.name)
        return tree.name

    # -- expressions -------------------------------------------------------------------------

    def value(self, tree, root: str) -> str | sp.Expr:
        """A sub-expression: the name of its node, or a SymPy number."""
        if not isinstance(tree, _Expr):
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
        if isinstance(tree, _Expr):
            return self.current.segment(tree.node)
        return str(tree)

    def at(self, tree: _Expr) -> str:
        return self.current.position(tree.node)

    def new(self, name: str | None, root: str, op, inputs: tuple[str, ...], shape) -> str:
        return self.add(Node(name or self.fresh(root), op, inputs, tuple(shape)))

    def emit(self, tree: _Expr, name: str | None, root: str) -> str:
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
            if len(self.shape(operand)) < 2:
                return operand  # a vector's transpose is itself, as in NumPy
            rows, cols = self.shape(operand)
            return self.new(name, root, Transpose(), (operand,), (cols, rows))
        if kind == "call":
            return self.call(tree, name, root)
        raise AssertionError(kind)

    def tensor(self, tree, root: str, construct: str) -> str:
        value = self.value(tree, root)
        if not isinstance(value, str):
            self.fail(f"{construct} needs a tensor, got the number {value}")
        return value

    def elementwise(self, tree: _Expr, name: str | None, root: str) -> str:
        kind = tree.kind
        values = [self.value(arg, root) for arg in tree.args]
        inputs, symbols = _operands(values)
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
                f"shape mismatch in '{_SYMBOLS[kind]}' at {self.at(tree)}: {self.text(left)} has shape "
                f"{list(self.shape(values[0]))}, {self.text(right)} has shape {list(self.shape(values[1]))}"
            )
        label = "-" if kind == "neg" else _SYMBOLS[kind]
        return self.new(name, root, Elementwise(expr, shapes, label), inputs, shape)

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
        if isinstance(node.op, Reduce) and len(node.op.shape_in) == 2 and node.op.axis == 1:
            return node.inputs[0]
        return None

    def check_row_broadcast(self, tree: _Expr, values: list, shape) -> None:
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
            symbol = _SYMBOLS[tree.kind]
            left, right = tree.args
            v_text, m_text = (self.text(left), self.text(right)) if position == 0 else (self.text(right), self.text(left))
            m_t = f"{m_text}.T" if m_text.isidentifier() else f"({m_text}).T"
            fixed = f"({v_text} {symbol} {m_t}).T" if position == 0 else f"({m_t} {symbol} {v_text}).T"
            what = "is combined with its columns, not its rows" if shape is not None else "does not line up with it"
            self.fail(
                f"ambiguous broadcast in '{symbol}' at {self.at(tree)}: {v_text} has shape {list(self.shape(vector))} "
                f"(one value per row of a {list(self.shape(origin))} tensor) and {m_text} has shape "
                f"{list(self.shape(matrix))}; a vector broadcasts along the last axis, so it {what}. "
                f"To combine row i with value i, write {fixed}"
            )

    def dense(self, tree: _Expr, name: str | None, root: str) -> str | None:
        """``W @ v + b`` (either order) with parameters W (matrix) and b (vector) and a batched
        vector v: one dense node, as in a layer stack."""
        for product, bias in (tree.args, tree.args[::-1]):
            if not (isinstance(product, _Expr) and product.kind == "matmul" and isinstance(bias, _Expr)):
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
                return self.new(name, root, Dense(), (weight.name, data, bias.name), (rows,))
        return None

    def matmul(self, tree: _Expr, name: str | None, root: str) -> str:
        left = self.tensor(tree.args[0], root, "'@'")
        right = self.tensor(tree.args[1], root, "'@'")
        a, b = self.shape(left), self.shape(right)
        shape = MatMul.result_shape(a, b)
        if shape is None:
            detail = "a scalar cannot be multiplied with '@' (use '*')" if not a or not b else "the inner sizes differ"
            self.fail(
                f"shape mismatch in '@' at {self.at(tree)}: {self.text(tree.args[0])} has shape {list(a)}, "
                f"{self.text(tree.args[1])} has shape {list(b)} ({detail})"
            )
        if left in self.params and len(a) == 2 and right in self.batched and len(b) == 1:
            return self.new(name, root, Dense(), (left, right), shape)
        return self.new(name, root, MatMul(a, b), (left, right), shape)

    def call(self, tree: _Expr, name: str | None, root: str) -> str:
        function = tree.name
        args, keywords = tree.args, tree.keywords
        where = f"{function}(...) at {self.at(tree)}"

        def tensors(count: int | None = None) -> list[str]:
            if count is not None and len(args) != count:
                self.fail(f"{where} takes {count} argument{'s' if count > 1 else ''}, got {len(args)}")
            return [self.tensor(arg, root, f"{function}(...)") for arg in args]

        def no_keywords():
            if keywords:
                self.fail(f"{where}: unexpected keyword {next(iter(keywords))}=")

        if function in registry.ACTIVATIONS or function in self.functions:
            if not args:
                self.fail(f"{where} needs an argument")
            operand = self.tensor(args[0], root, f"{function}(...)")
            choice = self.activation_choice(function, args[1:], keywords, where)
            return self.new(name, root, Activation(choice), (operand,), self.shape(operand))
        if function in ELEMENTWISE_FUNCTIONS:
            no_keywords()
            return self.math_function(tree, name, root, where)
        op_class = CALLS.get(function)
        if op_class is not None:  # a tensor op of symprop.ops, by its shape rule
            operands = tensors()
            shapes = [self.shape(operand) for operand in operands]
            try:
                op, shape = op_class.from_call(function, shapes, keywords, [self.text(arg) for arg in args])
            except ShapeRuleError as exc:
                self.fail(f"{where}: {exc}")
            return self.new(name, root, op, tuple(operands), shape)
        if function in registry.LOSSES:
            return self.loss_function(tree, name, root, where)
        raise AssertionError(function)

    def activation_choice(self, function: str, extra, keywords: dict, where: str) -> ActivationChoice:
        if function in self.functions:
            if extra or keywords:
                self.fail(f"{where}: {function} is a formula function and takes one argument")
            return ActivationChoice(function, formula=self.functions[function])
        entry = registry.ACTIVATIONS[function]
        names = [n for n, _ in entry.constants]
        if len(extra) > len(names):
            self.fail(f"{where}: {function} takes {1 + len(names)} argument(s) at most")
        given = {}
        for constant, value in zip(names, extra):
            if isinstance(value, _Expr):
                self.fail(f"{where}: the constant {constant} must be a number")
            given[constant] = value
        for key, value in keywords.items():
            if key not in names:
                self.fail(f"{where}: {function} has no constant {key!r}; its constants: {', '.join(names) or 'none'}")
            if key in given:
                self.fail(f"{where}: {key} is given twice")
            given[key] = value
        return ActivationChoice(entry.name, entry.constant_values(given))

    def math_function(self, tree: _Expr, name: str | None, root: str, where: str) -> str:
        function = tree.name
        values = [self.value(arg, root) for arg in tree.args]
        arity = 2 if function in ("max", "min") else 1
        if len(values) != arity:
            self.fail(f"{where} takes {arity} argument{'s' if arity > 1 else ''}, got {len(values)}")
        inputs, symbols = _operands(values)
        expr = ELEMENTWISE_FUNCTIONS[function](*symbols)
        shapes = tuple(self.shape(i) for i in inputs)
        shape = broadcast_shape(*shapes)
        if shape is None:
            self.fail(
                f"shape mismatch in {where}: {self.text(tree.args[0])} has shape {list(shapes[0])}, "
                f"{self.text(tree.args[1])} has shape {list(shapes[1])}"
            )
        return self.new(name, root, Elementwise(expr, shapes, function), inputs, shape)

    def loss_function(self, tree: _Expr, name, root, where) -> str:
        function = tree.name
        entry = registry.LOSSES[function]
        if len(tree.args) < 2:
            self.fail(f"{where} takes the output and the target, e.g. {function}(y, t)")
        extra = tree.args[2:]
        y, t = [self.tensor(arg, root, f"{function}(...)") for arg in tree.args[:2]]
        names = [n for n, _ in entry.constants]
        if len(extra) > len(names):
            self.fail(f"{where} takes {2 + len(names)} argument(s) at most")
        given = dict(zip(names, extra))
        for key, value in tree.keywords.items():
            if key not in names:
                self.fail(f"{where}: {function} has no constant {key!r}; its constants: {', '.join(names) or 'none'}")
            given[key] = value
        for key, value in given.items():
            if isinstance(value, _Expr):
                self.fail(f"{where}: the constant {key} must be a number")
        values = entry.constant_values(given)
        if function == "huber" and values[0] <= 0:
            self.fail(f"{where}: delta must be positive, got {values[0]}")
        if self.shape(y) != self.shape(t):
            self.fail(
                f"shape mismatch in {where}: the output {self.text(tree.args[0])} has shape {list(self.shape(y))}, "
                f"the target {self.text(tree.args[1])} has shape {list(self.shape(t))}"
            )
        if t in self.param_dependent:
            self.fail(f"{where}: the target {self.text(tree.args[1])} depends on a parameter; no gradient flows into a target")
        return self.new(name, root, Loss(LossChoice(entry.name, values)), (y, t), ())


def _param_inits(params: dict, given: dict[str, ParamInit], nodes: tuple[Node, ...]) -> dict[str, ParamInit]:
    """Every parameter's initialiser: the spec's, else ``_default_init``."""
    return {name: given.get(name) or _default_init(name, shape, nodes) for name, shape in params.items()}


def _default_init(name: str, shape: tuple[int, ...], nodes: tuple[Node, ...]) -> ParamInit:
    """Matrices N(0, 1/fan_in) and scalars N(0, 1), as before; a vector zeros when it is a
    bias (only ever added: ``W @ x + b``, ``h - b``), ones when it is a gain or a scale (it
    multiplies or divides something, or enters any other op: ``g * h``, ``h / s``), so that a
    layer-norm gain does not start at 0, which would stop training."""
    if len(shape) >= 2:
        return ParamInit("fan_in_normal")
    if not shape:
        return ParamInit("standard_normal_scalar")
    return ParamInit("zeros" if _only_added(name, nodes) else "ones")


def _only_added(name: str, nodes: tuple[Node, ...]) -> bool:
    """Whether every use of ``name`` adds it to something (a dense node's bias, or an
    elementwise term whose derivative in it is a constant); a plain rename or negation of
    it counts as its uses."""
    for node in nodes:
        if name not in node.inputs:
            continue
        if isinstance(node.op, Dense) and node.inputs[2:] == (name,):
            continue
        if not isinstance(node.op, Elementwise):
            return False
        for i, arg in enumerate(node.inputs):
            if arg != name:
                continue
            if not node.op.derivatives[i].is_number:
                return False
            if node.op.expr in (arg_symbol(i), -arg_symbol(i)) and not _only_added(node.name, nodes):
                return False
    return True


def _operands(values: list) -> tuple[tuple[str, ...], list]:
    """Split an op's arguments into its input nodes (names) and the symbols of its formula:
    the i-th node argument becomes ``arg_symbol(i)``, a constant stays itself."""
    inputs = tuple(v for v in values if isinstance(v, str))
    position = iter(range(len(inputs)))
    return inputs, [arg_symbol(next(position)) if isinstance(v, str) else v for v in values]


__all__ = ["GraphExample", "GraphNetwork", "GraphReader", "TensorReader", "read_graph_spec"]
