"""The verifier: the claims corpus, factor diagnosis, counterexamples, LaTeX, errors, CLI."""

from __future__ import annotations

import argparse
import json
import re
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pytest
import sympy as sp
import yaml
from conftest import EXAMPLES, ROOT

import symprop
from symprop.derivation import Derivation
from symprop.errors import SymPropError
from symprop.graph import Graph
from symprop.ops import Activation, Dense, Leaf, Loss, Node
from symprop.spec import ActivationChoice, LossChoice
from symprop.verify import Verifier, load_claims
from symprop.verify import cli as verify_cli
from symprop.verify.claims import ClaimNames
from symprop.verify.claims_latex import translate
from symprop.verify.diagnose import TRANSPOSED
from symprop.verify.writing import array_formula, matrix_text, readable, sstr

# one spec per file; student_corpus.yaml names a spec per claim (tests/test_verify_students.py)
CORPUS = sorted(p for p in (ROOT / "tests" / "claims").glob("*.yaml") if p.name != "student_corpus.yaml")


@cache
def corpus_file(path: Path) -> tuple[Verifier, list[dict]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec = data["spec"]
    network = symprop.from_dict(spec, source=str(path)) if isinstance(spec, dict) else symprop.load(path.parent / spec)
    return Verifier(network), load_claims(path)


def corpus_cases():
    for path in CORPUS:
        for claim in yaml.safe_load(path.read_text(encoding="utf-8"))["claims"]:
            yield pytest.param(path, claim["id"], id=f"{path.stem}:{claim['id']}")


@cache
def verifier(name: str) -> Verifier:
    return Verifier(EXAMPLES / f"{name}.yaml")


# -- the corpus -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path, claim_id", corpus_cases())
def test_corpus_claim_is_judged_right(path, claim_id):
    checker, claims = corpus_file(path)
    claim = next(c for c in claims if c["id"] == claim_id)
    result = checker.check(claim["wrt"], claim.get("claim"), claim_latex=claim.get("claim_latex"))
    assert result.verdict == claim["expect"], str(result)
    wanted = claim.get("diagnosis", [])
    for text in [wanted] if isinstance(wanted, str) else wanted:
        assert text in "\n".join(result.diagnosis), str(result)
    if result.verdict == "wrong" and result.method != "shape":
        assert result.point and result.values, str(result)
        assert result.values["claim"].split(" (")[0] != result.values["correct"]


def test_corpus_covers_the_typical_mistakes_and_unusual_correct_forms():
    claims = [c for path in CORPUS for c in corpus_file(path)[1]]
    assert len(claims) >= 30
    assert sum(c["expect"] == "correct" for c in claims) >= 10 + 3  # >= 10 beyond the plain textbook forms
    mistakes = {c.get("mistake") for c in claims}
    for required in (
        "missing factor",
        "sign error",
        "sigma(1 + sigma)",
        "transposed index",
        "dropped 1/2",
        "extra 1/2",
        "summing over the wrong index",
        "forgetting the softmax coupling",
    ):
        assert required in mistakes
    assert {"softmax_ce", "tutorial_222", "layer_equations_222"} <= {p.stem for p in CORPUS}
    assert any("claim_latex" in c for c in claims)


# -- diagnosis ------------------------------------------------------------------------------------


def test_missing_factor_is_named_with_its_chain_rule_expression():
    result = verifier("tutorial_222").check("W2[0,0]", "(a2_1 - t_1)*a2_1*(1 - a2_1)")
    assert result.verdict == "wrong"
    assert "agrees with the chain rule: factor 1 = dE/da2_1, factors 2, 3 = da2_1/dz2_1" in result.diagnosis
    assert "missing factor: dz2_1/dW2_11 = a1_1" in result.diagnosis


def test_wrong_derivative_factor_is_pointed_at():
    result = verifier("tutorial_222").check("W2[0,0]", "(o1 - t_1)*o1*(1 + o1)*h1")
    assert "factors 2, 3: you wrote o1 * (1 + o1); da2_1/dz2_1 = a2_1*(1 - a2_1)" in result.diagnosis


def test_a_transposed_matrix_is_told_as_such_and_nothing_about_one_element():
    """Regression (found grading as a teacher): 'a1 @ delta2.T' was also told 'your claim equals
    dE/dW2_21' and 'factors 1, 2: you wrote a1 * delta2.T; dE/dW2_12 = ...', an element compared
    with its mirror's gradient."""
    result = Verifier(EXAMPLES / "tutorial_222.yaml").check("W2", "a1 @ delta2.T")
    assert (result.verdict, result.diagnosis) == (
        "wrong",
        [
            "at sizes W1 2x2, W2 2x2, element [0, 1] (W2_12) differs",
            "your matrix is the transpose of the correct one (W has shape (outputs, inputs))",
        ],
    )


def test_a_matrix_with_the_wrong_sign_is_told_so_once():
    """Regression (found as a student): a whole matrix's sign error was told twice, "-1 times the
    correct matrix" and then, for the element that differs, "-1 times the correct gradient"."""
    result = Verifier(EXAMPLES / "tutorial_222.yaml").check("W2", "(t - a2)*a2*(1 - a2) @ a1.T")
    assert result.diagnosis == [
        "at sizes W1 2x2, W2 2x2, element [0, 0] (W2_11) differs",
        "your claim is -1 times the correct matrix: a sign error",
        "agrees with the chain rule: factors 2, 3 = da2_1/dz2_1, factor 4 = dz2_1/dW2_11",
        "factor 1: you wrote (t - a2); dE/da2_1 = a2_1 - t_1 (-1 times it)",
    ]


def test_fused_output_is_split_back_for_the_diagnosis():
    """Sigmoid + binary cross-entropy is fused to a - t; a person writes dE/da * da/dz."""
    result = verifier("one_weight_bce").check("W1[0,0]", "(-t_1/a1_1 + (1 - t_1)/(1 - a1_1))*x_1")
    assert "missing factor: da1_1/dz1_1 = a1_1*(1 - a1_1)" in result.diagnosis
    right = verifier("one_weight_bce").check("W1[0,0]", "(-t_1/a1_1 + (1 - t_1)/(1 - a1_1))*a1_1*(1 - a1_1)*x_1")
    assert right.correct


def test_counterexample_matches_the_generated_module(emit):
    """The point is the worked example; the correct value there is what the NumPy code computes."""
    result = verifier("tutorial_222").check("W2[0,0]", "(a2_1 - t_1)*a2_1*(1 - a2_1)")
    module = emit("tutorial_222")
    _, grads, _ = module.worked_example()
    assert result.point == {
        "x_1": "0.1", "x_2": "0.2", "t_1": "0.4", "t_2": "0.6",
        "W1_11": "0.3", "W1_12": "0.25", "W1_21": "0.4", "W1_22": "0.35",
        "W2_11": "0.45", "W2_12": "0.4", "W2_21": "0.7", "W2_22": "0.6",
    }  # fmt: skip
    assert float(result.values["correct"]) == pytest.approx(grads["W2"][0, 0], rel=1e-9)
    o1, h1 = 0.60944600, 0.51998934
    assert float(result.values["claim"]) == pytest.approx((o1 - 0.4) * o1 * (1 - o1), rel=1e-6)
    assert abs(float(result.values["claim"]) - float(result.values["correct"])) > 1e-3
    assert h1  # the missing factor


def test_random_points_cover_every_leaf():
    result = verifier("layer_equations_222").check("W1_11", "x_1")
    names = {str(s) for s in verifier("layer_equations_222").base.scalar.leaves("input")}
    names |= {str(s) for role in ("param", "target") for s in verifier("layer_equations_222").base.scalar.leaves(role)}
    assert set(result.point) == names


# -- soundness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tutorial_222", "softmax_classifier"])
def test_never_correct_for_a_slightly_wrong_claim(name):
    checker = verifier(name)
    scalar = checker.base.scalar
    for gradient in scalar.gradients()[:: max(1, len(scalar.gradients()) // 6)]:
        exact = sstr(gradient.expr)  # Piecewise relu derivative printed as step(z)
        wrt = str(gradient.symbol)
        assert checker.check(wrt, exact).correct
        for wrong in (f"({exact})*(1 + 1/10**9)", f"({exact}) + x_1/10**12", f"({exact})*(1 + 0*x_1) + t_1**2/10**15"):
            result = checker.check(wrt, wrong)
            assert result.verdict == "wrong", (wrt, wrong)


def test_softmax_targets_are_sampled_on_the_simplex():
    """y*sum(t) - t is the softmax-CE gradient only when targets sum to 1, as the spec requires."""
    checker = verifier("softmax_classifier")
    assert checker.check("b2_1", "a2_1*(t_1 + t_2 + t_3) - t_1").correct
    assert not checker.check("b2_1", "a2_1*(t_1 + t_2) - t_1").correct


SIMPLEX_NOTE = "note: the cross-entropy's targets are sampled so that they sum to 1, as the spec requires"


@pytest.mark.parametrize(
    ("wrt", "claim", "first"),
    [
        ("b2_1", "a2_1*(t_1 + t_2) - t_1", "factor 1: you wrote (a2_1*(t_1 + t_2) - t_1); dE/dz2_1 = a2_1 - t_1"),
        ("W2", "(a2 - t) @ a1.T * 2", "at sizes W1 5x4, b1 5, W2 3x5, b2 3, element [0, 0] (W2_11) differs"),
    ],
)
def test_the_note_on_sampled_targets_comes_after_the_diagnosis(wrt, claim, first):
    # Was: the first bullet of every WRONG verdict on a cross-entropy network, before what is wrong.
    result = verifier("softmax_classifier").check(wrt, claim)
    assert result.verdict == "wrong"
    assert result.diagnosis[0] == first and result.diagnosis[-1] == SIMPLEX_NOTE
    assert result.diagnosis.count(SIMPLEX_NOTE) == 1


# -- matrices and sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tutorial_222", "layer_equations_222", "softmax_classifier", "one_weight_bce"])
def test_array_formula_of_every_parameter_verifies_as_a_matrix_claim(name):
    checker = verifier(name)
    for param in checker.derivation.param_names:
        formula = array_formula(checker.derivation, param)
        assert formula is not None
        result = checker.check(param, formula)
        assert result.correct, str(result)
        assert len(result.sizes) == 3


def test_matrix_claim_must_hold_for_every_size():
    # sum(x) - x_1 - x_2 is 0 with two inputs but not with three
    result = verifier("tutorial_222").check("W2", "((a2 - t) * a2 * (1 - a2)) @ a1.T * (sum(x) - x_1 - x_2 + 1)")
    assert result.verdict == "wrong"
    assert result.diagnosis[0] == "the claim holds at sizes W1 2x2, W2 2x2, but not for every size"
    shape_only = verifier("one_weight_bce").check("W1", "(a1 - t) * x")
    assert shape_only.verdict == "wrong" and "not for every size" in shape_only.diagnosis[0]


def test_wide_network_checks_matrix_claims_on_small_sizes():
    checker = verifier("mlp_784_30_10")
    result = checker.check("W2", "delta2 @ a1.T")
    assert result.correct and result.sizes == ["W1 4x3, b1 4, W2 2x4, b2 2", "W1 3x2, b1 3, W2 4x3, b2 4"]
    element = checker.check("W2[0,0]", "delta2_1 * a1_1")  # too many weights for the exact check: numbers decide
    assert element.correct and element.method.startswith("numeric comparison"), str(element)
    assert not checker.check("W2[0,0]", "a1_1").correct


def test_claims_about_intermediate_nodes():
    checker = verifier("tutorial_222")
    assert checker.check("z2", "(a2 - t) * a2 * (1 - a2)").correct
    assert checker.check("a1_2", "W2_12*delta2_1 + W2_22*delta2_2").correct


# -- reading claims -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrt, name",
    [
        ("W2[0,1]", "W2_12"),
        ("W2[0, 1]", "W2_12"),
        ("W2[0][1]", "W2_12"),
        ("W2_12", "W2_12"),
        ("w2_12", "W2_12"),
        (r"w^{(2)}_{12}", "W2_12"),
        ("W2", "W2"),
        ("w1", "W1"),
        ("a1[1]", "a1_2"),
    ],
)
def test_wrt_forms(wrt, name):
    assert verifier("tutorial_222").parse_wrt(wrt).name == name


@pytest.mark.parametrize(
    "latex, plain",
    [
        (r"(a^{(2)}_1 - t_1)\cdot a^{(2)}_1 (1 - a^{(2)}_1)\cdot a^{(1)}_1", "(a2_1 - t_1) * a2_1 * (1 - a2_1) * a1_1"),
        (r"o_1 (1 - o_1)", "o_1 * (1 - o_1)"),  # an implicit product, not a function call
        (r"a_1^{(2)} w^{(2)}_{1,2}", "a2_1 * w2_12"),  # the echo keeps the letter written
        (r"\frac{e^{-z^{(1)}_1}}{(1 + e^{-z^{(1)}_1})^2}", "exp(-z1_1) / (1 + exp(-z1_1))^2"),
        (r"\sigma(z^{(1)}_2) \times \sigma'(z^{(2)}_1)", "sigmoid(z1_2) * sigmoid_prime(z2_1)"),
        (r"\delta^{(2)} a^{(1)T}", "delta2 @ a1.T"),
        (r"\left((W^{(2)})^\top \delta^{(2)}\right) \odot a^{(1)}", "(W2.T @ delta2) * a1"),
        (r"\operatorname{tanh}(x_1) + \ln x_2 + \sqrt{x_1}", "tanh(x_1) + log(x_2) + sqrt(x_1)"),
        (r"$\frac{\partial E}{\partial w^{(2)}_{11}} = 2x_1$", "2 * x_1"),
        ("σ(z^{(2)}_1)·h_1", "sigmoid(z2_1) * h_1"),
    ],
)
def test_latex_translation(latex, plain):
    assert translate(latex, ClaimNames(verifier("tutorial_222").derivation)) == plain


def test_result_echoes_what_was_understood():
    result = verifier("tutorial_222").check("W2_11", claim_latex=r"(o_1 - t_1) o_1 (1 - o_1) h_1")
    assert result.understood == "(o_1 - t_1) * o_1 * (1 - o_1) * h_1"
    text = str(result)
    assert "read as:      (o_1 - t_1) * o_1 * (1 - o_1) * h_1" in text
    assert "CORRECT" in text and "dE/da2_1 * da2_1/dz2_1 * dz2_1/dW2_11" in text
    fields = result.to_dict()
    for name in ("verdict", "understood", "expected", "point", "values", "diagnosis"):
        assert name in fields


#: (wrt, claim, the claim's factors that agree with the chain rule and the run each equals).
AGREEMENTS = [
    ("W2_11", "(a2_1-t_1)a2_1(1-a2_1)a1_1", []),  # right
    ("W2_11", "(a2_1-t_1)(1+a2_1)a1_1", [((1,), "dE/da2_1"), ((3,), "dz2_1/dW2_11")]),  # one factor off
    ("W2_11", "(a2_1+t_1)(1+a2_1)a1_1", [((3,), "dz2_1/dW2_11")]),  # two factors off
    ("W2_11", "(t_1-a2_1)a2_1(1-a2_1)a1_1", [((2, 3), "da2_1/dz2_1"), ((4,), "dz2_1/dW2_11")]),  # sign
    ("W2_11", "(a2_1-t_1)a2_1(1-a2_1)", [((1,), "dE/da2_1"), ((2, 3), "da2_1/dz2_1")]),  # a factor left out
    ("W1_11", "delta2_1*W2_11*a1_1*x_1", [((4,), "dz1_1/dW1_11")]),  # a term of the sum and a1's derivative off
    ("W2", "(a2 - t)*(1 - a2) @ a1.T", [((1,), "dE/da2_1"), ((3,), "dz2_1/dW2_11")]),  # whole matrix, one factor off
    ("W2", "(t - a2)*a2*(1 - a2) @ a1.T", [((2, 3), "da2_1/dz2_1"), ((4,), "dz2_1/dW2_11")]),  # whole matrix, sign
    ("W2", "a1 delta2^T", []),  # whole matrix transposed: said so, without the element's factors
    ("W2", "-(dz2 @ a1.T)", []),  # decided with numbers (an adjoint's name): no factors matched
    ("W2", "a1 @ dz2.T", []),  # decided with numbers, transposed
]


@pytest.mark.parametrize("wrt, claim, agreeing", AGREEMENTS)
def test_the_factors_a_claim_has_right_are_data_and_the_diagnosis_says_the_same(wrt, claim, agreeing):
    """Partial credit (classroom.grading) reads ``right_factors``, not the words of the note."""
    result = verifier("tutorial_222").check(wrt, claim)
    assert result.correct == (claim == AGREEMENTS[0][1]), str(result)
    assert [(a.factors, a.chain) for a in result.agreeing] == agreeing
    said = [line for line in result.diagnosis if line.startswith("agrees with the chain rule")]
    runs = [f"factor{'s' if len(f) > 1 else ''} {', '.join(map(str, f))} = {chain}" for f, chain in agreeing]
    assert said == ([f"agrees with the chain rule: {', '.join(runs)}"] if agreeing else [])
    assert result.right_factors == len(agreeing) == len(set(re.findall(r"= (d\w+/d\w+)", "".join(said))))
    assert result.to_dict()["agreeing"] == [{"factors": f, "chain": chain} for f, chain in agreeing]


#: (wrt, plain claim, LaTeX claim, verdict, rewritings for the exact reader, for the numeric reader)
REWRITES = [
    ("W2_11", "(a2_1-t_1)a2_1(1-a2_1)a1_1", None, "correct", 1, 0),  # was rewritten again to be read
    ("W2", "delta2 a1^T", None, "correct", 1, 0),  # was rewritten again at each of the three sizes
    ("W2", "(a2 - t)*(1 - a2) @ a1.T", None, "wrong", 1, 1),  # wrong: the numeric reader's edits are tried
    ("W2", None, r"\delta^{(2)} \left(a^{(1)}\right)^T", "correct", 1, 0),  # LaTeX: was translated at each size
    ("W2", "dz2 a1^T", None, "correct", 1, 1),  # an adjoint: the numeric reader's names make dz2 an array (dz2 @ a1.T)
]


@pytest.mark.parametrize("wrt, claim, latex, verdict, exact, numeric", REWRITES)
def test_a_claim_is_rewritten_once_for_each_reader(monkeypatch, wrt, claim, latex, verdict, exact, numeric):
    from symprop.verify import claims_latex, claims_text

    calls = []
    for module in (claims_text, claims_latex):
        monkeypatch.setattr(module, "unpasted", lambda text, latex=False, f=module.unpasted: calls.append(text) or f(text, latex))
    result = Verifier(EXAMPLES / "tutorial_222.yaml").check(wrt, claim, claim_latex=latex)
    assert result.verdict == verdict, str(result)
    assert len(calls) == exact + numeric, calls


@pytest.mark.parametrize(
    "wrt, claim, latex, message",
    [
        ("W2[0,0]", "foo * a1_1", None, "unknown name 'foo' at column 1"),
        ("W2[0,0]", "a1_1 +* 2", None, "syntax error"),
        ("W2[0,0]", "__import__('os')", None, "names starting with '_' are not allowed"),
        ("W2[0,0]", "a1.__class__", None, "'.__class__' is not allowed"),
        ("W2[0,0]", "a1_1.real", None, "'.real' is not allowed"),
        ("W2[0,0]", "[a1_1 for _ in x]", None, "comprehensions are not allowed"),
        ("W2[0,0]", "'text'", None, "strings are not allowed"),
        ("W2[0,0]", "9**9**9**9", None, "number too large"),
        ("W2[0,0]", "sigmoid", None, "is a function"),
        ("W2[0,0]", "a1[5]", None, "does not fit 'a1' of shape [2]"),
        ("W2[0,0]", "a1_1 @ a1_1", None, "'@' multiplies two arrays"),
        ("W2[0,0]", None, r"\sum_i w_i", "the sum over i reaches 'w_{1}', which is not an element"),
        ("W2[0,0]", None, r"\foo{x}", "unknown command '\\foo'"),
        ("W2[0,0]", None, r"z_3", "unknown name 'z_{3}'; layers are written z^{(1)}"),
        ("W2[0,0]", None, r"(a^{(2)}_1", "expected ')'"),
        # a chain rule in partial derivatives, as on paper: was told to leave out "the d/dw on its left"
        (
            "W2[0,0]",
            None,
            r"\frac{\partial E}{\partial o_1} \frac{\partial o_1}{\partial z^{(2)}_1} h_1",
            "'\\partial' is not supported; write each derivative by its formula (\\sigma'(z^{(2)}_1), \\delta^{(2)}_1), "
            "or give the claim as plain text (--claim), where dE/da2_1 names the adjoint",
        ),
        ("W9", "a1_1", None, "unknown name"),
        ("W2[2,0]", "a1_1", None, "W2 has shape [2, 2]"),
        # was "E does not depend on it through a parameter": it does, read as a mistake (a new user's)
        ("x_1", "a1_1", None, "--wrt x_1: x is an input: the backward pass computes no gradient for it; choose a parameter"),
        ("t", "a1_1", None, "--wrt t: t is a target: the backward pass computes no gradient for it; choose a parameter"),
        ("E", "a1_1", None, "--wrt E: E is the loss itself; choose a parameter (W1, W2) or an intermediate node"),
        ("", "a1_1", None, "give the parameter"),
    ],
)
def test_clear_errors(wrt, claim, latex, message):
    with pytest.raises(SymPropError) as error:
        verifier("tutorial_222").check(wrt, claim, claim_latex=latex)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "wrt, message",
    [
        ("W_12", "--wrt 'W_12': unknown name (did you mean 'W1_12'?); parameters: W1, b1 (indices count from 1: W1_11"),
        ("V1", "--wrt 'V1': unknown name; parameters: W1, b1 (indices count from 1: W1_11 is NumPy's W1[0, 0])"),
        ("W2[0,0]", "--wrt 'W2[0,0]': unknown node 'W2'; parameters: W1, b1 (indices count from 1: W1_11"),
    ],
)
def test_an_unknown_wrt_is_shown_the_networks_own_names(wrt, message):
    """A new user's finding: on a one-layer network the hint said 'elements like W2_11', a name
    it does not have, and W_12 for W1_12 got no suggestion."""
    spec = {"name": "sig_layer", "input": 3, "layers": [{"units": 2, "activation": "sigmoid"}], "loss": "half_sse"}
    with pytest.raises(SymPropError) as error:
        symprop.verify(symprop.from_dict(spec, "sig_layer.yaml"), wrt, "x_1")
    assert message in str(error.value)


@pytest.mark.parametrize(
    "spec, wrt, said",
    [
        ("sig_layer", "W1_12", "nodes: x, W1, b1, z1, a1, t (indices count from 1: W1_12 is NumPy's W1[0, 1]); aliases"),
        ("mlp_784_30_10", "W2_11", "; indices count from 1: W1_12 is NumPy's W1[0, 1]"),  # the numeric reader's
        ("cs231n_neuron", "w0", "unknown name 'a_1' at column 1; functions: abs"),  # scalars only: no "nodes: ;"
    ],
)
def test_an_unknown_name_in_a_claim_is_shown_the_networks_own_element_names(spec, wrt, said):
    """A new user's finding: on a one-layer network the hint said 'elements are 1-based: a2_1,
    W2_12; or 0-based W2[0, 1]', names it does not have (the numeric reader's: x[0, 1] of a vector x)."""
    one_layer = {"name": "sig_layer", "input": 3, "layers": [{"units": 2, "activation": "sigmoid"}], "loss": "half_sse"}
    net = symprop.from_dict(one_layer, "sig_layer.yaml") if spec == "sig_layer" else symprop.load(EXAMPLES / f"{spec}.yaml")
    with pytest.raises(SymPropError) as error:
        symprop.verify(net, wrt, "q_1" if spec == "sig_layer" else "a_1")  # a_1 is a1_1 on one layer
    assert said in str(error.value)


@pytest.mark.parametrize(
    "spec, wrt, message",
    [
        ("tutorial_222", "b1_1", "--wrt 'b1_1': this network has no biases (its layers say bias: false); parameters: W1, W2"),
        ("tutorial_222", "b2", "--wrt 'b2': this network has no biases (its layers say bias: false)"),
        ("tutorial_222", "a_1", "--wrt 'a_1': 'a_1' does not say which layer: this network has 2, write a1_1 or a2_1;"),
        ("tutorial_222", "z_2", "--wrt 'z_2': 'z_2' does not say which layer: this network has 2, write z1_2 or z2_2;"),
        ("mixed_bias", "b1_1", "--wrt 'b1_1': layer 1 has no bias (bias: false); parameters: W1, W2, b2"),
    ],
)
def test_a_name_the_network_has_not_is_told_why(spec, wrt, message):
    """A new user's finding: --wrt b1_1 on tutorial_222 (no biases) got "did you mean 'z1_1'?",
    and a_1 on a stack of two layers "did you mean 'a2_1'?": the network has no biases, and
    a_1 does not say which layer."""
    mixed = {"name": "mixed_bias", "input": 2, "loss": "half_sse",
             "layers": [{"units": 2, "activation": "tanh", "bias": False}, {"units": 1, "activation": "sigmoid"}]}  # fmt: skip
    net = symprop.from_dict(mixed, "mixed_bias.yaml") if spec == "mixed_bias" else symprop.load(EXAMPLES / f"{spec}.yaml")
    with pytest.raises(SymPropError) as error:
        symprop.verify(net, wrt, "a1_1")
    assert message in str(error.value)
    assert "did you mean" not in str(error.value)


def test_a_and_z_without_a_layer_name_the_one_layer_of_a_one_layer_network():
    """A new user's finding: o_1 and y_1 were read on a one-layer network, a_1 was not."""
    net = symprop.load(EXAMPLES / "one_weight_bce.yaml")
    assert str(symprop.verify(net, "W1_11", "(a_1 - t_1) * x_1")).startswith("dE/dW1_11: CORRECT")
    assert str(symprop.verify(net, "W1_11", "(o_1 - t_1) * x_1")).startswith("dE/dW1_11: CORRECT")
    assert str(symprop.verify(net, "z_1", "a_1 - t_1")).startswith("dE/dz1_1: CORRECT")


def test_a_1_based_wrt_keeps_its_name_on_the_numeric_path():
    """A new user's finding: --wrt W2_11 on mlp_784_30_10 (decided with numbers) was answered
    'dE/dW2[0,0]: CORRECT', the 0-based name the user had not written."""
    net = symprop.load(EXAMPLES / "mlp_784_30_10.yaml")
    assert str(symprop.verify(net, "W2_11", "δ2_1 a1_1")).startswith("dE/dW2_11: CORRECT")
    assert str(symprop.verify(net, "W2[0,0]", "δ2_1 a1_1")).startswith("dE/dW2[0,0]: CORRECT")


def test_a_transposed_claim_of_the_transposed_shape_is_told_so():
    """A new user's finding: x delta^T for delta x^T on a 2x3 W1 was told only 'the claim is a 3x2
    matrix, but dE/dW1 is a 2x3 matrix'; on a square W2 the same slip is called a transpose."""
    spec = {"name": "sig_layer", "input": 3, "layers": [{"units": 2, "activation": "sigmoid"}], "loss": "half_sse"}
    net = symprop.from_dict(spec, "sig_layer.yaml")
    transposed = symprop.verify(net, "W1", "x @ ((a1 - t) * a1 * (1 - a1)).T")
    assert (transposed.verdict, transposed.diagnosis[-1]) == ("wrong", TRANSPOSED)
    wrong = symprop.verify(net, "W1", "x @ ((t - a1) * a1 * (1 - a1)).T")  # also the sign: not a transpose alone
    assert wrong.verdict == "wrong" and TRANSPOSED not in wrong.diagnosis
    # Regression (review): the transpose check is a hint; a claim it cannot decide (a constant too
    # small for 500 digits) raised instead of being wrong by its shape
    tiny = symprop.verify(net, "W1", "x @ ((a1 - t) * a1 * (1 - a1)).T * (1 + exp(-1000) / (1 + exp(1000)))")
    assert tiny.verdict == "wrong" and TRANSPOSED not in tiny.diagnosis


def test_exactly_one_claim_form():
    with pytest.raises(SymPropError, match="exactly one"):
        verifier("tutorial_222").check("W2_11", "a1_1", claim_latex="a^{(1)}_1")


# -- a graph that is not a layer stack ------------------------------------------------------------


def hand_built_graph_derivation() -> Derivation:
    """x -> s = V x -> h = tanh(s) -> u = U h -> y = sigmoid(u); E = half_sse(y, t): names a graph spec would use."""
    tanh = ActivationChoice("tanh")
    sigmoid = ActivationChoice("sigmoid")
    graph = Graph()
    graph.add(Node("x", Leaf("input"), shape=(2,)))
    graph.add(Node("V", Leaf("param"), shape=(3, 2)))
    graph.add(Node("s", Dense(), ("V", "x"), (3,)))
    graph.add(Node("h", Activation(tanh), ("s",), (3,)))
    graph.add(Node("U", Leaf("param"), shape=(2, 3)))
    graph.add(Node("u", Dense(), ("U", "h"), (2,)))
    graph.add(Node("y", Activation(sigmoid), ("u",), (2,)))
    graph.add(Node("t", Leaf("target"), shape=(2,)))
    graph.add(Node("E", Loss(LossChoice("half_sse")), ("y", "t"), ()))
    return Derivation(SimpleNamespace(name="hand_built", example=None), graph)


def test_verifier_needs_only_the_graph_and_the_scalar_view():
    checker = Verifier(hand_built_graph_derivation())
    assert checker.check("U[1,2]", "(y_2 - t_2)*y_2*(1 - y_2)*h_3").correct
    assert checker.check("V_21", "(U_12*(y_1 - t_1)*y_1*(1 - y_1) + U_22*(y_2 - t_2)*y_2*(1 - y_2))*(1 - h_2^2)*x_1").correct
    matrix = checker.check("V", "((U.T @ ((y - t) * y * (1 - y))) * (1 - h**2)) @ x.T")
    assert matrix.correct and matrix.sizes == ["V 3x2, U 2x3"]  # no size variants without a layer stack
    wrong = checker.check("U[1,2]", "(y_2 - t_2)*y_2*(1 - y_2)*h_2")
    assert wrong.verdict == "wrong" and "factor 4: you wrote h_2; du_2/dU_23 = h_3" in wrong.diagnosis


# -- claims files and the command line ------------------------------------------------------------


def run_verify(*argv: str) -> int:
    """The verify subcommand as the main CLI runs it (SymPropError -> one line, exit 2)."""
    parser = argparse.ArgumentParser(prog="symprop")
    verify_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["verify", *argv])
    try:
        return args.run(args)
    except SymPropError as exc:
        print(f"symprop: error: {exc}")
        return 2


