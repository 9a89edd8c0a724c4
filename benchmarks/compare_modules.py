"""Two generations of emitted modules side by side: is the new code as fast as the old?

    python benchmarks/compare_modules.py OLD_DIR NEW_DIR [--batch 64 1024] [--repeats 7]

For every module present in both folders (e.g. ``generated/`` of an earlier commit and of
this one), times ``loss_and_grad`` on the same weights and batch, old and new interleaved in
one process (one thread; blocks of calls, process CPU time), and prints the median time per
call of each and their ratio new / old.  Gradients must agree to 1e-10 before anything is
timed.  Machines here are shared and noisy: read ratios within about +-5% as equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from symprop.check import load_module  # noqa: E402


def _time(module, args: tuple, budget: float = 0.05) -> float:
    """CPU seconds per ``loss_and_grad`` call, over a block of calls lasting about ``budget``."""
    calls = 1
    while True:
        start = time.process_time()
        for _ in range(calls):
            module.loss_and_grad(*args)
        spent = time.process_time() - start
        if spent >= budget:
            return spent / calls
        calls *= 2


def _point(module, batch: int):
    params = module.init_params(0)
    X, T = module.sample_batch(batch, 0)
    return params, X, T


def _agree(a: dict, b: dict) -> bool:
    return all(np.allclose(a[k], b[k], rtol=1e-10, atol=1e-12) for k in a)


def compare(old_dir: Path, new_dir: Path, batches: list[int], repeats: int) -> list[tuple]:
    rows = []
    names = sorted(p.stem for p in new_dir.glob("*.py") if (old_dir / p.name).is_file())
    for name in names:
        old, new = load_module(old_dir / f"{name}.py"), load_module(new_dir / f"{name}.py")
        for batch in batches:
            params, X, T = _point(new, batch)
            _, g_new = new.loss_and_grad(params, X, T)
            _, g_old = old.loss_and_grad(params, X, T)
            if not _agree(g_new, g_old):
                raise SystemExit(f"{name}: the two modules' gradients differ; not timed")
            times_old, times_new = [], []
            for _ in range(repeats):
                times_old.append(_time(old, (params, X, T)))
                times_new.append(_time(new, (params, X, T)))
            t_old, t_new = statistics.median(times_old), statistics.median(times_new)
            rows.append((name, batch, t_old, t_new, t_new / t_old))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    rows = compare(args.old, args.new, args.batch, args.repeats)
    print("| module | batch | old (us) | new (us) | new / old |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, batch, t_old, t_new, ratio in rows:
        print(f"| {name} | {batch} | {t_old * 1e6:.1f} | {t_new * 1e6:.1f} | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
