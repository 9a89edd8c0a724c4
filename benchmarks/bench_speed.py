"""Forward+backward speed of symprop's generated NumPy modules against other engines.

    python benchmarks/bench_speed.py [--quick] [--json PATH] [--engines generated,reference,...]

One measurement is one call that computes the batch loss and the gradient of every
parameter (no optimizer step) from the same parameters and batch, in float64 and float32.
Engines:

- ``generated``: the module symprop writes (``d.write_numpy(tmpdir)``, imported by path),
  ``loss_and_grad(params, X, T)``;
- ``reference``: the hand-optimised NumPy MLP of ``reference_numpy.py``;
- ``torch``: PyTorch eager on the CPU (``torch.autograd.grad``), if importable;
- ``torch_compile``: the same loss through ``torch.compile`` (Inductor, forward and backward
  compiled for the row's fixed shapes), if it works on this CPU;
- ``jax``: ``jax.jit(jax.value_and_grad(loss))`` on the CPU, results blocked on, if importable;
- ``pytensor``: PyTensor's graph of the loss and ``pytensor.grad``, compiled by
  ``pytensor.function`` in its default mode (C), if importable;
- ``numeric``: central differences of the generated ``loss`` (784-30-10 only), timed on a
  sample of parameters and extrapolated to all of them (2 loss evaluations per parameter).

Every engine's loss and gradients are first compared with the generated module's (a wrong
engine is reported, not timed).  Timing: after a warm-up (which includes JAX's
compilation), the engines of one row take turns in rounds, each round timing single calls
with ``time.perf_counter``; the median over all calls is reported (min and quartiles are
in the JSON).  Taking turns spreads any drift of a shared machine over all engines alike.

The GEMM bound of a row is its matmul FLOPs (forward Z = A W^T, backward dW = dZ^T A and
dA = dZ W, no dX) divided by the best matmul rate NumPy reached in this run (square
matrices of 256 to 1024, same dtype, same threads).  ``gemm_shapes`` is the time of just
those matmuls, with the row's own shapes, through ``np.dot``: what no NumPy code can beat.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import _common
import numpy as np

ALL_ENGINES = (
    "generated",
    "reference",
    "torch",
    "torch_compile",
    "jax",
    "pytensor",
    "numba",
    "array_api_numpy",
    "array_api_torch",
    "scalar",
    "numeric",
)
DTYPES = ("float64", "float32")


# -- engines -------------------------------------------------------------------------------


_DERIVATIONS: dict = {}
_BACKEND_MODULES: dict = {}


class NotApplicable(Exception):
    """An engine that does not take a row (the scalar backend above 300 parameters)."""


def _import_path(path: Path, name: str):
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _derivation(spec: dict):
    """symprop's derivation of ``spec``, once per network whatever the backends asked of it."""
    if spec["name"] not in _DERIVATIONS:
        _common.ensure_symprop_importable()
        import symprop

        _DERIVATIONS[spec["name"]] = symprop.derive(symprop.from_dict(spec, source="<bench>"))
    return _DERIVATIONS[spec["name"]]


def load_generated(spec: dict, directory: Path, backend: str = "numpy"):
    """Derive ``spec`` with symprop, write the module of ``backend`` into ``directory``, import it by path."""
    path = _derivation(spec).write_module(directory, backend)
    return _import_path(path, f"_bench_{spec['name']}_{backend.replace('-', '_')}")


def load_backend(spec: dict, backend: str):
    """The module of another ``backend`` (scalar, array-api, numba), once per spec, in a
    temporary folder of its own (removed when the process ends)."""
    key = (spec["name"], backend)
    if key not in _BACKEND_MODULES:
        folder = tempfile.TemporaryDirectory(prefix=f"symprop-bench-{backend}-")
        _BACKEND_MODULES[key] = (load_generated(spec, Path(folder.name), backend), folder)
    return _BACKEND_MODULES[key][0]


