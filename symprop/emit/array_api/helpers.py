"""The helper functions of the array-API module that are not a translation of the NumPy
module's: the argument check, the check of cross-entropy targets, and the helpers whose NumPy
spelling runs sums by BLAS as products with a cached vector of ones (``_ones``, which the
standard cannot make read-only): here they are plain ``xp.sum``; and ``_erf``, whose NumPy
spelling writes its ranges in place.  The rest are the NumPy module's own, translated
(``translate.spelled``)."""

from __future__ import annotations

from ...erf_tables import SOURCE as ERF_TABLES_SOURCE

#: The error function (exact GELU): the formulas of the NumPy module's ``_erf`` (msun's, with the
#: same tables, pasted above it; float32 in float32 arithmetic by s_erff.c's), each range evaluated
#: on every element with its argument clipped into the range (so no range overflows or divides by
#: zero on an element outside it; a nan stays a nan, which signals nothing), the results picked by
#: ``xp.where``: nothing written in place and no branch on values (JAX, ``jax.jit``).  The NumPy
#: ``_erf`` to the last bit on NumPy, within an ulp on PyTorch and JAX
#: (tests/test_array_api_backend.py); several times its time, every range being computed for every
#: element (on NumPy, (64, 8, 128) at a load average of 8: 6x in float32, 9.5x in float64).
ERF = (
    ERF_TABLES_SOURCE
    + '''

def _erf_ratio(p, q, u):
    """p(u) / q(u), coefficients highest degree first, by Horner's rule (as the NumPy _erf)."""
    top, bottom = p[0], q[0]
    for c in p[1:]:
        top = top * u + c
    for c in q[1:]:
        bottom = bottom * u + c
    return top / bottom


def _erf(x):
    """Error function erf(x), elementwise: FreeBSD msun's s_erf.c and, for float32, s_erff.c
    (their ranges and formulas above the tables), as the NumPy module's _erf, each range's
    formula evaluated on every element clipped into the range (no overflow, no division by
    zero) and picked by xp.where.  float32 is computed in float32 arithmetic, any other input in
    float64; float input keeps its dtype."""
    xp = array_namespace(x)
    dtype = x.dtype if xp.isdtype(x.dtype, "real floating") else xp.float64
    float32 = dtype == xp.float32
    edges, efx, erx, pp, qq, pa, qa, ra, sa, rb, sb = ERF32 if float32 else ERF64
    if not float32:
        x = xp.astype(x, xp.float64)
    a = xp.abs(x)
    # |x| < edges[0]: x + efx*x, at a scale of 2**64 so that a subnormal result is rounded once.
    u = xp.minimum(a, edges[0]) * 2.0**64
    tiny = (u + efx * u) * 2.0**-64
    # edges[0] <= |x| < 0.84375: x + x*pp(x*x)/qq(x*x).
    u = xp.clip(a, edges[0], 0.84375)
    small = u + u * _erf_ratio(pp, qq, u * u)
    # 0.84375 <= |x| < 1.25: erx + pa(s)/qa(s), s = |x| - 1.
    s = xp.clip(a, 0.84375, 1.25) - 1.0
    middle = erx + _erf_ratio(pa, qa, s)
    # 1.25 <= |x| < edges[4]: 1 - exp(-x*x - 0.5625 + r(t)/s(t))/|x|, t = 1/(x*x), by ra/sa
    # below edges[3].  x*x = h*h - (h - x)*(h + x) exactly, h*h exact: h has half the bits
    # (float64: 24, by a cast; float32: 12, by Veltkamp's splitting).
    u = xp.clip(a, 1.25, edges[4])
    t = 1.0 / (u * u)
    ratio = xp.where(u < edges[3], _erf_ratio(ra, sa, t), _erf_ratio(rb, sb, t))
    if float32:
        h = u * 4097.0
        h = h - (h - u)
    else:
        h = xp.astype(xp.astype(u, xp.float32), xp.float64)
    far = 1.0 - xp.exp(-h * h - 0.5625) * xp.exp((h - u) * (h + u) + ratio) / u
    # 1 from edges[4] on (erfc(6) ~ 2e-17, erfc(4) ~ 1.5e-8 round away), nan stays nan
    r = xp.where(a < edges[4], far, xp.where(a >= edges[4], 1.0, a))
    r = xp.where(a < 1.25, middle, r)
    r = xp.where(a < 0.84375, small, r)
    r = xp.where(a < edges[0], tiny, r)
    return xp.astype(xp.copysign(r, x), dtype)
'''
)

