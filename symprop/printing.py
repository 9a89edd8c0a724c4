"""Printing scalar SymPy expressions as NumPy code on whole arrays.

The expressions are elementwise formulas whose symbols are named after the arrays of
the generated module (``Z1``, ``A1``, ``dA1``, ``T``...).  The printer extends SymPy's
``NumPyPrinter`` the way SymPy's own printers are extended (``_print_<Class>`` methods,
``parenthesize``), records which helper functions (``_sigmoid``, ``_erf``...) the code
needs, and prints every constant as a plain Python number so that float32 arrays stay
float32 (NumPy scalars would promote them to float64).

Stability rewrites run as a separate pass before printing (``stabilise``), in the manner
of ``sympy.codegen.rewriting``.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.rewriting import ReplaceOptim, log1p_opt, optimize
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

from .errors import SymPropError
from .registry import expand_definitions, function_for


class logcosh(sp.Function):
    """log(cosh(x)), printed as the overflow-free ``|x| + log1p(exp(-2|x|)) - log 2``."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sp.tanh(self.args[0])

    def _eval_evalf(self, prec):
        return sp.log(sp.cosh(self.args[0]))._eval_evalf(prec)


_logcosh_opt = ReplaceOptim(
    lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.cosh),
    lambda e: logcosh(e.args[0].args[0]),
)
_softplus_opt = ReplaceOptim(
    lambda e: isinstance(e, sp.log)
    and isinstance(e.args[0], sp.Add)
    and len(e.args[0].args) == 2
    and sp.S.One in e.args[0].args
    and any(isinstance(a, sp.exp) for a in e.args[0].args),
    lambda e: function_for("softplus")(next(a for a in e.args[0].args if isinstance(a, sp.exp)).args[0]),
)


def stabilise(expr: sp.Expr) -> sp.Expr:
    """Rewrite patterns that overflow or lose precision in floating point."""
    return optimize(expr, [_logcosh_opt, _softplus_opt, log1p_opt])


