"""The numba graph module's own helpers (``graph.GraphNumbaModule``), by the NumPy module's name:
where the NumPy helper cannot be translated (a cache dict, ``*shape`` in a reshape) or a loop is
faster; and the loops over ``fastmath``'s vectorisable functions.  Each is the source text the
module holds."""

from __future__ import annotations

#: The Numba module's own helpers, by the NumPy module's name: where the NumPy helper cannot be
#: translated (a cache dict, ``*shape`` in a reshape) or a loop is faster.
OWN = {
    "batch_sum": '''def _batch_sum(A):
    """A summed over its first axis, as a product with ones (BLAS)."""
    n = A.shape[0]
    return np.dot(np.ones(n, A.dtype), np.ascontiguousarray(A).reshape(n, -1)).reshape(A.shape[1:])''',
    "mean_axis": '''def _mean_axis(A, axis):
    """A's mean along one axis (Numba's mean takes no axis): its sum along it over the axis' length."""
    return A.sum(axis=axis) / A.dtype.type(A.shape[axis])''',
    "steps_matmul": '''def _steps_matmul(A, B):
    """A.swapaxes(0, 1) @ B for A of shape (batch, steps, n): one 2-D product, viewed (steps, batch, m)."""
    N, S, n = A.shape
    P = np.dot(np.ascontiguousarray(A).reshape(N * S, n), B).reshape(N, S, B.shape[1])
    return P.transpose(1, 0, 2)''',
    "batch_sum2": '''def _batch_sum2(A):
    """A summed over its first two axes (the batch and a leading broadcast axis), as a product with ones."""
    n = A.shape[0] * A.shape[1]
    return np.dot(np.ones(n, A.dtype), np.ascontiguousarray(A).reshape(n, -1)).reshape(A.shape[2:])''',
    "matmul": '''def _matmul(A, B):
    """A @ B as NumPy computes it (Numba's @ and np.dot take 2-D arrays alone): a 2-D B by one
    product of A's rows; else one product per matrix of the stacks, their leading axes broadcast
    as NumPy's (a ValueError where they do not): (N, h, m, k) @ (h, k, p) is (N, h, m, p).  Each
    operand's leading axes are flattened into one: the output's stack n = sum_j i_j s_j (i_j its
    index along leading axis j, s_j the product of the lengths after it) is A's stack
    sum_j i_j s^A_j over A's axes of length > 1 (a broadcast axis of length 1 adds nothing),
    B's likewise.  Numba compiles only the branches of the arrays' ranks (constants of their types)."""
    if A.ndim <= 2 and B.ndim <= 2:
        return np.dot(A, B)
    if B.ndim == 2:
        return np.dot(np.ascontiguousarray(A).reshape(-1, A.shape[-1]), B).reshape(A.shape[:-1] + (B.shape[1],))
    lead = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    m, k, p = A.shape[-2], A.shape[-1], B.shape[-1]
    a = np.ascontiguousarray(A).reshape(-1, m, k)
    b = np.ascontiguousarray(B).reshape(-1, k, p)
    stacks = 1
    for length in lead:
        stacks *= length
    out = np.empty((stacks, m, p), B.dtype)
    for n in range(stacks):
        ia, ib, sa, sb, rest = 0, 0, 1, 1, n
        for j in range(len(lead) - 1, -1, -1):  # from the last leading axis
            i = rest % lead[j]
            rest //= lead[j]
            ja, jb = j - len(lead) + A.ndim - 2, j - len(lead) + B.ndim - 2  # the axis in A and in B
            if ja >= 0 and A.shape[ja] > 1:
                ia += i * sa
                sa *= A.shape[ja]
            if jb >= 0 and B.shape[jb] > 1:
                ib += i * sb
                sb *= B.shape[jb]
        if m * k * p <= 4096:  # small (attention heads): out_rc = sum_q a_rq b_qc as loops, no call of BLAS
            out[n] = 0
            for r in range(m):
                for q in range(k):
                    for c in range(p):
                        out[n, r, c] += a[ia, r, q] * b[ib, q, c]
        else:
            out[n] = np.dot(a[ia], b[ib])
    return out.reshape(lead + (m, p))''',
    "row_sum": '''def _row_sum(A):
    """A summed along its last axis (keepdims), as a product with ones (BLAS)."""
    flat = np.ascontiguousarray(A).reshape(-1, A.shape[-1])
    return np.dot(flat, np.ones(A.shape[-1], A.dtype)).reshape(A.shape[:-1] + (1,))''',
    "row_dot": '''@njit(inline="always", **JIT)
def _row_dot(a, b):
    """sum_j a_j b_j of two rows (1-D) in 8 running sums (j mod 8), added pairwise at the end: the
    order of BLAS's kernels, about as accurate (a sum of 32 float64: 1.8e-17 relative to sum |a_j|,
    as BLAS's; one running sum: 3.0e-17), and inside its caller's loop over the rows (no pass of its own;
    inlined: a call passing two rows costs ~25 ns)."""
    n = a.shape[0]
    F = a.dtype.type
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = F(0.0)
    whole = n - n % 8
    for j in range(0, whole, 8):
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
        s4 += a[j + 4] * b[j + 4]
        s5 += a[j + 5] * b[j + 5]
        s6 += a[j + 6] * b[j + 6]
        s7 += a[j + 7] * b[j + 7]
    total = ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))
    for j in range(whole, n):
        total += a[j] * b[j]
    return total''',
    "softmax_rows": '''def _softmax_rows(z):
    """(softmax(z), m, s) along the last axis of z, as rows (z reshaped (-1, n)): m the row maxima,
    s the row sums of e = exp(z - m) (_row_dot with ones: as accurate as the NumPy module's BLAS sums),
    softmax e / s.  Loops, exp over all elements at once (it vectorises): Numba's z - m and e / s broadcast
    over arrays of 3 or more axes cost ~5 ns an element ((64, 4, 8, 8) scores, float64: 112 us as
    array expressions, 36 us so).  A row holding NaN is NaN throughout, as NumPy's (its sum is NaN)."""
    n = z.shape[-1]
    flat = np.ascontiguousarray(z).reshape(-1, n)
    rows = flat.shape[0]
    e = np.empty((rows, n), z.dtype)
    top = np.empty(rows, z.dtype)
    for r in range(rows):  # m = max_j z_j, z_j - m
        m = flat[r, 0]
        for j in range(1, n):
            m = flat[r, j] if flat[r, j] > m else m
        top[r] = m
        for j in range(n):
            e[r, j] = flat[r, j] - m
    every = e.ravel()
    for i in range(every.size):  # e_j = exp(z_j - m)
        every[i] = _exp(every[i])
    ones = np.ones(n, z.dtype)
    total = np.empty(rows, z.dtype)
    for r in range(rows):  # s = sum_j e_j, softmax_j = e_j / s
        total[r] = _row_dot(e[r], ones)
        for j in range(n):
            e[r, j] /= total[r]
    return e, top, total''',
    "softmax_lse": '''def _softmax_lse(z):
    """(softmax(z), logsumexp(z)) along the last axis of z (kept, of size 1), from one exp:
    logsumexp(z) = log(s) + m (_softmax_rows)."""
    p, top, total = _softmax_rows(z)
    return p.reshape(z.shape), (np.log(total) + top).reshape(z.shape[:-1] + (1,))''',
    "softmax": '''def _softmax(z):
    """softmax along the last axis of z, shifted by the row maximum (_softmax_rows)."""
    return _softmax_rows(z)[0].reshape(z.shape)''',
    "where_number": '''def _where_number(c, a, b, when):
    """np.where(c, a, b) if when else np.where(c, b, a), for an array a (of the result's dtype) and a
    number b: one loop where a has the result's shape and c's shape is the trailing part of it (a
    causal mask under the scores of every sample and head): element i is a_i if c_(i mod c.size) is
    when, else b.  Numba's np.where walks broadcast arrays index by index, ~5 ns an element
    ((64, 4, 8, 8) scores, float64: 84 against 4 us); any other shapes are its."""
    shape = np.broadcast_shapes(c.shape, a.shape)
    out = np.empty(shape, a.dtype)
    tiled = a.size == out.size
    for j in range(1, c.ndim + 1):
        tiled = tiled and c.shape[c.ndim - j] == shape[len(shape) - j]
    if not tiled:
        return np.where(c, a, b) if when else np.where(c, b, a)
    chosen = np.ascontiguousarray(c).ravel()
    values = np.ascontiguousarray(a).ravel()
    into = out.ravel()
    n = chosen.size
    for i in range(0, into.size, max(n, 1)):
        for j in range(n):
            into[i + j] = values[i + j] if (chosen[j] != 0) == when else b  # any nonzero is true, as np.where's
    return out''',
}
#: Loops over ``fastmath``'s vectorisable functions, by NumPy name.
LOOPS = {
    name: f'''def _{name}_array(a):
    """np.{name}(a) as a loop over the vectorisable _{name} (Numba's np.{name} calls libm an element)."""
    out = np.empty(a.shape, a.dtype)
    flat = np.ascontiguousarray(a).ravel()
    into = out.ravel()
    for i in range(flat.size):
        into[i] = _{name}(flat[i])
    return out'''
    for name in ("tanh", "exp")
}
