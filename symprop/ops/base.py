"""The op protocol: what every op of the graph knows about itself, in one place.

Like a JAX primitive with its rules registered beside it, or a Tangent adjoint template, an
op carries everything the engine needs from it:

* ``elements(node, args)``: its output elements as scalar SymPy expressions of its inputs'
  elements (the per-weight view of small networks and the proofs);
* ``adjoint_rules(node)``: what the reverse pass sends back to each input, as ``Adjoint``
  records (argument position, a rule label the op alone interprets, an elementwise local
  factor or None);
* ``numpy(node, code)`` and ``numpy_adjoint(step, code)``: its NumPy spelling forward and
  backward, on batched arrays;
* ``latex(node, tex)``, ``latex_adjoint(step, tex)`` and ``words(step, tex)``: how the handout
  defines it, writes each of its backward steps, and titles them.

The emitters hand each op a context (``NumpyContext``, ``LatexContext`` below): the op asks
it for array names, printed formulas and the like, so no op imports an emitter and no
emitter tests for an op's class.  A missing hook is a ``MissingHook`` error naming the op
and the hook (``tests/test_ops.py`` checks every op has all of them).

Beside it: what a shape rule is given (``shape_rule``), element index arithmetic (``indices``)
and the bounded simplification of derived derivatives (``simplify``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import sympy as sp

from .. import registry

if TYPE_CHECKING:
    from ..derivation import Step
    from .shape_rule import Call

#: The hooks every op with role 'op' provides (leaves need none).
HOOKS = ("elements", "adjoint_rules", "numpy", "numpy_adjoint", "latex", "latex_adjoint", "words")


class MissingHook(NotImplementedError):
    """An op lacks one of the hooks of the protocol."""

    def __init__(self, op: Op | type[Op], hook: str):
        name = op.__name__ if isinstance(op, type) else type(op).__name__
        super().__init__(f"op {name} has no {hook!r} hook (see symprop/ops/base.py)")


def batched_axes(axes: tuple[int, ...], batched: bool) -> tuple[int, ...]:
    """Per-sample axes as axes of the module's array (shifted past the batch axis when it has one)."""
    return tuple(a + 1 for a in axes) if batched else tuple(axes)


def axes_code(axes: tuple[int, ...]) -> str:
    """``1`` or ``(1, 2)``: an ``axis=`` argument in generated code."""
    return str(axes[0]) if len(axes) == 1 else "(" + ", ".join(map(str, axes)) + ")"


