"""What students write, rewritten into the claim language before ``claims.ClaimReader`` reads it.

Hand derivations are typed the way they are written on paper; this module turns that into
the strict plain syntax, with its own tokenizer (nothing is evaluated; the result is read by
the whitelisting reader like any claim, and echoed back as "claim:", so a misreading shows):

* pasted Unicode: ``δ`` delta, ``σ`` sigma, ``−`` minus, ``·`` ``×`` ``⊙`` times, ``²`` ``³``
  powers, ``ᵀ`` transpose, ``Σ`` sum, subscript digits (``a2₁`` is ``a2_1``);
* a leading ``dE/dW2_11 =`` (anything before an ``=`` outside brackets) is dropped; a claim
  with two ``=`` (``dE/dw = formula = 0.03``) is refused, it is not clear which side is meant;
* ``sigma'(z)``, ``tanh'(z)``, ``f'(z)`` for a known function ``f`` is ``f_prime(z)``;
  ``tanh^2(z)`` is ``tanh(z)^2``; ``W2^T``, ``W2^{T}`` is ``W2.T``; ``{ }`` are brackets;
* ``(z1_1 > 0)`` (also ``>=``, and ``[z > 0]``) is ``step(z1_1)``, relu's derivative;
* **implicit multiplication**, one rule: two neighbouring tokens multiply when the left one
  ends a value (a number, ``)``, ``]``, a known name that is not a function) and the right
  one starts a value (a number, a name, ``(``), except that a name directly before ``(`` is
  a call when it is a function, and unknown names are left alone (their error is clearer).
  So ``2(a-t)``, ``(a-t)a(1-a)``, ``o_1(1 - o_1)``, ``a2_1 a1_1`` are products, ``sigma(z)``
  and ``tanh(z)`` are calls, and multi-letter names (``W2``, ``a1_1``, ``delta2``) stay whole
  because a name is one token.  Between two whole arrays side by side the product is
  ambiguous (``@`` or ``*``?) and is refused;
* ``sum_k``, ``sum_{k}``, ``sum_{k=1}^{2}``, ``\\sum_k`` over a letter used in element
  subscripts (``W2_k1``, ``delta2_k``) is written out: the term after it, up to the next
  ``+`` or ``-`` outside brackets, once for each k from 1 to the largest value for which every
  subscript names an element (or to the given upper bound).  A sum whose letter is used in
  ``[ ]`` indices is index notation and is left for the numeric reader (``tensor_claims``).

The Unicode, the ``=`` and the range of a sum are read as in a LaTeX claim (``claim_syntax``).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from .. import naming
from ..formula import MAX_LENGTH, FormulaError
from .claim_syntax import OutOfRange, formula_side, summed_terms, unpasted, unsubscripted

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<sum>\\?sum_(?:\{[^{}]*\}(?:\^(?:\{[^{}]*\}|\w))?|[A-Za-z](?![A-Za-z0-9_])))
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|>=|<=|==|!=|[-+*/^@()\[\]{},.'=<>])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_SUM_HEADER = re.compile(r"\\?sum_(?:\{\s*([A-Za-z])\s*(?:=\s*1\s*)?\}(?:\^(?:\{\s*(\d+)\s*\}|(\d)))?|([A-Za-z]))$")
_OPEN = {"(": ")", "[": "]", "{": "}"}
MAX_TOKENS = 2000  # a claim with its sums written out (the reader takes MAX_LENGTH characters of it)


@dataclass
class Tok:
    kind: str
    text: str
    space: bool = False  # whitespace before it


class Names:
    """What the rewriting needs to know of a claim's names: values, arrays, functions.  ``values``
    may be any container (``in``): a large network's elements are looked up, not listed."""

    def __init__(self, values, arrays, functions):
        self.values = values if isinstance(values, Lookup) else set(values)
        self.arrays = set(arrays)
        self.functions = set(functions)

    @classmethod
    def of(cls, claim_names) -> Names:
        return cls([*claim_names.scalars, *claim_names.arrays], claim_names.arrays, claim_names.functions)

    @classmethod
    def of_tensor(cls, tensor_names) -> Names:
        """The names of the numeric reader (``tensor_values.TensorNames``): every node, element
        (``W2_11``), adjoint (``dz2``, ``delta2``) and constant, whatever the network's size."""
        arrays = [name for name, shape in tensor_names.shapes.items() if shape]
        arrays += [f"delta{name[1:]}" for name in arrays if name[:1] == "z" and name[1:].isdigit()]
        # adjoints are arrays too: x^T dy is a matrix product, as on paper (it was read x.T * dy)
        spelled = [f"d{name}" for name in arrays] + [f"d{tensor_names.loss}_d{name}" for name in arrays]  # dE/dq read as dE_dq
        arrays += [name for name in spelled if (ref := tensor_names.resolve(name)) is not None and ref.index is None]
        known = Lookup(lambda name: tensor_names.resolve(name) is not None or name in tensor_names.constants)
        return cls(known, arrays, tensor_names.functions)


