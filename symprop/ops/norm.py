"""Normalisation: ``layer_norm(x, axis=-1, eps=1e-5)`` over axes of one sample, and
``batch_norm(x, eps=1e-5, axis=())`` over the batch.

Both compute ``y = (x - mean) / sigma`` with ``sigma = sqrt(var + eps)`` (the biased variance,
as PyTorch normalises with), with no gain or shift inside: the spec writes the affine part
itself, ``g * layer_norm(x) + b``.  They differ only in what the statistics are taken over:

* ``layer_norm``: the per-sample ``axis`` (default the last; a tuple normalises over several,
  like PyTorch's ``normalized_shape``).  Every sample is normalised on its own.
* ``batch_norm``: the batch, each per-sample element (feature) on its own; ``axis=`` lists
  per-sample axes pooled with the batch (x of shape [C, H, W] with ``axis=(1, 2)`` is
  PyTorch's BatchNorm2d; a vector x with no ``axis`` is BatchNorm1d).  Training-mode
  statistics only: there are no running averages, so the module has no inference mode.

Their adjoint is written as a person would, not through the mean and the variance as nodes:
with the upstream adjoint ``g`` and means over the same axes,
``dx = (g - mean(g) - y * mean(g * y)) / sigma``.  The forward line saves ``1/sigma``
(``Op.saves``) and the backward line reads it and the output y (which is x-hat), so backward
needs neither x nor a second pass over it.

Batch norm couples the samples of a batch, and symprop says so wherever it assumed they were
independent:

* The loss is still the mean over the batch of each sample's loss, but each sample's loss now
  depends on the whole batch.  The reverse pass needs no change: the upstream adjoint ``g`` is
  that of the batch loss (it carries the 1/N), and the batch means in the formula above
  gather what every sample's output sends back to each x.  The module's gradient_check and
  ``symprop check`` differentiate the batch loss numerically, so they test exactly this.
* A batch whose statistics would have one value each (a batch of one, unless ``axis`` pools
  per-sample axes too) normalises every value to 0; PyTorch refuses it in training, and so
  does the module, with one ValueError.
* The per-weight view (``symprop.scalar``) is one sample's scalar expressions: for batch norm
  it does not exist, so ``elements`` refuses with a SymPropError naming the node, the handout
  leaves it out (``Derivation.has_scalar``), and a spec with a worked example (one sample)
  is refused by the spec reader.
* The handout's per-sample formulas write the statistics as ``mean_batch`` and ``var_batch``
  and say in words that they come from the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from ..errors import SymPropError
from .base import Adjoint, AdjointCode, Op, axes_code, batched_axes
from .indices import element_indices, flat_index
from .shape_rule import ShapeRuleError, axis_list

NORMALIZE = "normalize"

#: The module's helper: two passes (centre, then the mean square of the centred values), never
#: E[x^2] - E[x]^2, which cancels catastrophically for large |x| and can turn negative.  Along the
#: last axis alone (layer_norm's default) the means are row sums by BLAS (``_row_sum``, as softmax's)
#: over n: NumPy's ``mean`` reduces a short row at a time (timed in ``LayerNorm.mean_code``).
HELPER = (
    "def _normalize(x, axis, eps):\n"
    '    """(x - mean) / sigma over ``axis``, and 1 / sigma (for backward), sigma = sqrt(var + eps).\n'
    "\n"
    "    The variance is the mean square of the centred values: E[x^2] - E[x]^2 would cancel\n"
    "    catastrophically for large |x| (and could turn negative).  Along the last axis the means\n"
    '    are row sums by BLAS (_row_sum) over n: (64, 8, 32) float64 45 against 60 us."""\n'
    "    if axis == -1:\n"
    "        n = x.shape[-1]\n"
    "        centred = x - _row_sum(x) / n\n"
    "        inv_sigma = 1 / np.sqrt(_row_sum(centred * centred) / n + eps)\n"
    "    else:\n"
    "        centred = x - x.mean(axis=axis, keepdims=True)\n"
    "        inv_sigma = 1 / np.sqrt((centred * centred).mean(axis=axis, keepdims=True) + eps)\n"
    "    return centred * inv_sigma, inv_sigma\n"
)

