"""Verify hand-derived gradients against the Derivation: right or wrong, where, and why.

    import symprop
    r = symprop.verify("examples/tutorial_222.yaml", "W2[0,0]", "(a2_1 - t_1)*a2_1*(1 - a2_1)*a1_1")
    r.verdict      # 'correct'
    print(r)       # what was understood, the correct formula, and for a wrong claim where and why

How a claim is decided (``_Setting.compare``):

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

Cross-entropy after softmax: the derivation's ``dE/dz = a - t`` assumes targets that sum to
one (as the spec requires), so targets are sampled on the simplex and the proof substitutes
``t_n = 1 - t_1 - ... - t_{n-1}``.

Matrix claims (``--wrt W2`` with an array formula) are checked element by element, and *for
every size*: at the spec's sizes and at two more size configurations in which all adjacent
widths differ (so a transposed matrix or a sum over the wrong index cannot pass by symmetry,
and shape mistakes show up).  The claim is re-read at each size, so it must be written with
whole nodes (``a2``, ``W2.T``), not with elements.  Graph specs without a layer stack are
checked at their own sizes unless their network offers ``size_variants()``.

The verifier relies only on ``derivation.graph``, ``derivation.scalar``, ``derivation.steps``
and ``derivation.network`` (for the example point and size variants), so graph specs work too.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import mpmath
import sympy as sp
import yaml

from . import naming, registry
from .claims import ClaimFactor, ClaimNames, ShapeError, describe_shape, is_array, read_claim
from .claims_latex import translate
from .errors import SpecError, SymPropError
from .formula import FormulaError
from .graph import Activation, Loss, Softmax
from .scalar import SCALAR_LIMIT, ElementGradient, Factor, evaluate
from .spec import flatten

#: Significant digits of the numeric comparison (doubled to confirm a difference).
DIGITS = 30
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


# -- the result ------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    """The answer for one claim.  ``str(result)`` is the readable report."""

    verdict: str  # 'correct' or 'wrong'
    wrt: str  # the element or node, e.g. 'W2_11' or 'W2'
    claim: str  # as given
    understood: str  # what was read, in plain claim notation (names resolved, products explicit)
    expected: str  # the correct gradient
    point: dict[str, str] | None = None  # wrong: values of every input, parameter and target
    values: dict[str, str] | None = None  # wrong: {'claim': ..., 'correct': ...} at the point
    diagnosis: list[str] = field(default_factory=list)
    method: str = ""  # how the verdict was reached
    latex: str | None = None  # the LaTeX claim, when one was given
    sizes: list[str] = field(default_factory=list)  # sizes checked (matrix claims)
    chain: str = ""  # the chain rule the expected formula follows
    loss: str = "E"  # the name of the loss in the spec's graph

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        lines = [f"d{self.loss}/d{self.wrt}: {self.verdict.upper()}"]
        if self.latex is not None:
            lines.append(f"  LaTeX claim:  {self.latex}")
            lines.append(f"  read as:      {self.understood}")
        else:
            lines.append(f"  claim:        {self.understood}")
        if self.chain:
            lines.append(f"  chain rule:   {self.chain}")
        lines.append(f"  correct:      {self.expected}")
        if self.sizes:
            lines.append(f"  sizes:        {'; '.join(self.sizes)}")
        lines.append(f"  decided by:   {self.method}")
        for line in self.diagnosis:
            lines.append(f"  - {line}")
        if self.point:
            lines.append("  counterexample: " + ", ".join(f"{k} = {v}" for k, v in self.point.items()))
        if self.values:
            lines.append(f"    claim = {self.values['claim']}, correct = {self.values['correct']}")
        return "\n".join(lines)


# -- evaluation at points ----------------------------------------------------------------------


class _Setting:
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

    def values(self, k: int, digits: int = DIGITS) -> dict[sp.Symbol, sp.Float]:
        key = (k, digits)
        if key not in self._values:
            self._values[key] = self.scalar.forward_values(self.point(k), digits)
        return self._values[key]

    def number(self, expr: sp.Expr, k: int, digits: int = DIGITS) -> mpmath.mpc | None:
        """The value of ``expr`` at point ``k`` (None where it is undefined)."""
        return _number(expr, self.values(k, digits), digits)

    def describe_point(self, k: int) -> dict[str, str]:
        return {str(s): _decimal(v) for s, v in self.point(k).items()}

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
        proved = len(pairs) - len(unproven)
        how = f"{proved} of {len(pairs)} elements by symbolic proof, the rest " if len(pairs) > 1 and proved else ""
        return True, f"{how}numeric comparison at {TOTAL_POINTS} points ({DIGITS} digits; no symbolic proof found)", None

    def _first_difference(self, pairs, k: int) -> int | None:
        for i, (claim, correct) in enumerate(pairs):
            if not _close(self.number(claim, k), self.number(correct, k)):
                high = 2 * DIGITS
                if not _close(self.number(claim, k, high), self.number(correct, k, high), high):
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
    """Target elements that sum to one: those of cross-entropy losses (or a graph's own list)."""
    names = set(getattr(graph, "simplex_targets", ()) or ())
    for node in graph.nodes.values():
        choice = getattr(node.op, "choice", None)
        if isinstance(node.op, Loss) and getattr(choice, "name", None) == "cross_entropy":
            names.add(node.inputs[1])
    return [list(scalar.symbols[n]) for n in sorted(names) if len(scalar.symbols[n]) > 1]


def _example_point(derivation, setting: _Setting) -> dict[sp.Symbol, sp.Rational] | None:
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


def _number(expr: sp.Expr, values, digits: int) -> mpmath.mpc | None:
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


def _close(a: mpmath.mpc | None, b: mpmath.mpc | None, digits: int = DIGITS) -> bool:
    if a is None or b is None:
        return a is None and b is None
    with mpmath.workdps(digits):
        return abs(a - b) <= mpmath.mpf(10) ** (8 - digits) * max(1, abs(a), abs(b))


def _decimal(value) -> str:
    if isinstance(value, sp.Rational) and not isinstance(value, sp.Integer):
        text = sp.Float(value, 20).__format__(".12g") if value.q not in (2, 4, 5, 10, 20, 25, 50, 100) else None
        if text is None:
            return str(float(value))
        return text
    return str(value)


def _show(value: mpmath.mpc | None) -> str:
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


# -- the verifier ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Wrt:
    node: str
    index: tuple[int, ...] | None  # None: the whole node
    name: str  # how results name it: W2_11 or W2

    @property
    def whole(self) -> bool:
        return self.index is None


_WRT = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*((?:\[\s*\d+\s*(?:,\s*\d+\s*)*\])*)\s*$")


class Verifier:
    """Checks claims about one network; reuses its derivation and sample points across claims."""

    def __init__(self, network, seed: int = 0):
        from .derivation import Derivation, derive
        from .spec import load

        if isinstance(network, (str, Path)):
            network = load(network)
        self.derivation = network if isinstance(network, Derivation) else derive(network)
        self.seed = seed

    # -- settings (sizes) -------------------------------------------------------------------

    @cached_property
    def base(self) -> _Setting:
        if not self.derivation.has_scalar:
            count = sum(sp.prod(n.shape) for n in self.derivation.graph.params())
            raise SymPropError(
                f"{self.derivation.name}: {count} parameters, too many for claims about one weight "
                f"(at most {SCALAR_LIMIT}); a claim about a whole parameter (--wrt W1) is checked on smaller sizes"
            )
        return _Setting(self.derivation, self.seed, _sizes_label(self.derivation), example=True)

    @cached_property
    def matrix_settings(self) -> list[_Setting]:
        from .derivation import derive

        settings = [self.base] if self.derivation.has_scalar else []
        for k, network in enumerate(size_variants(self.derivation.network), start=1):
            derivation = derive(network)
            if derivation.has_scalar:
                settings.append(_Setting(derivation, self.seed + k, _sizes_label(derivation), example=False))
        if not settings:
            raise SymPropError(f"{self.derivation.name}: no size small enough to check a matrix claim on")
        return settings

    # -- parsing ----------------------------------------------------------------------------

    def parse_wrt(self, text: str) -> _Wrt:
        """``W2[0,0]`` (0-based), ``W2_11`` / ``w2_11`` (1-based element), ``W2`` (whole), LaTeX names."""
        if not isinstance(text, str) or not text.strip():
            raise SymPropError("--wrt: give the parameter or element, e.g. W2[0,0], W2_11 or W2")
        graph = self.derivation.graph
        names = self._names_for_wrt()
        raw = text.strip()
        if "\\" in raw or "{" in raw or "^" in raw:
            try:
                raw = translate(raw, names)
            except FormulaError as exc:
                raise SymPropError(f"--wrt {text!r}: {exc}") from None
        match = _WRT.match(raw)
        if not match:
            raise SymPropError(f"--wrt {text!r}: expected a name like W2, W2_11 or W2[0,0]")
        name, brackets = match.group(1), match.group(2)
        if brackets:
            index = tuple(int(i) for i in re.findall(r"\d+", brackets))
            entry = names.arrays.get(name)
            if entry is None or entry.node not in graph.nodes:
                raise SymPropError(f"--wrt {text!r}: unknown node {name!r}; {self._wrt_hint()}")
            if len(index) != len(entry.shape) or any(not 0 <= i < n for i, n in zip(index, entry.shape)):
                raise SymPropError(f"--wrt {text!r}: {entry.node} has shape {list(entry.shape)} (indices in [] are 0-based)")
            return self._checked(_Wrt(entry.node, index, naming.element_name(entry.node, index)))
        if name in names.arrays and names.arrays[name].node in graph.nodes and name not in _delta_names(names):
            node = names.arrays[name].node
            return self._checked(_Wrt(node, None, node))
        symbol = names.scalars.get(name)
        if isinstance(symbol, sp.Symbol):
            for node_name, symbols in self.derivation.scalar.symbols.items():
                if symbol in symbols:
                    shape = graph.nodes[node_name].shape
                    index = _unflat(symbols.index(symbol), shape)
                    return self._checked(_Wrt(node_name, index if shape else None, str(symbol)))
        raise SymPropError(f"--wrt {text!r}: unknown name; {self._wrt_hint()}")

    def _names_for_wrt(self) -> ClaimNames:
        if self.derivation.has_scalar:
            return self.base.names
        return _ShapeOnlyNames(self.derivation)

    def _wrt_hint(self) -> str:
        params = ", ".join(self.derivation.param_names)
        return f"parameters: {params} (elements like W2_11 are 1-based, W2[0,0] is 0-based)"

    def _checked(self, wrt: _Wrt) -> _Wrt:
        graph = self.derivation.graph
        inputs_too = getattr(graph, "input_adjoints", False) and graph.nodes[wrt.node].op.role == "input"
        if wrt.node == graph.loss or (wrt.node not in graph.needs_grad and not inputs_too):
            raise SymPropError(
                f"--wrt {wrt.name}: E does not depend on it through a parameter; "
                f"choose a parameter ({', '.join(self.derivation.param_names)}) or an intermediate node"
            )
        return wrt

    def read(self, setting: _Setting, claim: str | None, claim_latex: str | None) -> tuple[str, Any, Any]:
        """(plain text, value, reader) of a claim at one setting; SymPropError if unreadable."""
        if (claim is None) == (claim_latex is None):
            raise SymPropError("give exactly one of a plain claim (--claim) and a LaTeX claim (--claim-latex)")
        text = claim
        if claim_latex is not None:
            try:
                text = translate(claim_latex, setting.names)
            except FormulaError as exc:
                raise SymPropError(f"LaTeX claim {_short(claim_latex)}: {exc}") from None
        if not isinstance(text, str):
            raise SymPropError(f"claim must be text, got {type(text).__name__}")
        try:
            value, reader = read_claim(text, setting.names)
        except ShapeError:
            raise
        except FormulaError as exc:
            shown = f"{_short(text)} (read from the LaTeX)" if claim_latex is not None else _short(text)
            raise SymPropError(f"claim {shown}: {exc}") from None
        deltas = setting.names.deltas
        if deltas:
            value = value.applyfunc(lambda e: e.xreplace(deltas)) if is_array(value) else sp.sympify(value).xreplace(deltas)
        return text, value, reader

    # -- checking ---------------------------------------------------------------------------

    def check(self, wrt: str, claim: str | None = None, *, claim_latex: str | None = None) -> VerifyResult:
        target = self.parse_wrt(wrt)
        if target.whole and self.derivation.graph.nodes[target.node].shape:
            return self._check_matrix(target, claim, claim_latex)
        return self._check_scalar(target, claim, claim_latex)

    def _check_scalar(self, target: _Wrt, claim, claim_latex) -> VerifyResult:
        setting = self.base
        gradient = _gradient(setting, target.node, target.index or ())
        given = claim if claim_latex is None else claim_latex
        try:
            text, value, reader = self.read(setting, claim, claim_latex)
        except ShapeError as exc:
            return VerifyResult(
                loss=str(setting.scalar.loss_symbol),
                verdict="wrong",
                wrt=target.name,
                claim=given,
                understood=given,
                expected=_product_text(gradient.factors),
                method="shape",
                diagnosis=[str(exc)],
                latex=claim_latex,
            )
        result = VerifyResult(
            loss=str(setting.scalar.loss_symbol),
            verdict="correct",
            wrt=target.name,
            claim=given,
            understood=text,
            expected=_product_text(gradient.factors),
            latex=claim_latex,
            chain=" * ".join(f.text for f in gradient.factors),
        )
        if is_array(value):
            if value.shape != (1, 1):
                result.verdict = "wrong"
                result.method = "shape"
                result.diagnosis = [f"the claim is {describe_shape(value)}, but d{result.loss}/d{target.name} is a number"]
                return result
            value = value[0, 0]
        equal, method, where = setting.compare([(value, gradient.expr)])
        result.method = method
        if not equal:
            k, _ = where
            result.verdict = "wrong"
            self._counterexample(result, setting, k, value, gradient.expr)
            result.diagnosis += _diagnose(setting, reader.factors(), value, gradient, None)
        return result

    def _check_matrix(self, target: _Wrt, claim, claim_latex) -> VerifyResult:
        given = claim if claim_latex is None else claim_latex
        result = VerifyResult(
            verdict="correct",
            wrt=target.name,
            claim=given,
            understood="",
            expected="",
            latex=claim_latex,
            loss=str(self.derivation.graph.loss),
        )
        methods = []
        for number, setting in enumerate(self.matrix_settings):
            result.sizes.append(setting.label)
            expected = _expected_matrix(setting, target.node)
            if not result.expected:
                result.expected = _array_formula(setting.derivation, target.node) or _matrix_text(expected)
            earlier = "; ".join(result.sizes[:-1])
            holds = [f"the claim holds at sizes {earlier}, but not for every size"] if number else []
            try:
                text, value, reader = self.read(setting, claim, claim_latex)
            except ShapeError as exc:
                result.understood = result.understood or given
                result.verdict, result.method = "wrong", "shape"
                result.diagnosis = holds + [f"at sizes {setting.label}: {exc}"]
                return result
            result.understood = result.understood or text
            fitted = _fit_shape(value, expected)
            if fitted is None:
                result.verdict, result.method = "wrong", "shape"
                result.diagnosis = holds + [
                    f"at sizes {setting.label}: the claim is {describe_shape(value)}, "
                    f"but d{result.loss}/d{target.node} is {describe_shape(expected)}"
                ]
                return result
            pairs = list(zip(list(fitted), list(expected)))
            equal, method, where = setting.compare(pairs)
            methods.append(method)
            if not equal:
                k, flat = where
                result.verdict = "wrong"
                result.method = method
                index = divmod(flat, expected.shape[1])
                element_index = index if len(setting.graph.nodes[target.node].shape) == 2 else (index[0],)
                gradient = _gradient(setting, target.node, element_index)
                label = f"element {list(element_index)} ({gradient.symbol})"
                result.diagnosis = holds + [f"at sizes {setting.label}, {label} differs"]
                self._counterexample(result, setting, k, pairs[flat][0], pairs[flat][1])
                result.values["claim"] += f" ({label})"
                factors = [ClaimFactor(f.text, _element(f.value, index)) for f in reader.factors()]
                if any(f.value is None for f in factors):
                    factors = [ClaimFactor(text, pairs[flat][0])]
                result.diagnosis += _matrix_notes(setting, fitted, expected, k)
                result.diagnosis += _diagnose(setting, factors, pairs[flat][0], gradient, label)
                return result
        result.method = "; ".join(sorted(set(methods)))
        return result

    def _counterexample(self, result: VerifyResult, setting: _Setting, k: int, claim: sp.Expr, correct: sp.Expr):
        result.point = setting.describe_point(k)
        result.values = {"claim": _show(setting.number(claim, k)), "correct": _show(setting.number(correct, k))}
        if setting.simplex:
            result.diagnosis.append("the cross-entropy's targets are sampled so that they sum to 1, as the spec requires")


class _ShapeOnlyNames:
    """Whole-node names for --wrt when the network is too large for a per-weight view."""

    def __init__(self, derivation):
        from .claims import NodeName

        self.arrays = {}
        self.scalars = {}
        self.functions = {}
        for node in derivation.graph.nodes.values():
            self.arrays[node.name] = NodeName(node.name, node.shape, ())
            if node.op.role == "param" and node.name[:1].isupper():
                self.arrays.setdefault(node.name[0].lower() + node.name[1:], NodeName(node.name, node.shape, ()))

    def resolve(self, base, layer, indices):
        name = base + (layer or "")
        return name if indices is None and name in self.arrays else None


def _delta_names(names) -> set[str]:
    return {n for n, e in names.arrays.items() if n.startswith("delta") and e.node != n}


def _flat(index: tuple[int, ...], shape: tuple[int, ...]) -> int:
    flat = 0
    for i, n in zip(index, shape):
        flat = flat * n + i
    return flat


def _unflat(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    index = []
    for n in reversed(shape):
        flat, i = divmod(flat, n)
        index.append(i)
    return tuple(reversed(index))


def _sizes_label(derivation) -> str:
    shapes = [f"{n.name} {'x'.join(map(str, n.shape)) or 'scalar'}" for n in derivation.graph.params()]
    return ", ".join(shapes)


def size_variants(network) -> list:
    """Two other size configurations of ``network`` (layer stacks; graphs via ``size_variants()``).

    Input and hidden widths change, with every width different from its neighbours'.  The
    output width changes only when the loss sums over the outputs: a loss that is a mean over
    the outputs (mse, bce...) puts a 1/n in the gradient that belongs to the task's size.
    """
    hook = getattr(network, "size_variants", None)
    if callable(hook):
        return list(hook())
    layers = getattr(network, "layers", None)
    if not layers or not hasattr(network, "inputs"):
        return []
    loss = getattr(network, "loss", None)
    vary_output = getattr(loss, "reduction", "mean") == "sum"
    variants = []
    for pattern in ((3, 4, 2, 5), (2, 3, 4), (3, 2), (2, 3)):
        widths = [pattern[i % len(pattern)] for i in range(len(layers) + 1)]
        if not vary_output:
            widths[-1] = layers[-1].units
            for i in range(len(widths) - 2, -1, -1):  # keep neighbours different
                while widths[i] == widths[i + 1] or (i > 0 and widths[i] == widths[i - 1]):
                    widths[i] += 1
        if _param_count(widths, layers) > SCALAR_LIMIT or any(_same_sizes(widths, v) for v in variants):
            continue
        new_layers = tuple(dataclasses.replace(layer, units=w) for layer, w in zip(layers, widths[1:]))
        variants.append(dataclasses.replace(network, inputs=widths[0], layers=new_layers, example=None))
        if len(variants) == 2:
            break
    return variants


def _same_sizes(widths: list[int], network) -> bool:
    return [network.inputs, *(layer.units for layer in network.layers)] == widths


def _param_count(widths: list[int], layers) -> int:
    return sum(widths[i] * widths[i + 1] + (widths[i + 1] if layer.bias else 0) for i, layer in enumerate(layers))


# -- expected values ----------------------------------------------------------------------------


def _gradient(setting: _Setting, node: str, index: tuple[int, ...]) -> ElementGradient:
    """dE/d(node[index]) with its chain of factors (a single factor for non-parameters)."""
    graph, scalar = setting.graph, setting.scalar
    if graph.nodes[node].op.role == "param":
        return scalar.gradient(node, index)
    shape = graph.nodes[node].shape
    symbol = scalar.symbols[node][_flat(index, shape) if shape else 0]
    expr = scalar.adjoints.get(symbol, sp.S.Zero)
    return ElementGradient(node, index, symbol, (Factor(scalar.loss_symbol, symbol, expr),), expr)


def _expected_matrix(setting: _Setting, node: str) -> sp.ImmutableMatrix:
    shape = setting.graph.nodes[node].shape
    rows, cols = (shape[0], 1) if len(shape) == 1 else shape
    elements = [_gradient(setting, node, _unflat(i, shape)).expr for i in range(rows * cols)]
    return sp.ImmutableMatrix(rows, cols, elements)


def _fit_shape(value, expected: sp.ImmutableMatrix):
    """The claim as the expected's shape: numbers broadcast; a row is accepted for a vector."""
    if not is_array(value):
        return sp.ImmutableMatrix(expected.shape[0], expected.shape[1], [value] * len(expected))
    if value.shape == expected.shape:
        return value
    if expected.shape[1] == 1 and value.shape == (1, expected.shape[0]):
        return sp.ImmutableMatrix(value.T)
    return None


def _element(value, index: tuple[int, int]):
    """One element of a factor for matrix element ``index`` (columns give row i, rows column j)."""
    if not is_array(value):
        return value
    i, j = index
    rows, cols = value.shape
    if (rows, cols) == (1, 1):
        return value[0, 0]
    if cols == 1:
        return value[i, 0] if i < rows else None
    if rows == 1:
        return value[0, j] if j < cols else None
    return value[i, j] if i < rows and j < cols else None


def _steps(expr: sp.Expr) -> sp.Expr:
    """Piecewise((1, z > 0), (0, True)) written as step(z), the claim language's name for it."""
    return expr.replace(
        lambda e: (
            isinstance(e, sp.Piecewise)
            and len(e.args) == 2
            and e.args[0].expr == 1
            and e.args[1].expr == 0
            and isinstance(e.args[0].cond, sp.StrictGreaterThan)
            and e.args[0].cond.rhs == 0
        ),
        lambda e: sp.Function("step")(e.args[0].cond.lhs),
    )


def _sstr(expr: sp.Expr) -> str:
    return sp.sstr(_steps(expr))


def _factor_text(expr: sp.Expr) -> str:
    text = _sstr(expr)
    if isinstance(expr, sp.Add) or text.startswith("-"):
        return f"({text})"
    return text


def _product_text(factors) -> str:
    shown = [f for f in factors if f.expr != 1] or list(factors)
    return " * ".join(_factor_text(f.expr) for f in shown)


def _matrix_text(matrix: sp.ImmutableMatrix) -> str:
    """The correct matrix element by element, or its shape and first element when long."""
    text = _full_matrix_text(matrix)
    if len(text) <= 300:
        return text
    rows, cols = matrix.shape
    return f"a {rows}x{cols} matrix (no array formula for this graph); element [0, 0]: {_sstr(matrix[0, 0])}"


def _full_matrix_text(matrix: sp.ImmutableMatrix) -> str:
    return "[" + "; ".join(", ".join(_sstr(matrix[i, j]) for j in range(matrix.shape[1])) for i in range(matrix.shape[0])) + "]"


def _array_formula(derivation, target: str) -> str | None:
    """dE/d``target`` per sample in array notation, from the derivation's steps (or None).

    The same tensor rules the NumPy module runs, written with column vectors:
    ``dE/dW = delta @ a_prev.T``, ``dE/db = delta``, ``dE/da_prev = W.T @ delta``.
    The text is itself a valid matrix claim (the tests verify it as one).
    """
    graph = derivation.graph
    adjoint: dict[str, str] = {}

    def local(expr: sp.Expr, **names: str) -> str | None:
        table = {"z": registry.Z, "a": registry.A, "y": registry.Y, "t": registry.T}
        expr = _steps(expr.xreplace({table[k]: sp.Symbol(v) for k, v in names.items()}))
        if expr.has(sp.Piecewise):
            return None
        return sp.sstr(expr)

    for step in derivation.steps:
        source = graph.nodes[step.source]
        if step.rule == "loss":
            text = local(step.local, y=source.inputs[0], t=source.inputs[1])
        elif step.rule == "fused":
            text = local(step.local, a=source.inputs[0], t=source.inputs[1], z=step.target)
        elif step.rule == "activation":
            factor = local(step.local, z=step.target, a=step.source)
            text = (
                None
                if factor is None
                else (adjoint[step.source] if factor == "1" else f"{_p(adjoint[step.source])} * {_p(factor)}")
            )
        elif step.rule == "softmax":
            g = _p(adjoint[step.source])
            text = f"{step.source} * ({g} - sum({g} * {step.source}))"
        elif step.rule == "dense_weight":
            text = f"{_p(adjoint[step.source])} @ {source.inputs[1]}.T"
        elif step.rule == "dense_bias":
            text = adjoint[step.source]
        elif step.rule == "dense_input":
            text = f"{source.inputs[0]}.T @ {_p(adjoint[step.source])}"
        else:
            return None
        if text is None:
            return None
        adjoint[step.target] = f"{adjoint[step.target]} + {text}" if step.accumulate else text
    return adjoint.get(target)


def _p(text: str) -> str:
    return text if re.fullmatch(r"[\w.]+", text) else f"({text})"


# -- diagnosis -------------------------------------------------------------------------------------


def _diagnose(setting: _Setting, factors: list[ClaimFactor], claim: sp.Expr, gradient: ElementGradient, label) -> list[str]:
    """Why a claim is wrong: a constant ratio, another element's gradient, the factor at fault."""
    points = range(DIAGNOSIS_POINTS)
    claim_values = [setting.number(claim, k) for k in points]
    correct_values = [setting.number(gradient.expr, k) for k in points]
    notes = []
    ratio = _constant_ratio(claim_values, correct_values)
    if ratio is not None:
        notes.append(_ratio_note(ratio, "the correct gradient"))
    if ratio is None:
        other = _other_gradient(setting, claim_values, gradient)
        if other is not None:
            notes.append(other)
    factor_notes, unmatched = _factor_notes(setting, factors, gradient, points)
    notes.extend(factor_notes)
    notes.extend(_softmax_note(setting, unmatched))
    return notes


def _constant_ratio(values, reference) -> sp.Rational | None:
    ratios = []
    for v, r in zip(values, reference):
        if v is None or r is None or abs(r) < 1e-12:
            return None
        ratios.append(v / r)
    first = ratios[0]
    with mpmath.workdps(DIGITS):
        if abs(first.imag) > 1e-20 or any(abs(q - first) > 1e-18 * max(1, abs(first)) for q in ratios):
            return None
    guess = sp.nsimplify(sp.Float(mpmath.nstr(first.real, 25), 25), rational=True, tolerance=1e-15)
    if isinstance(guess, sp.Rational) and guess.q <= 100 and abs(guess.p) <= 100:
        return guess
    return None


def _ratio_note(ratio: sp.Rational, what: str) -> str:
    if ratio == -1:
        return f"your claim is -1 times {what}: a sign error"
    if ratio == 0:
        return f"your claim is 0, unlike {what}"
    extra = ""
    if ratio in (2, sp.Rational(1, 2)):
        extra = " (a dropped or an extra 1/2?)"
    elif ratio in (-2, -sp.Rational(1, 2)):
        extra = " (a sign error and a dropped or an extra 1/2?)"
    return f"your claim is {ratio} times {what}{extra}"


def _other_gradient(setting: _Setting, claim_values, gradient: ElementGradient) -> str | None:
    """'your claim is dE/dW2_21' when it matches another element's gradient."""
    for node in setting.graph.params():
        shape = node.shape
        for flat in range(len(setting.scalar.symbols[node.name])):
            index = _unflat(flat, shape)
            other = setting.scalar.gradient(node.name, index)
            if other.symbol == gradient.symbol:
                continue
            values = [setting.number(other.expr, k) for k in range(len(claim_values))]
            if all(_close(a, b) for a, b in zip(claim_values, values)):
                note = f"your claim equals d{setting.scalar.loss_symbol}/d{other.symbol}, the gradient of another weight"
                if node.name == gradient.param and len(index) == 2 and tuple(reversed(index)) == tuple(gradient.index):
                    note += f" (row and column swapped: {node.name}_jk connects input k to output j)"
                return note
    return None


def _factor_notes(
    setting: _Setting, factors: list[ClaimFactor], gradient: ElementGradient, points
) -> tuple[list[str], list[Factor]]:
    """Notes on the claim's factors, and the chain factors no factor of the claim matched."""
    chain = _refined_chain(setting, list(gradient.factors))
    if len(factors) > 10 or (len(factors) < 2 and len(chain) < 2):
        return [], chain
    user = []
    for f in factors:
        value = f.value[0, 0] if is_array(f.value) and f.value.shape == (1, 1) else f.value
        if is_array(value):
            return [], chain
        user.append([setting.number(value, k) for k in points])
    segments = {}
    for p in range(len(chain)):
        for q in range(p, len(chain)):
            segments[(p, q)] = [setting.number(sp.Mul(*(f.expr for f in chain[p : q + 1])), k) for k in points]
    subsets = {0: [mpmath.mpc(1)] * len(points)}
    for mask in range(1, 1 << len(user)):
        low = mask & -mask
        i = low.bit_length() - 1
        subsets[mask] = [_mul(a, b) for a, b in zip(subsets[mask ^ low], user[i])]

    memo: dict[tuple[int, int], tuple[int, int, list]] = {}

    def search(p: int, used: int) -> tuple[int, int, list]:
        """(chain factors matched, -user factors used, matches) from chain position p on."""
        if p == len(chain):
            return 0, 0, []
        key = (p, used)
        if key in memo:
            return memo[key]
        best = search(p + 1, used)
        free = ((1 << len(user)) - 1) & ~used
        for q in range(p, len(chain)):
            target = segments[(p, q)]
            mask = free
            while mask:
                if all(_close(a, b, DIGITS) for a, b in zip(subsets[mask], target)):
                    rest = search(q + 1, used | mask)
                    candidate = (rest[0] + q - p + 1, rest[1] - bin(mask).count("1"), [(p, q, mask), *rest[2]])
                    if candidate[:2] > best[:2]:
                        best = candidate
                mask = (mask - 1) & free
        memo[key] = best
        return best

    _, _, matches = search(0, 0)
    covered = {i for p, q, _ in matches for i in range(p, q + 1)}
    used = 0
    for _, _, mask in matches:
        used |= mask
    spare = [i for i in range(len(user)) if not used >> i & 1 and not _is_one(user[i])]
    runs = _runs([i for i in range(len(chain)) if i not in covered])
    notes = []
    if matches and (runs or spare):
        agreed = ", ".join(f"{_numbers(m)} = {_label(chain, p, q)}" for p, q, m in matches)
        notes.append(f"agrees with the chain rule: {agreed}")

    def wrote(indices: list[int]) -> str:
        texts = " * ".join(_wrap(factors[i].text) for i in indices)
        return f"factor{'s' if len(indices) > 1 else ''} {', '.join(str(i + 1) for i in indices)}: you wrote {texts}"

    if len(runs) == 1 and spare:
        p, q = runs[0]
        expr = sp.Mul(*(f.expr for f in chain[p : q + 1]))
        note = f"{wrote(spare)}; {_label(chain, p, q)} = {_sstr(expr)}"
        product = [mpmath.mpc(1)] * len(points)
        for i in spare:
            product = [_mul(a, b) for a, b in zip(product, user[i])]
        ratio = _constant_ratio(product, segments[(p, q)])
        if ratio is not None and ratio != 1:
            note += f" ({ratio} times it)"
        notes.append(note)
    elif len(runs) == 1:
        p, q = runs[0]
        expr = sp.Mul(*(f.expr for f in chain[p : q + 1]))
        notes.append(f"missing factor: {_label(chain, p, q)} = {_sstr(expr)}")
    elif not runs and spare:
        notes.append(f"extra {wrote(spare)} (the chain rule has no such factor)")
    elif runs:
        for p, q in runs:
            expr = sp.Mul(*(f.expr for f in chain[p : q + 1]))
            notes.append(f"no factor of yours equals {_label(chain, p, q)} = {_sstr(expr)}")
        if spare:
            notes.append(f"{wrote(spare)} (matches no factor of the chain rule)")
    return notes, [chain[i] for i in range(len(chain)) if i not in covered]


def _refined_chain(setting: _Setting, chain: list[Factor]) -> list[Factor]:
    """A fused output step split back into dE/da * da/dz, the way people derive it by hand.

    The derivation fuses an output activation with the loss when that simplifies
    (sigmoid + binary cross-entropy gives ``a - t``); a person writes the two factors.
    Their product is the fused factor, so matching against the finer chain is still exact
    (a run of chain factors can match one factor of the claim).
    """
    graph, scalar = setting.graph, setting.scalar
    first = chain[0]
    if first.of != scalar.loss_symbol:
        return chain
    loss = graph.nodes[graph.loss]
    output = graph.nodes[loss.inputs[0]]
    if not isinstance(output.op, Activation) or not isinstance(loss.op, Loss) or output.inputs[0] not in scalar.symbols:
        return chain
    zs = scalar.symbols[output.inputs[0]]
    if first.wrt not in zs:
        return chain
    position = zs.index(first.wrt)
    a = scalar.symbols[output.name][position]
    t = scalar.symbols[loss.inputs[1]][position]
    dloss = loss.op.scale(len(zs)) * loss.op.derivative.xreplace({registry.Y: a, registry.T: t})
    dact = output.op.derivative.xreplace({registry.Z: first.wrt, registry.A: a})
    return [Factor(first.of, a, dloss), Factor(a, first.wrt, dact), *chain[1:]]


def _softmax_note(setting: _Setting, unmatched: list[Factor]) -> list[str]:
    """The softmax coupling, when a factor the claim got wrong goes through a softmax's input."""
    for node in setting.graph.nodes.values():
        if isinstance(node.op, Softmax) and node.name in setting.graph.needs_grad:
            a, z = node.name, node.inputs[0]
            inside = set(setting.scalar.symbols[z]) | set(setting.scalar.symbols[a])
            if not any(f.wrt in inside or f.of in inside for f in unmatched):
                continue
            return [
                f"{a} is a softmax of {z}: every {a}_i depends on every {z}_k, so dE/d{z}_k = "
                f"sum over i of dE/d{a}_i * {a}_i*(delta_ik - {a}_k) (with cross-entropy: {a}_k - t_k)"
            ]
    return []


def _label(chain: list[Factor], p: int, q: int) -> str:
    return f"d{chain[p].of}/d{chain[q].wrt}"


def _numbers(mask: int) -> str:
    indices = [str(i + 1) for i in range(mask.bit_length()) if mask >> i & 1]
    return f"factor{'s' if len(indices) > 1 else ''} {', '.join(indices)}"


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _mul(a, b):
    if a is None or b is None:
        return None
    with mpmath.workdps(DIGITS):
        return a * b


def _is_one(values) -> bool:
    return all(_close(v, mpmath.mpc(1)) for v in values)


def _wrap(text: str) -> str:
    if re.fullmatch(r"[\w.\[\], ]+", text) or re.fullmatch(r"\(.*\)(\.T)?", text):
        return text
    return f"({text})"


def _matrix_notes(setting: _Setting, value, expected, k: int) -> list[str]:
    claim = [setting.number(e, k) for e in value]
    correct = [setting.number(e, k) for e in expected]
    notes = []
    nonzero = [(c, g) for c, g in zip(claim, correct) if g is not None and abs(g) > 1e-12]
    if nonzero and len(nonzero) == len(correct):
        ratio = _constant_ratio([c for c, _ in nonzero], [g for _, g in nonzero])
        if ratio is not None:
            notes.append(_ratio_note(ratio, "the correct matrix"))
    rows, cols = expected.shape
    if rows == cols and rows > 1:
        transposed = [setting.number(expected[j, i], k) for i in range(rows) for j in range(cols)]
        if all(_close(a, b) for a, b in zip(claim, transposed)):
            notes.append("your matrix is the transpose of the correct one (W has shape (outputs, inputs))")
    return notes


# -- claims files and reports ---------------------------------------------------------------------

CLAIM_FIELDS = {"wrt", "claim", "claim_latex", "id", "note", "expect", "mistake", "diagnosis"}


def load_claims(path: str | Path) -> list[dict[str, Any]]:
    """A claims file: a YAML list of {wrt, claim} / {wrt, claim_latex}, or {claims: [...]}.

    Optional per claim: ``id`` and ``note`` (shown in the report); ``expect``, ``mistake`` and
    ``diagnosis`` are used by the test corpus and ignored here.
    """
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(source, "file", f"cannot read the claims file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise SpecError(source, where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    return parse_claims(data, source)


def parse_claims(data: Any, source: str = "<python>") -> list[dict[str, Any]]:
    if isinstance(data, dict) and "claims" in data:
        data = data["claims"]
    if not isinstance(data, list) or not data:
        raise SpecError(source, "claims", "expected a non-empty list of {wrt: ..., claim: ...} entries")
    claims = []
    for i, item in enumerate(data):
        where = f"claims[{i}]"
        if not isinstance(item, dict):
            raise SpecError(source, where, "expected a mapping with wrt and claim (or claim_latex)")
        unknown = sorted(set(map(str, item)) - CLAIM_FIELDS)
        if unknown:
            raise SpecError(source, f"{where}.{unknown[0]}", f"unknown field; expected {', '.join(sorted(CLAIM_FIELDS))}")
        if "wrt" not in item:
            raise SpecError(source, f"{where}.wrt", "missing; say which parameter, e.g. W2[0,0] or W2")
        if ("claim" in item) == ("claim_latex" in item):
            raise SpecError(source, where, "give exactly one of claim and claim_latex")
        for key in ("wrt", "claim", "claim_latex"):
            if key in item and not isinstance(item[key], str):
                raise SpecError(source, f"{where}.{key}", f"expected text, got {item[key]!r}")
        claims.append(dict(item))
    return claims


def check_claims(verifier: Verifier, claims: list[dict[str, Any]], source: str = "<python>") -> list[VerifyResult]:
    results = []
    for i, item in enumerate(claims):
        try:
            results.append(verifier.check(item["wrt"], item.get("claim"), claim_latex=item.get("claim_latex")))
        except SpecError:
            raise
        except SymPropError as exc:
            raise SpecError(source, f"claims[{i}]", str(exc)) from None
    return results


def markdown_report(name: str, claims: list[dict[str, Any]], results: list[VerifyResult]) -> str:
    right = sum(r.correct for r in results)
    lines = [
        f"# symprop verify: {name}",
        "",
        f"{len(results)} claims: {right} correct, {len(results) - right} wrong.",
        "",
        "| # | wrt | claim (as read) | verdict | why |",
        "| --- | --- | --- | --- | --- |",
    ]
    labels = [str(item.get("id", i)) for i, item in enumerate(claims, start=1)]
    for label, result in zip(labels, results):
        verdict = "correct" if result.correct else "**wrong**"
        why = result.method if result.correct else "; ".join(_main_findings(result)) or result.method
        lines.append(f"| {_cell(label)} | {_cell(result.wrt)} | `{_cell(result.understood)}` | {verdict} | {_cell(why)} |")
    wrong = [(label, r) for label, r in zip(labels, results) if not r.correct]
    if wrong:
        lines += ["", "## Wrong claims", ""]
        for label, result in wrong:
            lines += [f"### {label}: d{result.loss}/d{result.wrt}", "", "```", str(result), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def json_report(name: str, claims: list[dict[str, Any]], results: list[VerifyResult]) -> str:
    payload = {
        "network": name,
        "summary": {"claims": len(results), "correct": sum(r.correct for r in results)},
        "results": [{"id": c.get("id", i), **r.to_dict()} for i, (c, r) in enumerate(zip(claims, results), start=1)],
    }
    return json.dumps(payload, indent=2) + "\n"


def _main_findings(result: VerifyResult) -> list[str]:
    """The diagnosis lines that say what is wrong (not which factors agree)."""
    skip = ("agrees with the chain rule", "the cross-entropy's targets", "at sizes ")
    findings = [line for line in result.diagnosis if not line.startswith(skip)]
    return findings[:2] or result.diagnosis[:2]


def _short(text: str, limit: int = 80) -> str:
    """A claim quoted in an error message, shortened if long."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# -- the public function --------------------------------------------------------------------------


def verify(network, wrt: str, claim: str | None = None, *, claim_latex: str | None = None) -> VerifyResult:
    """Check a hand-derived dE/d``wrt``.

    ``network``: a spec path, a ``Network`` or a ``Derivation``.  ``wrt``: ``"W2[0,0]"``
    (0-based), ``"W2_11"`` (1-based element name), or ``"W2"`` for a whole-matrix claim.
    ``claim``: plain math (see ``symprop.claims``); or ``claim_latex``: LaTeX.
    To check many claims about one network, use ``Verifier(network).check(...)``.
    """
    return Verifier(network).check(wrt, claim, claim_latex=claim_latex)
