"""Deciding claims about large networks with numbers: the claim against the backward pass.

The exact check (``decide``) needs the per-weight view, which stops at ``SCALAR_LIMIT``
parameters.  Above it (self-attention, an LSTM over time) and for claims only the tensor
reader understands (adjoints, index notation), a claim is decided numerically:

1. the claim is read and evaluated (``tensor_claims``) at every point of ``probe``: per
   sample, at ``SEEDS`` random parameter draws times ``SAMPLES`` samples, in float64, with
   the forward values and adjoints the module's own lines computed there;
2. it is compared with the gradient the backward pass computed at that point (itself checked
   against autograd and central differences by the test-suite), element by element:
   ``|claim - correct| <= RTOL (|claim| + |correct|) + ATOL max|correct|`` (the scale of the
   whole gradient, so that elements that should be 0 may carry rounding errors);
3. equal at every point: **correct** by numeric comparison; else **wrong**, with the point,
   the element and both values where they differ most, and the diagnosis (``tensor_diagnose``).

The risk of accepting a wrong claim: a claim that differs from the gradient only on a set the
random points miss (the kinks of relu, abs or max, where the spec's subgradient is a choice;
targets off the simplex for cross-entropy), or by less than ``ATOL`` of the gradient's scale
at every point (a term such as exp(-1e9) that float64 rounds to 0 anyway).  A claim that agrees
but holds a number float64 and ``RTOL`` cannot resolve (``1 + 1e-40``, ``1.0000000001``, ``1 + exp(-50)``)
gets no verdict (``refuse_fine_numbers``); a tiny term of the values (``exp(-50 * (1 + x**2))``) still passes.  A claim that
agrees with the gradient at six random points of a smooth network but is wrong elsewhere
would have to differ from it by a function vanishing at all six: it does not happen by chance.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from ..errors import SymPropError
from ..formula import FormulaError, FormulaReader
from .claim_values import ShapeError
from .decide import tiniest_constant
from .probe import SAMPLES, SEEDS, Point, Probe
from .reading import short
from .tensor_claims import Part, TensorReader
from .tensor_formulas import GradientFormulas
from .tensor_values import MASKS, Indexed, TensorNames, as_claim_value, describe
from .wrt_words import choose, no_gradient

#: Relative and absolute (times the gradient's largest element) tolerances of the comparison.
RTOL = 1e-9
ATOL = 1e-12
#: A number written, or a part of numbers only, below 1e-7 (``tiniest_constant`` 8 or more) gets no verdict: once multiplied
#: or raised, it can change the value by less than the comparison's 2 * RTOL + ATOL (``2**(1/10**9)``
#: is 1 + 6.9e-10; ``1 + 19/10**10`` is within 2 * RTOL): such wrong claims were judged correct.
TINY_PART = 8
#: A claim that agrees but holds a number with more significant digits (or below 1e-7) gets no verdict.
SIGNIFICANT = 9


class ClaimShapeError(SymPropError):
    """A claim whose shapes do not fit: inside it (``X @ dq`` of two 8x16), or with the gradient."""


_WRT = re.compile(r"^\s*([A-Za-z]\w*)\s*(?:\[([^\[\]]*)\])?\s*$")


@dataclass(frozen=True)
class TensorWrt:
    """What a claim differentiates by: a node, and for part of it the index of each axis
    (a whole number, or a letter naming a free index of an index-notation claim)."""

    node: str
    items: tuple[int | str, ...] | None  # None: the whole node
    name: str

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(i for i in self.items or () if isinstance(i, str))

    def part(self, array: np.ndarray) -> np.ndarray:
        """The part of the node's gradient the claim is about (letters keep their axes)."""
        if self.items is None:
            return array
        return array[tuple(slice(None) if isinstance(i, str) else i for i in self.items)]


@dataclass
class Evaluation:
    """A claim at every point, fitted to the gradient's shape (a claim of the transposed shape
    is transposed back, and says so)."""

    text: str
    values: list[np.ndarray]
    transposed_shape: bool  # the claim has the shape of the gradient's transpose
    reader: TensorReader  # the reader of the first point (what the claim used)


