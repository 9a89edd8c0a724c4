"""Exercises on a network: which questions to ask, and their answers at a point.

A worksheet asks a small fixed set of questions chosen from the network's structure alone
(``plan``): one forward value, one local derivative, the gradient of one output-layer weight,
of one hidden-layer weight and of one bias, each gradient with the weight after one step of
gradient descent.  The answers come from the per-weight view (``Derivation.scalar``) at a
point: the spec's worked example by default, or any other values of the inputs, targets and
weights (``Point``), so a variant of the same network with other numbers re-uses the same
questions and only its numbers change.  Nothing here is LaTeX: ``emit/latex/exercises.py``
writes the worksheet and its answer key from an ``Exercises``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from .errors import SymPropError
from .ops import at_elements
from .scalar import evaluate
from .spec import flatten

if TYPE_CHECKING:
    from .derivation import Derivation

#: The kinds of question, in the order a worksheet asks them (a class set's questions YAML may
#: also ask a whole parameter's gradient as a formula: ``matrix``).
KINDS = ("forward", "local", "output_weight", "hidden_weight", "bias", "matrix")


@dataclass(frozen=True)
class Point:
    """Values of the leaves (inputs, targets, parameters) by node name, each a number or a
    nested list as a spec's ``example`` gives them, and the learning rate (or None)."""

    leaves: dict[str, object]
    learning_rate: float | None = None


@dataclass(frozen=True)
class Ask:
    """One question of the plan: d``of``/d``wrt`` (``local``), dE/d``of`` (a gradient kind,
    ``of`` a parameter element) or the value of ``of`` (``forward``)."""

    kind: str
    of: sp.Symbol
    wrt: sp.Symbol | None = None
    #: the inputs of gate units (ReLU's ``z``) the question is about switched off (``z < 0``): a
    #: class set's draw keeps them below the kink, and every other asked gate above it
    off: tuple[sp.Symbol, ...] = ()


@dataclass(frozen=True)
class FactorValue:
    """One chain-rule factor d``of``/d``wrt`` of a gradient, its formula in forward values and its value."""

    of: sp.Symbol
    wrt: sp.Symbol
    expr: sp.Expr
    value: sp.Float


@dataclass(frozen=True)
class Question:
    """One question with its answer: ``value`` is what the blank asks for, ``formula`` the same in
    forward values; a gradient also has its chain-rule ``factors`` and, with a learning rate, the
    weight's value now (``current``) and after one step (``updated``)."""

    number: int
    kind: str
    of: sp.Symbol
    wrt: sp.Symbol | None
    formula: sp.Expr
    value: sp.Float
    factors: tuple[FactorValue, ...] = ()
    current: sp.Float | None = None
    updated: sp.Float | None = None
    # a class set's worksheet: the question id of each blank (the value's, the step's), the id
    # of a formula asked beside it, and a "which factor" question's options (letter, formula)
    labels: tuple[str | None, ...] = ()
    formula_label: str | None = None
    choices: tuple[tuple[str, sp.Expr], ...] = ()

    @property
    def answers(self) -> tuple[sp.Float, ...]:
        """Every number a blank asks for (a gradient's and its updated weight; none for a matrix)."""
        if self.kind == "matrix":
            return ()
        return (self.value,) if self.updated is None else (self.value, self.updated)


@dataclass(frozen=True)
class Exercises:
    """The questions on one network at one point, with every element's value there."""

    point: Point
    values: dict[sp.Symbol, sp.Float]  # every element's value (leaves as given, to 30 digits)
    rate: float | None  # the step's learning rate: None without one, or without targets (no loss to descend)
    given: tuple[sp.Symbol, ...]  # forward values the worksheet gives (every one but the loss and those asked)
    questions: tuple[Question, ...]


def step_rate(derivation: Derivation, learning_rate: float | None) -> float | None:
    """The learning rate of a step of gradient descent, or None: none is given, or the network
    has no targets (its output is differentiated, as the computational-graph lecture does, but
    it is not a loss, and a step on it would mean nothing)."""
    return learning_rate if learning_rate is not None and derivation.graph.leaves("target") else None


