"""Random formulas from the whole formula language, networks around them, and an independent
reference to check what symprop derives for them.

Shared by ``tests/test_formula_property.py`` (Hypothesis), ``tests/test_formula_functions.py``
(the regression cases) and ``scripts/fuzz_formulas.py`` (many random networks).

* ``Formulas`` draws formula text from a ``source`` of choices (``random.Random`` or a
  Hypothesis ``draw``): numbers, the declared constant ``c0``, the variables, ``+ - * / ^``,
  unary minus, every math function and every activation called as a function, ``max``/``min``,
  the spec's own function ``f``, nested.  Arguments of ``log``/``sqrt``/``log1p``, divisors
  and bases of fractional powers are drawn from positive forms (``1 + u^2``, ``exp(u)``,
  ``softplus(u)``, ...), so values stay real; overflow is filtered out by the check.
* ``Reference`` evaluates formula text with Python's ``ast`` (trusted test input) on
  ``autograd.numpy`` arrays, with its own definition of every function, and records how close
  any non-smooth function came to its kink (the check skips points within ``KINK`` of one).
* ``check_spec`` derives a spec, emits and imports the module, and compares its loss and every
  gradient with autograd and with central differences.
"""

from __future__ import annotations

import ast
import math
import random
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import erf as anp_erf
from autograd.tracer import getval

import symprop
from symprop.check import load_module

#: Points closer than this to a kink of a non-smooth function are skipped.
KINK = 1e-4
TOLERANCE = 1e-7
#: Gradient norms below this are compared as if they were this large (see ``_relative``).
GRADIENT_FLOOR = 1e-6
#: Values beyond this are treated as overflow (the point is skipped).
LARGEST = 1e6
CONSTANTS = {"c0": 0.3}

NUMBERS = ["0", "0.5", "1", "2", "1.5", "0.25", "3", "0.1"]
SMOOTH = ["exp", "tanh", "sinh", "cosh", "sin", "cos", "erf", "expm1"]
NON_SMOOTH = ["abs", "sign", "step"]
ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "silu", "swish", "gelu"]
POSITIVE_ONLY = ["log", "sqrt", "log1p"]


# -- the reference -----------------------------------------------------------------------------


def _sigmoid(x):
    return 0.5 * (1 + anp.tanh(0.5 * x))


_SELU = (1.0507009873554805, 1.6732632423543772)


class Reference:
    """Formula text evaluated on autograd arrays; ``kink`` is the closest approach to a kink."""

    def __init__(self, functions: dict[str, str] | None = None, constants: dict[str, float] | None = None):
        self.functions = functions or {}
        self.constants = {**CONSTANTS, **(constants or {})}
        self.kink = math.inf
        self.table = {
            "exp": anp.exp,
            "log": anp.log,
            "sqrt": anp.sqrt,
            "log1p": anp.log1p,
            "expm1": anp.expm1,
            "tanh": anp.tanh,
            "sinh": anp.sinh,
            "cosh": anp.cosh,
            "sin": anp.sin,
            "cos": anp.cos,
            "erf": anp_erf,
            "abs": self._kinked(anp.abs),
            "sign": self._kinked(anp.sign),
            "step": self._kinked(lambda x: anp.where(x > 0, 1.0, 0.0)),
            "max": lambda a, b: self._near(a - b) or anp.maximum(a, b),
            "min": lambda a, b: self._near(a - b) or anp.minimum(a, b),
            "identity": lambda x: x,
            "sigmoid": _sigmoid,
            "relu": self._kinked(lambda x: anp.where(x > 0, x, 0.0)),
            "leaky_relu": self._kinked(lambda x: anp.where(x > 0, x, 0.01 * x)),
            "elu": self._kinked(lambda x: anp.where(x > 0, x, anp.expm1(anp.minimum(x, 0.0)))),
            "selu": self._kinked(lambda x: _SELU[0] * anp.where(x > 0, x, _SELU[1] * anp.expm1(anp.minimum(x, 0.0)))),
            "softplus": lambda x: anp.logaddexp(0.0, x),
            "silu": lambda x: x * _sigmoid(x),
            "swish": lambda x: x * _sigmoid(x),
            "gelu": lambda x: 0.5 * x * (1 + anp_erf(x / np.sqrt(2.0))),
        }

    def _near(self, distance) -> None:
        self.kink = min(self.kink, float(np.min(np.abs(getval(distance)))))

    def _kinked(self, function):
        def call(x):
            self._near(x)
            return function(x)

        return call

    def __call__(self, text: str, **values):
        return self._eval(ast.parse(text.replace("^", "**"), mode="eval").body, values)

    def _eval(self, node, values):
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values[node.id] if node.id in values else self.constants[node.id]
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, values)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, values), self._eval(node.right, values)
            operation = {ast.Add: anp.add, ast.Sub: anp.subtract, ast.Mult: anp.multiply, ast.Div: anp.divide}
            if isinstance(node.op, ast.Pow):
                return left**right
            return operation[type(node.op)](left, right)
        if isinstance(node, ast.Call):
            args = [self._eval(a, values) for a in node.args]
            if node.func.id in self.functions:
                return self(self.functions[node.func.id], z=args[0])
            return self.table[node.func.id](*args)
        raise AssertionError(ast.dump(node))


