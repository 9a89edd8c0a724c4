"""The op registry: every activation and loss, defined once.

Each entry holds its scalar SymPy definition, an optional *presentation* of its
derivative (for instance sigmoid's ``a (1 - a)`` in terms of its own output ``a``), the
NumPy helper that computes it stably, and its LaTeX name.  Derivatives are derived by
SymPy from the definition; a presentation is only a cheaper way to write the same thing,
and ``tests/test_registry.py`` proves every presentation equal to the derived derivative.

Adding an activation or a loss is one entry in ``ACTIVATIONS`` or ``LOSSES``; the tests
are parametrised over these dicts and pick it up by themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import sympy as sp

#: The scalar variables entries are written in: pre-activation, activation output,
#: network output and target.
Z = sp.Symbol("z", real=True)
A = sp.Symbol("a", real=True)
Y = sp.Symbol("y", real=True)
T = sp.Symbol("t", real=True)


def constant_symbols(constants: tuple[tuple[str, float], ...]) -> tuple[sp.Symbol, ...]:
    """An entry's constants as symbols by their names (leaky_relu's ``alpha``, Huber's ``delta``):
    the handout derives and writes its formulas in them (``\\mathrm{alpha} z``, not ``z/10``),
    beside their values, as it writes a spec's own constants."""
    return tuple(sp.Symbol(name, real=True) for name, _ in constants)


class RegistryFunction(sp.Function):
    """A registered activation used inside SymPy expressions, e.g. ``sigmoid(beta*z)``.

    Extra arguments after the first are the activation's constants (``leaky_relu(z, 0.1)``).
    Its derivative is the entry's derivative, which is derived from the definition.
    """

    entry: Activation

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return self.entry.derivative_at(self.args[0], self.args[1:])

    def definition(self) -> sp.Expr:
        """The formula this function stands for, one level deep."""
        return self.entry.definition_at(self.args[0], self.args[1:])

    def _eval_evalf(self, prec):
        # softplus(1) is a number: Max/Min compare it, the printers fold it to a literal.
        return expand_definitions(self)._eval_evalf(prec)

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    # SymPy's printers call these hooks (``Printer.printmethod``).
    def _numpycode(self, printer):
        return printer.print_registry_function(self)

    def _latex(self, printer, exp=None):
        argument = getattr(printer, "_print_argument", printer._print)  # the handout's printer drops (-0.08)'s brackets
        constant = getattr(printer, "_print_constant", argument)  # and writes leaky_relu's 0.1 as the spec does, not 1/10
        args = ", ".join([argument(self.args[0]), *(constant(c) for c in self.args[1:])])
        call = rf"{self.entry.latex}\left({args}\right)"
        return call if exp is None else rf"{call}^{{{exp}}}"  # a power: SymPy's LaTeX printer passes its exponent


@dataclass(frozen=True)
class Kept:
    """A costly part of an activation f that f' repeats (gelu's Phi(z), an erf), which the NumPy
    and array-API modules compute once: the forward line calls ``_{name}_kept`` (``function``),
    which returns f and the part, and the backward step reads the part, computing f' by
    ``_{name}_derivative`` (``derivative``; the array-API module's arrays may not be written in
    place: it translates ``plain_function`` and ``plain_derivative``).  The handout writes f' as derived.  The test of
    the registry checks every piece against the definition."""

    #: Its name among the module's arrays (``_cdf_F_c`` for node array ``F_c``).
    what: str
    #: The part, of ``z`` and the constants.
    keep: Callable[..., sp.Expr]
    #: f', of ``z``, ``k`` (the part) and the constants.
    present: Callable[..., sp.Expr]
    #: The NumPy helper ``_{name}_kept(x)``: (f(x), the part), as few new arrays as it can.
    function: str
    #: The NumPy helper ``_{name}_derivative(x, k)``: f'(x), worked in place on one new array.
    derivative: str
    #: The two without ``out=`` (what the array-API module translates: its arrays may be immutable).
    plain_function: str
    plain_derivative: str


