"""Every node's value and adjoint at random points, computed by the lines of the NumPy module.

Claims about large networks are decided numerically (``tensor_decide``), which needs, one
sample at a time, the forward value of every node, the adjoint dE/d(node) of every node the
backward pass reaches, and what each backward step contributed.  Rather than a second
implementation of every op, the probe runs the very lines the generated module is made of:
each op's forward line and each backward step, spelled by ``emit.numpy.builder.ModuleBuilder``.
It runs them on a batch of one sample, so that adjoints are those of the per-sample loss
(the claim language is per sample, as the tutorials are) and a parameter's gradient is that
sample's, not a sum over a batch.  That code is the emitter's, made from a validated spec;
what a person claims is never executed (``tensor_claims`` reads it through a whitelist).

A point is (seed, sample): parameters from the module's ``init_params(seed)`` moved by
``0.1 * N(0, 1)`` (drawn by ``default_rng(seed + 1)``, as the module's ``gradient_check``
does, so that zero-initialised biases are not zero), one sample of ``sample_batch(SAMPLES,
seed)``, with cross-entropy targets redrawn on the simplex (``default_rng(seed + 2)``, a
Dirichlet(1, ..., 1) draw): the fused ``dE/dz = y - t`` holds for targets that sum to one,
and one-hot targets would hide claims that are wrong only off the corners.

``replay`` reruns the backward pass with one step's lines replaced, for the diagnosis
(``tensor_diagnose``): what the gradient would be with a known mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..module_interface import one_hot_axes

#: Parameter draws (seeds) and samples per draw: the points every claim is checked at.
SEEDS = 3
SAMPLES = 2
#: Size of the random move of the module's initial parameters.
NOISE = 0.1


@dataclass
class Point:
    """Values at one point, per sample (no batch axis): forward values and adjoints by node."""

    seed: int
    sample: int
    values: dict[str, np.ndarray]
    adjoints: dict[str, np.ndarray]
    forward: dict = field(repr=False, default_factory=dict)  # the namespace after the forward lines
    #: The namespace before each step (and after the last), kept once the diagnosis asks (``Probe.snapshots``).
    before: list[dict] | None = field(repr=False, default=None)


class Probe:
    """Runs one derivation's module lines at the verifier's random points."""

    def __init__(self, derivation):
        from ..emit.numpy.builder import ModuleBuilder

        self.derivation = derivation
        self.graph = graph = derivation.graph
        builder = ModuleBuilder(derivation)
        self.builder = builder
        self.forward_code = [
            compile(builder.node_line(node)[0].code, f"<{node.name}>", "exec")
            for node in graph.nodes.values()
            if node.op.role == "op"
        ]
        #: The source of each backward step (the lines ``ModuleBuilder.backward_line`` spells).
        self.step_sources = ["\n".join(line.code for line in builder.backward_line(step)) for step in derivation.steps]
        self.step_code = [compile(source, f"<step {i}>", "exec") for i, source in enumerate(self.step_sources)]
        self.helpers = builder.helper_sources()

    @cached_property
    def module(self) -> dict:
        """The generated module's namespace (init_params, sample_batch, the helpers)."""
        from ..emit.numpy.module import module_source

        namespace: dict = {"__name__": f"symprop_probe_{self.derivation.name}"}
        exec(compile(module_source(self.derivation), f"<{self.derivation.name} module>", "exec"), namespace)
        for source in self.helpers:
            exec(compile(source, "<helper>", "exec"), namespace)
        return namespace

    @cached_property
    def points(self) -> list[Point]:
        return [self._point(seed, sample) for seed in range(SEEDS) for sample in range(SAMPLES)]

    # -- running the lines ----------------------------------------------------------------------

    def _draw(self, seed: int):
        module = self.module
        rng = np.random.default_rng(seed + 1)
        params = {k: np.asarray(v + NOISE * rng.standard_normal(np.shape(v))) for k, v in module["init_params"](seed).items()}
        X, T = module["sample_batch"](SAMPLES, seed)
        simplex = one_hot_axes(self.graph)  # cross-entropy targets -> the axis they sum to one along
        if simplex:
            rng = np.random.default_rng(seed + 2)
            single = len(self.graph.leaves("target")) == 1
            for name, axis in simplex.items():
                shape = list(self.graph.nodes[name].shape)
                size = shape.pop(axis)  # rows along the softmax's axis, drawn last, then moved there
                drawn = np.moveaxis(rng.dirichlet(np.ones(size), size=(SAMPLES, *shape)), -1, axis)
                if single:
                    T = drawn
                else:
                    T = {**T, name: drawn}
        return params, X, T

    def _point(self, seed: int, sample: int) -> Point:
        graph, builder = self.graph, self.builder
        params, X, T = self._draw(seed)
        namespace = {k: v for k, v in self.module.items() if not k.startswith("__")}
        namespace["N"] = 1
        for role, given in (("input", X), ("target", T)):
            leaves = graph.leaves(role)
            for leaf in leaves:
                batch = given[leaf.name] if isinstance(given, dict) else given
                namespace[builder.array(leaf.name)] = batch[sample : sample + 1]
        for leaf in graph.params():
            namespace[builder.array(leaf.name)] = params[leaf.name]
        with np.errstate(all="ignore"):
            for code in self.forward_code:
                exec(code, namespace)
        loss = graph.nodes[graph.loss]
        if not loss.op.loss_function:
            namespace[builder.grad(graph.loss)] = np.full(1, 1.0)
        forward = dict(namespace)
        self._backward(namespace, 0, keep=False)
        arrays = {name: builder.array(name) for name in graph.nodes}
        values = {name: self._sample(name, namespace[a]) for name, a in arrays.items() if a in namespace}
        return Point(seed, sample, values, self._adjoints(namespace), forward)

    def _backward(
        self, namespace: dict, start: int, stop: int | None = None, replaced: dict | None = None, keep: bool = True
    ) -> list[dict]:
        """Run steps ``start`` to ``stop`` (``replaced``: step -> other source, or None to leave
        it out); with ``keep``, returns the namespace as it was before each step ran and at the end."""
        before = []
        with np.errstate(all="ignore"):
            for i in range(start, len(self.step_code) if stop is None else stop):
                if keep:
                    before.append(dict(namespace))
                if replaced and i in replaced:
                    if replaced[i] is not None:
                        exec(compile(replaced[i], f"<changed step {i}>", "exec"), namespace)
                    continue
                exec(self.step_code[i], namespace)
        if keep:
            before.append(dict(namespace))
        return before

    def _adjoints(self, namespace: dict) -> dict[str, np.ndarray]:
        found = {}
        for name in self.graph.nodes:
            grad = self.builder.grad(name)
            if grad in namespace and self.graph.role(name) in ("op", "param", "input"):
                found[name] = self._sample(name, namespace[grad])
        return found

    def _sample(self, name: str, array) -> np.ndarray:
        """The per-sample value of a node's module array (batched arrays have a batch of one)."""
        array = np.asarray(array)
        if name in self.graph.batched and array.ndim == len(self.graph.nodes[name].shape) + 1:
            return array[0]
        return array

    # -- what the diagnosis needs ---------------------------------------------------------------

    def snapshots(self, point: Point) -> list[dict]:
        """The namespace before each backward step at ``point`` (and after the last one)."""
        if point.before is None:
            point.before = self._backward(dict(point.forward), 0)
        return point.before

    def contribution(self, point: Point, index: int) -> np.ndarray:
        """What step ``index`` added to its target's adjoint at ``point`` (per sample)."""
        step = self.derivation.steps[index]
        grad = self.builder.grad(step.target)
        before = self.snapshots(point)
        after = np.asarray(before[index + 1][grad])
        previous = before[index].get(grad) if step.accumulate else None
        return self._sample(step.target, after if previous is None else after - np.asarray(previous))

    def replay(self, point: Point, replaced: dict[int, str | None], stop: int | None = None) -> dict[str, np.ndarray]:
        """The adjoints at ``point`` with the steps in ``replaced`` spelled otherwise (None: left
        out), running the steps from the first changed one up to ``stop`` (exclusive)."""
        start = min(replaced)
        namespace = dict(self.snapshots(point)[start])
        self._backward(namespace, start, stop, replaced)
        return self._adjoints(namespace)
