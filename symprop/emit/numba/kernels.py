"""The fused loops of the numba backend: one ``@njit`` function per elementwise chain.

A layer stack alternates GEMMs, left to BLAS, with elementwise work, which NumPy does one
array-wide operation at a time (``Z + b``, then ``tanh``, then ``a * (1 - a)``, then the
product with dE/da: a pass over memory and a fresh array each).  Each kernel here is one pass:

* ``_layer<l>_forward``: z = (W a_prev, from BLAS) + b and a = f(z), per element;
* ``_layer<l>_backward``: dE/dz = dE/da * f'(z) in place, and db as its sum over the batch;
* the output layer's ``_output_loss_and_delta`` (``loss_and_grad``): z, a, the loss term and
  dE/dz = (dE/da) f'(z) (or the fused a - t) in one loop, db summed alongside; and for the
  separate ``forward()``, ``loss()`` and ``backward()``: ``_output_forward``, ``_output_loss``,
  ``_output_delta``.  A softmax output (with cross-entropy: a layer stack allows no other loss
  after it) works on rows: max, log-sum-exp, then the elements.

Element formulas are the scalar backend's spellings (``emit.scalar.printer``, the ``math``
module's functions, which Numba compiles): each activation's f and f' (in its output where
cheaper) from the op registry, each loss term from ``ops.loss.Loss.element_term``.  Their
numbers are written in the arrays' type, ``F(0.5)`` with ``F = Z1.dtype.type`` (``typed``): a
float literal is a float64 to Numba, and a float32 array's elements times a float64 are computed
in float64 (a ReLU layer's backward pass of 1024 x 256 float32: 100 us so, 34 us in float32).
A kernel is a name, its arguments, a docstring and its body's lines;
``templates/numba_module.py.j2`` writes them out.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

import sympy as sp

from ... import registry
from ...errors import SymPropError
from ...latex_printing import unbracketed
from ..scalar.printer import ScalarPrinter, python_code

LSE = sp.Symbol("lse", real=True)
INDENT = "    "
#: The first line of a kernel that writes numbers in the arrays' type (``typed``).
FLOAT_TYPE = "F = {array}.dtype.type  # the arrays' float type: numbers in it keep float32 arithmetic in float32"
#: ... but a softmax's rows: scalar code (a row of 10 does not vectorise), where float32 only added
#: conversions to and from float64 (``_exp``'s 2^n, the loss's column sums): 150 us, 108 us in float64
#: (softmax and cross-entropy of 1024 x 10 float32).
ROWS_TYPE = "F = np.float64  # a softmax's rows are scalar code: float64 costs no more there, float32 adds conversions"


@dataclass
class Kernel:
    name: str
    args: list[str]
    doc: str
    body: list[str]
    rows: bool = False  # a softmax's rows (``KernelBuilder.rows``), computed in float64


class Elements:
    """Element formulas as Python over floats (the ``math`` names the module imports are read off
    the kernels' code: ``fastmath.renamed``)."""

    def __init__(self):
        self.printer = ScalarPrinter()

    def code(self, expr: sp.Expr) -> str:
        return typed(python_code(expr, self.printer))

    def spelled(self, template: str, **args: str) -> str:
        return typed(self.printer.spelled(template, **args))


def typed(code: str) -> str:
    """``code`` with each number in the arrays' type, ``F(0.5)``, but an exponent (``x ** 3``:
    a float32 to an integer power stays a float32, and an integer power is the faster)."""
    pieces, end, previous = [], 0, ""
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NUMBER and previous != "**":
            (_, start), (_, stop) = token.start, token.end
            pieces += [code[end:start], f"F({token.string})"]
            end = stop
        previous = token.string
    return "".join(pieces) + code[end:]


def formula(expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
    """``expr`` for a comment, its generic symbols renamed (``a * (1 - a)`` -> ``a1 * (1 - a1)``)."""
    return python_code(expr.xreplace({s: sp.Symbol(n, real=True) for s, n in names.items()}), ScalarPrinter())


def uses(code: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){name}(?!\w)", code) is not None


def loop(rows: str, body: list[str]) -> list[str]:
    """``for i`` over the batch (the rows of array ``rows``), ``for j`` over its columns (the units).

    The column count is read from the array, not written as a number: LLVM vectorises a loop whose
    trip count it does not know (with a remainder loop), but unrolls one of a known 10 instead
    (a sigmoid output layer of 1024 x 10 ran 1.4x slower so)."""
    head = [f"for i in range({rows}.shape[0]):", f"{INDENT}for j in range({rows}.shape[1]):"]
    return head + [INDENT * 2 + line for line in body]


def calls(code: str) -> bool:
    """Whether ``code`` calls a function (``F(...)``, a number in the arrays' type, is no call).

    Such an activation (exp, tanh: a dozen operations an element) runs over the layer flat, in one
    loop of N * units elements, the bias added in a first pass: LLVM vectorises the inner loop
    8 or 16 elements a step and leaves a remainder of scalar steps, most of a row of 30 (a sigmoid
    layer of 1024 x 30 took 79 us in rows, 48 us flat in float64, 37 us in float32).  A cheap one
    (ReLU) stays in one pass over the rows: in two, flat, it took 1.17x (1024 x 30) to 1.46x
    (1024 x 256) the time."""
    return any(name != "F" for name in re.findall(r"(?<![\w.])([A-Za-z_]\w*)\(", code))


@dataclass
class Layer:
    """One dense layer and its activation: z<l> = W<l> a<l-1> + b<l>, a<l> = f(z<l>)."""

    index: int
    units: int
    bias: bool
    node: object  # the activation's graph node
    z_formula: str
    a_formula: str

    @property
    def z(self) -> str:
        return f"z{self.index}"

    @property
    def a(self) -> str:
        return f"a{self.index}"

    @property
    def b(self) -> str:
        return f"b{self.index}"

    @property
    def softmax(self) -> bool:
        return self.node.op.coupled

    def pre_activation(self, source: str, write_back: bool) -> list[str]:
        """``z = Z[i, j] + b[j]`` (z of the layer), stored back into Z when the bias changed it."""
        if not self.bias:
            return [f"z = {source}[i, j]  # {self.z} = {self.z_formula}"]
        lines = [f"z = {source}[i, j] + {self.b}[j]  # {self.z} = {self.z_formula}"]
        return lines + [f"{source}[i, j] = z"] if write_back else lines


class KernelBuilder:
    """The kernels of one layer stack (see the module docstring)."""

    def __init__(self, derivation):
        graph, network = derivation.graph, derivation.network
        self.elements = Elements()
        self.layers = [
            Layer(index, spec.units, spec.bias, graph.nodes[f"a{index}"], network.nodes[f"z{index}"], network.nodes[f"a{index}"])
            for index, spec in enumerate(network.layers, start=1)
        ]
        self.output = self.layers[-1]
        loss_node = graph.nodes[graph.loss]
        self.loss = loss_node.op
        (self.loss_step,) = [s for s in derivation.steps if s.source == graph.loss]
        self.fused = self.loss.fused_step(self.loss_step)  # dE/dz = a - t in one step
        if self.output.softmax and not self.fused:  # a layer stack's softmax goes with cross-entropy (spec.py)
            raise SymPropError(f"{derivation.name}: --backend numba writes a softmax output fused with cross-entropy only")
        self.scale = self.loss.scale(self.output.units)  # 1/n of a mean over the outputs, else 1
        self.loss_formula = f"E = {network.loss_text}"

    # -- element formulas ---------------------------------------------------------------------

    def activation(self, layer: Layer) -> str:
        return unbracketed(self.elements.code(layer.node.op.apply(registry.Z)))

    def local(self, layer: Layer) -> sp.Expr:
        """f'(z), in z and/or a (an elementwise activation)."""
        return layer.node.op.derivative

    def term(self) -> str:
        return unbracketed(self.loss.element_term(self.output.node, self.elements))

    def loss_gradient(self) -> sp.Expr:
        """dE/da of one output, before the 1/N of the batch mean (a, t), when not fused."""
        return self.loss_step.local.xreplace({registry.Y: registry.A})

    def output_delta(self) -> tuple[sp.Expr, str]:
        """dE/dz of one output element of an elementwise output layer (z, a, t), and its formula."""
        out = self.output
        names = {registry.Z: out.z, registry.A: out.a, registry.T: "t"}
        if self.fused:
            return self.loss_step.local, f"dE/d{out.z} = {formula(self.loss_step.local, names)}"
        dloss, local = self.loss_gradient(), self.local(out)
        factor = "" if local == 1 else f" * {formula(local, names)}"
        spelled = f"dE/d{out.a}{factor}, dE/d{out.a} = {formula(dloss, names)}"
        return dloss * local, f"dE/d{out.z} = {spelled}"

    def loss_start(self) -> list[str]:
        """The loss is summed per output (``column``) and the columns at the end: a running total
        would chain every element's addition to the previous one, and keep LLVM from vectorising."""
        return ["N = F(T.shape[0])", f"column = np.zeros({self.output.units})"]

    def loss_return(self) -> str:
        """The batch loss from ``column``, the sums of the terms over the batch."""
        if self.scale == 1:
            return "return column.sum() / N  # the mean over the batch"
        return f"return column.sum() / (N * {1 / self.scale})  # the mean over the outputs and the batch"

    # -- the kernels ------------------------------------------------------------------------------

    def kernels(self) -> list[Kernel]:
        kernels = []
        for layer in self.layers[:-1]:
            kernels += [self.layer_forward(layer, f"_layer{layer.index}_forward"), self.layer_backward(layer)]
        out = self.output
        if out.softmax:
            kernels.append(self.softmax_forward())
        else:
            kernels.append(self.layer_forward(out, "_output_forward"))
        kernels += [self.output_loss(), self.output_delta_kernel(), self.output_loss_and_delta()]
        for kernel in kernels:
            if any(uses(line.partition("  # ")[0], "F") for line in kernel.body):
                kernel.body.insert(0, ROWS_TYPE if kernel.rows else FLOAT_TYPE.format(array=kernel.args[0]))
        return kernels

    def saves_z(self, layer: Layer) -> bool:
        """Whether forward() keeps z of ``layer`` (z + b written back into Z): when its derivative,
        or the output layer's loss or delta, reads z."""
        if layer is self.output:
            return layer.softmax or any(uses(code, "z") for code in (self.term(), self.elements.code(self.output_delta()[0])))
        return uses(self.elements.code(self.local(layer)), "z")

    def layer_forward(self, layer: Layer, name: str) -> Kernel:
        Z, A = layer.z.upper(), layer.a.upper()
        activation = self.activation(layer)
        args = [Z, *([layer.b] if layer.bias else []), A]
        head = f"{layer.a} = {layer.a_formula} with {layer.z} = {layer.z_formula}"
        if not calls(activation):
            saved = self.saves_z(layer)
            body = layer.pre_activation(Z, write_back=saved)
            body.append(f"{A}[i, j] = {activation}  # {layer.a} = {layer.a_formula}")
            doc = f"{head}, in one pass: {Z} holds the product (BLAS)"
            doc += f" on entry, {layer.z} on exit." if layer.bias and saved else "."
            return Kernel(name, args, doc, loop(Z, body))
        z, a = layer.z, layer.a
        body = loop(Z, [f"{Z}[i, j] += {layer.b}[j]  # {layer.z} = {layer.z_formula}"]) if layer.bias else []
        body += [
            f"{z}, {a} = {Z}.reshape(-1), {A}.reshape(-1)  # flat: one loop vectorises all, no remainder a row",
            f"for k in range({z}.shape[0]):",
            f"{INDENT}z = {z}[k]",
            f"{INDENT}{a}[k] = {activation}  # {layer.a} = {layer.a_formula}",
        ]
        doc = f"{head}: {Z} holds the product (BLAS) on entry" + (f", {layer.z} on exit." if layer.bias else ".")
        return Kernel(name, args, doc, body)

    def layer_backward(self, layer: Layer) -> Kernel:
        Z, A, D = layer.z.upper(), layer.a.upper(), "D" + str(layer.index)
        local = self.local(layer)
        code = self.elements.code(local)
        names = {registry.Z: layer.z, registry.A: layer.a}
        body = [f"{v} = {array}[i, j]" for v, array in (("z", Z), ("a", A)) if uses(code, v)]
        shown = f"dE/d{layer.a} * {formula(local, names)}" if local != 1 else f"dE/d{layer.a}"
        if local != 1:
            body += [f"d = {D}[i, j] * {self.bracket(code)}  # dE/d{layer.z} = {shown}", f"{D}[i, j] = d"]
        else:
            body.append(f"d = {D}[i, j]  # dE/d{layer.z} = {shown}")
        prelude = []
        if layer.bias:
            body.append(f"d{layer.b}[j] += d  # dE/d{layer.b} = dE/d{layer.z}, summed over the batch")
            prelude = [f"d{layer.b}[:] = 0.0"]
        doc = f"dE/d{layer.z} = {shown} in one pass, in place: {D} holds dE/d{layer.a} on entry, dE/d{layer.z} on exit"
        doc += f"; d{layer.b} its sum over the batch." if layer.bias else "."
        args = [D, *(a for v, a in (("z", Z), ("a", A)) if uses(code, v)), *([f"d{layer.b}"] if layer.bias else [])]
        return Kernel(f"_layer{layer.index}_backward", args, doc, prelude + loop(D, body))

    @staticmethod
    def bracket(code: str) -> str:
        """``code`` bracketed for a factor of a product, unless a name, a number or one call or
        bracket pair holding all of it (``a``, ``_tanh(a - t)``, ``(a - t)``)."""
        call = re.match(r"[\w.]*", code).end()
        whole = code[call:]
        return code if not whole or (whole.startswith("(") and unbracketed(whole) != whole) else f"({code})"

    # -- the softmax output: rows ---------------------------------------------------------------

    def row_lse(self, Z: str, bias_first: bool) -> list[str]:
        """Lines, inside ``for i``, that set ``lse`` to log sum_j exp(z_j) of row i (shifted by its
        maximum: exp never overflows); ``bias_first``: Z holds W a on entry, z (bias added) after."""
        out, e = self.output, self.elements
        first = out.pre_activation(Z, write_back=True) if bias_first else [f"z = {Z}[i, j]"]
        return [
            "top = F(-np.inf)",
            "for j in range(units):",
            *(INDENT + line for line in first),
            f"{INDENT}top = max(top, z)",
            "s = F(0.0)",
            "for j in range(units):",
            f"{INDENT}s += {e.code(sp.exp(sp.Symbol(f'{Z}[i, j]', real=True) - sp.Symbol('top', real=True)))}",
            f"lse = {e.code(sp.Symbol('top', real=True) + sp.log(sp.Symbol('s', real=True)))}  # log sum_j exp(z_j), row i",
        ]

    def softmax_value(self) -> str:
        out = self.output
        return f"a = {self.elements.code(sp.exp(registry.Z - LSE))}  # {out.a} = {out.a_formula} = exp(z - lse)"

    def softmax_forward(self) -> Kernel:
        out = self.output
        Z, A = out.z.upper(), out.a.upper()
        body = self.row_lse(Z, bias_first=True) + [
            "for j in range(units):",
            f"{INDENT}z = {Z}[i, j]",
            INDENT + self.softmax_value(),
            f"{INDENT}{A}[i, j] = a",
        ]
        doc = f"{out.a} = {out.a_formula} with {out.z} = {out.z_formula}, row by row: {Z} holds the product (BLAS) on entry"
        args = [Z, *([out.b] if out.bias else []), A]
        return Kernel("_output_forward", args, doc + f", {out.z} on exit.", self.rows(Z, body), rows=True)

    def rows(self, Z: str, body: list[str]) -> list[str]:
        """``for i`` over the rows of ``Z``, each a softmax row of ``units`` (read from the array: ``loop``)."""
        return [f"units = {Z}.shape[1]", f"for i in range({Z}.shape[0]):", *(INDENT + line for line in body)]

    # -- the output layer's loss and delta ------------------------------------------------------

    def term_lines(self, code: str) -> list[str]:
        return [f"column[j] += {code}  # {self.loss_formula}, one output's term"]

    def loads(self, code: str, sources: dict[str, str]) -> list[str]:
        return [f"{v} = {sources[v]}" for v in ("z", "a", "t") if v in sources and uses(code, v)]

    def output_loss(self) -> Kernel:
        """The batch loss from forward()'s Z and A (``_batch_loss``)."""
        out = self.output
        Z, A = out.z.upper(), out.a.upper()
        term = self.term()
        sources = {"z": f"{Z}[i, j]", "a": f"{A}[i, j]", "t": "T[i, j]"}
        if out.softmax and uses(term, "lse"):
            body = self.row_lse(Z, bias_first=False) + [
                "for j in range(units):",
                *(INDENT + line for line in self.loads(term, sources) + self.term_lines(term)),
            ]
            body = self.rows("T", body)
        else:
            body = loop("T", self.loads(term, sources) + self.term_lines(term))
        args = [name for name, v in ((Z, "z"), (A, "a")) if uses(term, v) or (v == "z" and uses(term, "lse"))] + ["T"]
        doc = f"{self.loss_formula}, averaged over the batch, from forward()'s arrays."
        rows = out.softmax and uses(term, "lse")
        return Kernel("_output_loss", args, doc, [*self.loss_start(), *body, self.loss_return()], rows=rows)

    def output_delta_kernel(self) -> Kernel:
        """dE/dz of the output layer and its bias gradient from forward()'s arrays (``backward``)."""
        out = self.output
        Z, A, D = out.z.upper(), out.a.upper(), "D" + str(out.index)
        sources = {"z": f"{Z}[i, j]", "a": f"{A}[i, j]", "t": "T[i, j]"}
        delta, shown = self.output_delta()
        code = self.elements.code(delta)
        body = loop(D, [*self.loads(code, sources), *self.store_delta(code, shown, D)])
        reads = {array for array, v in ((Z, "z"), (A, "a")) if uses(code, v)}
        args = [name for name in (Z, A) if name in reads] + ["T", D, *([f"d{out.b}"] if out.bias else [])]
        doc = f"dE/d{out.z} of the batch loss (1/N included) into {D}, from forward()'s arrays"
        doc += f"; d{out.b} its sum over the batch." if out.bias else "."
        return Kernel("_output_delta", args, doc, ["N = F(T.shape[0])", *self.zero_bias(), *body])

    def zero_bias(self) -> list[str]:
        return [f"d{self.output.b}[:] = 0.0"] if self.output.bias else []

    def store_delta(self, code: str, shown: str, D: str) -> list[str]:
        lines = [f"d = {self.bracket(code)} / N  # {shown}, over N", f"{D}[i, j] = d"]
        if self.output.bias:
            lines.append(f"d{self.output.b}[j] += d  # dE/d{self.output.b} = dE/d{self.output.z}, summed over the batch")
        return lines

    def output_loss_and_delta(self) -> Kernel:
        """The output layer, the loss and dE/dz in one pass (``loss_and_grad``): Z holds the product
        (BLAS) on entry and dE/dz on exit."""
        out = self.output
        Z = out.z.upper()
        term = self.term()
        if out.softmax:
            body = self.row_lse(Z, bias_first=True) + self.softmax_rest(Z, term)
            body = self.rows(Z, body)
        else:
            delta, shown = self.output_delta()
            code = self.elements.code(delta)
            lines = out.pre_activation(Z, write_back=False)
            lines.append(f"a = {self.activation(out)}  # {out.a} = {out.a_formula}")
            lines += [*self.loads(term + " " + code, {"t": "T[i, j]"}), *self.term_lines(term), *self.store_delta(code, shown, Z)]
            body = loop(Z, lines)
        args = [Z, *([out.b] if out.bias else []), "T", *([f"d{out.b}"] if out.bias else [])]
        doc = f"{out.a} = {out.a_formula}, {self.loss_formula} and dE/d{out.z} in one pass: {Z} holds the product (BLAS)"
        doc += f" on entry and dE/d{out.z} (1/N included) on exit"
        doc += f", d{out.b} its sum over the batch; returns the batch loss." if out.bias else "; returns the batch loss."
        body = [*self.loss_start(), *self.zero_bias(), *body, self.loss_return()]
        return Kernel("_output_loss_and_delta", args, doc, body, rows=out.softmax)

    def softmax_rest(self, Z: str, term: str) -> list[str]:
        """After the row's lse: a, the loss terms and dE/dz of each element of row i."""
        delta, shown = self.output_delta()
        code = self.elements.code(delta)
        lines = [f"z = {Z}[i, j]", self.softmax_value(), "t = T[i, j]", *self.term_lines(term)]
        lines += self.store_delta(code, shown, Z)
        return ["for j in range(units):", *(INDENT + line for line in lines)]