@dataclass(frozen=True)
class Activation:
    """An elementwise activation ``a = f(z; constants)``.

    ``define(z, *constants)`` gives the formula.  ``present(z, a, *constants)``, when set,
    gives f'(z) written the cheap way (it may use the output ``a``).  ``numpy_helper`` is
    the body of a NumPy function of ``x`` (and the constants) that computes f stably;
    ``None`` means f is printed inline from its definition.
    """

    name: str
    define: Callable[..., sp.Expr]
    constants: tuple[tuple[str, float], ...] = ()
    present: Callable[..., sp.Expr] | None = None
    numpy_helper: str | None = None
    helper_needs: tuple[str, ...] = ()
    latex: str = ""
    #: f as one Python expression over floats in ``{x}`` and the constants (``{alpha}``), with
    #: the ``math`` module's functions by name: the scalar backend's spelling (``emit.scalar``).
    #: Needed where ``numpy_helper`` is (the test of the registry checks it).
    python: str | None = None
    #: The whole NumPy helper, written by hand where ``numpy_helper``'s one expression is slow
    #: (module-level names it needs included); it must compute what ``numpy_helper`` does (the
    #: test of the registry checks both on numbers and arrays of every float dtype).
    numpy_function: str | None = None
    #: The NumPy helper ``_{name}_fresh`` (``fresh_helper``), for an argument made for the call and
    #: held by nothing else: it may overwrite its argument (the test of the registry checks it gives
    #: what ``numpy_function`` gives).  The array-API module never uses it (arrays may be immutable).
    numpy_fresh_function: str | None = None
    #: A costly part of f that f' repeats (gelu's normal CDF, an erf), computed once a pass by the
    #: NumPy and array-API modules (``Kept``).
    kept: Kept | None = None
    #: Whether the NumPy helper always returns an array made for the call (never its argument nor
    #: a view of it): the module may then write into that array (``emit.numpy.module``).  Off
    #: unless checked for the entry (the test of the registry checks it on arrays).
    numpy_new_array: bool = False

    def constant_values(self, given: dict[str, float] | None = None) -> tuple[sp.Expr, ...]:
        given = given or {}
        return tuple(sp.nsimplify(given.get(n, d), rational=True) for n, d in self.constants)

    def definition_at(self, z: sp.Expr, constants: tuple = ()) -> sp.Expr:
        return self.define(z, *(constants or self.constant_values()))

    def derived_derivative(self, constants: tuple = ()) -> sp.Expr:
        """f'(z) as SymPy derives it from the definition (in terms of ``Z``)."""
        return sp.diff(self.definition_at(Z, constants), Z)

    def derivative_at(self, z: sp.Expr, constants: tuple = ()) -> sp.Expr:
        """f'(z), in the entry's presentation when it has one, at an arbitrary argument."""
        constants = constants or self.constant_values()
        if self.present is None:
            return self.derived_derivative(constants).subs(Z, z)
        output = function_for(self.name)(z, *constants) if self.numpy_helper else self.define(z, *constants)
        return self.present(z, output, *constants)

    def derivative_in_output(self, constants: tuple = ()) -> sp.Expr:
        """f' written in ``Z`` and/or ``A`` (``A`` standing for f(Z)), for the backward pass."""
        constants = constants or self.constant_values()
        if self.present is None:
            return self.derived_derivative(constants)
        return self.present(Z, A, *constants)

    def apply(self, z: sp.Expr, constants: tuple = ()) -> sp.Expr:
        """f(z) as it appears in expressions: a registry function call, or the formula."""
        constants = constants or self.constant_values()
        if self.numpy_helper is None:
            return self.define(z, *constants)
        return function_for(self.name)(z, *constants)


#: The suffix of an activation's in-place NumPy helper (``Activation.numpy_fresh_function``).
FRESH = "_fresh"


def fresh_helper(name: str) -> str | None:
    """The helper name (``sigmoid_fresh``) of activation ``name``'s in-place NumPy helper, if it has one."""
    entry = ACTIVATIONS.get(name)
    return name + FRESH if entry is not None and entry.numpy_fresh_function else None