#: Who asks for the worked example, as the error without one names it: the Python API (a
#: ``Derivation``'s exercises methods, which take ``point=`` instead) unless the CLI says ``--exercises``.
API_ASKER = "the exercises (exercises(), write_exercises(), exercises_latex())"


def example_point(derivation: Derivation, asker: str = API_ASKER) -> Point:
    """The spec's worked example as a ``Point``; an error naming the spec, and what needed it
    (``asker``), without one."""
    network = derivation.network
    example = network.example
    if example is None:
        other = "" if asker != API_ASKER else ", or pass point= (a symprop.exercises.Point: the numbers to ask about)"
        raise SymPropError(
            f"{network.source}: example: {asker} {'need' if asker == API_ASKER else 'needs'} a worked example (the numbers"
            f" its questions ask about); add an 'example' with the inputs, targets and parameters{other}"
        )
    if getattr(network, "kind", "layers") == "graph":
        leaves = {**example.inputs, **example.targets, **example.params}
    else:
        leaves = {"x": list(example.x), "t": list(example.t), **example.params}
    return Point(leaves, example.learning_rate)


def plan(derivation: Derivation) -> tuple[Ask, ...]:
    """The questions to ask, from the network's structure alone (never from numbers).

    Weights and biases: the first element of each parameter, in the order backpropagation
    reaches them; a bias is one whose last chain-rule factor is 1 (``dz/db = 1``).  The output
    weight is the first weight reached, the hidden weight the last (when there are two), the
    bias the last bias (the deepest: its gradient goes through the most factors).  The forward
    values are the first value computed from the deepest weight (``z`` of its unit) and, when an
    activation takes it, the unit's output ``a`` (the worksheet gives neither: relu's a is its z).
    The local derivative is the first activation's at its first unit (``da/dz``), or else that of
    the step nearest the loss that reads one computed value (a graph spec's gate: CS231n's 1/x).

    A gate activation (ReLU: a derivative of constant pieces, 1 or 0) of two units or more is
    asked about both ways, as a teacher would: on at one unit, its slope 1, and where a student
    who forgot its derivative gets the right number anyway; so its first unit is asked switched
    off (``Ask.off``): the forward values there (``z < 0``, ``a = 0``, not a copy of ``z``) and
    the hidden weight's gradient through it (0, where the forgotten derivative gives a number
    that is not), while the local derivative, the output weight and the bias are asked where
    the unit is on (the first element whose gradient does not read the switched-off unit).
    """
    scalar = _scalar(derivation)
    graph = derivation.graph
    order = {name: i for i, name in enumerate(graph.nodes)}
    params = sorted(graph.params(), key=lambda p: -order[graph.consumers(p.name)[0].name])
    chains = {p.name: scalar.gradient(p.name, (0,) * len(p.shape)) for p in params}
    biases = [p.name for p in params if len(chains[p.name].factors) > 1 and chains[p.name].factors[-1].expr == 1]
    weights = [p.name for p in params if p.name not in biases]
    deepest = weights[-1] if weights else (biases[-1] if biases else None)
    fed = scalar.users[chains[deepest].symbol][0] if deepest is not None else None
    off = _switched_off(derivation, fed) if fed is not None else ()
    avoided = {*off, *(a for z in off for a in _activated(derivation, z))}

    def on(name: str) -> sp.Symbol:
        """The first element of ``name`` whose gradient reads no switched-off unit."""
        node = graph.nodes[name]
        for index in np.ndindex(*node.shape):
            chain = scalar.gradient(name, index)
            if not chain.expr.free_symbols & avoided:
                return chain.symbol
        return chains[name].symbol

    asked = [
        *([Ask("output_weight", on(weights[0]))] if weights else []),
        *([Ask("hidden_weight", chains[weights[-1]].symbol, off=off)] if len(weights) > 1 else []),
        *([Ask("bias", on(biases[-1]))] if biases else []),
    ]
    asks = []
    if fed is not None:
        asks += [Ask("forward", fed, off=off)] + [Ask("forward", a, off=off) for a in _activated(derivation, fed)]
    local = _local_derivative(derivation, avoided)
    if local is not None:
        asks.append(local)
    return (*asks, *asked)