def test_cli_single_claims(capsys):
    spec = str(EXAMPLES / "tutorial_222.yaml")
    assert run_verify(spec, "--wrt", "W2[0,0]", "--claim", "(a2_1 - t_1)*a2_1*(1 - a2_1)*a1_1") == 0
    assert "dE/dW2_11: CORRECT" in capsys.readouterr().out
    latex = r"(a^{(2)}_1 - t_1)\cdot a^{(2)}_1 (1 - a^{(2)}_1)\cdot a^{(1)}_1"
    assert run_verify(spec, "--wrt", "W2[0,0]", "--claim-latex", latex) == 0
    assert run_verify(spec, "--wrt", "W2", "--claim", "((a2 - t) * a2 * (1 - a2)) @ a1.T") == 0
    capsys.readouterr()
    assert run_verify(spec, "--wrt", "W2_11", "--claim", "a1_1", "--json") == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["results"][0]["verdict"] == "wrong" and payload["summary"] == {"claims": 1, "correct": 0, "unreadable": 0}
    assert run_verify(spec, "--wrt", "W2_11", "--claim", "nope") == 2
    assert "unknown name 'nope'" in capsys.readouterr().out
    assert run_verify(spec, "--claim", "a1_1") == 2


def test_cli_claims_file_report(tmp_path, capsys):
    spec = str(EXAMPLES / "tutorial_222.yaml")
    report = tmp_path / "report.md"
    code = run_verify(spec, "--claims", str(EXAMPLES / "claims" / "tutorial_222_answers.yaml"), "--report", str(report))
    assert code == 1  # the example answer sheet has wrong answers
    assert "6 claims, 4 correct, 2 wrong" in capsys.readouterr().out
    text = report.read_text()
    assert "| # | wrt | claim (as read) | verdict | why |" in text
    assert "| 1b | W2_11 | `(o_1 - t_1) * o_1 * (1 - o_1) * h_1` | correct |" in text
    assert "### 2b: dE/dW1_22" in text
    assert run_verify(spec, "--claims", str(EXAMPLES / "claims" / "tutorial_222_answers.yaml"), "--json") == 1
    assert len(json.loads(capsys.readouterr().out)["results"]) == 6


