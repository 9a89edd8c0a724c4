"""An elementwise activation ``a = f(z)``: a registry entry (``symprop.registry``) or a formula.

Its derivative is derived by SymPy from the definition; the registry may present it in the
output (sigmoid: ``a (1 - a)``), which is what the backward pass computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from .. import differentiation, naming, registry
from ..naming import escape_latex_text
from .base import Adjoint, AdjointCode, Op, at_elements
from .simplify import formula_note, tidy

if TYPE_CHECKING:
    from ..spec import ActivationChoice

ACTIVATION = "activation"
#: An activation's derivative longer than this (visible characters) is written f'(z) in the handout.
SHORT_LOCAL = 26


@dataclass(frozen=True)
class Activation(Op):
    """An elementwise ``a = f(z)``: a registry activation or a formula in ``z``."""

    choice: ActivationChoice
    activation = True
    layer_activation = True

    @property
    def name(self) -> str:
        return self.choice.name

    def apply(self, z: sp.Expr) -> sp.Expr:
        if self.choice.formula is not None:
            return self.choice.formula.subs(registry.Z, z)
        return self.choice.entry.apply(z, self.choice.constants)

    def definition(self) -> sp.Expr:
        """f(z) written out in elementary functions (what SymPy differentiates)."""
        if self.choice.formula is not None:
            return self.choice.formula
        return self.choice.entry.definition_at(registry.Z, self.choice.constants)

    @cached_property
    def derivative(self) -> sp.Expr:
        """f'(z) as the backward pass computes it: in the output ``A`` where cheaper."""
        entry = self.choice.entry
        if entry is not None and entry.present is not None:
            return entry.derivative_in_output(self.choice.constants)
        return tidy(self.derived)

    def derivative_by_name(self, named: sp.Expr) -> sp.Expr:
        """``derivative`` of f written with its constants by name (``named``, ``LatexContext.by_name``'s:
        leaky_relu's ``alpha z``), as the handout writes f': the entry's presentation in the
        constants' symbols, else SymPy's derivative simplified as ``derivative`` is."""
        entry = self.choice.entry
        if entry is not None and entry.present is not None:
            return entry.derivative_in_output(registry.constant_symbols(entry.constants))
        return tidy(differentiation.derivative(named, registry.Z))

    @cached_property
    def derived(self) -> sp.Expr:
        """f'(z) as SymPy derives it, before simplification."""
        return differentiation.derivative(self.apply(registry.Z), registry.Z)

    def simplification_note(self, node, graph):
        return formula_note(self.choice, self.derived, node, graph, self.name)

    @property
    def is_identity(self) -> bool:
        return self.choice.name == "identity"

    def elements(self, node, args):
        return [self.apply(z) for z in args[0]]

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, ACTIVATION, self.derivative)]

    def scalar_adjoints(self, node, upstream, view):
        for z, a, bar in zip(view.symbols[node.inputs[0]], view.symbols[node.name], upstream):
            yield z, bar * at_elements(self.derivative, z=z, a=a)

    # -- NumPy --------------------------------------------------------------------------

    @property
    def kept(self) -> registry.Kept | None:
        """The registry entry's ``Kept`` (a part of f that f' reads), for a registry activation."""
        return self.choice.entry.kept if self.choice.formula is None and self.choice.entry is not None else None

    def numpy_saves(self, node, graph):
        """The part of f that f' reads (``registry.Kept``), when a backward step reads f':
        computed once, in the forward line, by the entry's ``_{name}_kept`` helper."""
        return (self.kept.what,) if self.kept and node.inputs[0] in graph.needs_grad else ()

    def numpy(self, node, code):
        z = node.inputs[0]
        if self.numpy_saves(node, code.graph):
            helper, _ = registry.kept_helpers(self.name)
            code.printer.helpers.add(helper)
            kept = code.formula(self.kept.keep(sp.Symbol(z, real=True), *self.choice.constants))
            formula = code.formula(self.apply(sp.Symbol(z, real=True)))
            return f"_{helper}({code.use(z)})", f"{node.name} = {formula}, and {self.kept.what} = {kept} for its derivative"
        spelled = code.filled(self.apply(sp.Symbol(code.use(z), real=True)), z)
        note = f"  ({self.name})" if self.choice.formula is not None else ""
        return spelled, f"{node.name} = {code.formula(self.apply(sp.Symbol(z, real=True)))}{note}"

    def numpy_adjoint(self, step, code):
        source = code.node(step.source)
        nodes = {registry.Z: source.inputs[0], registry.A: source.name}
        if self.numpy_saves(source, code.graph) and step.local == self.derivative:  # f' from the part of f kept
            _, helper = registry.kept_helpers(self.name)
            code.printer.helpers.add(helper)
            z, kept = code.use(source.inputs[0]), code.saved(source.name, self.kept.what)
            prelude, local = [], code.verbatim(f"_{helper}({z}, {kept})")
        else:
            arrays = {s: sp.Symbol(code.use(nodes[s]), real=True) for s in step.local.free_symbols if s in nodes}
            prelude, local = code.shared(step.local.xreplace(arrays))
        shown = step.local.xreplace({s: sp.Symbol(nodes[s], real=True) for s in step.local.free_symbols if s in nodes})
        local_math = code.math.parenthesize(shown, PRECEDENCE["Mul"], strict=True)
        math = f"dE/d{source.name} * {local_math}" if local_math != "1" else f"dE/d{source.name}"
        return AdjointCode(code.product(sp.Symbol(code.grad(step.source), real=True), local), math, prelude=tuple(prelude))

    # -- LaTeX --------------------------------------------------------------------------

    def function_latex(self) -> str:
        """``\\sigma``, the registry's LaTeX name, or ``f_{name}`` for a formula of the spec."""
        if self.choice.formula is not None:
            return r"f_{\mathrm{" + escape_latex_text(self.name) + "}}"
        return self.choice.entry.latex or (r"\operatorname{" + escape_latex_text(self.name) + "}")

    def latex(self, node, tex):
        return rf"{tex.function_tex(self)}\left({tex.node_tex(node.inputs[0])}\right)"

    def latex_gate(self, node, tex):
        return tex.function_tex(self)

    def gate_pattern(self, node, tex):
        """The activation as one gate: the gradient times f' at its input, in its output where cheaper."""
        f = tex.function_tex(self)
        local = f"{f}'(x)"
        if self.choice.formula is None:
            cheap = self.choice.entry.derivative_in_output(self.choice.constants)
            local += " = " + tex.to_latex(cheap, {registry.A: f + "(x)", registry.Z: "x"})
        sentence = f"The ${f}$ gate multiplies the gradient by its local gradient ${local}$ at its input $x$."
        return f"activation {self.name}", sentence

    def latex_element(self, node, tex):
        letters = tex.index_letters(node.shape)
        return tex.el(node.name, letters), rf"{tex.function_tex(self)}({tex.el(node.inputs[0], letters)})"

    def latex_adjoint(self, step, tex, eq):
        paren = tex.paren
        source = tex.node(step.source)
        z, a = step.target, step.source
        j = tex.index_letters(source.shape)
        names = {registry.Z: tex.el(z, j), registry.A: tex.el(a, j)}
        vnames = {registry.Z: tex.node_tex(z), registry.A: tex.node_tex(a)}
        local = tex.factor(step.local, names)
        vlocal = tex.local(step.local, vnames, vector=True)
        if isinstance(step.local, sp.Add):
            vlocal = paren(vlocal)
        if tex.visible_length(local) > SHORT_LOCAL:  # long: by name, as derived in the local-derivatives section
            f = tex.function_tex(self)
            local, vlocal = f"{f}'({tex.el(z, j)})", f"{f}'({tex.node_tex(z)})"
        upstream = tex.upstream(a)
        grad_a = tex.partial("E", tex.el(a, j))
        element = rf"{tex.adjoint_element(z, j)} {eq} {grad_a} \, {tex.partial(tex.el(a, j), tex.el(z, j))} = "
        element += rf"{paren(upstream[0])} \cdot {local}" if upstream else rf"{grad_a} \cdot {local}"
        vector = rf"{tex.adjoint_tex(z)} {eq} {tex.partial('E', tex.node_tex(a))} \odot {vlocal}"
        if upstream:
            vector += rf" = {paren(upstream[1])} \odot {vlocal}"
        remarks = [upstream[2]] if upstream and upstream[2] else []
        if tex.shows_code and self.numpy_saves(source, tex.graph):  # the NumPy line reads the part of f kept
            part = sp.factor(self.kept.keep(registry.Z, *self.choice.constants))  # (erf(..) + 1) / 2 in a line of text
            kept = tex.to_latex(part, {registry.Z: tex.node_tex(z)}, fold_short_frac=True)
            array = escape_latex_text(naming.saved_name(tex.graph.array(a), self.kept.what))
            remarks.append(
                rf"the NumPy line reads \texttt{{{array}}} $= {kept}$, kept from the forward pass, "
                rf"which computed it for ${tex.function_tex(self)}$"
            )
        return element, vector, "; ".join(remarks)

    def words(self, step, tex):
        return "back through the activation"

    def claim_adjoint(self, step, upstream, plain):
        factor = plain.local(step.local, z=step.target, a=step.source)
        if factor is None:
            return None
        return upstream if factor == "1" else f"{plain.p(upstream)} * {plain.p(factor)}"
