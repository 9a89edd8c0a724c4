"""Golden files: ``generated/`` holds the outputs of every bundled example, up to date,
clean under ruff, and each emitted module passes its gradient check."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from symprop.check import check_module

GENERATED = ROOT / "generated"


def _regenerate_module():
    spec = importlib.util.spec_from_file_location("regenerate", ROOT / "scripts" / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_outputs_are_up_to_date(tmp_path, monkeypatch):
    regenerate = _regenerate_module()
    monkeypatch.chdir(ROOT)
    regenerate.regenerate(tmp_path)
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    committed = {p.name: p.read_bytes() for p in GENERATED.iterdir() if p.suffix in (".py", ".tex")}
    assert sorted(committed) == sorted(fresh), "run: python scripts/regenerate.py"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated files {stale}; run: python scripts/regenerate.py"


def test_every_example_has_its_outputs():
    regenerate = _regenerate_module()
    for spec in regenerate.example_specs():
        assert (GENERATED / f"{spec.stem}.py").is_file(), spec
        assert (GENERATED / f"{spec.stem}.tex").is_file(), spec


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_generated_modules_are_clean_under_ruff():
    result = subprocess.run(
        ["ruff", "check", "--no-cache", *map(str, sorted(GENERATED.glob("*.py")))],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", sorted(p.name for p in GENERATED.glob("*.py")))
def test_generated_module_passes_the_gradient_check(module):
    result = check_module(GENERATED / module)
    assert result.passed, str(result)


@pytest.mark.parametrize("module", ["tutorial_222.py", "custom_swish.py"])
def test_generated_module_runs_as_a_script(module):
    result = subprocess.run([sys.executable, str(GENERATED / module)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "relative error" in result.stdout


def test_the_worked_example_prints_each_matrix_with_its_rows_aligned():
    """A new user's finding: README's first command printed `  dE/dW1 = [[0.00080888 0.00161775]`
    and the next row at column 1, ` [0.00071009 ...]]`, under the label, not under the first row."""
    result = subprocess.run([sys.executable, str(GENERATED / "tutorial_222.py")], capture_output=True, text=True)
    lines = result.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  dE/dW1 = [["))
    assert lines[first + 1] == " " * len("  dE/dW1 = [") + "[0.00071009 0.00142017]]", lines[first : first + 2]


def test_generated_modules_import_only_numpy():
    for path in GENERATED.glob("*.py"):
        imports = [line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
        assert imports == ["import numpy as np"], (path.name, imports)
