"""The values of tensor claims: names, index notation, and the functions on arrays.

``tensor_claims`` reads a claim; what it computes with lives here: ``TensorNames`` (what
each name of a claim stands for: a node's value or adjoint, an element), ``Indexed`` (a value
in index notation, one axis per letter, lined up by letter as ``einsum`` does), and the
functions a claim may call, on numbers, arrays (vectors as columns) and index notation.
The scalar functions are printed from their SymPy definitions by the NumPy module's printer
(``ArrayPrinter``: the same stable spellings as the generated code); nothing a person wrote
is executed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .. import naming
from ..formula import FormulaError
from .claim_constants import entry_constants
from .claim_values import ShapeError
from .claims import layer_aliases, scalar_functions

#: The most elements an intermediate value of a claim may have (index notation can multiply sizes).
MAX_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class Indexed:
    """A value in index notation: ``data`` has one axis per letter of ``labels``."""

    data: np.ndarray
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Ref:
    """What a claim name stands for: the value or the adjoint of ``node``, or one element of it."""

    kind: str  # 'value' or 'adjoint'
    node: str
    index: tuple[int, ...] | None = None


# -- describing values ---------------------------------------------------------------------------


def describe(value) -> str:
    if isinstance(value, Indexed):
        return f"a tensor in index notation over {', '.join(value.labels)}"
    shape = np.shape(value)
    if not shape:
        return "a number"
    if len(shape) == 2 and shape[1] == 1:
        return f"a column of {shape[0]} ({shape[0]}x1)"
    if len(shape) == 2 and shape[0] == 1:
        return f"a row of {shape[1]} (1x{shape[1]})"
    kind = "matrix" if len(shape) == 2 else "tensor"
    return f"a {'x'.join(map(str, shape))} {kind}"


def as_claim_value(array, shape: tuple[int, ...]):
    """A node's per-sample array as claims see it: a number, a column for a vector, else as is."""
    array = np.asarray(array)
    if not shape:
        return array.reshape(())[()]
    if len(shape) == 1:
        return array.reshape(shape[0], 1)
    return array


# -- names ---------------------------------------------------------------------------------------


_ELEMENT = re.compile(r"^(.+?)_(\d+(?:_\d+)*)$")


class TensorNames:
    """Every name a tensor claim may use for one derivation (``resolve``), and its functions."""

    def __init__(self, derivation):
        graph = derivation.graph
        self.graph = graph
        self.loss = graph.loss
        self.shapes = {name: node.shape for name, node in graph.nodes.items()}
        #: A layer stack's o, y, h (o_1, do_1, dE/dh_2 as in the exact reader's claims), and the compact o1, h1.
        self.aliases = {alias: node for alias, (node, _) in layer_aliases(graph).items()}
        self.compact = {alias for alias, (_, compact) in layer_aliases(graph).items() if compact}
        #: Nodes whose adjoint the backward pass computes.
        self.with_adjoint = {step.target for step in derivation.steps}
        if not graph.nodes[graph.loss].op.loss_function:
            self.with_adjoint.add(graph.loss)
        network = derivation.network
        self.constants: dict[str, float] = {"pi": float(np.pi)}
        if "e" not in graph.nodes:
            self.constants["e"] = float(np.e)
        # Huber's delta is not read here: delta(j, k) is Kronecker's delta (tensor_claims)
        entries = {name: value for name, value in entry_constants(derivation).items() if name != "delta"}
        for name, value in {**entries, **(getattr(network, "constants", None) or {})}.items():
            self.constants[name] = float(value)
        self.scalar_functions = scalar_functions(derivation)
        self.printed: dict[tuple[str, int], Callable] = {}  # (function, arguments) -> its NumPy code
        self.functions: dict[str, Callable] = {name: _numeric(self, name) for name in self.scalar_functions}
        self.functions.update(ARRAY_FUNCTIONS)
        self.functions = {n: f for n, f in self.functions.items() if n not in graph.nodes}

    def resolve(self, name: str) -> Ref | None:
        """The node (value or adjoint) or element a name stands for; None for other names."""
        if name in self.shapes:
            return Ref("value", name)
        if name in self.aliases:
            return Ref("value", self.aliases[name])
        compact = re.fullmatch(r"([a-z])([1-9]\d*)", name)
        if compact and compact.group(1) in self.compact:
            node, unit = self.aliases[compact.group(1)], int(compact.group(2))
            if unit <= self.shapes[node][0]:
                return Ref("value", node, (unit - 1,))
        prefix = f"d{self.loss}_d"
        if name.startswith(prefix):
            inner = self.resolve(name[len(prefix) :])
            return Ref("adjoint", inner.node, inner.index) if inner and inner.kind == "value" else None
        if name.startswith("delta") and name[len("delta") :].isdigit():
            layer = "z" + name[len("delta") :]
            if layer in self.shapes:
                return Ref("adjoint", layer)
        if name.startswith("d") and len(name) > 1:
            inner = self.resolve(name[1:])
            if inner and inner.kind == "value":
                return Ref("adjoint", inner.node, inner.index)
        if name[:1].islower() and name[:1].upper() + name[1:] in self.shapes:
            alias = name[:1].upper() + name[1:]
            if self.graph.role(alias) == "param":
                return Ref("value", alias)
        element = _ELEMENT.match(name)
        if element:
            whole = self.resolve(element.group(1))
            if whole is not None and whole.index is None:
                index = _one_based(element.group(2), self.shapes[whole.node])
                if index is not None:
                    return Ref(whole.kind, whole.node, index)
        return None

    def known(self) -> str:
        """The names, for an error message."""
        nodes = list(self.graph.nodes)
        shown = ", ".join(nodes[:40]) + (f", ... ({len(nodes)} in all)" if len(nodes) > 40 else "")
        matrix = next((n for n in nodes if len(self.shapes[n]) == 2 and self.shapes[n][1] > 1), None)
        vector = next((n for n in nodes if len(self.shapes[n]) == 1), None)
        if matrix is not None:  # in the network's own names: an x that is a vector has no x[0, 1]
            elements = f"; {naming.one_based_hint(matrix, (0, 1))}"
        else:
            elements = f"; {naming.one_based_hint(vector, (0,))}" if vector is not None else ""
        return f"nodes: {shown}; adjoints: d<node> or d{self.loss}/d<node>{elements}"


