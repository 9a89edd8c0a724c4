r"""LaTeX claims: a small LaTeX-math reader that translates a claim into plain claim text.

Why not SymPy's ``parse_latex``: it needs ``antlr4-python3-runtime`` pinned to exactly 4.11,
reads ``o_1 (1 - o_1)`` as a *function call* ``o_1(1 - o_1)``, and knows nothing of the
network's names.  This reader (its tokens: ``latex_tokens``) has no dependency, and reads LaTeX
the way a person means it:

* juxtaposition, ``\cdot``, ``\times`` and ``*`` multiply; between two arrays they are the
  matrix product ``@`` (math convention); ``\odot`` and ``\circ`` are the elementwise product;
* names with subscripts and parenthesised superscripts: ``a^{(2)}_1`` / ``a_1^{(2)}`` is
  ``a2_1``, ``w^{(2)}_{11}`` / ``w^{(2)}_{1,1}`` is ``W2_11``, ``\delta^{(2)}_1`` is ``delta2_1``,
  ``o_1``, ``h_{1}``, ``t_1``, ``x_1``; ``a^{[2]}`` is accepted too; ``^T``, ``^\top`` transpose;
* ``\sigma(z)`` and ``\operatorname{sigmoid}(z)``, ``\sigma'(z)`` (the derivative), ``\exp``,
  ``\log``, ``\ln``, ``\tanh``, ``\sqrt{}``, ``e^{-z}``, ``\frac{}{}``, ``\left( \right)``;
  a function applies to a parenthesised argument or to the single factor after it;
* ``\sigma^\prime``, ``\tanh^2(z)`` (``tanh(z)^2``), ``\cosh^2``, ``\sech`` / ``\operatorname{sech}``,
  ``\frac{d\sigma}{dz}(z)`` (sigma'(z); without its argument it is refused), ``H(z)``, ``(z > 0)``,
  ``\mathbb{1}[z > 0]`` (the step function, relu's derivative), ``\boldsymbol{\delta}``;
* ``\sum_k``, ``\sum_{k=1}^{n}``: the rest of the product once for each k, from 1 to the upper
  bound or, without one, to the largest k for which every subscript with k names an element;
* ``W_2`` for a graph spec's matrix ``W2`` and ``x_0`` for its scalar ``x0``; a leading
  ``\frac{\partial E}{\partial w} =`` is dropped (``claim_syntax.formula_side``, as from a plain
  claim: two ``=`` are refused); pasted Unicode is read as in a plain claim (``claim_syntax.UNICODE``);
* a multi-letter run that is not a known name is a product of letters (``xy`` = ``x*y``),
  as in LaTeX; everything else (``\partial`` inside the claim, unknown commands) is a clear error.

``translate`` returns the plain text, which is then read by ``claims.ClaimReader`` exactly as
a plain claim; the verifier echoes it back, so a misread claim is visible.
"""

from __future__ import annotations

import re

from ..formula import FormulaError
from .claim_syntax import OutOfRange, formula_side, summed_terms, unpasted, unsubscripted
from .claims import ClaimNames
from .latex_tokens import LatexClaimError, Tok, TokenStream
from .latex_trees import plain_text, summed

MAX_LENGTH = 2000

_TIMES = {r"\cdot", r"\times", r"\ast"}
_HADAMARD = {r"\odot", r"\circ"}
_FUNCTION_COMMANDS = {
    r"\sigma": "sigmoid",
    r"\exp": "exp",
    r"\log": "log",
    r"\ln": "log",
    r"\tanh": "tanh",
    r"\sinh": "sinh",
    r"\cosh": "cosh",
    r"\sin": "sin",
    r"\cos": "cos",
    r"\sech": "sech",
}
_NAME_COMMANDS = {r"\delta": "delta", r"\alpha": "alpha", r"\beta": "beta", r"\gamma": "gamma", r"\lambda": "lambda_"}
_TEXT_COMMANDS = {r"\mathrm", r"\text", r"\operatorname", r"\mathit", r"\textrm", r"\mathbf", r"\boldsymbol"}
_FRACTIONS = {r"\frac", r"\dfrac", r"\tfrac"}
_UNSUPPORTED = {
    r"\prod": "write the product out",
    r"\partial": (
        "write each derivative by its formula (\\sigma'(z^{(2)}_1), \\delta^{(2)}_1), or give the claim as plain "
        "text (--claim), where dE/da2_1 names the adjoint"
    ),
    r"\nabla": "a claim is the formula of the gradient itself",
}
_OPEN = {"(": ")", "[": "]", "{": "}"}
_GREATER = {">", ">=", r"\geq", r"\ge", r"\geqslant"}
_PRIMES = {"'", r"\prime"}


