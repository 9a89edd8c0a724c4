"""Work of unrolled steps done for all the steps at once in the module (``emit.numpy.stacking``):
a weight's products with slices of one tensor known before the loop as one product, and the
adjoint of a tensor taken apart in slices as one stack.  The derivation is unchanged; the
module must agree with autograd and central differences, and keep every other product per step."""

from __future__ import annotations

import re

from backend_strategies import check_backends
from conftest import EXAMPLES, emit_module
from reference import check_module_against_references

import symprop
from symprop.emit.numpy import module_source

#: W takes rows 0, 2 and 3 of s (a list), Q rows 2 and 3 of x (a slice), V row 4 twice (one row),
#: U the recurrent state (never stacked: h2 is computed after the first U h1); s needs a gradient
#: and rows 1 and 4 of it none.
SPEC = {
    "name": "stacked_mixed",
    "inputs": {"x": [5, 3]},
    "targets": {"t": 2},
    "params": {"A": [5, 3], "W": [4, 3], "Q": [4, 3], "V": [4, 3], "U": [4, 4], "R": [2, 4]},
    "nodes": {
        "s": "tanh(x + A)",
        "h1": "tanh(W @ s[0] + V @ x[4])",
        "h2": "tanh(W @ s[2] + U @ h1 + Q @ x[2] + V @ x[4])",
        "h3": "tanh(W @ s[3] + U @ h2 + Q @ x[3])",
        "y": "R @ h3",
    },
    "loss": "half_sse(y, t)",
}


def _loss_and_grad(source: str) -> str:
    return source[source.index("def loss_and_grad") :]


def test_stacked_products_and_slot_adjoints_agree_with_autograd(tmp_path):
    check_module_against_references(SPEC, emit_module(SPEC, tmp_path))


def test_each_weight_multiplies_its_slices_in_one_product():
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(SPEC, source="<test>"))))
    assert "_W_s = S[:, [0, 2, 3]].swapaxes(0, 1) @ W.T" in body
    assert "_Q_x = X[:, 2:4].swapaxes(0, 1) @ Q.T" in body
    assert "_V_" not in body  # x[4] taken twice: one row, nothing to stack
    assert "_U_" not in body  # the recurrence stays step by step
    assert "np.dot(H1, U.T)" in body
    # W's gradient from the three steps in one product, after the last of them
    assert body.count("    dW = ") == 1 and "dW = dW + " not in body
    # the steps' adjoints under the names they were written as (dE/dh1_b is dE/dh1_e: no copy line)
    assert "dH1_b" not in body
    assert "dW = np.dot(np.concatenate([dH1_e, dH2_j, dH3_g], axis=1).reshape(-1, 4).T, S[:, [0, 2, 3]].reshape(-1, 3))" in body
    assert "dQ = np.dot(np.concatenate([dH2_j, dH3_g], axis=1).reshape(-1, 4).T, X[:, 2:4].reshape(-1, 3))" in body
    assert "dV += np.dot(dH1_e.T, H1_c)" in body  # V's products were not stacked (dE/dh1_d is dE/dh1_e)
    # s's adjoint in one stack (a concatenation, reshaped), zeros in the rows no slice took; no _unindex.
    slots = "dH1_a, np.zeros_like(dH1_a), dH2_a, dH3_a, np.zeros_like(dH1_a)"
    assert f"dS = np.concatenate([{slots}], axis=1).reshape(-1, 5, 3)" in body
    assert "_unindex" not in body


