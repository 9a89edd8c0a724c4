"""The claim language: which names a claim may use, and a safe reader for plain-math claims.

A *claim* is a person's formula for a gradient, ``dE/dW2[0,0]`` or a whole ``dE/dW2``.
It is read by :class:`ClaimReader`, a :class:`symprop.formula.FormulaReader` subclass: the
text goes through ``ast.parse`` and a whitelist of syntax, never ``eval``/``sympify``.

Names (built from the Derivation's graph and per-weight view, so that layer stacks and
tensor-expression graphs are read alike):

* every element of every node, 1-based as in ``symprop.naming``: ``x_1``, ``z1_2``,
  ``a2_1``, ``W2_12`` (row 1, column 2: connects input 2 to output 1), ``b1_2``, ``t_1``;
* every node as a whole: ``x``, ``a1``, ``W2``, ``t``; vectors are *columns* (as in the
  tutorials: ``z = W a + b``), so ``a1.T`` is a row and ``delta2 @ a1.T`` a matrix;
* NumPy-style 0-based indexing of a whole node: ``W2[0, 1]`` is ``W2_12``, ``a2[0]`` is ``a2_1``;
* aliases, each only when it clashes with no node or element name:
  lower-case weights (``w2_11``, ``w2``: handouts print elements as ``w^{(2)}_{11}``);
  for a layer stack the tutorials' ``o`` for the output activation (``o_1``, ``o1``; also
  ``y``, ``y_1``) and,
  with exactly one hidden layer, ``h`` for it (``h_1``, ``h1``); ``deltaK`` / ``deltaK_j``
  for ``dE/dzK`` (the handouts' ``\\delta^{(K)}``), taken as already known;
  a graph spec's scalar ``x0``, ``w1`` also as written on paper, ``x_0``, ``w_1``;
* the spec's constants, the constants of the registry activations and loss it uses by
  their names (leaky_relu's ``alpha``, Huber's ``delta``: ``entry_constants``), ``pi``, and
  ``e`` (Euler's number) when no node is called ``e``.

Functions: the registered activations (``sigmoid``, alias ``sigma``/``σ``, ``tanh``,
``relu``...; constants default to the ones the network uses), their derivatives
``sigmoid_prime(z)`` etc., the spec's formula functions, ``exp log sqrt abs sech ...``, ``step``
(1 for z > 0, else 0; also ``heaviside``), and on arrays ``softmax(v)``, ``sum(M)``, ``diag(v)``, ``outer(u, v)``.
Operators: ``+ - * / ** ^`` elementwise with NumPy broadcasting (``delta * a1.T`` is an outer
product), ``@`` the matrix product, ``.T`` the transpose.  What people type beyond this strict
syntax (implicit products, ``sigma'(z)``, ``W^T``, sums, Unicode) is rewritten into it first by
``claims_text``.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from .. import differentiation, naming, registry
from ..formula import FormulaError, FormulaReader
from ..ops import element_indices
from .claim_constants import entry_constant_values, entry_constants
from .claim_values import ARRAY_FUNCTIONS, MATH_FUNCTIONS, ShapeError, Value, broadcast, elementwise, is_array, matmul, transpose

# -- names -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeName:
    """A name for a whole node (or an alias of one): what ``W2[0, 1]`` indexes into."""

    node: str  # the graph node, or a delta's node ("delta2" stands for dE/dz2)
    shape: tuple[int, ...]
    symbols: tuple[sp.Symbol, ...]  # row-major

    def value(self) -> Value:
        if not self.shape:
            return self.symbols[0]
        if len(self.shape) == 1:
            return sp.ImmutableMatrix(self.shape[0], 1, list(self.symbols))
        if len(self.shape) == 2:
            return sp.ImmutableMatrix(self.shape[0], self.shape[1], list(self.symbols))
        raise FormulaError(f"'{self.node}' has {len(self.shape)} axes; name its elements instead")


_LAYERED = re.compile(r"^([A-Za-z]+?)(\d+)$")


def layer_aliases(graph) -> dict[str, tuple[str, bool]]:
    """The letters people write for a layer stack's layers, alias -> (node, whether the compact
    ``o1`` names an element too): ``o`` and ``y`` for the output layer, ``h`` for the only hidden
    layer, and on a network of one layer ``a`` and ``z`` for its ``a1`` and ``z1``.  Both readers
    take them: the exact one (``ClaimNames``) and the numeric one (``tensor_values.TensorNames``)."""
    output = graph.nodes[graph.nodes[graph.loss].inputs[0]] if graph.loss in graph.nodes else None
    layers = sorted(int(m.group(2)) for n in graph.nodes if (m := _LAYERED.match(n)) and m.group(1) == "a")
    if output is None or not layers or output.name != f"a{layers[-1]}" or layers != list(range(1, len(layers) + 1)):
        return {}
    aliases = {"o": (output.name, True), "y": (output.name, False)}
    if len(layers) == 2:
        aliases["h"] = ("a1", True)
    if len(layers) == 1:  # one layer: a and z name one tensor each, as o and y do (a_1 is a1_1)
        aliases.update({letter: (f"{letter}1", False) for letter in ("a", "z") if f"{letter}1" in graph.nodes})
    return {alias: entry for alias, entry in aliases.items() if alias not in graph.nodes and graph.nodes[entry[0]].shape}


class ClaimNames:
    """Every name a claim may use for one Derivation (at one set of sizes).

    Relies only on ``derivation.graph`` (nodes, shapes, roles, ops) and
    ``derivation.scalar`` (element symbols, adjoints), so graph specs work as layer stacks do.
    """

    def __init__(self, derivation):
        self.derivation = derivation
        graph, scalar = derivation.graph, derivation.scalar
        self.scalars: dict[str, sp.Expr] = {}  # element names, constants
        self.arrays: dict[str, NodeName] = {}  # whole-node names (and aliases)
        self.aliases: dict[str, str] = {}  # alias -> canonical name, for the README/echo
        self.deltas: dict[sp.Symbol, sp.Expr] = {}  # delta element -> dE/dz element (forward values)
        for node in graph.nodes.values():
            self._add(node.name, NodeName(node.name, node.shape, tuple(scalar.symbols[node.name])))
        self._add_aliases(graph, scalar)
        self.functions = self._functions(derivation)
        network = derivation.network
        for name, value in (getattr(network, "constants", None) or {}).items():
            self._scalar(name, sp.sympify(value) if isinstance(value, (int, float)) else value)
        #: The registry constants read by name (leaky_relu's alpha), but not a spec constant of that name.
        entries = entry_constants(derivation)
        self.entry_names = set(entries) - set(getattr(network, "constants", None) or {})
        for name, value in entries.items():  # leaky_relu's alpha, as the handout writes it
            self._scalar(name, value)
        self._scalar("pi", sp.pi)
        self._scalar("e", sp.E)

    def ambiguous(self, name: str) -> str | None:
        """Why ``name`` is no name here when a registry constant of that name has two values in
        the network (two leaky_relu layers, alpha 0.1 and 0.2: which is meant?); None otherwise."""
        values = entry_constant_values(self.derivation).get(name, [])
        if len(values) < 2:
            return None
        return f"'{name}' has {len(values)} values in this network ({' and '.join(repr(float(v)) for v in values)})"

    # -- building ---------------------------------------------------------------------------

    def _add(self, name: str, entry: NodeName, alias_of: str | None = None, compact: bool = False) -> None:
        """Register ``name`` for a whole node and ``name_<index>`` for its elements."""
        if name in self.arrays or name in self.scalars:
            return
        if entry.shape:
            self.arrays[name] = entry
        else:
            self._scalar(name, entry.symbols[0])
        if alias_of:
            self.aliases[name] = alias_of
        for index, symbol in zip(element_indices(entry.shape), entry.symbols):
            if not index:
                continue
            element = naming.element_name(name, index)
            if alias_of:
                self.aliases.setdefault(element, str(symbol))
            self._scalar(element, symbol)
            if compact:  # h1, o1: the tutorials write the unit number right after the letter
                self._scalar(name + naming.element_suffix(index), symbol)
                self.aliases.setdefault(name + naming.element_suffix(index), str(symbol))

    def _scalar(self, name: str, value: sp.Expr) -> None:
        if name not in self.scalars and name not in self.arrays:
            self.scalars[name] = value

    def _add_aliases(self, graph, scalar) -> None:
        for element, tutorial in getattr(self.derivation.network, "aliases", {}).items():
            if element in self.scalars:  # the spec's tutorial_names: W5 for W2_11, as the handout shows
                self._scalar(tutorial, self.scalars[element])
                self.aliases.setdefault(tutorial, element)
        for node in graph.nodes.values():  # a graph spec's x0, w1 as written on paper: x_0, w_1
            match = _LAYERED.match(node.name)
            if match and not node.shape:
                entry = NodeName(node.name, node.shape, tuple(scalar.symbols[node.name]))
                self._add(f"{match.group(1)}_{match.group(2)}", entry, alias_of=node.name)
        for node in graph.params():
            if node.name[:1].isupper():
                entry = self.arrays.get(node.name) or NodeName(node.name, node.shape, tuple(scalar.symbols[node.name]))
                self._add(node.name[0].lower() + node.name[1:], entry, alias_of=node.name)
        for alias, (node, compact) in layer_aliases(graph).items():
            self._add(alias, self.arrays[node], alias_of=node, compact=compact)
        for node in graph.nodes.values():
            match = _LAYERED.match(node.name)
            if not (match and match.group(1) == "z" and node.name in graph.needs_grad and len(node.shape) == 1):
                continue
            name = f"delta{match.group(2)}"
            if name in self.arrays or name in self.scalars or name in graph.nodes:
                continue
            symbols = tuple(sp.Symbol(naming.element_name(name, index), real=True) for index in element_indices(node.shape))
            for symbol, adjoint in zip(symbols, scalar.adjoint(node.name)):
                self.deltas[symbol] = adjoint
            self._add(name, NodeName(node.name, node.shape, symbols))
            self.aliases[name] = f"dE/d{node.name}"

    def _functions(self, derivation) -> dict[str, Callable[..., Value]]:
        functions: dict[str, Callable[..., Value]] = {n: elementwise(f) for n, f in scalar_functions(derivation).items()}
        functions.update(ARRAY_FUNCTIONS)
        return {n: f for n, f in functions.items() if n not in self.scalars and n not in self.arrays}

    # -- lookups ----------------------------------------------------------------------------

    def known(self) -> list[str]:
        return sorted({*self.scalars, *self.arrays})

    def symbol_table(self) -> dict[str, Value]:
        table: dict[str, Value] = dict(self.scalars)
        for name, entry in self.arrays.items():
            table[name] = entry
        return table

    def resolve(self, base: str, layer: str | None, indices: list[int] | None) -> str | None:
        """The plain name for a LaTeX-style name: base ``a``, layer ``2``, 1-based indices ``[1]``."""
        candidates = [base + (layer or "")]
        if layer is None and base in ("o", "h"):
            candidates = [base]
        for name in candidates:
            whole = self.arrays.get(name)
            if indices is None:
                if name in self.arrays or name in self.scalars:
                    return name
                continue
            if whole is None:
                continue
            index = _split_index(indices, whole.shape)
            if index is None:
                return None
            element = naming.element_name(name, tuple(i - 1 for i in index))
            if element in self.scalars:
                return element
        return None


def scalar_functions(derivation) -> dict[str, Callable[..., sp.Expr]]:
    """The scalar functions a claim may call, as SymPy callables: the math functions, every
    activation (with the constants the network uses by default) and its ``_prime``, the spec's
    formula functions and theirs; shared by the exact reader and the numeric one (``tensor_claims``)."""
    used: dict[str, tuple] = {}
    formulas: dict[str, sp.Expr] = {}
    for node in derivation.graph.nodes.values():
        if node.op.activation:
            choice = node.op.choice
            if choice.formula is not None:
                formulas[choice.name] = choice.formula
            else:
                used.setdefault(choice.name, tuple(choice.constants))
    formulas.update(getattr(derivation.network, "functions", None) or {})
    functions: dict[str, Callable[..., sp.Expr]] = dict(MATH_FUNCTIONS)
    for name, entry in registry.ACTIVATIONS.items():
        defaults = used.get(name) or used.get(entry.name) or entry.constant_values()
        functions[name] = _activation(entry, defaults, derivative=False)
        functions[f"{name}_prime"] = _activation(entry, defaults, derivative=True)
    functions["sigma"] = functions["σ"] = functions["sigmoid"]
    functions["sigma_prime"] = functions["sigmoid_prime"]
    for name, body in formulas.items():
        functions[name] = lambda z, body=body: body.xreplace({registry.Z: z})
        functions[f"{name}_prime"] = lambda z, body=body: differentiation.derivative(body, registry.Z).xreplace({registry.Z: z})
    return functions


def _split_index(digits: list[int], shape: tuple[int, ...]) -> list[int] | None:
    """``[11]`` for a matrix means row 1, column 1 (single digits); ``[1, 1]`` is explicit."""
    if len(digits) == len(shape):
        return digits
    if len(digits) == 1 and len(shape) > 1:
        text = str(digits[0])
        if len(text) == len(shape):
            return [int(c) for c in text]
    return None


def _activation(entry: registry.Activation, defaults: tuple, derivative: bool) -> Callable[..., sp.Expr]:
    def apply(z, *constants):
        if constants and len(constants) != len(entry.constants):
            names = ", ".join(n for n, _ in entry.constants) or "none"
            raise ValueError(f"{entry.name} takes its constants ({names}) after z")
        values = tuple(constants) or defaults
        if derivative:
            return entry.derivative_at(z, values)
        return entry.apply(z, values)

    return apply




# -- the reader ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimFactor:
    """One top-level factor of a product claim, as the person wrote it."""

    text: str
    value: Value


class ClaimReader(FormulaReader):
    """Plain-math claims: formulas plus arrays, ``@``, ``.T`` and NumPy-style indexing."""

    BINARY_OPERATORS = {
        ast.Add: broadcast(operator.add, "+"),
        ast.Sub: broadcast(operator.sub, "-"),
        ast.Mult: broadcast(operator.mul, "*"),
        ast.Div: broadcast(operator.truediv, "/"),
        ast.Pow: broadcast(operator.pow, "**"),
        ast.MatMult: matmul,
    }
    UNARY_OPERATORS = {
        ast.UAdd: lambda v: v,
        ast.USub: lambda v: -v if not is_array(v) else v.applyfunc(operator.neg),
    }

    def __init__(self, text: str, names: ClaimNames):
        super().__init__(text, names.symbol_table(), names.functions)
        self.names = names

    def read(self) -> Value:
        value = super().read()
        self.tree = ast.parse(self.source, mode="eval")
        return value

    # -- syntax beyond formulas -------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> Value:
        value = super().visit_Name(node)
        return value.value() if isinstance(value, NodeName) else value

    def visit_BinOp(self, node: ast.BinOp) -> Value:
        apply = self._operator(node, node.op, self.BINARY_OPERATORS)
        try:
            left = self.visit(node.left)
            right = self.visit(node.right)
            if isinstance(node.op, ast.Pow):  # before computing: 9**9**9**9 must not hang
                self._check_small_numbers(node.right, right, "in an exponent")
            return apply(left, right)
        except ShapeError as exc:
            raise exc.at(f"(at {self._column(node)} of the claim)") from None
        except FormulaError as exc:
            if "at column" in str(exc) or "at line" in str(exc):
                raise
            raise self.error(node, str(exc)) from None

    def visit_Attribute(self, node: ast.Attribute) -> Value:
        if node.attr != "T":
            raise self.error(node, f"'.{node.attr}' is not allowed", "only '.T' (transpose) is")
        return transpose(self.visit(node.value))

    def visit_Subscript(self, node: ast.Subscript) -> Value:
        if not isinstance(node.value, ast.Name) or node.value.id not in self.names.arrays:
            raise self.error(node, "only a whole node can be indexed", "e.g. W2[0, 1] or a2[0] (0-based)")
        entry = self.names.arrays[node.value.id]
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index = []
        for item in items:
            if not (isinstance(item, ast.Constant) and type(item.value) is int):
                raise self.error(item, "an index must be a whole number", "indices in [] are 0-based")
            index.append(item.value)
        if len(index) != len(entry.shape) or any(not 0 <= i < n for i, n in zip(index, entry.shape)):
            raise self.error(
                node,
                f"index {index} does not fit '{node.value.id}' of shape {list(entry.shape)}",
                "indices in [] are 0-based",
            )
        flat = 0
        for i, n in zip(index, entry.shape):
            flat = flat * n + i
        return entry.symbols[flat]

    def visit_Call(self, node: ast.Call) -> Value:
        named = [keyword for keyword in node.keywords if keyword.arg]
        if named and isinstance(node.func, ast.Name) and node.func.id in ("sum", "mean"):
            raise self.error(
                named[0],
                f"{node.func.id}(..., {named[0].arg}=) is not read here",
                "a claim is about one sample, whose nodes are columns: sum(v) adds the elements of v",
            )
        try:
            return super().visit_Call(node)
        except ShapeError as exc:
            raise exc.at(f"(at {self._column(node)} of the claim)") from None

    # -- checks on arrays: the formula reader's checks, element by element -------------------

    def _check_value(self, node: ast.AST, value: Value) -> None:
        if isinstance(value, NodeName):
            return
        for element in value if is_array(value) else [value]:
            super()._check_value(node, element)

    def _check_small_numbers(self, node: ast.AST, value: Value, where: str) -> None:
        for element in value if is_array(value) else [value]:
            super()._check_small_numbers(node, element, where)

    def known_functions(self) -> list[str]:
        return sorted(n for n in self.names.functions if not n.endswith("_prime") and n.isascii())

    def _unknown_name(self, node: ast.Name) -> FormulaError:
        names = self.names
        if (ambiguous := names.ambiguous(node.id)) is not None:
            return self.error(node, ambiguous, "write the number instead")
        zero = re.fullmatch(r"(\w+?)_0+(\d*)", node.id)
        if zero and zero.group(1) in names.arrays:
            base = zero.group(1)
            return self.error(node, f"unknown name '{node.id}'", naming.one_based_hint(base, (0,)))
        wholes = ", ".join(n for n in names.arrays if n not in names.aliases)
        aliases = ", ".join(n for n in names.arrays if n in names.aliases)
        functions = ", ".join(sorted(n for n in names.functions if not n.endswith("_prime") and n.isascii()))
        detail = f"nodes: {wholes}{self._element_examples()}; " if wholes else ""  # none in a graph of scalars
        if aliases:
            detail += f"aliases: {aliases}; "
        return self.error(node, f"unknown name '{node.id}'", f"{detail}functions: {functions} (and f_prime for f')")

    def _element_examples(self) -> str:
        """`` (indices count from 1: W2_12 is NumPy's W2[0, 1])`` on this network's own first matrix
        (a one-layer net has no W2), else on its last vector of an op; '' if it has neither."""
        names, graph = self.names, self.names.derivation.graph
        wholes = [(n, e) for n, e in names.arrays.items() if n == e.node]  # W1 of tutorial_222 is also an alias
        matrix = next(((n, e.shape) for n, e in wholes if len(e.shape) == 2), None)
        if matrix is not None:
            return f" ({naming.one_based_hint(matrix[0], (0, 1) if matrix[1][1] > 1 else (0, 0))})"
        vector = next((n for n, e in reversed(wholes) if len(e.shape) == 1 and graph.role(e.node) == "op"), None)
        return "" if vector is None else f" ({naming.one_based_hint(vector, (0,))})"

    def _column(self, node: ast.AST) -> str:
        return str(self.error(node, "x")).split(" at ", 1)[1]

    # -- factors ----------------------------------------------------------------------------

    def factors(self) -> list[ClaimFactor]:
        """The top-level factors of the claim in the order written (a product of one is itself).

        ``a*b/c`` gives ``a``, ``b``, ``1/c``; ``-(a*b)`` gives ``-a``, ``b``; an outer product
        ``u @ v.T`` (column times row) is split like a product, so that ``delta2 @ a1.T``
        gives the factors ``delta2`` and ``a1.T``.
        """
        found: list[ClaimFactor] = []

        def walk(node: ast.AST, invert: bool) -> None:
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
                walk(node.left, invert)
                walk(node.right, invert)
                return
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Div)
                and not invert
                and not (isinstance(node.left, ast.Constant) and node.left.value == 1)  # 1/x is one factor
            ):
                walk(node.left, invert)
                walk(node.right, True)
                return
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) and not invert:
                left, right = self.visit(node.left), self.visit(node.right)
                if is_array(left) and is_array(right) and left.shape[1] == 1 and right.shape[0] == 1:
                    walk(node.left, invert)
                    walk(node.right, invert)
                    return
            if (
                isinstance(node, ast.UnaryOp)
                and isinstance(node.op, ast.USub)
                and isinstance(node.operand, ast.BinOp)
                and isinstance(node.operand.op, (ast.Mult, ast.Div))
            ):
                start = len(found)
                walk(node.operand, invert)
                first = found[start]
                found[start] = ClaimFactor(f"-{_wrap(first.text)}", self.UNARY_OPERATORS[ast.USub](first.value))
                return
            text = self._text(node)
            value = self.visit(node)
            if invert:
                found.append(ClaimFactor(f"1/{_wrap(text)}", broadcast(operator.truediv, "/")(sp.S.One, value)))
            else:
                found.append(ClaimFactor(text, value))

        walk(self.tree.body, False)
        deltas = self.names.deltas  # deltaK stands for dE/dzK: its factors are too
        if deltas:
            found = [ClaimFactor(f.text, _substitute(f.value, deltas)) for f in found]
        return found

    def _text(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        return text.replace("**", "^").strip()


def _substitute(value: Value, table: dict) -> Value:
    return value.applyfunc(lambda e: e.xreplace(table)) if is_array(value) else sp.sympify(value).xreplace(table)


def _wrap(text: str) -> str:
    if re.fullmatch(r"[\w.\[\], ]+|\(.*\)", text) and text.count("(") == text.count(")"):
        return text
    return f"({text})"


def read_claim(text: str, names: ClaimNames) -> tuple[Value, ClaimReader]:
    """Read a plain-math claim; FormulaError for bad syntax or unknown names."""
    reader = ClaimReader(text, names)
    return reader.read(), reader
