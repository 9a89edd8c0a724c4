"""Verify hand-derived gradients against the Derivation: right or wrong, where, and why.

    import symprop
    r = symprop.verify("examples/tutorial_222.yaml", "W2[0,0]", "(a2_1 - t_1)*a2_1*(1 - a2_1)*a1_1")
    r.verdict      # 'correct'
    print(r)       # what was understood, the correct formula, and for a wrong claim where and why

The package: ``claims`` and ``claims_latex`` read what a person wrote, ``decide`` compares it with
the derivation (numbers, then bounded proofs), ``diagnose`` says why a wrong claim is wrong,
``verifier`` ties them together, ``claims_file`` reads claims files and writes reports, ``cli``
is ``symprop verify``.  Networks too large for the per-weight view, and claims with adjoints or
index notation, take the numeric path: ``tensor_claims`` / ``tensor_values`` read them,
``probe`` computes every node's value and adjoint with the module's own lines at random points,
``tensor_decide`` compares, ``tensor_diagnose`` names the mistake; ``result`` is the answer.
"""

from .claims_file import check_claims, json_report, load_claims, markdown_report, parse_claims
from .verifier import Verifier, VerifyResult, verify

__all__ = ["Verifier", "VerifyResult", "check_claims", "json_report", "load_claims", "markdown_report", "parse_claims", "verify"]