def exercises(derivation: Derivation, point: Point | None = None) -> Exercises:
    """The plan's questions answered at ``point`` (the spec's worked example by default)."""
    point = point if point is not None else example_point(derivation)
    scalar = _scalar(derivation)
    given_values: dict[sp.Symbol, object] = {}
    for name, value in point.leaves.items():
        for symbol, number in zip(scalar.symbols[name], flatten(value)):
            given_values[symbol] = number
    values = scalar.forward_values(given_values)
    graph = derivation.graph
    rate = step_rate(derivation, point.learning_rate)
    questions = []
    for number, ask in enumerate(plan(derivation), start=1):
        if ask.kind == "forward":
            formula = scalar.definitions[ask.of]
            questions.append(Question(number, ask.kind, ask.of, None, formula, values[ask.of]))
        elif ask.kind == "local":
            formula = local_formula(derivation, ask.of, ask.wrt)
            questions.append(Question(number, ask.kind, ask.of, ask.wrt, formula, evaluate(formula, values)))
        else:
            node, index = scalar.element_of(ask.of)
            chain = scalar.gradient(node, index)
            # a weight that feeds the loss itself: no dE/dE = 1 factor (f = q z: df/dz = q)
            factors = tuple(
                FactorValue(f.of, f.wrt, f.expr, evaluate(f.expr, values)) for f in chain.factors if f.wrt != scalar.loss_symbol
            )
            value = evaluate(chain.expr, values)
            updated = values[ask.of] - sp.Float(rate, 30) * value if rate is not None else None
            current = values[ask.of] if rate is not None else None
            questions.append(Question(number, ask.kind, ask.of, None, chain.expr, value, factors, current, updated))
    return Exercises(point, values, rate, shown_values(graph, scalar, questions, values), tuple(questions))


def shown_values(graph, scalar, questions, values) -> tuple[sp.Symbol, ...]:
    """The forward values a worksheet gives, in the order they are computed: every computed
    element but the loss, those a question asks for, those computed from them (given ``f_c = f_a
    + f_b`` and ``f_b``, a student would read ``f_a`` off by one subtraction; a later question
    that reads one says which answer it needs, ``needed_answers``) and those that print an asked
    one's number (a live ReLU's ``a`` is its ``z``).  Where the output of a gate activation (ReLU)
    is asked, none of its units' outputs is given: each is the listed ``z`` or 0, the very rule
    the question asks for, and a live unit's would print its ``z`` a second time."""
    asked = [q for q in questions if q.kind == "forward"]
    hidden = {q.of for q in asked}
    for q in asked:
        node = graph.nodes[scalar.element_of(q.of)[0]]
        if node.op.role == "op" and _gate(node.op):
            hidden.update(scalar.symbols[node.name])
    shown = []
    for node in graph.nodes.values():
        if node.op.role != "op" or node.name == graph.loss:
            continue
        for symbol in scalar.symbols[node.name]:
            definition = scalar.definitions.get(symbol)
            computed_from_hidden = definition is not None and definition.free_symbols & hidden
            if symbol in hidden or computed_from_hidden or answered_by(asked, symbol, values) is not None:
                hidden.add(symbol)  # and what is computed from it: it would give the answer away too
            else:
                shown.append(symbol)
    return tuple(shown)


def needed_answers(questions, symbol: sp.Symbol, values, definitions) -> set[int]:
    """The forward questions whose answers a worksheet's hidden value ``symbol`` needs: its own
    (``answered_by``), or those of the asked values it is computed from."""
    own = answered_by(questions, symbol, values)
    if own is not None:
        return {own}
    found, stack, seen = set(), [symbol], set()
    while stack:
        for read in definitions.get(stack.pop(), sp.S.Zero).free_symbols - seen:
            seen.add(read)
            number = answered_by(questions, read, values)
            if number is not None:
                found.add(number)
            elif read in definitions:
                stack.append(read)
    return found