# -- the generator -----------------------------------------------------------------------------


class Formulas:
    """Formula text drawn from ``source`` (``choice(list)`` and ``randint(a, b)``, as
    ``random.Random`` has).  ``variables`` are the names a formula may use; ``functions`` the
    spec's own function names.  Exponents are numbers, as graph specs require."""

    def __init__(self, source, variables, functions=(), depth=3):
        self.source = source
        self.variables = list(variables)
        self.functions = list(functions)
        self.depth = depth

    def formula(self) -> str:
        return self.expr(self.depth)

    def choice(self, options):
        return self.source.choice(options)

    def leaf(self) -> str:
        kind = self.choice(["variable", "variable", "variable", "number", "constant"])
        if kind == "variable":
            return self.choice(self.variables)
        return self.choice(NUMBERS) if kind == "number" else "c0"

    def expr(self, depth: int) -> str:
        if depth <= 0:
            return self.leaf()
        kinds = ["leaf", "binary", "binary", "function", "function", "activation"]
        kinds += ["maxmin", "negate", "divide", "power", "positive"]
        if self.functions:
            kinds.append("own")
        kind = self.choice(kinds)
        inner = depth - 1
        if kind == "leaf":
            return self.leaf()
        if kind == "binary":
            return f"({self.expr(inner)} {self.choice(['+', '-', '*'])} {self.expr(inner)})"
        if kind == "function":
            return f"{self.choice(SMOOTH + NON_SMOOTH)}({self.expr(inner)})"
        if kind == "activation":
            return f"{self.choice(ACTIVATIONS)}({self.expr(inner)})"
        if kind == "maxmin":
            return f"{self.choice(['max', 'min'])}({self.expr(inner)}, {self.expr(inner)})"
        if kind == "negate":
            return f"(-{self.expr(inner)})"
        if kind == "divide":
            return f"({self.expr(inner)} / {self.positive(inner)})"
        if kind == "power":
            if self.choice([True, False]):
                return f"({self.expr(inner)} ^ {self.choice(['2', '3'])})"
            return f"({self.positive(inner)} ^ {self.choice(['0.5', '1.5', '-1', '2'])})"
        if kind == "positive":
            return f"{self.choice(POSITIVE_ONLY)}({self.positive(inner)})"
        return f"{self.choice(self.functions)}({self.expr(inner)})"

    def positive(self, depth: int) -> str:
        """A formula whose value is positive (away from 0): a domain-safe argument."""
        inner = max(depth - 1, 0)
        form = self.choice(["number", "square", "exp", "softplus", "sigmoid", "cosh", "abs"])
        if form == "number":
            return self.choice(["0.5", "1", "2", "1.5", "3"])
        u = self.expr(inner)
        return {
            "square": f"(1 + {u} ^ 2)",
            "exp": f"exp({u})",
            "softplus": f"(0.1 + softplus({u}))",
            "sigmoid": f"sigmoid({u})",
            "cosh": f"cosh({u})",
            "abs": f"(0.5 + abs({u}))",
        }[form]


