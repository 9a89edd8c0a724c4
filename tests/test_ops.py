"""The op table: every op has every hook of the protocol, and each op, each activation and
each loss is run through the whole engine in a graph spec (derivation, NumPy module against
an independent autograd evaluation and central differences, handout).

Adding an op is its own module in ``symprop/ops/`` plus one entry in ``ops.OPS`` and one row
in ``OP_SAMPLES`` below; a row missing here fails ``test_every_op_has_a_sample``.
"""

from __future__ import annotations

import pytest
from conftest import emit_module, needs_tex
from reference import FUNCTIONS, check_module_against_references

import symprop
from symprop import ops, registry
from symprop.emit.latex import compile_pdf
from symprop.spec_reader import MATH_FUNCTIONS

#: One small graph spec per op, using it where a gradient flows through it.
OP_SAMPLES = {
    ops.Dense: {"inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3], "b": [2]},
                "nodes": {"y": "W @ x + b"}, "loss": "half_sse(y, t)"},
    ops.Activation: {"inputs": {"x": 3}, "targets": {"t": 3}, "params": {"v": [3]},
                     "nodes": {"y": "tanh(v * x)"}, "loss": "mse(y, t)"},
    ops.Softmax: {"inputs": {"x": 3}, "targets": {"t": 3}, "params": {"W": [3, 3]},
                  "nodes": {"p": "softmax(W @ x)", "y": "p * p"}, "loss": "half_sse(y, t)"},
    ops.Loss: {"inputs": {"x": 3}, "targets": {"t": 3}, "params": {"W": [3, 3]},
               "nodes": {"y": "softmax(W @ x)"}, "loss": "cross_entropy(y, t) + 0.5 * mse(W @ x, t)"},
    ops.Elementwise: {"inputs": {"x": 3}, "targets": {"t": 3}, "params": {"v": [3], "c": []},
                      "nodes": {"y": "exp(v * x) / (1 + c ^ 2) - x"}, "loss": "half_sse(y, t)"},
    ops.MatMul: {"inputs": {"x": 3}, "targets": {"t": 2}, "params": {"A": [2, 3], "B": [3, 3]},
                 "nodes": {"m": "A @ B", "y": "m @ x"}, "loss": "half_sse(y, t)"},
    ops.Transpose: {"inputs": {"x": 3}, "targets": {"t": 2}, "params": {"A": [3, 2]},
                    "nodes": {"y": "A.T @ x"}, "loss": "half_sse(y, t)"},
    ops.Reduce: {"inputs": {"x": 3}, "targets": {"t": 3}, "params": {"A": [3, 3]},
                 "nodes": {"s": "sum(A * x, axis=1)", "y": "s * mean(A)"}, "loss": "half_sse(y, t)"},
    ops.LogSumExp: {"inputs": {"x": 3}, "targets": {"t": []}, "params": {"W": [3, 3]},
                    "nodes": {"s": "logsumexp(W @ x)"}, "loss": "half_sse(s, t)"},
    ops.Concat: {"inputs": {"x": 2, "u": 1}, "targets": {"t": 3}, "params": {"v": [3]},
                 "nodes": {"c": "concat(x, u)", "y": "v * c"}, "loss": "half_sse(y, t)"},
    ops.Einsum: {"inputs": {"x": [2, 3]}, "targets": {"t": [2]}, "params": {"A": [3, 2], "v": [2]},
                 "nodes": {"y": 'einsum("ij,jk,k->i", x, A, v)'}, "loss": "half_sse(y, t)"},
    ops.Reshape: {"inputs": {"x": 4}, "targets": {"t": [2, 2]}, "params": {"A": [2, 2]},
                  "nodes": {"y": "A @ reshape(x, [2, 2])"}, "loss": "half_sse(y, t)"},
    ops.Index: {"inputs": {"x": [3, 2]}, "targets": {"t": 2}, "params": {"A": [3, 2]},
                "nodes": {"y": "(A * x)[1] + (A * x)[0:2, 0]"}, "loss": "half_sse(y, t)"},
    ops.Gather: {"inputs": {"ids": {"shape": [2], "dtype": "int", "range": 3}}, "targets": {"t": [2, 2]},
                 "params": {"V": [3, 2]}, "nodes": {"y": "V[ids]"}, "loss": "half_sse(y, t)"},
    ops.Where: {"inputs": {"x": 3, "m": {"shape": [3], "dtype": "bool"}}, "targets": {"t": 3}, "params": {"v": [3]},
                "nodes": {"y": "where(m, v * x, -v)"}, "loss": "half_sse(y, t)"},
    ops.Tril: {"inputs": {"x": [3, 3]}, "targets": {"t": [3, 3]}, "params": {"A": [3, 3]},
               "nodes": {"y": "softmax(where(tril(3), A @ x, -1e9), axis=-1)"}, "loss": "half_sse(y, t)"},
    ops.LayerNorm: {"inputs": {"x": [2, 3]}, "targets": {"t": [2, 3]}, "params": {"W": [3, 3], "g": [3]},
                    "nodes": {"y": "g * layer_norm(x @ W) + layer_norm(x @ W, axis=(0, 1), eps=0.01)"},
                    "loss": "half_sse(y, t)"},
    ops.BatchNorm: {"inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3], "g": [2]},
                    "nodes": {"y": "g * batch_norm(W @ x)"}, "loss": "half_sse(y, t)"},
    # The adjoint of every input of both convolutions, with stride, padding and positions the
    # windows leave out (6 + 2 - 3 and 9 - 2 are odd); a bias by broadcasting.
    ops.Conv: {"inputs": {"x": [2, 6, 6]}, "targets": {"t": [2, 4]},
               "params": {"v": [2, 6, 6], "K": [3, 2, 3, 3], "kb": [3, 1, 1], "L": [2, 3, 2]},
               "nodes": {"h": "tanh(conv2d(v * x, K, stride=2, padding=1) + kb)",
                         "y": "conv1d(reshape(h, [3, 9]), L, stride=2)"}, "loss": "half_sse(y, t)"},
    # Overlapping max windows (relu's zeros tie), tiles of a mean, a window that is not square;
    # both 1-D poolings over [C, L], the max one's windows overlapping, the mean's leaving one out.
    ops.Pool: {"inputs": {"x": [2, 5, 5]}, "targets": {"t": [2, 2, 2]}, "params": {"v": [2, 5, 5]},
               "nodes": {"a": "relu(v * x)", "y": "max_pool2d(a, 3, stride=2) + avg_pool2d(a, 2)",
                         "z": "avg_pool2d(a, (2, 3), stride=(3, 1))", "r": "reshape(a, [2, 25])",
                         "u": "max_pool1d(r, 3, stride=2) + avg_pool1d(r, 2)"},
               "loss": "half_sse(y, t) + sum(z * z) + sum(u * u)"},
}