def engine_numba(module, spec, params, X, T):
    loss_and_grad = load_backend(spec, "numba").loss_and_grad
    return lambda: loss_and_grad(params, X, T)


def engine_array_api_numpy(module, spec, params, X, T):
    """The array-API module on NumPy arrays (its namespace found by array-api-compat each call)."""
    loss_and_grad = load_backend(spec, "array-api").loss_and_grad
    return lambda: loss_and_grad(params, X, T)


def engine_array_api_torch(module, spec, params, X, T):
    """The array-API module on PyTorch CPU tensors: PyTorch eager, through the standard."""
    torch = _torch()
    loss_and_grad = load_backend(spec, "array-api").loss_and_grad
    tensors = {name: torch.from_numpy(value.copy()) for name, value in params.items()}
    x, t = torch.from_numpy(X.copy()), torch.from_numpy(T.copy())
    return lambda: loss_and_grad(tensors, x, t)


def engine_scalar(module, spec, params, X, T):
    """The scalar backend (tiny networks only): floats and tuples, parameters as nested lists."""
    if _common.param_count(spec) > 300:
        raise NotApplicable("the scalar backend takes at most 300 parameters")
    if X.dtype != np.float64:
        raise NotApplicable("the scalar backend computes in Python floats (float64)")
    loss_and_grad = load_backend(spec, "scalar").loss_and_grad
    nested = {name: value.astype(np.float64).tolist() for name, value in params.items()}
    x, t = X.astype(np.float64).tolist(), T.astype(np.float64).tolist()
    return lambda: loss_and_grad(nested, x, t)


def engine_generated(module, spec, params, X, T):
    loss_and_grad = module.loss_and_grad
    return lambda: loss_and_grad(params, X, T)


def engine_reference(module, spec, params, X, T):
    from reference_numpy import make_loss_and_grad

    loss_and_grad = make_loss_and_grad(spec)
    return lambda: loss_and_grad(params, X, T)


def _torch():
    import torch

    threads = int(os.environ["SYMPROP_BENCH_THREADS"])
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # may only be set once, before any parallel work
        pass
    return torch


def _torch_loss(spec: dict, torch):
    """The network's batch loss as a function of (parameter tensors, x, t), in PyTorch."""
    functional = torch.nn.functional
    activations = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda z: z}
    layers = [
        (f"W{i}", f"b{i}" if layer.get("bias", True) else None, layer["activation"])
        for i, layer in enumerate(spec["layers"], start=1)
    ]
    loss_kind = spec["loss"]

    def loss_fn(p, x, t):
        a = x
        for weight, bias, kind in layers[:-1]:
            a = activations[kind](functional.linear(a, p[weight], p[bias] if bias else None))
        weight, bias, kind = layers[-1]
        z = functional.linear(a, p[weight], p[bias] if bias else None)
        if loss_kind == "cross_entropy":
            return functional.cross_entropy(z, t)  # probability targets; mean over the batch
        y = activations[kind](z)
        return 0.5 * ((y - t) ** 2).sum() / x.shape[0]

    return loss_fn


def _torch_step(spec, params, X, T, compiled: bool):
    torch = _torch()
    names = list(params)
    tensors = {name: torch.from_numpy(value.copy()).requires_grad_(True) for name, value in params.items()}
    leaves = [tensors[name] for name in names]
    x, t = torch.from_numpy(X.copy()), torch.from_numpy(T.copy())
    loss_fn = _torch_loss(spec, torch)
    if compiled:
        # Inductor compiles the forward graph and, through AOTAutograd, its backward (C++ on
        # the CPU); the shapes are fixed, so it compiles once per row.
        torch._dynamo.reset()  # each row compiles afresh (past 8 recompilations Dynamo runs eager)
        loss_fn = torch.compile(loss_fn, dynamic=False)

    def function(p, x, t):
        loss = loss_fn(p, x, t)
        return loss, torch.autograd.grad(loss, leaves)

    def step():
        loss, grads = function(tensors, x, t)
        return loss, dict(zip(names, grads))

    return step


