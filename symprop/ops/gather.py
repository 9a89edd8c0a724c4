"""``E[ids]``: rows of a table picked by an integer input (an embedding lookup).  The adjoint
of the table adds each row of the upstream adjoint into the row it came from (``np.bincount``
over flat positions, as ``np.add.at`` would: a row picked twice gets both)."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .base import Adjoint, AdjointCode, Op
from .indices import element_indices, flat_index
from .shape_rule import ShapeRuleError

GATHER = "gather"

#: One ``np.bincount`` over the flat positions (row * row size + element) adds g in the order
#: ``np.add.at`` does, 4-5x faster (embedding_gru: 13 against 62 us at batch 64, 158 against
#: 706 us at 1024; NumPy 2.4).  bincount sums in float64: a float32 g gets its sums rounded once.
HELPER = (
    "def _gather_adjoint(g, ids, table):\n"
    '    """The adjoint of table[ids]: each row of g added into the row of the table it came from\n'
    '    (one bincount over the flat positions: the sums of np.add.at, in its order, 4x faster)."""\n'
    "    size = table.size // table.shape[0]  # elements per row\n"
    "    flat = ids.astype(np.intp, copy=False)[..., None] * size + np.arange(size)\n"
    "    total = np.bincount(flat.reshape(-1), weights=g.reshape(-1), minlength=table.size)\n"
    "    return total.reshape(table.shape).astype(g.dtype, copy=False)\n"
)

#: The array API standard has no scatter-add: the adjoint is a product with the one-hot ids.
ARRAY_API_HELPER = (
    "def _gather_adjoint(g, ids, table):\n"
    '    """The adjoint of table[ids]: each row of g added into the row of the table it came from, as a\n'
    '    product with the one-hot ids (the array API standard has no scatter-add)."""\n'
    "    xp = array_namespace(g)\n"
    "    rows = xp.arange(table.shape[0], dtype=ids.dtype, device=device(ids))\n"
    "    axes = tuple(range(ids.ndim))\n"
    "    return xp.tensordot(xp.astype(ids[..., None] == rows, g.dtype), g, axes=(axes, axes))\n"
)

#: Numba indexes by one 1-D integer array only, and has no bincount with weights: loops.
NUMBA_HELPERS = {
    "take_rows": (
        "def _take_rows(table, ids):\n"
        '    """table[ids] for a table of rows: the row of each id, copied."""\n'
        "    flat = ids.ravel()\n"
        "    rows = table.reshape(table.shape[0], -1)\n"
        "    out = np.empty((flat.size, rows.shape[1]), table.dtype)\n"
        "    for k in range(flat.size):\n"
        "        out[k] = rows[flat[k]]\n"
        "    return out.reshape(ids.shape + table.shape[1:])\n"
    ),
    "gather_adjoint": (
        "def _gather_adjoint(g, ids, table):\n"
        '    """The adjoint of table[ids]: each row of g added into the row of the table it came from,\n'
        '    in the order of np.add.at."""\n'
        "    flat = ids.ravel()\n"
        "    out = np.zeros((table.shape[0], table.size // table.shape[0]), g.dtype)\n"
        "    rows = np.ascontiguousarray(g).reshape(flat.size, out.shape[1])\n"
        "    for k in range(flat.size):\n"
        "        out[flat[k]] += rows[k]\n"
        "    return out.reshape(table.shape)\n"
    ),
}


