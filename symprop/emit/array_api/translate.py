"""NumPy code of the NumPy builder, spelled against the array API standard.

The ops spell their lines once, in NumPy (``Op.numpy``, ``Op.numpy_adjoint``); this module is
the one table of how the NumPy vocabulary they use reads in the standard (``np.concatenate``
is ``xp.concat``, ``A.sum(axis=1)`` is ``xp.sum(A, axis=1)``, ``np.dot(A, B)`` is ``A @ B``,
``dZ * (Z > 0)`` multiplies by a mask the standard will not promote, so it is an
``xp.where``; what the standard lacks is a helper of the module: ``np.einsum`` is ``_einsum``,
pairwise matmuls), applied to the syntax tree of each statement, so that the code keeps its
comments and its layout where nothing changes.  What NumPy does in place (``np.add.at``,
``out=``, item assignment) has no spelling here: the standard's arrays may be immutable
(JAX), so such code is refused (``NotSpelled``); an op whose NumPy spelling needs it gives
its own array-API spelling (``Op.array_api``, ``Op.array_api_helpers``).  ``a += b`` becomes
``a = a + b``: the name is rebound, no array written, so an array shared with another name
(``dX = dY``) stays as it was.
"""

from __future__ import annotations

import ast
import io
import tokenize

#: NumPy functions the standard spells alike (``np.exp`` -> ``xp.exp``).
SAME = frozenset(
    """abs acos acosh all any arange argmax argmin asin asinh asarray atan atan2 atanh broadcast_arrays broadcast_to
    ceil clip copysign cos cosh empty empty_like exp expand_dims expm1 eye flip float32 float64 floor full full_like
    isfinite isinf isnan log log10 log1p log2 logaddexp logical_and logical_not logical_or matmul max maximum mean min
    minimum moveaxis ones ones_like prod reshape round sign sin sinh sort sqrt square squeeze stack sum tan tanh
    tensordot tril triu where zeros zeros_like""".split()
)
#: NumPy functions the standard names otherwise.
RENAMED = {
    "concatenate": "concat", "transpose": "permute_dims", "power": "pow", "absolute": "abs", "arctan": "atan",
    "arcsin": "asin", "arccos": "acos", "arctanh": "atanh", "arcsinh": "asinh", "arccosh": "acosh", "amax": "max",
    "amin": "min", "arctan2": "atan2",
}  # fmt: skip
#: Array methods of NumPy that are functions of the standard (``A.sum(1)`` -> ``xp.sum(A, axis=1)``).
REDUCTIONS = frozenset({"sum", "mean", "max", "min", "prod", "any", "all"})
#: Array methods of NumPy that the standard spells as functions.
METHODS = REDUCTIONS | {"reshape", "astype", "copy", "swapaxes", "transpose", "ravel"}
#: Names of modules in the code, whose functions are no array methods (``rng.normal``).
MODULES = frozenset({"np", "xp", "math", "rng"})
#: NumPy functions whose result is a tuple of arrays (``np.broadcast_arrays(A, B)[0]`` indexes the tuple).
TUPLES = frozenset({"broadcast_arrays"})
#: Helper functions a translated line may call, by name (their sources: ``helpers.py``).
HELPER_CALLS = {"swapaxes": "_swapaxes", "einsum": "_einsum", "heaviside": "_heaviside"}
#: Python's types as dtypes (``dtype=bool``) -> the standard's.
DTYPES = {"bool": "bool", "float": "float64", "int": "int64"}
#: Longest line written (ruff's limit for the repository is 130).
WIDTH = 130


class NotSpelled(ValueError):
    """NumPy code without a spelling in the array API standard."""


def _xp(name: str) -> ast.Attribute:
    return ast.Attribute(ast.Name("xp", ast.Load()), name, ast.Load())


def _call(func: ast.expr, args: list[ast.expr], keywords: list[ast.keyword] | None = None) -> ast.Call:
    return ast.Call(func, args, keywords or [])


