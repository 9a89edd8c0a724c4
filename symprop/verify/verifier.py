"""The verifier: a claimed dE/dW against the Derivation, for one element or a whole parameter.

Matrix claims (``--wrt W2`` with an array formula) are checked element by element, and *for
every size*: at the spec's sizes and at two more size configurations in which all adjacent
widths differ (so a transposed matrix or a sum over the wrong index cannot pass by symmetry,
and shape mistakes show up).  The claim is rewritten once (``reading``) and read at each
size, so it must be written with whole nodes (``a2``, ``W2.T``), not with elements.  Graph
specs without a layer stack are checked at their own sizes unless their network offers
``size_variants()``.

The verifier relies only on ``derivation.graph``, ``derivation.scalar``, ``derivation.steps``
and ``derivation.network`` (for the example point and size variants), so graph specs work too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path

import sympy as sp

from .. import naming
from ..errors import SymPropError, did_you_mean
from ..formula import FormulaError
from ..ops import unflat_index
from . import tensor_diagnose
from .claim_values import ShapeError, describe_shape, is_array
from .claims import ClaimFactor, ClaimNames
from .claims_latex import translate
from .claims_text import Names, normalize
from .decide import DIGITS, Setting, Undecidable, decimal_text, number_at, show
from .diagnose import PER_SAMPLE, TRANSPOSED, diagnose, is_ratio_note, is_transpose, matrix_notes
from .familiar import expected_text, factor_text, in_spec_names
from .reading import ONE_CLAIM, Rewritten, as_typed, read_claim_at, rewrite_claim, short
from .result import VerifyResult
from .sizes import size_variants, sizes_label
from .tensor_claims import uses_tensor_notation
from .tensor_decide import ClaimShapeError, TensorCheck
from .writing import array_formula, elementwise_text, matrix_text
from .wrt_words import choose, layer_letter, missing_bias, no_gradient, wrt_hint

# -- the verifier ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Wrt:
    node: str
    index: tuple[int, ...] | None  # None: the whole node
    name: str  # how results name it: W2_11 or W2

    @property
    def whole(self) -> bool:
        return self.index is None


#: A counterexample of more values than this shows only those the claim and the answer read.
SHOWN_POINT = 12

_WRT = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*((?:\[\s*\d+\s*(?:,\s*\d+\s*)*\])*)\s*$")


class Verifier:
    """Checks claims about one network; reuses its derivation and sample points across claims."""

    def __init__(self, network, seed: int = 0):
        from ..derivation import Derivation, derive
        from ..loading import load

        if isinstance(network, (str, Path)):
            network = load(network)
        self.derivation = network if isinstance(network, Derivation) else derive(network)
        self.seed = seed

    # -- settings (sizes) -------------------------------------------------------------------

    def refuse_coupled(self) -> None:
        """Claims are about one sample's gradient, which batch statistics leave undefined."""
        coupled = self.derivation.coupled_nodes
        if coupled:
            raise SymPropError(
                f"{self.derivation.name}: node {coupled[0]}: batch_norm normalises over the batch, so one sample's "
                "gradient, which claims are about, depends on the rest of its batch; claims cannot be checked"
            )

    @cached_property
    def base(self) -> Setting:
        self.refuse_coupled()
        if not self.derivation.has_scalar:
            raise SymPropError(
                f"{self.derivation.name}: {self.derivation.scalar_refusal}, too large for claims about one weight "
                "written out; a claim about a whole parameter (--wrt W1) is checked on smaller sizes"
            )
        return Setting(self.derivation, self.seed, sizes_label(self.derivation), example=True)

    @cached_property
    def matrix_settings(self) -> list[Setting]:
        from ..derivation import derive

        self.refuse_coupled()
        settings = [self.base] if self.derivation.has_scalar else []
        for k, network in enumerate(size_variants(self.derivation.network), start=1):
            derivation = derive(network)
            if derivation.has_scalar:
                settings.append(Setting(derivation, self.seed + k, sizes_label(derivation), example=False))
        if not settings:
            raise SymPropError(f"{self.derivation.name}: no size small enough to check a matrix claim on")
        return settings

    # -- parsing ----------------------------------------------------------------------------

    def parse_wrt(self, text: str) -> _Wrt:
        """``W2[0,0]`` (0-based), ``W2_11`` / ``w2_11`` (1-based element), ``W2`` (whole), LaTeX names."""
        if not isinstance(text, str) or not text.strip():
            raise SymPropError("--wrt: give the parameter or element, e.g. W2[0,0], W2_11 or W2")
        graph = self.derivation.graph
        names = self._names_for_wrt()
        raw = text.strip()
        if "\\" in raw or "{" in raw or "^" in raw:
            try:
                raw = translate(raw, names)
            except FormulaError as exc:
                raise SymPropError(f"--wrt {text!r}: {exc}") from None
        match = _WRT.match(raw)
        if not match:
            raise SymPropError(f"--wrt {text!r}: expected a name like W2, W2_11 or W2[0,0]")
        name, brackets = match.group(1), match.group(2)
        if brackets:
            index = tuple(int(i) for i in re.findall(r"\d+", brackets))
            entry = names.arrays.get(name)
            if entry is None or entry.node not in graph.nodes:
                close = did_you_mean(name, self.derivation.param_names)
                raise SymPropError(f"--wrt {text!r}: unknown node {name!r}{close}; {wrt_hint(self.derivation)}")
            if len(index) != len(entry.shape) or any(not 0 <= i < n for i, n in zip(index, entry.shape)):
                raise SymPropError(f"--wrt {text!r}: {entry.node} has shape {list(entry.shape)} (indices in [] are 0-based)")
            return self._checked(_Wrt(entry.node, index, naming.element_name(entry.node, index)))
        if name in names.arrays and names.arrays[name].node in graph.nodes and name not in _delta_names(names):
            node = names.arrays[name].node
            return self._checked(_Wrt(node, None, node))
        symbol = names.scalars.get(name)
        if isinstance(symbol, sp.Symbol):
            for node_name, symbols in self.derivation.scalar.symbols.items():
                if symbol in symbols:
                    shape = graph.nodes[node_name].shape
                    index = unflat_index(symbols.index(symbol), shape)
                    return self._checked(_Wrt(node_name, index if shape else None, str(symbol)))
        missing = missing_bias(self.derivation, name) or layer_letter(self.derivation, name)
        if missing:
            raise SymPropError(f"--wrt {text!r}: {missing}; {wrt_hint(self.derivation)}")
        close = did_you_mean(name, self.base.names.scalars) if self.derivation.has_scalar else ""
        raise SymPropError(f"--wrt {text!r}: unknown name{close}; {wrt_hint(self.derivation)}")

    def _names_for_wrt(self) -> ClaimNames:
        if self.derivation.has_scalar:
            return self.base.names
        return _ShapeOnlyNames(self.derivation)

    def _checked(self, wrt: _Wrt) -> _Wrt:
        graph = self.derivation.graph
        role = graph.nodes[wrt.node].op.role
        # a float input, in a graph that shows dE/dx; never an index or a mask (no gradient flows into them)
        inputs_too = getattr(graph, "input_adjoints", False) and role == "input" and graph.dtypes[wrt.node] == "float"
        if wrt.node == graph.loss or (wrt.node not in graph.needs_grad and not inputs_too):
            raise SymPropError(f"--wrt {wrt.name}: {no_gradient(graph, wrt.node)}; {choose(self.derivation)}")
        return wrt

    # -- checking ---------------------------------------------------------------------------

    def check(self, wrt: str, claim: str | None = None, *, claim_latex: str | None = None) -> VerifyResult:
        self.refuse_coupled()  # claims are per sample; batch_norm makes a sample's gradient depend on its batch
        rewritten = rewrite_claim(claim, claim_latex, self.base.names) if self.derivation.has_scalar else None
        if self._numeric(wrt, claim if rewritten is None or not isinstance(claim, str) else rewritten.text, claim_latex):
            result = self._check_tensor(wrt, claim, claim_latex)  # rewritten with the numeric reader's names
        else:
            target = self.parse_wrt(wrt)
            if target.whole and self.derivation.graph.nodes[target.node].shape:
                first = self.matrix_settings[0]  # the spec's sizes, or a smaller one's on a large layer stack
                result = self._check_matrix(target, rewritten or rewrite_claim(claim, claim_latex, first.names))
            else:
                result = self._check_scalar(target, rewritten or rewrite_claim(claim, claim_latex, self.base.names))
        if result.verdict == "wrong":
            result.diagnosis += self._output_alias_note(result.understood)
        result.diagnosis = list(dict.fromkeys(result.diagnosis))  # each finding once
        return result

    def _output_alias_note(self, text: str) -> list[str]:
        """Some books write y for the target; here y is the output's alias: say so on a wrong claim."""
        names = self.base.names if self.derivation.has_scalar else None
        output = names.aliases.get("y") if names is not None else None
        if output is None or not re.search(r"(?<![\w.])y(_\d+)?(?![\w(])", text or ""):
            return []
        target = next((n.name for n in self.derivation.graph.nodes.values() if n.op.role == "target"), "t")
        return [f"y is the output {output} here (y_1 = {output}_1); the target is {target}"]

    # -- claims decided with numbers (large networks, adjoints, index notation) --------------

    @cached_property
    def tensor(self) -> TensorCheck:
        return TensorCheck(self.derivation)

    def _numeric(self, wrt: str, claim, claim_latex) -> bool:
        """Whether a claim is decided with numbers (``tensor_decide``): on a network too large
        for the per-weight view, unless it is a whole-matrix claim about a layer stack (checked
        exactly on small sizes); and for claims only the tensor reader understands (adjoints
        ``dq``, index notation, ``--wrt "Wq[i,j]"``), whatever the size.  ``claim``: as the
        exact reader will read it (None if it cannot), or as given on a large network."""
        if isinstance(wrt, str) and re.search(r"\[[^\]]*[A-Za-z]", wrt):
            return True
        if isinstance(claim, str) and claim_latex is None and uses_tensor_notation(claim, self.tensor.names):
            return True
        if self.derivation.has_scalar:
            return False
        found = self.tensor.names.resolve(wrt.strip()) if isinstance(wrt, str) else None
        whole = found is not None and found.index is None  # W2, not the element W2_11
        return not (whole and size_variants(self.derivation.network))

    def _check_tensor(self, wrt_text: str, claim, claim_latex) -> VerifyResult:
        if claim_latex is not None:
            reason = self.derivation.scalar_refusal
            without = f", which this network has not ({reason})" if reason else ", about one weight"
            raise SymPropError(
                f"{self.derivation.name}: LaTeX claims are checked with the per-weight view{without}; "
                "give this one in plain form (--claim)"
            )
        if not isinstance(claim, str):
            raise SymPropError(ONE_CLAIM)
        check = self.tensor
        wrt = check.parse_wrt(wrt_text)
        typed = claim
        try:  # what students write (Unicode, W2^T, implicit products), as for a small network
            claim = normalize(claim, Names.of_tensor(check.names), tensor=True)
        except FormulaError as exc:
            raise SymPropError(f"claim {short(typed)}: {exc}") from None
        try:
            evaluation = check.evaluate(wrt, claim)
        except ClaimShapeError as exc:
            raise ClaimShapeError(as_typed(f"{exc}{tensor_diagnose.transpose_hint(check, wrt, claim)}", typed, claim)) from None
        except SymPropError as exc:
            raise SymPropError(as_typed(str(exc), typed, claim)) from None
        shapes = ", ".join(f"{n.name} {'x'.join(map(str, n.shape)) or 'scalar'}" for n in self.derivation.graph.params())
        result = VerifyResult(
            verdict="correct",
            wrt=wrt.name,
            claim=typed,
            understood=claim.strip(),
            expected=check.expected(wrt),
            method=check.method,
            sizes=[shapes],
            loss=self.derivation.graph.loss,
        )
        if evaluation.transposed_shape or not check.agrees(wrt, evaluation.values):
            result.verdict = "wrong"
            result.method = "shape" if evaluation.transposed_shape else result.method
            where = check.worst(wrt, evaluation.values)
            if where is not None:
                k, element = where
                point = check.points[k]
                result.point = {"seed": str(point.seed), "sample": str(point.sample), "element": check.element_name(wrt, element)}
                claimed, correct = evaluation.values[k][element], check.correct(wrt, point)[element]
                result.values = {"claim": f"{claimed + 0.0:.10g}", "correct": f"{correct + 0.0:.10g}"}
            result.diagnosis = tensor_diagnose.diagnose(check, wrt, evaluation)
        else:
            check.refuse_fine_numbers(evaluation)
        return result

    def _check_scalar(self, target: _Wrt, claim: Rewritten) -> VerifyResult:
        setting = self.base
        gradient = setting.scalar.node_gradient(target.node, target.index or ())
        given, claim_latex = claim.given, claim.latex
        try:
            value, reader = read_claim_at(setting, claim)
        except ShapeError as exc:
            return VerifyResult(
                loss=str(setting.scalar.loss_symbol),
                verdict="wrong",
                wrt=target.name,
                claim=given,
                understood=given,
                expected=expected_text(setting, gradient.factors),
                method="shape",
                diagnosis=[str(exc)],
                latex=claim_latex,
            )
        result = VerifyResult(
            loss=str(setting.scalar.loss_symbol),
            verdict="correct",
            wrt=target.name,
            claim=given,
            understood=claim.text,
            expected=expected_text(setting, gradient.factors),
            latex=claim_latex,
            chain=" * ".join(factor_text(setting, f.of, f.wrt) for f in gradient.factors),
        )
        if is_array(value):
            if value.shape != (1, 1):
                result.verdict = "wrong"
                result.method = "shape"
                result.diagnosis = [f"the claim is {describe_shape(value)}, but d{result.loss}/d{target.name} is a number"]
                return result
            value = value[0, 0]
        equal, method, where = _compare(setting, [(value, gradient.expr)], claim.given)
        result.method = method
        if not equal:
            k, _ = where
            result.verdict = "wrong"
            self._counterexample(result, setting, k, value, gradient.expr)
            element_notes, result.agreeing = diagnose(setting, reader.factors(), value, gradient)
            edits = self._edit_notes(target.name, claim.plain, element_notes)
            result.diagnosis += element_notes + edits + _sampling_note(setting)
        return result

    def _check_matrix(self, target: _Wrt, claim: Rewritten) -> VerifyResult:
        """A whole-matrix claim, read (as rewritten once) at every size of ``matrix_settings``."""
        given, claim_latex, text = claim.given, claim.latex, claim.text
        result = VerifyResult(
            verdict="correct",
            wrt=target.name,
            claim=given,
            understood="",
            expected="",
            latex=claim_latex,
            loss=str(self.derivation.graph.loss),
        )
        methods = []
        for number, setting in enumerate(self.matrix_settings):
            result.sizes.append(setting.label)
            expected = _expected_matrix(setting, target.node)
            if not result.expected:
                written = expected.applyfunc(partial(in_spec_names, setting))  # no E_a of the loss's parts
                result.expected = (
                    array_formula(setting.derivation, target.node)
                    or elementwise_text(written, setting.scalar.symbols)
                    or matrix_text(written)
                )
            earlier = "; ".join(result.sizes[:-1])
            holds = [f"the claim holds at sizes {earlier}, but not for every size"] if number else []
            try:
                value, reader = read_claim_at(setting, claim)
            except ShapeError as exc:
                if not number:  # no verdict where the shapes do not fit at all, as on the tensor path
                    hint = tensor_diagnose.plain_transpose_hint(self.tensor, target.name, claim.plain)
                    raise ClaimShapeError(as_typed(f"claim {short(claim.text)}: {exc}{hint}", claim.given, claim.text)) from None
                result.understood = result.understood or given
                result.verdict, result.method = "wrong", "shape"
                result.diagnosis = holds + [f"at sizes {setting.label}: {exc}"]
                return result
            result.understood = result.understood or text
            fitted = _fit_shape(value, expected)
            if fitted is None:
                result.verdict, result.method = "wrong", "shape"
                result.diagnosis = holds + [
                    f"at sizes {setting.label}: the claim is {describe_shape(value)}, "
                    f"but d{result.loss}/d{target.node} is {describe_shape(expected)}"
                ]
                if is_array(value) and value.shape == expected.shape[::-1] and is_transpose(setting, value, expected):
                    result.diagnosis.append(TRANSPOSED)  # x delta^T for delta x^T
                return result
            pairs = list(zip(list(fitted), list(expected)))
            equal, method, where = _compare(setting, pairs, given)
            methods.append(method)
            if not equal and not is_array(value) and len(expected) > 1:
                # a number is accepted where it equals every element (0 for a zero gradient);
                # wrong, it is the shape that is wrong, not one element (an element's formula?)
                result.verdict, result.method = "wrong", "shape"
                shape = describe_shape(expected)
                result.diagnosis = holds + [f"the claim is one number, but d{result.loss}/d{target.node} is {shape}"]
                if re.match(r"\s*sum\(", text):  # db = sum over the batch of dZ, as the module computes it
                    result.diagnosis.append(PER_SAMPLE)
                return result
            if not equal:
                k, flat = where
                result.verdict = "wrong"
                result.method = method
                index = divmod(flat, expected.shape[1])
                element_index = index if len(setting.graph.nodes[target.node].shape) == 2 else (index[0],)
                gradient = setting.scalar.node_gradient(target.node, element_index)
                label = f"element {list(element_index)} ({gradient.symbol})"
                result.diagnosis = holds + [f"at sizes {setting.label}, {label} differs"]
                self._counterexample(result, setting, k, pairs[flat][0], pairs[flat][1])
                result.values["claim"] += f" ({label})"
                factors = [ClaimFactor(f.text, _element(f.value, index)) for f in reader.factors()]
                if any(f.value is None for f in factors):
                    factors = [ClaimFactor(text, pairs[flat][0])]
                notes = matrix_notes(setting, fitted, expected, k)
                result.diagnosis += notes
                if TRANSPOSED not in notes:
                    element_notes, result.agreeing = diagnose(setting, factors, pairs[flat][0], gradient)
                    # the element's "-1 times the correct gradient" repeats the whole matrix's note
                    result.diagnosis += [n for n in element_notes if not (notes and is_ratio_note(n))]
                result.diagnosis += self._edit_notes(target.name, claim.plain, result.diagnosis)
                result.diagnosis += _sampling_note(setting)
                return result
        result.method = "; ".join(sorted(set(methods)))
        return result

    def _edit_notes(self, wrt: str, plain, notes: list[str]) -> list[str]:
        """The edit of a wrong claim that makes it right (one term's sign, a factor too many), unless
        the notes say already that the whole claim is a multiple of the gradient.  The edits are
        tried on the NumPy module's numbers, which a graph built by hand without an output lacks."""
        if any(map(is_ratio_note, notes)) or self.derivation.graph.output is None:
            return []
        return tensor_diagnose.plain_edit_notes(self.tensor, wrt, plain)

    def _counterexample(self, result: VerifyResult, setting: Setting, k: int, claim: sp.Expr, correct: sp.Expr):
        result.point = setting.describe_point(k)
        result.values = {"claim": show(setting.number(claim, k)), "correct": show(setting.number(correct, k))}
        if len(result.point) > SHOWN_POINT:
            result.read = _read_values(setting, k, claim, in_spec_names(setting, correct))


