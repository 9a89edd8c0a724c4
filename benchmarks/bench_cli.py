"""Whole-process time of a CLI command, this checkout against another one, interleaved.

    python benchmarks/bench_cli.py --before /path/to/older/checkout [--runs 12]

Each run is a fresh ``python -m symprop derive SPEC --emit numpy -o TMP`` with ``PYTHONPATH``
selecting one checkout and the working directory outside both; the two checkouts take turns,
so a busy machine slows both alike. Prints the medians and their ratio (after / before).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(checkout: Path, spec: Path, out: Path, emit: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, "-m", "symprop", "derive", str(spec), "--emit", emit, "-o", str(out)]
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=out, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (its top folder)")
    parser.add_argument("--spec", type=Path, default=ROOT / "examples" / "mlp_784_30_10.yaml")
    parser.add_argument("--emit", default="numpy")
    parser.add_argument("--runs", type=int, default=12)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for checkout in (args.before, ROOT):
            run_once(checkout.resolve(), args.spec, out, args.emit)  # warm the file cache
        for _ in range(args.runs):
            for label, checkout in (("before", args.before), ("after", ROOT)):
                times[label].append(run_once(checkout.resolve(), args.spec, out, args.emit))
    before, after = (statistics.median(times[k]) for k in ("before", "after"))
    print(f"symprop derive {args.spec.name} --emit {args.emit}, {args.runs} runs each, medians:")
    print(f"  before {before:.3f} s, after {after:.3f} s: {after / before:.2f}x ({1 - after / before:.0%} faster)")


if __name__ == "__main__":
    main()
