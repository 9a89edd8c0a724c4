"""The public API: load a spec, derive it, write its outputs, verify a claim.

``derive`` returns a ``Derivation`` that also knows its outputs (the NumPy module, the
handout, the notebook displays).  Those live here, at the top, so that the derivation itself
does not depend on the emitters: imports run one way (``tests/test_architecture.py``).
The emitters are imported when first used, so ``import symprop`` (and a CLI command that
writes nothing) does not pay for them.
"""

from __future__ import annotations

from pathlib import Path

from . import derivation
from .loading import from_dict, load
from .spec import Network
from .verify import Verifier, VerifyResult, verify

__all__ = ["Derivation", "Network", "Verifier", "VerifyResult", "derive", "from_dict", "load", "verify"]


class Derivation(derivation.Derivation):
    """Everything derived for one network, with its outputs."""

    def write_numpy(self, directory: str | Path) -> Path:
        """Write ``<name>.py`` into ``directory`` (created if needed); returns the path."""
        from .emit.numpy import write_module

        return write_module(self, Path(directory))

    def numpy_source(self) -> str:
        from .emit.numpy import module_source

        return module_source(self)

    def write_latex(self, directory: str | Path, edition: str = "full") -> Path:
        """Write the handout into ``directory`` (created if needed); returns the path.

        ``edition="full"`` writes ``<name>.tex`` (the derivation with the NumPy code beside it);
        ``"student"`` writes ``<name>_student.tex`` (the derivation once, the summary and the
        worked numbers, nothing about the code)."""
        from .emit.latex import write_latex

        return write_latex(self, Path(directory), edition)

    def latex(self, edition: str = "full") -> str:
        """The handout as LaTeX source (a complete document), ``"full"`` or ``"student"``."""
        from .emit.latex import latex_source

        return latex_source(self, edition)

    def _repr_latex_(self) -> str:
        from .emit.latex import repr_latex

        return repr_latex(self)

    def _repr_markdown_(self) -> str:
        from .emit.latex import repr_markdown

        return repr_markdown(self)


def derive(network: Network) -> Derivation:
    """Derive every gradient of ``network`` (a ``Network`` from ``load``/``from_dict``)."""
    return Derivation(network)
