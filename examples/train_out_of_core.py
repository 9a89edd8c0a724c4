"""Train a symprop network on a data set larger than memory, with Dask: out of core.

The network's module is generated with ``--backend array-api``, so the same loss_and_grad()
that runs on NumPy arrays runs on one Dask array of all the rows: each chunk's forward and
backward pass is a task, and each gradient is a reduction over the chunks (``dZ^T X`` and the
batch sums), computed by the workers with the chunks read from disk (``.npy`` memory maps)
as they go, so memory stays flat as the rows grow.  The data set (inputs and the targets of
a fixed random teacher network, plus noise) is written by this script, one chunk at a time.

    python examples/train_out_of_core.py --rows 2000000               # a local Dask cluster
    python examples/train_out_of_core.py --address tcp://host:8786    # a running cluster, unchanged

On a distributed cluster the workers read the chunks by their path: --data must be a
directory they all see.  Before training, the gradient of the first --check-rows rows is
compared with the NumPy module's, in memory (they agree to 1e-12).  Prints rows per second
and the peak resident memory of the client and of each worker.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import symprop
from symprop.check import load_module

#: The network: 16 inputs, a tanh layer of 32, 4 linear outputs, the mean squared error.
SPEC = {
    "name": "out_of_core_mlp",
    "input": 16,
    "layers": [{"units": 32, "activation": "tanh"}, {"units": 4, "activation": "identity"}],
    "loss": "mse",
}
INPUTS, OUTPUTS = 16, 4


def generated_modules(directory: Path):
    """(the array-API module, the NumPy module) of SPEC, written into ``directory`` and imported."""
    derivation = symprop.derive(symprop.from_dict(SPEC, source="examples/train_out_of_core.py"))
    array_api, numpy = derivation.write_array_api(directory / "array_api"), derivation.write_numpy(directory / "numpy")
    return load_module(array_api), load_module(numpy)


def make_data(directory: Path, rows: int, chunk: int, seed: int = 0) -> None:
    """X (rows, 16) and T (rows, 4) as .npy files of ``chunk`` rows each, written one chunk at a
    time (kept when ``directory`` already holds the same data set)."""
    manifest = {"rows": rows, "chunk": chunk, "seed": seed, "inputs": INPUTS, "outputs": OUTPUTS}
    path = directory / "manifest.json"
    if path.exists() and json.loads(path.read_text()) == manifest:
        return
    directory.mkdir(parents=True, exist_ok=True)
    teacher = np.random.default_rng(seed)
    A, B = teacher.standard_normal((INPUTS, 32)) / 4, teacher.standard_normal((32, OUTPUTS)) / 6
    for k, start in enumerate(range(0, rows, chunk)):
        rng = np.random.default_rng([seed, k])
        X = rng.standard_normal((min(chunk, rows - start), INPUTS))
        T = np.tanh(X @ A) @ B + 0.05 * rng.standard_normal((len(X), OUTPUTS))
        np.save(directory / f"X_{k:05d}.npy", X)
        np.save(directory / f"T_{k:05d}.npy", T)
    path.write_text(json.dumps(manifest))


def load_data(directory: Path):
    """(X, T): one Dask array each, a chunk per file, read as a memory map by the task that needs it."""
    import dask
    import dask.array as da

    manifest = json.loads((directory / "manifest.json").read_text())
    rows, chunk = manifest["rows"], manifest["chunk"]
    arrays = {}
    for letter, width in (("X", manifest["inputs"]), ("T", manifest["outputs"])):
        parts = [
            da.from_delayed(dask.delayed(np.load)(str(directory / f"{letter}_{k:05d}.npy"), mmap_mode="r"),
                            (min(chunk, rows - start), width), np.float64)
            for k, start in enumerate(range(0, rows, chunk))
        ]  # fmt: skip
        arrays[letter] = da.concatenate(parts, axis=0)
    return arrays["X"], arrays["T"]


def in_memory(directory: Path, rows: int):
    """The first ``rows`` rows of X and T as NumPy arrays."""
    manifest = json.loads((directory / "manifest.json").read_text())
    chunks = -(-rows // manifest["chunk"])
    X = np.concatenate([np.load(directory / f"X_{k:05d}.npy") for k in range(chunks)])[:rows]
    T = np.concatenate([np.load(directory / f"T_{k:05d}.npy") for k in range(chunks)])[:rows]
    return X, T


def dask_gradient(module, params: dict, X, T):
    """(loss, gradients) of ``params`` on Dask arrays X and T: one pass over the chunks."""
    import dask
    import dask.array as da

    lazy = {key: da.from_array(value) for key, value in params.items()}  # one chunk: the namespace is Dask's
    return dask.compute(*module.loss_and_grad(lazy, X, T))


def largest_difference(grads: dict, expected: dict) -> float:
    """max |g - e| / max(1, max |e|) over the parameters."""
    return max(float(np.max(np.abs(grads[k] - e)) / max(1.0, float(np.max(np.abs(e))))) for k, e in expected.items())


def check_against_numpy(module, numpy_module, params: dict, directory: Path, rows: int) -> float:
    """The largest difference between the Dask gradient and the in-memory NumPy module's on the first ``rows`` rows."""
    X, T = load_data(directory)
    _, grads = dask_gradient(module, params, X[:rows], T[:rows])
    _, expected = numpy_module.loss_and_grad(params, *in_memory(directory, rows))
    return largest_difference(grads, expected)


