"""The web editions of the handout: an HTML page (``page``) and Markdown (``markdown``).

Both are built from the LaTeX handout's own template context (``emit/latex/handout.py``), so
every edition shows the same derivation.  ``markup`` reads the handout's LaTeX prose back,
``svg`` draws its figure, ``katex`` ships the math typesetter that a page inlines.
"""

from .markdown import markdown_source, write_markdown
from .page import html_source, write_html

__all__ = ["html_source", "markdown_source", "write_html", "write_markdown"]
