"""The numba backend's module: the NumPy module with its passes fused into compiled loops.

``forward()``, ``_batch_loss()``, ``backward()`` and ``loss_and_grad()`` are written anew:
the matrix products stay with BLAS (``np.dot``, into reused arrays in ``loss_and_grad``),
everything elementwise between them runs in the ``@njit`` kernels of ``kernels``.  Everything
else (the docstring, ``init_params``, the argument checks, ``loss``, ``sgd_step``,
``sample_batch``, ``gradient_check``, the worked example) is the NumPy module's own text, taken
statement by statement from its source, so the two modules cannot drift apart; helpers that
no function calls any more are left out.  ``templates/numba_module.py.j2`` arranges the parts.

Layer stacks (every activation and loss of the registry, formula activations and losses); a
graph spec's module is ``graph``'s (``__init__.module_source`` chooses).  A missing Numba is
refused with one line.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import textwrap
from typing import TYPE_CHECKING

from ...errors import SymPropError
from ...templating import render
from ..numpy.module import module_source as numpy_source
from . import fastmath
from .kernels import INDENT, KernelBuilder

if TYPE_CHECKING:
    from ...derivation import Derivation

#: The functions written anew (in the NumPy module's order); the rest is the NumPy module's.
REPLACED = ("forward", "_batch_loss", "loss", "backward", "loss_and_grad")
#: Longest line of the generated module (ruff's line-length of this project).
WIDTH = 130

NUMBA_MISSING = "--backend numba needs Numba: pip install numba (or pip install 'symprop[numba]')"


def require_numba() -> None:
    """SymPropError (one line) when Numba is not installed: the module could not run.  Looked up,
    not imported: importing Numba takes most of a second, and writing the module needs none of it."""
    if importlib.util.find_spec("numba") is None:
        raise SymPropError(NUMBA_MISSING)


class NumbaModule:
    """The template context of one derivation's numba module (see the module docstring)."""

    def __init__(self, derivation: Derivation):
        """A layer stack's (``module_source`` hands a graph spec to ``graph``)."""
        require_numba()
        self.kernels = KernelBuilder(derivation)
        self.kernel_list = self.kernels.kernels()
        self.layers = self.kernels.layers
        self.params = derivation.param_names
        self.parts = Parts(numpy_source(derivation))

    # -- the functions ------------------------------------------------------------------------

    def unpack(self, names: list[str]) -> list[str]:
        return [f'{name} = params["{name}"]' for name in names]

    def call(self, name: str, comment: str) -> str:
        """A kernel called on the arrays of its argument names (each function names them so)."""
        return f"{name}({', '.join(self.kernel(name).args)})  # {comment}"

    def layer_step(self, layer, name: str) -> str:
        return self.call(name, f"{layer.a} = {layer.a_formula}, {layer.z} = {layer.z_formula}")

    def forward(self) -> list[str]:
        lines = ["X = _inputs(X)", "params = _checked_params(params)", *self.unpack(self.params)]
        previous = "X"
        for layer in self.layers:
            Z, A = layer.z.upper(), layer.a.upper()
            name = "_output_forward" if layer is self.layers[-1] else f"_layer{layer.index}_forward"
            lines += [
                f"{Z} = np.dot({previous}, W{layer.index}.T)  # W{layer.index} {layer_input(previous)}, by BLAS",
                f"{A} = np.empty_like({Z})",
                self.layer_step(layer, name),
            ]
            previous = A
        saved = [[layer.z.upper()] if self.kernels.saves_z(layer) else [] for layer in self.layers]
        cached = ["X", *(name for layer, z in zip(self.layers, saved) for name in [*z, layer.a.upper()])]
        lines += ["cache = {", *(f'{INDENT}"{name}": {name},' for name in cached), "}", f"return {previous}, cache"]
        return lines

    def batch_loss(self) -> list[str]:
        kernel = self.kernel("_output_loss")
        return [f"return {kernel.name}({', '.join(a if a == 'T' else f'cache[{chr(34)}{a}{chr(34)}]' for a in kernel.args)})"]

    def kernel(self, name: str):
        (found,) = [k for k in self.kernel_list if k.name == name]
        return found

    def backward(self) -> list[str]:
        out = self.layers[-1]
        lines = [f'T = _targets(T, cache["{out.a.upper()}"])', "params = _checked_params(params)"]
        lines += self.unpack([f"W{n.index}" for n in self.layers[1:]])
        lines += [f'{name} = cache["{name}"]' for name in self.cache_reads()]
        D = f"D{out.index}"
        lines += [f"{D} = np.empty_like({out.a.upper()})"]
        if out.bias:
            lines.append(f"d{out.b} = np.empty({out.units}, {D}.dtype)")
        lines.append(self.call("_output_delta", f"dE/d{out.z}" + (f", and its sum over the batch d{out.b}" if out.bias else "")))
        return lines + self.backward_layers(lambda layer: f"D{layer.index}", fresh=True)

    def cache_reads(self) -> list[str]:
        """The arrays of forward()'s cache that backward() reads."""
        reads = {"X"} | {layer.a.upper() for layer in self.layers[:-1]}
        for kernel in self.kernel_list:
            if kernel.name.endswith("_backward") or kernel.name == "_output_delta":
                reads |= {a for a in kernel.args if a[0] in "ZA"}
        arrays = ["X", *(name for layer in self.layers for name in (layer.z.upper(), layer.a.upper()))]
        return [name for name in arrays if name in reads]

    def backward_layers(self, delta, fresh: bool) -> list[str]:
        """From the output layer's dE/dz (in ``delta(layer)``) back to the first layer's gradients."""
        lines = []
        for layer in reversed(self.layers):
            D = delta(layer)
            below = self.layers[layer.index - 2] if layer.index > 1 else None
            source = below.a.upper() if below else "X"
            formula = f"dE/dW{layer.index} = dE/d{layer.z} {layer_input(source)}^T, summed over the batch"
            lines.append(f"dW{layer.index} = np.dot({D}.T, {source})  # {formula}")
            if below is None:
                break
            D_below = delta(below)
            product = f"np.dot({D}, W{layer.index})" if fresh else f"np.dot({D}, W{layer.index}, out={D_below})"
            lines.append(f"{D_below} = {product}" if fresh else product)
            lines[-1] += f"  # dE/d{below.a} = W{layer.index}^T dE/d{layer.z}"
            if below.bias:
                lines.append(f"d{below.b} = np.empty({below.units}, {D_below}.dtype)")
            lines.append(self.call(f"_layer{below.index}_backward", f"dE/d{below.z}, in place"))
        return lines + ["return {", *(f'{INDENT}"{name}": d{name},' for name in self.params), "}"]

    def loss_and_grad(self) -> list[str]:
        out = self.layers[-1]
        lines = [
            "X = _inputs(X) if check else X",
            "T = _targets(T, X) if check or T.ndim == 1 else T",
            "params = _checked_params(params) if check else params",
            "if any(value.dtype != X.dtype for value in params.values()):  # mixed precisions: all in the widest, as NumPy",
            f"{INDENT}dtype = np.result_type(X, *params.values())",
            f"{INDENT}X, params = X.astype(dtype), {{key: value.astype(dtype) for key, value in params.items()}}",
            *self.unpack(self.params),
            f"{unpacked(self.workspace_names())} = _workspace(X.shape[0], X.dtype)",
        ]
        previous = "X"
        for layer in self.layers:
            Z = layer.z.upper()
            product = f"_product({previous}, W{layer.index}, {Z}, {Z}T)"
            lines.append(f"{product}  # W{layer.index} {layer_input(previous)}, by BLAS, in its faster orientation")
            if layer is out:
                break
            lines.append(self.layer_step(layer, f"_layer{layer.index}_forward"))
            previous = layer.a.upper()
        if out.bias:
            lines.append(f"d{out.b} = np.empty({out.units}, X.dtype)")
        lines.append("E = " + self.call("_output_loss_and_delta", f"E and dE/d{out.z} (into {out.z.upper()})"))
        deltas = {layer.index: f"D{layer.index}" for layer in self.layers[:-1]} | {out.index: out.z.upper()}
        body = self.backward_layers(lambda layer: deltas[layer.index], fresh=False)
        body[-len(self.params) - 2] = "return E, {"
        return lines + body

    def workspace_names(self) -> list[str]:
        """The arrays ``loss_and_grad`` reuses: per layer Z (and dE/dz of the output layer), ZT (its
        product transposed, ``_product``), A, and for hidden layers D (dE/da, then dE/dz); the output
        layer's A only as a softmax's scratch."""
        names = []
        for layer in self.layers:
            names += [layer.z.upper(), f"{layer.z.upper()}T"]
            if layer is not self.layers[-1]:
                names += [layer.a.upper(), f"D{layer.index}"]
            elif layer.a.upper() in self.kernel("_output_loss_and_delta").args:
                names.append(layer.a.upper())
        return names

    def workspace(self) -> list[str]:
        """The arrays of ``_workspace``, one line each: (N, units) of the layer's width, ZT (units, N)."""
        shapes = {}
        for layer in self.layers:
            Z, n = layer.z.upper(), layer.units
            shapes |= {Z: f"N, {n}", f"{Z}T": f"{n}, N", layer.a.upper(): f"N, {n}", f"D{layer.index}": f"N, {n}"}
        return [f"np.empty(({shapes[name]}), dtype),  # {name}" for name in self.workspace_names()]

    # -- the module ------------------------------------------------------------------------------

    def context(self) -> dict:
        functions = {
            "forward": ("params, X", self.forward()),
            "_batch_loss": ("cache, T", self.batch_loss()),
            "backward": ("params, cache, T", self.backward()),
            "loss_and_grad": ("params, X, T, check=True", self.loss_and_grad()),
        }
        written = [
            (name, args, self.parts.docstring(name), [fitted(line) for line in body]) for name, (args, body) in functions.items()
        ]
        used: set[str] = set()
        kernels = [
            {
                "name": k.name,
                "args": ", ".join(k.args),
                "doc": wrapped_doc(k.doc),
                "body": [fitted(fastmath.renamed(line, used)) for line in k.body],
            }
            for k in self.kernel_list
        ]
        own = "\n".join(line for _, _, _, body in written for line in body)
        own += "\n".join(line for k in kernels for line in k["body"])
        parts = self.parts.kept(own)
        before, middle, after = parts.around("init_params", "loss")
        return {
            "marker": self.parts.marker,
            "docstring": self.parts.module_docstring(NUMBA_NOTE),
            "imports": fastmath.imports(used),
            "fast": fastmath.sources(used),
            "before": before,
            "kernels": kernels,
            "workspace": self.workspace(),
            "middle": middle,
            "functions": written[:2],
            "loss": parts.text("loss"),
            "later": written[2:],
            "after": after,
        }