#: NumPy source of helper functions other than the registry's activations.
EXTRA_HELPERS = {
    "clamped_log": (
        "def _clamped_log(u):\n"
        '    """log(u) with u clamped at the smallest positive float: log(0) stays finite."""\n'
        "    return np.log(np.maximum(u, np.finfo(u.dtype).tiny))\n"
    ),
    "logcosh": (
        "def _logcosh(x):\n"
        '    """log(cosh(x)) without overflow: |x| + log1p(exp(-2|x|)) - log(2)."""\n'
        "    ax = np.abs(x)\n"
        "    return ax + np.log1p(np.exp(-2.0 * ax)) - 0.6931471805599453\n"
    ),
    "softmax": (
        "def _softmax(z, axis=-1):\n"
        '    """softmax along an axis (the last by default), shifted by the maximum so exp never overflows."""\n'
        "    if axis in (-1, z.ndim - 1):  # the row maxima and sums of short rows fast\n"
        "        e = np.exp(z - _row_max(z))\n"
        "        return e / _row_sum(e)\n"
        "    e = np.exp(z - z.max(axis=axis, keepdims=True))\n"
        "    return e / e.sum(axis=axis, keepdims=True)\n"
    ),
    "row_max": (
        "def _row_max(z):\n"
        '    """z\'s maximum along its last axis (keepdims).  NumPy reduces a short contiguous axis row\n'
        "    by row, ~50 ns a row: a short one (16 or fewer) is copied transposed first, so that the\n"
        "    reduction runs along long rows ((64, 8, 8) scores: 8 against 28 us; (1024, 5): 18 against 67).\"\"\"\n"
        "    n = z.shape[-1]\n"
        "    if n > 16:\n"
        "        return z.max(axis=-1, keepdims=True)\n"
        "    return z.reshape(-1, n).T.copy().max(axis=0).reshape(*z.shape[:-1], 1)\n"
    ),
    "row_sum": (
        "def _row_sum(A):\n"
        '    """A summed along its last axis (keepdims), by BLAS: a product with ones, 2-3x faster than\n'
        "    A.sum(axis=-1, keepdims=True) on short rows ((64, 8, 8): 5 against 14 us, NumPy 2.4).\"\"\"\n"
        "    return (A @ _ones(A.shape[-1], A.dtype))[..., None]\n"
    ),
    "batch_sum": (
        "def _batch_sum(A, axes=1):\n"
        '    """A summed over its first ``axes`` axes (the batch, and leading broadcast axes), as a\n'
        "    product with ones: BLAS runs it 5-15x faster than A.sum(axis=0) on (batch, few) arrays.\"\"\"\n"
        "    if axes == 1 and A.ndim == 2:  # (batch, n): the usual case, without reshapes\n"
        "        return np.dot(_ones(len(A), A.dtype), A)\n"
        "    rows = columns = 1\n"
        "    for n in A.shape[:axes]:\n"
        "        rows *= n\n"
        "    for n in A.shape[axes:]:\n"
        "        columns *= n\n"
        "    return np.dot(_ones(rows, A.dtype), A.reshape(rows, columns)).reshape(A.shape[axes:])\n"
    ),
    "softmax_lse": (
        "def _softmax_lse(z, axis=-1):\n"
        '    """(softmax(z), logsumexp(z)) along an axis (the last by default; kept, of size 1), from one\n'
        "    exp: the cross-entropy -sum_i t_i log(softmax(z)_i) is then sum_i t_i (logsumexp(z) - z_i),\n"
        "    stable at any z.\"\"\"\n"
        "    last = axis == -1  # the row maxima and sums of short rows fast (the module gives the last axis as -1)\n"
        "    top = _row_max(z) if last else z.max(axis=axis, keepdims=True)\n"
        "    e = np.exp(z - top)\n"
        "    total = _row_sum(e) if last else e.sum(axis=axis, keepdims=True)\n"
        "    return e / total, np.log(total) + top\n"
    ),
    "batch_product": (
        "#: Per shapes and dtypes of a product A W^T: whether BLAS computes it faster transposed.\n"
        "_TRANSPOSED_FASTER = {}\n"
        "\n"
        "\n"
        "def _batch_product(A, W):\n"
        '    """A W^T, np.dot(A, W.T), by BLAS: as written, or transposed, np.dot(W, A.T) copied back into\n'
        "    rows.  The same dot products, not the same time: OpenBLAS's speed depends on which operand it\n"
        "    transposes (0.3.31, one thread, float64 1024 x 784 by 30: 1430 us, 1100 us transposed; float32\n"
        "    660 us, 780 us), by no rule that holds for every shape and dtype, so the first product of a\n"
        "    shape times both (best of five each) and keeps the faster, but only where both give the same\n"
        "    bits (OpenBLAS's do; a BLAS that sums in another order keeps np.dot), so that no result\n"
        '    depends on a timing."""\n'
        "    key = (A.shape, W.shape, A.dtype, W.dtype)\n"
        "    transposed = _TRANSPOSED_FASTER.get(key)\n"
        "    if transposed is None:\n"
        "        from time import perf_counter\n"
        "\n"
        "        if len(_TRANSPOSED_FASTER) > 100:  # many batch sizes: start over\n"
        "            _TRANSPOSED_FASTER.clear()\n"
        '        plain = flipped = float("inf")\n'
        "        for _ in range(5):\n"
        "            start = perf_counter()\n"
        "            as_written = np.dot(A, W.T)\n"
        "            middle = perf_counter()\n"
        "            turned = np.dot(W, A.T).T.copy()\n"
        "            plain, flipped = min(plain, middle - start), min(flipped, perf_counter() - middle)\n"
        "        same = np.array_equal(as_written, turned)\n"
        "        transposed = _TRANSPOSED_FASTER[key] = flipped < plain and same\n"
        "    return np.dot(W, A.T).T.copy() if transposed else np.dot(A, W.T)\n"
    ),
    "ones": (
        "_ONES = {}\n"
        "\n"
        "\n"
        "def _ones(n, dtype, mean=False):\n"
        '    """A vector of n ones (mean=True: of n values 1/n, the weights of a mean), made once per length,\n'
        "    dtype and kind (read-only): sums and means written as products with it run by BLAS, 2-15x faster\n"
        "    than .sum(axis=...) on (batch, few) arrays, and np.ones itself costs ~0.8 us a call (NumPy 2.4).\"\"\"\n"
        "    ones = _ONES.get((n, dtype, mean))\n"
        "    if ones is None:\n"
        "        if len(_ONES) > 100:  # many batch sizes: start over\n"
        "            _ONES.clear()\n"
        "        ones = _ONES[n, dtype, mean] = np.full(n, 1 / n if mean else 1.0, dtype)\n"
        "        ones.flags.writeable = False\n"
        "    return ones\n"
    ),
}

