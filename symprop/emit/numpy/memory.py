"""Rewrites of a generated function's straight-line statements that free arrays or write them
over, as one writes NumPy by hand: ``del`` of each array after its last read (``released``),
arrays that die in a statement written over in place (``written_in_place``,
``accumulated_in_place``), and a chain of arithmetic on arrays of one shape written into its
first result (``chained_in_place``); which expressions make a new array (``makes_new_array``)."""

from __future__ import annotations

import ast
import textwrap

from ... import registry
from ...ops import OPS
from .sharing import assigns_arithmetic


def released(statements: list[str], kept: set[str]) -> list[str]:
    """``statements`` (one statement each, a comment above allowed) with ``del`` of each array
    after the statement that reads it for the last time, but for the names ``kept`` (the
    arguments, what the function returns, and the parameters and inputs it unpacked: deleting
    them frees nothing).  A view (``X[:, 1]``) keeps its whole array alive, so views go too.

    Why: at large batches the pages of every array that is still alive are fresh memory the
    next call faults in again (glibc returns the top of the heap to the system between calls);
    an LSTM at batch 1024 faulted in 20 MB a call, 5400 page faults, about half its time on
    this machine (docs/benchmarks.md).  Straight-line code only: anything else is left as it is."""
    trees = [ast.parse(textwrap.dedent("    " + text)) for text in statements]
    if not all(isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr)) for tree in trees for node in tree.body):
        return statements
    last: dict[str, int] = {}  # array -> the statement that reads it last (or assigns it, if nothing reads it)
    first: dict[str, int] = {}
    for position, tree in enumerate(trees):
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id not in kept:
                if isinstance(node.ctx, ast.Store):
                    first.setdefault(node.id, position)
                    last.setdefault(node.id, position)
                elif node.id in first:
                    last[node.id] = position
            elif isinstance(node, ast.AugAssign) and getattr(node.target, "id", None) in first:  # A += B reads A
                last[node.target.id] = position
    dying: dict[int, list[str]] = {}
    for name, position in last.items():
        if position < len(statements) - 1:  # after the last statement the function returns anyway
            dying.setdefault(position, []).append(name)
    lines = []
    for position, text in enumerate(statements):
        lines.append(text)
        names = sorted(dying.get(position, []), key=lambda name: first[name])
        while names:  # at most ~100 characters a line
            count = 1
            while count < len(names) and len(", ".join(names[: count + 1])) < 96:
                count += 1
            lines.append("del " + ", ".join(names[:count]))
            names = names[count:]
    return lines


def written_in_place(statements: list[str], kept: set[str]) -> list[str]:
    """``statements`` with an array that dies in a statement, and was made in this function by a
    product, by arithmetic or by a helper that makes its result (``makes_new_array``; assigned once, not
    a view of another's array, not an argument, not ``kept``), written over in place of a new
    array of its size, as one writes it by hand:

    * a product of the array and a mask, ``dZ2 = dA2 * (Z2 > 0.0)`` (a relu's backward step), is
      ``np.multiply(dA2, Z2 > 0.0, out=dA2)`` (784-256-256-10 at batch 1024: 1.8% of
      loss_and_grad).  A mask of bools keeps the array's dtype and is the shape of the relu's
      input, which is the array's (a mask of another shape would be a ValueError, never a silent
      wrong number);
    * a helper of ``WRITES_INTO`` (a max pooling's adjoint) is given ``out=`` that argument (at
      batch 64, the fresh pages of each such array cost more than the arithmetic)."""
    sources = [textwrap.dedent("    " + text) for text in statements]
    trees = [ast.parse(source) for source in sources]
    made: dict[str, bool] = {}  # array -> whether one statement assigns it, a new array
    last_read: dict[str, int] = {}
    for position, tree in enumerate(trees):
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                made[name] = makes_new_array(node.value) and name not in made
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                last_read[node.id] = position

    def dies_here(array: ast.expr, position: int) -> bool:
        return (
            isinstance(array, ast.Name)
            and made.get(array.id, False)
            and array.id not in kept
            and last_read.get(array.id) == position
        )

    lines = list(statements)
    for position, tree in enumerate(trees):
        statement = tree.body[0] if len(tree.body) == 1 else None
        value = statement.value if isinstance(statement, ast.Assign) else None
        segment = ast.get_source_segment(sources[position], value) if value is not None else None
        if isinstance(value, ast.Call) and ast.unparse(value.func) in WRITES_INTO and not value.keywords:
            index = WRITES_INTO[ast.unparse(value.func)]
            argument = value.args[index] if len(value.args) > index else None
            reads = [n for n in ast.walk(value) if isinstance(n, ast.Name) and n.id == getattr(argument, "id", None)]
            if len(reads) == 1 and dies_here(argument, position):
                lines[position] = lines[position].replace(segment, f"{segment[:-1]}, out={argument.id})", 1)
        elif isinstance(value, ast.BinOp) and isinstance(value.op, ast.Mult):
            for array, mask in ((value.left, value.right), (value.right, value.left)):
                if isinstance(mask, ast.Compare) and dies_here(array, position):
                    spelled = f"np.multiply({array.id}, {ast.unparse(mask)}, out={array.id})"
                    lines[position] = lines[position].replace(segment, spelled, 1)
                    break
    return accumulated_in_place(lines, made_first={name for name, tree in _first_values(trees) if makes_new_array(tree)})


