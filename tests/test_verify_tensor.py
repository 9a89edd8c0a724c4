"""Claims about tensor networks, decided with numbers: the probe, the counterexample, the
reader's notation and refusals, the CLI and claims files.  The claims corpus
(tests/claims/self_attention.yaml, lstm.yaml) holds the right and wrong claims with their
expected diagnosis and runs in test_verify.py."""

from __future__ import annotations

import argparse
import json
import re
from functools import cache

import numpy as np
import pytest
import yaml
from conftest import EXAMPLES, ROOT

import symprop
from symprop.errors import SymPropError
from symprop.verify import Verifier
from symprop.verify import cli as verify_cli
from symprop.verify.probe import SAMPLES, SEEDS, Probe
from symprop.verify.tensor_text import rewrite

CLAIMS = ROOT / "tests" / "claims"


@cache
def spec(name: str) -> dict:
    return yaml.safe_load((CLAIMS / f"{name}.yaml").read_text(encoding="utf-8"))["spec"]


@cache
def verifier(name: str) -> Verifier:
    return Verifier(symprop.from_dict(spec(name), source=f"{name}.yaml"))


# -- the values the claims are compared with ----------------------------------------------------


@pytest.mark.parametrize("name", ["self_attention", "lstm"])
def test_probe_gradient_is_the_modules_gradient_at_each_documented_point(name):
    """A point is (seed, sample): init_params(seed) moved by 0.1 N(0, 1) drawn from
    default_rng(seed + 1), and one sample of sample_batch(2, seed); the README says so."""
    derivation = symprop.derive(symprop.from_dict(spec(name), source=f"{name}.yaml"))
    probe = Probe(derivation)
    namespace: dict = {}
    exec(compile(derivation.numpy_source(), name, "exec"), namespace)
    assert len(probe.points) == SEEDS * SAMPLES
    for point in probe.points[::3]:
        rng = np.random.default_rng(point.seed + 1)
        params = {k: v + 0.1 * rng.standard_normal(np.shape(v)) for k, v in namespace["init_params"](point.seed).items()}
        X, T = namespace["sample_batch"](SAMPLES, point.seed)
        n = point.sample
        _, grads = namespace["loss_and_grad"](params, X[n : n + 1], T[n : n + 1])
        for key, grad in grads.items():
            np.testing.assert_allclose(point.adjoints[key], grad, rtol=1e-12, atol=1e-15)


def test_counterexample_names_the_point_the_element_and_both_values():
    result = verifier("self_attention").check("Wq", "X.T @ (ds @ k)")
    assert result.verdict == "wrong"
    assert set(result.point) == {"seed", "sample", "element"}
    element = result.point["element"]
    assert element.startswith("Wq[")
    where = (result.point["seed"], result.point["sample"])
    point = next(p for p in verifier("self_attention").tensor.points if (str(p.seed), str(p.sample)) == where)
    index = tuple(int(i) for i in element[3:-1].split(","))
    assert float(result.values["correct"]) == pytest.approx(point.adjoints["Wq"][index], rel=1e-9)
    assert float(result.values["claim"]) == pytest.approx(4 * point.adjoints["Wq"][index], rel=1e-9)
    text = str(result)
    assert "decided by:   numeric comparison at 6 random points" in text and "counterexample: seed = " in text


def test_right_claims_say_how_they_were_decided_and_what_is_correct():
    result = verifier("self_attention").check("Wv", "X.T @ (p.T @ dh)")
    assert result.correct and result.expected == "X^T dE/dv"
    assert result.method.startswith("numeric comparison") and "float64" in result.method
    assert verifier("self_attention").check("Wq[i,j]", "sum_{t} X[t,i] * dq[t,j]").expected == "(X^T dE/dq)[i, j]"


# -- which check decides -------------------------------------------------------------------------


