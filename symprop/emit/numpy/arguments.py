"""What the NumPy module says about its arguments, for ``module.NumpyModule``: the line that
checks T, the bodies of ``_inputs`` and ``_targets``, the unpacking of X and T into the nodes'
arrays, the batch size, the initialisers and their docstring, the docstring's layout of the
arrays and nodes, the sample batch and the worked example."""

from __future__ import annotations

import math
import pprint
import textwrap
from typing import TYPE_CHECKING

from ... import module_interface as interface

if TYPE_CHECKING:
    from ...ops import Node
    from ...spec import Network
    from .builder import ModuleBuilder

#: Width of wrapped docstring text in generated modules.
DOC_WIDTH = 100


class Arguments:
    """The module's text about its arguments (X, T, params), for one builder's graph."""

    def __init__(self, builder: ModuleBuilder, network: Network):
        self.builder = builder
        self.graph = builder.graph
        self.network = network
        self.output = builder.graph.output

    def targets_line(self, output: str) -> str:
        """``loss_and_grad``'s line checking T.  With ``check=False`` a target that may be given
        as class indices still goes through ``_targets`` when it is one (T.ndim == 1, one
        comparison): unconverted, (batch,) indices would broadcast against (batch, classes)
        outputs, silently, when the two sizes are equal."""
        leaves = self.graph.leaves("target")
        if len(leaves) == 1 and leaves[0].name in self.class_targets():
            return f"T = _targets(T, {output}) if check or T.ndim == {len(leaves[0].shape)} else T"
        return f"T = _targets(T, {output}) if check else T"

    def class_targets(self) -> dict[str, int]:
        """Targets of cross-entropy along their last axis -> their number of classes: they may be
        given as class indices, of their shape without that axis (a vector's (batch,), a sequence's
        (batch, steps)); sample_batch draws them one-hot."""
        shapes = {name: self.graph.nodes[name].shape for name in interface.one_hot_axes(self.graph)}
        return {
            name: shapes[name][-1]
            for name, axis in interface.one_hot_axes(self.graph).items()
            if axis % len(shapes[name]) == len(shapes[name]) - 1
        }

    def index_shape(self, classes: dict[str, int]) -> tuple[int, ...] | None:
        """The per-sample shape of the class indices the first of ``classes`` may be given as
        (``()`` for a vector), for the module's docstring; None without such a target."""
        return self.graph.nodes[next(iter(classes))].shape[:-1] if classes else None

    def simplex_targets(self) -> dict[str, int]:
        """Targets of a softmax cross-entropy whose gradient is fused into y - t, with the softmax's
        axis: their rows along it must sum to one, which ``_targets`` checks
        (``module_interface.SIMPLEX_SOURCE``)."""
        return interface.simplex_targets(self.builder.d)

    def checks(self, role: str, letter: str, like: str | None, classes: dict[str, int]) -> list[str]:
        """The body of ``_inputs`` (X) or ``_targets`` (T): one array, or a dict with the leaves' names as keys."""
        leaves = self.graph.leaves(role)
        simplex = self.simplex_targets() if role == "target" else {}

        def checked(label: str, array: str, node, like: str | None) -> str:
            call = interface.checked_call(label, array, node.shape, like, classes.get(node.name), _values(node))
            return interface.simplex_call(label, call, simplex[node.name]) if node.name in simplex else call

        if not leaves:
            return [f"return {letter}"]
        if len(leaves) == 1:
            (node,) = leaves
            return [f"return {checked(letter, letter, node, like)}"]
        keys = ", ".join(f'"{n.name}"' for n in leaves)  # identifiers: safe in quotes
        sorted_keys = sorted(n.name for n in leaves)  # as the message prints the keys given
        lines = [
            f"if not isinstance({letter}, dict) or set({letter}) != {{{keys}}}:",
            f'    got = f"keys {{sorted(map(str, {letter}))}}" if isinstance({letter}, dict) else type({letter}).__name__',
            f'    raise ValueError(f"{letter}: expected a dict of arrays with the keys {sorted_keys}, got {{got}}")',
        ]
        checked_arrays = []
        for n in leaves:
            label = f'{letter}["{n.name}"]'
            if like is None:  # the first input sets the batch the others must have
                lines.append(f"first = {interface.checked_call(label, label, n.shape, values=_values(n))}")
                like = "first"
                checked_arrays.append((n.name, "first"))
            else:
                checked_arrays.append((n.name, checked(label, label, n, like)))
        return [*lines, "return {", *(f'    "{name}": {code},' for name, code in checked_arrays), "}"]

    def usual(self) -> list[str]:
        """The body of ``_usual_arguments(params, X, T)``: whether ``_inputs``, ``_checked_params``
        and ``_targets`` would pass the arguments as they are, in one expression of the comparisons
        their usual case makes (arrays of the spec's shapes and dtypes, of one batch, parameters of
        their shapes, cross-entropy targets whose rows sum to exactly 1), so that ``loss_and_grad``
        calls none of them: one Python function call instead of four to nine (and _ones twice for the
        row sums of a one-hot T, one product).  Anything else (lists, class indices, probabilities, a
        wrong shape) is False, and the checks decide, with their messages.  Empty without inputs."""
        inputs, targets = self.graph.leaves("input"), self.graph.leaves("target")
        if not inputs:
            return []
        simplex = self.simplex_targets()
        unpacked, tests = [], []

        def arrays(letter: str, leaves: list) -> list[tuple[str, Node]]:
            """(the name each leaf's array has in the function, the leaf)."""
            if len(leaves) < 2:
                return [(letter, leaf) for leaf in leaves]
            named = [(f"{letter}_{leaf.name}", leaf) for leaf in leaves]  # no other name there begins with X_ or T_
            keys = [f'{letter}["{leaf.name}"]' for leaf in leaves]
            unpacked.append(f"{', '.join(a for a, _ in named)} = {', '.join(keys)}")
            tests.extend([f"type({letter}) is dict", f"len({letter}) == {len(leaves)}"])
            return named

        batched = [*arrays("X", inputs), *arrays("T", targets)]
        tests.append("n > 0")  # the first input's batch, which every array must have
        for array, leaf in batched:
            values = _values(leaf)
            kind = {None: '== "f"', "bool": '== "b"'}.get(values, 'in "iu"')
            shape = "(" + ", ".join(["n", *map(str, leaf.shape)]) + ("," if not leaf.shape else "") + ")"
            tests += [f"type({array}) is np.ndarray", f"{array}.dtype.kind {kind}", f"{array}.shape == {shape}"]
            if isinstance(values, int):
                tests.append(f"not _outside({array}, {values})")
        tests += [f'params["{p.name}"].shape == {tuple(p.shape)!r}' for p in self.graph.params()]
        for array, leaf in batched:
            if leaf.name not in simplex:
                continue
            axis = simplex[leaf.name]  # last: the one product (as _on_simplex's first comparison)
            if len(leaf.shape) == 1:  # (batch, classes): the product itself, without _sums_along's call
                sums = f"{array}.dot(_ones({leaf.shape[0]}, {array}.dtype))"
            else:
                sums = f"_sums_along({array})" if axis == -1 else f"_sums_along({array}, {axis})"
            rows = math.prod(leaf.shape) // leaf.shape[axis]  # a sample's
            count = "n" if rows == 1 else f"n * {rows}"
            tests.append(f"{sums}.tobytes() == _ones({count}, {array}.dtype).tobytes()")
        return [
            "try:",
            *(f"    {line}" for line in unpacked),
            f"    n = {batched[0][0]}.shape[0]",
            "    return (",
            *(f"        {'and ' if k else ''}{test}" for k, test in enumerate(tests)),
            "    )",
            "except (KeyError, IndexError, AttributeError, TypeError, ValueError):  # the checks say what is wrong",
            "    return False",
        ]

    def inits(self) -> list[tuple[str, str, tuple[int, ...], dict]]:
        """(name, initialiser, shape, its arguments) of every parameter, in init_params' order:
        matrices first, then vectors, then scalars (the order random numbers are drawn in)."""
        inits = self.network.param_inits
        params = sorted(self.graph.params(), key=lambda p: (len(p.shape) < 2, len(p.shape) < 1))
        return [(p.name, inits[p.name].kind, p.shape, inits[p.name].args) for p in params]

    def batch_size(self) -> str:
        targets = self.graph.leaves("target")
        if len(targets) == 1:
            return "T.shape[0]"
        if targets:
            return f'T["{targets[0].name}"].shape[0]'
        self.builder.cached.add(self.output)
        return f"{self.builder.array(self.output)}.shape[0]"

    def unpack_inputs(self, names: set[str]) -> list[str]:
        return self._unpack("input", "X", names)

    def unpack_targets(self, names: set[str]) -> list[str]:
        return self._unpack("target", "T", names)

    def _unpack(self, role: str, letter: str, names: set[str]) -> list[str]:
        leaves, array = self.graph.leaves(role), self.builder.array
        if len(leaves) == 1:
            return [f"{array(n.name)} = {letter}" for n in leaves if n.name in names and array(n.name) != letter]
        return [f'{array(n.name)} = {letter}["{n.name}"]' for n in leaves if n.name in names]

    def layout(self) -> str:
        graph, network = self.graph, self.network

        def arrays(role: str, letter: str, what: str) -> str:
            leaves = graph.leaves(role)
            if not leaves:
                return f"{letter}: none (pass None)."
            if len(leaves) == 1:
                return f"{letter}: the {what} {leaves[0].name}, an array of shape {interface.batch_shape(leaves[0].shape)}."
            shapes = ", ".join(f'"{n.name}" {interface.batch_shape(n.shape)}' for n in leaves)
            return f"{letter}: a dict of arrays keyed by {what} name: {shapes}."

        output = graph.nodes[self.output]
        text = [
            arrays("input", "X", "input"),
            arrays("target", "T", "target"),
            f"forward() returns {self.output}, of shape {interface.batch_shape(output.shape)}.",
            "Expressions are per sample (an input is a column vector); on a batch, W @ x becomes X @ W.T.",
            "Parameters, and values computed from parameters alone, have no batch axis.",
        ]
        coupled = [n.name for n in graph.nodes.values() if n.op.batch_coupled]
        if coupled:
            text.append(
                f"{', '.join(coupled)} {'normalises' if len(coupled) == 1 else 'normalise'} over the batch (batch_norm, "
                "training-mode statistics, no running averages): each sample's loss depends on the other samples "
                "of its batch, and a batch needs at least 2 samples."
            )
        lines = []
        for paragraph in text:
            lines += textwrap.wrap(paragraph, DOC_WIDTH, break_long_words=False)
        lines += ["", "Nodes, per sample:"]
        for name, expression in [*network.nodes.items(), (graph.loss, network.loss_text)]:
            if name in network.nodes and name == graph.loss:
                continue
            lines += textwrap.wrap(
                f"{name} = {expression}", DOC_WIDTH, initial_indent="    ", subsequent_indent="        ", break_long_words=False
            )
        if graph.loss in network.nodes:
            lines.append(f"    E = {graph.loss} (the loss)")
        return "\n".join(lines)

    def sample_batch(self) -> list[str]:
        # Targets of cross-entropy: one-hot along the softmax's axis, the last by default (each row
        # sums to one, as the fused gradient y - t of a softmax along that axis requires).
        one_hot = interface.one_hot_axes(self.graph)

        def draw(node: Node) -> str:
            shape = interface.batch_shape(node.shape)
            if node.op.dtype_name == "int":
                return f"rng.integers(0, {node.op.classes}, size={shape})"
            if node.op.dtype_name == "bool":
                return f"rng.random({shape}) < 0.5"
            if node.op.role == "input":
                return f"rng.standard_normal({shape}).astype(dtype)"
            if node.name in one_hot:
                axis = one_hot[node.name]
                size = node.shape[axis]
                others = node.shape[:axis] + node.shape[axis + 1 :] if axis != -1 else node.shape[:-1]
                rows = interface.batch_shape(others) if others else "batch"
                drawn = f"np.eye({size}, dtype=dtype)[rng.integers(0, {size}, size={rows})]"
                return drawn if axis == -1 else f"np.moveaxis({drawn}, -1, {axis})"
            return f"rng.uniform(0.05, 0.95, size={shape}).astype(dtype)"

        return interface.sample_batch_lines(self.graph, "rng = np.random.default_rng(seed)", draw)

    def example(self) -> dict | None:
        example = self.network.example
        if example is None:
            return None

        def batch_of_one(values: dict) -> str:
            return interface.batch_of_one(
                values,
                lambda value: _array_code([_floats(value)]),
                lambda codes: "{\n" + "".join(f'        "{n}": {c},\n' for n, c in codes.items()) + "    }",
            )

        return {
            "X": batch_of_one(example.inputs),
            "T": batch_of_one(example.targets),
            "params": [(name, _array_code(_floats(value))) for name, value in example.params.items()],
            "learning_rate": interface.example_rate(example),
        }


