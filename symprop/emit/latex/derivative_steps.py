"""A local derivative derived step by step (each line checked numerically): sigmoid to a(1 - a)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from ... import differentiation, registry
from ...latex_printing import paren, to_latex, visible_length
from ...textbook_forms import textbook_form
from .tex import Tex

#: Of a derivation with a line wider than this (``visible_length``), the boxed line's note leaves
#: out its "simplified": custom_swish's derivative in beta by name and that note ran 23 pt into the margin.
WIDE_LINE = 40

#: A derivative of more operations than this is shown as the backward pass computes it
#: (``readable_derivative``: factor and cancel take longer on larger expressions).
READABLE_MAX_OPS = 40


@dataclass
class _Line:
    rhs: Tex
    reason: Tex
    boxed: bool = False


@dataclass
class _Lines:
    definition_steps: list[_Line] = field(default_factory=list)
    derivative_steps: list[_Line] = field(default_factory=list)


def fold_constants(expr: sp.Expr) -> sp.Expr:
    """A constant times a piecewise function as one piecewise function (for display)."""
    return sp.piecewise_fold(expr) if expr.has(sp.Piecewise) else expr


@lru_cache(maxsize=256)  # each activation node and each edition asks again: the simplifications, once
def readable_derivative(expr: sp.Expr) -> sp.Expr:
    """A formula's derivative as a teacher writes it: the shortest on the page (by visible
    length; among equals, the signs a textbook writes: ``textbook_forms.textbook_form``) of the backward
    pass's form and its ``together``, ``factor`` and ``cancel`` forms.  softsq ``z / (1 + z^2/2)``:
    ``2 (2 - z^2) / (z^2 + 2)^2``, where the backward pass computes ``2 (1 - 2 z^2 / (z^2 + 2)) /
    (z^2 + 2)``.  Bounded: a piecewise derivative, or one of over ``READABLE_MAX_OPS`` operations,
    stays as computed."""
    if expr.has(sp.Piecewise) or sp.count_ops(expr) > READABLE_MAX_OPS:
        return expr
    candidates = [expr, sp.together(expr), sp.factor(expr), sp.cancel(expr)]
    return textbook_form(candidates, lambda e: visible_length(to_latex(e)))


def registry_calls(expr: sp.Expr) -> list[str]:
    """Names of the registry functions that ``expr`` calls, in a stable order."""
    return sorted({call.entry.name for call in expr.atoms(registry.RegistryFunction)})


def displayed_definition(definition: sp.Expr) -> sp.Expr:
    """The definition a derivation starts from: a function SymPy knows by name (``tanh(z)``)
    written in exponentials, ``(e^z - e^{-z}) / (e^z + e^{-z})``: ``tanh(z) = tanh(z)`` defines
    nothing, and the steps below need the exponentials."""
    if isinstance(definition, sp.Function) and len(definition.args) == 1:
        rewritten = definition.rewrite(sp.exp)
        if rewritten != definition and not rewritten.has(type(definition)):
            return rewritten
    return definition


def derivative_lines(definition, var, presentation=None, named=None, final=None, computed=True) -> list[_Line]:
    """f'(var), step by step, each line checked equal to SymPy's derivative (a line that is not
    is left out, so no slip of this module can reach the page).

    1. the chain (or product, or quotient) rule applied once, unevaluated;
    2. the derivative it gives, multiplied out;
    3. for an entry with a presentation in its output (sigmoid's ``a (1 - a)``, tanh's
       ``1 - a^2``): the steps from 2 to that form as the tutorials take them (``_toward_output``),
       then the function by its name (``named``: its value at ``var`` and its LaTeX name), then
       boxed, in ``a``.  Otherwise ``final`` (the simplified derivative the backward pass
       uses, or with ``computed`` False the same function written otherwise), boxed.
    """
    raw = differentiation.derivative(definition, var)
    free = sorted(definition.free_symbols | {var}, key=lambda s: s.name)
    lines: list[_Line] = []
    seen: list[str] = []

    def add(expr_tex: str, reason: str, check: sp.Expr | None = None, boxed: bool = False):
        if check is not None and not same_function(check, raw, free):
            return
        if expr_tex in seen:
            return
        seen.append(expr_tex)
        lines.append(_Line(Tex(expr_tex), Tex(reason), boxed))

    quotient = _quotient_rule(definition, var)
    chain = quotient or chain_rule_step(definition, var)
    if chain is not None:
        add(chain[0], chain[2], chain[1])
    if quotient is None:  # a quotient's derivative multiplied out is one long fraction: the steps below read better
        add(to_latex(fold_constants(raw)), "multiplied out" if lines else "differentiated", raw)
    if presentation is not None:
        has_piecewise = presentation.has(sp.Piecewise) or definition.has(sp.Piecewise)
        if not has_piecewise and presentation.has(registry.A):
            for tex, reason, value in _toward_output(definition, var, raw, presentation):
                add(tex, reason, value)
            if named is not None:
                call = rf"{named[1]}(z)"
                by_name = {registry.A: call}
                tex = _product(sp.Mul.make_args(presentation), by_name) if isinstance(presentation, sp.Mul) else None
                add(
                    tex or to_latex(presentation, by_name),
                    rf"by its name, ${call} = {to_latex(definition)}$",
                    presentation.xreplace({registry.A: named[0]}),
                )
        elif not has_piecewise:
            add(to_latex(registry.expand_definitions(presentation)), "simplified", registry.expand_definitions(presentation))
        check = presentation.xreplace({registry.A: definition}) if presentation.has(registry.A) else presentation
        boxed_reason = "in terms of the output $a$" if presentation.has(registry.A) else "as the backward pass computes it"
        if same_function(check, raw, free):
            seen_before = [line for line in lines if line.rhs == to_latex(presentation)]
            for line in seen_before:
                lines.remove(line)
                seen.remove(line.rhs)
            add(to_latex(presentation), boxed_reason, boxed=True)
    elif final is not None:
        final_tex = to_latex(final)

        def bare(tex: str) -> str:
            return tex.replace(r"\cdot", "").replace(" ", "")

        if chain is not None and len(lines) == 2 and bare(final_tex) == bare(lines[0].rhs):
            seen.remove(lines.pop().rhs)  # 2 (y - t) after 2 . (y - t) by the chain rule: not 2y - 2t between
        reason = "as the backward pass computes it" if computed else "equal to the backward pass's form, shorter"
        widest = max([visible_length(str(line.rhs)) for line in lines] + [visible_length(final_tex)])
        add(final_tex, reason if widest > WIDE_LINE else f"simplified ({reason})", final, boxed=True)
    if lines and not any(line.boxed for line in lines):  # the last line is what the backward pass computes
        lines[-1].boxed = True
    return lines


def _toward_output(definition: sp.Expr, var: sp.Symbol, raw: sp.Expr, presentation: sp.Expr) -> list[tuple[str, str, sp.Expr]]:
    """(LaTeX, reason, value) of the steps from the derivative to its presentation in the output
    ``a``, as the tutorials write them; each is checked by the caller.

    ``1 / D`` (sigmoid): the denominator split in two, 1 added and subtracted in the numerator,
    the fraction split: ``1/D * (1 - 1/D)``, the definition twice.  ``N / D`` (tanh): the two
    fractions of the quotient rule, the first of them 1: ``1 - (N/D)^2``.  Otherwise the
    presentation with the definition put in for ``a``."""
    a_tex = paren_always(to_latex(definition))
    plugged = _product([f.xreplace({registry.A: definition}) for f in sp.Mul.make_args(presentation)])
    if isinstance(presentation, sp.Add):
        plugged = to_latex(presentation.xreplace({registry.A: sp.Symbol("a_stand_in")}), {sp.Symbol("a_stand_in"): a_tex})
    put_in = (plugged, "the definition put in for $a$", presentation.xreplace({registry.A: definition}))
    numerator, denominator = sp.fraction(definition)
    if numerator == 1 and denominator.has(var):  # 1 / D
        d_tex = to_latex(denominator)
        top = sp.simplify(raw * denominator**2)
        steps = [(rf"\frac{{1}}{{{d_tex}}} \cdot \frac{{{to_latex(top)}}}{{{d_tex}}}", "the denominator split in two", raw)]
        if sp.simplify(top - (denominator - 1)) == 0:
            added = rf"\frac{{1}}{{{d_tex}}} \cdot \frac{{({d_tex}) - 1}}{{{d_tex}}}"
            steps.append((added, "1 added and subtracted in the numerator", raw))
            steps.append(
                (
                    rf"\frac{{1}}{{{d_tex}}} \cdot \left(1 - \frac{{1}}{{{d_tex}}}\right)",
                    rf"the fraction split in two: $\frac{{{d_tex}}}{{{d_tex}}} = 1$",
                    raw,
                )
            )
            return steps
        return [*steps, put_in]
    if numerator.has(var) and denominator.has(var):  # N / D
        dn, dd = sp.diff(numerator, var), sp.diff(denominator, var)
        n_tex, d_tex = to_latex(numerator), to_latex(denominator)
        if sp.simplify(dn - denominator) == 0 and sp.simplify(dd - numerator) == 0:
            return [
                (
                    rf"\frac{{({d_tex})^{{2}}}}{{({d_tex})^{{2}}}} - \frac{{({n_tex})^{{2}}}}{{({d_tex})^{{2}}}}",
                    r"two fractions, as $u' = v$ and $v' = u$",
                    raw,
                ),
                (rf"1 - \left(\frac{{{n_tex}}}{{{d_tex}}}\right)^{{2}}", "the first fraction is 1", raw),
            ]
    return [put_in]


def _quotient_rule(expr: sp.Expr, var: sp.Symbol) -> tuple[str, sp.Expr, str] | None:
    """``(u/v)' = (u' v - u v') / v^2``, unevaluated, for a quotient of two functions of ``var``."""
    u, v = sp.fraction(expr)
    if u == 1 or not u.has(var) or not v.has(var):
        return None
    du, dv = sp.diff(u, var), sp.diff(v, var)
    tex = (
        rf"\frac{{{_paren_if_sum(du)} \cdot {_paren_if_sum(v)} - {_paren_if_sum(u)} \cdot {_paren_if_sum(dv)}}}"
        rf"{{{paren_always(to_latex(v))}^{{2}}}}"
    )
    return tex, (du * v - u * dv) / v**2, r"quotient rule, $(u / v)' = (u' v - u v') / v^{2}$"


