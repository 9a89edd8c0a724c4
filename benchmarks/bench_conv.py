"""Forward+backward speed of the generated CNN module (examples/cnn_digits.yaml) against
PyTorch eager on the CPU, with the same weights and batch, and where its time goes.

    python benchmarks/bench_conv.py [--batch 64] [--dtypes float32,float64] [--seconds 4] [--json PATH]

One call computes the batch loss and the gradient of every parameter (no optimizer step):
``loss_and_grad(params, X, T)`` of the module symprop writes, and for PyTorch the same
network spelled with ``torch.nn.functional`` (conv2d with padding 1, + bias, relu,
max_pool2d 2, linear, cross_entropy) and ``torch.autograd.grad``.  Both engines are first
checked to agree (loss and gradients); then they take turns in rounds, each round timing
single calls with ``time.perf_counter``, and the medians are compared.  Threads are pinned
by ``_common`` (``SYMPROP_BENCH_THREADS``, default 1) before NumPy and PyTorch load.

The second table says where the generated ``loss_and_grad`` spends its time: a copy of the
module whose ``loss_and_grad`` times each of its statements (a clock read before and after
each, ~0.1 us) is run a few hundred times, and each statement's median is listed, from the
convolution's im2col to the pooling's adjoint.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _common
import numpy as np

SPEC = _common.ROOT / "examples" / "cnn_digits.yaml"


def load_generated(directory: Path):
    """Derive examples/cnn_digits.yaml, write its module into ``directory``: (module, path)."""
    _common.ensure_symprop_importable()
    import symprop
    from symprop.check import load_module

    path = symprop.derive(symprop.load(SPEC)).write_numpy(directory)
    return load_module(path), path


def torch_step(params: dict, X: np.ndarray, T: np.ndarray):
    """The same network in PyTorch eager: a call returns (loss, gradients by name)."""
    import torch

    torch.set_num_threads(int(os.environ["SYMPROP_BENCH_THREADS"]))
    functional = torch.nn.functional
    tensors = {name: torch.from_numpy(value.copy()).requires_grad_(True) for name, value in params.items()}
    leaves = list(tensors.values())
    x, t = torch.from_numpy(X.copy()), torch.from_numpy(T.copy())
    K, kb, W, b = (tensors[name] for name in ("K", "kb", "W", "b"))

    def step():
        c = torch.relu(functional.conv2d(x, K, padding=1) + kb)
        p = functional.max_pool2d(c, 2)
        z = functional.linear(p.reshape(p.shape[0], -1), W, b)
        loss = functional.cross_entropy(z, t)  # probability (one-hot) targets; mean over the batch
        return loss, dict(zip(tensors, torch.autograd.grad(loss, leaves)))

    return step


def disagreement(generated, torch_result) -> float:
    """The largest relative difference between the two engines' loss and gradients."""
    (loss_g, grads_g), (loss_t, grads_t) = generated, torch_result
    loss_t = float(loss_t.detach())
    worst = abs(loss_t - float(loss_g)) / max(abs(loss_t), 1e-30)
    for name, value in grads_t.items():
        value = value.numpy()
        worst = max(worst, float(np.max(np.abs(value - grads_g[name])) / max(np.max(np.abs(value)), 1e-30)))
    return worst


def take_turns(callables: dict, seconds: float, rounds: int = 10) -> dict:
    """Median seconds per call of each callable; they take turns over ``rounds`` rounds."""
    for function in callables.values():
        for _ in range(20):  # warm-up
            function()
    samples = {name: [] for name in callables}
    for _ in range(rounds):
        for name, function in callables.items():
            deadline = time.perf_counter() + seconds / rounds / len(callables)
            while time.perf_counter() < deadline:
                samples[name].extend(_common.time_calls(function, 10))
    return {name: _common.summarize(values) for name, values in samples.items()}