def init_doc(inits) -> str:
    """init_params' docstring: which parameters get which initialiser."""
    groups: dict[str, list[str]] = {}
    for name, kind, _, args in inits:
        spelled = interface.INIT_DOC[kind]
        for key, value in args.items():
            spelled = spelled.replace(key, repr(float(value)))
        groups.setdefault(spelled, []).append(name)
    text = "How each parameter is drawn: " + "; ".join(f"{', '.join(n)} {k}" for k, n in groups.items())
    return "\n    ".join(textwrap.wrap(text + ".", DOC_WIDTH - 8, break_long_words=False))


def _values(leaf: Node) -> int | str | None:
    """What ``_checked`` checks of a discrete input: its range, or "bool" for a mask."""
    if leaf.op.dtype_name == "int":
        return leaf.op.classes
    return "bool" if leaf.op.dtype_name == "bool" else None


def _floats(value):
    return [_floats(v) for v in value] if isinstance(value, list) else float(value)


def _array_code(value) -> str:
    """``np.array(...)`` of a nested list, for the EXAMPLE dict (indented by 8): a long matrix
    one row per line, anything else wrapped at 100 columns."""
    if len(repr(value)) > 90 and isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        rows = "".join(f"\n            {pprint.pformat(row, width=100, compact=True)}," for row in value)
        return f"np.array([{rows}\n        ])"
    text = pprint.pformat(value, width=100, compact=True)
    return "np.array(" + text.replace("\n", "\n" + " " * 8) + ")"