def _one_based(suffix: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """``12`` -> (0, 1) for a matrix, (11,) for a vector; ``10_11`` -> (9, 10)."""
    if "_" in suffix:
        parts = [int(p) for p in suffix.split("_")]
    elif len(shape) == 1:
        parts = [int(suffix)]
    elif len(suffix) == len(shape):
        parts = [int(c) for c in suffix]
    else:
        return None
    index = tuple(p - 1 for p in parts)
    if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape)):
        return None
    return index if naming.element_name("x", index) == "x_" + suffix else None


# -- numeric functions -------------------------------------------------------------------------------


def _numeric(names: TensorNames, name: str) -> Callable:
    """A claim function on numbers and arrays, printed from its SymPy definition."""

    def apply(*args):
        if not args:
            raise ValueError("it takes an argument")
        function = _printed(names, name, len(args))
        return elementwise(function, *args)

    return apply


def _printed(names: TensorNames, name: str, arity: int) -> Callable:
    key = (name, arity)
    if key not in names.printed:
        from ..emit.numpy.printers import helper_source
        from ..printing import ArrayPrinter, print_array_expr

        symbols = [sp.Symbol(f"z{k}", real=True) for k in range(arity)]
        expr = names.scalar_functions[name](*symbols)
        printer = ArrayPrinter()
        code = print_array_expr(sp.sympify(expr), printer)
        namespace: dict = {"np": np}
        for helper in sorted(printer.helpers):
            exec(compile(helper_source(helper), "<helper>", "exec"), namespace)
        arguments = ", ".join(str(s) for s in symbols)
        exec(compile(f"def function({arguments}):\n    return {code}\n", f"<{name}>", "exec"), namespace)
        names.printed[key] = namespace["function"]
    return names.printed[key]


def guard(shape: tuple[int, ...]) -> None:
    """Refuse a value of more than ``MAX_ELEMENTS`` elements before computing it."""
    size = int(np.prod(shape, dtype=object)) if shape else 1
    if size > MAX_ELEMENTS:
        raise FormulaError(f"the claim builds a tensor of {size:,} elements (at most {MAX_ELEMENTS:,}); sum over an index sooner")


def elementwise(function: Callable, *values):
    """``function`` on numbers, on arrays (NumPy broadcasting), or on index notation (lined up by letter)."""
    if any(isinstance(v, Indexed) for v in values):
        if any(not isinstance(v, Indexed) and np.ndim(v) for v in values):
            raise FormulaError("index notation and whole arrays do not mix: index the array too (X[t, i])")
        arrays, labels = _aligned(values)
        guard(np.broadcast_shapes(*(np.shape(a) for a in arrays)))
        return indexed(np.asarray(function(*arrays), dtype=float), labels)
    try:
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
    except ValueError:
        shapes = " and ".join(describe(v) for v in values)
        raise ShapeError(f"{shapes}: shapes do not fit") from None
    guard(shape)
    result = function(*values)
    return result if np.ndim(result) else float(result)


