"""The answer for one claim, shared by the exact check and the numeric one."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Agreement:
    """Factors of a wrong claim that equal a run of the chain rule's factors: the claim's
    ``factors`` (1-based, as the diagnosis numbers them) equal ``chain`` (``dE/da2_1``)."""

    factors: tuple[int, ...]
    chain: str

    @property
    def text(self) -> str:
        """``factor 1 = dE/da2_1``, ``factors 2, 3 = da2_1/dz2_1``."""
        return f"factor{'s' if len(self.factors) > 1 else ''} {', '.join(map(str, self.factors))} = {self.chain}"


@dataclass
class VerifyResult:
    """The answer for one claim.  ``str(result)`` is the readable report."""

    verdict: str  # 'correct', 'wrong', or (in a claims file) 'unreadable'
    wrt: str  # the element or node, e.g. 'W2_11' or 'W2'
    claim: str  # as given
    understood: str  # what was read, in plain claim notation (names resolved, products explicit)
    expected: str  # the correct gradient
    point: dict[str, str] | None = None  # wrong: values of every input, parameter and target
    #: wrong, on a point of many values: the values the claim and the correct gradient read
    #: there (forward values of nodes too), which the report shows in place of the whole point
    read: dict[str, str] | None = None
    values: dict[str, str] | None = None  # wrong: {'claim': ..., 'correct': ...} at the point
    diagnosis: list[str] = field(default_factory=list)
    method: str = ""  # how the verdict was reached
    latex: str | None = None  # the LaTeX claim, when one was given
    sizes: list[str] = field(default_factory=list)  # sizes checked (matrix claims)
    chain: str = ""  # the chain rule the expected formula follows
    loss: str = "E"  # the name of the loss in the spec's graph
    #: wrong, exact check: what the "agrees with the chain rule" diagnosis names, as data (for a
    #: whole matrix, at the element that differs); empty when the claim's factors were not matched
    agreeing: list[Agreement] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"

    @property
    def right_factors(self) -> int:
        """How many runs of the chain rule's factors the claim has right (partial credit)."""
        return len({a.chain for a in self.agreeing})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        lines = [f"d{self.loss}/d{self.wrt}: {self.verdict.upper()}"]
        if self.latex is not None:
            lines.append(f"  LaTeX claim:  {self.latex}")
            lines.append(f"  read as:      {self.understood}")
        elif isinstance(self.claim, str) and self.claim.strip() != self.understood:
            lines.append(f"  claim:        {self.claim.strip()}")  # as typed, then as rewritten (claims_text)
            lines.append(f"  read as:      {self.understood}")
        else:
            lines.append(f"  claim:        {self.understood}")
        if self.chain:
            lines.append(f"  chain rule:   {self.chain}")
        if self.expected:
            lines.append(f"  correct:      {self.expected}")
        if self.sizes:
            lines.append(f"  sizes:        {'; '.join(self.sizes)}")
        if self.method:
            lines.append(f"  decided by:   {self.method}")
        for line in self.diagnosis:
            lines.append(f"  - {line}")
        if self.point and self.read:
            shown = ", ".join(f"{k} = {v}" for k, v in self.read.items())
            others = len(set(self.point) - set(self.read))
            rest = f"; {others} other inputs, parameters and targets not shown (--json lists every one)" if others else ""
            lines.append(f"  counterexample: {shown}{rest}")
        elif self.point:
            lines.append("  counterexample: " + ", ".join(f"{k} = {v}" for k, v in self.point.items()))
        if self.values:
            lines.append(f"    claim = {self.values['claim']}, correct = {self.values['correct']}")
        return "\n".join(lines)
