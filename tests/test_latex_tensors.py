"""The handout of tensor graphs: index notation for tensors of any rank, the block diagram of
the spec's nodes, and handouts that stay bounded for wide, deep and long unrolled networks."""

from __future__ import annotations

import pytest
from conftest import needs_tex

import symprop
from symprop.emit.latex import compile_pdf, latex_source
from symprop.emit.latex.handout import Handout
from symprop.emit.latex.limits import BACKWARD_MAX_STEPS, FIGURE_MAX_COLUMNS
from symprop.emit.latex.notation import index_letters, subscript


def handout(spec: dict) -> Handout:
    return Handout(symprop.derive(symprop.from_dict({"name": "t", **spec}, source="<test>")))


def step_forms(h: Handout, source: str, target: str) -> tuple[str, str, str, list[str]]:
    """(element form, array form, remark, NumPy lines) of the step from ``source`` back to ``target``."""
    i, step = next((i, s) for i, s in enumerate(h.d.steps) if s.source == source and s.target == target)
    return (*h.step_math(step), [line.code for line in h.numpy_lines[i]])


def attention(t: int = 4, d: int = 6) -> dict:
    """One head of causal self-attention, the softmax's input a node of its own (s)."""
    return {
        "inputs": {"X": [t, d]},
        "targets": {"y_true": [t, d]},
        "params": {"Wq": [d, d], "Wk": [d, d], "Wv": [d, d]},
        "nodes": {
            "q": "X @ Wq",
            "k": "X @ Wk",
            "v": "X @ Wv",
            "s": f"where(tril({t}), q @ k.T / sqrt({d}), -1e9)",
            "p": "softmax(s, axis=-1)",
            "h": "X + p @ v",
        },
        "loss": "mse(h, y_true)",
    }


def lstm(steps: int, features: int = 3, hidden: int = 4) -> dict:
    """An LSTM cell unrolled over ``steps`` steps of a sequence x, read out from the last state."""
    nodes = {  # h0 = c0 = 0: the first step has no recurrent terms and no forget gate
        "i1": "sigmoid(Wi @ x[0] + bi)",
        "o1": "sigmoid(Wo @ x[0] + bo)",
        "g1": "tanh(Wg @ x[0] + bg)",
        "c1": "i1 * g1",
        "h1": "o1 * tanh(c1)",
    }
    for g, f in (("i", "sigmoid"), ("f", "sigmoid"), ("o", "sigmoid"), ("g", "tanh")):
        nodes[g + "{k}"] = {"for": f"k in 2..{steps}", "value": f"{f}(W{g} @ x[{{k-1}}] + U{g} @ h{{k-1}} + b{g})"}
    nodes["c{k}"] = {"for": f"k in 2..{steps}", "value": "f{k} * c{k-1} + i{k} * g{k}"}
    nodes["h{k}"] = {"for": f"k in 2..{steps}", "value": "o{k} * tanh(c{k})"}
    nodes["y"] = f"Wy @ h{steps} + by"
    params = {"Wy": [2, hidden], "by": [2]}
    for g in "ifog":
        params |= {f"W{g}": [hidden, features], f"U{g}": [hidden, hidden], f"b{g}": [hidden]}
    return {"inputs": {"x": [steps, features]}, "targets": {"t": 2}, "params": params, "nodes": nodes, "loss": "half_sse(y, t)"}


# -- index notation ------------------------------------------------------------------------


def test_index_letters_and_subscripts():
    assert [index_letters((2,) * rank) for rank in range(7)] == ["", "j", "jk", "ijk", "ijkl", "ijklm", "ijklmn"]
    assert index_letters((2, 3, 4), avoid="j") == "ikl"
    assert subscript("jk") == "jk" and subscript("jk'") == "jk'" and subscript("12") == "12"
    assert subscript("ijk") == "i,j,k" and subscript(["j", "3 + k"]) == "j,3 + k" and subscript(["10", "k"]) == "10,k"


