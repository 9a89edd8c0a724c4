"""Shared pieces of the benchmarks: thread pinning, the benchmark networks, timing helpers.

Importing this module pins the process's threads (``pin_threads()``, below), so the
benchmark scripts import it *before* NumPy: the thread environment variables are read by
OpenBLAS, MKL, OpenMP and XLA once, when they load.

Thread policy (the same for every engine, so no engine wins by using more cores):
``SYMPROP_BENCH_THREADS`` threads (default 1), and the process is pinned to that many CPUs
with ``sched_setaffinity``.  One thread is the default because it is what the published
128-128-128-128 workload used ("on one CPU"), because it is reproducible on a shared
2-core machine, and because NumPy's small-array elementwise ops are single-threaded anyway.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def pin_threads(threads: int | None = None) -> int:
    """Limit every library to ``threads`` threads and pin the process to that many CPUs."""
    if threads is None:
        threads = int(os.environ.get("SYMPROP_BENCH_THREADS", "1"))
    os.environ["SYMPROP_BENCH_THREADS"] = str(threads)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    xla = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in xla:
        flags = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
        flags += f"intra_op_parallelism_threads={threads}"
        os.environ["XLA_FLAGS"] = f"{xla} {flags}".strip()
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > threads:
            os.sched_setaffinity(0, cpus[:threads])
    return threads


def ensure_symprop_importable() -> None:
    """Let ``python benchmarks/x.py`` import symprop from the checkout when not installed."""
    try:
        import symprop  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT))


def mlp_spec(name: str, inputs: int, units: list[int], activation: str, output: str, loss: str) -> dict:
    """A layer-stack spec: hidden layers with ``activation``, the last layer with ``output``."""
    layers = [{"units": n, "activation": activation, "bias": True} for n in units[:-1]]
    layers.append({"units": units[-1], "activation": output, "bias": True})
    return {"name": name, "input": inputs, "layers": layers, "loss": loss}


def tutorial_spec() -> dict:
    """The tutorials' 2-2-2 sigmoid network without biases (examples/tutorial_222.yaml)."""
    spec = mlp_spec("bench_2_2_2", 2, [2, 2], "sigmoid", "sigmoid", "half_sse")
    for layer in spec["layers"]:
        layer["bias"] = False
    return spec


#: The rows of the speed benchmark (issue 6): (label, spec, batches).
SPEED_ROWS = [
    ("2-2-2 sigmoid half_sse", tutorial_spec(), [1]),
    ("784-30-10 sigmoid half_sse", mlp_spec("bench_784_30_10", 784, [30, 10], "sigmoid", "sigmoid", "half_sse"), [1, 64, 1024]),
    (
        "784-256-256-10 relu softmax cross_entropy",
        mlp_spec("bench_784_256_256_10", 784, [256, 256, 10], "relu", "softmax", "cross_entropy"),
        [64, 1024],
    ),
    ("128-128-128-128 tanh half_sse", mlp_spec("bench_128x4_tanh", 128, [128, 128, 128], "tanh", "tanh", "half_sse"), [64]),
]


def layer_dims(spec: dict) -> list[tuple[int, int]]:
    """(inputs, outputs) of every dense layer."""
    dims, fan_in = [], spec["input"]
    for layer in spec["layers"]:
        dims.append((fan_in, layer["units"]))
        fan_in = layer["units"]
    return dims


def gemm_flops(spec: dict, batch: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward+backward pass through the dense layers.

    Forward: Z = A @ W.T per layer.  Backward: dW = dZ.T @ A per layer, and dA = dZ @ W for
    every layer but the first (no gradient with respect to the input is needed).
    """
    flops = 0
    for index, (fan_in, fan_out) in enumerate(layer_dims(spec)):
        gemms = 3 if index > 0 else 2
        flops += gemms * 2 * batch * fan_in * fan_out
    return flops


def param_count(spec: dict) -> int:
    total = 0
    for (fan_in, fan_out), layer in zip(layer_dims(spec), spec["layers"]):
        total += fan_in * fan_out + (fan_out if layer.get("bias", True) else 0)
    return total


#: ``wall``: time.perf_counter around every call.  ``cpu``: the process's CPU time
#: (time.process_time, all threads) around blocks of calls of at least ~0.5 ms, divided by
#: the block size.  On a quiet machine both agree; on a shared one, CPU time leaves out the
#: time the pinned CPU spent on other processes (cache pollution by them still counts).
CLOCKS = ("wall", "cpu")


def time_calls(function, repeats: int, clock: str = "wall", per_call: float = 0.0) -> list[float]:
    """Seconds per call of ``function()``: ``repeats`` samples (see CLOCKS)."""
    if clock == "cpu":
        block = max(1, int(5e-4 / per_call)) if per_call > 0 else 1
        timer = time.process_time
        samples = []
        for _ in range(max(1, repeats // block)):
            start = timer()
            for _ in range(block):
                function()
            samples.append((timer() - start) / block)
        return samples
    timer = time.perf_counter
    samples = []
    for _ in range(repeats):
        start = timer()
        function()
        samples.append(timer() - start)
    return samples


def summarize(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "median_s": statistics.median(ordered),
        "min_s": ordered[0],
        "p25_s": ordered[len(ordered) // 4],
        "p75_s": ordered[(3 * len(ordered)) // 4],
        "samples": len(ordered),
    }


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def machine_info() -> dict:
    import platform

    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "unknown"
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)" for i in threadpool_info())
    except Exception:  # threadpoolctl is optional
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
        "platform": platform.platform(),
    }


# Importing this module pins the threads: it must happen before NumPy loads its BLAS.
pin_threads()
