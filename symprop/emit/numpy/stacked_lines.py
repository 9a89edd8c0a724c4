"""The lines of the module (not the handout) that do the work of unrolled steps at once
(``stacking``): each input product's forward line (``product_lines``), and the backward pass
(``backward_lines``) in which a tensor taken apart in slices gets its adjoint as one stack
(``slot_line``), an input product's weight its gradient in one product (``weight_lines``), a
source read only through input products its adjoint one product each (``source_lines``), and a
bias shared by the steps its gradient in one sum (``summed_once``).  The builder spells each
step's own lines (``ModuleBuilder.backward_line``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .fusion import PendingAdjoints
from .lines import Line
from .stacking import InputProduct, source_products

if TYPE_CHECKING:
    from .builder import ModuleBuilder


def product_lines(b: ModuleBuilder) -> dict[str, tuple[Line, set[str]]]:
    """The line of each input product (``stacking``), by the first node that reads it, and
    what it reads: placed before that node's line."""
    found = {}
    for product in dict.fromkeys(b.products.values()):
        source, weight = b.array(product.source), b.array(product.weight)
        code = f"{product.array} = {source}{product.selection()}.swapaxes(0, 1) @ {weight}.T"
        bias = f" + {product.bias}" if product.bias else ""
        if product.bias:
            code += f" + {b.array(product.bias)}"
        own = b.row_products(product)
        if own is not None:
            code = f"{product.array} = {own[0]}"
        positions, first = list(product.positions), product.positions[0]
        if not product.selection():
            comment = f"{product.array}[k] = {product.weight} {product.source}[k]{bias} for every step k"
        elif positions == list(range(first, positions[-1] + 1)):
            comment = (
                f"{product.array}[k - {first}] = {product.weight} {product.source}[k]{bias} for k = {first}..{positions[-1]}"
            )
        else:
            comment = f"{product.array}[r] = {product.weight} {product.source}[k_r]{bias} for k_r in {positions}"
        comment += f": {own[1] if own else 'one product for all the steps'}" + (", the bias added once" if bias else "")
        reads = ({product.source} if own is None else own[2]) | {product.weight} | ({product.bias} if product.bias else set())
        found[product.members[0]] = (Line(code, comment), reads)
    return found


def backward_lines(b: ModuleBuilder) -> list[Line]:
    """The lines of backward() in the module: each step's (``step_lines``), except that the
    adjoint of a tensor taken apart in slices is put together in one stack, at the last of
    its steps (``stacking.slot_targets``), and the weight of an input product gets its
    gradient from all the steps in one product, at the last of its steps."""
    steps = b.d.steps
    weight_steps = {
        i: b.products[step.source]
        for i, step in enumerate(steps)
        if step.source in b.products and step.target == b.products[step.source].weight
    }
    weighted = set(weight_steps.values())
    through = {  # sources whose adjoint is one product per input product (``stacking.source_products``)
        source: products
        for source, products in source_products(b.graph, b.products, b.slots).items()
        if set(products) <= weighted and (b.adds_into_views or not any(p.selection() for p in products))
    }
    skipped, source_at = {}, {}  # steps gathered into a source's lines -> that source; its last step -> it
    for i, step in enumerate(steps):
        product = b.products.get(step.source)
        if step.target in through:
            skipped[i] = step.target
        elif product is not None and product.source in through and step.target == b.node(step.source).inputs[1]:
            skipped[i] = product.source
        elif i in weight_steps and weight_steps[i].source in through:
            source_at[weight_steps[i].source] = i
    source_at = {max(source_at.get(s, -1), *(i for i, t in skipped.items() if t == s)): s for s in through}
    last, gathered = {}, {}  # each gathering line's key -> its last step, the steps it gathers
    for i, step in enumerate(steps):
        key = step.target if step.target in b.slots else weight_steps.get(i)
        if key is not None and i not in skipped:
            last[key] = i
            gathered.setdefault(key, []).append(step.source)
    blocked = {step.source for i, step in enumerate(steps) if step.target in b.slots or i in weight_steps}
    b.pending = pending = PendingAdjoints(b, blocked)
    lines, assigned = [], set()
    for i, step in enumerate(steps):
        if i in skipped:
            pending.read(step.source)
        elif step.target in b.slots:
            if last[step.target] != i:
                continue
            for name in dict.fromkeys(s for sources in b.slots[step.target].values() for s in sources):
                lines += b.materialized(name)
            lines += pending.resolved([slot_line(b, step.target)])
            pending.read(*gathered[step.target])
        elif i in weight_steps:
            if last[weight_steps[i]] != i:
                continue
            for name in weight_steps[i].members:
                lines += b.materialized(name)
            product = weight_steps[i]
            lines += pending.resolved(weight_lines(b, product, step.target in assigned, product.source in through))
            pending.read(*gathered[weight_steps[i]])
        else:  # whether it adds to what is there: the steps above may have moved
            lines += b.backward_line(replace(step, accumulate=step.target in assigned))
        if i in source_at:
            lines += source_lines(b, source_at[i], through[source_at[i]])
        if i not in skipped:
            assigned.add(step.target)
    lines += pending.flush()
    b.pending = None
    for param in b.graph.params():  # a gradient is an array of its parameter's shape
        lines += b.materialized(param.name)
    return summed_once(b, lines)


