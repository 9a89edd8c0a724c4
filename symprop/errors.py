"""User-facing errors: each prints as one line naming where the problem is."""


class SymPropError(Exception):
    """An error the user can fix; the CLI prints it and exits with status 2."""


class SpecError(SymPropError):
    """A spec that cannot be accepted: which file, which field, what was expected."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = source, field, message
        super().__init__(f"{source}: {field}: {message}")
