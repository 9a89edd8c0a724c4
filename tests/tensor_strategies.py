"""Random valid graph specs over the whole tensor grammar (issue 12), and the check that runs
one through symprop and the independent oracle of ``tests/reference.py``.

Shared by ``tests/test_tensor_property.py`` (Hypothesis) and ``scripts/fuzz_tensors.py``
(many random specs).  ``tensor_graph_spec(source)`` draws every choice from ``source``
(``random.Random``, or a Hypothesis ``draw`` through ``DrawSource`` so that a failure
shrinks), building a spec node by node:

* inputs of per-sample rank 0-4 (sizes 1-4, at most ``MAX_ELEMENTS`` elements a tensor);
  parameters created where an op needs them, and often an existing one of the same shape
  used again; nodes picked again from the pool (a node used twice, even in one op:
  ``a * a``, ``concat(a, a)``, ``einsum("i,j->ij", a, a)``); a sub-expression sometimes
  written inline instead of as a node of its own;
* elementwise ``+ - * /`` and ``max(a, b)`` with NumPy broadcasting (size-1 axes, missing
  leading axes, the other operand of higher rank, a batched operand against a parameter),
  activations and math functions;
* ``@`` with leading axes that broadcast (size 1 against a longer one, missing ones),
  vectors on either side, two batched operands, products of parameters alone (no batch
  axis) feeding batched ops, and ``W @ x + b`` (a dense node);
* ``einsum`` with random valid subscripts over one to three operands (letters summed within
  one operand, outer products, implicit output), ``transpose(x, perm)`` with negative axes,
  ``.T``, ``reshape`` (one -1), ``sum/mean/max`` over an axis, a tuple of axes or all of
  them (negative too, ``keepdims=1``), ``softmax``/``logsumexp`` along any axis,
  ``concat`` along any axis (of two or three parts, batched with unbatched), constant
  slices (negative bounds, steps), integer inputs looking up a parameter table
  (``Emb[ids]``, ``Emb[ids[1:]]``), boolean masks and ``tril(n)`` in ``where`` (with a
  number in either branch); ``layer_norm`` and ``batch_norm`` over random axes, ``conv1d``
  and ``conv2d`` (stride, padding) and ``max_pool1d/2d``/``avg_pool1d/2d`` (a window per axis);
* unrolled steps over the rows of one tensor (an input, or a table's rows ``Emb[ids]``), a
  node a step, ``tanh(W @ s[0] + W @ s[1] + b)``, ``sigmoid(W @ s[2] + U @ h + b)``: weights and
  bias shared by the steps, two rows in one step, the bias anywhere in the sum, twice or
  missing, the sum a node read again (what the NumPy module stacks, ``emit.numpy.stacking``);
  a bias shared by tensors of other leading shapes, ``x1 @ W + b`` and ``x2 @ W + b``.

The loss is a per-sample scalar that depends on every parameter, input and node: a loss
function of the last node and a target (or a plain sum), plus a small term for anything
not used yet.  The generator only writes specs that NumPy evaluates as written and that the
language accepts; its one concession to the language's rules is avoiding the documented
"ambiguous broadcast" refusal (per-row values of a matrix combined with a matrix).
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from reference import TOLERANCE, Reference, check_module_against_references, point

import symprop
from symprop.check import load_module

ROOT = Path(__file__).resolve().parent.parent
#: Most elements of one per-sample tensor, and its highest rank.
MAX_ELEMENTS = 60
MAX_RANK = 4
#: Relative error allowed between a float32 and a float64 run of the same module.
FLOAT32_TOLERANCE = 2e-3

NUMBERS = ["0.5", "2", "1.5", "0.25", "3", "0.1"]
#: Elementwise functions of one tensor; "{}" is the operand (a name or a parenthesised text).
UNARY = [
    "tanh({})",
    "sigmoid({})",
    "softplus({})",
    "gelu({})",
    "silu({})",
    "elu({})",
    "sin({})",
    "erf({})",
    "exp(tanh({}))",
    "log(1 + {} ** 2)",
    "sqrt(1 + {} ** 2)",
    "{} ** 2",
    "-{}",
    "2 * {} - 1",
    "leaky_relu({}, 0.2)",
    "relu({})",
    "abs({})",
]


@dataclass(frozen=True)
class Term:
    """A tensor the generator can build on: its text (a name, or a parenthesised expression),
    per-sample shape, whether it varies by sample, and whether it is one value per row of a
    matrix (``sum(M, axis=1)``, or a function of that alone: see ``rows`` below)."""

    text: str
    shape: tuple[int, ...]
    batched: bool
    rows: bool = False

    @property
    def rank(self) -> int:
        return len(self.shape)


def size(shape) -> int:
    return math.prod(shape)


def fits(shape) -> bool:
    return shape is not None and len(shape) <= MAX_RANK and size(shape) <= MAX_ELEMENTS


def broadcast(*shapes) -> tuple[int, ...] | None:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def matmul_shape(a, b) -> tuple[int, ...] | None:
    if not a or not b:
        return None
    try:
        return tuple((np.zeros(a) @ np.zeros(b)).shape)
    except ValueError:
        return None


def _listed(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


class Builder:
    """One random spec, drawn from ``source`` (``choice``, ``randint``)."""

    def __init__(self, source, index: int = 0):
        self.s = source
        self.index = index
        self.inputs: dict[str, object] = {}
        self.params: dict[str, list[int]] = {}
        self.nodes: dict[str, str] = {}
        self.pool: list[Term] = []  # named tensors: inputs, parameters, nodes
        self.depth = 0

    # -- choices ------------------------------------------------------------------------

    def chance(self, percent: int) -> bool:
        return self.s.randint(1, 100) <= percent

    def pick(self, options):
        return self.s.choice(list(options))

    def dim(self) -> int:
        return self.pick([1, 2, 2, 3, 3, 4])

    def shape(self, rank: int) -> tuple[int, ...]:
        shape = tuple(self.dim() for _ in range(rank))
        while size(shape) > MAX_ELEMENTS:  # shrink the largest axis
            k = shape.index(max(shape))
            shape = shape[:k] + (shape[k] - 1,) + shape[k + 1 :]
        return shape

    # -- leaves -------------------------------------------------------------------------

    def add_input(self, rank: int, shape: tuple[int, ...] | None = None) -> Term:
        name = f"x{len([k for k in self.inputs if k.startswith('x')]) + 1}"
        shape = self.shape(rank) if shape is None else shape
        self.inputs[name] = list(shape)
        term = Term(name, shape, True)
        self.pool.append(term)
        return term

    def param(self, shape) -> Term:
        """A parameter of ``shape``: often one that exists already (a parameter used twice)."""
        shape = tuple(shape)
        same = [p for p, s in self.params.items() if tuple(s) == shape]
        if same and self.chance(40):
            return Term(self.pick(same), shape, False)
        name = f"W{len(self.params) + 1}"
        self.params[name] = list(shape)
        term = Term(name, shape, False)
        self.pool.append(term)
        return term

    # -- operands -----------------------------------------------------------------------

    def operand(self, ok=lambda t: True, batched: bool | None = None) -> Term | None:
        """A float tensor with ``ok(term)``: a named one from the pool, or (sometimes) a fresh
        expression written inline; ``batched`` False asks for one with no batch axis."""
        if self.depth < 1 and self.chance(20):
            saved = self.saved()
            self.depth += 1
            try:
                term = self.expression()
            finally:
                self.depth -= 1
            if term is not None and ok(term) and (batched is None or term.batched == batched):
                return Term(f"({term.text})", term.shape, term.batched, term.rows)
            self.restore(saved)
        found = [t for t in self.pool if ok(t) and (batched is None or t.batched == batched)]
        if not found:
            return None
        recent = found[-3:]
        return self.pick(recent if self.chance(50) else found)

    def partner_shape(self, shape) -> tuple[int, ...]:
        """A shape that broadcasts with ``shape``: leading axes dropped or added, axes set to
        1, or size-1 axes of ``shape`` stretched."""
        out = list(shape)
        if out and self.chance(40):
            out = out[self.s.randint(1, len(out)) :]
        out = [1 if n > 1 and self.chance(25) else (self.dim() if n == 1 and self.chance(30) else n) for n in out]
        while len(out) < MAX_RANK and self.chance(20):
            out.insert(0, self.pick([1, 2, 3]))
        return tuple(out)

    def partner(self, a: Term, avoid_rows: bool = True) -> tuple[Term | str, tuple[int, ...]] | None:
        """A second operand for an elementwise op with ``a``: a number, ``a`` itself, a pool
        tensor or a new parameter that broadcasts with it; and the result's shape."""
        kind = self.pick(["number", "self", "pool", "pool", "param", "param", "param"])
        if kind == "number":
            return self.pick(NUMBERS), a.shape
        if kind == "self":
            return a, a.shape

        def good(t: Term) -> bool:
            shape = broadcast(a.shape, t.shape)
            if not fits(shape):
                return False
            # The language refuses per-row values of a matrix with a matrix (ambiguous): avoid it.
            return not ((a.rows and t.rank == 2) or (t.rows and a.rank == 2))

        if kind == "pool":
            b = self.operand(good)
            if b is not None:
                return b, broadcast(a.shape, b.shape)
        for _ in range(5):
            shape = self.partner_shape(a.shape)
            b = self.param(shape)
            if good(b):
                return b, broadcast(a.shape, b.shape)
        return None

    # -- ops ----------------------------------------------------------------------------

    def expression(self) -> Term | None:
        """One op (its operands from the pool, new parameters, or inline expressions)."""
        ops = [
            (self.binary, 6),
            (self.unary, 4),
            (self.matmul, 5),
            (self.dense, 1),
            (self.einsum, 5),
            (self.transpose, 2),
            (self.reshape, 2),
            (self.chain, 2),
            (self.reduce, 4),
            (self.softmax, 2),
            (self.masked_softmax, 1),
            (self.concat, 2),
            (self.slice, 3),
            (self.gather, 2),
            (self.where, 2),
            (self.elementwise_max, 1),
            (self.layer_norm, 1),
            (self.batch_norm, 1),
            (self.conv, 2),
            (self.pool2d, 1),
            (self.recurrence, 2),
            (self.shared_bias, 1),
        ]
        weighted = [op for op, weight in ops for _ in range(weight)]
        for _ in range(8):
            saved = self.saved()
            term = self.pick(weighted)()
            if term is not None and fits(term.shape):
                return term
            self.restore(saved)  # no leaves left over from an op given up
        return None

    def saved(self):
        return dict(self.inputs), dict(self.params), list(self.pool), dict(self.nodes)

    def restore(self, saved) -> None:
        self.inputs, self.params, self.pool, self.nodes = dict(saved[0]), dict(saved[1]), list(saved[2]), dict(saved[3])

    def binary(self) -> Term | None:
        a = self.operand()
        if a is None:
            return None
        found = self.partner(a)
        if found is None:
            return None
        b, shape = found
        operator = self.pick(["+", "-", "*", "*", "/"])
        if operator == "-" and b is a:  # a - a is 0: the loss could reach no parameter (refused)
            operator = "+"
        b_text = b if isinstance(b, str) else b.text
        b_batched = False if isinstance(b, str) else b.batched
        if operator == "/":
            text = f"{a.text} / {b_text}" if isinstance(b, str) else f"{a.text} / (1 + {b_text} ** 2)"
        elif self.chance(50):
            text = f"{a.text} {operator} {b_text}"
        else:
            text = f"{b_text} {operator} {a.text}"
        rows = a.rows and isinstance(b, str)
        return Term(text, shape, a.batched or b_batched, rows)

    def elementwise_max(self) -> Term | None:
        a = self.operand()
        if a is None:
            return None
        found = self.partner(a)
        if found is None:
            return None
        b, shape = found
        b_text = b if isinstance(b, str) else b.text
        function = self.pick(["max", "min"])
        return Term(f"{function}({a.text}, {b_text})", shape, a.batched or not isinstance(b, str) and b.batched)

    def unary(self) -> Term | None:
        a = self.operand()
        if a is None:
            return None
        template = self.pick(UNARY)
        if template.startswith(("relu", "abs", "leaky")) and self.chance(50):
            template = "tanh({})"  # fewer kinks
        inner = a.text if re.fullmatch(r"\w+|\(.*\)", a.text) else f"({a.text})"
        return Term(template.format(inner), a.shape, a.batched, a.rows)

    def matmul(self) -> Term | None:
        a = (self.chance(30) and self.operand(lambda t: t.rank >= 3)) or self.operand(lambda t: t.rank >= 1)
        if a is None:
            return None
        form = self.pick(["right", "right", "left", "left", "self", "pair"])
        pair = form == "pair"  # prefer a second operand from the pool
        if pair:
            form = self.pick(["right", "left"])
        if form == "self":  # two batched operands: a @ a.T, a @ transpose(a, ...), a @ a
            if a.rank == 1:
                return Term(f"{a.text} @ {a.text}", (), a.batched)
            swap = list(range(a.rank))
            swap[-1], swap[-2] = swap[-2], swap[-1]
            other = f"{a.text}.T" if a.rank == 2 else f"transpose({a.text}, {_listed(swap)})"
            if self.chance(50):
                text, b_shape = f"{a.text} @ {other}", a.shape[:-2] + (a.shape[-1], a.shape[-2])
                return Term(text, matmul_shape(a.shape, b_shape), a.batched)
            text, b_shape = f"{other} @ {a.text}", a.shape[:-2] + (a.shape[-1], a.shape[-2])
            return Term(text, matmul_shape(b_shape, a.shape), a.batched)
        for _ in range(6):
            if form == "right":  # a @ B: B's rows are a's last axis
                rank = self.pick([1, 2, 2, 3, 4] if a.rank < 3 else [2, 3, 3, 4])
                lead = self.lead(a.shape[:-2], rank - 2)
                b_shape = (a.shape[-1],) if rank == 1 else lead + (a.shape[-1], self.dim())
                shape = matmul_shape(a.shape, b_shape)
            else:  # B @ a
                inner = a.shape[0] if a.rank == 1 else a.shape[-2]
                rank = self.pick([1, 2, 2, 3, 4] if a.rank < 3 else [2, 3, 3, 4])
                lead = self.lead(a.shape[:-2], rank - 2)
                b_shape = (inner,) if rank == 1 else lead + (self.dim(), inner)
                shape = matmul_shape(b_shape, a.shape)
            if not fits(shape):
                continue
            b = None
            if pair or self.chance(30):
                b = self.operand(lambda t, want=b_shape: t.shape == want)
            if b is None:
                b = self.param(b_shape)
            if form == "left":
                return Term(f"{b.text} @ {a.text}", shape, a.batched or b.batched)
            return Term(f"{a.text} @ {b.text}", shape, a.batched or b.batched)
        return None

    def lead(self, other: tuple[int, ...], count: int) -> tuple[int, ...]:
        """``count`` leading (batch-like) axes of a matrix that broadcast with ``other``'s."""
        if count <= 0:
            return ()
        lead = list(self.partner_shape(other)[-count:])
        lead = [self.pick([1, 2, 3]) for _ in range(count - len(lead))] + lead
        aligned = range(1, min(len(lead), len(other)) + 1)
        if aligned and self.chance(40):  # a size-1 axis against a longer one, either way round
            k = self.pick(aligned)
            lead[-k] = 1 if other[-k] > 1 else self.pick([2, 3])
        return tuple(lead)

    def dense(self) -> Term | None:
        x = self.operand(lambda t: t.rank == 1 and t.batched and re.fullmatch(r"\w+", t.text) is not None)
        if x is None:
            return None
        rows = self.dim()
        w = self.param((rows, x.shape[0]))
        if self.chance(70):
            return Term(f"{w.text} @ {x.text} + {self.param((rows,)).text}", (rows,), True)
        return Term(f"{w.text} @ {x.text}", (rows,), True)

    def einsum(self) -> Term | None:
        a = self.operand(lambda t: t.rank >= 1 or self.chance(20))
        if a is None:
            return None
        letters = iter(self.pick(["ijklmnopqrsuvw", "abcdefghijklmn", "pqrsuvwxyzabcd", "iIjJkKlLmMnNoO"]))
        sizes: dict[str, int] = {}
        operands: list[tuple[Term, str]] = []

        def letter_for(n: int, taken: str, new_only: bool = False) -> str:
            same = [c for c, m in sizes.items() if m == n and c not in taken]
            if same and not new_only and self.chance(60):
                return self.pick(same)
            c = next(letters)
            sizes[c] = n
            return c

        subs = ""
        for n in a.shape:
            subs += letter_for(n, subs, new_only=True)
        operands.append((a, subs))
        for _ in range(self.pick([0, 1, 1, 1, 2])):
            kind = self.pick(["param", "param", "pool", "self"])
            b = a if kind == "self" else (self.operand() if kind == "pool" else None)
            if b is not None:
                subs = ""
                for n in b.shape:
                    subs += letter_for(n, subs)
            else:
                rank = self.pick([0, 1, 1, 2, 2, 3])
                subs, shape = "", []
                for _ in range(rank):
                    if sizes and self.chance(65):
                        options = [c for c in sizes if c not in subs]
                        if options:
                            c = self.pick(options)
                            subs += c
                            shape.append(sizes[c])
                            continue
                    c = next(letters)
                    sizes[c] = self.dim()
                    subs += c
                    shape.append(sizes[c])
                b = self.param(shape)
            operands.append((b, subs))
        everything = list(dict.fromkeys("".join(s for _, s in operands)))
        counts = {c: sum(s.count(c) for _, s in operands) for c in everything}
        implicit = "".join(sorted(c for c in everything if counts[c] == 1))
        if self.chance(20) and fits(tuple(sizes[c] for c in implicit)):
            out, arrow = implicit, ""
        else:
            out = "".join(c for c in everything if self.chance(50))
            out = "".join(self.pick([out, out[::-1]]))
            while not fits(tuple(sizes[c] for c in out)):
                out = out[1:]
            arrow = "->" + out
        subscripts = ",".join(s for _, s in operands) + arrow
        text = f'einsum("{subscripts}", {", ".join(t.text for t, _ in operands)})'
        return Term(text, tuple(sizes[c] for c in out), any(t.batched for t, _ in operands))

    def transpose(self, a: Term | None = None) -> Term | None:
        a = a or self.operand(lambda t: t.rank >= 2 or self.chance(10))
        if a is None:
            return None
        if self.chance(30):
            return Term(f"{a.text}.T", a.shape[::-1], a.batched)
        if self.chance(15):
            return Term(f"transpose({a.text})", a.shape[::-1], a.batched)
        perm = list(range(a.rank))
        for k in range(len(perm) - 1, 0, -1):  # a random permutation from the source
            j = self.s.randint(0, k)
            perm[k], perm[j] = perm[j], perm[k]
        shown = [p - a.rank if self.chance(30) else p for p in perm]
        return Term(f"transpose({a.text}, {_listed(shown)})", tuple(a.shape[p] for p in perm), a.batched)

    def reshape(self, a: Term | None = None) -> Term | None:
        a = a or self.operand()
        if a is None:
            return None
        primes, rest = [], size(a.shape)
        for p in (2, 3, 5, 7, 11, 13):
            while rest % p == 0:
                primes.append(p)
                rest //= p
        primes += [rest] if rest > 1 else []
        shape: list[int] = []
        while primes:  # the size split into factors, at random
            p = primes.pop(self.s.randint(0, len(primes) - 1))
            if shape and self.chance(50):
                shape[self.s.randint(0, len(shape) - 1)] *= p
            else:
                shape.insert(self.s.randint(0, len(shape)), p)
        while len(shape) < MAX_RANK and self.chance(20):
            shape.insert(self.s.randint(0, len(shape)), 1)
        if len(shape) > MAX_RANK:
            return None
        shown = list(shape)
        if shown and self.chance(40):
            shown[self.s.randint(0, len(shown) - 1)] = -1
        if len(shown) == 1 and self.chance(30):
            return Term(f"reshape({a.text}, {shown[0]})", tuple(shape), a.batched)
        return Term(f"reshape({a.text}, {_listed(shown)})", tuple(shape), a.batched)

    def reduce(self) -> Term | None:
        a = self.operand()
        if a is None:
            return None
        kind = self.pick(["sum", "sum", "mean", "max"])
        keep = self.chance(35) and a.rank > 0
        keep_text = ", keepdims=1" if keep else (", keepdims=0" if self.chance(10) else "")
        if a.rank == 0 or self.chance(20):
            shape = tuple(1 for _ in a.shape) if keep else ()
            return Term(f"{kind}({a.text}{keep_text})", shape, a.batched)
        count = self.s.randint(1, a.rank)
        axes = sorted(set(self.s.randint(0, a.rank - 1) for _ in range(count)))
        shown = [k - a.rank if self.chance(35) else k for k in axes]
        if len(shown) == 1 and self.chance(60):
            axis_text = str(shown[0])
        else:
            axis_text = "(" + ", ".join(map(str, shown)) + ("," if len(shown) == 1 else "") + ")"
        shape = tuple(1 if k in axes else n for k, n in enumerate(a.shape) if keep or k not in axes)
        rows = a.rank == 2 and axes == [1] and not keep
        return Term(f"{kind}({a.text}, axis={axis_text}{keep_text})", shape, a.batched, rows)

    def softmax(self) -> Term | None:
        a = self.operand(lambda t: t.rank >= 1)
        if a is None:
            return None
        function = self.pick(["softmax", "softmax", "logsumexp"])
        axis = self.s.randint(-a.rank, a.rank - 1)
        if self.chance(25):
            given, axis = "", -1
        elif self.chance(20):
            given = f", {axis}"
        else:
            given = f", axis={axis}"
        if function == "softmax":
            return Term(f"softmax({a.text}{given})", a.shape, a.batched)
        shape = a.shape[: axis % a.rank] + a.shape[axis % a.rank + 1 :]
        return Term(f"logsumexp({a.text}{given})", shape, a.batched)

    def chain(self) -> Term | None:
        """Two or three moves of one tensor in a row: reshape, transpose, .T, slices."""
        a = self.operand()
        for _ in range(self.pick([2, 2, 3])):
            if a is None:
                return None
            moved = self.pick([self.transpose, self.reshape, self.slice])(Term(f"({a.text})", a.shape, a.batched))
            a = moved if moved is not None else a
        return a

    def layer_norm(self) -> Term | None:
        """``layer_norm(a, axis=...)`` over one or more axes holding 2 elements or more."""
        a = self.operand(lambda t: size(t.shape) >= 2)
        if a is None:
            return None
        for _ in range(5):
            axes = sorted({self.s.randint(0, a.rank - 1) for _ in range(self.s.randint(1, a.rank))})
            if size([a.shape[k] for k in axes]) >= 2:
                break
        else:
            return None
        shown = [k - a.rank if self.chance(40) else k for k in axes]
        if axes == [a.rank - 1] and self.chance(40):
            given = ""
        elif len(shown) == 1:
            given = f", axis={shown[0]}"
        else:
            given = f", axis=({', '.join(map(str, shown))})"
        eps = self.pick(["", "", ", eps=0.001"])
        return Term(f"layer_norm({a.text}{given}{eps})", a.shape, a.batched)

    def batch_norm(self) -> Term | None:
        """``batch_norm(a)`` over the batch, and sometimes over per-sample axes too."""
        a = self.operand(lambda t: t.batched)
        if a is None:
            return None
        given = ""
        if a.rank and self.chance(50):
            axes = sorted({self.s.randint(0, a.rank - 1) for _ in range(self.s.randint(1, a.rank))})
            given = f", axis={axes[0]}" if len(axes) == 1 else f", axis=({', '.join(map(str, axes))})"
        return Term(f"batch_norm({a.text}{given})", a.shape, True)

    def conv(self) -> Term | None:
        """``conv1d(x, K, stride=, padding=)`` of a [C, L] tensor or ``conv2d`` of a [C, H, W] one."""
        dims = self.pick([1, 2])
        x = self.operand(lambda t: t.rank == dims + 1)
        if x is None:
            x = self.add_input(dims + 1, (self.pick([1, 2]), *(self.pick([3, 4, 5]) for _ in range(dims))))
        kernel = tuple(self.pick([1, 2, 3]) for _ in range(dims))
        stride = self.pick([1, 1, 2])
        padding = self.pick([0, 0, 1])
        spatial = [(n + 2 * padding - m) // stride + 1 for n, m in zip(x.shape[1:], kernel)]
        if any(k > n + 2 * padding for k, n in zip(kernel, x.shape[1:])):
            return None
        w = self.param((self.pick([1, 2, 3]), x.shape[0], *kernel))
        extra = (f", stride={stride}" if stride != 1 else "") + (f", padding={padding}" if padding else "")
        if extra and self.chance(30):
            extra = f", {stride}, {padding}"  # positional
        shape = (w.shape[0], *spatial)
        return Term(f"conv{dims}d({x.text}, {w.text}{extra})", shape, x.batched)

    def pool2d(self) -> Term | None:
        """``max_pool2d(x, k)`` / ``avg_pool2d(x, k, stride=s)`` of a [C, H, W] tensor, or
        ``max_pool1d``/``avg_pool1d`` of a [C, L] one; a window or stride per axis sometimes."""
        dims = self.pick([1, 2, 2])
        x = self.operand(lambda t: t.rank == dims + 1 and min(t.shape[1:]) >= 2)
        if x is None:
            x = self.add_input(dims + 1, (self.pick([1, 2]), *(self.pick([2, 3, 4, 5]) for _ in range(dims))))
        kind = self.pick(["max", "avg"])
        if dims == 2 and self.chance(25):  # (kh, kw), stride (sh, sw)
            sizes = tuple(self.pick([1, 2, 3]) if n >= 3 else self.pick([1, 2]) for n in x.shape[1:])
            strides = tuple(self.pick([1, 2, 3]) for _ in sizes)
            out = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:], sizes, strides)]
            text = f"{kind}_pool2d({x.text}, ({sizes[0]}, {sizes[1]}), stride=({strides[0]}, {strides[1]}))"
            return Term(text, (x.shape[0], *out), x.batched)
        size_ = self.pick([1, 2, 2, 3]) if min(x.shape[1:]) >= 3 else self.pick([1, 2])
        stride = self.pick([None, None, 1, 2, 3])
        out = [(n - size_) // (stride or size_) + 1 for n in x.shape[1:]]
        text = f"{kind}_pool{dims}d({x.text}, {size_}" + (f", stride={stride}" if stride else "") + ")"
        return Term(text, (x.shape[0], *out), x.batched)

    def recurrence(self) -> Term | None:
        """Unrolled steps over the rows of one tensor s [n, d] (an input, a node, a table's rows
        ``Emb[ids]``), each step a node: ``f(W @ s[i] (+ W @ s[j] or Q @ s[j]) (+ U @ h) +- b)``
        with W, Q, U and b shared by the steps, the bias anywhere in the sum, twice, scaled or
        missing, the sum sometimes a node of its own read again.  What the NumPy module does for
        all the steps at once (``emit.numpy.stacking``: one product W @ s[i] for every step, the
        bias folded into it, the slices' adjoints in one stack, the bias's gradient in one sum)."""
        source = self.operand(lambda t: t.rank == 2 and t.batched and t.shape[0] >= 2 and re.fullmatch(r"\w+", t.text))
        if source is None or self.chance(30):
            n = self.pick([2, 3, 4])
            if self.chance(40):  # the rows of a table: an embedding
                table = self.param((self.pick([2, 3, 5]), self.pick([1, 2, 3])))
                ids = self.discrete_input("i", (n,), {"dtype": "int", "range": table.shape[0]})
                source = Term(f"h{len(self.nodes) + 1}", (n, table.shape[1]), True)
                self.nodes[source.text] = f"{table.text}[{ids}]"
                self.pool.append(source)
            else:
                source = self.add_input(2, (n, self.pick([1, 2, 3])))
        n, d = source.shape
        h = self.dim()
        w, q, u, b = self.param((h, d)), self.param((h, d)), self.param((h, h)), self.param((h,))
        rows = lambda: self.s.randint(-n, n - 1)  # noqa: E731
        previous = None
        plain = self.chance(40)  # one row and the bias once a step: what the module folds the bias into
        for _ in range(self.pick([2, 2, 3])):
            terms = [f"{w.text} @ {source.text}[{rows()}]"]
            if not plain and self.chance(35):
                terms.append(f"{self.pick([w, q]).text} @ {source.text}[{rows()}]")
            if previous is not None and self.chance(80):
                terms.append(f"{u.text} @ {previous}")
            bias = b.text if plain else self.pick([b.text, b.text, b.text, f"2 * {b.text}", None])
            if bias is not None:
                terms.insert(self.s.randint(0, len(terms)), bias)
            text = " + ".join(terms)
            if not plain and bias is not None and self.chance(15):
                text += f" - {b.text}" if self.chance(50) else f" + {b.text}"
            if self.chance(25):  # the sum a node of its own, sometimes read again
                name = f"h{len(self.nodes) + 1}"
                self.nodes[name] = text
                self.pool.append(Term(name, (h,), True))
                text = f"{name} * tanh({name})" if self.chance(40) else name
            value = f"{self.pick(['tanh', 'tanh', 'sigmoid', 'softplus'])}({text})"
            name = f"h{len(self.nodes) + 1}"
            self.nodes[name] = value
            self.pool.append(Term(name, (h,), True))
            previous = name
        return Term(f"{previous} * {self.param((h,)).text}", (h,), True)

    def shared_bias(self) -> Term | None:
        """``a + b`` with b a parameter of a's trailing axes, often one added elsewhere already
        (a bias shared by tensors of other leading shapes: sequences of 2 and 3 rows), the sum
        a node read twice (its adjoint an array of its own: the module may sum the bias's
        adjoints in one concatenation)."""
        a = self.operand(lambda t: t.rank >= 1 and t.batched)
        if a is None:
            return None
        suffixes = [a.shape[k:] for k in range(a.rank)]
        same = [(p, tuple(s)) for p, s in self.params.items() if tuple(s) in suffixes]
        if same and self.chance(80):
            b = Term(*self.pick(same), False)
        else:
            b = self.param(self.pick(suffixes))
        a_text = a.text
        if b.rank < a.rank and self.chance(50):  # x2 * w + b and a * w + b, x2 of other leading sizes
            lead = list(a.shape[: a.rank - b.rank])
            lead[0] = lead[0] % 3 + 1
            other = self.add_input(a.rank, (*lead, *b.shape))
            w = self.param(b.shape)  # the sums' adjoints go to w too: arrays of their own
            name = f"h{len(self.nodes) + 1}"
            self.nodes[name] = f"{other.text} * {w.text} + {b.text}"
            self.pool.append(Term(name, other.shape, True))
            a_text = f"{a.text} * {w.text}"
        name = f"h{len(self.nodes) + 1}"
        self.nodes[name] = f"{a_text} + {b.text}" if self.chance(70) else f"{b.text} - {a_text}"
        self.pool.append(Term(name, a.shape, True))
        return Term(f"{name} * tanh({name})", a.shape, True)

    def masked_softmax(self) -> Term | None:
        """``softmax(where(mask, a, -1e9), axis=k)``: attention's masked scores."""
        a = self.operand(lambda t: t.rank >= 1)
        if a is None:
            return None
        if a.rank >= 2 and a.shape[-1] == a.shape[-2] and self.chance(60):
            mask, mask_shape = f"tril({a.shape[-1]})", (a.shape[-1],) * 2
        else:
            mask_shape = self.partner_shape(a.shape)
            mask = f"m{len([k for k in self.inputs if k.startswith('m')]) + 1}"
            self.inputs[mask] = {"shape": list(mask_shape), "dtype": "bool"}
        shape = broadcast(a.shape, mask_shape)
        if not fits(shape):
            return None
        axis = self.s.randint(-len(shape), len(shape) - 1)
        batched = a.batched or not mask.startswith("tril")
        return Term(f"softmax(where({mask}, {a.text}, -1e9), axis={axis})", shape, batched)

    def concat(self) -> Term | None:
        a = self.operand(lambda t: t.rank >= 1)
        if a is None:
            return None
        axis = self.s.randint(-a.rank, a.rank - 1)
        parts = [a]
        for _ in range(self.pick([1, 1, 2])):
            kind = self.pick(["self", "pool", "param", "param", "function"])
            want = lambda t, k=axis % a.rank: t.rank == a.rank and all(  # noqa: E731
                m == n for j, (m, n) in enumerate(zip(t.shape, a.shape)) if j != k
            )
            b = None
            if kind == "self":
                b = a
            elif kind == "function":
                b = Term(f"tanh({a.text})", a.shape, a.batched)
            elif kind == "pool":
                b = self.operand(want)
            if b is None:
                shape = list(a.shape)
                shape[axis] = self.pick([1, 2, 3])
                b = self.param(shape)
            parts.append(b)
        shape = list(a.shape)
        shape[axis] = sum(p.shape[axis] for p in parts)
        where = "" if axis == -1 and self.chance(50) else f", axis={axis}"
        return Term(f"concat({', '.join(p.text for p in parts)}{where})", tuple(shape), any(p.batched for p in parts))

    def slice_items(self, shape) -> tuple[str, tuple[int, ...]]:
        """Random constant indices for the leading axes of ``shape``: (text, result shape)."""
        count = self.s.randint(1, len(shape))
        items, out = [], []
        for n in shape[:count]:
            if self.chance(35):
                k = self.s.randint(-n, n - 1)
                items.append(str(k))
                continue
            for _ in range(10):
                start = self.pick([None, None, *range(-n, n)])
                stop = self.pick([None, None, *range(-n, n + 1)])
                step = self.pick([None, None, 1, 2, 3])
                length = len(range(n)[slice(start, stop, step)])
                if length:
                    break
            else:
                start, stop, step, length = None, None, None, n
            text = f"{'' if start is None else start}:{'' if stop is None else stop}"
            if step is not None:
                text += f":{step}"
            items.append(text)
            out.append(length)
        return ", ".join(items), tuple(out) + tuple(shape[count:])

    def slice(self, a: Term | None = None) -> Term | None:
        a = a or self.operand(lambda t: t.rank >= 1)
        if a is None or a.rank == 0:
            return None
        items, shape = self.slice_items(a.shape)
        return Term(f"{a.text}[{items}]", shape, a.batched)

    def discrete_input(self, prefix: str, shape: tuple[int, ...], declaration: dict) -> str:
        """A new integer or boolean input whose value has ``shape`` as written: often the input
        itself, else a move of it (transposed, reshaped, or one row of it), as the language allows."""
        name = f"{prefix}{len([k for k in self.inputs if k.startswith(prefix)]) + 1}"
        kind = self.pick(["plain", "plain", "plain", "transpose", "reshape", "row"])
        declared, text = list(shape), name
        if kind == "transpose" and len(shape) >= 2:
            perm = list(range(len(shape)))
            for k in range(len(perm) - 1, 0, -1):
                j = self.s.randint(0, k)
                perm[k], perm[j] = perm[j], perm[k]
            declared = [shape[perm.index(j)] for j in range(len(shape))]
            text = f"{name}.T" if perm == list(range(len(shape)))[::-1] else f"transpose({name}, {_listed(perm)})"
        elif kind == "reshape":
            declared, text = [size(shape)], f"reshape({name}, {_listed(shape)})"
        elif kind == "row" and len(shape) < MAX_RANK:
            rows = self.pick([1, 2, 3])
            declared, text = [rows, *shape], f"{name}[{self.s.randint(-rows, rows - 1)}]"
        self.inputs[name] = {"shape": declared, **declaration}
        return text

    def gather(self) -> Term | None:
        classes = self.s.randint(2, 7)
        ids_shape = self.shape(self.pick([0, 1, 1, 2]))
        index = self.discrete_input("i", ids_shape, {"dtype": "int", "range": classes})
        if ids_shape and self.chance(25):
            items, ids_shape = self.slice_items(ids_shape)
            index = f"({index})[{items}]" if not re.fullmatch(r"\w+", index) else f"{index}[{items}]"
        tables = [t for t in self.pool if not t.batched and t.rank >= 1 and t.shape[0] >= classes]
        table = None
        if tables and self.chance(30):
            table = self.pick(tables)
            if self.chance(30):
                table = Term(f"tanh({table.text})", table.shape, False)
        if table is None or not fits(ids_shape + table.shape[1:]):
            table = self.param((classes + self.pick([0, 0, 1]),) + self.shape(self.pick([0, 1, 1, 2])))
        shape = ids_shape + table.shape[1:]
        return Term(f"{table.text}[{index}]", shape, True)

    def where(self) -> Term | None:
        a = self.operand()
        if a is None:
            return None
        if a.rank >= 2 and a.shape[-1] == a.shape[-2] and self.chance(40):
            mask, mask_shape = f"tril({a.shape[-1]})", (a.shape[-1],) * 2
        else:
            mask_shape = self.partner_shape(a.shape)
            mask = self.discrete_input("m", mask_shape, {"dtype": "bool"})
        form = self.pick(["number", "number", "other", "self"])
        if form == "number":
            number = self.pick([*NUMBERS, "0", "-2"])
            branches = [a.text, number] if self.chance(50) else [number, a.text]
            shape, batched = broadcast(a.shape, mask_shape), a.batched
        else:
            found = self.partner(a) if form == "other" else (Term(f"-{a.text}", a.shape, a.batched), a.shape)
            if found is None:
                return None
            b, _ = found
            b_text = b if isinstance(b, str) else b.text
            branches = [a.text, b_text] if self.chance(50) else [b_text, a.text]
            shape = broadcast(a.shape, mask_shape, () if isinstance(b, str) else b.shape)
            batched = a.batched or (not isinstance(b, str) and b.batched)
        if not fits(shape):
            return None
        return Term(f"where({mask}, {', '.join(branches)})", shape, batched or not mask.startswith("tril"))

    # -- the spec -----------------------------------------------------------------------

    def build(self) -> dict:
        for _ in range(self.pick([1, 1, 2])):
            self.add_input(self.pick([0, 1, 1, 2, 2, 3, 4]))
        wanted = self.s.randint(2, 6)
        for _ in range(4 * wanted):
            if len(self.nodes) >= wanted:
                break
            term = self.expression()
            if term is None:
                continue
            name = f"h{len(self.nodes) + 1}"
            self.nodes[name] = term.text
            self.pool.append(Term(name, term.shape, term.batched, term.rows))
        batched = [t for t in self.pool if t.batched and t.text in self.nodes] or [t for t in self.pool if t.batched]
        y = batched[-1]
        if not self.params or y.text not in self.nodes:  # the loss must depend on a parameter; forward() needs a node
            w = self.param(y.shape)
            name = f"h{len(self.nodes) + 1}"
            self.nodes[name] = f"{y.text} * {w.text}"
            y = Term(name, y.shape, True)
            self.pool.append(y)
        targets: dict[str, list[int]] = {}
        kind = self.pick(["half_sse", "mse", "cross_entropy", "binary_cross_entropy", "huber", "sum", "logsumexp"])
        shared = self.chance(25)  # the output activation a node of its own, used once more: not fused
        if kind in ("cross_entropy", "binary_cross_entropy") and shared and (y.rank >= 1 or kind != "cross_entropy"):
            targets["t"] = list(y.shape)
            activation = "softmax" if kind == "cross_entropy" else "sigmoid"
            name = f"h{len(self.nodes) + 1}"
            self.nodes[name] = f"{activation}(tanh({y.text}))"  # tanh: no saturation (see the report)
            self.pool.append(Term(name, y.shape, y.batched))
            main = f"{kind}({name}, t) + 0.1 * {'mean' if y.rank else ''}({name} ** 2)"
        elif kind == "cross_entropy" and y.rank >= 1:
            targets["t"] = list(y.shape)
            main = f"cross_entropy(softmax({y.text}), t)"
        elif kind == "binary_cross_entropy":
            targets["t"] = list(y.shape)
            main = f"binary_cross_entropy(sigmoid({y.text}), t)"
        elif kind == "huber":
            targets["t"] = list(y.shape)
            main = f"huber({y.text}, t, delta=0.5)"
        elif kind in ("half_sse", "mse", "cross_entropy"):
            targets["t"] = list(y.shape)
            main = f"{'mse' if kind == 'mse' else 'half_sse'}({y.text}, t)"
        elif kind == "logsumexp" and y.rank >= 1:
            main = f"sum(logsumexp({y.text}, axis={self.s.randint(-y.rank, y.rank - 1)}))"
        else:
            main = f"sum({y.text} ** 2) / 2" if y.rank else f"{y.text} ** 2 / 2"
        if self.chance(15):  # the loss function inside a larger expression
            main = f"{self.pick(['0.5', '2', '1.5'])} * ({main})"
        loss = self.covered(main)
        unreached = [k for k in self.inputs if k not in reachable(loss, self.nodes)]
        assert not unreached, unreached  # int and bool inputs are created inside the node that reads them
        nodes = self.nodes
        if self.chance(20):  # nodes listed in any order: a node may be used before it is defined
            names = list(nodes)
            order = [names.pop(self.s.randint(0, len(names) - 1)) for _ in range(len(names))]
            nodes = {name: nodes[name] for name in order}
        spec = {"name": f"tensor_graph_{self.index}", "inputs": self.inputs, "params": self.params, "nodes": nodes}
        last = self.pool[[t.text for t in self.pool].index(list(nodes)[-1])]
        if not last.batched:  # forward() returns the last node unless told: it must vary by sample
            spec["output"] = y.text
        if targets:
            spec["targets"] = targets
        spec["loss"] = loss
        return spec

    def covered(self, loss: str) -> str:
        """``loss`` plus a small term for every node, parameter and input it does not reach."""
        while True:
            reached = reachable(loss, self.nodes)
            missing = [t for t in self.pool if t.text not in reached and not self.read_by_unreached(t.text, reached)]
            if not missing:
                return loss
            for t in missing:
                loss += f" + 0.1 * {'mean' if t.rank else ''}({t.text} ** 2)"

    def read_by_unreached(self, name: str, reached: set[str]) -> bool:
        """Whether a node the loss does not reach yet reads ``name`` (its own term covers it)."""
        return any(node not in reached and name in names_in(text) for node, text in self.nodes.items())


def names_in(text: str) -> set[str]:
    text = re.sub(r'"[^"]*"', "", text)  # einsum's subscripts
    return set(re.findall(r"[A-Za-z_]\w*", text))


def reachable(loss: str, nodes: dict[str, str]) -> set[str]:
    seen, todo = set(), list(names_in(loss))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in nodes:
            todo.extend(names_in(nodes[name]))
    return seen


def tensor_graph_spec(source, index: int = 0) -> dict:
    """A random valid graph spec over the tensor grammar, every choice drawn from ``source``."""
    return Builder(source, index).build()


class DrawSource:
    """A Hypothesis ``draw`` as a source of choices (so Hypothesis can shrink a failing spec)."""

    def __init__(self, draw):
        self.draw = draw

    def choice(self, options):
        from hypothesis import strategies as st

        return self.draw(st.sampled_from(list(options)))

    def randint(self, low: int, high: int) -> int:
        from hypothesis import strategies as st

        return self.draw(st.integers(low, high))


# -- checking one spec ----------------------------------------------------------------------


def emit(spec: dict, directory: Path):
    """Derive ``spec``, write its module into ``directory`` and import it: (path, module)."""
    path = symprop.derive(symprop.from_dict(spec, source="<tensor property>")).write_numpy(directory)
    return path, load_module(path)


class Skip(Exception):
    """A spec whose values the check cannot judge (the reference overflows at the points)."""


#: Gradient norms below this are compared absolutely (to TOLERANCE * GRADIENT_FLOOR): a relative
#: error of two roundings of zero means nothing.
GRADIENT_FLOOR = 1e-6
#: Reference losses beyond this are treated as overflow (the spec is skipped).
LARGEST = 1e6


def check_spec(spec: dict, directory: Path | None = None, float32: bool = True) -> Path:
    """Derive, emit, import; loss and gradients against autograd and central differences
    (``check_module_against_references``); the module's other functions (``check_functions``);
    with ``float32``, the module run in float32 keeps float32 and stays close to float64.
    Returns the module's path (for a ruff check); raises ``Skip`` when the reference itself
    overflows at the points checked."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # autograd: "Output seems independent of input"
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="symprop_tensor_"))
        path, module = emit(spec, directory)
        reference = Reference(spec)
        for seed in (0, 1):
            params, X, T = point(module, seed)
            try:
                with np.errstate(over="raise", divide="raise", invalid="raise"):
                    value = reference.batch_loss(params, *reference.as_dicts(X, T))
            except FloatingPointError as exc:
                raise Skip(f"the reference overflows: {exc}") from None
            if not abs(value) < LARGEST:  # central differences cannot judge it; autograd still does
                if math.isfinite(value) and not explained_by_rounding(reference, module, spec, central=False):
                    raise AssertionError(f"autograd disagrees (a loss of {value:.3g})")
                raise Skip(f"the reference loss is {value} (checked against autograd only)")
        try:
            with np.errstate(over="raise", divide="raise", invalid="raise"):
                check_module_against_references(spec, module)
        except AssertionError:
            if not explained_by_rounding(reference, module, spec):
                raise
        # batch_norm normalises over the batch: a batch of one is refused, by design (README)
        check_functions(module, reference, batch_of_one="batch_norm(" not in " ".join([*spec["nodes"].values(), spec["loss"]]))
        if float32:
            check_float32(module)
    return path


def check_functions(module, reference: Reference, batch_of_one: bool = True) -> None:
    """The module's other entry points agree with ``loss_and_grad`` (which the oracle checks):
    ``loss``, and ``backward`` from ``forward``'s cache; and a batch of one sample agrees with
    the reference (squeezes and sums over the batch axis)."""
    params, X, T = point(module, 0)
    value, grads = module.loss_and_grad(params, X, T)
    assert abs(module.loss(params, X, T) - value) <= 1e-12 * (1 + abs(value)), "loss() differs from loss_and_grad()"
    _, cache = module.forward(params, X)
    again = module.backward(params, cache, T)
    assert _relative(again, grads, GRADIENT_FLOOR) < 1e-12, "backward(forward()) differs from loss_and_grad()"
    if not batch_of_one:
        return
    params, X, T = point(module, 0, batch=1)
    value, grads = module.loss_and_grad(params, X, T)
    Xd, Td = reference.as_dicts(X, T)
    assert abs(value - reference.batch_loss(params, Xd, Td)) <= 1e-10 * (1 + abs(value)), "a batch of one: the loss differs"
    floor = max(GRADIENT_FLOOR, 1e-6 * abs(value))  # as in explained_by_rounding
    assert _relative(grads, reference.gradients(params, Xd, Td), floor) < TOLERANCE, "a batch of one: gradients differ"


def _relative(ours: dict, theirs: dict, floor: float) -> float:
    """|ours - theirs| / max(|ours| + |theirs|, floor) over all gradients (norms)."""
    a = np.concatenate([np.ravel(ours[k]) for k in sorted(ours)])
    b = np.concatenate([np.ravel(theirs[k]) for k in sorted(ours)])
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), floor))


def _central(module, params, X, T, eps=1e-4) -> tuple[dict, dict]:
    """Central differences of the module's loss at step ``eps / 2``, and Richardson-extrapolated
    from ``eps`` and ``eps / 2`` (error O(eps^4)); their difference estimates the error of the
    plain ones (as ``formula_strategies._central``)."""

    def difference(value, index, h):
        saved = value[index]
        value[index] = saved + h
        up = module.loss(params, X, T)
        value[index] = saved - h
        down = module.loss(params, X, T)
        value[index] = saved
        return (up - down) / (2 * h)

    plain, extrapolated = {}, {}
    for key, value in params.items():
        plain[key], extrapolated[key] = np.zeros_like(value), np.zeros_like(value)
        for index in np.ndindex(value.shape):
            half = difference(value, index, eps / 2)
            plain[key][index] = half
            extrapolated[key][index] = (4 * half - difference(value, index, eps)) / 3
    return plain, extrapolated


#: How many failures of the strict check ``explained_by_rounding`` accepted (reported by the fuzzer).
EXPLAINED: list[str] = []


def explained_by_rounding(reference: Reference, module, spec: dict, central: bool = True) -> bool:
    """Whether a failed ``check_module_against_references`` is rounding, not a wrong gradient:
    at its three points (two for autograd, the module's ``gradient_check`` for central
    differences) the loss agrees with the reference to 1e-10 and the gradients agree
    with autograd to TOLERANCE relative to their norm (or to ``GRADIENT_FLOOR`` or 1e-6 of the
    loss, below which a relative error of two roundings of zero means nothing), and
    Richardson-extrapolated central differences agree too wherever their own error estimate
    says they can decide (a loss of 6674 leaves the module's fixed-step check 5e-7 of rounding).
    ``central=False``: autograd alone (for losses too large for any central difference)."""
    rng = np.random.default_rng(1)  # the point of the module's gradient_check(seed=0), as its template draws it
    check_params = {k: np.asarray(v + 0.1 * rng.standard_normal(v.shape)) for k, v in module.init_params(0).items()}
    for seed in (0, 1, "gradient_check"):
        params, X, T = (check_params, *module.sample_batch(4, 0)) if seed == "gradient_check" else point(module, seed)
        value, grads = module.loss_and_grad(params, X, T)
        Xd, Td = reference.as_dicts(X, T)
        if abs(value - reference.batch_loss(params, Xd, Td)) > 1e-10 * (1 + abs(value)):
            return False
        theirs = reference.gradients(params, Xd, Td)
        # Both round a zero gradient to about 1e-17 |E| (a sum of softmax outputs is constant).
        if _relative(grads, theirs, max(GRADIENT_FLOOR, 1e-6 * abs(value))) > TOLERANCE:
            return False
        if not central:
            continue
        plain, extrapolated = _central(module, params, X, T)
        floor = max(GRADIENT_FLOOR, 1e-2 * abs(value))
        if _relative(extrapolated, theirs, floor) > TOLERANCE and _relative(plain, extrapolated, floor) < TOLERANCE:
            return False
    if central:
        EXPLAINED.append(spec.get("name", "?"))
    return True


def check_float32(module, seed: int = 0) -> None:
    params, X, T = point(module, seed)
    value64, grads64 = module.loss_and_grad(params, X, T)

    def single(a):
        a = np.asarray(a)
        return a.astype(np.float32) if a.dtype.kind == "f" else a

    as32 = (lambda d: {k: single(v) for k, v in d.items()}) if isinstance(X, dict) else single
    params32 = {k: single(v) for k, v in params.items()}
    X32 = as32(X)
    T32 = None if T is None else ({k: single(v) for k, v in T.items()} if isinstance(T, dict) else single(T))
    value32, grads32 = module.loss_and_grad(params32, X32, T32)
    assert np.asarray(value32).dtype == np.float32, f"the loss is {np.asarray(value32).dtype} in a float32 run"
    wrong = {k: np.asarray(g).dtype for k, g in grads32.items() if np.asarray(g).dtype != np.float32}
    assert not wrong, f"gradients not float32 in a float32 run: {wrong}"
    assert abs(float(value32) - value64) <= FLOAT32_TOLERANCE * (1 + abs(value64)), (float(value32), value64)
    # float32 rounds each value to 6e-8 of itself: a gradient much smaller than the loss (a
    # saturated tanh: 1 - a^2 with a = 1 - 1e-7) keeps an absolute error of that order, so
    # gradients are compared relative to their norm or to 1% of the loss, whichever is larger.
    error = _relative(grads32, grads64, 1e-2 * (1 + abs(value64)))
    assert error < FLOAT32_TOLERANCE, f"float32 gradients off by {error:.2e} (relative)"


def ruff_check(paths: list[Path]) -> str:
    """``ruff check`` of generated modules with the repository's settings; its report ('' when clean)."""
    result = subprocess.run(["ruff", "check", "--no-cache", *map(str, paths)], capture_output=True, text=True, cwd=ROOT)
    return "" if result.returncode == 0 else result.stdout + result.stderr


__all__ = ["TOLERANCE", "DrawSource", "Skip", "check_spec", "ruff_check", "tensor_graph_spec"]
