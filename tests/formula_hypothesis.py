"""The random formula networks of ``formula_strategies`` as Hypothesis strategies, and the
settings every property test over them runs with (deterministic: the same examples each run)."""

from __future__ import annotations

from formula_strategies import DrawSource, graph_spec, layer_spec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def deterministic(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.large_base_example],
    )


@st.composite
def layer_specs(draw):
    return layer_spec(DrawSource(draw))


@st.composite
def graph_specs(draw):
    return graph_spec(DrawSource(draw))
