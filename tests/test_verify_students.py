"""Claims as students write them (issue 14, part 6): the student corpus, the implicit-multiplication
rule, one case per error message of the rewriting, and claims files with an unreadable entry."""

from __future__ import annotations

import argparse
import json
from functools import cache

import pytest
import yaml
from conftest import EXAMPLES, ROOT

from symprop.errors import SymPropError
from symprop.formula import FormulaError
from symprop.verify import Verifier
from symprop.verify import cli as verify_cli
from symprop.verify.claims_text import Names, normalize

ENTRIES = yaml.safe_load((ROOT / "tests" / "claims" / "student_corpus.yaml").read_text(encoding="utf-8"))["claims"]


@cache
def verifier(name: str) -> Verifier:
    return Verifier(EXAMPLES / f"{name}.yaml")


def check(entry: dict):
    return verifier(entry["spec"]).check(entry["wrt"], entry.get("claim"), claim_latex=entry.get("claim_latex"))


# -- the corpus -----------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_student_claim(entry):
    if entry["expect"] == "refused":
        with pytest.raises(SymPropError) as error:
            check(entry)
        assert entry["message"] in str(error.value)
        assert "\n" not in str(error.value)
        return
    result = check(entry)
    assert result.verdict == entry["expect"], str(result)
    if "read_as" in entry:
        assert result.understood == entry["read_as"]
    found = "\n".join(result.diagnosis)
    wanted = entry.get("diagnosis", [])
    for text in [wanted] if isinstance(wanted, str) else wanted:
        assert text in found, str(result)
    if "absent" in entry:
        assert entry["absent"] not in found and entry["absent"] not in result.expected, str(result)
    assert len(set(result.diagnosis)) == len(result.diagnosis), str(result)  # no line twice


def test_a_rewritten_claim_is_shown_as_typed_and_as_read():
    text = str(verifier("tutorial_222").check("W2_11", "(o_1 − t_1)o_1(1 + o_1)h_1"))
    assert "  claim:        (o_1 − t_1)o_1(1 + o_1)h_1\n  read as:      (o_1 - t_1)*o_1*(1 + o_1)*h_1\n" in text
    assert "  claim:        delta2_1*a1_1\n  chain" in str(verifier("tutorial_222").check("W2_11", "delta2_1*a1_1"))


def test_corpus_has_every_form_of_the_issue():
    assert len(ENTRIES) >= 60
    texts = [e.get("claim") or e.get("claim_latex") for e in ENTRIES]
    for form in (
        "(a2_1-t_1)a2_1(1-a2_1)",
        "2(a2_1",
        "o_1(1-o_1)",
        "sigma'(z",
        "W2^T",
        "sech^2",
        r"\tanh^2(",
        r"\cosh^2(",
        r"\sigma^\prime",
        "sum_k",
        r"\sum_k",
        r"\boldsymbol{\delta}",
        r"\frac{d\sigma}{dz}",
        "dE/dW2_11 =",
        "y_1",
        "x_0",
        "w_0",
        "δ",
        "−",
        "·",
        "σ",
        "×",
        "²",
        "(z1_1 > 0)",
        "heaviside(z",
    ):
        assert any(form in text for text in texts), form
    assert {e["spec"] for e in ENTRIES} == {"tutorial_222", "softmax_classifier", "cs231n_neuron", "residual_block"}
    assert {e["expect"] for e in ENTRIES} == {"correct", "wrong", "refused"}


# -- the implicit-multiplication rule -------------------------------------------------------------


