"""The public face of a generated NumPy module, shared by layer stacks and graph specs.

Three things every module spells alike (``symprop.emit.numpy``):

* the module docstring, composed here and escaped (``docstring_text``), because it quotes
  user text (the spec's path, formulas): a path with ``\"\"\"`` or a backslash must neither
  end the docstring early (code run on import) nor be a SyntaxError;
* the argument checks of the public functions: ``_inputs(X)`` and ``_targets(T, like)``,
  built on ``_checked`` (CHECK_SOURCE), which raise one ``ValueError`` naming the argument
  and both shapes, and turn class indices into one-hot targets for cross-entropy;
* the NumPy spelling of each parameter's initialiser (``init_code``).

Every user text that reaches generated Python goes through ``docstring_text`` (docstrings) or
``comment_text`` (``#`` comments); names are identifiers (the spec reader checks them) and
numbers are finite floats printed with ``repr``.
"""

from __future__ import annotations

import math
import shlex
import textwrap
from collections.abc import Callable
from typing import Any

#: First line of every generated module; ``symprop check`` reads it (as text) before importing.
MARKER = "# symprop-module: 1"

#: The smallest denominator of a gradient check's relative error |g - n| / (|g| + |n|) (the
#: modules' ``gradient_check`` and ``symprop check``): an absolute floor, so that gradients that are
#: all zero or tiny (a dead relu, exp(-60): 1e-26 against a central difference of
#: exactly 0) are not a relative error of 1.  Differences under 1e-6 * 1e-3 = 1e-9 pass: some five
#: times the rounding noise of a central difference with eps = 1e-6 at a loss of order 1
#: (2.2e-16 / 1e-6 = 2.2e-10, one unit in the last place of the loss).
GRADIENT_FLOOR = 1e-3

#: The check of ``params`` in the public functions of the NumPy and array-API modules: a bias of
#: another shape would broadcast into a wrong loss without any error (a new user's (7, 1) bias gave
#: E = 2.08 for 1.36).  The usual case is one comparison per parameter with its shape written out
#: (~0.15 us for two parameters; a comparison of two lists took 0.34 us, a third of what the
#: NumPy module at 2-2-2 and batch 1 is ahead of hand NumPy); anything else gets one ValueError
#: naming the parameter.  ``.shape`` reads PyTorch, JAX (also traced) and Dask arrays alike.
_PARAMS_CHECK_TEMPLATE = '''def _checked_params(params):
    """params, unless a parameter of PARAM_SHAPES is missing or has another shape: one ValueError
    naming it and both shapes (a bias of another shape would broadcast into a wrong loss)."""
    try:
        if {usual}:
            return params
    except (KeyError, AttributeError, TypeError, IndexError):  # a key missing, a list, not a dict
        pass
    expected = f"a dict of arrays with the keys {{', '.join(PARAM_SHAPES)}} (as init_params() gives)"
    if not hasattr(params, "keys"):
        raise ValueError(f"params: expected {{expected}}, got {{type(params).__name__}}")
    for name, shape in PARAM_SHAPES.items():
        if name not in params:
            raise ValueError(f"params: no parameter {{name!r}}; expected {{expected}}")
        got = params[name].shape if hasattr(params[name], "shape") else type(params[name]).__name__
        if got != shape:
            raise ValueError(f"params[{{name!r}}]: expected an array of shape {{shape}}, got {{got}}")
    return params
'''


def params_check_source(param_shapes: list[tuple[str, tuple[int, ...]]]) -> str:
    """``_checked_params`` for parameters ``(name, shape)``: names are identifiers (the spec reader
    checks them), so they are safe in quotes; one comparison a line beyond two parameters."""
    tests = [f'params["{name}"].shape == {tuple(shape)!r}' for name, shape in param_shapes] or ["True"]
    usual = " and ".join(tests)
    if len(tests) > 2:
        usual = "(\n" + "".join(f"            {'and ' if i else ''}{t}\n" for i, t in enumerate(tests)) + "        )"
    return _PARAMS_CHECK_TEMPLATE.format(usual=usual)