def test_the_row_softmax_of_attention_in_index_notation():
    element, vector, note, code = step_forms(handout(attention()), "p", "s")
    assert element == (
        r"\frac{\partial E}{\partial s_{jk}} = p_{jk} \Bigl(\frac{\partial E}{\partial p_{jk}} - "
        r"\sum_{k'} \frac{\partial E}{\partial p_{jk'}} \, p_{jk'}\Bigr)"
    )
    assert vector == ""  # no array form: the element form is the rule
    assert r"\partial p_{jk'} / \partial s_{jk} = p_{jk'} ([k' = k] - p_{jk})" in note
    # along its index: "along axis 2" (counted from 1) read as the spec's axis=2, which counts from 0
    assert note.startswith("from the softmax Jacobian along $k$, ") and "axis" not in note
    assert code == ["dS = P * (dP - _row_sum(dP * P))"]  # the row sums by BLAS (printing.EXTRA_HELPERS)


def test_a_softmax_over_heads_lists_its_indices_with_commas():
    spec = {
        "inputs": {"x": [2, 3, 4]},
        "targets": {"t": [2, 3, 4]},
        "params": {"w": [4]},
        "nodes": {"p": "softmax(w * x, axis=-1)"},
        "loss": "half_sse(p, t)",
    }
    h = handout(spec)
    element = step_forms(h, "p", "p_a")[0]
    assert element.startswith(r"\frac{\partial E}{\partial (p_{\mathrm{a}})_{i,j,k}} = p_{i,j,k} \Bigl(")
    assert r"\sum_{k'} \frac{\partial E}{\partial p_{i,j,k'}} \, p_{i,j,k'}" in element
    assert r"p_{i,j,k} &= \frac{e^{(p_{\mathrm{a}})_{i,j,k}}}{\sum_{k'} e^{(p_{\mathrm{a}})_{i,j,k'}}}" in h.forward_equation(
        h.graph.nodes["p"]
    )


def test_the_einsum_adjoint_is_an_index_sum():
    spec = {
        "inputs": {"x": [2, 3]},
        "targets": {"t": [2]},
        "params": {"A": [3, 2], "v": [2], "B": [2, 3]},
        "nodes": {"y": 'einsum("ij,jk,k->i", x, A, v) + einsum("ij->i", B)'},
        "loss": "half_sse(y, t)",
    }
    h = handout(spec)
    element, vector, _, code = step_forms(h, "y_a", "A")
    ya = r"(y_{\mathrm{a}})_{i}"
    dya = rf"\frac{{\partial E}}{{\partial {ya}}}"
    assert element == rf"\frac{{\partial E}}{{\partial A_{{jk}}}} = \sum_{{i}} {dya} \, x_{{ij}} \, v_{{k}}"
    assert vector == "" and code == ['dA = np.einsum("ni,nij,k->jk", dY_a, X, v, optimize=True)']
    assert step_forms(h, "y_a", "v")[0].endswith(rf"= \sum_{{i,j}} {dya} \, x_{{ij}} \, A_{{jk}}")
    element, _, note, _ = step_forms(h, "y_b", "B")  # j was summed: the adjoint is spread along it
    assert element == r"\frac{\partial E}{\partial B_{ij}} = \frac{\partial E}{\partial (y_{\mathrm{b}})_{i}}"
    assert "the same for every $j$" in note


