"""The edits of an index-notation claim that the diagnosis tries, beside the other edits of a
claim (``tensor_claims.Part``: a subexpression transposed, a sign flipped, a factor left out).

Index notation writes a transpose, a wrong factor or a missing sum with its index letters, so
its classic mistakes are edits of those letters:

* two indices swapped, ``W2[j,i]`` where ``W2[i,j]`` belongs (W where W^T belongs);
* one index, or a fixed number, in place of another index: ``x[j]`` where ``x[k]`` belongs;
* one term of a sum written for the whole sum: ``W2[0,j] * delta2[0]`` where
  ``sum_{i} W2[i,j] * delta2[i]`` belongs.

Each edit is a new claim text (``Part.claim``) that ``tensor_diagnose.right_after_edit``
judges as it judges every other edit.  The edits are found in the parsed claim, without
evaluating it.
"""

from __future__ import annotations

import ast
from itertools import combinations

from .tensor_claims import Part
from .tensor_text import is_sum, rewrite, span
from .tensor_values import TensorNames

#: At most this many edits are tried (each costs one more evaluation of the claim at every point).
MAX_EDITS = 60
#: The letters a sum the claim left out may be written with: the first one the claim leaves free.
_FRESH = "ikjlmnuvpqrs"
#: A number fixed at more places than this is summed at all of them only (else also at each subset).
_MAX_PLACES = 3


def index_edits(text: str, names: TensorNames, free: dict[str, int]) -> list[Part]:
    """The edits of ``text`` (the claim as normalised) the diagnosis tries; ``free``: the letters
    of ``--wrt`` and their ranges."""
    claim = text.strip()
    source, origin = rewrite(claim, names.loss)
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return []
    found = _Claim(claim, source, origin, names, tree)
    found.ranges.update(free)
    letters = [x for x in (*free, *found.summed) if x in found.ranges]
    edits = [*found.swaps()]
    for subscript in found.subscripts:
        edits += found.replacements(subscript, letters)
    edits += found.one_term(tree.body, letters)
    return edits[:MAX_EDITS]


class _Subscript:
    """``name[items]`` of a named node in a claim, every item an index letter or a whole number."""

    def __init__(self, claim: _Claim, node: ast.Subscript, items: list[ast.expr], shape: tuple[int, ...]):
        self.claim, self.node, self.items, self.shape = claim, node, items, shape
        self.values = [_item(item) for item in items]
        self.name = claim.written(node.value)

    def edit(self, values: list, mistake: str) -> Part:
        """The claim with this subscript's items ``values``, as a Part."""
        start, end = self.claim.span(self.node)
        spelled = f"{self.name}[{','.join(map(str, values))}]"
        edited = self.claim.text[:start] + spelled + self.claim.text[end:]
        return Part(("index",), "index", f"with {spelled} in place of {self.claim.written(self.node)}", mistake, edited)


class _Claim:
    """A claim's subscripts of named nodes (``W2[j,i]``, ``delta2[0]``), the letters its sums sum
    over, and the range of each letter (the size of the first axis it indexes)."""

    def __init__(self, text: str, source: str, origin: list[int], names: TensorNames, tree: ast.Expression):
        self.text, self.source, self.origin, self.names = text, source, origin, names
        self.subscripts: list[_Subscript] = []
        self.summed: list[str] = []
        self.ranges: dict[str, int] = {}
        self.identifiers = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript):
                self._note(node)

    def _note(self, node: ast.Subscript) -> None:
        items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if is_sum(node):
            self.summed += [item.id for item in items if isinstance(item, ast.Name)]
            return
        ref = self.names.resolve(node.value.id) if isinstance(node.value, ast.Name) else None
        if ref is None or ref.index is not None:
            return
        shape = self.names.shapes[ref.node]
        if len(items) != len(shape) or any(_item(item) is None for item in items):
            return
        subscript = _Subscript(self, node, items, shape)
        self.subscripts.append(subscript)
        for value, size in zip(subscript.values, shape):
            if isinstance(value, str):
                self.ranges.setdefault(value, size)

    def span(self, node: ast.AST) -> tuple[int, int]:
        return span(self.source, self.origin, node)

    def written(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    # -- the edits -----------------------------------------------------------------------------

    def swaps(self):
        """Two letters of one subscript swapped: a transpose."""
        for subscript in self.subscripts:
            for a, b in combinations(range(len(subscript.values)), 2):
                first, second = subscript.values[a], subscript.values[b]
                if not (isinstance(first, str) and isinstance(second, str)) or first == second:
                    continue
                values = list(subscript.values)
                values[a], values[b] = second, first
                name = subscript.name
                if len(values) == 2:
                    yield subscript.edit(values, f"{name} where {name}.T belongs (a missing or an extra transpose)")
                else:
                    yield subscript.edit(values, f"two indices of {name} swapped")

    def replacements(self, subscript: _Subscript, letters: list[str]):
        """One item of ``subscript`` (a letter or a number) replaced by another letter of its range."""
        for axis, value in enumerate(subscript.values):
            for letter in letters:
                if letter == value or self.ranges[letter] != subscript.shape[axis]:
                    continue
                values = list(subscript.values)
                values[axis] = letter
                kind = "a wrong index" if isinstance(value, str) else "a fixed index"
                yield subscript.edit(values, f"{kind} ({value} where {letter} belongs)")

    def one_term(self, body: ast.expr, letters: list[str]):
        """A term whose subscripts fix a number where a sum over a letter belongs: the number made
        a fresh letter, at all the places of the term that fix it to one axis's size (and, when
        there are few, at each subset of them), and the term summed over that letter."""
        fresh = next((x for x in _FRESH if x not in letters and self._free_letter(x)), None)
        if fresh is None:
            return
        for term in _terms(body):
            inside = {id(node) for node in ast.walk(term)}
            places: dict[tuple[int, int], list[ast.expr]] = {}
            for subscript in self.subscripts:
                if id(subscript.node) not in inside:
                    continue
                for item, value, size in zip(subscript.items, subscript.values, subscript.shape):
                    if isinstance(value, int):
                        places.setdefault((value, size), []).append(item)
            start, end = self.span(term)
            for (number, _), items in places.items():
                counts = [len(items)] if len(items) > _MAX_PLACES else range(len(items), 0, -1)
                for picked in (chosen for k in counts for chosen in combinations(items, k)):
                    summed = f"sum_{{{fresh}}} {self._replaced(term, picked, fresh)}"
                    yield Part(
                        ("index",),
                        "index",
                        f"summed over {fresh}, as {summed},",
                        f"it has only the term {fresh} = {number} of that sum",
                        self.text[:start] + summed + self.text[end:],
                    )

    def _replaced(self, term: ast.expr, items, letter: str) -> str:
        """The text of ``term`` with ``items`` (subscript items in it) replaced by ``letter``."""
        start, _ = self.span(term)
        text = self.written(term)
        for a, b in sorted((self.span(item) for item in items), reverse=True):
            text = text[: a - start] + letter + text[b - start :]
        return text

    def _free_letter(self, letter: str) -> bool:
        names = self.names
        taken = names.resolve(letter) is not None or letter in names.functions or letter in names.constants
        return not taken and letter not in self.identifiers


def _item(node: ast.expr) -> str | int | None:
    """A subscript's item: an index letter, a whole number, or None (a slice, an expression)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def _terms(node: ast.expr) -> list[ast.expr]:
    """The terms of a claim, split at the ``+`` and ``-`` outside brackets."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return [*_terms(node.left), *_terms(node.right)]
    return [node]
