"""Regenerate ``generated/`` from every network spec in ``examples/``: ``python scripts/regenerate.py``.

``tests/test_generated.py`` runs the same function into a temporary folder and fails when
the committed files differ, so the outputs in git are never stale.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symprop.cli import main  # noqa: E402

EXAMPLES = ROOT / "examples"
GENERATED = ROOT / "generated"


def example_specs() -> list[Path]:
    """The network specs: top-level ``examples/*.yaml`` (claims files live in subfolders)."""
    return sorted(EXAMPLES.glob("*.yaml"))


def regenerate(directory: Path = GENERATED) -> None:
    """Derive every example into ``directory``; spec paths are given relative to the repository
    (they appear in the generated docstrings), so this runs from the repository root."""
    directory = directory.resolve()
    os.chdir(ROOT)
    for spec in example_specs():
        status = main(["derive", str(spec.relative_to(ROOT)), "-o", str(directory), "--emit", "numpy,latex"])
        if status:
            raise SystemExit(f"deriving {spec} failed with status {status}")


if __name__ == "__main__":
    regenerate()
