"""The LaTeX claim reader's expression trees: ``("num", text)``, ``("name", plain)``,
``("call", f, arg)``, ``("bin", op, l, r)``, ``("neg", x)``, ``("pow", base, exp)``, ``("T", x)``,
``("group", x)``; a sum of the terms of ``\\sum_k``, and the plain claim text of a tree."""

from __future__ import annotations

PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2}


def _factors(tree) -> list:
    """The factors of a product tree (``a * b * c``), left to right."""
    if tree[0] == "bin" and tree[1] == "*":
        return _factors(tree[2]) + _factors(tree[3])
    return [tree]


def _joined(op: str, trees: list):
    """``trees`` joined left to right by ``op`` (``a * b * c``, ``a + b + c``)."""
    tree = trees[0]
    for other in trees[1:]:
        tree = ("bin", op, tree, other)
    return tree


def summed(terms: list):
    """The sum of ``terms`` (the product after ``\\sum_k`` for k = 1, 2, ...), with the factors
    that are the same in every term (they do not read k) outside it, as a plain claim's sum has
    them: ``(w_11 d_1 + w_21 d_2) x_1``, so that a wrong factor is named, not the whole sum."""
    lists = [_factors(term) for term in terms]
    if len(terms) > 1 and len({len(factors) for factors in lists}) == 1:
        same = [all(factors[i] == lists[0][i] for factors in lists) for i in range(len(lists[0]))]
    else:
        same = [False] * len(lists[0])
    if not any(same):
        return ("group", _joined("+", terms))
    total = _joined("+", [_joined("*", [f for f, fixed in zip(factors, same) if not fixed]) for factors in lists])
    first = same.index(False)
    outside = [("group", total) if i == first else f for i, (f, fixed) in enumerate(zip(lists[0], same)) if fixed or i == first]
    return _joined("*", outside)


def plain_text(tree, parent: int = 0) -> str:
    kind = tree[0]
    if kind in ("num", "name"):
        return tree[1]
    if kind == "group":
        return f"({plain_text(tree[1])})"
    if kind == "call":
        return f"{tree[1]}({plain_text(tree[2])})"
    if kind == "T":
        inner = plain_text(tree[1], 5)
        return f"{inner}.T"
    if kind == "neg":
        text = "-" + plain_text(tree[1], 3)
        return f"({text})" if parent >= 3 else text
    if kind == "pow":
        text = f"{plain_text(tree[1], 5)}^{plain_text(tree[2], 5)}"
        return f"({text})" if parent >= 4 else text
    op, left, right = tree[1], tree[2], tree[3]
    prec = PREC[op]
    right_needs = prec + 1 if op != "*" or right[0] != "bin" or right[1] != "*" else prec
    # a Hadamard product next to a matrix product gets parentheses, to be read at a glance
    mixed = left[0] == "bin" and PREC[left[1]] == prec and (op == "@") != (left[1] == "@")
    left_needs = prec + 1 if mixed else prec
    text = f"{plain_text(left, left_needs)} {op} {plain_text(right, right_needs)}"
    return f"({text})" if parent > prec else text
