"""The public API: load a spec, derive it, write its outputs, verify a claim.

``derive`` returns a ``Derivation`` that also knows its outputs (the NumPy module, the
handout, the notebook displays).  Those live here, at the top, so that the derivation itself
does not depend on the emitters: imports run one way (``tests/test_architecture.py``).
The emitters and the verifier are imported when first used, so ``import symprop`` (and a CLI
command) pays only for what it runs.
"""

from __future__ import annotations

from pathlib import Path

from . import derivation
from .loading import from_dict, load
from .spec import Network

__all__ = ["Derivation", "Network", "derive", "from_dict", "load", "verify"]


class Derivation(derivation.Derivation):
    """Everything derived for one network, with its outputs."""

    def write_numpy(self, directory: str | Path) -> Path:
        """Write ``<name>.py`` into ``directory`` (created if needed); returns the path."""
        from .emit.numpy import write_module

        return write_module(self, Path(directory))

    def numpy_source(self) -> str:
        from .emit.numpy import module_source

        return module_source(self)

    def write_latex(self, directory: str | Path) -> Path:
        """Write the handout ``<name>.tex`` into ``directory`` (created if needed); returns the path."""
        from .emit.latex import write_latex

        return write_latex(self, Path(directory))

    def latex(self) -> str:
        """The handout as LaTeX source (a complete document)."""
        from .emit.latex import latex_source

        return latex_source(self)

    def _repr_latex_(self) -> str:
        from .emit.latex import repr_latex

        return repr_latex(self)

    def _repr_markdown_(self) -> str:
        from .emit.latex import repr_markdown

        return repr_markdown(self)


def derive(network: Network) -> Derivation:
    """Derive every gradient of ``network`` (a ``Network`` from ``load``/``from_dict``)."""
    return Derivation(network)


def verify(network, wrt: str, claim: str | None = None, *, claim_latex: str | None = None):
    """Check a hand-derived dE/d``wrt`` (``symprop.verify.verifier.verify``, loaded on first use)."""
    from .verify.verifier import verify as check

    return check(network, wrt, claim, claim_latex=claim_latex)
