"""The typical wrong answers to a gradient question, generated from its chain rule.

Each mistake is the right formula (in forward values) with one thing done wrong, the way
students do it: the error's sign flipped, an activation's derivative left out, sigma'(z)
written a(1 + a), the other layer's activation derivative, W where W^T belongs, one term of
the sum over the next layer's units, the loss's constant (1/N, 2) left out.  A mistake is
kept only where it changes the answer at the student's point (relu's derivative is 1 on the
asked path, so leaving it out is no mistake there).  Every mistake keeps all but one
chain-rule factor right (``right_factors``), which is the partial credit it earns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..ops import at_elements
from ..scalar import ElementGradient, evaluate


@dataclass(frozen=True)
class Mistake:
    key: str  # a short stable name: sign, no_activation_derivative, ...
    text: str  # the mistake in words, for feedback
    formula: sp.Expr  # the wrong formula in forward values
    value: sp.Float  # its value at the student's point
    right_factors: int  # chain-rule factors still right


@dataclass(frozen=True)
class Wrong:
    """A mistake's formula, before it is evaluated at a point."""

    key: str
    text: str
    formula: sp.Expr
    right_factors: int


def gradient_mistakes(derivation, chain: ElementGradient) -> list[Wrong]:
    """The catalogue for dE/d(one element), as formulas (the same for every student)."""
    scalar, graph = derivation.scalar, derivation.graph
    right = chain.expr
    n = len(chain.factors)
    # a network without targets (a graph spec's output differentiated) has no error to flip: only a sign
    sign = "the sign of the error is flipped (t - y instead of y - t)" if graph.leaves("target") else "the sign is flipped"
    found: list[tuple[str, str, sp.Expr]] = [("sign", sign, -right)]
    activations = [node for node in graph.nodes.values() if node.op.role == "op" and node.op.activation and not node.op.coupled]
    derivatives = {
        node.name: [
            (a, at_elements(node.op.derivative, z=z, a=a))
            for z, a in zip(scalar.symbols[node.inputs[0]], scalar.symbols[node.name])
        ]
        for node in activations
    }
    for node in activations:
        pairs = derivatives[node.name]
        # named by the element of this gradient's own chain (a2_2's for dE/dW2_21), not the first
        in_chain = {f.expr for f in chain.factors}
        shown = next((d for _, d in pairs if d in in_chain), pairs[0][1])
        if shown.is_number:
            continue
        found.append(
            (
                f"no_derivative_{node.name}",
                f"the derivative of {node.name}'s activation ({node.op.name}'(z) = {formula_text(shown)}) is missing",
                _replace_products(right, {d: sp.S.One for _, d in pairs}),
            )
        )
        if node.op.name == "sigmoid":
            found.append(
                (
                    f"sigmoid_plus_{node.name}",
                    f"sigma'(z) of {node.name} is written a(1 + a); it is a(1 - a)",
                    right.xreplace({1 - a: 1 + a for a, _ in pairs}),
                )
            )
    # the wrong layer's activation: in this gradient's own activation factor
    for factor in chain.factors:
        node = _node_of(derivation, factor.of)
        if node is None or node.name not in derivatives or factor.wrt not in scalar.symbols[node.inputs[0]]:
            continue
        j = scalar.symbols[node.name].index(factor.of)
        for other in activations:
            if other.name == node.name or derivatives[other.name][0][1].is_number:
                continue
            pairs = derivatives[other.name]
            _, wrong = pairs[min(j, len(pairs) - 1)]
            found.append(
                (
                    f"wrong_layer_{node.name}",
                    f"the activation derivative of {other.name} ({formula_text(wrong)}) is used where {node.name}'s belongs",
                    _replace_products(right, {factor.expr: wrong}) if factor.expr != 1 else right,
                )
            )
    first = chain.factors[0]
    weights = {s for node in graph.params() for s in scalar.symbols[node.name]}
    terms = sp.Add.make_args(first.expr)
    # a sum over the next layer's units: each term goes through one of its weights
    if first.of == scalar.loss_symbol and len(terms) > 1 and all(t.free_symbols & weights for t in terms):
        # W where W^T belongs: the sum runs along a row of the next weight, not a column
        for param in graph.params():
            if len(param.shape) != 2:
                continue
            symbols = scalar.symbols[param.name]
            rows, cols = param.shape
            swap = {}
            for i in range(rows):
                for k in range(cols):
                    if k < rows and i < cols:
                        swap[symbols[i * cols + k]] = symbols[k * cols + i]
            if any(s in first.expr.free_symbols for s in swap) and first.expr.xreplace(swap) != first.expr:
                found.append(
                    (
                        "transpose",
                        f"{param.name} is used where {param.name}^T belongs (missing transpose): "
                        f"the sum runs down a column of {param.name}, not along a row",
                        _replace_products(right, {first.expr: first.expr.xreplace(swap)}),
                    )
                )
        found.append(
            (
                "one_term",
                f"the sum over the next layer's units is missing: only its first term ({formula_text(terms[0])}) is kept",
                _replace_products(right, {first.expr: terms[0]}),
            )
        )
    loss = graph.nodes[graph.loss]
    found += _softmax_mistakes(derivation, loss, right)
    if getattr(loss.op, "loss_function", False) and hasattr(loss.op, "scale"):
        outputs = len(scalar.symbols[loss.inputs[0]])
        scale = loss.op.scale(outputs)
        if scale != 1:
            found.append(("mean", f"the 1/N of the mean over the N = {outputs} outputs is missing", right / scale))
        constant, _ = sp.factor_terms(loss.op.derived).as_coeff_Mul()
        if constant.is_Rational and constant not in (1, -1):
            found.append(("loss_constant", f"the factor {constant} from differentiating the loss is missing", right / constant))
        found += _constant_factors(right, loss.op.choice.name, outputs, scale)
    return [Wrong(key, text, formula, max(n - 1, 0)) for key, text, formula in found]


