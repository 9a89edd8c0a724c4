"""``max_pool2d(x, k, stride=k)`` and ``avg_pool2d(x, k, stride=k)``: the largest or the mean
element of each k x k window of every channel (x ``[C, H, W]`` per sample, no padding; k and
the stride a whole number or one per axis; the output size rounds down, as in PyTorch);
``max_pool1d``/``avg_pool1d`` likewise over windows of k along x ``[C, L]`` (conv1d's layout).

    y_{c,i,j} = max_{p,q} x_{c, s i + p, s j + q}        (avg: (1/k^2) sum_{p,q})

A 1-D pooling is spelled in NumPy as the 2-D one with windows of height 1 over the view
``x[:, :, None]`` of x (``[C, 1, L]`` per sample): the same helpers, no second copy of them.

In NumPy, for each offset within a window (k * k of them, never a loop over output
positions), the elements the windows read there are one strided slice of x; the pooling
reduces these slices elementwise (``np.maximum``, ``+``).  The adjoint of a mean spreads
each window's adjoint evenly over it; that of a maximum sends it to the window's maximum,
split evenly between ties (as ``max(x, axis=...)`` of ``ops.reduce`` does, after autograd).
Both are added back slice by slice, so overlapping windows add up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

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

POOL = "pool"

#: The per-sample axes of x, for the messages.
LAYOUTS = {1: "[channels, length]", 2: "[channels, height, width]"}

OFFSETS_HELPER = '''def _window_offsets(shape, size, stride):
    """For each offset (p, q) within a window, the index of the elements of x (of ``shape``:
    batch, channels, height, width) that the windows read there: a strided slice with one
    element per window position."""
    (sh, sw), (rows, cols) = stride, ((n - m) // s + 1 for n, m, s in zip(shape[2:], size, stride))
    return [
        (slice(None), slice(None), slice(p, p + sh * (rows - 1) + 1, sh), slice(q, q + sw * (cols - 1) + 1, sw))
        for p in range(size[0])
        for q in range(size[1])
    ]
'''

MAX_HELPER = '''def _max_pool(x, size, stride):
    """The largest element of each window of x: the elementwise maximum of the slices that
    the windows read at each of their offsets (of the first two into a new array, then in place)."""
    offsets = _window_offsets(x.shape, size, stride)
    if len(offsets) == 1:
        return x[offsets[0]].copy()
    y = np.maximum(x[offsets[0]], x[offsets[1]])
    for where in offsets[2:]:
        np.maximum(y, x[where], out=y)
    return y
'''

AVG_HELPER = '''def _avg_pool(x, size, stride):
    """The mean of each window of x: the sum of the slices that the windows read at each of
    their offsets, over their number."""
    offsets = _window_offsets(x.shape, size, stride)
    y = x[offsets[0]].copy()
    for where in offsets[1:]:
        y += x[where]
    return y / len(offsets)
'''

MAX_ADJOINT_HELPER = '''def _max_pool_adjoint(g, x, y, size, stride, out=None):
    """dE/dx of y = _max_pool(x, size, stride): each window's adjoint g goes to the elements
    equal to its maximum, split evenly between ties; overlapping windows add up.  Windows that
    do not overlap write their share straight into their slice of dx (no product array), into
    an array left uninitialised where the windows cover all of x.  ``out``: an array of x's
    shape and dtype to write dx into, x itself where nothing reads it again (it is read first):
    no new array of x's size."""
    offsets = _window_offsets(x.shape, size, stride)
    at_max = [x[where] == y for where in offsets]
    ties = at_max[0].astype(np.uint8 if len(offsets) < 256 else g.dtype)  # counted in bytes where they fit
    for chosen in at_max[1:]:
        ties += chosen
    share = g / ties  # a float array divided by bytes keeps its dtype
    dx = np.empty_like(x) if out is None else out
    if any(s < m for s, m in zip(stride, size)):
        dx[...] = 0
        for where, chosen in zip(offsets, at_max):
            dx[where] += chosen * share
        return dx
    if not all(s == m and n % m == 0 for n, m, s in zip(x.shape[2:], size, stride)):
        dx[...] = 0  # the elements no window reads
    for where, chosen in zip(offsets, at_max):
        np.multiply(chosen, share, out=dx[where])
    return dx
