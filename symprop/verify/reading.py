"""A claim as the exact reader reads it: rewritten once, then read at every size it is checked at.

``claims_text`` rewrites a plain claim as students type it and ``claims_latex`` translates a
LaTeX one; both need the network's names.  The verifier rewrites a claim once, with the names
of the first size it reads it at (the spec's own, when it has a per-weight view), decides
with that text which reader takes the claim, and ``read_claim_at`` reads the same text
(``claims.read_claim``) at each size a whole-matrix claim is checked at.  A rewriting that
fails is kept, not raised, so that its message comes where it always came: after the --wrt
has been read.  Messages quote a claim with ``short``, as typed and as read (``as_typed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..errors import SymPropError
from ..formula import FormulaError
from .claim_values import ShapeError, is_array
from .claims import ClaimNames, read_claim
from .claims_latex import translate
from .claims_text import Names, normalize
from .decide import Setting

ONE_CLAIM = "give exactly one of a plain claim (--claim) and a LaTeX claim (--claim-latex)"


@dataclass(frozen=True)
class Rewritten:
    """A claim as given (``plain`` or ``latex``) and as the exact reader reads it (``text``;
    None when the rewriting failed, with ``error``)."""

    plain: Any
    latex: Any
    text: str | None
    error: str | None

    @property
    def given(self):
        return self.plain if self.latex is None else self.latex


def rewrite_claim(claim, claim_latex, names: ClaimNames) -> Rewritten:
    """The claim in plain claim syntax: rewritten (``claims_text``) or translated from LaTeX
    (``claims_latex``) with ``names``."""
    if (claim is None) == (claim_latex is None):
        return Rewritten(claim, claim_latex, None, ONE_CLAIM)
    text = claim
    if claim is not None:
        try:
            text = normalize(claim, Names.of(names))
        except FormulaError as exc:
            return Rewritten(claim, claim_latex, None, f"claim {short(claim)}: {exc}")
    if claim_latex is not None:
        try:
            text = translate(claim_latex, names)
        except FormulaError as exc:
            return Rewritten(claim, claim_latex, None, f"LaTeX claim {short(claim_latex)}: {exc}")
    if not isinstance(text, str):
        return Rewritten(claim, claim_latex, None, f"claim must be text, got {type(text).__name__}")
    return Rewritten(claim, claim_latex, text, None)


def read_claim_at(setting: Setting, claim: Rewritten) -> tuple[Any, Any]:
    """(value, reader) of a rewritten claim at one setting; SymPropError if unreadable (the
    rewriting's error, or the reader's), ShapeError for a product of mismatched shapes."""
    if claim.text is None:
        raise SymPropError(claim.error)
    text = claim.text
    try:
        value, reader = read_claim(text, setting.names)
    except ShapeError:
        raise
    except FormulaError as exc:
        shown = f"{short(text)} (read from the LaTeX)" if claim.latex is not None else short(text)
        if claim.latex is None and text != claim.plain.strip():
            shown = f"{short(claim.plain)} (read as {short(text)})"
        raise SymPropError(f"claim {shown}: {exc}") from None
    deltas = setting.names.deltas
    if deltas:
        value = value.applyfunc(lambda e: e.xreplace(deltas)) if is_array(value) else sp.sympify(value).xreplace(deltas)
    return value, reader


def as_typed(message: str, typed: str, read: str) -> str:
    """A message about the rewritten claim ``read`` that names it as the student typed it too."""
    if typed.strip() == read:
        return message
    return message.replace(f"claim {short(read)}", f"claim {short(typed)} (read as {short(read)})", 1)


def short(text: str, limit: int = 80) -> str:
    """A claim quoted in an error message, shortened if long."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