def _constant_factors(right: sp.Expr, loss: str, outputs: int, scale: sp.Expr) -> list[tuple[str, str, sp.Expr]]:
    """The loss's constant 2, 1/2 or 1/N got wrong: the right answer times 2, 1/2 or 1/N.  After the
    mistakes that name their cause (``mean``, ``loss_constant``): ``at_point`` keeps the first of
    a value."""
    square = loss in ("half_sse", "mse")
    double = "the 1/2 of the half squared error dropped?" if loss == "half_sse" else "a factor 2 too many?"
    half = "the 2 from differentiating the square dropped?" if square else "a factor 1/2 too many?"
    found = [
        ("double", f"your answer is 2 x the right one: {double}", 2 * right),
        ("half", f"your answer is 1/2 x the right one: {half}", right / 2),
    ]
    if scale != 1:
        found.append(
            (
                "mean_twice",
                f"your answer is 1/{outputs} x the right one: the 1/N of the mean over the N = {outputs} outputs taken twice?",
                scale * right,
            )
        )
    return found


def _softmax_mistakes(derivation, loss, right: sp.Expr) -> list[tuple[str, str, sp.Expr]]:
    """A softmax output under cross-entropy, whose dE/dz_j = a_j - t_j students get wrong in two
    ways: the Jacobian's diagonal alone (dE/da_j da_j/dz_j = -(t_j / a_j) a_j (1 - a_j), the sum
    over the other outputs k != j left out), or softmax differentiated as an elementwise sigmoid
    on top of a - t."""
    graph, scalar = derivation.graph, derivation.scalar
    if not getattr(loss.op, "loss_function", False):
        return []
    output = graph.nodes[loss.inputs[0]]
    if not loss.op.is_softmax_cross_entropy(output):
        return []
    pairs = list(zip(scalar.symbols[output.name], scalar.symbols[loss.inputs[1]]))
    diagonal = right.xreplace({a - t: -t * (1 - a) for a, t in pairs})
    sigmoid = right.xreplace({a - t: (a - t) * a * (1 - a) for a, t in pairs})
    found = []
    if diagonal != right:
        found.append(
            (
                "softmax_diagonal",
                f"only the diagonal of softmax's Jacobian is used: dE/dz_j = -t_j (1 - a_j), the sum over the "
                f"other outputs k of dE/da_k da_k/dz_j is missing (with it, dE/dz_j = a_j - t_j for {output.name})",
                diagonal,
            )
        )
    if sigmoid != right:
        found.append(
            (
                "softmax_as_sigmoid",
                f"softmax is differentiated as an elementwise sigmoid: the extra factor a_j (1 - a_j) on a_j - t_j; "
                f"under cross-entropy dE/dz_j = a_j - t_j for {output.name}",
                sigmoid,
            )
        )
    return found


def step_mistakes(weight: sp.Float, rate: float, gradient: sp.Float, mistakes: list[Mistake]) -> list[tuple[str, str, sp.Float]]:
    """Wrong updated weights: (key, text, value)."""
    alpha = sp.Float(repr(rate), 30)
    found = [
        ("step_sign", "the step goes up the gradient: W + alpha * dE/dW instead of W - alpha * dE/dW", weight + alpha * gradient),
        ("step_no_rate", "the learning rate is left out: W - dE/dW instead of W - alpha * dE/dW", weight - gradient),
    ]
    for m in mistakes:
        found.append((f"step_{m.key}", f"the step is right but its gradient is not: {m.text}", weight - alpha * m.value))
    return found