def _is_np(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "np"


def _np_name(node: ast.AST) -> str | None:
    """``concatenate`` for ``np.concatenate``; None for anything else."""
    if isinstance(node, ast.Attribute) and _is_np(node.value):
        return node.attr
    return None


def _boolean(node: ast.AST) -> bool:
    """Whether ``node`` is certainly a boolean array: a comparison, or ``&``/``|``/``~`` of them."""
    if isinstance(node, ast.Compare):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
        return _boolean(node.left) and _boolean(node.right)
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert) and _boolean(node.operand)


class _Spelling(ast.NodeTransformer):
    """Rewrites one tree from NumPy to the standard's ``xp`` (see the module docstring).
    ``helpers``: the helper functions the rewritten code calls; ``imports``: the modules it needs."""

    def __init__(self):
        self.helpers: set[str] = set()
        self.imports: set[str] = set()

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        node = self.generic_visit(node)
        if not isinstance(node.target, ast.Name):
            raise NotSpelled("an array written in place (item assignment)")
        value = self.visit_BinOp(ast.BinOp(ast.Name(node.target.id, ast.Load()), node.op, node.value))
        return ast.Assign([node.target], value)

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if any(isinstance(target, ast.Subscript) for target in node.targets):
            raise NotSpelled("an array written in place (item assignment)")
        return self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        # A product with a mask: the standard does not promote bool to float.
        if isinstance(node.op, ast.Mult) and (_boolean(node.left) or _boolean(node.right)):
            mask, other = (node.left, node.right) if _boolean(node.left) else (node.right, node.left)
            if not _boolean(other):
                return _call(_xp("where"), [self.visit(mask), self.visit(other), ast.Constant(0.0)])
        return self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        name = _np_name(node)
        if name is None:
            if node.attr in ("flags", "kind", "tiny"):
                if node.attr == "tiny" and isinstance(node.value, ast.Call) and _np_name(node.value.func) == "finfo":
                    finfo = _call(_xp("finfo"), [self.visit(a) for a in node.value.args])
                    return ast.Attribute(finfo, "smallest_normal", ast.Load())
                raise NotSpelled(f"the NumPy attribute .{node.attr}")
            return self.generic_visit(node)
        if name in SAME:
            return _xp(name)
        if name in RENAMED:
            return _xp(RENAMED[name])
        raise NotSpelled(f"np.{name}")

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if _np_name(node.value) == "s_":  # np.s_[:, 1] -> (slice(None), 1)
            return ast.Tuple(
                [self._slice(item if isinstance(item, ast.Slice) else self.visit(item)) for item in items], ast.Load()
            )
        tuple_of_arrays = isinstance(node.value, ast.Call) and _np_name(node.value.func) in TUPLES
        node = self.generic_visit(node)
        keyed = isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)  # params["W"]
        sizes = isinstance(node.value, ast.Attribute) and node.value.attr == "shape"
        if keyed or sizes or tuple_of_arrays or any(isinstance(i, ast.Constant) and i.value is Ellipsis for i in items):
            return node
        # An index of fewer axes than the array has: the standard asks for the trailing ``...``.
        node.slice = ast.Tuple([*items, ast.Constant(Ellipsis)], ast.Load())
        return node

    def _slice(self, item: ast.AST) -> ast.expr:
        if not isinstance(item, ast.Slice):
            return item
        parts = [self.visit(p) if p is not None else ast.Constant(None) for p in (item.lower, item.upper, item.step)]
        while len(parts) > 1 and isinstance(parts[-1], ast.Constant) and parts[-1].value is None:
            parts.pop()
        return _call(ast.Name("slice", ast.Load()), parts)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if any(k.arg == "out" for k in node.keywords):
            raise NotSpelled("out= (an array written in place)")
        func = node.func
        name = _np_name(func)
        if name is not None:
            return self._function(name, node)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute) and _is_np(func.value.value):
            raise NotSpelled(f"np.{func.value.attr}.{func.attr}")
        if (
            isinstance(func, ast.Attribute)
            and func.attr in METHODS
            and not (isinstance(func.value, ast.Name) and func.value.id in MODULES)
        ):
            return self._method(func.attr, self.visit(func.value), node)
        return self.generic_visit(node)

    def _args(self, node: ast.Call) -> tuple[list[ast.expr], list[ast.keyword]]:
        keywords = []
        for k in node.keywords:
            value = self.visit(k.value)
            if k.arg == "dtype" and isinstance(value, ast.Name) and value.id in DTYPES:
                value = _xp(DTYPES[value.id])
            keywords.append(ast.keyword(k.arg, value))
        return [self.visit(a) for a in node.args], keywords

    def _function(self, name: str, node: ast.Call) -> ast.AST:
        args, keywords = self._args(node)
        if name == "dot":
            return ast.BinOp(args[0], ast.MatMult(), args[1])
        if name == "vdot":  # the sum of the elementwise product (both operands of one shape)
            return _call(_xp("sum"), [ast.BinOp(args[0], ast.Mult(), args[1])])
        if name == "prod" and args and isinstance(args[0], (ast.List, ast.ListComp, ast.Tuple)):
            self.imports.add("math")  # a product of Python numbers (sizes)
            return _call(ast.Attribute(ast.Name("math", ast.Load()), "prod", ast.Load()), args, keywords)
        if name in HELPER_CALLS:
            self.helpers.add(HELPER_CALLS[name])
            keywords = [k for k in keywords if k.arg != "optimize"]  # np.einsum's order of pairs: _einsum has its own
            return _call(ast.Name(HELPER_CALLS[name], ast.Load()), args, keywords)
        if name == "transpose" and len(args) == 1 and not keywords:
            return ast.Attribute(args[0], "T", ast.Load())
        if name == "full" and len(args) == 2 and not keywords and not isinstance(args[1], ast.Constant):
            return _call(_xp("broadcast_to"), [args[1], args[0]])  # filled with an array: its broadcast
        if name in ("reshape", "transpose") and len(args) == 2:
            args[1] = _shape(args[1])
        if name == "tensordot":  # axes=(1, 2): the standard asks for a sequence of axes on each side
            for holder in [*keywords, *args[2:]]:
                axes = holder.value if isinstance(holder, ast.keyword) else holder
                if isinstance(axes, ast.Tuple) and len(axes.elts) == 2:
                    axes.elts = [_shape(side) for side in axes.elts]
        return _call(self.visit_Attribute(node.func), args, keywords)

    def _method(self, method: str, receiver: ast.expr, node: ast.Call) -> ast.AST:
        args, keywords = self._args(node)
        if method in REDUCTIONS:
            if args:  # A.sum(1): the axis, by position
                keywords = [ast.keyword("axis", args[0]), *keywords]
            return _call(_xp(method), [receiver], keywords)
        if method == "reshape":
            shape = args[0] if len(args) == 1 else ast.Tuple(args, ast.Load())
            return _call(_xp("reshape"), [receiver, _shape(shape)])
        if method == "ravel":
            return _call(_xp("reshape"), [receiver, ast.Tuple([ast.Constant(-1)], ast.Load())])
        if method == "astype":
            return _call(_xp("astype"), [receiver, *args], keywords)
        if method == "copy":  # nothing is written in place here: the array itself
            return receiver
        if method == "swapaxes":
            self.helpers.add("_swapaxes")
            return _call(ast.Name("_swapaxes", ast.Load()), [receiver, *args])
        return _call(_xp("permute_dims"), [receiver, _shape(args[0] if len(args) == 1 else ast.Tuple(args, ast.Load()))])


