"""The claim syntax plain claims (``claims_text``) and LaTeX claims (``claims_latex``) share:
pasted Unicode (``unpasted``), the formula side of a claim written as an equation
(``formula_side``), and a sum over a subscript written out term by term (``summed_terms``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from ..formula import FormulaError

#: Pasted Unicode and what it stands for: (in a plain claim, in a LaTeX claim).  The LaTeX
#: reader (``claims_latex``) reads the same table, so both kinds of claim take the same symbols.
UNICODE = {
    "δ": ("delta", r"\delta "),
    "σ": ("sigma", r"\sigma "),
    "−": ("-", "-"),
    "–": ("-", "-"),
    "·": ("*", r"\cdot "),
    "⋅": ("*", r"\cdot "),
    "∙": ("*", r"\cdot "),
    "×": ("*", r"\times "),
    "⊙": ("*", r"\odot "),
    "∘": ("*", r"\circ "),
    "²": ("^2", "^2"),
    "³": ("^3", "^3"),
    "ᵀ": ("^T", "^T"),
    "⊤": ("T", "T"),
    "Σ": ("sum", r"\sum "),
    "∑": ("sum", r"\sum "),
    "’": ("'", "'"),
    "′": ("'", "'"),
    "∂": ("d", r"\partial "),
    "≥": (">=", r"\geq "),
}


#: Subscript digits, as pasted from a handout or typed on a phone: ``a2₁`` is ``a2_1``, ``W2₁₂`` is ``W2_12``.
_SUBSCRIPTS = re.compile("[₀-₉]+")
_SUBSCRIPT_DIGITS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


def unpasted(text: str, latex: bool = False) -> str:
    """``text`` with its pasted Unicode (``UNICODE``, subscript digits) spelt in plain claim syntax or in LaTeX."""
    text = _SUBSCRIPTS.sub(lambda m: ("_{%s}" if latex else "_%s") % m.group().translate(_SUBSCRIPT_DIGITS), text)
    for char, spellings in UNICODE.items():
        text = text.replace(char, spellings[latex])
    return text


def formula_side(text: str) -> str:
    """The formula of a claim written as an equation (``dE/dW2_11 = ...``, ``\\frac{\\partial
    E}{\\partial w} = ...``): what follows its ``=``, for plain and LaTeX claims alike.  An ``=``
    inside brackets (``sum_{k=1}``, ``axis=1``) or in ``==``, ``<=``, ``>=``, ``!=`` is not that
    ``=``; a claim with two (``dE/dw = formula = 0.03``) is refused: it is not clear which side
    is meant."""
    depth, equals = 0, []
    for k, char in enumerate(text):
        depth += char in _OPEN
        depth -= char in _OPEN.values()
        if char == "=" and depth == 0 and text[k - 1 : k] not in ("<", ">", "=", "!") and text[k + 1 : k + 2] != "=":
            equals.append(k)
    if not equals:
        return text
    if len(equals) > 1:
        raise FormulaError(f"the claim has {len(equals)} '='; give one formula (dE/dw = formula, or the formula alone)")
    rest = text[equals[0] + 1 :]
    if not rest.strip():
        raise FormulaError("nothing after '='; the claim is the formula on the right of dE/dw =")
    if _NUMBER.fullmatch(rest.strip()) and not _DERIVATIVE.match(text[: equals[0]]):
        # "formula = 0.03": the number is the student's value, not the claim (it was read as 0.03)
        raise FormulaError(f"the claim ends in '= {rest.strip()}', a number; give the formula alone (or dE/dw = formula)")
    return rest


#: A bare number, as after the ``=`` of "formula = 0.03"; and the derivative's name before an
#: ``=`` (``dE/dW2_11``, ``\frac{\partial E}{\partial w}``), after which a number is a claim.
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_DERIVATIVE = re.compile(r"\s*(d\w*\s*/\s*d|\\frac\s*\{\s*(\\partial|d))")
_OPEN = {"(": ")", "[": "]", "{": "}"}
T = TypeVar("T")

#: The most terms a sum without an upper bound is written out to (in plain and LaTeX claims).
MAX_SUMMED = 999


class OutOfRange(Exception):
    """A summed index ran past the end of a node: the element it reached (ends a sum's range)."""


def summed_terms(letter: str, bound: int | None, term: Callable[[int], T]) -> list[T]:
    """``term(k)`` for each k of a sum over ``letter`` (``sum_k``, ``\\sum_{k=1}^{n}``), from 1 to
    ``bound`` or, without one, up to the last k before ``term`` raises ``OutOfRange`` (the end of
    a node), for plain and LaTeX claims alike.  FormulaError when the first term, or any up to a
    given bound, reaches past a node."""
    terms = []
    for value in range(1, (bound or MAX_SUMMED) + 1):
        try:
            terms.append(term(value))
        except OutOfRange as exc:
            if bound is not None or value == 1:
                message = f"the sum over {letter} reaches '{exc}', which is not an element; check its subscripts"
                raise FormulaError(message) from None
            break
    return terms


def unsubscripted(letter: str, example: str) -> FormulaError:
    """The error for a sum whose letter is in no subscript (``example``: one in the claim's syntax)."""
    return FormulaError(f"the sum over {letter} uses {letter} in no subscript; write it in element names, e.g. {example}")
