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
from .errors import SymPropError
from .loading import from_dict, load
from .spec import Network

__all__ = ["BACKENDS", "Derivation", "Network", "derive", "from_dict", "load", "verify"]

#: The backends of the emitted module (``symprop derive --backend``).
BACKENDS = ("numpy", "scalar", "array-api", "numba")


class Derivation(derivation.Derivation):
    """Everything derived for one network, with its outputs."""

    def write_numpy(self, directory: str | Path) -> Path:
        """Write ``<name>.py`` into ``directory`` (created if needed); returns the path."""
        return self.write_module(directory, "numpy")

    def numpy_source(self) -> str:
        from .emit.numpy import module_source

        return module_source(self)

    def write_scalar(self, directory: str | Path) -> Path:
        """Write the scalar backend's ``<name>.py`` (straight-line Python over floats, for tiny
        networks) into ``directory``; SymPropError above its limit of parameters."""
        return self.write_module(directory, "scalar")

    def scalar_source(self) -> str:
        """The scalar backend's module (``symprop.emit.scalar``): the NumPy module's functions in
        plain Python over floats and tuples, for networks of at most 300 parameters."""
        from .emit.scalar import module_source

        return module_source(self)

    def write_array_api(self, directory: str | Path) -> Path:
        """Write the array-API backend's ``<name>.py`` (the NumPy module written against the array
        API standard, through array-api-compat) into ``directory``; SymPropError for an op the
        backend cannot spell, before anything is written."""
        return self.write_module(directory, "array-api")

    def array_api_source(self) -> str:
        """The array-API backend's module (``symprop.emit.array_api``): the NumPy module's functions,
        run on NumPy, PyTorch, JAX, Dask or any array library array-api-compat knows."""
        from .emit.array_api import module_source

        return module_source(self)

    def write_numba(self, directory: str | Path) -> Path:
        """Write the numba backend's ``<name>.py`` (the NumPy module with each layer's elementwise
        work fused into compiled loops, or a graph spec's loss_and_grad compiled; needs Numba) into
        ``directory``."""
        return self.write_module(directory, "numba")

    def numba_source(self) -> str:
        """The numba backend's module (``symprop.emit.numba``); SymPropError for a graph spec with
        an op Numba cannot spell, or when Numba is not installed."""
        from .emit.numba import module_source

        return module_source(self)

    def module_source(self, backend: str = "numpy") -> str:
        """The module of ``backend`` (one of ``BACKENDS``): ``numpy`` (the default), ``scalar``, ``array-api`` or ``numba``."""
        if backend not in BACKENDS:
            raise SymPropError(f"unknown backend {backend!r}: choose from {', '.join(BACKENDS)}")
        sources = {
            "numpy": self.numpy_source,
            "scalar": self.scalar_source,
            "array-api": self.array_api_source,
            "numba": self.numba_source,
        }
        return sources[backend]()

    def write_module(self, directory: str | Path, backend: str = "numpy") -> Path:
        """Write the module of ``backend`` as ``<name>.py`` into ``directory`` (created if
        needed); returns the path.  A backend that refuses the network raises SymPropError
        before anything is written."""
        source = self.module_source(backend)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.py"
        path.write_text(source, encoding="utf-8")
        return path

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

    def exercises(self, point=None):
        """The worksheet's questions with their answers (``symprop.exercises.Exercises``), at
        ``point`` (a ``symprop.exercises.Point``: other inputs, targets, weights) or, by
        default, at the spec's worked example (an error without one)."""
        from .exercises import exercises

        return exercises(self, point)

    def write_exercises(self, directory: str | Path, point=None) -> tuple[Path, Path]:
        """Write the worksheet ``<name>_exercises.tex`` (questions with blanks) and its answer key
        ``<name>_answers.tex`` into ``directory``; returns both paths.  Numbers from the worked
        example, or from ``point`` (as ``exercises``)."""
        from .emit.latex.exercises import write_exercises

        return write_exercises(self, Path(directory), self.exercises(point))

    def exercises_latex(self, point=None) -> tuple[str, str]:
        """(the worksheet, the answer key) as LaTeX sources (as ``write_exercises``)."""
        from .emit.latex.exercises import exercises_sources

        return exercises_sources(self, self.exercises(point))

    def write_html(self, directory: str | Path, edition: str = "full") -> Path:
        """Write the HTML edition (one self-contained page) into ``directory``; returns the path:
        ``<name>.html``, or ``<name>_student.html`` for ``edition="student"`` (as ``write_latex``)."""
        from .emit.web import write_html

        return write_html(self, Path(directory), edition)

    def html(self, edition: str = "full") -> str:
        """The HTML edition of the handout, ``"full"`` or ``"student"``: one page, KaTeX inlined."""
        from .emit.web import html_source

        return html_source(self, edition)

    def write_markdown(self, directory: str | Path, edition: str = "full") -> Path:
        """Write the Markdown edition (for any CommonMark renderer) into ``directory``; returns the
        path: ``<name>.md``, or ``<name>_student.md`` for ``edition="student"``."""
        from .emit.web import write_markdown

        return write_markdown(self, Path(directory), edition)

    def markdown(self, flavour: str = "commonmark", edition: str = "full") -> str:
        """The Markdown edition: ``commonmark`` (math escaped for a plain renderer and KaTeX's
        auto-render) or ``math`` (LaTeX as it is, for Jupyter, GitHub, pandoc); ``edition``
        ``"full"`` or ``"student"``."""
        from .emit.web import markdown_source

        return markdown_source(self, flavour, edition)

    def __repr__(self) -> str:
        """At a prompt: what was derived, not ``<symprop.api.Derivation object at 0x...>``."""
        count = f"{self.param_count:,} parameter{'' if self.param_count == 1 else 's'}"
        return f"<Derivation of {self.name}: {count} in {', '.join(self.param_names)}>"

    def _repr_latex_(self) -> str:
        from .emit.latex import repr_latex

        return repr_latex(self)

    def _repr_markdown_(self) -> str:
        """The whole handout, for Jupyter (which takes the math out before reading Markdown)."""
        from .emit.web import markdown_source

        return markdown_source(self, "math")


def derive(network: Network) -> Derivation:
    """Derive every gradient of ``network`` (a ``Network`` from ``load``/``from_dict``)."""
    return Derivation(network)


def verify(network, wrt: str, claim: str | None = None, *, claim_latex: str | None = None):
    """Check a hand-derived dE/d``wrt`` (``symprop.verify.verifier.verify``, loaded on first use)."""
    from .verify.verifier import verify as check

    return check(network, wrt, claim, claim_latex=claim_latex)