class Lookup:
    """A container whose membership is a function (``name in Lookup(f)`` is ``f(name)``)."""

    def __init__(self, contains):
        self.contains = contains

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and bool(self.contains(name))


def normalize(text: str, names: Names, tensor: bool = False) -> str:
    """The claim in the strict plain syntax (FormulaError with what to write instead).  With
    ``tensor`` (the numeric reader's claims), a sum that is not over element subscripts is left
    as written: the numeric reader reads index notation and says what is wrong with it."""
    if not isinstance(text, str):
        return text
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula is too long ({len(text)} characters; at most {MAX_LENGTH} allowed)")
    text = unpasted(text)
    if "\\" in text.replace("\\sum", ""):
        command = re.search(r"\\[A-Za-z]*", text.replace("\\sum", ""))
        raise FormulaError(
            f"'{command.group() if command else chr(92)}' is LaTeX; give a LaTeX claim as claim_latex (--claim-latex), "
            "or write this one in plain math"
        )
    tokens = _tokens(formula_side(text))
    tokens = [Tok("op", {"{": "(", "}": ")"}.get(t.text, t.text), t.space) if t.kind == "op" else t for t in tokens]
    tokens = _primes_and_powers(tokens, names)
    tokens = _comparisons(tokens, names)
    tokens = _sums(tokens, names, tensor)
    tokens = _implicit_products(tokens, names)
    return _join(tokens).strip()


# -- tokens ------------------------------------------------------------------------------------


def _tokens(text: str) -> list[Tok]:
    tokens: list[Tok] = []
    space = False
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        if kind == "space":
            space = True
            continue
        tokens.append(Tok(kind, value, space))
        space = False
    return tokens


def _join(tokens: list[Tok]) -> str:
    out = []
    for i, tok in enumerate(tokens):
        if i and tok.space:
            out.append(" ")
        out.append(tok.text)
    return "".join(out)


def _close(tokens: list[Tok], start: int) -> int:
    """The index of the bracket closing the one at ``start`` (or len(tokens))."""
    depth = 0
    for j in range(start, len(tokens)):
        if tokens[j].text in _OPEN:
            depth += 1
        elif tokens[j].text in _OPEN.values():
            depth -= 1
            if depth == 0:
                return j
    return len(tokens)


# -- rewrites -----------------------------------------------------------------------------------


