"""Pass 2 of a graph spec, the calls: ``f(args, **keywords)`` -> an activation, an elementwise
math function, a tensor op of ``symprop.ops`` (by its shape rule) or a loss.  A mixin of
``lowering.Lowering``, which gives it the bookkeeping (``new``, ``value``, ``fail``, ...)."""

from __future__ import annotations

from .. import registry
from ..ops import OPS, Activation, Arg, Call, Dense, Elementwise, Loss, MatMul, ShapeRuleError, arg_symbol, broadcast_shape
from ..spec import ActivationChoice, LossChoice
from ..spec_reader import MATH_FUNCTIONS
from .expressions import Static, TensorExpr

#: The language's names of the tensor ops (``softmax``, ``sum``, ...): each op declares its own.
CALLS = {name: op for op in OPS for name in op.CALL_NAMES}
TENSOR_FUNCTIONS = tuple(CALLS)
#: Elementwise math functions (``tanh`` is a registered activation and counts as one).
ELEMENTWISE_FUNCTIONS = {name: f for name, f in MATH_FUNCTIONS.items() if name not in registry.ACTIVATIONS}


class CallLowering:
    """The calls of a graph spec's expressions (see the module docstring)."""

    def call(self, tree: TensorExpr, name: str | None, root: str) -> str:
        function = tree.name
        args, keywords = tree.args, tree.keywords
        where = f"{function}(...) at {self.at(tree)}"

        def tensors(count: int | None = None) -> list[str]:
            if count is not None and len(args) != count:
                self.fail(f"{where} takes {count} argument{'s' if count > 1 else ''}, got {len(args)}")
            return [self.tensor(arg, root, f"{function}(...)") for arg in args]

        def no_keywords():
            if keywords:
                self.fail(f"{where}: unexpected keyword {next(iter(keywords))}=")

        if function in registry.ACTIVATIONS or function in self.functions:
            if not args:
                self.fail(f"{where} needs an argument")
            operand = self.tensor(args[0], root, f"{function}(...)")
            choice = self.activation_choice(function, args[1:], keywords, where)
            return self.new(name, root, Activation(choice), (operand,), self.shape(operand), tree)
        reduction = function in ("max", "min") and (len(args) == 1 or keywords)
        if function in ELEMENTWISE_FUNCTIONS and not reduction:
            no_keywords()
            return self.math_function(tree, name, root, where)
        op_class = CALLS.get(function)
        if op_class is not None:  # a tensor op of symprop.ops, by its shape rule
            call_args, operands = [], []
            for arg in args:
                value = self.value(arg, root)
                if isinstance(value, str):
                    operands.append(value)
                    call_args.append(
                        Arg(self.text(arg), self.shape(value), dtype=self.dtypes[value], batched=value in self.batched)
                    )
                else:
                    call_args.append(Arg(self.text(arg), value=value.value if isinstance(value, Static) else value))
            plain = {k: v.value if isinstance(v, Static) else v for k, v in keywords.items()}
            try:
                op, shape = op_class.from_call(Call(function, tuple(call_args), plain))
            except ShapeRuleError as exc:
                self.fail(f"{where}: {exc}")
            return self.new(name, root, op, tuple(operands), shape, tree)
        if function == "min" and reduction:
            self.fail(f"{where}: min over axes is not in the language; write -max(-x, axis=...)")
        if function in registry.LOSSES:
            return self.loss_function(tree, name, root, where)
        raise AssertionError(function)

    def activation_choice(self, function: str, extra, keywords: dict, where: str) -> ActivationChoice:
        if function in self.functions:
            if extra or keywords:
                self.fail(f"{where}: {function} is a formula function and takes one argument")
            return ActivationChoice(function, formula=self.functions[function])
        entry = registry.ACTIVATIONS[function]
        names = [n for n, _ in entry.constants]
        if len(extra) > len(names):
            self.fail(f"{where}: {function} takes {1 + len(names)} argument(s) at most")
        given = {}
        for constant, value in zip(names, extra):
            if isinstance(value, (TensorExpr, Static)):
                self.fail(f"{where}: the constant {constant} must be a number")
            given[constant] = value
        for key, value in keywords.items():
            if key not in names:
                self.fail(f"{where}: {function} has no constant {key!r}; its constants: {', '.join(names) or 'none'}")
            if key in given:
                self.fail(f"{where}: {key} is given twice")
            if isinstance(value, Static):
                self.fail(f"{where}: the constant {key} must be a number")
            given[key] = value
        return ActivationChoice(entry.name, entry.constant_values(given))

    def math_function(self, tree: TensorExpr, name: str | None, root: str, where: str) -> str:
        function = tree.name
        values = [self.value(arg, root) for arg in tree.args]
        for value in values:
            if isinstance(value, Static):  # sqrt('i'), max(x, [2, 3]): a SympifyError otherwise
                self.fail(f"{where}: {value.text} is not a number or a tensor")
        arity = 2 if function in ("max", "min") else 1
        if len(values) != arity:
            self.fail(f"{where} takes {arity} argument{'s' if arity > 1 else ''}, got {len(values)}")
        inputs, symbols = operands(values)
        expr = ELEMENTWISE_FUNCTIONS[function](*symbols)
        shapes = tuple(self.shape(i) for i in inputs)
        shape = broadcast_shape(*shapes)
        if shape is None:
            self.fail(
                f"shape mismatch in {where}: {self.text(tree.args[0])} has shape {list(shapes[0])}, "
                f"{self.text(tree.args[1])} has shape {list(shapes[1])}"
            )
        return self.new(name, root, Elementwise(expr, shapes, function), inputs, shape, tree)

    def loss_function(self, tree: TensorExpr, name, root, where) -> str:
        function = tree.name
        entry = registry.LOSSES[function]
        if len(tree.args) < 2:
            self.fail(f"{where} takes the output and the target, e.g. {function}(y, t)")
        extra = tree.args[2:]
        y, t = [self.tensor(arg, root, f"{function}(...)") for arg in tree.args[:2]]
        names = [n for n, _ in entry.constants]
        if len(extra) > len(names):
            self.fail(f"{where} takes {2 + len(names)} argument(s) at most")
        given = dict(zip(names, extra))
        for key, value in tree.keywords.items():
            if key not in names:
                self.fail(f"{where}: {function} has no constant {key!r}; its constants: {', '.join(names) or 'none'}")
            given[key] = value
        for key, value in given.items():
            if isinstance(value, (TensorExpr, Static)):
                self.fail(f"{where}: the constant {key} must be a number")
        values = entry.constant_values(given)
        if function == "huber" and values[0] <= 0:
            self.fail(f"{where}: delta must be positive, got {values[0]}")
        if self.shape(y) != self.shape(t):
            self.fail(
                f"shape mismatch in {where}: the output {self.text(tree.args[0])} has shape {list(self.shape(y))}, "
                f"the target {self.text(tree.args[1])} has shape {list(self.shape(t))}"
            )
        if t in self.param_dependent:
            self.fail(f"{where}: the target {self.text(tree.args[1])} depends on a parameter; no gradient flows into a target")
        self.check_probabilities(entry, y, tree.args[0], where)
        return self.new(name, root, Loss(LossChoice(entry.name, values)), (y, t), (), tree)

    def check_probabilities(self, entry, y: str, tree, where: str) -> None:
        """A cross-entropy takes the log of its output: refused where that output is certainly not
        in (0, 1), a linear one (``W @ x + b``) or another activation than sigmoid and softmax (as a
        layer stack's output layer, ``spec_reader.FieldReader.loss``); any other expression may be."""
        if entry.probability_output is None:
            return
        op = self.nodes[y].op
        linear = isinstance(op, (Dense, MatMul))
        activation = getattr(op, "activation", False) and op.choice.formula is None
        if linear or (activation and op.choice.name not in registry.PROBABILITY_ACTIVATIONS):
            text = self.text(tree)
            what = "linear (it can be any number)" if linear else f"a {op.choice.name}, whose values leave (0, 1)"
            fixed = f"{entry.name}({entry.probability_output}({text}), ...)"
            self.fail(f"{where}: {entry.name} needs outputs in (0, 1) (it takes their log), but {text} is {what}; write {fixed}")


def operands(values: list) -> tuple[tuple[str, ...], list]:
    """Split an op's arguments into its input nodes (names) and the symbols of its formula:
    the i-th node argument becomes ``arg_symbol(i)``, a constant stays itself."""
    inputs = tuple(v for v in values if isinstance(v, str))
    position = iter(range(len(inputs)))
    return inputs, [arg_symbol(next(position)) if isinstance(v, str) else v for v in values]
