"""LaTeX emitter: a ``Derivation`` -> a derivation handout (``<name>.tex``, optionally a PDF).

The package: ``handout`` assembles the template context from one section class per concern
(``figure``, ``forward``, ``backward``, ``parameters``, ``example``, ``graph_spec``), helped by
``notation`` (names), ``layout`` (long equations), ``derivative_steps`` (a local derivative line
by line) and ``tex`` (escaping); ``pdf`` compiles, ``notebook`` gives the Jupyter reprs.

Python computes every formula and number here; ``templates/handout.tex.j2`` only arranges
them.  The handout explains the very ``Derivation`` the NumPy module runs: the backward
section walks ``derivation.steps`` in order and shows, next to each formula, the line of
``backward()`` that computes it (taken from the NumPy emitter itself).

Safety: the template environment escapes every value that is not explicitly marked as
LaTeX (``Tex``), like an HTML autoescaper; formulas are printed by
``latex_printing.HandoutLatexPrinter``, which escapes every symbol name it does not know.
So no text from a spec (the network's name, a function's name, the file name) can break or
inject into the document.

Determinism: no dates, no absolute paths, no set iteration; the same spec gives a
byte-identical file.
"""

from .handout import EDITIONS, latex_file_name, latex_source, write_latex
from .limits import PER_WEIGHT_LIMIT
from .notebook import repr_latex
from .pdf import compile_pdf

__all__ = [
    "EDITIONS",
    "PER_WEIGHT_LIMIT",
    "compile_pdf",
    "latex_file_name",
    "latex_source",
    "repr_latex",
    "write_latex",
]