#: Numba's spelling of ``HELPER`` along the last axis alone (the module's call reads ``axis=-1``
#: then; ``emit.numba.spelling`` refuses a call along other axes): row by row in one loop, the sums
#: by ``_row_dot`` (the numba module's; as accurate as the NumPy module's BLAS sums), every number
#: in x's dtype (Numba computes a float32 array with a float64 number in float64).  Numba's x - mean
#: and centred * inv_sigma, broadcast over arrays of 3 axes, cost ~5 ns an element ((64, 8, 32)
#: float64: 34 us as array expressions); BLAS's row sums and loops, a pass each, 1.4 ms at batch 1024.
NUMBA_NORMALIZE = (
    "def _normalize(x, axis, eps):\n"
    '    """(x - mean) / sigma along the last axis, and 1 / sigma (for backward), sigma = sqrt(var + eps):\n'
    '    per row, mean = sum_j x_j / n, var = sum_j (x_j - mean)^2 / n."""\n'
    "    F = x.dtype.type\n"
    "    n = x.shape[-1]\n"
    "    rows = np.ascontiguousarray(x).reshape(-1, n)\n"
    "    ones = np.ones(n, x.dtype)\n"
    "    out = np.empty(rows.shape, x.dtype)\n"
    "    inv_sigma = np.empty(rows.shape[0], x.dtype)\n"
    "    for r in range(rows.shape[0]):\n"
    "        mean = _row_dot(rows[r], ones) / F(n)\n"
    "        for j in range(n):\n"
    "            out[r, j] = rows[r, j] - mean\n"
    "        inv = F(1.0) / np.sqrt(_row_dot(out[r], out[r]) / F(n) + F(eps))\n"
    "        inv_sigma[r] = inv\n"
    "        for j in range(n):\n"
    "            out[r, j] *= inv\n"
    "    return out.reshape(x.shape), inv_sigma.reshape(x.shape[:-1] + (1,))\n"
)

#: The numba backend's backward step of ``_normalize`` along the last axis: (g - mean(g) - y
#: mean(g y)) / sigma row by row in one loop, the means by ``_row_dot`` as ``NUMBA_NORMALIZE``'s
#: ((64, 8, 32) float64: 130 us as array expressions, with the sum into the input's gradient).
NUMBA_NORMALIZE_ADJOINT = (
    "def _normalize_adjoint(g, y, inv_sigma):\n"
    '    """(g - mean(g) - y mean(g y)) / sigma along the last axis: the gradient of y = _normalize(x)[0] from\n'
    '    g = dE/dy, inv_sigma = 1 / sigma (_normalize\'s second value)."""\n'
    "    F = y.dtype.type\n"
    "    n = y.shape[-1]\n"
    "    gs = np.ascontiguousarray(g).reshape(-1, n)\n"
    "    ys = np.ascontiguousarray(y).reshape(-1, n)\n"
    "    inv = np.ascontiguousarray(inv_sigma).ravel()\n"
    "    ones = np.ones(n, y.dtype)\n"
    "    out = np.empty(ys.shape, y.dtype)\n"
    "    for r in range(ys.shape[0]):\n"
    "        mean_g = _row_dot(gs[r], ones) / F(n)\n"
    "        mean_gy = _row_dot(gs[r], ys[r]) / F(n)\n"
    "        for j in range(n):\n"
    "            out[r, j] = (gs[r, j] - mean_g - ys[r, j] * mean_gy) * inv[r]\n"
    "    return out.reshape(y.shape)\n"
)