def test_small_networks_keep_the_exact_check_and_take_the_new_notation_to_numbers():
    checker = Verifier(EXAMPLES / "tutorial_222.yaml")
    exact = checker.check("W2[0,0]", "(a2_1 - t_1)*a2_1*(1 - a2_1)*a1_1")
    assert exact.correct and exact.method == "symbolic proof"
    for wrt, claim in [("W2[j,k]", "dz2[j] * a1[k]"), ("W2", "dz2 @ a1.T"), ("W2[0,1]", "dE/dz2[0] * a1[1]")]:
        result = checker.check(wrt, claim)
        assert result.correct and result.method.startswith("numeric comparison"), (wrt, claim, str(result))
    swapped = checker.check("W2[j,k]", "dz2[k] * a1[j]")
    assert swapped.verdict == "wrong" and "transpose of dE/dW2[j,k]" in swapped.diagnosis[0]


_DW1 = "W2[i,j] * delta2[i] * a1[j]*(1-a1[j]) * x[k]"


@pytest.mark.parametrize(
    "claim, verdict",
    [
        (f"-sum_{{i}} {_DW1}", "sign error"),
        (f"- sum_{{i}} {_DW1}", "sign error"),
        (f"-1 * sum_{{i}} {_DW1}", "sign error"),
        (f"-(sum_{{i}} {_DW1})", "sign error"),
        ("x[k] * -sum_{i} W2[i,j] * delta2[i] * a1[j]*(1-a1[j])", "sign error"),
        (f"+sum_{{i}} {_DW1}", "correct"),
        (f"--sum_{{i}} {_DW1}", "correct"),
        (f"2 * sum_{{i}} {_DW1} - sum_{{i}} {_DW1}", "correct"),
    ],
)
def test_a_minus_before_a_sum_is_minus_the_sum(claim, verdict):
    """Python reads ``-sum_[i]*x`` as ``(-sum_[i])*x``: the sign belongs to the sum, not a parse error."""
    result = Verifier(EXAMPLES / "tutorial_222.yaml").check("W1[j,k]", claim)
    if verdict == "correct":
        assert result.correct, str(result)
    else:
        assert result.verdict == "wrong"
        assert result.diagnosis[0] == "your claim is -1 times the correct gradient: a sign error"


def test_embedding_rows_in_index_notation():
    gru = {
        "name": "embed",
        "inputs": {"ids": {"shape": [4], "dtype": "int", "range": 30}},
        "targets": {"t": 3},
        "params": {"Emb": [30, 6], "W": [3, 6]},
        "nodes": {"e": "Emb[ids]", "y": "softmax(W @ tanh(sum(e, axis=0)))"},
        "loss": "cross_entropy(y, t)",
    }
    checker = Verifier(symprop.from_dict(gru, source="embed.yaml"))
    assert checker.check("Emb[v,j]", "sum_{u} delta(ids[u], v) * de[u,j]").correct
    first = checker.check("Emb[v,j]", "delta(ids[0], v) * de[0,j]")
    assert first.verdict == "wrong" and first.point["element"].startswith("Emb[")


# -- reading ---------------------------------------------------------------------------------------


def test_rewrites_keep_the_users_columns():
    source, origin = rewrite("sum_{t} X[t,i] * dE/dq[t,j] ^ 2", "E")
    assert source == "sum_[t]* X[t,i] * dE_dq[t,j] ** 2"
    assert len(origin) == len(source) + 1
    with pytest.raises(SymPropError, match="unknown name 'foo' at column 18"):
        verifier("self_attention").check("Wq[i,j]", "sum_{t} X[t,i] * foo[t,j]")


