"""Tensor contractions in NumPy: ``einsum`` subscripts spelled the fastest readable way.

The matrix product, its adjoints and every ``einsum`` of a graph spec are contractions:
``"nij,jk->nik"``.  ``contract`` writes one as ``A @ B`` (with ``np.swapaxes`` or ``.T``) when
it is a (batched) matrix product, as ``np.dot`` of the reshaped arrays or ``np.tensordot``
when it sums over axes that both operands share and nothing else (a weight's gradient summed
over the batch and the sequence: one BLAS call), and as ``np.einsum`` otherwise.  Letters summed within one operand only are
summed first; letters of the result that no operand has are broadcast (``broadcast_missing``).
"""

from __future__ import annotations

#: Letters for subscripts, in the order they are handed out.
LETTERS = "ijklmopqrsuvwxyzabcdefghtABCDEFGHIJKLMOPQRSTUVWXYZ"


def batch_letter(*subscripts: str) -> str:
    """A letter for the batch axis that no subscript uses (``n`` unless taken)."""
    used = set("".join(subscripts))
    return next(c for c in "n" + LETTERS if c not in used)


def _transposed(code: str, subs: str) -> tuple[str, str]:
    """``code`` with its last two axes swapped, and its subscripts likewise."""
    spelled = f"{code}.T" if len(subs) == 2 else f"np.swapaxes({code}, -1, -2)"
    return spelled, subs[:-2] + subs[-1] + subs[-2]


def _matmul_result(sa: str, sb: str) -> str | None:
    """The subscripts of ``A @ B`` under NumPy's rules, or None when it is not a product."""
    if not sa or not sb:
        return None
    inner_a = sa[-1]
    inner_b = sb[0] if len(sb) == 1 else sb[-2]
    if inner_a != inner_b:
        return None
    lead_a, lead_b = sa[:-2], sb[:-2]
    longer, shorter = (lead_a, lead_b) if len(lead_a) >= len(lead_b) else (lead_b, lead_a)
    if shorter and not longer.endswith(shorter):
        return None
    rows = sa[-2] if len(sa) >= 2 else ""
    cols = sb[-1] if len(sb) >= 2 else ""
    result = longer + rows + cols
    return result if len(set(result)) == len(result) and inner_a not in result else None


def _as_matmul(a: tuple[str, str], b: tuple[str, str], out: str) -> str | None:
    (_, sa), (_, sb) = a, b
    shared = set(sa) & set(sb)
    if len(shared - set(out)) != 1:
        return None
    for left, right in ((a, b), (b, a)):
        (cl, sl), (cr, sr) = left, right
        for tl in (False, True):
            for tr in (False, True):
                if (tl and len(sl) < 2) or (tr and len(sr) < 2):
                    continue
                code_l, subs_l = _transposed(cl, sl) if tl else (cl, sl)
                code_r, subs_r = _transposed(cr, sr) if tr else (cr, sr)
                if _matmul_result(subs_l, subs_r) == out:
                    return f"{code_l} @ {code_r}"
    return None


def _as_tensordot(a: tuple[str, str], b: tuple[str, str], out: str, sizes: dict[str, int]) -> str | None:
    """``np.tensordot`` over every shared letter, when no shared letter is kept (``np.dot`` of the
    reshaped arrays when the shared letters lead both and ``sizes`` gives the free ones)."""
    (ca, sa), (cb, sb) = a, b
    shared = [c for c in sa if c in sb]
    if not shared or any(c in out for c in shared):
        return None
    free = [c for c in sa if c not in shared] + [c for c in sb if c not in shared]
    if sorted(free) != sorted(out) or len(set(free)) != len(free):
        return None
    axes_a = [sa.index(c) for c in shared]
    axes_b = [sb.index(c) for c in shared]
    leading = list(range(len(shared)))
    one_each = len(sa) == len(sb) == len(shared) + 1 and "".join(free) == out and set(free) <= sizes.keys()
    if axes_a == axes_b == leading and one_each:
        # A weight's gradient summed over the batch and the sequence: the leading axes are the
        # rows of one np.dot of the reshaped arrays (no copy of a contiguous array), where
        # np.tensordot first copies each operand transposed (self_attention, (64, 8, 16)
        # arrays: 5.5 against 9.5 us, NumPy 2.4).
        return f"np.dot({_wrapped(ca)}.reshape(-1, {sizes[free[0]]}).T, {_wrapped(cb)}.reshape(-1, {sizes[free[1]]}))"
    if len(shared) == 1:
        spelled = f"np.tensordot({ca}, {cb}, axes=({axes_a[0]}, {axes_b[0]}))"
    else:
        spelled = f"np.tensordot({ca}, {cb}, axes=({axes_a}, {axes_b}))"
    if "".join(free) == out:
        return spelled
    if len(out) == 2:
        return f"{spelled}.T"
    return f"np.transpose({spelled}, {tuple(free.index(c) for c in out)})"


def contract(operands: list[tuple[str, str]], out: str, sizes: dict[str, int] | None = None) -> str:
    """NumPy for ``einsum(operands -> out)``; ``operands`` are (array code, subscripts), every
    letter of ``out`` appears in some operand and no operand repeats a letter; ``sizes``: the
    sizes of the letters known (per-sample axes), for reshapes."""
    sizes = sizes or {}
    # A letter only one operand has, and not the result: sum it there first.
    summed = []
    for position, (code, subs) in enumerate(operands):
        others = "".join(s for k, (_, s) in enumerate(operands) if k != position) + out
        alone = [i for i, c in enumerate(subs) if c not in others]
        if alone and len(operands) > 1:
            axes = alone[0] if len(alone) == 1 else tuple(alone)
            code = f"{_wrapped(code)}.sum(axis={axes})"
            subs = "".join(c for c in subs if c in others)
        summed.append((code, subs))
    operands = summed
    if len(operands) == 1:
        ((code, subs),) = operands
        if subs == out:
            return code
        kept = "".join(c for c in subs if c in out)
        if kept != subs:
            axes = tuple(i for i, c in enumerate(subs) if c not in out)
            code = f"{_wrapped(code)}.sum(axis={axes[0] if len(axes) == 1 else axes})"
            subs = kept
        if subs == out:
            return code
        if len(out) == 2:
            return f"{_wrapped(code)}.T"
        return f"np.transpose({code}, {tuple(subs.index(c) for c in out)})"
    if len(operands) == 2:
        spelled = _as_matmul(operands[0], operands[1], out)
        if spelled is not None:
            return spelled
        # np.tensordot in the order that needs no transpose of the result, if there is one.
        pair = ((operands[0], operands[1]), (operands[1], operands[0]))
        dots = [d for d in (_as_tensordot(a, b, out, sizes) for a, b in pair) if d]
        if dots:
            return min(dots, key=lambda d: d.endswith(".T") or d.startswith("np.transpose"))
    subscripts = ",".join(s for _, s in operands)
    arrays = ", ".join(code for code, _ in operands)
    optimize = ", optimize=True" if len(operands) > 2 else ""
    return f'np.einsum("{subscripts}->{out}", {arrays}{optimize})'


def broadcast_missing(code: str, have: str, want: str, shape: str) -> str:
    """``code`` (subscripts ``have``) spread to subscripts ``want`` (a superset, same order) and
    array shape ``shape``: the adjoint of a sum over the letters ``have`` lacks."""
    if have == want:
        return code
    index = ", ".join(":" if c in have else "None" for c in want)
    return f"np.broadcast_to({_wrapped(code)}[{index}], {shape})"


def _wrapped(code: str) -> str:
    return code if code.replace("_", "").replace(".", "").isalnum() else f"({code})"