#: Helpers of the NumPy module spelled here instead (None: not needed at all).
OWN = {
    "erf": ERF,
    "ones": None,
    "row_max": None,  # the NumPy softmax helpers' own: the ones below take xp.max
    "row_sum": '''def _row_sum(A):
    """A summed along its last axis (keepdims)."""
    xp = array_namespace(A)
    return xp.sum(A, axis=-1, keepdims=True)
''',
    "batch_sum": '''def _batch_sum(A, axes=1):
    """A summed over its first ``axes`` axes (the batch, and leading broadcast axes)."""
    xp = array_namespace(A)
    return xp.sum(A, axis=tuple(range(axes)))
''',
    "softmax": '''def _softmax(z, axis=-1):
    """softmax along an axis (the last by default), shifted by the maximum so exp never overflows."""
    xp = array_namespace(z)
    e = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)
''',
    "softmax_lse": '''def _softmax_lse(z, axis=-1):
    """(softmax(z), logsumexp(z)) along an axis (the last by default; kept, of size 1), from one
    exp: the cross-entropy -sum_i t_i log(softmax(z)_i) is then sum_i t_i (logsumexp(z) - z_i),
    stable at any z."""
    xp = array_namespace(z)
    top = xp.max(z, axis=axis, keepdims=True)
    e = xp.exp(z - top)
    total = xp.sum(e, axis=axis, keepdims=True)
    return e / total, xp.log(total) + top
''',
}

#: Helpers that translated lines call (``translate.HELPER_CALLS``).
CALLED = {
    "_heaviside": '''def _heaviside(x, h):
    """np.heaviside, which the standard lacks: 1 where x > 0, 0 where x < 0, h where x == 0 (a nan
    stays a nan), in x's dtype (max, min and step, and their derivatives)."""
    xp = array_namespace(x)
    one, zero, at_zero = xp.ones_like(x), xp.zeros_like(x), xp.full_like(x, h)
    return xp.where(x > 0, one, xp.where(x < 0, zero, xp.where(x == 0, at_zero, x)))
''',
    "_einsum": '''def _einsum(subscripts, *operands):
    """np.einsum, which the standard lacks, for subscripts such as "nij,jk->nik" (letters, none
    twice in one operand, the output named): the operands contracted pairwise from the left, each
    pair as one matmul of (batch, rows, summed) by (batch, summed, columns); a letter that neither
    the other operand nor anything after needs is summed out first."""
    xp = array_namespace(*operands)
    inputs, out = subscripts.split("->")
    pending = list(zip(inputs.split(","), operands))
    sizes = {c: n for letters, A in pending for c, n in zip(letters, A.shape)}

    def size(letters):
        n = 1
        for c in letters:
            n *= sizes[c]
        return n

    def summed(letters, A, kept):
        axes = tuple(k for k, c in enumerate(letters) if c not in kept)
        return "".join(c for c in letters if c in kept), xp.sum(A, axis=axes) if axes else A

    def lined_up(letters, A, order):
        return xp.reshape(xp.permute_dims(A, tuple(letters.index(c) for c in "".join(order))), tuple(map(size, order)))

    a, A = pending.pop(0)
    while pending:
        b, B = pending.pop(0)
        later = out + "".join(letters for letters, _ in pending)
        a, A = summed(a, A, b + later)
        b, B = summed(b, B, a + later)
        batch = "".join(c for c in a if c in b and c in later)
        inner = "".join(c for c in a if c in b and c not in later)
        rows, columns = "".join(c for c in a if c not in b), "".join(c for c in b if c not in a)
        product = lined_up(a, A, (batch, rows, inner)) @ lined_up(b, B, (batch, inner, columns))
        a, A = batch + rows + columns, xp.reshape(product, tuple(sizes[c] for c in batch + rows + columns))
    a, A = summed(a, A, out)
    return xp.permute_dims(A, tuple(a.index(c) for c in out))
''',
    "_swapaxes": '''def _swapaxes(A, first, second):
    """A with two axes swapped (NumPy's swapaxes, which the standard spells as a permutation)."""
    xp = array_namespace(A)
    axes = list(range(A.ndim))
    axes[first], axes[second] = axes[second], axes[first]
    return xp.permute_dims(A, tuple(axes))
''',
}

