"""Rewrites of a generated function's straight-line statements, as one writes NumPy by hand:
``del`` of each array after its last read (``released``), arrays that die in a statement written
over in place (``written_in_place``, ``accumulated_in_place``), the residual of a squared error
computed once (``shared_residual``), and a name replaced by its value with only the parentheses
it needs (``substituted``)."""

from __future__ import annotations

import ast
import re
import textwrap

from ... import naming, registry
from ...ops import OPS


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


def shared_residual(statements: list[str]) -> list[str]:
    """``statements`` with the residual of a squared error, ``Y - T`` in the loss
    ``c * np.vdot(Y - T, Y - T)``, computed once before the loss (``_r_Y = Y - T``) and read by
    the loss and by every later ``(Y - T)`` of the backward pass (dE/dY = (Y - T) / N): one
    subtraction where there were three, as one writes it by hand.  Y and T are not assigned
    again after the loss (the backward pass assigns only adjoints)."""
    pattern = re.compile(r"np\.vdot\(((\w+) - (\w+)), \1\)")
    for position, text in enumerate(statements):
        match = pattern.search(text)
        if match is None or not text.split("\n")[-1].lstrip().startswith("E = "):  # a comment may come first
            continue
        residual, output = match.group(1), match.group(2)
        name = naming.saved_name(output, "r")
        rest = [line.replace(f"({residual})", name) for line in statements[position + 1 :]]
        loss = text.replace(match.group(0), f"np.vdot({name}, {name})")
        return [*statements[:position], f"{name} = {residual}  # the residual, for the loss and its gradient", loss, *rest]
    return statements


#: The fewest multiply-adds a sample of a product ``np.dot(A, W.T)`` that ``tuned_products`` gives
#: to ``_batch_product``: a call of it costs about 0.25 us more than np.dot (its key and dict look-up),
#: more than a product of a few hundred multiply-adds a sample could gain (an RNN's 16 x 16).
PRODUCT_MIN_SIZE = 4096
_PRODUCT = re.compile(r"np\.dot\(([A-Za-z_]\w*), ([A-Za-z_]\w*)\.T\)")


def tuned_products(statements: list[str], rows: set[str], weights: set[str]) -> tuple[list[str], bool]:
    """``statements`` with each product ``np.dot(A, W.T)`` of a batch of rows ``A`` (an array of
    ``rows``: per sample a vector) and a weight matrix ``W`` (of ``weights``) written
    ``_batch_product(A, W)``, which computes it in the faster of BLAS's two orientations (``EXTRA_HELPERS``:
    float64 784-30-10 at batch 1024 0.8x the time of the call as written on this machine's OpenBLAS), and whether one was.
    Comments are left as they are."""
    found = False

    def tuned(match: re.Match) -> str:
        nonlocal found
        if match.group(1) not in rows or match.group(2) not in weights:
            return match.group(0)
        found = True
        return f"_batch_product({match.group(1)}, {match.group(2)})"

    lines = []
    for statement in statements:
        parts = []
        for line in statement.split("\n"):
            code, hash_, comment = line.partition("  # ")
            parts.append(line if code.lstrip().startswith("#") else _PRODUCT.sub(tuned, code) + hash_ + comment)
        lines.append("\n".join(parts))
    return lines, found


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


def substituted(text: str, name: str, value: str) -> str:
    """``text`` (a line ``x = ...`` or its formula) with identifier ``name`` on its right side
    replaced by ``value``, in parentheses only where an operator next to it binds tighter than
    ``value``'s own (``tanh(Wx x2 + bh)``, ``x * (1 - t)``, ``(a + b).T``)."""
    left, right = text.split(" = ", 1)
    outer = _outer_operators(value)
    pattern = re.compile(rf"(-\s*)?(?<![\w.]){re.escape(name)}(?!\w)")

    def spelled(match: re.Match) -> str:
        before, after = right[: match.start()].rstrip(), right[match.end() :].lstrip()
        if match.group(1):
            negated = (not before or before.endswith(("(", ",", "*", "/", "@"))) and not after.startswith("**")
            if negated and value.startswith("-") and not _outer_operators(value[1:]):  # -(-x) is x (ruff's B002)
                return value[1:]
            before, minus = f"{before} -".lstrip(), match.group(1)
        else:
            minus = ""
        tight_before = before.endswith(("*", "/", "@", "-", "**")) or (before[-1:].isalnum() or before.endswith(")"))
        tight_after = after.startswith(("*", "/", "@", "[", ".", "**")) or after[:1].isalnum() or after.startswith("(")
        if outer & {"+", "-"}:
            wrap = tight_before or tight_after
        elif outer:  # a product: only a power, a quotient's divisor, an index or an attribute binds tighter
            wrap = before.endswith(("/", "**", "@")) or after.startswith(("**", "[", "."))
        else:
            wrap = False
        return f"{minus}({value})" if wrap else f"{minus}{value}"

    return f"{left} = {pattern.sub(spelled, right)}"


def _outer_operators(code: str) -> set[str]:
    """The operators of ``code`` outside brackets: ``+ -`` of a sum, ``*`` of a product (also a
    formula's juxtaposition ``W x``), or none for a name, a number or a call."""
    found, depth, previous = ({"-"} if code.startswith("-") else set()), 0, ""  # -x ** 2 is -(x ** 2)
    for position, char in enumerate(code):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            exponent = re.search(r"(?<![\w.])\d+\.?\d*[eE]$", code[:position])  # 1e-5
            if char in "+-" and position and previous not in "*/@(,+-" and not exponent:
                found.add(char)
            elif char in "*/@" or (char == " " and code[position + 1 : position + 2] not in "+-*/@" and previous not in "+-*/@ "):
                found.add("*")
        if char != " ":
            previous = char
    return found