def _aligned(values) -> tuple[list, tuple[str, ...]]:
    labels: list[str] = []
    for value in values:
        if isinstance(value, Indexed):
            labels += [label for label in value.labels if label not in labels]
    arrays = []
    for value in values:
        if not isinstance(value, Indexed):
            arrays.append(value)
            continue
        order = sorted(range(len(value.labels)), key=lambda a: labels.index(value.labels[a]))
        data = np.transpose(value.data, order)
        shape = [1] * len(labels)
        for axis, position in enumerate(labels.index(value.labels[a]) for a in order):
            shape[position] = data.shape[axis]
        arrays.append(data.reshape(shape))
    return arrays, tuple(labels)


def indexed(data: np.ndarray, labels: tuple[str, ...]):
    return Indexed(data, labels) if labels else float(data)


def binary(op: Callable, symbol: str) -> Callable:
    def apply(left, right):
        try:
            return elementwise(op, left, right)
        except ShapeError as exc:
            raise ShapeError(f"'{symbol}' of {exc}") from None

    return apply


def matmul(left, right):
    if isinstance(left, Indexed) or isinstance(right, Indexed):
        raise FormulaError("'@' does not take index notation: multiply the elements and sum_{k} over the shared index")
    if np.ndim(left) < 2 or np.ndim(right) < 2:
        raise FormulaError("'@' multiplies two arrays; use '*' with a number")
    if left.shape[-1] != right.shape[-2]:
        raise ShapeError(f"'@' of {describe(left)} and {describe(right)}: inner sizes differ")
    guard((*np.broadcast_shapes(left.shape[:-2], right.shape[:-2]), left.shape[-2], right.shape[-1]))
    return left @ right


def transpose(value):
    if isinstance(value, Indexed):
        raise FormulaError("'.T' of index notation: swap the indices instead")
    return np.transpose(value) if np.ndim(value) else value


def _positional(value, what: str):
    if isinstance(value, Indexed):
        raise FormulaError(f"{what} takes whole arrays; in index notation write sum_{{t}} ...")
    return np.asarray(value, dtype=float)


def _reduce(numpy_function: Callable, what: str) -> Callable:
    def apply(value, axis=None):
        array = _positional(value, what)
        if axis is None:
            return float(numpy_function(array))
        try:
            return numpy_function(array, axis=axis, keepdims=True)
        except np.exceptions.AxisError:
            raise ValueError(f"axis {axis} is out of range for {describe(array)}") from None

    return apply


def _softmax(value, axis=-1):
    array = _positional(value, "softmax")
    if not array.ndim:
        raise ValueError("softmax takes a vector or an array")
    if array.ndim == 2 and 1 in array.shape and axis == -1:
        axis = 0 if array.shape[1] == 1 else 1
    shifted = np.exp(array - array.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _vector(value, what: str) -> np.ndarray:
    array = _positional(value, what)
    if array.ndim != 2 or 1 not in array.shape:
        raise ValueError(f"{what} takes vectors")
    return array.reshape(-1)


def _outer(left, right):
    u, v = _vector(left, "outer"), _vector(right, "outer")
    guard((u.size, v.size))
    return np.outer(u, v)


def _diag(value):
    v = _vector(value, "diag")
    guard((v.size, v.size))
    return np.diag(v)


def _where(mask, a, b):
    return elementwise(lambda m, x, y: np.where(np.asarray(m, dtype=bool), x, y), mask, a, b)


def _tril(n):
    """The causal mask of the specs' ``tril(n)``: true on and below the diagonal of an n x n matrix."""
    if isinstance(n, Indexed) or np.ndim(n) or not float(n).is_integer() or n < 1:
        raise ValueError("tril takes a whole number n: tril(n) is the n x n causal mask")
    guard((int(n), int(n)))
    return np.tril(np.ones((int(n), int(n)), dtype=bool))


#: The functions that make an array of numbers alone (not a number to check for exactness).
MASKS = {"tril"}

ARRAY_FUNCTIONS: dict[str, Callable] = {
    "sum": _reduce(np.sum, "sum"),
    "mean": _reduce(np.mean, "mean"),
    "softmax": _softmax,
    "outer": _outer,
    "diag": _diag,
    "where": _where,
    "tril": _tril,
}