@pytest.mark.parametrize(
    "wrt, claim, message",
    [
        ("Wq", "X.T @ foo", "unknown name 'foo' at column 7"),
        ("Wq", "X @ dq", "8x16 matrix and a 8x16 matrix: inner sizes differ at column 1 of the claim (with X.T in place of X"),
        ("Wq", "X.T @ dk[0]", "'@' of a 16x8 matrix and a column of 16 (16x1)"),
        # the hint transposes a sum or product as a whole (it said "with 2 * (y - t) / 32.T in place of ...")
        ("bo", "sum(2 * (y - t) / 32, axis=1)", "(with (2 * (y - t) / 32).T in place of 2 * (y - t) / 32 it would be right)"),
        ("Wo", "p @ dy", "it is a 8x4 matrix, but dE/dWo is a 16x4 matrix"),
        ("Wq[2,3]", "X.T @ dq", "it is a 16x16 matrix, but dE/dWq[2,3] is a number"),
        ("Wq[i,j]", "X.T @ dq", "write it in index notation"),
        ("Wq[i,j]", "X[t,i] * dq[t,j]", "index 't' is neither summed nor an index of --wrt at column 3; write sum_{t} ..."),
        ("Wq[i,j]", "sum_{i} X[i,i]", "'i' is an index of --wrt; it cannot also be summed"),
        ("Wq[i,j]", "sum_{t} X[t,i] * dq[t,t]", "index 't' runs over 8 values elsewhere but over 16 in 'dq'"),
        ("Wq", "sum_{t} dq", "sum_{...} sums index notation"),
        ("Wq", "dWq", "it uses dWq, the very gradient it claims"),
        ("Wq", "X.T @ dX", "X is an input: the backward pass computes no gradient for it"),
        ("Wq", "X.T @ dq + __import__('os')", "names starting with '_' are not allowed"),
        ("Wq", "X.T @ dq.real", "'.real' is not allowed"),
        ("Wq", "X.T @ (lambda: dq)()", "lambda is not allowed"),
        ("Wq[i,j]", "sum_{a,b,c,d,e,f} X[a,i]*X[b,j]*X[c,d]*X[e,f]", "the claim builds a tensor of"),
        ("X", "dq", "X is an input: the backward pass computes no gradient for it"),
        ("t", "dq", "t is a target: the backward pass computes no gradient for it"),
        ("Wz", "dq", "unknown node 'Wz'"),
        ("Wq[16,0]", "dq[0,0]", "Wq has shape [16, 16]"),
        ("Wq[i,i]", "dq[0,0]", "give each axis its own letter"),
        ("Wq", "dq(1)", "claim 'dq(1)' (read as 'dq*(1)'): it is a 8x16 matrix"),  # a value before ( multiplies
        ("Wq", "(sum_t) + dq", "sum_{...} needs something to sum after it at column 2"),
        ("s", "where(tril(2.5), p * dp, 0)", "tril takes a whole number n: tril(n) is the n x n causal mask"),
        # the transpose of a product is bracketed: it read "with sum(h, axis=0) * 0.T in place of ..."
        ("Wo", "h.T @ dy + sum(h, axis=0) * 0", "(with (sum(h, axis=0) * 0).T in place of sum(h, axis=0) * 0 it would be right)"),
    ],
)
def test_clear_errors(wrt, claim, message):
    with pytest.raises(SymPropError) as error:
        verifier("self_attention").check(wrt, claim)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_index_notation_whose_ranges_do_not_fit_is_a_shape_error_with_the_swap_that_fits():
    """As the array form's '@' of sizes that differ says "with X.T in place of X it would be
    right", index notation of a non-square matrix with its indices swapped says which swap."""
    from symprop.verify.tensor_decide import ClaimShapeError

    with pytest.raises(ClaimShapeError) as error:
        verifier("self_attention").check("Wo[i,j]", "sum_{t} h[t,i] * dy[j,t]")
    assert str(error.value) == (
        "claim 'sum_{t} h[t,i] * dy[j,t]': index 'j' runs over 4 values elsewhere but over 8 in 'dy' at column 21 "
        "(with dy[t,j] in place of dy[j,t] it would be right)"
    )


def test_infinite_or_undefined_claims_are_wrong_not_equal():
    """dq's first row is 0 (the first token attends to itself alone): 1/dq[0, 0] is inf."""
    checker = verifier("self_attention")
    assert checker.check("Wq", "dq[0, 0] ** -1").verdict == "wrong"
    assert checker.check("Wq", "X.T @ dq + 0 * dq[0, 0] ** -1").verdict == "wrong"


def test_latex_claims_on_a_large_network_are_refused_in_one_line():
    refusal = r"LaTeX claims are checked with the per-weight view, which this network has not \(\d+ parameters \(at most 100\)\)"
    with pytest.raises(SymPropError, match=refusal):
        verifier("self_attention").check("Wq", claim_latex=r"X^T \, dq")


def _elman(steps: int) -> dict:
    body = yaml.safe_load((EXAMPLES / "elman_rnn.yaml").read_text(encoding="utf-8"))
    body["inputs"] = {"x{k}": {"for": f"k in 1..{steps}", "value": 3}}
    body["nodes"]["h{k}"]["for"] = f"k in 2..{steps}"
    body["nodes"]["y"] = f"Wy @ h{steps} + by"
    return body