def fresh_activation(helper: str) -> Activation | None:
    """The activation whose in-place NumPy helper ``helper`` is (``sigmoid_fresh``: sigmoid's), else None."""
    entry = ACTIVATIONS.get(helper.removesuffix(FRESH)) if helper.endswith(FRESH) else None
    return entry if entry is not None and entry.numpy_fresh_function else None


#: The suffixes of an activation's NumPy helpers that keep a part of f for f' (``Kept``).
KEPT, DERIVATIVE = "_kept", "_derivative"


def kept_helpers(name: str) -> tuple[str, str] | None:
    """The helper names (``gelu_kept``, ``gelu_derivative``) of activation ``name``'s ``Kept``, if it has one."""
    entry = ACTIVATIONS.get(name)
    return (name + KEPT, name + DERIVATIVE) if entry is not None and entry.kept else None


def kept_source(helper: str, tuned: bool = True) -> str | None:
    """The source of helper ``helper`` when it is one of an activation's ``Kept`` helpers
    (``tuned``: the NumPy module's in-place derivative; else its expression), else None."""
    for suffix in (KEPT, DERIVATIVE):
        entry = ACTIVATIONS.get(helper.removesuffix(suffix)) if helper.endswith(suffix) else None
        if entry is not None and entry.kept:
            kept = entry.kept
            if suffix == KEPT:
                return kept.function if tuned else kept.plain_function
            return kept.derivative if tuned else kept.plain_derivative
    return None


def kept_owner(helper: str) -> Activation | None:
    """The activation whose ``Kept`` helper ``helper`` is (``gelu_kept``: gelu's), else None."""
    for suffix in (KEPT, DERIVATIVE):
        entry = ACTIVATIONS.get(helper.removesuffix(suffix)) if helper.endswith(suffix) else None
        if entry is not None and entry.kept:
            return entry
    return None


@cache
def function_for(name: str) -> type[RegistryFunction]:
    """The SymPy function class of a registered activation (one class per entry)."""
    entry = ACTIVATIONS[name]
    return type(name, (RegistryFunction,), {"entry": entry, "nargs": 1 + len(entry.constants)})


def expand_definitions(expr: sp.Expr) -> sp.Expr:
    """Replace every registry function by its formula, recursively: plain SymPy remains."""
    while True:
        calls = expr.atoms(RegistryFunction)
        if not calls:
            return expr
        expr = expr.xreplace({c: c.definition() for c in calls})


def _sigmoid(x):
    return function_for("sigmoid")(x)


#: The NumPy module's sigmoid: on a float array, one new array worked in place, with 0.5 and 1 as
#: 0-d arrays of its dtype (NumPy 2 takes a Python number through a slower scalar path).  Against
#: the expression, NumPy 2.4, one thread, float64 / float32: 0.83x / 0.69x on a (1, 2) array,
#: 0.58x / 0.75x on (64, 30), 0.94x / 0.83x on (1024, 30), 0.23x / 0.89x on (1024, 256), where
#: each of the expression's fresh 2 MB temporaries costs more than the arithmetic.
_SIGMOID_EXPRESSION = "0.5 * (1.0 + np.tanh(0.5 * x))"
_SIGMOID_FUNCTION = '''#: 0.5 and 1 as 0-d arrays of each float dtype: NumPy 2 takes a Python number through a slower path.
_SIGMOID_CONSTANTS = {np.dtype(kind): (np.array(0.5, kind), np.array(1.0, kind)) for kind in "efdg"}


def _sigmoid(x):
    """sigmoid(x) = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2: never overflows.  On a
    float array in place on one new array (faster)."""
    if type(x) is not np.ndarray or not x.ndim or x.dtype not in _SIGMOID_CONSTANTS:
        return ''' + _SIGMOID_EXPRESSION + '''
    half, one = _SIGMOID_CONSTANTS[x.dtype]
    y = np.multiply(x, half)
    np.tanh(y, out=y)
    y += one
    y *= half
    return y
'''
#: The sigmoid of an argument that nothing else holds (a product written into the line that
#: applies it): in place on the argument, no new array at all, as hand-written NumPy does it on
#: the fresh output of ``np.dot``.  0.3 us less a call at 2-2-2 and batch 1 (about 3% of the
#: whole ``loss_and_grad``).
_SIGMOID_FRESH_FUNCTION = '''def _sigmoid_fresh(x):
    """_sigmoid(x) for an x made for this call and held by nothing else: computed in place on x."""
    constants = _SIGMOID_CONSTANTS.get(x.dtype) if x.ndim else None
    if constants is None:
        return _sigmoid(x)
    half, one = constants
    x *= half
    np.tanh(x, out=x)
    x += one
    x *= half
    return x
'''

