"""The per-weight view of a derivation, for small networks: one sample, scalar elements.

Every node's elements get a symbol (``x_1``, ``z1_2``, ``a2_1``, ``W2_12``, ``t_1``, see
``naming``).  ``definition`` says how each op element is computed from the elements of its
inputs; the reverse pass below mirrors ``Derivation``'s, element by element, so the adjoint
of every element is an expression in *forward values* (what the tutorials write:
``(a2_1 - t_1) * a2_1 * (1 - a2_1) * a1_1``).  ``expand`` substitutes the definitions
until only inputs, targets and parameters remain; the proof tests compare that with
``sympy.diff`` of the fully expanded loss.

This is the one place that expands to scalars, and it refuses networks with more than
``SCALAR_LIMIT`` parameters (its cost grows with the number of weights) and networks whose
per-weight derivatives would have more than ``SCALAR_MAX_TERMS`` chain-rule terms (through an
unrolled network they multiply with every step: ``ScalarView.chain_terms`` counts them first).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from . import differentiation, naming, registry
from .errors import SymPropError
from .latex_printing import paren, to_latex
from .ops import Node, at_elements, element_indices, flat_index
from .ops.loss import FUSED

#: Networks with more parameters than this get no per-weight expansion.
SCALAR_LIMIT = 100
#: ... nor networks whose largest per-weight derivative has more chain-rule terms than this
#: (``ScalarView.chain_terms``: the paths from the loss to one weight through the elements of the graph).
#: Each step of an unrolled network multiplies them by its width: the Elman RNN of width 4 has
#: 682 at 5 steps (its example), 10,922 at 7 and 174,762 at 9, where checking one claim about
#: Wx[0,0] took 6 s and 93 s (every walk over the expression is as long as its terms).
SCALAR_MAX_TERMS = 1000
#: ... nor graphs of more elements per sample than this (every node's, inputs included): the view
#: holds a SymPy symbol and a definition for each (1,000,000 inputs of one weight: minutes, gigabytes).
SCALAR_MAX_ELEMENTS = 10_000


@dataclass(frozen=True)
class Factor:
    """One factor of a chain-rule product: d ``of`` / d ``wrt``, and its value."""

    of: sp.Symbol
    wrt: sp.Symbol
    expr: sp.Expr

    @property
    def text(self) -> str:
        return f"d{self.of}/d{self.wrt}"

    @property
    def latex(self) -> str:
        return rf"\frac{{\partial {sp.latex(self.of)}}}{{\partial {sp.latex(self.wrt)}}}"


@dataclass(frozen=True)
class ElementGradient:
    """dE/d(one parameter element), with the chain of factors whose product it is."""

    param: str
    index: tuple[int, ...]
    symbol: sp.Symbol
    factors: tuple[Factor, ...]
    expr: sp.Expr  # the product of the factors' expressions

    def _repr_latex_(self) -> str:
        return gradient_latex(self)


class ScalarView:
    """The elements of a graph for one sample: a symbol per element and the definition of each
    op element in its inputs' elements, with no limit and nothing expanded.  The scalar backend
    (``symprop.emit.scalar``) spells these definitions and runs ``symbolic_adjoints``; the
    per-weight view (``ScalarDerivation``) builds on it."""

    def __init__(self, derivation, view: ScalarView | None = None):
        self.derivation = derivation
        self.graph = derivation.graph
        if view is not None:  # another view of the same derivation: its elements, not built again
            self.symbols, self.definitions = view.symbols, view.definitions
            return
        self.symbols: dict[str, list[sp.Symbol]] = {
            node.name: [naming.element_symbol(node.name, index) for index in element_indices(node.shape)]
            for node in self.graph.nodes.values()
        }
        self.definitions: dict[sp.Symbol, sp.Expr] = {}
        for node in self.graph.nodes.values():
            if node.op.role == "op":
                args = [self.symbols[name] for name in node.inputs]
                for symbol, expr in zip(self.symbols[node.name], node.op.elements(node, args)):
                    self.definitions[symbol] = expr

    def local(self, of: sp.Symbol, wrt: sp.Symbol) -> sp.Expr:
        """d``of``/d``wrt`` from ``of``'s definition, in the subgradient convention of
        ``differentiation.derivative`` (a tie of a max splits evenly), with a max or min that is ``of``
        itself written as ``of`` (its forward value)."""
        definition = self.definitions[of]
        local = differentiation.derivative(definition, wrt)
        return local.xreplace({definition: of}) if isinstance(definition, (sp.Max, sp.Min)) else local

    def element_of(self, symbol: sp.Symbol) -> tuple[str, tuple[int, ...]] | None:
        """(node, 0-based index) of an element symbol, or None for a symbol of no node."""
        for name, symbols in self.symbols.items():
            if symbol in symbols:
                return name, element_indices(self.graph.nodes[name].shape)[symbols.index(symbol)]
        return None

    @cached_property
    def chain_terms(self) -> int:
        """The number of chain-rule terms of the largest per-weight derivative: the paths from the
        loss to a parameter element through the elements' definitions, counted in one pass
        backwards, without building any derivative."""
        paths = {self.symbols[self.graph.loss][0]: 1}
        for node in reversed(list(self.graph.nodes.values())):
            for symbol in self.symbols[node.name] if node.op.role == "op" else ():
                count = paths.get(symbol)
                for used in self.definitions[symbol].free_symbols if count else ():
                    paths[used] = paths.get(used, 0) + count
        return max((paths.get(s, 0) for node in self.graph.params() for s in self.symbols[node.name]), default=0)

    @cached_property
    def needed(self) -> set[str]:
        """Nodes the reverse pass goes through: those that depend on a parameter (floats only:
        indices and masks have no adjoint)."""
        return {n for n in self.graph.needs_grad if self.graph.dtypes[n] == "float"}

    @cached_property
    def fused(self) -> dict:
        """The loss nodes whose adjoint is fused with their output activation's -> that step."""
        return {step.source: step for step in self.derivation.steps if step.rule == FUSED}

    @property
    def loss_symbol(self) -> sp.Symbol:
        return self.symbols[self.graph.loss][0]

    def symbolic_adjoints(self, adjoint_of) -> list[tuple[str, sp.Symbol, sp.Expr]]:
        """The reverse pass with each element's adjoint kept as a symbol (``adjoint_of(element)``):
        (node sending, input element, its contribution), in the order a program computes them.
        A contribution is in forward values and the adjoint symbols of the sending node's
        elements, so each is one line of straight-line code (the scalar backend's)."""
        received = {self.loss_symbol}  # the seed dE/dE
        skipped = {self.graph.nodes[source].inputs[0] for source in self.fused}
        contributions = []
        for node in reversed(list(self.graph.nodes.values())):
            if node.op.role != "op" or node.name not in self.needed or node.name in skipped:
                continue
            upstream = [adjoint_of(s) if s in received else sp.S.Zero for s in self.symbols[node.name]]
            if not any(upstream):
                continue
            for symbol, value in node.op.scalar_adjoints(node, upstream, self):
                if value != 0:
                    contributions.append((node.name, symbol, value))
                    received.add(symbol)
        return contributions