def _spec(name: str, body: dict) -> dict:
    return {"name": name, **body}


def test_every_op_has_a_sample():
    assert set(OP_SAMPLES) == set(ops.OPS), "every op in symprop.ops.OPS needs a row in OP_SAMPLES"


def missing_hooks(op: type[ops.Op]) -> list[str]:
    """The hooks of the protocol that ``op`` does not define itself."""
    return [hook for hook in ops.HOOKS if getattr(op, hook) is getattr(ops.Op, hook)]


@pytest.mark.parametrize("op", ops.OPS, ids=lambda op: op.__name__)
def test_every_op_has_every_hook(op):
    assert missing_hooks(op) == [], f"op {op.__name__} lacks the hooks {missing_hooks(op)}"


def test_a_missing_hook_is_an_error_naming_the_op_and_the_hook():
    class Half(ops.Op):
        pass

    with pytest.raises(ops.MissingHook, match="op Half has no 'numpy' hook"):
        Half().numpy(None, None)


@pytest.mark.parametrize("op", ops.OPS, ids=lambda op: op.__name__)
def test_every_op_through_the_engine(op, tmp_path):
    spec = _spec(f"sample_{op.__name__.lower()}", OP_SAMPLES[op])
    derivation = symprop.derive(symprop.from_dict(spec, source="<test>"))
    used = {type(node.op) for node in derivation.graph.nodes.values()}
    assert op in used, f"the sample of {op.__name__} does not use it"
    check_module_against_references(spec, emit_module(spec, tmp_path))
    tex = derivation.latex()
    assert r"\end{document}" in tex
    needs_tex()
    compile_pdf(derivation.write_latex(tmp_path))


