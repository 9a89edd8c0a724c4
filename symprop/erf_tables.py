"""The coefficients of the error function's rational approximations, one table for both
spellings of ``_erf``: the NumPy module's (``numpy_helpers``, ranges gathered and written in
place) and the array-API module's (``emit.array_api.helpers``, ranges picked by ``xp.where``).
Both paste ``SOURCE`` (these assignments, verbatim) above their ``_erf``, and both take their
ranges' edges and tables from ``ERF32`` (float32) or ``ERF64`` (any other dtype): the choice of
tables is written once, here.

``ERF_*``, for float64 (and every dtype but float32): copied verbatim from FreeBSD msun
``s_erf.c`` (Sun Microsystems, 1993; the same code as Go's ``src/math/erf.go``).  ``ERF32_*``,
for float32 arithmetic: msun's current ``s_erff.c`` (refitted with fewer terms than the 1993
float port, its last range ending at 4), each coefficient the exact float32 value of the bit
pattern beside it, written out so that it is the same number whatever converts it to float32.
Each polynomial highest degree first, as Horner's rule reads it.  No NumPy here: the array-API
emitter imports this module.
"""

import ast
import inspect
import sys

# |x| < 2**-28: erf(x) = x + efx*x, efx = 2/sqrt(pi) - 1
ERF_EFX = 1.28379167095512586316e-01
# erx: erf(1) rounded to single precision (0x3FEB0AC160000000)
ERF_ERX = 8.45062911510467529297e-01
# |x| < 0.84375: erf(x) = x + x*pp(x*x)/qq(x*x)
ERF_PP = (
    -2.37630166566501626084e-05,
    -5.77027029648944159157e-03,
    -2.84817495755985104766e-02,
    -3.25042107247001499370e-01,
    1.28379167095512558561e-01,
)
ERF_QQ = (
    -3.96022827877536812320e-06,
    1.32494738004321644526e-04,
    5.08130628187576562776e-03,
    6.50222499887672944485e-02,
    3.97917223959155352819e-01,
    1.0,
)
# 0.84375 <= |x| < 1.25: erf(x) = erx + pa(s)/qa(s), s = |x| - 1
ERF_PA = (
    -2.16637559486879084300e-03,
    3.54783043256182359371e-02,
    -1.10894694282396677476e-01,
    3.18346619901161753674e-01,
    -3.72207876035701323847e-01,
    4.14856118683748331666e-01,
    -2.36211856075265944077e-03,
)
ERF_QA = (
    1.19844998467991074170e-02,
    1.36370839120290507362e-02,
    1.26171219808761642112e-01,
    7.18286544141962662868e-02,
    5.40397917702171048937e-01,
    1.06420880400844228286e-01,
    1.0,
)
# 1.25 <= |x| < 1/0.35: erf(x) = 1 - exp(-x*x - 0.5625 + ra(t)/sa(t))/|x|, t = 1/(x*x)
ERF_RA = (
    -9.81432934416914548592e00,
    -8.12874355063065934246e01,
    -1.84605092906711035994e02,
    -1.62396669462573470355e02,
    -6.23753324503260060396e01,
    -1.05586262253232909814e01,
    -6.93858572707181764372e-01,
    -9.86494403484714822705e-03,
)
ERF_SA = (
    -6.04244152148580987438e-02,
    6.57024977031928170135e00,
    1.08635005541779435134e02,
    4.29008140027567833386e02,
    6.45387271733267880336e02,
    4.34565877475229228821e02,
    1.37657754143519042600e02,
    1.96512716674392571292e01,
    1.0,
)
# 1/0.35 <= |x| < 6: the same with rb/sb
ERF_RB = (
    -4.83519191608651397019e02,
    -1.02509513161107724954e03,
    -6.37566443368389627722e02,
    -1.60636384855821916062e02,
    -1.77579549177547519889e01,
    -7.99283237680523006574e-01,
    -9.86494292470009928597e-03,
)
ERF_SB = (
    -2.24409524465858183362e01,
    4.74528541206955367215e02,
    2.55305040643316442583e03,
    3.19985821950859553908e03,
    1.53672958608443695994e03,
    3.25792512996573918826e02,
    3.03380607434824582924e01,
    1.0,
)
# float32 (s_erff.c): the same formulas, the ranges ending at 2**-14, 0.84375, 1.25,
# 2.857150077819824 (0x4036db8c) and 4; erf(x) = 1 from 4 on (erfc(4) ~ 1.5e-8).
ERF32_EFX = 0.12837916612625122  # 0x3e0375d4
ERF32_ERX = 0.8426971435546875  # 0x3f57bb00
ERF32_PP = (
    -0.0018626139499247074,  # 0xbaf422f4
    -0.33603039383888245,  # 0xbeac0c2d
    0.12837916612625122,  # 0x3e0375d4
)
ERF32_QQ = (
    -0.0019885937217622995,  # 0xbb025311
    0.021607041358947754,  # 0x3cb10140
    0.31232431530952454,  # 0x3e9fe8f9
    1.0,
)
ERF32_PA = (
    0.0867677554488182,  # 0x3db1b34b
    -0.20939572155475616,  # 0xbe566bd5
    0.4151093065738678,  # 0x3ed48935
    3.6504104627965717e-06,  # 0x3674f993
)
ERF32_QA = (
    0.039247896522283554,  # 0x3d20c267
    0.3712485134601593,  # 0x3ebe1449
    0.49556097388267517,  # 0x3efdba2b
    1.0,
)
ERF32_RA = (
    -0.6915541887283325,  # 0xbf3109b2
    -1.6682831048965454,  # 0xbfd58a4d
    -0.5436583757400513,  # 0xbf0b2d32
    -0.00988156720995903,  # 0xbc21e64c
)
ERF32_SA = (
    0.5538551807403564,  # 0x3f0dc974
    4.107991695404053,  # 0x408374ab
    4.485815525054932,  # 0x408f8bcd
    1.0,
)
ERF32_RB = (
    -1.8411568403244019,  # 0xbfebab07
    -0.548049807548523,  # 0xbf0c4cfe
    -0.009864969179034233,  # 0xbc21a0ae
)
ERF32_SB = (
    -0.7619006633758545,  # 0xbf430bec
    3.0498270988464355,  # 0x4043305e
    4.8713274002075195,  # 0x409be1ea
    1.0,
)
# Every table of one precision with its ranges' edges, in the order _erf unpacks them
# (edges, efx, erx, pp, qq, pa, qa, ra, sa, rb, sb): float32 takes ERF32, any other
# dtype ERF64.
ERF64 = (
    (2.0**-28, 0.84375, 1.25, 1.0 / 0.35, 6.0),
    ERF_EFX,
    ERF_ERX,
    ERF_PP,
    ERF_QQ,
    ERF_PA,
    ERF_QA,
    ERF_RA,
    ERF_SA,
    ERF_RB,
    ERF_SB,
)
ERF32 = (
    (2.0**-14, 0.84375, 1.25, 2.857150077819824, 4.0),
    ERF32_EFX,
    ERF32_ERX,
    ERF32_PP,
    ERF32_QQ,
    ERF32_PA,
    ERF32_QA,
    ERF32_RA,
    ERF32_SA,
    ERF32_RB,
    ERF32_SB,
)


def _source() -> str:
    """The assignments above, verbatim with their comments: from the imports to the last table."""
    text = inspect.getsource(sys.modules[__name__])
    body = ast.parse(text).body
    imports = [node for node in body if isinstance(node, ast.Import)]
    tables = [node for node in body if isinstance(node, ast.Assign) and node.targets[0].id.startswith("ERF")]
    return "\n".join(text.split("\n")[imports[-1].end_lineno : tables[-1].end_lineno]).strip("\n") + "\n"


#: The tables above as source text, for generated modules (ruff-clean at 88 columns, as pasted).
SOURCE: str = _source()
