"""User-facing errors: each prints as one line naming where the problem is."""

from __future__ import annotations

import difflib


class SymPropError(Exception):
    """An error the user can fix; the CLI prints it and exits with status 2."""


class SpecError(SymPropError):
    """A spec that cannot be accepted: which file, which field, what was expected."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = source, field, message
        super().__init__(f"{source}: {field}: {message}")


class WorkedExampleError(SymPropError):
    """A spec's worked example whose numbers cannot be written (a loss that is not a finite real
    number there); found while the handout is written, when the spec file is no longer at hand:
    the command line names the file (``SpecError(path, "example", ...)``)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(f"example: {message}")


def did_you_mean(word: object, options) -> str:
    """`` (did you mean 'sigmoid'?)`` for the option closest to a misspelt ``word``, or ''."""
    matches = difflib.get_close_matches(str(word), sorted(map(str, options)), n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""
