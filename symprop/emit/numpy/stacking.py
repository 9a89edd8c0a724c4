"""What the NumPy module computes for all unrolled steps at once, instead of step by step.

Two rewrites of the module's lines, decided here from the graph and the derivation's steps.
The derivation is unchanged (the same nodes, the same steps, the same formulas): only the
module's arrangement of them changes, so the handout and the verifier's probe, which spell
each step on its own (``ModuleBuilder.step_lines``), still show the per-step lines.

* **Input products** (``input_products``): dense nodes ``z_k = W x[k] (+ b)`` that multiply
  one weight ``W`` with slices ``x[k]`` of one tensor computed before the first of them (the
  sequence of an RNN, an embedding's rows) are one matrix product of the whole tensor,
  computed once before the loop: ``_W_x = X.swapaxes(0, 1) @ W.T`` has shape (steps, batch,
  outputs) and ``_W_x[k]`` is ``W x[k]`` for every sample, the same sums (BLAS may add them in
  another order, as it may within one product).  Steps first, so that each step reads a
  contiguous block.  A slice that depends on the recurrence (``W h[k-1]``) cannot be known
  before the loop and is never grouped: the tensor must come before the group's first node in
  the graph's (topological) order.  Separate arrays (``Wx x1``, ``Wx x2``: no common tensor)
  are left per step: stacking them first costs a copy that the one product does not win
  back (measured, docs/benchmarks.md).
  Its weight's gradient, sum over k of ``dZ_k^T x[k]``, is one product too: the steps'
  adjoints stacked (batch, steps, outputs), reshaped with the source to rows of (batch x
  steps), at the last of the steps (``ModuleBuilder.weight_line``).  Measured against one
  product a step: 5% faster for the LSTM at batch 64, 10% slower at 1024 (the stack is a
  fresh copy); the input adjoints ``W^T dZ_k`` stay one product a step (faster at both).
* **Slot adjoints** (``slot_targets``): a tensor whose every adjoint contribution comes from
  slices ``x[k]`` (``Op.slot``) gets its adjoint in one ``np.stack`` of the slices' adjoints,
  slot by slot (the contributions to one slot added), instead of one ``_unindex`` (a fresh
  array of zeros the size of the whole tensor) and one addition per contribution: exactly the
  same sums.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputProduct:
    """``W x[k]`` of every member, in one product of the tensor ``source`` (its slices
    ``positions``, in increasing order: member ``m`` reads row ``positions.index(slot)``)."""

    weight: str
    source: str
    members: tuple[str, ...]  # the dense nodes, in graph order
    slots: tuple[int, ...]  # each member's slice index k (its data is source[k])
    positions: tuple[int, ...]  # the distinct slices taken, sorted: the product's rows
    size: int  # the source's first per-sample axis

    @property
    def array(self) -> str:
        return f"_{self.weight}_{self.source}"

    def row(self, member: str) -> int:
        return self.positions.index(self.slots[self.members.index(member)])

    def selection(self) -> str:
        """How the product's operand picks its rows from the source (after the batch axis):
        '' for all of them in order, else a slice or a list."""
        positions = list(self.positions)
        if positions == list(range(self.size)):
            return ""
        first, last = positions[0], positions[-1]
        if positions == list(range(first, last + 1)):
            return f"[:, {first}:{last + 1}]"
        return f"[:, {positions}]"


def input_products(graph) -> dict[str, InputProduct]:
    """Dense node -> the input product it reads a row of (see the module docstring)."""
    order = {name: i for i, name in enumerate(graph.nodes)}
    from_targets = graph.downstream_of("target")  # computed with the loss, not in forward(): left per step
    groups: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for node in graph.nodes.values():
        if not node.op.dense_layer or node.name not in graph.batched or node.name in from_targets:
            continue
        weight, data = node.inputs[:2]
        if weight in graph.batched or data not in graph.batched:
            continue
        sliced = graph.nodes[data]
        slot = sliced.op.slot(sliced)
        if slot is None:
            continue
        groups.setdefault((weight, sliced.inputs[0]), []).append((node.name, slot))
    found = {}
    for (weight, source), members in groups.items():
        names = tuple(name for name, _ in members)
        slots = tuple(slot for _, slot in members)
        if len(set(slots)) < 2 or order[source] > order[names[0]]:
            continue
        product = InputProduct(weight, source, names, slots, tuple(sorted(set(slots))), graph.nodes[source].shape[0])
        found.update(dict.fromkeys(names, product))
    return found


def slot_targets(graph, steps) -> dict[str, dict[int, list[str]]]:
    """Node -> {slot k: the slices of it whose adjoints make up slot k} for every node whose
    adjoint contributions all come from slices ``x[k]`` (at least two of them)."""
    found: dict[str, dict[int, list[str]]] = {}
    refused: set[str] = set()
    for step in steps:
        source = graph.nodes[step.source]
        slot = source.op.slot(source)
        if slot is None:
            refused.add(step.target)
            continue
        found.setdefault(step.target, {}).setdefault(slot, []).append(step.source)
    return {
        target: dict(sorted(slots.items()))
        for target, slots in found.items()
        if target not in refused and sum(map(len, slots.values())) >= 2
    }