def _first_values(trees: list[ast.Module]) -> list[tuple[str, ast.expr]]:
    """(name, value) of the first assignment of each name the statements assign."""
    first: dict[str, ast.expr] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                first.setdefault(node.targets[0].id, node.value)
    return list(first.items())


def accumulated_in_place(statements: list[str], made_first: set[str]) -> list[str]:
    """``statements`` with each sum into an adjoint, ``dH4 = dH4 + np.dot(dZ5_e, Uz)``, written
    ``dH4 += np.dot(dZ5_e, Uz)``: the same numbers, with no new array (batch 64: 1-1.5% of an
    RNN's loss_and_grad).  Only for an array ``made_first`` (its first assignment makes a new
    array) that every later assignment adds to (``A = A + ...``, ``A = A - ...``) and that no
    statement reads but as an operand of arithmetic or of a product (a view or another name of
    it would change too).  The statement's value must be ``A`` plus one term (``A + B + C`` adds
    in another order in place), and a term of another shape would be a ValueError, never a
    silent wrong number."""
    sources = [textwrap.dedent("    " + text) for text in statements]
    trees = [ast.parse(source) for source in sources]

    def added(node: ast.AST, name: str) -> bool:
        return (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.BinOp)
            and isinstance(node.value.op, (ast.Add, ast.Sub))
            and isinstance(node.value.left, ast.Name)
            and node.value.left.id == name
        )

    candidates, assigned = set(made_first), set()
    for tree in trees:
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Name) or node.id not in candidates:
                continue
            parent = parents.get(node)
            if isinstance(node.ctx, ast.Store):  # the first assignment, then only sums into it
                if node.id in assigned and not added(parent, node.id) or not isinstance(parent, ast.Assign):
                    candidates.discard(node.id)
                assigned.add(node.id)
            elif not _operand(node, parents) and not (added(parent, node.id) and parent.value.left is node):
                candidates.discard(node.id)
    lines = list(statements)
    for position, tree in enumerate(trees):
        statement = tree.body[0] if len(tree.body) == 1 else None
        if statement is None or not isinstance(statement, ast.Assign) or not isinstance(statement.targets[0], ast.Name):
            continue
        name = statement.targets[0].id
        if name in candidates and added(statement, name):
            value, term = statement.value, ast.get_source_segment(sources[position], statement.value.right)
            operator = "+=" if isinstance(value.op, ast.Add) else "-="
            whole = f"{name} = {ast.get_source_segment(sources[position], value)}"
            lines[position] = lines[position].replace(whole, f"{name} {operator} {term}", 1)
    return lines


def _operand(node: ast.Name, parents: dict) -> bool:
    """Whether a read of an array is an operand of arithmetic, a comparison or a call that makes a
    new array (``np.dot(dZ.T, H)``: its transpose too), so that no name holds a view of it."""
    parent = parents.get(node)
    if isinstance(parent, ast.Attribute) and parent.attr == "T":
        node, parent = parent, parents.get(parent)
        return isinstance(parent, ast.Call) and ast.unparse(parent.func) == "np.dot" and node in parent.args
    if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Compare)):
        return True
    return isinstance(parent, ast.Call) and node in parent.args and ast.unparse(parent.func) in NEW_ARRAY_CALLS | {"np.vdot"}


