"""The numba backend against hand NumPy, the NumPy module and JAX jit, side by side.

    python benchmarks/bench_numba.py [--quick] [--json PATH] [--clock wall|cpu]

One call is ``loss_and_grad(params, X, T)``: the batch loss and the gradient of every parameter,
from the same parameters and batch, in float64 and float32, one thread for every engine
(``_common`` pins the threads before NumPy, JAX or Numba load).  Engines:

- ``numba``: the module of ``symprop derive --backend numba``;
- ``numpy``: the module of ``symprop derive`` (the NumPy backend);
- ``hand``: the hand-optimised NumPy MLP of ``reference_numpy.py``;
- ``jax``: ``jax.jit(jax.value_and_grad(loss))`` on the CPU (``bench_speed.engine_jax``).

Every engine's loss and gradients are compared with the NumPy module's first (1e-9 in float64,
1e-3 in float32); a disagreement is reported instead of a time.  Timing as ``bench_speed``:
after a warm-up, the engines take turns in rounds; medians are reported.

The compile cost: the numba module is written into a fresh folder and imported by its name, so
its first call with a dtype compiles (its time is reported per network and dtype); then a
second Python process imports the same file and times its first call, which loads the compiled
kernels from the cache (``__pycache__`` beside the module) instead of compiling them (the
import time includes NumPy's and Numba's).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: I001  (first: pins the threads before NumPy loads)
import bench_speed
import numpy as np

ENGINES = ("numba", "numpy", "hand", "jax")
DTYPES = ("float64", "float32")
ROWS = [
    ("784-30-10 sigmoid half_sse", _common.SPEED_ROWS[1][1], (64, 1024)),
    ("784-256-256-10 relu softmax cross_entropy", _common.SPEED_ROWS[2][1], (64, 1024)),
]

#: The second process: import the module, time its first call per dtype (the cache's load).
SECOND_PROCESS = """
import _common, importlib, pathlib, sys, time
import numpy as np
path = pathlib.Path(sys.argv[1])
sys.path.insert(0, str(path.parent))
start = time.perf_counter()
module = importlib.import_module(path.stem)
imported = time.perf_counter() - start
times = []
for dtype in ("float64", "float32"):
    params = module.init_params(0, np.dtype(dtype))
    X, T = module.sample_batch(64, 1, np.dtype(dtype))
    start = time.perf_counter()
    module.loss_and_grad(params, X, T)
    times.append(time.perf_counter() - start)
