"""Pass 1 of a graph spec: the text of each expression -> a tree (``TensorExpr``), read by a
whitelisting AST reader (``TensorReader``), never ``eval``/``sympify``."""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from ..formula import MAX_EXPONENT, FormulaReader

# -- pass 1: text -> expression trees ----------------------------------------------------


@dataclass(eq=False)
class TensorExpr:
    """A parsed tensor expression: an operation ``kind`` on ``args`` (trees, names or numbers).

    ``index`` is a subscript ``x[...]``: ``args`` are the indexed tensor and any tensors used
    as indices (``E[ids]``), ``keywords["items"]`` the items of the subscript in order, each
    ``("int", k)``, ``("slice", start, stop, step)`` (None where omitted) or ``("tensor", i)``
    (the i-th index tensor)."""

    kind: str  # 'ref', 'add', 'sub', 'mul', 'div', 'pow', 'neg', 'matmul', 'T', 'call', 'index'
    node: ast.AST
    args: tuple = ()
    name: str = ""  # the referenced name ('ref') or the called function ('call')
    keywords: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Static:
    """A constant argument that is not a number: a string (einsum's subscripts) or a tuple of
    whole numbers (a shape, axes).  Only calls take them."""

    value: str | tuple[int, ...]
    text: str


_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow", ast.MatMult: "matmul"}
OPERATOR_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "matmul": "@"}
#: Largest whole number in a shape, an axis list or an index.
MAX_STATIC = 1_000_000