@dataclass(frozen=True)
class Gather(Op):
    """``table[ids]``: the table has shape ``table_shape`` (rows first), ``ids`` per-sample
    shape ``ids_shape`` with values in ``[0, rows)``."""

    array_api_helpers = {"gather_adjoint": ARRAY_API_HELPER}
    numba_helpers = NUMBA_HELPERS
    table_shape: tuple[int, ...]
    ids_shape: tuple[int, ...]

    discrete_inputs = (1,)

    @classmethod
    def from_shapes(cls, table: tuple[int, ...], ids: tuple[int, ...], text: str, leaf) -> tuple[Gather, tuple[int, ...]]:
        if not table:
            raise ShapeRuleError(f"{text} is a scalar; a table needs rows")
        classes = getattr(leaf, "classes", None)
        if classes is not None and classes > table[0]:
            raise ShapeRuleError(f"the ids take {classes} values (range: {classes}) but {text} has {table[0]} rows")
        return cls(tuple(table), tuple(ids)), tuple(ids) + tuple(table[1:])

    def adjoint_rules(self, node, shapes):
        return [Adjoint(0, GATHER)]

    def elements(self, node, args):
        """Each element as a sum over the table's rows of row v times [ids = v] (an indicator
        of the id's value, so that the per-weight view stays a formula of symbols)."""
        table, ids = args
        rows = self.table_shape[0]
        out = []
        for index in element_indices(node.shape):
            where = index[: len(self.ids_shape)]
            rest = index[len(self.ids_shape) :]
            chosen = ids[flat_index(where, self.ids_shape)]
            terms = [sp.KroneckerDelta(chosen, v) * table[flat_index((v, *rest), self.table_shape)] for v in range(rows)]
            out.append(sp.Add(*terms))
        return out

    def numpy(self, node, code):
        """``table.take(ids, axis=0)``: the rows of ``table[ids]``, 3-6x faster (embedding_gru's
        (64, 6) ids: 0.9 against 3.8 us; (1024, 6): 18 against 52; NumPy 2.4)."""
        table, ids = node.inputs
        return f"{code.use(table)}.take({code.use(ids)}, axis=0)", f"{node.name} = {table}[{ids}]"

    def numpy_row_products(self, node, code, rows, count, matrix, bias):
        """``(table @ W.T + b).take(ids.T, axis=0)``: the table's rows projected once, then picked,
        for the products of a weight with every looked-up row (``stacking``: an RNN over embedded
        tokens).  The same sums per row as ``table[ids] @ W.T``; the bias is added to the table's
        rows, not to every step's.  Only for a table of at most 64 rows a slice (at batch 64 its
        product costs at most the product of the rows looked up): embedding_gru's products, 11
        against 5 us each at batch 64 in float64, 7 against 4 in float32 (NumPy 2.4; ``take`` is
        3-6x faster than indexing by an array).  A 2-D parameter table and ids of one axis."""
        table, ids = node.inputs
        if code.batched(table) or len(self.table_shape) != 2 or len(self.ids_shape) != 1 or self.table_shape[0] > 64 * count:
            return None
        spelled = f"({code.use(table)} @ {matrix}{bias}).take({code.use(ids)}{rows}.T, axis=0)"
        return spelled, f"the rows of {table} projected, then picked"

    def numba(self, node, code):
        """``_take_rows``: Numba has no indexing by a 2-D integer array."""
        table, ids = node.inputs
        return f"_take_rows({code.use(table)}, {code.use(ids)})", f"{node.name} = {table}[{ids}]"

    def array_api(self, node, code):
        """``xp.take`` of the flat ids (the standard indexes by 1-D integer arrays only), reshaped."""
        table, ids = node.inputs
        rows = ", ".join(str(n) for n in self.table_shape[1:])
        flat = f"xp.take({code.use(table)}, xp.reshape({code.use(ids)}, (-1,)), axis=0)"
        shape = f"(*{code.use(ids)}.shape, {rows})" if rows else f"{code.use(ids)}.shape"
        return f"xp.reshape({flat}, {shape})", f"{node.name} = {table}[{ids}]"

    def numpy_adjoint(self, step, code):
        code.require_helper("gather_adjoint", HELPER)
        table, ids = code.node(step.source).inputs
        spelled = f"_gather_adjoint({code.grad(step.source)}, {code.use(ids)}, {code.use(table)})"
        return AdjointCode(spelled, f"dE/d{step.source} added into the rows {ids} picked")

    def tokens(self, node, tex) -> tuple[str, str, str]:
        """Letters (of the ids, of the rest of a row, the table's row): ``e_{jk} = Emb_{ids_j, k}``."""
        letters = tex.index_letters(node.shape, avoid="v")
        return letters[: len(self.ids_shape)], letters[len(self.ids_shape) :], "v"

    def latex(self, node, tex):
        """``[Emb_{ids_j, k}]_{jk}``: row ids_j of the table (rows numbered by id, from 0 as the ids)."""
        table, ids = node.inputs
        where, rest, _ = self.tokens(node, tex)
        element = tex.el(table, [tex.el(ids, where), *rest])
        return rf"\Bigl[{element}\Bigr]_{{{tex.subscript(where + rest)}}}" if where + rest else element

    def latex_adjoint(self, step, tex, eq):
        source = tex.node(step.source)
        table, ids = source.inputs
        where, rest, v = self.tokens(source, tex)
        chosen = rf"[{tex.el(ids, where)} = {v}]"
        total = rf"\sum_{{{','.join(where)}}} " if where else ""
        element = (
            rf"{tex.partial('E', tex.el(table, [v, *rest]))} {eq} {total}{chosen} \, "
            rf"{tex.partial('E', tex.el(step.source, where + rest))}"
        )
        return element, "", f"row ${v}$ of the table (the row of id ${v}$) collects the adjoints of the places that picked it"

    def words(self, step, tex):
        return rf"back through the lookup ${tex.node_tex(step.source)}$"
