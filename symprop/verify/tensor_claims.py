"""Claims about tensor networks: the claim language with index notation, and a safe reader.

For networks too large for the per-weight view (self-attention, an LSTM unrolled in time) a
claim is evaluated with numbers, one sample at a time (``tensor_decide``).  The language is
the exact reader's (``claims``), per sample, vectors as columns, plus what a derivation of a
transformer or an LSTM is written with:

* every node of the graph by name (``X``, ``q``, ``p``, ``h9``, the helper nodes the module's
  comments show), and its **adjoint** ``dq`` or ``dE/dq`` (``dE_dq``): dE/dq for one sample;
  ``deltaK`` for dE/dzK in a layer stack;
* elements, 0-based: ``X[2, 3]``, ``dq[0, 5]``; a row ``x[9]`` (a column vector, as in the
  spec's ``x[{k-1}]``); slices ``x[:, 0:4]``; 1-based element names ``a2_1``, ``W2_12`` too;
* **index notation**: letters as indices, ``X[t, i] * dq[t, j]``, and explicit sums
  ``sum_{t} ...`` (``sum_t`` for one letter, ``sum_{t,k}`` for several) whose scope is the
  rest of the product, up to the next ``+`` or ``-`` outside brackets, as with a written
  sum sign; ``delta(j, k)`` is Kronecker's delta (1 where its indices, or integer values
  such as ``ids[t]``, are equal).  Letters that are neither summed nor named by ``--wrt``
  (``--wrt "Wq[i,j]"``) are refused: a forgotten sum is an error, not a silent one;
* arrays: ``@``, ``.T`` (axes reversed, as in NumPy), elementwise ``+ - * / **`` with
  NumPy broadcasting, ``sum``/``mean`` (whole, or ``axis=``: kept as a row or a column),
  ``softmax(v, axis=-1)``, ``outer``, ``diag``, ``where(mask, a, b)``, ``tril(n)``, and every function of
  the exact reader (``sigmoid``, ``tanh_prime``, the spec's functions, ...).

What the names stand for and the functions on values are in ``tensor_values``.  The text is
read by ``ast.parse`` and a whitelist of syntax (``formula.FormulaReader``); two
textual rewrites come first (``tensor_text``), each keeping a map back to the user's columns:
``sum_{t}`` becomes ``sum_[t]*`` (a subscript the reader treats as the sum sign) and ``dE/dq``
becomes the name ``dE_dq``.  Nothing is executed; the numeric functions are printed from their SymPy
definitions by the module's own printer.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..formula import MAX_LENGTH, FormulaError, FormulaReader
from .claim_values import ShapeError
from .tensor_text import MARKER, is_sum, rewrite, signed_sum, span
from .tensor_values import (
    Indexed,
    Ref,
    TensorNames,
    as_claim_value,
    binary,
    elementwise,
    indexed,
    matmul,
    transpose,
)
from .wrt_words import no_gradient

_CHAIN = (ast.Mult, ast.Div, ast.MatMult)


@dataclass(frozen=True)
class Part:
    """An edit of a claim at one subexpression: ``kind`` is 'transpose', 'flip' (+ and -
    swapped), 'drop-left'/'drop-right' (a factor of a product left out) or 'index' (an edit
    of index notation's letters, ``index_edits``, made on the text: ``claim`` is the edited
    claim); ``text`` says what the edit is, ``mistake`` what it means when it makes the claim right."""

    position: tuple
    kind: str
    text: str
    mistake: str
    claim: str | None = None


def position(node: ast.AST) -> tuple:
    """Where a subexpression is in a claim (the same in every reading of the same text)."""
    return (type(node).__name__, node.lineno, node.col_offset, node.end_col_offset)


def _chain(node: ast.AST) -> list[tuple[ast.operator | None, ast.expr]]:
    """A product ``a * b / c @ d`` as [(None, a), (*, b), (/, c), (@, d)] (Python reads it left to right)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, _CHAIN):
        return [*_chain(node.left), (node.op, node.right)]
    return [(None, node)]


def _subscript_items(node: ast.Subscript) -> list[ast.expr]:
    return list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]