def test_cli_all_correct_claims_file(tmp_path):
    answers = tmp_path / "right.yaml"
    answers.write_text("claims:\n  - {wrt: 'W2[0,0]', claim: 'delta2_1*a1_1'}\n  - {wrt: b2, claim: delta2}\n")
    assert run_verify(str(EXAMPLES / "layer_equations_222.yaml"), "--claims", str(answers)) == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2", "not valid YAML"),
        ("[]", "expected a non-empty list"),
        ("- {claim: a1_1}", "claims[0].wrt: missing"),
        ("- {wrt: W2_11}", "give exactly one of claim and claim_latex"),
        ("- {wrt: W2_11, claim: a1_1, grade: 3}", "claims[0].grade: unknown field"),
        ("- {wrt: W2_11, claim: 3}", "claims[0].claim: expected text"),
    ],
)
def test_cli_bad_claims_files(tmp_path, capsys, content, message):
    path = tmp_path / "claims.yaml"
    path.write_text(content)
    assert run_verify(str(EXAMPLES / "tutorial_222.yaml"), "--claims", str(path)) == 2
    out = capsys.readouterr().out
    assert message in out and str(path) in out


def test_graph_specs_cs231n_neuron_at_the_lectures_point():
    """Claims about any parameter (and input) of a tensor-expression spec; its example is the first point."""
    checker = verifier("cs231n_neuron")
    assert checker.check("w0", "f*(1 - f)*x0").correct
    assert checker.check("x0", "f*(1 - f)*w0").correct  # graph specs also give df/dx
    wrong = checker.check("w0", "f*(1 - f)")
    assert wrong.point == {"x0": "-1", "x1": "-2", "w0": "2", "w1": "-3", "w2": "-3"}
    assert wrong.values["correct"].startswith("-0.19661")  # the lecture's -0.20
    assert "missing factor: d(w0 * x0)/dw0 = x0" in wrong.diagnosis  # f_a, as the spec wrote it
    assert str(wrong).startswith("df/dw0: WRONG")