def test_per_weight_view_stops_where_chain_rule_terms_would_explode():
    """Regression: a 9-step Elman RNN (69 parameters, under the parameter cap) has 174,762
    chain-rule terms for one element of Wx; writing them out took 93 s a claim. Counting them
    is instant, and the refusal names the count; the 5-step example keeps its per-weight view."""
    from symprop.scalar import SCALAR_MAX_TERMS

    assert symprop.derive(symprop.from_dict(_elman(5))).chain_terms == 682
    long = symprop.derive(symprop.from_dict(_elman(9), source="elman9.yaml"))
    assert long.chain_terms == 174_762 > SCALAR_MAX_TERMS and not long.has_scalar
    checker = Verifier(long)
    assert checker.check("Wx[0,0]", "0").verdict == "wrong"  # still decided, by the numeric probe
    with pytest.raises(SymPropError, match=r"which this network has not \(a per-weight derivative of 174,762 chain-rule terms"):
        checker.check("Wx", claim_latex="0")
    with pytest.raises(SymPropError, match="per-weight expressions are kept for at most 1,000"):
        long.scalar  # noqa: B018


# -- the command line and claims files --------------------------------------------------------


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    verify_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["verify", *argv])
    return args.run(args)


@pytest.fixture(scope="module")
def attention_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("specs") / "self_attention.yaml"
    path.write_text(yaml.safe_dump(spec("self_attention")), encoding="utf-8")
    return path


def test_cli_single_claims(attention_file, capsys):
    assert _run([str(attention_file), "--wrt", "Wq[i,j]", "--claim", "sum_{t} X[t,i] * dE/dq[t,j]"]) == 0
    assert "dE/dWq[i,j]: CORRECT" in capsys.readouterr().out
    assert _run([str(attention_file), "--wrt", "Wq", "--claim", "X.T @ ((p * dp) @ k) / 4"]) == 1
    assert "subtracted term of the softmax's Jacobian" in capsys.readouterr().out


def test_cli_claims_file_with_the_new_forms(attention_file, tmp_path):
    claims = yaml.safe_load((CLAIMS / "self_attention.yaml").read_text(encoding="utf-8"))["claims"]
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"claims": claims}), encoding="utf-8")
    report = tmp_path / "report.json"
    wrong = sum(c["expect"] == "wrong" for c in claims)
    assert _run([str(attention_file), "--claims", str(answers), "--report", str(report), "--json"]) == (1 if wrong else 0)
    payload = json.loads(report.read_text(encoding="utf-8"))
    assert payload["summary"] == {"claims": len(claims), "correct": len(claims) - wrong, "unreadable": 0}
    verdicts = {r["id"]: r["verdict"] for r in payload["results"]}
    assert verdicts == {c["id"]: c["expect"] for c in claims}


def test_python_api():
    network = symprop.from_dict(spec("self_attention"), source="self_attention.yaml")
    assert symprop.verify(network, "Wo", "h.T @ dy").correct
    assert not symprop.verify(network, "Wo", "dy.T @ h").correct


def test_tensor_corpus_covers_the_mistakes_of_the_issue():
    """Issue 12, item 5: a missing transpose, a missing 1/sqrt(d), the softmax Jacobian's
    subtracted term, and only one time step of a shared weight (tests/claims/*.yaml)."""
    files = [CLAIMS / f"{name}.yaml" for name in ("self_attention", "lstm")]
    claims = [c for path in files for c in yaml.safe_load(path.read_text(encoding="utf-8"))["claims"]]
    mistakes = {c.get("mistake") for c in claims}
    required = (
        "missing transpose",
        "missing 1/sqrt(d)",
        "missing softmax Jacobian term",
        "only the last time step of a shared weight",
    )
    assert set(required) <= mistakes
    assert sum(c["expect"] == "correct" for c in claims) >= 15


# -- what students write, on a network too large for the per-weight view -----------------------