'''

AVG_ADJOINT_HELPER = '''def _avg_pool_adjoint(g, shape, size, stride):
    """dE/dx of _avg_pool(x, size, stride), x of ``shape`` per sample (C, H, W): each window's
    adjoint g spread evenly over the window; overlapping windows add up."""
    shape = (len(g), *shape)
    offsets = _window_offsets(shape, size, stride)
    share = g / len(offsets)
    dx = np.zeros(shape, dtype=g.dtype)
    for where in offsets:
        dx[where] += share
    return dx
'''


#: The array API standard's arrays may be immutable (JAX): there the pooling takes
#: ``xp.maximum`` and ``+`` of the slices, and the adjoints are put back by ``_unwindow``
#: without writing in place (see its docstring).  The slices themselves are the NumPy
#: module's (``OFFSETS_HELPER``, plain Python).
ARRAY_API_HELPERS = {
    "window_offsets": OFFSETS_HELPER,
    "max_pool": '''def _max_pool(x, size, stride):
    """The largest element of each window of x: the elementwise maximum of the slices that
    the windows read at each of their offsets."""
    xp = array_namespace(x)
    offsets = _window_offsets(x.shape, size, stride)
    y = x[offsets[0]]
    for where in offsets[1:]:
        y = xp.maximum(y, x[where])
    return y
''',
    "avg_pool": '''def _avg_pool(x, size, stride):
    """The mean of each window of x: the sum of the slices that the windows read at each of
    their offsets, over their number."""
    offsets = _window_offsets(x.shape, size, stride)
    y = x[offsets[0]]
    for where in offsets[1:]:
        y = y + x[where]
    return y / len(offsets)
''',
    "max_pool_adjoint": '''def _max_pool_adjoint(g, x, y, size, stride):
    """dE/dx of y = _max_pool(x, size, stride): each window's adjoint g goes to the elements
    equal to its maximum, split evenly between ties; overlapping windows add up."""
    xp = array_namespace(g)
    at_max = [xp.astype(x[where] == y, g.dtype) for where in _window_offsets(x.shape, size, stride)]
    ties = at_max[0]
    for chosen in at_max[1:]:
        ties = ties + chosen
    share = g / ties
    return _unwindow([chosen * share for chosen in at_max], x.shape, size, stride)
''',
    "avg_pool_adjoint": '''def _avg_pool_adjoint(g, shape, size, stride):
    """dE/dx of _avg_pool(x, size, stride), x of ``shape`` per sample (C, H, W): each window's
    adjoint g spread evenly over the window; overlapping windows add up."""
    shape = (g.shape[0], *shape)
    count = len(_window_offsets(shape, size, stride))
    return _unwindow([g / count] * count, shape, size, stride)
''',
    "unwindow": '''def _unwindow(parts, shape, size, stride):
    """The adjoints the windows send to their elements at each offset (``parts``, in the order
    of _window_offsets, each with one element per window) added into an array of ``shape``
    where those elements are: overlapping windows add up.  Nothing is written in place: along
    each axis (the width, then the height), the parts of s consecutive offsets a to a + s - 1
    (s the stride) are stacked on a new axis and merged with the windows' axis, which puts
    each element s positions after the previous window's, then moved to start at a (zero
    blocks concatenated, where the run does not fill the axis); these runs added up."""
    xp = array_namespace(parts[0])

    def zeros(like, axis, count):
        """Zeros of the shape of ``like``, but ``count`` long along ``axis``."""
        return xp.zeros((*like.shape[:axis], count, *like.shape[axis + 1 :]), dtype=like.dtype, device=device(like))

    for axis in (3, 2):
        m, s, length = size[axis - 2], stride[axis - 2], shape[axis]
        folded = []
        for row in (parts[k : k + m] for k in range(0, len(parts), m)):  # one row of offsets (width), or all
            row += [xp.zeros_like(row[0])] * (-m % s)  # whole runs of s offsets
            total = None
            for a in range(0, len(row), s):
                run = xp.stack(row[a : a + s], axis=axis + 1)
                run = xp.reshape(run, (*run.shape[:axis], -1, *run.shape[axis + 2 :]))
                run = run[(slice(None),) * axis + (slice(0, min(run.shape[axis], length - a)), ...)]  # inside the axis
                if a or a + run.shape[axis] < length:
                    run = xp.concat([zeros(run, axis, a), run, zeros(run, axis, length - a - run.shape[axis])], axis=axis)
                total = run if total is None else total + run
            folded.append(total)
        parts = folded
    return parts[0]