BATCH_HELPER = (
    "def _batch_norm(x, axis, eps):\n"
    '    """(x - mean) / sigma over the batch (axis 0) and the per-sample axes pooled with it, and\n'
    "    1 / sigma (for backward), sigma = sqrt(var + eps); the variance is the mean square of the\n"
    "    centred values (E[x^2] - E[x]^2 would cancel catastrophically for large |x|).\n"
    "\n"
    "    Refuses a batch that gives each statistic one value: every output would be 0 (a batch of\n"
    '    one sample, unless per-sample axes are pooled too), as PyTorch refuses it in training."""\n'
    "    count = 1\n"
    "    for a in axis:\n"
    "        count *= x.shape[a]\n"
    "    if count < 2:\n"
    "        raise ValueError(\n"
    '            f"batch_norm needs at least 2 samples in a batch (it normalises over the batch), got a batch of {x.shape[0]}"\n'
    "        )\n"
    "    centred = x - _batch_mean(x, axis)\n"
    "    inv_sigma = 1 / np.sqrt(_batch_mean(centred * centred, axis) + eps)\n"
    "    return centred * inv_sigma, inv_sigma\n"
)

#: The batch statistics' means.  Over leading axes (always the batch, axis 0, alone or with the
#: first per-sample axes) they are products by BLAS with a vector of 1/n (``_ones(n, dtype, mean=True)``,
#: made once per length and dtype): x.mean(axis=0) took 3.9 us on a (64, 16) float64 array and 19.8 us
#: on (1024, 16), a sum with ones then a division 1.3 and 3.1 us, the product with 1/n 0.6 us at
#: (64, 16) (NumPy 2.4, OpenBLAS); batchnorm_mlp spends four means a call.
BATCH_MEAN_HELPER = (
    "def _batch_mean(A, axis):\n"
    '    """The mean of A over ``axis`` (the batch and the per-sample axes pooled with it), to broadcast\n'
    "    against A: over leading axes as one product with a vector of 1/n by BLAS, 2-6x faster than\n"
    '    A.mean(axis=0) or a sum then a division."""\n'
    "    if axis == (0,) and A.ndim == 2:  # (batch, n): the usual case, without reshapes\n"
    "        return np.dot(_ones(len(A), A.dtype, mean=True), A)\n"
    "    if axis != tuple(range(len(axis))):\n"
    "        return A.mean(axis=axis, keepdims=True)\n"
    "    rows = 1\n"
    "    for n in A.shape[: len(axis)]:\n"
    "        rows *= n\n"
    "    return np.dot(_ones(rows, A.dtype, mean=True), A.reshape(rows, -1)).reshape(A.shape[len(axis) :])\n"
)


def axis_groups(shape: tuple[int, ...], axes: tuple[int, ...]) -> list[list[int]]:
    """The flat positions of the elements normalised together: one group per index of the other axes."""
    groups: dict[tuple, list[int]] = {}
    for index in element_indices(shape):
        key = tuple(i for k, i in enumerate(index) if k not in axes)
        groups.setdefault(key, []).append(flat_index(index, shape))
    return list(groups.values())


def number_tex(value: float) -> str:
    """``10^{-5}``, ``2 \\cdot 10^{-3}`` or ``0.01``: a constant in the handout."""
    mantissa, _, exponent = f"{value:.6g}".partition("e")
    if not exponent:
        return mantissa
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else rf"{mantissa} \cdot {power}"


def _eps(call) -> float:
    value = call.keywords.get("eps", sp.Rational(1, 10**5))
    if isinstance(value, bool) or not isinstance(value, (int, float, sp.Number)) or not 0 < float(value) < math.inf:
        raise ShapeRuleError(f"eps must be a positive number, got {value}")
    return float(value)


