"""The public API: load a spec, derive it, write its outputs, verify a claim.

``derive`` returns a ``Derivation`` that also knows its outputs (the NumPy module, the
handout, the notebook displays).  Those live here, at the top, so that the derivation itself
does not depend on the emitters: imports run one way (``tests/test_architecture.py``).
"""

from __future__ import annotations

from pathlib import Path

from . import derivation
from .emit.latex import latex_source, repr_latex, repr_markdown, write_latex
from .emit.module import module_source, write_module
from .loading import from_dict, load
from .spec import Network
from .verify import Verifier, VerifyResult, verify

__all__ = ["Derivation", "Network", "Verifier", "VerifyResult", "derive", "from_dict", "load", "verify"]


class Derivation(derivation.Derivation):
    """Everything derived for one network, with its outputs."""

    def write_numpy(self, directory: str | Path) -> Path:
        """Write ``<name>.py`` into ``directory`` (created if needed); returns the path."""
        return write_module(self, Path(directory))

    def numpy_source(self) -> str:
        return module_source(self)

    def write_latex(self, directory: str | Path) -> Path:
        """Write the handout ``<name>.tex`` into ``directory`` (created if needed); returns the path."""
        return write_latex(self, Path(directory))

    def latex(self) -> str:
        """The handout as LaTeX source (a complete document)."""
        return latex_source(self)

    def _repr_latex_(self) -> str:
        return repr_latex(self)

    def _repr_markdown_(self) -> str:
        return repr_markdown(self)


def derive(network: Network) -> Derivation:
    """Derive every gradient of ``network`` (a ``Network`` from ``load``/``from_dict``)."""
    return Derivation(network)
