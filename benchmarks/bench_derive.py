"""How long symprop takes to derive a network and emit its NumPy module, against size.

    python benchmarks/bench_derive.py [--quick] [--json PATH]

Every measurement runs in a fresh Python process: ``import symprop`` first (not timed),
then ``symprop.derive(symprop.from_dict(spec))`` and ``d.numpy_source()`` (timed), once
cold (what ``symprop derive`` on the command line pays after its imports) and then a few
times warm (SymPy's caches filled; the median is reported).

Networks: 784-30-10 sigmoid half_sse, 784-512-512-10 relu softmax cross_entropy, a
20-layer net (64 inputs, 19 tanh layers of 64, softmax cross_entropy over 10), a width
sweep (w-w-w-10 sigmoid half_sse, w = 8 .. 1024) and a depth sweep (32 inputs, L - 1 tanh
layers of 32 and a softmax output, L = 2 .. 50).

The naive alternative, for comparison: write the loss of one sample as one fully expanded
scalar SymPy expression (sigmoid n-h-o, half_sse) and call ``sympy.diff`` once per weight
and bias.  It is a lower bound on that route (no simplification, no code printed) and runs
in its own process under a timeout; sizes that do not finish are reported as such.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import _common

# -- what the child processes run --------------------------------------------------------


def _child_derive(spec: dict, warm_repeats: int) -> dict:
    _common.ensure_symprop_importable()
    import symprop  # noqa: F401  (imported before the clock starts)

    return _derive_times(spec, warm_repeats)


def _derive_times(spec: dict, warm_repeats: int) -> dict:
    import symprop

    def once() -> tuple[float, float, int]:
        start = time.perf_counter()
        d = symprop.derive(symprop.from_dict(spec, source="<bench>"))
        derived = time.perf_counter()
        source = d.numpy_source()
        return derived - start, time.perf_counter() - derived, len(source.splitlines())

    cold_derive, cold_emit, lines = once()
    warm = [once() for _ in range(warm_repeats)]
    return {
        "cold_derive_s": cold_derive,
        "cold_emit_s": cold_emit,
        "cold_total_s": cold_derive + cold_emit,
        "warm_total_s": statistics.median(a + b for a, b, _ in warm) if warm else None,
        "module_lines": lines,
    }


def _child_naive(n: int, h: int, o: int) -> dict:
    """The loss of an n-h-o sigmoid half_sse network as one expanded expression; diff per weight."""
    import sympy as sp

    start = time.perf_counter()
    x = sp.symbols(f"x_1:{n + 1}", real=True)
    t = sp.symbols(f"t_1:{o + 1}", real=True)
    W1 = [[sp.Symbol(f"W1_{j}{k}", real=True) for k in range(1, n + 1)] for j in range(1, h + 1)]
    b1 = [sp.Symbol(f"b1_{j}", real=True) for j in range(1, h + 1)]
    W2 = [[sp.Symbol(f"W2_{j}{k}", real=True) for k in range(1, h + 1)] for j in range(1, o + 1)]
    b2 = [sp.Symbol(f"b2_{j}", real=True) for j in range(1, o + 1)]

    def sigmoid(z):
        return 1 / (1 + sp.exp(-z))

    a1 = [sigmoid(sum(W1[j][k] * x[k] for k in range(n)) + b1[j]) for j in range(h)]
    y = [sigmoid(sum(W2[j][k] * a1[k] for k in range(h)) + b2[j]) for j in range(o)]
    loss = sum(sp.Rational(1, 2) * (t[i] - y[i]) ** 2 for i in range(o))
    params = [w for row in W1 for w in row] + b1 + [w for row in W2 for w in row] + b2
    built = time.perf_counter()
    gradients = [sp.diff(loss, p) for p in params]
    done = time.perf_counter()
    return {
        "params": len(params),
        "build_s": built - start,
        "diff_s": done - built,
        "total_s": done - start,
        "loss_ops": int(sp.count_ops(loss)),
        "gradient_ops": int(sum(sp.count_ops(g) for g in gradients)),
    }


# -- the parent: which networks, and running the children ---------------------------------


def width_spec(width: int) -> dict:
    return _common.mlp_spec(f"width_{width}", width, [width, width, 10], "sigmoid", "sigmoid", "half_sse")


def depth_spec(depth: int) -> dict:
    return _common.mlp_spec(f"depth_{depth}", 32, [32] * (depth - 1) + [10], "tanh", "softmax", "cross_entropy")


HEADLINE = [
    ("784-30-10 sigmoid half_sse", _common.SPEED_ROWS[1][1]),
    (
        "784-512-512-10 relu softmax cross_entropy",
        _common.mlp_spec("mlp_784_512_512_10", 784, [512, 512, 10], "relu", "softmax", "cross_entropy"),
    ),
    (
        "20 layers: 64 -> 19 x 64 tanh -> 10 softmax",
        _common.mlp_spec("deep20", 64, [64] * 19 + [10], "tanh", "softmax", "cross_entropy"),
    ),
]
WIDTHS = [8, 16, 32, 64, 128, 256, 512, 1024]
DEPTHS = [2, 3, 5, 10, 20, 30, 50]
NAIVE_SIZES = [(2, 2, 2), (4, 4, 2), (4, 8, 4), (8, 16, 4), (16, 32, 10)]


def _run_child(args: list[str], timeout: float) -> dict | None:
    """Run this file as a child with ``args``; its last stdout line is JSON.  None on timeout."""
    command = [sys.executable, __file__, *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def derive_one(spec: dict, warm_repeats: int, timeout: float = 600, fresh: bool = True) -> dict:
    """Derive times of ``spec``: in a fresh process (truly cold), or in this one (--quick)."""
    if fresh:
        result = _run_child(["--child-derive", json.dumps(spec), str(warm_repeats)], timeout)
        if result is None:
            raise RuntimeError(f"derive of {spec['name']} did not finish in {timeout} s")
    else:
        _common.ensure_symprop_importable()
        result = _derive_times(spec, warm_repeats)
    result["params"] = _common.param_count(spec)
    result["layers"] = len(spec["layers"])
    return result


def run(quick: bool = False, log=print) -> dict:
    warm = 2 if quick else 5
    headline = HEADLINE[:1] if quick else HEADLINE
    widths = [8, 256] if quick else WIDTHS
    depths = [2, 10] if quick else DEPTHS
    naive_sizes = NAIVE_SIZES[:1] if quick else NAIVE_SIZES
    naive_timeout = 30.0 if quick else 120.0
    # --quick derives in this process, so only its first network is really "cold".
    fresh = not quick
    results: dict = {"headline": [], "width": [], "depth": [], "naive": [], "naive_timeout_s": naive_timeout, "fresh": fresh}
    for label, spec in headline:
        row = derive_one(spec, warm, fresh=fresh)
        row["network"] = label
        results["headline"].append(row)
        log(f"  derive {label}: {row['cold_total_s']:.3f} s cold")
    for width in widths:
        row = derive_one(width_spec(width), warm, fresh=fresh)
        row["width"] = width
        results["width"].append(row)
        log(f"  derive width {width}: {row['cold_total_s']:.3f} s cold")
    for depth in depths:
        row = derive_one(depth_spec(depth), warm, fresh=fresh)
        row["depth"] = depth
        results["depth"].append(row)
        log(f"  derive depth {depth}: {row['cold_total_s']:.3f} s cold")
    gave_up = False
    for n, h, o in naive_sizes:
        size = f"{n}-{h}-{o}"
        spec = _common.mlp_spec(f"naive_{n}_{h}_{o}", n, [h, o], "sigmoid", "sigmoid", "half_sse")
        symprop_row = derive_one(spec, warm, fresh=fresh)
        row = {"network": size, "params": _common.param_count(spec), "symprop_cold_s": symprop_row["cold_total_s"]}
        if gave_up:  # a smaller size already timed out: a larger one cannot finish
            row["naive"] = None
        else:
            start = time.perf_counter()
            row["naive"] = _run_child(["--child-naive", str(n), str(h), str(o)], naive_timeout)
            row["naive_wall_s"] = time.perf_counter() - start
            gave_up = row["naive"] is None
        results["naive"].append(row)
        naive = row["naive"]
        log(f"  naive {size}: " + (f"{naive['total_s']:.2f} s" if naive else f"did not finish in {naive_timeout:.0f} s"))
    return results


def markdown(results: dict) -> str:
    fmt = _common.format_seconds
    where = "a fresh process per network" if results.get("fresh", True) else "one process (--quick): only the first is cold"
    out = [f"### derive + NumPy emit ({where}, after `import symprop`)", ""]
    out.append("| network | parameters | cold: derive | cold: emit | cold: total | warm: total | module lines |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for row in results["headline"]:
        out.append(
            f"| {row['network']} | {row['params']:,} | {fmt(row['cold_derive_s'])} | {fmt(row['cold_emit_s'])} "
            f"| {fmt(row['cold_total_s'])} | {fmt(row['warm_total_s'])} | {row['module_lines']} |"
        )
    out += ["", "Width sweep (w-w-w-10, sigmoid, half_sse):", ""]
    out.append("| width | parameters | cold total | warm total |")
    out.append("|---:|---:|---:|---:|")
    for row in results["width"]:
        out.append(f"| {row['width']} | {row['params']:,} | {fmt(row['cold_total_s'])} | {fmt(row['warm_total_s'])} |")
    out += ["", "Depth sweep (32 inputs, tanh layers of 32, softmax cross_entropy over 10):", ""]
    out.append("| layers | parameters | cold total | warm total |")
    out.append("|---:|---:|---:|---:|")
    for row in results["depth"]:
        out.append(f"| {row['depth']} | {row['params']:,} | {fmt(row['cold_total_s'])} | {fmt(row['warm_total_s'])} |")
    timeout = results["naive_timeout_s"]
    out += ["", f"Naive route (one expanded expression, `sympy.diff` per weight; timeout {timeout:.0f} s) against symprop:", ""]
    out.append("| network (sigmoid, half_sse) | parameters | naive: loss ops | naive: build + diff | symprop (cold) |")
    out.append("|---|---:|---:|---:|---:|")
    for row in results["naive"]:
        naive = row["naive"]
        ops = f"{naive['loss_ops']:,}" if naive else "-"
        took = fmt(naive["total_s"]) if naive else f"> {timeout:.0f} s (did not finish)"
        out.append(f"| {row['network']} | {row['params']:,} | {ops} | {took} | {fmt(row['symprop_cold_s'])} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few small sizes only (smoke test)")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--child-derive", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-naive", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_derive:
        print(json.dumps(_child_derive(json.loads(args.child_derive[0]), int(args.child_derive[1]))))
        return 0
    if args.child_naive:
        print(json.dumps(_child_naive(*args.child_naive)))
        return 0
    results = run(quick=args.quick, log=lambda text: print(text, file=sys.stderr))
    print(markdown(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