@dataclass(frozen=True)
class Normalization(Op):
    """``(x - mean) / sqrt(var + eps)``; the subclass says what the mean and the variance are
    taken over (``axes``: per-sample axes, sorted, with the batch or not)."""

    axes: tuple[int, ...] = (0,)
    eps: float = 1e-5

    saves = ("rstd",)
    title = "normalisation"

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, NORMALIZE)]

    def module_axes(self, rank: int) -> str:
        """The ``axis=`` of the statistics in the module's arrays (x of per-sample ``rank``)."""
        raise NotImplementedError

    def where(self, rank: int) -> str:
        """What the statistics are taken over, for comments (x of per-sample ``rank``)."""
        raise NotImplementedError

    def mean_code(self, array: str, axes: str, code, shape: tuple[int, ...]) -> str:
        """The module's code of the mean of ``array`` (code, of per-sample ``shape``) over ``axes``
        (``module_axes``), shaped to broadcast against it."""
        return f"{array if array.isidentifier() else f'({array})'}.mean(axis={axes}, keepdims=True)"

    def subscript(self, rank: int) -> str:
        """The statistics' subscript in the handout (``_{\\text{batch}}``), for x of ``rank``."""
        raise NotImplementedError

    def element_form(self, step, tex, eq) -> str:
        """The backward step for one element (or "" where the vector form says it better)."""
        raise NotImplementedError

    def remark(self, x: str, y: str) -> str:
        """The step's remark in words, for input ``x`` and output ``y`` (their LaTeX)."""
        raise NotImplementedError

    # -- NumPy --------------------------------------------------------------------------

    def numpy_adjoint(self, step, code):
        y, g = code.use(step.source), code.grad(step.source)
        shape = code.node(step.source).shape
        rank = len(shape)
        axes = self.module_axes(rank)
        spelled = (
            f"({g} - {self.mean_code(g, axes, code, shape)} - {y} * {self.mean_code(f'{g} * {y}', axes, code, shape)})"
            f" * {code.saved(step.source, 'rstd')}"
        )
        grad = f"dE/d{step.source}"
        math_text = f"({grad} - mean({grad}) - {step.source} * mean({grad} * {step.source})) / sigma, {self.where(rank)}"
        return AdjointCode(spelled, math_text)

    # -- LaTeX --------------------------------------------------------------------------

    def latex(self, node, tex):
        x = tex.node_tex(node.inputs[0])
        sub = self.subscript(len(node.shape))
        return (
            rf"\frac{{{x} - \operatorname{{mean}}{sub}({x})}}"
            rf"{{\sqrt{{\operatorname{{var}}{sub}({x}) + {number_tex(self.eps)}}}}}"
        )

    def latex_adjoint(self, step, tex, eq):
        x, y = tex.node_tex(step.target), tex.node_tex(step.source)
        g = tex.partial("E", y)
        mean = rf"\operatorname{{mean}}{self.subscript(len(tex.node(step.source).shape))}"
        vector = (
            rf"{tex.partial('E', x)} {eq} \frac{{1}}{{\sigma}} \odot \Bigl({g} - {mean}\bigl({g}\bigr) "
            rf"- {y} \odot {mean}\bigl({g} \odot {y}\bigr)\Bigr)"
        )
        return self.element_form(step, tex, eq), vector, self.remark(x, y)

    def words(self, step, tex):
        return rf"back through the {self.title} ${tex.node_tex(step.source)}$"


