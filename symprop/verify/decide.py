"""Deciding a claim: sample points, numeric comparison and bounded proofs.

How a claim is decided (``Setting.compare``):

1. **Screen numerically.**  Claim and correct gradient are evaluated at ``SCREEN_POINTS``
   points (the spec's worked example first, if it has one, then seeded random values of every
   input, parameter and target), with ``DIGITS`` significant digits.  A point where they differ
   is re-checked at twice the precision; if it still differs, the claim is **wrong** and that
   point is the counterexample.  So "wrong" always comes with a point that proves it.
2. **Prove symbolically, with bounded effort.**  Each step rewrites ``claim - correct`` by
   replacing quantities with what they equal, so reaching 0 is a proof:
   (a) the claim is expanded to inputs, parameters and targets and then contracted back to
   forward values (``W2_11*a1_1 + W2_12*a1_2`` becomes ``z2_1``, ``sigmoid(z2_1)`` and
   ``1/(1 + exp(-z2_1))`` become ``a2_1``), then expanded / put over one denominator;
   (b) activations are replaced by their definitions in the pre-activations and every
   ``exp(c*u)`` by a power of a fresh positive symbol, which turns sigmoid-, tanh- and
   softmax-expressions into rational functions (``e^{-z}/(1+e^{-z})^2`` versus
   ``a(1 - a)``); (c) the same, down to the leaves.  Each step gives up above ``PROOF_MAX_OPS``.
3. **Otherwise, more numbers.**  If no proof was found the claim must also agree at
   ``TOTAL_POINTS`` points in all; it is then judged correct ``by numeric comparison``
   (the result says which).  The difference of two different analytic expressions vanishes
   only on a set of measure zero, so agreement to 30 digits at 32 random points does not
   happen by chance; piecewise activations are sampled on both sides of their kinks.
   A difference below 30 digits (``*(1 + 1e-40)``) is not rounding, though: such a claim is
   evaluated once more at ``HIGH_POINTS`` points with ``HIGH_DIGITS`` digits (``DIGITS`` more
   than its smallest constant needs, ``exp(-1000)``, up to ``MAX_DIGITS``), where rounding
   shrinks and a real difference does not.  A claim agreeing there whose constant is too small
   for ``MAX_DIGITS`` (``exp(-exp(exp(2)))``) gets no verdict.  A difference below that without a tiny constant
   (``*(1 + exp(-200*(x_1**2 + 1)))``, below 1e-86) still passes: no mistake of a derivation.

Cross-entropy after softmax: the derivation's ``dE/dz = a - t`` assumes targets that sum to
one (as the spec requires), so targets are sampled on the simplex and the proof substitutes
``t_n = 1 - t_1 - ... - t_{n-1}``.
"""

from __future__ import annotations

import random
import time
from functools import cached_property

import mpmath
import sympy as sp

from .. import registry
from ..errors import SymPropError
from ..module_interface import one_hot_axes
from ..ops import axis_groups
from ..scalar import evaluate
from ..spec import flatten
from .claims import ClaimNames

#: Significant digits of the numeric comparison (doubled to confirm a difference).
DIGITS = 30
#: Digits of the last check of a claim accepted without a proof (more for a claim with tiny constants).
HIGH_DIGITS = 90
#: The most digits that last check uses, however tiny a constant in the claim is.
MAX_DIGITS = 500
#: Points of that last check (a difference that is not 0 is not 0 at almost every point).
HIGH_POINTS = 4
#: Points every claim is evaluated at before a proof is attempted.
SCREEN_POINTS = 8
#: Points a claim must agree at when no symbolic proof was found.
TOTAL_POINTS = 32
#: Above this many operations a proof step gives up (bounded effort).
PROOF_MAX_OPS = 600
#: After this many seconds on one claim (at one size) only the cheap proof steps are tried.
PROOF_SECONDS = 3.0
#: Random values of inputs and parameters are multiples of 1/100 in this range (never 0).
VALUE_RANGE = 150
#: Points used to match the claim's factors with the chain rule's factors.
DIAGNOSIS_POINTS = 8



