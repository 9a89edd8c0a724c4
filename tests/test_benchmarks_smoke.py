"""Smoke tests of the benchmarks and the training demos: they run, agree, and report.

No timing is asserted (timings depend on the machine); what is checked is that every
engine that is installed computes the same loss and gradients as the generated module,
that the tables and JSON come out, and that the demos reach their test accuracy (95% for
the 64-32-10 network, 97% for the CNN).
PyTorch and JAX are skipped by the benchmark itself when they are not installed;
the demo needs scikit-learn (skipped without it) and draws its plot only with matplotlib.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_run_all_quick(tmp_path):
    output, markdown = tmp_path / "results.json", tmp_path / "results.md"
    # torch.compile and numba compile for every row (minutes): the smoke test leaves them out
    quick_engines = "generated,reference,torch,jax,array_api_numpy,scalar,numeric"
    command = [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--engines", quick_engines]
    done = subprocess.run(
        [*command, "--output", str(output), "--markdown", str(markdown)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(output.read_text(encoding="utf-8"))

    derive = results["derive"]
    assert derive["headline"][0]["network"].startswith("784-30-10")
    for row in derive["headline"] + derive["width"] + derive["depth"]:
        assert row["cold_total_s"] > 0 and row["module_lines"] > 50
    assert derive["naive"][0]["naive"] is not None  # 2-2-2 always finishes

    speed = results["speed"]
    labels = {(row["network"].split()[0], row["batch"], row["dtype"]) for row in speed["rows"]}
    for batch in (1, 64, 1024):
        assert ("784-30-10", batch, "float64") in labels
        assert ("784-30-10", batch, "float32") in labels
    for row in speed["rows"]:
        engines = row["engines"]
        errors = {name: value["error"] for name, value in engines.items() if "error" in value}
        assert not errors, (row["network"], row["batch"], row["dtype"], errors)
        assert engines["generated"]["median_s"] > 0
        assert engines["reference"]["median_s"] > 0
        assert row["gemm_bound_s"] > 0
        for name in ("torch", "jax"):  # present exactly when installed
            assert (name in engines) == (name not in speed["skipped"])
    numeric = [row for row in speed["rows"] if "numeric" in row["engines"]]
    assert {row["batch"] for row in numeric} == {1, 64, 1024}

    text = markdown.read_text(encoding="utf-8")
    assert "gen / reference" in text and "GEMM bound" in text and "Threads: 1" in text
    assert "| 784-30-10 sigmoid half_sse | 1 | float64 |" in text


def _load_demo(name: str = "train_digits"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_demo_reaches_95_percent(tmp_path, capsys):
    pytest.importorskip("sklearn", reason="the digits demo needs scikit-learn (pip install scikit-learn)")
    demo = _load_demo()
    result = demo.train(epochs=10, quiet=True)
    assert result["test_accuracy"] >= 0.95
    assert result["epoch_losses"][-1] < result["epoch_losses"][0]
    assert result["numeric_seconds_estimate"] > 10 * result["train_seconds"]

    plot = tmp_path / "loss_curve.png"
    assert demo.main(["--epochs", "3", "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    assert "epoch   3/3" in printed  # the progress bar
    assert "test accuracy:" in printed and "time per epoch:" in printed
    assert "numeric differentiation would have needed" in printed
    if importlib.util.find_spec("matplotlib") is not None:
        assert plot.read_bytes().startswith(b"\x89PNG")
    else:
        assert "pip install matplotlib" in printed


def test_cnn_demo_reaches_97_percent(tmp_path, capsys):
    """The CNN demo's default run (30 epochs: a few seconds, 10-20 on a busy 2-core machine)."""
    pytest.importorskip("sklearn", reason="the digits demo needs scikit-learn (pip install scikit-learn)")
    demo = _load_demo("train_cnn_digits")
    result = demo.train(quiet=True)
    assert result["test_accuracy"] >= 0.97
    assert result["epoch_losses"][-1] < result["epoch_losses"][0] / 10

    plot = tmp_path / "cnn_loss_curve.png"
    assert demo.main(["--epochs", "2", "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    assert "epoch   2/2" in printed  # the progress bar
    assert "test accuracy:" in printed and "time per epoch:" in printed
    if importlib.util.find_spec("matplotlib") is not None:
        assert plot.read_bytes().startswith(b"\x89PNG")
    else:
        assert "pip install matplotlib" in printed


def test_bench_conv_quick(tmp_path):
    """benchmarks/bench_conv.py: the generated CNN module and PyTorch agree, and it reports."""
    pytest.importorskip("torch", reason="bench_conv.py compares with PyTorch (pip install torch)")
    output = tmp_path / "conv.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_conv.py"), "--seconds", "0.5", "--dtypes", "float32"]
    done = subprocess.run([*command, "--json", str(output)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(output.read_text(encoding="utf-8"))["rows"]
    assert row["agreement"] < 1e-4 and row["ratio"] > 0
    assert any("_conv_kept(X, K" in text for text, _ in row["lines"])  # the convolution line is profiled
    assert "| float32 |" in done.stdout and "median per statement" in done.stdout


def test_bench_gemm_quick():
    """benchmarks/bench_gemm.py: every way of computing a product agrees with the float64 product
    (it asserts that before timing), and it prints each product's ways and the summary table."""
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_gemm.py"), "--networks", "784-30-10", "--batches", "16"]
    done = subprocess.run([*command, "--rounds", "1"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "784-30-10 batch 16: dW1 = dZ1^T X (30 x 16 by 16 x 784)" in done.stdout
    assert "np.dot(A, W.T, out=Z)  (the module)" in done.stdout
    assert "| product | the module's np.dot | fastest NumPy |" in done.stdout
    assert done.stdout.count("| 784-30-10 batch 16: ") == 5


def test_bench_skinny_quick():
    """benchmarks/bench_skinny.py: its Numba loops agree with the float64 product in float32 and in
    float64, on every skinny product of the two networks, at a batch with rows left over (it asserts
    that before timing), and it prints one row per product."""
    pytest.importorskip("numba", reason="bench_skinny.py times Numba loops (pip install numba)")
    for dtype in ("float32", "float64"):
        command = [sys.executable, str(ROOT / "benchmarks" / "bench_skinny.py"), "--batches", "18", "--dtype", dtype]
        done = subprocess.run([*command, "--rounds", "1"], capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        assert "| 784-30-10 batch 18: Z1 = X W1^T (18 x 784 by 784 x 30) |" in done.stdout
        assert done.stdout.count("njit ") == 7


def test_profile_in_call_quick():
    """benchmarks/profile_in_call.py: times each statement of the numba module's loss_and_grad and
    each of XLA's thunks inside the call."""
    pytest.importorskip("numba", reason="profile_in_call.py profiles the numba module (pip install numba)")
    pytest.importorskip("jax", reason="profile_in_call.py compares with JAX (pip install jax)")
    command = [sys.executable, str(ROOT / "benchmarks" / "profile_in_call.py"), "--network", "784-30-10", "--batch", "8"]
    done = subprocess.run([*command, "--calls", "3"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "_product(X, W1, Z1, Z1T)" in done.stdout and "dW1 = np.dot(D1.T, X)" in done.stdout
    assert "XLA, each thunk's minimum in the call:" in done.stdout and "dot_general" in done.stdout


def test_bench_tensor_quick(tmp_path):
    """The tensor benchmark runs, checks PyTorch against the module where PyTorch is installed
    (a disagreement is reported in the row, not timed) and measures the derive cost."""
    output = tmp_path / "tensor.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_tensor.py"), "--quick", "--networks", "self_attention,lstm"]
    done = subprocess.run([*command, "--json", str(output)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(output.read_text(encoding="utf-8"))
    assert {(row["network"], row["dtype"]) for row in results["speed"]} == {
        (name, dtype) for name in ("self_attention", "lstm") for dtype in ("float32", "float64")
    }
    for row in results["speed"]:
        assert not row["errors"], row
        assert row["engines"]["symprop"]["median_s"] > 0
    for row in results["derive"]:
        assert 0 < row["small"]["cold_s"] < 30 and 0 < row["large"]["cold_s"] < 30


def test_bench_graphs_quick():
    """benchmarks/bench_graphs.py: a module and its hand-written NumPy version agree, and it reports."""
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_graphs.py"), "--networks", "gated_unit", "--repeats", "1"]
    done = subprocess.run([*command, "--no-jax"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "| gated_unit |" in done.stdout and "graph module / layer-stack module" in done.stdout


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE_GRAPHS = _load(ROOT / "benchmarks" / "reference_graphs.py", "reference_graphs")
GRAPH_EXAMPLES = [*REFERENCE_GRAPHS.HAND, *REFERENCE_GRAPHS.NO_HAND]


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("batch", [3, 64])
@pytest.mark.parametrize("name", GRAPH_EXAMPLES)
def test_hand_numpy_version_matches_the_generated_module(name, batch, dtype, tolerance):
    """Every hand NumPy version in benchmarks/reference_graphs.py computes the loss and every
    gradient of generated/<name>.py, with every parameter perturbed by 0.3 N(0, 1) (gains and
    biases away from their initial 1 and 0)."""
    if name in REFERENCE_GRAPHS.NO_HAND:
        pytest.skip(f"{name}: {REFERENCE_GRAPHS.NO_HAND[name]}")
    module = _load(ROOT / "generated" / f"{name}.py", f"generated_{name}")
    rng = np.random.default_rng(7)
    params = {k: (v + 0.3 * rng.standard_normal(v.shape)).astype(dtype) for k, v in module.init_params(0, dtype=dtype).items()}
    X, T = module.sample_batch(batch, 1, dtype=dtype)
    loss, grads = module.loss_and_grad(params, X, T)
    hand_loss, hand_grads = REFERENCE_GRAPHS.HAND[name](params, X, T)
    assert np.asarray(hand_loss).dtype == dtype and hand_loss == pytest.approx(loss, rel=tolerance)
    assert sorted(hand_grads) == sorted(grads)
    for key, value in grads.items():
        assert hand_grads[key].shape == value.shape and hand_grads[key].dtype == dtype, key
        worst = np.max(np.abs(hand_grads[key] - value)) / np.max(np.abs(value))
        assert worst < tolerance, f"{key}: {worst:.1e}"


def test_bench_graphs_cnn_digits_and_transformer_block():
    """Both agree with their hand versions (transformer_block's needs SciPy); with JAX installed,
    JAX's losses agree with the modules (else the benchmark exits 1 naming the difference) and a
    table gives module / JAX at batch 64 and 1024.  --numba, which refuses cnn_digits, says so and
    measures it without (transformer_block's numba module compiles for minutes: not here)."""
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_graphs.py"), "--networks", "cnn_digits,transformer_block"]
    done = subprocess.run([*command, "--repeats", "1"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "| cnn_digits | - |" not in done.stdout
    if importlib.util.find_spec("scipy") is not None:
        assert "| transformer_block | - |" not in done.stdout
    command[-1] = "cnn_digits"
    numba_only = [*command, "--repeats", "1", "--numba", "--no-jax"]  # the refusal alone: JAX timed above
    refused = subprocess.run(numba_only, capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode == 0, refused.stderr
    assert "no spelling of the helper _conv_kept (use --backend numpy): measured without numba" in refused.stderr
    if importlib.util.find_spec("jax") is not None:
        assert "| cnn_digits | 1024 | float32 |" in done.stdout and "| transformer_block | 1024 | float32 |" in done.stdout


def test_bench_graphs_without_scipy_says_so():
    """Without SciPy (no erf), transformer_block has no hand version: one line says why, and its
    hand columns are '-'."""
    run = (
        "import runpy, sys; sys.modules['scipy'] = None; sys.path.insert(0, sys.argv[1]); "
        "sys.argv = [sys.argv[1] + '/bench_graphs.py', *sys.argv[2:]]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    arguments = ["--networks", "transformer_block", "--repeats", "1", "--no-jax"]
    command = [sys.executable, "-c", run, str(ROOT / "benchmarks"), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    why = "scipy is not installed, and NumPy has no erf (pip install scipy)"
    assert f"transformer_block has no hand NumPy version ('-' in its hand columns): {why}" in done.stderr.splitlines()
    assert "| transformer_block | - | - | - | - |" in done.stdout


def test_bench_gelu_quick():
    """benchmarks/bench_gelu.py: the module with a free GELU (and with SciPy's ndtr) computes what
    the module and JAX compute, and each row says what the GELU costs and may cost."""
    pytest.importorskip("jax", reason="bench_gelu.py compares with JAX jit (pip install jax)")
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_gelu.py"), "--modules", str(ROOT / "generated"), "--batches", "3"]
    done = subprocess.run([*command, "--repeats", "1"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert [row.split()[1:3] for row in rows] == [["3", "float64"], ["3", "float32"]]
    assert all(", free " in row and "may cost" in row for row in rows)
    assert all(", ndtr " in row for row in rows) == (importlib.util.find_spec("scipy") is not None)


def test_bench_gelu_without_jax_says_so():
    """Without JAX there is nothing to compare with: bench_gelu.py stops with a usage error naming it."""
    run = (
        "import runpy, sys; sys.modules['jax'] = None; sys.path.insert(0, sys.argv[1]); "
        "sys.argv = [sys.argv[1] + '/bench_gelu.py', *sys.argv[2:]]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    command = [sys.executable, "-c", run, str(ROOT / "benchmarks"), "--batches", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert "JAX is not installed (pip install jax): this benchmark compares with JAX jit" in done.stderr


def test_bench_scalar_quick(tmp_path):
    """The scalar backend's benchmark runs, checks the three engines agree, and prints the ratios."""
    output = tmp_path / "scalar.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scalar.py"), "--quick", "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "numpy/scalar" in done.stdout and "scalar/hand" in done.stdout
    rows = json.loads(output.read_text(encoding="utf-8"))["rows"]
    assert [row["batch"] for row in rows] == [1, 16]
    assert all(set(row["engines"]) == {"scalar", "numpy", "hand"} for row in rows)