@pytest.mark.parametrize(
    "node, source, target, element",
    [
        (
            "reshape(x, [2, 3])",
            "y_a",
            "x",
            r"\frac{\partial E}{\partial x_{3(i-1) + j}} = \frac{\partial E}{\partial (y_{\mathrm{a}})_{ij}}",
        ),
        (
            "transpose(reshape(x, [1, 2, 3]), (2, 0, 1))",
            "y_b",
            "y_a",
            r"\frac{\partial E}{\partial (y_{\mathrm{a}})_{i,j,k}} = \frac{\partial E}{\partial (y_{\mathrm{b}})_{k,i,j}}",
        ),
        (
            "reshape(x, [2, 3])[:, 1:3]",
            "y_b",
            "y_a",
            r"\frac{\partial E}{\partial (y_{\mathrm{a}})_{j,k+1}} = \frac{\partial E}{\partial (y_{\mathrm{b}})_{jk}}",
        ),
    ],
)
def test_moves_say_where_each_element_goes(node, source, target, element):
    spec = {"inputs": {"u": []}, "targets": {"t": []}, "params": {"x": [6]}, "nodes": {"y": f"sum(u * {node})"},
            "loss": "half_sse(y, t)"}
    assert step_forms(handout(spec), source, target)[0] == element


def test_the_lookup_sends_each_row_its_adjoints():
    spec = {
        "inputs": {"ids": {"shape": [3], "dtype": "int", "range": 5}},
        "targets": {"t": [3, 2]},
        "params": {"Emb": [5, 2]},
        "nodes": {"e": "Emb[ids]"},
        "loss": "half_sse(e, t)",
    }
    h = handout(spec)
    assert step_forms(h, "e", "Emb")[0] == (
        r"\frac{\partial E}{\partial \mathrm{Emb}_{vk}} = \sum_{j} [\mathrm{ids}_{j} = v] \, \frac{\partial E}{\partial e_{jk}}"
    )
    assert h.op_definition(h.graph.nodes["e"]) == r"\Bigl[\mathrm{Emb}_{\mathrm{ids}_{j},k}\Bigr]_{jk}"


def test_a_broadcast_bias_is_summed_in_its_gradient():
    h = handout(attention() | {"params": {"Wq": [6, 6], "Wk": [6, 6], "Wv": [6, 6], "b": [6]},
                               "nodes": {**attention()["nodes"], "h": "X + p @ v + b"}})
    element, vector, note, _ = step_forms(h, "h", "b")
    assert r"\frac{\partial E}{\partial b_{k}} = \sum_{j}" in element
    assert vector == "" and "summed over the index $j$" in note  # dE/db = dE/dh would be wrong


# -- the figure ----------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [10, 60])
def test_the_lstm_figure_stays_small_however_long_the_sequence(steps):
    figure = handout(lstm(steps)).graph_figure()
    assert figure["kind"] == "diagram"
    assert len(figure["nodes"]) <= 20  # steps 1, 2 and the last (5 + 6 + 6 nodes), y, E and t
    xs = [float(n["x"]) for n in figure["nodes"]]
    assert max(xs) - min(xs) <= 2.2 * FIGURE_MAX_COLUMNS  # cm, before it is scaled to the page
    assert figure["gap"] is not None and f"steps 3 to {steps - 1}" in figure["gap"]["text"]
    assert f"steps 1, 2 and {steps} of {steps}" in figure["steps"]
    shapes = {n["label"]: n["shape"] for n in figure["nodes"]}
    assert shapes[r"c_{2}"] == "4" and shapes["E"] == r"\text{scalar}"


#: A new user's GRU cell: its gates read four parameters each, written in their boxes, and the
#: boxes of neighbouring columns touched (z2 ran into n2, an arrowhead sat on n2's name).
GRU3 = {
    "name": "gru3",
    "inputs": {"x{k}": {"for": "k in 1..3", "value": 4}},
    "targets": {"t": 3},
    "params": {**{f"{m}{g}": [5, 4] if m == "W" else [5, 5] for m in "WU" for g in "zrh"}, "bz": [5], "br": [5], "bh": [5],
               "Wy": [3, 5], "by": [3]},
    "nodes": {
        "h1": "(1 - sigmoid(Wz @ x1 + bz)) * tanh(Wh @ x1 + bh)",
        "z{k}": {"for": "k in 2..3", "value": "sigmoid(Wz @ x{k} + Uz @ h{k-1} + bz)"},
        "r{k}": {"for": "k in 2..3", "value": "sigmoid(Wr @ x{k} + Ur @ h{k-1} + br)"},
        "n{k}": {"for": "k in 2..3", "value": "tanh(Wh @ x{k} + Uh @ (r{k} * h{k-1}) + bh)"},
        "h{k}": {"for": "k in 2..3", "value": "(1 - z{k}) * n{k} + z{k} * h{k-1}"},
        "y": "softmax(Wy @ h3 + by)",
    },
    "loss": "cross_entropy(y, t)",
}  # fmt: skip


