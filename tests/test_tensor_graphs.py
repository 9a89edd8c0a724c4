"""Graph specs (networks written as tensor expressions): every example and many random graphs
derive, emit a clean module, and agree with central differences and with an independent
autodiff evaluation; the per-weight view equals ``sympy.diff`` of the expanded loss; bad
specs give one clear error naming the field.

The autodiff reference does not go through symprop's lowering or emitter: ``Reference`` reads
the spec's expression text with Python's ``ast`` (trusted test input) and evaluates it sample
by sample with ``autograd.numpy``, with its own definitions of every function.
"""

from __future__ import annotations

import random
import subprocess
import sys
from functools import cache

import numpy as np
import pytest
import sympy as sp
import yaml
from conftest import EXAMPLES, ROOT, emit_module, needs_library
from reference import TOLERANCE, check_module_against_references, point, relative_error

import symprop
from symprop import naming, registry
from symprop.check import check_module, load_module
from symprop.errors import SpecError
from symprop.ops import Dense, MatMul
from symprop.scalar import evaluate
from symprop.tensor_spec import GraphNetwork

GRAPH_EXAMPLES = [
    "residual_block",
    "gated_unit",
    "tied_autoencoder",
    "concat_two_inputs",
    "highway",
    "elman_rnn",
    "cs231n_neuron",
    "self_attention",
    "lstm",
    "embedding_gru",
    "transformer_block",
    "batchnorm_mlp",
    "cnn_digits",
]


