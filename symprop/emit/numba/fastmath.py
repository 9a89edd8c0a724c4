"""exp, tanh and erf for the numba backend's loops, in arithmetic that LLVM vectorises.

``math.exp`` and ``math.tanh`` in an ``@njit`` loop are one libm call per element: a sigmoid
layer of 1024 x 30 took 390 us that way, against 83 us for NumPy's SIMD ``np.tanh`` (float64).
The versions here are Cephes' rational approximations (``exp``: x = n ln 2 + g, exp(g) =
1 + 2 g P(g^2) / (Q(g^2) - g P(g^2)); ``tanh``: x + x^3 P(x^2) / Q(x^2) below 0.625, else
(1 - e^{-2|x|}) / (1 + e^{-2|x|})), within 4e-16 of NumPy's (``tests/test_numba_backend.py``
checks it over the whole range), with 2^n built from its bits: no call, no branch, so the
loop around them runs 4 or 8 elements a step.  Overflow gives inf, underflow 0 (through
subnormals), NaN stays NaN, as in NumPy.  ``erf`` is Cephes' too (its two rational functions,
one chosen): ``math.erf`` is a libm call an element, in float64 for float32 data.

Each helper computes in its argument's type, ``F = type(x)``, every constant written ``F(...)``:
Numba types a float literal as float64, and a float32 times a float64 is a float64, so a float32
layer computed with plain literals ran in float64 (a sigmoid layer of 1024 x 30 float32: 79 us,
37 us with the constants in float32, the loop around it flat).  Within 3 ulp of NumPy's in float32
too; in float64 the numbers are the same as with plain literals (``F`` is float64 there).

``FAST`` maps a ``math`` name to its helper; ``sources`` gives the helpers a set of names needs.
"""

from __future__ import annotations

import math
import re

_CALLED = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")

POW2 = '''@njit(inline="always", **JIT)
def _pow2(k):
    """2.0 ** k for a whole number -1022 <= k <= 1023, from its bits."""
    return np.int64((k + 1023) << 52).view(np.float64)'''

EXP = '''@njit(inline="always", **JIT)
def _exp(x):
    """exp(x) within 4e-16 (Cephes): x = n ln 2 + g, exp(g) = 1 + 2 g P(g^2) / (Q(g^2) - g P(g^2)),
    times 2^n in two halves (so that overflow is inf and underflow 0, through subnormals); in x's type."""
    F = type(x)
    c = min(max(x, F(-1000.0)), F(1000.0))
    n = np.int64(floor(F(1.4426950408889634) * c + F(0.5)))
    m = F(n)
    g = c - m * F(0.693145751953125) - m * F(1.42860682030941723212e-6)  # ln 2 in two parts: n * 0.69314... is exact
    gg = g * g
    p = g * ((F(1.26177193074810590878e-4) * gg + F(3.02994407707441961300e-2)) * gg + F(9.99999999999999999910e-1))
    q = ((F(3.00198505138664455042e-6) * gg + F(2.52448340349684104192e-3)) * gg + F(2.27265548208155028766e-1)) * gg + F(2.0)
    half = n >> 1
    e = (F(1.0) + F(2.0) * p / (q - p)) * F(_pow2(half)) * F(_pow2(n - half))
    return x if np.isnan(x) else e  # NaN stays NaN'''

TANH = '''@njit(inline="always", **JIT)
def _tanh(x):
    """tanh(x) within 4e-16 (Cephes): x + x^3 P(x^2) / Q(x^2) for |x| < 0.625, else
    (1 - exp(-2|x|)) / (1 + exp(-2|x|)) with the sign of x; in x's type."""
    F = type(x)
    a = abs(x)
    s = _exp(F(-2.0) * a)
    z = x * x
    p = ((F(-9.64399179425052238628e-1) * z - F(9.92877231001918586564e1)) * z - F(1.61468768441708447952e3)) * z
    q = ((z + F(1.12811678491632931402e2)) * z + F(2.23548839060100448583e3)) * z + F(4.84406305325125486048e3)
    t = a + a * p / q if a < F(0.625) else (F(1.0) - s) / (F(1.0) + s)
    return t if x >= F(0.0) else -t'''