#: The argument check every module carries (numpy only, a few comparisons, no copies).
CHECK_SOURCE = '''def _checked(label, A, shape, like=None, classes=None, values=None):
    """A as an array of per-sample ``shape`` with a leading batch axis, else one ValueError
    naming ``label`` and both shapes.  ``like``: an array whose batch size and dtype A must
    share.  ``classes``: A may instead hold class indices (integers of ``shape`` without its
    last axis, values in [0, classes)), returned one-hot, as PyTorch's cross-entropy accepts
    them.  ``values``: A holds whole numbers in [0, values) (indices into a table), or is a mask ("bool")."""
    if (
        values is None
        and type(A) is np.ndarray
        and A.dtype.kind == "f"
        and A.ndim == len(shape) + 1
        and A.shape[1:] == shape
        and (A.shape[0] if like is None else A.shape[0] == like.shape[0])  # X not empty; T of X's batch
    ):
        return A  # the usual case, in six comparisons (the checks below cost ~4 us a call)
    A = np.asarray(A)
    batch = None if like is None else like.shape[0]
    if classes is not None and A.ndim == len(shape) and A.dtype.kind in "iu":
        if batch is not None and A.shape[0] != batch:
            raise ValueError(f"{label}: expected {batch} class indices (the batch of X), got shape {A.shape}")
        if A.shape[1:] != shape[:-1]:
            indices = "(batch" + "".join(f", {n}" for n in shape[:-1]) + ("," if len(shape) == 1 else "") + ")"
            raise ValueError(f"{label}: expected class indices of shape {indices}, got {A.shape}")
        if A.size and _outside(A, classes):
            raise ValueError(f"{label}: class indices must be in [0, {classes}), got values {A.min()} to {A.max()}")
        return np.eye(classes, dtype=like.dtype if like is not None else np.float64)[A]
    if A.shape[1:] != shape or A.ndim != len(shape) + 1:
        expected = "(batch" + "".join(f", {n}" for n in shape) + ("," if not shape else "") + ")"
        indices = "(batch" + "".join(f", {n}" for n in shape[:-1]) + ("," if len(shape) == 1 else "") + ")"
        hint = f" or integer class indices of shape {indices}" if classes is not None else ""
        if A.shape == shape and shape:
            hint += f"; a single sample needs a batch axis: {label}[None]"
        raise ValueError(f"{label}: expected shape {expected}{hint}, got {A.shape}")
    if batch is not None and A.shape[0] != batch:
        raise ValueError(f"{label}: expected {batch} samples (the batch of X), got shape {A.shape}")
    if not A.shape[0]:  # the mean over no samples: nan, and a RuntimeWarning
        raise ValueError(f"{label}: the batch is empty (shape {A.shape})")
    if values == "bool":
        if A.dtype.kind != "b":
            raise ValueError(f"{label}: expected a boolean mask, got dtype {A.dtype}")
        return A
    if values is not None:
        if A.dtype.kind not in "iu":
            raise ValueError(f"{label}: expected integers (indices in [0, {values})), got dtype {A.dtype}")
        if A.size and _outside(A, values):
            raise ValueError(f"{label}: expected indices in [0, {values}), got values {A.min()} to {A.max()}")
        return A
    if A.dtype.kind != "f":
        raise ValueError(f"{label}: expected a floating-point array, got dtype {A.dtype}")
    return A


def _outside(A, n):
    """Whether integer array A has a value outside [0, n), in one pass: viewed as unsigned
    integers, negative values are huge (A.min() and A.max() would be two passes)."""
    return A.view(A.dtype.str.replace("i", "u")).max() >= n
'''


#: The check of cross-entropy targets whose softmax gradient is written y - t: that is the
#: gradient only when every row of t sums to one (one-hot or probabilities); any other t would
#: give a silently wrong gradient (the exact one is y * sum(t) - t), so it is refused.  Along the
#: last axis the row sums are one product by BLAS (``_sums_along``: A.sum(axis=-1) is 2-8x slower;
#: ``A.dot``, without np.dot's dispatch, 0.2 us less).  One-hot rows sum to exactly 1, which a
#: comparison of the sums' bytes with a vector of ones' sees (two tobytes, ~0.1 us at batch 64)
#: before the subtraction and the sum of squares (two NumPy calls, ~0.9 us) that rows summing to 1
#: only within the tolerance still take.  ``_usual_arguments`` makes the same comparison of bytes
#: (``Arguments.usual``).
SIMPLEX_SOURCE = '''def _sums_along(A, axis=-1):
    """A summed along ``axis`` (the last by default), by BLAS along the last (a product with ones)."""
    if axis != -1:
        return A.sum(axis=axis)
    ones = _ones(A.shape[-1], A.dtype)
    return A.dot(ones) if A.ndim == 2 else A @ ones


def _on_simplex(label, A, axis=-1):
    """A, unless a row along ``axis`` (the last by default) does not sum to 1 (cross-entropy
    targets: one-hot or probabilities; the backward pass's y - t needs it)."""
    off = _sums_along(A, axis)
    if off.tobytes() == _ones(off.size, off.dtype).tobytes():  # every row sums to exactly 1 (one-hot rows)
        return A
    off -= 1.0  # in place: a fresh array and a Python int cost 0.2 us more
    if not np.vdot(off, off) <= 1e-8:  # else every row is within 1e-4; look for one that is not (or NaN)
        off = np.abs(off)
        if not off.max() <= 1e-4:
            row = np.unravel_index(np.argmax(off), off.shape)
            where = ", ".join(str(int(i)) for i in row)
            along = "the last axis" if axis == -1 else f"axis {axis}"
            message = f"cross-entropy targets must sum to 1 along {along}; row {where} sums to {A.sum(axis=axis)[row]:.6g}"
            raise ValueError(f"{label}: {message}")
    return A
'''