def paren_always(tex: str) -> str:
    """``tex`` in brackets unless it is one symbol or already bracketed."""
    return tex if len(tex) == 1 or (tex.startswith("(") and tex.endswith(")")) else f"({tex})"


def chain_rule_step(expr: sp.Expr, var: sp.Symbol) -> tuple[str, sp.Expr, str] | None:
    """One unevaluated application of the chain (or product) rule: (LaTeX, value, reason)."""
    if not expr.has(var) or expr == var or isinstance(expr, sp.Piecewise):
        return None
    if isinstance(expr, sp.Add):
        parts, values = [], []
        shown = False
        for term in sp.Add.make_args(expr):
            if not term.has(var):
                continue
            sign = ""
            if term.could_extract_minus_sign():
                sign, term = "-", -term
            inner = chain_rule_step(term, var)
            if inner is None:
                tex, value = _paren_if_sum(sp.diff(term, var)), sp.diff(term, var)
            else:
                tex, value, _ = inner
                shown = True
            parts.append((sign, tex))
            values.append(-value if sign else value)
        if not shown:
            return None
        text_ = ""
        for i, (sign, tex) in enumerate(parts):
            text_ += (" - " if i else "- ") + tex if sign else (" + " if i else "") + tex
        return text_, sp.Add(*values), "chain rule"
    if isinstance(expr, sp.Mul):
        constant = sp.Mul(*[f for f in expr.args if not f.has(var)])
        dependent = [f for f in expr.args if f.has(var)]
        prefix = "" if constant == 1 else ("-" if constant == -1 else _coefficient(constant) + r" \cdot ")
        if len(dependent) == 1:
            inner = chain_rule_step(dependent[0], var)
            if inner is None:
                return None
            return prefix + inner[0], constant * inner[1], inner[2]
        # product rule: sum over factors of (derivative of that factor) * (the others)
        terms, values = [], []
        for i, factor in enumerate(dependent):
            others = dependent[:i] + dependent[i + 1 :]
            d = sp.diff(factor, var)
            pieces = ([] if d == 1 else [d]) + others
            terms.append(_product(pieces))
            values.append(sp.Mul(d, *others))
        body = terms[0]
        for term in terms[1:]:  # a term that starts with a minus sign is subtracted, not added
            body += f" - {term[1:].lstrip()}" if term.startswith("-") else f" + {term}"
        tex = prefix + (paren(body) if prefix else body)
        return tex, constant * sp.Add(*values), "product rule"
    if isinstance(expr, sp.Pow) and not expr.exp.has(var):
        base, n = expr.args
        if base == var:
            return None
        inner = sp.diff(base, var)
        n_tex = "" if n == 1 else ("-" if n == -1 else _coefficient(n) + r" \cdot ")
        power = rf"{paren(to_latex(base))}^{{{to_latex(n - 1)}}}" if n - 1 != 1 else paren(to_latex(base))
        tex = rf"{n_tex}{power}" + ("" if inner == 1 else rf" \cdot {_paren_if_sum(inner)}")  # no "times 1"
        reason = rf"chain rule on ${paren(to_latex(base))}^{{{to_latex(n)}}}$" if n.is_negative else "chain rule"
        return tex, n * base ** (n - 1) * inner, reason
    if isinstance(expr, (sp.Function, sp.exp, sp.log)) and expr.args and expr.args[0].has(var):
        u = expr.args[0]
        if u == var or any(a.has(var) for a in expr.args[1:]):
            return None
        inner = sp.diff(u, var)
        dummy = sp.Symbol("u_dummy", real=True)
        outer = sp.diff(expr.func(dummy, *expr.args[1:]), dummy).xreplace({dummy: u})
        if inner == 1:
            return None
        tex = rf"{_paren_if_sum(outer)} \cdot {_paren_if_sum(inner)}"
        return tex, outer * inner, "chain rule"
    return None