@pytest.mark.parametrize(
    ("spec", "wrt", "chain"),
    [
        ("cs231n_neuron", "w0", "df/d(w0 * x0) * d(w0 * x0)/dw0"),
        ("gated_unit", "Wa_11", "dE/d(Wa @ x)_1 * d(Wa @ x)_1/dWa_11"),
        ("tutorial_222", "W2_11", "dE/da2_1 * da2_1/dz2_1 * dz2_1/dW2_11"),  # a layer stack has no parts
    ],
)
def test_the_chain_rule_line_names_what_the_spec_wrote(spec, wrt, chain):
    """A user's finding: 'chain rule:' named the parts lowering made (dE/dg_a_1, df_a/dw0), names
    the person never wrote; a part is now its expression in the spec, with the element's index."""
    result = verifier(spec).check(wrt, "0")
    assert result.chain == chain
    assert f"  chain rule:   {chain}\n" in str(result)


@pytest.mark.parametrize(
    ("spec", "wrt", "expected"),
    [
        ("concat_two_inputs", "Wu_11",  # hu = relu(Wu @ u): hu_a = Wu u is a part
         "(W_11*(y_1 - t_1) + W_21*(y_2 - t_2) + W_31*(y_3 - t_3)) * step(Wu_11*u_1 + Wu_12*u_2 + Wu_13*u_3) * u_1"),
        ("tied_autoencoder", "b_1",  # xhat = W.T @ h + c: xhat_a = W.T is a part
         "(W_11*(xhat_1 - x_1) + W_12*(xhat_2 - x_2) + W_13*(xhat_3 - x_3) + W_14*(xhat_4 - x_4) "
         "+ W_15*(xhat_5 - x_5) + W_16*(xhat_6 - x_6)) * h_1*(1 - h_1)"),
        ("cs231n_neuron", "w0", "f*(1 - f) * x0"),  # f_a ... f_g: the familiar form needs none
    ],
)  # fmt: skip
def test_the_correct_formula_names_only_the_specs_names(spec, wrt, expected):
    """Regression: 'correct:' wrote the parts lowering made (step(hu_a_1), xhat_a_11), names the
    person never wrote; they are written out in the spec's own names."""
    result = verifier(spec).check(wrt, "0")
    assert result.expected == expected
    assert f"  correct:      {expected}\n" in str(result)


