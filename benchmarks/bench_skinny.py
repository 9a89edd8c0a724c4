"""Can an @njit loop beat OpenBLAS on the skinny float32 products of 784-30-10 and 784-256-256-10?

    python benchmarks/bench_skinny.py [--dtype float32] [--batches 64,1024] [--rounds 7] [--sweep] [--calls]

Issue 15 part 3 (the numba backend at least as fast as JAX jit) is not met in float32 on an Intel
Xeon with OpenBLAS 0.3.31's SkylakeX kernels, where XLA's products with 10 or 30 output columns
take 0.60x to 0.85x of OpenBLAS's time (``bench_gemm.py``).  This script times Numba loops of our
own against ``np.dot`` on those products, side by side in one process, one thread
(``_common.pin_threads``), every result first checked against the product in float64
(relative 1e-4 in float32, 1e-12 in float64).  Medians of the process's CPU time per call over
``--rounds`` rounds, the ways taking turns.  The loops (``fastmath``: sums in any order, as BLAS):

- ``forward_4x5``: Z = A W^T with A (B, K) and W (n, K) as the module holds them, each element a
  dot product of two contiguous rows; 4 rows of A by 5 rows of W at a time, 20 sums in locals,
  which LLVM vectorises along K (8 floats a step with this LLVM: it prefers 256-bit vectors);
- ``weights_4rows``: dW = D^T A with D (B, n), A (B, K): 4 rows of dW by 128 columns at a time,
  summed over the batch into a small buffer that stays in L1 (a sum of scaled rows of A);
- ``inputs_4rows``: dA = D W: each row of dA a sum of 4 scaled rows of W per pass.

``--sweep``: ``forward_4x5`` against the faster of the module's two ways (``np.dot(A, W.T)`` and
``np.dot(W, A.T)`` copied back) over batch, n and K: is there a rule for where it wins?
``--calls``: the whole ``loss_and_grad`` of the numba modules, as generated and with their layers'
products Z = A W^T run by ``forward_4x5`` where float32, n <= 32 and K >= 256, against JAX jit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import _common  # noqa: I001  (first: pins the threads before NumPy loads)
import numpy as np
from bench_gemm import sample
from numba import njit

JIT = {"error_model": "numpy", "fastmath": True, "cache": True}


@njit(**JIT)
def forward_4x5(A, W, Z):
    """Z = A W^T, dot products along K: 4 rows of Z by 5 columns at a time; the rest one by one."""
    B, K = A.shape
    n = W.shape[0]
    F = A.dtype.type
    B4, n5 = B - B % 4, n - n % 5
    for i in range(0, B4, 4):
        for j in range(0, n5, 5):
            s00 = s01 = s02 = s03 = s04 = F(0.0)
            s10 = s11 = s12 = s13 = s14 = F(0.0)
            s20 = s21 = s22 = s23 = s24 = F(0.0)
            s30 = s31 = s32 = s33 = s34 = F(0.0)
            for k in range(K):
                a0, a1, a2, a3 = A[i, k], A[i + 1, k], A[i + 2, k], A[i + 3, k]
                w0, w1, w2, w3, w4 = W[j, k], W[j + 1, k], W[j + 2, k], W[j + 3, k], W[j + 4, k]
                s00 += a0 * w0
                s01 += a0 * w1
                s02 += a0 * w2
                s03 += a0 * w3
                s04 += a0 * w4
                s10 += a1 * w0
                s11 += a1 * w1
                s12 += a1 * w2
                s13 += a1 * w3
                s14 += a1 * w4
                s20 += a2 * w0
                s21 += a2 * w1
                s22 += a2 * w2
                s23 += a2 * w3
                s24 += a2 * w4
                s30 += a3 * w0
                s31 += a3 * w1
                s32 += a3 * w2
                s33 += a3 * w3
                s34 += a3 * w4
            Z[i, j], Z[i, j + 1], Z[i, j + 2], Z[i, j + 3], Z[i, j + 4] = s00, s01, s02, s03, s04
            Z[i + 1, j], Z[i + 1, j + 1], Z[i + 1, j + 2], Z[i + 1, j + 3], Z[i + 1, j + 4] = s10, s11, s12, s13, s14
            Z[i + 2, j], Z[i + 2, j + 1], Z[i + 2, j + 2], Z[i + 2, j + 3], Z[i + 2, j + 4] = s20, s21, s22, s23, s24
            Z[i + 3, j], Z[i + 3, j + 1], Z[i + 3, j + 2], Z[i + 3, j + 3], Z[i + 3, j + 4] = s30, s31, s32, s33, s34
        for j in range(n5, n):  # columns left over: 4 sums
            t0 = t1 = t2 = t3 = F(0.0)
            for k in range(K):
                w = W[j, k]
                t0 += A[i, k] * w
                t1 += A[i + 1, k] * w
                t2 += A[i + 2, k] * w
                t3 += A[i + 3, k] * w
            Z[i, j], Z[i + 1, j], Z[i + 2, j], Z[i + 3, j] = t0, t1, t2, t3
    for i in range(B4, B):  # rows left over: one dot product each
        for j in range(n):
            s = F(0.0)
            for k in range(K):
                s += A[i, k] * W[j, k]
            Z[i, j] = s


@njit(**JIT)
def weights_4rows(D, A, dW, buffer):
    """dW = D^T A: 4 rows of dW by 128 columns at a time, summed over the batch into ``buffer``
    (4 separate rows of 128, in L1), then copied out; the rows left over (n not a multiple of 4)
    one at a time."""
    B, n = D.shape
    K = A.shape[1]
    F = A.dtype.type
    r0, r1, r2, r3 = buffer[0], buffer[1], buffer[2], buffer[3]
    n4 = n - n % 4
    for c0 in range(0, K, 128):
        width = min(128, K - c0)
        for j in range(0, n4, 4):
            for c in range(width):
                r0[c] = r1[c] = r2[c] = r3[c] = F(0.0)
            for b in range(B):
                x = A[b, c0 : c0 + width]
                d0, d1, d2, d3 = D[b, j], D[b, j + 1], D[b, j + 2], D[b, j + 3]
                for c in range(width):
                    v = x[c]
                    r0[c] += d0 * v
                    r1[c] += d1 * v
                    r2[c] += d2 * v
                    r3[c] += d3 * v
            for c in range(width):
                dW[j, c0 + c], dW[j + 1, c0 + c], dW[j + 2, c0 + c], dW[j + 3, c0 + c] = r0[c], r1[c], r2[c], r3[c]
        for j in range(n4, n):
            for c in range(width):
                r0[c] = F(0.0)
            for b in range(B):
                x = A[b, c0 : c0 + width]
                d = D[b, j]
                for c in range(width):
                    r0[c] += d * x[c]
            for c in range(width):
                dW[j, c0 + c] = r0[c]


@njit(**JIT)
def inputs_4rows(D, W, dA):
    """dA = D W: each row of dA accumulated in place, 4 scaled rows of W a pass."""
    B, n = D.shape
    K = W.shape[1]
    F = W.dtype.type
    n4 = n - n % 4
    for b in range(B):
        for c in range(K):
            dA[b, c] = F(0.0)
        for j in range(0, n4, 4):
            d0, d1, d2, d3 = D[b, j], D[b, j + 1], D[b, j + 2], D[b, j + 3]
            for c in range(K):
                dA[b, c] += d0 * W[j, c] + d1 * W[j + 1, c] + d2 * W[j + 2, c] + d3 * W[j + 3, c]
        for j in range(n4, n):
            d = D[b, j]
            for c in range(K):
                dA[b, c] += d * W[j, c]


#: The products of the two networks with a side of at most 32: (network, label, kind, (n, K)).
PRODUCTS = [
    ("784-30-10", "Z1 = X W1^T", "Z", (30, 784)),
    ("784-30-10", "Z2 = A1 W2^T", "Z", (10, 30)),
    ("784-30-10", "dW1 = dZ1^T X", "dW", (30, 784)),
    ("784-30-10", "dA1 = dZ2 W2", "dA", (10, 30)),
    ("784-256-256-10", "Z3 = A2 W3^T", "Z", (10, 256)),
    ("784-256-256-10", "dW3 = dZ3^T A2", "dW", (10, 256)),
    ("784-256-256-10", "dA2 = dZ3 W3", "dA", (10, 256)),
]


def medians(ways: dict, rounds: int) -> dict:
    samples = {name: [] for name in ways}
    for _ in range(rounds):
        for name, function in ways.items():
            samples[name].append(sample(function))
    return {name: statistics.median(values) for name, values in samples.items()}


def checked(ways: dict, reference: np.ndarray, dtype) -> dict:
    """{name: function()}, after checking each way's result (its second element) against ``reference``."""
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    for name, (function, result) in ways.items():
        function()
        error = np.abs(result - reference).max() / max(1.0, np.abs(reference).max())
        if not error < tolerance:
            raise AssertionError(f"{name}: relative error {error:.1e}")
    return {name: function for name, (function, _) in ways.items()}