class ScalarDerivation(ScalarView):
    """Element-level adjoints of a ``Derivation`` (one sample), expanded in forward values."""

    def __init__(self, derivation):
        count = derivation.param_count
        if count > SCALAR_LIMIT:
            raise SymPropError(
                f"{derivation.name}: {count} parameters; per-weight expressions are kept for at most {SCALAR_LIMIT}"
            )
        super().__init__(derivation, derivation.elements)
        if derivation.chain_terms > SCALAR_MAX_TERMS:
            raise SymPropError(
                f"{derivation.name}: a per-weight derivative of {derivation.chain_terms:,} chain-rule terms; per-weight "
                f"expressions are kept for at most {SCALAR_MAX_TERMS:,}"
            )
        self.adjoints = self._reverse_pass()

    # -- forward --------------------------------------------------------------------

    def leaves(self, role: str) -> list[sp.Symbol]:
        return [s for node in self.graph.leaves(role) for s in self.symbols[node.name]]

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every forward value replaced by its definition, down to the leaves."""
        for node in reversed(list(self.graph.nodes.values())):
            if node.op.role == "op":
                expr = expr.xreplace({s: self.definitions[s] for s in self.symbols[node.name]})
        return expr

    @cached_property
    def expanded_loss(self) -> sp.Expr:
        return self.expand(self.loss_symbol)

    def forward_values(
        self, point: dict[sp.Symbol, float], digits: int = 30, fixed: dict[sp.Symbol, float] | None = None
    ) -> dict[sp.Symbol, sp.Float]:
        """Every element's value at ``point`` (values of the leaves), to ``digits`` digits; a
        computed element in ``fixed`` takes that value instead (and what follows it is computed
        from it: a student's forward pass from their own wrong value)."""
        # Numbers from a spec are decimals: 0.1 means 1/10, not the binary double nearest to it.
        values = {symbol: _number(value, digits) for symbol, value in point.items()}
        fixed = fixed or {}
        for node in self.graph.nodes.values():
            if node.op.role == "op":
                for symbol in self.symbols[node.name]:
                    if symbol in fixed:
                        values[symbol] = _number(fixed[symbol], digits)
                    else:
                        values[symbol] = evaluate(self.definitions[symbol], values, digits)
        return values

    # -- backward -------------------------------------------------------------------

    def _reverse_pass(self) -> dict[sp.Symbol, sp.Expr]:
        """Every element's adjoint, each op sending its own (``Op.scalar_adjoints``)."""
        adjoints: dict[sp.Symbol, sp.Expr] = {self.loss_symbol: sp.S.One}  # dE/dE = 1 starts the pass
        # An output activation whose adjoint a fused step (softmax + cross-entropy) sends.
        skipped = {self.graph.nodes[source].inputs[0] for source in self.fused}
        for node in reversed(list(self.graph.nodes.values())):
            if node.op.role != "op" or node.name not in self.needed or node.name in skipped:
                continue
            upstream = [adjoints.get(s, sp.S.Zero) for s in self.symbols[node.name]]
            for symbol, value in node.op.scalar_adjoints(node, upstream, self):
                adjoints[symbol] = adjoints.get(symbol, sp.S.Zero) + value
        return adjoints

    @cached_property
    def needed(self) -> set[str]:
        """Nodes the reverse pass goes through: those that depend on a parameter, and on an
        input too when the graph shows dE/dx (as the computational-graph tutorials do)."""
        needed = self.graph.needs_grad
        if self.graph.input_adjoints:
            needed = needed | self.graph.downstream_of("input")
        return {n for n in needed if self.graph.dtypes[n] == "float"}  # indices and masks have none

    def adjoint(self, node: str) -> list[sp.Expr]:
        """dE/d(each element of ``node``), in forward values."""
        return [self.adjoints.get(s, sp.S.Zero) for s in self.symbols[node]]

    def gradient(self, param: str, index: tuple[int, ...]) -> ElementGradient:
        """dE/d``param[index]`` (0-based index) with its chain-rule factors.

        When the element feeds a single element ``z`` (a dense layer's weights and biases),
        the chain follows ``z`` forward through single-consumer activations:
        ``[dE/da, da/dz, dz/dw]``, as the tutorials write it.  Otherwise (a shared
        parameter) there is one factor, the whole sum.
        """
        node = self.graph.nodes[param]
        symbol = self.symbols[param][_checked_flat_index(index, node.shape)]
        total = self.adjoints.get(symbol, sp.S.Zero)
        users = [o for c in self.graph.consumers(param) for o in self.symbols[c.name] if self.definitions[o].has(symbol)]
        if len(users) != 1:
            return ElementGradient(param, index, symbol, (Factor(self.loss_symbol, symbol, total),), total)
        factors = [Factor(users[0], symbol, self.local(users[0], symbol))]
        current = users[0]
        while (step := self._elementwise_successor(current)) is not None:
            successor, local = step
            factors.insert(0, Factor(successor, current, local))
            current = successor
        factors.insert(0, Factor(self.loss_symbol, current, self.adjoints.get(current, sp.S.Zero)))
        expr = sp.Mul(*(f.expr for f in factors))
        return ElementGradient(param, index, symbol, tuple(factors), expr)

    def node_gradient(self, node: str, index: tuple[int, ...]) -> ElementGradient:
        """dE/d``node[index]`` with its chain of factors (a single factor for a node that is not a
        parameter).  An output activation whose adjoint a fused step skips (sigmoid + binary
        cross-entropy sends dE/dz = a - t) has its own all the same, from the loss it feeds:
        verify said dE/da was 0, and a student's right (a - t)/(a(1 - a)) WRONG."""
        if self.graph.nodes[node].op.role == "param":
            return self.gradient(node, index)
        shape = self.graph.nodes[node].shape
        symbol = self.symbols[node][flat_index(index, shape) if shape else 0]
        expr = self.adjoints.get(symbol)
        if expr is None:
            losses = [source for source in self.fused if self.graph.nodes[source].inputs[0] == node]
            expr = sum(
                (self.adjoints.get(s, sp.S.Zero) * sp.diff(self.definitions[s], symbol) for n in losses for s in self.symbols[n]),
                sp.S.Zero,
            )
        return ElementGradient(node, index, symbol, (Factor(self.loss_symbol, symbol, expr),), expr)

    @cached_property
    def users(self) -> dict[sp.Symbol, list[sp.Symbol]]:
        """For every element symbol, the op elements whose definitions use it (forward order)."""
        users: dict[sp.Symbol, list[sp.Symbol]] = {}
        for symbol, definition in self.definitions.items():
            for used in sorted(definition.free_symbols, key=lambda s: s.name):
                users.setdefault(used, []).append(symbol)
        return users

    def chain(self, symbol: sp.Symbol) -> list[sp.Expr] | None:
        """dE/d``symbol`` as local derivatives in the order of the chain rule, the loss's first
        (``[a - t, a (1 - a)]`` for an output unit's z), when one path leads from ``symbol`` to
        the loss; None where the paths branch (their sum is ``adjoints[symbol]``)."""
        factors = self.chain_factors(symbol)
        return None if factors is None else [f.expr for f in factors]

    def chain_factors(self, symbol: sp.Symbol) -> list[Factor] | None:
        """``chain``'s local derivatives as factors, each with what it differentiates."""
        if symbol == self.loss_symbol:
            return []
        step = self._elementwise_successor(symbol)
        if step is None:
            users = self.users.get(symbol, [])
            if len(users) != 1 or users[0] not in self.adjoints:
                return None
            step = (users[0], self.local(users[0], symbol))
        rest = self.chain_factors(step[0])
        return None if rest is None else [*rest, Factor(step[0], symbol, step[1])]

    def branch_terms(self, symbol: sp.Symbol) -> list[list[Factor]] | None:
        """dE/d``symbol`` as a sum over the elements it reaches where its path first branches, each
        term its local derivatives in the order of the chain rule, the loss's first
        (``(y_1 - t_1) w_11 + ...``, never SymPy's ``w_11 (y_1 - t_1) + ...``), factors of 1 left
        out; None when the path never branches (``chain_factors`` gives it).  The handout's sums
        and ``symprop verify``'s familiar form both read it."""
        tail: list[Factor] = []  # the local derivatives of the steps before the branch
        current = symbol
        while len(users := self.users.get(current, [])) == 1 and users[0] in self.adjoints:
            tail.insert(0, Factor(users[0], current, self.step_local(users[0], current)))
            current = users[0]
        if len(users) < 2 or any(u not in self.adjoints for u in users):
            return None
        terms = []
        for u in users:
            head = self.chain_factors(u)  # None where u's own paths branch: its adjoint, one factor
            head = head if head is not None else [Factor(self.loss_symbol, u, self.adjoints[u])]
            term = [*head, Factor(u, current, self.step_local(u, current)), *tail]
            terms.append([f for f in term if f.expr != 1] or term[:1])
        return terms

    def step_local(self, of: sp.Symbol, wrt: sp.Symbol) -> sp.Expr:
        """d``of``/d``wrt`` as a chain-rule step writes it: an activation's derivative in terms of
        its output where the registry says so (``a (1 - a)``, the tutorials' form, as ``chain_factors``
        gives it), not ``local``'s ``(1 - sigma(z)) sigma(z)``; otherwise ``local``."""
        step = self._elementwise_successor(wrt)
        return step[1] if step is not None and step[0] == of else self.local(of, wrt)

    def _elementwise_successor(self, symbol: sp.Symbol) -> tuple[sp.Symbol, sp.Expr] | None:
        """(a, da/dz) when ``symbol`` (a ``z``) feeds only an activation whose adjoint is its own."""
        node = self._node_of(symbol)
        consumers = self.graph.consumers(node.name)
        if len(consumers) != 1 or not consumers[0].op.activation:
            return None
        activation = consumers[0]
        if any(step.target == node.name for step in self.fused.values()):
            return None
        position = self.symbols[node.name].index(symbol)
        a = self.symbols[activation.name][position]
        return a, at_elements(activation.op.derivative, z=symbol, a=a)

    def _node_of(self, symbol: sp.Symbol) -> Node:
        return self.graph.nodes[self.element_of(symbol)[0]]

    def gradients(self) -> list[ElementGradient]:
        """Every parameter element's gradient, parameters in order, elements row-major."""
        return [self.gradient(node.name, index) for node in self.graph.params() for index in element_indices(node.shape)]



def evaluate(expr: sp.Expr, values: dict[sp.Symbol, sp.Expr], digits: int = 30) -> sp.Float:
    """The number ``expr`` has at ``values`` (registry functions written out first)."""
    result = registry.expand_definitions(expr.xreplace(values)).evalf(digits)
    if not result.is_number:
        raise SymPropError(f"cannot evaluate {expr}: missing values for {sorted(map(str, result.free_symbols))}")
    return result


def _number(value, digits: int) -> sp.Float:
    if isinstance(value, sp.Basic):
        return sp.Float(value, digits)
    return sp.Float(str(value), digits)


def _checked_flat_index(index: tuple[int, ...], shape: tuple[int, ...]) -> int:
    if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape)):
        raise SymPropError(f"index {list(index)} is outside a parameter of shape {list(shape)}")
    return flat_index(index, shape)


def gradient_latex(gradient) -> str:
    """dE/d(one parameter element) as the chain of factors and their product (``_repr_latex_``)."""
    names = {s: naming.latex_element_of_symbol(s.name) for s in _symbols_of(gradient)}
    factors = r" \, ".join(rf"\frac{{\partial {names.get(f.of, 'E')}}}{{\partial {names[f.wrt]}}}" for f in gradient.factors)
    values = r" \cdot ".join(
        paren(to_latex(f.expr, names)) if isinstance(f.expr, sp.Add) else to_latex(f.expr, names) for f in gradient.factors
    )
    lhs = rf"\frac{{\partial E}}{{\partial {names[gradient.symbol]}}}"
    if len(gradient.factors) == 1:
        return f"$${lhs} = {values}$$"
    return f"$${lhs} = {factors} = {values}$$"


def _symbols_of(gradient) -> list[sp.Symbol]:
    symbols = {gradient.symbol}
    for f in gradient.factors:
        symbols |= {f.of, f.wrt} | f.expr.free_symbols
    return sorted(symbols, key=lambda s: s.name)
