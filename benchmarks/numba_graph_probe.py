"""Feasibility probe (issue 16 part 1): a graph-spec module's loss_and_grad as one Numba kernel.

    python benchmarks/numba_graph_probe.py [--networks lstm,embedding_gru] [--repeats 5]

Not a backend: the arithmetic lines of ``generated/<name>.py``'s ``loss_and_grad`` (after the
argument checks, which stay in Python) are rewritten by text substitutions into one
``numba.njit(cache=True, fastmath=False, error_model="numpy")`` function, the matrix products
left to BLAS (``np.dot``), each statement's elementwise expression one fused loop.  What Numba
needs spelled otherwise: 3-D ``@`` (a 2-D product and a transposed view), ``np.concatenate`` of
a tuple, ``np.vdot`` (a sum of products), ``reshape`` of a slice (a contiguous copy first), float
literals typed as the data (Numba turns ``0.5 * float32_array`` into float64), the embedding's
gather and its adjoint (loops).  And tanh: Numba's ``np.tanh`` calls libm once an element (9.6 ns
a float64 against NumPy's 1.7 ns SIMD loop, 12.8 against 0.4 in float32), so ``tanh`` and the
sigmoid (as ``0.5 * (1 + tanh(x / 2))``) are loops over a branch-free tanh of plain arithmetic
(Cephes' rational forms, an exp by a Pade form and 2^k from the bits of k) that LLVM vectorizes:
2 ulp at most against float64 ``np.tanh``, 2.1 ns an element.

The variant module goes to ``SYMPROP_PROBE_DIR`` (default ``/tmp/symprop_numba_probe``), so that
Numba's cache outlives a run: the first call compiles for 35 s (embedding_gru) to 95 s (lstm)
per dtype.  Gradients must agree with the NumPy module first (1e-12 relative in float64).  One
thread (``_common``), process CPU time, NumPy module, Numba variant and JAX jit taking turns.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from pathlib import Path

import _common  # pins threads before NumPy loads
import numpy as np
from bench_graphs import _jax, jax_engine, turns, worst_difference
from reference_graphs import jax_losses

JIT = '@_nb.njit(cache=True, fastmath=False, error_model="numpy")'

HELPERS = f'''

import numba as _nb


{JIT}
def _nb_batch_sum(A):
    return np.dot(np.ones(A.shape[0], A.dtype), A)


{JIT}
def _nb_steps(A, W):
    """(N, S, n) @ W.T as (S, N, m), a transposed view (the bias addition copies it C-ordered)."""
    N, S, n = A.shape
    P = np.dot(np.ascontiguousarray(A).reshape(N * S, n), W.T).reshape(N, S, W.shape[0])
    return P.transpose(1, 0, 2)


{JIT}
def _nb_softmax_lse(z):
    top = np.empty((z.shape[0], 1), z.dtype)
    for i in range(z.shape[0]):
        top[i, 0] = z[i].max()
    e = np.exp(z - top)
    total = np.empty((z.shape[0], 1), z.dtype)
    for i in range(z.shape[0]):
        total[i, 0] = e[i].sum()
    return e / total, np.log(total) + top


{JIT}
def _nb_take(table, ids):
    flat = ids.ravel()
    out = np.empty((flat.size, table.shape[1]), table.dtype)
    for k in range(flat.size):
        out[k] = table[flat[k]]
    return out.reshape(ids.shape[0], ids.shape[1], table.shape[1])


{JIT}
def _nb_gather_adjoint(g, ids, table):
    out = np.zeros(table.shape, g.dtype)
    flat = ids.ravel()
    rows = g.reshape(flat.size, table.shape[1])
    for k in range(flat.size):
        out[flat[k]] += rows[k]
    return out


@_nb.njit(inline="always", fastmath=False, error_model="numpy")
def _tanh_scalar(x):
    """tanh without libm (Cephes' rational forms), branch-free so that LLVM vectorizes its loops."""
    x = min(max(x, -20.0), 20.0)  # tanh(20) == 1.0 in float64; also inf
    ax = abs(x)
    z = x * x  # |x| < 0.625: x + x z P(z) / Q(z)
    p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3
    q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3
    small = x + x * z * (p / q)
    y = 2.0 * ax  # otherwise 1 - 2 / (exp(2|x|) + 1), exp(r) by a Pade form, times 2^k
    n = np.floor(1.4426950408889634073599 * y + 0.5)
    r = y - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6
    rr = r * r
    px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1)
    qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr + 2.0
    e = 1.0 + 2.0 * (px / (qx - px))
    k = np.int64(n)  # 0..58: 2^k as the product of 2^(2^j) over the set bits j
    e = e * (2.0 if k & 1 else 1.0)
    e = e * (4.0 if k & 2 else 1.0)
    e = e * (16.0 if k & 4 else 1.0)
    e = e * (256.0 if k & 8 else 1.0)
    e = e * (65536.0 if k & 16 else 1.0)
    e = e * (4294967296.0 if k & 32 else 1.0)
    large = 1.0 - 2.0 / (e + 1.0)
    large = large if x >= 0 else -large
    return small if ax < 0.625 else large


