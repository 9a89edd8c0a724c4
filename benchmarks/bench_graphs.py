"""Graph-spec modules against the same networks written by hand in NumPy, and against JAX jit.

    python benchmarks/bench_graphs.py [--modules DIR] [--networks a,b] [--repeats 5] [--no-jax] [--numba]

For every example of ``reference_graphs.NETWORKS``, the emitted module's ``loss_and_grad`` (derived
now, or read from ``--modules DIR``, e.g. ``generated/`` of another commit) and the hand-written
NumPy version (``HAND``; without SciPy, transformer_block has none: one line says so, and its hand
columns are ``-``) take turns in one process, on the same weights and batch, at batch 64 and 1024
in float64 and float32;
``jax.jit(jax.value_and_grad(loss))`` joins them at batch 64 (float64, float32) when JAX is
installed, and at batch 1024 too for the examples of ``JAX_1024`` (a second table gives their
module / JAX ratios).  Losses and gradients must agree first (1e-9 relative in float64,
1e-4 in float32).  One thread (``_common`` pins the process); process CPU time over blocks of
calls, the median of ``--repeats`` turns: read +-5% as noise on a shared machine.  The last
column is what the module's argument checks cost a call at batch 64, timed alone (``argument_checks``:
``_usual_arguments``, their usual case in one call, or in older modules ``_inputs``, ``_checked_params``
and ``_targets``; the hand versions have none); the column before it, the module called with ``check=False``
(no checks, as the hand versions) against the hand version, where the module has the keyword.

With ``--numba``, the numba backend's module of each example (``--backend numba``: loss_and_grad
as one compiled function) joins the turns, written to ``SYMPROP_NUMBA_DIR`` (default
``/tmp/symprop_bench_numba``) and imported by name, so that Numba's cache serves the next run
(the first compiles for seconds to minutes per dtype); a second table gives its ratios.  An
example the numba backend refuses (a helper it cannot spell: cnn_digits) is
measured without it, with one line saying so.

The last rows compare a layer stack with the same network written as a graph spec
(784-30-10 and 2-2-2, module against module): the two must run alike.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _common  # pins threads before NumPy loads
import numpy as np
from reference_graphs import HAND, NETWORKS, NO_HAND, jax_losses

EXAMPLES = _common.ROOT / "examples"

#: The examples compared with JAX jit at batch 1024 as well (those added in the eighth round of
#: docs/benchmarks.md; the others' batch-1024 JAX times are in earlier rounds or under --numba).
JAX_1024 = ("cnn_digits", "transformer_block")

#: A layer stack written as a graph spec: the same network twice, one module each.
AS_GRAPH = {
    "mlp_784_30_10": {
        "name": "mlp_784_30_10_graph",
        "inputs": {"x": 784},
        "targets": {"t": 10},
        "params": {"W1": [30, 784], "b1": [30], "W2": [10, 30], "b2": [10]},
        "nodes": {"a1": "sigmoid(W1 @ x + b1)", "a2": "sigmoid(W2 @ a1 + b2)"},
        "loss": "half_sse(a2, t)",
    },
    "tutorial_222": {
        "name": "tutorial_222_graph",
        "inputs": {"x": 2},
        "targets": {"t": 2},
        "params": {"W1": [2, 2], "W2": [2, 2]},
        "nodes": {"a1": "sigmoid(W1 @ x)", "a2": "sigmoid(W2 @ a1)"},
        "loss": "half_sse(a2, t)",
    },
}


def _import(path: Path, label: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{label}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(name: str, modules: Path | None, scratch: Path):
    """The module of examples/<name>.yaml: from ``modules`` if given, else derived now."""
    if modules is not None:
        return _import(modules / f"{name}.py", name)
    _common.ensure_symprop_importable()
    import symprop

    return _import(symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml")).write_numpy(scratch), name)


def load_numba(name: str, log=print):
    """The numba backend's module of examples/<name>.yaml, imported by name from a lasting folder;
    None (and a line to ``log``) when the backend refuses the example."""
    _common.ensure_symprop_importable()
    import os

    import symprop

    folder = Path(os.environ.get("SYMPROP_NUMBA_DIR", "/tmp/symprop_bench_numba"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        source = symprop.derive(symprop.load(EXAMPLES / f"{name}.yaml")).numba_source()
    except symprop.SymPropError as error:
        log(f"{error}: measured without numba")
        return None
    path = folder / f"numba_{name}.py"
    if not path.exists() or path.read_text() != source:  # unchanged: Numba's cache stays valid
        path.write_text(source)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(f"numba_{name}")


def derive_dict(spec: dict, scratch: Path):
    _common.ensure_symprop_importable()
    import symprop

    return _import(symprop.derive(symprop.from_dict(spec, source="<bench>")).write_numpy(scratch), spec["name"])


def cpu_per_call(function, budget: float = 0.02) -> float:
    """CPU seconds per call of ``function()``, over a block of calls lasting about ``budget``."""
    calls = 1
    while True:
        start = time.process_time()
        for _ in range(calls):
            function()
        spent = time.process_time() - start
        if spent >= budget:
            return spent / calls
        calls *= 2


def worst_difference(expected, got) -> float:
    (loss, grads), (other_loss, other_grads) = expected, got
    worst = abs(float(other_loss) - float(loss)) / max(abs(float(loss)), 1e-30)
    for key, value in grads.items():
        other = np.asarray(other_grads[key], dtype=np.float64)
        scale = max(float(np.max(np.abs(value))), 1e-30)
        worst = max(worst, float(np.max(np.abs(other - value))) / scale)
    return worst


def turns(engines: dict, repeats: int) -> dict[str, float]:
    """Median CPU time per call of each engine, the engines taking turns ``repeats`` times."""
    for function in engines.values():  # warm-up (JAX compiles here)
        function()
        function()
    samples = {label: [] for label in engines}
    for _ in range(repeats):
        for label, function in engines.items():
            samples[label].append(cpu_per_call(function))
    return {label: statistics.median(values) for label, values in samples.items()}


def _jax():
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    return jax


def jax_engine(jax, loss, params, X, T):
    compiled = jax.jit(jax.value_and_grad(loss))
    put = jax.tree_util.tree_map(jax.device_put, (params, X, T))

    def step():
        return jax.block_until_ready(compiled(*put))

    return step


def rows(names: list[str], modules: Path | None, repeats: int, use_jax: bool, log=print, numba=False) -> list[dict]:
    jax = _jax() if use_jax else None
    losses = jax_losses(jax) if jax is not None else {}
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            module = load(name, modules, Path(tmp))
            if name in NO_HAND:
                log(f"{name} has no hand NumPy version ('-' in its hand columns): {NO_HAND[name]}")
            compiled = load_numba(name, log) if numba else None
            for batch in (64, 1024):
                for dtype in (np.float64, np.float32):
                    params = module.init_params(0, dtype=dtype)
                    X, T = module.sample_batch(batch, 0, dtype=dtype)
                    engines = {"module": lambda m=module, p=params, X=X, T=T: m.loss_and_grad(p, X, T)}
                    if name in HAND:
                        engines["hand"] = lambda f=HAND[name], p=params, X=X, T=T: f(p, X, T)
                    if "check" in inspect.signature(module.loss_and_grad).parameters:
                        engines["unchecked"] = lambda m=module, p=params, X=X, T=T: m.loss_and_grad(p, X, T, check=False)
                    if compiled is not None:
                        engines["numba"] = lambda m=compiled, p=params, X=X, T=T: m.loss_and_grad(p, X, T)
                    if name in losses and (batch == 64 or compiled is not None or name in JAX_1024):
                        engines["jax"] = jax_engine(jax, losses[name], params, X, T)
                    tolerance = 1e-9 if dtype == np.float64 else 1e-4
                    expected = engines["module"]()
                    for label in list(engines)[1:]:
                        error = worst_difference(expected, engines[label]())
                        if error > tolerance:
                            where = f"{name} {label} batch {batch} {dtype.__name__}"
                            raise SystemExit(f"{where}: differs from the module by {error:.1e}")
                    times = turns(engines, repeats)
                    row = {"network": name, "batch": batch, "dtype": dtype.__name__, "us": {k: v * 1e6 for k, v in times.items()}}
                    row["checks_us"] = 1e6 * cpu_per_call(argument_checks(module, params, X, T))
                    found.append(row)
                    log(_line(row))
        for name, spec in AS_GRAPH.items():
            stack = load(name, None, Path(tmp))
            graph = derive_dict(spec, Path(tmp))
            for batch in (64, 1024):
                params = stack.init_params(0)
                X, T = stack.sample_batch(batch, 0)
                engines = {
                    "module": lambda m=graph, p=params, X=X, T=T: m.loss_and_grad(p, X, T),
                    "stack": lambda m=stack, p=params, X=X, T=T: m.loss_and_grad(p, X, T),
                }
                if worst_difference(engines["stack"](), engines["module"]()) > 1e-12:
                    raise SystemExit(f"{name}: the graph spec's module differs from the layer stack's")
                times = turns(engines, repeats)
                row = {"network": f"{name} as a graph spec", "batch": batch, "dtype": "float64"}
                row["us"] = {k: v * 1e6 for k, v in times.items()}
                found.append(row)
                log(_line(row))
    return found


def argument_checks(module, params, X, T):
    """What the module's loss_and_grad runs to check valid arguments, as one function: its usual case
    ``_usual_arguments`` where the module has it, else ``_inputs``, ``_checked_params`` and ``_targets``."""
    if hasattr(module, "_usual_arguments"):
        return lambda: module._usual_arguments(params, X, T)
    output = module.forward(params, X)[0]
    return lambda: (module._inputs(X), module._checked_params(params), module._targets(T, output))


def _line(row: dict) -> str:
    us = row["us"]
    others = ", ".join(f"module/{k} {us['module'] / v:.2f}x" for k, v in us.items() if k not in ("module", "unchecked"))
    if "numba" in us:
        others += ", " + ", ".join(f"numba/{k} {us['numba'] / us[k]:.2f}x" for k in ("module", "jax") if k in us)
    times = ", ".join(f"{k} {v:.1f} us" for k, v in us.items())
    return f"{row['network']:34s} {row['batch']:5d} {row['dtype']}  {times}  ({others})"


def table(found: list[dict]) -> str:
    """The markdown table: module/hand at 64 and 1024 in both dtypes, module/JAX at 64."""
    by = {(r["network"], r["batch"], r["dtype"]): r["us"] for r in found}
    checks = {r["network"]: r["checks_us"] for r in found if r["batch"] == 64 and r["dtype"] == "float64" and "checks_us" in r}
    names = list(dict.fromkeys(r["network"] for r in found if "graph spec" not in r["network"]))
    lines = [
        "| example | hand f64 64 | hand f64 1024 | hand f32 64 | hand f32 1024 | JAX f64 64 | JAX f32 64 | module f64 64 "
        "| check=False, hand f64 64 | its argument checks |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def ratio(name, batch, dtype, other, mine="module"):
        us = by.get((name, batch, dtype), {})
        return f"{us[mine] / us[other]:.2f}x" if other in us and mine in us else "-"

    for name in names:
        cells = [ratio(name, b, d, "hand") for d in ("float64", "float32") for b in (64, 1024)]
        cells += [ratio(name, 64, d, "jax") for d in ("float64", "float32")]
        cells.append(f"{by[(name, 64, 'float64')]['module']:.0f} us")
        cells.append(ratio(name, 64, "float64", "hand", mine="unchecked"))
        cells.append(f"{checks[name]:.1f} us")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for r in found:
        if "graph spec" in r["network"]:
            us = r["us"]
            ratio = us["module"] / us["stack"]
            lines.append(f"| {r['network']}, batch {r['batch']}: graph module / layer-stack module | {ratio:.2f}x |")
    return "\n".join(lines)


def jax_table(found: list[dict]) -> str:
    """The markdown table of the examples of JAX_1024: the module against JAX jit."""
    lines = [
        "| example | batch | dtype | module | JAX jit | module / JAX |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in found:
        us = r["us"]
        if r["network"] in JAX_1024 and "jax" in us:
            lines.append(
                f"| {r['network']} | {r['batch']} | {r['dtype']} | {us['module']:.0f} us | {us['jax']:.0f} us "
                f"| {us['module'] / us['jax']:.2f}x |"
            )
    return "\n".join(lines)


def numba_table(found: list[dict]) -> str:
    """The markdown table of the numba backend: its time against the NumPy module's and JAX jit's."""
    lines = [
        "| example | batch | dtype | NumPy module | numba module | JAX jit | numba / JAX | numba / NumPy module |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in found:
        us = r["us"]
        if "numba" in us and "jax" in us:
            lines.append(
                f"| {r['network']} | {r['batch']} | {r['dtype']} | {us['module']:.0f} us | {us['numba']:.0f} us "
                f"| {us['jax']:.0f} us | {us['numba'] / us['jax']:.2f}x | {us['numba'] / us['module']:.2f}x |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=Path, help="read the modules from this folder instead of deriving them")
    parser.add_argument("--networks", default=",".join(NETWORKS), help="comma-separated examples")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-jax", action="store_true", help="leave JAX out")
    parser.add_argument("--numba", action="store_true", help="add the numba backend's module (and JAX at batch 1024)")
    args = parser.parse_args(argv)
    names = args.networks.split(",")
    unknown = sorted(set(names) - set(NETWORKS))
    if unknown:
        parser.error(f"unknown network {unknown[0]!r}; choose from {', '.join(NETWORKS)}")
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    found = rows(names, args.modules, args.repeats, not args.no_jax, log=log, numba=args.numba)
    print(table(found))
    if any(row["network"] in JAX_1024 and "jax" in row["us"] for row in found):
        print()
        print(jax_table(found))
    if any("numba" in row["us"] for row in found):
        print()
        print(numba_table(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
