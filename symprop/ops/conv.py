"""``conv2d(x, W, stride=1, padding=0)`` and ``conv1d(x, W, stride=1, padding=0)``: PyTorch's
convolutions (a cross-correlation), channels first per sample: x ``[C, H, W]`` and the kernel
``[O, C, kh, kw]`` give ``[O, Ho, Wo]`` (conv1d: ``[C, L]`` and ``[O, C, k]``).  A bias is
added by the spec with broadcasting (``conv2d(x, K, padding=1) + kb``, kb ``[O, 1, 1]``).

    y_{o,i,j} = sum_{c,p,q} W_{o,c,p,q} x_{c, s i + p - P, s j + q - P}   (x is 0 outside)

In NumPy (helpers pasted into the module, no loop over output positions): the windows of
the zero-padded x as a strided view, copied once into columns (im2col) and multiplied by the
kernel as a matrix, one BLAS call.  Backward, the kernel's adjoint is the upstream adjoint
times the same columns transposed (the forward line keeps them, ``Op.numpy_saves``: one im2col
copy a pass, not a second in the backward one); the input's is a convolution too: the upstream
adjoint, spread out by the stride and padded by the kernel size less one, convolved with the
flipped kernel (input and output channels swapped), the padding cut off again.  That is also
how the handout explains it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from .. import naming
from ..naming import escape_latex_text
from .base import Adjoint, AdjointCode, Op
from .indices import element_indices, flat_index
from .shape_rule import ShapeRuleError
from .windows import (
    Letters,
    index_letters,
    output_size,
    per_axis,
    spatial_text,
    window_elements,
)

CONV = "conv"

WINDOWS_HELPER = '''def _windows(x, size, stride):
    """The windows of ``size`` sliding in steps of ``stride`` over the axes after batch and
    channels: x (batch, channels, *spatial) -> a read-only view (batch, channels, *positions, *size)
    (np.lib.stride_tricks.as_strided: sliding_window_view's checks cost 5 us a call)."""
    positions = [(n - m) // s + 1 for n, m, s in zip(x.shape[2:], size, stride)]
    steps = [a * s for a, s in zip(x.strides[2:], stride)]
    shape, strides = (*x.shape[:2], *positions, *size), (*x.strides[:2], *steps, *x.strides[2:])
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
'''

COLUMNS_HELPER = '''def _columns(windows):
    """im2col, per sample: the windows (batch, C, *positions, *size) copied once into a
    (batch, C * size, positions) array, for each sample a row per channel and offset within the
    window and a column per window position."""
    k = (windows.ndim - 2) // 2
    rows = windows.transpose(0, 1, *range(2 + k, 2 + 2 * k), *range(2, 2 + k))
    return rows.reshape(len(rows), np.prod(rows.shape[1 : 2 + k]), np.prod(rows.shape[2 + k :]))
'''

ZERO_PAD_HELPER = '''def _zero_pad(x, padding):
    """x with ``padding`` zeros before and after each axis after batch and channels."""
    if not any(padding):
        return x
    out = np.zeros((*x.shape[:2], *(n + 2 * p for n, p in zip(x.shape[2:], padding))), dtype=x.dtype)
    out[(slice(None), slice(None), *(slice(p, p + n) for p, n in zip(padding, x.shape[2:])))] = x
    return out
'''

CONV_HELPER = '''def _conv(x, w, stride, padding):
    """PyTorch's conv1d/conv2d (a cross-correlation) of x (batch, C, *spatial) with the kernel
    w (O, C, *size) -> (batch, O, *positions) (_conv_kept's, without its columns)."""
    return _conv_kept(x, w, stride, padding)[0]
'''

IM2COL_HELPER = '''def _im2col(x, size, stride, padding):
    """The columns (batch, C * size, positions) of the zero-padded x that _conv multiplies by
    the kernel (_columns of its windows)."""
    return _columns(_windows(_zero_pad(x, padding), size, stride))
'''

CONV_KEPT_HELPER = '''def _conv_kept(x, w, stride, padding):
    """(_conv(x, w, stride, padding), the columns it multiplied): the kernel as an (O, C * size)
    matrix times each sample's columns of the zero-padded x (im2col, (batch, C * size, positions)),
    a BLAS call a sample (np.matmul), which writes the output in its own order: C-contiguous, so
    that what follows (a bias, an activation, a pooling, their adjoints) runs on contiguous arrays,
    and a reshape is a view.  The forward line keeps small columns for the kernel's adjoint
    (Conv.numpy_saves): one im2col copy a pass.  x without a batch axis (shared by all samples)
    is a batch of one: the output has no batch axis, the columns keep theirs."""
    if x.ndim < w.ndim:
        y, columns = _conv_kept(x[None], w, stride, padding)
        return y[0], columns
    columns = _im2col(x, w.shape[2:], stride, padding)
    shape = (len(x), len(w), *((n + 2 * p - m) // s + 1 for n, m, s, p in zip(x.shape[2:], w.shape[2:], stride, padding)))
    return np.matmul(w.reshape(len(w), -1), columns).reshape(shape), columns
'''

KERNEL_ADJOINT_HELPER = '''def _conv_adjoint_kernel(g, columns, shape):
    """dE/dw of _conv(x, w, stride, padding), w of ``shape``, from the columns of x (_im2col's):
    each kernel element met the input elements at its offset in every window, so each sample's
    upstream adjoint (O, positions) times its columns transposed, summed over the batch.  Those
    per-sample products (a BLAS call a sample) and their sum where there are no more output
    channels O than positions (the products are then no larger than the columns); else one
    product of g and the columns as (O, batch * positions) and (batch * positions, C * size)
    matrices (np.tensordot, which copies both into those shapes)."""
    rows = g.reshape(len(g), g.shape[1], -1)
    if rows.shape[1] <= rows.shape[2]:
        kernel = np.matmul(rows, columns.transpose(0, 2, 1)).sum(axis=0)
    else:
        kernel = np.tensordot(rows, columns, axes=([0, 2], [0, 2]))
    return kernel.reshape(shape)
'''

INPUT_ADJOINT_HELPER = '''def _conv_adjoint_input(g, w, shape, stride, padding):
    """dE/dx of _conv(x, w, stride, padding), x of ``shape`` per sample (C, *spatial): the
    upstream adjoint g spread out by the stride (s - 1 zeros between its elements) and padded
    by the kernel size less one, convolved with the flipped kernel (channels swapped); then
    the padding of x is cut off."""
    k = w.ndim - 2
    size, positions = w.shape[2:], g.shape[2:]
    padded = [n + 2 * p for n, p in zip(shape[1:], padding)]
    spread = np.zeros((*g.shape[:2], *(n + m - 1 for n, m in zip(padded, size))), dtype=g.dtype)
    spread[(slice(None), slice(None), *(slice(m - 1, m - 1 + s * n, s) for m, s, n in zip(size, stride, positions)))] = g
    flipped = np.flip(w, axis=tuple(range(2, w.ndim))).swapaxes(0, 1)
    full = _conv(spread, flipped, (1,) * k, (0,) * k)
    return full[(slice(None), slice(None), *(slice(p, p + n) for p, n in zip(padding, shape[1:])))]
'''

#: The array API standard has no strided view and its arrays may be immutable (JAX): there the
#: windows are one strided slice of x per offset within the window, stacked (a copy, as the
#: NumPy module's columns are), the zero padding is zero blocks concatenated, and the input's
#: adjoint spreads the upstream adjoint by the stride by stacking it with zeros.
ARRAY_API_HELPERS = {
    "zero_pad": '''def _zero_pad(x, padding):
    """x with ``padding`` zeros before and after each axis after batch and channels (zero
    blocks concatenated: nothing is written in place)."""
    xp = array_namespace(x)
    for axis, p in enumerate(padding, start=2):
        if p:
            zeros = xp.zeros((*x.shape[:axis], p, *x.shape[axis + 1 :]), dtype=x.dtype, device=device(x))
            x = xp.concat([zeros, x, zeros], axis=axis)
    return x
''',
    "windows": '''def _windows(x, size, stride):
    """The windows of ``size`` sliding in steps of ``stride`` over the axes after batch and
    channels: x (batch, channels, *spatial) -> (channels, offsets, batch, *positions), one
    strided slice of x per offset within the window (row-major), stacked."""
    xp = array_namespace(x)
    positions = [(n - m) // s + 1 for n, m, s in zip(x.shape[2:], size, stride)]
    offsets = [()]
    for m in size:
        offsets = [(*offset, p) for offset in offsets for p in range(m)]
    x = xp.permute_dims(x, (1, 0, *range(2, x.ndim)))  # channels first, then the batch
    return xp.stack(
        [x[(..., *(slice(p, p + s * (n - 1) + 1, s) for p, s, n in zip(offset, stride, positions)))] for offset in offsets],
        axis=1,
    )
''',
    "columns": '''def _columns(windows):
    """im2col: the windows (channels, offsets, batch, *positions) as a matrix with a row per
    channel and offset within the window, a column per sample and window position."""
    xp = array_namespace(windows)
    return xp.reshape(windows, (windows.shape[0] * windows.shape[1], -1))
''',
    "conv": '''def _conv(x, w, stride, padding):
    """PyTorch's conv1d/conv2d (a cross-correlation) of x (batch, C, *spatial) with the kernel
    w (O, C, *size) -> (batch, O, *positions) (_conv_kept's, without its columns)."""
    return _conv_kept(x, w, stride, padding)[0]
''',
    "conv_kept": '''def _conv_kept(x, w, stride, padding):
    """(_conv(x, w, stride, padding), the columns it multiplied): the kernel as an (O, C * size)
    matrix times the columns of the zero-padded x (im2col), which the kernel's adjoint reads
    again.  x without a batch axis (shared by all samples) is a batch of one: the output has no
    batch axis, the columns are those of the batch of one."""
    xp = array_namespace(x)
    if x.ndim < w.ndim:
        y, columns = _conv_kept(xp.expand_dims(x, axis=0), w, stride, padding)
        return y[0, ...], columns
    positions = [(n + 2 * p - m) // s + 1 for n, m, s, p in zip(x.shape[2:], w.shape[2:], stride, padding)]
    columns = _im2col(x, w.shape[2:], stride, padding)
    y = xp.reshape(w, (w.shape[0], -1)) @ columns
    return xp.moveaxis(xp.reshape(y, (w.shape[0], x.shape[0], *positions)), 0, 1), columns
''',
    "conv_adjoint_kernel": '''def _conv_adjoint_kernel(g, columns, shape):
    """dE/dw of _conv(x, w, stride, padding), w of ``shape``, from the columns of x (_im2col's):
    each kernel element met the input elements at its offset in every window, so the upstream
    adjoint g (batch, O, *positions), as an (O, batch * positions) matrix, times the columns
    transposed."""
    xp = array_namespace(g)
    rows = xp.reshape(xp.moveaxis(g, 1, 0), (g.shape[1], -1))
    return xp.reshape(rows @ columns.T, shape)
''',
    "conv_adjoint_input": '''def _conv_adjoint_input(g, w, shape, stride, padding):
    """dE/dx of _conv(x, w, stride, padding), x of ``shape`` per sample (C, *spatial): the
    upstream adjoint g spread out by the stride (s - 1 zeros after each element: g and zero
    arrays stacked on a new axis, merged with its own; cut where the windows stop) and padded
    by the kernel size less one, convolved with the flipped kernel (channels swapped); then
    the padding of x is cut off."""
    xp = array_namespace(g)
    k = w.ndim - 2
    for axis, (n, p, m, s) in enumerate(zip(shape[1:], padding, w.shape[2:], stride), start=2):
        if s > 1:
            spread = xp.stack([g, *[xp.zeros_like(g)] * (s - 1)], axis=axis + 1)
            g = xp.reshape(spread, (*g.shape[:axis], g.shape[axis] * s, *g.shape[axis + 1 :]))
            g = g[(slice(None),) * axis + (slice(0, n + 2 * p - m + 1), ...)]
    flipped = xp.permute_dims(xp.flip(w, axis=tuple(range(2, w.ndim))), (1, 0, *range(2, w.ndim)))
    full = _conv(_zero_pad(g, [m - 1 for m in w.shape[2:]]), flipped, (1,) * k, (0,) * k)
    return full[(slice(None), slice(None), *(slice(p, p + n) for p, n in zip(padding, shape[1:])))]
''',
}

#: Index letters of an input position in the handout (Greek: node names are Latin).
INPUT_LETTERS = (r"\mu", r"\nu")

#: The per-sample axes of x and the kernel, for the messages.
LAYOUTS = {
    1: ("[channels, length]", "[out_channels, in_channels, k]"),
    2: ("[channels, height, width]", "[out_channels, in_channels, kh, kw]"),
}


@dataclass(frozen=True)
class Conv(Op):
    """A convolution over ``dims`` spatial axes: x of per-sample shape ``x_shape`` (channels
    first), the kernel of ``w_shape`` (out channels, in channels, *size); ``stride`` and
    ``padding`` per spatial axis."""

    array_api_helpers = ARRAY_API_HELPERS
    #: _conv_adjoint_input's result is a slice of the array it makes (the padding cut off).
    numpy_new_arrays = ("conv", "conv_adjoint_kernel", "conv_adjoint_input")
    #: What the forward line keeps for the kernel's adjoint (``numpy_saves``).
    KEPT = "columns"
    dims: int
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]

    CALL_NAMES = ("conv1d", "conv2d")

    @classmethod
    def from_call(cls, call):
        dims = int(call.function[-2])
        call.check(2, allowed=("stride", "padding"), values=2)
        x, w = call.tensors
        x_layout, w_layout = LAYOUTS[dims]
        if len(x.shape) != dims + 1:
            raise ShapeRuleError(f"the input {x.text} must have shape {x_layout} per sample, got {list(x.shape)}")
        if len(w.shape) != dims + 2:
            raise ShapeRuleError(f"the kernel {w.text} must have shape {w_layout}, got {list(w.shape)}")
        if w.batched:
            raise ShapeRuleError(
                f"the kernel {w.text} varies by sample; it must not depend on the inputs "
                "(a parameter, or computed from parameters alone)"
            )
        if x.shape[0] != w.shape[1]:
            raise ShapeRuleError(
                f"channel mismatch: the input {x.text} has {x.shape[0]} channel(s) (shape {list(x.shape)}), "
                f"the kernel {w.text} takes {w.shape[1]} (shape {list(w.shape)})"
            )
        stride = per_axis(call.constant(0, "stride", 1), "the stride", dims, low=1)
        padding = per_axis(call.constant(1, "padding", 0), "the padding", dims, low=0)
        size = w.shape[2:]
        padded = [n + 2 * p for n, p in zip(x.shape[1:], padding)]
        if any(m > n for m, n in zip(size, padded)):
            raise ShapeRuleError(
                f"the kernel {w.text} (shape {list(w.shape)}) is larger than the input {x.text} "
                f"(shape {list(x.shape)}, padding {spatial_text(padding)})"
            )
        shape = (w.shape[0], *(output_size(n, m, s, p) for n, m, s, p in zip(x.shape[1:], size, stride, padding)))
        return cls(dims, tuple(x.shape), tuple(w.shape), stride, padding), shape

    @property
    def function(self) -> str:
        return f"conv{self.dims}d"

    def call_text(self, x: str, w: str) -> str:
        """``conv2d(x, K, padding=1)``: the call as a spec writes it (defaults left out)."""
        extra = "".join(
            f", {name}={spatial_text(value)}"
            for name, value, default in (("stride", self.stride, 1), ("padding", self.padding, 0))
            if value != (default,) * self.dims
        )
        return f"{self.function}({x}, {w}{extra})"

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, CONV), Adjoint(1, CONV)]

    def elements(self, node, args):
        x, w = args
        channels, spatial = self.x_shape[0], self.x_shape[1:]
        out = []
        for o, *position in element_indices(node.shape):
            total = sp.S.Zero
            for offsets, source in window_elements(spatial, self.w_shape[2:], position, self.stride, self.padding):
                for c in range(channels):
                    total += w[flat_index((o, c, *offsets), self.w_shape)] * x[flat_index((c, *source), self.x_shape)]
            out.append(total)
        return out

    # -- NumPy --------------------------------------------------------------------------

    def _helpers(self, code, *names: str) -> None:
        sources = {
            "windows": WINDOWS_HELPER,
            "columns": COLUMNS_HELPER,
            "zero_pad": ZERO_PAD_HELPER,
            "conv": CONV_HELPER,
            "conv_kept": CONV_KEPT_HELPER,
            "im2col": IM2COL_HELPER,
            "conv_adjoint_kernel": KERNEL_ADJOINT_HELPER,
            "conv_adjoint_input": INPUT_ADJOINT_HELPER,
        }
        for name in ("windows", "columns", "zero_pad", "im2col", "conv_kept", *names):
            code.require_helper(name, sources[name])

    def numpy_saves(self, node, graph):
        """The columns of x (im2col), when the kernel's adjoint reads them and they are small: no
        more rows (C * kernel size) than x and the output have channels (C + O), as in the first
        convolution of an image network (cnn_digits: 1 channel, 3 x 3, to 8).  The forward line
        keeps them (``_conv_kept``), no second im2col copy in the backward pass (cnn_digits at batch
        64 in float64: 0.86x to 0.88x of the hand version's time, was 1.00x).  Larger columns are
        copied again: kept, they stay alive from the forward line to the kernel's adjoint, and the
        fresh pages of that larger peak cost more than the copy (two conv1d, 4 -> 8 channels with
        kernel 5 and 8 -> 8 with kernel 3 and stride 4: 1.05x to 1.23x slower kept)."""
        rows = self.x_shape[0] * math.prod(self.w_shape[2:])
        small = rows <= self.x_shape[0] + self.w_shape[0]
        return (self.KEPT,) if small and node.inputs[1] in graph.needs_grad else ()

    def numpy(self, node, code):
        x, w = node.inputs
        if self.numpy_saves(node, code.graph):  # x with or without a batch axis (_conv_kept)
            self._helpers(code)
            spelled = f"_conv_kept({code.use(x)}, {code.use(w)}, {self.stride}, {self.padding})"
            return spelled, f"{node.name} = {self.call_text(x, w)}, and the columns of {x} for the kernel's adjoint"
        self._helpers(code, "conv")
        one = "" if code.batched(x) else "[None]"  # a value shared by all samples: a batch of one
        spelled = f"_conv({code.use(x)}{one}, {code.use(w)}, {self.stride}, {self.padding})" + ("[0]" if one else "")
        return spelled, f"{node.name} = {self.call_text(x, w)}"

    def numpy_adjoint(self, step, code):
        source = code.node(step.source)
        x, w = source.inputs
        one = "" if code.batched(x) else "[None]"
        g = code.grad(step.source) + one
        if step.argument == 1:
            self._helpers(code, "conv_adjoint_kernel")
            if self.numpy_saves(source, code.graph):
                columns = code.saved(step.source, self.KEPT)
            else:
                columns = f"_im2col({code.use(x)}{one}, {self.w_shape[2:]}, {self.stride}, {self.padding})"
            spelled = f"_conv_adjoint_kernel({g}, {columns}, {self.w_shape})"
            note = ", summed over the batch" if not one else ""
            return AdjointCode(spelled, f"dE/d{step.source} contracted with the windows of {x}", note)
        self._helpers(code, "conv", "conv_adjoint_input")
        spelled = f"_conv_adjoint_input({g}, {code.use(w)}, {self.x_shape}, {self.stride}, {self.padding})"
        spelled += "[0]" if one else ""
        return AdjointCode(spelled, f"dE/d{step.source} (spread by the stride) convolved with the flipped {w}")

    # -- LaTeX --------------------------------------------------------------------------

    def _input_index(self, letters: Letters) -> str:
        return ",".join([letters.channel, *letters.source(self.stride, self.padding)])

    def latex(self, node, tex):
        x, w = node.inputs
        L = index_letters(tex.graph, self.dims)
        kernel = tex.el(w, ",".join([L.out, L.channel, *L.offsets]))
        body = rf"\sum_{{{','.join([L.channel, *L.offsets])}}} {kernel} \, {tex.el(x, self._input_index(L))}"
        return rf"\Bigl[{body}\Bigr]_{{{','.join([L.out, *L.positions])}}}"

    def latex_adjoint(self, step, tex, eq):
        x, w = tex.node(step.source).inputs
        L = index_letters(tex.graph, self.dims)
        upstream = tex.partial("E", tex.el(step.source, ",".join([L.out, *L.positions])))
        if step.argument == 1:
            target = tex.partial("E", tex.el(w, ",".join([L.out, L.channel, *L.offsets])))
            element = rf"{target} {eq} \sum_{{{','.join(L.positions)}}} {upstream} \, {tex.el(x, self._input_index(L))}"
            note = (
                "each kernel element met, in every window, the input element at its offset "
                f"(indices from 0; ${tex.node_tex(x)}$ is 0 outside its bounds, the padding)"
            )
            if tex.shows_code and self.numpy_saves(tex.node(step.source), tex.graph):  # numpy_adjoint reads the columns kept
                columns = escape_latex_text(naming.saved_name(tex.graph.array(step.source), self.KEPT))
                note += rf"; the NumPy line reads those windows from \texttt{{{columns}}}, the copy of them the forward pass made"
            return element, "", note
        spatial = INPUT_LETTERS[: self.dims]
        flipped = ",".join([L.out, L.channel, *(f"{m - 1}-{p}" for m, p in zip(self.w_shape[2:], L.offsets))])
        spread = ",".join([L.out, *(f"{a}+{p}" for a, p in zip(spatial, L.offsets))])
        target = tex.partial("E", tex.el(x, ",".join([L.channel, *spatial])))
        summed = ",".join([L.out, *L.offsets])
        element = rf"{target} {eq} \sum_{{{summed}}} {tex.el(w, flipped)} \, \tilde{{g}}_{{{spread}}}"
        shifts = zip(self.stride, L.positions, self.w_shape[2:], self.padding)
        placed = ",".join([L.out, *(_shifted(s, i, m - 1 - pad) for s, i, m, pad in shifts)])
        note = (
            rf"a convolution of the upstream adjoint with the flipped kernel: $\tilde{{g}}_{{{placed}}} = {upstream}$, "
            "zero elsewhere (the adjoint spread out by the stride, and shifted by the kernel size less one "
            "less the padding; indices from 0)"
        )
        return element, "", note

    def words(self, step, tex):
        return rf"back through the convolution ${tex.node_tex(step.source)}$"


def _shifted(stride: int, letter: str, shift: int) -> str:
    """``2i+1``, ``i``, ``i-1``: an output position spread out by the stride and shifted."""
    text = f"{stride if stride > 1 else ''}{letter}"
    return text + (f"+{shift}" if shift > 0 else f"{shift}" if shift < 0 else "")