def test_boxes_of_neighbouring_columns_leave_room_for_the_arrows():
    """Widths as the handout's PDF shows them: 0.41 cm a name written in a box, at least 11 mm."""
    nodes = handout(GRU3).graph_figure()["nodes"]
    width = {n["name"]: max(1.1, 0.41 * (n["reads"].count(",") + 1 if n["reads"] else 0)) for n in nodes}
    columns = sorted({float(n["x"]) for n in nodes})
    for left, right in zip(columns, columns[1:]):
        widest = [max(width[n["name"]] for n in nodes if float(n["x"]) == x) for x in (left, right)]
        assert right - left >= sum(widest) / 2 + 0.5, (left, right, widest)


#: A new user's 4-step GRU: its figure was wider than the page and left out "3 more nodes", which
#: ones it did not say (the handout shows all four steps, being under 6).
GRU4 = {
    "name": "gru4",
    "inputs": {"x{k}": {"for": "k in 1..4", "value": 3}},
    "targets": {"t": 2},
    "params": {"Wz": [5, 3], "Uz": [5, 5], "bz": [5], "Wn": [5, 3], "Un": [5, 5], "bn": [5], "Wh": [5, 3],
               "Wy": [2, 5], "by": [2]},
    "nodes": {
        "h1": "tanh(Wh @ x1)",
        "z{k}": {"for": "k in 2..4", "value": "sigmoid(Wz @ x{k} + Uz @ h{k-1} + bz)"},
        "n{k}": {"for": "k in 2..4", "value": "tanh(Wn @ x{k} + Un @ (z{k} * h{k-1}) + bn)"},
        "h{k}": {"for": "k in 2..4", "value": "(1 - z{k}) * h{k-1} + z{k} * n{k}"},
        "y": "Wy @ h4 + by",
    },
    "loss": "half_sse(y, t)",
}  # fmt: skip


def test_a_figure_too_wide_for_the_page_leaves_out_whole_steps_and_says_which():
    figure = handout(GRU4).graph_figure()
    labels = {n["label"] for n in figure["nodes"]}
    assert {"h_{1}", "z_{2}", "n_{2}", "h_{2}", "z_{4}", "n_{4}", "h_{4}"} <= labels
    assert not labels & {"z_{3}", "n_{3}", "h_{3}"}  # step 3, whole
    assert figure["gap"]["text"] == "step 3, as step 2"
    assert figure["steps"] == "The figure shows steps 1, 2 and 4 of 4; step 3 computes what step 2 does."
    xs = [float(n["x"]) for n in figure["nodes"]]
    assert max(xs) - min(xs) <= 2.2 * FIGURE_MAX_COLUMNS
    assert handout(GRU3).graph_figure()["gap"] is None  # the GRU of 3 steps fits: every step drawn


