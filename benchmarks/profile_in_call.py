"""Where does the numba module's loss_and_grad spend its time, against XLA's, inside the call?

    python benchmarks/profile_in_call.py [--network 784-256-256-10] [--batch 1024] [--dtype float32] [--calls 100]

Products and loops timed alone (``bench_gemm.py``, ``bench_skinny.py``) run with their operands hot
in the caches; inside ``loss_and_grad`` they are not, and the two engines do not lose the same.
This script times each piece inside the call, in one process, one thread (``_common``):

- the numba module's ``loss_and_grad``, each statement timed (``time.perf_counter`` around it, in
  a copy of the function's own source with the timers added: the same statements, in the same
  order, on the same arrays);
- ``jax.jit(jax.value_and_grad(loss))`` (``bench_speed.engine_jax``) under ``jax.profiler``: the
  duration of each of XLA's thunks (``ynn_fusion.N`` are YNNPACK fusions, ``dot_general.N`` XLA's
  own dots, the rest its elementwise fusions; which product each one is: the operands and shapes
  of the same name in the optimised HLO, ``jax.jit(f).lower(...).compile().as_text()``).

Each piece's **minimum** over ``--calls`` calls, in wall time: on a shared machine the minimum
leaves out the calls during which the process lost its CPU (a median would not), but not the
caches that other processes share.  The two whole calls' minimum and median are printed too.
"""

from __future__ import annotations

import argparse
import ast
import collections
import glob
import gzip
import importlib.util
import inspect
import json
import tempfile
import textwrap
import time
from pathlib import Path

import _common  # noqa: I001  (first: pins the threads before NumPy loads)
import bench_speed
import numpy as np

NETWORKS = {label.split()[0]: spec for label, spec, _ in _common.SPEED_ROWS}


def load(spec: dict, directory: Path):
    _common.ensure_symprop_importable()
    import symprop

    path = symprop.derive(symprop.from_dict(spec, source="<bench>")).write_module(directory, "numba")
    module_spec = importlib.util.spec_from_file_location(f"_in_call_{spec['name']}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def timed(module):
    """(loss_and_grad with a timer around each statement, the statements' text, their times)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(module.loss_and_grad)))
    function = tree.body[0]
    function.name = "_timed_loss_and_grad"
    body, labels = [], []
    for statement in function.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # the docstring
        labels.append(ast.unparse(statement).splitlines()[0])
        body += [
            ast.parse("_start = _clock()").body[0],
            statement,
            ast.parse(f"_times[{len(labels) - 1}].append(_clock() - _start)").body[0],
        ]
    function.body = body
    ast.fix_missing_locations(tree)
    namespace = dict(vars(module), _clock=time.perf_counter, _times=[[] for _ in labels])
    exec(compile(tree, f"<timed {module.__name__}>", "exec"), namespace)  # the module's own source, timers added
    return namespace["_timed_loss_and_grad"], labels, namespace["_times"]


def xla_thunks(step, calls: int, directory: Path) -> dict:
    """{thunk name: [durations in seconds]} of ``calls`` calls of ``step`` under jax.profiler."""
    import jax

    with jax.profiler.trace(str(directory), create_perfetto_trace=True):
        for _ in range(calls):
            step()
    trace = json.load(gzip.open(glob.glob(str(directory / "**" / "*.trace.json.gz"), recursive=True)[0]))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    durations = collections.defaultdict(list)
    for event in events:
        if event.get("ph") == "X":
            durations[event["name"]].append(event["dur"] * 1e-6)
    return {name: d for name, d in durations.items() if len(d) == calls and not name.startswith("$")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="784-256-256-10", choices=sorted(NETWORKS))
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--calls", type=int, default=100)
    options = parser.parse_args()
    spec, dtype, fmt = NETWORKS[options.network], np.dtype(options.dtype), _common.format_seconds
    with tempfile.TemporaryDirectory(prefix="symprop-in-call-") as tmp:
        module = load(spec, Path(tmp) / "module")
        params = module.init_params(0, dtype)
        X, T = module.sample_batch(options.batch, 1, dtype)
        step = bench_speed.engine_jax(module, spec, params, X, T)
        function, labels, times = timed(module)
        for _ in range(5):
            step()
            function(params, X, T)
        whole = {"numba module": [], "JAX jit": []}
        for _ in range(options.calls):  # before the profiler: JAX's calls are slower after a trace
            function(params, X, T)
            for name, call in (("numba module", lambda: module.loss_and_grad(params, X, T)), ("JAX jit", step)):
                start = time.perf_counter()
                call()
                whole[name].append(time.perf_counter() - start)
        thunks = xla_thunks(step, options.calls, Path(tmp) / "trace")
    info = _common.machine_info()
    print(f"{options.network} batch {options.batch} {options.dtype}; {info['cpu']}; {info['blas']}; one thread")
    for name, values in whole.items():
        print(f"whole call, {name}: min {fmt(min(values))}, median {fmt(float(np.median(values)))}")
    print("\nnumba module, each statement's minimum in the call:")
    total = 0.0
    for label, values in zip(labels, times):
        if values:
            total += min(values)
            print(f"  {fmt(min(values)):>10s}  {label[:100]}")
    print(f"  {fmt(total):>10s}  (sum)")
    print("\nXLA, each thunk's minimum in the call:")
    skip = ("Execute", "Pjit", "block_until_ready")
    total = 0.0
    for name, values in sorted(thunks.items(), key=lambda item: -min(item[1])):
        if not any(word in name for word in skip):
            total += min(values)
            print(f"  {fmt(min(values)):>10s}  {name}")
    print(f"  {fmt(total):>10s}  (sum)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
