"""``softmax(z, axis=-1)``: ``y_i = exp(z_i) / sum_k exp(z_k)`` along one axis of a sample.

Not elementwise: every output of a row depends on every input of that row, so its adjoint is
the Jacobian-vector product ``dz = y * (dy - sum_i dy_i y_i)`` along the axis.  After
cross-entropy (along any axis) the two fuse into ``y - t`` (``ops.loss``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .base import Adjoint, AdjointCode, Op
from .indices import element_indices, flat_index
from .shape_rule import ShapeRuleError, axis_list

SOFTMAX = "softmax"


def axis_groups(shape: tuple[int, ...], axis: int) -> list[list[int]]:
    """The flat positions of each row along per-sample ``axis`` (negative, from the end)."""
    rank = len(shape)
    k = axis % rank
    groups: dict[tuple, list[int]] = {}
    for index in element_indices(shape):
        groups.setdefault(index[:k] + index[k + 1 :], []).append(flat_index(index, shape))
    return list(groups.values())


def scalar_exps(code, node: str, zs: list[sp.Expr], tag: str = "") -> tuple[list[tuple[str, str]], sp.Symbol, list[sp.Symbol]]:
    """The scalar backend's exp of one row, shifted by its maximum (``math.exp`` raises where
    NumPy's overflows to inf): (lines, the maximum's symbol, the symbols of exp(z_i - max))."""
    top = sp.Symbol(code.temporary(node, f"max{tag}"), real=True)
    lines = [(top.name, code.code(sp.Max(*zs)))]
    exps = []
    for k, z in enumerate(zs):
        e = sp.Symbol(code.temporary(node, f"exp{tag}_{k + 1}"), real=True)
        lines.append((e.name, code.code(sp.exp(z - top))))
        exps.append(e)
    return lines, top, exps


def row_tags(groups: list) -> list[str]:
    """Names for the rows of a sample in the scalar backend's temporaries: none for one row."""
    return [""] if len(groups) == 1 else [str(g + 1) for g in range(len(groups))]


def axis_suffix(axis: int) -> str:
    """``, axis=-2`` for a softmax or log-sum-exp along another axis than the last."""
    return "" if axis == -1 else f", axis={axis}"


def one_axis(call, name: str) -> tuple[tuple[int, ...], int]:
    """(the argument's per-sample shape, its ``axis=``, non-negative) of a call ``name(x, axis=-1)``
    that runs along one axis of a vector or a tensor (softmax, logsumexp)."""
    call.check(1, allowed=("axis",), values=1)
    shape = call.shapes[0]
    if not shape:
        raise ShapeRuleError(f"{name} needs a vector or a tensor, got a scalar")
    axes = axis_list(call.constant(0, "axis", -1), len(shape))
    if len(axes) != 1:  # axis=(0, 1) or axis=()
        raise ShapeRuleError(f"{name} runs along one axis, got axis={call.constant(0, 'axis')}")
    return tuple(shape), axes[0]


#: The numba backend's backward step of a softmax along the last axis: y * (g - sum_j g_j y_j) row
#: by row in one loop, the sums by ``_row_dot`` (as accurate as the NumPy module's BLAS sums; Numba's
#: broadcast of the row sums over arrays of 3 or more axes costs ~5 ns an element: (64, 4, 8, 8)
#: attention weights, float64, 98 us as array expressions).
NUMBA_ADJOINT = (
    "def _softmax_adjoint(y, g):\n"
    '    """y * (g - sum_j g_j y_j) along the last axis: the gradient of softmax(z) = y, from g = dE/dy."""\n'
    "    n = y.shape[-1]\n"
    "    ys = np.ascontiguousarray(y).reshape(-1, n)\n"
    "    gs = np.ascontiguousarray(g).reshape(-1, n)\n"
    "    out = np.empty(ys.shape, y.dtype)\n"
    "    for r in range(ys.shape[0]):\n"
    "        total = _row_dot(gs[r], ys[r])  # sum_j g_j y_j\n"
    "        for j in range(n):\n"
    "            out[r, j] = ys[r, j] * (gs[r, j] - total)\n"
    "    return out.reshape(y.shape)\n"
)


