"""Printing SymPy expressions as LaTeX for the handout.

A ``LatexPrinter`` subclass, extended the way SymPy's printers are (``_print_<Class>``):

* every symbol is looked up in a name table (element symbols such as ``a2_1`` become
  ``a^{(2)}_{1}``, see ``naming.latex_element``); a symbol that is not in the table is
  printed through ``naming.escape_latex_name``, never through SymPy's own name mangling,
  so no text from a spec reaches the document unescaped;
* sums put their positive terms first (``t - y``, not ``- y + t``), as the NumPy printer does;
* ``logcosh`` (the stabilised spelling) prints as what it means, ``\\log\\cosh``;
* a product with a word in it (a spec's constant ``beta``, upright as ``\\mathrm{beta}``) spaces
  its factors by ``\\,``: ``\\mathrm{beta} z`` reads as one word "betaz" where ``\\beta z`` or
  ``\\sigma(z) z`` do not.  Constants keep the spec's name rather than a Greek letter: on the same
  page ``\\delta`` is the error signal and ``\\alpha`` the learning rate, and ``symprop verify``
  reads ``\\mathrm{beta}`` as the constant ``beta``.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from . import naming, registry
from .errors import WorkedExampleError

#: The LaTeX of a symbol that reads as Euler's e: ``e``, ``e_{1}``, ``e^{(2)}``, ``(e_{1})_{2}``.
_EULER_LOOKALIKE = re.compile(r"\(?e(?![A-Za-z])")

#: The registry's generic symbols, printed by their plain names unless a table says otherwise.
GENERIC = {registry.Z: "z", registry.A: "a", registry.Y: "y", registry.T: "t"}


class HandoutLatexPrinter(LatexPrinter):
    """LaTeX for handout formulas; ``names`` maps symbols to ready LaTeX."""

    def __init__(self, names: dict[sp.Symbol, str] | None = None, hadamard: bool = False, **settings):
        settings.setdefault("mul_symbol", None)
        super().__init__(settings)
        self.names = {**GENERIC, **(names or {})}
        self.hadamard = hadamard  # vector formulas: products of non-constant factors as ``\odot``
        self.juxtaposed = self._settings["mul_symbol_latex"] == " "  # products without a sign: words spaced

    def _print_Mul(self, expr):
        if not self.hadamard:
            return self._product(expr)
        factors = sp.Mul.make_args(expr)
        constant = sp.Mul(*[f for f in factors if self._is_scalar(f)])  # a number, a constant by name
        others = [f for f in factors if not self._is_scalar(f)]
        if len(others) < 2 or any(f.is_Pow and f.exp.is_negative for f in others):
            return self._product(expr)
        parts = []
        for factor in others:
            tex = self._print(factor)
            parts.append(rf"\left({tex}\right)" if isinstance(factor, sp.Add) else tex)
        body = r" \odot ".join(parts)
        sign = ""
        if constant.could_extract_minus_sign():
            sign, constant = "- ", -constant
        if constant == 1:
            return sign + body
        # A constant sum (2 - tanh 1) needs its brackets in front of the product.
        return f"{sign}{self.parenthesize(constant, PRECEDENCE['Mul'], strict=True)} {body}"

    def _is_scalar(self, factor) -> bool:
        """A number, or a constant by name (``\\mathrm{delta}``: a symbol of no node, in no name table)."""
        return factor.is_number or (isinstance(factor, sp.Symbol) and factor not in self.names)

    def _product(self, expr) -> str:
        """SymPy's product, its factors set apart by a thin space when one is a word
        (``\\mathrm{beta} \\, z``); nested products choose their own spacing.  A fraction
        times a case split is written in front of it, ``\\frac{1}{2} \\begin{cases}...``, not
        as a fraction over it."""
        coefficient, rest = expr.as_coeff_Mul()
        if isinstance(rest, sp.Piecewise) and coefficient.is_Rational and not coefficient.is_integer:
            sign = "- " if coefficient < 0 else ""
            return rf"{sign}{self._print(abs(coefficient))} {self._print(rest)}"
        if not self.juxtaposed:
            return super()._print_Mul(expr)
        worded = any(self._is_word(f.base if f.is_Pow else f) for f in sp.Mul.make_args(expr))
        saved = self._settings["mul_symbol_latex"]
        self._settings["mul_symbol_latex"] = r" \, " if worded else " "
        try:
            return super()._print_Mul(expr)
        finally:
            self._settings["mul_symbol_latex"] = saved

    def _is_word(self, factor) -> bool:
        """Whether ``factor`` is a symbol printed as an upright word (``\\mathrm{beta}``)."""
        return isinstance(factor, sp.Symbol) and self._print_Symbol(factor).startswith(r"\mathrm{")

    def _print_Symbol(self, expr, style="plain"):
        name = self.names.get(expr)
        if name is not None:
            return name
        return naming.escape_latex_name(expr.name)

    def _print_Add(self, expr, order=None):
        terms = list(self._as_ordered_terms(expr, order=order))
        positive = [term for term in terms if not term.could_extract_minus_sign()]
        negative = [term for term in terms if term.could_extract_minus_sign()]
        tex = ""
        for i, term in enumerate(positive + negative):
            if term.could_extract_minus_sign():
                tex += " - " if i else "- "
                term = -term
            elif i:
                tex += " + "
            term_tex = self._print(term)
            if self._needs_add_brackets(term):
                term_tex = rf"\left({term_tex}\right)"
            tex += term_tex
        return tex

    def _print_argument(self, expr) -> str:
        """A function's argument or an exponent: already delimited, so a number the table
        brackets for products (``(-0.08)``) loses its brackets: ``relu(-0.08)``, ``e^{-1}``."""
        return unbracketed(self._print(expr))

    def _print_Function(self, expr, exp=None) -> str:
        """SymPy's function call, its symbol arguments printed as ``_print_argument`` prints
        them: a number the table brackets for products stays unbracketed inside the call's own
        brackets, ``\\tanh(-0.27)``, not ``\\tanh((-0.27))``; so do ``log``, ``|x|``, max, min."""
        return self._with_bare_arguments(expr, lambda: super(HandoutLatexPrinter, self)._print_Function(expr, exp))

    def _print_log(self, expr, exp=None) -> str:
        return self._with_bare_arguments(expr, lambda: super(HandoutLatexPrinter, self)._print_log(expr, exp))

    def _print_Abs(self, expr, exp=None) -> str:
        return self._with_bare_arguments(expr, lambda: super(HandoutLatexPrinter, self)._print_Abs(expr, exp))

    def _print_Max(self, expr, exp=None) -> str:
        return self._with_bare_arguments(expr, lambda: super(HandoutLatexPrinter, self)._print_Max(expr, exp))

    def _print_Min(self, expr, exp=None) -> str:
        return self._with_bare_arguments(expr, lambda: super(HandoutLatexPrinter, self)._print_Min(expr, exp))

    def _with_bare_arguments(self, expr, printed) -> str:
        """``printed()`` with the names of ``expr``'s arguments unbracketed, when every argument
        is a symbol (a symbol inside a product, ``tanh(x y)``, keeps its brackets)."""
        if not expr.args or not all(isinstance(arg, sp.Symbol) for arg in expr.args):
            return printed()
        saved = self.names
        self.names = {**saved, **{arg: self._print_argument(arg) for arg in expr.args}}
        try:
            return printed()
        finally:
            self.names = saved

    def _print_constant(self, expr) -> str:
        """An activation's constant in its call (``leaky_relu(z, 0.1)``) as the spec gives it, as
        the titles and tables give it (``given``), not ``\\frac{1}{10}``; a symbol by its name."""
        return given(float(expr)) if expr.is_number else self._print_argument(expr)

    def _print_ExpBase(self, expr, exp=None):
        """``e^{x}``, or ``\\exp(x)`` when a symbol of the formula's table is itself an ``e``
        (a spec's node ``e``, its elements ``e_{1}``): ``e = e^{e_a}`` reads as Euler's e twice."""
        if any(_EULER_LOOKALIKE.match(tex) for tex in self.names.values()):
            tex = rf"\exp\left({self._print_argument(expr.args[0])}\right)"
        else:
            tex = rf"e^{{{self._print_argument(expr.args[0])}}}"
        return self._do_exponent(tex, exp)

    def _print_Heaviside(self, expr):
        # step(x) of formulas is 0 at 0; the derivative of max(a, b) (1/2 at 0) prints as H;
        # H(x - max(...)) with H(0) = 1, an argument's share of a tie (differentiation.derivative), as
        # the Iverson bracket [x = max(...)].
        arg, at_zero = expr.args
        if at_zero == 1:
            for term in sp.Add.make_args(arg):
                extremum = -term if isinstance(-term, sp.Max) else term if isinstance(term, sp.Min) else None
                if extremum is not None:
                    x = arg + extremum if isinstance(extremum, sp.Max) else extremum - arg
                    return rf"\left[{self._print(x)} = {self._print(extremum)}\right]"
            return rf"\left[{self._print(arg)} \geq 0\right]"
        name = r"\operatorname{step}" if at_zero == 0 else "H"
        return rf"{name}\left({self._print(arg)}\right)"

    def _print_logcosh(self, expr):
        return rf"\log\cosh\left({self._print(expr.args[0])}\right)"

    def _print_Piecewise(self, expr):
        rows = []
        for value, condition in expr.args:
            if isinstance(condition, sp.core.relational.Relational) and condition.lhs.is_Atom and not condition.rhs.is_Atom:
                condition = condition.reversed  # a constant by name last, as a textbook: |t - y| <= delta
            where = r"\text{otherwise}" if condition == sp.true else rf"\text{{if }} {self._print(condition)}"
            rows.append(rf"{self._print(value)} & {where}")
        return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"

    def _print_Float(self, expr):
        # Shortest exact decimal of the float: 1.0507009873554805, not 1.05070098735364.
        text = repr(float(expr))
        if "e" in text or "inf" in text or "nan" in text:
            return super()._print_Float(expr)
        return text


def to_latex(expr: sp.Expr, names: dict[sp.Symbol, str] | None = None, **settings) -> str:
    """``expr`` as LaTeX, symbols named by ``names``."""
    return plain_parentheses(HandoutLatexPrinter(names, **settings).doprint(expr))


_TALL = (r"\frac", r"\sum", r"\begin", r"\prod", r"\int", r"\sqrt", r"\Big", r"\big")


def plain_parentheses(tex: str) -> str:
    r"""``\left( ... \right)`` -> ``( ... )`` where the contents are one line high.

    SymPy's printer sizes every parenthesis; around a sub- or superscripted symbol that
    gives parentheses taller than the line (``\left(1 - a^{(2)}_{1}\right)``).  Pairs whose
    contents hold a fraction, a sum or an environment keep their sizing.
    """
    tex = tex.replace(r" \right)", r"\right)")  # SymPy's \left(y \right): no space before the bracket
    opens: list[int] = []
    pairs: list[tuple[int, int]] = []
    i = 0
    while i < len(tex):
        if tex.startswith(r"\left(", i):
            opens.append(i)
            i += 6
        elif tex.startswith(r"\right)", i) and opens:
            start = opens.pop()
            if not any(tall in tex[start + 6 : i] for tall in _TALL):
                pairs.append((start, i))
            i += 7
        else:
            i += 1
    if not pairs:
        return tex
    # (position, length of the command, replacement) for every kept pair, in order
    edits = sorted([(start, 6, "(") for start, _ in pairs] + [(end, 7, ")") for _, end in pairs])
    out, last = [], 0
    for position, length, replacement in edits:
        out.append(tex[last:position])
        out.append(replacement)
        last = position + length
    out.append(tex[last:])
    return "".join(out)


def number(value, digits: int = 8) -> str:
    """A computed value rounded half-even to ``digits`` decimals: ``0.51998934``.

    The value is a SymPy Float (30 significant digits) or a Python number; the rounding is
    done on its decimal expansion, so the text is the same on every machine.  A value that is
    not a finite real number (``zoo`` from a division by zero, ``I*pi`` from the log of a
    negative number, at a worked example's numbers) is a ``WorkedExampleError``.
    """
    checked = value if isinstance(value, Decimal) else sp.sympify(value)
    if not isinstance(checked, Decimal) and not (checked.is_extended_real and checked.is_finite):
        raise WorkedExampleError(
            f"the worked example computes {value} here, not a finite real number (a division by zero, the log "
            "or square root of a negative number?): choose other numbers for the example"
        )
    exact = checked if isinstance(checked, Decimal) else Decimal(str(sp.Float(checked, 30)))
    with localcontext() as context:  # every digit before the point too (1e22 has 23; 28 by default)
        context.prec = max(context.prec, exact.adjusted() + digits + 2)
        rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.00000000"
    return f"{rounded:f}"


def given(value: float) -> str:
    """A number as the spec gave it (shortest repr): ``0.3``, ``-2``, ``1e-05``."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
    return text


def ordered_terms(expr: sp.Expr) -> list[tuple[str, sp.Expr]]:
    """The terms of a sum in printing order (positive first), each with its sign."""
    terms = list(HandoutLatexPrinter()._as_ordered_terms(expr))
    positive = [("+", term) for term in terms if not term.could_extract_minus_sign()]
    negative = [("-", -term) for term in terms if term.could_extract_minus_sign()]
    return positive + negative


def visible_length(tex: str) -> int:
    """A rough width of a LaTeX formula in characters (commands, braces and scripts shrunk)."""
    tex = tex.replace(r"\left", "").replace(r"\right", "")
    tex = re.sub(r"\\frac\{\\partial ([^{}]*)\}\{\\partial ([^{}]*)\}", r"\1/\2", tex)
    tex = re.sub(r"\^\{\((\d+)\)\}", "''", tex)  # layer superscripts are small
    tex = re.sub(r"\\[A-Za-z]+", "x", tex)
    return len(re.sub(r"[{}_^ ]", "", tex)) + tex.count(" ") // 3


def unbracketed(tex: str) -> str:
    """``(x)`` -> ``x`` when the brackets enclose all of ``tex``; anything else as it is."""
    if not (tex.startswith("(") and tex.endswith(")")):
        return tex
    depth = 0
    for i, c in enumerate(tex):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth == 0 and i < len(tex) - 1:
            return tex  # (a)(b): two groups
    return tex[1:-1]


def is_sum(tex: str) -> bool:
    """Whether ``tex`` is a sum or difference at its top level (``a - b``), so that it needs
    parentheses as a factor; ``(1 - y)^{2}`` or ``\\operatorname{sum}(a - b)`` does not (its
    ``-`` is inside brackets)."""
    depth = 0
    for i, c in enumerate(tex):
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(c, 0)
        if depth == 0 and tex.startswith((" + ", " - "), i):
            return True
    return False


def paren(tex: str) -> str:
    """``tex`` in parentheses, sized only when it is taller than a line."""
    return plain_parentheses(rf"\left({tex}\right)")
