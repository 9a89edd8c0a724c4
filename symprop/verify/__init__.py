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
``tensor_decide`` compares (``tensor_formulas`` writes the correct gradient in the spec's names),
``tensor_diagnose`` names the mistake (``index_edits``: index notation's); ``result`` is the answer.
"""

from importlib import import_module

#: The package's names and their modules, imported on first use (PEP 562): ``symprop`` and its
#: command line load the verifier (SymPy's solvers, NumPy) only when a claim is checked.
_NAMES = {
    "Verifier": "verifier",
    "VerifyResult": "verifier",
    "verify": "verifier",
    "check_claims": "claims_file",
    "json_report": "claims_file",
    "load_claims": "claims_file",
    "markdown_report": "claims_file",
    "parse_claims": "claims_file",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_NAMES[name]}", __name__), name)
    globals()[name] = value
    return value
