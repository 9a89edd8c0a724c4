"""Tensor architectures: symprop's emitted modules against PyTorch eager, and derive cost.

    python benchmarks/bench_tensor.py [--quick] [--batch 64] [--json PATH]

Speed: for each example (examples/<name>.yaml), one call computes the batch loss and the
gradient of every parameter, from the same parameters and batch: the emitted module's
``loss_and_grad`` against the same network written by hand in PyTorch eager on the CPU
(``torch.autograd.grad``), as an engineer would write it for a custom architecture.  Every
PyTorch loss and gradient is first compared with the module's (a wrong engine is reported,
not timed).  Both run on one thread (``benchmarks/_common.py`` pins the process), in
float32 and float64; the engines take turns in rounds and the median of single calls is
reported, so drift on a shared machine hits both alike.  For the LSTM, PyTorch's fused
``torch.lstm`` (what ``nn.LSTM`` calls) is timed too, as the best PyTorch can do.

Derive cost: ``symprop derive`` (load, derive, write the module and the handout) of a network
at a small and a large width, each in a fresh process (cold, imports included): the cost
must not grow with the sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import _common  # pins threads before NumPy loads
import numpy as np

EXAMPLES = _common.ROOT / "examples"


# -- the networks in PyTorch, written by hand --------------------------------------------------


def torch_self_attention(torch, p, X, T):
    x, t = X, T
    q, k, v = x @ p["Wq"], x @ p["Wk"], x @ p["Wv"]
    s = q @ k.transpose(-1, -2) / np.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(s.shape[-1], s.shape[-1], dtype=torch.bool))
    attention = torch.softmax(s.masked_fill(~mask, -1e9), dim=-1)
    y = (x + attention @ v) @ p["Wo"] + p["bo"]
    return ((y - t) ** 2).mean(dim=(1, 2)).mean()


def torch_lstm(torch, p, X, T):
    def gate(name, f, x, h):
        z = x @ p[f"W{name}"].T + p[f"b{name}"]
        return f(z if h is None else z + h @ p[f"U{name}"].T)

    h = c = None
    for step in range(X.shape[1]):
        x = X[:, step]
        i, o, g = gate("i", torch.sigmoid, x, h), gate("o", torch.sigmoid, x, h), gate("g", torch.tanh, x, h)
        c = i * g if c is None else gate("f", torch.sigmoid, x, h) * c + i * g
        h = o * torch.tanh(c)
    y = h @ p["Wy"].T + p["by"]
    return 0.5 * ((T - y) ** 2).sum(dim=1).mean()


def torch_lstm_fused(torch, p, X, T):
    """The same LSTM through PyTorch's fused kernel (nn.LSTM's), gates stacked i, f, g, o.
    h0 = c0 = 0 makes the first forget gate irrelevant, as in the spec."""
    w_ih = torch.cat([p["Wi"], p["Wf"], p["Wg"], p["Wo"]])
    w_hh = torch.cat([p["Ui"], p["Uf"], p["Ug"], p["Uo"]])
    b_ih = torch.cat([p["bi"], p["bf"], p["bg"], p["bo"]])
    zeros = torch.zeros(1, X.shape[0], p["Ui"].shape[0], dtype=X.dtype)
    out, _, _ = torch.lstm(X, (zeros, zeros), [w_ih, w_hh, b_ih, torch.zeros_like(b_ih)], True, 1, 0.0, False, False, True)
    y = out[:, -1] @ p["Wy"].T + p["by"]
    return 0.5 * ((T - y) ** 2).sum(dim=1).mean()


def torch_embedding_gru(torch, p, X, T):
    e = p["Emb"][X]
    h = None
    for step in range(e.shape[1]):
        x = e[:, step]
        z = x @ p["Wz"].T + p["bz"]
        n = x @ p["Wn"].T + p["bn"]
        if h is None:
            h = torch.sigmoid(z) * torch.tanh(n)
            continue
        z = torch.sigmoid(z + h @ p["Uz"].T)
        r = torch.sigmoid(x @ p["Wr"].T + p["br"] + h @ p["Ur"].T)
        n = torch.tanh(n + (r * h) @ p["Un"].T)
        h = (1 - z) * h + z * n
    logits = h @ p["Wy"].T + p["by"]
    return -(T * torch.log_softmax(logits, dim=-1)).sum(dim=1).mean()


def torch_transformer_block(torch, p, X, T):
    functional = torch.nn.functional
    batch, steps, width = X.shape
    heads = 4
    size = width // heads

    def split(a):  # (batch, T, d) -> (batch, heads, T, d / heads)
        return a.reshape(batch, steps, heads, size).transpose(1, 2)

    n1 = p["g1"] * functional.layer_norm(X, (width,)) + p["b1"]
    q, k, v = split(n1 @ p["Wq"]), split(n1 @ p["Wk"]), split(n1 @ p["Wv"])
    s = q @ k.transpose(-1, -2) / np.sqrt(size)
    mask = torch.tril(torch.ones(steps, steps, dtype=torch.bool))
    o = (torch.softmax(s.masked_fill(~mask, -1e9), dim=-1) @ v).transpose(1, 2).reshape(batch, steps, width)
    h = X + o @ p["Wo"] + p["bo"]
    n2 = p["g2"] * functional.layer_norm(h, (width,)) + p["b2"]
    y = h + functional.gelu(n2 @ p["W1"] + p["c1"]) @ p["W2"] + p["c2"]
    return ((y - T) ** 2).mean(dim=(1, 2)).mean()


def torch_batchnorm_mlp(torch, p, X, T):
    functional = torch.nn.functional
    z = functional.batch_norm(X @ p["W1"].T, None, None, training=True, eps=1e-5)
    h = torch.relu(p["g"] * z + p["c"])
    logits = h @ p["W2"].T + p["b2"]
    return -(T * torch.log_softmax(logits, dim=-1)).sum(dim=1).mean()


def torch_cnn_digits(torch, p, X, T):
    functional = torch.nn.functional
    c = torch.relu(functional.conv2d(X, p["K"], padding=1) + p["kb"])
    h = functional.max_pool2d(c, 2).reshape(X.shape[0], -1)
    logits = h @ p["W"].T + p["b"]
    return -(T * torch.log_softmax(logits, dim=-1)).sum(dim=1).mean()


#: example -> {engine label: PyTorch loss function}
TORCH = {
    "self_attention": {"torch eager": torch_self_attention},
    "lstm": {"torch eager": torch_lstm, "torch fused lstm": torch_lstm_fused},
    "embedding_gru": {"torch eager": torch_embedding_gru},
    "transformer_block": {"torch eager": torch_transformer_block},
    "batchnorm_mlp": {"torch eager": torch_batchnorm_mlp},
    "cnn_digits": {"torch eager": torch_cnn_digits},
}


# -- engines -------------------------------------------------------------------------------------


def _torch():
    import torch

    threads = int(os.environ["SYMPROP_BENCH_THREADS"])
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass
    return torch


def load_module(name: str, directory: Path):
    _common.ensure_symprop_importable()
    import importlib.util

    import symprop

    path = symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml")).write_numpy(directory)
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_engine(torch, function, params, X, T):
    names = list(params)
    leaves = [torch.from_numpy(params[n].copy()).requires_grad_(True) for n in names]
    tensors = dict(zip(names, leaves))
    x = torch.from_numpy(X.copy())
    t = torch.from_numpy(T.copy())

    def step():
        loss = function(torch, tensors, x, t)
        return loss, dict(zip(names, torch.autograd.grad(loss, leaves)))

    return step


def agree(module_result, torch_result, dtype) -> float:
    """Largest relative error of the loss and every gradient, PyTorch against the module."""
    (value, grads), (t_value, t_grads) = module_result, torch_result
    worst = abs(float(t_value.detach()) - float(value)) / max(abs(float(value)), 1e-30)
    for name, g in grads.items():
        other = t_grads[name].detach().numpy()
        worst = max(worst, float(np.linalg.norm(other - g) / max(np.linalg.norm(g), 1e-30)))
    return worst


def speed(names: list[str], batch: int, rounds: int, per_round: int) -> list[dict]:
    torch = _torch()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            module = load_module(name, Path(tmp))
            for dtype in ("float32", "float64"):
                params = module.init_params(0, dtype=getattr(np, dtype))
                X, T = module.sample_batch(batch, 0, dtype=getattr(np, dtype))
                engines = {"symprop": lambda m=module, p=params, X=X, T=T: m.loss_and_grad(p, X, T)}
                errors = {}
                for label, function in TORCH[name].items():
                    step = torch_engine(torch, function, params, X, T)
                    error = agree(engines["symprop"](), step(), dtype)
                    if error > (1e-4 if dtype == "float32" else 1e-9):
                        errors[label] = f"disagrees with the module: relative error {error:.1e}"
                        continue
                    engines[label] = step
                samples = {label: [] for label in engines}
                for _ in range(3):  # warm-up
                    for function in engines.values():
                        function()
                for _ in range(rounds):
                    for label, function in engines.items():
                        samples[label] += _common.time_calls(function, per_round)
                result = {label: _common.summarize(s) for label, s in samples.items()}
                row = {"network": name, "batch": batch, "dtype": dtype, "engines": result, "errors": errors}
                mine = result["symprop"]["median_s"]
                row["ratios"] = {label: mine / r["median_s"] for label, r in result.items() if label != "symprop"}
                rows.append(row)
                ratios = ", ".join(f"{label} {value:.2f}x" for label, value in row["ratios"].items())
                times = ", ".join(f"{label} {_common.format_seconds(r['median_s'])}" for label, r in result.items())
                print(f"{name:16s} {dtype}  {times}   (symprop time / theirs: {ratios}) {errors or ''}", flush=True)
    return rows


# -- derive cost ---------------------------------------------------------------------------------


DERIVE_SCRIPT = """
import sys, time
start = time.perf_counter()
import yaml, symprop
spec = yaml.safe_load(sys.stdin.read())
d = symprop.derive(symprop.from_dict(spec, source="<bench>"))
d.write_numpy(sys.argv[1]); d.write_latex(sys.argv[1])
print(time.perf_counter() - start)
"""


def scaled(name: str, scale: dict[int, int]) -> dict:
    """examples/<name>.yaml with every size in ``scale`` replaced (params, inputs, targets, nodes)."""
    import re

    import yaml

    text = (EXAMPLES / f"{name}.yaml").read_text()
    spec = yaml.safe_load(text)

    def resize(value):
        if isinstance(value, list):
            return [scale.get(v, v) if isinstance(v, int) else resize(v) for v in value]
        if isinstance(value, dict):
            return {k: resize(v) for k, v in value.items()}
        if isinstance(value, int):
            return scale.get(value, value)
        if isinstance(value, str):
            return re.sub(r"(?<![\w.])(\d+)(?![\w.])", lambda m: str(scale.get(int(m.group(1)), m.group(1))), value)
        return value

    for field in ("inputs", "targets", "params", "nodes"):
        spec[field] = resize(spec[field])
    spec["name"] = f"{name}_{'_'.join(str(v) for v in scale.values())}"
    return spec


#: (example, sizes replaced at the small and at the large width)
DERIVE_ROWS = [
    ("self_attention", {16: 16}, {16: 512}),
    ("transformer_block", {32: 16, 128: 64, 8: 4}, {32: 512, 128: 2048, 8: 128}),
    ("lstm", {16: 8}, {16: 1024}),
]


def derive_cost() -> list[dict]:
    import yaml

    rows = []
    for name, small, large in DERIVE_ROWS:
        row = {"network": name}
        for label, scale in (("small", small), ("large", large)):
            spec = scaled(name, scale)
            with tempfile.TemporaryDirectory() as tmp:
                command = [sys.executable, "-c", DERIVE_SCRIPT, tmp]
                done = subprocess.run(command, input=yaml.safe_dump(spec), capture_output=True, text=True, check=True)
            row[label] = {"sizes": scale, "cold_s": float(done.stdout.strip().splitlines()[-1])}
        rows.append(row)
        print(f"derive {name:16s} small {row['small']['cold_s']:.2f} s   large {row['large']['cold_s']:.2f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds (a smoke run)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--networks", default=",".join(TORCH), help="comma-separated examples")
    args = parser.parse_args(argv)
    rounds, per_round = (3, 5) if args.quick else (30, 20)
    results = {
        "machine": _common.machine_info(),
        "threads": int(os.environ["SYMPROP_BENCH_THREADS"]),
        "speed": speed(args.networks.split(","), args.batch, rounds, per_round),
        "derive": derive_cost(),
    }
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
