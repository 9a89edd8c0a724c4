"""Safe parsing of user-supplied formula strings into SymPy expressions.

Formulas come from YAML files that people share, so the text is never given to
``eval``, ``exec``, ``sympy.sympify`` or ``parse_expr``.  Instead it is parsed
with ``ast.parse`` and the syntax tree is walked by :class:`FormulaReader`,
which accepts only a whitelist of node types and builds the SymPy expression
node by node.

``^`` means power, as in maths.  It is rewritten to ``**`` before parsing, so it
also gets the precedence of ``**``: ``2*z^2 + 1`` is ``2*z**2 + 1``, ``-z^2`` is
``-(z**2)`` and ``z^2^3`` is ``z^(2^3)``.  The rewrite is textual, but a ``^``
outside an operator can only sit in a string (rejected anyway) or a comment.

SymPy evaluates arithmetic on numbers eagerly, so the reader also keeps the
numbers small enough that building an expression cannot hang or exhaust memory
(think of ``9**9**9**9``).  Every value built, for every node, must satisfy:

* every number fits in ``MAX_NUMBER_BITS`` bits (numerator and denominator);
* numbers inside an exponent or a function argument lie within ``+-MAX_EXPONENT``.
  Function arguments count because SymPy turns them into exponents too:
  ``exp(k*log(2))`` becomes ``2**k``.

The second rule is also checked on the operands *before* raising to a power or
calling a function, so that no single step computes a power of more than about
``MAX_EXPONENT * MAX_NUMBER_BITS`` bits.  Checking whole values, not just the
operands, matters once a built expression is reused: ``(z^1000)^1000`` is
``z**1000000``, harmless until someone substitutes ``2*z`` for ``z``.

These rules cannot protect against callables in ``functions`` that substitute
numbers into expressions (``body.subs(z, 2)`` with ``body = exp(log(2)*z**1000)``
computes ``2**(2**1000)``); such callables must refuse symbol-free arguments by
raising ValueError, which is reported as a FormulaError.
"""

from __future__ import annotations

import ast
import io
import keyword
import operator
import tokenize
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

import sympy
from sympy.core.function import Application

from .errors import did_you_mean

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_NUMBER_BITS = 256
MAX_EXPONENT = 1000

_REJECTED_SYNTAX: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "boolean operators are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
}

_REJECTED_CONSTANTS: dict[type, str] = {
    str: "strings are not allowed",
    bytes: "bytes are not allowed",
    complex: "complex numbers are not allowed",
}

# Only used to name operators in error messages; ast operator nodes carry no text.
_OPERATOR_TEXT: dict[type[ast.AST], str] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.Invert: "~",
    ast.Not: "not",
}


class FormulaError(ValueError):
    """A formula that cannot be accepted; str() is one clear line saying what and where (column)."""