def _primes_and_powers(tokens: list[Tok], names: Names) -> list[Tok]:
    out: list[Tok] = []
    i, quoted = 0, False
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.text == "'":
            quoted = not quoted
        primed = nxt is not None and nxt.text == "'" and not nxt.space and not quoted
        if tok.kind == "name" and primed:  # a prime, not the closing quote of a string
            if tok.text + "_prime" not in names.functions:
                if tok.text in names.functions or tok.text not in names.values:
                    raise FormulaError(f"unknown function '{tok.text}'' (a prime goes on an activation: sigma'(z), tanh'(z))")
                raise FormulaError(
                    f"'{tok.text}'' : a prime goes on a function, not on a value; write e.g. sigma'(z2_1) or sigma_prime(z2_1)"
                )
            out.append(Tok("name", tok.text + "_prime", tok.space))
            i += 2
            continue
        if tok.text == "^" and out and _transpose_at(tokens, i + 1) and (out[-1].kind == "name" or out[-1].text in ")]"):
            skip = 2 if tokens[i + 1].text == "T" else 4
            out += [Tok("op", "."), Tok("name", "T")]
            i += skip
            continue
        if tok.kind == "name" and tok.text in names.functions and nxt is not None and nxt.text == "^":
            # tanh^2(z) -> tanh(z)^2
            exponent_end = _close(tokens, i + 2) if i + 2 < len(tokens) and tokens[i + 2].text in _OPEN else i + 2
            if exponent_end + 1 < len(tokens) and tokens[exponent_end + 1].text == "(":
                arg_end = _close(tokens, exponent_end + 1)
                out += [tok, *tokens[exponent_end + 1 : arg_end + 1], Tok("op", "^"), *tokens[i + 2 : exponent_end + 1]]
                i = arg_end + 1
                continue
        out.append(tok)
        i += 1
    return out


def _transpose_at(tokens: list[Tok], i: int) -> bool:
    if i < len(tokens) and tokens[i].text == "T":
        return i + 1 >= len(tokens) or tokens[i + 1].kind != "name" or tokens[i + 1].space
    return i + 2 < len(tokens) and tokens[i].text == "(" and tokens[i + 1].text == "T" and tokens[i + 2].text == ")"


def _comparisons(tokens: list[Tok], names: Names) -> list[Tok]:
    """``(z > 0)`` and ``[z > 0]`` (also >=) are step(z); any other comparison is refused,
    except in a call's arguments (``where(h > 0, dh, 0)``), which the reader judges."""
    skip = 0
    while True:
        at = next((i for i, t in enumerate(tokens) if i >= skip and t.text in (">", ">=", "<", "<=", "==", "!=")), None)
        if at is None:
            return tokens
        # the bracket that holds the comparison
        depth, start = 0, None
        for j in range(at - 1, -1, -1):
            if tokens[j].text in _OPEN.values():
                depth += 1
            elif tokens[j].text in _OPEN:
                if depth == 0:
                    start = j
                    break
                depth -= 1
        before = tokens[start - 1] if start else None
        if before is not None and before.kind == "name" and before.text not in names.values and tokens[start].text == "(":
            skip = at + 1
            continue
        fits = (
            tokens[at].text in (">", ">=")
            and start is not None
            and at + 2 < len(tokens)
            and tokens[at + 1].text == "0"
            and tokens[at + 2].text == _OPEN.get(tokens[start].text)
            and at > start + 1
        )
        if not fits:
            raise FormulaError(
                f"the comparison '{tokens[at].text}' is read only as (z > 0), relu's derivative; write (z1_1 > 0) or step(z1_1)"
            )
        inner = tokens[start + 1 : at]
        step = [Tok("name", "step", tokens[start].space), Tok("op", "("), *inner, Tok("op", ")")]
        tokens = tokens[:start] + step + tokens[at + 3 :]


_SUBSCRIPTED = re.compile(r"^(.*?)_([A-Za-z0-9]+)$")


