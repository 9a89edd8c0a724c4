"""The correct answer of a numerically decided claim, in the spec's names.

The backward pass computes each adjoint in steps whose formulas the module's comments show
(``dE/ds = dE/dp_b where p_a is true, 0 elsewhere``).  Those formulas name the parts the spec
reader lettered (``p_a``, ``p_b`` of ``p = softmax(where(tril(8), s, -1e9), axis=-1)``), which a
person who wrote the spec, or reads its handout's derivation, never named.  Here a part's value
is written as the spec's text of it (``tril(8)``) and its adjoint as its own formula
(``p * (dE/dp - sum_i dE/dp_i p_i)``), so that the answer reads
``(p * (dE/dp - sum_i dE/dp_i p_i)) where tril(8) is true, 0 elsewhere``.  A term that would grow
past ``WRITTEN_OUT`` characters, or a formula with a note in words (``, spread over the sum``),
keeps ``dE/d(<the part's text>)`` instead.
"""

from __future__ import annotations

import ast
import re

from ..ops import Elementwise

#: The longest term of a correct answer with the adjoints of parts written out.
WRITTEN_OUT = 160


class GradientFormulas:
    """dE/d(node) of one derivation, term by term, in the spec's names (``terms``)."""

    def __init__(self, derivation, builder):
        self.derivation = derivation
        self.graph = derivation.graph
        self.builder = builder  # the module's (probe's): each op's formula of a backward step
        self.parts: dict[str, str] = getattr(derivation.network, "parts", None) or {}
        self._terms: dict[str, list[str]] = {}  # each node's worked out once: parts are asked again

    def terms(self, node: str) -> list[str]:
        """dE/d(node), one term per backward step into it."""
        if node in self._terms:
            return self._terms[node]
        terms = []
        for step in self.derivation.steps:
            if step.target != node:
                continue
            source = self.graph.nodes[step.source]
            # per sample, as claims are: the module's sums over the batch are not the claim's
            term = source.op.numpy_adjoint(step, self.builder).math.replace(", summed over the batch", "")
            # but the sum of a broadcast (a bias added to every token) is: an elementwise op's
            # formula has the shape of its output, the sum brings it to the parameter's
            axes = _summed_axes(source.shape, self.graph.nodes[step.target].shape) if isinstance(source.op, Elementwise) else ()
            if axes:
                term = f"sum({term}, axis={axes[0] if len(axes) == 1 else axes})"
            term = self._written_out(term, (step.source, *source.inputs))
            terms.append(_without_ones(term) if self.graph.loss == "E" else term)
        self._terms[node] = terms
        return terms

    def _written_out(self, term: str, mentioned: tuple[str, ...]) -> str:
        """``term`` with the parts among the ``mentioned`` nodes (the step's) written out."""
        parts = self.parts
        names = sorted({n for n in mentioned if n in parts}, key=len, reverse=True)
        if not names:
            return term
        alternatives = "|".join(map(re.escape, names))
        pattern = re.compile(
            rf"dE/d(?P<adjoint>{alternatives})(?!\w)|(?<![\w.])(?P<value>{alternatives})(?!\w)(?P<transposed>\^T)?"
        )

        def written(match: re.Match, expand: bool) -> str:
            if match.group("value"):
                text, transposed = parts[match.group("value")], match.group("transposed") or ""
                if transposed and re.fullmatch(r"[A-Za-z]\w*\.T", text):  # s_a^T of s_a = k.T: k
                    return text[:-2]
                return _bracketed(text) + transposed
            part = match.group("adjoint")
            terms = self.terms(part) if expand else []
            if not terms or any(", " in _top_level(t) for t in terms):  # none, or a note in words
                return f"dE/d({parts[part]})"
            return _as_operand(" + ".join(terms), term[: match.start()], term[match.end() :])

        text = pattern.sub(lambda match: written(match, True), term)
        return text if len(text) <= WRITTEN_OUT else pattern.sub(lambda match: written(match, False), term)


def _without_ones(term: str) -> str:
    """A term without factors 1: ``dE/dE`` (of a loss that is a sum of parts, ``E_a + E_d``) is 1."""
    term = re.sub(r"(?<![\w/.])dE/dE(?!\w)", "1", term)
    term = re.sub(r"(^|\(|, | \* )1 \* ", r"\1", term)
    return re.sub(r" \* 1(?=$|\)|,| \*)", "", term)


def _top_level(text: str) -> str:
    """``text`` without what stands inside its brackets."""
    depth, top = 0, []
    for char in text:
        depth += (char in "([") - (char in ")]")
        top.append(char if not depth and char not in ")]" else "")
    return "".join(top)


def _as_operand(text: str, before: str, after: str) -> str:
    """``text`` (a formula of a module's comment) put between ``before`` and ``after``: bare
    where it is the whole, in brackets or an argument already, or a product standing as a
    factor of one; else in brackets."""
    pieces = _top_level(text).split(" * ")
    if len(pieces) == 1 and " " not in pieces[0] and not after.startswith(("^", "**")):
        return text  # one operand: a name, a call, an element
    product = all(" " not in piece for piece in pieces)
    if (not before or before.endswith(("(", "[", ", "))) and (not after or after.startswith((")", "]", ","))):
        return text  # the whole, in brackets already, or an argument
    factor = (not before or before.endswith(("(", "[", ", ", " * "))) and (not after or after.startswith((")", "]", ",", " * ")))
    return text if product and factor else f"({text})"


def _bracketed(text: str) -> str:
    """A part's text as an operand: in brackets unless it is a name, a call, an element or ``x.T``."""
    try:
        body = ast.parse(text, mode="eval").body
    except SyntaxError:
        return f"({text})"
    return text if isinstance(body, (ast.Name, ast.Call, ast.Subscript, ast.Attribute, ast.Constant)) else f"({text})"


def _summed_axes(source: tuple[int, ...], target: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of one sample's ``source`` adjoint that a broadcast of ``target`` summed: the
    leading ones ``target`` lacks and its size-1 ones that were stretched."""
    extra = len(source) - len(target)
    if extra < 0:
        return ()
    stretched = [extra + k for k, n in enumerate(target) if n == 1 and source[extra + k] > 1]
    return (*range(extra), *stretched)