def simplex_targets(derivation) -> dict[str, int]:
    """Targets of a softmax cross-entropy whose gradient is fused into y - t, each with the
    softmax's axis (-1: the last): that is the gradient only when each of their rows along it
    sums to one, which every module checks."""
    graph, found = derivation.graph, {}
    for step in derivation.steps:
        loss = graph.nodes[step.source]
        if loss.op.loss_function and loss.op.fused_step(step) and graph.nodes[loss.inputs[0]].op.coupled:
            found[loss.inputs[1]] = graph.nodes[loss.inputs[0]].op.axis
    return found


def simplex_call(label: str, call: str, axis: int) -> str:
    """``call`` (an array checked for its shape) checked to sum to one along ``axis``."""
    return f"_on_simplex({label!r}, {call})" if axis == -1 else f"_on_simplex({label!r}, {call}, {axis})"


def one_hot_axes(graph) -> dict[str, int]:
    """Targets of cross-entropy that are not scalars -> the axis along which ``sample_batch``
    draws them one-hot: the softmax's, else the last."""
    axes = {}
    for node in graph.nodes.values():
        if node.op.loss_function and node.op.choice.name == "cross_entropy" and graph.nodes[node.inputs[1]].shape:
            output = graph.nodes[node.inputs[0]].op
            axes[node.inputs[1]] = output.axis if output.coupled else -1
    return axes


def docstring_text(text: str, at_end: bool = True) -> str:
    """``text`` escaped for the inside of a (non-raw) triple-quoted string, so that the string's
    value is ``text`` again: backslashes doubled, a quote escaped where it could close the
    string (before another quote, or at the end unless ``at_end`` is false: a line that
    a line break follows), every non-printable character (newline
    included) as its escape.  Line breaks that are meant as such go between escaped pieces."""
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            closing = text[i + 1] == '"' if i + 1 < len(text) else at_end
            out.append('\\"' if closing else '"')
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])  # '\n', '\x00', '\u2028', ...
    return "".join(out)


def comment_text(text: str) -> str:
    """``text`` for a ``#`` comment: one line, every non-printable character escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def module_docstring(name: str, summary: str, source: str, body: str, check_note: str) -> str:
    """The module docstring's source text (without the quotes), each line escaped.

    ``summary``, ``body`` and ``check_note`` may hold line breaks (wrapped paragraphs); the
    spec's path never does: one of its own is escaped, so the Spec line stays one line."""
    command = f"symprop derive {shlex.quote(source)}"
    lines = [
        f"{name}: forward pass, loss and backpropagation, generated by symprop.",
        "",
        *f"Network: {summary}.".split("\n"),
        f"Spec: {source}. Regenerate with `{command}`; do not edit by hand.",
        "",
        *body.split("\n"),
        "",
        *check_note.split("\n"),
        "The loss is the mean over the batch of the per-sample loss, so every adjoint below",
        "carries the factor 1 / N of that mean. Running this file checks backward() against",
        "central differences of loss() (on large networks a sample of the coordinates: see gradient_check).",
    ]
    return "\n".join(docstring_text(line, at_end=False) for line in lines) + "\n"


