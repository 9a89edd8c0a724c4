"""The numba backend's module of a graph spec: the NumPy module, its ``loss_and_grad`` run as
one ``@njit`` function.

The lines are the NumPy builder's (``emit.numpy``), spelled for Numba statement by statement
(``spelling``): one compiled function holds the whole forward and backward pass, the matrix
products left to BLAS, each statement's elementwise expression one fused loop, so that the
per-call cost of NumPy (1 to 2 us a call, ~50 calls a step of an LSTM) goes.  The argument
checks stay in Python, before the call; ``forward``, ``loss``, ``backward`` and everything
else are the NumPy module's, as written.  Parameters of mixed precisions are computed in the
widest (as NumPy would).  ``templates/numba_graph_module.py.j2`` arranges the parts.

Compiling is slow (seconds for a small graph, about 90 s for the 10-step LSTM of 275 ops, per
dtype): Numba caches the compiled function beside the module when it is imported by name (see
``CACHE`` in the module).
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from typing import TYPE_CHECKING

from ... import registry
from ...errors import SymPropError
from ...templating import render
from ..numpy.builder import ModuleBuilder
from ..numpy.module import NumpyModule
from ..numpy.module import module_source as numpy_source
from ..numpy.printers import helper_source
from . import fastmath
from .helpers import LOOPS, OWN
from .module import Parts, require_numba
from .spelling import NotSpelled, Spelling, spelled_statement, spelled_statements

if TYPE_CHECKING:
    from ...derivation import Derivation

JIT = "@njit(cache=CACHE, **JIT)"
#: Longest line of the generated module (ruff's line-length of this project).
WIDTH = 130

#: Statements of the NumPy loss_and_grad that stay in Python, before the kernel.
WRAPPER = re.compile(r"^(X = _inputs\(|params = _checked_params\(|\w+ = (params|X|T)(\['\w+'\])?$)")
#: A wrapper line that unpacks one input or target from the dict X or T: (array, X or T, name).
UNPACKED = re.compile(r"^(\w+) = ([XT])\['(\w+)'\]$")


class _Unpacked(ast.NodeTransformer):
    """``T['t']`` (``X['x']``) as the name the wrapper unpacked it into; a dict cannot enter the kernel."""

    def __init__(self, names: dict[tuple[str, str], str]):
        self.names = names

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        key = node.slice.value if isinstance(node.slice, ast.Constant) else None
        if isinstance(node.value, ast.Name) and node.value.id in ("X", "T") and isinstance(key, str):
            if (node.value.id, key) not in self.names:
                raise NotSpelled(f"{node.value.id}[{key!r}] in the kernel without an array unpacked from it")
            return ast.copy_location(ast.Name(self.names[node.value.id, key], ast.Load()), node)
        return self.generic_visit(node)


class NumbaBuilder(ModuleBuilder):
    """The NumPy builder, asking each op for its Numba spelling first (``Op.numba``)."""

    adds_into_views = False  # no np.add(..., out=...) in Numba (ModuleBuilder.adds_into_views)
    fancy_indexing = False  # indexing by 1-D integer arrays only (ModuleBuilder.fancy_indexing)

    def spelled(self, node, **options) -> tuple[str, str, set[str]]:
        self.reads = set()
        try:
            own = node.op.numba(node, self) if not options else None
        finally:
            reads, self.reads = self.reads, None
        return (*own, reads) if own else super().spelled(node, **options)

    def adjoint_code(self, op, step):
        return op.numba_adjoint(step, self) or op.numpy_adjoint(step, self)


class NumbaLines(NumpyModule):
    """The NumPy module's context, its lines from ``NumbaBuilder``; no NumPy helper that works in
    place (``_sigmoid_fresh``, ``out=``): one compiled function makes no temporaries to save."""

    builder_class = NumbaBuilder
    in_place = False
    tuned_products = False  # its products are compiled code's


#: The paragraph a graph spec's numba module adds to the NumPy module's docstring.
NUMBA_NOTE = (
    "Backend numba: loss_and_grad() runs its lines, after the argument checks, as one compiled function "
    "(@njit: the matrix products by BLAS, each line's elementwise work one loop; compiled on its first call with "
    "a new dtype, which takes seconds to minutes, then cached in __pycache__ beside this file for the next "
    "process: see CACHE). forward(), loss() and backward() are the NumPy module's."
)


class GraphNumbaModule:
    """The template context of one graph spec's numba module (see the module docstring)."""

    def __init__(self, derivation: Derivation):
        require_numba()
        self.name = derivation.name
        self.graph = derivation.graph
        numpy_module = NumbaLines(derivation)
        lines = numpy_module.context()["loss_and_grad"]  # and the builder's helpers, as the lines call them
        self.op_helpers = {name: source for node in self.graph.nodes.values() for name, source in node.op.numba_helpers.items()}
        known = set(OWN) | set(self.op_helpers) | set(numpy_module.builder.helper_names())
        self.parts = Parts(numpy_source(derivation))
        self.spelling = Spelling(frozenset(known))
        self.scalars: set[str] = set()  # fastmath's functions the helpers' loops call
        self.shapes = {name: derivation.graph.nodes[name].shape for name in derivation.param_names}
        try:
            self.split(statements_of(lines))
            self.helper_texts = self.helpers()
        except NotSpelled as error:
            raise SymPropError(f"{self.name}: --backend numba has no spelling of {error} (use --backend numpy)") from None

    def split(self, entries: list[tuple[ast.stmt, list[str]]]) -> None:
        """The NumPy loss_and_grad's statements: the wrapper's, the kernel's (spelled, with their
        comments), the return."""
        *body, (returned, _) = entries
        if not (isinstance(returned, ast.Return) and isinstance(returned.value, ast.Tuple)):
            raise NotSpelled("a loss_and_grad without 'return E, {...}'")
        loss, grads = returned.value.elts
        if not isinstance(grads, ast.Dict):
            raise NotSpelled("gradients returned otherwise than as a dict")
        self.grad_keys = [ast.literal_eval(key) for key in grads.keys]
        self.grad_values = [ast.unparse(value) for value in grads.values]
        self.wrapper, kernel, self.target_check = [], [], None
        for statement, comments in body:
            text = ast.unparse(statement)
            if WRAPPER.match(text):
                self.wrapper.append(text)
            elif text.startswith("T = _targets("):
                self.target_check = statement
            else:
                kernel.append((statement, comments))
        # With several inputs or targets the batch size reads one of them, N = T['t'].shape[0]: the
        # kernel takes the array the wrapper unpacked (T_ = T['t']), not the dict.
        unpacked_as = {(m[2], m[3]): m[1] for m in map(UNPACKED.match, self.wrapper) if m}
        kernel = [(_Unpacked(unpacked_as).visit(statement), comments) for statement, comments in kernel]
        statements = [statement for statement, _ in kernel]
        assigned = {t.id for s in statements for t in ast.walk(s) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
        loaded = [n.id for s in statements for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
        code = [(spelled, comments) for statement, comments in kernel if (spelled := spelled_statement(statement, self.spelling))]
        self.loss = ast.unparse(loss)
        wrapper_names = dict.fromkeys(["X", "T", *(text.split(" = ")[0] for text in self.wrapper)])
        self.args = [name for name in wrapper_names if name in loaded and name not in assigned]
        if any("_Nf" in line for line, _ in code):  # the batch size as a number of the dtype, once known
            at = next(k for k, (line, _) in enumerate(code) if line.startswith("N = "))
            code.insert(at + 1, ("_Nf = _dtype.type(N)", []))
        unpacked = {text.split(" = ")[0] for text in self.wrapper if "params[" in text}
        dtype_of = next(name for name in self.args if name in unpacked)  # every parameter is of the dtype
        constants = [f"{name} = _dtype.type({value!r})" for name, value in sorted(self.spelling.literals.items())]
        head = [f"_dtype = {dtype_of}.dtype  # the dtype of every float array: the literals are of it too", *constants]
        self.kernel = head + [commented(line, comments) for line, comments in code]

    def targets_line(self) -> str:
        """The NumPy module's check of T, against an empty array of the batch and dtype of the output."""
        if self.target_check is None:
            return ""
        inputs = self.graph.leaves("input")
        first = "X" if len(inputs) == 1 else f'X["{inputs[0].name}"]'
        statement = self.target_check
        call = statement.value.body  # _targets(T, Y) if ... else T
        call.args[1] = ast.parse(f"np.empty(({first}.shape[0], 0), dtype)").body[0].value
        return ast.unparse(statement)

    def dtype_line(self) -> str:
        """The dtype the kernel computes in: the widest of the parameters and the float inputs."""
        inputs = self.graph.leaves("input")
        floats = [leaf for leaf in inputs if leaf.op.dtype_name not in ("int", "bool")]
        arrays = ["X"] if len(inputs) == 1 and floats else [f'X["{leaf.name}"]' for leaf in floats]
        return f"dtype = np.result_type({', '.join(['*params.values()', *arrays])})"

    def array_lines(self) -> list[str]:
        """The kernel's arguments, contiguous (Numba compiles one function per layout), floats in ``dtype``."""
        discrete = {leaf.name for leaf in self.graph.leaves("input") if leaf.op.dtype_name in ("int", "bool")}
        single = len(self.graph.leaves("input")) == 1
        lines = []
        sources = {text.split(" = ")[0]: text.split(" = ")[1] for text in self.wrapper if " = " in text}
        sources |= {"X": "X", "T": "T"}
        for name in self.args:
            source = sources[name]
            leaf = re.match(r"X\['(\w+)'\]", source)
            is_discrete = source.startswith("X") and ((leaf and leaf.group(1) in discrete) or (single and discrete))
            source = source.replace("'", '"')
            lines.append(f"{name} = np.ascontiguousarray({source}{'' if is_discrete else ', dtype'})")
        return lines

    def helpers(self) -> list[str]:
        """The sources of the helpers the kernel calls (and those they call), each an @njit function
        named ``_nb_<name>``: the NumPy module's ``_<name>`` stays as it is, for forward() and backward()."""
        sources: dict[str, str] = {}
        wanted = sorted(self.spelling.helpers)
        while wanted:
            name = wanted.pop()
            if name in OWN:
                sources[name] = OWN[name]
            elif name in self.op_helpers:
                sources[name] = self.op_helpers[name].rstrip("\n")
            else:
                sources[name] = self.translated_helper(name)
            called = set(re.findall(r"(?<![\w.])_(\w+)\(", sources[name])) & self.spelling.known_helpers
            called |= self.spelling.helpers  # and those a translated helper calls (_silu: _nb_sigmoid)
            wanted[:0] = sorted(called - set(sources) - set(wanted))  # after the kernel's own (popped from the end)
            self.spelling.loops.update(loop for loop in LOOPS if f"_{loop}_array(" in sources[name])
            source = sources[name]  # and fastmath's functions it calls (a scalar loop's, _softmax_rows' _exp)
            self.scalars.update(math for math, (fast, _) in fastmath.FAST.items() if re.search(rf"(?<![\w.]){fast}\(", source))
        pattern = re.compile(rf"(?<![\w.])_({'|'.join(map(re.escape, sources))})\(")
        renamed = {name: pattern.sub(r"_nb_\1(", source) for name, source in sources.items()}
        return [renamed[name] if renamed[name].startswith("@") else f"{JIT}\n{renamed[name]}" for name in sorted(renamed)]

    def translated_helper(self, name: str) -> str:
        """A helper of the NumPy module (an activation's, from its expression) in Numba's spelling:
        one loop over the elements where it is expressions of tanh, exp and erf (``scalar_loop``),
        else its lines respelled.  Of an activation's ``Kept`` helpers (gelu's) every argument is
        an array of the node's shape (x and the part kept); another helper takes x alone."""
        tree = ast.parse(helper_source(name, tuned=False))
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):  # _erf: tables and functions
            raise NotSpelled(f"the helper _{name}")
        (function,) = tree.body
        if len(function.args.args) != 1 and registry.kept_owner(name) is None:  # an activation's constants
            raise NotSpelled(f"the helper _{name} (it takes {len(function.args.args)} arguments)")
        loop = scalar_loop(function)
        if loop is not None:
            return loop
        if len(function.args.args) != 1:
            raise NotSpelled(f"the helper _{name} (it takes {len(function.args.args)} arguments)")
        before = dict(self.spelling.literals)
        self.spelling.literals.clear()
        body = spelled_statements(function.body[1:], self.spelling)
        argument = function.args.args[0].arg
        constants = [f"    {c} = {argument}.dtype.type({v!r})" for c, v in sorted(self.spelling.literals.items())]
        self.spelling.literals.clear()
        self.spelling.literals.update(before)
        doc = ast.get_docstring(function)
        lines = [f"def _{name}({argument}):", f'    """{doc}"""', *constants, *(f"    {line}" for line in body)]
        return "\n".join(lines)

    def returned(self) -> list[tuple[str, str]]:
        """(key, value) of the gradients loss_and_grad returns: a scalar parameter's as a NumPy
        scalar of the dtype, as the NumPy module's (Numba returns a float, or an array of one)."""
        return [
            (key, f"dtype.type(np.reshape(grads[{k}], ()))" if self.shapes.get(key) == () else f"grads[{k}]")
            for k, key in enumerate(self.grad_keys)
        ]

    def context(self) -> dict:
        names = [name for name, _ in self.parts.segments]
        texts = [text for _, text in self.parts.segments]
        at = names.index("loss_and_grad")
        loops = sorted(self.spelling.loops)
        used = set(loops) | self.scalars
        used = used.union(*(fastmath.NEEDS[name] for name in used))
        return {
            "marker": self.parts.marker,
            "docstring": self.parts.module_docstring(NUMBA_NOTE),
            "imports": fastmath.imports(used),
            "fast": fastmath.sources(used) + [f"{JIT}\n{LOOPS[name]}" for name in loops],
            "before": texts[:at],
            "helpers": self.helper_texts,
            "kernel_args": ", ".join(self.args),
            "kernel": self.kernel,
            "loss": self.loss,
            "grads": self.grad_values,
            "doc": self.parts.docstring("loss_and_grad"),
            "usual": "_usual_arguments" in self.parts.functions,  # the NumPy module's usual case of its checks
            "checks": [text for text in self.wrapper if not re.match(r"\w+ = (params|X|T)\b", text) or "_inputs" in text],
            "targets_line": self.targets_line(),
            "dtype": self.dtype_line(),
            "arrays": self.array_lines(),
            "returned": self.returned(),
            "after": texts[at + 1 :],
        }


#: The calls a scalar loop makes of the NumPy helper's: fastmath's vectorisable exp, tanh and erf.
SCALAR_CALLS = {"np.tanh": "_tanh({})", "np.exp": "_exp({})", "_erf": "_fast_erf({})"}


class _Scalar(ast.NodeTransformer):
    """An expression of a helper's, element by element: each array argument ``x`` read as its
    element ``x_``, each call as ``SCALAR_CALLS`` says, each number ``F(number)`` (in x's type: a
    float32 element times a float64 number is a float64 in Numba), but a whole exponent (``x ** 2``)."""

    def __init__(self, arguments: list[str]):
        self.arguments = arguments

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name(f"{node.id}_", ast.Load()) if node.id in self.arguments else node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) and isinstance(node.right.value, int):
            return ast.BinOp(self.visit(node.left), node.op, node.right)
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Call(ast.Name("F", ast.Load()), [ast.Constant(float(node.value))], [])

    def visit_Call(self, node: ast.Call) -> ast.AST:
        (argument,) = node.args
        return ast.parse(SCALAR_CALLS[ast.unparse(node.func)].format(ast.unparse(self.visit(argument))), mode="eval").body