def shape_code(shape: tuple[int, ...], batched: bool, like: str = "") -> str:
    """The shape of a module array: ``(N, 3, 4)`` style, the batch read from array ``like``."""
    items = ([f"{like}.shape[0]"] if batched else []) + [str(n) for n in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


@dataclass(frozen=True)
class Node:
    name: str
    op: Op
    inputs: tuple[str, ...] = ()
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class Adjoint:
    """What an op sends back to input ``argument``: ``rule`` is the op's own label for the
    tensor rule, ``local`` the elementwise factor where there is one."""

    argument: int
    rule: str
    local: sp.Expr | None = None


@dataclass(frozen=True)
class AdjointCode:
    """One backward step in NumPy: the lines computing shared temporaries first (``prelude``),
    then the code of the contribution, its formula and a note for the comment."""

    code: str
    math: str
    note: str = ""
    prelude: tuple = ()


class NumpyContext(Protocol):
    """What the NumPy builder offers an op (``symprop.emit.numpy.builder``)."""

    graph: Any
    printer: Any  # its helpers set collects the helper functions the module needs
    math: Any  # the printer of plain formulas for comments

    def use(self, node: str) -> str: ...  # the array of a node, recorded as read
    def array(self, node: str) -> str: ...
    def grad(self, node: str) -> str: ...
    def batched(self, node: str) -> bool: ...
    def code(self, expr: sp.Expr) -> str: ...
    def filled(self, expr: sp.Expr, like: str) -> str: ...  # an array of node like's shape, even for a constant
    def constant_shape(self, node: Node) -> str: ...
    def verbatim(self, code: str) -> sp.Symbol: ...  # NumPy code usable inside an expression
    def formula(self, expr: sp.Expr) -> str: ...
    def operand(self, node: str, out: Node) -> sp.Symbol: ...
    def expanded(self, node: str, rank: int) -> sp.Symbol: ...
    def product(self, upstream: sp.Symbol, local: sp.Expr) -> str: ...
    def shared(self, expr: sp.Expr) -> tuple[list, sp.Expr]: ...
    def reduce_to(self, code: str, batched: bool, shape: tuple[int, ...], target: str) -> tuple[str, str]: ...
    def batch_sum(self, code: str, axes: int = 1) -> str: ...  # summed over the first axes, by BLAS
    def node(self, name: str) -> Node: ...
    # a helper function the op calls, and the printer's helpers it calls itself (``batch_sum``)
    def require_helper(self, name: str, source: str, needs: tuple[str, ...] = ()) -> None: ...
    def saved(self, node: str, what: str) -> str: ...  # an array the node's forward line saved (Op.numpy_saves)
    def temporary(self, code: str, comment: str) -> tuple[str, Any]: ...  # (name, line) of a temporary
    # (code, formula) of a dense node's W x[k] when the module computes it for every k at once, else None
    def input_product(self, node: Node) -> tuple[str, str] | None: ...
    def folded(self, node: str, bias: str) -> bool: ...  # bias already added by an input product
    def uniform(self, node: str) -> bool: ...  # whether dE/d node is one Python float (Op.numpy_uniform)
    def materialized(self, node: str) -> list: ...  # the line making a uniform dE/d node an array (or none)


class ScalarContext(Protocol):
    """What the scalar backend offers an op (``symprop.emit.scalar``): Python over floats."""

    view: Any  # the scalar.ScalarView: symbols and definitions of every element

    def code(self, expr: sp.Expr) -> str: ...  # an element formula as Python over floats (math functions)
    def spelled(self, template: str, **args: str) -> str: ...  # a registry spelling, its {x} filled in
    def temporary(self, node: str, what: str) -> str: ...  # a local name of the node's own (_y_max)


class LatexContext(Protocol):
    """What the handout offers an op (``symprop.emit.latex.handout``)."""

    graph: Any
    graph_mode: bool
    #: Whether the handout shows the code (the full edition; the student edition says nothing of it).
    shows_code: bool

    def node(self, name: str) -> Node: ...
    def node_tex(self, node: str) -> str: ...
    def el(self, node: str, index: str | tuple[str, ...]) -> str: ...  # s_{jk}, s_{i,j,k}, c_{j,8+k}
    def adjoint_tex(self, node: str) -> str: ...
    def adjoint_element(self, node: str, index: str) -> str: ...
    def local(self, expr: sp.Expr, names: dict, vector: bool = False) -> str: ...
    def factor(self, expr: sp.Expr, names: dict) -> str: ...
    def function_tex(self, op: Op) -> str: ...
    def by_name(self, op: Op) -> tuple[sp.Expr, dict] | None: ...  # f or ell in its constants by name, their values
    def named_local(self, op: Op, expr: sp.Expr, named: sp.Expr) -> sp.Expr: ...  # named where it is expr
    def generic(self, node: str, indices: str, matrix: bool = False) -> str: ...  # w^{(2)}_{jk}
    def partial(self, of: str, wrt: str) -> str: ...  # \frac{\partial of}{\partial wrt}
    def transpose(self, tex: str) -> str: ...
    def upstream(self, node: str) -> tuple[str, str, str] | None: ...  # dE/d node spelled out by its sender
    def index_letters(self, shape: tuple[int, ...], avoid: str = "") -> str: ...  # '', 'j', 'jk', 'ijk'
    def subscript(self, index: str | tuple[str, ...]) -> str: ...  # 'jk', 'i,j,k': as el writes indices
    def paren(self, tex: str) -> str: ...
    def visible_length(self, tex: str) -> int: ...
    def to_latex(self, expr: sp.Expr, names: dict | None = None, hadamard: bool = False, **settings) -> str: ...


class Op:
    """Base of all ops.  ``role`` tells leaves apart: 'input', 'target', 'param', or 'op'."""

    role = "op"
    #: The functions of the graph-spec language that make this op (``softmax(x)``); such an op
    #: has ``from_call``, its shape rule.
    CALL_NAMES: tuple[str, ...] = ()
    #: True for an op whose every output element depends on every input element (softmax):
    #: its chain rule is a sum, not a product of elementwise factors.
    coupled = False

    #: Whether the op is a loss function of (output, target).  At the root of the loss it
    #: seeds the reverse pass itself (its adjoint carries the 1/N of the batch mean) and its
    #: ``numpy(node, code, over_batch=True)`` spells the loss summed over the batch.
    loss_function = False

    #: Whether the op is an activation a = f(z) of one input, elementwise, with a
    #: ``derivative`` in z and a: the chain the tutorials write factor by factor.  Such an op
    #: has ``choice`` (its registry entry or formula) and ``definition()`` (f in z).
    activation = False

    #: Whether the op is a dense layer ``z = W a + b`` (inputs W, a and maybe b): layer stacks
    #: are made of them, and their handouts call dE/dz the layer's error signal delta.
    dense_layer = False

    #: Whether the op can be a layer's activation in a layer stack (an elementwise activation
    #: or softmax): the handout names it with ``function_latex`` and writes its element with
    #: ``latex_element``.
    layer_activation = False

    #: Whether one sample's output depends on the other samples of the batch (batch_norm's
    #: batch statistics): the loss is then not a mean of independent per-sample losses, and
    #: the per-weight view of one sample does not exist.
    batch_coupled = False

    #: Arrays the op's forward spelling computes besides its value, for its backward steps
    #: (layer_norm's 1/sigma): its ``numpy`` code then returns the tuple (value, *saved), and a
    #: backward step reads them as ``code.saved(node, what)``.
    saves: tuple[str, ...] = ()

    #: Whether ``numpy_adjoint`` takes an adjoint that is one Python float, the same for every
    #: sample and element (``code.uniform(source)``: the 1/N seed of a loss that is an
    #: expression, and what it reaches unchanged), spelling it only through ``code.expanded``,
    #: ``code.product`` and ``code.reduce_to``.  Any other op gets it as an array first.
    numpy_uniform = False

    def linear_form(self) -> sp.Expr | None:
        """The node as a linear combination of its inputs, in ``arg_symbol(k)``, when it is one
        (``u0 + 0.001 * u1``): the module then averages a loss over the batch term by term."""
        return None

    def product_operands(self, node: Node) -> tuple[str, str] | None:
        """The two input nodes whose elementwise product this node is (``W * W``, ``a * b`` of
        one shape, no broadcast), or None: the sum of all its elements is then one ``np.vdot``."""
        return None

    #: The NumPy helpers of this op (``require_helper``'s names, without the underscore) whose
    #: result is an array made for the call, or a view of one that nothing else holds: the module
    #: may then write into it in place (``emit.numpy.memory.written_in_place``).
    numpy_new_arrays: tuple[str, ...] = ()
    #: NumPy helpers of this op that take ``out=``, an array they may overwrite with their result
    #: once they have read their argument at the given index (``_max_pool_adjoint``'s x): the
    #: module passes that argument as ``out`` where it dies in the call and was made in the function.
    numpy_writes_into: dict[str, int] = {}

    #: The array-API spellings of helpers this op's NumPy spelling requires (``require_helper``),
    #: by name, where translating the NumPy helper cannot do (a scatter-add as a product).
    array_api_helpers: dict[str, str] = {}
    #: Helper name -> the helpers of ``array_api_helpers`` its array-API spelling calls that
    #: the NumPy module has no counterpart of (both poolings' adjoints put their windows back
    #: with ``_unwindow``), written when it is.
    array_api_needs: dict[str, tuple[str, ...]] = {}

    #: The Numba spellings (``@njit``-able sources) of helpers this op's NumPy spelling requires,
    #: by name, where translating the NumPy helper cannot do (a scatter-add as a loop): the graph
    #: specs' numba module refuses an op whose helper has neither.
    numba_helpers: dict[str, str] = {}

    def numba(self, node: Node, code: NumpyContext) -> tuple[str, str] | None:
        """(Numba code of the batched output, its formula) where the NumPy spelling does not
        compile in Numba's nopython mode (``emit.numba.spelling``); None for most ops."""
        return None

    def numba_adjoint(self, step: Step, code: NumpyContext) -> AdjointCode | None:
        """The Numba code of a backward step where a loop of the op's own (``numba_helpers``) beats
        its NumPy spelling respelled (``numpy_adjoint``); None for most ops."""
        return None

    def array_api(self, node: Node, code: NumpyContext) -> tuple[str, str] | None:
        """(array-API code of the batched output, its formula) where it is not the NumPy spelling
        translated (``emit.array_api.translate``); None for most ops."""
        return None

    def numpy_saves(self, node: Node, graph) -> tuple[str, ...]:
        """What this node's forward line saves (``saves``); an op may decide by the node's
        consumers (a softmax keeps its row log-sum-exp for a cross-entropy that reads it)."""
        return self.saves

    def elements(self, node: Node, args: list[list[sp.Expr]]) -> list[sp.Expr]:
        """The node's elements (flattened, row-major) as scalar expressions of its inputs'."""
        raise MissingHook(self, "elements")

    def adjoint_rules(self, node: Node, shapes: list[tuple[int, ...]]) -> list[Adjoint]:
        """What the node sends back to each input; ``shapes`` are its inputs' shapes."""
        raise MissingHook(self, "adjoint_rules")

    #: Positions of the inputs that must be discrete (integer indices, boolean masks); every
    #: other input of the op must be floating point (the spec reader checks both).
    discrete_inputs: tuple[int, ...] = ()
    #: Whether the op only moves elements (slice, reshape, transpose): it may then take a
    #: discrete tensor, and its output has its input's dtype.
    moves_elements = False

    def dtype(self, inputs: list[str]) -> str:
        """The dtype of the node's value ('float', 'int' or 'bool') from its inputs'."""
        return inputs[0] if self.moves_elements and inputs else "float"

    @classmethod
    def from_call(cls, call: Call):
        """The op and its output shape for ``call`` (``function(args, **keywords)`` of a graph
        spec, the arguments' shapes and text); ``ShapeRuleError`` (one phrase) when they do not fit."""
        raise MissingHook(cls, "from_call")

    def fused_adjoint(self, node: Node, graph: Any, notes: list[str]) -> Adjoint | None:
        """One adjoint that replaces this node's and its input's (a loss fused with its output
        activation); None for most ops.  Asked before ``adjoint_rules``; a fusion given up
        to keep the work bounded is said in ``notes``."""
        return None

    def simplification_note(self, node: Node, graph: Any) -> str | None:
        """A line saying what of this op's derivative was left unsimplified (bounded work), or None."""
        return None

    def scalar_adjoints(self, node: Node, upstream: list[sp.Expr], view: Any):
        """The per-weight reverse pass through this node: (input element, contribution) pairs,
        given the adjoints of its elements (``upstream``).  ``view`` is the ``scalar.ScalarView``
        (its ``symbols``, ``definitions``, ``needed`` nodes and ``fused`` steps).  By default the
        elements' definitions are differentiated; ops with a closed form say it."""
        outs = view.symbols[node.name]
        for name in dict.fromkeys(node.inputs):  # once per input, even for W * W
            if name not in view.needed:
                continue
            for s in view.symbols[name]:
                total = sum(bar * view.local(o, s) for o, bar in zip(outs, upstream))
                if total != 0:
                    yield s, total

    def scalar(self, node: Node, code: ScalarContext) -> list[tuple[str, str]]:
        """The scalar backend's lines computing the node's elements for one sample: (name, Python
        code), each element's symbol assigned once, temporaries (``code.temporary``) before.
        By default each element's definition, printed; ops whose definitions overflow in
        floating point (softmax's exp) say how to compute them instead, and ops that have no
        per-sample elements (batch_norm) raise SymPropError."""
        view = code.view
        return [(s.name, code.code(view.definitions[s])) for s in view.symbols[node.name]]

    def numpy(self, node: Node, code: NumpyContext) -> tuple[str, str]:
        """(NumPy code of the batched output, the per-sample formula for the comment)."""
        raise MissingHook(self, "numpy")

    def numpy_adjoint(self, step: Step, code: NumpyContext) -> AdjointCode:
        raise MissingHook(self, "numpy_adjoint")

    def latex(self, node: Node, tex: LatexContext) -> str:
        """What the node computes, per sample, in the handout's notation (right-hand side)."""
        raise MissingHook(self, "latex")

    def latex_adjoint(self, step: Step, tex: LatexContext, eq: str) -> tuple[str, str, str]:
        """(element form, vector form, a remark) of one backward step; ``eq`` is = or +=."""
        raise MissingHook(self, "latex_adjoint")

    def words(self, step: Step, tex: LatexContext) -> str:
        """The title of a backward step: 'back through the matrix product $h$'."""
        raise MissingHook(self, "words")

    # -- optional LaTeX hooks: questions the handout asks some ops ------------------------

    def latex_element(self, node: Node, tex: LatexContext) -> tuple[str, str] | None:
        """The node's definition in index notation, (an element of the node, what it equals):
        ``(q_{ik}, \\sum_j x_{ij} w_{jk})``; None where ``latex`` already says it element by
        element.  The handout shows it beside ``latex`` for tensors and layer activations."""
        return None

    def function_latex(self) -> str:
        """How formulas name the function of a layer activation: ``\\sigma``, ``\\operatorname{softmax}``."""
        raise MissingHook(self, "function_latex")

    def latex_gate(self, node: Node, tex: LatexContext) -> str | None:
        """The gate that computes the node, as a computational graph draws it (``\\times``,
        ``+``, ``e^{x}``, ``\\sigma``), or None where the node's name says enough."""
        return None

    def gate_pattern(self, node: Node, tex: LatexContext) -> tuple[str, str] | None:
        """How the gate routes the gradient back to its inputs, as CS231n's lecture says it (an
        add gate distributes it, a multiply gate swaps the inputs' values, a max gate routes it
        to the larger input): (the kind, one sentence of LaTeX prose); None where the op is no
        gate of a graph of scalars.  The handout says it once per kind the graph has."""
        return None

    def gate_formula(self, node: Node) -> sp.Expr | None:
        """The node as a formula of its one input, in ``registry.Z`` (``exp(-z)``), when it is
        a gate of one input whose formula the handout may compose with its neighbours' (to
        find ``1/(1 + exp(-z))`` in four gates and group them into one sigmoid); else None."""
        return None

    def latex_locals(self, node: Node, tex: LatexContext) -> str | None:
        """One row of the handout's table of local derivatives (``h = x y: dh/dx = y, ...``)
        for ops whose local derivatives SymPy derives (elementwise formulas), else None."""
        return None

    def slot(self, node: Node) -> int | None:
        """The index ``k`` when the node is one whole slice ``x[k]`` of its input along the first
        per-sample axis, else None.  The NumPy module computes the products of a weight with
        every slice of one tensor at once, and sends the slices' adjoints back in one stack
        (``emit.numpy.stacking``)."""
        return None

    def numpy_row_products(
        self, node: Node, code: NumpyContext, rows: str, count: int, matrix: str, bias: str
    ) -> tuple[str, str] | None:
        """The products ``node[k] @ matrix`` (plus ``bias``, code or '') of the ``count`` slices
        ``rows`` takes (``[:, 1:6]``, or '' for all) along the first per-sample axis, as one
        array of shape (slices, batch, ...), and how in words, when the op spells them cheaper than a product of
        its value (an embedding projects its table first: ``Gather``); None: the builder's
        product (``emit.numpy.stacking``)."""
        return None

    def fused_step(self, step: Step) -> bool:
        """Whether ``step`` (one of this op's) replaces its input's step too: a loss fused with
        its output activation (dE/dz = y - t)."""
        return False

    def claim_adjoint(self, step: Step, upstream: str | None, plain: Any) -> str | None:
        """The step in the verifier's array notation (column vectors), given the upstream
        adjoint's text; None where the op has none (the verifier then shows elements)."""
        return None


def arg_symbol(index: int) -> sp.Symbol:
    """The generic symbol of argument ``index`` of an elementwise op: ``u0``, ``u1``, ..."""
    return sp.Symbol(f"u{index}", real=True)


def at_elements(expr: sp.Expr, **values: sp.Expr) -> sp.Expr:
    """A registry-symbol formula (in ``z``, ``a``, ``y``, ``t``) at the given elements."""
    table = {"z": registry.Z, "a": registry.A, "y": registry.Y, "t": registry.T}
    return expr.xreplace({table[k]: v for k, v in values.items()})


def accumulate(step: Step) -> str:
    """The handout's assignment sign of a step: = or += (a second contribution)."""
    return r"\mathrel{+}=" if step.accumulate else "="
