"""The NumPy module of a derivation: which builder makes its template context, the rendered
source, and the file.  Layer stacks use ``emit_numpy.ModuleBuilder``; graph specs its
subclass ``emit_numpy_graph.GraphModuleBuilder`` (several inputs, unbatched values)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..emit_numpy import ModuleBuilder
from ..emit_numpy_graph import GraphModuleBuilder
from ..templating import render

if TYPE_CHECKING:
    from ..derivation import Derivation


def module_builder(derivation: Derivation) -> ModuleBuilder:
    """The builder of ``derivation``'s module."""
    if getattr(derivation.network, "kind", "layers") == "graph":
        return GraphModuleBuilder(derivation)
    return ModuleBuilder(derivation)


def module_source(derivation: Derivation) -> str:
    return render("numpy_module.py.j2", **module_builder(derivation).context())


def write_module(derivation: Derivation, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{derivation.name}.py"
    path.write_text(module_source(derivation), encoding="utf-8")
    return path
