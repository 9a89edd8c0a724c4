"""``where(mask, a, b)``: ``a`` where the boolean mask is true, ``b`` elsewhere (with NumPy
broadcasting; ``a`` or ``b`` may be a number, as in ``where(tril(8), s, -1e9)``).  Each
branch's adjoint is the upstream adjoint where it was chosen, zero elsewhere; the mask
gets none.  ``tril(n)``: the constant lower-triangular n x n mask (a causal mask)."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .base import Adjoint, AdjointCode, Op
from .indices import broadcast_flat, broadcast_shape, broadcast_tokens, element_indices
from .shape_rule import ShapeRuleError, whole_number

WHERE = "where"


@dataclass(frozen=True)
class Where(Op):
    """``where(mask, a, b)``; ``values`` holds the number of a branch that is a number and None
    for a tensor branch (the node's inputs are the mask and the tensor branches, in order);
    ``shapes`` are the inputs' per-sample shapes."""

    values: tuple
    shapes: tuple[tuple[int, ...], ...]

    CALL_NAMES = ("where",)
    discrete_inputs = (0,)

    @classmethod
    def from_call(cls, call):
        if len(call.args) != 3 or call.keywords:
            raise ShapeRuleError("takes a mask and two values: where(mask, a, b)")
        mask, *branches = call.args
        if not mask.is_tensor or mask.dtype != "bool":
            what = f"a {mask.dtype} tensor" if mask.is_tensor else "a number"
            raise ShapeRuleError(
                f"the condition {mask.text} is {what}; it must be a boolean mask (an input with dtype: bool, or tril(n))"
            )
        for branch in branches:
            if not branch.is_tensor and not isinstance(branch.value, sp.Number):
                raise ShapeRuleError(f"{branch.text} must be a tensor or a number")
        if not any(b.is_tensor for b in branches):
            raise ShapeRuleError("at least one of the two values must be a tensor")
        shapes = tuple(a.shape for a in call.args if a.is_tensor)
        shape = broadcast_shape(*shapes)
        if shape is None:
            listed = ", ".join(f"{a.text} has shape {list(a.shape)}" for a in call.args if a.is_tensor)
            raise ShapeRuleError(f"shape mismatch: {listed}")
        values = tuple(None if b.is_tensor else sp.Float(b.value) if not b.value.is_Integer else b.value for b in branches)
        return cls(values, shapes), shape

    def branch_inputs(self) -> list[tuple[int, int]]:
        """(branch 0 or 1, its position among the node's inputs) for the tensor branches."""
        found, position = [], 1
        for branch, value in enumerate(self.values):
            if value is None:
                found.append((branch, position))
                position += 1
        return found

    def adjoint_rules(self, node, shapes):
        return [Adjoint(position, WHERE) for _, position in self.branch_inputs()]

    def choices(self, node, args) -> list[tuple]:
        """(mask, value where true, value where false) of each element, from the inputs' elements."""
        positions = dict(self.branch_inputs())
        found = []
        for index in element_indices(node.shape):
            picked = [
                args[positions[b]][broadcast_flat(index, self.shapes[positions[b]])] if b in positions else self.values[b]
                for b in (0, 1)
            ]
            found.append((args[0][broadcast_flat(index, self.shapes[0])], *picked))
        return found

    def elements(self, node, args):
        return [mask * chosen + (1 - mask) * other for mask, chosen, other in self.choices(node, args)]

    def scalar(self, node, code):
        """Each element as ``a if m else b``: the definition's ``m a + (1 - m) b`` would lose
        ``a`` beside a large ``b`` (``-1e9`` of a causal mask) in floating point."""
        view = code.view
        args = [view.symbols[name] for name in node.inputs]
        return [
            (symbol.name, f"{code.code(chosen)} if {code.code(mask)} else {code.code(other)}")
            for symbol, (mask, chosen, other) in zip(view.symbols[node.name], self.choices(node, args))
        ]

    def _branch_code(self, node, code, branch: int) -> str:
        value = self.values[branch]
        if value is not None:
            return code.code(value)
        position = dict(self.branch_inputs())[branch]
        return code.code(code.operand(node.inputs[position], node))

    def numpy(self, node, code):
        mask = code.code(code.operand(node.inputs[0], node))
        spelled = f"np.where({mask}, {self._branch_code(node, code, 0)}, {self._branch_code(node, code, 1)})"
        shown = [node.inputs[0]] + [
            node.inputs[dict(self.branch_inputs())[b]] if self.values[b] is None else str(self.values[b]) for b in (0, 1)
        ]
        return spelled, f"{node.name} = where({', '.join(shown)})"

    def numpy_adjoint(self, step, code):
        source = code.node(step.source)
        mask = code.code(code.operand(source.inputs[0], source))
        g = code.grad(step.source)
        branch = next(b for b, p in self.branch_inputs() if p == step.argument)
        spelled = f"np.where({mask}, {g}, 0.0)" if branch == 0 else f"np.where({mask}, 0.0, {g})"
        spelled, note = code.reduce_to(spelled, code.batched(step.source), source.shape, step.target)
        which = "true" if branch == 0 else "false"
        return AdjointCode(spelled, f"dE/d{step.source} where {source.inputs[0]} is {which}, 0 elsewhere", note)

    def latex(self, node, tex):
        names = [tex.node_tex(node.inputs[0])]
        for b in (0, 1):
            value = self.values[b]
            names.append(tex.node_tex(node.inputs[dict(self.branch_inputs())[b]]) if value is None else tex.to_latex(value))
        return rf"\operatorname{{where}}\left({', '.join(names)}\right)"

    def latex_element(self, node, tex):
        letters = tex.index_letters(node.shape)
        mask = tex.el(node.inputs[0], broadcast_tokens(letters, self.shapes[0], node.shape))
        chosen = []
        for b in (0, 1):
            if self.values[b] is None:
                position = dict(self.branch_inputs())[b]
                chosen.append(tex.el(node.inputs[position], broadcast_tokens(letters, self.shapes[position], node.shape)))
            else:
                chosen.append(tex.to_latex(self.values[b]))
        cases = rf"\begin{{cases}} {chosen[0]} & \text{{if }} {mask} \\ {chosen[1]} & \text{{otherwise}} \end{{cases}}"
        return tex.el(node.name, letters), cases

    def latex_adjoint(self, step, tex, eq):
        source = tex.node(step.source)
        branch = next(b for b, p in self.branch_inputs() if p == step.argument)
        letters = tex.index_letters(source.shape)
        mask = tex.el(source.inputs[0], broadcast_tokens(letters, self.shapes[0], source.shape))
        condition = mask if branch == 0 else rf"\lnot {mask}"
        target = broadcast_tokens(letters, self.shapes[step.argument], source.shape)
        summed = [c for c in letters if c not in target]
        total = (r"\sum_{" + ",".join(summed) + "} ") if summed else ""
        upstream = tex.partial("E", tex.el(step.source, letters))
        element = rf"{tex.partial('E', tex.el(step.target, target))} {eq} {total}[{condition}] \, {upstream}"
        note = "a choice passes the adjoint to the value it chose, and nothing to the other"
        if summed:
            note += f"; summed over ${', '.join(summed)}$, along which the value was reused (broadcast)"
        return element, "", note

    def words(self, step, tex):
        return rf"back through the choice ${tex.node_tex(step.source)}$"


@dataclass(frozen=True)
class Tril(Op):
    """``tril(n)``: the constant n x n boolean mask that is true on and below the diagonal."""

    size: int

    CALL_NAMES = ("tril",)

    @classmethod
    def from_call(cls, call):
        call.check(0, values=1)
        if not call.args:
            raise ShapeRuleError("takes the size: tril(8)")
        n = whole_number(call.args[0].value, "the size", low=1)
        if n > 4096:
            raise ShapeRuleError(f"the size must be at most 4096, got {n}")
        return cls(n), (n, n)

    def dtype(self, inputs):
        return "bool"

    def adjoint_rules(self, node, shapes):
        return []

    def elements(self, node, args):
        return [sp.Integer(int(j <= i)) for i, j in element_indices(node.shape)]

    def numpy(self, node, code):
        """A constant of the module, made once at import (``np.tril`` costs ~5 us a call, 2% of
        self_attention's loss_and_grad at batch 64); read-only, as every call shares it."""
        name = f"_TRIL_{self.size}"
        code.require_helper(
            name.lower()[1:],
            f"{name} = np.tril(np.ones(({self.size}, {self.size}), dtype=bool))  # tril({self.size}), made once\n"
            f"{name}.flags.writeable = False\n",
        )
        return name, f"{node.name} = tril({self.size}) (true on and below the diagonal)"

    def array_api(self, node, code):
        """Made in the call: the standard has no read-only arrays to share between calls."""
        return (
            f"xp.tril(xp.ones(({self.size}, {self.size}), dtype=xp.bool))",
            f"{node.name} = tril({self.size}) (true on and below the diagonal)",
        )

    def numpy_adjoint(self, step, code):
        raise AssertionError("tril(n) has no inputs, so no adjoint")

    def latex(self, node, tex):
        """``[k <= j]_{jk}``: 1 on and below the diagonal (an Iverson bracket inside)."""
        j, k = tex.index_letters(node.shape)
        return rf"\bigl[\, {k} \le {j} \,\bigr]_{{{tex.subscript(j + k)}}}"

    def latex_adjoint(self, step, tex, eq):
        raise AssertionError("tril(n) has no inputs, so no adjoint")

    def words(self, step, tex):
        raise AssertionError("tril(n) has no inputs, so no adjoint")
