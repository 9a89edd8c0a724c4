"""Shared helpers: derive a network and import its emitted NumPy module."""

from __future__ import annotations

from pathlib import Path

import pytest

import symprop
from symprop.check import load_module

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def emit_module(network, directory: Path):
    """Derive ``network`` (a Network, a dict spec, or an example name), write and import its module."""
    if isinstance(network, str):
        network = symprop.load(EXAMPLES / f"{network}.yaml")
    elif isinstance(network, dict):
        network = symprop.from_dict(network, source="<test>")
    return load_module(symprop.derive(network).write_numpy(directory))


@pytest.fixture
def emit(tmp_path):
    return lambda network: emit_module(network, tmp_path)
