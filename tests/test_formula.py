"""The formula reader accepts plain maths and nothing else: hostile text is refused with a
message naming the construct and the column, and nothing is evaluated."""

from __future__ import annotations

import pytest
import sympy as sp

from symprop.formula import FormulaError, parse_formula

z, y, t = sp.symbols("z y t", real=True)
SYMBOLS = {"z": z, "y": y, "t": t, "beta": sp.Rational(3, 2)}
FUNCTIONS = {"exp": sp.exp, "log": sp.log, "sigmoid": lambda u: 1 / (1 + sp.exp(-u))}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("z * sigmoid(beta * z)", z / (1 + sp.exp(-3 * z / 2))),
        ("2*z^2 + 1", 2 * z**2 + 1),
        ("-z^2", -(z**2)),
        ("0.1 * z", sp.Rational(1, 10) * z),  # decimals are exact rationals
        ("log(exp(y - t))", sp.log(sp.exp(y - t))),
        ("(y - t) ** 2 / 2", (y - t) ** 2 / 2),
    ],
)
def test_accepts_plain_maths(text, expected):
    assert parse_formula(text, SYMBOLS, FUNCTIONS) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('echo pwned')", "attribute access is not allowed at column 17"),
        ("__import__('os')", "name '__import__' is not allowed"),
        ("z.__class__", "attribute access is not allowed at column 2"),
        ("exp.__globals__", "attribute access is not allowed"),
        ("z[0]", "subscripts are not allowed"),
        ("(lambda: 1)()", "lambda is not allowed"),
        ("[u for u in (1, 2)]", "comprehensions are not allowed"),
        ("'text'", "strings are not allowed"),
        ("exp(z, base=2)", "keyword arguments are not allowed"),
        ("exp(*z)", "'*' unpacking is not allowed"),
        ("z if z else t", "conditional expressions are not allowed"),
        ("(u := 3)", "assignment expressions (:=) are not allowed"),
        ("z < 1", "comparisons are not allowed"),
        ("z % 2", "operator '%' is not allowed"),
        ("z @ z", "operator '@' is not allowed"),
        ("open('x')", "unknown name 'open'"),
        ("foo + 1", "unknown name 'foo'"),
        ("z(1)", "'z' is not a function"),
        ("exp + 1", "'exp' is a function"),
        ("9 ** 9 ** 9 ** 9", "number too large"),
        ("exp(10 ** 100)", "number too large"),
        ("1e999999999 * z", "number too large"),
        ("z * (1 +", "syntax error at column 5"),
        # two values side by side: Python's own message was "invalid syntax. Perhaps you forgot a comma?"
        ("2 z", "syntax error at column 3: no operator between '2' and 'z' (write '*' for a product)"),
        ("(1 - z) z^2", "syntax error at column 9: no operator between ')' and 'z' (write '*' for a product)"),
        ("", "formula is empty"),
        ("z +" * 400 + "z", "too long"),
        ("-" * 60 + "z", "nested too deeply"),
        ("1 / 0", "undefined"),
    ],
)
def test_refuses_anything_else(text, message):
    with pytest.raises(FormulaError) as info:
        parse_formula(text, SYMBOLS, FUNCTIONS)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_never_evaluates_python(monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must never run on formula text")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sp, "sympify", forbidden)
    assert parse_formula("z * sigmoid(z)", SYMBOLS, FUNCTIONS) == z / (1 + sp.exp(-z))