def test_the_correct_formula_reads_as_a_person_writes_it():
    """Regression (a teacher's finding): 'correct:' printed SymPy's order and the unfactored sum,
    ``(h_1*(-target_1 + y_1) - x_1*(-target_1 + y_1))``; a difference now has its positive term
    first and a common factor comes out when that is shorter."""
    result = verifier("highway").check("bt_1", "(y_1 - target_1)*h_1")
    assert result.expected == "(h_1 - x_1)*(y_1 - target_1) * t_1*(1 - t_1)"
    assert "-target_1 + y_1" not in str(result)
    gated = verifier("gated_unit").check("Wa_11", "(y_1 - t_1)*x_1")
    assert gated.expected.startswith("(Wo_11*(y_1 - t_1) + Wo_21*(y_2 - t_2))*sigmoid(")


def test_the_correct_formula_keeps_the_chain_rules_order():
    """A teacher's finding: 'correct:' sorted each product's factors as SymPy does (``W2_11*a2_1*(1 -
    a2_1)*(a2_1 - t_1)``); it now writes dE/da1_1 as the chain rule gives it, dE/da2 * da2/dz2 *
    dz2/da1 a term, where the terms multiplied out are provably the adjoint.  The text is itself a
    claim the verifier accepts; a fused step (softmax with cross-entropy) stays one factor, a2_j - t_j,
    and a path through the parts lowering made (cs231n's neuron, highway) keeps its former form."""
    chained = "((a2_1 - t_1)*a2_1*(1 - a2_1)*W2_11 + (a2_2 - t_2)*a2_2*(1 - a2_2)*W2_21) * a1_1*(1 - a1_1) * x_1"
    checker = verifier("tutorial_222")
    assert checker.check("W1_11", "0").expected == chained
    assert checker.check("W1_11", chained).correct
    assert checker.check("a1_1", "0").expected == chained.split(" * ")[0]  # a node's adjoint alone
    softmax = verifier("softmax_classifier")
    expected = softmax.check("W1_11", "0").expected
    assert expected == "((a2_1 - t_1)*W2_11 + (a2_2 - t_2)*W2_21 + (a2_3 - t_3)*W2_31) * step(z1_1) * x_1"
    assert softmax.check("W1_11", expected).correct
    assert verifier("cs231n_neuron").check("w0", "0").expected == "f*(1 - f) * x0"
    assert verifier("highway").check("bt_1", "0").expected == "(h_1 - x_1)*(y_1 - target_1) * t_1*(1 - t_1)"