#: A user's GRU over 3 tokens (embedding_gru, shortened): its figure was wider than
#: FIGURE_MAX_COLUMNS, and as no step of three can be left out whole, the middle columns were
#: cut: z3, r3 and n3 stood as "3 more nodes", and the caption said nothing.
GRU3_EMBEDDED = {
    "inputs": {"ids": {"shape": [3], "dtype": "int", "range": 50}},
    "targets": {"t": 5},
    "params": {"Emb": [50, 12], **{f"{m}{g}": [16, 12] if m == "W" else [16, 16] for m in "WU" for g in "zrn"},
               "bz": [16], "br": [16], "bn": [16], "Wy": [5, 16], "by": [5]},
    "nodes": {
        "e": "Emb[ids]",
        "z1": "sigmoid(Wz @ e[0] + bz)",
        "n1": "tanh(Wn @ e[0] + bn)",
        "h1": "z1 * n1",
        "z{k}": {"for": "k in 2..3", "value": "sigmoid(Wz @ e[{k-1}] + Uz @ h{k-1} + bz)"},
        "r{k}": {"for": "k in 2..3", "value": "sigmoid(Wr @ e[{k-1}] + Ur @ h{k-1} + br)"},
        "n{k}": {"for": "k in 2..3", "value": "tanh(Wn @ e[{k-1}] + Un @ (r{k} * h{k-1}) + bn)"},
        "h{k}": {"for": "k in 2..3", "value": "(1 - z{k}) * h{k-1} + z{k} * n{k}"},
        "y": "softmax(Wy @ h3 + by)",
    },
    "loss": "cross_entropy(y, t)",
}  # fmt: skip


def test_an_unrolled_figure_draws_every_node_of_the_steps_it_shows():
    figure = handout(GRU3_EMBEDDED).graph_figure()
    labels = {n["label"] for n in figure["nodes"]}
    steps = {f"{g}_{{{k}}}" for k in (2, 3) for g in "zrnh"} | {"z_{1}", "n_{1}", "h_{1}"}
    assert steps | {"e", "y", "E", "t"} <= labels
    assert figure["gap"] is None and figure["steps"] is None  # nothing left out, nothing to say
    xs = [float(n["x"]) for n in figure["nodes"]]
    assert max(xs) - min(xs) <= 2.2 * FIGURE_MAX_COLUMNS  # no wider than lstm's steps 1, 2 and 10


def deep_chain(layers: int) -> dict:
    nodes = {"h1": "tanh(W1 @ x)", **{f"h{k}": f"tanh(W{k} @ h{k - 1})" for k in range(2, layers + 1)}}
    params = {f"W{k}": [3, 3] for k in range(1, layers + 1)}
    return {"inputs": {"x": 3}, "targets": {"t": 3}, "params": params, "nodes": nodes, "loss": f"half_sse(h{layers}, t)"}


def test_a_figure_that_leaves_out_columns_names_every_node_it_leaves_out():
    figure = handout(deep_chain(16)).graph_figure()
    drawn = {n["label"] for n in figure["nodes"]}
    left_out = [f"h_{{{k}}}" for k in range(1, 17) if f"h_{{{k}}}" not in drawn]
    assert left_out and figure["gap"]["text"] == f"{len(left_out)} more nodes"
    listed = ", ".join(f"${name}$" for name in left_out[:-1]) + f" and ${left_out[-1]}$"
    assert figure["steps"] == f"To fit the page, the figure leaves out the {len(left_out)} nodes of its middle columns: {listed}."


def test_the_gru_of_three_steps_compiles_with_every_node_drawn(tmp_path):
    needs_tex()
    derivation = handout(GRU3_EMBEDDED).d
    source = latex_source(derivation)
    assert "more nodes" not in source and "{$n_{3}$" in source
    assert compile_pdf(derivation.write_latex(tmp_path)).exists()


def test_the_attention_figure_draws_the_spec_nodes_with_their_shapes():
    figure = handout(attention()).graph_figure()
    boxes = {n["label"]: (n["shape"], n["reads"]) for n in figure["nodes"]}
    assert set(boxes) == {"X", r"y_{\mathrm{true}}", "q", "k", "v", "s", "p", "h", "E"}  # the parts of s, p, h inside them
    assert boxes["q"] == (r"4 \times 6", r"W_{q}") and boxes["s"] == (r"4 \times 4", "")
    ids = {n["label"]: n["name"] for n in figure["nodes"]}
    bent = {(e["source"], e["target"]) for e in figure["edges"] if e["bend"]}
    assert (ids["X"], ids["h"]) in bent  # over the boxes between (v into h goes straight under them)
    assert (ids["X"], ids["q"]) not in bent


