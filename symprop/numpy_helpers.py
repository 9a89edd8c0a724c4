"""Pure-NumPy helper functions that are pasted into generated modules.

Generated modules may import nothing but NumPy, so functions that NumPy lacks
(such as ``erf``, needed by the exact GELU activation) are defined here as
ordinary Python functions and exported as source text.  Each ``*_SOURCE``
constant is produced with :func:`inspect.getsource` from the single definition
in this file, so the package and the generated code share one implementation.

The pasted functions rely only on ``np`` (``import numpy as np`` at the top of
the generated module) and on the tables pasted with them (``_erf``'s
coefficients, ``erf_tables.SOURCE``): no other module-level names, no imports
inside the function.
"""

import inspect

import numpy as np

from .erf_tables import ERF_EFX, ERF_ERX, ERF_PA, ERF_PP, ERF_QA, ERF_QQ, ERF_RA, ERF_RB, ERF_SA, ERF_SB
from .erf_tables import SOURCE as ERF_TABLES_SOURCE

__all__ = ["ERF_SOURCE", "erf"]


def _erf(x):
    """Error function erf(x), elementwise, in double precision.

    Vectorised port of the FreeBSD msun ``s_erf.c`` algorithm (Sun
    Microsystems, 1993; the same code as Go's ``src/math/erf.go``), whose
    rational-approximation coefficients are the tables ``ERF_*`` above:

        |x| < 2**-28          erf(x) = x + efx*x
        |x| < 0.84375         erf(x) = x + x*pp(x*x)/qq(x*x)
        0.84375 <= |x| < 1.25 erf(x) = erx + pa(s)/qa(s),  s = |x| - 1
        1.25 <= |x| < 1/0.35  erf(x) = 1 - exp(-x*x - 0.5625 + ra(t)/sa(t))/|x|
        1/0.35 <= |x| < 6     erf(x) = 1 - exp(-x*x - 0.5625 + rb(t)/sb(t))/|x|
        6 <= |x|              erf(x) = 1  (erfc(6) ~ 2e-17 rounds away)

    with t = 1/(x*x) and erf(-x) = -erf(x).  The error is below one ulp.

    One new array of the input's size, |x| in float64, which the results
    overwrite block by block: in each block each range gathers its elements
    once (np.flatnonzero, all ranges found before any is written) and
    evaluates its polynomials in place (Horner's rule) on arrays of its own
    size.  A fresh temporary of the input's size costs more than its
    arithmetic (its pages are faulted in again on every call): with one per
    step, a (64, 8, 128) array took 3.1 ms, 1.4 ms when no range had a single
    element (against 1.0 and 0.4 ms now).
    Float input keeps its dtype (float32 is computed in float64 and rounded
    back); any other input is computed and returned as float64.  Each branch
    only ever sees the elements it is valid for, so no overflow, invalid or
    divide-by-zero can occur; underflow is signalled only when the true result
    is itself subnormal, and is silenced there.  erf(+-0) = +-0,
    erf(+-inf) = +-1, erf(nan) = nan.
    """

    def horner(coefficients, u):
        """The polynomial (highest degree first) at u, in one new array."""
        p = u * coefficients[0]
        for c in coefficients[1:-1]:
            p += c
            p *= u
        p += coefficients[-1]
        return p

    x = np.asarray(x)
    out_dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    # |x| in float64, which becomes the result (nan stays nan); an array for 0-d x too
    r = np.asarray(np.abs(x, dtype=np.float64, order="C"))

    def block(v):
        """erf(v) in place of v, |x| (a block of r): each range gathered once
        (np.flatnonzero; all ranges found before any is written), its
        polynomials evaluated in place (Horner's rule)."""
        # The positions of each range, |x| < 2**-28 first, before any result is written.
        below, within = v < 2.0**-28, np.empty(v.shape, bool)
        ranges = [np.flatnonzero(below)]
        for edge in (0.84375, 1.25, 1.0 / 0.35, 6.0):
            np.less(v, edge, out=within)
            np.not_equal(within, below, out=below)  # the previous edge <= |x| < edge
            ranges.append(np.flatnonzero(below))
            below, within = within, below
        tiny, small, middle, near, far = ranges

        # |x| < 2**-28: erf(x) = x + efx*x.  Evaluate at a scale of 2**64 so that
        # a subnormal result is rounded only once.
        a = v[tiny] * 2.0**64
        with np.errstate(under="ignore"):  # subnormal results are inexact
            v[tiny] = (a + ERF_EFX * a) * 2.0**-64

        # 2**-28 <= |x| < 0.84375: erf(x) = x + x*pp(z)/qq(z), z = x*x.
        a = v[small]
        z = a * a
        p = horner(ERF_PP, z)
        p /= horner(ERF_QQ, z)
        p *= a
        p += a
        v[small] = p

        # 0.84375 <= |x| < 1.25: erf(x) = erx + pa(s)/qa(s), s = |x| - 1.
        s = v[middle]
        s -= 1.0
        p = horner(ERF_PA, s)
        p /= horner(ERF_QA, s)
        p += ERF_ERX
        v[middle] = p

        # 1.25 <= |x| < 6: erf(x) = 1 - erfc(x) with
        # erfc(x) = exp(-x*x - 0.5625 + R(t)/S(t)) / x, t = 1/(x*x), R/S = ra/sa
        # below 1/0.35 and rb/sb from there.
        for i, top, bottom in ((near, ERF_RA, ERF_SA), (far, ERF_RB, ERF_SB)):
            a = v[i]
            t = a * a
            np.divide(1.0, t, out=t)
            ratio = horner(top, t)
            ratio /= horner(bottom, t)
            # Split x*x exactly: h has 24 significant bits, so h*h is exact and
            # x*x = h*h - (h - x)*(h + x) (msun uses a 20-bit mask for the same).
            h = a.astype(np.float32).astype(np.float64)
            e = np.multiply(h, h, out=t)
            np.negative(e, out=e)
            e -= 0.5625
            np.exp(e, out=e)
            d = h - a
            h += a
            d *= h
            d += ratio
            np.exp(d, out=d)
            e *= d
            e /= a
            np.subtract(1.0, e, out=e)
            v[i] = e

    # Blocks of 16384 (128 kB of float64): malloc reuses the temporaries'
    # memory from one block to the next instead of faulting in fresh pages
    # for each (a (64, 8, 128) float64 array of normal numbers: 1.0 against
    # 1.4 ms in one piece; (1024, 8, 128): 16 against 21 ms).
    flat = r.reshape(-1)  # r is C-contiguous: a view of it
    for start in range(0, flat.size, 16384):
        block(flat[start : start + 16384])

    np.minimum(r, 1.0, out=r)  # |x| >= 6 (and inf): 1; every result above is below 1
    np.copysign(r, x, out=r)
    with np.errstate(under="ignore"):  # float64 -> float32 of tiny results
        return r.astype(out_dtype, copy=False)


#: Public alias for use inside the package itself.
erf = _erf

ERF_SOURCE: str = ERF_TABLES_SOURCE + "\n\n" + inspect.getsource(_erf)
"""Source text of the coefficient tables and :func:`_erf` (``def _erf(x): ...``) for generated modules."""