# -- evaluation at points ----------------------------------------------------------------------


class Setting:
    """One network at one set of sizes: its names, sample points and forward values."""

    def __init__(self, derivation, seed: int, label: str, example: bool):
        self.derivation = derivation
        self.graph = derivation.graph
        self.scalar = derivation.scalar
        self.names = ClaimNames(derivation)
        self.label = label
        self.seed = seed
        self.inputs = self.scalar.leaves("input")
        self.params = self.scalar.leaves("param")
        self.targets = self.scalar.leaves("target")
        self.simplex = _simplex_targets(self.graph, self.scalar)
        self._points: list[dict[sp.Symbol, sp.Rational]] = []
        self._values: dict[tuple[int, int], dict[sp.Symbol, sp.Float]] = {}
        self._rng = random.Random(seed)
        self.deadline = float("inf")
        if example:
            point = _example_point(derivation, self)
            if point is not None:
                self._points.append(point)

    # -- points ---------------------------------------------------------------------------

    def point(self, k: int) -> dict[sp.Symbol, sp.Rational]:
        while len(self._points) <= k:
            self._points.append(self._random_point())
        return self._points[k]

    def _random_point(self) -> dict[sp.Symbol, sp.Rational]:
        rng = self._rng
        point: dict[sp.Symbol, sp.Rational] = {}
        for symbol in self.inputs + self.params:
            value = 0
            while value == 0:
                value = rng.randint(-VALUE_RANGE, VALUE_RANGE)
            point[symbol] = sp.Rational(value, 100)
        constrained = {s for group in self.simplex for s in group}
        for group in self.simplex:
            cuts = sorted(rng.sample(range(1, 100), len(group) - 1))
            parts = [b - a for a, b in zip([0, *cuts], [*cuts, 100])]
            for symbol, part in zip(group, parts):
                point[symbol] = sp.Rational(part, 100)
        for symbol in self.targets:
            if symbol not in constrained:
                point[symbol] = sp.Rational(rng.randint(5, 95), 100)
        return point

    @cached_property
    def parts(self) -> set[sp.Symbol]:
        """The elements of the nodes a graph spec's lowering made and the spec never names
        (``f_a`` of ``f: 1/(1 + exp(-(w0*x0 + ...)))``); a layer stack has none."""
        network = self.derivation.network
        if getattr(network, "kind", "layers") != "graph":
            return set()
        written = set(network.nodes) | {self.graph.loss}
        ops = [node for node in self.graph.nodes.values() if node.op.role == "op" and node.name not in written]
        return {s for node in ops for s in self.scalar.symbols[node.name]}

    def values(self, k: int, digits: int = DIGITS) -> dict[sp.Symbol, sp.Float]:
        key = (k, digits)
        if key not in self._values:
            self._values[key] = self.scalar.forward_values(self.point(k), digits)
        return self._values[key]

    def number(self, expr: sp.Expr, k: int, digits: int = DIGITS) -> mpmath.mpc | None:
        """The value of ``expr`` at point ``k`` (None where it is undefined)."""
        return number_at(expr, self.values(k, digits), digits)

    def describe_point(self, k: int) -> dict[str, str]:
        return {str(s): decimal_text(v) for s, v in self.point(k).items()}

    # -- deciding -------------------------------------------------------------------------

    def compare(self, pairs: list[tuple[sp.Expr, sp.Expr]]) -> tuple[bool, str, tuple[int, int] | None]:
        """(equal, method, (point, element) of a difference) for (claim, correct) pairs."""
        for k in range(SCREEN_POINTS):
            found = self._first_difference(pairs, k)
            if found is not None:
                return False, f"numeric comparison ({DIGITS} digits, confirmed at {2 * DIGITS})", (k, found)
        self.deadline = time.monotonic() + PROOF_SECONDS
        unproven = [i for i, (c, g) in enumerate(pairs) if not self.prove_equal(c, g)]
        if not unproven:
            return True, "symbolic proof", None
        rest = [pairs[i] for i in unproven]
        for k in range(SCREEN_POINTS, TOTAL_POINTS):
            found = self._first_difference(rest, k)
            if found is not None:
                return False, f"numeric comparison ({DIGITS} digits, confirmed at {2 * DIGITS})", (k, unproven[found])
        high = max(map(digits_for, (claim for claim, _ in rest)))
        for k in range(HIGH_POINTS):
            found = self._first_difference(rest, k, high)
            if found is not None:
                return False, f"numeric comparison ({high} digits; equal to {DIGITS} digits)", (k, unproven[found])
        refuse_tinier_than_digits([claim for claim, _ in rest])
        proved = len(pairs) - len(unproven)
        how = f"{proved} of {len(pairs)} elements by symbolic proof, the rest " if len(pairs) > 1 and proved else ""
        digits = f"{DIGITS} and {high} digits"
        return True, f"{how}numeric comparison at {TOTAL_POINTS} points ({digits}; no symbolic proof found)", None

    def _first_difference(self, pairs, k: int, digits: int = DIGITS) -> int | None:
        """The first pair that differs at point ``k`` (at ``digits``; at ``DIGITS``, confirmed at twice that)."""
        confirm = 2 * DIGITS if digits == DIGITS else None
        for i, (claim, correct) in enumerate(pairs):
            if not close(self.number(claim, k, digits), self.number(correct, k, digits), digits) and (
                confirm is None or not close(self.number(claim, k, confirm), self.number(correct, k, confirm), confirm)
            ):
                return i
        return None

    def prove_equal(self, claim: sp.Expr, correct: sp.Expr) -> bool:
        """True only when ``claim - correct`` was reduced to 0 by value-preserving rewrites.

        Cheap steps first (expanding as written, then after contracting to forward values),
        then rational-function steps, then the leaves; each gives up above a size bound.
        """
        as_written = self._constrain(claim - correct)
        if _is_zero(as_written, full=False):
            return True
        contracted = self._constrain(self.contract(claim) - correct)
        if _is_zero(contracted, full=False):
            return True
        for candidate in sorted({as_written, contracted}, key=sp.count_ops):
            if time.monotonic() > self.deadline:
                return False
            if _is_zero(_rationalize(self._constrain(self.to_preactivations(candidate)))):
                return True
        if sp.count_ops(contracted) > PROOF_MAX_OPS or time.monotonic() > self.deadline:
            return False
        leaves = self.scalar.expand(contracted)
        return sp.count_ops(leaves) <= PROOF_MAX_OPS and _is_zero(_rationalize(self._constrain(leaves)))

    def _constrain(self, expr: sp.Expr) -> sp.Expr:
        for group in self.simplex:
            expr = expr.xreplace({group[-1]: 1 - sp.Add(*group[:-1])})
        return expr

    @cached_property
    def _contractions(self) -> list[dict[sp.Expr, sp.Symbol]]:
        """For each op node in order: its elements' definitions -> their symbols."""
        table = []
        for node in self.graph.nodes.values():
            if node.op.role != "op":
                continue
            level: dict[sp.Expr, sp.Symbol] = {}
            for symbol in self.scalar.symbols[node.name]:
                definition = self.scalar.definitions[symbol]
                for form in (definition, registry.expand_definitions(definition)):
                    level.setdefault(form, symbol)
                    level.setdefault(-form, -symbol)  # exp(-W x) holds -(W x) distributed
            table.append(level)
        return table

    def contract(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` written in forward values wherever a definition appears in it.

        Exact subtrees are replaced first (``xreplace``); a product or sum that is part of a
        larger one (``W2_11*g1_1*g3_1`` holds ``g_1 = g1_1*g3_1``; ``W x + b - t`` holds
        ``z = W x + b``) is replaced by ``subs``.
        """
        expr = self.scalar.expand(expr)
        for level in self._contractions:
            expr = expr.xreplace(level)
            present = expr.free_symbols
            for form, symbol in level.items():
                if isinstance(form, (sp.Mul, sp.Add)) and form.free_symbols <= present and not form.has(sp.Piecewise):
                    expr = expr.subs(form, symbol)
        return expr

    @cached_property
    def _preactivation_map(self) -> dict[sp.Symbol, sp.Expr]:
        table = {}
        for node in self.graph.nodes.values():
            if node.op.role == "op" and node.name != self.graph.loss and len(node.inputs) == 1:
                for symbol in self.scalar.symbols[node.name]:
                    table[symbol] = registry.expand_definitions(self.scalar.definitions[symbol])
        return table

    def to_preactivations(self, expr: sp.Expr) -> sp.Expr:
        """Activation outputs replaced by their formulas in the pre-activations."""
        table = self._preactivation_map
        for _ in range(len(self.graph.nodes)):
            new = expr.xreplace(table)
            if new == expr:
                break
            expr = new
        return registry.expand_definitions(expr)


def _simplex_targets(graph, scalar) -> list[list[sp.Symbol]]:
    """Groups of target elements that sum to one: the rows of cross-entropy targets along their
    softmax's axis (the last by default)."""
    axes = one_hot_axes(graph)
    groups = []
    for name in sorted(axes):
        symbols = scalar.symbols[name]
        groups += [[symbols[p] for p in row] for row in axis_groups(graph.nodes[name].shape, axes[name]) if len(row) > 1]
    return groups


def _example_point(derivation, setting: Setting) -> dict[sp.Symbol, sp.Rational] | None:
    """The spec's worked example as a point, if it has one (layer stacks and graph specs)."""
    example = getattr(derivation.network, "example", None)
    if example is None:
        return None
    try:
        if hasattr(example, "inputs"):  # a graph spec's example: values by node name
            values = {**example.inputs, **getattr(example, "targets", {}), **example.params}
        else:
            graph = setting.graph
            (x,), (t,) = graph.leaves("input"), graph.leaves("target")
            values = {x.name: example.x, t.name: example.t, **example.params}
        point = {}
        for role in ("input", "param", "target"):
            for node in setting.graph.leaves(role):
                point.update(zip(setting.scalar.symbols[node.name], map(_exact, flatten(values[node.name]))))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    if set(point) != set(setting.inputs + setting.params + setting.targets):
        return None
    for group in setting.simplex:
        if sum(point[s] for s in group) != 1:
            return None
    return point


def _exact(value) -> sp.Rational:
    return sp.Rational(str(value))


def number_at(expr: sp.Expr, values, digits: int) -> mpmath.mpc | None:
    try:
        value = evaluate(sp.sympify(expr), values, digits)
    except (SymPropError, ZeroDivisionError, ValueError, TypeError, ArithmeticError):
        return None
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return None
    real, imag = value.as_real_imag()
    try:
        with mpmath.workdps(digits):
            return mpmath.mpc(mpmath.mpf(sp.Float(real, digits)), mpmath.mpf(sp.Float(imag, digits)))
    except (TypeError, ValueError):
        return None


def close(a: mpmath.mpc | None, b: mpmath.mpc | None, digits: int = DIGITS) -> bool:
    if a is None or b is None:
        return a is None and b is None
    with mpmath.workdps(digits):
        return abs(a - b) <= mpmath.mpf(10) ** (8 - digits) * max(1, abs(a), abs(b))


def digits_for(claim: sp.Expr) -> int:
    """Digits at which a claim accepted at ``DIGITS`` is checked once more: a difference that is
    only rounding shrinks with the precision, ``*(1 + 1e-40)`` does not.  A claim whose constants
    are tiny (``1e-60``, ``exp(-200)``) gets ``DIGITS`` more digits than the smallest one needs."""
    return min(MAX_DIGITS, max(HIGH_DIGITS, tiniest_constant(claim) + DIGITS))


class Undecidable(SymPropError):
    """A claim the comparison cannot decide (the verifier names the claim)."""


def refuse_tinier_than_digits(claims) -> None:
    """No verdict on a claim agreeing at ``MAX_DIGITS`` whose constant is below what they tell from 0
    with ``DIGITS`` to spare (``exp(-exp(exp(2)))``, about 1e-703): it would pass as correct."""
    tiniest = max(map(tiniest_constant, claims))
    if tiniest + DIGITS > MAX_DIGITS:
        raise Undecidable(
            f"it holds a number of about 1e-{tiniest}, too small for the comparison ({MAX_DIGITS} digits) "
            "to tell from 0; it cannot decide such a claim"
        )


def tiniest_constant(claim: sp.Expr) -> int:
    """-log10 of the smallest nonzero constant part of ``claim`` (0 if none is below 1)."""
    smallest = 0
    for part in sp.preorder_traversal(claim):
        if part.free_symbols or not isinstance(part, sp.Expr) or part == 0:
            continue
        size = sp.Abs(part).evalf(5)
        if isinstance(size, sp.Float) and size._mpf_[1]:  # 0.e-126: sympy could not tell it from 0
            smallest = max(smallest, -int(mpmath.floor(mpmath.log10(mpmath.mpf(size._mpf_)))))
    return smallest


def decimal_text(value) -> str:
    if isinstance(value, sp.Rational) and not isinstance(value, sp.Integer):
        text = sp.Float(value, 20).__format__(".12g") if value.q not in (2, 4, 5, 10, 20, 25, 50, 100) else None
        if text is None:
            return str(float(value))
        return text
    return str(value)


def show(value: mpmath.mpc | None) -> str:
    if value is None:
        return "undefined"
    if abs(value.imag) > 1e-25 * max(1, abs(value.real)):
        return f"{mpmath.nstr(value.real, 10)} + {mpmath.nstr(value.imag, 10)}i"
    return mpmath.nstr(value.real, 10)


# -- proof helpers -------------------------------------------------------------------------------


def _is_zero(expr: sp.Expr, full: bool = True) -> bool:
    """A bounded attempt to show that ``expr`` is identically 0 (False means 'not shown').

    ``full=False`` only expands; ``full`` also puts it over one denominator.
    """
    if expr == 0:
        return True
    if expr.has(sp.Piecewise):
        expr = sp.piecewise_fold(expr)
    if sp.count_ops(expr) > PROOF_MAX_OPS:
        return False
    if sp.expand(expr) == 0:
        return True
    if not full:
        return False
    numerator = sp.numer(sp.together(expr))
    if sp.count_ops(numerator) > 2 * PROOF_MAX_OPS:
        return False
    return sp.expand(numerator) == 0


def _rationalize(expr: sp.Expr) -> sp.Expr:
    """exp(c*u) -> U**c with a fresh positive U per u; tanh, sinh, cosh written with exp."""
    generators: dict[sp.Expr, sp.Symbol] = {}

    def walk(e: sp.Expr) -> sp.Expr:
        if not e.args:
            return e
        if isinstance(e, (sp.tanh, sp.sinh, sp.cosh)):
            return walk(e.rewrite(sp.exp))
        args = [walk(a) for a in e.args]
        if isinstance(e, sp.exp):
            result = sp.S.One
            for term in sp.Add.make_args(sp.expand(args[0])):
                coeff, rest = term.as_coeff_Mul()
                if not coeff.is_Rational:
                    coeff, rest = sp.S.One, term
                if rest == 1:
                    result *= sp.exp(coeff)
                    continue
                symbol = generators.setdefault(rest, sp.Dummy(f"u{len(generators)}", positive=True))
                result *= symbol**coeff
            return result
        return e.func(*args)

    return walk(expr)