def test_recurrent_examples_stack_what_the_math_allows():
    def body(name):
        return _loss_and_grad(module_source(symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml"))))

    lstm = body("lstm")
    for gate in "ifog":
        assert lstm.count(f"_W{gate}_x = X") == 1
        assert f"np.dot(X[:, 1], W{gate}.T)" not in lstm
        # the steps' adjoints stacked once, read by the weight's gradient and by the bias's
        assert lstm.count(f"    _dW{gate}_x = np.concatenate([") == 1
        assert lstm.count(f"    dW{gate} = np.dot(_dW{gate}_x.T, X") == 1 and f"dW{gate} = dW{gate} + " not in lstm
        # the bias shared by the steps: one sum over the batch of all the steps' adjoints
        assert lstm.count(f"    db{gate} = _batch_sum(_dW{gate}_x)") == 1 and f"db{gate} = db{gate} + " not in lstm
    gru = body("embedding_gru")
    # the embedding's 50 rows projected by the gate's weight, then picked (Gather.numpy_row_products)
    assert all(f"_W{gate}_e = (Emb @ W{gate}.T + b{gate}).take(Ids.T, axis=0)" in gru for gate in "zn")
    assert "_Wr_e = (Emb @ Wr.T + br).take(Ids[:, 1:6].T, axis=0)" in gru  # r from the second token on
    assert "E_ = Emb.take(Ids, axis=0)" in gru
    # e is read only by the gates' input products: its adjoint is one product per product, from the
    # stacks of the weights' gradients (r's into the rows of tokens 1..5), not one a gate a step
    assert "_unindex" not in gru and "dE_ = np.concatenate(" not in gru
    assert "dE_ = (np.dot(_dWn_e, Wn) + np.dot(_dWz_e, Wz)).reshape(-1, 6, 12)" in gru
    assert "np.add(dE_[:, 1:6], np.dot(_dWr_e, Wr).reshape(-1, 5, 12), out=dE_[:, 1:6])" in gru
    assert "np.dot(dR2_e, Wr)" not in gru and "np.dot(dZ2_e, Wz)" not in gru
    # Separate inputs x1, ..., x5: stacking them costs a copy the one product does not win back.
    assert "swapaxes" not in body("elman_rnn")
    # No line only copies an adjoint under another name for the stacked product (dI2_b = dI2_e):
    # the product reads dI2_e itself (a regression: 40 such lines in the LSTM, 0.2 us each).
    for text in (lstm, gru):
        assert not re.search(r"^ +d\w+ = d\w+  #", text, re.MULTILINE)


#: Teacher forcing: the steps read the targets, so their products belong to the loss's lines.
FORCED = {
    "name": "stacked_forced",
    "inputs": {"x": 3},
    "targets": {"t": [3, 2]},
    "params": {"W": [4, 2], "U": [4, 4], "V": [4, 3], "R": [2, 4]},
    "nodes": {
        "a": "tanh(V @ x)",
        "h1": "tanh(a + W @ t[0])",
        "h2": "tanh(W @ t[1] + U @ h1)",
        "y": "R @ h2",
    },
    "loss": "half_sse(y, t[2])",
}


def test_products_of_targets_stay_per_step(tmp_path):
    module = emit_module(FORCED, tmp_path)
    check_module_against_references(FORCED, module)
    assert "swapaxes" not in _loss_and_grad(module_source(symprop.derive(symprop.from_dict(FORCED, source="<test>"))))


def _bias_spec(name: str, second: str, output: str) -> dict:
    """An RNN of three steps whose steps add the bias b in the dense node (h1) or in a sum above
    it (h2, h3); ``second``: a2, the sum of step 2 before its bias; ``output``: y."""
    return {
        "name": name,
        "inputs": {"x": [3, 2]},
        "targets": {"t": 2},
        "params": {"W": [4, 2], "U": [4, 4], "b": [4], "R": [2, 4]},
        "nodes": {
            "h1": "tanh(W @ x[0] + b)",
            "a2": second,
            "h2": "tanh(a2 + b)",
            "h3": "tanh(W @ x[2] + U @ h2 + b)",
            "y": output,
        },
        "loss": "half_sse(y, t)",
    }


#: Every step's W x[k] reaches b through sums nothing else reads: the product adds b once.
FOLDED = _bias_spec("stacked_bias", "W @ x[1] + U @ h1", "R @ h3")
#: a2 = W x[1] + U h1 is read by y too: it must not hold b, so no step's bias is folded.
NOT_FOLDED = _bias_spec("stacked_bias_read", "W @ x[1] + U @ h1", "R @ (h3 + a2)")


def test_a_bias_every_step_adds_is_added_once_by_the_product(tmp_path):
    check_module_against_references(FOLDED, emit_module(FOLDED, tmp_path))
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(FOLDED, source="<test>"))))
    assert "_W_x = X.swapaxes(0, 1) @ W.T + b" in body
    assert "H1 = np.tanh(_W_x[0])" in body and "H3 = np.tanh(_W_x[2] + np.dot(H2, U.T))" in body
    code = [line.split("  #")[0] for line in body[: body.index("def sgd_step")].splitlines() if "#" not in line.split("=")[0]]
    assert sum(line.count(" + b") for line in code) == 1  # the steps leave it out
    assert body.count("    db = _batch_sum(_dW_x)") == 1  # its gradient: one sum of the steps' (stacked for dW)