@dataclass(frozen=True)
class LayerNorm(Normalization):
    """``layer_norm(x, axis=-1, eps=1e-5)``: each sample normalised over its own ``axes``."""

    CALL_NAMES = ("layer_norm",)
    title = "layer normalisation"
    #: along the last axis (emit.numba.spelling refuses others; numba_adjoint spells that axis alone)
    numba_helpers = {NORMALIZE: NUMBA_NORMALIZE, "normalize_adjoint": NUMBA_NORMALIZE_ADJOINT}

    @classmethod
    def from_call(cls, call):
        call.check(1, allowed=("axis", "eps"), values=1)
        shape = call.shapes[0]
        if not shape:
            raise ShapeRuleError("layer_norm needs a vector or a tensor, got a scalar")
        axes = axis_list(call.constant(0, "axis", -1), len(shape))
        if math.prod(shape[k] for k in axes) < 2:
            raise ShapeRuleError("normalising over 1 element gives 0 whatever x is; normalise over 2 elements or more")
        return cls(axes, _eps(call)), shape

    def module_axes(self, rank):
        return axes_code(tuple(k - rank for k in self.axes))  # from the end: the same with or without a batch axis

    def numba_adjoint(self, step, code):
        """Along the last axis alone, one loop over the rows (``NUMBA_NORMALIZE_ADJOINT``)."""
        if self.module_axes(len(code.node(step.source).shape)) != "-1":
            return None
        y, g, rstd = code.use(step.source), code.grad(step.source), code.saved(step.source, "rstd")
        grad = f"dE/d{step.source}"
        math_text = f"({grad} - mean({grad}) - {step.source} * mean({grad} * {step.source})) / sigma, along the last axis"
        return AdjointCode(f"_normalize_adjoint({g}, {y}, {rstd})", math_text)

    def mean_code(self, array, axes, code, shape):
        """Along the last axis alone, a row sum by BLAS (``_row_sum``) over n, in brackets: NumPy's
        ``mean`` reduces one short row at a time.  The backward step of a (64, 8, 32) layer norm
        took 60 against 77 us in float64, 36 against 53 in float32; ``_normalize`` 45 against 60
        and 28 against 47 (0.66-0.89x at (1024, 8, 32) and (64, 512); NumPy 2.4, OpenBLAS)."""
        if axes != "-1":
            return super().mean_code(array, axes, code, shape)
        code.printer.helpers.add("row_sum")
        return f"(_row_sum({array}) / {shape[-1]})"

    def where(self, rank):
        if self.axes == (rank - 1,):
            return "along the last axis"
        return "along axis " + ", ".join(str(k) for k in self.axes)

    def subscript(self, rank):
        return "" if rank == 1 else rf"_{{\text{{axis {', '.join(str(k + 1) for k in self.axes)}}}}}"

    def elements(self, node, args):
        out = [sp.S.Zero] * len(args[0])
        eps = sp.Rational(repr(self.eps))
        for group in axis_groups(node.shape, self.axes):
            xs = [args[0][p] for p in group]
            mean = sum(xs) / len(xs)
            sigma = sp.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs) + eps)
            for p, x in zip(group, xs):
                out[p] = (x - mean) / sigma
        return out

    def scalar(self, node, code):
        """Each group's mean and 1/sigma once (as the NumPy helper does), then (x - mean) / sigma."""
        xs, ys = code.view.symbols[node.inputs[0]], code.view.symbols[node.name]
        eps = sp.Rational(repr(self.eps))
        groups = axis_groups(node.shape, self.axes)
        lines = []
        for number, group in enumerate(groups, 1):
            tag = "" if len(groups) == 1 else str(number)
            mean = sp.Symbol(code.temporary(node.name, f"mean{tag}"), real=True)
            inverse = sp.Symbol(code.temporary(node.name, f"inv{tag}"), real=True)
            squares = code.code(sp.Add(*((xs[p] - mean) ** 2 for p in group)))
            lines.append((mean.name, f"({code.code(sp.Add(*(xs[p] for p in group)))}) / {len(group)}"))
            lines.append((inverse.name, f"1 / {code.spelled('sqrt({x})', x=f'({squares}) / {len(group)} + {code.code(eps)}')}"))
            lines += [(ys[p].name, code.code((xs[p] - mean) * inverse)) for p in group]
        return lines

    def scalar_adjoints(self, node, upstream, view):
        """dE/dx_k = (g_k - mean(g) - y_k mean(g y)) / sigma within each normalised group, as the module computes it."""
        ys, xs = view.symbols[node.name], view.symbols[node.inputs[0]]
        eps = sp.Rational(repr(self.eps))
        for group in axis_groups(node.shape, self.axes):
            n = len(group)
            mean = sum(xs[p] for p in group) / n
            sigma = sp.sqrt(sum((xs[p] - mean) ** 2 for p in group) / n + eps)
            mean_g = sum(upstream[p] for p in group) / n
            mean_gy = sum(upstream[p] * ys[p] for p in group) / n
            for p in group:
                yield xs[p], (upstream[p] - mean_g - ys[p] * mean_gy) / sigma

    def numpy(self, node, code):
        code.require_helper("normalize", HELPER, needs=("row_sum",))
        axes = self.module_axes(len(node.shape))
        spelled = f"_normalize({code.use(node.inputs[0])}, axis={axes}, eps={self.eps!r})"
        return spelled, f"{node.name} = layer_norm({node.inputs[0]}) {self.where(len(node.shape))}, and 1/sigma for backward"

    def element_form(self, step, tex, eq):
        if len(self.axes) != 1:
            return ""
        shape = tex.node(step.source).shape
        letters = tex.index_letters(shape)
        (k,) = self.axes
        other = "".join(c if p != k else c + "'" for p, c in enumerate(letters))
        el, partial = tex.el, tex.partial
        x, y = step.target, step.source
        n = shape[k]
        return (
            rf"{partial('E', el(x, letters))} {eq} \frac{{1}}{{\sigma}} \Bigl({partial('E', el(y, letters))} - "
            rf"\frac{{1}}{{{n}}} \sum_{{{letters[k]}'}} {partial('E', el(y, other))} - {el(y, letters)} \, "
            rf"\frac{{1}}{{{n}}} \sum_{{{letters[k]}'}} {partial('E', el(y, other))} \, {el(y, other)}\Bigr)"
        )

    def remark(self, x, y):
        sigma = rf"$\sigma = \sqrt{{\operatorname{{var}}({x}) + {number_tex(self.eps)}}}$"
        return (
            f"with {sigma} over the same elements: the mean and the variance move with every element, "
            r"which gives the two mean terms; $1/\sigma$ is kept from the forward pass"
        )


