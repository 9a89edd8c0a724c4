"""Operator precedence of the printers: every number-valued subexpression (a sum of numbers,
a product, a power, a function of numbers) in every position (a factor, a power's base and
exponent, under unary minus, in a denominator, nested) prints correctly.

NumPy code (and the plain-math comments) are checked numerically: the printed code is
evaluated, with numpy and the module's helpers in scope, against SymPy's own value of the
same expression at random points.  LaTeX is checked structurally: the constant keeps its
brackets.  (The case that motivated this: ``z * (2 - tanh(1))`` printed as ``2 - np.tanh(1) * Z1``.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from symprop import registry
from symprop.emit.numpy import MathPrinter, helper_source
from symprop.latex_printing import to_latex
from symprop.printing import ArrayPrinter, print_array_expr

Z = sp.Symbol("Z1", positive=True)
A = sp.Symbol("A1", real=True)
sigmoid, softplus, gelu = (registry.function_for(n) for n in ("sigmoid", "softplus", "gelu"))

#: Number-valued expressions of every kind, and their negatives.
CONSTANTS = [
    2 - sp.tanh(1),
    1 + sp.sqrt(2),
    1 - sp.log(2),
    sp.tanh(1) - 2,
    sigmoid(1),
    softplus(1),
    1 + sp.exp(1),
    sp.Rational(1, 3),
    -sp.Rational(1, 3),
    sp.sqrt(2),
    2 * sp.sqrt(2),
    sp.pi,
    sp.E - 3,
    gelu(sp.Rational(1, 2)) + 1,
    sp.Integer(-2),
    sp.Float(-0.5),
]


def _positions(c):
    """``c`` in every position an operator precedence matters in."""
    return [
        Z * c,  # a factor
        Z * A * c,
        Z - c * Z,  # a term of a sum, times a symbol
        A**2 * c,
        Z / c,  # a denominator
        A / (Z * c),
        A / (Z + c**2),
        (c**2) ** (Z / 3),  # the base of a power
        (1 + c**2) ** A,
        Z**c,  # the exponent
        (Z * c) ** 2,
        (Z**2) ** (c**2),  # a power as the base
        -c * Z,  # unary minus
        -(Z**c),
        Z ** (-c**2),
        sp.exp(c * Z),  # a function argument
        sp.Max(Z, c) * c,  # nested
        (c * Z + A) / (1 + c**2),
        sp.tanh(c) * Z * (c - Z),
    ]


CASES = [(c, e) for c in CONSTANTS for e in _positions(c)]
MATH_NAMES = {
    "e": np.e,
    "pi": np.pi,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "max": np.maximum,
    "min": np.minimum,
    "abs": np.abs,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2))),
}


def _expected(expr, z, a):
    values = np.array([float(registry.expand_definitions(expr).subs({Z: zi, A: ai}).evalf(30)) for zi, ai in zip(z, a)])
    return values


def _points():
    rng = np.random.default_rng(0)
    return rng.uniform(0.2, 2.0, 4), rng.uniform(-2.0, 2.0, 4)


@pytest.mark.parametrize(("constant", "expr"), CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_numpy_code_evaluates_to_the_expression(constant, expr):
    printer = ArrayPrinter()
    code = print_array_expr(expr, printer)
    namespace = {"np": np}
    for helper in sorted(printer.helpers):
        exec(helper_source(helper), namespace)  # the module's own helpers (trusted test input)
    z, a = _points()
    got = eval(code, {**namespace, "Z1": z, "A1": a})
    np.testing.assert_allclose(np.broadcast_to(got, z.shape), _expected(expr, z, a), rtol=1e-12, err_msg=code)


@pytest.mark.parametrize(("constant", "expr"), CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_math_comments_evaluate_to_the_expression(constant, expr):
    code = print_array_expr(expr, MathPrinter())
    z, a = _points()
    got = eval(code, {**MATH_NAMES, "Z1": z, "A1": a})
    np.testing.assert_allclose(np.broadcast_to(got, z.shape), _expected(expr, z, a), rtol=1e-12, err_msg=code)


def test_constant_sums_fold_to_one_literal():
    assert print_array_expr(Z * (2 - sp.tanh(1)), ArrayPrinter()) == "Z1 * 1.2384058440442351"
    assert print_array_expr(Z / softplus(1), ArrayPrinter()) == "Z1 / 1.3132616875182228"
    assert print_array_expr(Z * (2 - sp.tanh(1)), MathPrinter()) == "Z1 * (2 - tanh(1))"


def test_max_and_min_print_as_nested_numpy_calls():
    assert print_array_expr(sp.Max(A, 1, sp.sin(A)), ArrayPrinter()) == "np.maximum(1, np.maximum(A1, np.sin(A1)))"
    assert print_array_expr(sp.Min(A, 0), MathPrinter()) == "min(0, A1)"


@pytest.mark.parametrize("hadamard", [False, True])
@pytest.mark.parametrize(
    ("expr", "bracketed"),
    [
        (Z * A * (2 - sp.tanh(1)), r"(2 - \tanh"),
        (Z * A * (sp.tanh(1) - 2), r"(2 - \tanh|(\tanh{(1)} - 2)"),
        (Z * (1 + sp.sqrt(2)), r"1 + \sqrt{2}"),
        (A**2 * (1 - sp.log(2)), r"(1 - \log"),
        (Z / (A * (2 - sp.tanh(1))), r"(2 - \tanh"),
        ((1 - sp.log(2)) ** Z, r"(1 - \log"),
        ((Z * A) ** (2 - sp.tanh(1)), r"^{2 - \tanh"),
        (-Z * A * (1 + sp.exp(1)), r"(1 + e)"),
    ],
)
def test_latex_keeps_the_brackets_of_constant_sums(expr, bracketed, hadamard):
    tex = to_latex(expr, hadamard=hadamard).replace(r"\left(", "(").replace(r"\right)", ")")
    assert any(form in tex for form in bracketed.split("|")), tex


def test_exp_is_spelled_exp_where_a_symbol_reads_as_eulers_e():
    """A new user's node ``e = exp(e_a)`` printed as ``e = e^{e_a}``: Euler's e and the node alike."""
    x, e = sp.Symbol("x"), sp.Symbol("e")
    assert to_latex(sp.exp(x), {x: "x"}) == "e^{x}"
    assert to_latex(sp.exp(x) + e, {x: "x", e: "e"}) == r"e + \exp(x)"
    assert to_latex(sp.exp(x), {x: "x", e: "e_{1}"}) == r"\exp(x)"
    assert to_latex(sp.exp(x), {x: "x", e: r"\mathrm{emb}"}) == "e^{x}"  # a longer name is not e


_X, _Y = sp.symbols("x y", real=True)


@pytest.mark.parametrize(
    "expr, tex",
    [
        (sp.tanh(_X), r"\tanh{(-0.27)}"),
        (sp.log(_X), r"\log{(-0.27)}"),
        (sp.Abs(_X), r"\left|{-0.27}\right|"),
        (sp.Max(_X, _Y), r"\max(-0.27, 0.5)"),
        (_X * sp.tanh(_X), r"(-0.27) \tanh{(-0.27)}"),  # a factor keeps its brackets
        (sp.tanh(_X * _Y), r"\tanh{((-0.27) 0.5)}"),
    ],
)
def test_a_bracketed_number_loses_its_brackets_as_a_functions_argument(expr, tex):
    """A worked example's tanh(z) at z = -0.27 read tanh((-0.27)) (a new user's handout,
    2026-12-06): a negative number is bracketed for products, not inside a call's brackets."""
    assert to_latex(expr, {_X: "(-0.27)", _Y: "0.5"}) == tex