#: The helpers each of ``EXTRA_HELPERS`` calls.
EXTRA_HELPER_NEEDS = {
    "softmax": ("row_max", "row_sum"),
    "softmax_lse": ("row_max", "row_sum"),
    "row_sum": ("ones",),
    "batch_sum": ("ones",),
}


class PlainArithmetic:
    """The arithmetic every code printer of symprop shares (a mixin before a SymPy code printer):
    constants folded into float literals, ``t - y`` as written, quotients with one ``/``,
    powers with ``**`` (a square root by ``sqrt``), comparisons.  ``fold_constants``: whether a
    number-valued expression prints as one literal (``ArrayPrinter``, the scalar backend's)."""

    #: Print number-valued expressions as float literals (the comments' MathPrinter keeps them).
    fold_constants = True

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        prec = PRECEDENCE["Relational"]
        return f"{self.parenthesize(expr.lhs, prec)} {op} {self.parenthesize(expr.rhs, prec)}"

    def _print(self, expr, **kwargs):
        literal = self.literal(expr)
        if literal is not None:
            return literal
        return super()._print(expr, **kwargs)

    def literal(self, expr) -> str | None:
        """A number-valued expression that is not a plain number (``2 - tanh(1)``,
        ``softplus(1)``, ``sqrt(2)``) as one float literal; None for anything else.

        Folding is what makes such constants safe to print anywhere: a literal needs no
        parentheses where ``2 - np.tanh(1)`` would (``z * (2 - tanh(1))``)."""
        if not self.fold_constants or not isinstance(expr, sp.Expr) or not expr.is_number:
            return None
        if isinstance(expr, (sp.Integer, sp.Float)) or (expr.is_Rational and _short_decimal(expr)):
            return None  # printed by _print_Integer/_print_Float/_print_Rational
        if expr.is_Rational:
            return None  # 1 / 3: exact, printed as a division (and parenthesised as one)
        return repr(real_value(expr))

    def parenthesize(self, item, level, strict=False):
        if isinstance(item, sp.Expr) and item.is_number:
            printed = self._print(item)
            if _is_plain_literal(printed):
                return printed  # a non-negative literal like 0.01 or 0.7615941559557649 needs no parentheses
        return super().parenthesize(item, level, strict)

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Rational(self, expr):
        if _short_decimal(expr):
            return repr(float(expr))
        return f"{expr.p} / {expr.q}"

    def _print_Integer(self, expr):
        return str(expr.p)

    def _print_NumberSymbol(self, expr):
        return repr(float(expr))

    def _print_Add(self, expr, order=None):
        # Positive terms first, so that `t - y` reads as written, not `-y + t`.
        terms = self._as_ordered_terms(expr, order=order)
        positive = [term for term in terms if not term.could_extract_minus_sign()]
        negative = [-term for term in terms if term.could_extract_minus_sign()]
        code = " + ".join(self._print(term) for term in positive)
        for term in negative:
            printed = self.parenthesize(term, PRECEDENCE["Add"] + 1)
            code = f"{code} - {printed}" if code else f"-{printed}"
        return code

    def _print_Mul(self, expr):
        sign = ""
        if expr.could_extract_minus_sign():
            sign, expr = "-", -expr
        args = sp.Mul.make_args(expr)
        coefficient = sp.Mul(*[f for f in args if f.is_Rational])
        numerator, denominator = [], []
        if not _short_decimal(coefficient):
            if coefficient.p != 1:
                numerator.append(sp.Integer(coefficient.p))
            if coefficient.q != 1:
                denominator.append(sp.Integer(coefficient.q))
        elif coefficient != 1:
            numerator.append(coefficient)
        for factor in (f for f in args if not f.is_Rational):
            if factor.is_Pow and factor.exp.is_number and factor.exp.is_negative:
                denominator.append(factor.base ** -factor.exp)
            else:
                numerator.append(factor)
        prec = PRECEDENCE["Mul"]
        top = " * ".join(self.parenthesize(f, prec) for f in numerator) or self._print(sp.S.One)
        if not denominator:
            return sign + top
        if len(denominator) == 1:
            bottom = self.parenthesize(denominator[0], prec + 1)
        else:
            bottom = "(" + " * ".join(self.parenthesize(f, prec) for f in denominator) + ")"
        return f"{sign}{top} / {bottom}"

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        if exponent == sp.S.Half:
            return f"{self._module_format('numpy.sqrt')}({self._print(base)})"
        if exponent.is_number and exponent.is_negative:
            return self._print_Mul(sp.Mul(1, expr, evaluate=False))
        prec = PRECEDENCE["Pow"]
        # ** groups to the right: a power as the base needs parentheses, as the exponent not.
        return f"{self.parenthesize(base, prec, strict=True)} ** {self.parenthesize(exponent, prec)}"


