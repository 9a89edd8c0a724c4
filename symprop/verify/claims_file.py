"""Claims files (a YAML list of claims) and their Markdown and JSON reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import SpecError, SymPropError
from ..spec_file import read_yaml
from .verifier import Verifier, VerifyResult

# -- claims files and reports ---------------------------------------------------------------------

CLAIM_FIELDS = {"wrt", "claim", "claim_latex", "id", "note", "expect", "mistake", "diagnosis"}


def load_claims(path: str | Path) -> list[dict[str, Any]]:
    """A claims file: a YAML list of {wrt, claim} / {wrt, claim_latex}, or {claims: [...]}.

    Optional per claim: ``id`` and ``note`` (shown in the report); ``expect``, ``mistake`` and
    ``diagnosis`` are used by the test corpus and ignored here.
    """
    source = str(path)
    data = read_yaml(path, what="claims file")
    return parse_claims(data, source)


def parse_claims(data: Any, source: str = "<python>") -> list[dict[str, Any]]:
    if isinstance(data, dict) and "claims" in data:
        data = data["claims"]
    if not isinstance(data, list) or not data:
        raise SpecError(source, "claims", "expected a non-empty list of {wrt: ..., claim: ...} entries")
    claims = []
    for i, item in enumerate(data):
        where = f"claims[{i}]"
        if not isinstance(item, dict):
            raise SpecError(source, where, "expected a mapping with wrt and claim (or claim_latex)")
        unknown = sorted(set(map(str, item)) - CLAIM_FIELDS)
        if unknown:
            raise SpecError(source, f"{where}.{unknown[0]}", f"unknown field; expected {', '.join(sorted(CLAIM_FIELDS))}")
        if "wrt" not in item:
            raise SpecError(source, f"{where}.wrt", "missing; say which parameter, e.g. W2[0,0] or W2")
        if ("claim" in item) == ("claim_latex" in item):
            raise SpecError(source, where, "give exactly one of claim and claim_latex")
        for key in ("wrt", "claim", "claim_latex"):
            if key in item and not isinstance(item[key], str):
                raise SpecError(source, f"{where}.{key}", f"expected text, got {item[key]!r}")
        claims.append(dict(item))
    return claims


def check_claims(verifier: Verifier, claims: list[dict[str, Any]]) -> list[VerifyResult]:
    """One result per claim, in order.  A claim that cannot be read (bad syntax, an unknown name,
    an unknown wrt) is an ``unreadable`` result carrying the message, and the others are still
    judged; an error about the network itself (batch statistics) stops the file."""
    verifier.refuse_coupled()
    results = []
    for item in claims:
        try:
            results.append(verifier.check(item["wrt"], item.get("claim"), claim_latex=item.get("claim_latex")))
        except SpecError:
            raise
        except SymPropError as exc:
            given = item.get("claim", item.get("claim_latex"))
            results.append(
                VerifyResult(
                    verdict="unreadable",
                    wrt=item["wrt"],
                    claim=given,
                    understood=given,
                    expected="",
                    diagnosis=[str(exc)],
                    latex=item.get("claim_latex"),
                    loss=verifier.derivation.graph.loss,
                )
            )
    return results


def markdown_report(name: str, claims: list[dict[str, Any]], results: list[VerifyResult]) -> str:
    right = sum(r.correct for r in results)
    unreadable = sum(r.verdict == "unreadable" for r in results)
    wrong_count = len(results) - right - unreadable
    summary = f"{len(results)} claims: {right} correct, {wrong_count} wrong"
    summary += f", {unreadable} unreadable." if unreadable else "."
    lines = [
        f"# symprop verify: {name}",
        "",
        summary,
        "",
        "| # | wrt | claim (as read) | verdict | why |",
        "| --- | --- | --- | --- | --- |",
    ]
    labels = [str(item.get("id", i)) for i, item in enumerate(claims, start=1)]
    for label, result in zip(labels, results):
        verdict = "correct" if result.correct else f"**{result.verdict}**"
        why = result.method if result.correct else "; ".join(_main_findings(result)) or result.method
        lines.append(f"| {_cell(label)} | {_cell(result.wrt)} | `{_cell(result.understood)}` | {verdict} | {_cell(why)} |")
    wrong = [(label, r) for label, r in zip(labels, results) if r.verdict == "wrong"]
    if wrong:
        lines += ["", "## Wrong claims", ""]
        for label, result in wrong:
            lines += [f"### {label}: d{result.loss}/d{result.wrt}", "", "```", str(result), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def json_report(name: str, claims: list[dict[str, Any]], results: list[VerifyResult]) -> str:
    payload = {
        "network": name,
        "summary": {
            "claims": len(results),
            "correct": sum(r.correct for r in results),
            "unreadable": sum(r.verdict == "unreadable" for r in results),
        },
        "results": [{"id": c.get("id", i), **r.to_dict()} for i, (c, r) in enumerate(zip(claims, results), start=1)],
    }
    return json.dumps(payload, indent=2) + "\n"


def _main_findings(result: VerifyResult) -> list[str]:
    """The diagnosis lines that say what is wrong (not which factors agree)."""
    skip = ("agrees with the chain rule", "note: ", "at sizes ")
    findings = [line for line in result.diagnosis if not line.startswith(skip)]
    return findings[:2] or result.diagnosis[:2]




def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