#: gelu(z) = z Phi(z) with Phi the normal CDF, whose derivative Phi(z) + z phi(z) reads Phi (an
#: erf, most of the work): the module's gelu keeps it.  The bits of gelu are the expression's:
#: 0.5 * x * (1 + e) and x * ((1 + e) * 0.5) scale one product by 2.  The derivative in place on
#: one new array: 121 against 600 us for dA * gelu'(z) as one expression on (64, 8, 128).
_GELU_KEPT = Kept(
    "cdf",
    lambda z: (1 + sp.erf(z / sp.sqrt(2))) / 2,
    lambda z, k: k + z * sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi),
    '''def _gelu_kept(x):
    """(gelu(x), Phi(x)), with Phi(x) = (1 + erf(x / sqrt(2))) / 2 the normal CDF, which the
    derivative of gelu(x) = x Phi(x) reads.  gelu(x) goes into the array that held x / sqrt(2)
    (one new array less)."""
    scaled = np.multiply(x, 0.7071067811865476)
    cdf = _erf(scaled)
    cdf += 1.0
    cdf *= 0.5
    if type(scaled) is np.ndarray and scaled.shape == cdf.shape and scaled.dtype == cdf.dtype:
        return np.multiply(x, cdf, out=scaled), cdf
    return x * cdf, cdf
''',
    '''def _gelu_derivative(x, cdf):
    """gelu'(x) = Phi(x) + x exp(-x**2 / 2) / sqrt(2 pi), from cdf = Phi(x) (_gelu_kept's): in
    place on one new array."""
    d = np.multiply(x, x, dtype=cdf.dtype)
    if type(d) is not np.ndarray:  # of a scalar (a parameter of shape []): a NumPy scalar has no out=
        return x * np.exp(-0.5 * d) * 0.3989422804014327 + cdf
    d *= -0.5
    np.exp(d, out=d)
    d *= x
    d *= 0.3989422804014327
    d += cdf
    return d
''',
    '''def _gelu_kept(x):
    """(gelu(x), Phi(x)), with Phi(x) = (1 + erf(x / sqrt(2))) / 2 the normal CDF, which the
    derivative of gelu(x) = x Phi(x) reads."""
    cdf = (_erf(x * 0.7071067811865476) + 1.0) * 0.5
    return x * cdf, cdf
''',
    '''def _gelu_derivative(x, cdf):
    """gelu'(x) = Phi(x) + x exp(-x**2 / 2) / sqrt(2 pi), from cdf = Phi(x) (_gelu_kept's)."""
    return x * np.exp(-0.5 * (x * x)) * 0.3989422804014327 + cdf
''',
)

#: SELU's constants to the digits of Klambauer et al. 2017 (PyTorch's too); float(SELU_SCALE) is
#: 1.0507009873554805.
SELU_SCALE = sp.Float("1.0507009873554804934193349852946", 32)
SELU_ALPHA = sp.Float("1.6732632423543772848170429916717", 32)

