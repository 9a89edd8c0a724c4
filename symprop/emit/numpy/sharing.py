"""Rewrites of a generated function's straight-line statements that compute a value once, as
one writes NumPy by hand: the residual of a squared error (``shared_residual``), arithmetic that
two lines repeat (``shared_values``), a small weight that many products read transposed copied
once (``transposed_once``); and what counts as arithmetic of names and numbers
(``assigns_arithmetic``)."""

from __future__ import annotations

import ast
import copy
import re
import textwrap

from ... import naming


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
        if assigns_arithmetic(statement) and statement.targets[0].id not in names_of(statement.value):
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


def assigns_arithmetic(statement) -> bool:
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