def train(module, params: dict, X, T, steps: int, rate: float):
    """``steps`` steps of gradient descent on all the rows; returns (params, losses, seconds)."""
    losses, started = [], time.perf_counter()
    for _ in range(steps):
        value, grads = dask_gradient(module, params, X, T)
        losses.append(float(value))
        params = module.sgd_step(params, grads, rate)
    return params, losses, time.perf_counter() - started


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def client_for(address: str | None, workers: int):
    """A Dask client: of the cluster at ``address``, or of a new local cluster of ``workers`` processes."""
    from dask.distributed import Client, LocalCluster

    if address:
        return Client(address)
    return Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per chunk (one .npy file each)")
    parser.add_argument("--steps", type=int, default=3, help="steps of gradient descent, each a pass over all rows")
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=2, help="processes of the local cluster")
    parser.add_argument("--address", help="a running Dask scheduler (tcp://host:8786) instead of a local cluster")
    parser.add_argument("--data", type=Path, help="where the chunks go (default: a temporary directory)")
    parser.add_argument("--check-rows", type=int, default=100_000, help="rows compared with the in-memory NumPy gradient")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or Path(scratch) / "data"
        started = time.perf_counter()
        make_data(data, args.rows, args.chunk)
        print(f"data: {args.rows:,} rows in chunks of {args.chunk:,} at {data} ({time.perf_counter() - started:.1f} s)")
        module, numpy_module = generated_modules(Path(scratch))
        params = numpy_module.init_params(0)
        with client_for(args.address, args.workers) as client:
            difference = check_against_numpy(module, numpy_module, params, data, min(args.check_rows, args.rows))
            print(f"gradient on {min(args.check_rows, args.rows):,} rows vs the in-memory NumPy module: {difference:.1e}")
            X, T = load_data(data)
            params, losses, seconds = train(module, params, X, T, args.steps, args.rate)
            print(f"loss by step: {', '.join(f'{value:.5f}' for value in losses)}")
            rate = args.rows * args.steps / seconds
            print(f"{rate:,.0f} rows/s ({args.steps} passes over {args.rows:,} rows in {seconds:.1f} s)")
            workers = client.run(_peak_rss_mb)
            print(f"peak RSS: client {_peak_rss_mb():.0f} MB, workers {', '.join(f'{v:.0f}' for v in workers.values())} MB")
    return 0 if difference <= 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main())