ACTIVATIONS: dict[str, Activation] = {
    entry.name: entry
    for entry in [
        Activation("identity", lambda z: z, latex=r"\operatorname{id}"),
        Activation(
            "sigmoid",
            lambda z: 1 / (1 + sp.exp(-z)),
            present=lambda z, a: a * (1 - a),
            numpy_helper=f"{_SIGMOID_EXPRESSION}  # computed as (1 + tanh(x / 2)) / 2: never overflows",
            python="0.5 + 0.5 * tanh(0.5 * {x})",
            numpy_function=_SIGMOID_FUNCTION,
            numpy_fresh_function=_SIGMOID_FRESH_FUNCTION,
            numpy_new_array=True,
            latex=r"\sigma",
        ),
        Activation(
            "tanh",
            lambda z: sp.tanh(z),
            present=lambda z, a: 1 - a**2,
            latex=r"\tanh",
        ),
        Activation(
            "relu",
            lambda z: sp.Piecewise((z, z > 0), (0, True)),
            present=lambda z, a: sp.Piecewise((1, z > 0), (0, True)),
            numpy_helper="np.maximum(x, 0.0)",
            python="({x} if {x} > 0.0 else 0.0)",
            numpy_new_array=True,
            latex=r"\operatorname{relu}",
        ),
        Activation(
            "leaky_relu",
            lambda z, alpha: sp.Piecewise((z, z > 0), (alpha * z, True)),
            constants=(("alpha", 0.01),),
            present=lambda z, a, alpha: sp.Piecewise((1, z > 0), (alpha, True)),
            numpy_helper="np.where(x > 0, x, alpha * x)",
            python="({x} if {x} > 0.0 else {alpha} * {x})",
            numpy_new_array=True,
            latex=r"\operatorname{leaky\_relu}",
        ),
        Activation(
            "elu",
            lambda z, alpha: sp.Piecewise((z, z > 0), (alpha * (sp.exp(z) - 1), True)),
            constants=(("alpha", 1.0),),
            present=lambda z, a, alpha: sp.Piecewise((1, z > 0), (a + alpha, True)),
            numpy_helper="np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))  # exp only of min(x, 0): never overflows",
            python="({x} if {x} > 0.0 else {alpha} * expm1({x}))",
            numpy_new_array=True,
            latex=r"\operatorname{elu}",
        ),
        Activation(
            "selu",
            lambda z: SELU_SCALE * sp.Piecewise((z, z > 0), (SELU_ALPHA * (sp.exp(z) - 1), True)),
            present=lambda z, a: sp.Piecewise((SELU_SCALE, z > 0), (a + SELU_SCALE * SELU_ALPHA, True)),
            numpy_helper=(
                f"np.where(x > 0, {float(SELU_SCALE)!r} * x, "
                f"{float(SELU_SCALE * SELU_ALPHA)!r} * np.expm1(np.minimum(x, 0.0)))"
                "  # exp only of min(x, 0): never overflows"
            ),
            python=f"({float(SELU_SCALE)!r} * {{x}} if {{x}} > 0.0 else {float(SELU_SCALE * SELU_ALPHA)!r} * expm1({{x}}))",
            numpy_new_array=True,
            latex=r"\operatorname{selu}",
        ),
        Activation(
            "softplus",
            lambda z: sp.log(1 + sp.exp(z)),
            present=lambda z, a: _sigmoid(z),
            numpy_helper="np.logaddexp(0.0, x)  # computed by logaddexp: never overflows",
            python="({x} + log1p(exp(-{x})) if {x} > 0.0 else log1p(exp({x})))",
            helper_needs=("sigmoid",),
            latex=r"\operatorname{softplus}",
        ),
        Activation(
            "silu",
            lambda z: z * _sigmoid(z),
            present=lambda z, a: _sigmoid(z) * (1 + z * (1 - _sigmoid(z))),
            numpy_helper="x * _sigmoid(x)",
            python="{x} * (0.5 + 0.5 * tanh(0.5 * {x}))",
            helper_needs=("sigmoid",),
            latex=r"\operatorname{silu}",
        ),
        Activation(
            "gelu",
            lambda z: z / 2 * (1 + sp.erf(z / sp.sqrt(2))),
            numpy_helper="0.5 * x * (1.0 + _erf(x * 0.7071067811865476))  # the exact erf form",
            python="0.5 * {x} * (1.0 + erf({x} * 0.7071067811865476))",
            helper_needs=("erf",),
            kept=_GELU_KEPT,
            latex=r"\operatorname{gelu}",
        ),
    ]
}
ACTIVATIONS["swish"] = ACTIVATIONS["silu"]