def scalar_loop(function: ast.FunctionDef) -> str | None:
    """A helper whose arguments are arrays of one shape (an activation's ``x``; its ``Kept``
    helpers' ``x`` and the part kept), whose body assigns and returns expressions (or a tuple of
    them: ``_gelu_kept``'s (gelu(x), Phi(x))) of them, numbers, arithmetic and the calls of
    ``SCALAR_CALLS``, as one loop over the elements computing every value of an element at once
    (the sigmoid in one pass, not three; gelu and its Phi from one erf); None for any other helper."""
    if ast.get_docstring(function) is None or len(function.body) < 2:
        return None
    *assigned, returned = function.body[1:]
    arguments = [a.arg for a in function.args.args]
    if not (isinstance(returned, ast.Return) and returned.value is not None):
        return None
    if not all(isinstance(s, ast.Assign) and [type(t) for t in s.targets] == [ast.Name] for s in assigned):
        return None
    names = {*arguments, "np", "F"}
    for statement in [*assigned, returned]:
        value = statement.value.elts if isinstance(statement.value, ast.Tuple) and statement is returned else [statement.value]
        for node in (part for v in value for part in ast.walk(v)):
            if isinstance(node, ast.Call):
                if ast.unparse(node.func) not in SCALAR_CALLS or len(node.args) != 1 or node.keywords:
                    return None
            elif isinstance(node, ast.Attribute):  # np.exp, np.tanh (called), no x.shape
                if ast.unparse(node) not in SCALAR_CALLS:
                    return None
            elif isinstance(node, ast.Name) and node.id not in names and node.id not in SCALAR_CALLS:
                return None
            elif isinstance(node, ast.Constant) and type(node.value) not in (int, float):
                return None
            elif not isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop, ast.Load, ast.Name)):
                return None
        if statement is not returned:
            target = statement.targets[0].id  # not an argument written over, nor a name of the loop's own
            if target in names or target == "i" or re.fullmatch(r"out\d*|\w*_(flat)?", target):
                return None
            names.add(target)
    scalar = _Scalar(arguments)
    results = returned.value.elts if isinstance(returned.value, ast.Tuple) else [returned.value]
    outs = [f"out{k}" for k in range(len(results))] if len(results) > 1 else ["out"]
    first = arguments[0]
    doc = ast.get_docstring(function).replace("\n", "\n    ")
    return "\n".join(
        [
            f"def {function.name}({', '.join(arguments)}):",
            f'    """{doc}  One loop over the elements."""',
            f"    F = {first}.dtype.type",
            *(f"    {out} = np.empty({first}.shape, {first}.dtype)" for out in outs),
            *(f"    {a}_flat = np.ascontiguousarray({a}).ravel()" for a in arguments),
            *(f"    {out}_flat = {out}.ravel()" for out in outs),
            f"    for i in range({first}_flat.size):",
            *(f"        {a}_ = {a}_flat[i]" for a in arguments),
            *(f"        {s.targets[0].id} = {ast.unparse(scalar.visit(s.value))}" for s in assigned),
            *(f"        {out}_flat[i] = {ast.unparse(scalar.visit(r))}" for out, r in zip(outs, results)),
            f"    return {', '.join(outs)}",
        ]
    )