def layer_spec(source, index: int = 0) -> dict:
    """A layer stack with formula activations (hidden and output), a formula or built-in loss,
    and the spec's own function ``f``."""
    f = Formulas(source, ["z"], depth=2).formula()
    activations = Formulas(source, ["z"], functions=["f"])
    hidden = source.choice(["f", "formula", "tanh"])
    output = source.choice(["f", "formula", "identity", "sigmoid"])
    functions = {"f": f}
    if hidden == "formula":
        functions["g"] = activations.formula()
        hidden = "g"
    if output == "formula":
        functions["h"] = activations.formula()
        output = "h"
    loss = _using(Formulas(source, ["y", "t"], functions=["f"]), "y")
    loss = {"formula": loss} if source.choice([True, True, False]) else "half_sse"
    spec = {
        "name": f"formula_{index}",
        "input": source.randint(1, 3),
        "constants": dict(CONSTANTS),
        "functions": functions,
        "layers": [{"units": source.randint(1, 3), "activation": hidden}, {"units": source.randint(1, 2), "activation": output}],
        "loss": loss,
    }
    return _with_y(spec)


def _with_y(spec: dict) -> dict:
    """``spec`` with its formula loss plus y where y cancels in it (``(-y) + y``) or the loss is flat
    in y (``step(y - t)``), and a flat output activation (``step(z)``, ``2``) plus z: such specs are refused
    (``spec_reader.FieldReader.loss`` and ``.activation``)."""
    for _ in range(len(spec["layers"]) + 1):  # one refusal mended a round
        try:
            symprop.from_dict(spec, source="<formula test>")
        except symprop.SpecError as error:
            if "the prediction y" in error.message:
                spec["loss"] = {"formula": f"({spec['loss']['formula']} + y)"}
            elif "is flat in z" in error.message:
                name = spec["layers"][int(error.field.split("[")[1].split("]")[0])]["activation"]
                spec["functions"][name] = f"({spec['functions'][name]} + z)"
            else:
                return spec  # check_spec reports it
    return spec


def graph_spec(source, index: int = 0) -> dict:
    """A graph spec whose nodes are formulas of dense products, and a formula loss."""
    f = Formulas(source, ["z"], depth=2).formula()
    nodes = Formulas(source, ["z"], functions=["f"])
    h, y = _using(nodes, "z"), _using(nodes, "z")
    loss = _using(Formulas(source, ["y", "t"], functions=["f"]), "y", "t")
    spec = {
        "name": f"formula_graph_{index}",
        "inputs": {"x": 3},
        "targets": {"t": 2},
        "params": {"W1": [3, 3], "b1": [3], "W2": [2, 3]},
        "constants": dict(CONSTANTS),
        "functions": {"f": f},
        "nodes": {"h": _at(h, "z", "(W1 @ x + b1)"), "y": _at(y, "z", "(W2 @ h)")},
        "loss": f"sum({loss})",
        "_formulas": {"h": h, "y": y, "loss": loss},
    }
    return _trainable(spec)


