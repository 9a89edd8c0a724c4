"""Run N random formula networks and report how many derive and match autograd.

    python scripts/fuzz_formulas.py 1000 [--seed S] [--graphs FRACTION]

Each network comes from the generator of ``tests/formula_strategies.py`` (the one the
property test uses): formula activations in hidden and output layers, formula losses, the
spec's own function, and graph specs with formula nodes.  Each is derived, its module
emitted and imported, and its loss and gradients compared with HIPS autograd (evaluating
the formula text independently) and with central differences.  Prints the counts, every
failure with its spec, and the slowest derivations.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's symprop, and the shared generator

import formula_strategies as fs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="how many random networks")
    parser.add_argument("--seed", type=int, default=0, help="first seed (network i uses seed + i)")
    parser.add_argument("--graphs", type=float, default=0.3, help="fraction of graph specs (default 0.3)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # autograd: "Output seems independent of input" for constant formulas
    counts = {"match": 0, "skip": 0, "fail": 0}
    failures, timings = [], []
    start = time.perf_counter()
    for i in range(args.count):
        source = fs.RandomSource(args.seed + i)
        graph = source.random() < args.graphs
        spec = fs.graph_spec(source, i) if graph else fs.layer_spec(source, i)
        outcome = fs.check_spec(spec, seed=i)
        counts[outcome.status] += 1
        timings.append((outcome.derive_seconds, i, spec))
        if outcome.status == "fail":
            failures.append(outcome)
            print(f"FAIL #{i}: {outcome.detail}\n    {fs.public(spec)}", flush=True)
    checked = counts["match"] + counts["fail"]
    print(
        f"\n{args.count} networks in {time.perf_counter() - start:.0f} s: "
        f"{counts['match']}/{checked} checked ones derive and match "
        f"({counts['fail']} fail); {counts['skip']} skipped (a point near a kink, or overflow in the reference)"
    )
    print("slowest derivations:")
    for seconds, i, spec in sorted(timings, key=lambda item: item[0], reverse=True)[:5]:
        shown = {k: v for k, v in fs.public(spec).items() if k in ("functions", "layers", "nodes", "loss")}
        print(f"  {seconds:5.1f} s  #{i}: {shown}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