# -- bounded handouts ----------------------------------------------------------------------


def test_a_long_unrolled_network_gets_a_handout_of_bounded_length():
    short, long = (latex_source(symprop.derive(symprop.from_dict({"name": "t", **lstm(n)}))) for n in (8, 40))
    assert len(long) < 1.05 * len(short)
    assert "left out: they repeat step 2" in long
    h = handout(lstm(40))
    assert len(h.backward()) <= BACKWARD_MAX_STEPS + 2


def test_a_wide_attention_handout_does_not_grow_with_its_width():
    narrow, wide = (latex_source(symprop.derive(symprop.from_dict({"name": "t", **attention(8, d)}))) for d in (16, 512))
    assert abs(len(wide) - len(narrow)) < 0.02 * len(narrow)  # the sizes are written, nothing per element


def test_tensor_handouts_compile(tmp_path):
    needs_tex()
    for name, spec in (("attention", attention()), ("lstm", lstm(8))):
        derivation = symprop.derive(symprop.from_dict({"name": name, **spec}, source="<test>"))
        compile_pdf(derivation.write_latex(tmp_path))


def test_a_mean_loss_says_its_one_over_n():
    """Regression (found trying the tool as a new user): the loss section derived
    d ell / dy = 2 (y - t) for mse and nothing said the 1/n of the mean over the outputs, in
    tensor specs (and vector graph specs) where the backward step then reads (y - t)."""
    spec = {
        "name": "mean_loss",
        "inputs": {"x": [2, 3]},
        "targets": {"t": [2, 2]},
        "params": {"W": [2, 3]},
        "nodes": {"y": "tanh(x @ W.T)"},
        "loss": "mse(y, t)",
    }
    d = symprop.derive(symprop.from_dict(spec))
    note = r"The loss is the mean of $\ell$ over the 4 outputs, $E = \frac{1}{4} \sum_{j} \ell(y_{j}, t_{j})$"
    assert note in d.latex()
    assert r"\partial E / \partial y_{j} = \frac{1}{4} \cdot 2 (y_{j} - t_{j})" in d.latex()
    half_sse = {**spec, "loss": "half_sse(y, t)"}  # a sum: nothing to say
    assert "The loss is the mean" not in symprop.derive(symprop.from_dict(half_sse)).latex()


#: A loss formula as the handout writes it back, its parts put in: brackets only around a sum that
#: is a factor (a trial found ``-(\operatorname{sum}(((t \odot ((1 - y)^{2})) \odot \log{(y)})))``,
#: every part bracketed because a ``-`` stood somewhere inside it).
LOSS_DEFINITIONS = {
    "-sum(t * (1 - y) ** 2 * log(y))": r"E = - \operatorname{sum}(t \odot (1 - y)^{2} \odot \log{(y)})",
    "sum(t * (y - t) ** 2) / 2": r"E = \frac{\operatorname{sum}(t \odot (y - t)^{2})}{2}",
}


@pytest.mark.parametrize("loss", LOSS_DEFINITIONS)
def test_a_loss_formula_is_bracketed_only_where_a_sum_is_a_factor(loss):
    spec = {"name": "g", "inputs": {"x": 3}, "targets": {"t": 3}, "params": {"W": [3, 3]},
            "nodes": {"y": "softmax(W @ x)"}, "loss": loss}
    tex = latex_source(symprop.derive(symprop.from_dict(spec)))
    assert f"Put together, the loss of one sample is ${LOSS_DEFINITIONS[loss]}$." in tex
