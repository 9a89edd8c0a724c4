"""Chains of elementwise backward steps written as one line, in the module's backward pass (the
handout keeps one line per step: ``ModuleBuilder.step_lines``).

An adjoint that only an elementwise product reads (one step, or any number of steps when it is
just another adjoint under a new name, ``dE/dy_a = dE/dy``) is not written as a line of its
own: it stays a SymPy expression until the step that reads it multiplies it by its local
derivative, and the contributions of several steps to one adjoint are summed as expressions
with their common factors taken out (``factor_terms``).  SymPy's arithmetic then does what one
does by hand: signs cancel (CS231n's ``-1 / f_g**2`` times ``-1``), ``dE/dy h - dE/dy x``
becomes ``dE/dy (h - x)``, and no array is made for a value read once.  The backward pass of
``highway`` went from 12 elementwise passes to 10 (batch 64, float64: 1.05x to 1.03x the hand
version, with the argument checks), CS231n's neuron from 5 to 3 (batch 1024: 1.09x to 0.97x);
NumPy 2.4, one thread, ``benchmarks/bench_graphs.py``.  The result is exactly the chain rule;
only the rounding of the floating-point operations can differ (1e-14 relative on the examples),
as in any rearranged sum.

Where an adjoint's name shows up in a line's code anyway (a matrix product, a sum over the
batch, a mask), it is written just before that line (``resolved``).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

import sympy as sp

from .lines import Line

if TYPE_CHECKING:
    from .builder import ModuleBuilder


class PendingAdjoints:
    """The adjoints not yet written, as SymPy expressions in the arrays' names, and the formulas
    of the steps folded into each (for the comment of the line that finally writes it)."""

    def __init__(self, builder: ModuleBuilder, blocked: set[str]):
        self.b = builder
        graph = builder.graph
        #: Nodes whose adjoint may wait: intermediate values (a parameter's gradient is returned by
        #: name), read by no line that gathers several steps (``stacking``: those read it by name).
        #: Nodes whose adjoint may wait as another adjoint under a new name (``dE/dz_b = dE/dz``):
        #: every intermediate value, those read by a gathering line too (``resolved`` renames it there).
        self.renamable = {n for n, node in graph.nodes.items() if node.op.role == "op"}
        self.deferrable = self.renamable - blocked
        self.left = Counter(step.source for step in builder.d.steps)  # steps still to read each adjoint
        self.exprs: dict[str, sp.Expr] = {}
        self.notes: dict[str, list[str]] = {}
        #: The code of an adjoint that is one step's product as the op spelled it: written so when
        #: nothing is folded into it (the module reads as before where nothing is gained).
        self.codes: dict[str, str] = {}
        #: What the step being spelled took (``take``): written after all if its code names it.
        self.taken: dict[str, tuple[sp.Expr, list[str]]] = {}
        #: (code, expression, formulas folded in) of the last product spelled (``ModuleBuilder.product``).
        self.last: tuple[str, sp.Expr, list[str]] | None = None
        #: The adjoints the step being spelled read under another's name (``take``), by node: its
        #: formula names that other one, as its code does (``named_as_read``).
        self.renamed: dict[str, str] = {}
        #: The formulas folded into the products of the step being spelled (``take``): its line's
        #: comment gives them, whatever the op wraps its product in (``_batch_sum(...)``).
        self.folded: list[str] = []

    def node_of(self, symbol: sp.Expr) -> str | None:
        """The node whose adjoint ``symbol`` names, if it is waiting."""
        if not isinstance(symbol, sp.Symbol):
            return None
        node = self.b.graph.node_of_grad(symbol.name)
        return node if node in self.exprs else None

    def take(self, upstream: sp.Expr, local: sp.Expr) -> tuple[bool, sp.Expr, list[str]] | None:
        """For a product of ``upstream`` by ``local``: (whether the product is done, the expression,
        the formulas folded in).  Not done: ``upstream`` is another adjoint under a new name, the
        expression that adjoint, still to be multiplied by ``local``.  Done: the product itself,
        when it is the only reader of the waiting adjoint (it may be a bare name too: ``dE/dy / 2``
        times 2).  None if ``upstream`` is not waiting, or if the product would cancel an array
        (``x * 0``: the array's shape would be lost)."""
        node = self.node_of(upstream)
        if node is None:
            return None
        expr = self.exprs[node]
        if isinstance(expr, sp.Symbol):
            other = self.b.graph.node_of_grad(expr.name)
            if other is not None:
                self.renamed[node] = other
            return False, expr, []
        product = _factored(expr) * local
        if self.left[node] != 1 or not cancels_nothing(product, expr, local):
            return None
        self.codes.pop(node, None)
        self.taken[node] = expr, self.notes.pop(node)
        self.folded += self.taken[node][1]
        del self.exprs[node]
        return True, product, self.taken[node][1]

    def add(self, target: str, expr: sp.Expr, notes: list[str], code: str) -> None:
        """Contribution ``expr`` (spelled ``code``) to the adjoint of ``target``."""
        if target in self.exprs:
            self.codes.pop(target, None)
        else:
            self.codes[target] = code
        self.exprs[target] = self.exprs.get(target, sp.S.Zero) + expr
        self.notes.setdefault(target, []).extend(notes)

    def start(self, source: str) -> list[Line]:
        """A step reading the adjoint of ``source`` is about to be spelled: the line of that adjoint
        if it waits but cannot be folded into the step (other steps read it too)."""
        self.last, self.taken, self.renamed, self.folded = None, {}, {}, []
        expr = self.exprs.get(source)
        return [self.line(source)] if expr is not None and not isinstance(expr, sp.Symbol) and self.left[source] > 1 else []

    def line(self, node: str) -> Line:
        """The line that writes waiting adjoint ``node``."""
        expr, notes = self.taken.pop(node) if node in self.taken else (self.exprs.pop(node), self.notes.pop(node))
        code = self.codes.pop(node, None) or self.b.code(_factored(expr))
        return Line(f"{self.b.graph.grad(node)} = {code}", ", ".join(notes))

    def read(self, *sources: str) -> None:
        """One step reading the adjoint of each of ``sources`` is spelled (or gathered into one line,
        ``stacking``): once all are, a waiting adjoint that is another's name is no longer needed
        (kept, it would be looked for in every later line: quadratic in an unrolled network)."""
        for source in sources:
            self.left[source] -= 1
            if self.left[source] <= 0 and isinstance(self.exprs.get(source), sp.Symbol):
                del self.exprs[source], self.notes[source]
                self.codes.pop(source, None)

    def names_waiting(self, code: str) -> bool:
        """Whether ``code`` reads a waiting adjoint by name (it cannot wait itself: it would read one
        that may never be written)."""
        return bool(self.waiting_in(code))

    def waiting_in(self, code: str) -> list[str]:
        """The waiting adjoints (nodes) that ``code`` names, in the order they began to wait: found
        from the names in ``code``, not by looking for every waiting one in it (an unrolled
        network keeps hundreds waiting for its stacked products: that was quadratic)."""
        graph = self.b.graph
        named = {graph.node_of_grad(name) for name in _IDENTIFIER.findall(code)}
        named = {node for node in named if node in self.exprs or node in self.taken}
        if len(named) < 2:
            return list(named)
        return [node for node in [*self.exprs, *self.taken] if node in named]

    def resolved(self, lines: list[Line], assigned: str | None = None) -> list[Line]:
        """``lines``, with the waiting adjoints their code names written before them (an adjoint
        under a new name is just renamed), and ``assigned`` (the adjoint they add to) first."""
        before = [self.line(assigned)] if assigned in self.exprs else []
        out = []
        for line in lines:
            code, comment, names = line.code, line.comment, []
            for node in self.waiting_in(code):
                pattern = _named(self.b.graph.grad(node))
                if isinstance(self.exprs.get(node), sp.Symbol):  # renamed, in the code and its formula
                    code = re.sub(pattern, self.exprs[node].name, code)
                    names.append((self.b.graph.grad(node), self.exprs[node].name))
                    other = self.b.graph.node_of_grad(self.exprs[node].name)
                    if other is not None:
                        comment = _renamed(comment, node, other)
                else:
                    before.append(self.line(node))
            out.append(line.renamed(code, comment, names))
        return [*before, *out]

    def named_as_read(self, formula: str) -> str:
        """``formula`` of the step being spelled, naming each adjoint it read under another's name
        (``take``) as its code does: ``dE/dg = dE/dh_d * h_b``, not ``dE/dh_c``, an adjoint the
        module never writes (a reader looking for ``dH_c`` would find nothing)."""
        for node, other in self.renamed.items():
            formula = _renamed(formula, node, other)
        return formula

    def flush(self) -> list[Line]:
        """The lines of the adjoints still waiting (none but a safety net: every one has a reader)."""
        return [self.line(node) for node in list(self.exprs) if not isinstance(self.exprs[node], sp.Symbol)]


#: A name in code (not an attribute: ``.T``), as ``_named`` finds one.
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


def _named(name: str) -> str:
    """The pattern of identifier ``name`` in code (not a part of another name or an attribute)."""
    return rf"(?<![\w.]){re.escape(name)}(?!\w)"


def _renamed(comment: str, node: str, other: str) -> str:
    """``comment`` with the adjoint of ``node`` named as that of ``other``."""
    return re.sub(rf"dE/d{re.escape(node)}(?!\w)", f"dE/d{other}", comment)


def cancels_nothing(result: sp.Expr, *parts: sp.Expr) -> bool:
    """Whether ``result`` (a product or a sum of ``parts``) still reads every array they read: one
    that cancelled (``x * 0``, ``a - a``) would take its shape with it, and its line would be
    written for nothing.  Judged on the sum as it is written, its common factors taken out: that
    cancels what SymPy's sum alone keeps (``-a + (b + 2 a) / 2`` is ``b / 2``)."""
    return _factored(result).free_symbols >= set().union(*(part.free_symbols for part in parts))


def _factored(expr: sp.Expr) -> sp.Expr:
    """A sum with its common factors taken out (``a h - a x`` is ``a (h - x)``): fewer passes."""
    return sp.factor_terms(expr) if isinstance(expr, sp.Add) else expr