def local_mistakes(derivation, of: sp.Symbol, wrt: sp.Symbol, formula: sp.Expr) -> list[Wrong]:
    """Wrong local derivatives: of an activation, a(1 + a), f'(a) written in z, f(z) itself; of
    any step, its sign flipped (the distractors of a "which factor" question)."""
    node = _node_of(derivation, of)
    found: list[tuple[str, str, sp.Expr]] = []
    if node is not None and node.op.activation:
        found.append(("activation_value", f"this is {of} = f({wrt}) itself, not its derivative", of))
        if node.op.name == "sigmoid":
            found.append(("sigmoid_plus", "sigma'(z) is written a(1 + a); it is a(1 - a)", formula.xreplace({1 - of: 1 + of})))
        if formula.has(of):
            found.append(
                (
                    "in_z",
                    f"the derivative is written in {wrt} where it takes {of} ({formula_text(formula)})",
                    formula.xreplace({of: wrt}),
                )
            )
    elif node is not None:  # a gate (CS231n's 1/x): its value for its slope
        found.append(("gate_value", f"this is {of} itself, not its derivative", derivation.scalar.definitions[of]))
    if not formula.is_number:
        found.append(("sign_local", "the sign is flipped", -formula))
    return [Wrong(key, text, wrong, 0) for key, text, wrong in found]


def forward_mistakes(derivation, of: sp.Symbol) -> list[Wrong]:
    """A unit's output given without its activation (z for a = f(z))."""
    node = _node_of(derivation, of)
    if node is None or not node.op.activation or node.op.coupled:
        return []
    z = derivation.scalar.symbols[node.inputs[0]][derivation.scalar.symbols[node.name].index(of)]
    return [Wrong("no_activation", f"this is {z}, before the activation: {of} = {node.op.name}({z})", z, 0)]


def at_point(wrongs: list[Wrong], right_value: sp.Float, values) -> list[Mistake]:
    """The mistakes that change the value at the point (``values``), each value once."""
    kept: list[Mistake] = []
    for wrong in wrongs:
        value = evaluate(wrong.formula, values)
        if abs(value - right_value) <= 1e-12 * max(1, abs(right_value)) or any(abs(value - m.value) <= 1e-12 for m in kept):
            continue
        kept.append(Mistake(wrong.key, wrong.text, wrong.formula, value, wrong.right_factors))
    return kept


def matrix_mistakes(right: str) -> list[tuple[str, str]]:
    """Typical wrong array formulas for a whole parameter's gradient, as (formula, mistake), made
    from its right array formula (``delta @ a1.T``) by one edit each: the error's sign flipped,
    the outer product the wrong way round, a transpose left out (of the input, or of the next
    layer's weights in the error signal).  Each differs from the right one in every size but
    1x1: the verifier's size variants tell them apart."""
    found = []
    swapped = re.sub(r"\((\w+) - (t\w*)\)", r"(\2 - \1)", right, count=1)
    found.append((swapped, "the sign of the error is flipped (t - y instead of y - t)"))
    outer = re.fullmatch(r"(.*) @ (\w+)\.T", right)
    if outer:
        delta, data = outer.groups()
        found.append((f"{data} @ {_bracketed(delta)}.T", "the matrix is transposed: dE/dW has W's shape (outputs, inputs)"))
        found.append((f"{delta} @ {data}", f"the transpose of {data} is missing (a column times a column)"))
    weights = re.search(r"(\w+)\.T @", right)
    if weights:
        w = weights.group(1)
        found.append((right.replace(weights.group(0), f"{w} @", 1), f"{w} is used where {w}^T belongs (missing transpose)"))
    return [(text, why) for text, why in dict(found).items() if text != right]


def _bracketed(text: str) -> str:
    return text if re.fullmatch(r"[\w.]+|\(.*\)", text) else f"({text})"


def _replace_products(expr: sp.Expr, replacements: dict[sp.Expr, sp.Expr]) -> sp.Expr:
    """``expr`` with each product (or factor) in ``replacements`` replaced where it stands as
    factors of a product: a2_1*(1 - a2_1) inside W2_11*a2_1*(1 - a2_1)*(a2_1 - t_1).  Unlike
    ``subs``, nothing is matched algebraically (``a - t`` is never read as ``-(1 - a) + 1 - t``)."""
    if expr.is_Atom:
        return replacements.get(expr, expr)
    if expr in replacements:
        return replacements[expr]
    args = [_replace_products(arg, replacements) for arg in expr.args]
    if isinstance(expr, sp.Mul):
        factors = list(args)
        for product, replacement in replacements.items():
            wanted = list(sp.Mul.make_args(product))
            if len(wanted) > 1 and all(w in factors for w in wanted):
                for w in wanted:
                    factors.remove(w)
                factors.append(replacement)
        return sp.Mul(*factors)
    return expr.func(*args)


def _node_of(derivation, symbol: sp.Symbol):
    found = derivation.scalar.element_of(symbol)
    return derivation.graph.nodes[found[0]] if found else None


def formula_text(expr: sp.Expr) -> str:
    """A formula as a student writes it in plain text: ``a2_1*(1 - a2_1)``, powers with ``^``,
    relu's derivative as ``step(z1_1)`` (the claim language's name for it)."""
    steps = {}
    for piecewise in expr.atoms(sp.Piecewise):
        (one, condition), (zero, _) = piecewise.args if len(piecewise.args) == 2 else ((None, None), (None, None))
        if one == 1 and zero == 0 and isinstance(condition, sp.StrictGreaterThan) and condition.rhs == 0:
            steps[piecewise] = sp.Function("step")(condition.lhs)
    return str(expr.xreplace(steps)).replace("**", "^")