def test_the_readable_form_is_the_same_expression():
    """``readable`` only regroups: the text it prints reads back as the original expression, and
    the common factor comes out where it is shorter.  (Review: the test compared ``text`` with
    ``sstr``, which returns that same text, and ``shown`` with ``expr``, which factor keeps equal.)"""
    y, t, h, x, z = sp.symbols("y t h x z")
    expected = {
        h * (y - t) - x * (y - t): "(h - x)*(y - t)",
        2 * t * (1 - y) * sp.log(y) - t * (1 - y) ** 2 / y: "t*(1 - y)*(2*log(y) - (1 - y)/y)",
        y - t: "y - t",
        z / (1 + z**2 / 2): "z/(z**2/2 + 1)",
    }
    for expr, written in expected.items():
        text = readable(expr)[1]
        assert text == written
        assert sp.simplify(sp.sympify(text, locals={"t": t, "y": y}) - expr) == 0  # our own output, read back
    long = sp.Add(*(sp.Symbol(f"w_{i}") * (y - t) for i in range(60)))
    assert readable(long)[0] == long  # over FACTOR_LIMIT characters: printed as it is


def test_a_correct_matrix_is_written_out_or_by_its_first_element():
    """matrix_text stops printing (each element costs a ``readable``) once the text passes
    MATRIX_TEXT_LIMIT: tied_autoencoder's 3x6 dE/dW took 0.44 s (0.07 s before readable) to write out in full and throw away."""
    a, b = sp.symbols("a b")
    assert matrix_text(sp.ImmutableMatrix([[a * (b - a) - b * (b - a), 1], [2, 3]])) == "[-(a - b)**2, 1; 2, 3]"
    assert verifier("highway").check("Wt", "0*Wt").expected == (
        "a 4x4 matrix (no array formula for this graph); element [0, 0]: t_1*x_1*(1 - t_1)*(h_1 - x_1)*(y_1 - target_1)"
    )


def test_graph_specs_gated_unit_matrix_claims():
    checker = verifier("gated_unit")
    assert checker.check("Wo", "(y - t) @ g.T").correct
    assert checker.check("Wg", "((Wo.T @ (y - t)) * g_a * g_c * (1 - g_c)) @ x.T").correct
    wrong = checker.check("Wg", "((Wo.T @ (y - t)) * g_a * g_c * (1 + g_c)) @ x.T")
    assert wrong.verdict == "wrong"
    assert any("d(sigmoid(Wg @ x))_1/d(Wg @ x)_1" in line for line in wrong.diagnosis), wrong.diagnosis