class TensorReader(FormulaReader):
    """Reads a tensor claim and evaluates it at one point (``values``: a node -> its per-sample
    array, ``adjoints``: a node -> dE/d(node)); ``free`` are the letters of ``--wrt`` and their
    ranges.  ``change``: one edit of the claim, a ``Part`` the diagnosis tries (a subexpression
    transposed, a sign flipped, a factor dropped); ``parts`` lists the edits a reading found."""

    BINARY_OPERATORS = {
        ast.Add: binary(operator.add, "+"),
        ast.Sub: binary(operator.sub, "-"),
        ast.Mult: binary(operator.mul, "*"),
        ast.Div: binary(operator.truediv, "/"),
        ast.Pow: binary(operator.pow, "**"),
        ast.MatMult: matmul,
    }
    UNARY_OPERATORS = {
        ast.UAdd: lambda v: v,
        ast.USub: lambda v: Indexed(-v.data, v.labels) if isinstance(v, Indexed) else -v,
    }

    def __init__(self, text: str, names: TensorNames, values, adjoints, free: dict[str, int], change: Part | None = None):
        super().__init__(text, {}, names.functions)
        self.names = names
        self.values = values
        self.adjoints = adjoints
        self.free = dict(free)
        self.bound: list[str] = []
        self.ranges: dict[str, int] = dict(free)
        self.change = change
        self.parts: list[Part] = []
        self.refs: set[Ref] = set()
        self.numbers: list = []  # the numbers written, exact (``TensorCheck.refuse_fine_numbers``)

    # -- reading --------------------------------------------------------------------------------

    def read(self):
        if not isinstance(self.text, str):
            raise FormulaError(f"claim must be text, not {type(self.text).__name__}")
        if not self.text.strip():
            raise FormulaError("claim is empty")
        if len(self.text) > MAX_LENGTH:
            raise FormulaError(f"claim is too long ({len(self.text)} characters; at most {MAX_LENGTH} allowed)")
        if "\n" in self.text.strip():
            raise FormulaError("a claim is one line")
        self.source, self.origin = rewrite(self.text.strip(), self.names.loss)
        self.text = self.text.strip()
        try:
            self.tree = ast.parse(self.source, mode="eval")
        except SyntaxError as exc:
            bare = re.search(r"sum_\[[^\]]*\]\*\s*(\)|$|[+\-,])", self.source)
            if bare:
                raise FormulaError(f"sum_{{...}} needs something to sum after it at {self._where(1, bare.start())}") from None
            where = f" at {self._where(1, exc.offset - 1)}" if exc.offset else ""
            raise FormulaError(f"syntax error{where}: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise FormulaError("claim is nested too deeply") from None
        self.hints = self._ranges_used(self.tree)
        return self.visit(self.tree.body)

    def _where(self, lineno: int, column: int) -> str:
        column = self.origin[min(max(column, 0), len(self.origin) - 1)]
        return f"column {column + 1}"

    def visit(self, node: ast.AST):
        if self.change is not None and position(node) == self.change.position:
            return self._changed(node, self.change)
        value = super().visit(node)
        self._note_parts(node, value)
        return value

    def _changed(self, node: ast.AST, change: Part):
        """The value of ``node`` edited as ``change`` says (once: the edit is then spent)."""
        self.change = None
        if change.kind == "transpose":
            return transpose(self.visit(node))
        if change.kind == "flip":
            flipped = ast.BinOp(node.left, ast.Sub() if isinstance(node.op, ast.Add) else ast.Add(), node.right)
            return self.visit(ast.copy_location(flipped, node))
        return self.visit(node.left if change.kind == "drop-right" else node.right)

    def _note_parts(self, node: ast.AST, value) -> None:
        """The edits the diagnosis may try at ``node``."""
        text = self.original(node)
        if node is not self.tree.body and not isinstance(value, Indexed) and np.ndim(value) == 2 and 1 < np.size(value):
            transposed = f"with {transposed_text(node, text)} in place of {text}"
            self.parts.append(Part(position(node), "transpose", transposed, "a missing or an extra transpose"))
        if not isinstance(node, ast.BinOp) or is_sum(node.left) or is_sum(node.right):
            return
        left, right = self.original(node.left), self.original(node.right)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            sign = "+" if isinstance(node.op, ast.Sub) else "-"
            self.parts.append(Part(position(node), "flip", f"with {left} {sign} {right} in place of {text}", "a sign error"))
        elif isinstance(node.op, (ast.Mult, ast.Div)):
            factor = right if isinstance(node.op, ast.Mult) else f"1/{right}"
            self.parts.append(Part(position(node), "drop-right", f"without the factor {factor}", "an extra factor"))
            if isinstance(node.op, ast.Mult):
                self.parts.append(Part(position(node), "drop-left", f"without the factor {left}", "an extra factor"))

    def original(self, node: ast.AST) -> str:
        """The user's text of a subexpression (before the rewrites)."""
        start, end = span(self.source, self.origin, node)
        return self.text[start:end].strip()

    def _check_value(self, node, value) -> None:
        """Sizes are refused before computing (``tensor_values.guard``); nothing to check after."""

    def _check_small_numbers(self, node, value, where) -> None:
        """Numbers are floats here: a large exponent overflows to inf instead of hanging."""

    # -- syntax ---------------------------------------------------------------------------------

    def visit_Constant(self, node: ast.Constant):
        """A float64 (not a Python float, whose ``10.0 ** 400`` raises instead of giving inf)."""
        number = super().visit_Constant(node)
        self.numbers.append(number)
        return np.float64(number)

    def visit_Name(self, node: ast.Name):
        self._check_name(node)
        if node.id == MARKER:
            raise self.error(node, "sum_ must be written sum_{t} (or sum_t) followed by what it sums")
        ref = self.names.resolve(node.id)
        if ref is not None:
            return self._value(node, ref)
        if node.id in self.names.constants:
            return self.names.constants[node.id]
        if node.id in self.functions:
            raise self.error(node, f"'{node.id}' is a function", f"call it like {node.id}(...)")
        if node.id in self.free or node.id in self.bound:
            raise self.error(node, f"'{node.id}' is an index", "use it inside [] (X[t, i]) or delta(j, k)")
        raise self.error(node, f"unknown name '{node.id}'", self.names.known())

    def _value(self, node: ast.AST, ref: Ref, raw: bool = False):
        """The value of a node or adjoint (``raw``: its per-sample array, for indexing)."""
        table = self.values if ref.kind == "value" else self.adjoints
        if ref.node not in table:
            raise self.error(node, self._no_adjoint(ref.node))
        self.refs.add(ref)
        array = np.asarray(table[ref.node])
        if ref.index is not None:
            array = array[ref.index]
            return array if raw else as_claim_value(array, ())
        return array if raw else as_claim_value(array, self.names.shapes[ref.node])

    def _no_adjoint(self, name: str) -> str:
        graph = self.names.graph
        if name not in graph.needs_grad:
            return no_gradient(graph, name, name)
        consumers = [n.name for n in graph.consumers(name)]
        return (
            f"the backward pass computes no dE/d{name}: {name} and the loss {', '.join(consumers)} are fused "
            f"(use the adjoint of {name}'s input, d{graph.nodes[name].inputs[0]})"
        )

    def visit_UnaryOp(self, node: ast.UnaryOp):
        apply = self._operator(node, node.op, self.UNARY_OPERATORS)
        return apply(self.visit(node.operand))

    def visit_BinOp(self, node: ast.BinOp):
        chain = _chain(node)
        if any(is_sum(part) for _, part in chain):
            return self._product(chain, node)
        apply = self._operator(node, node.op, self.BINARY_OPERATORS)
        left, right = self.visit(node.left), self.visit(node.right)
        return self._apply(apply, left, right, node)

    def _apply(self, apply: Callable, left, right, node: ast.AST):
        try:
            return apply(left, right)
        except ShapeError as exc:
            raise exc.at(f"at column {span(self.source, self.origin, node)[0] + 1} of the claim") from None
        except FormulaError as exc:
            raise self.error(node, str(exc)) from None

    def visit_Attribute(self, node: ast.Attribute):
        if node.attr != "T":
            raise self.error(node, f"'.{node.attr}' is not allowed", "only '.T' (transpose) is")
        try:
            return transpose(self.visit(node.value))
        except FormulaError as exc:
            raise self.error(node, str(exc)) from None

    # -- sums -----------------------------------------------------------------------------------

    def _product(self, chain, node: ast.AST):
        """A product holding ``sum_{t}``: what stands before it multiplies the sum of what follows."""
        start = next(k for k, (_, part) in enumerate(chain) if is_sum(part))
        op, signed = chain[start]
        sign, marker = signed_sum(signed)
        if start == len(chain) - 1:
            raise self.error(marker, "sum_{...} needs something to sum after it")
        if start and not isinstance(op, ast.Mult):
            raise self.error(marker, "a sum after '/' or '@' needs brackets", "write a / (sum_{t} ...)")
        letters = self._sum_letters(marker)
        self.bound += letters
        try:
            summand = self._fold([(None, chain[start + 1][1]), *chain[start + 2 :]])
        finally:
            del self.bound[-len(letters) :]
        total = self._sum(summand, letters, marker)
        if sign < 0:
            total = self.UNARY_OPERATORS[ast.USub](total)
        if not start:
            return total
        prefix = self._fold(chain[:start])
        return self._apply(self.BINARY_OPERATORS[ast.Mult], prefix, total, node)

    def _fold(self, chain):
        if any(is_sum(part) for _, part in chain):
            return self._product(chain, chain[-1][1])
        value = self.visit(chain[0][1])
        for op, part in chain[1:]:
            value = self._apply(self._operator(part, op, self.BINARY_OPERATORS), value, self.visit(part), part)
        return value

    def _sum_letters(self, marker: ast.Subscript) -> list[str]:
        letters = []
        for item in _subscript_items(marker):
            if not isinstance(item, ast.Name) or item.id.startswith("_"):
                raise self.error(item, "sum_{...} takes index letters", "e.g. sum_{t} or sum_{t,k}")
            if item.id in self.free:
                raise self.error(item, f"'{item.id}' is an index of --wrt; it cannot also be summed")
            if item.id in self.bound or item.id in letters:
                raise self.error(item, f"'{item.id}' is already summed")
            letters.append(item.id)
        return letters

    def _sum(self, summand, letters: list[str], marker: ast.AST):
        if not isinstance(summand, Indexed):
            if np.ndim(summand):
                raise self.error(marker, "sum_{...} sums index notation (X[t, i]); for a whole array use sum(...)")
            raise self.error(marker, f"what sum_{{{','.join(letters)}}} sums does not depend on {letters[0]}")
        missing = [letter for letter in letters if letter not in summand.labels]
        if missing:
            raise self.error(marker, f"what sum_{{{','.join(letters)}}} sums does not depend on {missing[0]}")
        axes = tuple(summand.labels.index(letter) for letter in letters)
        labels = tuple(label for label in summand.labels if label not in letters)
        return indexed(summand.data.sum(axis=axes), labels)

    # -- indexing -------------------------------------------------------------------------------

    def visit_Subscript(self, node: ast.Subscript):
        if is_sum(node):
            raise self.error(node, "sum_{...} needs something to sum after it")
        if isinstance(node.value, ast.Name) and (ref := self.names.resolve(node.value.id)) is not None and ref.index is None:
            self._check_name(node.value)
            array = self._value(node.value, ref, raw=True)
            what = node.value.id
        else:
            value = self.visit(node.value)
            if isinstance(value, Indexed) or not np.ndim(value):
                raise self.error(node, "only an array can be indexed")
            array = value.reshape(-1) if value.ndim == 2 and 1 in value.shape else value
            what = ast.get_source_segment(self.source, node.value) or "the array"
        items = _subscript_items(node)
        if len(items) > array.ndim:
            raise self.error(node, f"{len(items)} indices for '{what}' of shape {list(array.shape)}", "indices in [] are 0-based")
        picks, letters = [], []
        for axis, item in enumerate(items):
            pick = self._index_item(item, array.shape[axis], what)
            if isinstance(pick, str):
                letters.append(pick)
                pick = slice(None)
            picks.append(pick)
        if letters and (len(items) < array.ndim or any(isinstance(p, slice) and p != slice(None) for p in picks)):
            shape = list(array.shape)
            raise self.error(node, f"in index notation give every axis of '{what}' (shape {shape}) a letter or a number")
        data = array[tuple(picks)]
        if not letters:
            return as_claim_value(data, data.shape) if data.ndim != 1 else data.reshape(-1, 1)
        return self._diagonal(data, tuple(letters))

    def _index_item(self, item: ast.expr, size: int, what: str):
        """An int, a slice or an index letter (returned as a str)."""
        if isinstance(item, ast.Name):
            self._check_name(item)
            letter = item.id
            if letter not in self.free and letter not in self.bound:
                raise self.error(item, f"index '{letter}' is neither summed nor an index of --wrt", f"write sum_{{{letter}}} ...")
            known = self.ranges.setdefault(letter, size)
            if known != size:  # the shapes of index notation do not fit: a mathematical mistake
                message = f"index '{letter}' runs over {known} values elsewhere but over {size} in '{what}'"
                raise ShapeError(str(self.error(item, message)), located=True)
            return letter
        if isinstance(item, ast.Slice):
            bounds = (item.lower, item.upper, item.step)
            return slice(*(None if part is None else self._whole(part, size + 1, what) for part in bounds))
        return self._whole(item, size, what)

    def _whole(self, item: ast.expr, size: int, what: str) -> int:
        if not (isinstance(item, ast.Constant) and type(item.value) is int):
            raise self.error(item, "an index must be a whole number or a letter", "indices in [] are 0-based")
        if not 0 <= item.value < size:
            raise self.error(item, f"index {item.value} is out of range for '{what}' (0 to {size - 1})")
        return item.value

    @staticmethod
    def _diagonal(data: np.ndarray, letters: tuple[str, ...]):
        """Axes named by letters; a repeated letter takes the diagonal (``X[t, t]``)."""
        distinct = tuple(dict.fromkeys(letters))
        if len(distinct) == len(letters):
            return Indexed(data, letters)
        codes = {letter: chr(ord("a") + k) for k, letter in enumerate(distinct)}
        subscripts = "".join(codes[letter] for letter in letters) + "->" + "".join(codes[letter] for letter in distinct)
        return Indexed(np.einsum(subscripts, data), distinct)

    def _ranges_used(self, tree: ast.AST) -> dict[str, int]:
        """The range of each letter where it indexes a named node (for delta before that use)."""
        found: dict[str, int] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and not is_sum(node):
                ref = self.names.resolve(node.value.id)
                if ref is None or ref.index is not None:
                    continue
                shape = self.names.shapes[ref.node]
                for axis, item in enumerate(_subscript_items(node)):
                    if isinstance(item, ast.Name) and axis < len(shape):
                        found.setdefault(item.id, shape[axis])
        return found

    # -- calls ----------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id == "delta" and "delta" not in self.names.shapes:
            return self._delta(node)
        if isinstance(node.func, ast.Name) and self.names.resolve(node.func.id) is not None:
            raise self.error(node.func, f"'{node.func.id}' is not a function", "write '*' for a product")
        try:
            return super().visit_Call(node)
        except ShapeError as exc:
            raise exc.at(f"at column {span(self.source, self.origin, node)[0] + 1} of the claim") from None
        except FormulaError as exc:
            if " at column " in str(exc):
                raise
            raise self.error(node, str(exc)) from None

    def _delta(self, node: ast.Call):
        if len(node.args) != 2 or node.keywords:
            raise self.error(node, "delta takes two indices", "delta(j, k) is 1 where j = k, else 0")
        sides = []
        for arg in node.args:
            if isinstance(arg, ast.Name) and (arg.id in self.free or arg.id in self.bound):
                size = self.ranges.get(arg.id, self.hints.get(arg.id))
                if size is None:
                    raise self.error(arg, f"index '{arg.id}' has no range yet", "use it as an index of a node too")
                sides.append(Indexed(np.arange(size), (arg.id,)))
            else:
                sides.append(self.visit(arg))
        return elementwise(lambda a, b: (a == b).astype(float), *sides)

    def read_keywords(self, node: ast.Call) -> dict:
        keywords = {}
        for keyword in node.keywords:
            if keyword.arg != "axis":
                raise self.error(keyword, "only the keyword axis= is allowed")
            keywords["axis"] = self._axis(keyword.value)
        return keywords

    def _axis(self, node: ast.expr):
        if isinstance(node, ast.Tuple):
            return tuple(self._axis(item) for item in node.elts)
        sign = 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sign, node = -1, node.operand
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return sign * node.value
        raise self.error(node, "axis= takes a whole number or a tuple of them")

    def known_functions(self) -> list[str]:
        return sorted(n for n in self.functions if not n.endswith("_prime") and n.isascii())


def transposable_parts(text: str, loss: str) -> list[Part]:
    """Every subexpression of a claim as a 'transpose' edit, found without evaluating it (for
    the hint of a claim whose shapes do not fit)."""
    source, origin = rewrite(text.strip(), loss)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        return []
    parts = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.BinOp, ast.Call)) and not is_sum(node):
            start, end = span(source, origin, node)
            shown = text.strip()[start:end]
            edit = f"with {transposed_text(node, shown)} in place of {shown}"
            parts.append(Part(position(node), "transpose", edit, "a missing transpose"))
    return parts


def transposed_text(node: ast.AST, text: str) -> str:
    """``text`` (the claim's spelling of ``node``) transposed: ``W2.T``, ``(2 * (y - t) / 32).T``."""
    return f"({text}).T" if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp)) else f"{text}.T"


def uses_tensor_notation(text: str, names: TensorNames) -> bool:
    """Whether a claim needs this reader: adjoint names, index letters, sum_{...}, delta(...),
    a row of a matrix (``x[9]``) or a node of more than two axes; such a claim goes to the
    numeric check even on a network small enough for the exact one."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        return False
    try:
        tree = ast.parse(rewrite(text.strip(), names.loss)[0], mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return False
    for node in ast.walk(tree):
        if is_sum(node) or (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "delta"):
            return True
        if isinstance(node, ast.Name) and (ref := names.resolve(node.id)) is not None:
            if (ref.kind == "adjoint" and not node.id.startswith("delta")) or len(names.shapes[ref.node]) > 2:
                return True
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            ref = names.resolve(node.value.id)
            items = _subscript_items(node)
            if any(isinstance(item, (ast.Name, ast.Slice)) for item in items):
                return True
            if ref is not None and ref.index is None and len(items) < len(names.shapes[ref.node]):
                return True
    return False