#: The array API's mean (the NumPy helper's cache of 1/n vectors writes into a dict of arrays).
ARRAY_API_BATCH_MEAN = (
    "def _batch_mean(A, axis):\n"
    '    """The mean of A over ``axis`` (the batch and the per-sample axes pooled with it), to broadcast\n'
    '    against A."""\n'
    "    xp = array_namespace(A)\n"
    "    return xp.mean(A, axis=axis, keepdims=True)\n"
)


#: Numba's spellings over the batch axis alone (no per-sample axes pooled: the module then asks
#: for ``axis=(0,)``; pooled axes are refused, as their helpers have no Numba spelling): the mean
#: as a product with ones, the one-sample refusal as a constant message (the batch is then 1).
NUMBA_HELPERS = {
    "batch_mean": (
        "def _batch_mean(A, axis):\n"
        '    """The mean of A over the batch (axis 0), to broadcast against A, as a product with ones."""\n'
        "    n = A.shape[0]\n"
        "    return (np.dot(np.ones(n, A.dtype), np.ascontiguousarray(A).reshape(n, -1)) / n).reshape(A.shape[1:])\n"
    ),
    "batch_norm": (
        "def _batch_norm(x, axis, eps):\n"
        '    """(x - mean) / sigma over the batch (axis 0), and 1 / sigma, sigma = sqrt(var + eps)."""\n'
        "    if x.shape[0] < 2:\n"
        "        raise ValueError(\n"
        '            "batch_norm needs at least 2 samples in a batch (it normalises over the batch), got a batch of 1"\n'
        "        )\n"
        "    centred = x - _batch_mean(x, axis)\n"
        "    inv_sigma = 1 / np.sqrt(_batch_mean(centred * centred, axis) + eps)\n"
        "    return centred * inv_sigma, inv_sigma\n"
    ),
}