def test_a_bias_is_not_folded_when_a_value_on_the_way_is_read(tmp_path):
    check_module_against_references(NOT_FOLDED, emit_module(NOT_FOLDED, tmp_path))
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(NOT_FOLDED, source="<test>"))))
    assert "_W_x = X.swapaxes(0, 1) @ W.T\n" in body or "_W_x = X.swapaxes(0, 1) @ W.T  #" in body
    assert "H1 = np.tanh(_W_x[0] + b)" in body


#: One sum reached by two members (W x[0] + W x[1] + b; W x[0] + Q x[1] + b): it adds b once.
#: Folded into both rows, b was added twice to h1 and its gradient counted dE/dh1 twice (the
#: module's loss 0.714 against autograd's 0.773, no error).
SHARED_SUM = _bias_spec("stacked_bias_shared", "W @ x[0] + W @ x[1] + U @ h1", "R @ h3")
TWO_PRODUCTS = {
    "name": "stacked_bias_two_products",
    "inputs": {"x": [3, 2]},
    "targets": {"t": 2},
    "params": {"W": [4, 2], "Q": [4, 2], "U": [4, 4], "b": [4], "R": [2, 4]},
    "nodes": {"h1": "tanh(W @ x[0] + Q @ x[1] + b)", "h2": "tanh(W @ x[1] + Q @ x[2] + U @ h1 + b)", "y": "R @ h2"},
    "loss": "half_sse(y, t)",
}


def test_a_sum_two_members_reach_keeps_its_bias(tmp_path):
    for spec in (SHARED_SUM, TWO_PRODUCTS):
        check_module_against_references(spec, emit_module(spec, tmp_path))
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(SHARED_SUM, source="<test>"))))
    assert "@ W.T + b" not in body


#: b twice in one step (z1 = W x[0] + b, h1 = tanh(z1 + b)): dE/db gets dE/dh1_a twice. The one
#: sum of the bias's adjoints read the stack of the steps' adjoints (which holds dE/dh1_a once):
#: dE/db lost one dE/dh1_a, with the loss right.
BIAS_TWICE = {
    "name": "stacked_bias_twice",
    "inputs": {"x": [3, 2]},
    "targets": {"t": 2},
    "params": {"W": [4, 2], "U": [4, 4], "b": [4], "R": [2, 4]},
    "nodes": {"z1": "W @ x[0] + b", "h1": "tanh(z1 + b)", "h2": "tanh(W @ x[1] + U @ h1 + b)", "y": "R @ h2"},
    "loss": "half_sse(y, t)",
}


def test_a_bias_added_twice_in_a_step_gets_both_adjoints(tmp_path):
    check_module_against_references(BIAS_TWICE, emit_module(BIAS_TWICE, tmp_path))
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(BIAS_TWICE, source="<test>"))))
    assert "db = _batch_sum(_dW_x)" not in body


#: One step reads two rows of s (W s[0] + W s[1]): the stack of the steps' adjoints (named: s's
#: adjoint reads it) holds dE/dh1_a twice, and the bias's gradient (not folded: one sum reaches
#: both) is dE/dh1_a + dE/dh2_a, each once. It summed the stack, found by its set of adjoints.
STACKED_TWICE = {
    "name": "stacked_adjoint_twice",
    "inputs": {"x": [3, 2]},
    "targets": {"t": 2},
    "params": {"A": [3, 2], "W": [4, 2], "U": [4, 4], "b": [4], "R": [2, 4]},
    "nodes": {
        "s": "tanh(x * A)",
        "h1": "tanh(W @ s[0] + W @ s[1] + b)",
        "h2": "tanh(W @ s[2] + U @ h1 + b)",
        "y": "R @ h2",
    },
    "loss": "half_sse(y, t)",
}