class _Parser(TokenStream):
    """The grammar of a LaTeX claim over its tokens: a tree (``latex_trees``) with the network's names."""

    def __init__(self, text: str, names: ClaimNames):
        super().__init__(text)
        self.names = names
        self.bound: dict[str, int] = {}  # the summed letters and their current values
        self.summed: set[str] = set()  # the summed letters some subscript used

    # -- grammar --------------------------------------------------------------------------

    def parse(self):
        tree = self.expression()
        if self.peek() is not None:
            raise self.error(self.peek(), "unexpected")
        return tree

    def expression(self):
        tree = self.term()
        while (tok := self.peek()) is not None and tok.text in ("+", "-"):
            self.next()
            tree = ("bin", tok.text, tree, self.term())
        return tree

    def term(self):
        tree = self.unary()
        while (tok := self.peek()) is not None:
            if tok.text in _TIMES or tok.text == "*":
                self.next()
                tree = self._times(tree, self.unary())
            elif tok.text in _HADAMARD:
                self.next()
                tree = ("bin", "*", tree, self.unary())
            elif tok.text == "/":
                self.next()
                tree = ("bin", "/", tree, self.unary())
            elif self._starts_factor(tok):
                tree = self._times(tree, self.power())
            else:
                break
        return tree

    def _times(self, left, right):
        op = "@" if self._is_array(left) and self._is_array(right) else "*"
        return ("bin", op, left, right)

    def _starts_factor(self, tok: Tok) -> bool:
        if tok.kind in ("number", "letters"):
            return True
        if tok.text in ("(", "[", "{"):
            return True
        if tok.kind == "command":
            return tok.text not in _TIMES | _HADAMARD and tok.text not in (r"\top",)
        return False

    def unary(self):
        tok = self.peek()
        if tok is not None and tok.text in ("-", "+"):
            self.next()
            operand = self.unary()
            return ("neg", operand) if tok.text == "-" else operand
        return self.power()

    def power(self):
        tree = self.atom()
        while (tok := self.peek()) is not None and tok.text == "^":
            self.next()
            if self.transpose_follows():
                tree = ("T", tree)
                continue
            tree = ("pow", tree, self.script())
        return tree

    def script(self):
        """The argument of ^ or _ : a brace group, or a single token."""
        tree = self.brace_group()
        if tree is not None:
            return tree
        tok = self.peek()
        if tok is not None and tok.kind == "number":
            self.next()
            if len(tok.text) > 1 and "." not in tok.text:  # x^23 is x^{2}3 in LaTeX
                raise self.error(tok, "write multi-digit exponents in braces")
            return ("num", tok.text)
        if tok is not None and tok.text == "-":
            self.next()
            return ("neg", self.script())
        return self.atom()

    def atom(self):
        tok = self.next()
        if tok.kind == "number":
            return ("num", tok.text)
        if tok.text in _OPEN:
            tree = self.expression()
            if self.peek() is not None and self.peek().text in _GREATER:
                tree = self._indicator(tree, _OPEN[tok.text])
            self.expect(_OPEN[tok.text])
            return tree
        if tok.kind == "command":
            return self.command(tok)
        if tok.kind == "letters":
            return self.letters(tok, tok.text)
        raise self.error(tok, "unexpected")

    def _indicator(self, tree, closing: str):
        r"""``(z > 0)``, ``[z \geq 0]``: relu's derivative, the step function."""
        sign = self.next()
        zero = self.peek()
        if zero is None or zero.text != "0" or self.peek(1) is None or self.peek(1).text != closing:
            raise self.error(sign, "a comparison is read only as (z > 0), relu's derivative; write (z^{(1)}_1 > 0) or step")
        self.next()
        return ("call", "step", tree)

    def _sum(self, tok: Tok):
        r"""``\sum_k``, ``\sum_{k}``, ``\sum_{k=1}^{n}``: the rest of the product, once for each k."""
        if self.peek() is None or self.peek().text != "_":
            raise self.error(tok, "a sum needs its index: \\sum_k or \\sum_{k=1}^{2}")
        self.next()
        brace = self.peek() is not None and self.peek().text == "{"
        if brace:
            self.next()
        letter = self.next()
        if letter.kind != "letters" or len(letter.text) != 1:
            raise self.error(letter, "a sum's index is one letter, e.g. \\sum_k")
        if brace:
            if self.peek() is not None and self.peek().text == "=":
                self.next()
                self.expect("1")
            self.expect("}")
        top = None
        if self.peek() is not None and self.peek().text == "^":
            self.next()
            given = self.peek(1) if self.peek() is not None and self.peek().text == "{" else self.peek()
            if given is None or given.kind != "number":
                raise self.error(tok, "the sum's upper bound must be a number (or leave it out: the node's size)")
            bound = self.script()
            if bound[0] != "num" or not bound[1].isdigit():
                raise self.error(tok, "the sum's upper bound must be a number (or leave it out: the node's size)")
            top = int(bound[1])
        start, end = self.i, self.i
        outer = self.bound.get(letter.text)

        def term(value: int):
            nonlocal end
            self.i = start
            self.bound[letter.text] = value
            tree = self.term()
            end = self.i
            if letter.text not in self.summed:
                raise unsubscripted(letter.text, f"w^{{(2)}}_{{{letter.text}1}}")
            return tree

        try:
            terms = summed_terms(letter.text, top, term)
        except LatexClaimError:
            raise
        except FormulaError as exc:
            raise self.error(letter, str(exc)) from None
        if outer is None:
            del self.bound[letter.text]
        else:
            self.bound[letter.text] = outer
        self.summed.discard(letter.text)
        self.i = end
        return summed(terms)

    def _derivative_fraction(self, frac: Tok):
        r"""``\frac{d\sigma}{dz}(z)``: sigma'(z); None (nothing consumed) for any other fraction."""
        a, b, c = self.peek(), self.peek(1), self.peek(2)
        if not (a and a.text == "{" and b and b.text == "d" and c and c.text in _FUNCTION_COMMANDS and self.peek(3)):
            return None
        if self.peek(3).text != "}" or self.peek(4) is None or self.peek(4).text != "{":
            return None
        self.i += 4
        self.next()
        while self.peek() is not None and self.peek().text != "}":
            self.next()
        self.expect("}")
        function = _FUNCTION_COMMANDS[c.text] + "_prime"
        nxt = self.peek()
        if nxt is None or nxt.text not in ("(", "["):
            written = f"\\frac{{d{c.text}}}{{dz}}"
            raise self.error(frac, f"'{written}' needs its argument; write {c.text}'(z^{{(2)}}_1) (or {written}(z^{{(2)}}_1))")
        self.next()
        arg = self.expression()
        self.expect(_OPEN[nxt.text])
        return ("call", function, arg)

    def command(self, tok: Tok):
        if tok.text == r"\sum":
            return self._sum(tok)
        if tok.text in (r"\mathbb", r"\mathbf", r"\boldsymbol") and self.group_text(0) == "1":
            self.skip_group()  # the indicator's 1 of \mathbb{1}[z > 0]: the bracket is the indicator
            return self.power() if self.peek() is not None and self.peek().text in ("[", "(") else ("num", "1")
        if tok.text in _TEXT_COMMANDS and self.group_text(0) is not None and self.group_text(0).startswith("\\"):
            self.next()
            inner = self.next()
            self.expect("}")
            return self.command(inner)  # \boldsymbol{\delta}
        if tok.text in _UNSUPPORTED:
            raise self.error(tok, f"'{tok.text}' is not supported; {_UNSUPPORTED[tok.text]}")
        if tok.text in _FRACTIONS and (derivative := self._derivative_fraction(tok)) is not None:
            return derivative
        if tok.text in _FRACTIONS:
            numerator = self.group()
            denominator = self.group()
            return ("bin", "/", numerator, denominator)
        if tok.text == r"\sqrt":
            return ("call", "sqrt", self.group())
        if tok.text in _FUNCTION_COMMANDS:
            return self.call(tok, _FUNCTION_COMMANDS[tok.text])
        if tok.text in _TEXT_COMMANDS:
            word = self.word()
            return self.letters(tok, word)
        if tok.text == r"\pi":
            return ("name", "pi")
        if tok.text in _NAME_COMMANDS:
            return self.named(tok, _NAME_COMMANDS[tok.text])
        raise self.error(tok, f"unknown command '{tok.text}'")

    def brace_group(self):
        """``{ expression }`` when the next token opens one, else None (nothing consumed)."""
        tok = self.peek()
        if tok is None or tok.text != "{":
            return None
        self.next()
        tree = self.expression()
        self.expect("}")
        return tree

    def group(self):
        tree = self.brace_group()
        return tree if tree is not None else self.atom()

    def call(self, tok: Tok, function: str):
        power = None
        if self.peek() is not None and self.peek().text == "'":
            self.next()
            function += "_prime"
        elif self.peek() is not None and self.peek().text == "^":
            self.next()
            if self.peek() is not None and self.peek().text in _PRIMES:
                self.next()
                function += "_prime"
            elif self.peek() is not None and self.peek().text == "{" and self.peek(1) and self.peek(1).text in _PRIMES:
                self.skip_group()
                function += "_prime"
            else:
                power = self.script()  # \tanh^2(z) is tanh(z)^2
        if function not in self.names.functions:
            raise self.error(tok, f"unknown function '{function}'")
        nxt = self.peek()
        if nxt is None:
            raise self.error(tok, f"{function} needs an argument")
        if nxt.text in ("(", "[", "{"):
            self.next()
            arg = self.expression()
            self.expect(_OPEN[nxt.text])
        else:
            arg = self.power()
        return ("call", function, arg) if power is None else ("pow", ("call", function, arg), power)

    def letters(self, tok: Tok, word: str):
        if word == "e" and "e" not in self.names.arrays and self.peek() is not None and self.peek().text == "^":
            self.next()
            return ("call", "exp", self.script())
        if word in self.names.functions and word not in self.names.scalars and word not in self.names.arrays:
            return self.call(tok, word)
        named = word in self.names.scalars or word in self.names.arrays
        if word == "H" and not named and self.peek() is not None and self.peek().text == "(":
            return self.call(tok, "heaviside")  # Heaviside's step
        if word.endswith("_prime") and word in self.names.functions:
            return self.call(tok, word)
        return self.named(tok, word)

    def named(self, tok: Tok, base: str):
        """A name with its scripts: ``a^{(2)}_1``, ``w_{11}^{(2)}``, ``delta``, ``x_1``..."""
        layer, sub, transposed = None, None, False
        while (nxt := self.peek()) is not None and nxt.text in ("_", "^"):
            if nxt.text == "_" and sub is None:
                self.next()
                sub = self.subscript()
            elif nxt.text == "^" and layer is None and self.layer_follows():
                self.next()
                layer, transposed = self.layer()
            else:
                break
        if tok.text in _NAME_COMMANDS and layer is None and sub is None and base in self.names.entry_names:
            hint = f"; layers are written {tok.text}^{{(1)}}, ..." if base + "1" in self.names.arrays else ""
            constant = f"the network's constant {base} is written \\mathrm{{{base}}}, as the handout writes it"
            raise self.error(tok, f"unknown name '{tok.text}': {constant}{hint}")
        plain = self._resolve(tok, base, layer, sub)
        tree = plain if isinstance(plain, tuple) else ("name", plain)
        return ("T", tree) if transposed else tree

    def _resolve(self, tok: Tok, base: str, layer: str | None, sub: str | None):
        names = self.names
        indices = None
        bound = sub is not None and any(c in self.bound for c in sub)
        if bound and re.fullmatch(r"[\dA-Za-z]+|[\dA-Za-z]+(,[\dA-Za-z]+)+", sub):
            parts = sub.split(",") if "," in sub else list(sub)
            if all(p.isdigit() or p in self.bound for p in parts):
                self.summed.update(p for p in parts if p in self.bound)
                indices = [self.bound[p] if p in self.bound else int(p) for p in parts]
                found = names.resolve(base, layer, indices)
                if found is None:
                    raise OutOfRange(base + (f"^{{({layer})}}" if layer else "") + "_{" + ",".join(map(str, indices)) + "}")
                return found
        if sub is not None and re.fullmatch(r"\d+(,\d+)*", sub):
            indices = [int(p) for p in sub.split(",")]
            joined = f"{base}_{sub}"  # a graph spec's x0 written x_0 (its alias), W2 written W_2
            if layer is None and names.resolve(base, None, indices) is None:
                if joined in names.scalars:
                    return joined
                whole = names.arrays.get(base + sub)
                if whole is not None and len(whole.shape) == 2:
                    return base + sub
        elif sub is not None:
            # a named subscript (net_{h1}) is part of the name
            joined = f"{base}{layer or ''}_{sub}"
            if joined in names.scalars or joined in names.arrays:
                return joined
            raise self.error(tok, f"unknown name '{joined}'")
        found = names.resolve(base, layer, indices)
        if found is not None:
            return found
        if len(base) > 1 and layer is None and base.isalpha():
            # LaTeX reads a run of letters as a product of one-letter names
            letters = list(base)
            parts = [names.resolve(c, None, None) for c in letters[:-1]]
            last = names.resolve(letters[-1], None, indices)
            if all(parts) and last:
                tree = ("name", parts[0])
                for p in parts[1:] + [last]:
                    tree = self._times(tree, ("name", p))
                return tree
        if layer is None and sub is None and (ambiguous := names.ambiguous(base)) is not None:
            raise self.error(tok, f"{ambiguous}: write the number instead")  # \mathrm{alpha} of two leaky_relu layers
        shown = base + (f"^{{({layer})}}" if layer else "") + (f"_{{{sub}}}" if sub else "")
        hint = ""
        if layer is None and base + "1" in names.arrays:
            hint = f"; layers are written {base}^{{(1)}}, {base}^{{(2)}}, ..."
        raise self.error(tok, f"unknown name '{shown}'{hint}")

    def _is_array(self, tree) -> bool:
        kind = tree[0]
        if kind == "name":
            return tree[1] in self.names.arrays
        if kind == "num":
            return False
        if kind == "call":
            return tree[1] not in ("sum",) and self._is_array(tree[2])
        if kind == "bin":
            return self._is_array(tree[2]) or self._is_array(tree[3])
        if kind in ("neg", "T", "group"):
            return self._is_array(tree[1])
        if kind == "pow":
            return self._is_array(tree[1])
        return False


def translate(text: str, names: ClaimNames) -> str:
    """Plain claim text for a LaTeX claim (LatexClaimError if it cannot be read)."""
    if not isinstance(text, str) or not text.strip():
        raise LatexClaimError("the LaTeX claim is empty")
    if len(text) > MAX_LENGTH:
        raise LatexClaimError(f"the LaTeX claim is too long ({len(text)} characters; at most {MAX_LENGTH})")
    cleaned = text.strip()
    for opening, closing in (("$$", "$$"), ("$", "$"), (r"\(", r"\)"), (r"\[", r"\]")):
        if cleaned.startswith(opening) and cleaned.endswith(closing) and len(cleaned) > len(opening) + len(closing):
            cleaned = cleaned[len(opening) : -len(closing)]
            break
    try:
        cleaned = formula_side(unpasted(cleaned, latex=True))
    except FormulaError as exc:
        raise LatexClaimError(str(exc)) from None
    parser = _Parser(cleaned, names)
    try:
        return plain_text(parser.parse())
    except RecursionError:
        raise LatexClaimError("the LaTeX claim is nested too deeply") from None