class ArrayPrinter(PlainArithmetic, NumPyPrinter):
    """NumPy code for elementwise expressions; ``helpers`` collects the helpers used."""

    printmethod = "_numpycode"

    def __init__(self):
        super().__init__({"fully_qualified_modules": True, "strict": True})
        self.helpers: set[str] = set()

    def _module_format(self, fqn, register=True):
        # The generated module does `import numpy as np`.
        if fqn.startswith("numpy."):
            return "np." + fqn[len("numpy.") :]
        return super()._module_format(fqn, register)

    def print_registry_function(self, expr):
        entry = expr.entry
        self.helpers.add(entry.name)
        self.helpers.update(entry.helper_needs)
        args = ", ".join(self._print(a) for a in expr.args)
        return f"_{entry.name}({args})"

    def _print_logcosh(self, expr):
        self.helpers.add("logcosh")
        return f"_logcosh({self._print(expr.args[0])})"

    def _print_erf(self, expr):
        self.helpers.add("erf")
        return f"_erf({self._print(expr.args[0])})"

    def _print_sign(self, expr):
        return f"{self._module_format('numpy.sign')}({self._print(expr.args[0])})"

    def _print_Abs(self, expr):
        return f"{self._module_format('numpy.abs')}({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr):
        *branches, (last, cond) = expr.args
        if cond != sp.true:
            raise ValueError(f"Piecewise without a default branch cannot be printed: {expr}")
        code = self._print(last)
        for value, condition in reversed(branches):
            code = f"{self._module_format('numpy.where')}({self._print(condition)}, {self._print(value)}, {code})"
        return code

    def _print_And(self, expr):
        return " & ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Or(self, expr):
        return " | ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Max(self, expr):
        return self._nested("numpy.maximum", expr.args)

    def _print_Min(self, expr):
        return self._nested("numpy.minimum", expr.args)

    def _nested(self, function: str, args) -> str:
        """``f(a, f(b, c))`` for a function of two arrays applied to several."""
        name = self._module_format(function)
        code = self._print(args[-1])
        for arg in reversed(args[:-1]):
            code = f"{name}({self._print(arg)}, {code})"
        return code

    def _print_Heaviside(self, expr):
        # H(x) with its value at 0: 0 for the formulas' step(x), 1/2 for the derivative of max(a, b), 1 for
        # whether an argument attains a max of more (differentiation.derivative).
        x, at_zero = expr.args
        return f"{self._module_format('numpy.heaviside')}({self._print(x)}, {self._print(at_zero)})"


def real_value(expr: sp.Expr) -> float:
    """The value of a number-valued expression (registry functions written out), as a float;
    SymPropError if it is not a finite real number."""
    value = expand_definitions(expr).evalf(30)
    if not value.is_Number or not value.is_finite:
        raise SymPropError(f"the constant {expr} is not a finite real number ({value})")
    return float(value)


def _is_plain_literal(printed: str) -> bool:
    """Whether ``printed`` (the code of a number-valued expression) is one non-negative number literal."""
    try:
        return float(printed) >= 0
    except ValueError:
        return False


def _short_decimal(number: sp.Rational) -> bool:
    """True when the rational prints exactly as a short decimal (0.5, 1.5, 0.01)."""
    return number.is_Rational and sp.Rational(repr(float(number))) == number and len(repr(float(number))) <= 8


def print_array_expr(expr: sp.Expr, printer: ArrayPrinter) -> str:
    """One expression as NumPy code (after the stability pass)."""
    return printer.doprint(stabilise(expr))