{JIT}
def _tanh_arr(a):
    out = np.empty(a.shape, a.dtype)
    f = np.ascontiguousarray(a).ravel()
    o = out.ravel()
    for i in range(f.size):
        o[i] = _tanh_scalar(f[i])
    return out


{JIT}
def _sigmoid_arr(a):
    out = np.empty(a.shape, a.dtype)
    f = np.ascontiguousarray(a).ravel()
    o = out.ravel()
    for i in range(f.size):
        o[i] = 0.5 * (1.0 + _tanh_scalar(0.5 * f[i]))
    return out
'''

FLOAT = r"(?<![\w.])\d+\.\d+(?![\w.])"


def _closing(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError(text)


def _call_renamed(line: str, name: str, new: str) -> str:
    while f"{name}(" in line and not line[line.index(f"{name}(") - 1 : line.index(f"{name}(")].isalnum():
        start = line.index(f"{name}(")
        close = _closing(line, start + len(name))
        line = line[:start] + f"{new}(" + line[start + len(name) + 1 : close] + ")" + line[close + 1 :]
    return line


def rewrite(line: str) -> str | None:
    """One line of loss_and_grad's body in the kernel's spelling; None for a line left out."""
    stripped = line.strip()
    if stripped.startswith("#") or not stripped or stripped.startswith("del ") or "_targets(" in line:
        return None
    line = re.sub(r"\s+#.*$", "", line)
    line = _call_renamed(line, "_sigmoid", "_sigmoid_arr")
    line = _call_renamed(line, "np.tanh", "_tanh_arr")
    while "np.concatenate([" in line:
        start = line.index("np.concatenate([") + len("np.concatenate(")
        end = line.index("]", start)
        line = line[:start] + "(" + line[start + 1 : end].strip().rstrip(",") + ",)" + line[end + 1 :]
    for helper in ("_batch_sum", "_softmax_lse", "_gather_adjoint"):
        line = line.replace(f"{helper}(", f"_nb{helper}(")
    line = re.sub(r"(\w+(?:\[[^\]]*\])?)\.swapaxes\(0, 1\) @ (\w+)\.T", r"_nb_steps(\1, \2)", line)
    line = re.sub(r"= (\w+)\[(\w+)\]$", r"= _nb_take(\1, \2)", line)
    line = re.sub(r"(\w+\[:, [^\]]*\])\.reshape\(", r"np.ascontiguousarray(\1).reshape(", line)
    line = re.sub(r"np\.vdot\(([^,]+), ([^)]+)\)", r"np.sum(\1 * (\2))", line)
    return re.sub(r"/ N\b", "/ _Nf", line)


def variant_source(text: str) -> str:
    """The generated module ``text`` and, after it, ``_kernel`` and ``loss_and_grad_numba``."""
    body = text[text.index("def loss_and_grad(") :]
    lines, pending = [], None
    for line in body[: body.index("\ndef sgd_step")].splitlines():  # one line per statement
        if pending is not None:
            pending += " " + line.strip()
            if line.strip().startswith("]"):
                lines.append(pending)
                pending = None
        elif line.rstrip().endswith("(["):
            pending = line.rstrip()
        else:
            lines.append(line)
    unpacked = [re.match(r'    (\w+) = params\["\w+"\]$', line) for line in lines]
    params = [match.group(1) for match in unpacked if match]
    start = max(k for k, match in enumerate(unpacked) if match) + 1
    end = next(k for k, line in enumerate(lines) if line.startswith("    return E, {"))
    returned = [re.match(r'\s+"(\w+)": (\w+),', line) for line in lines[end + 1 :]]
    returned = [match.groups() for match in returned if match]
    aliases = [line for line in lines if re.match(r"    \w+ = X$", line)]
    kernel = [new for line in aliases + lines[start:end] if (new := rewrite(line)) is not None]
    literals = sorted({lit for line in kernel for lit in re.findall(FLOAT, line)})
    names = {lit: "_c" + lit.replace(".", "_") for lit in literals}
    kernel = [re.sub(FLOAT, lambda m: names[m.group(0)], line) for line in kernel]
    kernel = [line + ("\n    _Nf = _dtype.type(N)" if line.strip() == "N = T.shape[0]" else "") for line in kernel]
    prologue = ["    _dtype = T.dtype", *(f"    {names[lit]} = _dtype.type({lit})" for lit in literals)]
    grads = ", ".join(value for _, value in returned)
    keys = [key for key, _ in returned]
    arrays = ", ".join(f'c(params["{p}"])' for p in params)
    return (
        text
        + HELPERS
        + f"\n\n{JIT}\ndef _kernel({', '.join(['X', 'T', *params])}):\n"
        + "\n".join(prologue + kernel)
        + f"\n    return E, ({grads},)\n\n\n"
        + "def loss_and_grad_numba(params, X, T, check=True):\n"
        + "    X = _inputs(X) if check else X\n"
        + "    params = _checked_params(params) if check else params\n"
        + "    T = _targets(T, X) if check or T.ndim == 1 else T\n"
        + "    c = np.ascontiguousarray\n"
        + f"    E, grads = _kernel(c(X), c(T), {arrays})\n"
        + f"    return E, dict(zip({keys!r}, grads))\n"
    )


def load_variant(name: str):
    folder = Path(os.environ.get("SYMPROP_PROBE_DIR", "/tmp/symprop_numba_probe"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"numba_{name}.py"
    source = variant_source((_common.ROOT / "generated" / f"{name}.py").read_text())
    if not path.exists() or path.read_text() != source:  # unchanged: Numba's cache stays valid
        path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"numba_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="lstm,embedding_gru")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    jax = _jax()
    losses = jax_losses(jax)
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    for name in args.networks.split(","):
        module = load_variant(name)
        for batch in (64, 1024):
            for dtype in (np.float64, np.float32):
                params = module.init_params(0, dtype=dtype)
                X, T = module.sample_batch(batch, 0, dtype=dtype)
                engines = {
                    "numpy": lambda m=module, p=params, X=X, T=T: m.loss_and_grad(p, X, T),
                    "numba": lambda m=module, p=params, X=X, T=T: m.loss_and_grad_numba(p, X, T),
                    "jax": jax_engine(jax, losses[name], params, X, T),
                }
                expected = engines["numpy"]()
                for label in ("numba", "jax"):
                    error = worst_difference(expected, engines[label]())
                    if error > (1e-12 if dtype == np.float64 else 1e-4):
                        raise SystemExit(f"{name} {label} batch {batch} {dtype.__name__}: differs by {error:.1e}")
                us = {label: 1e6 * t for label, t in turns(engines, args.repeats).items()}
                print(
                    f"| {name} | {batch} | {dtype.__name__} | {us['numpy']:.0f} | {us['numba']:.0f} | {us['jax']:.0f} "
                    f"| {us['numba'] / us['jax']:.2f}x | {us['numba'] / us['numpy']:.2f}x |",
                    flush=True,
                )
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
