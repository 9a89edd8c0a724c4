"""NumPy code of the NumPy builder, spelled for one ``@njit`` function (the graph-spec kernel).

The ops spell their lines once, in NumPy; this module is the one table of how that vocabulary
reads in Numba's ``nopython`` mode, applied to the syntax tree of each statement:

* ``np.concatenate([a, b])`` and ``np.stack([a, b])`` take a tuple (Numba types no list of arrays);
* ``A.swapaxes(0, 1) @ W.T`` (every step's input product) is ``_nb_steps_matmul(A, W.T)``, any other
  ``@`` is ``_nb_matmul`` (Numba's ``@`` takes 2-D arrays alone: the helper multiplies stacks too);
* ``A.sum(axis=...)`` and ``A.mean(axis=...)`` are sums (or ``_mean_axis``) along one axis at a
  time, keepdims an ``np.expand_dims`` (``Spelling.reduction``);
* ``np.swapaxes(a, i, j)`` is a contiguous copy of it (Numba reshapes contiguous arrays alone);
* ``np.vdot(a, b)`` is ``np.sum(a * b)``; a slice's ``.reshape(...)`` reshapes a contiguous copy, as
  does that of an array assigned ``np.transpose(...)`` (a view of other strides);
* ``np.tanh`` and ``np.exp`` are ``_tanh_array`` and ``_exp_array``: loops over ``fastmath``'s
  vectorisable tanh and exp (Numba's call libm once an element, 6 to 30 times slower than NumPy);
* ``np.where(c, a, number)`` (or ``np.where(c, number, a)``) is ``_where_number``: one loop where
  c's shape is the trailing part of a's (a causal mask), Numba's ``np.where`` otherwise;
* a float literal is the name of a constant of the data's dtype (Numba computes
  ``0.5 * float32_array`` in float64), made once at the top of the function; so is ``N`` (the
  batch size) where it divides, and a whole number ``np.where`` chooses;
* ``del`` goes (Numba frees an array after its last use itself);
* a helper the NumPy module calls (``_sigmoid``) is the Numba module's ``_nb_sigmoid``: its own
  where it has one (``helpers.OWN``, or an op's ``numba_helpers``), else translated the same way.

Anything else of NumPy's (``np.add.at``, ``out=``, item assignment, a NumPy function outside
``NUMPY``) raises ``NotSpelled``: the module is refused in one line, never half-compiled.
"""

from __future__ import annotations

import ast

#: NumPy functions Numba compiles as NumPy computes them (and the kernel may call).
NUMPY = frozenset(
    """abs asarray ascontiguousarray broadcast_to dot empty empty_like expand_dims eye float32 float64 log log1p maximum minimum
    ones sqrt stack sum swapaxes transpose where zeros zeros_like""".split()
)
#: NumPy functions with a faster loop of the module's own.
OWN_LOOPS = {"tanh": "_tanh_array", "exp": "_exp_array"}
#: Array methods Numba has (with positional or ``axis=`` arguments).
METHODS = frozenset({"reshape", "sum", "max", "min", "mean", "copy", "ravel", "transpose"})
#: Of ``METHODS``, those reduced along literal axes (``reduction``); the others reduce everything.
AXIS_METHODS = frozenset({"sum", "mean"})
#: Names that are no arrays of the kernel.
MODULES = frozenset({"np"})


class NotSpelled(ValueError):
    """NumPy code without a spelling in Numba's nopython mode (the message names it)."""


def literal_name(value: float) -> str:
    """``_c0_5`` for 0.5, ``_c1e_06`` for 1e-06: the constant's name in the function."""
    text = repr(float(value)).replace("-", "_").replace(".", "_").replace("+", "")
    return f"_c{text}"