LARGE_CLAIMS = [
    ("W2_11", "delta2_1*a1_1", "correct", "delta2_1*a1_1"),
    ("W2_11", "δ2_1 a1_1", "correct", "delta2_1 * a1_1"),
    ("W2_11", "(a2_1 − t_1)·a2_1(1 − a2_1)·a1_1", "correct", "(a2_1 - t_1)*a2_1*(1 - a2_1)*a1_1"),
    ("W2[0,0]", "sigma'(z2_1)(a2_1-t_1)a1_1", "correct", "sigma_prime(z2_1)*(a2_1-t_1)*a1_1"),
    ("W2_11", "dE/dW2_11 = delta2_1 a1_1", "correct", "delta2_1 * a1_1"),
    ("W2_11", "(t_1-a2_1)a2_1(1-a2_1)a1_1", "wrong", "(t_1-a2_1)*a2_1*(1-a2_1)*a1_1"),
    ("W1_11", "(sum_k W2_k1 δ2_k) a1_1(1 − a1_1) x_1", "correct", None),
    ("W1_11", "(sum_k W2_1k δ2_k) a1_1(1 − a1_1) x_1", "wrong", None),
    ("W2", "δ2 a1ᵀ", "correct", "delta2 @ a1.T"),
    ("W1", "((W2^T δ2) ⊙ a1(1 − a1)) xᵀ", "correct", "((W2.T @ delta2) * a1*(1 - a1)) * x.T"),
]


@pytest.mark.parametrize("wrt, claim, verdict, read_as", LARGE_CLAIMS)
def test_plain_claims_as_students_write_them_on_a_large_network(wrt, claim, verdict, read_as):
    """mlp_784_30_10 has 23,860 parameters: element claims are decided with numbers, and were
    read without the rewriting (Unicode, implicit products, W^T) small networks get; a plain
    element name (W2_11) was taken for a whole node."""
    result = large_verifier().check(wrt, claim)
    assert result.verdict == verdict, str(result)
    if read_as is not None:
        assert result.understood == read_as


@cache
def large_verifier() -> Verifier:
    return Verifier(EXAMPLES / "mlp_784_30_10.yaml")


def test_a_large_networks_claim_is_echoed_as_typed_in_its_error():
    with pytest.raises(SymPropError) as error:
        large_verifier().check("W2_11", "δ2_1 a1")
    assert str(error.value).startswith("claim 'δ2_1 a1' (read as 'delta2_1 * a1'): ")


BROADCAST = {
    "name": "broadcast", "inputs": {"X": [4, 3]}, "targets": {"t": [4, 2]},
    "params": {"W": [3, 2], "b": [2], "c": [1, 2], "g": [4, 1]},
    "nodes": {"y": "g * (X @ W) + b + c"}, "loss": "half_sse(y, t)",
}  # fmt: skip


@pytest.mark.parametrize(
    "wrt, claim, correct",
    [
        ("b", "sum(dy, axis=0)", "sum(dE/dy, axis=0)"),  # the bias's leading axis (y_c = g * (X @ W) + b)
        ("c", "sum(dy, axis=0)", "sum(dE/dy, axis=0)"),  # a size-1 axis stretched
        ("g", "sum(dy * (X @ W), axis=1)", "sum(dE/dy * (X @ W), axis=1)"),
        ("W", "X.T @ (g * dy)", "X^T (dE/dy * g)"),  # no broadcast: as before
    ],
)
def test_the_correct_gradient_of_a_broadcast_parameter_is_summed_as_one_samples(wrt, claim, correct):
    """Regression (a new user's trial): --wrt br of y = h @ Wr + br showed 'correct: dE/dy', a
    5x3 array for a 3-vector: the sum over the tokens was taken for the batch's and dropped."""
    result = Verifier(symprop.from_dict(BROADCAST, source="broadcast.yaml")).check(wrt, claim)
    assert (result.verdict, result.expected) == ("correct", correct)


