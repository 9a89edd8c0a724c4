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

    Each range gathers its elements once (np.flatnonzero) and evaluates its
    polynomials in place (Horner's rule), about 3x faster than masking every step.
    Float input keeps its dtype (float32 is computed in float64 and rounded
    back); any other input is computed and returned as float64.  Each branch
    only ever sees the elements it is valid for, so no overflow, invalid or
    divide-by-zero can occur; underflow is signalled only when the true result
    is itself subnormal, and is silenced there.  erf(+-0) = +-0,
    erf(+-inf) = +-1, erf(nan) = nan.
    """

    x = np.asarray(x)
    out_dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    # C order: r (ones_like keeps the order) is C too, so flat below is a view of it.
    xd = x.astype(np.float64, order="C")
    ax = np.abs(xd)
    r = np.ones_like(ax)  # |x| >= 6 (including inf)
    r[np.isnan(ax)] = np.nan
    ax, flat = ax.ravel(), r.reshape(-1)  # r is contiguous: flat is a view of it

    # |x| < 2**-28: erf(x) = x + efx*x.  Evaluate at a scale of 2**64 so that
    # a subnormal result is rounded only once.
    i = np.flatnonzero(ax < 2.0**-28)
    a = ax[i] * 2.0**64
    with np.errstate(under="ignore"):  # subnormal results are inexact
        flat[i] = (a + ERF_EFX * a) * 2.0**-64

    # 2**-28 <= |x| < 0.84375: erf(x) = x + x*pp(z)/qq(z), z = x*x.
    i = np.flatnonzero((ax >= 2.0**-28) & (ax < 0.84375))
    a = ax[i]
    z = a * a
    pp = np.full_like(z, ERF_PP[0])
    for c in ERF_PP[1:]:
        pp *= z
        pp += c
    qq = np.full_like(z, ERF_QQ[0])
    for c in ERF_QQ[1:]:
        qq *= z
        qq += c
    flat[i] = a + a * (pp / qq)

    # 0.84375 <= |x| < 1.25: erf(x) = erx + pa(s)/qa(s), s = |x| - 1.
    i = np.flatnonzero((ax >= 0.84375) & (ax < 1.25))
    s = ax[i] - 1.0
    pa = np.full_like(s, ERF_PA[0])
    for c in ERF_PA[1:]:
        pa *= s
        pa += c
    qa = np.full_like(s, ERF_QA[0])
    for c in ERF_QA[1:]:
        qa *= s
        qa += c
    flat[i] = ERF_ERX + pa / qa

    # 1.25 <= |x| < 6: erf(x) = 1 - erfc(x) with
    # erfc(x) = exp(-x*x - 0.5625 + R(t)/S(t)) / x, t = 1/(x*x).
    i = np.flatnonzero((ax >= 1.25) & (ax < 6.0))
    a = ax[i]
    t = 1.0 / (a * a)
    near = a < 1.0 / 0.35
    # 1.25 <= |x| < 1/0.35 (ra/sa) and 1/0.35 <= |x| < 6 (rb/sb).
    ra = np.full_like(t, ERF_RA[0])
    for c in ERF_RA[1:]:
        ra *= t
        ra += c
    sa = np.full_like(t, ERF_SA[0])
    for c in ERF_SA[1:]:
        sa *= t
        sa += c
    rb = np.full_like(t, ERF_RB[0])
    for c in ERF_RB[1:]:
        rb *= t
        rb += c
    sb = np.full_like(t, ERF_SB[0])
    for c in ERF_SB[1:]:
        sb *= t
        sb += c
    ratio = np.where(near, ra / sa, rb / sb)
    # Split x*x exactly: h has 24 significant bits, so h*h is exact and
    # x*x = h*h - (h - x)*(h + x) (msun uses a 20-bit mask for the same).
    h = a.astype(np.float32).astype(np.float64)
    erfc = np.exp(-h * h - 0.5625) * np.exp((h - a) * (h + a) + ratio) / a
    flat[i] = 1.0 - erfc

    r = np.copysign(r, xd)
    with np.errstate(under="ignore"):  # float64 -> float32 of tiny results
        return r.astype(out_dtype)


#: Public alias for use inside the package itself.
erf = _erf

ERF_SOURCE: str = ERF_TABLES_SOURCE + "\n\n" + inspect.getsource(_erf)
"""Source text of the coefficient tables and :func:`_erf` (``def _erf(x): ...``) for generated modules."""
