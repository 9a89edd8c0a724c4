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

from .erf_tables import ERF32, ERF64
from .erf_tables import SOURCE as ERF_TABLES_SOURCE

__all__ = ["ERF_SOURCE", "erf"]


def _erf(x):
    """Error function erf(x), elementwise: float32 in float32 arithmetic, any other
    input in double precision.

    Vectorised port of FreeBSD msun's ``s_erf.c`` (Sun Microsystems, 1993; the
    same code as Go's ``src/math/erf.go``) and, for float32, of its ``s_erff.c``,
    whose rational approximations' coefficients are the tables ``ERF64`` and
    ``ERF32`` above (float32's edges in brackets):

        |x| < 2**-28 [2**-14]     erf(x) = x + efx*x
        |x| < 0.84375             erf(x) = x + x*pp(x*x)/qq(x*x)
        0.84375 <= |x| < 1.25     erf(x) = erx + pa(s)/qa(s),  s = |x| - 1
        1.25 <= |x| < 1/0.35      erf(x) = 1 - exp(-x*x - 0.5625 + ra(t)/sa(t))/|x|
        [2.85715] <= |x| < 6 [4]  erf(x) = 1 - exp(-x*x - 0.5625 + rb(t)/sb(t))/|x|
        6 [4] <= |x|              erf(x) = 1  (erfc(6) ~ 2e-17, erfc(4) ~ 1.5e-8)

    with t = 1/(x*x) and erf(-x) = -erf(x).  The error is below one ulp: in
    float32 at most 0.90 ulp of the exact value (every float32 in [2**-15, 6],
    every 7th below, against the double precision result), 6% not correctly
    rounded; in float64 msun's.

    One new array of the input's size, |x|, which the results overwrite.  The
    elements outside [2**-28, 0.84375) (tiny, from 0.84375 on, nan: a quarter
    of the GELU's x/sqrt(2) for normal x) are gathered once (np.flatnonzero)
    into a second array.  The first range's formula then runs in place on
    every element, its argument clamped to 0.84375 (the others overwritten
    after), and the other ranges on the gathered array, each gathering its own
    elements, its polynomials evaluated in place (Horner's rule) on arrays of
    its own size.  Both by blocks of 16384 elements: malloc reuses the
    temporaries' memory from one block to the next instead of faulting in
    fresh pages for each, as a temporary of the input's size would (with
    every range gathered from the whole block, a (64, 8, 128) float64 array
    took 1.0 against 1.4 ms in one piece; 32768-element blocks of float32
    take 1.5x the time of these).  A (64, 8, 128) float32 array takes 0.4 ms,
    1.2 ms computed in double precision (scipy.special.erf: 0.5 ms).
    Float input keeps its dtype (float16 and longdouble are computed in float64
    and rounded back); any other input is computed and returned as float64.
    No range's formula sees an argument above the range (the first one's is
    clamped to 0.84375), so no overflow, invalid or divide-by-zero can occur;
    underflow is silenced.  erf(+-0) = +-0,
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
    float32 = x.dtype == np.float32
    dtype = np.float32 if float32 else np.float64
    edges, efx, erx, pp, qq, pa, qa, ra, sa, rb, sb = ERF32 if float32 else ERF64
    # |x|, which becomes the result (nan stays nan); an array for 0-d x too
    r = np.asarray(np.abs(x, dtype=dtype, order="C"))
    flat = r.reshape(-1)  # r is C-contiguous: a view of it
    # The elements outside [edges[0], 0.84375), and their |x|, before any is written.
    rest = np.less(flat, 0.84375)
    np.equal(rest, flat < edges[0], out=rest)
    rest = np.flatnonzero(rest)
    outside = flat[rest]

    def small(v):
        """erf(v) in place of v = |x| (a block of r) where edges[0] <= v < 0.84375:
        x + x*pp(z)/qq(z), z = x*x, at v clamped to 0.84375."""
        with np.errstate(under="ignore"):  # tiny v, whose result comes after
            a = np.minimum(v, 0.84375)
            z = a * a
            p = horner(pp, z)
            p /= horner(qq, z)
            p *= a
            np.add(p, a, out=v)

    def others(v):
        """erf(v) in place of v = |x| (a block of the elements outside [edges[0],
        0.84375)): each range gathered once (np.flatnonzero; all ranges found
        before any is written), its polynomials evaluated in place.  A range
        with no element is skipped: its 10 to 25 NumPy calls cost 10 to 20 us
        on empty arrays (transformer_block's GELU at initialisation, 65536
        elements: none tiny or from 1/0.35 on, 1209 outside in all; about 25
        of the 600 us of its float64 erf)."""
        below, within = v < edges[0], np.empty(v.shape, bool)
        ranges = [np.flatnonzero(below)]
        for edge in edges[2:]:
            np.less(v, edge, out=within)
            np.not_equal(within, below, out=below)  # the previous edge <= |x| < edge
            ranges.append(np.flatnonzero(below))
            below, within = within, below
        tiny, middle, near, far = ranges

        # |x| < edges[0]: erf(x) = x + efx*x.  Evaluate at a scale of 2**64 so that
        # a subnormal result is rounded only once.
        if tiny.size:
            a = v[tiny] * 2.0**64
            with np.errstate(under="ignore"):  # subnormal results are inexact
                v[tiny] = (a + efx * a) * 2.0**-64

        # 0.84375 <= |x| < 1.25: erf(x) = erx + pa(s)/qa(s), s = |x| - 1.
        if middle.size:
            s = v[middle]
            s -= 1.0
            p = horner(pa, s)
            p /= horner(qa, s)
            p += erx
            v[middle] = p

        # 1.25 <= |x| < edges[4]: erf(x) = 1 - erfc(x) with
        # erfc(x) = exp(-x*x - 0.5625 + R(t)/S(t)) / x, t = 1/(x*x), R/S = ra/sa
        # below edges[3] and rb/sb from there.
        for i, top, bottom in ((near, ra, sa), (far, rb, sb)):
            if not i.size:
                continue
            a = v[i]
            t = a * a
            np.divide(1.0, t, out=t)
            ratio = horner(top, t)
            ratio /= horner(bottom, t)
            # Split x*x exactly: h has half the significant bits (float64: 24,
            # float32: 12, by Veltkamp's splitting), so h*h is exact and
            # x*x = h*h - (h - x)*(h + x) (msun masks 20 or 11 bits for the same).
            if dtype == np.float64:
                h = a.astype(np.float32).astype(np.float64)
            else:
                h = a * 4097.0
                h -= h - a
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
        # |x| >= edges[4] (and inf): 1; the other results are below 1.
        np.minimum(v, 1.0, out=v)

    for start in range(0, flat.size, 16384):
        small(flat[start : start + 16384])
    for start in range(0, outside.size, 16384):
        others(outside[start : start + 16384])
    if rest.size:
        flat[rest] = outside
    np.copysign(r, x, out=r)
    with np.errstate(under="ignore"):  # float64 -> float32 of tiny results
        return r.astype(out_dtype, copy=False)


#: Public alias for use inside the package itself.
erf = _erf

ERF_SOURCE: str = ERF_TABLES_SOURCE + "\n\n" + inspect.getsource(_erf)
"""Source text of the coefficient tables and :func:`_erf` (``def _erf(x): ...``) for generated modules."""
