"""The Jinja environment: templates live in the top-level ``templates/`` folder.

A normal install ships that folder inside the package as ``symprop/templates`` (see
``pyproject.toml``); a source checkout uses ``templates/`` beside the package.  Templates
only arrange what Python computed (``StrictUndefined``: a missing value is an error).
"""

from __future__ import annotations

from pathlib import Path

import jinja2

_PACKAGE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    for candidate in (_PACKAGE / "templates", _PACKAGE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"symprop's templates are missing (looked in {_PACKAGE}/templates and ../templates)")


def environment(autoescape: bool = False) -> jinja2.Environment:
    """The Jinja environment of every template (``autoescape`` for HTML pages)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=autoescape,
    )


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
