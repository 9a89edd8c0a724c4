"""The handout read as a teacher reads it before handing it out: each test here catches one
kind of defect found that way (issue 13) coming back, on every example it can reach.

The kinds: a derivation step labelled with what it does not do; ``X = X``; a product of sums
printed without its brackets; names that read as layers or run together; index letters that
change between lines; a chain rule whose labels do not multiply out; the same gradient
derived several times; slips of grammar and arithmetic ("1 parameters", ``(1/1) sum``).
"""

from __future__ import annotations

import pytest
import sympy as sp
from conftest import EXAMPLES
from test_latex import example_specs

import symprop
from symprop import registry
from symprop.emit.latex import latex_source
from symprop.emit.latex.derivative_steps import derivative_lines, displayed_definition
from symprop.emit.latex.handout import Handout


def derive(name: str):
    return symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml"))


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    """Every example's handout (full edition), by name."""
    return {path.stem: latex_source(symprop.derive(symprop.load(path))) for path in example_specs()}


# -- the local derivatives: every step says what it does ----------------------------------


def local_sections(name: str) -> list[dict]:
    return Handout(derive(name)).local_derivatives()


def test_the_sigmoid_step_is_justified_as_the_tutorial_does():
    """The key step of sigmoid' = sigma (1 - sigma): add and subtract 1 in the numerator."""
    (sigmoid, _) = local_sections("tutorial_222")
    reasons = [line.reason for line in sigmoid["lines"]]
    rhs = [line.rhs for line in sigmoid["lines"]]
    step = reasons.index("1 added and subtracted in the numerator")
    assert r"(1 + e^{- z}) - 1" in rhs[step]
    assert reasons[step - 1] == "the denominator split in two" and reasons[step + 1].startswith("the fraction split")
    assert not any("SymPy" in r or "definition of the function" in r for r in reasons)


def test_tanh_is_derived_from_its_exponentials():
    tanh = next(s for s in local_sections("residual_block") if s["title"] == "tanh")
    assert tanh["definition"] == r"\frac{e^{z} - e^{- z}}{e^{z} + e^{- z}}"  # not tanh(z) = tanh(z)
    reasons = [line.reason for line in tanh["lines"]]
    assert reasons[0].startswith("quotient rule") and "the first fraction is 1" in reasons
    assert tanh["lines"][-1].rhs == "1 - a^{2}" and tanh["lines"][-1].boxed


@pytest.mark.parametrize("name", sorted(registry.ACTIVATIONS))
def test_every_step_label_describes_its_line(name):
    """A step said to make fractions shows one; one said to name the function names it; the
    definition is never defined by itself."""
    entry = registry.ACTIVATIONS[name]
    constants = entry.constant_values()
    definition = displayed_definition(entry.definition_at(registry.Z, constants))
    presentation = entry.derivative_in_output(constants) if entry.present else None
    lines = derivative_lines(definition, registry.Z, presentation, None)
    assert lines and lines[-1].boxed
    for line in lines:
        if "fraction" in line.reason or "denominator" in line.reason or "numerator" in line.reason:
            assert r"\frac" in line.rhs, (name, line)
        assert "SymPy's derivative" not in line.reason and "definition of the function" not in line.reason
    f = entry.latex or name
    assert sp.latex(definition) != f"{f}(z)"