def summed_once(b: ModuleBuilder, lines: list[Line]) -> list[Line]:
    """``lines`` with a parameter's gradient that is only sums over the batch of adjoints
    (a bias shared by unrolled steps: ``db = db + _batch_sum(dZ_k)`` a step) computed in one
    sum of their concatenation, where the last of them was: the same sums in another order,
    one BLAS call instead of one and an addition a step (the LSTM's four biases: 3 against 12
    us each at batch 64, 52 against 164 at 1024).  The adjoints are complete when their sum
    is taken and never assigned again, so they can be read later.  When an input product's
    stacked adjoints (``weight_lines``, named) are those very adjoints, the sum reads the
    stack, after its line: no second concatenation."""
    # the adjoints a named stack holds -> (its line, its name)
    stacks = {line.stack[1]: (position, line.stack[0]) for position, line in enumerate(lines) if line.stack}
    grads = {b.grad(p.name): p.name for p in b.graph.params()}
    found: dict[str, list[tuple[int, str, str]]] = {}
    assigned: dict[str, int] = {}
    for position, line in enumerate(lines):
        target = line.code.split(" = ", 1)[0]
        if target not in grads:
            continue
        assigned[target] = assigned.get(target, 0) + 1
        if line.summed:
            found.setdefault(target, []).append((position, *line.summed))
    dropped: set[int] = set()
    after: dict[int, list[Line]] = {}
    for grad, terms in found.items():
        if len(terms) < 2 or len(terms) != assigned[grad] or len({axes for _, _, axes in terms}) > 1:
            continue
        # arrays of one shape only: a bias added to a sequence of 2 and one of 3 rows (axes 2) has
        # adjoints of (batch, 2, 4) and (batch, 3, 4), which no concatenation joins
        nodes = [b.graph.node_of_grad(array) for _, array, _ in terms]
        if None in nodes or len({b.graph.nodes[node].shape for node in nodes}) > 1:
            continue
        arrays = ", ".join(array for _, array, _ in terms)
        what = " + ".join(f"dE/d{b.graph.node_of_grad(array)}" for _, array, _ in terms)
        comment = f"dE/d{grads[grad]} = {what}, summed over the batch in one sum"
        dropped.update(position for position, _, _ in terms)
        position, code = terms[-1][0], f"{grad} = _batch_sum(np.concatenate([{arrays}]){terms[0][2]})"
        # the stack's rows are these very adjoints, each as often: W s[0] + b + b sums one adjoint
        # twice, tanh(W s[0] + W s[1] + b) stacks one twice
        held = stacks.get(tuple(sorted(array for _, array, _ in terms)))
        if held is not None and not terms[0][2]:
            position, code = max(position, held[0]), f"{grad} = _batch_sum({held[1]})"
            comment += " (the rows of the stack)"
        after.setdefault(position, []).append(Line(code, comment))
    return [out for i, line in enumerate(lines) for out in ([] if i in dropped else [line]) + after.get(i, [])]


