"""A loss written as a formula: its parts (``E_a`` of ``sum(-t * (1 - y) ** 2 * log(y))``)
never reach the report of a claim about a node (a new user's finding, on a mixture of experts)."""

from __future__ import annotations

from functools import cache

import yaml

import symprop
from symprop.verify import Verifier

MOE = """
name: moe2
inputs: {x: 4}
targets: {t: 3}
params: {W1: [3, 4], b1: [3], W2: [3, 4], b2: [3], Wg: [2, 4], bg: [2]}
nodes:
  e1: softmax(W1 @ x + b1)
  e2: softmax(W2 @ x + b2)
  gate: softmax(Wg @ x + bg)
  y: gate[0] * e1 + gate[1] * e2
loss: sum(-t * (1 - y) ** 2 * log(y))
"""
RIGHT = "-t*(1 - y)**2/y + 2*t*(1 - y)*log(y)"
FLIPPED = "-t * (1 - y)**2 / y - 2 * t * (1 - y) * log(y)"


@cache
def moe() -> Verifier:
    return Verifier(symprop.from_dict(yaml.safe_load(MOE), source="moe2.yaml"))


def test_the_correct_answer_is_written_in_the_specs_names():
    """Was ``[2*E_a_1*E_d_1*t_1 - E_c_1/y_1; ...]``: the loss's parts, element by element."""
    assert moe().check("y", RIGHT).correct
    wrong = moe().check("y", FLIPPED)
    assert wrong.verdict == "wrong"
    assert wrong.expected == "t*(1 - y)*(2*log(y) - (1 - y)/y)"  # t*(1 - y) taken out: shorter
    assert moe().check("y", wrong.expected).correct  # itself a claim the verifier accepts


def test_the_counterexample_shows_what_the_claim_and_the_answer_read():
    """Was all 47 inputs, parameters and targets of the point; the claim and the answer read t_1
    and y_1 (computed), which are what a student can check by hand.  The point keeps them all."""
    wrong = moe().check("y", FLIPPED)
    assert len(wrong.point) == 47
    assert wrong.read == {"t_1": "0.36", "y_1": "0.1168339639"}
    assert (
        "  counterexample: t_1 = 0.36, y_1 = 0.1168339639; 46 other inputs, parameters and targets not shown "
        "(--json lists every one)\n"
    ) in str(wrong)


def test_a_flipped_sign_of_one_term_is_named():
    """Was no diagnosis at all: the exact diagnosis matches factors of a product, and this claim
    is a sum; the tensor reader's edits (``right_after_edit``) find the sign."""
    wrong = moe().check("y", FLIPPED)
    assert wrong.diagnosis == [
        "at sizes W1 3x4, b1 3, W2 3x4, b2 3, Wg 2x4, bg 2, element [0] (y_1) differs",
        f"with -t * (1 - y)**2 / y + 2 * t * (1 - y) * log(y) in place of {FLIPPED} your claim is right: a sign error",
    ]


def test_a_flipped_sign_in_a_claim_about_one_element_is_named():
    claim = "-t_1*(1-y_1)**2/y_1 - 2*t_1*(1-y_1)*log(y_1)"
    wrong = moe().check("y_1", claim)
    assert wrong.verdict == "wrong"
    assert wrong.expected == "t_1*(1 - y_1)*(2*log(y_1) - (1 - y_1)/y_1)"
    assert wrong.diagnosis == [
        f"with -t_1*(1-y_1)**2/y_1 + 2*t_1*(1-y_1)*log(y_1) in place of {claim} your claim is right: a sign error"
    ]