def product_ways(kind: str, B: int, n: int, K: int, dtype, rng) -> tuple[dict, np.ndarray]:
    A = rng.standard_normal((B, K)).astype(dtype)
    W = rng.standard_normal((n, K)).astype(dtype)
    D = rng.standard_normal((B, n)).astype(dtype)
    if kind == "Z":
        Z, ZT = np.empty((B, n), dtype), np.empty((n, B), dtype)
        ways = {
            "np.dot(A, W.T, out=Z)": (lambda: np.dot(A, W.T, out=Z), Z),
            "np.dot(W, A.T, out=ZT), copied into Z": (lambda: (np.dot(W, A.T, out=ZT), np.copyto(Z, ZT.T)), Z),
            "njit forward_4x5": (lambda: forward_4x5(A, W, Z), Z),
        }
        return ways, A.astype(float) @ W.T.astype(float)
    if kind == "dW":
        dW, buffer = np.empty((n, K), dtype), np.empty((4, 128), dtype)
        ways = {
            "np.dot(D.T, A, out=dW)": (lambda: np.dot(D.T, A, out=dW), dW),
            "njit weights_4rows": (lambda: weights_4rows(D, A, dW, buffer), dW),
        }
        return ways, D.T.astype(float) @ A.astype(float)
    dA = np.empty((B, K), dtype)
    ways = {"np.dot(D, W, out=dA)": (lambda: np.dot(D, W, out=dA), dA), "njit inputs_4rows": (lambda: inputs_4rows(D, W, dA), dA)}
    return ways, D.astype(float) @ W.astype(float)