def weight_lines(b: ModuleBuilder, product: InputProduct, accumulate: bool, named: bool = False) -> list[Line]:
    """dE/dW of an input product's weight, sum over k of dZ_k^T x[k]: the members' adjoints
    stacked (batch, steps, outputs) times the source's rows, one product over the batch and
    the steps (``stacking``: faster at batch 64, slower at 1024, docs/benchmarks.md).
    ``named`` (or a bias the product folded in): the stack is an array of its own
    (``InputProduct.stacked``), which the source's adjoint (``source_lines``) or the bias's
    gradient (``summed_once``) reads too."""
    rows: dict[int, list[str]] = {}
    for member in product.members:
        rows.setdefault(product.row(member), []).append(b.grad(member))
    stacked = [" + ".join(rows[r]) for r in sorted(rows)]
    outputs, inputs = b.graph.nodes[product.weight].shape
    source = f"{b.use(product.source)}{product.selection()}"
    rows_code = (
        f"np.concatenate([{', '.join(stacked)}], axis=1)" if b.concatenated_rows else f"np.stack([{', '.join(stacked)}], axis=1)"
    )
    before = []
    x = f"{product.source}[k]"
    if named or product.bias:  # the bias's gradient sums the same stack (``summed_once``)
        shown = f"dE/d({product.weight} {x}) of every step, rows of (batch x steps)"
        # the stack of these very adjoints (concatenated, one a row) is what a bias's sum may read
        one_each = b.concatenated_rows and all(len(r) == 1 for r in rows.values())
        held = (product.stacked, tuple(sorted(stacked))) if one_each else None
        before = [Line(f"{product.stacked} = {rows_code}.reshape(-1, {outputs})", shown, stack=held)]
        rows_code = product.stacked
    else:
        rows_code += f".reshape(-1, {outputs})"
    code = f"np.dot({rows_code}.T, {source}.reshape(-1, {inputs}))"
    grad = b.grad(product.weight)
    math = f"sum over k of dE/d({product.weight} {x}) {x}^T, summed over the batch, one product for all the steps"
    if accumulate:
        return [*before, Line(f"{grad} = {grad} + {code}", f"dE/d{product.weight} += {math}")]
    return [*before, Line(f"{grad} = {code}", f"dE/d{product.weight} = {math}")]


def source_lines(b: ModuleBuilder, source: str, products: tuple[InputProduct, ...]) -> list[Line]:
    """dE/d``source`` of a tensor read only through input products (``stacking.source_products``):
    each product's stacked adjoints (``weight_lines``) times its weight, one product over the
    batch and the steps; a product of some of the steps adds into a view of those steps."""
    node = b.graph.nodes[source]
    shape = ", ".join(str(n) for n in node.shape)
    rest = ", ".join(str(n) for n in node.shape[1:])
    grad = b.grad(source)
    full = [p for p in products if not p.selection()]
    terms = [f"np.dot({p.stacked}, {b.use(p.weight)})" for p in full]
    shown = f"dE/d{source}[k] = " + " + ".join(f"{p.weight}^T dE/d({p.weight} {source}[k])" for p in full)
    if len(terms) > 1:
        lines = [Line(f"{grad} = ({' + '.join(terms)}).reshape(-1, {shape})", f"{shown}: one product each for all the steps")]
    elif terms:
        lines = [Line(f"{grad} = {terms[0]}.reshape(-1, {shape})", f"{shown}: one product for all the steps")]
    else:
        lines = [Line(f"{grad} = np.zeros_like({b.use(source)})", f"dE/d{source}, added to below")]
    for p in products:
        if p.selection():
            view, rows = f"{grad}{p.selection()}", len(p.positions)
            product = f"np.dot({p.stacked}, {b.use(p.weight)}).reshape(-1, {rows}, {rest})"
            math = f"dE/d{source}[k] += {p.weight}^T dE/d({p.weight} {source}[k])"
            steps = f"for k = {p.positions[0]}..{p.positions[-1]}, in place"
            lines.append(Line(f"np.add({view}, {product}, out={view})", f"{math} {steps}"))
    return lines


def slot_line(b: ModuleBuilder, target: str) -> Line:
    """dE/d``target`` as one stack along its first per-sample axis: slot k the sum of the
    adjoints of the slices ``target[k]`` (zeros where no slice was taken)."""
    slots = b.slots[target]
    node = b.graph.nodes[target]
    zeros = f"np.zeros_like({b.grad(next(iter(slots.values()))[0])})"
    parts = [" + ".join(b.grad(s) for s in slots[k]) if k in slots else zeros for k in range(node.shape[0])]
    axis = 1 if b.batched(target) else 0
    shown = ", ".join(" + ".join(f"dE/d{s}" for s in slots[k]) if k in slots else "0" for k in range(node.shape[0]))
    code = f"{b.grad(target)} = np.stack([{', '.join(parts)}], axis={axis})"
    rows = "".join(f"\n        {part}," for part in parts)  # one slot a line, if need be
    if axis == 1 and len(node.shape) > 1 and b.concatenated_rows:  # (batch, slots, ...), reshaped
        rest = ", ".join(str(n) for n in node.shape[1:])
        code = f"{b.grad(target)} = np.concatenate([{', '.join(parts)}], axis=1).reshape(-1, {node.shape[0]}, {rest})"
        if len(code) + 4 > Line.LIMIT:
            code = f"{b.grad(target)} = np.concatenate([{rows}\n    ], axis=1).reshape(-1, {node.shape[0]}, {rest})"
    elif len(code) + 4 > Line.LIMIT:
        code = f"{b.grad(target)} = np.stack([{rows}\n    ], axis={axis})"
    return Line(code, f"dE/d{target} = [{shown}]: slot k gets the adjoints of its slices {target}[k]")
