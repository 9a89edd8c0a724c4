"""Rewrites of a generated function's lines that change how a value is spelled: a name replaced
by its value with only the parentheses it needs (``substituted``), and a layer's product of a
batch and a weight matrix computed in the faster of BLAS's orientations (``tuned_products``).
The rewrites that free or reuse arrays are ``memory``'s, those that compute a value once ``sharing``'s."""

from __future__ import annotations

import re

#: The fewest multiply-adds a sample of a product ``np.dot(A, W.T)`` that ``tuned_products`` gives
#: to ``_batch_product``: a call of it costs about 0.25 us more than np.dot (its key and dict look-up),
#: more than a product of a few hundred multiply-adds a sample could gain (an RNN's 16 x 16).
PRODUCT_MIN_SIZE = 4096
_PRODUCT = re.compile(r"np\.dot\(([A-Za-z_]\w*), ([A-Za-z_]\w*)\.T\)")


def tuned_products(statements: list[str], rows: set[str], weights: set[str]) -> tuple[list[str], bool]:
    """``statements`` with each product ``np.dot(A, W.T)`` of a batch of rows ``A`` (an array of
    ``rows``: per sample a vector) and a weight matrix ``W`` (of ``weights``) written
    ``_batch_product(A, W)``, which computes it in the faster of BLAS's two orientations (``EXTRA_HELPERS``:
    float64 784-30-10 at batch 1024 0.8x the time of the call as written on this machine's OpenBLAS), and whether one was.
    Comments are left as they are."""
    found = False

    def tuned(match: re.Match) -> str:
        nonlocal found
        if match.group(1) not in rows or match.group(2) not in weights:
            return match.group(0)
        found = True
        return f"_batch_product({match.group(1)}, {match.group(2)})"

    lines = []
    for statement in statements:
        parts = []
        for line in statement.split("\n"):
            code, hash_, comment = line.partition("  # ")
            parts.append(line if code.lstrip().startswith("#") else _PRODUCT.sub(tuned, code) + hash_ + comment)
        lines.append("\n".join(parts))
    return lines, found


def substituted(text: str, name: str, value: str) -> str:
    """``text`` (a line ``x = ...`` or its formula) with identifier ``name`` on its right side
    replaced by ``value``, in parentheses only where an operator next to it binds tighter than
    ``value``'s own (``tanh(Wx x2 + bh)``, ``x * (1 - t)``, ``(a + b).T``)."""
    left, right = text.split(" = ", 1)
    outer = _outer_operators(value)
    pattern = re.compile(rf"(-\s*)?(?<![\w.]){re.escape(name)}(?!\w)")

    def spelled(match: re.Match) -> str:
        before, after = right[: match.start()].rstrip(), right[match.end() :].lstrip()
        if match.group(1):
            negated = (not before or before.endswith(("(", ",", "*", "/", "@"))) and not after.startswith("**")
            if negated and value.startswith("-") and not _outer_operators(value[1:]):  # -(-x) is x (ruff's B002)
                return value[1:]
            before, minus = f"{before} -".lstrip(), match.group(1)
        else:
            minus = ""
        tight_before = before.endswith(("*", "/", "@", "-", "**")) or (before[-1:].isalnum() or before.endswith(")"))
        tight_after = after.startswith(("*", "/", "@", "[", ".", "**")) or after[:1].isalnum() or after.startswith("(")
        if outer & {"+", "-"}:
            wrap = tight_before or tight_after
        elif outer:  # a product: only a power, a quotient's divisor, an index or an attribute binds tighter
            wrap = before.endswith(("/", "**", "@")) or after.startswith(("**", "[", "."))
            # ... and a matrix product after * or * - (a * b @ c is (a * b) @ c: * and @ group left to right)
            wrap = wrap or ("@" in outer and re.search(r"\*\s*-?$", before) is not None)
        else:
            wrap = False
        return f"{minus}({value})" if wrap else f"{minus}{value}"

    return f"{left} = {pattern.sub(spelled, right)}"


def _outer_operators(code: str) -> set[str]:
    """The operators of ``code`` outside brackets: ``+ -`` of a sum, ``*`` of a product (also a
    formula's juxtaposition ``W x``), ``@`` of a matrix product, or none for a name, a number or a call."""
    found, depth, previous = ({"-"} if code.startswith("-") else set()), 0, ""  # -x ** 2 is -(x ** 2)
    for position, char in enumerate(code):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            exponent = re.search(r"(?<![\w.])\d+\.?\d*[eE]$", code[:position])  # 1e-5
            if char in "+-" and position and previous not in "*/@(,+-" and not exponent:
                found.add(char)
            elif char == "@":
                found.add("@")
            elif char in "*/" or (char == " " and code[position + 1 : position + 2] not in "+-*/@" and previous not in "+-*/@ "):
                found.add("*")
        if char != " ":
            previous = char
    return found
