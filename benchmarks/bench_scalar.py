"""The scalar backend against the NumPy module and a hand-unrolled version, at 2-2-2.

    python benchmarks/bench_scalar.py [--quick] [--json PATH]

One call is ``loss_and_grad(params, X, T)`` of the tutorials' 2-2-2 sigmoid network
(examples/tutorial_222.yaml): the loss of the batch and the gradient of every weight.  Three
engines, in one process, on the same numbers:

- ``scalar``: the module of ``symprop derive --backend scalar`` (floats and tuples);
- ``numpy``: the NumPy module of ``symprop derive`` (arrays of shape (batch, 2));
- ``hand``: ``hand_unrolled_222.py``, the same network typed out in pure Python.

Their losses and gradients are compared first (to 1e-12; a disagreement stops the run).
Timing: single calls with ``time.perf_counter``, the engines taking turns in rounds (so any
drift of a shared machine falls on all alike), after a warm-up; the median per engine is
reported, and the ratios the issue asks for: numpy / scalar (target at least 15) and
scalar / hand (target at most 1.5), at batch 1, and for information at batch 16.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import _common
import numpy as np

HERE = Path(__file__).resolve().parent
BATCHES = (1, 16)


def engines(directory: Path) -> dict:
    """name -> (the module's loss_and_grad, whether it takes arrays)."""
    _common.ensure_symprop_importable()
    import symprop
    from symprop.check import load_module

    derivation = symprop.derive(symprop.load(_common.ROOT / "examples" / "tutorial_222.yaml"))
    scalar = load_module(derivation.write_scalar(directory / "scalar"))
    numpy_module = load_module(derivation.write_numpy(directory / "numpy"))
    sys.path.insert(0, str(HERE))
    import hand_unrolled_222

    return {
        "scalar": (scalar.loss_and_grad, False),
        "numpy": (numpy_module.loss_and_grad, True),
        "hand": (hand_unrolled_222.loss_and_grad, False),
    }


def arguments(batch: int, arrays: bool, seed: int = 0):
    """The same parameters and batch, as arrays or as tuples and lists."""
    rng = np.random.default_rng(seed)
    params = {"W1": rng.standard_normal((2, 2)) / np.sqrt(2), "W2": rng.standard_normal((2, 2)) / np.sqrt(2)}
    X, T = rng.standard_normal((batch, 2)), rng.uniform(0.05, 0.95, (batch, 2))
    if arrays:
        return params, X, T
    tuples = {k: tuple(map(tuple, v.tolist())) for k, v in params.items()}
    return tuples, [tuple(x) for x in X.tolist()], [tuple(t) for t in T.tolist()]


def check_agreement(table: dict, batch: int) -> None:
    """Every engine's loss and gradients equal the NumPy module's to 1e-12, or SystemExit."""
    value, grads = table["numpy"][0](*arguments(batch, True))
    for name, (function, arrays) in table.items():
        ours, our_grads = function(*arguments(batch, arrays))
        error = max([abs(ours - value)] + [float(np.max(np.abs(np.asarray(our_grads[k]) - grads[k]))) for k in grads])
        if error > 1e-12:
            raise SystemExit(f"{name} disagrees with the NumPy module at batch {batch}: {error:.2e}")


def measure(table: dict, batch: int, rounds: int, calls: int) -> dict:
    """Median seconds per call of each engine (turns in rounds)."""
    samples: dict[str, list[float]] = {name: [] for name in table}
    prepared = {name: (function, arguments(batch, arrays)) for name, (function, arrays) in table.items()}
    for function, args in prepared.values():  # warm-up
        for _ in range(calls):
            function(*args)
    for _ in range(rounds):
        for name, (function, args) in prepared.items():
            samples[name] += _common.time_calls(lambda f=function, a=args: f(*a), calls)
    return {name: _common.summarize(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few calls (a smoke test, not a measurement)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    rounds, calls = (3, 50) if args.quick else (30, 2000)
    with tempfile.TemporaryDirectory() as scratch:
        table = engines(Path(scratch))
        rows = []
        for batch in BATCHES:
            check_agreement(table, batch)
            timings = measure(table, batch, rounds, calls)
            median = {name: value["median_s"] for name, value in timings.items()}
            rows.append(
                {
                    "batch": batch,
                    "engines": timings,
                    "numpy_over_scalar": median["numpy"] / median["scalar"],
                    "scalar_over_hand": median["scalar"] / median["hand"],
                }
            )
    print("2-2-2 sigmoid half_sse, loss_and_grad, median of single calls (engines taking turns)")
    print(f"{'batch':>5}  {'scalar':>10}  {'numpy':>10}  {'hand':>10}  {'numpy/scalar':>12}  {'scalar/hand':>11}")
    for row in rows:
        t = {name: _common.format_seconds(value["median_s"]) for name, value in row["engines"].items()}
        print(
            f"{row['batch']:>5}  {t['scalar']:>10}  {t['numpy']:>10}  {t['hand']:>10}  "
            f"{row['numpy_over_scalar']:>11.1f}x  {row['scalar_over_hand']:>10.2f}x"
        )
    print("targets at batch 1: numpy/scalar >= 15x, scalar/hand <= 1.5x")
    if args.json:
        args.json.write_text(json.dumps({"machine": _common.machine_info(), "rows": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
