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
  steps), at the last of the steps (``stacked_lines.weight_lines``).  Measured against one
  product a step: 5% faster for the LSTM at batch 64, 10% slower at 1024 (the stack is a
  fresh copy).  The stack is an array of its own (``InputProduct.stacked``) when its bias's
  gradient sums the same adjoints (``stacked_lines.summed_once`` sums the stack: no second
  concatenation) or when the source's adjoint reads it (below).
* **Source adjoints** (``source_products``): a tensor that reaches the loss only through input
  products (every slice of it is the data of their members alone: an embedding's rows read by
  a GRU's gates) gets its adjoint as one product per input product, its stack times its weight
  (``stacked_lines.source_lines``), instead of one product ``W^T dZ_k`` a member and one sum a
  slot: embedding_gru's 17 products and 11 additions of (64, 12) arrays become 3 products of
  (384, 16) by (16, 12) and 2 additions.  Elsewhere the input adjoints stay one product a step
  (a stack of them alone costs a copy: slower at both batch sizes).
* **Folded biases** (``folded_biases``): when every member's value goes on, through sums
  alone, into a sum with one and the same bias ``b`` (``sigmoid(Wi x[k] + Ui h + bi)``), the
  product adds it once for all the steps (``_Wi_x = X.swapaxes(0, 1) @ Wi.T + bi``) and those
  sums leave it out: one addition of the steps' bias instead of one a step (a (16,) bias onto a
  (64, 16) array costs ~1.4 us, the LSTM's 38 of them 55 us at batch 64).  The values along the
  way (``Wi x[k]``, ``Wi x[k] + Ui h``) then hold the bias too: allowed because nothing but the
  next sum reads them, and a sum's adjoint reads no value.  The backward pass is unchanged.
  Each sum must be reached by one member of all the products: ``W x[0] + W x[1] + b`` adds b
  once, and folded into both rows it would be added twice (and its gradient counted twice).
* **Slot adjoints** (``slot_targets``): a tensor whose every adjoint contribution comes from
  slices ``x[k]`` (``Op.slot``) gets its adjoint in one ``np.stack`` of the slices' adjoints,
  slot by slot (the contributions to one slot added), instead of one ``_unindex`` (a fresh
  array of zeros the size of the whole tensor) and one addition per contribution: exactly the
  same sums.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...ops.base import arg_symbol


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
    bias: str | None = None  # the bias the product adds for every step (``folded_biases``)

    @property
    def array(self) -> str:
        return f"_{self.weight}_{self.source}"

    @property
    def stacked(self) -> str:
        """The members' adjoints stacked as rows of (batch x steps), when the source's adjoint
        reads them too (``source_products``)."""
        return f"_d{self.weight}_{self.source}"

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


def input_products(graph, listed: bool = True) -> dict[str, InputProduct]:
    """Dense node -> the input product it reads a row of (see the module docstring).  ``listed``
    False: none whose rows are a list (``S[:, [0, 2]]``), which the array API standard and Numba
    cannot index by (those steps stay one product each)."""
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
        if not listed and product.selection().startswith("[:, ["):
            continue
        found.update(dict.fromkeys(names, product))
    return found


def folded_biases(graph, products: dict[str, InputProduct]) -> tuple[dict[str, InputProduct], set[tuple[str, str]]]:
    """``products`` with the bias each one adds for every step (``InputProduct.bias``), and the
    (node, bias) pairs whose line leaves that bias out (see the module docstring)."""
    folded: dict[str, InputProduct] = {}
    sites: set[tuple[str, str]] = set()
    for product in dict.fromkeys(products.values()):
        found = [_bias_site(graph, member) for member in product.members]
        biases = {site[1] for site in found if site}
        # A sum that two members reach (W s[0] + W s[1] + b, or W s[0] + Q s[1] + b with two
        # products) adds its bias once: folded into both rows it would be added twice.
        shared = len(set(found)) < len(found) or not sites.isdisjoint(found)
        if None in found or len(biases) != 1 or shared:
            folded.update(dict.fromkeys(product.members, product))
            continue
        with_bias = replace(product, bias=biases.pop())
        folded.update(dict.fromkeys(product.members, with_bias))
        sites.update(found)
    return folded, sites


def _bias_site(graph, member: str) -> tuple[str, str] | None:
    """(node, bias): where the value of dense node ``member`` meets a bias, a parameter of its
    shape, through sums read by nothing else: the node itself (``W x[k] + b``) or a sum above."""
    node = graph.nodes[member]
    shape = node.shape

    def bias_among(inputs) -> str | None:
        found = [i for i in inputs if graph.role(i) == "param" and graph.nodes[i].shape == shape]
        return found[0] if len(found) == 1 else None

    if len(node.inputs) > 2:  # the dense node's own bias
        bias = bias_among(node.inputs[2:])
        return (member, bias) if bias else None
    name = member
    while True:
        consumers = graph.consumers(name)
        if len(consumers) != 1 or name == graph.output:
            return None
        total = consumers[0]
        form = total.op.linear_form()
        arity = len(total.inputs)
        if form is None or form != sum(arg_symbol(k) for k in range(arity)) or total.shape != shape:
            return None
        if len(set(total.inputs)) != arity or total.name not in graph.batched:
            return None
        bias = bias_among([i for i in total.inputs if i != name])
        if bias:
            return total.name, bias
        name = total.name


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


def source_products(graph, products: dict[str, InputProduct], slots: dict[str, dict[int, list[str]]]) -> dict[str, tuple]:
    """Source -> its input products, for a tensor whose adjoint comes through them alone: every
    slice of it (``slots``) is read only as the data of members of input products of it (an
    embedding's rows, read by a GRU's gates).  Its adjoint is then one product per input product,
    its members' adjoints stacked (as for the weight's gradient) times the weight, instead of one
    product a member and one sum a slot (``stacked_lines.source_lines``).  The products' rows must
    be all the slices or a range of them (added into a view of the adjoint)."""
    found = {}
    for source, slot_map in slots.items():
        used = []
        for name in (s for sources in slot_map.values() for s in sources):
            readers = graph.consumers(name)
            product = [products.get(node.name) for node in readers]
            if not readers or None in product or any(
                p.source != source or node.inputs[1] != name or node.inputs[0] == name for p, node in zip(product, readers)
            ):
                break
            used += product
        else:
            chosen = tuple(dict.fromkeys(used))
            if not any(p.selection().startswith("[:, [") for p in chosen):  # a list of rows: no view to add into
                found[source] = chosen
    return found