def chained_in_place(statements: list[str], exact: dict[str, tuple], bounded: dict[str, tuple]) -> list[str]:
    """``statements`` with each left-to-right chain of arithmetic, ``dZ_e = A * B * (N - H)``, written
    into the array its first operation makes: ``dZ_e = A * B`` and ``dZ_e *= N - H``.  The same
    operations in the same order (the same numbers), with one new array where the chain made one
    an operation: at batch 64 a (64, 16) array costs ~0.15 us (malloc and fresh memory), and an
    RNN's backward pass makes dozens of them.

    Only where the first operation's result already has the shape of the whole: every array of
    the chain has one shape, known exactly (``exact``: float arrays of that shape, a node's
    value) or as a bound (``bounded``: arrays of at most that shape, an adjoint, which may be a
    number), and the first operation reads an exact one.  An operand that broadcast the first
    result to a larger shape would be a ValueError.  A name assigned arithmetic of exact arrays
    of one shape is exact too (``shared_values``'s names).  Straight-line assignments only."""
    sources = [textwrap.dedent("    " + text) for text in statements]
    trees = [ast.parse(source) for source in sources]
    if not all(isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr)) for tree in trees for node in tree.body):
        return statements
    exact, bounded, made = dict(exact), dict(bounded), set()
    augmented = {ast.Mult: "*=", ast.Add: "+=", ast.Sub: "-="}
    lines = list(statements)
    for position, tree in enumerate(trees):
        statement = tree.body[0] if len(tree.body) == 1 else None
        for node in ast.walk(tree):  # a name assigned anything else than below is no longer known
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id in made:
                exact.pop(node.id, None)
                bounded.pop(node.id, None)
                made.discard(node.id)
        if not assigns_arithmetic(statement) or statement.lineno != statement.end_lineno:
            continue
        target, value = statement.targets[0].id, statement.value

        def shapes(expr: ast.expr) -> set:
            return {exact.get(n.id, bounded.get(n.id)) for n in ast.walk(expr) if isinstance(n, ast.Name)}

        links, first = [], value
        while isinstance(first, ast.BinOp) and type(first.op) in augmented and isinstance(first.left, ast.BinOp):
            links.append(first)
            first = first.left
        shape, names = shapes(value), {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
        if len(shape) != 1 or None in shape or target in names:
            continue
        if target not in exact and target not in bounded:  # a name of its own (shared_values): its shape
            (exact if names & set(exact) else bounded)[target] = next(iter(shape))
            made.add(target)
        if not links or type(first.op) not in augmented or not any(n.id in exact for n in _leaves(first)):
            continue
        comment = sources[position].split("\n")[-1][statement.end_col_offset :]
        last = lines[position].split("\n")[-1]
        above, indent = lines[position][: len(lines[position]) - len(last)], last[: len(last) - len(last.lstrip())]
        rewritten = [f"{above}{indent}{target} = {ast.unparse(first)}{comment}"]  # a comment line above keeps its place
        rewritten += [f"{target} {augmented[type(link.op)]} {ast.unparse(link.right)}" for link in reversed(links)]
        lines[position] = f"\n{indent if above else '    '}".join(rewritten)
    return lines


def _leaves(expr: ast.expr) -> list[ast.Name]:
    """The names that arithmetic ``expr`` reads."""
    return [n for n in ast.walk(expr) if isinstance(n, ast.Name)]


#: The calls of NumPy helpers that return an array made for the call (``Op.numpy_new_arrays``,
#: ``Activation.numpy_new_array``).
NEW_ARRAY_CALLS = frozenset(
    {"np.dot", "_batch_product"}
    | {f"_{name}" for op in OPS for name in op.numpy_new_arrays}
    | {f"_{name}" for name, entry in registry.ACTIVATIONS.items() if entry.numpy_new_array and entry.numpy_helper}
)
#: Helper call -> the index of the argument it may write its result into (``Op.numpy_writes_into``).
WRITES_INTO = {f"_{name}": index for op in OPS for name, index in op.numpy_writes_into.items()}


def makes_new_array(expr: ast.expr) -> bool:
    """Whether generated expression ``expr`` (of a batched value) makes a new array: arithmetic,
    a product or a helper of ``NEW_ARRAY_CALLS`` (a pooling's adjoint), not a name, a slice or a
    transpose (views of arrays that others hold)."""
    if isinstance(expr, ast.Call):
        return ast.unparse(expr.func) in NEW_ARRAY_CALLS
    return isinstance(expr, (ast.BinOp, ast.UnaryOp))