def answered_by(questions, symbol: sp.Symbol, values) -> int | None:
    """The number of the forward question whose answer is ``symbol``'s value (sign aside, to 8
    decimals), or None: a worksheet hides such a value, and a question reading it says so.  An
    answer of 0 (a switched-off ReLU's) is no other value's: a 0 elsewhere gives nothing away."""
    asked = [q for q in questions if q.kind == "forward"]
    same = [q.number for q in asked if q.of == symbol]
    equal = [q.number for q in asked if q.value != 0 and abs(abs(values[symbol]) - abs(q.value)) < sp.Float("5e-9")]
    return (same or equal or [None])[0]


def _scalar(derivation: Derivation):
    """The per-weight view the answers come from; an error line when the network has none."""
    refusal = derivation.scalar_refusal
    if refusal is not None:
        raise SymPropError(f"{derivation.network.source}: --exercises needs the per-weight view, and it has {refusal}")
    return derivation.scalar


def _activated(derivation: Derivation, symbol: sp.Symbol) -> list[sp.Symbol]:
    """``[a]`` when ``symbol`` (a ``z``) feeds only an activation (not softmax), else ``[]``."""
    scalar = derivation.scalar
    node, index = scalar.element_of(symbol)
    consumers = derivation.graph.consumers(node)
    if len(consumers) != 1 or not consumers[0].op.activation or consumers[0].op.coupled:
        return []
    return [scalar.symbols[consumers[0].name][scalar.symbols[node].index(symbol)]]


def _switched_off(derivation: Derivation, z: sp.Symbol) -> tuple[sp.Symbol, ...]:
    """``(z,)`` when ``z`` feeds only a gate activation (a derivative of constant pieces: ReLU's
    1 or 0) of two units or more, which the plan then asks about switched off; else ``()``."""
    activated = _activated(derivation, z)
    if not activated:
        return ()
    node = derivation.graph.nodes[derivation.scalar.element_of(activated[0])[0]]
    return (z,) if _gate(node.op) and len(derivation.scalar.symbols[node.name]) > 1 else ()


def _gate(op) -> bool:
    """Whether ``op`` is a gate activation: its derivative is constant pieces (ReLU's 1 or 0)."""
    if not op.activation or op.coupled:
        return False
    slope = op.derivative
    return isinstance(slope, sp.Piecewise) and all(piece.is_number for piece, _ in slope.args)


def _local_derivative(derivation: Derivation, avoided: set) -> Ask | None:
    """da/dz of the first activation (not softmax: its Jacobian is no single factor) at its first
    unit not ``avoided`` (switched off); else, from the loss back, the first step that reads
    exactly one computed value."""
    scalar = derivation.scalar
    graph = derivation.graph
    for node in graph.nodes.values():
        if node.op.role == "op" and node.op.activation and not node.op.coupled:
            # asked even where a fused loss skips it (sigmoid + BCE): a(1 - a) is still its slope
            units = list(zip(scalar.symbols[node.name], scalar.symbols[node.inputs[0]]))
            a, z = next(((a, z) for a, z in units if z not in avoided), units[0])
            return Ask("local", a, z)
    for node in reversed(list(graph.nodes.values())):
        if node.op.role != "op":
            continue
        for symbol in scalar.symbols[node.name]:
            read = [s for s in scalar.definitions[symbol].free_symbols if s in scalar.definitions]
            if symbol in scalar.adjoints and len(read) == 1 and not scalar.local(symbol, read[0]).is_number:
                return Ask("local", symbol, read[0])
    return None


def local_formula(derivation: Derivation, of: sp.Symbol, wrt: sp.Symbol) -> sp.Expr:
    """d``of``/d``wrt`` in forward values: an activation's as the registry presents it (``a(1 - a)``)."""
    scalar = derivation.scalar
    node = derivation.graph.nodes[scalar.element_of(of)[0]]
    if node.op.activation:
        return at_elements(node.op.derivative, z=wrt, a=of)
    return scalar.local(of, wrt)