#: The paragraph the numba module adds to the NumPy module's docstring.
NUMBA_NOTE = (
    "Backend numba: forward(), loss(), backward() and loss_and_grad() leave the matrix products to BLAS and run "
    "the elementwise work between them (bias, activation, loss, its derivative, the bias gradients) as one "
    "compiled loop per layer (@njit: compiled on a function's first call with a new dtype, then cached in "
    "__pycache__ beside this file for the next process: see CACHE). loss_and_grad() reuses its arrays between "
    "calls, one set per thread, batch size and dtype; the gradients it returns are fresh arrays. Its layers' "
    "products run in the orientation BLAS is faster at, timed on their first call with a shape (_product)."
)


def unpacked(names: list[str]) -> str:
    return f"({names[0]},)" if len(names) == 1 else ", ".join(names)


def layer_input(array: str) -> str:
    """The formula name of a layer's input array: ``x`` for X, ``a1`` for A1."""
    return array.lower()


def fitted(line: str, width: int = WIDTH - 12) -> str:
    """A line whose comment would pass ``width`` (with the loop's indentation) gets it on the line
    above; code that would still pass it is broken inside its brackets (``broken``)."""
    code, _, comment = line.partition("  # ")
    if len(line) <= width or not comment:
        return "\n".join(broken(line, width))
    indent = re.match(r"\s*", code).group(0)
    above = textwrap.wrap(comment, width - len(indent) - 2, break_long_words=False)
    return "\n".join([*(f"{indent}# {text}" for text in above), *broken(code, width)])


