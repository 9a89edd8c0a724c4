"""``symprop verify``: check hand-derived gradients from the command line.

    symprop verify SPEC --wrt "W2[0,0]" --claim "(a2_1 - t_1)*a2_1*(1 - a2_1)*a1_1"
    symprop verify SPEC --wrt W2_11 --claim-latex "(a^{(2)}_1 - t_1) a^{(2)}_1 (1 - a^{(2)}_1) a^{(1)}_1"
    symprop verify SPEC --wrt W2 --claim "((a2 - t) * a2 * (1 - a2)) @ a1.T"
    symprop verify SPEC --claims answers.yaml --report report.md [--json]
    symprop verify attention.yaml --wrt "Wq[i,j]" --claim "sum_{t} X[t,i] * dE/dq[t,j]"

Exit status: 0 when every claim is correct, 1 when any is wrong, 2 for errors (a claim that
does not parse, an unknown name, a bad spec or claims file), which the main CLI prints as one
line.  In a claims file, a claim that cannot be read is reported as ``unreadable`` (with the
message) and the other claims are still judged; the report is written in full and the exit
status is 2.  Output: a single claim prints its readable result; a claims file prints a Markdown
report; ``--json`` switches both to JSON; ``--report FILE`` writes the report to FILE instead
of printing it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import naming
from ..errors import SymPropError


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify",
        help="check a hand-derived gradient (right or wrong, where, and why)",
        description=(
            f"Check claimed gradients dE/dw against the derivation. Names: elements' {naming.ONE_BASED} "
            "(a2_1, W2_12, t_1; aliases w2_12, o_1, h_1, delta2_1), whole nodes are column vectors "
            "or matrices (a2, W2, a1.T), W2[0,1] is NumPy's 0-based index; adjoints dq or dE/dq; index notation "
            "sum_{t} X[t,i] * dq[t,j] with --wrt \"Wq[i,j]\". Networks above 100 parameters, and "
            "claims with adjoints or indices, are decided with numbers at random points."
        ),
    )
    parser.add_argument("spec", help="the network spec (YAML)")
    parser.add_argument(
        "--wrt", help='what the claim differentiates by: "W2[0,0]" (0-based), W2_11, W2 (whole), or "Wq[i,j]" (index notation)'
    )
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--claim", help="the claimed dE/dwrt in plain math")
    given.add_argument("--claim-latex", dest="claim_latex", help="the claimed dE/dwrt in LaTeX")
    given.add_argument("--claims", metavar="FILE", help="a YAML list of {wrt, claim} or {wrt, claim_latex}")
    parser.add_argument("--report", metavar="FILE", help="write the report (Markdown, or JSON with --json) to FILE")
    parser.add_argument("--json", action="store_true", help="JSON output")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    # imported here: every other command of the CLI builds this parser without loading the verifier
    from ..loading import load
    from .claims_file import check_claims, json_report, load_claims, markdown_report, parse_claims
    from .verifier import Verifier

    network = load(args.spec)
    verifier = Verifier(network)
    if args.claims:
        if args.wrt:
            raise SymPropError("--wrt goes with --claim/--claim-latex; a claims file names wrt per claim")
        claims = load_claims(args.claims)
        results = check_claims(verifier, claims)
    else:
        if not args.wrt:
            raise SymPropError('--wrt is needed with --claim/--claim-latex (e.g. --wrt "W2[0,0]")')
        item = {"wrt": args.wrt}
        item["claim_latex" if args.claim_latex is not None else "claim"] = (
            args.claim_latex if args.claim_latex is not None else args.claim
        )
        claims = parse_claims([item], "<command line>")
        results = [verifier.check(args.wrt, args.claim, claim_latex=args.claim_latex)]
    if args.json:
        text = json_report(network.name, claims, results)
    elif args.claims or args.report:
        text = markdown_report(network.name, claims, results)
    else:
        text = str(results[0]) + "\n"
    wrong = sum(not r.correct for r in results)
    unreadable = sum(r.verdict == "unreadable" for r in results)
    if args.report:
        try:
            Path(args.report).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise SymPropError(f"{args.report}: cannot write the report ({exc.strerror or exc})") from None
        counts = f"{len(results) - wrong} correct, {wrong - unreadable} wrong"
        counts += f", {unreadable} unreadable" if unreadable else ""
        print(f"wrote {args.report}: {len(results)} claims, {counts}")
    else:
        print(text, end="")
    return 2 if unreadable else 1 if wrong else 0
