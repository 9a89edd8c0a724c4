"""exp and tanh for the numba backend's loops, in arithmetic that LLVM vectorises.

``math.exp`` and ``math.tanh`` in an ``@njit`` loop are one libm call per element: a sigmoid
layer of 1024 x 30 took 390 us that way, against 83 us for NumPy's SIMD ``np.tanh`` (float64).
The versions here are Cephes' rational approximations (``exp``: x = n ln 2 + g, exp(g) =
1 + 2 g P(g^2) / (Q(g^2) - g P(g^2)); ``tanh``: x + x^3 P(x^2) / Q(x^2) below 0.625, else
(1 - e^{-2|x|}) / (1 + e^{-2|x|})), within 4e-16 of NumPy's (``tests/test_numba_backend.py``
checks it over the whole range), with 2^n built from its bits: no call, no branch, so the
loop around them runs 4 or 8 elements a step.  Overflow gives inf, underflow 0 (through
subnormals), NaN stays NaN, as in NumPy.

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
    times 2^n in two halves (so that overflow is inf and underflow 0, through subnormals)."""
    c = min(max(x, -1000.0), 1000.0)
    n = np.int64(floor(1.4426950408889634 * c + 0.5))
    g = c - n * 0.693145751953125 - n * 1.42860682030941723212e-6  # ln 2 in two parts: n * 0.69314... is exact
    gg = g * g
    p = g * ((1.26177193074810590878e-4 * gg + 3.02994407707441961300e-2) * gg + 9.99999999999999999910e-1)
    q = ((3.00198505138664455042e-6 * gg + 2.52448340349684104192e-3) * gg + 2.27265548208155028766e-1) * gg + 2.0
    half = n >> 1
    e = (1.0 + 2.0 * p / (q - p)) * _pow2(half) * _pow2(n - half)
    return e if x == x else x  # NaN stays NaN'''

TANH = '''@njit(inline="always", **JIT)
def _tanh(x):
    """tanh(x) within 4e-16 (Cephes): x + x^3 P(x^2) / Q(x^2) for |x| < 0.625, else
    (1 - exp(-2|x|)) / (1 + exp(-2|x|)) with the sign of x."""
    a = abs(x)
    s = _exp(-2.0 * a)
    z = x * x
    p = ((-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3) * z
    q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3
    t = a + a * p / q if a < 0.625 else (1.0 - s) / (1.0 + s)
    return t if x >= 0.0 else -t'''

#: math name -> (helper name, the helpers it needs, in order, itself last)
FAST = {"exp": ("_exp", ("pow2", "exp")), "tanh": ("_tanh", ("pow2", "exp", "tanh"))}
SOURCES = {"pow2": POW2, "exp": EXP, "tanh": TANH}
#: the math functions the helpers call
NEEDS = {"exp": ("floor",), "tanh": ("floor",)}


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
