"""An elementwise formula of one or more tensors, with NumPy broadcasting (graph specs):
``u0 + u1``, ``u0*u1``, ``1 - u0``, ``u0**2``, ``exp(u0)``, ``u0/1000``...

The local derivative for each input is derived by SymPy; where it contains the op itself
(``exp``) it is written in the output ``A``.  An input of lower rank was broadcast, so its
adjoint is summed over the broadcast axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from .. import differentiation, registry
from .base import Adjoint, AdjointCode, Op, arg_symbol
from .indices import broadcast_flat, broadcast_shape, broadcast_tokens, element_indices
from .simplify import tidy

ELEMENTWISE = "elementwise"


@dataclass(frozen=True)
class Elementwise(Op):
    """An elementwise formula of its inputs, in ``u0, u1, ...``; ``shapes`` are the inputs'
    per-sample shapes; ``label`` is the operation as written (``+``, ``*``, ``exp``)."""

    expr: sp.Expr
    shapes: tuple[tuple[int, ...], ...]
    label: str = ""

    numpy_uniform = True  # its adjoint is spelled by code.product and code.reduce_to

    def linear_form(self):
        linear = all(sp.diff(self.expr, arg_symbol(k)).is_number for k in range(self.arity))
        return self.expr if linear else None

    def product_operands(self, node):
        u0, u1 = arg_symbol(0), arg_symbol(1)
        if self.arity == 1 and self.expr == u0**2:
            return node.inputs[0], node.inputs[0]
        if self.arity == 2 and self.expr == u0 * u1 and self.shapes[0] == self.shapes[1]:
            return node.inputs[0], node.inputs[1]
        return None

    @property
    def arity(self) -> int:
        return len(self.shapes)

    @cached_property
    def derivatives(self) -> tuple[sp.Expr, ...]:
        result = []
        for index in range(self.arity):
            local = differentiation.derivative(self.expr, arg_symbol(index))
            if isinstance(self.expr, sp.Function) and local.has(self.expr):
                local = local.xreplace({self.expr: registry.A})
            if not local.has(sp.Piecewise):
                local = tidy(local)
            result.append(local)
        return tuple(result)

    def adjoint_rules(self, node, shapes):
        """One adjoint per input node: an input that appears twice (``W * W``) gets the sum of
        its arguments' local derivatives, ``2 W``, in one step (one line, one pass in NumPy)."""
        first: dict[str, int] = {}
        for index, name in enumerate(node.inputs):
            first.setdefault(name, index)
        rules = []
        for name, index in first.items():
            same = [k for k, other in enumerate(node.inputs) if other == name]
            if len(same) == 1:
                rules.append(Adjoint(index, ELEMENTWISE, self.derivatives[index]))
                continue
            merge = {arg_symbol(k): arg_symbol(index) for k in same}
            local = sp.Add(*(self.derivatives[k].xreplace(merge) for k in same))
            rules.append(Adjoint(index, ELEMENTWISE, local if local.has(sp.Piecewise) else tidy(local)))
        return rules

    def elements(self, node, args):
        out = []
        for index in element_indices(node.shape):
            values = {arg_symbol(i): args[i][broadcast_flat(index, shape)] for i, shape in enumerate(self.shapes)}
            out.append(self.expr.xreplace(values))
        return out

    # -- NumPy --------------------------------------------------------------------------

    def numpy(self, node, code):
        args = node.inputs
        expr = self.expr.xreplace({arg_symbol(i): code.operand(a, node) for i, a in enumerate(args)})
        shown = self.expr.xreplace({arg_symbol(i): sp.Symbol(a, real=True) for i, a in enumerate(args)})
        spelled = code.code(expr) if expr.free_symbols else f"np.full_like({code.constant_shape(node)}, {code.code(expr)})"
        return spelled, f"{node.name} = {code.formula(shown)}"

    def numpy_adjoint(self, step, code):
        source = code.node(step.source)
        names = {arg_symbol(i): a for i, a in enumerate(source.inputs)}
        # One symbol per input node: max(h, h)'s derivative heaviside(u0 - u1) is a constant.
        local = step.local.xreplace({arg_symbol(i): arg_symbol(source.inputs.index(a)) for i, a in enumerate(source.inputs)})
        read = [a for s, a in names.items() if s in local.free_symbols]
        arrays = {s: code.operand(a, source) for s, a in names.items() if s in local.free_symbols}
        if registry.A in local.free_symbols:
            arrays[registry.A] = sp.Symbol(code.use(source.name), real=True)
            read.append(source.name)
        materialized = []
        if code.uniform(step.source) and read and not _spans(code, source, read):
            # A float times arrays smaller than the output (a parameter, a per-sample scalar): an
            # array of the output's shape first, or the product would lack the batch or other axes.
            materialized = code.materialized(step.source)
        prelude, local = code.shared(local.xreplace(arrays))
        prelude = [*materialized, *prelude]
        spelled = code.product(sp.Symbol(code.grad(step.source), real=True), local)
        spelled, note = code.reduce_to(spelled, code.batched(source.name), source.shape, step.target)
        # A scalar weight's gradient, sum over the batch of upstream * an array of the same shape
        # (CS231n's dE/dw1 = sum of dE/df_b * x1): one dot product, not a product and a sum.
        whole = {code.array(a) for a in [*source.inputs, source.name] if code.batched(a) and code.node(a).shape == source.shape}
        target = code.node(step.target)
        if (
            isinstance(local, sp.Symbol)
            and local.name in whole
            and code.batched(source.name)
            and not code.batched(step.target)
            and not target.shape
            and not code.uniform(step.source)
        ):
            spelled = f"np.vdot({code.grad(step.source)}, {local.name})"
        shown = {s: sp.Symbol(a, real=True) for s, a in names.items()} | {registry.A: sp.Symbol(source.name, real=True)}
        local_math = code.math.parenthesize(step.local.xreplace(shown), PRECEDENCE["Mul"], strict=True)
        math = f"dE/d{source.name}" + (f" * {local_math}" if local_math != "1" else "")
        return AdjointCode(spelled, math, note, tuple(prelude))

    # -- LaTeX --------------------------------------------------------------------------

    def latex(self, node, tex):
        names = {arg_symbol(k): tex.node_tex(i) for k, i in enumerate(node.inputs)}
        return tex.to_latex(self.expr, names, hadamard=bool(node.shape))

    def latex_adjoint(self, step, tex, eq):
        """out = f(u0, u1, ...) elementwise (with broadcasting): dE/du_i = dE/dout * df/du_i."""
        source = tex.node(step.source)
        el, partial = tex.el, tex.partial
        out_idx = tex.index_letters(source.shape)
        names, vnames = {}, {}
        for k, name in enumerate(source.inputs):
            names[arg_symbol(k)] = el(name, broadcast_tokens(out_idx, self.shapes[k], source.shape))
            vnames[arg_symbol(k)] = tex.node_tex(name)
        names[registry.A] = el(source.name, out_idx)
        vnames[registry.A] = tex.node_tex(source.name)
        target = step.target
        target_idx = broadcast_tokens(out_idx, self.shapes[step.argument], source.shape)
        summed = [c for c in out_idx if c not in target_idx]
        total = (r"\sum_{" + ",".join(summed) + "} ") if summed else ""
        grad_out = partial("E", el(source.name, out_idx))
        local = step.local
        factor = "" if local == 1 else rf" \cdot {tex.factor(local, names)}"
        chain = rf"{total}{grad_out} \, {partial(el(source.name, out_idx), el(target, target_idx))}"
        result = rf"{total}{grad_out}{factor}"
        if source.name == tex.graph.loss:  # dE/dE = 1: the local derivative is the adjoint
            chain = partial(el(source.name, out_idx), el(target, target_idx))
            result = tex.to_latex(local, names)
        lhs = partial("E", el(target, target_idx))
        element = f"{lhs} {eq} {result}" if chain == lhs else rf"{lhs} {eq} {chain} = {result}"
        vector_valued = bool(source.shape)
        vlocal = tex.local(local, vnames, vector=vector_valued)
        if isinstance(local, sp.Add) or local.could_extract_minus_sign():
            vlocal = tex.paren(vlocal)
        vfactor = "" if local == 1 else (rf" \odot {vlocal}" if vector_valued else rf" \cdot {vlocal}")
        vector = rf"{partial('E', tex.node_tex(target))} {eq} {partial('E', tex.node_tex(source.name))}{vfactor}"
        if source.name == tex.graph.loss:
            vector = rf"{partial('E', tex.node_tex(target))} {eq} {tex.local(local, vnames, vector=vector_valued)}"
        note = ""
        if summed:  # the array form would need the sum too: the element form says it
            vector = ""
            which = "index" if len(summed) == 1 else "indices"
            note = f"summed over the {which} ${', '.join(summed)}$ along which ${tex.node_tex(target)}$ was reused (broadcast)"
        return element, vector, note

    def latex_locals(self, node, tex):
        """``h = x y: dh/dx = y, dh/dy = x``, as SymPy derived them (written in the output
        where that is shorter); an input used twice (``W * W``) gets the sum of both."""
        names = {arg_symbol(k): tex.node_tex(i) for k, i in enumerate(node.inputs)}
        names[registry.A] = tex.node_tex(node.name)
        parts = []
        first = {name: arg_symbol(node.inputs.index(name)) for name in node.inputs}
        same = {arg_symbol(k): first[name] for k, name in enumerate(node.inputs)}  # W * W: 2 W, not W + W
        for name in dict.fromkeys(node.inputs):
            total = sum(d for i, d in zip(node.inputs, self.derivatives) if i == name).xreplace(same)
            parts.append(rf"{tex.partial(tex.node_tex(node.name), tex.node_tex(name))} = {tex.to_latex(total, names)}")
        definition = tex.to_latex(self.expr, names, hadamard=bool(node.shape))
        return rf"{tex.node_tex(node.name)} &= {definition}: & " + r", \quad ".join(parts)

    def latex_gate(self, node, tex):
        """CS231n's gates: ``\\times`` and ``+`` of two inputs, ``+1``, ``\\times(-1)``, and any
        other formula of one input in ``x`` (``e^{x}``, ``\\frac{1}{x}``)."""
        u = [arg_symbol(i) for i in range(self.arity)]
        if self.arity == 2 and len(set(node.inputs)) == 2:
            return {u[0] * u[1]: r"\times", u[0] + u[1]: "+", u[0] - u[1]: "-"}.get(self.expr)
        if self.arity != 1:
            return None
        kind, number = self.one_input_gate
        if kind == "shift":
            return ("+" if number > 0 else "-") + tex.to_latex(abs(number))
        if kind == "scale":
            factor = tex.to_latex(number)
            return r"\times " + (tex.paren(factor) if number.could_extract_minus_sign() else factor)
        return tex.to_latex(self.expr, {u[0]: "x"})

    @cached_property
    def one_input_gate(self) -> tuple[str, sp.Expr | None]:
        """What a gate of one input does: ("shift", c) for x + c, ("scale", c) for c x, else
        ("function", None); the gate's symbol and its sentence both read it."""
        u = arg_symbol(0)
        shift = sp.simplify(self.expr - u)
        if shift.is_number and shift != 0:
            return "shift", shift
        scale = sp.simplify(self.expr / u)
        return ("scale", scale) if scale.is_number else ("function", None)

    def gate_formula(self, node):
        return self.expr.xreplace({arg_symbol(0): registry.Z}) if self.arity == 1 else None

    def gate_pattern(self, node, tex):
        """Add distributes, multiply swaps, max and min route, subtract negates; a gate adding a
        constant passes the gradient on, one scaling by a constant scales it, any other gate of
        one input multiplies it by its local derivative (named by the formula)."""
        u = [arg_symbol(i) for i in range(self.arity)]
        if self.arity == 2 and len(set(node.inputs)) == 2:
            add = "An add gate ($+$) distributes the gradient (a distributor): each input receives it unchanged."
            multiply = (
                r"A multiply gate ($\times$) swaps its inputs (a switcher): each input receives the output's gradient times the"
                " other input's value."
            )
            subtract = "A subtract gate ($-$) passes the gradient to its first input and its negative to the second."
            said = {
                u[0] + u[1]: ("add", add),
                u[0] * u[1]: ("multiply", multiply),
                u[0] - u[1]: ("subtract", subtract),
                sp.Max(u[0], u[1]): ("max", "A max gate routes the gradient (a router): the larger input gets it, the other 0."),
                sp.Min(u[0], u[1]): ("min", "A min gate routes the gradient: the smaller input receives all of it, the other 0."),
            }
            return said.get(self.expr)
        if self.arity != 1:
            return None
        gate = self.latex_gate(node, tex)
        kind, number = self.one_input_gate
        if kind == "shift":
            return "shift", f"A gate adding a constant (${gate}$) passes the gradient on unchanged: its local gradient is 1."
        if kind == "scale":
            factor = tex.to_latex(number)
            return f"scale {gate}", f"The ${gate}$ gate multiplies the gradient by ${factor}$, its local gradient."
        local = tex.to_latex(differentiation.derivative(self.expr, u[0]), {u[0]: "x"})
        return f"function {gate}", f"The ${gate}$ gate multiplies the gradient by its local gradient ${local}$ at its input $x$."

    def words(self, step, tex):
        return rf"back through ${tex.node_tex(step.source)}$"


def _spans(code, node, names: list[str]) -> bool:
    """Whether the arrays of ``names``, as they enter ``node``'s elementwise code, broadcast to
    the batched shape of ``node`` (not to a smaller one)."""
    batch = 10**6  # any size that no axis has
    shapes = [((batch,) if code.batched(n) else ()) + tuple(code.node(n).shape) for n in names]
    rank = len(node.shape)  # a batched operand of lower rank is lined up after the batch axis (code.operand)
    shapes = [s[:1] + (1,) * (rank + 1 - len(s)) + s[1:] if s[:1] == (batch,) else s for s in shapes]
    full = ((batch,) if code.batched(node.name) else ()) + tuple(node.shape)
    return broadcast_shape(*shapes) == full
