"""Layer-stack specs: YAML (or a dict from Python) -> a validated ``Network`` (``spec``).

Every rejection is a ``SpecError`` naming the file, the field (``layers[1].activation``)
and what was expected.  Formulas are parsed by ``symprop.formula`` (a whitelisting AST
reader, never ``eval``/``sympify``), calling the functions of ``MATH_FUNCTIONS``.
``FieldReader`` holds the checks graph specs share (``tensor_spec.reader``).
"""

from __future__ import annotations

import keyword
import math
from dataclasses import replace
from typing import Any

import sympy as sp

from . import differentiation, naming, registry
from .aliases import FIELD as ALIAS_FIELD
from .aliases import read_aliases
from .errors import SpecError, SymPropError, did_you_mean
from .formula import FormulaError, parse_formula
from .spec import ActivationChoice, Example, Layer, LossChoice, Network, flatten


def _step(x: sp.Expr) -> sp.Expr:
    """H(x) with H(0) = 0.  Of a constant, its value: SymPy leaves Heaviside(1/softplus(1), 0) as
    it is (it cannot tell the sign of 1/softplus(1)), and max and min refuse such a number as
    not comparable."""
    if x.is_number and x.is_comparable:
        return sp.S.One if x.evalf(30) > 0 else sp.S.Zero
    return sp.Heaviside(x, 0)


#: SymPy functions a formula may call besides the activations.
MATH_FUNCTIONS = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "abs": differentiation.Abs,
    "tanh": sp.tanh,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "sin": sp.sin,
    "cos": sp.cos,
    "erf": sp.erf,
    "sign": differentiation.sign,
    "step": _step,  # 1 for x > 0, else 0 (relu'); derivative 0
    "log1p": lambda x: sp.log(1 + x),
    "expm1": lambda x: sp.exp(x) - 1,
    "max": sp.Max,
    "min": sp.Min,
}

TOP_LEVEL_FIELDS = {"name", "input", "layers", "loss", "constants", "functions", "example", "tutorial_names"}
LAYER_FIELDS = {"units", "activation", "bias"}
#: At most this many units a layer, and elements a sample in a graph spec's input, target or node.
MAX_UNITS = 1_000_000
#: Most layers of a stack (deriving and emitting takes some 20 ms a layer, the handout more).
MAX_LAYERS = 1000
#: Most numbers a worked example may give for one array (the 784-30-10 MLP's W1 has 23,520).
MAX_EXAMPLE_VALUES = 100_000
#: Most parameters of a spec, all arrays together: 400 MB in float64, which init_params, the
#: gradients and sgd_step each hold once more (a billion would exhaust memory at the first call).
MAX_PARAMS = 50_000_000


def read_layer_spec(data: Any, source: str = "<python>") -> Network:
    """Validate a layer-stack spec given as plain data (``symprop.loading`` picks the reader)."""
    return FieldReader(source).network(data)


