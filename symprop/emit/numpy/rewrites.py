"""Rewrites of a generated function's straight-line statements, as one writes NumPy by hand:
``del`` of each array after its last read (``released``), arrays that die in a statement written
over in place (``written_in_place``, ``accumulated_in_place``), the residual of a squared error
computed once (``shared_residual``), arithmetic that two lines repeat computed once
(``shared_values``), a chain of arithmetic on arrays of one shape written into its first result
(``chained_in_place``), a small weight that many products read transposed copied once
(``transposed_once``), and a name replaced by its value with only the parentheses it needs
(``substituted``)."""

from __future__ import annotations

import ast
import copy
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


def shared_values(statements: list[str]) -> list[str]:
    """``statements`` with arithmetic that they compute twice computed once, as one writes it by hand:

    * a part of a line equal to the value of an earlier assignment is that name: the GRU's
      ``dZ6_e = Z6 * dH6 * (1.0 - Z6) * (N6 - H5)`` reads ``H6_a`` of ``H6_a = 1.0 - Z6`` (the
      forward value), ``H5 * R6 * dN6_c`` reads ``N6_c`` of ``N6_c = H5 * R6``;
    * a product or sum of two names (or a name and a number) that two lines compute gets a name
      of its own, computed once before the first of them (``_Z6_dH6 = Z6 * dH6``, dE/dn6, read by
      the lines of dn6 and dz6).

    The same operations on the same arrays, in the same order (a part of a left-to-right product
    is its first factors): the same numbers.  Every name involved is assigned at most once, before
    (a function's argument or a parameter: never), and no ``out=`` writes into it; a whole value
    is never replaced by a name (another name of one array would stop the in-place rewrites).
    embedding_gru at batch 64: 4 calls of ~1 us a step (about 3% of loss_and_grad).
    Straight-line assignments only: anything else is left as it is."""
    sources = [textwrap.dedent("    " + text) for text in statements]
    trees = [ast.parse(source) for source in sources]
    if not all(isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr)) for tree in trees for node in tree.body):
        return statements
    stores: dict[str, list[int]] = {}  # name -> the statements that assign it or write into it
    for position, tree in enumerate(trees):
        for node in ast.walk(tree):
            written = [node] if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) else []
            if isinstance(node, ast.keyword) and node.arg == "out":
                written = [n for n in ast.walk(node.value) if isinstance(n, ast.Name)]
            for name in written:
                stores.setdefault(name.id, []).append(position)

    def unchanged(names: set[str], start: int, end: int) -> bool:
        """Whether no statement from ``start`` up to (not with) ``end`` assigns or writes ``names``
        (a statement reads its values before it assigns)."""
        return not any(start <= at < end for name in names for at in stores.get(name, []))

    def names_of(expr: ast.AST) -> set[str]:
        return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}

    values: dict[str, list[tuple[str, int]]] = {}  # ast.dump of a value -> [(the name assigned it, where)]
    for position, tree in enumerate(trees):
        statement = tree.body[0] if len(tree.body) == 1 else None
        if _assigns_arithmetic(statement) and statement.targets[0].id not in names_of(statement.value):
            values.setdefault(ast.dump(statement.value), []).append((statement.targets[0].id, position))

    def named(key: str, node: ast.expr, position: int) -> str | None:
        names = names_of(node)
        found = [name for name, at in values.get(key, []) if at < position and unchanged(names | {name}, at + 1, position)]
        return found[-1] if found else None

    changed = [_renamed(tree, named, position) for position, tree in enumerate(trees)]
    pairs: dict[str, list[int]] = {}  # ast.dump of a pair -> the statements computing it, once each time
    found: dict[str, ast.expr] = {}
    for position, tree in enumerate(changed):
        for node in _parts(tree):
            if _pair(node):
                pairs.setdefault(ast.dump(node), []).append(position)
                found.setdefault(ast.dump(node), node)
    taken = set(stores) | {name for tree in trees for name in names_of(tree)}
    hoisted: dict[int, list[str]] = {}
    groups: dict[str, list[tuple[str, range]]] = {}  # ast.dump of a pair -> [(its name, the statements reading it)]
    for key, positions in pairs.items():
        operands, run = names_of(found[key]), [positions[0]]
        for position in [*positions[1:], None]:  # runs of statements between which no operand changes
            if position is not None and unchanged(operands, run[0], position):
                run.append(position)
                continue
            if len(run) > 1:
                name = naming.shared_name(_words(found[key]), taken)
                taken.add(name)
                groups.setdefault(key, []).append((name, range(run[0], run[-1] + 1)))
                hoisted.setdefault(run[0], []).append(f"{name} = {ast.unparse(found[key])}  # read by {len(run)} lines")
            run = [position]

    def shared(key: str, node: ast.expr, position: int) -> str | None:
        return next((name for name, where in groups.get(key, []) if position in where), None)

    changed = [_renamed(tree, shared, position) for position, tree in enumerate(changed)]
    lines = []
    for position, (text, tree) in enumerate(zip(statements, changed)):
        lines += hoisted.get(position, [])
        statement = tree.body[0] if len(tree.body) == 1 else None
        before = trees[position].body[0] if len(trees[position].body) == 1 else None
        if isinstance(statement, ast.Assign) and ast.dump(statement) != ast.dump(before):
            segment = ast.get_source_segment(sources[position], before.value)
            code = len(text) - len(text.split("\n")[-1])  # after the comment lines above it
            text = text[:code] + text[code:].replace(segment, ast.unparse(statement.value), 1)
        lines.append(text)
    return lines


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
        if not _assigns_arithmetic(statement) or statement.lineno != statement.end_lineno:
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