def _sums(tokens: list[Tok], names: Names, tensor: bool = False, start: int = 0) -> list[Tok]:
    at = next((i for i, t in enumerate(tokens) if i >= start and t.kind == "sum" and _SUM_HEADER.match(t.text)), None)
    if at is None:
        return tokens
    header = _SUM_HEADER.match(tokens[at].text)
    letter = header.group(1) or header.group(4)
    bound = header.group(2) or header.group(3)
    if any(t.text == letter for j, t in enumerate(tokens) if _inside_square(tokens, j)):
        return _sums(tokens, names, tensor, at + 1)  # index notation (X[t, i]): the numeric reader's
    end, depth = at + 1, 0
    while end < len(tokens):
        text = tokens[end].text
        if text in _OPEN:
            depth += 1
        elif text in _OPEN.values():
            if depth == 0:
                break
            depth -= 1
        elif text in ("+", "-") and depth == 0 and end > at + 1 and _ends_value(tokens[end - 1], names, loose=True):
            break
        end += 1
    term = tokens[at + 1 : end]
    if tensor and not any(t.kind == "name" and _with_index(t.text, letter, 1) is not None for t in term):
        return _sums(tokens, names, tensor, at + 1)  # index notation, or nothing to sum: the numeric reader's
    if not term:
        raise FormulaError(f"'{tokens[at].text}' sums nothing; write the term after it, e.g. sum_k W2_k1*delta2_k")
    uses = [t for t in term if t.kind == "name" and _with_index(t.text, letter, 1) is not None]
    if not uses:
        raise unsubscripted(letter, f"sum_{letter} W2_{letter}1*delta2_{letter}")

    def checked(value: int) -> int:
        missing = [w for t in uses if (w := _with_index(t.text, letter, value, fill=1)) not in names.values]
        if missing:
            raise OutOfRange(missing[0])
        return value

    values = summed_terms(letter, int(bound) if bound else None, checked)
    if len(values) * len(term) + len(tokens) > MAX_TOKENS:
        raise FormulaError(
            f"the sum over {letter} written out is too long (more than {MAX_TOKENS} symbols); write it with whole nodes (@)"
        )
    written = [_implicit_products([_indexed(t, letter, v) for t in term], names) for v in values]
    return _sums(tokens[:at] + _summed(written, tokens[at].space) + tokens[end:], names, tensor)


def _indexed(tok: Tok, letter: str, value: int) -> Tok:
    replaced = _with_index(tok.text, letter, value) if tok.kind == "name" else None
    return Tok(tok.kind, replaced or tok.text, tok.space)


def _summed(written: list[list[Tok]], space: bool) -> list[Tok]:
    """The terms of a sum added up; factors that are the same in every term (``h_1``, ``x_1``
    after ``sum_k W2_k1 delta2_k``) are left outside it, as a person means them."""
    split = [_factors(term) for term in written]
    if any(f is None or len(f) != len(split[0]) for f in split):
        split = [[term] for term in written]
    common = [all(_join(f[i]) == _join(split[0][i]) for f in split) for i in range(len(split[0]))]
    if all(common):
        common = [False] * len(common)
    first = common.index(False)
    out: list[Tok] = []
    for i, factor in enumerate(split[0]):
        if common[i] or i == first:
            if out:
                out.append(Tok("op", "*"))
            if common[i]:
                out += [Tok(t.kind, t.text, t.space and k > 0) for k, t in enumerate(factor)]
                continue
            out.append(Tok("op", "("))
            for n, term in enumerate(split):
                if n:
                    out.append(Tok("op", "+", True))
                kept = [Tok("op", "*")]
                for j, factor in enumerate(term):
                    if not common[j]:
                        kept += [Tok("op", "*"), *(Tok(t.kind, t.text, t.space and k > 0) for k, t in enumerate(factor))]
                kept = kept[2:]
                out += [Tok(kept[0].kind, kept[0].text, n > 0), *kept[1:]]
            out.append(Tok("op", ")"))
    if out:
        out[0] = Tok(out[0].kind, out[0].text, space)
    return out


def _factors(term: list[Tok]) -> list[list[Tok]] | None:
    """A product split at its top-level '*' (None when it has a top-level '/', '@', '+' or '-',
    or a sum sign)."""
    if any(tok.kind == "sum" for tok in term):
        return None  # an inner sum's scope is the rest of the product: keep it whole
    factors: list[list[Tok]] = [[]]
    depth = 0
    for k, tok in enumerate(term):
        depth += tok.text in _OPEN
        depth -= tok.text in _OPEN.values()
        if depth == 0 and tok.text in ("/", "@", "**", "^") or (depth == 0 and tok.text in "+-" and k > 0 and tok.kind == "op"):
            return None
        if depth == 0 and tok.text == "*":
            factors.append([])
            continue
        factors[-1].append(tok)
    return factors if all(factors) else None