class FieldReader:
    """Validates one spec; every check raises a ``SpecError`` with the field's path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, message: str):
        raise SpecError(self.source, where, message)

    def network(self, data: Any) -> Network:
        if not isinstance(data, dict):
            self.fail("spec", f"expected a mapping of fields ({', '.join(sorted(TOP_LEVEL_FIELDS))}), got {kind_of(data)}")
        self.known_fields(data, TOP_LEVEL_FIELDS, "")
        for required in ("name", "input", "layers", "loss"):
            if required not in data:
                self.fail(required, "missing; every spec needs name, input, layers and loss")
        name = self.module_name(data["name"], "name")
        inputs = self.positive_int(data["input"], "input")
        constants = self.constants(data.get("constants") or {})
        functions = self.functions(data.get("functions") or {}, constants)
        layers = self.layers(data["layers"], constants, functions)
        self.parameter_count(inputs, layers)
        loss = self.loss(data["loss"], constants, functions, layers[-1])
        network = Network(name, inputs, layers, loss, constants, functions, source=self.source)
        if data.get("example") is not None:
            network = Network(
                name, inputs, layers, loss, constants, functions, self.example(data["example"], network), self.source
            )
        network = replace(network, function_forms=self.function_forms)
        if data.get(ALIAS_FIELD) is not None:
            shapes = {node.name: node.shape for node in network.to_graph().nodes.values()}
            network = replace(network, aliases=read_aliases(data[ALIAS_FIELD], shapes, self.fail))
        return network

    def known_fields(self, data: dict, fields, prefix: str, hint: str = ""):
        """Fail on the first key of ``data`` that is not one of ``fields`` (suggesting the closest)."""
        unknown = sorted(set(map(str, data)) - set(fields))
        if unknown:
            self.fail(
                prefix + unknown[0],
                f"unknown field{did_you_mean(unknown[0], fields)}{hint}; expected one of: {', '.join(sorted(fields))}",
            )

    # -- scalars ---------------------------------------------------------------------

    def identifier(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.isidentifier() or not value.isascii():
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:60] + "..."
            self.fail(where, f"expected a name made of letters, digits and '_' (not starting with a digit), got {shown}")
        if len(value) > naming.MAX_NAME_LENGTH:
            self.fail(where, f"a name of {len(value)} characters; at most {naming.MAX_NAME_LENGTH} are allowed")
        if keyword.iskeyword(value) or value.startswith("_"):
            self.fail(where, f"{value!r} cannot be used as a name (Python keyword or leading '_')")
        return value

    def module_name(self, value: Any, where: str) -> str:
        """The network's name, which names its files (``<name>.py``, ``<name>.tex``)."""
        name = self.identifier(value, where)
        problem = naming.module_name_problem(name)
        if problem:
            self.fail(where, problem)
        return name

    def positive_int(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.fail(where, f"expected a positive whole number, got {kind_of(value)}")
        if value > MAX_UNITS:
            self.fail(where, f"expected at most {MAX_UNITS} units, got {kind_of(value)}")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"expected a finite number, got {kind_of(value)}")
        if isinstance(value, int) and value.bit_length() > 1000:  # float() would overflow
            self.fail(where, f"expected a finite number, got {kind_of(value)}")
        if not math.isfinite(value):
            self.fail(where, f"expected a finite number, got {value!r}")
        return value

    # -- sections --------------------------------------------------------------------

    def constants(self, data: Any) -> dict[str, sp.Expr]:
        if not isinstance(data, dict):
            self.fail("constants", f"expected a mapping of name: number, got {kind_of(data)}")
        constants = {}
        for key, value in data.items():
            name = self.identifier(key, f"constants.{key}")
            self.not_reserved(name, f"constants.{key}")
            constants[name] = sp.nsimplify(self.number(value, f"constants.{key}"), rational=True)
        return constants

    def not_reserved(self, name: str, where: str):
        if name in registry.ACTIVATIONS or name in MATH_FUNCTIONS or name in registry.VECTOR_ACTIVATIONS:
            self.fail(where, f"{name!r} is a built-in function name; choose another name")
        if name in ("z", "y", "t"):
            self.fail(where, f"{name!r} is the variable of formulas; choose another name")

    def functions(self, data: Any, constants: dict[str, sp.Expr]) -> dict[str, sp.Expr]:
        if not isinstance(data, dict):
            self.fail("functions", f"expected a mapping of name: formula in z, got {kind_of(data)}")
        functions: dict[str, sp.Expr] = {}
        named = {n: sp.Symbol(n, real=True) for n in constants}
        self.function_forms: dict[str, sp.Expr] = {}  # the same with the constants by name: the handout's
        for key, text in data.items():
            where = f"functions.{key}"
            name = self.identifier(key, where)
            self.not_reserved(name, where)
            if name in constants:
                self.fail(where, f"{name!r} is already a constant")
            earlier = {n: substituting(e) for n, e in functions.items()}
            functions[name] = self.formula(text, where, {"z": registry.Z, **constants}, earlier)
            if constants:  # else the form is the formula: no second reading
                earlier_forms = {n: substituting(e) for n, e in self.function_forms.items()}
                self.function_forms[name] = self.formula(text, where, {"z": registry.Z, **named}, earlier_forms)
            else:
                self.function_forms[name] = functions[name]
        return functions

    def formula(self, text: Any, where: str, symbols: dict, extra_functions: dict) -> sp.Expr:
        if not isinstance(text, str):
            self.fail(where, f"expected a formula as a string, got {kind_of(text)}")
        callables = {**MATH_FUNCTIONS, **extra_functions}
        for name, entry in registry.ACTIVATIONS.items():
            callables[name] = entry.apply
        try:
            return parse_formula(text, symbols, callables)
        except FormulaError as exc:
            self.fail(where, str(exc))

    def layers(self, data: Any, constants, functions) -> tuple[Layer, ...]:
        if not isinstance(data, list) or not data:
            self.fail("layers", f"expected a non-empty list of layers, got {kind_of(data)}")
        if len(data) > MAX_LAYERS:
            self.fail("layers", f"expected at most {MAX_LAYERS} layers, got {len(data)}")
        layers = []
        for index, item in enumerate(data):
            where = f"layers[{index}]"
            if not isinstance(item, dict):
                self.fail(where, f"expected a mapping like {{units: 4, activation: relu}}, got {kind_of(item)}")
            self.known_fields(item, LAYER_FIELDS, f"{where}.")
            if "units" not in item:
                self.fail(f"{where}.units", "missing; say how many outputs the layer has")
            units = self.positive_int(item["units"], f"{where}.units")
            activation = self.activation(item.get("activation", "identity"), f"{where}.activation", constants, functions)
            if activation.name in registry.VECTOR_ACTIVATIONS and index != len(data) - 1:
                self.fail(f"{where}.activation", f"{activation.name} is allowed on the output layer only")
            if index == len(data) - 1 and activation.formula is not None and flat_in(activation.formula, registry.Z):
                self.fail(  # step(z), a number: as a graph spec's flat loss (Derivation), nothing would train
                    f"{where}.activation",
                    f"the output activation {activation.name} is flat in z (its derivative in z is 0 wherever it is "
                    "defined), so every gradient would be 0; write an activation that changes with z",
                )
            bias = item.get("bias", True)
            if not isinstance(bias, bool):
                self.fail(f"{where}.bias", f"expected true or false, got {bias!r}")
            layers.append(Layer(units, activation, bias))
        return tuple(layers)

    def parameter_count(self, inputs: int, layers: tuple[Layer, ...]):
        """Fail at the layer whose weights take the stack past ``MAX_PARAMS``."""
        total, fan_in = 0, inputs
        for index, layer in enumerate(layers):
            total += layer.units * (fan_in + layer.bias)
            fan_in = layer.units
            if total > MAX_PARAMS:
                self.fail(f"layers[{index}].units", too_many_params(total))

    def activation(self, data: Any, where: str, constants, functions) -> ActivationChoice:
        given: dict = {}
        if isinstance(data, dict):
            if "name" not in data:
                self.fail(where, "expected {name: ..., <constant>: value}, e.g. {name: leaky_relu, alpha: 0.1}")
            given = {k: v for k, v in data.items() if k != "name"}
            data = data["name"]
        if not isinstance(data, str):
            self.fail(where, f"expected an activation name, got {kind_of(data)}")
        if data in functions:
            if given:
                self.fail(where, f"{data} is a formula function; give its constants under 'constants'")
            return ActivationChoice(data, formula=functions[data])
        if data in registry.VECTOR_ACTIVATIONS:
            if given:
                self.fail(f"{where}.{next(iter(given))}", f"{data} takes no constants")
            return ActivationChoice(data)
        entry = registry.ACTIVATIONS.get(data)
        if entry is None:
            known = sorted({*registry.ACTIVATIONS, *registry.VECTOR_ACTIVATIONS, *functions})
            self.fail(where, f"unknown activation {data!r}{did_you_mean(data, known)}; expected one of: {', '.join(known)}")
        return ActivationChoice(entry.name, self.entry_constants(entry, given, where, constants))

    def entry_constants(self, entry, given: dict, where: str, constants) -> tuple[sp.Expr, ...]:
        allowed = dict(entry.constants)
        for key, value in given.items():
            if key not in allowed:
                expected = ", ".join(allowed) or "none"
                unknown = f"{entry.name} has no constant {key!r}{did_you_mean(key, allowed)}"
                self.fail(f"{where}.{key}", f"{unknown}; its constants: {expected}")
            if isinstance(value, str) and value in constants:
                given[key] = constants[value]
            else:
                self.number(value, f"{where}.{key}")
        return entry.constant_values(given)

    def loss(self, data: Any, constants, functions, output: Layer) -> LossChoice:
        given: dict = {}
        if isinstance(data, dict) and "formula" in data:
            extra = sorted(set(map(str, data)) - {"formula"})
            if extra:
                self.fail(f"loss.{extra[0]}", 'unknown field; a formula loss is {formula: "..."} in y and t')
            earlier = {n: substituting(e) for n, e in functions.items()}
            symbols = {"y": registry.Y, "t": registry.T, **constants}
            formula = self.formula(data["formula"], "loss.formula", symbols, earlier)
            if registry.Y not in formula.free_symbols:  # t alone, or y cancelled: every gradient would be 0
                shown = shown_formula(data["formula"])
                self.fail(
                    "loss.formula",
                    f"the formula {shown!r} does not use the prediction y (it reads as {formula}), so every gradient "
                    "would be 0; write the loss in y, the network's output, and t, the target",
                )
            if flat_in(formula, registry.Y):  # step(y - t), sign(y - t): piecewise constant, trains nothing
                self.fail(
                    "loss.formula",
                    f"the formula {shown_formula(data['formula'])!r} is flat in the prediction y (its derivative in y "
                    "is 0 wherever it is defined), so every gradient would be 0; write a loss that changes with y",
                )
            if not constants:  # the form is the formula: no second reading
                return LossChoice("formula", formula=formula, form=formula)
            named = {"y": registry.Y, "t": registry.T, **{n: sp.Symbol(n, real=True) for n in constants}}
            earlier_forms = {n: substituting(e) for n, e in self.function_forms.items()}
            form = self.formula(data["formula"], "loss.formula", named, earlier_forms)
            return LossChoice("formula", formula=formula, form=form)
        if isinstance(data, dict):
            if "name" not in data:
                self.fail("loss", 'expected a loss name, {name: ..., <constant>: value} or {formula: "..."}')
            given = {k: v for k, v in data.items() if k != "name"}
            data = data["name"]
        if not isinstance(data, str):
            self.fail("loss", f"expected a loss name, got {kind_of(data)}")
        entry = registry.LOSSES.get(data)
        if entry is None:
            known = sorted(registry.LOSSES)
            expected = f"expected one of: {', '.join(known)} or {{formula: ...}}"
            self.fail("loss", f"unknown loss {data!r}{did_you_mean(data, known)}; {expected}")
        if entry.needs_output and output.activation.name != entry.needs_output:
            self.fail("loss", f"{entry.name} needs a {entry.needs_output} output layer, got {output.activation.name}")
        if output.activation.name in registry.VECTOR_ACTIVATIONS and entry.needs_output is None:
            self.fail("loss", f"a {output.activation.name} output goes with cross_entropy, not {entry.name}")
        activation = output.activation
        if entry.probability_output and activation.formula is None and activation.name not in registry.PROBABILITY_ACTIVATIONS:
            self.fail(
                "loss",
                f"{entry.name} needs outputs in (0, 1), but the output layer's activation {activation.name} gives values "
                f"outside it (their log is nan): use a {entry.probability_output} output layer",
            )
        values = self.entry_constants(entry, given, "loss", constants)
        if entry.name == "huber" and values[0] <= 0:
            self.fail("loss.delta", f"expected a positive number, got {given.get('delta')!r}")
        return LossChoice(entry.name, values)

    def example(self, data: Any, network: Network) -> Example:
        if not isinstance(data, dict):
            self.fail("example", f"expected a mapping with x, t and params, got {kind_of(data)}")
        self.known_fields(data, ("x", "t", "params", "learning_rate"), "example.")
        for required in ("x", "t", "params"):
            if required not in data:
                self.fail(f"example.{required}", "missing; a worked example needs x, t and params")
        x = self.vector(data["x"], "example.x", network.inputs)
        t = self.vector(data["t"], "example.t", network.outputs)
        shapes = network.param_shapes()
        params, rate = self.example_params(data, shapes)
        return Example(tuple(x), tuple(t), params, rate)

    def example_params(self, data: dict, shapes: dict[str, tuple[int, ...]]) -> tuple[dict, float | None]:
        """An example's ``params`` (every parameter, each of its shape) and ``learning_rate``."""
        params = data.get("params")
        if not isinstance(params, dict):
            self.fail("example.params", f"expected a mapping of parameter name: values, got {kind_of(params)}")
        for name in params:
            if name not in shapes:
                known = f"this network has {', '.join(shapes)}"
                self.fail(f"example.params.{name}", f"unknown parameter{did_you_mean(name, shapes)}; {known}")
        for name, shape in shapes.items():
            if name not in params:
                self.fail(f"example.params.{name}", f"missing; expected values of shape {list(shape)}")
            self.array(params[name], f"example.params.{name}", shape)
        rate = data.get("learning_rate")
        if rate is not None and self.number(rate, "example.learning_rate") <= 0:
            self.fail("example.learning_rate", f"expected a positive number, got {rate!r}")
        return {n: params[n] for n in shapes}, rate

    def vector(self, data: Any, where: str, size: int) -> list[float]:
        self.array(data, where, (size,))
        return list(data)

    def array(self, data: Any, where: str, shape: tuple[int, ...]):
        if math.prod(shape) > MAX_EXAMPLE_VALUES:
            self.fail(
                where,
                f"a worked example gives at most {MAX_EXAMPLE_VALUES:,} numbers per array, and shape {list(shape)} "
                "needs more; leave out the example",
            )
        if isinstance(data, list) and shape and len(data) != shape[0]:  # fail fast on a huge list
            self.fail(where, f"expected shape {list(shape)}, got a list of {len(data)}")
        got = shape_of(data)
        if got != shape:
            described = "not a rectangular array of numbers" if got is None else f"shape {list(got)}"
            self.fail(where, f"expected shape {list(shape)}, got {described}")
        for value in flatten(data):
            self.number(value, where)