@cache
def _spec(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


def _scalar_proof(spec: dict, points: int = 2, seed: int = 0):
    """Every per-weight gradient (and every input adjoint) of the scalar view equals
    ``sympy.diff`` of the expanded loss, at random rational points to 1e-30."""
    d = symprop.derive(symprop.from_dict(spec, source="<proof>"))
    scalar = d.scalar
    reference = registry.expand_definitions(scalar.expanded_loss)
    rng = random.Random(seed)
    leaves = scalar.leaves("input") + scalar.leaves("param") + scalar.leaves("target")
    one_hot = {
        n.inputs[1] for n in d.graph.nodes.values() if getattr(n.op, "choice", None) and n.op.choice.name == "cross_entropy"
    }
    discrete = {n.name: n.op for n in d.graph.leaves("input") if n.op.dtype_name != "float"}
    for _ in range(points):
        point = {s: sp.Rational(rng.randint(-1200, 1200), 1000) for s in leaves}
        for name, leaf in discrete.items():  # indices in their range, masks 0 or 1
            top = leaf.classes - 1 if leaf.dtype_name == "int" else 1
            point |= {s: sp.Integer(rng.randint(0, top)) for s in scalar.symbols[name]}
        for node in d.graph.leaves("target"):
            symbols = scalar.symbols[node.name]
            if node.name in one_hot:
                hot = rng.randrange(len(symbols))
                point |= {s: sp.Integer(int(i == hot)) for i, s in enumerate(symbols)}
            else:
                point |= {s: sp.Rational(rng.randint(50, 950), 1000) for s in symbols}
        values = scalar.forward_values(point, digits=50)
        checked = [(g.symbol, g.expr) for g in scalar.gradients()]
        indices = {s for name in discrete for s in scalar.symbols[name]}  # no derivative in an index or a mask
        checked += [(s, scalar.adjoints.get(s, sp.S.Zero)) for s in scalar.leaves("input") if s not in indices]
        for symbol, ours_expr in checked:
            ours = evaluate(ours_expr, values, 50) if ours_expr != 0 else sp.S.Zero
            theirs = sp.diff(reference, symbol).xreplace(point).evalf(50)
            tolerance = sp.Float("1e-15") if reference.has(sp.Float) else sp.Float("1e-30")
            assert abs(ours - theirs) <= tolerance * (1 + abs(theirs)), f"{spec['name']}: dE/d{symbol}: {ours} vs {theirs}"


# -- the examples ----------------------------------------------------------------------------


def test_the_dispatcher_picks_the_reader_by_the_spec():
    assert isinstance(symprop.load(EXAMPLES / "residual_block.yaml"), GraphNetwork)
    assert isinstance(symprop.load(EXAMPLES / "tutorial_222.yaml"), symprop.Network)


@pytest.mark.parametrize("name", GRAPH_EXAMPLES)
def test_example_derives_emits_and_agrees_with_autograd_and_central_differences(name, tmp_path):
    module = emit_module(name, tmp_path)
    check_module_against_references(_spec(name), module)


def test_generated_graph_modules_are_clean_under_ruff(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # spec paths relative to the repository, as scripts/regenerate.py gives them
    paths = [symprop.derive(symprop.load(f"examples/{name}.yaml")).write_numpy(tmp_path) for name in GRAPH_EXAMPLES]
    result = subprocess.run(["ruff", "check", "--no-cache", *map(str, paths)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "name",
    ["residual_block", "concat_two_inputs", "cs231n_neuron", "self_attention", "lstm", "embedding_gru"]
    + ["batchnorm_mlp", "cnn_digits"],
)
def test_float32_stays_float32(name, tmp_path):
    module = emit_module(name, tmp_path)
    params = module.init_params(0, dtype=np.float32)
    X, T = module.sample_batch(5, 0, dtype=np.float32)
    value, grads = module.loss_and_grad(params, X, T)
    assert np.asarray(value).dtype == np.float32
    assert all(np.asarray(g).dtype == np.float32 for g in grads.values())

    def wide(a):  # float64 for floats; integer ids, masks and None as they are
        if isinstance(a, dict):
            return {k: wide(v) for k, v in a.items()}
        return a.astype(np.float64) if a is not None and a.dtype.kind == "f" else a

    _, exact = module.loss_and_grad(wide(params), wide(X), wide(T))
    assert relative_error(grads, exact) < 1e-5


def test_the_residual_block_graph():
    graph = symprop.derive(symprop.load(EXAMPLES / "residual_block.yaml")).graph
    # W1 @ x + b1 is one dense node, as in a layer stack; the skip connection is an add.
    assert isinstance(graph.nodes["h_a"].op, Dense) and graph.nodes["h_a"].inputs == ("W1", "x", "b1")
    assert graph.nodes["r"].inputs == ("x", "r_a")
    # W1 is used by the layer and twice by the penalty W1 * W1: its gradient accumulates, and
    # the penalty's two arguments send one step, 2 W1 (one NumPy line, one pass).
    steps = [s for s in symprop.derive(symprop.load(EXAMPLES / "residual_block.yaml")).steps if s.target == "W1"]
    assert [s.accumulate for s in steps] == [False, True]
    assert [str(s.local) for s in steps] == ["2*u0", "None"]


def test_several_inputs_are_a_dict(tmp_path):
    module = emit_module("concat_two_inputs", tmp_path)
    X, T = module.sample_batch(4)
    assert sorted(X) == ["u", "v"] and X["u"].shape == (4, 3) and X["v"].shape == (4, 2)
    assert T.shape == (4, 3) and np.allclose(T.sum(axis=1), 1)  # one-hot for cross-entropy
    Y, _ = module.forward(module.init_params(), X)
    assert Y.shape == (4, 3)


def test_tied_weights_get_the_sum_of_both_contributions(tmp_path):
    tied = emit_module("tied_autoencoder", tmp_path / "tied")
    untied_spec = {
        "name": "untied",
        "inputs": {"x": 6},
        "params": {"W": [3, 6], "V": [6, 3], "b": [3], "c": [6]},
        "nodes": {"h": "sigmoid(W @ x + b)", "xhat": "V @ h + c"},
        "loss": "half_sse(xhat, x)",
    }
    untied = emit_module(untied_spec, tmp_path / "untied")
    params, X, _ = point(tied)
    _, g_tied = tied.loss_and_grad(params, X, None)
    _, g_untied = untied.loss_and_grad({**params, "V": params["W"].T.copy()}, X, None)
    assert np.allclose(g_tied["W"], g_untied["W"] + g_untied["V"].T, rtol=1e-12, atol=1e-14)


def test_the_rnn_shares_its_weights_across_the_unrolled_steps():
    net = symprop.load(EXAMPLES / "elman_rnn.yaml")
    assert list(net.inputs) == ["x1", "x2", "x3", "x4", "x5"]
    assert list(net.nodes) == ["h1", "h2", "h3", "h4", "h5", "y"]
    assert net.nodes["h3"] == "tanh(Wx @ x3 + Wh @ h2 + bh)"
    steps = symprop.derive(net).steps
    assert sum(s.target == "Wh" for s in steps) == 4 and sum(s.target == "Wx" for s in steps) == 5


LANGUAGE_SPECS = [
    {
        "name": "language_tour",
        "inputs": {"x": 3, "s": []},
        "targets": {"t": []},
        "constants": {"beta": 1.5},
        "functions": {"swish_b": "z * sigmoid(beta * z)"},
        "params": {"W": [2, 3], "v": [2], "c": []},
        "nodes": {
            "h": "swish_b(W @ x) + leaky_relu(W @ x, 0.2) + max(W @ x, 0.1) * min(v, c)",
            "d": "h.T @ v + abs(s) * sign(c) + c ^ 2 + elu(s, alpha=0.5)",
            "m": "mean(W * x, axis=0) @ x + sum(W.T * v, axis=1) @ x",
        },
        "loss": "huber(d + m, t, delta=0.7) + mae(c * s, t) + 0.1 * sum(W ** 2)",
        "output": "d",
    },
    {
        "name": "dot_and_bce",
        "inputs": {"x": 2},
        "targets": {"t": 2},
        "params": {"W": [2, 2], "b": [2]},
        "nodes": {"y": "sigmoid(b + W @ x)", "q": "x.T @ x"},
        "loss": "binary_cross_entropy(y, t) + q * sum(b)",
    },
]


@pytest.mark.parametrize("spec", LANGUAGE_SPECS, ids=[s["name"] for s in LANGUAGE_SPECS])
def test_language_features_agree_with_autograd(spec, tmp_path):
    """Constants, formula functions, positional and keyword constants, max/min/abs/sign, ^,
    scalar inputs and targets, per-sample matrices reduced along an axis, a vector's .T."""
    check_module_against_references(spec, emit_module(spec, tmp_path))


# -- the computational-graph tutorial (CS231n lecture 4) -----------------------------------


def test_cs231n_neuron_reproduces_the_lectures_node_by_node_gradients():
    d = symprop.derive(symprop.load(EXAMPLES / "cs231n_neuron.yaml"))
    scalar = d.scalar
    example = d.network.example
    point = {scalar.symbols[name][0]: value for name, value in {**example.inputs, **example.params}.items()}
    values = scalar.forward_values(point)

    def value(node):
        return float(values[scalar.symbols[node][0]])

    def adjoint(node):
        return float(evaluate(scalar.adjoint(node)[0], values))

    # The slide: the nodes of 1/(1 + exp(-(w0*x0 + w1*x1 + w2))), forward values and gradients.
    assert [round(value(n), 2) for n in ("f_a", "f_b", "f_c", "f_d", "f_e", "f_f", "f_g", "f")] == [
        -2.0, 6.0, 4.0, 1.0, -1.0, 0.37, 1.37, 0.73,
    ]  # fmt: skip
    assert round(adjoint("f"), 2) == 1.0
    assert [round(adjoint(n), 2) for n in ("f_g", "f_f", "f_e", "f_d", "f_c", "f_a", "f_b", "w2")] == [
        -0.53, -0.53, -0.2, 0.2, 0.2, 0.2, 0.2, 0.2,
    ]  # fmt: skip
    assert [round(adjoint(n), 2) for n in ("w0", "x0", "w1", "x1")] == [-0.2, 0.39, -0.39, -0.59]
    # Each local gradient as the lecture writes it: d(1/x)/dx = -1/x^2, d(e^x)/dx = e^x, ...
    assert scalar.gradient("w0", ()).factors[-1].expr == scalar.symbols["x0"][0]


def test_cs231n_module_runs_the_worked_example(tmp_path):
    module = emit_module("cs231n_neuron", tmp_path)
    E, grads, updated = module.worked_example()
    assert round(float(E), 8) == 0.73105858
    assert [round(float(grads[k]), 8) for k in ("w0", "w1", "w2")] == [-0.19661193, -0.39322387, 0.19661193]


# -- one engine: a layer stack written as a graph spec ---------------------------------------

TUTORIAL_AS_GRAPH = {
    "name": "tutorial_222_graph",
    "inputs": {"x": 2},
    "targets": {"t": 2},
    "params": {"W1": [2, 2], "W2": [2, 2]},
    "nodes": {"z1": "W1 @ x", "a1": "sigmoid(z1)", "z2": "W2 @ a1", "a2": "sigmoid(z2)"},
    "loss": "half_sse(a2, t)",
    "example": {
        "x": [0.1, 0.2],
        "t": [0.4, 0.6],
        "learning_rate": 0.5,
        "params": {"W1": [[0.3, 0.25], [0.4, 0.35]], "W2": [[0.45, 0.4], [0.7, 0.6]]},
    },
}


def _functions(source: str) -> str:
    """The module without its docstring and its closing lines (which name the network)."""
    body = source.split('"""\n\nimport numpy as np\n', 1)[1]
    return body.split("\n\nif __name__", 1)[0]


def test_a_layer_stack_written_as_a_graph_spec_derives_the_same(tmp_path):
    layers = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    graph = symprop.derive(symprop.from_dict(TUTORIAL_AS_GRAPH))

    def ops(d):
        return {n.name: (type(n.op).__name__, n.inputs, n.shape) for n in d.graph.nodes.values() if n.name != "E"}

    assert ops(layers) == ops(graph)
    assert [(s.target, s.source, s.rule, s.local) for s in layers.steps] == [
        (s.target, s.source, s.rule, s.local) for s in graph.steps
    ]
    # One builder: the two modules differ only in their docstring's spec line and title.
    assert _functions(layers.numpy_source()) == _functions(graph.numpy_source())
    module = emit_module(TUTORIAL_AS_GRAPH, tmp_path)
    E, grads, updated = module.worked_example()
    assert round(float(E), 8) == 0.02397190
    assert round(float(grads["W2"][0, 0]), 8) == 0.02592286
    assert round(float(updated["W2"][0, 0]), 8) == 0.43703857


# -- the per-weight view equals sympy.diff of the expanded loss ------------------------------

SMALL_SPECS = [
    _spec("cs231n_neuron"),
    {**_spec("tied_autoencoder"), "inputs": {"x": 3}, "params": {"W": [2, 3], "b": [2], "c": [3]}},
    {
        "name": "small_residual",
        "inputs": {"x": 2},
        "targets": {"t": 2},
        "params": {"W1": [3, 2], "b1": [3], "W2": [2, 3], "W3": [2, 2]},
        "nodes": {"h": "tanh(W1 @ x + b1)", "r": "x + W2 @ h", "y": "softmax(W3 @ r)"},
        "loss": "cross_entropy(y, t) + 0.001 * sum(W1 * W1)",
    },
    {
        "name": "small_gated",
        "inputs": {"x": 2},
        "targets": {"t": 2},
        "params": {"Wa": [2, 2], "Wg": [2, 2], "Wo": [2, 2], "bo": [2]},
        "nodes": {"g": "(Wa @ x) * sigmoid(Wg @ x)", "y": "Wo @ g + bo"},
        "loss": "half_sse(y, t)",
    },
    {
        "name": "small_highway",
        "inputs": {"x": 2},
        "targets": {"target": 2},
        "params": {"Wh": [2, 2], "bh": [2], "Wt": [2, 2], "bt": [2]},
        "nodes": {"h": "tanh(Wh @ x + bh)", "t": "sigmoid(Wt @ x + bt)", "y": "t * h + (1 - t) * x"},
        "loss": "half_sse(y, target)",
    },
    {
        "name": "small_concat",
        "inputs": {"u": 2, "v": 1},
        "targets": {"t": 2},
        "params": {"Wu": [2, 2], "Wv": [1, 1], "W": [2, 3]},
        "nodes": {"h": "concat(tanh(Wu @ u), sigmoid(Wv @ v))", "y": "softmax(W @ h)"},
        "loss": "cross_entropy(y, t)",
    },
    {
        "name": "small_rnn",
        "inputs": {"x{k}": {"for": "k in 1..3", "value": 2}},
        "targets": {"t": 1},
        "params": {"Wx": [2, 2], "Wh": [2, 2], "Wy": [1, 2]},
        "nodes": {"h1": "tanh(Wx @ x1)", "h{k}": {"for": "k in 2..3", "value": "tanh(Wx @ x{k} + Wh @ h{k-1})"}, "y": "Wy @ h3"},
        "loss": "mse(y, t)",
    },
    {
        "name": "small_attention",
        "inputs": {"X": [2, 2]},
        "targets": {"t": [2, 2]},
        "params": {"Wq": [2, 2], "Wv": [2, 2]},
        "nodes": {
            "s": "(X @ Wq) @ X.T / sqrt(2)",
            "p": "softmax(where(tril(2), s, -50), axis=-1)",
            "y": "X + p @ (X @ Wv)",
        },
        "loss": "half_sse(y, t)",
    },
    {
        "name": "small_tensor_moves",
        "inputs": {"x": [2, 3]},
        "targets": {"t": [3]},
        "params": {"A": [3, 2], "B": [2, 2, 2]},
        "nodes": {
            "h": 'einsum("ij,jk->ik", x, A)',
            "r": "transpose(reshape(h, [2, 2, 1]), [2, 1, 0]) * B",
            "m": "max(r, axis=(0, 2), keepdims=1) + mean(B, axis=0)",
            "y": "concat(sum(m, axis=(0, 1)), logsumexp(h, axis=0)[0:1])",
        },
        "loss": "half_sse(y, t)",
    },
    {
        "name": "small_lookup",
        "inputs": {"ids": {"shape": [3], "dtype": "int", "range": 4}, "keep": {"shape": [3, 1], "dtype": "bool"}},
        "targets": {"t": [2]},
        "params": {"Emb": [4, 2], "W": [2, 2]},
        "nodes": {"e": "where(keep, Emb[ids], 0)", "y": "tanh(W @ e[0] + W @ e[-1]) * sum(e[1:])"},
        "loss": "half_sse(y, t)",
    },
    {
        "name": "small_layer_norm",
        "inputs": {"x": 3},
        "targets": {"t": 2},
        "params": {"W": [2, 3], "g": [3]},
        "nodes": {"y": "W @ (g * layer_norm(x, eps=0.1))"},
        "loss": "half_sse(y, t)",
    },
    {
        "name": "small_conv",
        "inputs": {"x": [1, 4, 4]},
        "targets": {"t": [1, 5]},
        "params": {"K": [2, 1, 3, 3], "L": [1, 2, 2]},
        "nodes": {"h": "tanh(conv2d(x, K, stride=2, padding=1))", "y": "conv1d(reshape(h, [2, 4]), L, padding=1)"},
        "loss": "half_sse(y, t)",
    },
    {
        "name": "small_pool",
        "inputs": {"x": [1, 3, 3]},
        "targets": {"t": [1, 2, 2]},
        "params": {"v": [1, 3, 3]},
        "nodes": {"a": "v * x", "y": "max_pool2d(a, 2, stride=1) + avg_pool2d(a, (2, 3))"},
        "loss": "half_sse(y, t)",
    },
]


@pytest.mark.parametrize("spec", SMALL_SPECS, ids=[s["name"] for s in SMALL_SPECS])
def test_scalar_view_equals_diff_of_the_expanded_loss(spec):
    _scalar_proof(spec)


# -- random graphs ----------------------------------------------------------------------------

SMOOTH = ["sigmoid", "tanh", "softplus", "silu", "gelu", "identity", "elu"]


def random_graph_spec(seed: int) -> dict:
    """A random DAG over the tensor ops, with nodes and parameters used more than once."""
    rng = random.Random(seed)
    inputs = {"x": rng.choice([2, 3])} if rng.random() < 0.6 else {"x0": rng.choice([2, 3]), "x1": rng.choice([1, 2])}
    shapes: dict[str, tuple] = {name: (n,) for name, n in inputs.items()}
    params: dict[str, list] = {}
    nodes: dict[str, str] = {}
    used: set[str] = set()

    def param(shape) -> str:
        same = [p for p, s in params.items() if tuple(s) == tuple(shape)]
        if same and rng.random() < 0.5:
            name = rng.choice(same)  # a shared parameter
        else:
            name = f"p{len(params) + 1}"
            params[name] = list(shape)
        used.add(name)
        return name

    def pick(rank: int | None = 1) -> str:
        names = [n for n, s in shapes.items() if rank is None or len(s) == rank]
        name = rng.choice(names)
        used.add(name)
        return name

    def vector_expression() -> tuple[str, tuple]:
        a = pick()
        n = shapes[a][0]
        m = rng.choice([2, 3])
        kind = rng.randrange(16) if params else rng.randrange(3)  # the first node has a parameter
        if kind == 0:
            return f"{param((m, n))} @ {a}", (m,)
        if kind == 1:
            return f"{rng.choice(SMOOTH)}({param((m, n))} @ {a} + {param((m,))})", (m,)
        if kind == 2:
            return f"{param((n, m))}.T @ {a}", (m,)
        if kind == 3:
            b = pick()
            if shapes[b] == shapes[a]:
                return f"{a} * {b} - 0.5 * {b}", (n,)
            return f"{a} * sum({b})", (n,)
        if kind == 4:
            b = pick()
            if shapes[b] == shapes[a]:
                return f"{a} / (1 + {b} ** 2)", (n,)
            return f"{a} + mean({b})", (n,)
        if kind == 5:
            return f"sum({param((m, n))} * {a}, axis=1)", (m,)  # a batched matrix, broadcast
        if kind == 6:
            return f"mean({param((n, m))}.T * {a}, axis=0)", (n,)
        if kind == 7:
            w = param((m, n))
            return f"({w} * {a}) @ {a}", (m,)  # batched matrix @ batched vector: einsum
        if kind == 8:
            w = param((n, n))
            return f"({w}.T @ {w}) @ {a}", (n,)  # a product of parameters alone, no batch axis
        if kind == 9:
            b = pick()
            return f"concat({a}, {b})", (n + shapes[b][0],)
        if kind == 10:
            return f"softmax({a})", (n,)
        if kind == 11:
            return f"exp(-{a} ** 2 / 4) + log(1 + {a} ** 2) * sqrt(1 + {a} ** 2)", (n,)
        if kind == 12:
            return f"{param(())} * {a} + {param((n,))}", (n,)
        if kind == 13:
            return f"{a}.T @ {param((n, m))}", (m,)
        if kind == 14:
            node = f"n{len(nodes) + 1}"
            nodes[node] = f"tanh({param((m, n))})"  # a node of parameters alone
            shapes[node] = (m, n)
            used.add(node)
            return f"{node} @ {a} + {a} @ {node}.T", (m,)
        return f"{rng.choice(SMOOTH)}({a}) + {a} * {a}", (n,)

    for _ in range(rng.randint(2, 5)):
        text, shape = vector_expression()
        name = f"n{len(nodes) + 1}"
        nodes[name] = text
        shapes[name] = shape
    last = [n for n in nodes if len(shapes[n]) == 1][-1]
    used.add(last)
    size = shapes[last][0]
    loss_kind = rng.choice(["half_sse", "mse", "huber", "binary_cross_entropy", "cross_entropy", "plain"])
    targets = {"t": size}
    if loss_kind == "binary_cross_entropy":
        loss = f"binary_cross_entropy(sigmoid({last}), t)"
    elif loss_kind == "cross_entropy":
        loss = f"cross_entropy(softmax({last}), t)"
    elif loss_kind == "huber":
        loss = f"huber({last}, t, delta=0.5)"
    elif loss_kind == "plain":
        loss, targets = f"sum({last} ** 2) / 2", {}
    else:
        loss = f"{loss_kind}({last}, t)"
    terms = [loss]
    for name in [*nodes, *inputs]:
        if name not in used:  # every node and input must reach the loss
            terms.append(f"0.1 * mean({name} ** 2)" if len(shapes[name]) else f"0.1 * {name} ** 2")
    if rng.random() < 0.5:
        p = rng.choice(list(params))
        terms.append(f"0.01 * sum({p} * {p})")
    spec = {"name": f"random_{seed}", "inputs": inputs, "params": params, "nodes": nodes, "loss": " + ".join(terms)}
    if targets:
        spec["targets"] = targets
    return spec


RANDOM_SEEDS = list(range(40))


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_graph_agrees_with_autograd_and_central_differences(seed, tmp_path):
    spec = random_graph_spec(seed)
    module = emit_module(spec, tmp_path)
    check_module_against_references(spec, module, seeds=(seed,))


@pytest.mark.parametrize("seed", RANDOM_SEEDS[:10])
def test_random_graph_scalar_view_equals_diff_of_the_expanded_loss(seed):
    spec = random_graph_spec(seed)
    if symprop.derive(symprop.from_dict(spec)).has_scalar:
        _scalar_proof(spec, points=1, seed=seed)


def test_random_graphs_cover_the_ops():
    kinds = set()
    for seed in RANDOM_SEEDS:
        graph = symprop.derive(symprop.from_dict(random_graph_spec(seed))).graph
        kinds |= {type(n.op).__name__ for n in graph.nodes.values()}
        if any(isinstance(n.op, MatMul) and n.name in graph.batched for n in graph.nodes.values()):
            kinds.add("batched MatMul")
    expected = {"Dense", "Activation", "Softmax", "Loss", "Elementwise", "MatMul", "Transpose", "Reduce", "Concat"}
    assert expected | {"batched MatMul"} <= kinds


def test_random_graphs_reuse_nodes_and_parameters():
    shared_params = reused_nodes = 0
    for seed in RANDOM_SEEDS:
        d = symprop.derive(symprop.from_dict(random_graph_spec(seed)))
        shared_params += any(sum(s.target == p for s in d.steps) > 1 for p in d.param_names)
        reused_nodes += any(len(d.graph.consumers(n)) > 1 for n in d.graph.nodes if d.graph.role(n) == "op")
    assert shared_params >= 10 and reused_nodes >= 10


# -- errors ------------------------------------------------------------------------------------

BASE = {
    "name": "bad",
    "inputs": {"x": 3},
    "targets": {"t": 2},
    "params": {"W": [2, 3], "b": [2]},
    "nodes": {"y": "W @ x + b"},
    "loss": "half_sse(y, t)",
}


def _error(**changes) -> SpecError:
    spec = {**BASE, **changes}
    with pytest.raises(SpecError) as caught:
        symprop.from_dict(spec, source="bad.yaml")
    return caught.value


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"nodes": {"a": "tanh(c)", "c": "W @ x + a", "y": "a"}}, "nodes.a", ["cycle", "a -> c -> a"]),
        ({"nodes": {"y": "y + W @ x"}}, "nodes.y", ["cycle", "y -> y"]),
        ({"nodes": {"y": "W @ x + x"}}, "nodes.y", ["shape mismatch", "W @ x has shape [2]", "x has shape [3]"]),
        ({"nodes": {"y": "W @ b"}}, "nodes.y", ["shape mismatch", "'@'", "[2, 3]", "[2]"]),
        ({"nodes": {"y": "W @ x + c"}}, "nodes.y", ["unknown name 'c'"]),
        ({"nodes": {"y": "W @ x + b", "r": "tanh(y)"}}, "nodes.r", ["never used"]),
        ({"params": {"W": [2, 3], "b": [2], "V": [2, 2]}}, "params.V", ["never used"]),
        ({"inputs": {"x": 3, "u": 2}}, "inputs.u", ["never used"]),
        ({"nodes": {"y": "W.shape + b"}}, "nodes.y", [".shape", "only attribute is .T"]),
        ({"nodes": {"y": "W @ x % b"}}, "nodes.y", ["operator '%'"]),
        ({"nodes": {"y": "__import__('os')"}}, "nodes.y", ["_"]),
        ({"nodes": {"y": "W @ x + b ** x"}}, "nodes.y", ["exponent", "constant"]),
        ({"nodes": {"y": "leaky_relu(W @ x + b, beta=2)"}}, "nodes.y", ["no constant 'beta'"]),
        ({"nodes": {"y": "softmax(sum(W))"}}, "nodes.y", ["softmax needs a vector or a tensor, got a scalar"]),
        ({"nodes": {"y": "sum(W @ x + b, axis=2)"}}, "nodes.y", ["axis"]),
        ({"nodes": {"y": "frobnicate(W @ x)"}}, "nodes.y", ["unknown name 'frobnicate'"]),
        ({"nodes": {"y": "W @ x + b"}, "loss": "y"}, "loss", ["scalar per sample", "[2]"]),
        ({"loss": "half_sse(y, W @ x)"}, "loss", ["depends on a parameter"]),
        ({"loss": "half_sse(y, x)"}, "loss", ["shape mismatch", "[2]", "[3]"]),
        ({"nodes": {"y": 3}}, "nodes.y", ["expression as a string"]),
        ({"nodes": {"y": "2 * 3"}}, "nodes.y", ["constant"]),
        ({"nodes": {"E": "W @ x + b"}}, "nodes.E", ["names the loss"]),
        ({"nodes": {"h_1": "W @ x + b"}}, "nodes.h_1", ["_<digits>"]),
        ({"nodes": {"tanh": "W @ x + b"}}, "nodes.tanh", ["function"]),
        ({"params": {"W": [2, 3], "b": [2], "x": [3]}}, "params.x", ["already declared at inputs.x"]),
        ({"params": {"W": [2, 3, 4, 1, 1, 1, 1], "b": [2]}}, "params.W", ["at most 6 dimensions"]),
        ({"nodes": {"h{k}": {"for": "k from 1", "value": "x"}}}, "nodes.h{k}.for", ["k in FIRST..LAST"]),
        ({"nodes": {"h{k}": {"for": "k in 1..2", "value": "x{j}"}}}, "nodes.h{k}.value", ["{j}"]),
        ({"input": 3}, "input", ["graph spec has inputs and nodes"]),
        ({"output": "t"}, "output", ["name of a node"]),
    ],
)
def test_bad_graph_specs_name_the_field(changes, field, words):
    error = _error(**changes)
    assert error.source == "bad.yaml" and error.field == field, str(error)
    for word in words:
        assert word in error.message, str(error)