''',
}


@dataclass(frozen=True)
class Pool(Op):
    """``kind`` ('max' or 'avg') over windows of ``size`` moved by ``stride`` on x of
    per-sample shape ``x_shape`` ([C, H, W], or [C, L] where ``dims`` is 1)."""

    array_api_helpers = ARRAY_API_HELPERS
    array_api_needs = {"max_pool_adjoint": ("unwindow",), "avg_pool_adjoint": ("unwindow",)}
    numpy_new_arrays = ("max_pool", "avg_pool", "max_pool_adjoint", "avg_pool_adjoint")
    numpy_writes_into = {"max_pool_adjoint": 1}
    kind: str
    dims: int
    x_shape: tuple[int, ...]
    size: tuple[int, ...]
    stride: tuple[int, ...]

    CALL_NAMES = ("max_pool1d", "avg_pool1d", "max_pool2d", "avg_pool2d")

    @classmethod
    def from_call(cls, call):
        dims = int(call.function[-2])
        call.check(1, allowed=("kernel_size", "stride"), values=2)
        (x,) = call.tensors
        if len(x.shape) != dims + 1:
            raise ShapeRuleError(f"the input {x.text} must have shape {LAYOUTS[dims]} per sample, got {list(x.shape)}")
        window = call.constant(0, "kernel_size")
        if window is None:
            raise ShapeRuleError(f"needs the window size: {call.function}({x.text}, 2)")
        size = per_axis(window, "the window size", dims, low=1)
        stride = per_axis(call.constant(1, "stride", window), "the stride", dims, low=1)
        if any(m > n for m, n in zip(size, x.shape[1:])):
            raise ShapeRuleError(f"the window {spatial_text(size)} is larger than the input {x.text} (shape {list(x.shape)})")
        shape = (x.shape[0], *(output_size(n, m, s) for n, m, s in zip(x.shape[1:], size, stride)))
        return cls(call.function.split("_")[0], dims, tuple(x.shape), size, stride), shape

    @property
    def function(self) -> str:
        return f"{self.kind}_pool{self.dims}d"

    def call_text(self, x: str) -> str:
        stride = "" if self.stride == self.size else f", stride={spatial_text(self.stride)}"
        return f"{self.function}({x}, {spatial_text(self.size)}{stride})"

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, POOL)]

    def elements(self, node, args):
        (x,) = args
        out = []
        for c, *position in element_indices(node.shape):
            window = [x[flat_index((c, *source), self.x_shape)] for _, source in self._window(position)]
            out.append(sp.Max(*window) if self.kind == "max" else sp.Add(*window) / len(window))
        return out

    def _window(self, position):
        return window_elements(self.x_shape[1:], self.size, position, self.stride, (0,) * self.dims)

    # -- NumPy --------------------------------------------------------------------------

    def _spelling(self, batched: bool) -> tuple[str, str, tuple[int, ...], tuple[int, ...]]:
        """How the helpers (which take a batch of [C, H, W]) see an array of this op's per-sample
        shape: the index that makes the view of it they take (a batch of one for a value shared
        by all samples; a height of 1 for a 1-D pooling), the index that takes their result
        back, and the window's size and stride for them."""
        if self.dims == 2:
            return ("", "", self.size, self.stride) if batched else ("[None]", "[0]", self.size, self.stride)
        view, back = ("[:, :, None]", "[:, :, 0]") if batched else ("[None, :, None]", "[0, :, 0]")
        return view, back, (1, *self.size), (1, *self.stride)

    def numpy(self, node, code):
        code.require_helper("window_offsets", OFFSETS_HELPER)
        code.require_helper(f"{self.kind}_pool", MAX_HELPER if self.kind == "max" else AVG_HELPER)
        (x,) = node.inputs
        view, back, size, stride = self._spelling(code.batched(x))
        spelled = f"_{self.kind}_pool({code.use(x)}{view}, {size}, {stride}){back}"
        return spelled, f"{node.name} = {self.call_text(x)}"

    def numpy_adjoint(self, step, code):
        code.require_helper("window_offsets", OFFSETS_HELPER)
        (x,) = code.node(step.source).inputs
        view, back, size, stride = self._spelling(code.batched(x))
        g = code.grad(step.source) + view
        if self.kind == "max":
            code.require_helper("max_pool_adjoint", MAX_ADJOINT_HELPER)
            y = code.use(step.source) + view
            spelled = f"_max_pool_adjoint({g}, {code.use(x)}{view}, {y}, {size}, {stride})"
            math_text = f"dE/d{step.source} sent to the maximum of each window of {x}, ties split"
        else:
            code.require_helper("avg_pool_adjoint", AVG_ADJOINT_HELPER)
            x_shape = self.x_shape if self.dims == 2 else (self.x_shape[0], 1, *self.x_shape[1:])
            spelled = f"_avg_pool_adjoint({g}, {x_shape}, {size}, {stride})"
            math_text = f"dE/d{step.source} / {math.prod(self.size)} spread over each window of {x}"
        return AdjointCode(spelled + back, math_text)

    # -- LaTeX --------------------------------------------------------------------------

    def _input_index(self, letters: Letters) -> str:
        return ",".join([letters.channel, *letters.source(self.stride, (0,) * self.dims)])

    def latex(self, node, tex):
        (x,) = node.inputs
        L = index_letters(tex.graph, self.dims)
        element = tex.el(x, self._input_index(L))
        window = r",\,".join(f"{p}<{m}" for p, m in zip(L.offsets, self.size))
        if self.kind == "max":
            body = rf"\max_{{{window}}} {element}"
        else:
            body = rf"\frac{{1}}{{{math.prod(self.size)}}} \sum_{{{window}}} {element}"
        return rf"\Bigl[{body}\Bigr]_{{{','.join([L.channel, *L.positions])}}}"

    def latex_adjoint(self, step, tex, eq):
        (x,) = tex.node(step.source).inputs
        L = index_letters(tex.graph, self.dims)
        out = ",".join([L.channel, *L.positions])
        target = tex.partial("E", tex.el(x, self._input_index(L)))
        upstream = tex.partial("E", tex.el(step.source, out))
        if self.kind == "max":
            chosen = rf"\frac{{[{tex.el(x, self._input_index(L))} = {tex.el(step.source, out)}]}}{{\#\text{{ties}}}}"
            element = rf"{target} \mathrel{{+}}= {upstream} \, {chosen}"
            note = "each window sends its adjoint to its maximum (split evenly between ties)"
        else:
            element = rf"{target} \mathrel{{+}}= \frac{{1}}{{{math.prod(self.size)}}} \, {upstream}"
            note = "each window spreads its adjoint evenly over its elements"
        if any(s < m for s, m in zip(self.stride, self.size)):
            note += "; where windows overlap, the contributions add up"
        ranges = ", ".join(rf"0 \le {p} < {m}" for p, m in zip(L.offsets, self.size))
        start = "" if step.accumulate else ", starting from 0"
        return element, "", rf"{note} (for every ${out}$ and ${ranges}$; indices from 0{start})"

    def words(self, step, tex):
        what = "maximum" if self.kind == "max" else "average"
        return rf"back through the {what} pooling ${tex.node_tex(step.source)}$"