def _compare(setting: Setting, pairs, claim: str):
    """``setting.compare``, a claim it cannot decide refused by name (one line)."""
    try:
        return setting.compare(pairs)
    except Undecidable as exc:
        raise SymPropError(f"claim {short(claim)}: {exc}") from None


def _read_values(setting: Setting, k: int, *exprs) -> dict[str, str]:
    """The values at point ``k`` of what ``exprs`` read (forward values of nodes too), in the graph's order."""
    read = set().union(*(sp.sympify(e).free_symbols for e in exprs))
    point, values = setting.point(k), setting.values(k)
    shown = {}
    for symbols in setting.scalar.symbols.values():
        for symbol in symbols:
            if symbol in read and symbol in values:
                shown[str(symbol)] = decimal_text(point[symbol]) if symbol in point else show(number_at(symbol, values, DIGITS))
    return shown


def _sampling_note(setting: Setting) -> list[str]:
    """A note on the counterexample's targets, after the diagnosis (it says nothing of what is wrong)."""
    if not setting.simplex:
        return []
    return ["note: the cross-entropy's targets are sampled so that they sum to 1, as the spec requires"]


class _ShapeOnlyNames:
    """Whole-node names for --wrt when the network is too large for a per-weight view."""

    def __init__(self, derivation):
        from .claims import NodeName

        self.arrays = {}
        self.scalars = {}
        self.functions = {}
        for node in derivation.graph.nodes.values():
            self.arrays[node.name] = NodeName(node.name, node.shape, ())
            if node.op.role == "param" and node.name[:1].isupper():
                self.arrays.setdefault(node.name[0].lower() + node.name[1:], NodeName(node.name, node.shape, ()))

    def resolve(self, base, layer, indices):
        name = base + (layer or "")
        return name if indices is None and name in self.arrays else None


