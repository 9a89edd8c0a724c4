"""Shared helpers: derive a network and import its emitted NumPy module."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import pytest

import symprop
from symprop.check import load_module

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

HAVE_TEX = shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None
REQUIRE_TEX = os.environ.get("SYMPROP_REQUIRE_TEX") == "1"


def needs_tex():
    """Skip without TeX, or fail when the environment demands TeX (CI sets SYMPROP_REQUIRE_TEX=1)."""
    if HAVE_TEX:
        return
    message = "latexmk/pdflatex not found (apt-get install latexmk texlive-latex-base texlive-latex-recommended texlive-pictures)"
    if REQUIRE_TEX:
        pytest.fail(f"SYMPROP_REQUIRE_TEX=1 but {message}")
    pytest.skip(message)


def needs_pdftotext():
    """Skip without poppler's pdftotext (a compiled handout's pages read as text), or fail where
    TeX is demanded (.ci/run installs poppler-utils beside TeX)."""
    needs_tex()
    if shutil.which("pdftotext") is not None:
        return
    message = "pdftotext not found (apt-get install poppler-utils): the pages' first lines are not read"
    if REQUIRE_TEX:
        pytest.fail(f"SYMPROP_REQUIRE_TEX=1 but {message}")
    pytest.skip(message)


REQUIRE_BACKENDS = os.environ.get("SYMPROP_REQUIRE_BACKENDS") == "1"


def needs_library(name: str):
    """The module ``name`` (an optional array library: torch, jax, dask ...), imported; skip when it
    is missing, or fail when the environment demands it (CI sets SYMPROP_REQUIRE_BACKENDS=1)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if REQUIRE_BACKENDS:
            pytest.fail(f"SYMPROP_REQUIRE_BACKENDS=1 but {name} is not installed")
        pytest.skip(f"{name} is not installed")


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


#: A teacher's trial of registry constants in handouts (test_latex, test_exercises).
LEAKY_HUBER = {  # a teacher's trial: z/10 under "alpha = 0.1", 1/2 and 1/8 under "delta = 0.5"
    "name": "leaky_huber",
    "input": 2,
    "layers": [{"units": 2, "activation": {"name": "leaky_relu", "alpha": 0.1}}, {"units": 2, "activation": "identity"}],
    "loss": {"name": "huber", "delta": 0.5},
    "example": {
        "x": [0.5, -0.3],
        "t": [0.8, -0.9],
        "learning_rate": 0.5,
        "params": {"W1": [[0.3, -0.25], [-0.4, 0.35]], "b1": [0.1, -0.2], "W2": [[0.45, -0.4], [0.2, 0.9]], "b2": [0.05, 0.1]},
    },
}
