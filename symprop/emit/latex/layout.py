"""Long equations in the handout: wrapped into aligned rows, products and sums as tokens, matrices."""

from __future__ import annotations

import re

import sympy as sp

from ...latex_printing import ordered_terms, paren, to_latex, visible_length

WRAP_WIDTH = 62


def chain_terms(terms: list[tuple[sp.Symbol, sp.Expr]], names: dict, **settings) -> list[str]:
    """``dE/du * du/dx + ...`` as one token per term, each product kept as written."""
    tokens = []
    for i, (adjoint, local) in enumerate(terms):
        sign = "-" if local.could_extract_minus_sign() else "+"
        local = -local if sign == "-" else local
        tex = to_latex(adjoint, names, **settings)
        if local != 1:
            local_tex = to_latex(local, names, **settings)
            tex += r" \cdot " + (paren(local_tex) if isinstance(local, sp.Add) else local_tex)
        tokens.append((("- " if i else "-") if sign == "-" else ("+ " if i else "")) + tex)
    return tokens


def sum_of_products(terms: list[list[sp.Expr]], names: dict, **settings) -> list[str]:
    """``f1 f2 f3 + g1 g2 g3`` as one token per product (a long sum breaks between its terms),
    each product's factors in the order given (the chain rule's), a factor that is a sum bracketed."""
    tokens = []
    for i, factors in enumerate(terms):
        product = " ".join(product_tokens(factors, names, **settings))
        tokens.append(("+ " if i else "") + product)
    return tokens


#: Commands set as their name in upright letters (``\tanh`` is four letters wide, not one).
_NAMED = re.compile(
    r"\\(?:operatorname\{([A-Za-z]+)\}|((?:arc)?(?:sinh|cosh|tanh|sin|cos|tan|sec|csc|cot)|log|ln|exp|max|min))(?![A-Za-z])"
)


def display_width(tex: str) -> int:
    """``visible_length`` of a displayed formula, a fraction as wide as the wider of its two
    lines (``visible_length`` counts both): what decides whether a row fits the line."""
    fraction = re.compile(r"\\frac\{((?:[^{}]|\{[^{}]*\})*)\}\{((?:[^{}]|\{[^{}]*\})*)\}")
    while (match := fraction.search(tex)) is not None:
        top, bottom = match.groups()
        tex = tex[: match.start()] + "{" + max(top, bottom, key=visible_length) + "}" + tex[match.end() :]
    return visible_length(tex)


def segments(rows: list[str], width: int = 40) -> list[list[str]]:
    """Align rows (``lhs &= rhs``) in groups, each group one ``align*``: a run of short rows
    (one line high, at most ``width`` rough characters) two to a line, so that a worked
    example's many small equations fill the page's width instead of its length; the other
    rows one to a line.  Each run is a group of its own, so a long row never pushes the second
    column of short ones off the page."""
    groups: list[tuple[bool, list[str]]] = []
    for row in rows:
        # a named function as wide as its name: two rows of tanh side by side ran past the margin
        # (a new user's finding; 46 characters so counted, 40 with \tanh as one)
        wide = display_width(_NAMED.sub(lambda m: m.group(1) or m.group(2), row))
        short = "\\\\" not in row and "intertext" not in row and wide <= width
        if groups and groups[-1][0] == short:
            groups[-1][1].append(row)
        else:
            groups.append((short, [row]))
    out = []
    for short, group in groups:
        if short and len(group) > 1:
            group = [" & ".join(group[i : i + 2]) for i in range(0, len(group), 2)]
        out.append(group)
    return out


def split_equation(tex: str) -> str:
    """``a = b = c`` on one line if it fits, else as ``aligned`` rows, one per right-hand side."""
    if visible_length(tex) <= WRAP_WIDTH + 20:
        return tex
    parts = re.split(r" (=|\\mathrel\{\+\}=) ", tex)
    if len(parts) < 5:
        return tex
    lhs, rest = parts[0], parts[1:]
    rows = [f"{lhs} &{rest[0]} {rest[1]}"] + [f"&{rest[i]} {rest[i + 1]}" for i in range(2, len(rest), 2)]
    return r"\begin{aligned} " + r" \\ ".join(rows) + r" \end{aligned}"


def elided(items: list, limit: int, marker) -> list:
    """``items``, or when there are more than ``limit``, the first ones, ``marker`` and the last
    two (``limit`` in all): long lists stay bounded on the page."""
    if len(items) <= limit:
        return items
    return [*items[: limit - 3], marker, *items[-2:]]


def group_params(params) -> list[list[str]]:
    """Scalars and vectors of a graph spec together on lines of up to four; each matrix alone."""
    groups: list[list[str]] = []
    small = False  # whether the last group holds scalars and vectors
    for p in params:
        if len(p.shape) < 2 and small and len(groups[-1]) < 4:
            groups[-1].append(p.name)
        else:
            groups.append([p.name])
            small = len(p.shape) < 2
    return groups


def larger_than(expr: sp.Expr, nodes: int) -> bool:
    """Whether ``expr`` has more than ``nodes`` nodes (counted lazily: cheap on huge expressions)."""
    for count, _ in enumerate(sp.preorder_traversal(expr), start=1):
        if count > nodes:
            return True
    return False