def _inside_square(tokens: list[Tok], at: int) -> bool:
    depth = 0
    for tok in tokens[:at]:
        depth += tok.text == "["
        depth -= tok.text == "]"
    return depth > 0


def _with_index(name: str, letter: str, value: int, fill: int | None = None) -> str | None:
    """``W2_k1`` with k = 2 is ``W2_21``; other index letters stay (``W2_kj`` -> ``W2_2j``) or,
    with ``fill``, take that value.  None when ``name`` has no subscript with ``letter``."""
    match = _SUBSCRIPTED.match(name)
    if not match or letter not in match.group(2) or not match.group(1):
        return None
    parts = [value if c == letter else fill if fill is not None and c.isalpha() else c for c in match.group(2)]
    if all(isinstance(p, int) or p.isdigit() for p in parts):
        return naming.element_name(match.group(1), tuple(int(p) - 1 for p in parts))
    return f"{match.group(1)}_{''.join(map(str, parts))}"


def _ends_value(tok: Tok, names: Names, loose: bool = False) -> bool:
    """Whether ``tok`` ends a value (``loose``: any name does, known or not)."""
    if tok.kind == "number" or tok.text in (")", "]"):
        return True
    return tok.kind == "name" and (loose or tok.text in names.values)


def _implicit_products(tokens: list[Tok], names: Names) -> list[Tok]:
    out: list[Tok] = []
    for i, tok in enumerate(tokens):
        if out and _multiplies(out, tok, names):
            product = "*"
            after = [t.text for t in tokens[i + 1 : i + 3]]
            # an array on the right: a name, dE/dy (the adjoint), or a group after a transposed array (x^T (y - t))
            adjoint = len(after) == 2 and after[0] == "/" and f"{tok.text}_{after[1]}" in names.arrays
            array = tok.kind == "name" and (tok.text in names.arrays or adjoint)
            array = array or (tok.text == "(" and out[-1].text == "T" and _group_holds_array(tokens, i, names))
            if _is_array_token(out, names) and array:
                # a transpose only means something in a matrix product: delta2 a1^T, W2^T delta2
                transposed = out[-1].text == "T" or after == [".", "T"]
                if not transposed:
                    raise FormulaError(
                        f"'{out[-1].text} {tok.text}': two arrays side by side; write @ for the matrix product "
                        "or * for the elementwise one"
                    )
                product = "@"
            out.append(Tok("op", product, tok.space))
            tok = Tok(tok.kind, tok.text, tok.space)
        out.append(tok)
    return out


def _group_holds_array(tokens: list[Tok], at: int, names: Names) -> bool:
    """Whether the brackets opening at ``tokens[at]`` hold a whole array (``(y - t)``, not ``(2)``)."""
    depth = 0
    for tok in tokens[at:]:
        depth += tok.text == "("
        depth -= tok.text == ")"
        if tok.kind == "name" and tok.text in names.arrays:
            return True
        if depth == 0:
            return False
    return False


def _multiplies(out: list[Tok], tok: Tok, names: Names) -> bool:
    """The implicit-multiplication rule (see the module's docstring)."""
    left = out[-1]
    if keyword.iskeyword(left.text) or keyword.iskeyword(tok.text):
        return False  # 'x for x in y': the reader's message, not a product
    transposed = len(out) > 1 and out[-2].text == "." and left.text == "T"
    attribute = len(out) > 1 and out[-2].text == "." and not transposed
    if attribute or left.kind == "name" and left.text in names.functions:
        return False
    if tok.text == "(":  # after a number, a bracket, x.T or a known value: not a call
        return transposed or _ends_value(left, names)
    if not (transposed or _ends_value(left, names, loose=True)):
        return False
    if tok.kind == "number":
        return left.kind != "number"
    return tok.kind == "name"


def _is_array_token(out: list[Tok], names: Names) -> bool:
    left = out[-1]
    if left.kind == "name" and left.text in names.arrays:
        return True
    return left.text == "T" and len(out) > 2 and out[-2].text == "." and out[-3].text in names.arrays