@pytest.mark.parametrize(
    "text, read",
    [
        ("2(a2_1 - t_1)", "2*(a2_1 - t_1)"),
        ("2a1_1", "2*a1_1"),
        ("1e-3*a1_1 + 2.5e2*2e", "1e-3*a1_1 + 2.5e2*2*e"),  # numbers with exponents stay numbers
        ("(a2_1 - t_1)a1_1", "(a2_1 - t_1)*a1_1"),
        ("(a2_1 - t_1)(1 - a2_1)", "(a2_1 - t_1)*(1 - a2_1)"),
        ("a2_1(1 - a2_1)", "a2_1*(1 - a2_1)"),  # a node before '(' multiplies
        ("W2[0, 1](1 - a1_1)", "W2[0, 1]*(1 - a1_1)"),
        ("W2_11 delta2_1", "W2_11 * delta2_1"),  # names side by side: one name per token
        ("sigmoid(z2_1) tanh(z1_1) exp(-z2_1)", "sigmoid(z2_1) * tanh(z1_1) * exp(-z2_1)"),  # calls stay calls
        ("delta2 @ a1.T", "delta2 @ a1.T"),
        ("a1.T(2)", "a1.T*(2)"),
        ("foo(x_1)", "foo(x_1)"),  # unknown names are left for the reader's message
        ("sigma'(z2_1)", "sigma_prime(z2_1)"),
        ("tanh^2(z1_1)", "tanh(z1_1)^2"),
        ("W2^T @ delta2", "W2.T @ delta2"),
        ("W2^{T} @ delta2", "W2.T @ delta2"),
        ("e^{-z2_1}", "e^(-z2_1)"),
        ("(z1_1 > 0)", "step(z1_1)"),
        ("[z1_1 >= 0]", "step(z1_1)"),
        ("x_1(z1_1 > 0)", "x_1*step(z1_1)"),
        ("where(z1 > 0, a1, 0)", "where(z1 > 0, a1, 0)"),  # a call's argument: the tensor reader's
        ("sum_k sum_j W2_kj δ2_k", "((W2_11 + W2_12)*delta2_1 + (W2_21 + W2_22)*delta2_2)"),  # nested sums
        ("sum_i sum_j W2_ij W2_ji", "((W2_11*W2_11 + W2_12*W2_21) + (W2_21*W2_12 + W2_22*W2_22))"),
        ("sum_{t} X[t,i] * dE/dq[t,j]", "sum_{t} X[t,i] * dE/dq[t,j]"),  # index notation: the numeric reader's
        ("sum(dp * p, axis=1)", "sum(dp * p, axis=1)"),  # '=' inside brackets is a keyword, not dE/dw =
    ],
)
def test_implicit_multiplication_and_rewrites(text, read):
    assert normalize(text, Names.of(verifier("tutorial_222").base.names)) == read


# -- every error message of the rewriting ---------------------------------------------------------


NESTED_SUMS = " ".join(f"sum_{c}" for c in "ijklmnpqr") + " " + " ".join(f"W2_{a}{b}" for a, b in zip("ijklmnpqr", "jklmnpqri"))