def check_note(shapes: str, classes: tuple[int, ...] | None) -> str:
    """The docstring paragraph on what the public functions accept; ``shapes`` says X's and T's,
    ``classes`` the per-sample shape of class indices a cross-entropy target may be given as."""
    indices = (
        f" Cross-entropy targets may also be integer class indices of shape {batch_shape(classes)}, as in PyTorch."
        if classes is not None
        else ""
    )
    return textwrap.fill(
        "forward(), loss(), loss_and_grad() and backward() check X and T and raise one ValueError naming "
        f"the argument and both shapes: {shapes}, floating-point; a single sample needs a batch axis "
        f"(X[None]).{indices} loss_and_grad(params, X, T, check=False) skips these checks (0.5 to 4 us "
        "a call at batch 64) for a training loop over data it checked once.",
        88,
    )


def batch_shape(shape: tuple[int, ...]) -> str:
    return "(batch" + "".join(f", {n}" for n in shape) + ("," if not shape else "") + ")"


def checked_call(
    label: str, array: str, shape: tuple[int, ...], like: str | None = None, classes: int | None = None, values=None
) -> str:
    """Source of one ``_checked`` call; ``values``: the range of an integer input, or "bool"."""
    args = [repr(label), array, repr(tuple(shape))]
    if like is not None:
        args.append(like)
    if classes is not None:
        args.append(f"classes={classes}")
    if values is not None:
        args.append(f"values={values!r}")
    return f"_checked({', '.join(args)})"


# -- initialisers ----------------------------------------------------------------------------


def init_code(kind: str, shape: tuple[int, ...], args: dict[str, float] | None = None) -> str:
    """NumPy source drawing a parameter of ``shape`` (``rng`` and ``dtype`` in scope).

    ``fan_in`` is the product of every axis but the first (a matrix's number of columns)."""
    args = args or {}
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else max(math.prod(shape), 1)
    if kind == "zeros":
        return f"np.zeros({shape}, dtype=dtype)"
    if kind == "ones":
        return f"np.ones({shape}, dtype=dtype)"
    if kind == "fan_in_normal":
        return f"(rng.standard_normal({shape}) / np.sqrt({fan_in})).astype(dtype)"
    if kind == "fan_in_uniform":
        return f"rng.uniform(-1 / np.sqrt({fan_in}), 1 / np.sqrt({fan_in}), size={shape}).astype(dtype)"
    if kind == "normal":
        return f"rng.normal({float(args.get('mean', 0.0))!r}, {float(args.get('std', 1.0))!r}, size={shape}).astype(dtype)"
    if kind == "uniform":
        low, high = float(args.get("low", 0.0)), float(args.get("high", 1.0))
        return f"rng.uniform({low!r}, {high!r}, size={shape}).astype(dtype)"
    if kind == "standard_normal_scalar":
        return "rng.standard_normal(()).astype(dtype)"
    raise ValueError(f"unknown initialiser {kind!r}")


INIT_DOC = {
    "zeros": "zeros",
    "ones": "ones",
    "fan_in_normal": "N(0, 1/fan_in)",
    "fan_in_uniform": "U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
    "normal": "N(mean, std^2)",
    "uniform": "U(low, high)",
    "standard_normal_scalar": "N(0, 1)",
}


def sample_batch_lines(graph, rng_line: str, batch_of) -> list[str]:
    """The body of a module's ``sample_batch()``: ``rng_line``, then X and T, each leaf's batch
    spelled by ``batch_of(node)`` (None where the network has no inputs or targets of a kind, a
    dict where it has several)."""
    lines = [rng_line]
    for role, letter in (("input", "X"), ("target", "T")):
        leaves = graph.leaves(role)
        if not leaves:
            lines.append(f"{letter} = None")
        elif len(leaves) == 1:
            lines.append(f"{letter} = {batch_of(leaves[0])}")
        else:
            lines.append(f"{letter} = {{")
            lines += [f'    "{n.name}": {batch_of(n)},' for n in leaves]
            lines.append("}")
    lines.append("return X, T")
    return lines


#: The learning rate of a module's worked example (``worked_example``) when the spec gives none.
EXAMPLE_RATE = 0.1


def example_rate(example) -> str:
    """The worked example's learning rate as the module writes it."""
    return repr(float(example.learning_rate if example.learning_rate is not None else EXAMPLE_RATE))


def batch_of_one(values: dict, code: Callable[[Any], str], joined: Callable[[dict[str, str]], str]) -> str:
    """A worked example's inputs (or targets) as a batch of one, in a backend's spelling: ``None``
    without any, the one array's ``code``, or the dict of several (``joined``, from name -> code)."""
    if not values:
        return "None"
    codes = {name: code(value) for name, value in values.items()}
    return next(iter(codes.values())) if len(codes) == 1 else joined(codes)