def test_a_matrix_claim_whose_shapes_do_not_fit_is_one_line_with_the_fix(capsys):
    """As on the tensor path: exit 2, the shape error once (each enclosing operation appended its
    column again: '(at column 3) (at column 2) (at column 1)') and the transpose that makes it right."""
    from symprop.cli import main

    claim = "((W2 @ (a2 - t)) * (z1 > 0)) @ x.T"
    assert main(["verify", str(EXAMPLES / "softmax_classifier.yaml"), "--wrt", "W1", "--claim", claim]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"symprop: error: claim {claim!r} (read as '((W2 @ (a2 - t)) * step(z1)) @ x.T'): '@' of a 3x5 matrix and "
        "a column of 3 (3x1): inner sizes differ (at column 3 of the claim) (with W2.T in place of W2 it would be right)\n"
    )


def test_a_latex_sum_keeps_the_factors_without_its_letter_outside():
    """A new user's finding: ``\\sum_k`` took the whole rest of the product into the sum, so the
    only diagnosis was "factor 1: you wrote (the whole claim)"; a plain claim's sum names the
    missing factor.  Now both read ``(w2_11 * delta2_1 + w2_21 * delta2_2) * x_1``."""
    latex = r"\sum_k w^{(2)}_{k1} \delta^{(2)}_k x_1"
    result = symprop.verify(EXAMPLES / "tutorial_222.yaml", "W1_11", claim_latex=latex)
    assert result.verdict == "wrong"
    assert result.understood == "(w2_11 * delta2_1 + w2_21 * delta2_2) * x_1"
    assert any(line.startswith("missing factor: da1_1/dz1_1") for line in result.diagnosis), result.diagnosis
    right = r"\sum_{k=1}^{2} w^{(2)}_{k1} \delta^{(2)}_k \, a^{(1)}_1 (1 - a^{(1)}_1) x_1"
    assert symprop.verify(EXAMPLES / "tutorial_222.yaml", "W1_11", claim_latex=right).verdict == "correct"


def test_the_indicator_of_a_latex_claim_is_the_step_alone():
    r"""A new user's finding: ``\mathbb{1}[z > 0]`` was echoed as ``1 * step(z1_1)``."""
    latex = r"\sum_k w^{(2)}_{k1} \delta^{(2)}_k \mathbb{1}[z^{(1)}_1 > 0] x_1"
    result = symprop.verify(EXAMPLES / "tutorial_222.yaml", "W1_11", claim_latex=latex)
    assert result.understood == "(w2_11 * delta2_1 + w2_21 * delta2_2) * step(z1_1) * x_1"


TUTORIAL_W2_11 = "(a2_1 - t_1)*a2_1*(1 - a2_1)*a1_1"


@pytest.mark.parametrize(
    ("claim", "relative"),
    [
        (f"{TUTORIAL_W2_11}*(1 + 1e-40)", "1.0e-40"),
        (f"{TUTORIAL_W2_11}*(1 + 1e-45)", "1.0e-45"),
        (f"{TUTORIAL_W2_11}*(sin(z2_1)**2 + cos(z2_1)**2 + 1e-35)", "1.0e-35"),
        (f"{TUTORIAL_W2_11}*(1 + exp(-1000))", "5.08e-435"),  # more digits than the usual last check
    ],
)
def test_a_claim_wrong_only_beyond_30_digits_is_wrong(claim, relative):
    # Bug: equal to 30 digits at every point and no proof found, these were accepted.
    result = verifier("tutorial_222").check("W2_11", claim)
    assert result.verdict == "wrong", result
    assert "equal to 30 digits" in result.method
    note = f"your claim differs from the correct gradient by a relative {relative} only (a tiny term or factor?)"
    assert result.diagnosis == [note]
    assert result.point


def test_a_matrix_claim_wrong_only_beyond_30_digits_is_wrong_and_not_1_times_the_gradient():
    result = verifier("tutorial_222").check("W2", "(a2 - t)*a2*(1 - a2)*(1 + 1e-40) @ a1.T")
    assert result.verdict == "wrong"
    assert not any("1 times" in note for note in result.diagnosis), result.diagnosis
    assert any(note.startswith("your claim differs from the correct gradient by a relative 1.0e-40") for note in result.diagnosis)


def test_an_identity_without_a_proof_is_still_correct_at_more_digits():
    result = verifier("tutorial_222").check("W2_11", f"{TUTORIAL_W2_11}*(sin(z2_1)**2 + cos(z2_1)**2)")
    assert result.verdict == "correct", result
    assert result.method == "numeric comparison at 32 points (30 and 90 digits; no symbolic proof found)"


@pytest.mark.parametrize(
    ("claim", "verdict"),
    [("(a1_1 - t_1)/(a1_1*(1 - a1_1))", "correct"), ("(1 - t_1)/(1 - a1_1) - t_1/a1_1", "correct"), ("a1_1 - t_1", "wrong")],
)
def test_the_output_of_a_fused_sigmoid_and_cross_entropy_has_its_own_gradient(claim, verdict):
    """Regression (a new user's trial): with sigmoid + binary cross-entropy fused, the backward
    pass sends dE/dz = a - t and never dE/da, and verify took dE/da1_1 as 0: a student's right
    (a - t)/(a (1 - a)) was WRONG with 'correct: 0'.  dE/da now comes from the loss it feeds."""
    result = Verifier(EXAMPLES / "one_weight_bce.yaml").check("a1_1", claim)
    assert result.verdict == verdict, str(result)
    assert result.expected != "0"


def test_the_one_based_hint_is_spelled_one_way():
    """The hint that element names count from 1 was spelled three ways ("elements like W1_11 are
    1-based", "W1_12 (1-based)", "a2_1 is the first (or a2[0])"); every message now says it as
    ``naming.one_based_hint`` does, on the network's own names."""
    from symprop import naming

    assert naming.one_based_hint("W1", (0, 1)) == "indices count from 1: W1_12 is NumPy's W1[0, 1]"
    assert naming.one_based_hint("x", (0,)) == "indices count from 1: x_1 is NumPy's x[0]"


def test_the_chain_rule_sum_is_built_once_for_the_handout_and_verify():
    """verify's familiar form (``familiar.chain_terms``) and the handout's ``chain_sum`` each built
    dE/dq as a sum over where q's path branches; both read ``ScalarDerivation.branch_terms`` now: the
    loss's factor first, in the order of the chain rule, each factor saying what it differentiates."""
    d = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    a1_1 = next(s for s in d.scalar.adjoints if s.name == "a1_1")
    terms = d.scalar.branch_terms(a1_1)
    assert [[(str(f.of), str(f.wrt), str(f.expr)) for f in term] for term in terms] == [
        [("E", "a2_1", "a2_1 - t_1"), ("a2_1", "z2_1", "a2_1*(1 - a2_1)"), ("z2_1", "a1_1", "W2_11")],
        [("E", "a2_2", "a2_2 - t_2"), ("a2_2", "z2_2", "a2_2*(1 - a2_2)"), ("z2_2", "a1_1", "W2_21")],
    ]
    assert d.scalar.branch_terms(next(s for s in d.scalar.adjoints if s.name == "a2_1")) is None  # one path


