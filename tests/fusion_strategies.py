"""Random graph specs that stress the module's folding of elementwise backward steps
(``symprop.emit.numpy.fusion``), built on ``tensor_strategies.Builder`` (its leaves, pool and
choice source) and checked by its ``check_spec`` (autograd, central differences, loss(),
backward(forward()), float32).

The general generator draws elementwise formulas among twenty kinds of op; this one draws
almost only them, over few small shapes (per-sample scalars and vectors), so that adjoints
chain, wait, cancel and get renamed:

* activations and math (``tanh sigmoid exp relu abs max``), ``+ - * /``, powers, the numbers
  ``2``, ``1/2``, ``0.5``, ``3``, ``0.25``;
* a node and its scaled copy cancelling: ``p = 2 * h`` then ``p / 2 - h + ...`` (in any
  order, through ``0.5 * p`` or ``p * (1/2)``);
* an input repeated in one formula: ``h * h``, ``h - h + ...``, ``max(h, h)``, ``h + h``;
* renamings: ``1 * h``, ``h / 1``, chains of them;
* nodes read by several later nodes, parameters used in several places, a per-sample scalar
  (an input, ``sum(h)``, ``mean(h)``) broadcast against vectors, a matrix product in between
  (its code names an adjoint); sometimes per-sample (rows, size) matrices, with vectors and
  (rows, 1) columns broadcast against them;
* losses that are expressions: ``half_sse(y, t) + 0.01 * sum(W * W)``, ``mean(y)``,
  sums of several terms.
"""

from __future__ import annotations

import re

from tensor_strategies import Builder, Term, broadcast

#: Numbers that scale a node (and undo the scaling).
SCALES = [("2", "2"), ("0.5", "0.5"), ("(1/2)", "(1/2)"), ("3", "3"), ("0.25", "0.25"), ("2", "0.5 * 4")]
ACTIVATIONS = ["tanh({})", "sigmoid({})", "exp(tanh({}))", "relu({})", "abs({})", "max({}, 0.5)", "-{}", "{} ** 2", "{} ** 3"]