#: Activations that act on a whole vector, not elementwise; allowed on the output layer only.
VECTOR_ACTIVATIONS = ("softmax",)
#: The activations whose outputs lie in (0, 1): what a cross-entropy may take the log of.
PROBABILITY_ACTIVATIONS = ("sigmoid", "softmax")


@dataclass(frozen=True)
class Loss:
    """A per-sample loss ``sum or mean over outputs of ell(y_i, t_i)``.

    ``numpy_elementwise``, when set, is the stable NumPy spelling of ell, a format string
    in the array names ``{y}`` and ``{t}`` (ell is printed from its definition otherwise).
    The batch loss is the mean over samples.
    """

    name: str
    define: Callable[..., sp.Expr]
    reduction: str  # "sum" or "mean" over the outputs of one sample
    constants: tuple[tuple[str, float], ...] = ()
    numpy_elementwise: str | None = None
    helper_needs: tuple[str, ...] = ()  # helpers (printing.EXTRA_HELPERS) numpy_elementwise calls
    needs_output: str | None = None
    #: What a handout calls it in prose, article and all ("the cross-entropy"): a teacher says
    #: that, not the spec's name ``cross_entropy``, which the handout gives beside it.
    title: str = ""
    #: ell as Python over floats in ``{y}`` and ``{t}`` where the definition is not safe in
    #: floating point (the scalar backend's spelling, as ``numpy_elementwise`` is NumPy's).
    python_elementwise: str | None = None
    #: The activation that makes outputs of the range ell takes the log of ((0, 1): sigmoid for
    #: binary cross-entropy, softmax for cross-entropy).  After a linear output or another
    #: registry activation, whose values can leave (0, 1), the spec is refused (log of them is nan).
    probability_output: str | None = None

    def constant_values(self, given: dict[str, float] | None = None) -> tuple[sp.Expr, ...]:
        given = given or {}
        return tuple(sp.nsimplify(given.get(n, d), rational=True) for n, d in self.constants)

    def elementwise(self, constants: tuple = ()) -> sp.Expr:
        """ell(Y, T), the per-output term."""
        return self.define(Y, T, *(constants or self.constant_values()))



LOSSES: dict[str, Loss] = {
    entry.name: entry
    for entry in [
        Loss(
            "half_sse",
            lambda y, t: (t - y) ** 2 / 2,
            "sum",
            title="half the sum of squared errors",
        ),
        Loss("mse", lambda y, t: (y - t) ** 2, "mean", title="the mean squared error"),
        Loss("mae", lambda y, t: sp.Abs(y - t), "mean", title="the mean absolute error"),
        Loss(
            "huber",
            lambda y, t, delta: sp.Piecewise(
                ((y - t) ** 2 / 2, sp.Abs(y - t) <= delta), (delta * (sp.Abs(y - t) - delta / 2), True)
            ),
            "mean",
            constants=(("delta", 1.0),),
            title="the Huber loss",
        ),
        Loss(
            "binary_cross_entropy",
            lambda y, t: -(t * sp.log(y) + (1 - t) * sp.log(1 - y)),
            "mean",
            # log clamped at the smallest positive float, so log(0) is finite (PyTorch clamps too).
            numpy_elementwise="-({t} * _clamped_log({y}) + (1 - {t}) * _clamped_log(1 - {y}))",
            helper_needs=("clamped_log",),
            python_elementwise=(
                "-({t} * log(max({y}, 2.2250738585072014e-308)) + (1 - {t}) * log(max(1 - {y}, 2.2250738585072014e-308)))"
            ),
            title="the binary cross-entropy",
            probability_output="sigmoid",
        ),
        Loss(
            "cross_entropy",
            lambda y, t: -t * sp.log(y),
            "sum",
            needs_output="softmax",
            title="the cross-entropy",
            probability_output="softmax",
        ),
    ]
}
