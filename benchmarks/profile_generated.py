"""Why is a generated module slower than the hand reference, where it is?  Measure candidate fixes.

    python benchmarks/profile_generated.py [--quick]

For each benchmark row, the generated module is compared with the hand reference, and
then with copies of the generated source with one more candidate change applied each
time (cumulative).  The changes are plain text edits of the *generated* file, standing in
for the emitter/template change each one proposes (see docs/benchmarks.md); every patched
module is checked to give the same loss and gradients before it is timed.

1. ``np.dot``: every ``A @ B`` becomes ``np.dot(A, B)``.  ``@`` costs ~0.4 µs more per
   call on small arrays, and for the batch-1 weight gradient ``dZ.T @ A`` (inner dimension
   1, an outer product) it takes a path 3.5x (float64) to 7x (float32) slower than np.dot.
2. ``mask``: the relu backward ``np.where(Z > 0, dA, 0)`` becomes ``dA * (Z > 0)``.
   ``np.where`` with an unpredictable condition runs ~5 ns per element, 5-12x slower than
   the multiply by the boolean mask.
3. ``in-place helpers``: ``_sigmoid`` computes ``y = np.tanh(0.5 * x); y += 1.0; y *= 0.5``
   (one temporary instead of three: matters from batch 64 on).
4. ``lean loss``: ``np.sum(...)`` in the loss becomes ``(...).sum()``, skipping NumPy's
   Python-level dispatch of ``np.sum`` (~0.7 µs at batch 1).
5. ``fused loss_and_grad``: ``loss_and_grad`` is rendered as one function (the forward
   lines, the loss line, the backward lines) instead of calling ``forward``,
   ``_batch_loss`` and ``backward`` and passing a cache dict between them.
6. ``shared residual`` (half_sse rows): ``_r = Y - T`` once, for the loss
   ``0.5 * (_r ** 2).sum() / N`` and for ``dE/dY = _r / N`` (what one CSE pass over the
   loss and its derivative together would give).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
from pathlib import Path

import _common
import bench_speed
import numpy as np
from reference_numpy import make_loss_and_grad

MATMUL = re.compile(r"(?<![\w.])(\(?[A-Za-z_]\w*(?:\.T)?\)?) @ ([A-Za-z_]\w*(?:\.T)?)")
WHERE_MASK = re.compile(r"np\.where\((\w+) > 0, (\w+), 0(?:\.0)?\)")
SIGMOID = "    return 0.5 * (1.0 + np.tanh(0.5 * x))\n"
SIGMOID_INPLACE = "    y = np.tanh(0.5 * x)\n    y += 1.0\n    y *= 0.5\n    return y\n"
NP_SUM = re.compile(r"np\.sum\((.+)\)( / \w+)?$")


def patch_dot(source: str) -> str:
    lines = []
    for line in source.splitlines():
        code = "= " in line and not line.lstrip().startswith(("#", '"'))
        lines.append(MATMUL.sub(r"np.dot(\1, \2)", line) if code else line)
    return "\n".join(lines) + "\n"


def patch_mask(source: str) -> str:
    return WHERE_MASK.sub(r"\2 * (\1 > 0)", source)


def patch_inplace(source: str) -> str:
    return source.replace(SIGMOID, SIGMOID_INPLACE)


def patch_loss(source: str) -> str:
    out = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("return") and "np.sum(" in stripped and "T.shape[0]" in stripped:
            line = line.replace("np.sum(", "(", 1).replace(") / T.shape[0]", ").sum() / T.shape[0]", 1)
        out.append(line)
    return "\n".join(out) + "\n"


def _body(source: str, function: str) -> list[str]:
    """The body lines of a top-level function, without its docstring."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}("))
    body = []
    for line in lines[start + 1 :]:
        if line and not line.startswith((" ", "\t")):
            break
        body.append(line)
    while body and not body[-1].strip():
        body.pop()
    if body and body[0].strip().startswith('"""'):
        body = body[1:]
    return body