class Spelling(ast.NodeTransformer):
    """Rewrites statements from NumPy to Numba (see the module docstring).  ``helpers``: the
    helpers they call (by NumPy name); ``literals``: the float constants, by name."""

    def __init__(self, helpers: frozenset[str]):
        self.known_helpers = helpers
        self.helpers: set[str] = set()
        self.literals: dict[str, float] = {}
        self.loops: set[str] = set()
        self.views: set[str] = set()  # arrays assigned a transposed view (np.transpose)

    def visit_Delete(self, node: ast.Delete) -> None:
        return None

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        if not isinstance(node.target, ast.Name):
            raise NotSpelled("an array written in place (item assignment)")
        return ast.Assign([node.target], self.visit(ast.BinOp(ast.Name(node.target.id, ast.Load()), node.op, node.value)))

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if not all(isinstance(target, (ast.Name, ast.Tuple)) for target in node.targets):
            raise NotSpelled("an array written in place (item assignment)")
        value = node.value
        strided = isinstance(value, ast.Call) and ast.unparse(value.func) in ("np.transpose", "np.swapaxes")
        for target in node.targets:  # a transposed view, which Numba will not reshape
            if isinstance(target, ast.Name):
                (self.views.add if strided else self.views.discard)(target.id)
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float):
            name = literal_name(node.value)
            self.literals[name] = node.value
            return ast.Name(name, ast.Load())
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if isinstance(node.op, ast.MatMult):
            left = node.left
            if (
                isinstance(left, ast.Call)
                and isinstance(left.func, ast.Attribute)
                and left.func.attr == "swapaxes"
                and [ast.unparse(a) for a in left.args] == ["0", "1"]
            ):
                self.helpers.add("steps_matmul")
                operands = [self.visit(left.func.value), self.visit(node.right)]
                return ast.Call(ast.Name("_nb_steps_matmul", ast.Load()), operands, [])
            self.helpers.add("matmul")
            return ast.Call(ast.Name("_nb_matmul", ast.Load()), [self.visit(node.left), self.visit(node.right)], [])
        node = self.generic_visit(node)
        for side in ("left", "right"):  # the batch size, as a number of the data's dtype
            if isinstance(getattr(node, side), ast.Name) and getattr(node, side).id == "N":
                setattr(node, side, ast.Name("_Nf", ast.Load()))
        # A whole number with a float (dE_i / 2, 1 / _Nf) is one of the dtype too: Numba computes a
        # float32 number (not an array) with an int in float64, and float64 spread to the gradients.
        numbers = [_float_literal(side) for side in (node.left, node.right)]
        if isinstance(node.op, ast.Div) and all(isinstance(n, ast.Constant) for n in numbers) and numbers[1].value:
            return self.visit_Constant(ast.Constant(numbers[0].value / numbers[1].value))  # 2 / 3: one constant
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            for side, other in (("left", "right"), ("right", "left")):
                number = _float_literal(getattr(node, side))
                if number is not getattr(node, side) and not _sizes(getattr(node, other)):
                    setattr(node, side, self.visit_Constant(number))
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id == "np" and node.attr not in NUMPY | OWN_LOOPS.keys():
            if node.attr not in ("concatenate", "vdot"):
                raise NotSpelled(f"np.{node.attr}")
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "np":
            if func.attr in ("concatenate", "stack") and node.args and isinstance(node.args[0], ast.List):
                items = ast.Tuple([self.visit(e) for e in node.args[0].elts], ast.Load())
                return ast.Call(_np(func.attr), [items, *map(self.visit, node.args[1:])], self._keywords(node))
            if func.attr == "swapaxes":  # a copy: Numba reshapes contiguous arrays alone
                return ast.Call(_np("ascontiguousarray"), [self.generic_visit(node)], [])
            if func.attr == "where" and len(node.args) == 3:  # a whole number chosen: of the dtype too
                node.args[1:] = [_float_literal(a) for a in node.args[1:]]
                numbers = [isinstance(a, ast.Constant) for a in node.args[1:]]
                if numbers in ([False, True], [True, False]) and not node.keywords:  # an array and a number
                    self.helpers.add("where_number")
                    mask, array, number = node.args[0], *node.args[1:][:: 1 if numbers[1] else -1]
                    arguments = [self.visit(mask), self.visit(array), self.visit(number), ast.Constant(numbers[1])]
                    return ast.Call(ast.Name("_nb_where_number", ast.Load()), arguments, [])
            if func.attr == "vdot" and len(node.args) == 2:
                product = ast.BinOp(self.visit(node.args[0]), ast.Mult(), self.visit(node.args[1]))
                return ast.Call(_np("sum"), [product], [])
            if func.attr in OWN_LOOPS:
                self.loops.add(func.attr)
                return ast.Call(ast.Name(OWN_LOOPS[func.attr], ast.Load()), [self.visit(a) for a in node.args], [])
            if any(k.arg == "out" for k in node.keywords):
                raise NotSpelled(f"np.{func.attr}(..., out=...)")
            return self.generic_visit(node)
        if isinstance(func, ast.Name) and func.id.startswith("_"):
            name = func.id[1:]
            if name in ("softmax", "softmax_lse") and (len(node.args) > 1 or node.keywords):  # the module's own: the last axis
                raise NotSpelled(f"the helper {func.id} along another axis than the last")
            if name not in self.known_helpers:
                raise NotSpelled(f"the helper {func.id}")
            if name == "batch_sum" and len(node.args) > 1:  # the module's own sum over the first two axes
                if ast.unparse(node.args[1]) != "2" or node.keywords:
                    raise NotSpelled("the helper _batch_sum over more than two axes")
                name, node.args = "batch_sum2", node.args[:1]
            axis = next((ast.unparse(k.value) for k in node.keywords if k.arg == "axis"), None)
            if name == "normalize" and axis != "-1":  # layer_norm's Numba helper: along the last axis
                raise NotSpelled("the helper _normalize along another axis than the last")
            self.helpers.add(name)
            node = self.generic_visit(node)
            node.func = ast.Name(f"_nb_{name}", ast.Load())  # the NumPy module's _<name> stays
            return node
        if isinstance(func, ast.Attribute) and not (isinstance(func.value, ast.Name) and func.value.id in MODULES):
            if func.attr not in METHODS:
                raise NotSpelled(f"the array method .{func.attr}()")
            if func.attr in AXIS_METHODS and node.keywords:
                return self.reduction(node)
            for keyword in node.keywords:
                if keyword.arg == "keepdims" or (keyword.arg == "axis" and func.attr not in AXIS_METHODS):
                    raise NotSpelled(f".{func.attr}({keyword.arg}=...)")
            # a slice may not be contiguous, nor a transposed view
            view = isinstance(func.value, ast.Name) and func.value.id in self.views
            if func.attr == "reshape" and (view or not isinstance(func.value, (ast.Name, ast.Call))):
                contiguous = ast.Call(_np("ascontiguousarray"), [self.visit(func.value)], [])
                return ast.Call(ast.Attribute(contiguous, "reshape", ast.Load()), [self.visit(a) for a in node.args], [])
            return self.generic_visit(node)
        if isinstance(func, ast.Name) and func.id in ("len", "range", "min", "max", "abs", "float", "int"):
            return self.generic_visit(node)
        raise NotSpelled(f"the call {ast.unparse(func)}()")

    def reduction(self, node: ast.Call) -> ast.AST:
        """``A.sum(axis=...)`` or ``A.mean(axis=...)`` of literal axes, keepdims or not: Numba sums
        along one axis and has no keepdims, and its mean takes no axis.  So a sum or mean along
        each axis in turn, from the last (the others keep their numbers), the mean as
        ``_mean_axis`` (the sum over the axis' length); keepdims as ``np.expand_dims`` of each."""
        method = node.func.attr
        keywords = {k.arg: k.value for k in node.keywords}
        if node.args or "axis" not in keywords or set(keywords) - {"axis", "keepdims"}:
            raise NotSpelled(f".{method}({', '.join(f'{k}=...' for k in keywords)}) without axis=")
        written = f".{method}(axis={ast.unparse(keywords['axis'])})"
        try:
            axes = ast.literal_eval(keywords["axis"])
            keep = ast.literal_eval(keywords.get("keepdims", ast.Constant(False)))
        except ValueError:
            raise NotSpelled(written) from None
        axes = (axes,) if isinstance(axes, int) else axes
        if not (isinstance(axes, tuple) and axes and all(isinstance(a, int) for a in axes) and isinstance(keep, bool)):
            raise NotSpelled(written)
        if len(axes) > 1 and min(axes) < 0:  # summed from the last, a negative axis would move
            raise NotSpelled(f"{written} (negative axes)")
        array = self.visit(node.func.value)
        for axis in sorted(axes, reverse=True):
            if method == "mean":
                self.helpers.add("mean_axis")
                array = ast.Call(ast.Name("_nb_mean_axis", ast.Load()), [array, ast.Constant(axis)], [])
            else:
                array = ast.Call(ast.Attribute(array, "sum", ast.Load()), [], [ast.keyword("axis", ast.Constant(axis))])
        if keep:  # an array (Numba sums a vector to a number, which np.expand_dims does not take)
            array = ast.Call(_np("asarray"), [array], [])
        for axis in sorted(axes) if keep else ():
            array = ast.Call(_np("expand_dims"), [array, ast.Constant(axis)], [])
        return array

    def _keywords(self, node: ast.Call) -> list[ast.keyword]:
        return [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords]


