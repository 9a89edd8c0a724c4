"""The spec's own nodes over the graph, and the steps of an unrolled network: what the figure
draws and what a long handout leaves out.

Lowering a graph spec splits each node's expression into parts (``h = tanh(W @ x + b)``
gives ``h_a = W x + b`` and ``h``); the figure draws the nodes the spec declares, each with
its parts inside.  A spec that repeats nodes over steps (``h{k}: {for: k in 2..10, ...}``)
is an unrolled network: every step computes the same thing, so a long one is shown by its
first two steps and its last (the first is often special, the second is the typical one, the
last receives the gradient from the loss) and the handout says what it left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

#: Unrolled networks of more steps than this are shown by their first two steps and the last.
MAX_SHOWN_STEPS = 5


@dataclass
class Unrolled:
    """The owner (the declared node, leaf or loss it is part of) and step of every graph node."""

    graph: object
    declared: tuple[str, ...]  # the spec's nodes, in its order
    steps: dict[str, int]  # a declared node or leaf -> its step (repeated entries only)

    @classmethod
    def of(cls, derivation) -> Unrolled:
        network = derivation.network
        declared = tuple(getattr(network, "nodes", {})) if getattr(network, "kind", "layers") == "graph" else ()
        return cls(derivation.graph, declared, dict(getattr(network, "steps", {})))

    @cached_property
    def consumers(self) -> dict[str, list[str]]:
        """Each node's consumers (once each), built in one pass (``Graph.consumers`` scans every node)."""
        found: dict[str, list[str]] = {name: [] for name in self.graph.nodes}
        for node in self.graph.nodes.values():
            for name in dict.fromkeys(node.inputs):
                found[name].append(node.name)
        return found

    @cached_property
    def owner(self) -> dict[str, str]:
        """Graph node -> the spec node it belongs to: itself for a leaf, a declared node or the
        loss; for a part of an expression, the node whose expression it is part of."""
        kept = set(self.declared) | {self.graph.loss}
        owner: dict[str, str] = {}
        for name in reversed(list(self.graph.nodes)):
            node = self.graph.nodes[name]
            users = self.consumers[name]
            if node.op.role != "op" or name in kept or not users:
                owner[name] = name
            else:
                owner[name] = owner[users[0]]
        return owner

    def step(self, name: str) -> int | None:
        """The step of a graph node (that of its owner), None outside the repeated entries."""
        return self.steps.get(self.owner[name])

    @cached_property
    def all_steps(self) -> list[int]:
        """Every step of the repeated entries, in order (none for most graphs)."""
        return sorted(set(self.steps.values()))

    @cached_property
    def shown_steps(self) -> list[int]:
        """The steps the handout shows: all of them, or of a long unrolled network the first two
        and the last."""
        steps = self.all_steps
        return steps if len(steps) <= MAX_SHOWN_STEPS else [steps[0], steps[1], steps[-1]]

    @cached_property
    def hidden_steps(self) -> list[int]:
        """The steps left out: those between the second and the last, of a long unrolled network."""
        return [k for k in self.all_steps if k not in self.shown_steps]

    def shown(self, name: str) -> bool:
        """Whether the handout shows graph node ``name`` (it is in no step, or in a shown one)."""
        step = self.step(name)
        return step is None or step in self.shown_steps

    def left_out(self, names: tuple[str, ...] | list[str], what: str) -> str:
        """Why a run of ``what`` (nodes, steps of the backward pass) about graph nodes ``names``
        is left out of the handout."""
        if {self.step(n) for n in names} <= set(self.hidden_steps):
            return f"{len(names)} {what} of {self.hidden_words()} left out: they repeat step {self.shown_steps[1]}"
        return f"{len(names)} {what} left out to keep the handout short"

    def hidden_words(self) -> str:
        """``steps 3 to 9`` (the steps left out), or ""."""
        return steps_words(self.hidden_steps)


def steps_words(steps: list[int]) -> str:
    """``step 3``, ``steps 3 to 9`` (a run of steps), or "" for none."""
    if not steps:
        return ""
    return f"step {steps[0]}" if len(steps) == 1 else f"steps {steps[0]} to {steps[-1]}"


@dataclass(frozen=True)
class Gap:
    """A run of items left out of a list: ``items`` (graph nodes, steps, lines)."""

    items: tuple


def gapped(items: list, keep: list[bool], limit: int) -> list:
    """``items`` with each run of those not kept replaced by a ``Gap``; if more than ``limit``
    are kept, only the first ones and the last quarter of ``limit``, the rest a gap too: a long
    list stays bounded on the page, its start and its end shown."""
    positions = [i for i, k in enumerate(keep) if k]
    if len(positions) > limit:
        tail = limit // 4
        dropped = set(positions[limit - tail : len(positions) - tail])
        keep = [k and i not in dropped for i, k in enumerate(keep)]
    out: list = []
    run: list = []
    for item, kept in zip(items, keep):
        if kept:
            if run:
                out.append(Gap(tuple(run)))
                run = []
            out.append(item)
        else:
            run.append(item)
    if run:
        out.append(Gap(tuple(run)))
    return out
