"""Run N random tensor graph specs and report how many derive and match the oracle.

    python scripts/fuzz_tensors.py 2000 [--seed S] [--no-float32] [--ruff-every K] [--fusion]

Each spec comes from ``tests/tensor_strategies.py`` (the generator the property test uses):
random ranks 0-4, broadcasting, einsum, matmul with leading axes, reductions, softmax and
log-sum-exp along any axis, concat, slices, table lookups, masks.  Each is derived, its
module emitted and imported, its loss and gradients compared with autograd and central
differences (``tests/reference.py``), and run in float32.  Prints every failure with its
spec (one JSON line, ready to paste into ``FOUND`` of ``tests/test_tensor_property.py``),
the counts, and the slowest specs.  ``--fusion``: specs of chained elementwise nodes from
``tests/fusion_strategies.py`` instead (the folding of the module's backward steps).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's symprop, and the shared generator

import fusion_strategies  # noqa: E402
import tensor_strategies as ts  # noqa: E402

SKIPPED = "skipped: a loss too large for central differences (autograd still checked), or the reference overflows"


def failure_kind(exc: BaseException) -> str:
    """A short key to group failures by: the exception type and the first words of its message."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:70]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="how many random specs")
    parser.add_argument("--seed", type=int, default=0, help="first seed (spec i uses seed + i)")
    parser.add_argument("--no-float32", action="store_true", help="skip the float32 run")
    parser.add_argument("--ruff-every", type=int, default=50, help="ruff-check the modules in batches of this many (0: never)")
    parser.add_argument("--fusion", action="store_true", help="chained elementwise nodes (tests/fusion_strategies.py)")
    parser.add_argument("--traceback", action="store_true", help="print the traceback of every failure")
    args = parser.parse_args(argv)
    kinds: Counter = Counter()
    timings, paths, failed = [], [], 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.seed, args.seed + args.count):
            spec = (fusion_strategies.fusion_graph_spec if args.fusion else ts.tensor_graph_spec)(random.Random(i), i)
            began = time.perf_counter()
            try:
                paths.append(ts.check_spec(spec, Path(scratch), float32=not args.no_float32))
            except ts.Skip as exc:
                kinds[SKIPPED] += 1
                print(f"SKIP #{i}: {exc}", flush=True)
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                failed += 1
                kinds[failure_kind(exc)] += 1
                print(f"FAIL #{i}: {failure_kind(exc)}\n    {json.dumps(spec)}", flush=True)
                if args.traceback:
                    traceback.print_exc()
            timings.append((time.perf_counter() - began, i))
            if args.ruff_every and len(paths) >= args.ruff_every:
                report = ts.ruff_check(paths)
                if report:
                    failed += 1
                    print(f"RUFF:\n{report}", flush=True)
                for path in paths:
                    path.unlink()
                paths = []
        if args.ruff_every and paths:
            report = ts.ruff_check(paths)
            if report:
                failed += 1
                print(f"RUFF:\n{report}", flush=True)
    skipped = kinds[SKIPPED]
    matched = args.count - sum(kinds.values())
    print(f"\n{args.count} specs in {time.perf_counter() - start:.0f} s: {matched} match, {failed} fail, {skipped} skipped")
    if ts.EXPLAINED:
        print(f"  strict check failed but explained by rounding ({len(ts.EXPLAINED)}): {', '.join(ts.EXPLAINED)}")
    for kind, count in kinds.most_common():
        print(f"  {count:4d}  {kind}")
    print("slowest:", ", ".join(f"#{i} {seconds:.1f} s" for seconds, i in sorted(timings, reverse=True)[:5]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