def test_a_stack_holding_one_adjoint_twice_is_not_a_bias_gradient(tmp_path):
    check_module_against_references(STACKED_TWICE, emit_module(STACKED_TWICE, tmp_path))
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(STACKED_TWICE, source="<test>"))))
    assert "_dW_s = np.concatenate([" in body and "db = _batch_sum(_dW_s)" not in body


def _source_spec(name: str, output: str, extra: dict) -> dict:
    """s (which needs a gradient) read in slices by W (every row) and Q (rows 1..3); ``output``: y
    (reading the parameters ``extra`` too)."""
    return {
        "name": name,
        "inputs": {"x": [4, 3]},
        "targets": {"t": 2},
        "params": {"A": [4, 3], "W": [4, 3], "Q": [4, 3], "U": [4, 4], "R": [2, 4], **extra},
        "nodes": {
            "s": "tanh(x + A)",
            "h1": "tanh(W @ s[0])",
            "h2": "tanh(W @ s[1] + U @ h1 + Q @ s[1])",
            "h3": "tanh(W @ s[2] + U @ h2 + Q @ s[2])",
            "h4": "tanh(W @ s[3] + U @ h3 + Q @ s[3])",
            "y": output,
        },
        "loss": "half_sse(y, t)",
    }


#: s[3] is also read by P alone (not a product of several steps): s's adjoint is one stack of slots.
NOT_THROUGH = _source_spec("stacked_source_read", "R @ h4 + P @ s[3]", {"P": [2, 3]})
#: W takes rows 1 and 2 of s, Q rows 2 and 3; row 0 none.
PARTIAL = {
    "name": "stacked_source_partial",
    "inputs": {"x": [4, 3]},
    "targets": {"t": 2},
    "params": {"A": [4, 3], "W": [4, 3], "Q": [4, 3], "U": [4, 4], "R": [2, 4]},
    "nodes": {
        "s": "tanh(x + A)",
        "h1": "tanh(W @ s[1] + Q @ s[2])",
        "h2": "tanh(W @ s[2] + U @ h1 + Q @ s[3])",
        "y": "R @ h2",
    },
    "loss": "half_sse(y, t)",
}


def test_a_tensor_read_only_by_input_products_gets_its_adjoint_from_their_stacks(tmp_path):
    spec = _source_spec("stacked_source", "R @ h4", {})
    check_module_against_references(spec, emit_module(spec, tmp_path))
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(spec, source="<test>"))))
    assert "_dW_s = np.concatenate([" in body and "_dQ_s = np.concatenate([" in body
    assert "dS = np.dot(_dW_s, W).reshape(-1, 4, 3)" in body
    assert "np.add(dS[:, 1:4], np.dot(_dQ_s, Q).reshape(-1, 3, 3), out=dS[:, 1:4])" in body
    assert "np.dot(dH2_f, Q)" not in body and "dS = np.concatenate(" not in body


def test_a_tensor_also_read_otherwise_keeps_its_stack_of_slots(tmp_path):
    check_module_against_references(NOT_THROUGH, emit_module(NOT_THROUGH, tmp_path))
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(NOT_THROUGH, source="<test>"))))
    assert "dS = np.concatenate(" in body and "_dW_s" not in body


def test_input_products_of_some_rows_add_into_zeros(tmp_path):
    check_module_against_references(PARTIAL, emit_module(PARTIAL, tmp_path))
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(PARTIAL, source="<test>"))))
    assert "dS = np.zeros_like(S)" in body
    assert "np.add(dS[:, 1:3], np.dot(_dW_s, W).reshape(-1, 2, 3), out=dS[:, 1:3])" in body
    assert "np.add(dS[:, 2:4], np.dot(_dQ_s, Q).reshape(-1, 2, 3), out=dS[:, 2:4])" in body