class TensorCheck:
    """Claims about one network decided with numbers (see the module docstring)."""

    def __init__(self, derivation):
        self.derivation = derivation
        self.graph = derivation.graph
        self.names = TensorNames(derivation)

    @cached_property
    def probe(self) -> Probe:
        return Probe(self.derivation)

    @cached_property
    def formulas(self) -> GradientFormulas:
        return GradientFormulas(self.derivation, self.probe.builder)

    @property
    def points(self) -> list[Point]:
        return self.probe.points

    @property
    def method(self) -> str:
        count = SEEDS * SAMPLES
        return f"numeric comparison at {count} random points ({SEEDS} parameter draws x {SAMPLES} samples, float64)"

    # -- what the claim is about ----------------------------------------------------------------

    def parse_wrt(self, text: str) -> TensorWrt:
        """``Wq`` (the whole parameter), ``Wq[2,3]`` (0-based element), ``Wq[i,j]`` (letters for
        index notation), ``Wq[i,3]``, or a 1-based element name ``W2_12``."""
        if not isinstance(text, str) or not text.strip():
            raise SymPropError("--wrt: give the parameter or element, e.g. Wq, Wq[2,3] or Wq[i,j]")
        match = _WRT.match(text)
        if not match:
            raise SymPropError(f"--wrt {text!r}: expected a name like Wq, Wq[2,3] or Wq[i,j]")
        name, inside = match.group(1), match.group(2)
        ref = self.names.resolve(name)
        if ref is None or ref.kind != "value":
            raise SymPropError(f"--wrt {text!r}: unknown node {name!r}; {self._hint()}")
        node, shape = ref.node, self.graph.nodes[ref.node].shape
        items: tuple | None = ref.index
        if inside is not None:
            if ref.index is not None:
                raise SymPropError(f"--wrt {text!r}: {name} is already one element")
            items = tuple(self._wrt_item(part.strip(), text) for part in inside.split(","))
            if len(items) != len(shape) or any(isinstance(i, int) and not 0 <= i < n for i, n in zip(items, shape)):
                raise SymPropError(f"--wrt {text!r}: {node} has shape {list(shape)} (indices in [] are 0-based)")
            letters = [i for i in items if isinstance(i, str)]
            if len(set(letters)) != len(letters):
                raise SymPropError(f"--wrt {text!r}: give each axis its own letter")
        self._check_node(node, text)
        shown = node if items is None else f"{node}[{','.join(map(str, items))}]"
        if ref.index is not None:  # a 1-based name as typed: --wrt W2_11 is not answered about W2[0,0]
            shown = name
        return TensorWrt(node, items, shown)

    def _wrt_item(self, part: str, text: str) -> int | str:
        if part.isdigit():
            return int(part)
        if re.fullmatch(r"[A-Za-z]\w*", part):
            return part
        raise SymPropError(f"--wrt {text!r}: an index is a whole number (0-based) or a letter")

    def _check_node(self, node: str, text: str) -> None:
        graph = self.graph
        role = graph.role(node)
        if node == graph.loss or node not in graph.needs_grad:
            raise SymPropError(f"--wrt {text}: {no_gradient(graph, node)}; {choose(self.derivation)}")
        if node not in self.names.with_adjoint:
            raise SymPropError(f"--wrt {text}: {self._fused(node)}")
        if role not in ("param", "op"):
            raise SymPropError(f"--wrt {text}: choose a parameter or an intermediate node")

    def _fused(self, node: str) -> str:
        inner = self.graph.nodes[node].inputs[0]
        return f"the backward pass computes no dE/d{node} ({node} is fused with the loss); claim dE/d{inner} instead"

    def _hint(self) -> str:
        return f"parameters: {', '.join(self.derivation.param_names)} (Wq[2,3] is 0-based; Wq[i,j] names indices)"

    def expected(self, wrt: TensorWrt) -> str:
        """The gradient as the backward pass computes it (the formulas of the module's comments),
        in the spec's names: a part the reader lettered (``p_b``) is written out."""
        terms = self.formulas.terms(wrt.node)
        text = " + ".join(terms)
        if len(text) > 300:
            text = text[:280].rsplit(" + ", 1)[0] + f" + ... ({len(terms)} terms)"
        if wrt.items is None:
            return text
        inner = f"({text})" if len(terms) > 1 or " " in text else text
        return f"{inner}[{', '.join(map(str, wrt.items))}]"

    # -- evaluating -------------------------------------------------------------------------------

    def correct(self, wrt: TensorWrt, point: Point) -> np.ndarray:
        return np.asarray(wrt.part(point.adjoints[wrt.node]), dtype=float)

    def scale(self, wrt: TensorWrt, point: Point) -> float:
        return float(np.max(np.abs(point.adjoints[wrt.node]), initial=0.0))

    def evaluate(self, wrt: TensorWrt, text: str, change: Part | None = None) -> Evaluation:
        """The claim at every point; SymPropError (one line) when it cannot be read or evaluated."""
        values, flipped, first = [], False, None
        for point in self.points:
            reader = TensorReader(text, self.names, point.values, point.adjoints, self.letter_ranges(wrt), change)
            try:
                with np.errstate(all="ignore"):
                    value = reader.read()
            except ShapeError as exc:
                raise ClaimShapeError(f"claim {short(text)}: {exc}") from None
            except FormulaError as exc:
                raise SymPropError(f"claim {short(text)}: {exc}") from None
            first = first or reader
            self._refuse_circular(wrt, reader, text)
            fitted, flipped = self._fit(wrt, value, point, text)
            values.append(fitted)
        return Evaluation(text, values, flipped, first)

    def letter_ranges(self, wrt: TensorWrt) -> dict[str, int]:
        """The letters of ``--wrt`` (the claim's free indices) and the size of the axis each names."""
        shape = self.graph.nodes[wrt.node].shape
        return {i: n for i, n in zip(wrt.items or (), shape) if isinstance(i, str)}

    def _refuse_circular(self, wrt: TensorWrt, reader: TensorReader, text: str) -> None:
        if any(ref.kind == "adjoint" and ref.node == wrt.node for ref in reader.refs):
            raise SymPropError(f"claim {short(text)}: it uses d{wrt.node}, the very gradient it claims")

    def _fit(self, wrt: TensorWrt, value, point: Point, text: str) -> tuple[np.ndarray, bool]:
        """The claim as an array of the gradient's shape, and whether it had the transposed shape."""
        target = self.correct(wrt, point)
        letters = wrt.letters
        if isinstance(value, Indexed):
            extra = [label for label in value.labels if label not in letters]
            if extra:  # cannot happen: the reader refuses unbound letters
                raise SymPropError(f"claim {short(text)}: index {extra[0]} is neither summed nor in --wrt")
            order = [value.labels.index(letter) for letter in letters if letter in value.labels]
            data = np.transpose(value.data, order)
            shape = [target.shape[k] if letter in value.labels else 1 for k, letter in enumerate(letters)]
            return np.broadcast_to(data.reshape(shape), target.shape).astype(float), False
        array = np.asarray(value, dtype=float)
        if not array.ndim or array.size == 1 and not target.ndim:
            return np.broadcast_to(array.reshape(()), target.shape).astype(float), False
        if letters:
            raise SymPropError(
                f"claim {short(text)}: it is {describe(value)}; with --wrt {wrt.name} write it in index notation "
                f"({wrt.node}'s indices {', '.join(letters)}), or give --wrt {wrt.node} for an array"
            )
        expected = as_claim_value(target, target.shape)
        if array.shape == np.shape(expected):
            return array.reshape(target.shape), False
        if target.ndim == 1 and array.shape == (1, target.shape[0]):
            return array.reshape(target.shape), False
        if array.ndim == target.ndim >= 2 and array.shape == target.shape[::-1]:
            return np.transpose(array), True
        what = "a number" if not target.ndim else describe(expected)
        raise ClaimShapeError(f"claim {short(text)}: it is {describe(value)}, but dE/d{wrt.name} is {what}")

    def refuse_fine_numbers(self, evaluation: Evaluation) -> None:
        """A claim that agrees, but holds a number finer than the comparison tells apart (``1e-40``,
        ``1.0000000001``, ``exp(-50)``, ``10**-60``): float64 and ``RTOL`` could not see what it
        changes, so no verdict.  A part of numbers only is computed exactly (``exp(-800)`` is 0 in float64)."""
        for number in evaluation.reader.numbers:
            if number and (abs(number) < 10 ** (1 - TINY_PART) or sp.Rational(f"{float(number):.{SIGNIFICANT}g}") != number):
                raise SymPropError(
                    f"claim {short(evaluation.text)}: the number {float(number):.12g} is finer than this network's "
                    f"numeric comparison tells apart (float64, relative {RTOL:g}); it cannot decide such a claim"
                )
        reader = evaluation.reader
        parts = [node for node in ast.walk(reader.tree.body) if _numbers_only(node, self.names)]
        for node in reversed(parts):  # the innermost first
            tiniest, typed = self._tiniest(ast.unparse(node)), reader.original(node)
            if tiniest is None or tiniest >= TINY_PART:
                size = f"is about 1e-{tiniest}, too small for" if tiniest is not None else "cannot be computed exactly for"
                raise SymPropError(
                    f"claim {short(evaluation.text)}: its part {short(typed)} {size} this network's numeric "
                    f"comparison to rule on (float64, relative {RTOL:g}); it cannot decide such a claim"
                )

    def _tiniest(self, text: str) -> int | None:
        """-log10 of the smallest constant in the exact value of a part of numbers (None: unreadable exactly)."""
        exact = {"pi": sp.pi, "e": sp.E}
        symbols = {name: exact.get(name, sp.Float(value)) for name, value in self.names.constants.items()}
        try:
            return tiniest_constant(FormulaReader(text, symbols, self.names.scalar_functions).read())
        except (FormulaError, SymPropError, TypeError, ValueError, ArithmeticError):
            return None

    # -- comparing ----------------------------------------------------------------------------------

    def agrees(self, wrt: TensorWrt, values: list[np.ndarray], candidates=None) -> bool:
        """Whether ``values`` (one array per point) equal ``candidates`` (default: the gradient) everywhere."""
        for k, point in enumerate(self.points):
            expected = self.correct(wrt, point) if candidates is None else candidates[k]
            if not self.same(wrt, values[k], expected, point):
                return False
        return True

    def same(self, wrt: TensorWrt, claim, other, point: Point) -> bool:
        """Whether ``claim`` equals ``other`` at ``point`` (both arrays of the gradient's part's shape)."""
        if claim is None or other is None:
            return False
        return not _differs(claim, np.asarray(other, dtype=float), self.scale(wrt, point)).any()

    def worst(self, wrt: TensorWrt, values: list[np.ndarray]) -> tuple[int, tuple[int, ...]] | None:
        """(point, element) where the claim differs most from the gradient, or None if it agrees nowhere apart."""
        found, largest = None, -1.0
        for k, point in enumerate(self.points):
            correct = self.correct(wrt, point)
            differs = _differs(values[k], correct, self.scale(wrt, point))
            if not differs.any():
                continue
            with np.errstate(all="ignore"):
                gap = np.where(differs, np.abs(values[k] - correct), -1.0)
            gap = np.where(np.isnan(gap), np.inf, gap).reshape(-1)
            flat = int(np.argmax(gap))
            if gap[flat] > largest:
                found, largest = (k, np.unravel_index(flat, correct.shape) if correct.ndim else ()), float(gap[flat])
        return found

    def element_name(self, wrt: TensorWrt, element: tuple[int, ...]) -> str:
        """The element of the wrt node a position of the claim's array is (``Wq[2, 3]``)."""
        if wrt.items is None:
            full = element
        else:
            rest = iter(element)
            full = tuple(next(rest) if isinstance(i, str) else i for i in wrt.items)
        return f"{wrt.node}[{', '.join(str(int(i)) for i in full)}]" if full else wrt.node


def _differs(claim: np.ndarray, correct: np.ndarray, scale: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        gap = np.abs(claim - correct)
        bound = RTOL * (np.abs(claim) + np.abs(correct)) + ATOL * scale
        same = (np.isfinite(claim) & (gap <= bound)) | (claim == correct)  # inf is never within a bound
    return ~same


def _numbers_only(node: ast.AST, names: TensorNames) -> bool:
    """Whether ``node`` computes a number from numbers only (``exp(-50)``, ``2 * pi``; not ``3``,
    nor ``tril(6)``, a mask made from a number)."""
    if not isinstance(node, (ast.Call, ast.BinOp, ast.UnaryOp)):
        return False
    calls = [part for part in ast.walk(node) if isinstance(part, ast.Call)]
    if any(isinstance(call.func, ast.Name) and call.func.id in MASKS for call in calls):
        return False
    called = {id(call.func) for call in calls}
    for part in ast.walk(node):
        if isinstance(part, (ast.Subscript, ast.Attribute, ast.keyword)):
            return False
        if isinstance(part, ast.Name) and id(part) not in called:
            if part.id not in names.constants or names.resolve(part.id) is not None:
                return False
    return True