def _delta_names(names) -> set[str]:
    return {n for n, e in names.arrays.items() if n.startswith("delta") and e.node != n}


# -- expected values ----------------------------------------------------------------------------


def _expected_matrix(setting: Setting, node: str) -> sp.ImmutableMatrix:
    shape = setting.graph.nodes[node].shape
    rows, cols = (shape[0], 1) if len(shape) == 1 else shape
    elements = [setting.scalar.node_gradient(node, unflat_index(i, shape)).expr for i in range(rows * cols)]
    return sp.ImmutableMatrix(rows, cols, elements)


def _fit_shape(value, expected: sp.ImmutableMatrix):
    """The claim as the expected's shape: numbers broadcast; a row is accepted for a vector."""
    if not is_array(value):
        return sp.ImmutableMatrix(expected.shape[0], expected.shape[1], [value] * len(expected))
    if value.shape == expected.shape:
        return value
    if expected.shape[1] == 1 and value.shape == (1, expected.shape[0]):
        return sp.ImmutableMatrix(value.T)
    return None


def _element(value, index: tuple[int, int]):
    """One element of a factor for matrix element ``index`` (columns give row i, rows column j)."""
    if not is_array(value):
        return value
    i, j = index
    rows, cols = value.shape
    if (rows, cols) == (1, 1):
        return value[0, 0]
    if cols == 1:
        return value[i, 0] if i < rows else None
    if rows == 1:
        return value[0, j] if j < cols else None
    return value[i, j] if i < rows and j < cols else None


# -- the public function --------------------------------------------------------------------------


def verify(network, wrt: str, claim: str | None = None, *, claim_latex: str | None = None) -> VerifyResult:
    """Check a hand-derived dE/d``wrt``.

    ``network``: a spec path, a ``Network`` or a ``Derivation``.  ``wrt``: ``"W2[0,0]"``
    (0-based), ``"W2_11"`` (1-based element name), or ``"W2"`` for a whole-matrix claim.
    ``claim``: plain math (see ``symprop.claims``); or ``claim_latex``: LaTeX.
    To check many claims about one network, use ``Verifier(network).check(...)``.
    """
    return Verifier(network).check(wrt, claim, claim_latex=claim_latex)