def engine_torch(module, spec, params, X, T):
    return _torch_step(spec, params, X, T, compiled=False)


def engine_torch_compile(module, spec, params, X, T):
    return _torch_step(spec, params, X, T, compiled=True)


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    return jax


def engine_jax(module, spec, params, X, T):
    jax = _jax()
    jnp = jax.numpy
    activations = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu, "identity": lambda z: z}
    layers = [
        (f"W{i}", f"b{i}" if layer.get("bias", True) else None, layer["activation"])
        for i, layer in enumerate(spec["layers"], start=1)
    ]
    loss_kind = spec["loss"]

    def loss_fn(p, x, t):
        a = x
        for weight, bias, kind in layers[:-1]:
            z = a @ p[weight].T
            a = activations[kind](z + p[bias] if bias else z)
        weight, bias, kind = layers[-1]
        z = a @ p[weight].T
        z = z + p[bias] if bias else z
        if loss_kind == "cross_entropy":
            return -jnp.sum(t * jax.nn.log_softmax(z, axis=1)) / x.shape[0]
        y = activations[kind](z)
        return 0.5 * jnp.sum((y - t) ** 2) / x.shape[0]

    compiled = jax.jit(jax.value_and_grad(loss_fn))
    device_params = {name: jax.device_put(value) for name, value in params.items()}
    x, t = jax.device_put(X), jax.device_put(T)

    def step():
        return jax.block_until_ready(compiled(device_params, x, t))

    return step


def engine_pytensor(module, spec, params, X, T):
    """PyTensor's graph of the loss and its symbolic gradient, compiled to C (its default mode)."""
    import pytensor
    import pytensor.tensor as pt

    names = list(params)
    shared = {name: pytensor.shared(value.copy(), name=name) for name, value in params.items()}
    x, t = pt.matrix("x", dtype=X.dtype), pt.matrix("t", dtype=T.dtype)
    activations = {"sigmoid": pt.sigmoid, "tanh": pt.tanh, "relu": lambda z: pt.maximum(z, 0), "identity": lambda z: z}
    a = x
    for i, layer in enumerate(spec["layers"], start=1):
        z = a @ shared[f"W{i}"].T
        if layer.get("bias", True):
            z = z + shared[f"b{i}"]
        last = i == len(spec["layers"])
        if last and spec["loss"] == "cross_entropy":
            loss = -(t * pt.special.log_softmax(z, axis=1)).sum() / x.shape[0]
        else:
            a = activations[layer["activation"]](z)
    if spec["loss"] != "cross_entropy":
        loss = 0.5 * ((a - t) ** 2).sum() / x.shape[0]
    grads = pytensor.grad(loss, [shared[name] for name in names])
    function = pytensor.function([x, t], [loss, *grads])

    def step():
        loss_value, *values = function(X, T)
        return loss_value, dict(zip(names, values))

    return step


ENGINES = {
    "generated": engine_generated,
    "reference": engine_reference,
    "torch": engine_torch,
    "torch_compile": engine_torch_compile,
    "jax": engine_jax,
    "pytensor": engine_pytensor,
    "numba": engine_numba,
    "array_api_numpy": engine_array_api_numpy,
    "array_api_torch": engine_array_api_torch,
    "scalar": engine_scalar,
}


def availability(engines) -> dict[str, str | None]:
    """For each engine None if usable, else why not."""
    notes = {}
    for name in engines:
        notes[name] = None
        try:
            if name in ("torch", "torch_compile", "array_api_torch"):
                _torch()
            elif name == "numba":
                import numba  # noqa: F401
            elif name.startswith("array_api"):
                import array_api_compat  # noqa: F401
            elif name == "pytensor":
                import pytensor  # noqa: F401
            elif name == "jax":
                _jax().numpy.zeros(1).block_until_ready()
        except Exception as error:  # ImportError, or a broken install
            notes[name] = f"not importable ({type(error).__name__}: {error})".splitlines()[0]
    return notes


