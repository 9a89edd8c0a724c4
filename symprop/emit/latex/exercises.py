"""Exercises: a worksheet with blanks (``<name>_exercises.tex``) and its answer key (``<name>_answers.tex``).

``symprop.exercises`` chooses the questions and computes their answers at a point (the spec's
worked example, or a variant's numbers); this module writes them as LaTeX: the network and the
numbers a student is given, each question with its blanks, and in the answer key each answer
with the chain-rule factors that make it.  Both documents share one context; each has its
own template (``templates/exercises.tex.j2``, ``templates/answers.tex.j2``).  Names and
figures are the handout's (a student edition ``Handout`` supplies them), so the worksheet
speaks the handout's notation.  Every name from the spec reaches the page escaped.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sympy as sp

from ... import naming
from ...errors import SymPropError
from ...exercises import Exercises, Question, exercises, needed_answers
from ...latex_printing import given, number, paren, to_latex
from ...version import __version__
from .handout import Handout
from .layout import equation_rows, matrix_tex, negate_tex, pack_tokens, sum_of_products, wrap_expr
from .notation import partial, transpose_tex
from .tex import Tex, code, environment, text

if TYPE_CHECKING:
    from ...derivation import Derivation

#: What each kind of question asks, in words (the formula follows); a graph spec has no layers.
PROMPTS = {
    "forward": "Forward pass: compute the value",
    "local": "Local derivative: compute",
    "output_weight": "Output-layer weight:",
    "hidden_weight": "Hidden-layer weight:",
    "bias": "Bias:",
    "matrix": "Whole matrix:",
}
GRAPH_PROMPTS = {**PROMPTS, "output_weight": "Weight:", "hidden_weight": "Weight:"}

#: The room left on the worksheet to work a question out in (a gradient's factors take most).
WORK_SPACE = {
    "forward": "1.2cm",
    "local": "2.4cm",
    "output_weight": "4cm",
    "hidden_weight": "4.8cm",
    "bias": "4cm",
    "matrix": "3.5cm",
}


def exercise_file_names(name: str) -> tuple[str, str]:
    """The worksheet's and the answer key's file names: ``<name>_exercises.tex``, ``<name>_answers.tex``."""
    return f"{name}_exercises.tex", f"{name}_answers.tex"


class ExerciseSheet:
    """The template context of the worksheet and its answer key, for one ``Exercises``."""

    def __init__(self, derivation: Derivation, chosen: Exercises | None = None):
        self.d = derivation
        self.handout = Handout(derivation, "student")
        self.names = self.handout.element_names
        self.loss = self.handout.node_tex(derivation.graph.loss)  # E, or f where the output is differentiated
        self._set(chosen if chosen is not None else exercises(derivation))
        self.drawn, self.defined = self.figure(), self.definitions()  # the same for every student

    def at(self, chosen: Exercises) -> ExerciseSheet:
        """The same sheet for other numbers (a class set's next student): the handout, its names
        and figure are built once for the class."""
        sheet = copy.copy(self)
        sheet._set(chosen)
        return sheet

    def _set(self, chosen: Exercises) -> None:
        self.exercises = chosen
        point, values = chosen.point, chosen.values
        leaves = {s for name in point.leaves for s in self.d.scalar.symbols[name]}
        shown = {s: given(float(v)) if s in leaves else number(v) for s, v in values.items()}
        self.shown = shown
        self.numeric = {s: paren(t) if t.startswith("-") else t for s, t in shown.items()}
        self.numeric.update(self.handout.constant_numbers())  # alpha by name in a formula, 0.1 in its numbers

    def context(self) -> dict:
        network = self.d.network
        return {
            "name": text(network.name),
            "source": text("".join(c if c.isprintable() else "?" for c in Path(network.source).name)),
            "version": text(__version__),
            "figure": self.drawn,
            "definitions": self.defined,
            "given": self.leaves(),
            "rate": Tex(given(self.exercises.rate)) if self.exercises.rate is not None else None,
            "questions": [self.question(q) for q in self.exercises.questions],
            "typing": self.typing(),
        }

    def typing(self) -> Tex | None:
        """How a class set's formula answers are typed, the names shown with the handout's
        notation (a student copying ``a_1^(2)`` from the page wrote a name the grader cannot
        read); None when no formula is asked of a student."""
        asked = [q for q in self.exercises.questions if q.formula_label is not None or (q.kind == "matrix" and q.labels)]
        if not asked:
            return None
        symbols = sorted({s for q in asked if q.kind != "matrix" for s in q.formula.free_symbols}, key=str)[:3]
        examples = [f"${self.names[s]}$ as {code(str(s))}" for s in symbols]
        matrix = next((str(q.of) for q in asked if q.kind == "matrix"), None)
        if matrix is not None:
            h = self.handout
            examples.append(f"${h.node_tex(matrix)}$ as {code(matrix)}")
            layer = next((layer for layer in (h.layers or []) if matrix in (layer.weight, layer.bias)), None)
            if layer is not None and not h.graph_mode and re.fullmatch(r"z\d+", layer.z):  # the verifier's delta2 is dE/dz2
                examples.append(f"${h.adjoint_tex(layer.z)}$ as {code('delta' + layer.z[1:])}")
            examples += [rf"$M^{{\top}}$ as {code('M.T')}", rf"the matrix product as {code('@')}"]
        return Tex(
            "Type each formula in plain text with the names of elements and arrays ("
            + ", ".join(examples)
            + r"), or in \LaTeX."
        )

    # -- what the student is given ------------------------------------------------------

    def figure(self) -> dict:
        """The handout's figure, without the values and gradients a computational graph carries
        on its edges (they would give answers away)."""
        if self.handout.graph_mode:
            figure = self.handout.graph_figure()
            if figure["kind"] == "graph":
                figure = {**figure, "out": None, "edges": [{**e, "value": None} for e in figure["edges"]]}
            return figure
        return self.handout.figure()

    def definitions(self) -> list[Tex]:
        """Each computed node's definition, as the handout's forward pass writes it; the loss
        also element by element (``E = 1/2 (a_1 - t_1)^2 + ...``).  Last, each activation that
        is a formula of the spec (``f_softsq(z) = z / (1 + c z^2), with c = 0.5``): a student has
        no other page that defines it."""
        graph, scalar, h = self.d.graph, self.d.scalar, self.handout
        rows, formulas = [], {}
        for node in graph.nodes.values():
            if node.op.role != "op":
                continue
            row = f"{h.node_tex(node.name)} = {node.op.latex(node, h)}"
            if node.name == graph.loss:
                loss = h.named_element(None, scalar.loss_symbol, scalar.definitions[scalar.loss_symbol])  # delta by name
                elements = to_latex(loss, self.names)
                if elements != node.op.latex(node, h):
                    row += f" = {elements}"
            rows.append([row])
            if node.op.activation and node.op.choice.formula is not None:
                form = h.function_form(node.op)  # with the spec's constants by name, and their values
                definition = form[0] + rf",\quad\text{{with {form[1]}}}" if form else to_latex(node.op.definition())
                formulas.setdefault(h.function_tex(node.op), definition)
        out = packed(rows, 3 if self.handout.graph_mode else 2)  # a layer stack's z and a side by side
        return out + [Tex(rf"\text{{where }} {f}(z) = {definition}") for f, definition in formulas.items()]

    def leaves(self) -> dict:
        """What is given: the inputs and targets, every parameter (a matrix alone on its row), and
        the forward values node by node; one that a question asks for is named by its question
        instead of its value.  The answer key lists every forward value with its number
        (``every_forward``), to check a student's intermediate numbers against.  Scalars and
        short vectors share rows (``packed``)."""
        graph, scalar, names, shown = self.d.graph, self.d.scalar, self.names, self.shown
        leaves = []
        for role in ("input", "target", "param"):
            for node in graph.leaves(role):
                symbols = scalar.symbols[node.name]
                if len(node.shape) == 2:
                    leaves.append(
                        [f"{self.handout.node_tex(node.name)} = " + matrix_tex([shown[s] for s in symbols], node.shape)]
                    )
                else:
                    leaves.append([f"{names[s]} = {shown[s]}" for s in symbols])
        asked = {q.of: q.number for q in self.exercises.questions if q.kind == "forward"}
        given_symbols = set(self.exercises.given)
        marks = {s: rf"\ (\text{{question {n}}})" for s, n in asked.items()}
        forward, every = [], []  # the worksheet's, and the answer key's: every value, the loss too
        for node in graph.nodes.values():
            if node.op.role != "op":
                continue
            symbols = scalar.symbols[node.name]
            cells = [
                rf"{names[s]} = \text{{question {asked[s]}}}" if s in asked else f"{names[s]} = {shown[s]}"
                for s in symbols
                if s in asked or s in given_symbols
            ]
            if cells:
                forward.append(cells)
            every.append([f"{names[s]} = {shown[s]}{marks.get(s, '')}" for s in symbols])
        roles = [word for role, word in (("input", "inputs"), ("target", "targets"), ("param", "weights")) if graph.leaves(role)]
        return {
            "what": (", ".join(roles[:-1]) + " and " + roles[-1] if len(roles) > 1 else roles[0]).capitalize(),
            "leaves": packed(leaves, 5),
            "forward": packed(forward),
            "every_forward": packed(every),
        }

    # -- the questions ----------------------------------------------------------------------

    def question(self, q: Question) -> dict:
        """What the worksheet asks (``prompt``, the ``blanks``' left sides, a "which factor"
        question's ``choices``) and what the answer key shows (``rows``: aligned derivation rows;
        ``answers``: each blank filled in).  On a class set's sheets each blank carries the
        question id the gradebook uses (``q.labels``)."""
        names, loss = self.names, self.loss
        target = names[q.of] if q.kind != "matrix" else self.handout.node_tex(str(q.of))
        choices = [Tex(rf"\textbf{{({letter})}}\ ${to_latex(f, names)}$") for letter, f in q.choices]
        prompt = (GRAPH_PROMPTS if self.handout.graph_mode else PROMPTS)[q.kind]
        if q.kind == "forward":
            what = f"${target}$ ({self._tag(q)})."
            blanks = [target]
        elif q.kind == "local" and q.choices:
            prompt = "Local derivative:"
            what = f"which of these is ${partial(target, names[q.wrt])}$? Write its letter in the blank."
            blanks = [r"\text{letter}"]
        elif q.kind == "local":
            what = (
                f"${partial(target, names[q.wrt])}$, the local derivative of ${target}$ taken at ${names[q.wrt]}$:"
                " write it in forward values,"
                " then its value in the blank."
            )
            blanks = [partial(target, names[q.wrt])]
        elif q.kind == "matrix":
            what = (
                f"write ${partial(loss, target)}$ ({code(str(q.of))}, all its elements at once) as one formula in "
                r"vectors and matrices ($\odot$ elementwise, ${}^{\top}$ the transpose); you may use the error "
                r"signals $\delta^{(l)}$."
            )
            blanks = [partial(loss, target)]
        elif q.labels and not any(q.labels):  # a class set asks only the formula of this element
            what = f"write ${partial(loss, target)}$ ({self._tag(q)}) as a formula in forward values."
            blanks = []
        else:
            what = f"compute ${partial(loss, target)}$ ({self._tag(q)}) as a product of chain-rule factors" + (
                rf", and the value of ${target}$ after one step of gradient descent with $\alpha = {given(self.exercises.rate)}$."
                if q.updated is not None
                else "."
            )
            blanks = [partial(loss, target)] + ([f"{{{target}}}^{{+}}"] if q.updated is not None else [])
        if q.kind == "local" and q.choices:
            right = next(letter for letter, f in q.choices if f == q.formula)
            answers = [rf"\text{{({right})}}"]
        elif q.kind == "matrix":
            answers = [self.matrix_answer(q)]
        else:
            answers = [number(v) for v in q.answers]
        answered = [f"{b} = {a}" for b, a in zip(blanks, answers)]
        rows = self.answer_rows(q)
        labels = list(q.labels)
        if q.formula_label is not None:  # a formula asked beside the number: its own blank and row
            lhs = partial(loss, target)
            blanks.insert(0, rf"\text{{formula: }}{lhs}")
            answered.insert(0, f"{lhs} = {to_latex(q.formula, names)}")
            labels.insert(0, q.formula_label)
            rows.append(equation_rows(lhs, [wrap_expr(q.formula, names)]))
        if labels:  # a class set's sheet: each blank labelled with its question id, none unasked
            asked = [(b, a, i) for b, a, i in zip(blanks, answered, labels) if i]
            blanks, answered = [_labelled(b, i) for b, _, i in asked], [_labelled(a, i) for _, a, i in asked]
        # the forward values this answer needs that the worksheet does not give: an earlier question's
        chosen = self.exercises
        hidden = [s for s in q.formula.free_symbols if s in self.d.scalar.definitions and s not in chosen.given]
        earlier, definitions = chosen.questions[: q.number - 1], self.d.scalar.definitions
        needed = sorted(set().union(*(needed_answers(earlier, s, chosen.values, definitions) for s in hidden)))
        if needed and q.kind != "matrix" and not q.choices and (not q.labels or any(q.labels)):
            what += text(f" (It needs your answer to question{'s' if len(needed) > 1 else ''} {', '.join(map(str, needed))}.)")
        return {
            "number": q.number,
            "kind": q.kind,
            "prompt": Tex(text(prompt) + " " + what),
            "blanks": [Tex(b) for b in blanks],
            "choices": choices,
            "space": Tex(WORK_SPACE[q.kind] if not q.choices else "0.8cm"),
            "rows": [Tex(r) for r in rows],
            "answers": [Tex(a) for a in answered],
        }

    def matrix_answer(self, q: Question) -> str:
        r"""A whole parameter's gradient in vector notation: ``\delta^{(2)} (a^{(1)})^{\top}`` for a
        layer stack's weight, ``\delta^{(2)}`` for its bias; a graph spec's array formula as code."""
        h, name = self.handout, str(q.of)
        layer = next((layer for layer in (h.layers or []) if name in (layer.weight, layer.bias)), None)
        if h.graph_mode or layer is None:
            from ...verify.writing import array_formula

            return code(array_formula(self.d, name) or "")
        delta = h.adjoint_tex(layer.z)
        return rf"{delta} \, {transpose_tex(h.node_tex(layer.data))}" if name == layer.weight else delta

    def matrix_rows(self, q: Question) -> list[str]:
        """The answer key's rows for a whole parameter: the matrix form, then each error signal it
        needs, from its layer to the output (the backprop recursion)."""
        h, name = self.handout, str(q.of)
        rows = [rf"{partial(self.loss, h.node_tex(name))} &= \boxed{{{self.matrix_answer(q)}}}"]
        layers = [layer for layer in (h.layers or []) if not h.graph_mode]
        at = next((i for i, layer in enumerate(layers) if name in (layer.weight, layer.bias)), None)
        if at is not None:
            for layer in layers[at:]:
                definition = h._delta_definition(layer.z)
                if definition:
                    lhs, rhs = definition.split(" = ", 1)
                    rows.append(f"{lhs} &= {rhs}")
        return rows

    def answer_rows(self, q: Question) -> list[str]:
        """The answer worked out: the formula, the formula in numbers, the value; for a gradient
        the chain rule, each factor, their product and the step."""
        names, scalar, loss = self.names, self.d.scalar, self.loss
        if q.kind == "matrix":
            return self.matrix_rows(q)
        named = self.handout.named_element  # the constants by name, as the handout writes them
        if q.kind == "forward":
            return [self._value_row(self.names[q.of], named(None, q.of, q.formula), q.value)]
        if q.kind == "local":
            return [self._value_row(partial(names[q.of], names[q.wrt]), named(q.of, q.wrt, q.formula), q.value)]
        target = names[q.of]
        rows = []
        if len(q.factors) > 1:
            chain = r" \cdot ".join(partial(names[f.of], names[f.wrt]) for f in q.factors)
            rows.append(rf"{partial(loss, target)} &= {chain}")
        for f in q.factors:
            lhs = partial(names[f.of], names[f.wrt])
            # dE/d(a hidden value) in the chain rule's order: a sum over where its path branches, or one product
            terms = self.handout.chain_sum(f.wrt) if f.of == scalar.loss_symbol else None
            if terms is None and f.of == scalar.loss_symbol and len(chain := scalar.chain(f.wrt) or []) > 1:
                terms = [chain]
            if terms is not None:
                formula = pack_tokens(sum_of_products(terms, names))
                middle = pack_tokens(sum_of_products(terms, self.numeric, mul_symbol="dot"))
                rows.append(equation_rows(lhs, [formula, middle, [number(f.value)]]))
            else:
                rows.append(self._value_row(lhs, named(f.of, f.wrt, f.expr), f.value))
        if len(q.factors) > 1:
            product = r" \cdot ".join(self._factor_text(f) for f in q.factors)
            rows.append(rf"{partial(loss, target)} &= {product} = {number(q.value)}")
        if q.updated is not None:
            step = rf"{self.shown[q.of]} - {given(self.exercises.rate)} \cdot {negate_tex(number(q.value))}"
            rows.append(rf"{{{target}}}^{{+}} &= {target} - \alpha {partial(loss, target)} = {step} = {number(q.updated)}")
        return rows

    def _tag(self, q: Question) -> str:
        """The element's name beside a question: the handout's and ``symprop verify``'s, whose
        indices count from 1 as the subscripts do (``W2_11`` for ``w^{(2)}_{11}``; a NumPy index
        ``W2[0,0]`` beside the subscript 11 invited off-by-one answers), said at its first use."""
        first = next(p for p in self.exercises.questions if p.kind not in ("matrix", "local"))
        return code(str(q.of)) + (f", the handout's name: {naming.ONE_BASED}" if q is first else "")

    def _factor_text(self, factor) -> str:
        """A factor's value in a product: a given number as given (``x_1 = 0.1``, ``1``), else to 8 decimals."""
        if factor.expr.is_number:
            return given(float(factor.expr))
        return self.numeric.get(factor.expr) or negate_tex(number(factor.value))

    def _value_row(self, lhs: str, expr: sp.Expr, value) -> str:
        """``lhs = formula = formula in numbers = value`` (the middle left out where it says nothing new)."""
        formula = wrap_expr(expr, self.names)
        parts = [formula]
        if not isinstance(expr, sp.Symbol) and not expr.is_number and not expr.has(sp.Piecewise):
            parts.append(wrap_expr(expr, self.numeric, mul_symbol="dot"))
        value_tex = self.shown[expr] if isinstance(expr, sp.Symbol) else number(value)
        if formula != [value_tex] and not expr.is_number:  # dz/db = 1, not 1 = 1.00000000
            parts.append([value_tex])
        return equation_rows(lhs, parts)


def _labelled(tex: str, label: str | None) -> str:
    """A blank (or its answer) with the question id the gradebook uses: ``[q3] dE/dw``."""
    return rf"\text{{[{text(label)}]}}\ {tex}" if label else tex


def packed(groups: list[list[str]], per_row: int = 4) -> list[Tex]:
    """Display rows: each group of more than one cell on its own row(s), ``per_row`` cells at
    most; groups of one cell (a scalar's value) run together up to ``per_row`` a row."""
    rows: list[list[str]] = []
    single = False  # whether the last row holds single cells
    for cells in groups:
        if len(cells) == 1 and single and len(rows[-1]) < per_row:
            rows[-1].append(cells[0])
            continue
        rows += [cells[i : i + per_row] for i in range(0, len(cells), per_row)]
        single = len(cells) == 1
    return [Tex(r",\qquad ".join(row)) for row in rows]


def exercises_sources(derivation: Derivation, chosen: Exercises | None = None) -> tuple[str, str]:
    """(the worksheet, the answer key) as LaTeX sources, for ``chosen`` (default: the worked example)."""
    context = ExerciseSheet(derivation, chosen).context()
    env = environment()
    return (
        env.get_template("exercises.tex.j2").render(**context),
        env.get_template("answers.tex.j2").render(**context),
    )


def write_exercises(derivation: Derivation, directory: str | Path, chosen: Exercises | None = None) -> tuple[Path, Path]:
    """Write the worksheet and the answer key (``exercise_file_names``) into ``directory``."""
    name = derivation.name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise SymPropError(f"network name {name!r} cannot be used as a file name; use letters, digits and '_'")
    sources = exercises_sources(derivation, chosen)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = tuple(directory / file for file in exercise_file_names(name))
    for path, source in zip(paths, sources):
        path.write_text(source, encoding="utf-8")
    return paths
