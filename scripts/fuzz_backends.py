"""Run N random graph specs through the other backends and report where they differ from the NumPy module.

    python scripts/fuzz_backends.py 400 [--seed S] [--backends array-api,scalar,numba]

Each spec comes from ``tests/tensor_strategies.py`` (the generator of the property tests); each
backend's module is compared with the NumPy module by ``tests/backend_strategies.py``: the
array-API module on NumPy, array-api-strict and PyTorch (float64, and float32 on PyTorch), the
scalar module, the numba module (float64 and float32; compiling takes seconds a spec), at batch 3
and 1.  Prints every failure with its spec (one JSON line), the counts, and the refusals by kind.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's symprop, and the shared generator

import backend_strategies  # noqa: E402
import tensor_strategies  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="how many random specs")
    parser.add_argument("--seed", type=int, default=0, help="first seed (spec i uses seed + i)")
    parser.add_argument("--backends", default="array-api,scalar", help="comma-separated: array-api, scalar, numba")
    args = parser.parse_args(argv)
    backends = tuple(args.backends.split(","))
    refusals: Counter = Counter()
    failed, start = 0, time.perf_counter()
    warnings.simplefilter("ignore")
    for i in range(args.seed, args.seed + args.count):
        spec = tensor_strategies.tensor_graph_spec(random.Random(i), i)
        with tempfile.TemporaryDirectory() as scratch:
            try:
                for refusal in backend_strategies.check_backends(spec, Path(scratch), backends):
                    refusals[refusal.split(": ")[0] + ": " + refusal.split("has no spelling of ")[-1][:60]] += 1
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                failed += 1
                first = (str(exc).strip().splitlines() or [""])[0]
                print(f"FAIL #{i}: {type(exc).__name__}: {first[:200]}\n    {json.dumps(spec)}", flush=True)
    print(f"\n{args.count} specs in {time.perf_counter() - start:.0f} s: {failed} fail")
    for kind, count in refusals.most_common():
        print(f"  {count:4d}  refused: {kind}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
