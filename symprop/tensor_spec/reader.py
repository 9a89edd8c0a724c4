"""The fields of a graph spec, checked one by one (``GraphReader``), and the parameters' initialisers."""

from __future__ import annotations

import math
import re
from typing import Any

from .. import naming, registry
from ..errors import did_you_mean
from ..ops import (
    DTYPES,
    Dense,
    Elementwise,
    Node,
    arg_symbol,
)
from ..spec import INITS, ParamInit, flatten
from ..spec_reader import MATH_FUNCTIONS, MAX_PARAMS, MAX_UNITS, FieldReader, kind_of, too_many_elements, too_many_params
from .calls import TENSOR_FUNCTIONS
from .lowering import Lowering
from .network import GraphExample, GraphNetwork

TOP_LEVEL_FIELDS = {"name", "inputs", "targets", "params", "nodes", "loss", "output", "constants", "functions", "example"}
#: Highest rank of an input, target (per sample) or parameter.
MAX_RANK = 6
#: Most steps of one repeated entry (``h{k}: {for: k in 1..1000}``).
MAX_REPEAT = 1000
#: Most names of inputs, targets, params and nodes together, repeats expanded (a few
#: hundred ``h{k}: {for: k in 1..1000}`` lines would otherwise declare millions).
MAX_NAMES = 5000
_REPEAT = re.compile(r"^\s*([A-Za-z]\w*)\s+in\s+(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
_ELEMENT_LIKE = re.compile(r"_\d+$")


def read_graph_spec(data: Any, source: str = "<python>") -> GraphNetwork:
    """Validate a graph spec given as plain data (parsed YAML or a dict built in Python)."""
    return GraphReader(source).network(data)


# -- the reader ----------------------------------------------------------------------------


class GraphReader(FieldReader):
    """Validates a graph spec; every check raises a ``SpecError`` naming the field (``nodes.r``)."""

    def network(self, data: Any) -> GraphNetwork:
        if not isinstance(data, dict):
            self.fail("spec", f"expected a mapping of fields ({', '.join(sorted(TOP_LEVEL_FIELDS))}), got {kind_of(data)}")
        unknown = sorted(set(map(str, data)) - TOP_LEVEL_FIELDS)
        hint = " (a graph spec has inputs and nodes, not input and layers)" if unknown[:1] in (["input"], ["layers"]) else ""
        self.known_fields(data, TOP_LEVEL_FIELDS, "", hint)
        for required in ("name", "inputs", "params", "nodes", "loss"):
            if required not in data:
                self.fail(required, "missing; a graph spec needs name, inputs, params, nodes and loss")
        name = self.module_name(data["name"], "name")
        constants = self.constants(data.get("constants") or {})
        functions = self.functions(data.get("functions") or {}, constants)
        self.declared: dict[str, str] = {}  # every name -> the field that declares it
        self.names_left = MAX_NAMES
        for key in constants:
            self.declared[key] = f"constants.{key}"
        for key in functions:
            self.declared[key] = f"functions.{key}"
        self.kinds: dict[str, tuple[str, int | None]] = {}
        self.steps: dict[str, int] = {}  # name -> its step k, for the names of repeated entries
        self.repeats: list[tuple[str, str, int, str]] = []  # (key, variable, first k, field) of each
        self.step_variables: dict[str, str] = {}  # field of a repeated entry -> its variable (nodes.h3 -> k)
        inputs = self.leaves(data["inputs"], "inputs", required=True, discrete=True)
        targets = self.leaves(data.get("targets") or {}, "targets")
        params, inits = self.param_leaves(data["params"])
        texts = self.node_texts(data["nodes"])
        if not isinstance(data["loss"], str):
            self.fail("loss", f"expected the loss as an expression, e.g. half_sse(y, t); got {kind_of(data['loss'])}")
        self.check_array_names(inputs, targets, params, texts)
        builder = Lowering(self, inputs, targets, params, constants, functions, texts, self.kinds)
        graph_nodes, loss_node, shown, loss_text = builder.build(data["loss"])
        output = self.output(data.get("output"), builder, texts)
        fields = dict(
            name=name,
            inputs=inputs,
            targets=targets,
            params=params,
            nodes=shown,
            loss_text=loss_text,
            output=output,
            steps=self.steps,
            constants=constants,
            functions=functions,
            function_forms=self.function_forms,
            source=self.source,
            graph_nodes=graph_nodes,
            loss_node=loss_node,
            array_names=self.array_names,
            param_inits=_param_inits(params, inits, graph_nodes),
            parts=builder.parts,
        )
        network = GraphNetwork(**fields)
        if data.get("example") is not None:
            network = GraphNetwork(**fields, example=self.graph_example(data["example"], network))
        return network

    # -- declarations ----------------------------------------------------------------------

    def repeated(self, data: dict, section: str) -> list[tuple[str, str, Any]]:
        """(name, field, value) of a section, with ``name{k}: {for: k in a..b, value: v}`` expanded."""
        items = []
        for key, value in data.items():
            where = f"{section}.{key}"
            if isinstance(key, str) and "{" in key:
                if not isinstance(value, dict) or set(value) != {"for", "value"}:
                    self.fail(where, "a name with {k} repeats: expected {for: k in 1..5, value: ...}")
                match = _REPEAT.match(str(value["for"]))
                if not match:
                    self.fail(f"{where}.for", f"expected 'k in FIRST..LAST' (whole numbers), got {value['for']!r}")
                variable, first, last = match.group(1), int(match.group(2)), int(match.group(3))
                if last < first or last - first >= MAX_REPEAT:
                    self.fail(f"{where}.for", f"expected FIRST <= LAST and at most {MAX_REPEAT} steps, got {first}..{last}")
                self.count_names(last - first + 1, where)
                for k in range(first, last + 1):
                    name = self.substitute(key, variable, k, where)
                    body = value["value"]
                    if isinstance(body, str):
                        body = self.substitute(body, variable, k, f"{where}.value")
                    items.append((name, f"{section}.{name}", body))
                    self.steps[name] = k
                    self.step_variables[f"{section}.{name}"] = variable
                if section == "nodes":
                    self.repeats.append((key, variable, first, where))
            else:
                self.count_names(1, where)
                items.append((key, where, value))
        return items

    def count_names(self, count: int, where: str):
        self.names_left -= count
        if self.names_left < 0:
            self.fail(where, f"more than {MAX_NAMES} names in inputs, targets, params and nodes together")

    def substitute(self, text: str, variable: str, k: int, where: str) -> str:
        def replace(match: re.Match) -> str:
            name, sign, amount = match.group(1), match.group(2), match.group(3)
            if name != variable:
                self.fail(where, f"{match.group(0)} uses {name!r}; only {{{variable}}} and {{{variable}+-n}} are replaced")
            offset = int(amount) if amount else 0
            return str(k + offset if sign != "-" else k - offset)

        result = re.sub(r"\{\s*([A-Za-z]\w*)\s*(?:([+-])\s*(\d+))?\s*\}", replace, text)
        if "{" in result or "}" in result:
            self.fail(where, "only {k}, {k+n} and {k-n} may stand in braces")
        return result

    def declare(self, name: Any, where: str) -> str:
        name = self.identifier(name, where)
        if name == "E":
            self.fail(where, "'E' names the loss; choose another name")
        if name in self.declared:
            self.fail(where, f"{name!r} is already declared at {self.declared[name]}")
        if name in registry.ACTIVATIONS or name in MATH_FUNCTIONS or name in registry.LOSSES or name in TENSOR_FUNCTIONS:
            self.fail(where, f"{name!r} is a function of the expression language; choose another name")
        if _ELEMENT_LIKE.search(name):
            self.fail(where, f"{name!r} ends in _<digits>, which names elements (x_1 is element 1 of x); choose another name")
        self.declared[name] = where
        return name

    def leaves(self, data: Any, section: str, required: bool = False, discrete: bool = False) -> dict:
        """name -> shape of ``inputs`` or ``targets``; an input may be discrete
        (``ids: {shape: [6], dtype: int, range: 50}``, ``mask: {shape: [8], dtype: bool}``)."""
        if not isinstance(data, dict):
            self.fail(section, f"expected a mapping of name: size or shape, got {kind_of(data)}")
        if required and not data:
            self.fail(section, "expected at least one entry")
        shapes = {}
        for name, where, value in self.repeated(data, section):
            name = self.declare(name, where)
            if isinstance(value, dict) and discrete:
                shapes[name] = self.discrete_leaf(name, value, where)
            else:
                shapes[name] = self.shape(value, where)
            if math.prod(shapes[name]) > MAX_UNITS:  # [1000, 1000, 1000]: 8 GB a sample, minutes of deriving
                self.fail(where, too_many_elements(name, shapes[name]))
        return shapes

    def discrete_leaf(self, name: str, value: dict, where: str) -> tuple[int, ...]:
        """``{shape: [...], dtype: float | int | bool, range: n}`` (range: int inputs only, required)."""
        self.known_fields(value, {"shape", "dtype", "range"}, f"{where}.")
        if "shape" not in value:
            self.fail(where, "expected {shape: [...], dtype: int, range: n}; the shape is missing")
        shape = self.shape(value["shape"], f"{where}.shape")
        dtype = value.get("dtype", "float")
        if dtype not in DTYPES:
            self.fail(f"{where}.dtype", f"expected one of {', '.join(DTYPES)}, got {dtype!r}{did_you_mean(dtype, DTYPES)}")
        classes = None
        if dtype == "int":
            if "range" not in value:
                self.fail(where, "an int input needs its range: the number of values it takes (range: 50 for ids 0..49)")
            classes = self.positive_int(value["range"], f"{where}.range")
        elif "range" in value:
            self.fail(f"{where}.range", f"only an int input has a range (this one is {dtype})")
        if dtype != "float":
            self.kinds[name] = (dtype, classes)
        return shape

    def param_leaves(self, data: Any) -> tuple[dict[str, tuple[int, ...]], dict[str, ParamInit]]:
        """``params``: name -> shape, and the initialisers given (``W: {shape: [8, 4], init: normal}``;
        the short form ``W: [8, 4]`` takes the default, see ``_default_init``)."""
        if not isinstance(data, dict):
            self.fail("params", f"expected a mapping of name: shape or {{shape: ..., init: ...}}, got {kind_of(data)}")
        if not data:
            self.fail("params", "expected at least one entry")
        shapes, inits, total = {}, {}, 0
        for name, where, value in self.repeated(data, "params"):
            name = self.declare(name, where)
            if isinstance(value, dict):
                shapes[name], init = self.param_entry(value, where)
                if init is not None:
                    inits[name] = init
            else:
                shapes[name] = self.shape(value, where)
            total += math.prod(shapes[name])
            if total > MAX_PARAMS:
                self.fail(where, too_many_params(total))
        return shapes, inits

    def param_entry(self, value: dict, where: str) -> tuple[tuple[int, ...], ParamInit | None]:
        """One ``{shape: ..., init: ..., <its arguments>}`` entry of ``params``."""
        if "shape" not in value:
            self.fail(where, "expected {shape: [rows, columns], init: ...}; the shape is missing")
        kind = value.get("init")
        if kind is not None and kind not in INITS:
            self.fail(f"{where}.init", f"expected one of {', '.join(INITS)}, got {kind!r}")
        allowed = {"shape", "init", *INITS.get(kind, {})}
        unknown = sorted(map(str, set(value) - allowed))
        if unknown:
            takes = ", ".join(INITS.get(kind, {})) or "no arguments"
            what = f"init {kind} takes {takes}" if kind else "an argument needs an init"
            self.fail(f"{where}.{unknown[0]}", f"unknown field ({what}); expected shape, init and its arguments")
        shape = self.shape(value["shape"], f"{where}.shape")
        if kind is None:
            return shape, None
        args = {key: float(self.number(value.get(key, default), f"{where}.{key}")) for key, default in INITS[kind].items()}
        if kind == "normal" and args["std"] <= 0:
            self.fail(f"{where}.std", f"expected a positive standard deviation, got {args['std']!r}")
        if kind == "uniform" and not args["low"] < args["high"]:
            self.fail(f"{where}.high", f"expected low < high, got low {args['low']!r}, high {args['high']!r}")
        return shape, ParamInit(kind, args)

    def shape(self, value: Any, where: str) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            return (self.positive_int(value, where),)
        if not isinstance(value, list):
            self.fail(where, f"expected a size (4) or a shape list ([8, 4], [] for a scalar), got {kind_of(value)}")
        if len(value) > MAX_RANK:
            self.fail(where, f"expected at most {MAX_RANK} dimensions, got {len(value)}")
        return tuple(self.positive_int(n, f"{where}[{i}]") for i, n in enumerate(value))

    def node_texts(self, data: Any) -> dict[str, tuple[str, str]]:
        """name -> (field, expression text), in the spec's order."""
        if not isinstance(data, dict) or not data:
            self.fail("nodes", f"expected a non-empty mapping of name: expression, got {kind_of(data)}")
        texts = {}
        for name, where, value in self.repeated(data, "nodes"):
            name = self.declare(name, where)
            if not isinstance(value, str):
                self.fail(where, f"expected an expression as a string, e.g. tanh(W @ x + b); got {kind_of(value)}")
            texts[name] = (where, value)
        # A node written out for the steps before the first (h1 before h{k} for k in 2..10) is a step too.
        for key, variable, first, where in self.repeats:
            k = first - 1
            while (name := self.substitute(key, variable, k, where)) in texts and name not in self.steps:
                self.steps[name] = k
                k -= 1
        return texts

    def check_array_names(self, inputs, targets, params, texts):
        """Names become variables of the generated module (``x`` -> ``X``, ``W`` -> ``W``, its
        adjoint ``dX``): where that variable is taken (``T`` holds the targets, ``h`` and ``H``
        would clash), the array gets a trailing ``_`` (node ``t`` -> ``T_``).  Sets
        ``self.array_names`` (the exceptions) and ``self.arrays`` (every variable taken)."""
        single = {}
        if len(inputs) == 1:
            single[next(iter(inputs))] = "X"
        if len(targets) == 1:
            single[next(iter(targets))] = "T"
        declared = [name for name, where in self.declared.items() if not where.startswith(("constants.", "functions."))]
        names = [(name, name in params) for name in declared]
        self.array_names, self.arrays = naming.module_arrays(names, single)

    def output(self, data: Any, builder: Lowering, texts) -> str:
        if data is not None:
            if not isinstance(data, str) or data not in texts:
                self.fail("output", f"expected the name of a node ({', '.join(texts)}), got {data!r}{did_you_mean(data, texts)}")
            if data in builder.target_dependent:
                self.fail("output", f"{data} depends on a target; forward() computes from the inputs alone")
            chosen = data
        else:
            free = [n for n in texts if n not in builder.target_dependent]
            if not free:
                self.fail("nodes", "every node depends on a target; forward() needs a node computed from the inputs alone")
            chosen = free[-1]
        if chosen not in builder.batched:
            self.fail("output" if data is not None else texts[chosen][0], f"{chosen} does not depend on any input")
        return chosen

    def graph_example(self, data: Any, network: GraphNetwork) -> GraphExample:
        coupled = {n.name for n in network.graph_nodes if n.op.batch_coupled}
        if coupled:
            for node in network.graph_nodes:  # the declared node whose expression holds the batch_norm
                if any(i in coupled for i in node.inputs):
                    coupled.add(node.name)
            where = next((f"node {n}" for n in network.nodes if n in coupled), "the loss")
            self.fail("example", f"a worked example is one sample, but {where} normalises over the batch (batch_norm)")
        if not isinstance(data, dict):
            self.fail("example", f"expected a mapping of input and target values, params and learning_rate, got {kind_of(data)}")
        self.known_fields(data, {*network.inputs, *network.targets, "params", "learning_rate"}, "example.")
        values = {}
        for name, shape in {**network.inputs, **network.targets}.items():
            if name not in data:
                self.fail(f"example.{name}", f"missing; expected a value of shape {list(shape)}")
            dtype, classes = self.kinds.get(name, ("float", None))
            value = _bools_as_numbers(data[name]) if dtype == "bool" else data[name]
            self.array(value, f"example.{name}", shape)
            for number in flatten(value):  # an index out of range would pick no row: a silently wrong example
                if dtype == "int" and not (number == int(number) and 0 <= number < classes):
                    self.fail(f"example.{name}", f"expected whole numbers in [0, {classes}) (indices), got {number!r}")
                if dtype == "bool" and number not in (0, 1):
                    self.fail(f"example.{name}", f"expected a mask of true and false (or 1 and 0), got {number!r}")
            values[name] = value
        params, rate = self.example_params(data, network.params)
        return GraphExample(
            {n: values[n] for n in network.inputs},
            {n: values[n] for n in network.targets},
            params,
            rate,
        )


def _bools_as_numbers(data: Any) -> Any:
    """A worked example's mask, true and false as 1 and 0 (as the per-weight view computes with it)."""
    if isinstance(data, list):
        return [_bools_as_numbers(item) for item in data]
    return int(data) if isinstance(data, bool) else data


def _param_inits(params: dict, given: dict[str, ParamInit], nodes: tuple[Node, ...]) -> dict[str, ParamInit]:
    """Every parameter's initialiser: the spec's, else ``_default_init``."""
    return {name: given.get(name) or _default_init(name, shape, nodes) for name, shape in params.items()}


def _default_init(name: str, shape: tuple[int, ...], nodes: tuple[Node, ...]) -> ParamInit:
    """Zeros for a bias of any shape (only ever added: ``W @ x + b``, ``h - b``, a convolution's
    ``kb`` of shape [O, 1, 1], whose fan-in of 1 drew it from N(0, 1)); else matrices
    N(0, 1/fan_in) and scalars N(0, 1), as before, and a vector ones, a gain or a scale (it
    multiplies or divides something, or enters any other op: ``g * h``, ``h / s``), so that a
    layer-norm gain does not start at 0, which would stop training."""
    if shape and _only_added(name, nodes):
        return ParamInit("zeros")
    if len(shape) >= 2:
        return ParamInit("fan_in_normal")
    if not shape:
        return ParamInit("standard_normal_scalar")
    return ParamInit("ones")


def _only_added(name: str, nodes: tuple[Node, ...]) -> bool:
    """Whether every use of ``name`` adds it to something (a dense node's bias, or an
    elementwise term whose derivative in it is a constant); a plain rename or negation of
    it counts as its uses."""
    for node in nodes:
        if name not in node.inputs:
            continue
        if isinstance(node.op, Dense) and node.inputs[2:] == (name,):
            continue
        if not isinstance(node.op, Elementwise):
            return False
        for i, arg in enumerate(node.inputs):
            if arg != name:
                continue
            if not node.op.derivatives[i].is_number:
                return False
            if node.op.expr in (arg_symbol(i), -arg_symbol(i)) and not _only_added(node.name, nodes):
                return False
    return True