def shown_formula(text: str) -> str:
    """A formula as an error message quotes it: at most 60 characters."""
    return text if len(text) <= 60 else text[:57] + "..."


def flat_in(formula: sp.Expr, variable: sp.Symbol) -> bool:
    """Whether a formula's derivative in ``variable`` (a loss's y, an activation's z) is provably 0
    (step or sign of it, or no ``variable`` at all: no gradient anywhere).  A derivative SymPy
    cannot compute is not judged here: the derivation reports it."""
    try:
        return differentiation.derivative(formula, variable).is_zero is True
    except SymPropError:
        return False


def too_many_elements(name: str, shape: tuple[int, ...]) -> str:
    """The message of an array of a graph spec past ``MAX_UNITS`` elements per sample."""
    return (
        f"{name} has {math.prod(shape):,} elements per sample (shape {list(shape)}), more than the {MAX_UNITS:,} "
        f"symprop allows ({MAX_UNITS * 8 // 10**6:,} MB a sample in float64); make it smaller"
    )


def too_many_params(total: int) -> str:
    """The message of a spec past ``MAX_PARAMS`` (``total``: the parameters counted so far)."""
    return (
        f"the network has {total:,} parameters up to here, more than the {MAX_PARAMS:,} symprop allows "
        f"({MAX_PARAMS * 8 // 10**6:,} MB in float64, held several times by a module); make it smaller"
    )


def substituting(body: sp.Expr):
    """A user function as a callable: ``f(arg)`` is its body with ``z`` replaced by ``arg``."""
    return lambda arg: body.subs(registry.Z, arg)


def shape_of(data: Any) -> tuple[int, ...] | None:
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return ()
    if not isinstance(data, list) or not data:
        return None
    shapes = {shape_of(item) for item in data}
    if len(shapes) != 1 or None in shapes:
        return None
    return (len(data), *shapes.pop())



def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, int) and value.bit_length() > 300:  # repr() refuses 4,300 digits
        return f"a whole number of {value.bit_length()} bits"
    return {dict: "a mapping", list: "a list", str: f"the text {value!r}"}.get(type(value), repr(value))