@pytest.mark.parametrize("form", ["vector", "matrix"])
def test_a_claim_with_a_constant_below_what_500_digits_tell_from_0_gets_no_verdict(form):
    # Bug: exp(-exp(exp(2))), about 1e-703, escaped the last check at 500 digits: judged correct
    # (now refused as an argument beyond 1000); a product of tiny numbers still gets there.
    tiny = "(1 + exp(-1000) / (1 + exp(1000)))"
    claim = f"{TUTORIAL_W2_11}*{tiny}" if form == "vector" else f"(a2 - t)*a2*(1 - a2)*{tiny} @ a1.T"
    with pytest.raises(SymPropError) as error:
        verifier("tutorial_222").check("W2_11" if form == "vector" else "W2", claim)
    assert str(error.value) == (
        f"claim {claim!r}: it holds a number of about 1e-869, too small for the comparison (500 digits) "
        "to tell from 0; it cannot decide such a claim"
    )
    # A tiny constant the 500 digits do tell apart is still wrong, with its point.
    assert verifier("tutorial_222").check("W2_11", f"{TUTORIAL_W2_11}*(1 + exp(-1000) / (1 + exp(95)))").verdict == "wrong"


def test_a_claim_of_a_tower_of_exponentials_is_refused_not_evaluated():
    # Bug: exp(exp(exp(exp(5)))) passed the +-1000 check (only written numbers were checked) and
    # its evaluation never ended; a computed number beyond 1000 in an argument is now refused too.
    with pytest.raises(SymPropError, match=r"number too large in a function argument at column 9"):
        verifier("tutorial_222").check("W2_11", "exp(exp(exp(exp(5))))")
    with pytest.raises(SymPropError, match=r"number too large in an exponent"):
        verifier("tutorial_222").check("W2_11", "a1_1 ** exp(7)")
    assert verifier("tutorial_222").check("W2_11", f"{TUTORIAL_W2_11} * exp(exp(1)) / exp(exp(1))").verdict == "correct"


LEAKY_HUBER_1 = {
    "name": "leaky_huber_1",
    "input": 2,
    "layers": [{"units": 1, "activation": {"name": "leaky_relu", "alpha": 0.1}}],
    "loss": {"name": "huber", "delta": 0.5},
}


def test_a_claim_reads_registry_constants_as_the_handout_writes_them():
    """The handout writes leaky_relu's and Huber's constants by name (``\\mathrm{alpha} z``, not
    z/10): a student copying them must get CORRECT, so a claim reads ``alpha`` and ``delta`` (and
    their LaTeX spelling) as the values the network gives them, not as unknown names."""
    from symprop.emit.latex import latex_source

    net = symprop.from_dict(LEAKY_HUBER_1)
    tex = latex_source(symprop.derive(net))
    assert r"\mathrm{alpha} & \text{otherwise}" in tex and r"\leq \mathrm{delta}" in tex  # how the handout writes them
    huber = (
        r"\left((a^{(1)}_{1} - t_{1}) \operatorname{step}(\mathrm{delta} - \operatorname{abs}(a^{(1)}_{1} - t_{1}))"
        r" + \mathrm{delta} \operatorname{sign}(a^{(1)}_{1} - t_{1}) \operatorname{step}(\operatorname{abs}(a^{(1)}_{1} - t_{1})"
        r" - \mathrm{delta})\right)"
    )
    leaky = r"(\operatorname{step}(z^{(1)}_{1}) + \mathrm{alpha} \, (1 - \operatorname{step}(z^{(1)}_{1})))"
    assert str(symprop.verify(net, "b1_1", claim_latex=f"{huber} {leaky}")).startswith("dE/db1_1: CORRECT")
    plain = "(step(z1_1) + alpha * (1 - step(z1_1))) * (a1_1 - t_1)"
    assert str(symprop.verify(symprop.from_dict({**LEAKY_HUBER_1, "loss": "half_sse"}), "b1_1", plain)).startswith(
        "dE/db1_1: CORRECT"
    )
    # their values, not any number: twice alpha is wrong
    doubled = plain.replace("alpha", "2*alpha")
    assert "WRONG" in str(symprop.verify(symprop.from_dict({**LEAKY_HUBER_1, "loss": "half_sse"}), "b1_1", doubled))


def test_a_registry_constant_with_two_values_in_the_network_is_refused_by_name():
    """Two leaky_relu layers, alpha 0.1 and 0.2: ``alpha`` in a claim could be either; the error
    says so (in plain math and in LaTeX) rather than calling it an unknown name."""
    spec = {
        **LEAKY_HUBER_1,
        "layers": [
            {"units": 2, "activation": {"name": "leaky_relu", "alpha": 0.1}},
            {"units": 1, "activation": {"name": "leaky_relu", "alpha": 0.2}},
        ],
    }
    net = symprop.from_dict(spec)
    message = r"'alpha' has 2 values in this network \(0.1 and 0.2\)"
    with pytest.raises(SymPropError, match=message + ".*write the number instead"):
        symprop.verify(net, "b2_1", "alpha")
    with pytest.raises(SymPropError, match=message + ": write the number instead"):
        symprop.verify(net, "b2_1", claim_latex=r"\mathrm{alpha}")


def test_a_whole_array_claim_summed_to_one_number_is_told_claims_are_per_sample():
    """A new user's dE/db2 = sum(delta2), the module's sum over the batch: wrong by its shape, and
    the diagnosis says a claim is about one sample; NumPy's sum(dZ, axis=0) is refused saying so
    (it was "keyword arguments are not allowed")."""
    result = verifier("softmax_classifier").check("b2", "sum(delta2)")
    assert result.verdict == "wrong" and result.method == "shape"
    assert result.diagnosis[-1].startswith("a claim is about one sample (a batch of one)")
    with pytest.raises(SymPropError) as error:
        verifier("softmax_classifier").check("b2", "sum(a2 - t, axis=0)")
    assert str(error.value).endswith(
        "sum(..., axis=) is not read here at column 13; a claim is about one sample, whose nodes are columns: "
        "sum(v) adds the elements of v"
    )


def test_greek_delta_alone_is_not_hubers_constant():
    """Regression (review): with Huber's delta read by name, a bare LaTeX \\delta (the handouts'
    error signal) was read as 0.5 and judged WRONG without a word; it is an unknown name that
    says how the constant is written (\\mathrm{delta}, which reads it)."""
    net = symprop.from_dict({**LEAKY_HUBER_1, "layers": [{"units": 2, "activation": "identity"}]})
    with pytest.raises(SymPropError, match=r"unknown name '\\delta': the network's constant delta is written \\mathrm\{delta\}"):
        symprop.verify(net, "b1_1", claim_latex=r"\delta")
    assert symprop.verify(net, "b1_1", claim_latex=r"\mathrm{delta}").verdict == "wrong"  # read, as 0.5