class FormulaReader:
    """Builds a SymPy expression from formula text, accepting only whitelisted syntax.

    Each accepted AST node type has a ``visit_<NodeType>`` method; any other node
    is rejected by :meth:`visit`.  A richer language (e.g. tensor expressions)
    can subclass this, add ``visit_*`` methods, extend the operator tables and
    override :meth:`read_keywords`.
    """

    UNARY_OPERATORS: ClassVar[dict[type[ast.unaryop], Callable[[Any], Any]]] = {
        ast.UAdd: operator.pos,
        ast.USub: operator.neg,
    }
    BINARY_OPERATORS: ClassVar[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
        ast.Pow: operator.pow,
    }

    def __init__(
        self,
        text: str,
        symbols: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]],
    ) -> None:
        self.text = text
        self.symbols = symbols
        self.functions = functions
        self._depth = 0

    def read(self) -> Any:
        """Parse and build the whole formula."""
        if not isinstance(self.text, str):
            raise FormulaError(f"formula must be a string, not {type(self.text).__name__}")
        if not self.text.strip():
            raise FormulaError("formula is empty")
        if len(self.text) > MAX_LENGTH:
            raise FormulaError(
                f"formula is too long ({len(self.text)} characters; at most {MAX_LENGTH} allowed)"
            )
        self.source = self.text.replace("^", "**")
        try:
            tree = ast.parse(self.source, mode="eval")
        except SyntaxError as exc:
            pair = _missing_operator(self.source)
            if pair:
                left, right = pair
                matrix = ", '@' for a matrix product" if ast.MatMult in self.BINARY_OPERATORS else ""
                raise FormulaError(
                    f"syntax error at {self._where(*right.start)}: no operator between {left.string!r} and "
                    f"{right.string!r} (write '*' for a product{matrix})"
                ) from None
            where = f" at {self._where(exc.lineno, exc.offset - 1)}" if exc.offset else ""
            raise FormulaError(f"syntax error{where}: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise FormulaError("formula is nested too deeply") from None
        return self.visit(tree.body)

    def visit(self, node: ast.AST) -> Any:
        """Build the value of `node`, rejecting syntax that has no ``visit_*`` method."""
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            message = _REJECTED_SYNTAX.get(type(node), f"{type(node).__name__} expressions are not allowed")
            raise self.error(node, message)
        if self._depth >= MAX_DEPTH:
            raise self.error(node, "formula is nested too deeply", f"at most {MAX_DEPTH} levels are allowed")
        self._depth += 1
        try:
            value = method(node)
        finally:
            self._depth -= 1
        self._check_value(node, value)
        return value

    def visit_Constant(self, node: ast.Constant) -> sympy.Rational:
        value = node.value
        if type(value) is int:
            return sympy.Integer(value)
        if type(value) is float:
            # Convert from the source text: the float value is already rounded.
            number = Decimal(ast.get_source_segment(self.source, node))
            # Checked before converting, so that 1e999999999 cannot make us compute 10**999999999.
            if abs(number.as_tuple().exponent) > MAX_NUMBER_BITS:
                raise self._number_too_large(node)
            return sympy.Rational(*number.as_integer_ratio())
        raise self.error(node, _REJECTED_CONSTANTS.get(type(value), f"{value!r} is not allowed"))

    def visit_Name(self, node: ast.Name) -> Any:
        self._check_name(node)
        if node.id in self.symbols:
            return self.symbols[node.id]
        if node.id in self.functions:
            raise self.error(node, f"'{node.id}' is a function", f"call it like {node.id}(...)")
        raise self._unknown_name(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        apply = self._operator(node, node.op, self.UNARY_OPERATORS)
        return apply(self.visit(node.operand))

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        apply = self._operator(node, node.op, self.BINARY_OPERATORS)
        left = self.visit(node.left)
        right = self.visit(node.right)
        if apply is operator.pow:
            self._check_small_numbers(node.right, right, "in an exponent")
        return apply(left, right)

    def visit_Call(self, node: ast.Call) -> Any:
        name = self._function_name(node.func)
        args = [self.visit(arg) for arg in node.args]
        keywords = self.read_keywords(node)
        for arg_node, arg in zip(node.args, args):
            self._check_small_numbers(arg_node, arg, "in a function argument")
        try:
            return self.functions[name](*args, **keywords)
        except (TypeError, ValueError) as exc:
            count = f"{len(args)} argument{'' if len(args) == 1 else 's'}"
            raise self.error(node, f"cannot call '{name}' with {count}", str(exc)) from None

    def read_keywords(self, node: ast.Call) -> dict[str, Any]:
        """Keyword arguments of a call: formulas allow none, richer languages may override this."""
        if node.keywords:
            keyword = node.keywords[0]
            message = "keyword arguments are not allowed" if keyword.arg else "'**' unpacking is not allowed"
            raise self.error(keyword, message)
        return {}

    def error(self, node: ast.AST, message: str, detail: str | None = None) -> FormulaError:
        """A FormulaError reading '<message> at column N[; <detail>]'."""
        lineno, offset = node.lineno, node.col_offset
        if isinstance(node, ast.Attribute):  # at the dot, not where the object before it starts
            lineno, offset = node.value.end_lineno, node.value.end_col_offset
        line = self.source.split("\n")[lineno - 1]
        # ast column offsets count UTF-8 bytes; users count characters.
        column = len(line.encode()[:offset].decode(errors="replace"))
        suffix = f"; {detail}" if detail else ""
        return FormulaError(f"{message} at {self._where(lineno, column)}{suffix}")

    def _where(self, lineno: int, column: int) -> str:
        """Describe a 0-based `column` of `self.source` as a 1-based column of the user's text."""
        line = self.text.split("\n")[lineno - 1]
        # Each '^' became two characters in the source.
        carets = [index for index, char in enumerate(line) if char == "^"]
        column -= sum(1 for shift, index in enumerate(carets) if index + shift < column)
        if "\n" in self.text:
            return f"line {lineno}, column {column + 1}"
        return f"column {column + 1}"

    def _operator(self, node: ast.AST, op: ast.AST, table: Mapping[type, Callable]) -> Callable:
        if type(op) not in table:
            text = _OPERATOR_TEXT.get(type(op), type(op).__name__)
            raise self.error(node, f"operator '{text}' is not allowed")
        return table[type(op)]

    def _function_name(self, node: ast.expr) -> str:
        if not isinstance(node, ast.Name):
            self.visit(node)  # rejects attribute access, subscripts, ... with their own message
            raise self.error(node, "only named functions can be called")
        self._check_name(node)
        if node.id in self.functions:
            return node.id
        if node.id in self.symbols:
            raise self.error(node, f"'{node.id}' is not a function")
        raise self._unknown_function(node)

    def _check_name(self, node: ast.Name) -> None:
        # Underscore names are how escapes start (__import__, __class__, ...).
        if node.id.startswith("_"):
            raise self.error(node, f"name '{node.id}' is not allowed", "names starting with '_' are not allowed")

    def known_variables(self) -> list[str]:
        """The names a formula may use as values (for messages)."""
        return sorted(self.symbols)

    def known_functions(self) -> list[str]:
        """The names a formula may call (for messages)."""
        return sorted(self.functions)

    def _unknown_name(self, node: ast.Name) -> FormulaError:
        if node.id.lower() in ("inf", "infinity", "nan"):
            return self.error(
                node,
                f"'{node.id}' is not allowed",
                "numbers are finite: write a large one, as -1e9 (a causal mask: where(tril(6), s, -1e9))",
            )
        variables, functions = self.known_variables(), self.known_functions()
        close = did_you_mean(node.id, [*variables, *functions])
        known = f"variables: {', '.join(variables) or 'none'}; functions: {', '.join(functions) or 'none'}"
        return self.error(node, f"unknown name '{node.id}'{close}", known)

    def _unknown_function(self, node: ast.Name) -> FormulaError:
        functions = self.known_functions()
        close = did_you_mean(node.id, functions)
        return self.error(node, f"unknown name '{node.id}'{close}", f"functions: {', '.join(functions) or 'none'}")

    def _check_value(self, node: ast.AST, value: Any) -> None:
        for part in sympy.preorder_traversal(value):
            if isinstance(part, sympy.Rational) and _bits(part) > MAX_NUMBER_BITS:
                raise self._number_too_large(node)
            if isinstance(part, sympy.Pow):
                self._check_small_numbers(node, part.exp, "in an exponent")
            elif isinstance(part, Application):
                for arg in part.args:
                    self._check_small_numbers(node, arg, "in a function argument")
        if value.has(sympy.S.NaN, sympy.S.ComplexInfinity):
            raise self.error(node, "formula is undefined here (division by zero?)")
        if value.has(sympy.I) or value.is_extended_real is False:  # log(-1), (-8) ** (1/3), sqrt(-1 - z^2)
            raise self.error(node, "formula is not a real number here (the log or a root of a negative number?)")

    def _check_small_numbers(self, node: ast.AST, value: Any, where: str) -> None:
        if any(abs(number) > MAX_EXPONENT for number in value.atoms(sympy.Rational)) or _large_number(value):
            raise self.error(
                node,
                f"number too large {where}",
                f"numbers in exponents and function arguments must be within +-{MAX_EXPONENT}",
            )

    def _number_too_large(self, node: ast.AST) -> FormulaError:
        return self.error(
            node,
            "number too large",
            f"numerators and denominators are limited to {MAX_NUMBER_BITS} bits (about 77 digits)",
        )


def _large_number(value: Any) -> bool:
    """Whether ``value`` is a number computed by functions beyond +-``MAX_EXPONENT`` (``exp(exp(5))``:
    exp(exp(exp(exp(5)))) would hang every evaluation).  Formulas are checked bottom-up, so the
    number's own arguments are within the bound and its size is quick to compute."""
    if not isinstance(value, sympy.Expr) or value.is_Rational or not value.is_number:
        return False
    try:
        return bool(abs(sympy.N(value, 15)) > MAX_EXPONENT)
    except TypeError:  # not comparable (nan): the value checks report it
        return False


def _bits(number: sympy.Rational) -> int:
    return max(abs(number.p).bit_length(), number.q.bit_length())


def parse_formula(
    text: str,
    symbols: Mapping[str, sympy.Expr],
    functions: Mapping[str, Callable[..., sympy.Expr]],
) -> sympy.Expr:
    """Build the SymPy expression for `text` without evaluating any code.

    `symbols` are the names usable as values, `functions` the names usable as
    functions (called with positional arguments).  Raises FormulaError if the
    formula uses anything else, or anything outside the accepted syntax:
    numbers, names, unary + and -, binary + - * / ** and ^ (power),
    parentheses and calls of named functions.
    """
    return FormulaReader(text, symbols, functions).read()


def _missing_operator(source: str) -> tuple[tokenize.TokenInfo, tokenize.TokenInfo] | None:
    """The first two neighbouring tokens with no operator between them, a value's end and a
    value's start (`W1 x`, `2 z`, `(1 - z) z`), or None: Python's own message for them is
    "invalid syntax. Perhaps you forgot a comma?"."""
    try:
        tokens = [
            token
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type in (tokenize.NAME, tokenize.NUMBER, tokenize.OP)
        ]
    except (tokenize.TokenError, SyntaxError):
        return None

    def value(token: tokenize.TokenInfo) -> bool:
        return token.type in (tokenize.NAME, tokenize.NUMBER) and not keyword.iskeyword(token.string)

    for left, right in zip(tokens, tokens[1:]):
        if (value(left) or left.string in (")", "]")) and value(right):
            return left, right
    return None