@pytest.mark.parametrize(
    "wrt, claim, latex, message",
    [
        ("W2_11", r"\delta^{(2)}_1 a^{(1)}_1", None, "'\\delta' is LaTeX; give a LaTeX claim as claim_latex (--claim-latex)"),
        ("W2_11", "dE/dW2_11 =", None, "nothing after '='; the claim is the formula on the right of dE/dw ="),
        ("W2_11", "dE/dW2_11 = delta2_1*a1_1 = 0.03", None, "the claim has 2 '='; give one formula"),
        # Regression (found as a teacher): "formula = value" was read as the value, 0.03, and judged wrong
        ("W2_11", "delta2_1*a1_1 = 0.03", None, "the claim ends in '= 0.03', a number; give the formula alone"),
        ("W2_11", None, r"\delta^{(2)}_1 a^{(1)}_1 = 0.0299", "the claim ends in '= 0.0299', a number; give the formula alone"),
        ("W2_11", "delta2_1 * foo'(z2_1)", None, "unknown function 'foo'' (a prime goes on an activation"),
        ("W2_11", "a2_1'(z2_1)", None, "'a2_1'' : a prime goes on a function, not on a value; write e.g. sigma'(z2_1)"),
        ("W2_11", "(a2_1 - t_1 < 0)", None, "the comparison '<' is read only as (z > 0), relu's derivative; write (z1_1 > 0)"),
        ("W2_11", "a1_1 * sum_k", None, "'sum_k' sums nothing; write the term after it, e.g. sum_k W2_k1*delta2_k"),
        ("W1_11", "sum_j delta2_1 x_1", None, "the sum over j uses j in no subscript; write it in element names"),
        ("W1_11", "sum_{k=1}^{3} W2_k1*delta2_k", None, "the sum over k reaches 'W2_31', which is not an element"),
        ("W1_11", "sum_k W9_k1*delta2_k", None, "the sum over k reaches 'W9_11', which is not an element"),
        ("W1_11", NESTED_SUMS, None, "written out is too long (more than 2000 symbols); write it with whole nodes (@)"),
        ("W2_11", "a1_1 + " * 200 + "a1_1", None, "formula is too long (1404 characters; at most 1000 allowed)"),
        ("W1", "(W2 delta2) @ x.T", None, "'W2 delta2': two arrays side by side; write @ for the matrix product"),
        ("W2_11", "x_0", None, "unknown name 'x_0' at column 1; indices count from 1: x_1 is NumPy's x[0]"),
        ("W2_11", None, r"(z^{(2)}_1 < 0)", "unexpected character '<'"),
        ("W2_11", None, r"(z^{(2)}_1 > 1)", "a comparison is read only as (z > 0), relu's derivative"),
        ("W2_11", None, r"\sum w^{(2)}_{11}", "a sum needs its index: \\sum_k or \\sum_{k=1}^{2}"),
        ("W2_11", None, r"\sum_{kj} w^{(2)}_{11}", "a sum's index is one letter, e.g. \\sum_k"),
        ("W2_11", None, r"\sum_{k=1}^{n} w^{(2)}_{k1}", "the sum's upper bound must be a number"),
        ("W2_11", None, r"\sum_k w^{(2)}_{11}", "the sum over k uses k in no subscript; write it in element names, e.g. "
         "w^{(2)}_{k1}"),
        ("W2_11", None, r"\sum_k w^{(2)}_{k3}", "the sum over k reaches 'w^{(2)}_{1,3}', which is not an element"),
        # Regression: a LaTeX claim took the side after its last '=' (0.03 here), a plain one refused two.
        ("W2_11", None, r"\frac{\partial E}{\partial w} = \delta^{(2)}_1 a^{(1)}_1 = 0.03",
         "the claim has 2 '='; give one formula"),
        ("W2_11", None, r"\frac{d\sigma}{dz} h_1", "'\\frac{d\\sigma}{dz}' needs its argument; write \\sigma'(z^{(2)}_1)"),
    ],
)
def test_error_messages(wrt, claim, latex, message):
    with pytest.raises(SymPropError) as error:
        verifier("tutorial_222").check(wrt, claim, claim_latex=latex)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_normalize_errors_are_formula_errors():
    with pytest.raises(FormulaError, match="two arrays side by side"):
        normalize("W2 a1", Names.of(verifier("tutorial_222").base.names))


# -- claims files: an unreadable claim does not stop the others -----------------------------------


def run_verify(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="symprop")
    verify_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["verify", *argv])
    try:
        return args.run(args)
    except SymPropError as exc:
        print(f"symprop: error: {exc}")
        return 2


CLAIMS_FILE = """\
claims:
  - {id: right, wrt: W2_11, claim: "(o_1 - t_1)o_1(1 - o_1)h_1"}
  - {id: garbled, wrt: W2_11, claim: "(o_1 - t_1 o_1"}
  - {id: unknown-wrt, wrt: W7_11, claim: "o_1"}
  - {id: wrong, wrt: W2_11, claim: "(o_1 - t_1)o_1(1 + o_1)h_1"}
  - {id: latex, wrt: W2_11, claim_latex: "\\\\delta^{(2)}_1 h_1"}
"""