def test_a_bad_graph_spec_file_fails_on_the_command_line_without_writing(tmp_path):
    spec = tmp_path / "cyclic.yaml"
    spec.write_text(yaml.safe_dump({**BASE, "nodes": {"a": "tanh(c)", "c": "W @ x + a", "y": "a"}}))
    result = subprocess.run(
        ["python", "-m", "symprop", "derive", str(spec), "-o", str(tmp_path / "out"), "--emit", "numpy"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "cyclic.yaml: nodes.a: cycle: a -> c -> a" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_names_that_would_clash_in_the_module_get_distinct_arrays(tmp_path):
    # The highway's gate is called t, like the targets' array T: its array becomes T_.
    net = symprop.load(EXAMPLES / "highway.yaml")
    graph = net.to_graph()
    assert graph.array("t") == "T_" and graph.grad("t") == "dT_" and graph.array("target") == "Target"
    module = emit_module("highway", tmp_path)
    assert module.gradient_check() < TOLERANCE


@pytest.mark.parametrize("name", sorted(naming.RESERVED - {"E"}))
def test_parameter_named_like_a_module_variable(tmp_path, name):
    """A parameter called np, cache, X, ... gets an array name of its own (np_) everywhere, so
    the module neither shadows numpy nor its own variables."""
    spec = {
        "name": "reserved",
        "inputs": {"x": 3},
        "targets": {"t": 2},
        "params": {name: [2, 3]},
        "nodes": {"y": f"tanh({name} @ x)"},
        "loss": "half_sse(y, t)",
    }
    path = symprop.derive(symprop.from_dict(spec)).write_numpy(tmp_path)
    assert check_module(path).passed
    lint = subprocess.run(["ruff", "check", "--no-cache", "--isolated", str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_a_parameter_named_dE_keeps_its_value_in_the_backward_pass(tmp_path):
    """dE is the loss's adjoint (dE = 1 / N): a parameter dE was overwritten by it, so the gradient of
    a penalty 0.01 * sum(dE * dE) was 0.02 / N instead of 0.02 dE (silently; found by renaming the
    names of a spec at random)."""
    spec = {
        "name": "adjoint_name", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"dE": [2, 3]},
        "nodes": {"y": "tanh(dE @ x)"}, "loss": "half_sse(y, t) + 0.01 * sum(dE * dE)",
    }  # fmt: skip
    derivation = symprop.derive(symprop.from_dict(spec))
    assert check_module(derivation.write_numpy(tmp_path)).passed
    assert "dE_ = params[\"dE\"]" in derivation.numpy_source()


def test_a_network_name_of_the_longest_length_keeps_every_module_clean_under_ruff(tmp_path):
    """The line printing the gradient check's result (and the scalar module's first docstring line)
    held the network's name: from about 35 characters of the 64 allowed it passed ruff's 130."""
    name = "n" * naming.MAX_NAME_LENGTH
    spec = {"name": name, "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3]},
            "nodes": {"y": "tanh(W @ x)"}, "loss": "half_sse(y, t)"}  # fmt: skip
    derivation = symprop.derive(symprop.from_dict(spec))
    for backend in ("numpy", "array-api", "scalar"):
        derivation.write_module(tmp_path / backend, backend=backend)
    lint = subprocess.run(["ruff", "check", "--no-cache", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert lint.returncode == 0, lint.stdout
    run = subprocess.run([sys.executable, str(tmp_path / "numpy" / f"{name}.py")], capture_output=True, text=True)
    assert f"{name}: backward() vs central differences on all 6 coordinates, relative error" in run.stdout


#: Each backend with the variables of its module that a parameter could shadow (a trial as a new
#: user: a parameter ``xp`` made the array-API module call ``tanh`` on it, ``check`` broke
#: loss_and_grad's ``if check``, ``dtype`` the numba module's).
BACKEND_VARIABLES = {
    "numpy": ("check",),
    "array_api": ("check", "xp", "array_namespace"),
    "numba": ("dtype",),
}


@pytest.mark.parametrize(("backend", "name"), [(b, n) for b, names in BACKEND_VARIABLES.items() for n in names])
def test_parameter_named_like_a_backend_variable(tmp_path, backend, name):
    if backend != "numpy":
        needs_library({"array_api": "array_api_compat", "numba": "numba"}[backend])
    spec = {
        "name": "shadowing",
        "inputs": {"x": 3},
        "targets": {"t": 2},
        "params": {"W": [2, 3], name: [2]},
        "nodes": {"y": f"tanh(W @ x + {name})"},
        "loss": "half_sse(y, t)",
    }
    path = getattr(symprop.derive(symprop.from_dict(spec)), f"write_{backend}")(tmp_path)
    assert check_module(path).passed


def test_parameter_named_E_is_refused():
    spec = {
        "name": "e",
        "inputs": {"x": 3},
        "targets": {"t": 2},
        "params": {"E": [2, 3]},
        "nodes": {"y": "tanh(E @ x)"},
        "loss": "half_sse(y, t)",
    }
    with pytest.raises(symprop.SpecError, match=r"params\.E: 'E' names the loss"):
        symprop.from_dict(spec)


def test_max_over_many_elements_is_not_compared_pair_by_pair(monkeypatch):
    """The per-weight view of max(a) over a whole tensor: SymPy's Max, evaluated, compares every
    pair of its arguments, once when built and again for every symbol the derivative is taken
    in (its stand-in rebuilt it): a 48-parameter network's handout took 265 s.  Its arguments
    are distinct element symbols, so nothing is left to compare; the gradient is unchanged."""
    from sympy.functions.elementary.miscellaneous import MinMaxBase

    spec = {
        "name": "max_all",
        "inputs": {"x": [2, 3]},
        "params": {"S": [2, 3]},
        "nodes": {"a": "x * S"},
        "loss": "max(a) + max(a, axis=0)[1]",
    }
    _scalar_proof(spec)

    def compared(*args, **kwargs):
        raise AssertionError("Max compared its arguments pair by pair")

    monkeypatch.setattr(MinMaxBase, "_find_localzeros", classmethod(compared))
    d = symprop.derive(symprop.from_dict(spec))
    assert d.scalar.gradient("S", (1, 2)) is not None
    assert "max" in d.latex()


def test_max_of_a_step_of_a_constant(tmp_path):
    """step(1 / softplus(1)) is 1, but SymPy leaves Heaviside(1/softplus(1), 0) unevaluated and
    max() refused it as not comparable: a ValueError traceback in a graph spec, and "cannot call
    'max' with 2 arguments" for a valid loss formula of a layer stack."""
    spec = {
        "name": "max_step",
        "inputs": {"x": 3},
        "targets": {"t": 2},
        "params": {"W1": [3, 3], "b1": [3], "W2": [2, 3]},
        "constants": {"c0": 0.3},
        "nodes": {"h": "max(step(c0 / (0.1 + softplus(c0))), leaky_relu(W1 @ x + b1))", "y": "W2 @ h"},
        "loss": "half_sse(y, t)",
    }
    assert check_module(symprop.derive(symprop.from_dict(spec)).write_numpy(tmp_path)).passed
    stack = {
        "name": "max_step_stack",
        "input": 2,
        "layers": [{"units": 2, "activation": "tanh"}],
        "loss": {"formula": "max(y, step(-1 / softplus(1))) + min(y, step(1 / (1 + softplus(1)))) - t"},
    }
    assert str(symprop.from_dict(stack).loss.formula) == "-t + Max(0, y) + Min(1, y)"


def test_numba_module_with_several_targets(tmp_path):
    """The batch size of a spec with several targets is N = T["t"].shape[0]; the numba kernel took
    the dict T as an array (np.ascontiguousarray(T, dtype): a TypeError at the first call)."""
    needs_library("numba")
    spec = {
        "name": "two_targets",
        "inputs": {"x": 4},
        "targets": {"t": 3, "u": 3},
        "params": {"W": [3, 4], "b": [3]},
        "nodes": {"y": "softmax(W @ x + b)"},
        "loss": "2 * cross_entropy(y, t) + cross_entropy(y, u)",
    }
    d = symprop.derive(symprop.from_dict(spec))
    numpy_module = load_module(d.write_numpy(tmp_path / "numpy"))
    numba_module = load_module(d.write_numba(tmp_path / "numba"))
    params = numpy_module.init_params(0)
    X, T = numpy_module.sample_batch(5, 0)
    value, grads = numpy_module.loss_and_grad(params, X, T)
    value_nb, grads_nb = numba_module.loss_and_grad(params, X, T)
    assert abs(value_nb - value) <= 1e-12 * abs(value)
    assert all(np.allclose(grads_nb[k], grads[k], rtol=1e-12, atol=1e-14) for k in grads)


def test_worked_example_with_a_convolution_kernel():
    """A worked example's parameter of rank 4 (a kernel [O, C, kh, kw]): the handout wrote every
    parameter as one matrix (ValueError: too many values to unpack); its matrices in brackets."""
    spec = {
        "name": "conv_example",
        "inputs": {"x": [1, 3, 3]},
        "targets": {"t": 2},
        "params": {"K": [1, 1, 2, 2], "W": [2, 4]},
        "nodes": {"h": "reshape(relu(conv2d(x, K)), [4])", "y": "softmax(W @ h)"},
        "loss": "cross_entropy(y, t)",
        "example": {
            "x": [[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]],
            "t": [0, 1],
            "params": {"K": [[[[0.1, -0.2], [0.3, 0.4]]]], "W": [[0.1, 0.2, 0.3, 0.4], [-0.1, -0.2, 0.3, 0.1]]},
        },
    }
    tex = symprop.derive(symprop.from_dict(spec)).latex()
    assert r"K = \left[ \left[ \begin{pmatrix} 0.1 & -0.2 \\ 0.3 & 0.4 \end{pmatrix} \right] \right]" in tex
