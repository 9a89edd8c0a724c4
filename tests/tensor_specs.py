"""The Hypothesis side of tests/tensor_strategies.py: random tensor graph specs as a strategy,
and the settings their property tests share (tensor_strategies itself runs without Hypothesis,
for scripts/fuzz_*.py)."""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from tensor_strategies import DrawSource, tensor_graph_spec


@st.composite
def tensor_specs(draw):
    return tensor_graph_spec(DrawSource(draw))


def spec_settings(examples: int):
    """Reproducible runs of ``examples`` random specs, each as slow as it needs to be."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