loops = [f for f in vars(module).values() if hasattr(f, "stats")]
hits = sum(sum(f.stats.cache_hits.values()) for f in loops)
print(hits, sum(sum(f.stats.cache_misses.values()) for f in loops), imported, *times)
"""


def load(spec: dict, directory: Path, backend: str):
    _common.ensure_symprop_importable()
    import symprop

    d = symprop.derive(symprop.from_dict(spec, source="<bench>"))
    path = d.write_module(directory / backend, backend)
    directory = path.parent
    if backend == "numba":  # imported by its name, as a user would: its compiled loops are cached (CACHE)
        sys.path.insert(0, str(directory))
        try:
            return importlib.import_module(d.name), path
        finally:
            sys.path.remove(str(directory))
    module_spec = importlib.util.spec_from_file_location(f"_bench_{backend}_{spec['name']}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module, path


def second_process(path: Path) -> dict:
    """The first calls of a new process on the module of ``path``, whose kernels are cached."""
    here = Path(__file__).resolve().parent
    result = subprocess.run([sys.executable, "-c", SECOND_PROCESS, str(path)], capture_output=True, text=True, cwd=here)
    if result.returncode:
        raise RuntimeError(f"the second process failed: {result.stderr.strip()}")
    hits, misses, imported, *calls = (float(v) for v in result.stdout.split())
    return {"cache_hits": int(hits), "cache_misses": int(misses), "import_s": imported, "first_call_s": dict(zip(DTYPES, calls))}


def run(quick: bool = False, log=print, clock: str = "wall") -> dict:
    notes = bench_speed.availability(["jax"])
    engines = [e for e in ENGINES if e != "jax" or notes["jax"] is None]
    budget, rounds = (0.05, 2) if quick else (1.5, 15)
    results = {
        "machine": _common.machine_info(),
        "threads": _common.pin_threads(),
        "clock": clock,
        "quick": quick,
        "skipped": {name: note for name, note in notes.items() if note},
        "compile": [],
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="symprop-bench-numba-") as tmp:
        for label, spec, batches in ROWS:
            numba_module, path = load(spec, Path(tmp), "numba")
            numpy_module, _ = load(spec, Path(tmp), "numpy")
            compiled = {"network": label}
            for dtype in DTYPES:
                params = numpy_module.init_params(0, np.dtype(dtype))
                X, T = numpy_module.sample_batch(64, 1, np.dtype(dtype))
                start = time.perf_counter()
                numba_module.loss_and_grad(params, X, T)
                compiled[dtype] = time.perf_counter() - start
            compiled["second_process"] = second_process(path)
            results["compile"].append(compiled)
            second = compiled["second_process"]
            log(
                f"  {label}: first call (compiles) float64 {compiled['float64']:.2f} s, float32 {compiled['float32']:.2f} s; "
                f"a second process: {second['cache_hits']} loops from the cache, {second['cache_misses']} compiled; "
                f"import {second['import_s']:.2f} s, first call "
                + ", ".join(f"{d} {s * 1e3:.1f} ms" for d, s in second["first_call_s"].items())
            )
            for batch in batches:
                for dtype in DTYPES:
                    modules = (numba_module, numpy_module)
                    results["rows"].append(row(label, spec, batch, dtype, modules, engines, budget, rounds, clock))
                    log("  " + summary_line(results["rows"][-1]))
    results["versions"] = versions()
    return results


def row(label, spec, batch, dtype, modules, engines, budget, rounds, clock) -> dict:
    numba_module, numpy_module = modules
    params = numpy_module.init_params(seed=0, dtype=np.dtype(dtype))
    X, T = numpy_module.sample_batch(batch=batch, seed=1, dtype=np.dtype(dtype))
    expected = numpy_module.loss_and_grad(params, X, T)
    tolerance = 1e-9 if dtype == "float64" else 1e-3
    makers = {
        "numba": lambda: bench_speed.engine_generated(numba_module, spec, params, X, T),
        "numpy": lambda: bench_speed.engine_generated(numpy_module, spec, params, X, T),
        "hand": lambda: bench_speed.engine_reference(numpy_module, spec, params, X, T),
        "jax": lambda: bench_speed.engine_jax(numpy_module, spec, params, X, T),
    }
    result = {"network": label, "batch": batch, "dtype": dtype, "engines": {}}
    callables = {}
    for name in engines:
        function = makers[name]()
        for _ in range(3):  # warm-up (JAX compiles here)
            got = function()
        error = bench_speed.agreement(expected, got, dtype)
        if error > tolerance:
            result["engines"][name] = {"error": f"disagrees with the NumPy module: {error:.2e}"}
            continue
        result["engines"][name] = {"max_rel_difference": error}
        callables[name] = function
    samples = bench_speed.measure_rounds(callables, budget, rounds, clock=clock)
    for name, values in samples.items():
        result["engines"][name].update(_common.summarize(values))
    return result


def median(row: dict, engine: str) -> float | None:
    return row["engines"].get(engine, {}).get("median_s")


def summary_line(row: dict) -> str:
    parts = [f"{name} {_common.format_seconds(median(row, name))}" for name in row["engines"]]
    return f"{row['network']} batch {row['batch']} {row['dtype']}: " + ", ".join(parts)


def versions() -> dict:
    found = bench_speed.versions()
    try:
        import numba

        found["numba"] = numba.__version__
    except ImportError:
        pass
    return found


def markdown(results: dict) -> str:
    fmt, ratio = _common.format_seconds, bench_speed.ratio
    engines = [e for e in ENGINES if e not in results["skipped"]]
    head = ["network", "batch", "dtype", *(f"{e} (median)" for e in engines)]
    head += ["numba / hand", "numba / numpy", "numba / jax"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---|" + "---:|" * (len(head) - 3)]
    for row in results["rows"]:
        cells = [row["network"], str(row["batch"]), row["dtype"]]
        cells += [row["engines"][e].get("error") or fmt(median(row, e)) for e in engines]
        cells += [ratio(median(row, "numba"), median(row, e)) for e in ("hand", "numpy", "jax")]
        lines.append("| " + " | ".join(cells) + " |")
    head = "| network | first call float64 | first call float32 | 2nd process: loops cached / compiled | import | first calls |"
    lines += ["", head, "|---|---:|---:|---:|---:|---:|"]
    for compiled in results["compile"]:
        second = compiled["second_process"]
        calls = ", ".join(f"{d} {fmt(s)}" for d, s in second["first_call_s"].items())
        cells = [compiled["network"], fmt(compiled["float64"]), fmt(compiled["float32"])]
        cells += [f"{second['cache_hits']} / {second['cache_misses']}", fmt(second["import_s"]), calls]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Threads: {results['threads']} for every engine. Clock: {results['clock']} time per call. "
        f"Machine: {results['machine']['cpu']}, {results['machine']['blas']}; versions: "
        + ", ".join(f"{k} {v}" for k, v in results["versions"].items())
        + ".",
    ]
    lines += [f"Skipped {name}: {note}." for name, note in results["skipped"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (a smoke test)")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--clock", choices=_common.CLOCKS, default="wall", help="wall or CPU time per call")
    args = parser.parse_args(argv)
    try:
        import numba  # noqa: F401
    except ImportError:
        print("bench_numba: Numba is not installed (pip install numba)", file=sys.stderr)
        return 2
    results = run(quick=args.quick, clock=args.clock)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