class TensorReader(FormulaReader):
    """Reads one expression into an ``TensorExpr`` tree; numbers are folded into SymPy numbers.

    ``tensors`` are the names that stand for tensors (resolved in pass 2, so nodes may be used
    before they are defined and cycles are found there), ``constants`` the spec's constants,
    ``callables`` the function names of the language.
    """

    BINARY_OPERATORS = {**FormulaReader.BINARY_OPERATORS, ast.MatMult: operator.matmul}

    def __init__(
        self, text: str, tensors: set[str], constants: dict[str, sp.Expr], callables: dict[str, Any], step: str | None = None
    ):
        super().__init__(text, constants, callables)
        self.tensors = tensors
        self.step = step  # the variable of a repeated node (k of h{k}: {for: k in 2..5, ...}), or None

    def _unknown_name(self, node: ast.Name):
        if node.id == self.step:
            return self.error(
                node,
                f"unknown name '{node.id}'",
                f"the step {node.id} is replaced only in braces: write X[{{{node.id}-1}}], h{{{node.id}-1}} or x{{{node.id}}}",
            )
        return super()._unknown_name(node)

    def visit_Name(self, node: ast.Name) -> Any:
        self._check_name(node)
        if node.id in self.tensors:
            return TensorExpr("ref", node, name=node.id)
        return super().visit_Name(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bool):  # keepdims=True, as in NumPy
            return Static(node.value, repr(node.value))
        if isinstance(node.value, str):
            if len(node.value) > 100:
                raise self.error(node, "string too long (at most 100 characters)")
            return Static(node.value, repr(node.value))
        return super().visit_Constant(node)

    def visit_Tuple(self, node: ast.Tuple | ast.List) -> Static:
        """``(0, 2, 1)`` or ``[8, 4]``: whole numbers, for shapes and axes."""
        items = []
        for element in node.elts:
            value = self.visit(element)
            if not (isinstance(value, sp.Integer) and abs(int(value)) <= MAX_STATIC):
                raise self.error(element, f"expected a whole number within +-{MAX_STATIC} here, got {self.segment(element)}")
            items.append(int(value))
        if len(items) > 16:
            raise self.error(node, "at most 16 numbers in a list")
        return Static(tuple(items), self.segment(node))

    visit_List = visit_Tuple

    def visit_Subscript(self, node: ast.Subscript) -> TensorExpr:
        """``x[0]``, ``x[:, 0:4]``, ``x[-1]``, ``E[ids]``: constant slices and whole numbers, or an
        integer tensor that picks rows of a table."""
        value = self.visit(node.value)
        if not isinstance(value, TensorExpr):
            raise self.error(node, "only a tensor can be indexed")
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        items, tensors = [], []
        for part in parts:
            if isinstance(part, ast.Constant) and part.value is None:
                raise self.error(
                    part,
                    "None (NumPy's new axis) is not allowed in an index",
                    f"add an axis of size 1 with reshape({self.segment(node.value)}, [...])",
                )
            if isinstance(part, ast.Slice):
                bounds = [None if b is None else self.index_number(b) for b in (part.lower, part.upper, part.step)]
                if bounds[2] is not None and bounds[2] <= 0:
                    raise self.error(part, "a slice's step must be positive")
                items.append(("slice", *bounds))
                continue
            item = self.visit(part)
            if isinstance(item, TensorExpr):
                items.append(("tensor", len(tensors)))
                tensors.append(item)
            else:
                items.append(("int", self.index_number(part, item)))
        if len(items) > 16:
            raise self.error(node, "at most 16 indices")
        return TensorExpr("index", node, (value, *tensors), keywords={"items": tuple(items)})

    def index_number(self, node: ast.AST, value: Any = None) -> int:
        value = self.visit(node) if value is None else value
        if isinstance(value, sp.Integer) and abs(int(value)) <= MAX_STATIC:
            return int(value)
        if isinstance(value, sp.Number):
            raise self.error(node, f"an index must be a whole number, got {self.segment(node)}")
        raise self.error(node, f"an index must be a whole number or an integer tensor, got {self.segment(node)}")

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        self._operator(node, node.op, self.BINARY_OPERATORS)  # rejects %, //, ...
        kind = _BINARY[type(node.op)]
        left, right = self.visit(node.left), self.visit(node.right)
        for side, value in ((node.left, left), (node.right, right)):
            if isinstance(value, Static):
                message = f"{value.text} is not a number or a tensor; only a function's arguments may be strings or lists"
                raise self.error(side, message)
        if kind == "pow" and isinstance(right, TensorExpr):
            raise self.error(node.right, "the exponent of '**' must be a constant")
        if kind == "pow" and abs(right) > MAX_EXPONENT:  # as in formulas: z ** 100000 overflows every float
            raise self.error(node.right, f"the exponent of '**' must be within +-{MAX_EXPONENT}, got {self.segment(node.right)}")
        if kind != "matmul" and not isinstance(left, TensorExpr) and not isinstance(right, TensorExpr):
            return super().visit_BinOp(node)  # numbers only: fold, with the reader's safety checks
        if kind == "matmul" and not (isinstance(left, TensorExpr) and isinstance(right, TensorExpr)):
            raise self.error(node, "'@' needs a tensor on both sides", "use '*' to scale by a number")
        return TensorExpr(kind, node, (left, right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        self._operator(node, node.op, self.UNARY_OPERATORS)
        operand = self.visit(node.operand)
        if isinstance(operand, Static):
            raise self.error(node, f"{operand.text} is not a number or a tensor")
        if not isinstance(operand, TensorExpr):
            return super().visit_UnaryOp(node)
        return operand if isinstance(node.op, ast.UAdd) else TensorExpr("neg", node, (operand,))

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        if node.attr != "T":
            raise self.error(node, f"attribute '.{node.attr}' is not allowed", "the only attribute is .T, the transpose")
        value = self.visit(node.value)
        if not isinstance(value, TensorExpr):
            raise self.error(node, "a number has no transpose")
        return TensorExpr("T", node, (value,))

    def visit_Call(self, node: ast.Call) -> Any:
        name = self._function_name(node.func)
        args = tuple(self.visit(arg) for arg in node.args)
        keywords = self.read_keywords(node)
        static = any(isinstance(a, Static) for a in (*args, *keywords.values()))
        numbers = not static and not any(isinstance(a, TensorExpr) for a in args)
        if numbers and name in self.functions and callable(self.functions[name]):
            # A function of numbers only (exp(1), sigmoid(0)): fold it, as a formula would.
            return super().visit_Call(node)
        return TensorExpr("call", node, args, name, keywords)

    def read_keywords(self, node: ast.Call) -> dict[str, Any]:
        keywords = {}
        for item in node.keywords:
            if item.arg is None:
                raise self.error(item, "'**' unpacking is not allowed")
            value = self.visit(item.value)
            if isinstance(value, TensorExpr):
                raise self.error(item.value, f"the value of {item.arg}= must be a number")
            keywords[item.arg] = value
        return keywords

    def _check_value(self, node: ast.AST, value: Any) -> None:
        if not isinstance(value, (TensorExpr, Static)):
            super()._check_value(node, value)

    def _check_small_numbers(self, node: ast.AST, value: Any, where: str) -> None:
        if not isinstance(value, (TensorExpr, Static)):
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