ERF = '''@njit(inline="always", **JIT)
def _fast_erf(x):
    """erf(x) within 5e-16 (Cephes' ndtr.c): x T(x^2) / U(x^2) for |x| < 1, else
    1 - exp(-x^2) P(|x|) / Q(|x|) with the sign of x, |x| taken at most 6 (erfc(6) < 2^-55: erf
    is +-1 beyond, in float64 and float32); both computed, one chosen (no branch); in x's type."""
    F = type(x)
    z = x * x
    t = (((F(9.60497373987051638749e0) * z + F(9.00260197203842689217e1)) * z + F(2.23200534594684319226e3)) * z
         + F(7.00332514112805075473e3)) * z + F(5.55923013010394962768e4)
    u = ((((z + F(3.35617141647503099647e1)) * z + F(5.21357949780152679795e2)) * z + F(4.59432382970980127987e3)) * z
         + F(2.26290000613890934246e4)) * z + F(4.92673942608635921086e4)
    a = min(abs(x), F(6.0))
    p = (((((((F(2.46196981473530512524e-10) * a + F(5.64189564831068821977e-1)) * a + F(7.46321056442269912687e0)) * a
              + F(4.86371970985681366614e1)) * a + F(1.96520832956077098242e2)) * a + F(5.26445194995477358631e2)) * a
          + F(9.34528527171957607540e2)) * a + F(1.02755188689515710272e3)) * a + F(5.57535335369399327526e2)
    q = (((((((a + F(1.32281951154744992508e1)) * a + F(8.67072140885989742329e1)) * a + F(3.54937778887819891062e2)) * a
              + F(9.75708501743205489753e2)) * a + F(1.82390916687909736289e3)) * a + F(2.24633760818710981792e3)) * a
          + F(1.65666309194161350182e3)) * a + F(5.57535340817727675546e2)
    small = abs(x) < F(1.0)
    r = (x * t if small else p) / (u if small else q)  # one division for both
    big = F(1.0) - _exp(-a * a) * r
    return r if small else (big if x >= F(0.0) else -big)'''

#: math name -> (helper name, the helpers it needs, in order, itself last)
FAST = {
    "exp": ("_exp", ("pow2", "exp")),
    "tanh": ("_tanh", ("pow2", "exp", "tanh")),
    "erf": ("_fast_erf", ("pow2", "exp", "erf")),  # not _erf: the NumPy module's erf (for forward())
}
SOURCES = {"pow2": POW2, "exp": EXP, "tanh": TANH, "erf": ERF}
#: the math functions the helpers call
NEEDS = {"exp": ("floor",), "tanh": ("floor",), "erf": ("floor",)}


def renamed(line: str, used: set[str]) -> str:
    """``line`` with its calls of ``FAST`` functions (in the code, not the comment) calling the
    helpers instead; the ``math`` names it still calls, and the helpers', go into ``used``."""
    code, hash, comment = line.partition("  # ")
    for name, (helper, _) in FAST.items():
        code, count = re.subn(rf"(?<![\w.]){name}\(", f"{helper}(", code)
        if count:
            used.update({name, *NEEDS[name]})
    used.update(called for called in _CALLED.findall(code) if called in vars(math))
    return code + hash + comment


def imports(used: set[str]) -> list[str]:
    """The ``math`` names the module imports: those called, but not the ones a helper replaces."""
    return sorted(name for name in used if name not in FAST)


def sources(names: set[str]) -> list[str]:
    """The helpers' sources for the ``math`` names in ``names`` that have one (each once, in order)."""
    wanted: list[str] = []
    for name in sorted(names & FAST.keys()):
        wanted += [part for part in FAST[name][1] if part not in wanted]
    return [SOURCES[part] for part in SOURCES if part in wanted]