@dataclass(frozen=True)
class BatchNorm(Normalization):
    """``batch_norm(x, eps=1e-5, axis=())``: each per-sample element normalised over the batch,
    pooled with the per-sample ``axes`` (none by default); see the module docstring."""

    axes: tuple[int, ...] = ()

    CALL_NAMES = ("batch_norm",)
    array_api_helpers = {"batch_mean": ARRAY_API_BATCH_MEAN}
    title = "batch normalisation"
    batch_coupled = True

    @property
    def numba_helpers(self) -> dict[str, str]:
        """Over the batch axis alone (see NUMBA_HELPERS); none with pooled axes (refused)."""
        return {} if self.axes else NUMBA_HELPERS

    @classmethod
    def from_call(cls, call):
        call.check(1, allowed=("axis", "eps"))
        (x,) = call.tensors
        if not x.batched:
            raise ShapeRuleError(
                f"{x.text} is the same for every sample (computed from parameters alone); "
                "batch statistics need a value that varies by sample"
            )
        axes = axis_list(call.keywords["axis"], len(x.shape)) if "axis" in call.keywords else ()
        return cls(axes, _eps(call)), x.shape

    def module_axes(self, rank):
        return "(" + ", ".join(map(str, (0, *batched_axes(self.axes, True)))) + ("," if not self.axes else "") + ")"

    def where(self, rank):
        return "over the batch" + (f" and axis {', '.join(map(str, self.axes))}" if self.axes else "")

    def subscript(self, rank):
        pooled = f", axis {', '.join(str(k + 1) for k in self.axes)}" if self.axes else ""
        return rf"_{{\text{{batch{pooled}}}}}"

    def elements(self, node, args):
        raise SymPropError(
            f"node {node.name}: batch_norm normalises over the batch, so one sample has no per-weight "
            "(scalar) view; the NumPy module and the handout's tensor formulas cover it"
        )

    def mean_code(self, array, axes, code, shape):
        code.require_helper("batch_mean", BATCH_MEAN_HELPER, needs=("ones",))
        return f"_batch_mean({array}, {axes})"

    def numpy(self, node, code):
        code.require_helper("batch_mean", BATCH_MEAN_HELPER, needs=("ones",))
        code.require_helper("batch_norm", BATCH_HELPER)
        axes = self.module_axes(len(node.shape))
        spelled = f"_batch_norm({code.use(node.inputs[0])}, axis={axes}, eps={self.eps!r})"
        return spelled, f"{node.name} = batch_norm({node.inputs[0]}) {self.where(len(node.shape))}, and 1/sigma for backward"

    def element_form(self, step, tex, eq):
        if self.axes:
            return ""
        letters = tex.index_letters(tex.node(step.source).shape)
        el, partial = tex.el, tex.partial
        x, y = step.target, step.source
        mean = r"\operatorname{mean}_{\text{batch}}"
        g = partial("E", el(y, letters))
        return (
            rf"{partial('E', el(x, letters))} {eq} \frac{{1}}{{\sigma{'_{' + letters + '}' if letters else ''}}} "
            rf"\Bigl({g} - {mean} {g} - {el(y, letters)} \, {mean}\bigl({g} \, {el(y, letters)}\bigr)\Bigr)"
        )

    def remark(self, x, y):
        sigma = rf"$\sigma = \sqrt{{\operatorname{{var}}({x}) + {number_tex(self.eps)}}}$"
        return (
            f"the mean, the variance and {sigma} are over the batch (batch statistics), so each sample's ${x}$ "
            f"moves every sample's ${y}$: $E$ is the batch loss (its $1/N$ is already in the upstream adjoint) "
            r"and the batch means gather what every sample sends back; $1/\sigma$ is kept from the forward pass"
        )