CHECK_SOURCE = '''def _checked(label, A, shape, like=None, classes=None, values=None):
    """A as an array of per-sample ``shape`` with a leading batch axis, else one ValueError
    naming ``label`` and both shapes.  ``like``: an array whose batch size and dtype A must
    share.  ``classes``: A may instead hold class indices (integers of ``shape`` without its
    last axis, values in [0, classes)), returned one-hot, as PyTorch's cross-entropy accepts
    them.  ``values``: A holds whole numbers in [0, values) (indices into a table), or is a mask ("bool").
    Shapes and dtypes are always checked; values only where reading them runs nothing (not
    on lazy arrays: Dask, JAX), and anything that is not an array goes through np.asarray."""
    if not is_array_api_obj(A):
        A = np.asarray(A)
    xp = array_namespace(A)
    batch = None if like is None else like.shape[0]
    known = not is_lazy_array(A)
    if classes is not None and A.ndim == len(shape) and xp.isdtype(A.dtype, "integral"):
        if batch is not None and A.shape[0] != batch:
            raise ValueError(f"{label}: expected {batch} class indices (the batch of X), got shape {tuple(A.shape)}")
        if tuple(A.shape[1:]) != shape[:-1]:
            indices = "(batch" + "".join(f", {n}" for n in shape[:-1]) + ("," if len(shape) == 1 else "") + ")"
            raise ValueError(f"{label}: expected class indices of shape {indices}, got {tuple(A.shape)}")
        if known and A.shape[0] and (int(xp.min(A)) < 0 or int(xp.max(A)) >= classes):
            raise ValueError(f"{label}: class indices must be in [0, {classes}), got values {int(xp.min(A))} to {int(xp.max(A))}")
        dtype = like.dtype if like is not None else xp.float64
        return xp.astype(A[..., None] == xp.arange(classes, dtype=A.dtype, device=device(A)), dtype)
    if tuple(A.shape[1:]) != shape or A.ndim != len(shape) + 1:
        expected = "(batch" + "".join(f", {n}" for n in shape) + ("," if not shape else "") + ")"
        indices = "(batch" + "".join(f", {n}" for n in shape[:-1]) + ("," if len(shape) == 1 else "") + ")"
        hint = f" or integer class indices of shape {indices}" if classes is not None else ""
        if tuple(A.shape) == shape and shape:
            hint += f"; a single sample needs a batch axis: {label}[None]"
        raise ValueError(f"{label}: expected shape {expected}{hint}, got {tuple(A.shape)}")
    if batch is not None and A.shape[0] != batch:
        raise ValueError(f"{label}: expected {batch} samples (the batch of X), got shape {tuple(A.shape)}")
    if A.shape[0] == 0:  # the mean over no samples: nan, and a RuntimeWarning
        raise ValueError(f"{label}: the batch is empty (shape {tuple(A.shape)})")
    if values == "bool":
        if A.dtype != xp.bool:
            raise ValueError(f"{label}: expected a boolean mask, got dtype {A.dtype}")
        return A
    if values is not None:
        if not xp.isdtype(A.dtype, "integral"):
            raise ValueError(f"{label}: expected integers (indices in [0, {values})), got dtype {A.dtype}")
        if known and A.shape[0] and (int(xp.min(A)) < 0 or int(xp.max(A)) >= values):
            raise ValueError(f"{label}: expected indices in [0, {values}), got values {int(xp.min(A))} to {int(xp.max(A))}")
        return A
    if not xp.isdtype(A.dtype, "real floating"):
        raise ValueError(f"{label}: expected a floating-point array, got dtype {A.dtype}")
    return A
'''

SIMPLEX_SOURCE = '''def _on_simplex(label, A, axis=-1):
    """A, unless a row along ``axis`` (the last by default) does not sum to 1 (cross-entropy targets:
    one-hot or probabilities; the backward pass's y - t needs it).  Not checked on lazy arrays (Dask, JAX)."""
    if is_lazy_array(A):
        return A
    xp = array_namespace(A)
    totals = xp.sum(A, axis=axis)
    off = xp.abs(totals - 1)
    if off.ndim and not float(xp.max(off)) <= 1e-4:  # every row within 1e-4 (and no NaN)
        flat, row = int(xp.argmax(xp.reshape(off, (-1,)))), []
        for n in reversed(off.shape):
            flat, i = divmod(flat, n)
            row.insert(0, i)
        where = ", ".join(str(i) for i in row)
        along = "the last axis" if axis == -1 else f"axis {axis}"
        message = f"cross-entropy targets must sum to 1 along {along}; row {where} sums to {float(totals[tuple(row)]):.6g}"
        raise ValueError(f"{label}: {message}")
    return A
'''