def patch_fused(source: str) -> str:
    """``loss_and_grad`` as one function: forward lines, the loss, backward lines; no cache dict."""
    forward = _body(source, "forward")
    forward = forward[: next(i for i, line in enumerate(forward) if line.strip() == "cache = {")]
    loss = [line for line in _body(source, "_batch_loss") if "cache[" not in line]
    loss[-1] = loss[-1].replace("return ", "E = ", 1)
    backward = [line for line in _body(source, "backward") if "cache[" not in line and not re.match(r"\s+(\w+) = params\[", line)]
    backward[-1 - next(i for i, line in enumerate(reversed(backward)) if line.strip() == "return {")] = "    return E, {"
    fused = [
        "def loss_and_grad(params, X, T):",
        '    """The batch loss and its gradients (fused)."""',
        *forward,
        *loss,
        *backward,
    ]
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("def loss_and_grad("))
    end = start + 1 + len(_body(source, "loss_and_grad")) + 1  # + signature, + docstring line
    return "\n".join(lines[:start] + fused + lines[end:]) + "\n"


HALF_SSE_LOSS = re.compile(r"^    E = \(0\.5 \* \(T - (\w+)\) \*\* 2\)\.sum\(\) / T\.shape\[0\]$", re.M)


def patch_residual(source: str) -> str:
    """half_sse: the residual ``Y - T`` computed once, for the loss and for dE/dY (fused function only)."""
    start = source.index("def loss_and_grad(")
    head, body = source[:start], source[start:]
    match = HALF_SSE_LOSS.search(body)
    if match is None:
        return source
    y = match.group(1)
    shared = f"    N = T.shape[0]\n    _r = {y} - T\n    E = 0.5 * (_r ** 2).sum() / N\n"
    rest = body[match.end() + 1 :].replace("    N = T.shape[0]\n", "", 1).replace(f"= ({y} - T) / N", "= _r / N", 1)
    return head + body[: match.start()] + shared + rest


PATCHES = [
    ("np.dot", patch_dot),
    ("+ mask", patch_mask),
    ("+ in-place helpers", patch_inplace),
    ("+ lean loss", patch_loss),
    ("+ fused loss_and_grad", patch_fused),
    ("+ shared residual", patch_residual),
]


def import_source(source: str, directory: Path, name: str):
    path = directory / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clock", choices=_common.CLOCKS, default="wall")
    parser.add_argument(
        "--show-patched", metavar="ROW", type=int, help="print the fully patched source of row ROW (0-based) and stop"
    )
    args = parser.parse_args(argv)
    budget, rounds = (0.1, 2) if args.quick else (1.5, 15)
    header = ["network", "batch", "dtype", "generated / reference"] + [f"{name} / reference" for name, _ in PATCHES]
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---|" + "---:|" * (len(header) - 3))
    with tempfile.TemporaryDirectory(prefix="symprop-profile-") as tmp:
        directory = Path(tmp)
        for row_index, (label, spec, batches) in enumerate(_common.SPEED_ROWS):
            original = bench_speed.load_generated(spec, directory)
            source = Path(original.__file__).read_text(encoding="utf-8")
            variants = [("generated", original)]
            for index, (name, patch) in enumerate(PATCHES):
                source = patch(source)
                variants.append((name, import_source(source, directory, f"{spec['name']}_patched{index}")))
            if args.show_patched == row_index:
                print(source)
                return 0
            reference = make_loss_and_grad(spec)
            for batch in batches:
                for dtype in bench_speed.DTYPES:
                    params = original.init_params(seed=0, dtype=np.dtype(dtype))
                    X, T = original.sample_batch(batch=batch, seed=1, dtype=np.dtype(dtype))
                    expected = original.loss_and_grad(params, X, T)
                    arguments = (params, X, T)
                    callables = {"reference": lambda f=reference, a=arguments: f(*a)}
                    for name, module in variants:
                        error = bench_speed.agreement(expected, module.loss_and_grad(params, X, T), dtype)
                        if error > (1e-12 if dtype == "float64" else 1e-5):
                            raise AssertionError(f"patch {name} changed the result of {label}: {error:.2e}")
                        callables[name] = lambda f=module.loss_and_grad, a=arguments: f(*a)
                    samples = bench_speed.measure_rounds(callables, budget, rounds, clock=args.clock)
                    medians = {name: _common.summarize(values)["median_s"] for name, values in samples.items()}
                    cells = [label, str(batch), dtype] + [f"{medians[name] / medians['reference']:.2f}x" for name, _ in variants]
                    print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