def products(dtype, batches: list[int], rounds: int) -> None:
    rng = np.random.default_rng(0)
    print("| product | np.dot (the module's way) | other ways: time (ratio) |\n|---|---:|---|")
    for B in batches:
        for network, label, kind, (n, K) in PRODUCTS:
            ways, reference = product_ways(kind, B, n, K, dtype, rng)
            times = medians(checked(ways, reference, dtype), rounds)
            first = next(iter(times.values()))
            m, k, cols = {"Z": (B, K, n), "dW": (n, B, K), "dA": (B, n, K)}[kind]
            others = "; ".join(f"{name} {_common.format_seconds(t)} ({t / first:.2f}x)" for name, t in list(times.items())[1:])
            title = f"{network} batch {B}: {label} ({m} x {k} by {k} x {cols})"
            print(f"| {title} | {_common.format_seconds(first)} | {others} |", flush=True)


def sweep(dtype, rounds: int) -> None:
    """forward_4x5's time over the faster of the module's two np.dot ways, per (B, n) row and K column."""
    rng = np.random.default_rng(1)
    Ks = (30, 64, 128, 256, 784)
    print(f"forward_4x5 / min(np.dot(A, W.T), np.dot(W, A.T) copied), {np.dtype(dtype).name}; columns K = {Ks}")
    for B in (1, 4, 16, 64, 256, 1024):
        for n in (1, 2, 5, 8, 10, 16, 20, 30, 32):
            cells = []
            for K in Ks:
                ways, reference = product_ways("Z", B, n, K, dtype, rng)
                times = list(medians(checked(ways, reference, dtype), rounds).values())
                cells.append(f"{times[2] / min(times[:2]):5.2f}")
            print(f"B={B:5d} n={n:3d}: " + " ".join(cells), flush=True)