def transposed_once(statements: list[str], sizes: dict[str, int], uses: int = 3, largest: int = 4096) -> list[str]:
    """``statements`` with a parameter that ``uses`` or more products read transposed,
    ``np.dot(H1, Uz.T)``, copied transposed once before the first (``_Uz_T = Uz.T.copy()``) and
    read as that copy: OpenBLAS multiplies a small matrix by a transposed one ~0.7 us slower
    than by a contiguous one (64 x 16 by 16 x 16: 2.2 against 1.5 us), and an RNN's recurrent
    weights are read so once a step (embedding_gru at batch 64: 4% in float64).  Only for a
    parameter (``sizes``: array -> its number of elements) of at most ``largest`` elements:
    the copy of a large one costs more than it saves.  The same products (bit for bit on
    embedding_gru; another BLAS kernel could add in another order)."""
    pattern = re.compile(r"np\.dot\(([^()]+), (\w+)\.T\)")
    counts: dict[str, int] = {}
    for text in statements:
        for match in pattern.finditer(text.split("\n")[-1]):
            counts[match.group(2)] = counts.get(match.group(2), 0) + 1
    taken = {word for text in statements for word in re.findall(r"\w+", text)}
    chosen = {}
    for name, count in counts.items():
        if count >= uses and sizes.get(name, largest + 1) <= largest and f"_{name}_T" not in taken:
            chosen[name] = f"_{name}_T"
    if not chosen:
        return statements
    lines = [f"{copy} = {name}.T.copy()  # {name}^T contiguous, for the products below" for name, copy in chosen.items()]
    for text in statements:
        last = text.split("\n")[-1]

        def contiguous(match: re.Match) -> str:
            copy = chosen.get(match.group(2))
            return f"np.dot({match.group(1)}, {copy})" if copy else match.group(0)

        lines.append(text[: len(text) - len(last)] + pattern.sub(contiguous, last))
    return lines


def _assigns_arithmetic(statement) -> bool:
    """Whether ``statement`` is ``name = <arithmetic of names and numbers>``."""
    return (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and _arithmetic(statement.value)
    )


def _arithmetic(expr: ast.expr) -> bool:
    if isinstance(expr, ast.BinOp):
        return _arithmetic(expr.left) and _arithmetic(expr.right)
    if isinstance(expr, ast.UnaryOp):
        return _arithmetic(expr.operand)
    return isinstance(expr, ast.Name) or isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float))


def _pair(node: ast.AST) -> bool:
    """A binary operation of two names, or of a name and a number."""
    operands = (node.left, node.right) if isinstance(node, ast.BinOp) else ()
    leaves = [o for o in operands if isinstance(o, ast.Name) or _arithmetic(o) and isinstance(o, ast.Constant)]
    return len(leaves) == 2 and any(isinstance(o, ast.Name) for o in leaves)


def _words(pair: ast.BinOp) -> list[str]:
    """A pair spelled in words for its variable's name: ``1.0 - T_`` is ["1", "minus", "T"]."""
    operator = {ast.Add: "plus", ast.Sub: "minus", ast.Mult: "times", ast.Div: "over"}.get(type(pair.op), "op")
    spelled = []
    for operand in (pair.left, pair.right):  # a name, or a number (0.5 is 0p5, -1 is m1)
        spelled.append(operand.id.rstrip("_") if isinstance(operand, ast.Name) else f"{operand.value:g}".translate(_DIGITS))
    return [spelled[0], operator, spelled[1]]


_DIGITS = str.maketrans({".": "p", "-": "m", "+": "p"})


def _parts(tree: ast.Module) -> list[ast.expr]:
    """The proper parts of a statement's value: of an assignment's value, not the value itself."""
    statement = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(statement, ast.Assign) or not isinstance(statement.value, (ast.BinOp, ast.UnaryOp, ast.Call)):
        return []
    return [node for node in ast.walk(statement.value) if node is not statement.value and isinstance(node, ast.BinOp)]


def _renamed(tree: ast.Module, name_of, position: int) -> ast.Module:
    """A copy of statement ``tree`` (at ``position``) with each proper part of its value that
    ``name_of(ast.dump(part), part, position)`` names replaced by that name (the largest parts first)."""

    class Renamer(ast.NodeTransformer):
        def visit_BinOp(self, node):
            name = name_of(ast.dump(node), node, position)
            return ast.Name(name, ast.Load()) if name else self.generic_visit(node)

        visit_UnaryOp = visit_BinOp

    tree = copy.deepcopy(tree)
    statement = tree.body[0] if len(tree.body) == 1 else None
    if isinstance(statement, ast.Assign) and isinstance(statement.value, (ast.BinOp, ast.UnaryOp, ast.Call)):
        statement.value = Renamer().generic_visit(statement.value)
    return tree


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
            # ... and a matrix product after * or * - (a * b @ c is (a * b) @ c: * and @ group left to right)
            wrap = wrap or ("@" in outer and re.search(r"\*\s*-?$", before) is not None)
        else:
            wrap = False
        return f"{minus}({value})" if wrap else f"{minus}{value}"

    return f"{left} = {pattern.sub(spelled, right)}"


def _outer_operators(code: str) -> set[str]:
    """The operators of ``code`` outside brackets: ``+ -`` of a sum, ``*`` of a product (also a
    formula's juxtaposition ``W x``), ``@`` of a matrix product, or none for a name, a number or a call."""
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
            elif char == "@":
                found.add("@")
            elif char in "*/" or (char == " " and code[position + 1 : position + 2] not in "+-*/@" and previous not in "+-*/@ "):
                found.add("*")
        if char != " ":
            previous = char
    return found