def test_the_reference_evaluator_knows_every_function():
    """The autograd oracle of the graph tests covers the whole formula language."""
    names = {*registry.ACTIVATIONS, *registry.LOSSES, *registry.VECTOR_ACTIVATIONS, *MATH_FUNCTIONS}
    assert names <= set(FUNCTIONS), f"add {sorted(names - set(FUNCTIONS))} to FUNCTIONS in test_tensor_graphs.py"


@pytest.mark.parametrize("name", sorted(registry.ACTIVATIONS))
def test_every_activation_inside_a_graph_spec(name, tmp_path):
    spec = {"name": f"act_{name}", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3], "b": [2]},
            "nodes": {"y": f"{name}(W @ x + b)"}, "loss": "half_sse(y, t)"}
    check_module_against_references(spec, emit_module(spec, tmp_path))


LOSS_OUTPUTS = {"binary_cross_entropy": "sigmoid(W @ x)", "cross_entropy": "softmax(W @ x)"}


@pytest.mark.parametrize("name", sorted(registry.LOSSES))
def test_every_loss_inside_a_graph_spec(name, tmp_path):
    spec = {"name": f"loss_{name}", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3]},
            "nodes": {"y": LOSS_OUTPUTS.get(name, "tanh(W @ x)")}, "loss": f"{name}(y, t)"}
    check_module_against_references(spec, emit_module(spec, tmp_path))


def test_every_op_the_language_names_has_its_shape_rule():
    from symprop.tensor_spec.calls import CALLS

    named = [op for op in ops.OPS if op.CALL_NAMES]
    assert {name for op in named for name in op.CALL_NAMES} == set(CALLS)
    for op in named:
        assert op.from_call.__func__ is not ops.Op.from_call.__func__, f"{op.__name__} names functions but has no from_call"


