"""A loss ``E = sum or mean over outputs of ell(y_i, t_i)`` of an output and a target.

Its derivative ``d ell / d y`` is derived by SymPy.  When the output is an activation whose
product with the loss's derivative simplifies (softmax + cross-entropy, sigmoid + binary
cross-entropy), the derivation fuses the two (``FUSED``: dE/dz in one step, ``a - t``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING

import sympy as sp

from .. import differentiation, registry
from .base import Adjoint, AdjointCode, Op, at_elements
from .simplify import formula_note, tidy
from .softmax import axis_groups, row_tags

if TYPE_CHECKING:
    from ..spec import LossChoice

LOSS, FUSED = "loss", "fused"
#: Largest product (in SymPy operations) that fusing an output activation with its loss tries to cancel.
FUSE_MAX_OPS = 40


@cache
def softmax_cross_entropy_gradient() -> sp.Expr:
    """dE/dz of cross-entropy after softmax, derived by SymPy on a 3-vector: ``A - T``.

    The derivation gives ``y_j * sum(t) - t_j``; with targets that sum to one (one-hot or
    probability rows, as the spec requires) that is ``y_j - t_j``.
    """
    zs = sp.symbols("z1:4", real=True)
    ts = sp.symbols("t1:4", real=True)
    exps = [sp.exp(z) for z in zs]
    loss = -sum(t * sp.log(e / sum(exps)) for t, e in zip(ts, exps))
    grad = sp.diff(loss, zs[0])
    y0 = exps[0] / sum(exps)
    on_simplex = sp.simplify(grad.subs(ts[2], 1 - ts[0] - ts[1]) - (y0 - ts[0]))
    if on_simplex != 0:
        raise AssertionError(f"softmax cross-entropy gradient did not reduce to y - t: {on_simplex}")
    return registry.A - registry.T


@dataclass(frozen=True)
class Loss(Op):
    """The per-sample loss ``E`` of output ``y`` and target ``t``; the batch loss is its mean."""

    choice: LossChoice
    loss_function = True
    numpy_uniform = True  # inside a loss expression: spelled by code.expanded, product and reduce_to

    @property
    def elementwise(self) -> sp.Expr:
        return self.choice.elementwise()

    @cached_property
    def derivative(self) -> sp.Expr:
        """d ell / d y for one output, as SymPy derives it (before the 1/n of a mean)."""
        return tidy(self.derived)

    @cached_property
    def quadratic(self) -> sp.Expr | None:
        """c when ell(y, t) = c (y - t)^2 (half_sse, mse, a formula of that form), else None: summed
        over a batch it is then c r . r with r = y - t, one BLAS dot product."""
        ratio = sp.cancel(self.elementwise / (registry.Y - registry.T) ** 2)
        return ratio if ratio.is_number and ratio != 0 else None

    @cached_property
    def derived(self) -> sp.Expr:
        """d ell / d y as SymPy derives it, before simplification."""
        return differentiation.derivative(self.elementwise, registry.Y)

    def scale(self, outputs: int) -> sp.Expr:
        """The factor in front of the sum over outputs: 1, or 1/n for a mean."""
        return sp.Rational(1, outputs) if self.choice.reduction == "mean" else sp.S.One

    def elements(self, node, args):
        ys, ts = args
        terms = [self.elementwise.xreplace({registry.Y: y, registry.T: t}) for y, t in zip(ys, ts)]
        return [self.scale(len(ys)) * sum(terms)]

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, LOSS, self.scale(math.prod(shapes[0])) * self.derivative)]

    def scalar_adjoints(self, node, upstream, view):
        """dE/dy per output (or dE/dz of a fused output activation); dE/dt as well when the
        "target" is an input that needs it (an autoencoder's x).  ``upstream``: 1 at the root of
        the loss; a loss inside a larger loss expression is multiplied by its own adjoint."""
        output, target = node.inputs
        ys, ts = view.symbols[output], view.symbols[target]
        (bar,) = upstream
        scale = self.scale(len(ts))
        if target in view.needed:
            d_target = sp.diff(self.elementwise, registry.T)
            for y, t in zip(ys, ts):
                yield t, bar * scale * at_elements(d_target, y=y, t=t)
        fused = view.fused.get(node.name)
        if fused is not None:
            for z, a, t in zip(view.symbols[view.graph.nodes[output].inputs[0]], ys, ts):
                yield z, bar * at_elements(fused.local, z=z, a=a, t=t)
            return
        for y, t in zip(ys, ts):
            yield y, bar * scale * at_elements(self.derivative, y=y, t=t)

    def fused_adjoint(self, node, graph, notes) -> Adjoint | None:
        """dE/dz for an output activation whose only consumer is the loss, when the product
        of the two derivatives simplifies (sigmoid + binary cross-entropy gives ``a - t``,
        softmax + cross-entropy ``y - t``), or None."""
        output = graph.nodes[node.inputs[0]]
        if len(graph.consumers(output.name)) != 1:
            return None
        if output.op.coupled:
            # y - t needs targets whose rows (along the softmax's axis) sum to one: a declared target
            # promises it (one-hot or probability rows, checked by the module); an input or a
            # computed value does not (dE/dz = y * sum(t) - t).
            if self.is_softmax_cross_entropy(output) and graph.role(node.inputs[1]) == "target":
                return Adjoint(0, FUSED, softmax_cross_entropy_gradient())
            return None
        derivative = getattr(output.op, "derivative", None)  # an elementwise activation's f'
        if derivative is None:
            return None
        dloss = self.derivative.xreplace({registry.Y: registry.A})
        product = self.scale(math.prod(output.shape)) * dloss * derivative
        if product.has(sp.Piecewise):
            return None
        # Fuse only when cancelling really shortens the product (BCE + sigmoid gives a - t);
        # otherwise the backward pass keeps the two chain-rule steps, dE/da and da/dz.
        # cancel/factor of a large product can run for minutes: bounded like tidy.  Its size is at
        # least that of the two steps: SymPy's product may cancel by itself (binary cross-entropy's
        # (y - t)/(y (1 - y)) times y (1 - y) is y - t), which is no reason to keep two steps.
        steps = sp.count_ops(dloss) + sp.count_ops(derivative) + int(derivative != 1)
        size = max(sp.count_ops(product), steps)
        if size > FUSE_MAX_OPS:
            notes.append(
                f"{output.name}: the output activation and the loss are not fused: their product has {size} operations "
                f"(cancelled up to {FUSE_MAX_OPS})"
            )
            return None
        try:
            simplest = min([sp.cancel(product), sp.factor(product)], key=sp.count_ops)
        except (RecursionError, sp.PolynomialError):
            return None
        return Adjoint(0, FUSED, simplest) if sp.count_ops(simplest) < size else None

    def simplification_note(self, node, graph):
        return formula_note(self.choice, self.derived, node, graph, "the loss formula")

    def is_sigmoid_binary_cross_entropy(self, output) -> bool:
        """Binary cross-entropy of a sigmoid (the registry's, not a formula function of that name)."""
        return (
            self.choice.name == "binary_cross_entropy"
            and self.choice.formula is None
            and getattr(output.op, "activation", False)
            and output.op.choice.name == "sigmoid"
            and output.op.choice.formula is None
        )

    def is_softmax_cross_entropy(self, output) -> bool:
        """Cross-entropy of a softmax along any axis (each row along it sums to one, as the targets'
        rows along it must): computed from z as sum_i t_i (logsumexp(z) - z_i), exact where the
        softmax underflows to 0 (its log, -inf, would give nan once the logits are ~750 apart)."""
        return output.op.coupled and self.choice.name == "cross_entropy"

    # -- scalar backend -----------------------------------------------------------------

    def scalar(self, node, code):
        """The loss of one sample, stable where its definition is not, as the NumPy spelling:
        softmax cross-entropy as sum_i t_i (logsumexp(z) - z_i), sigmoid binary cross-entropy as
        mean_i softplus(z_i) - t_i z_i, a loss with a ``python_elementwise`` spelling by it."""
        view = code.view
        y, t = node.inputs
        output = view.graph.nodes[y]
        ys, ts = view.symbols[y], view.symbols[t]
        (loss,) = view.symbols[node.name]
        scale = self.scale(len(ys))
        if self.is_softmax_cross_entropy(output):
            # the row log-sum-exp the softmax's lines computed (Softmax.scalar)
            zs = view.symbols[output.inputs[0]]
            groups = axis_groups(output.shape, output.op.axis)
            terms = []
            for group, tag in zip(groups, row_tags(groups)):
                lse = sp.Symbol(code.temporary(output.name, f"lse{tag}"), real=True)
                terms += [ts[p] * (lse - zs[p]) for p in group]
            return [(loss.name, code.code(scale * sp.Add(*terms)))]
        if self.is_sigmoid_binary_cross_entropy(output):
            softplus = registry.function_for("softplus")
            zs = view.symbols[output.inputs[0]]
            return [(loss.name, code.code(scale * sp.Add(*(softplus(z) - t * z for z, t in zip(zs, ts)))))]
        entry = self.choice.entry
        if entry is not None and entry.python_elementwise:
            terms = " + ".join(code.spelled(entry.python_elementwise, y=a.name, t=b.name) for a, b in zip(ys, ts))
            return [(loss.name, f"({terms}) / {len(ys)}" if scale != 1 else terms)]
        return super().scalar(node, code)

    def element_term(self, output, code) -> str:
        """One output's term of the loss, before the 1/n of a mean, as Python over floats in the
        element names ``z`` (the output activation's input), ``a`` (the output), ``t`` and ``lse``
        (the row's log-sum-exp of a softmax output): the numba backend's loop body, stable as
        ``scalar`` is (softmax cross-entropy t (lse - z), sigmoid binary cross-entropy
        softplus(z) - t z, a registry spelling, else the definition)."""
        if self.is_softmax_cross_entropy(output):
            return code.code(registry.T * (sp.Symbol("lse", real=True) - registry.Z))
        if self.is_sigmoid_binary_cross_entropy(output):
            return code.code(registry.function_for("softplus")(registry.Z) - registry.T * registry.Z)
        entry = self.choice.entry
        if entry is not None and entry.python_elementwise:
            return code.spelled(entry.python_elementwise, y="a", t="t")
        return code.code(self.elementwise.xreplace({registry.Y: registry.A}))

    # -- NumPy --------------------------------------------------------------------------

    def numpy(self, node, code, over_batch: bool = False):
        """The loss of each sample; ``over_batch``: summed over the batch as well (one number)."""
        y, t = node.inputs
        output = code.node(y)
        target = code.use(t)
        rank = len(output.shape)
        axis = "" if over_batch or not rank else "axis=-1" if rank == 1 else f"axis={tuple(range(-rank, 0))}"
        title = f"{node.name} = {self.choice.name}({y}, {t})"
        if self.is_softmax_cross_entropy(output):
            # -sum_i t_i log(softmax(z)_i) = sum_i t_i (logsumexp(z) - z_i), with the log-sum-exp
            # the softmax's forward line kept (Softmax.numpy_saves): no second exp over z.
            z = output.inputs[0]
            lse, zs = code.saved(y, "lse"), code.use(z)
            math_text = f"{title} = sum_i {t}_i (logsumexp({z}) - {z}_i)"
            if over_batch:
                return f"np.vdot({target}, {lse} - {zs})", math_text
            return f"({target} * ({lse} - {zs})).sum({axis})", math_text
        if self.is_sigmoid_binary_cross_entropy(output):
            # From z: -t log(sigmoid(z)) - (1 - t) log(1 - sigmoid(z)) = softplus(z) - t z, exact
            # where the sigmoid saturates (log(1 - y) of y = 1.0 is -inf, clamped to -708), and one
            # softplus per element (PyTorch's BCEWithLogits).
            code.printer.helpers.add("softplus")
            z, zs = output.inputs[0], code.use(output.inputs[0])
            terms = f"_softplus({zs}) - {target} * {zs}"
            size = math.prod(output.shape)
            scale = f" / {size}" if size > 1 else ""
            summed = f"({terms}).sum({axis}){scale}" if rank or over_batch else f"({terms}){scale}" if scale else terms
            return summed, f"{title} = mean_i softplus({z}_i) - {t}_i {z}_i"
        array = code.use(y)
        shown = code.formula(self.elementwise.xreplace({registry.Y: sp.Symbol("y_i"), registry.T: sp.Symbol("t_i")}))
        title += f" = {'mean' if self.choice.reduction == 'mean' else 'sum'}_i {shown}" if rank else f" = {shown}"
        entry = self.choice.entry
        if entry is not None and entry.numpy_elementwise:
            terms = entry.numpy_elementwise.format(y=array, t=target)
            code.printer.helpers.update(entry.helper_needs)
        else:
            symbols = {registry.Y: sp.Symbol(array, real=True), registry.T: sp.Symbol(target, real=True)}
            terms = code.filled(self.elementwise.xreplace(symbols), y)
        size = math.prod(output.shape)
        scale = f" / {size}" if self.choice.reduction == "mean" and size > 1 else ""
        if over_batch and self.quadratic is not None:  # c r . r, r = y - t: no power, one BLAS call
            factor = "" if self.quadratic == 1 else f"{code.code(self.quadratic)} * "
            return f"{factor}np.vdot({array} - {target}, {array} - {target}){scale}", title
        summed = f"({terms}).sum({axis}){scale}" if rank or over_batch else f"{terms}{scale}"
        return summed, title

    def numpy_adjoint(self, step, code):
        """dE/dy (``LOSS``) or dE/dz through the output activation (``FUSED``); a loss inside a
        larger loss expression is multiplied by its own adjoint."""
        source = code.node(step.source)
        y, t = source.inputs
        final = source.name == code.graph.loss
        if step.rule == LOSS:
            mapping = {registry.Y: y, registry.T: t}
        else:
            mapping = {registry.Z: code.node(y).inputs[0], registry.A: y, registry.T: t}
        arrays = {s: sp.Symbol(code.use(n), real=True) for s, n in mapping.items() if s in step.local.free_symbols}
        prelude, local = code.shared(step.local.xreplace(arrays))
        if not local.free_symbols:  # a loss linear in y (or step(y)): its constant derivative, one per element
            local = code.verbatim(code.filled(local, step.target))
        shape = code.node(step.target).shape
        batched = any(code.batched(n) for n in (y, t))
        ratio = sp.cancel(step.local / (registry.Y - registry.T)) if step.rule == LOSS else None
        if final and ratio is not None and ratio.is_number:
            # c (y - t)^2: k (y - t) as one difference and one scaling, not k y - k t
            residual = f"({code.use(y)} - {code.use(t)})"
            spelled = f"{residual} / N" if ratio == 1 else f"{residual} * ({code.code(ratio)} / N)"
        elif final:
            spelled = code.code(local / sp.Symbol("N"))
        else:
            spelled = code.product(code.expanded(source.name, len(shape)), local)
            batched = batched or code.batched(source.name)
        shown = code.formula(step.local.xreplace({s: sp.Symbol(n, real=True) for s, n in mapping.items()}))
        spelled, note = code.reduce_to(spelled, batched, shape, step.target)
        return AdjointCode(spelled, shown if final else f"dE/d{source.name} * ({shown})", note, tuple(prelude))

    # -- LaTeX --------------------------------------------------------------------------

    def latex(self, node, tex):
        """The loss as its definition over the output's elements, in the nodes' names, as a
        teacher writes it (``-\\sum_{i=1}^{3} t_{i} \\log y_{i}``, ``\\frac{1}{64} \\sum_{i,j}
        (y_{ij} - t_{ij})^{2}``), never its spec name set as an identifier (``half_sse(y, t)``):
        one rule for every loss, a formula of the spec's too, printed from ``elementwise``, with
        its constants by name (Huber's ``\\mathrm{delta}``, ``LatexContext.by_name``)."""
        named = tex.by_name(self)
        return self.summed_latex(self.elementwise if named is None else named[0], node, tex)

    def shown_local(self, local: sp.Expr, tex) -> sp.Expr:
        """A step's dE/dy (``scale * derivative``) as the handout writes it: with the loss's
        constants by name (``\\mathrm{delta}``, not 1/2) where it has some."""
        named = tex.by_name(self)
        if named is None:
            return local
        scale, derivative = local.as_coeff_Mul()  # Huber's 1/2 of a mean times its cases
        if derivative != self.derivative:
            # a number times a sum is multiplied out by SymPy ((y - t)/2 is y/2 - t/2)
            scale = sp.cancel(local / self.derivative) if not local.has(sp.Piecewise) else None
            if scale is None or not scale.is_number:
                return local
        return tex.named_local(self, local, scale * tidy(differentiation.derivative(named[0], registry.Y)))

    def form_latex(self, node, tex) -> str | None:
        """The loss as ``latex`` writes it, a formula of the spec's with its constants by name
        (``\\sum_{i=1}^{2} c (y_{i} - t_{i})^{2}``); None for a loss without such a form."""
        form = self.choice.form
        return None if form is None or form == self.elementwise else self.summed_latex(form, node, tex)

    def summed_latex(self, elementwise: sp.Expr, node, tex) -> str:
        """``elementwise``, a loss of one output in ``registry.Y`` and ``registry.T``, over the output's elements."""
        y, t = node.inputs
        shape = tex.node(y).shape
        count = math.prod(shape)
        # one output: E = l(y_1, t_1), never a sum from 1 to 1; a vector's outputs are i, as in sum_i l(y_i, t_i)
        letters = ("1",) * len(shape) if count == 1 else "i" if len(shape) == 1 else tex.index_letters(shape)
        names = {registry.Y: tex.el(y, letters), registry.T: tex.el(t, letters)}
        if count == 1:
            return tex.local(elementwise, names)
        term, sign = elementwise, ""
        if term.could_extract_minus_sign():  # -sum_i t_i log y_i, not sum_i -t_i log y_i
            sign, term = "-", -term
        shown = tex.local(term, names)
        if isinstance(term, sp.Add):  # sum_i (a_i + b_i), -sum_i (a_i + b_i)
            shown = tex.paren(shown)
        if len(shape) == 1:
            total = rf"\sum_{{i=1}}^{{{count}}}"
        else:
            total = rf"\sum_{{{','.join(letters)}}}"
        front = rf"\frac{{1}}{{{count}}} " if self.choice.reduction == "mean" and count > 1 else ""
        return rf"{sign}{front}{total} {shown}"

    def latex_adjoint(self, step, tex, eq):
        source = tex.node(step.source)
        el, partial = tex.el, tex.partial
        # a loss inside a larger loss expression (graph specs): its own adjoint multiplies, and a
        # sum after it is bracketed (dE/dE_a (y_j - t_j))
        upstream = "" if step.source == tex.graph.loss else rf"{partial('E', tex.node_tex(step.source))} \cdot "

        def times(local_tex: str) -> str:
            return upstream + (tex.paren(local_tex) if upstream and isinstance(step.local, sp.Add) else local_tex)

        if step.rule == LOSS:
            y, target = step.target, source.inputs[1]
            j = tex.index_letters(tex.node(y).shape)
            shown = self.shown_local(step.local, tex)
            local = tex.local(shown, {registry.Y: el(y, j), registry.T: el(target, j)})
            vector = tex.local(shown, {registry.Y: tex.node_tex(y), registry.T: tex.node_tex(target)}, vector=True)
            return rf"{partial('E', el(y, j))} {eq} {times(local)}", rf"{partial('E', tex.node_tex(y))} {eq} {times(vector)}", ""
        activation = tex.node(source.inputs[0])
        z, a, target = step.target, activation.name, source.inputs[1]
        j = tex.index_letters(activation.shape)
        names = {registry.Z: el(z, j), registry.A: el(a, j), registry.T: el(target, j)}
        vnames = {registry.Z: tex.node_tex(z), registry.A: tex.node_tex(a), registry.T: tex.node_tex(target)}
        delta = tex.adjoint_element(z, j)
        chain = rf"{partial('E', el(a, j))} \, {partial(el(a, j), el(z, j))}"
        vector = rf"{tex.adjoint_tex(z)} {eq} {times(tex.local(step.local, vnames, vector=True))}"
        if activation.op.coupled:
            chain = rf"\sum_i {partial('E', el(a, 'i'))} \, {partial(el(a, 'i'), el(z, j))}"
            note = "softmax and cross-entropy together; derived in the section on local derivatives"
            return rf"{delta} {eq} {chain} = {times(tex.local(step.local, names))}", vector, note
        scale = self.scale(activation.shape[0] if activation.shape else 1)
        dloss = self.shown_local(scale * self.derivative, tex).xreplace({registry.Y: registry.A})  # constants by name
        product = rf"{tex.factor(dloss, names)} \cdot {tex.factor(activation.op.derivative, names)}"
        element = rf"{delta} {eq} {chain} = {upstream}{product}"
        note = ""
        simplified = tex.local(step.local, names)
        if simplified != product:  # SymPy's product may cancel by itself (y - t): the step still shows it
            element += rf" = {times(simplified)}"
            note = "the two factors multiplied and simplified by SymPy"
        return element, vector, note

    def fused_step(self, step) -> bool:
        return step.rule == FUSED

    def latex_upstream(self, step, tex):
        """dE/dy spelled out for the step back through the output activation."""
        if step.rule != LOSS:
            return None
        node, target = step.target, tex.node(step.source).inputs[1]
        j = tex.index_letters(tex.node(node).shape)
        shown = self.shown_local(step.local, tex)
        element = tex.local(shown, {registry.Y: tex.el(node, j), registry.T: tex.el(target, j)})
        vector = tex.local(shown, {registry.Y: tex.node_tex(node), registry.T: tex.node_tex(target)}, vector=True)
        return element, vector, "the loss's derivative times the activation's"

    def words(self, step, tex):
        if step.rule == LOSS:
            return "the loss at the output"
        if tex.graph_mode:
            return rf"the loss and ${tex.node_tex(step.source)}$ together"
        return "the output layer's error signal"

    def claim_adjoint(self, step, upstream, plain):
        if step.source != plain.graph.loss:  # inside a larger loss: not written in array form
            return None
        y, t = plain.node(step.source).inputs
        if step.rule == LOSS:
            return plain.local(step.local, y=y, t=t)
        return plain.local(step.local, a=y, t=t, z=step.target)