class FusionBuilder(Builder):
    """One random spec of elementwise nodes, drawn from ``source`` (``choice``, ``randint``)."""

    def __init__(self, source, index: int = 0):
        super().__init__(source, index)
        self.size = self.pick([1, 2, 3])
        #: Per-sample matrices (rows, size) too, sometimes: vectors and (rows, 1) columns broadcast against them.
        self.rows = self.pick([None, None, 2, 3])

    def node(self, text: str, *operands: Term, shape: tuple[int, ...] | None = None) -> Term:
        """Node ``text`` of ``operands`` added to the spec (a term of the pool), of the broadcast shape."""
        name = f"h{len(self.nodes) + 1}"
        self.nodes[name] = text
        operands = tuple(t for t in operands if re.search(rf"\b{t.text}\b", text))  # those it reads
        shape = broadcast(*(t.shape for t in operands)) if shape is None else shape
        term = Term(name, shape, any(t.batched for t in operands))
        self.pool.append(term)
        return term

    def some(self, ok=lambda t: True) -> Term:
        """A term of the pool (recent ones more often); a parameter is sometimes a new one."""
        if self.chance(15):
            w = self.param(self.pick([(), (self.size,), *([(self.rows, 1), (self.rows, self.size)] if self.rows else [])]))
            if ok(w):
                return w
        found = [t for t in self.pool if ok(t) and self.fits(t)] or [self.vector_param()]
        return self.pick(found[-3:] if self.chance(60) else found)

    def fits(self, t: Term) -> bool:
        """Whether ``t`` broadcasts with every other term: a scalar, a vector, a (rows, size) matrix or column."""
        return t.rank <= 1 or (t.rank == 2 and t.shape[0] == self.rows and t.shape[1] in (1, self.size))

    def varying(self, ok=lambda t: True) -> Term:
        """A term of the pool that varies by sample (a node must depend on an input), with ``ok(t)`` if any."""
        if not any(t.batched and ok(t) for t in self.pool):
            ok = lambda t: True  # noqa: E731
        return self.some(lambda t: t.batched and ok(t))

    def pool_shape(self, name: str) -> tuple[int, ...]:
        return next(t.shape for t in self.pool if t.text == name)

    def vector_param(self) -> Term:
        return self.param((self.size,))

    def fused_step(self) -> Term | None:
        kinds = [self.activation, self.arithmetic, self.arithmetic, self.cancelling, self.repeated, self.renamed,
                 self.broadcast, self.reduced, self.matrix]  # fmt: skip
        return self.pick(kinds)()

    def activation(self) -> Term:
        a = self.varying()
        return self.node(self.pick(ACTIVATIONS).format(a.text), a)

    def arithmetic(self) -> Term:
        a, b = self.varying(), self.some()
        operator = self.pick(["+", "-", "*", "/", "number"])
        if operator != "number" and self.chance(50):
            a, b = b, a
        if operator == "/":
            return self.node(f"{a.text} / (1 + {b.text} ** 2)", a, b)
        if operator == "number":
            number = self.pick(["2", "0.5", "(1/2)", "1.5"])
            return self.node(self.pick([f"{number} * {a.text}", f"{a.text} / {number}", f"{a.text} - {number}"]), a)
        return self.node(f"{a.text} {operator} {b.text}", a, b)

    def cancelling(self) -> Term:
        """``p = c * h``, then ``p / c - h + other`` (the gradient through p and h cancels)."""
        h = self.some(lambda t: t.batched)
        scale, undo = self.pick(SCALES)
        p = self.node(self.pick([f"{scale} * {h.text}", f"{h.text} * {scale}"]), h)
        back = self.pick([f"{p.text} / {undo}", f"(1/{undo}) * {p.text}" if undo in ("2", "3") else f"{p.text} / {undo}"])
        other = self.some()
        return self.node(self.pick([f"{back} - {h.text} + {other.text}", f"{other.text} - {h.text} + {back}",
                                    f"({back} - {h.text}) * {other.text} + {h.text}"]), p, h, other)  # fmt: skip

    def repeated(self) -> Term:
        h, other = self.varying(), self.some()
        forms = [f"{h.text} * {h.text}", f"{h.text} - {h.text} + {other.text}", f"max({h.text}, {h.text})",
                 f"{h.text} + {h.text}", f"{h.text} * {h.text} - {h.text}", f"tanh({h.text}) * {h.text}",
                 f"max({h.text}, {h.text}) * {other.text}", f"{h.text} / (1 + {h.text} ** 2)"]  # fmt: skip
        return self.node(self.pick(forms), h, other)

    def renamed(self) -> Term:
        h = self.varying()
        for _ in range(self.pick([1, 1, 2, 3])):
            h = self.node(self.pick([f"1 * {h.text}", f"{h.text} * 1", f"{h.text} / 1", f"1.0 * {h.text}"]), h)
        return h

    def broadcast(self) -> Term:
        """A per-sample scalar (an input, ``sum``/``mean`` of a node) times or plus a vector."""
        scalars = [t for t in self.pool if not t.shape and t.batched]
        s = self.pick(scalars) if scalars and self.chance(50) else self.reduced()
        v = self.some(lambda t: t.shape) if any(t.shape for t in self.pool) else self.vector_param()
        return self.node(self.pick([f"{s.text} * {v.text}", f"{v.text} - {s.text}", f"{v.text} * tanh({s.text})"]), s, v)

    def reduced(self) -> Term:
        h = self.varying(lambda t: t.shape) if any(t.shape and t.batched for t in self.pool) else self.varying()
        if not h.shape:
            return self.node(f"2 * {h.text}", h)
        return self.node(f"{self.pick(['sum', 'mean'])}({h.text})", h, shape=())

    def matrix(self) -> Term:
        """``W @ h`` (the adjoint of h is named in the product's code)."""
        h = self.varying(lambda t: t.shape == (self.size,))
        if h.shape != (self.size,):
            return self.activation()
        w = self.param((self.size, self.size))
        return self.node(f"{w.text} @ {h.text}", h, w, shape=(self.size,))

    def loss(self, y: Term) -> tuple[str, dict]:
        """A loss that is an expression of ``y`` (and of earlier nodes and parameters)."""
        whole = (lambda t: f"sum({t})") if y.shape else (lambda t: t)
        targets = {"t": list(y.shape)}
        square = self.pick([p for p, s in self.params.items() if s] or list(self.params))
        node = self.pick([t.text for t in self.pool if t.text in self.nodes])
        forms = [
            (f"half_sse({y.text}, t)", targets),
            (f"half_sse({y.text}, t) + 0.01 * sum({square} * {square})", targets),
            (f"mse({y.text}, t) + 0.5 * {whole(f'{y.text} * {y.text}')}", targets),
            (f"mean({y.text})" if y.shape else f"2 * {y.text}", {}),
            (f"{whole(y.text)} - 0.5 * mean({node})" if self.pool_shape(node) else f"{whole(y.text)} + {node}", {}),
            (f"{whole(f'{y.text} ** 2')} / 2", {}),
            (f"{whole(y.text)} + mean({node} * {node})" if y.shape else f"{y.text} + 0.5 * sum({node})", {}),
            (f"half_sse({y.text}, t) - 0.1 * {whole(y.text)}", targets),
        ]
        return self.pick(forms)

    def build(self) -> dict:
        self.add_input(self.pick([0, 1, 1]), (self.size,) if self.chance(70) else ())
        if self.rows:
            self.add_input(2, (self.rows, self.size))
        if self.chance(40):
            self.add_input(0, ())
        if self.chance(50):  # a first layer
            x = self.pool[0]
            w = self.param((self.size, self.size)) if x.shape else self.vector_param()
            b = self.vector_param()
            product = f"{w.text} @ {x.text}" if x.shape else f"{x.text} * {w.text}"
            self.node(f"{self.pick(['tanh', 'sigmoid'])}({product} + {b.text})", x, w, b, shape=(self.size,))
        for _ in range(self.s.randint(2, 7)):
            self.fused_step()
        nodes = [t for t in self.pool if t.text in self.nodes]
        if nodes and self.params and self.chance(60):
            y = nodes[-1]
        else:  # the loss must depend on a parameter; a float adjoint (mean(y)) meets it
            a, w = self.varying(), self.param(self.pick([(self.size,), ()]))
            y = self.node(self.pick([f"{a.text} * {w.text}", f"{w.text} * {a.text} + {w.text}"]), a, w)
        loss, targets = self.loss(y)
        spec = {"name": f"fusion_graph_{self.index}", "inputs": self.inputs, "params": self.params, "nodes": self.nodes}
        if list(self.nodes)[-1] != y.text:
            spec["output"] = y.text
        if targets:
            spec["targets"] = targets
        spec["loss"] = self.covered(loss)
        return spec


def fusion_graph_spec(source, index: int = 0) -> dict:
    """A random spec of chained elementwise nodes, every choice drawn from ``source``."""
    return FusionBuilder(source, index).build()
