"""Every op of the graph, one family a module, each with all its rules (see ``base``).

``OPS`` lists the op classes; ``tests/test_ops.py`` checks each has every hook and runs each
through the derivation, the NumPy module and the handout.  Adding an op is its own module
here plus one entry in ``OPS`` and one sample in that test's table.
"""

from .activation import Activation
from .base import HOOKS, Adjoint, AdjointCode, MissingHook, Node, Op, arg_symbol, at_elements
from .concat import Concat
from .contraction import contract
from .conv import Conv
from .dense import Dense
from .einsum import Einsum
from .elementwise import Elementwise
from .gather import Gather
from .index import Index
from .indices import broadcast_shape, element_indices, flat_index, unflat_index
from .leaf import DTYPES, Leaf
from .logsumexp import LogSumExp
from .loss import Loss
from .matmul import MatMul
from .norm import BatchNorm, LayerNorm
from .pool import Pool
from .reduce import Reduce
from .reshape import Reshape
from .shape_rule import Arg, Call, ShapeRuleError
from .simplify import tidy
from .softmax import Softmax, axis_groups
from .transpose import Transpose
from .where import Tril, Where

#: The op classes with role 'op' (leaves compute nothing).
OPS = (
    Dense,
    Activation,
    Softmax,
    Loss,
    Elementwise,
    MatMul,
    Einsum,
    Transpose,
    Reshape,
    Reduce,
    Concat,
    LogSumExp,
    Index,
    Gather,
    Where,
    Tril,
    LayerNorm,
    BatchNorm,
    Conv,
    Pool,
)

__all__ = [
    "DTYPES",
    "HOOKS",
    "OPS",
    "Activation",
    "Adjoint",
    "AdjointCode",
    "Arg",
    "BatchNorm",
    "Call",
    "Concat",
    "Conv",
    "Dense",
    "Einsum",
    "Elementwise",
    "Gather",
    "Index",
    "LayerNorm",
    "Leaf",
    "LogSumExp",
    "Loss",
    "MatMul",
    "MissingHook",
    "Node",
    "Op",
    "Pool",
    "Reduce",
    "Reshape",
    "ShapeRuleError",
    "Softmax",
    "Transpose",
    "Tril",
    "Where",
    "arg_symbol",
    "broadcast_shape",
    "at_elements",
    "axis_groups",
    "contract",
    "element_indices",
    "flat_index",
    "unflat_index",
    "tidy",
]
