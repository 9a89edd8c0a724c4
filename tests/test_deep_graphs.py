"""Deep networks are built without recursion on their depth: a graph spec unrolled over
hundreds of steps, its nodes defined before or after their use, and a stack of 300 layers
derive and emit (and the graphs pass the gradient check) (the graph reader used to recurse once per node
used before its definition: RecursionError at about 200 steps)."""

from __future__ import annotations

import pytest

import symprop
from symprop.check import check_module, load_module

STEPS = 300
HEAD = "inputs: {x: 3}\ntargets: {t: 3}\nparams: {W: [3, 3], b: [3]}\n"

FORWARD = (
    f"name: chain\n{HEAD}nodes:\n  h1: tanh(W @ x + b)\n"
    f'  h{{k}}: {{for: k in 2..{STEPS}, value: "tanh(W @ h{{k-1}} + b)"}}\nloss: half_sse(h{STEPS}, t)\n'
)
#: The same chain written the other way round: every node uses one defined after it.
BACKWARD = (
    f'name: chain\n{HEAD}nodes:\n  h{{k}}: {{for: k in 1..{STEPS - 1}, value: "tanh(W @ h{{k+1}} + b)"}}\n'
    f"  h{STEPS}: tanh(W @ x + b)\nloss: half_sse(h1, t)\noutput: h1\n"
)
LAYERS = "name: chain\ninput: 2\nlayers:\n" + "  - {units: 2, activation: tanh}\n" * STEPS + "loss: mse\n"


@pytest.mark.parametrize("text", [FORWARD, BACKWARD], ids=["defined_before_use", "used_before_definition"])
def test_an_unrolled_graph_of_300_steps_derives_emits_and_checks(tmp_path, text):
    derivation = symprop.derive(_load(tmp_path, text))
    assert check_module(derivation.write_numpy(tmp_path)).passed


def test_both_orders_give_the_same_ops(tmp_path):
    ops = [sorted(str(node.op) for node in _load(tmp_path, text).graph_nodes) for text in (FORWARD, BACKWARD)]
    assert ops[0] == ops[1]


def test_a_stack_of_300_layers_derives_and_emits(tmp_path):
    module = load_module(symprop.derive(_load(tmp_path, LAYERS)).write_numpy(tmp_path))
    assert callable(module.forward) and callable(module.backward)


def _load(tmp_path, text):
    spec = tmp_path / "chain.yaml"
    spec.write_text(text)
    return symprop.load(spec)


def _rnn(steps: int) -> str:
    """The new user's RNN: one input tensor sliced by step, so the module stacks its products."""
    return (
        f"name: rnn\ninputs: {{X: [{steps}, 3]}}\ntargets: {{t: 2}}\n"
        "params: {Wx: [8, 3], Wh: [8, 8], bh: [8], Wy: [2, 8], by: [2]}\n"
        "nodes:\n  h1: tanh(Wx @ X[0] + bh)\n"
        f'  h{{k}}: {{for: k in 2..{steps}, value: "tanh(Wx @ X[{{k-1}}] + Wh @ h{{k-1}} + bh)"}}\n'
        f"  y: Wy @ h{steps} + by\nloss: half_sse(y, t)\n"
    )


def test_the_module_of_an_unrolled_rnn_looks_for_waiting_adjoints_in_linear_work(tmp_path, monkeypatch):
    """Regression: the fusion looked for every waiting adjoint in every line, and the stacked
    products keep one waiting a step (derive --emit numpy: 43 s at 800 steps, 109 s at 1000).
    Counted, not timed: the names looked for grow with the steps, not with their square."""
    from symprop.emit.numpy import fusion

    looked_for = []
    named = fusion._named
    monkeypatch.setattr(fusion, "_named", lambda name: looked_for.append(name) or named(name))
    counts = []
    for steps in (40, 160):
        looked_for.clear()
        symprop.derive(_load(tmp_path, _rnn(steps))).numpy_source()
        counts.append(len(looked_for))
    assert counts[1] <= 4.5 * counts[0], counts
