"""Every op of the graph, one family a module, each with all its rules (see ``base``).

``OPS`` lists the op classes; ``tests/test_ops.py`` checks each has every hook and runs each
through the derivation, the NumPy module and the handout.  Adding an op is its own module
here plus one entry in ``OPS`` and one sample in that test's table.
"""

from .activation import Activation
from .base import (
    HOOKS,
    Adjoint,
    AdjointCode,
    MissingHook,
    Node,
    Op,
    ShapeRuleError,
    arg_symbol,
    at_elements,
    broadcast_shape,
    element_indices,
    flat_index,
    tidy,
    unflat_index,
)
from .concat import Concat
from .dense import Dense
from .elementwise import Elementwise
from .leaf import Leaf
from .logsumexp import LogSumExp
from .loss import Loss
from .matmul import MatMul, contract
from .reduce import Reduce
from .softmax import Softmax
from .transpose import Transpose

#: The op classes with role 'op' (leaves compute nothing).
OPS = (Dense, Activation, Softmax, Loss, Elementwise, MatMul, Transpose, Reduce, Concat, LogSumExp)

__all__ = [
    "HOOKS",
    "OPS",
    "Activation",
    "Adjoint",
    "AdjointCode",
    "Concat",
    "Dense",
    "Elementwise",
    "Leaf",
    "LogSumExp",
    "Loss",
    "MatMul",
    "MissingHook",
    "Node",
    "Op",
    "Reduce",
    "ShapeRuleError",
    "Softmax",
    "Transpose",
    "arg_symbol",
    "broadcast_shape",
    "at_elements",
    "contract",
    "element_indices",
    "flat_index",
    "unflat_index",
    "tidy",
]