def _together(expr: sp.Expr) -> sp.Expr:
    """One fraction, keeping each exponential as written (1 - 1/(1+e^-z) -> e^-z/(1+e^-z))."""
    exps = sorted(expr.atoms(sp.exp), key=sp.default_sort_key)
    stand_ins = {e: sp.Symbol(f"_exp{i}", positive=True) for i, e in enumerate(exps)}
    result = sp.together(expr.xreplace(stand_ins))
    return result.xreplace({v: k for k, v in stand_ins.items()})


def _coefficient(c: sp.Expr) -> str:
    tex = to_latex(c)
    return paren(tex) if c.could_extract_minus_sign() and c != -1 else tex


def _paren_if_sum(expr: sp.Expr) -> str:
    tex = to_latex(expr)
    if isinstance(expr, sp.Add) or expr.could_extract_minus_sign():
        return paren(tex)
    return tex


def _product(factors, names: dict | None = None) -> str:
    return r" \cdot ".join(paren(to_latex(f, names)) if isinstance(f, sp.Add) else to_latex(f, names) for f in factors)


#: Points where two formulas in one or two variables are compared.
_POINTS = [-1.3, -0.45, 0.2, 0.35, 0.7, 1.6]


def same_function(a: sp.Expr, b: sp.Expr, variables: list[sp.Symbol]) -> bool:
    """``a == b``, decided numerically at fixed points (30 digits): deterministic and bounded.

    Only used to decide which display steps to show; the derivation itself is proved in
    the registry and proof tests.
    """
    difference = registry.expand_definitions(sp.sympify(a) - sp.sympify(b))
    if difference == 0:
        return True
    variables = sorted(set(variables) | difference.free_symbols, key=lambda s: s.name)
    for shift, _ in enumerate(_POINTS):
        point = {v: sp.Float(_POINTS[(shift + i * 2) % len(_POINTS)] + 0.01 * i, 30) for i, v in enumerate(variables)}
        if registry.Y in point and registry.T in point:  # keep y in (0, 1) for logs of y and 1 - y
            point[registry.Y] = sp.Float(0.15 + 0.12 * shift, 30)
            point[registry.T] = sp.Float(0.9 - 0.13 * shift, 30)
        value = difference.xreplace(point).evalf(30)
        if not value.is_number or abs(complex(value)) > 1e-20:
            return False
    return True

