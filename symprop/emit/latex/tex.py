"""The Jinja environment of the handout and the ``Tex`` type: everything else it prints is escaped."""

from __future__ import annotations

import jinja2

from ... import naming
from ...templating import templates_dir


class Tex(str):
    """Text that is already LaTeX; anything else the template prints is escaped."""

    __slots__ = ()


def _finalize(value):
    if isinstance(value, Tex):
        return value
    if isinstance(value, bool) or value is None:
        return naming.escape_latex_text(str(value))
    if isinstance(value, int):
        return str(value)
    return naming.escape_latex_text(str(value))


def environment() -> jinja2.Environment:
    r"""Jinja with LaTeX-safe delimiters: ``\VAR{x}``, ``\BLOCK{for ...}``, ``%% for`` lines."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        line_statement_prefix="%%",
        line_comment_prefix="%#",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_finalize,
    )


def text(value: str) -> Tex:
    """Plain text (from a spec or anywhere), escaped for LaTeX."""
    return Tex(naming.escape_latex_text(value))


def code(value: str) -> Tex:
    r"""Program text in typewriter type, escaped: ``\texttt{dW2 = dZ2.T @ A1}``."""
    return Tex(r"\texttt{" + naming.escape_latex_text(value) + "}")