@pytest.mark.parametrize(
    "name, wrt, claim, correct",
    [
        # Regression (a new user's trial): 'dE/dp_b where p_a is true, 0 elsewhere', in the names
        # of the parts the reader made of p = softmax(where(tril(8), s, -1e9), axis=-1)
        ("self_attention", "s", "p * dp", "(p * (dE/dp - sum_i dE/dp_i p_i)) where tril(8) is true, 0 elsewhere"),
        ("self_attention", "q", "ds @ k", None),
        ("lstm", "Wg", "dg10 @ x[9].T", None),
    ],
)
def test_the_correct_gradient_is_written_in_the_specs_names(name, wrt, claim, correct):
    """A correct answer names the spec's nodes only: a lettered part's value is its text in the
    spec, its adjoint its own formula (the backward pass's, as the module's comments say it)."""
    result = verifier(name).check(wrt, claim)
    parts = symprop.from_dict(spec(name), source=f"{name}.yaml").parts
    assert parts and not any(re.search(rf"(?<![\w.]){part}(?!\w)", result.expected) for part in parts), result.expected
    if correct is not None:
        assert result.expected == correct


@pytest.mark.parametrize(
    "claim, correct",
    [("where(tril(8), p * (dp - sum(dp * p, axis=1)), 0)", True), ("where(tril(8), p * dp, 0)", False)],
)
def test_a_claim_may_use_the_causal_mask_the_correct_gradient_names(claim, correct):
    """A new user's claim copied the mask of "dE/dm where tril(8) is true" (2026-12-06): tril was
    an unknown name in claims, then (as a part of numbers only) too inexact to decide on."""
    assert verifier("self_attention").check("s", claim).correct is correct



def test_a_softmax_cross_entropy_along_axis_0_is_verified_with_targets_on_its_simplex():
    """The fused dE/dz = p - t holds for targets whose rows along the softmax's axis sum to one:
    the proof's and the probe's targets are constrained along axis 0 (each column), not the last."""
    network = symprop.from_dict(
        {"name": "softmax_axis_0", "inputs": {"x": [3, 4]}, "targets": {"t": [3, 4]}, "params": {"W": [4, 4]},
         "nodes": {"z": "x @ W", "p": "softmax(z, axis=0)"}, "loss": "cross_entropy(p, t)"}
    )  # fmt: skip
    checker = Verifier(network)
    assert checker.check("z", "p - t").correct
    assert checker.check("W[j,k]", "sum_{i} x[i,j] * (p[i,k] - t[i,k])").correct
    for point in Probe(symprop.derive(network)).points:
        np.testing.assert_allclose(point.values["t"].sum(axis=0), 1.0)


@pytest.mark.parametrize(
    ("claim", "number"),
    [
        ("dz2 @ a1.T * (1 + 1e-40)", "1e-40"),
        ("dz2 @ a1.T * 1.0000000001", "1.0000000001"),
        ("dz2 @ a1.T * (1 + 1.5e-9)", "1.5e-09"),  # regression: above RTOL, yet within the comparison's 2 * RTOL
    ],
)
def test_a_claim_with_a_number_finer_than_float64_tells_apart_gets_no_verdict(claim, number):
    # Bug: the float64 comparison (relative 1e-9) accepted these as correct.
    tutorial = Verifier(ROOT / "examples" / "tutorial_222.yaml")  # dz2: the numeric path
    with pytest.raises(SymPropError) as error:
        tutorial.check("W2", claim)
    message = str(error.value)
    assert f"the number {number} is finer than this network's numeric comparison tells apart" in message
    assert "\n" not in message
    assert tutorial.check("W2", "dz2 @ a1.T * 0.5 * 2").verdict == "correct"
    assert tutorial.check("W2", "dz2 @ a1.T * (1 + 1e-40) + 1").verdict == "wrong"  # wrong anyway
    with pytest.raises(SymPropError, match="the number 1e-40 is finer"):  # a large network: the same
        verifier("self_attention").check("Wq", "X.T @ dq * (1 + 1e-40)")