def _trainable(spec: dict) -> dict:
    """A graph spec with y and its loss plus their variable where no parameter would get a gradient
    (``step(W2 @ h)``, ``sign(y - t)``): such a graph is refused (``Derivation``)."""
    try:
        symprop.derive(symprop.from_dict(public(spec), source="<formula test>"))
    except symprop.SpecError as error:
        if "every parameter's gradient is 0" not in error.message:
            return spec  # check_spec reports it
        formulas = spec["_formulas"]
        formulas["y"], formulas["loss"] = f"({formulas['y']} + z)", f"({formulas['loss']} + y)"
        spec["nodes"]["y"], spec["loss"] = _at(formulas["y"], "z", "(W2 @ h)"), f"sum({formulas['loss']})"
    except Exception:  # noqa: BLE001 - check_spec reports it
        pass
    return spec


def _using(formulas: Formulas, *variables: str) -> str:
    """A formula that uses every one of ``variables`` (a graph spec uses every node and target)."""
    text = formulas.formula()
    for variable in variables:
        if not re.search(rf"\b{variable}\b", text):
            text = f"({text} + {variable})"
    return text


def _at(text: str, name: str, replacement: str) -> str:
    """``text`` with the variable ``name`` replaced (as a whole word) by ``replacement``."""
    return re.sub(rf"\b{name}\b", replacement, text)


# -- the check ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What checking one spec gave: 'match', 'skip' (with why) or 'fail' (with why)."""

    spec: dict
    status: str
    detail: str = ""
    derive_seconds: float = 0.0


def _reference_loss(spec: dict):
    functions = spec.get("functions", {})
    reference = Reference(functions)

    def activation(name, z):
        value = reference(functions[name], z=z) if name in functions else reference.table[name](z)
        return value + 0 * z  # a constant formula is still one value per element

    if "nodes" in spec:
        formulas = spec["_formulas"]

        def batch_loss(params, X, T):
            h = reference(formulas["h"], z=anp.dot(X, params["W1"].T) + params["b1"]) + 0 * X
            y = reference(formulas["y"], z=anp.dot(h, params["W2"].T)) + 0 * T
            terms = reference(formulas["loss"], y=y, t=T) + 0 * T
            return anp.mean(anp.sum(terms, axis=1))

        return reference, batch_loss

    def batch_loss(params, X, T):
        a = X
        for index, layer in enumerate(spec["layers"], start=1):
            a = activation(layer["activation"], anp.dot(a, params[f"W{index}"].T) + params[f"b{index}"])
        if spec["loss"] == "half_sse":
            return anp.mean(0.5 * anp.sum((T - a) ** 2, axis=1))
        return anp.mean(anp.sum(reference(spec["loss"]["formula"], y=a, t=T) + 0 * T, axis=1))

    return reference, batch_loss


def _relative(a: dict, b: dict, floor: float) -> float:
    """CS231n's |a - b| / (|a| + |b|) over all gradients; below ``floor`` the norms count as
    ``floor`` (gradients of 1e-9 agree to rounding, not to 1e-7 of themselves)."""
    g = np.concatenate([np.ravel(a[k]) for k in sorted(a)])
    n = np.concatenate([np.ravel(b[k]) for k in sorted(a)])
    return float(np.linalg.norm(g - n) / max(np.linalg.norm(g) + np.linalg.norm(n), floor))


def _central(module, params, X, T, eps=1e-4) -> tuple[dict, dict]:
    """Central differences of the module's loss at step ``eps`` and Richardson-extrapolated
    from ``eps`` and ``eps / 2`` (error O(eps^4)); their difference estimates the error of
    the plain ones (large where the loss varies rapidly: cos(2 y^2) with y = 85)."""

    def difference(value, index, h):
        saved = value[index]
        value[index] = saved + h
        up = module.loss(params, X, T)
        value[index] = saved - h
        down = module.loss(params, X, T)
        value[index] = saved
        return (up - down) / (2 * h)

    plain, extrapolated = {}, {}
    for key, value in params.items():
        plain[key], extrapolated[key] = np.zeros_like(value), np.zeros_like(value)
        for index in np.ndindex(value.shape):
            half = difference(value, index, eps / 2)
            plain[key][index] = half
            extrapolated[key][index] = (4 * half - difference(value, index, eps)) / 3
    return plain, extrapolated