@dataclass(frozen=True)
class Softmax(Op):
    """``y_i = exp(z_i) / sum_k exp(z_k)`` along ``axis`` (counted from the end: -1 is the last)."""

    axis: int = -1

    name = "softmax"
    coupled = True
    layer_activation = True
    CALL_NAMES = ("softmax",)
    numba_helpers = {"softmax_adjoint": NUMBA_ADJOINT}  # numba_adjoint's (along the last axis)

    @classmethod
    def from_call(cls, call):
        shape, axis = one_axis(call, "softmax")
        return cls(axis - len(shape)), shape

    def elements(self, node, args):
        out = [sp.S.Zero] * len(args[0])
        for group in axis_groups(node.shape, self.axis):
            exps = [sp.exp(args[0][p]) for p in group]
            total = sum(exps)
            for p, e in zip(group, exps):
                out[p] = e / total
        return out

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, SOFTMAX)]

    def scalar_adjoints(self, node, upstream, view):
        """dE/dz_k = sum_i dE/da_i a_i (delta_ik - a_k), within each row."""
        outs, zs = view.symbols[node.name], view.symbols[node.inputs[0]]
        for group in axis_groups(node.shape, self.axis):
            for k in group:
                yield zs[k], sum(upstream[i] * outs[i] * (int(i == k) - outs[k]) for i in group)

    def scalar(self, node, code):
        """Each row as exp(z_i - max z) over their sum: exp never overflows.  Also each row's
        log-sum-exp (``lse``, ``_y_lse``), which a cross-entropy reads (``Loss.scalar``); the
        scalar module leaves out lines whose value nothing reads."""
        zs, ys = code.view.symbols[node.inputs[0]], code.view.symbols[node.name]
        groups = axis_groups(node.shape, self.axis)
        lines = []
        for group, tag in zip(groups, row_tags(groups)):
            row, top, exps = scalar_exps(code, node.name, [zs[p] for p in group], tag)
            total = sp.Symbol(code.temporary(node.name, f"sum{tag}"), real=True)
            lines += [*row, (total.name, code.code(sp.Add(*exps)))]
            lines += [(ys[p].name, code.code(e / total)) for p, e in zip(group, exps)]
            lines.append((code.temporary(node.name, f"lse{tag}"), code.code(top + sp.log(total))))
        return lines

    def numpy_saves(self, node, graph):
        """The row log-sum-exp, when a cross-entropy reads it (``ops.loss``): its loss is then
        ``sum_i t_i (lse - z_i)``, with no second pass of exp over z."""
        if any(c.op.loss_function and c.op.is_softmax_cross_entropy(node) for c in graph.consumers(node.name)):
            return ("lse",)
        return ()

    def numpy(self, node, code):
        z, where = code.use(node.inputs[0]), axis_suffix(self.axis)
        if self.numpy_saves(node, code.graph):
            code.printer.helpers.add("softmax_lse")
            comment = f"{node.name} = softmax({node.inputs[0]}{where}), and its log-sum-exp for the loss"
            return f"_softmax_lse({z}{where})", comment
        code.printer.helpers.add("softmax")
        return f"_softmax({z}{where})", f"{node.name} = softmax({node.inputs[0]}{where})"

    def numba_adjoint(self, step, code):
        """Along the last axis, one loop over the rows (``NUMBA_ADJOINT``)."""
        if self.axis != -1:
            return None
        name = step.source
        return AdjointCode(
            f"_softmax_adjoint({code.use(name)}, {code.grad(name)})", f"{name} * (dE/d{name} - sum_i dE/d{name}_i {name}_i)"
        )

    def numpy_adjoint(self, step, code):
        """Along the last axis the row sums are ``_row_sum`` (by BLAS: 5 against 14 us on
        self_attention's (64, 8, 8) rows)."""
        name = step.source
        y, g = code.use(name), code.grad(name)
        if self.axis == -1:
            code.printer.helpers.add("row_sum")
            total = f"_row_sum({g} * {y})"
        else:
            total = f"({g} * {y}).sum(axis={self.axis}, keepdims=True)"
        return AdjointCode(
            f"{y} * ({g} - {total})",
            f"{name} * (dE/d{name} - sum_i dE/d{name}_i {name}_i)" + (f" along axis {self.axis}" if self.axis != -1 else ""),
        )

    def latex(self, node, tex):
        where = "" if self.axis == -1 or len(node.shape) == 1 else rf"_{{\text{{axis }}{len(node.shape) + self.axis + 1}}}"
        return rf"{tex.function_tex(self)}{where}\left({tex.node_tex(node.inputs[0])}\right)"

    def function_latex(self) -> str:
        return r"\operatorname{softmax}"

    def tokens(self, shape: tuple[int, ...], tex) -> tuple[str, list[str], str]:
        """(an element's letters, the same element with the axis letter primed, that letter)."""
        letters = tex.index_letters(shape)
        k = len(shape) + self.axis
        return letters, [c + "'" if p == k else c for p, c in enumerate(letters)], letters[k]

    def latex_gate(self, node, tex):
        return r"\mathrm{softmax}"

    def latex_element(self, node, tex):
        """``e^{z_j} / sum_i e^{z_i}`` (a vector: the sum written with its bounds, as the
        tutorials do), or along the axis of a tensor: ``e^{z_{jk}} / sum_{k'} e^{z_{jk'}}``."""
        z = node.inputs[0]
        if len(node.shape) == 1:
            total = rf"\sum_{{i=1}}^{{{node.shape[0]}}} e^{{{tex.el(z, 'i')}}}"
            return tex.el(node.name, "j"), rf"\frac{{e^{{{tex.el(z, 'j')}}}}}{{{total}}}"
        letters, other, k = self.tokens(node.shape, tex)
        return tex.el(node.name, letters), rf"\frac{{e^{{{tex.el(z, letters)}}}}}{{\sum_{{{k}'}} e^{{{tex.el(z, other)}}}}}"

    def latex_adjoint(self, step, tex, eq):
        z, a = step.target, step.source
        shape = tex.node(a).shape
        if len(shape) == 1:
            el, partial = tex.generic, tex.partial
            element = (
                rf"{partial('E', el(z, 'j'))} {eq} {el(a, 'j')} \Bigl("
                rf"{partial('E', el(a, 'j'))} - \sum_i {partial('E', el(a, 'i'))} {el(a, 'i')}\Bigr)"
            )
            grad_a = partial("E", tex.node_tex(a))
            vector = (
                rf"{partial('E', tex.node_tex(z))} {eq} {tex.node_tex(a)} \odot \Bigl("
                rf"{grad_a} - {tex.transpose(grad_a)} {tex.node_tex(a)}\Bigr)"
            )
            return element, vector, r"from the softmax Jacobian $\partial y_i / \partial z_j = y_i(\delta_{ij} - y_j)$"
        letters, other, k = self.tokens(shape, tex)
        el, partial = tex.el, tex.partial
        element = (
            rf"{partial('E', el(z, letters))} {eq} {el(a, letters)} \Bigl({partial('E', el(a, letters))} - "
            rf"\sum_{{{k}'}} {partial('E', el(a, other))} \, {el(a, other)}\Bigr)"
        )
        jacobian = rf"$\partial {el(a, other)} / \partial {el(z, letters)} = {el(a, other)} ([{k}' = {k}] - {el(a, letters)})$"
        # along its index letter, not "axis 2": a number reads as the spec's axis=, which counts from 0
        return element, "", f"from the softmax Jacobian along ${k}$, {jacobian}, for each index of the other axes"

    def words(self, step, tex):
        return "back through the softmax"

    def claim_adjoint(self, step, upstream, plain):
        g = plain.p(upstream)
        return f"{step.source} * ({g} - sum({g} * {step.source}))"