def skinny_product(module):
    """The module's _product, with Z = A W^T by forward_4x5 where float32, n <= 32 and K >= 256."""
    blas = module._product

    def _product(A, W, Z, ZT):
        if A.dtype == np.float32 and W.shape[0] <= 32 and A.shape[1] >= 256:
            forward_4x5(A, W, Z)
        else:
            blas(A, W, Z, ZT)

    return _product


def calls(batches: list[int], rounds: int) -> None:
    """Whole loss_and_grad in float32: the numba module, the same with forward_4x5, JAX jit."""
    import importlib.util

    import bench_speed

    _common.ensure_symprop_importable()
    import symprop

    with tempfile.TemporaryDirectory(prefix="symprop-skinny-") as tmp:
        for label, spec, _ in _common.SPEED_ROWS[1:3]:
            path = symprop.derive(symprop.from_dict(spec, source="<bench>")).write_module(Path(tmp) / label, "numba")
            modules = []
            for tag in ("plain", "kernel"):
                module_spec = importlib.util.spec_from_file_location(f"_skinny_{tag}_{spec['name']}", path)
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
                modules.append(module)
            plain, kernel = modules
            kernel._product = skinny_product(kernel)
            for B in batches:
                params = plain.init_params(0, np.float32)
                X, T = plain.sample_batch(B, 1, np.float32)
                (E0, g0), (E1, g1) = plain.loss_and_grad(params, X, T), kernel.loss_and_grad(params, X, T)
                difference = max(np.abs(g0[k] - g1[k]).max() / np.abs(g0[k]).max() for k in g0)
                functions = {
                    "module": bench_speed.engine_generated(plain, spec, params, X, T),
                    "module + forward_4x5": bench_speed.engine_generated(kernel, spec, params, X, T),
                    "jax": bench_speed.engine_jax(plain, spec, params, X, T),
                }
                for function in functions.values():
                    for _ in range(3):
                        function()
                samples = bench_speed.measure_rounds(functions, 1.5, rounds, clock="cpu")
                t = {name: statistics.median(values) for name, values in samples.items()}
                fmt = _common.format_seconds
                print(
                    f"{label} batch {B} float32: module {fmt(t['module'])}, with forward_4x5 {fmt(t['module + forward_4x5'])} "
                    f"({t['module + forward_4x5'] / t['module']:.2f}x), JAX {fmt(t['jax'])}; / JAX: module "
                    f"{t['module'] / t['jax']:.2f}x, with forward_4x5 {t['module + forward_4x5'] / t['jax']:.2f}x "
                    f"(gradients within {difference:.0e} of the module's, loss {abs(E0 - E1):.0e})",
                    flush=True,
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--batches", default="64,1024", help="comma-separated batch sizes")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sweep", action="store_true", help="forward_4x5 against np.dot over batch, n and K")
    parser.add_argument("--calls", action="store_true", help="whole loss_and_grad with forward_4x5, against JAX jit")
    options = parser.parse_args()
    dtype = np.dtype(options.dtype).type
    batches = [int(b) for b in options.batches.split(",")]
    info = _common.machine_info()
    print(f"{info['cpu']}; {info['blas']}; numpy {np.__version__}; {options.dtype}; one thread", file=sys.stderr)
    if options.sweep:
        sweep(dtype, options.rounds)
    elif options.calls:
        calls(batches, options.rounds)
    else:
        products(dtype, batches, options.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
