"""LaTeX claims as tokens (``claims_latex`` reads them): the tokenizer, which drops spacing and
sizing commands, and the token stream with the lookaheads of LaTeX's scripts and groups, which
read no tree and know no name: a one-token brace group, a transpose (``^T``, ``^{\\top}``), a
layer mark (``^{(2)}``, ``^{[2]}``), a subscript, a ``\\mathrm{word}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..formula import FormulaError

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<command>\\[A-Za-z]+)
  | (?P<escape>\\[^A-Za-z])
  | (?P<number>\d+\.\d*|\.\d+|\d+)
  | (?P<letters>[A-Za-z]+)
  | (?P<symbol>>=|[{}()\[\]^_+\-*/',|=>])
    """,
    re.VERBOSE,
)

#: Commands that are only spacing or sizing.
_IGNORED = {
    r"\left",
    r"\right",
    r"\bigl",
    r"\bigr",
    r"\Bigl",
    r"\Bigr",
    r"\big",
    r"\Big",
    r"\biggl",
    r"\biggr",
    r"\quad",
    r"\qquad",
    r"\displaystyle",
    r"\limits",
}
_IGNORED_ESCAPES = {r"\,", r"\;", r"\:", r"\!", "\\ "}


@dataclass
class Tok:
    kind: str
    text: str
    pos: int


class LatexClaimError(FormulaError):
    """A LaTeX claim that cannot be read (one line, with the position)."""


class TokenStream:
    """The tokens of a LaTeX claim and the position of the next one (``i``)."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = self._tokenize(text)
        self.i = 0

    def _tokenize(self, text: str) -> list[Tok]:
        tokens, pos = [], 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match:
                raise LatexClaimError(f"unexpected character {text[pos]!r} at position {pos + 1}")
            kind = match.lastgroup
            value = match.group()
            if kind == "space" or value in _IGNORED or value in _IGNORED_ESCAPES:
                pos = match.end()
                continue
            if kind == "escape" and value in (r"\{", r"\}"):
                kind, value = "symbol", value[1]
            elif kind == "escape":
                raise LatexClaimError(f"'{value}' is not understood at position {pos + 1}")
            tokens.append(Tok(kind, value, pos))
            pos = match.end()
        return tokens

    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def next(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise LatexClaimError("the claim ends too early")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.peek() is None:
            raise LatexClaimError(f"expected '{text}' at the end")
        tok = self.next()
        if tok.text != text:
            raise self.error(tok, f"expected '{text}'")

    def error(self, tok: Tok | None, message: str) -> LatexClaimError:
        where = f" at position {tok.pos + 1} ('{tok.text}')" if tok else " at the end"
        return LatexClaimError(message + where)

    def transpose_follows(self) -> bool:
        """Whether a transpose follows a ``^`` (``T``, ``\\top``, ``{T}``, ``\\mathrm{T}``); if so, it is read."""
        tok = self.peek()
        if tok is None:
            return False
        if tok.text in ("T", r"\top", r"\intercal", r"\mathsf", r"\mathrm") and (
            tok.text not in (r"\mathsf", r"\mathrm") or self.group_text(1) == "T"
        ):
            if tok.text in (r"\mathsf", r"\mathrm"):
                self.next()
                self.skip_group()
            else:
                self.next()
            return True
        if tok.text == "{" and self.group_text(0) in ("T", r"\top", r"\intercal"):
            self.skip_group()
            return True
        return False

    def group_text(self, offset: int) -> str | None:
        """The text inside a one-token brace group starting at ``offset``, if it is one."""
        a, b, c = self.peek(offset), self.peek(offset + 1), self.peek(offset + 2)
        if a is not None and a.text == "{" and b is not None and c is not None and c.text == "}":
            return b.text
        return None

    def skip_group(self) -> None:
        """Read past the brace group that comes next (nested groups too)."""
        self.expect("{")
        depth = 1
        while depth:
            tok = self.next()
            depth += {"{": 1, "}": -1}.get(tok.text, 0)

    def word(self) -> str:
        """The name in the brace group that comes next (``\\mathrm{net}``'s ``net``)."""
        self.expect("{")
        parts = []
        while (tok := self.next()).text != "}":
            if tok.kind not in ("letters", "number") and tok.text != "_":
                raise self.error(tok, "expected a name")
            parts.append(tok.text)
        return "".join(parts)

    def layer_follows(self) -> bool:
        """``^{(2)}``, ``^{[2]}``, or with a transpose inside: ``^{(1)T}``, ``^{(1)\\top}``."""
        a, b, c, d, e = (self.peek(k) for k in range(1, 6))
        return (
            a is not None
            and a.text == "{"
            and b is not None
            and b.text in ("(", "[")
            and c is not None
            and c.kind == "number"
            and d is not None
            and d.text == {"(": ")", "[": "]"}[b.text]
            and e is not None
            and e.text in ("}", "T", r"\top", r"\intercal")
        )

    def layer(self) -> tuple[str, bool]:
        """The layer mark after a ``^`` (``layer_follows``): its number, and whether a transpose is inside."""
        self.expect("{")
        self.next()
        number = self.next().text
        self.next()
        transposed = self.peek() is not None and self.peek().text in ("T", r"\top", r"\intercal")
        if transposed:
            self.next()
        self.expect("}")
        return number, transposed

    def subscript(self) -> str:
        """The subscript after a ``_``: one token, or a brace group of indices (``{1,2}``, ``{jk}``)."""
        tok = self.next()
        if tok.text != "{":
            if tok.kind not in ("number", "letters"):
                raise self.error(tok, "expected a subscript")
            return tok.text if tok.kind == "letters" or len(tok.text) == 1 else tok.text
        parts = []
        while (tok := self.next()).text != "}":
            if tok.kind not in ("number", "letters") and tok.text != ",":
                raise self.error(tok, "a subscript holds indices like 1, 12 or 1,2")
            parts.append(tok.text)
        return "".join(parts)