def instrumented(path: Path, directory: Path):
    """A copy of the generated module at ``path`` whose ``loss_and_grad`` appends the time of
    each of its statements to a list in ``_LINE_SECONDS`` (their text in ``_LINES``), imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "loss_and_grad")
    lines, body = [], []
    for statement in function.body:
        if isinstance(statement, (ast.Return, ast.Expr)):  # the docstring; the return builds a dict
            body.append(statement)
            continue
        tick = ast.parse("_tick = _clock()").body
        tock = ast.parse(f"_LINE_SECONDS[{len(lines)}].append(_clock() - _tick)").body
        body += [*tick, statement, *tock]
        lines.append(ast.unparse(statement).splitlines()[0])
    function.body = body
    header = ast.parse(f"from time import perf_counter as _clock\n_LINES = {lines!r}\n_LINE_SECONDS = [[] for _ in _LINES]")
    tree.body = header.body + tree.body
    copy = directory / f"{path.stem}_timed.py"
    copy.write_text(ast.unparse(ast.fix_missing_locations(tree)) + "\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location(copy.stem, copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def line_costs(module, params: dict, X, T, calls: int = 500) -> list[tuple[str, float]]:
    """(statement, median seconds) for each statement of the instrumented ``loss_and_grad``."""
    for _ in range(20):  # warm-up
        module.loss_and_grad(params, X, T)
    for samples in module._LINE_SECONDS:
        samples.clear()
    for _ in range(calls):
        module.loss_and_grad(params, X, T)
    return [(text, statistics.median(samples)) for text, samples in zip(module._LINES, module._LINE_SECONDS)]


def run(batch: int, dtypes: list[str], seconds: float, log=print) -> dict:
    results = {"batch": batch, "threads": int(os.environ["SYMPROP_BENCH_THREADS"]), "machine": _common.machine_info(), "rows": []}
    import torch

    results["versions"] = {"numpy": np.__version__, "torch": torch.__version__}
    with tempfile.TemporaryDirectory(prefix="symprop-bench-conv-") as tmp:
        module, path = load_generated(Path(tmp))
        timed_copy = instrumented(path, Path(tmp))
    for dtype in dtypes:
        params = module.init_params(0, dtype=dtype)
        rng = np.random.default_rng(1)
        params = {k: (v + 0.1 * rng.standard_normal(v.shape)).astype(dtype) for k, v in params.items()}
        X, T = module.sample_batch(batch, 0, dtype=dtype)
        generated = functools.partial(module.loss_and_grad, params, X, T)
        step = torch_step(params, X, T)
        error = disagreement(generated(), step())
        tolerance = 1e-4 if dtype == "float32" else 1e-10
        if error > tolerance:
            raise SystemExit(f"{dtype}: the generated module and PyTorch disagree (relative difference {error:.1e})")
        log(f"{dtype}: timing, {seconds:g} s ...")
        timed = take_turns({"generated": generated, "torch": step}, seconds)
        ratio = timed["generated"]["median_s"] / timed["torch"]["median_s"]
        lines = line_costs(timed_copy, params, X, T)
        results["rows"].append({"dtype": dtype, "agreement": error, **timed, "ratio": ratio, "lines": lines})
    return results


def markdown(results: dict) -> str:
    out = [
        f"cnn_digits (conv 3x3 1->8 padding 1, relu, max_pool2d 2, dense 128->10, softmax cross-entropy), "
        f"batch {results['batch']}, threads: {results['threads']}",
        "",
        "| dtype | generated | PyTorch eager | generated / PyTorch |",
        "|---|---|---|---|",
    ]
    for row in results["rows"]:
        out.append(
            f"| {row['dtype']} | {_common.format_seconds(row['generated']['median_s'])} | "
            f"{_common.format_seconds(row['torch']['median_s'])} | {row['ratio']:.2f} |"
        )
    for row in results["rows"]:
        out += ["", f"Where the generated loss_and_grad spends its time ({row['dtype']}, median per statement):", ""]
        total = sum(cost for _, cost in row["lines"])
        for text, cost in sorted(row["lines"], key=lambda item: -item[1]):
            if cost >= 0.02 * total:
                out.append(f"    {_common.format_seconds(cost):>10}  {cost / total:5.1%}  {text}")
        out.append(f"    {_common.format_seconds(total):>10}  total of the lines")
    machine = results["machine"]
    out += ["", f"Machine: {machine['cpu']}, {machine['blas']}; " + ", ".join(f"{k} {v}" for k, v in results["versions"].items())]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtypes", default="float32,float64", help="comma-separated: float32, float64")
    parser.add_argument("--seconds", type=float, default=4.0, help="timing budget per dtype, shared by the engines")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("bench_conv.py compares with PyTorch: pip install torch", file=sys.stderr)
        return 2
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    results = run(args.batch, dtypes, args.seconds, log=lambda text: print(text, file=sys.stderr))
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
