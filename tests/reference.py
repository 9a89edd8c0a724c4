"""An independent evaluator of graph specs, the oracle of the graph tests.

It does not go through symprop's lowering or emitter: ``Reference`` reads the spec's
expression text with Python's ``ast`` (trusted test input) and evaluates it sample by sample
with ``autograd.numpy``, with its own definition of every function of the language;
``autograd.grad`` of the batch loss is the reference gradient.  The one function that needs
the whole batch, ``batch_norm``, evaluates its argument for every sample when the first sample
reaches it, normalises over the batch once, and hands each sample its row.
"""

from __future__ import annotations

import ast
import itertools
import re

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import erf as anp_erf

TOLERANCE = 1e-7


def _axis(axis):
    """An axis argument as NumPy takes it (numbers are read as floats)."""
    return int(axis) if isinstance(axis, float) else axis


def _sigmoid(z):
    return 1 / (1 + anp.exp(-z))


def _where(mask, a, b):
    """NumPy's where, its branches broadcast first: autograd's where sends a broadcast branch
    an adjoint of the full shape (it does not sum it back), so the gradient would be wrong."""
    zeros = np.zeros(np.broadcast_shapes(np.shape(mask), np.shape(a), np.shape(b)))
    return anp.where(mask, a + zeros, b + zeros)  # '+' sums its adjoint back over broadcast axes


def _normalized(x, axis, eps):
    centred = x - anp.mean(x, axis=axis, keepdims=True)
    return centred / anp.sqrt(anp.mean(centred**2, axis=axis, keepdims=True) + eps)


def _per_axis(value, dims: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, tuple) else (int(value),) * dims


def _zero_padded(x, padding):
    """x (channels first) with zeros around its spatial axes, by concatenation."""
    for axis, pad in enumerate(padding, start=1):
        if pad:
            zeros = np.zeros(x.shape[:axis] + (pad,) + x.shape[axis + 1 :])
            x = anp.concatenate([zeros, x, zeros], axis=axis)
    return x


