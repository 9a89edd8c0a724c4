"""Each matrix product of 784-30-10's and 784-256-256-10's loss_and_grad alone, in every way we can call it.

``python benchmarks/bench_gemm.py [--dtype float32] [--batches 64,1024] [--rounds 11]``: every
product of the two networks' forward and backward passes, with the shapes and memory layouts of
the numba module's ``loss_and_grad`` (Z = A W^T, dW = dZ^T A, dA = dZ W; A, W, dZ C-ordered),
side by side in one process, one thread (``_common.pin_threads``):

- ``np.dot`` (NumPy's OpenBLAS) as the module calls it, and in the orientations and layouts
  that give the same numbers: the product transposed (``np.dot(W, A.T)``, its result read through
  ``.T`` or copied back), a contiguous copy of the transposed operand, W stored transposed, the
  input in Fortran order;
- SciPy's ``sgemm``/``dgemm`` (SciPy's own OpenBLAS) on the same memory with its transpose flags;
- ``np.dot`` inside an ``@njit`` function (Numba calls SciPy's BLAS through its Cython API);
- ``jax.jit`` of the product in two spellings (XLA; the time includes its dispatch, measured on
  its own as "jax dispatch"), each labelled with what XLA's optimised HLO runs it as: a YNNPACK
  fusion (``__ynn_fusion``) or XLA's own ``dot``;
- PyTorch's ``@`` on the same memory (its BLAS: MKL in its x86 wheels).

Libraries that are not installed are left out.  Every variant's result is first checked against
the product in float64.  Medians of the process's CPU time per call over ``--rounds`` rounds, the
variants taking turns, each one's first call of a round untimed (it brings its operands back into
the caches); the last table gives, per product, the module's way and the fastest of each library.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import _common  # noqa: F401  (pins the threads before NumPy loads)
import numpy as np
from _common import format_seconds, machine_info

#: (network, [(label, kind, (units, inputs))]): kind "Z" is Z = A W^T, "dW" dZ^T A, "dA" dZ W.
NETWORKS = [
    (
        "784-30-10",
        [
            ("Z1 = X W1^T", "Z", (30, 784)),
            ("Z2 = A1 W2^T", "Z", (10, 30)),
            ("dW2 = dZ2^T A1", "dW", (10, 30)),
            ("dA1 = dZ2 W2", "dA", (10, 30)),
            ("dW1 = dZ1^T X", "dW", (30, 784)),
        ],
    ),
    (
        "784-256-256-10",
        [
            ("Z1 = X W1^T", "Z", (256, 784)),
            ("Z2 = A1 W2^T", "Z", (256, 256)),
            ("Z3 = A2 W3^T", "Z", (10, 256)),
            ("dW3 = dZ3^T A2", "dW", (10, 256)),
            ("dA2 = dZ3 W3", "dA", (10, 256)),
            ("dW2 = dZ2^T A1", "dW", (256, 256)),
            ("dA1 = dZ2 W2", "dA", (256, 256)),
            ("dW1 = dZ1^T X", "dW", (256, 784)),
        ],
    ),
]
#: The columns of the summary: a variant belongs to the first library whose prefix its name has.
LIBRARIES = (("np.dot", "NumPy"), ("gemm", "SciPy gemm"), ("njit", "njit np.dot"), ("jax", "XLA"), ("torch", "PyTorch"))


def libraries() -> dict:
    """The optional libraries that are installed, imported (JAX with float64 enabled)."""
    found = {}
    if importlib.util.find_spec("scipy"):
        import scipy.linalg.blas

        found["blas"] = scipy.linalg.blas
    if importlib.util.find_spec("numba") and importlib.util.find_spec("scipy"):  # Numba's np.dot needs SciPy
        from numba import njit

        found["dot_into"] = njit(lambda a, b, out: np.dot(a, b, out))
    if importlib.util.find_spec("jax"):
        import jax

        jax.config.update("jax_enable_x64", True)
        found["jax"] = jax
    if importlib.util.find_spec("torch"):
        import torch

        torch.set_num_threads(1)
        found["torch"] = torch
    return found


def variants(kind: str, A, W, D, libs: dict) -> dict:
    """{name: function()}: each computes the product of ``kind`` and returns it as (rows, columns)."""
    dtype = A.dtype
    N, units = D.shape
    if kind == "Z":  # Z (N, units) = A W^T
        out, outT = np.empty((N, units), dtype), np.empty((units, N), dtype)
        AF, WT = np.asfortranarray(A), np.ascontiguousarray(W.T)
        found = {
            "np.dot(A, W.T, out=Z)  (the module)": lambda: np.dot(A, W.T, out=out),
            "np.dot(W, A.T, out=ZT), result ZT.T": lambda: np.dot(W, A.T, out=outT).T,
            "np.dot(W, A.T, out=ZT), copied into Z": lambda: (np.dot(W, A.T, out=outT), np.copyto(out, outT.T), out)[-1],
            "np.dot(A, W.T.copy())": lambda: np.dot(A, np.ascontiguousarray(W.T), out=out),
            "np.dot(A, WT), W stored transposed": lambda: np.dot(A, WT, out=out),
            "np.dot(AF, W.T), A in Fortran order": lambda: np.dot(AF, W.T, out=out),
        }
        operands, spellings = (A, W), {"A @ W.T": lambda a, w: a @ w.T, "(W @ A.T).T": lambda a, w: (w @ a.T).T}
    elif kind == "dW":  # dW (units, inputs) = D^T A
        out, outT = np.empty((units, A.shape[1]), dtype), np.empty((A.shape[1], units), dtype)
        found = {
            "np.dot(D.T, A)  (the module)": lambda: np.dot(D.T, A, out=out),
            "np.dot(A.T, D), result .T": lambda: np.dot(A.T, D, out=outT).T,
            "np.dot(A.T, D), copied": lambda: (np.dot(A.T, D, out=outT), np.copyto(out, outT.T), out)[-1],
            "np.dot(D.T.copy(), A)": lambda: np.dot(np.ascontiguousarray(D.T), A, out=out),
        }
        operands, spellings = (D, A), {"D.T @ A": lambda d, a: d.T @ a, "(A.T @ D).T": lambda d, a: (a.T @ d).T}
    else:  # dA (N, inputs) = D W
        out, outT = np.empty((N, W.shape[1]), dtype), np.empty((W.shape[1], N), dtype)
        found = {
            "np.dot(D, W, out=dA)  (the module)": lambda: np.dot(D, W, out=out),
            "np.dot(W.T, D.T), result .T": lambda: np.dot(W.T, D.T, out=outT).T,
            "np.dot(W.T, D.T), copied": lambda: (np.dot(W.T, D.T, out=outT), np.copyto(out, outT.T), out)[-1],
        }
        operands, spellings = (D, W), {"D @ W": lambda d, w: d @ w}
    if "blas" in libs:  # Fortran's view of C-ordered memory: A.T, W.T, D.T are F-contiguous, no copies
        gemm = libs["blas"].sgemm if dtype == np.float32 else libs["blas"].dgemm
        found |= {
            "Z": {
                "gemm(1, A.T, W.T, trans_a=1)": lambda: gemm(1.0, A.T, W.T, trans_a=1),
                "gemm(1, W.T, A.T, trans_a=1).T": lambda: gemm(1.0, W.T, A.T, trans_a=1).T,
            },
            "dW": {"gemm(1, A.T, D.T, trans_b=1).T": lambda: gemm(1.0, A.T, D.T, trans_b=1).T},
            "dA": {"gemm(1, W.T, D.T).T": lambda: gemm(1.0, W.T, D.T).T},
        }[kind]
    if "dot_into" in libs:
        dot_into = libs["dot_into"]
        found |= {
            "Z": {
                "njit np.dot(A, W.T, out=Z)": lambda: (dot_into(A, W.T, out), out)[-1],
                "njit np.dot(W, A.T, out=ZT), result .T": lambda: (dot_into(W, A.T, outT), outT.T)[-1],
            },
            "dW": {"njit np.dot(D.T, A, out=dW)": lambda: (dot_into(D.T, A, out), out)[-1]},
            "dA": {"njit np.dot(D, W, out=dA)": lambda: (dot_into(D, W, out), out)[-1]},
        }[kind]
    if "jax" in libs:
        jax = libs["jax"]
        on_device = [jax.device_put(x) for x in operands]
        for spelling, function in spellings.items():
            compiled = jax.jit(function).lower(*on_device).compile()
            how = "YNNPACK" if "__ynn_fusion" in compiled.as_text() else "XLA dot"
            found[f"jax.jit({spelling}) [{how}]"] = lambda c=compiled: c(*on_device).block_until_ready()
    if "torch" in libs:
        t = {name: libs["torch"].from_numpy(x) for name, x in (("A", A), ("W", W), ("D", D))}
        found |= {
            "Z": {"torch A @ W.T": lambda: t["A"] @ t["W"].T},
            "dW": {"torch D.T @ A": lambda: t["D"].T @ t["A"]},
            "dA": {"torch D @ W": lambda: t["D"] @ t["W"]},
        }[kind]
    return found


def sample(function) -> float:
    """CPU seconds per call, one sample: a call untimed (it brings the operands back into the
    caches), then about 4 ms of calls."""
    start = time.process_time()
    function()
    block = max(1, int(4e-3 / max(time.process_time() - start, 1e-6)))
    start = time.process_time()
    for _ in range(block):
        function()
    return (time.process_time() - start) / block


def measure(network: str, N: int, label: str, kind: str, shape: tuple[int, int], dtype, rounds: int, libs: dict) -> dict:
    """{variant: median seconds} of one product, the variants taking turns (``rounds`` of each)."""
    units, inputs = shape
    rng = np.random.default_rng(0)
    W, A, D = (rng.standard_normal(s).astype(dtype) for s in ((units, inputs), (N, inputs), (N, units)))
    reference = {"Z": A.astype(float) @ W.T, "dW": D.T.astype(float) @ A, "dA": D.astype(float) @ W}[kind]
    functions = variants(kind, A, W, D, libs)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    for name, function in functions.items():
        value = np.asarray(function())
        error = np.abs(value - reference).max() / max(1.0, np.abs(reference).max())
        assert value.shape == reference.shape and error < tolerance, (network, N, label, name, error)
    if "jax" in libs:
        small = libs["jax"].device_put(np.ones((units, 2), dtype))
        identity = libs["jax"].jit(lambda a: a)
        functions["jax dispatch (identity, small)"] = lambda: identity(small).block_until_ready()
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            samples[name].append(sample(function))
    return {name: statistics.median(s) for name, s in samples.items()}


def summary(rows: list[tuple[str, dict]]) -> str:
    """Per product: the module's time, each library's fastest and its ratio to the module's (NumPy's
    fastest way named, XLA's kernel)."""
    present = [(prefix, title) for prefix, title in LIBRARIES if any(n.startswith(prefix) for _, t in rows for n in t)]
    lines = [
        "| product | the module's np.dot | " + " | ".join(f"fastest {title}" for _, title in present) + " |",
        "|---|---:|" + "---:|" * len(present),
    ]
    for title, times in rows:
        module = next(iter(times.values()))
        cells = []
        for prefix, _ in present:
            ways = {n: t for n, t in times.items() if n.startswith(prefix) and "dispatch" not in n}
            best = min(ways, key=ways.get)
            named = f", {best}" if prefix == "np.dot" else (f", {best[best.index('[') + 1 : -1]}" if "[" in best else "")
            cells.append(f"{format_seconds(ways[best])} ({ways[best] / module:.2f}x{named})")
        lines.append(f"| {title} | {format_seconds(module)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--batches", default="64,1024", help="comma-separated batch sizes")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--networks", default="784-30-10,784-256-256-10", help="comma-separated")
    options = parser.parse_args()
    libs = libraries()
    dtype = np.dtype(options.dtype).type
    info = machine_info()
    versions = [f"{name} {module.__version__}" for name, module in libs.items() if hasattr(module, "__version__")]
    print(f"{info['cpu']}; {info['blas']}; numpy {np.__version__}; {', '.join(versions)}; {options.dtype}; one thread")
    rows = []
    for network, products in NETWORKS:
        if network not in options.networks.split(","):
            continue
        for N in [int(b) for b in options.batches.split(",")]:
            for label, kind, shape in products:
                times = measure(network, N, label, kind, shape, dtype, options.rounds, libs)
                m, k, n = {"Z": (N, shape[1], shape[0]), "dW": (shape[0], N, shape[1]), "dA": (N, shape[0], shape[1])}[kind]
                title = f"{network} batch {N}: {label} ({m} x {k} by {k} x {n})"
                print(f"\n{title}")
                module = next(iter(times.values()))
                for name, seconds in times.items():
                    print(f"  {name:48s} {format_seconds(seconds):>10s}  {seconds / module:5.2f}x")
                rows.append((title, times))
    print("\n" + summary(rows))


if __name__ == "__main__":
    main()