def test_claims_file_with_unreadable_entries(tmp_path, capsys):
    answers = tmp_path / "answers.yaml"
    answers.write_text(CLAIMS_FILE, encoding="utf-8")
    spec = str(EXAMPLES / "tutorial_222.yaml")
    assert run_verify(spec, "--claims", str(answers)) == 2
    report = capsys.readouterr().out
    assert "5 claims: 2 correct, 1 wrong, 2 unreadable." in report
    garbled = "claim '(o_1 - t_1 o_1' (read as '(o_1 - t_1 * o_1'): syntax error"
    assert f"| garbled | W2_11 | `(o_1 - t_1 o_1` | **unreadable** | {garbled}" in report
    assert "| unknown-wrt | W7_11 | `o_1` | **unreadable** | --wrt 'W7_11': unknown name" in report
    assert "| wrong | W2_11 | `(o_1 - t_1)*o_1*(1 + o_1)*h_1` | **wrong** |" in report
    assert "| latex | W2_11 | `delta2_1 * h_1` | correct |" in report
    assert "### wrong: dE/dW2_11" in report and "### garbled" not in report
    assert run_verify(spec, "--claims", str(answers), "--json") == 2
    payload = json.loads(capsys.readouterr().out)
    assert payload["summary"] == {"claims": 5, "correct": 2, "unreadable": 2}
    assert [r["verdict"] for r in payload["results"]] == ["correct", "unreadable", "unreadable", "wrong", "correct"]
    assert "syntax error" in payload["results"][1]["diagnosis"][0]
    report_file = tmp_path / "report.md"
    assert run_verify(spec, "--claims", str(answers), "--report", str(report_file)) == 2
    assert capsys.readouterr().out == f"wrote {report_file}: 5 claims, 2 correct, 1 wrong, 2 unreadable\n"


def test_the_tutorials_names_of_the_handout_are_claim_names():
    """Regression (found trying the tool as a teacher): the handout and the worksheet figure say
    W5 = w^(2)_11 (the spec's tutorial_names), but --wrt W5 and claims using W5 were unknown names.
    A tutorial name that is also a handout name (W1, W2, z1) keeps the handout's meaning."""
    checker = Verifier(EXAMPLES / "tutorial_222.yaml")
    assert checker.check("W5", "(o1 - t_1) * o1 * (1 - o1) * h1").verdict == "correct"
    assert checker.check("W2_11", "(o1 - t_1) * o1 * (1 - o1) * h1").verdict == "correct"
    hidden = "((o1 - t_1) * o1 * (1 - o1) * W5 + (o2 - t_2) * o2 * (1 - o2) * W7) * h1 * (1 - h1) * x_1"
    assert checker.check("W1_11", hidden).verdict == "correct"
    assert checker.check("W5", "(o1 - t_1) * h1").verdict == "wrong"


@pytest.mark.parametrize("dash", ["−", "–"])
@pytest.mark.parametrize("times", ["·", "⋅", "∙", "×"])
def test_plain_and_latex_claims_read_the_same_pasted_unicode(dash, times):
    """One table (claim_syntax.UNICODE) for both readers; a LaTeX claim refused the en dash and '∙'."""
    plain = f"(a2_1 {dash} t_1) a2_1 (1 {dash} a2_1) {times} a1_1"
    latex = f"(a^{{(2)}}_1 {dash} t_1) a^{{(2)}}_1 (1 {dash} a^{{(2)}}_1) {times} a^{{(1)}}_1"
    checker = verifier("tutorial_222")
    assert checker.check("W2_11", plain).understood == checker.check("W2_11", None, claim_latex=latex).understood
    assert checker.check("W2_11", None, claim_latex=latex).correct
