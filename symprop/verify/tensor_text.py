"""The text of a tensor claim before and after parsing: the rewrites (``sum_{t}`` becomes
``sum_[t]*``, a subscript the reader treats as the sum sign, ``dE/dq`` the name ``dE_dq``)
with a map back to the user's columns, and the sum sign found again in the parsed tree."""

from __future__ import annotations

import ast
import re

_SUM = re.compile(r"\bsum_(?:\{([^{}]*)\}|([A-Za-z])\b)")
MARKER = "sum_"


def rewrite(text: str, loss: str) -> tuple[str, list[int]]:
    """The text the Python parser reads, and for each of its characters the user's column.

    ``sum_{t,k}`` -> ``sum_[t,k]*``, ``sum_t`` -> ``sum_[t]*``, ``dE/dq`` -> ``dE_dq``, ``^`` -> ``**``.
    """
    adjoint = re.compile(rf"\bd{re.escape(loss)}\s*/\s*d(?=[A-Za-z])")
    out: list[str] = []
    origin: list[int] = []
    i = 0
    while i < len(text):
        match = _SUM.match(text, i) if text.startswith("sum_", i) else None
        fraction = adjoint.match(text, i) if text.startswith("d" + loss, i) else None
        if match and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            letters = match.group(1) if match.group(1) is not None else match.group(2)
            piece = f"sum_[{letters}]*"
        elif fraction and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            match, piece = fraction, f"d{loss}_d"
        else:
            piece = "**" if text[i] == "^" else text[i]
            out.append(piece)
            origin += [i] * len(piece)
            i += 1
            continue
        out.append(piece)
        origin += [min(i + k, match.end() - 1) for k in range(len(piece))]
        i = match.end()
    origin.append(len(text))
    return "".join(out), origin


def span(source: str, origin: list[int], node: ast.AST) -> tuple[int, int]:
    """The user's columns [start, end) of a subexpression (ast offsets count UTF-8 bytes)."""
    encoded = source.encode()

    def char(offset: int) -> int:
        return len(encoded[:offset].decode(errors="replace"))

    return origin[char(node.col_offset)], origin[char(node.end_col_offset) - 1] + 1


def is_sum(node: ast.AST) -> bool:
    """A sum sign, perhaps with signs before it: Python reads ``-sum_[t]*x`` as ``(-sum_[t])*x``."""
    return signed_sum(node)[1] is not None


def signed_sum(node: ast.AST) -> tuple[int, ast.Subscript | None]:
    """The sign (+1 or -1) written before a sum sign, and the sum sign (None if ``node`` is none)."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    marker = isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == MARKER
    return sign, node if marker else None
