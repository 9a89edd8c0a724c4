"""Graph specs: networks written as named tensor expressions -> ``GraphNetwork`` -> ``Graph``.

A layer stack covers the tutorials; a graph spec says what any other network computes::

    name: residual_block
    inputs: {x: 4}
    targets: {t: 3}
    params: {W1: [8, 4], b1: [8], W2: [4, 8], W3: [3, 4]}
    nodes:
      h: tanh(W1 @ x + b1)
      r: x + W2 @ h                # skip connection
      y: softmax(W3 @ r)
    loss: cross_entropy(y, t) + 0.001 * sum(W1 * W1)

Expressions are per sample, as in the tutorials: an input of size n is a column vector
``(n,)``, a sequence ``[T, d]``, an image ``[C, H, W]`` (any rank up to ``reader.MAX_RANK``);
``inputs``/``targets`` give a size or a shape list (``[]`` for a scalar), an input may be
discrete (``ids: {shape: [6], dtype: int, range: 50}``, ``m: {shape: [8], dtype: bool}``),
``params`` a shape list (or a size for a vector), or ``{shape: ..., init: ...}`` with one of
``INITS`` (the default: ``_default_init``).  The generated module runs them on batches (a
leading batch axis; with several inputs or targets, dicts of such arrays keyed by name).
The batch loss is the mean over samples of ``loss``, which must be a scalar per sample.

The language: numbers, names (inputs, targets, params, nodes, ``constants``), ``@`` (NumPy's
matmul rules on per-sample shapes, leading axes broadcast), elementwise ``+ - * /`` with
NumPy broadcasting (per-row values of a matrix against that matrix are refused as ambiguous:
``lowering.Lowering.check_row_broadcast``), ``**`` (and ``^``) to a constant, ``.T``,
subscripts (``x[0]``, ``x[:, 0:4]``, ``Emb[ids]``), every registered activation
(``leaky_relu(h, alpha=0.2)``) and ``functions`` entry, ``exp log sqrt abs sinh cosh sin cos
erf sign step log1p expm1 max min``, the tensor ops of ``symprop.ops`` by their names
(``einsum``, ``transpose``, ``reshape``, ``sum``/``mean``/``max`` over axes, ``softmax`` and
``logsumexp`` along an axis, ``concat``, ``where``, ``tril``, ``layer_norm``, ``batch_norm``,
``conv1d``, ``conv2d``, ``max_pool1d``, ``avg_pool1d``, ``max_pool2d``, ``avg_pool2d``:
``calls.CALLS``), and the registered losses as functions of (output, target):
``cross_entropy(y, t)``, ``half_sse(y, t)``, ``mse``, ``mae``, ``huber(y, t, delta=1)``,
``binary_cross_entropy``.  Anything else is a
``SpecError`` naming the node and the construct.  Text is parsed by a whitelisting AST
reader (``symprop.formula``), never ``eval``/``sympify``.

A node may be repeated: ``h{k}: {for: k in 2..5, value: "tanh(Wx @ x{k} + Wh @ h{k-1} + bh)"}``
defines h2 ... h5 (``{k}``, ``{k-1}``, ``{k+1}`` are replaced by numbers in the name and the
expression); inputs, targets and params accept the same form (``x{k}: {for: k in 1..5,
value: 3}``).  That is how an unrolled RNN shares its weights across steps.

Lowering (the second pass) makes every operation one graph node, named after the node
it belongs to (``h1``, ``h2``, ... for the parts of ``h``; ``E1``, ... for the loss), as
in the computational graphs of CS231n; a matrix parameter times a batched vector, plus
optionally a vector parameter (``W @ x + b``), is one dense node as in a layer stack, so a
layer stack written as a graph spec gives the same graph.  Shared parameters and reused
nodes are simply several uses of one node: their gradient contributions add up.
"""

from .expressions import TensorReader
from .network import GraphExample, GraphNetwork
from .reader import GraphReader, read_graph_spec

__all__ = ["GraphExample", "GraphNetwork", "GraphReader", "TensorReader", "read_graph_spec"]