_OPERATOR = re.compile(r"(?:[-+*/] |if |else )")


def broken(code: str, width: int) -> list[str]:
    """``code`` in lines of at most ``width`` where it can be: broken before an operator inside
    brackets (Python joins such lines), the rest indented one step more.  Long element formulas
    (a formula activation's derivative, its numbers written ``F(1.5)``) need it."""
    indent = re.match(r"\s*", code).group(0)
    lines, open_ = [], 0  # brackets left open by the lines before
    while len(code) > width:
        depth, cut = open_, None
        for k, char in enumerate(code[:width]):
            depth += (char in "([") - (char in ")]")
            if depth > 0 and char == " " and _OPERATOR.match(code, k + 1) and k > len(indent) + len(INDENT):
                cut, open_at_cut = k, depth
        if cut is None:
            break
        lines.append(code[:cut])
        code, open_ = indent + INDENT + code[cut + 1 :], open_at_cut
    return [*lines, code]


def wrapped_doc(text: str) -> str:
    return "\n    ".join(textwrap.wrap(text, 100, break_long_words=False))


class Parts:
    """The NumPy module's source, statement by statement, keyed by the name each defines."""

    def __init__(self, source: str):
        self.source = source
        lines = source.splitlines()
        tree = ast.parse(source)
        self.marker = lines[0]
        docstring = tree.body[0]
        self.docstring_text = "\n".join(lines[docstring.lineno - 1 : docstring.end_lineno])
        self.functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
        self.segments: list[tuple[str, str]] = []  # (name, text), in order
        end = docstring.end_lineno
        for node in tree.body[1:]:
            text = "\n".join(lines[end : node.end_lineno]).strip("\n")
            end = node.end_lineno
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            self.segments.append((defined_name(node), text))
        tail = "\n".join(lines[end:]).strip("\n")
        if tail:
            self.segments[-1] = (self.segments[-1][0], self.segments[-1][1] + "\n" + tail)

    def docstring(self, name: str) -> str:
        return ast.get_docstring(self.functions[name], clean=False)

    def module_docstring(self, note: str) -> str:
        """The NumPy module's docstring (quotes included) with ``note`` as its last paragraph."""
        body = self.docstring_text.rstrip()
        assert body.endswith('"""')
        paragraph = "\n".join(textwrap.wrap(note, 100, break_long_words=False))
        return f'{body[:-3].rstrip()}\n\n{paragraph}\n"""'

    def kept(self, own: str) -> Kept:
        """The segments but the replaced functions' and the private helpers nothing reads any more."""
        segments = [(name, text) for name, text in self.segments if name not in REPLACED or name == "loss"]
        while True:
            unused = [
                name
                for name, _ in segments
                if name.startswith("_")
                and not any(re.search(rf"(?<![\w.]){re.escape(name)}\b", text) for other, text in segments if other != name)
                and not re.search(rf"(?<![\w.]){re.escape(name)}\b", own)
            ]
            if not unused:
                return Kept(segments)
            segments = [(name, text) for name, text in segments if name not in unused]


class Kept:
    def __init__(self, segments: list[tuple[str, str]]):
        self.segments = segments

    def text(self, name: str) -> str:
        (found,) = [text for other, text in self.segments if other == name]
        return found

    def around(self, first: str, last: str) -> tuple[list[str], list[str], list[str]]:
        """(the texts before ``first``, from ``first`` to before ``last``, after ``last``)."""
        names = [name for name, _ in self.segments]
        texts = [text for _, text in self.segments]
        a, b = names.index(first), names.index(last)
        return texts[:a], texts[a:b], texts[b + 1 :]


def defined_name(node: ast.stmt) -> str:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return ""


def stack_module_source(derivation: Derivation) -> str:
    """The numba module of a layer stack; SymPropError without Numba."""
    return render("numba_module.py.j2", **NumbaModule(derivation).context())