def negate_tex(tex: str) -> str:
    return paren(tex) if tex.startswith("-") else tex


def _terms_tokens(expr: sp.Expr, names: dict, open_: str = "", close: str = "", **settings) -> list[str]:
    """A sum as one token per term (``+ term``), wrapped in ``open_`` ... ``close``."""
    tokens = []
    for i, (sign, term) in enumerate(ordered_terms(expr)):
        tex = to_latex(term, names, **settings)
        if isinstance(term, sp.Add):
            tex = paren(tex)
        prefix = "- " if sign == "-" else ("+ " if i else "")
        tokens.append(prefix + tex)
    tokens[0] = open_ + tokens[0]
    tokens[-1] = tokens[-1] + close
    return tokens


def product_tokens(factors: list[sp.Expr], names: dict, **settings) -> list[str]:
    """Factors joined by a dot; a factor too long for a line is split into its terms."""
    tokens = []
    for i, factor in enumerate(factors):
        dot = r"\cdot " if i else ""
        tex = to_latex(factor, names, **settings)
        if isinstance(factor, sp.Add) and visible_length(tex) > WRAP_WIDTH:
            parts = _terms_tokens(factor, names, r"\Bigl(", r"\Bigr)", **settings)
            parts[0] = dot + parts[0]
            tokens.extend(parts)
        else:
            if isinstance(factor, sp.Add) or factor.could_extract_minus_sign():
                tex = paren(tex)
            tokens.append(dot + tex)
    return tokens


def wrap_expr(expr: sp.Expr, names: dict, **settings) -> list[str]:
    """``expr`` as LaTeX, split into lines no wider than ``WRAP_WIDTH`` where it can be."""
    tex = to_latex(expr, names, **settings)
    if visible_length(tex) <= WRAP_WIDTH:
        return [tex]
    if isinstance(expr, sp.Add):
        tokens = []
        for i, (sign, term) in enumerate(ordered_terms(expr)):
            prefix = "- " if sign == "-" else ("+ " if i else "")
            term_tex = to_latex(term, names, **settings)
            if isinstance(term, sp.Mul) and visible_length(term_tex) > WRAP_WIDTH and not _has_denominator(term):
                sub = product_tokens(list(term.as_ordered_factors()), names, **settings)
                sub[0] = prefix + sub[0]
                tokens.extend(sub)
            else:
                tokens.append(prefix + term_tex)
        return pack_tokens(tokens)
    if isinstance(expr, sp.Mul) and not _has_denominator(expr):
        sign = "-" if expr.could_extract_minus_sign() else ""
        tokens = product_tokens(list((-expr if sign else expr).as_ordered_factors()), names, **settings)
        tokens[0] = sign + tokens[0]
        return pack_tokens(tokens)
    return [tex]


def _has_denominator(expr: sp.Expr) -> bool:
    return any(f.is_Pow and f.exp.is_negative for f in sp.Mul.make_args(expr))


def pack_tokens(tokens: list[str]) -> list[str]:
    """Greedy line filling: as many tokens per line as fit in ``WRAP_WIDTH``."""
    lines: list[str] = []
    for token in tokens:
        if lines and visible_length(lines[-1] + " " + token) <= WRAP_WIDTH:
            lines[-1] += " " + token
        else:
            lines.append(token)
    return lines


def equation_rows(lhs: str, parts: list[list[str]], force_rows: bool = False) -> str:
    """``lhs = part = part ...`` as align rows: on one row when it fits, else as few rows as fit
    (a part of several lines starts a row of its own; ``force_rows``: one row per part)."""
    parts = [p for p in parts if p]
    one_row = f"{lhs} &= " + " = ".join(p[0] for p in parts)
    if not force_rows and all(len(p) == 1 for p in parts) and display_width(one_row) <= WRAP_WIDTH + 14:
        return one_row
    rows: list[str] = []
    for i, part in enumerate(parts):
        joinable = not force_rows and rows and len(part) == 1 and len(parts[i - 1]) == 1
        if joinable and display_width(rows[-1] + " = " + part[0]) <= WRAP_WIDTH + 14:
            rows[-1] += " = " + part[0]
            continue
        rows.append((f"{lhs} &= " if i == 0 else "&= ") + part[0])
        rows += [rf"&\quad {line}" for line in part[1:]]
    return " \\\\\n".join(rows)


def matrix_tex(entries: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return entries[0]
    if len(shape) == 1:
        return r"\begin{pmatrix} " + r" \\ ".join(entries) + r" \end{pmatrix}"
    if len(shape) > 2:  # a convolution's kernel [O, C, kh, kw]: its matrices in brackets, as NumPy prints it
        size = len(entries) // shape[0]
        parts = [matrix_tex(entries[k * size : (k + 1) * size], shape[1:]) for k in range(shape[0])]
        return r"\left[ " + ", ".join(parts) + r" \right]"
    rows, cols = shape
    body = r" \\ ".join(" & ".join(entries[r * cols : (r + 1) * cols]) for r in range(rows))
    return r"\begin{pmatrix} " + body + r" \end{pmatrix}"