@pytest.mark.parametrize(
    "node, words",
    [
        ("logsumexp(sum(W))", "logsumexp needs a vector or a tensor, got a scalar"),
        ("sum(W @ x, axis=3)", "axis 3 is out of range for a tensor of rank 1 (per sample)"),
        ("sum(W @ x, axis=0.5)", "axis must be a whole number or a tuple of them, got 0.5"),
        ("sum(W, axis=(1, -1))", "axis (1, -1) repeats an axis"),
        ("sum(W @ x, keep=1)", "unexpected keyword keep= (only axis=, keepdims=)"),
        ("sum(W, axis=1, keepdims=2)", "keepdims must be True or False (or 1 or 0), got 2"),
        ("sum(W, 1, axis=0)", "axis is given twice"),
        ("max(W, 0, 1)", "takes 2 arguments, got 3"),
        ("concat(W @ x)", "needs at least two tensors"),
        ("concat(W, W @ x)", "the parts must agree on every axis but axis -1: W has shape [3, 3], W @ x has shape [3]"),
        ("softmax(W @ x, W @ x)", "takes 1 tensor argument, got 2"),
        ("softmax(W, axis=2)", "axis 2 is out of range for a tensor of rank 2 (per sample)"),
        ("softmax(W, axis=(0, 1))", "softmax runs along one axis, got axis=(0, 1)"),
        ("logsumexp(W, axis=())", "logsumexp runs along one axis, got axis=()"),
        ("reshape(W, [4, 2])", "a reshape must keep the size: W has shape [3, 3] (9 elements), [4, 2] has 8"),
        ("reshape(W, 2.5)", "the new shape must be a list of whole numbers"),
        ("transpose(W, [0, 0])", "axes must list every axis of a tensor of shape [3, 3] once"),
        ('einsum("ij,jk->ik", W, x)', "'jk' has 2 letter(s) but x has shape [3]"),
        ('einsum("ij->k", W)', "the output letter k is in no operand"),
        ('einsum("ii->i", W)', "repeats a letter within one operand"),
        ('einsum("ij", W, W)', "the subscripts 'ij' name 1 operand(s), got 2 tensor(s)"),
        ('einsum("i...->i", W)', "einsum's '...' is not supported"),
        ('einsum(W, W)', "the first argument must be the subscripts"),
        ("where(x, W, W)", "the condition x is a float tensor; it must be a boolean mask"),
        ("where(tril(2), W, W)", "shape mismatch: tril(2) has shape [2, 2], W has shape [3, 3], W has shape [3, 3]"),
        ("tril(0) * W", "the size must be at least 1, got 0"),
        ("layer_norm(sum(W))", "layer_norm needs a vector or a tensor, got a scalar"),
        ("layer_norm(W @ x, eps=0)", "eps must be a positive number, got 0"),
        ("layer_norm(W, axis=1, epsilon=1)", "unexpected keyword epsilon= (only axis=, eps=)"),
        ("layer_norm(reshape(W @ x, [3, 1]))", "normalising over 1 element gives 0 whatever x is"),
        ("batch_norm(W @ x, 0)", "0 must be a tensor"),
        ("batch_norm(W @ x, axis=1)", "axis 1 is out of range for a tensor of rank 1 (per sample)"),
        ("batch_norm(W)", "W is the same for every sample (computed from parameters alone)"),
        ("conv2d(W, reshape(W, [1, 1, 3, 3]))",
         "the input W must have shape [channels, height, width] per sample, got [3, 3]"),
        ("conv2d(reshape(W, [1, 3, 3]), W)", "the kernel W must have shape [out_channels, in_channels, kh, kw], got [3, 3]"),
        ("conv1d(W, reshape(W, [9, 1, 1]))",
         "channel mismatch: the input W has 3 channel(s) (shape [3, 3]), the kernel reshape(W, [9, 1, 1]) takes 1"),
        ("conv1d(W, reshape(concat(W, W), [1, 3, 6]), padding=1)",
         "the kernel reshape(concat(W, W), [1, 3, 6]) (shape [1, 3, 6]) is larger than the input W (shape [3, 3], padding 1)"),
        ("conv1d(W, reshape(W, [1, 3, 3]), stride=1.5)", "the stride must be a whole number, got 1.5"),
        ("conv1d(W, reshape(W, [1, 3, 3]), stride=0)", "the stride must be at least 1, got 0"),
        ("conv1d(W, reshape(W, [1, 3, 3]), padding=-1)", "the padding must be at least 0, got -1"),
        ("conv1d(W, reshape(W, [1, 3, 3]), padding=(1, 1))", "the padding must be a whole number or 1 of them, got 2: (1, 1)"),
        ("conv1d(W, reshape(W, [1, 3, 3]), dilation=2)", "unexpected keyword dilation= (only stride=, padding=)"),
        ("conv1d(W, reshape(W @ x, [1, 3, 1]))", "the kernel reshape(W @ x, [1, 3, 1]) varies by sample; it must not depend on"),
        ("max_pool2d(W, 2)", "the input W must have shape [channels, height, width] per sample, got [3, 3]"),
        ("max_pool2d(reshape(W, [1, 3, 3]))", "needs the window size: max_pool2d(reshape(W, [1, 3, 3]), 2)"),
        ("avg_pool2d(reshape(W, [1, 3, 3]), 4)", "the window 4 is larger than the input reshape(W, [1, 3, 3]) (shape [1, 3, 3])"),
        ("max_pool2d(reshape(W, [1, 3, 3]), 2, stride=(1, 0))", "the stride must be at least 1, got 0"),
        ("avg_pool2d(reshape(W, [1, 3, 3]), 2.5)", "the window size must be a whole number, got 2.5"),
        ("max_pool1d(reshape(W, [1, 3, 3]), 2)",
         "the input reshape(W, [1, 3, 3]) must have shape [channels, length] per sample, got [1, 3, 3]"),
        ("avg_pool1d(W)", "needs the window size: avg_pool1d(W, 2)"),
        ("max_pool1d(W, 4)", "the window 4 is larger than the input W (shape [3, 3])"),
        ("avg_pool1d(W, (2, 2))", "the window size must be a whole number or 1 of them, got 2: (2, 2)"),
        ("max_pool1d(W, 2, stride=0)", "the stride must be at least 1, got 0"),
        ("avg_pool1d(W, 2, stride=(1, 1))", "the stride must be a whole number or 1 of them, got 2: (1, 1)"),
        ("max_pool1d(W, 2, padding=1)", "unexpected keyword padding= (only kernel_size=, stride=)"),
    ],
)
def test_a_shape_rule_refusal_names_the_node_and_the_call(node, words):
    spec = {"name": "bad_call", "inputs": {"x": 3}, "targets": {"t": 3}, "params": {"W": [3, 3]},
            "nodes": {"y": node}, "loss": "half_sse(y, t)"}
    with pytest.raises(symprop.SpecError) as error:
        symprop.from_dict(spec, source="<test>")
    assert str(error.value).startswith("<test>: nodes.y: ") and words in str(error.value)