def statements_of(texts: list[str]) -> list[tuple[ast.stmt, list[str]]]:
    """The statements of a function body from a NumPy module's context (an entry's comment above
    it holds the body's indent after its line break; a statement may span entries, as the
    returned dict does), each with the comments of its entries."""
    entries, pending = [], []
    for text in texts:
        pending.append("\n".join(part[4:] if k else part for k, part in enumerate(text.split("\n"))))
        code = "\n".join(pending)
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
        except tokenize.TokenError:  # an open bracket: the statement goes on in the next entry
            continue
        pending = []
        comments = [t.string[1:].strip() for t in tokens if t.type == tokenize.COMMENT and not t.string.startswith("# noqa")]
        statements = ast.parse(code).body
        entries += [(statement, comments if statement is statements[-1] else []) for statement in statements]
    return entries


def commented(code: str, comments: list[str]) -> str:
    """``code`` with its comments: one at its end, or above it when it would not fit (or when
    there are several); a line still too long says so to ruff, as the NumPy module's do."""
    indent = 4  # the kernel's body
    if len(comments) == 1 and indent + len(code) + 4 + len(comments[0]) <= WIDTH:
        return f"{code}  # {comments[0]}"
    above = [line for comment in comments for line in textwrap.wrap(comment, WIDTH - indent - 2, break_long_words=False)]
    if indent + len(code) > WIDTH:
        code += "  # noqa: E501"
    return "\n".join([*(f"# {line}" for line in above), code])


def graph_module_source(derivation: Derivation) -> str:
    """The numba module of a graph spec; SymPropError without Numba, or for an op it cannot spell."""
    return render("numba_graph_module.py.j2", **GraphNumbaModule(derivation).context())