def _float_literal(node: ast.expr) -> ast.expr:
    """A whole number (``-1000000000``) as a float constant, which ``visit_Constant`` names; any
    other expression as it is."""
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return node
    return ast.Constant(float(value)) if isinstance(value, int) and not isinstance(value, bool) else node


def _sizes(node: ast.expr) -> bool:
    """Whether ``node`` may be a whole number (a size: ``A.shape[0]``, ``len(a)``, the batch size ``N``,
    a number), which arithmetic with another stays one."""
    for part in ast.walk(node):
        if isinstance(part, ast.Attribute) and part.attr == "shape":
            return True
        if isinstance(part, ast.Name) and part.id in ("N", "len", "range", "int"):
            return True
    return isinstance(node, ast.Constant) or _float_literal(node) is not node


def _np(name: str) -> ast.Attribute:
    return ast.Attribute(ast.Name("np", ast.Load()), name, ast.Load())


def spelled_statement(statement: ast.stmt, spelling: Spelling) -> str:
    """The statement in Numba's spelling, as one source line; "" for one left out (``del``)."""
    new = spelling.visit(statement)
    return "" if new is None else ast.unparse(ast.fix_missing_locations(new))


def spelled_statements(statements: list[ast.stmt], spelling: Spelling) -> list[str]:
    """The statements in Numba's spelling, one source line each (``del`` left out)."""
    return [line for statement in statements if (line := spelled_statement(statement, spelling))]
