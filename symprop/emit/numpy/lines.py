"""How a line of the generated module is laid out: its code and the per-sample formula it
computes as a comment (``Line``), after the code when it fits, else above; and a statement laid
out again after a rewrite renamed its parts (``refitted``)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from ... import module_interface as interface


@dataclass(frozen=True)
class Line:
    code: str
    comment: str
    #: (array, axes argument) of a line ``grad = [grad + ]_batch_sum(array[, axes])`` that
    #: ``ModuleBuilder.backward_line`` wrote, and (name, its arrays, sorted: one twice if the stack
    #: holds it twice) of a stack of adjoints that ``stacked_lines.weight_lines`` wrote: what
    #: ``stacked_lines.summed_once`` gathers, recorded, not read back from the code
    summed: tuple[str, str] | None = field(default=None, compare=False)
    stack: tuple[str, tuple[str, ...]] | None = field(default=None, compare=False)

    def renamed(self, code: str, comment: str, names: list[tuple[str, str]]) -> Line:
        """The line with ``code`` and ``comment``, written after renaming arrays (``names``:
        (old, new) in the order they were applied): its record renamed alike."""

        def new(name: str) -> str:
            for old, other in names:
                name = other if name == old else name
            return name

        summed = None if self.summed is None else (new(self.summed[0]), self.summed[1])
        stack = None if self.stack is None else (self.stack[0], tuple(sorted(map(new, self.stack[1]))))
        return Line(code, comment, summed, stack)

    #: Longest generated line (ruff's limit for the repository is 130).
    WIDTH = 120
    LIMIT = 130

    @property
    def text(self) -> str:
        """The statement with its formula comment, for a function body (indent 4): the comment
        goes after the code when it fits, else on the line above.  A statement longer than
        ruff's limit by itself (an einsum of rank-4 arrays) is marked for ruff, not broken."""
        comment = interface.comment_text(self.comment)
        inline = f"{self.code}  # {comment}"
        if len(inline) + 4 <= self.WIDTH:
            return inline
        above = "\n    ".join(f"# {part}" for part in textwrap.wrap(comment, self.LIMIT - 6, break_long_words=False))
        if len(self.code) + 4 > self.LIMIT:
            return f"{above}\n    {self.code}  # noqa: E501"
        return f"{above}\n    {self.code}"


def refitted(text: str) -> str:
    """``text``, a statement as ``Line.text`` laid it out, laid out again after a rewrite renamed
    its parts (``_H5_minus_T`` for ``H5 - T``): a line the names made longer than ruff's limit
    gets its comment above, or is marked for ruff as ``Line.text`` marks one."""
    *above, last = text.split("\n")
    code_line = last.strip()
    if len(code_line) + 4 <= Line.LIMIT or "noqa" in code_line:
        return text
    code, inline, comment = code_line.partition("  # ")
    if inline and not above:
        return Line(code, comment).text
    return "\n".join([*above, f"{last}  # noqa: E501"])