def _embedded(name: str, rows: int) -> dict:
    """An RNN of three steps over embedded tokens, with a table of ``rows`` rows."""
    return {
        "name": name,
        "inputs": {"ids": {"shape": [3], "dtype": "int", "range": rows}},
        "targets": {"t": 2},
        "params": {"Emb": [rows, 3], "W": [4, 3], "U": [4, 4], "b": [4], "R": [2, 4]},
        "nodes": {
            "e": "Emb[ids]",
            "h1": "tanh(W @ e[0] + b)",
            "h2": "tanh(W @ e[1] + U @ h1 + b)",
            "h3": "tanh(W @ e[2] + U @ h2 + b)",
            "y": "R @ h3",
        },
        "loss": "half_sse(y, t)",
    }


def test_a_small_table_is_projected_before_its_rows_are_picked(tmp_path):
    small, large = _embedded("embedded_small", 192), _embedded("embedded_large", 193)
    check_module_against_references(small, emit_module(small, tmp_path))
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(small, source="<test>"))))
    assert "_W_e = (Emb @ W.T + b).take(Ids.T, axis=0)" in body
    assert "dEmb = _gather_adjoint(dE_, Ids, Emb)" in body and "dE_ = np.dot(_dW_e, W).reshape(-1, 3, 3)" in body
    # more rows than 64 a step: projecting the table would cost more than the rows looked up at batch 64
    body = _loss_and_grad(module_source(symprop.derive(symprop.from_dict(large, source="<test>"))))
    assert "_W_e = E_.swapaxes(0, 1) @ W.T + b" in body


#: W takes rows 0 and 2 of x: the NumPy module picks them by a list, X[:, [0, 2]], which the array
#: API standard (array-api-strict: IndexError) and Numba (a TypingError) cannot index by: their
#: modules crashed on the first call; they keep one product a step.
LISTED_ROWS = {
    "name": "stacked_listed_rows",
    "inputs": {"x": [4, 3]},
    "targets": {"t": 2},
    "params": {"W": [2, 3], "U": [2, 2], "b": [2], "R": [2, 2]},
    "nodes": {"h1": "tanh(W @ x[0] + b)", "h2": "tanh(W @ x[2] + U @ h1 + b)", "y": "R @ h2"},
    "loss": "half_sse(y, t)",
}


def test_rows_picked_by_a_list_stay_per_step_where_no_list_indexes(tmp_path):
    derivation = symprop.derive(symprop.from_dict(LISTED_ROWS, source="<test>"))
    assert "X[:, [0, 2]].swapaxes(0, 1)" in module_source(derivation)
    assert "[0, 2]]" not in derivation.write_module(tmp_path / "source", backend="array-api").read_text()
    assert check_backends(LISTED_ROWS, tmp_path, ("array-api",)) == []
    # the numba module's compiled function (not run here: compiling it takes a minute)
    numba = derivation.write_module(tmp_path / "numba", backend="numba").read_text()
    assert "[0, 2]]" not in numba[numba.index("def _loss_and_grad(") :]


#: One bias added to a sequence of 2 and one of 3 rows, each sum read twice (its adjoint an array):
#: the one sum of the bias's adjoints concatenated (batch, 3, 4) and (batch, 2, 4), a ValueError
#: on the first call of the module. They stay two sums.
TWO_LENGTHS = {
    "name": "bias_two_lengths",
    "inputs": {"x1": [2, 4], "x2": [3, 4]},
    "params": {"b": [4], "W": [4, 4]},
    "nodes": {"a1": "x1 @ W + b", "h1": "tanh(a1) * sin(a1)", "a2": "x2 @ W + b", "h2": "tanh(a2) * sin(a2)"},
    "loss": "sum(h1 ** 2) + sum(h2 ** 2)",
}


def test_a_bias_of_sequences_of_two_lengths_gets_two_sums(tmp_path):
    check_module_against_references(TWO_LENGTHS, emit_module(TWO_LENGTHS, tmp_path))