def public(spec: dict) -> dict:
    """The spec as symprop reads it (without the test's own bookkeeping)."""
    return {k: v for k, v in spec.items() if not k.startswith("_")}


def check_spec(spec: dict, seed: int = 0, directory: str | Path | None = None) -> Outcome:
    """Derive ``spec``, import its module and compare it with autograd and central differences."""
    start = time.perf_counter()
    try:
        derivation = symprop.derive(symprop.from_dict(public(spec), source="<formula test>"))
        with tempfile.TemporaryDirectory() as scratch:
            module = load_module(derivation.write_numpy(directory or scratch))
    except Exception as exc:  # noqa: BLE001 - every failure is reported with the spec
        return Outcome(spec, "fail", f"derive/emit: {type(exc).__name__}: {exc}", time.perf_counter() - start)
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    start_params = module.init_params(seed, dtype=np.float64)
    params = {k: np.asarray(v + 0.3 * rng.standard_normal(v.shape)) for k, v in start_params.items()}
    X, T = module.sample_batch(3, seed, dtype=np.float64)
    reference, batch_loss = _reference_loss(spec)
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            expected = batch_loss(params, X, T)
            expected_grads = autograd.grad(batch_loss)(params, X, T)
    except FloatingPointError as exc:  # an intermediate value overflows (exp(cosh(2 z))): no comparison
        return Outcome(spec, "skip", f"the reference overflows: {exc}", seconds)
    values = [expected, *(np.ravel(g) for g in expected_grads.values())]
    if not all(np.all(np.isfinite(v)) and np.all(np.abs(v) < LARGEST) for v in values):
        return Outcome(spec, "skip", "the reference overflows or is not real here", seconds)
    if reference.kink < KINK:
        return Outcome(spec, "skip", f"within {reference.kink:.1e} of a kink", seconds)
    try:
        with np.errstate(all="ignore"):
            value, grads = module.loss_and_grad(params, X, T)
            plain, central = _central(module, params, X, T)
    except Exception as exc:  # noqa: BLE001
        return Outcome(spec, "fail", f"module: {type(exc).__name__}: {exc}", seconds)
    problems = [
        f"dE/d{k} has shape {np.shape(grads[k])}, expected {np.shape(v)}"
        for k, v in params.items()
        if np.shape(grads[k]) != np.shape(v)
    ]
    if problems:
        return Outcome(spec, "fail", "; ".join(problems), seconds)
    if not math.isclose(value, expected, rel_tol=TOLERANCE, abs_tol=1e-12):
        problems.append(f"loss {value!r} != autograd {expected!r}")
    error = _relative(grads, expected_grads, GRADIENT_FLOOR)
    if error > TOLERANCE:
        problems.append(f"gradients vs autograd: relative error {error:.2e}")
    # Central differences carry rounding of about 1e-16 |E| / eps = 1e-12 |E|; where their own
    # error estimate exceeds the tolerance they cannot decide (autograd still did, above).
    floor = max(GRADIENT_FLOOR, 1e-2 * abs(expected))
    error = _relative(central, expected_grads, floor)
    if error > TOLERANCE and _relative(plain, central, floor) < TOLERANCE:
        problems.append(f"central differences vs autograd: relative error {error:.2e}")
    return Outcome(spec, "fail" if problems else "match", "; ".join(problems), seconds)


class RandomSource(random.Random):
    """``random.Random`` is already a source (``choice``, ``randint``)."""


class DrawSource:
    """A Hypothesis ``draw`` as a source of choices (so Hypothesis can shrink a failing formula)."""

    def __init__(self, draw):
        self.draw = draw

    def choice(self, options):
        from hypothesis import strategies as st

        return self.draw(st.sampled_from(list(options)))

    def randint(self, low: int, high: int) -> int:
        from hypothesis import strategies as st

        return self.draw(st.integers(low, high))