def versions() -> dict:
    found = {"numpy": np.__version__}
    for name in ("torch", "jax", "jaxlib", "pytensor", "numba", "array_api_compat"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = getattr(module, "__version__", "?")
    return found


# -- checks and measurements ---------------------------------------------------------------


def _array(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().numpy()
    return np.asarray(value, dtype=np.float64)


def to_numpy(result):
    loss, grads = result
    return float(_array(loss)), {key: _array(value) for key, value in grads.items()}


def agreement(expected, got, dtype: str) -> float:
    """Largest relative difference of loss and gradients (each scaled by its largest entry)."""
    loss_e, grads_e = to_numpy(expected)
    loss_g, grads_g = to_numpy(got)
    worst = abs(loss_e - loss_g) / max(abs(loss_e), 1e-30)
    for key, value in grads_e.items():
        worst = max(worst, float(np.max(np.abs(value - grads_g[key])) / max(np.max(np.abs(value)), 1e-30)))
    return worst


def measure_rounds(callables: dict, budget: float, rounds: int, max_calls: int = 5000, clock: str = "wall") -> dict:
    """Engines take turns; each turn times calls for about ``budget / rounds`` seconds."""
    per_call = {}
    for name, function in callables.items():
        start = time.perf_counter()
        function()
        per_call[name] = max(time.perf_counter() - start, 1e-7)
    samples = {name: [] for name in callables}
    for _ in range(rounds):
        for name, function in callables.items():
            calls = int(min(max(budget / rounds / per_call[name], 3), max_calls / rounds))
            samples[name].extend(_common.time_calls(function, calls, clock, per_call[name]))
    return samples


def best_gemm_rate(dtype: str, quick: bool, clock: str = "wall") -> dict:
    """Best FLOP rate of NumPy matmul on square matrices of this dtype (FLOP/s)."""
    rng = np.random.default_rng(0)
    best = {"flops_per_s": 0.0}
    for size in (256, 512) if quick else (256, 512, 768, 1024):
        a = rng.standard_normal((size, size)).astype(dtype)
        b = rng.standard_normal((size, size)).astype(dtype)
        np.dot(a, b)
        reps = 3 if quick else 10
        seconds = min(_common.time_calls(lambda a=a, b=b: np.dot(a, b), reps, clock))
        rate = 2 * size**3 / seconds
        if rate > best["flops_per_s"]:
            best = {"flops_per_s": rate, "size": size}
    return best


def gemm_shapes_call(spec: dict, params: dict, X: np.ndarray):
    """Just the matmuls of one forward+backward pass, with the row's shapes, via np.dot."""
    dims = _common.layer_dims(spec)
    batch = X.shape[0]
    acts = [X] + [np.ones((batch, out), dtype=X.dtype) for _, out in dims]
    weights = [params[f"W{i}"] for i in range(1, len(dims) + 1)]
    deltas = [np.ones((batch, out), dtype=X.dtype) for _, out in dims]
    dot = np.dot

    def call():
        for a, w in zip(acts, weights):
            dot(a, w.T)
        for i in range(len(dims) - 1, -1, -1):
            dot(deltas[i].T, acts[i])
            if i > 0:
                dot(deltas[i], weights[i])

    return call


def numeric_estimate(module, params: dict, X, T, quick: bool, clock: str = "wall") -> dict:
    """Central differences on a sample of parameters, extrapolated to all of them."""
    loss = module.loss
    eps = 1e-6
    sample = [
        (key, index)
        for key, value in params.items()
        for index in list(np.ndindex(value.shape))[:: max(1, value.size // (4 if quick else 25))]
    ]
    work = {key: value.copy() for key, value in params.items()}
    timer = time.process_time if clock == "cpu" else time.perf_counter
    start = timer()
    for key, index in sample:
        value = work[key]
        saved = value[index]
        value[index] = saved + eps
        up = loss(work, X, T)
        value[index] = saved - eps
        down = loss(work, X, T)
        value[index] = saved
        _ = (up - down) / (2 * eps)
    per_param = (timer() - start) / len(sample)
    total = sum(value.size for value in params.values())
    return {
        "median_s": per_param * total,
        "per_param_s": per_param,
        "sampled_params": len(sample),
        "params": total,
        "extrapolated": True,
    }


# -- the benchmark -------------------------------------------------------------------------


def run(quick: bool = False, engines=ALL_ENGINES, log=print, clock: str = "wall") -> dict:
    notes = availability([e for e in engines if e in ENGINES])
    usable = [e for e in engines if e == "numeric" or (e in ENGINES and notes[e] is None)]
    budget, rounds = (0.04, 2) if quick else (1.5, 15)
    results = {
        "machine": _common.machine_info(),
        "threads": int(os.environ["SYMPROP_BENCH_THREADS"]),
        "quick": quick,
        "clock": clock,
        "engines": list(engines),
        "skipped": {name: note for name, note in notes.items() if note},
        "gemm_rate": {},
        "rows": [],
    }
    for dtype in DTYPES:
        results["gemm_rate"][dtype] = best_gemm_rate(dtype, quick, clock)
        log(f"  best {dtype} matmul rate: {results['gemm_rate'][dtype]['flops_per_s'] / 1e9:.1f} GFLOP/s")
    with tempfile.TemporaryDirectory(prefix="symprop-bench-") as tmp:
        for label, spec, batches in _common.SPEED_ROWS:
            module = load_generated(spec, Path(tmp))
            for batch in batches:
                for dtype in DTYPES:
                    params = module.init_params(seed=0, dtype=np.dtype(dtype))
                    X, T = module.sample_batch(batch=batch, seed=1, dtype=np.dtype(dtype))
                    row = {
                        "network": label,
                        "batch": batch,
                        "dtype": dtype,
                        "params": _common.param_count(spec),
                        "gemm_flops": _common.gemm_flops(spec, batch),
                        "engines": {},
                    }
                    row["gemm_bound_s"] = row["gemm_flops"] / results["gemm_rate"][dtype]["flops_per_s"]
                    callables = {}
                    expected = module.loss_and_grad(params, X, T)
                    tolerance = 1e-9 if dtype == "float64" else 1e-3
                    for name in usable:
                        if name == "numeric":
                            continue
                        try:
                            function = ENGINES[name](module, spec, params, X, T)
                        except NotApplicable as why:  # a backend that does not take this row
                            row["engines"][name] = {"not_applicable": str(why)}
                            continue
                        for _ in range(3):  # warm-up (JAX compiles here)
                            got = function()
                        error = agreement(expected, got, dtype)
                        if error > tolerance:
                            row["engines"][name] = {"error": f"disagrees with the generated module: {error:.2e}"}
                            continue
                        row["engines"][name] = {"max_rel_difference": error}
                        callables[name] = function
                    callables["gemm_shapes"] = gemm_shapes_call(spec, params, X)
                    samples = measure_rounds(callables, budget, rounds, clock=clock)
                    for name, values in samples.items():
                        summary = _common.summarize(values)
                        if name == "gemm_shapes":
                            row["gemm_shapes"] = summary
                        else:
                            row["engines"][name].update(summary)
                    if "numeric" in usable and spec["input"] == 784 and spec["layers"][0]["units"] == 30:
                        row["engines"]["numeric"] = numeric_estimate(module, params, X, T, quick, clock)
                    results["rows"].append(row)
                    generated = row["engines"].get("generated", {}).get("median_s")
                    parts = [f"{name} {_common.format_seconds(v.get('median_s'))}" for name, v in row["engines"].items()]
                    log(f"  {label} batch {batch} {dtype}: " + ", ".join(parts) + ("" if generated else " (no generated time)"))
    results["versions"] = versions()
    return results


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def markdown(results: dict) -> str:
    fmt = _common.format_seconds
    engines = [e for e in results["engines"] if e in ENGINES and e not in results["skipped"]]
    numeric = "numeric" in results["engines"] and any("numeric" in row["engines"] for row in results["rows"])
    head = ["network", "batch", "dtype"] + [f"{e} (median)" for e in engines]
    if numeric:
        head.append("numeric diff. (est.)")
    head += ["GEMMs alone", "GEMM bound"]
    head += [f"gen / {e}" for e in engines if e != "generated"]
    head += ["gen / GEMM bound"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---|" + "---:|" * (len(head) - 3)]
    for row in results["rows"]:
        timings = {name: value.get("median_s") for name, value in row["engines"].items()}
        generated = timings.get("generated")
        cells = [row["network"], str(row["batch"]), row["dtype"]]
        for engine in engines:
            value = row["engines"].get(engine, {})
            if "not_applicable" in value:
                cells.append("n/a")
            else:
                cells.append(value["error"] if "error" in value else fmt(value.get("median_s")))
        if numeric:
            cells.append(fmt(timings.get("numeric")))
        cells += [fmt(row["gemm_shapes"]["median_s"]), fmt(row["gemm_bound_s"])]
        cells += [ratio(generated, timings.get(e)) for e in engines if e != "generated"]
        cells.append(ratio(generated, row["gemm_bound_s"]))
        lines.append("| " + " | ".join(cells) + " |")
    rates = ", ".join(
        f"{dtype} {value['flops_per_s'] / 1e9:.1f} GFLOP/s (n = {value.get('size')})"
        for dtype, value in results["gemm_rate"].items()
    )
    notes = [
        "",
        f"Threads: {results['threads']} for every engine (process pinned to {results['threads']} CPU). "
        f"Clock: {results.get('clock', 'wall')} time per call. "
        f"Best NumPy matmul rate in this run: {rates}.",
        f"Machine: {results['machine']['cpu']}, {results['machine']['blas']}; versions: "
        + ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items())
        + ".",
    ]
    for name, note in results["skipped"].items():
        notes.append(f"Skipped {name}: {note}.")
    return "\n".join(lines + notes) + "\n"


def markdown_ratios(results: dict) -> str:
    """Each engine's median as a ratio of hand NumPy's (``reference``) and of JAX jit's, one row
    per network, batch and dtype ("-" where an engine did not run)."""
    engines = [e for e in results["engines"] if e in ENGINES and e not in results["skipped"] and e != "reference"]
    head = ["network", "batch", "dtype"] + [f"{e} / hand" for e in engines] + [f"{e} / JAX" for e in engines if e != "jax"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---|" + "---:|" * (len(head) - 3)]
    for row in results["rows"]:
        timings = {name: value.get("median_s") for name, value in row["engines"].items()}
        cells = [row["network"], str(row["batch"]), row["dtype"]]
        cells += [ratio(timings.get(e), timings.get("reference")) for e in engines]
        cells += [ratio(timings.get(e), timings.get("jax")) for e in engines if e != "jax"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (smoke test, well under a minute)")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--clock", choices=_common.CLOCKS, default="wall", help="wall or CPU time per call")
    parser.add_argument("--engines", default=",".join(ALL_ENGINES), help=f"comma-separated subset of {', '.join(ALL_ENGINES)}")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ALL_ENGINES))
    if unknown:
        parser.error(f"unknown engines: {', '.join(unknown)}")
    if "generated" not in engines:
        engines.insert(0, "generated")
    results = run(quick=args.quick, engines=engines, log=lambda text: print(text, file=sys.stderr), clock=args.clock)
    print(markdown(results))
    if "reference" in engines:
        print(markdown_ratios(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