def _window_slices(x, size, stride):
    """For each offset within a window: the elements of x (channels first) that every window
    reads at that offset, as a strided slice (offset, slice)."""
    counts = [(n - m) // s + 1 for n, m, s in zip(x.shape[1:], size, stride)]
    for offset in itertools.product(*(range(m) for m in size)):
        where = tuple(slice(o, o + s * (c - 1) + 1, s) for o, s, c in zip(offset, stride, counts))
        yield offset, x[(slice(None), *where)]


def _conv(x, w, stride=1, padding=0):
    """PyTorch's conv1d/conv2d of one sample (a cross-correlation): a sum over kernel offsets."""
    dims = w.ndim - 2
    padded = _zero_padded(x, _per_axis(padding, dims))
    terms = [
        anp.tensordot(w[(slice(None), slice(None), *offset)], part, axes=(1, 0))
        for offset, part in _window_slices(padded, w.shape[2:], _per_axis(stride, dims))
    ]
    return sum(terms[1:], terms[0])


def _pool(reduce, x, kernel_size, stride=None):
    """PyTorch's max/avg_pool1d/2d of one sample (x channels first): ``reduce`` of the slices."""
    dims = x.ndim - 1
    size = _per_axis(kernel_size, dims)
    parts = [part for _, part in _window_slices(x, size, _per_axis(kernel_size if stride is None else stride, dims))]
    return reduce(anp.stack(parts), axis=0)


_SELU = (1.0507009873554805, 1.6732632423543772)
FUNCTIONS = {
    "identity": lambda z: z,
    "sigmoid": _sigmoid,
    "tanh": anp.tanh,
    "relu": lambda z: anp.where(z > 0, z, 0.0),
    "leaky_relu": lambda z, alpha=0.01: anp.where(z > 0, z, alpha * z),
    "elu": lambda z, alpha=1.0: anp.where(z > 0, z, alpha * (anp.exp(anp.minimum(z, 0.0)) - 1)),
    "selu": lambda z: _SELU[0] * anp.where(z > 0, z, _SELU[1] * (anp.exp(anp.minimum(z, 0.0)) - 1)),
    "softplus": lambda z: anp.logaddexp(0.0, z),
    "silu": lambda z: z * _sigmoid(z),
    "swish": lambda z: z * _sigmoid(z),
    "gelu": lambda z: 0.5 * z * (1 + anp_erf(z / np.sqrt(2.0))),
    "exp": anp.exp,
    "log": anp.log,
    "sqrt": anp.sqrt,
    "abs": anp.abs,
    "sinh": anp.sinh,
    "cosh": anp.cosh,
    "sin": anp.sin,
    "cos": anp.cos,
    "erf": anp_erf,
    "sign": anp.sign,
    "step": lambda z: anp.where(z > 0, 1.0, 0.0),
    "log1p": anp.log1p,
    "expm1": anp.expm1,
    "max": lambda a, b=None, axis=None, keepdims=False: (
        anp.max(a, axis=axis, keepdims=keepdims) if b is None else anp.maximum(a, b)
    ),
    "min": anp.minimum,
    "softmax": lambda z, axis=-1: (
        anp.exp(z - anp.max(z, axis=int(axis), keepdims=True))
        / anp.sum(anp.exp(z - anp.max(z, axis=int(axis), keepdims=True)), axis=int(axis), keepdims=True)
    ),
    "logsumexp": lambda z, axis=-1: (
        anp.max(z, axis=int(axis))
        + anp.log(anp.sum(anp.exp(z - anp.max(z, axis=int(axis), keepdims=True)), axis=int(axis)))
    ),
    "sum": lambda a, axis=None, keepdims=False: anp.sum(a, axis=_axis(axis), keepdims=keepdims),
    "mean": lambda a, axis=None, keepdims=False: anp.mean(a, axis=_axis(axis), keepdims=keepdims),
    "concat": lambda *parts, axis=-1: anp.concatenate(parts, axis=axis),
    "einsum": lambda subscripts, *operands: anp.einsum(subscripts, *operands),
    # axes made non-negative: autograd's transpose inverts the permutation with argsort (wrong for -1)
    "transpose": lambda a, axes=None: anp.transpose(a, None if axes is None else tuple(k % anp.ndim(a) for k in axes)),
    "reshape": lambda a, shape: anp.reshape(a, shape if isinstance(shape, tuple) else int(shape)),
    "where": _where,
    "layer_norm": lambda x, axis=-1, eps=1e-5: _normalized(x, axis, eps),
    "tril": lambda n: np.tril(np.ones((int(n), int(n)), dtype=bool)),
    "conv1d": _conv,
    "conv2d": _conv,
    "max_pool1d": lambda x, kernel_size, stride=None: _pool(anp.max, x, kernel_size, stride),
    "avg_pool1d": lambda x, kernel_size, stride=None: _pool(anp.mean, x, kernel_size, stride),
    "max_pool2d": lambda x, kernel_size, stride=None: _pool(anp.max, x, kernel_size, stride),
    "avg_pool2d": lambda x, kernel_size, stride=None: _pool(anp.mean, x, kernel_size, stride),
    "half_sse": lambda y, t: anp.sum((t - y) ** 2) / 2,
    "mse": lambda y, t: anp.mean((y - t) ** 2),
    "mae": lambda y, t: anp.mean(anp.abs(y - t)),
    "huber": lambda y, t, delta=1.0: anp.mean(
        anp.where(anp.abs(y - t) <= delta, (y - t) ** 2 / 2, delta * (anp.abs(y - t) - delta / 2))
    ),
    "binary_cross_entropy": lambda y, t: -anp.mean(t * anp.log(y) + (1 - t) * anp.log(1 - y)),
    "cross_entropy": lambda y, t: -anp.sum(t * anp.log(y)),
}
_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
    ast.MatMult: lambda a, b: a @ b,
}


def _expand_repeats(section: dict) -> dict:
    """``name{k}: {for: k in a..b, value: v}`` -> name_a: v_a, ..., name_b: v_b."""
    out = {}
    for key, value in section.items():
        if "{" not in str(key):
            out[key] = value
            continue
        var, first, last = re.match(r"(\w+) in (-?\d+)\.\.(-?\d+)", value["for"]).groups()
        for k in range(int(first), int(last) + 1):

            def fill(text, k=k, var=var):
                return re.sub(r"\{" + var + r"([+-]\d+)?\}", lambda m: str(k + int(m.group(1) or 0)), str(text))

            out[fill(key)] = fill(value["value"]) if isinstance(value["value"], str) else value["value"]
    return out


