"""Pure-NumPy helper functions that are pasted into generated modules.

Generated modules may import nothing but NumPy, so functions that NumPy lacks
(such as ``erf``, needed by the exact GELU activation) are defined here as
ordinary Python functions and exported as source text.  Each ``*_SOURCE``
constant is produced with :func:`inspect.getsource` from the single definition
in this file, so the package and the generated code share one implementation.

The pasted functions rely only on ``np`` (``import numpy as np`` at the top of
the generated module) and must stay self-contained: no references to other
module-level names, no imports inside the function.
"""

import inspect

import numpy as np

__all__ = ["ERF_SOURCE", "erf"]


def _erf(x):
    """Error function erf(x), elementwise, in double precision.

    Vectorised port of the FreeBSD msun ``s_erf.c`` algorithm (Sun
    Microsystems, 1993; the same code as Go's ``src/math/erf.go``).  The
    rational-approximation coefficients below are copied verbatim from there:

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

    # |x| < 2**-28: erf(x) = x + efx*x, with efx = 2/sqrt(pi) - 1.  Evaluate
    # at a scale of 2**64 so that a subnormal result is rounded only once.
    i = np.flatnonzero(ax < 2.0**-28)
    a = ax[i] * 2.0**64
    with np.errstate(under="ignore"):  # subnormal results are inexact
        flat[i] = (a + 1.28379167095512586316e-01 * a) * 2.0**-64

    # 2**-28 <= |x| < 0.84375: erf(x) = x + x*R(x*x), R = pp/qq.
    i = np.flatnonzero((ax >= 2.0**-28) & (ax < 0.84375))
    a = ax[i]
    z = a * a
    pp = np.full_like(z, -2.37630166566501626084e-05)
    for c in (
        -5.77027029648944159157e-03,
        -2.84817495755985104766e-02,
        -3.25042107247001499370e-01,
        1.28379167095512558561e-01,
    ):
        pp *= z
        pp += c
    qq = np.full_like(z, -3.96022827877536812320e-06)
    for c in (
        1.32494738004321644526e-04,
        5.08130628187576562776e-03,
        6.50222499887672944485e-02,
        3.97917223959155352819e-01,
        1.0,
    ):
        qq *= z
        qq += c
    flat[i] = a + a * (pp / qq)

    # 0.84375 <= |x| < 1.25: erf(x) = erx + P(s)/Q(s), s = |x| - 1, with
    # erx = erf(1) rounded to single precision (0x3FEB0AC160000000).
    i = np.flatnonzero((ax >= 0.84375) & (ax < 1.25))
    s = ax[i] - 1.0
    pa = np.full_like(s, -2.16637559486879084300e-03)
    for c in (
        3.54783043256182359371e-02,
        -1.10894694282396677476e-01,
        3.18346619901161753674e-01,
        -3.72207876035701323847e-01,
        4.14856118683748331666e-01,
        -2.36211856075265944077e-03,
    ):
        pa *= s
        pa += c
    qa = np.full_like(s, 1.19844998467991074170e-02)
    for c in (
        1.36370839120290507362e-02,
        1.26171219808761642112e-01,
        7.18286544141962662868e-02,
        5.40397917702171048937e-01,
        1.06420880400844228286e-01,
        1.0,
    ):
        qa *= s
        qa += c
    flat[i] = 8.45062911510467529297e-01 + pa / qa

    # 1.25 <= |x| < 6: erf(x) = 1 - erfc(x) with
    # erfc(x) = exp(-x*x - 0.5625 + R(t)/S(t)) / x, t = 1/(x*x).
    i = np.flatnonzero((ax >= 1.25) & (ax < 6.0))
    a = ax[i]
    t = 1.0 / (a * a)
    near = a < 1.0 / 0.35
    # 1.25 <= |x| < 1/0.35 (ra/sa) ...
    ra = np.full_like(t, -9.81432934416914548592e00)
    for c in (
        -8.12874355063065934246e01,
        -1.84605092906711035994e02,
        -1.62396669462573470355e02,
        -6.23753324503260060396e01,
        -1.05586262253232909814e01,
        -6.93858572707181764372e-01,
        -9.86494403484714822705e-03,
    ):
        ra *= t
        ra += c
    sa = np.full_like(t, -6.04244152148580987438e-02)
    for c in (
        6.57024977031928170135e00,
        1.08635005541779435134e02,
        4.29008140027567833386e02,
        6.45387271733267880336e02,
        4.34565877475229228821e02,
        1.37657754143519042600e02,
        1.96512716674392571292e01,
        1.0,
    ):
        sa *= t
        sa += c
    # ... and 1/0.35 <= |x| < 6 (rb/sb).
    rb = np.full_like(t, -4.83519191608651397019e02)
    for c in (
        -1.02509513161107724954e03,
        -6.37566443368389627722e02,
        -1.60636384855821916062e02,
        -1.77579549177547519889e01,
        -7.99283237680523006574e-01,
        -9.86494292470009928597e-03,
    ):
        rb *= t
        rb += c
    sb = np.full_like(t, -2.24409524465858183362e01)
    for c in (
        4.74528541206955367215e02,
        2.55305040643316442583e03,
        3.19985821950859553908e03,
        1.53672958608443695994e03,
        3.25792512996573918826e02,
        3.03380607434824582924e01,
        1.0,
    ):
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

ERF_SOURCE: str = inspect.getsource(_erf)
"""Source text of :func:`_erf` (``def _erf(x): ...``) for generated modules."""
