"""Run every symprop benchmark: derive time against size, and forward+backward speed.

    python benchmarks/run_all.py                 # full run (~5 min), writes benchmarks/results.json
    python benchmarks/run_all.py --quick         # smoke test, under a minute (JSON to a temp file)
    python benchmarks/run_all.py --threads 2     # another thread count (the same for all engines)

Prints Markdown tables (derive times; medians and ratios per engine) and writes the raw
numbers as JSON.  PyTorch and JAX are optional: an engine that does not import is skipped
with a note (``pip install torch jax jaxlib`` to include them).  See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few sizes and repeats: a smoke test that runs in under a minute")
    parser.add_argument(
        "--threads", type=int, default=None, help="threads for every engine (default 1, or $SYMPROP_BENCH_THREADS)"
    )
    parser.add_argument("--output", help="JSON file to write (default benchmarks/results.json; with --quick, a temp file)")
    parser.add_argument("--markdown", help="also write the printed tables to this file")
    parser.add_argument("--engines", default=None, help="comma-separated subset of bench_speed.ALL_ENGINES (default: all)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time per call: wall clock (default), or the process's CPU time (steadier on a shared machine)",
    )
    parser.add_argument("--skip-derive", action="store_true", help="only the speed benchmark")
    parser.add_argument("--skip-speed", action="store_true", help="only the derive benchmark")
    args = parser.parse_args(argv)
    if args.threads is not None:
        os.environ["SYMPROP_BENCH_THREADS"] = str(args.threads)
    import _common  # noqa: F401  (importing it pins the threads, before NumPy loads)
    import bench_derive
    import bench_speed

    threads = int(os.environ["SYMPROP_BENCH_THREADS"])

    engines = list(bench_speed.ALL_ENGINES)
    if args.engines:
        engines = [e.strip() for e in args.engines.split(",") if e.strip()]
        unknown = sorted(set(engines) - set(bench_speed.ALL_ENGINES))
        if unknown:
            parser.error(f"unknown engines: {', '.join(unknown)}")
        if "generated" not in engines:
            engines.insert(0, "generated")

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.perf_counter()
    results: dict = {"quick": args.quick, "threads": threads}
    sections = []
    if not args.skip_derive:
        log("derive benchmark (fresh process per network)...")
        results["derive"] = bench_derive.run(quick=args.quick, log=log)
        sections.append("## Derivation cost\n\n" + bench_derive.markdown(results["derive"]))
    if not args.skip_speed:
        log(f"speed benchmark ({threads} thread(s) for every engine)...")
        results["speed"] = bench_speed.run(quick=args.quick, engines=engines, log=log, clock=args.clock)
        sections.append("## Forward + backward, median per call\n\n" + bench_speed.markdown(results["speed"]))
    results["elapsed_s"] = time.perf_counter() - started
    text = "\n".join(sections)
    print(text)
    if args.output:
        output = Path(args.output)
    else:  # a quick run never overwrites the committed results
        output = Path(tempfile.gettempdir()) / "symprop-results-quick.json" if args.quick else HERE / "results.json"
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    log(f"done in {results['elapsed_s']:.0f} s; results in {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