def _shape(node: ast.expr) -> ast.expr:
    """A shape or axes argument as a tuple (NumPy takes a bare number)."""
    if isinstance(node, (ast.Tuple, ast.List)):
        return ast.Tuple(list(node.elts), ast.Load())
    if _number(node):
        return ast.Tuple([node], ast.Load())
    return node


def _number(node: ast.expr) -> bool:
    """Whether ``node`` is certainly one integer: a number, a size ``A.shape[0]``, or arithmetic of them."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return _number(node.operand)
    if isinstance(node, ast.BinOp):
        return _number(node.left) and _number(node.right)
    sizes = isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "shape"
    return sizes and not isinstance(node.slice, (ast.Slice, ast.Tuple))


def spelled(source: str, helpers: set[str], imports: set[str], margin: int = 0) -> str:
    """``source`` (statements, any indentation, comments allowed) in the standard's spelling:
    each statement that changes is printed anew (``ast.unparse``), keeping the comment at its
    end; lines that do not change stay as they are, and a function's body is spelled
    statement by statement (its comments kept).  ``helpers`` and ``imports`` collect what the
    new code calls; ``margin``: the indentation the text gets where it is written.  Raises
    ``NotSpelled``."""
    lines = source.split("\n")
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    body = [line[indent:] for line in lines]
    spelling = _Spelling()
    comments = _comments("\n".join(body))
    out = _statements(ast.parse("\n".join(body)).body, body, 0, len(body), spelling, comments, WIDTH - margin - indent)
    helpers |= spelling.helpers
    imports |= spelling.imports
    return "\n".join(" " * indent + line if line.strip() else line for line in out)


def _statements(statements: list[ast.stmt], lines: list[str], first: int, last: int, spelling, comments, width) -> list[str]:
    """Lines ``first:last`` (0-based) of ``lines``, which hold ``statements``, respelled."""
    out, position = [], first
    for statement in statements:
        start, end = statement.lineno - 1, statement.end_lineno
        out += lines[position:start]
        position = end
        if isinstance(statement, ast.FunctionDef):  # its header as it is, its body statement by statement
            out += _function(statement, lines, spelling, comments, width)
            continue
        before = ast.dump(statement)
        try:
            new = spelling.visit(statement)
        except NotSpelled as error:  # which line: its comment names the node (y = step(z))
            shown = " ".join(line.strip() for line in lines[start:end])
            raise NotSpelled(f"{error}, in `{shown if len(shown) <= 100 else shown[:97] + '...'}`") from None
        if ast.dump(new) == before:
            out += lines[start:end]
            continue
        lead = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        text = ast.unparse(ast.fix_missing_locations(new)).split("\n")
        comment = comments.get(end)
        if comment and len(lead + text[-1] + comment) + 2 <= width:
            text[-1] += f"  {comment}"
        elif comment:  # too long with it: the comment above, as Line.text writes it
            text.insert(0, comment)
        # A statement longer than ruff's limit by itself (an einsum of rank-4 arrays) is marked, not broken.
        out += [lead + t + ("  # noqa: E501" if len(lead + t) > width and not t.lstrip().startswith("#") else "") for t in text]
    out += lines[position:last]
    return out


def _function(definition: ast.FunctionDef, lines: list[str], spelling, comments, width) -> list[str]:
    """A helper function respelled: its header and docstring as they are, its body statement by
    statement, with ``xp = array_namespace(<its first argument>)`` after the docstring when
    the body uses ``xp``."""
    start, end, body = definition.lineno - 1, definition.end_lineno, definition.body
    docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)
    inner = body[1].lineno - 1 if docstring and len(body) > 1 else body[0].lineno - 1
    statements = body[1:] if docstring and len(body) > 1 else body
    spelled_body = _statements(statements, lines, inner, end, spelling, comments, width)
    head = lines[start:inner]
    if any("xp." in line for line in spelled_body):
        indent = lines[inner][: len(lines[inner]) - len(lines[inner].lstrip())]
        head.append(f"{indent}xp = array_namespace({definition.args.args[0].arg})")
    return head + spelled_body


def _comments(source: str) -> dict[int, str]:
    """Line number (1-based) -> the comment at the end of that line, after code."""
    found = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.line[: token.start[1]].strip():
            found[token.start[0]] = token.string
    return found