@pytest.mark.parametrize(
    ("claim", "part"),
    [
        ("dz2 @ a1.T * (1 + exp(-60))", "'exp(-60)' is about 1e-27"),
        ("dz2 @ a1.T + exp(-50)", "'exp(-50)' is about 1e-22"),
        ("dz2 @ a1.T * (1 + 10**-60)", "'10**-60' is about 1e-61"),
        ("dz2 @ a1.T * (1 + 1/exp(800))", "'1/exp(800)' is about 1e-348"),  # 0 in float64: computed exactly
        ("dz2 @ a1.T * (1 + sigmoid(-40))", "'sigmoid(-40)' is about 1e-18"),
        # Regression (review of f5e5ad6): a part between 1e-9 and 1e-7 passed (its tiniest_constant 9 is
        # not above 9), yet the comparison accepts 2e-9: these wrong claims were judged correct
        ("dz2 @ a1.T * (1 + 1/1000000000)", "'1/1000000000' is about 1e-9"),
        ("dz2 @ a1.T * (1 + 19/10000000000)", "'19/10000000000' is about 1e-9"),
        ("dz2 @ a1.T * 2**(1/1000000000)", "'1/1000000000' is about 1e-9"),
    ],
)
def test_a_claim_with_a_tiny_number_made_by_a_function_gets_no_verdict(claim, part):
    # Bug: only numbers written out were checked; these agreed in float64 and were judged correct.
    tutorial = Verifier(ROOT / "examples" / "tutorial_222.yaml")  # dz2: the numeric path
    with pytest.raises(SymPropError) as error:
        tutorial.check("W2", claim)
    assert str(error.value) == (
        f"claim {claim!r}: its part {part}, too small for this network's numeric comparison to rule on "
        "(float64, relative 1e-09); it cannot decide such a claim"
    )
    assert tutorial.check("W2", "dz2 @ a1.T * exp(2) / exp(2) * (e**2 - exp(2) + 1)").verdict == "correct"
    assert tutorial.check("W2", "dz2 @ a1.T * (1 + exp(-10))").verdict == "wrong"  # float64 tells it apart
    assert tutorial.check("W2", "dz2 @ a1.T * (1 + 1/100000000)").verdict == "wrong"  # 1e-8: told apart, judged
    assert tutorial.check("W2", "dz2 @ a1.T * (1 + exp(-60)) + 1").verdict == "wrong"  # wrong anyway


def test_a_claim_with_a_number_too_small_to_compute_exactly_gets_no_verdict():
    with pytest.raises(SymPropError, match="its part 'exp[(]-2000[)]' cannot be computed exactly for"):
        verifier("self_attention").check("Wq", "X.T @ dq * (1 + exp(-2000))")


def test_a_ratio_near_one_is_shown_with_the_digits_that_tell_it_from_one():
    """Six digits showed 1.0000001 as "your claim is 1 times the correct gradient"."""
    result = verifier("self_attention").check("Wv", "X.T @ (p.T @ dh) * 1.0000001")
    assert result.verdict == "wrong"
    assert result.diagnosis[0] == "your claim is 1.0000001 times the correct gradient"


#: y = x @ W of square per-sample matrices: x^T dy read as x.T * dy (adjoints were no arrays to the
#: implicit-product rule, nor dE/dy, nor a group after a transposed array) fitted elementwise, so
#: the right claim, the very one the verifier prints as correct, was judged wrong.
SQUARE = {
    "name": "square",
    "inputs": {"x": [4, 4]},
    "targets": {"t": [4, 4]},
    "params": {"W": [4, 4]},
    "nodes": {"y": "x @ W"},
    "loss": "half_sse(y, t)",
}


@pytest.mark.parametrize("claim", ["x^T dy", "x.T dy", "x^T dE/dy", "x^T (y - t)", "x^T (dy)"])
def test_a_transposed_array_beside_an_adjoint_or_a_group_of_arrays_is_a_matrix_product(claim):
    result = Verifier(symprop.from_dict(SQUARE, source="<test>")).check("W", claim)
    assert result.correct, str(result)
    assert Verifier(symprop.from_dict(SQUARE, source="<test>")).check("W", "x^T * dy").verdict == "wrong"


def test_kronecker_delta_on_a_huber_network():
    """Regression (review): Huber's delta, read by name, shadowed Kronecker's delta(k, i) in tensor
    claims ('tuples are not allowed'); the tensor reader keeps delta( as Kronecker's."""
    spec = {
        "name": "lh",
        "input": 2,
        "layers": [{"units": 2, "activation": {"name": "leaky_relu", "alpha": 0.1}}, {"units": 2, "activation": "identity"}],
        "loss": {"name": "huber", "delta": 0.5},
    }
    result = symprop.verify(symprop.from_dict(spec), "W1[i,j]", "sum_{k} dz1[k] * delta(k, i) * x[j]")
    assert result.verdict == "correct"
