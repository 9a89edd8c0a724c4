"""How much of transformer_block's time against JAX jit is its GELU (issue 16).

    python benchmarks/bench_gelu.py [--modules DIR] [--batches 64,1024] [--repeats 7]

The module's ``loss_and_grad`` (derived now, or read from ``--modules DIR``) takes turns in one
process (``bench_graphs.turns``: CPU time, the median of ``--repeats`` turns) with
``jax.jit(jax.value_and_grad(loss))`` and two copies of the module whose GELU helpers are
replaced:

- ``free``: ``_gelu_kept`` and ``_gelu_derivative`` return arrays computed once per shape and
  dtype (the weights and batch are fixed, so they are the module's own numbers, bit for bit):
  the module with a GELU that costs nothing.  The multiply by the upstream gradient stays.
- ``ndtr``: Phi from ``scipy.special.ndtr`` (one C loop, double precision inside) in place of
  ``(1 + _erf(x / sqrt(2))) / 2``; left out without SciPy.

Each row gives the times and their ratios to JAX, then what the module's GELU costs
(module - free) against what it may cost for the module to tie with JAX (JAX - free).
Losses and gradients must agree first (1e-9 relative in float64, 1e-4 in float32).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (imported first: it pins threads before NumPy loads)
import numpy as np
from bench_graphs import _jax, jax_engine, load, turns, worst_difference
from reference_graphs import jax_losses

NAME = "transformer_block"


def free_gelu(module) -> None:
    """Make the module's GELU helpers return arrays computed once per shape and dtype."""
    kept, derivative = module._gelu_kept, module._gelu_derivative
    done = {}

    def gelu_kept(x):
        key = (x.shape, x.dtype.str)
        if key not in done:
            value, cdf = kept(x)
            done[key] = (value, cdf, derivative(x, cdf))
        return done[key][:2]

    module._gelu_kept = gelu_kept
    module._gelu_derivative = lambda x, cdf: done[(x.shape, x.dtype.str)][2]


def ndtr_gelu(module) -> None:
    """Make the module's GELU read Phi from scipy.special.ndtr."""
    from scipy.special import ndtr

    def gelu_kept(x):
        cdf = ndtr(x)
        return x * cdf, cdf

    module._gelu_kept = gelu_kept


def variants(modules: Path | None, scratch: Path) -> dict:
    """The module as emitted and its copies (each loaded afresh, so the replacements stay apart)."""
    found = {"module": load(NAME, modules, scratch)}
    path = Path(found["module"].__file__)
    makers = {"free": free_gelu}
    if importlib.util.find_spec("scipy") is not None:
        makers["ndtr"] = ndtr_gelu
    for label, make in makers.items():
        spec = importlib.util.spec_from_file_location(f"_bench_gelu_{label}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        make(module)
        found[label] = module
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=Path, help=f"read {NAME}.py from this folder instead of deriving it")
    parser.add_argument("--batches", default="64,1024", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    jax = _jax()
    if jax is None:
        parser.error("JAX is not installed (pip install jax): this benchmark compares with JAX jit")
    loss = jax_losses(jax)[NAME]
    with tempfile.TemporaryDirectory() as tmp:
        modules = variants(args.modules, Path(tmp))
        base = modules["module"]
        for batch in (int(b) for b in args.batches.split(",")):
            for dtype in (np.float64, np.float32):
                params = base.init_params(0, dtype=dtype)
                X, T = base.sample_batch(batch, 0, dtype=dtype)
                engines = {label: (lambda m=m, p=params, X=X, T=T: m.loss_and_grad(p, X, T)) for label, m in modules.items()}
                engines["jax"] = jax_engine(jax, loss, params, X, T)
                expected = engines["module"]()
                tolerance = 1e-9 if dtype == np.float64 else 1e-4
                for label in list(engines)[1:]:
                    error = worst_difference(expected, engines[label]())
                    if error > tolerance:
                        raise SystemExit(f"{label} batch {batch} {dtype.__name__}: differs from the module by {error:.1e}")
                us = {label: seconds * 1e6 for label, seconds in turns(engines, args.repeats).items()}
                times = ", ".join(f"{label} {value:.0f} us ({value / us['jax']:.2f}x)" for label, value in us.items())
                gelu = f"GELU {us['module'] - us['free']:.0f} us, may cost {us['jax'] - us['free']:.0f} us"
                print(f"{NAME} {batch:5d} {dtype.__name__}  {times}  ({gelu})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