class Reference:
    """A graph spec evaluated from its text: the batch loss as a function of the parameters."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.inputs = _expand_repeats(spec["inputs"])
        self.targets = _expand_repeats(spec.get("targets") or {})
        self.nodes = _expand_repeats(spec["nodes"])
        self.constants = {k: float(v) for k, v in (spec.get("constants") or {}).items()}
        self.functions = dict(spec.get("functions") or {})
        self.parsed: dict[str, ast.AST] = {}  # one tree per text, so a call site is one object
        self.batch: list[tuple[dict, dict]] = []  # every sample's (env, memo) while batch_loss runs
        self.batch_norms: dict[int, object] = {}  # call site -> its output for the whole batch

    def eval(self, text: str, env: dict, memo: dict):
        if text not in self.parsed:
            self.parsed[text] = ast.parse(text.replace("^", "**"), mode="eval").body
        return self._eval(self.parsed[text], env, memo)

    def _eval(self, node, env, memo):
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else float(node.value)
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(int(self._eval(e, env, memo)) for e in node.elts)
        if isinstance(node, ast.Subscript):
            return self._eval(node.value, env, memo)[self._index(node.slice, env, memo)]
        if isinstance(node, ast.Name):
            return self.lookup(node.id, env, memo)
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, env, memo)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            return _OPERATORS[type(node.op)](self._eval(node.left, env, memo), self._eval(node.right, env, memo))
        if isinstance(node, ast.Attribute):
            assert node.attr == "T"
            return anp.transpose(self._eval(node.value, env, memo))
        if isinstance(node, ast.Call):
            if node.func.id == "batch_norm":
                return self._batch_norm(node, env, memo)
            stable = self._stable_loss(node, env, memo)
            if stable is not None:
                return stable
            args = [self._eval(a, env, memo) for a in node.args]
            keywords = {k.arg: self._eval(k.value, env, memo) for k in node.keywords}
            if isinstance(keywords.get("axis"), float):
                keywords["axis"] = int(keywords["axis"])
            if "keepdims" in keywords:
                keywords["keepdims"] = bool(keywords["keepdims"])
            name = node.func.id
            if name in self.functions:
                return self.eval(self.functions[name], {**env, "z": args[0]}, {})
            return FUNCTIONS[name](*args, **keywords)
        raise AssertionError(ast.dump(node))

    def _stable_loss(self, node: ast.Call, env, memo):
        """``cross_entropy(softmax(z), t)`` and ``binary_cross_entropy(sigmoid(z), t)`` written
        inline, computed from z (log-softmax, log-sigmoid) as precisely as the module's fused
        spelling, so that saturated outputs compare to 1e-10; None for any other call."""
        name = getattr(node.func, "id", None)
        want = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}.get(name)
        inner = node.args[0] if node.args else None
        if want is None or len(node.args) != 2 or node.keywords or want in self.functions:
            return None
        if not (isinstance(inner, ast.Call) and getattr(inner.func, "id", None) == want):
            return None
        z, t = self._eval(inner.args[0], env, memo), self._eval(node.args[1], env, memo)
        if want == "sigmoid":  # log(sigmoid(z)) = -log(1 + exp(-z)), log(1 - sigmoid(z)) = -log(1 + exp(z))
            return anp.mean(t * anp.logaddexp(0.0, -z) + (1 - t) * anp.logaddexp(0.0, z))
        axis = self._eval(inner.args[1], env, memo) if len(inner.args) > 1 else -1
        axis = int(next((self._eval(k.value, env, memo) for k in inner.keywords if k.arg == "axis"), axis))
        shifted = z - anp.max(z, axis=axis, keepdims=True)
        return -anp.sum(t * (shifted - anp.log(anp.sum(anp.exp(shifted), axis=axis, keepdims=True))))

    def _batch_norm(self, node, env, memo):
        """This sample's row of batch_norm(x, axis=..., eps=...): x of every sample, stacked,
        normalised over the batch and the per-sample axes listed (PyTorch's training mode)."""
        if id(node) not in self.batch_norms:
            keywords = {k.arg: self._eval(k.value, env, memo) for k in node.keywords}
            axes = keywords.get("axis", ())
            axes = axes if isinstance(axes, tuple) else (int(axes),)
            stacked = anp.stack([self._eval(node.args[0], e, m) for e, m in self.batch])
            over = (0, *(a + 1 if a >= 0 else a for a in axes))
            self.batch_norms[id(node)] = _normalized(stacked, over, keywords.get("eps", 1e-5))
        sample = next(s for s, (e, _) in enumerate(self.batch) if e is env)
        return self.batch_norms[id(node)][sample]

    def _index(self, node, env, memo):
        """A subscript: whole numbers, constant slices, or an integer array (a table lookup)."""
        if isinstance(node, ast.Tuple):
            return tuple(self._index(e, env, memo) for e in node.elts)
        if isinstance(node, ast.Slice):
            return slice(*(None if b is None else int(self._eval(b, env, memo)) for b in (node.lower, node.upper, node.step)))
        value = self._eval(node, env, memo)
        return int(value) if isinstance(value, float) else value

    def lookup(self, name, env, memo):
        if name in env:
            return env[name]
        if name in self.constants:
            return self.constants[name]
        if name not in memo:
            memo[name] = self.eval(self.nodes[name], env, memo)
        return memo[name]

    def batch_loss(self, params: dict, X: dict, T: dict):
        batch = len(next(iter(X.values())))
        self.batch_norms = {}
        self.batch = [
            ({**params, **{k: v[s] for k, v in X.items()}, **{k: v[s] for k, v in T.items()}}, {}) for s in range(batch)
        ]
        total = 0.0
        for env, memo in self.batch:
            total = total + self.eval(self.spec["loss"], env, memo)
        return total / batch

    def gradients(self, params: dict, X: dict, T: dict) -> dict:
        return autograd.grad(lambda p: self.batch_loss(p, X, T))(params)

    def as_dicts(self, X, T) -> tuple[dict, dict]:
        X = X if isinstance(X, dict) else {next(iter(self.inputs)): X}
        T = T if isinstance(T, dict) else ({next(iter(self.targets)): T} if self.targets else {})
        return X, T


#: Each registry loss with the output activation it usually follows (tests that run every loss
#: through a backend; a test checks that it covers the registry).
LOSS_OUTPUTS = {
    "half_sse": "sigmoid",
    "mse": "tanh",
    "mae": "identity",
    "huber": "identity",
    "binary_cross_entropy": "sigmoid",
    "cross_entropy": "softmax",
}


# -- helpers -----------------------------------------------------------------------------


def relative_error(a: dict, b: dict) -> float:
    g = np.concatenate([np.ravel(a[k]) for k in sorted(a)])
    n = np.concatenate([np.ravel(b[k]) for k in sorted(a)])
    return float(np.linalg.norm(g - n) / max(np.linalg.norm(g) + np.linalg.norm(n), 1e-300))


def point(module, seed=0, batch=3):
    rng = np.random.default_rng(seed + 7)
    params = {k: np.asarray(v + 0.3 * rng.standard_normal(np.shape(v))) for k, v in module.init_params(seed).items()}
    X, T = module.sample_batch(batch, seed)
    return params, X, T


def check_module_against_references(spec: dict, module, seeds=(0, 1)):
    reference = Reference(spec)
    for seed in seeds:
        params, X, T = point(module, seed)
        value, grads = module.loss_and_grad(params, X, T)
        assert set(grads) == set(params) and all(np.shape(grads[k]) == np.shape(params[k]) for k in params)
        Xd, Td = reference.as_dicts(X, T)
        assert abs(value - reference.batch_loss(params, Xd, Td)) <= 1e-10 * (1 + abs(value))
        ours = {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}
        assert relative_error(ours, reference.gradients(params, Xd, Td)) < TOLERANCE, f"autograd disagrees (seed {seed})"
    assert module.gradient_check(seed=0) < TOLERANCE
