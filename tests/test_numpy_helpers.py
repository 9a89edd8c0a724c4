"""Tests for the pure-NumPy helpers pasted into generated modules."""

import ast
import builtins
import importlib.util
import inspect
import math
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

from symprop import erf_tables
from symprop.erf_tables import SOURCE as ERF_TABLES_SOURCE
from symprop.numpy_helpers import ERF_SOURCE, erf

TINY = np.finfo(np.float64).tiny  # smallest normal float64
SUBNORMAL_ULP = 5e-324


def erf_strict(x):
    """``_erf`` with every floating-point exception and warning an error."""
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        return erf(x)


def _reference(x):
    return np.array([math.erf(v) for v in np.asarray(x, dtype=np.float64).ravel()])


def _check_float64(x):
    x = np.asarray(x, dtype=np.float64)
    got = erf_strict(x)
    assert got.dtype == np.float64
    assert got.shape == x.shape
    ref = _reference(x)
    err = np.abs(got.ravel() - ref)
    normal = np.abs(ref) >= TINY
    rel = err[normal] / np.abs(ref[normal])
    assert rel.max(initial=0.0) < 1e-15, x.ravel()[normal][np.argmax(rel)]
    # Both are sub-ulp implementations, so they differ by at most 2 ulps.
    ulps = err[normal] / np.spacing(np.abs(ref[normal]))
    assert ulps.max(initial=0.0) <= 2.0
    # Subnormal results are quantised to 2**-1074: allow one unit there.
    assert err[~normal].max(initial=0.0) <= SUBNORMAL_ULP
    return rel.max(initial=0.0)


def test_erf_matches_math_erf_dense():
    n = 50_000
    log_part = np.logspace(-300, np.log10(30.0), n)
    lin_part = np.linspace(0.0, 30.0, n)
    x = np.concatenate([log_part, lin_part, -log_part, -lin_part])
    assert x.size == 200_000
    _check_float64(x)


def test_erf_branch_boundaries():
    edges = np.array([2.0**-28, 0.84375, 1.25, 1 / 0.35, 6.0, 28.0])
    near = [np.nextafter(edges, 0.0), edges, np.nextafter(edges, np.inf)]
    around = edges[:, None] * (1.0 + np.linspace(-1e-3, 1e-3, 2001))[None, :]
    x = np.concatenate([np.concatenate(near), around.ravel()])
    _check_float64(np.concatenate([x, -x]))


def test_erf_random_uniform():
    rng = np.random.default_rng(12345)
    x = rng.uniform(-7.0, 7.0, 100_000)
    _check_float64(x.reshape(100, 1000))


def test_erf_tiny_and_subnormal():
    rng = np.random.default_rng(7)
    subnormal = rng.integers(1, 2**52, 10_000, dtype=np.uint64).view(np.float64)
    x = np.concatenate(
        [
            np.array([5e-324, 1e-320, 1e-310, TINY, 1e-300, 1e-200, 1e-20]),
            subnormal,
            np.logspace(-308, -300, 1000),
            np.logspace(-300, -8, 1000),
        ]
    )
    _check_float64(np.concatenate([x, -x]))
    assert erf_strict(np.array([1e-300]))[0] == math.erf(1e-300)


def test_erf_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e3, -1e3, 30.0, -30.0])
    got = erf_strict(x)
    expected = np.array([0.0, -0.0, 1.0, -1.0, np.nan, 1.0, -1.0, 1.0, -1.0])
    np.testing.assert_array_equal(got, expected)
    assert not np.signbit(got[0])
    assert np.signbit(got[1])
    big = np.array([np.finfo(np.float64).max, -np.finfo(np.float64).max])
    np.testing.assert_array_equal(erf_strict(big), [1.0, -1.0])


def test_erf_shapes_and_input_types():
    assert erf_strict(np.empty((0, 3))).shape == (0, 3)
    scalar = erf_strict(np.float64(0.5))
    assert scalar.shape == ()
    assert scalar == math.erf(0.5)
    assert erf_strict(0.5) == math.erf(0.5)
    ints = erf_strict(np.arange(-3, 4))
    assert ints.dtype == np.float64
    np.testing.assert_array_equal(ints, _reference(np.arange(-3, 4)))
    # Non-contiguous views work.
    x = np.linspace(-4.0, 4.0, 101)
    np.testing.assert_array_equal(erf_strict(x[::3]), erf_strict(x)[::3])
    # ... and arrays in Fortran order (a transpose): every value was +-1 (found by tests/tensor_strategies.py)
    m = np.linspace(-3.0, 3.0, 12).reshape(3, 4)
    np.testing.assert_array_equal(erf_strict(m.T), erf_strict(m).T)
    np.testing.assert_array_equal(erf_strict(np.asfortranarray(m)), erf_strict(m))
    cube = m.reshape(3, 2, 2)
    np.testing.assert_array_equal(erf_strict(np.swapaxes(cube, 0, 2)), np.swapaxes(erf_strict(cube), 0, 2))


def test_erf_float32():
    x64 = np.concatenate(
        [np.linspace(-30.0, 30.0, 20_001), np.logspace(-44, 1.5, 5_000)]
    )
    x32 = np.concatenate([x64, -x64]).astype(np.float32)
    got = erf_strict(x32)
    assert got.dtype == np.float32
    ref = _reference(x32)
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err <= 1e-6 * np.maximum(np.abs(ref), 1.0))
    normal = np.abs(ref) >= np.finfo(np.float32).tiny
    assert np.all(err[normal] < 1e-6 * np.abs(ref[normal]))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45], np.float32)
    got = erf_strict(special)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got[:5], [0.0, -0.0, 1.0, -1.0, np.nan])
    assert np.signbit(got[1])
    assert got[5] == np.float32(math.erf(float(special[5])))


def _float32_ulps(x):
    """|_erf(x) - erf(x)| in ulps of float32 at erf(x), for float32 x: the double precision _erf
    (within an ulp of float64) stands for the exact value."""
    got = erf_strict(x)
    assert got.dtype == np.float32
    exact = erf(x.astype(np.float64))
    ulp = np.ldexp(1.0, np.maximum(np.frexp(exact)[1] - 24, -149))
    return np.abs(got - exact) / ulp


def test_erf_float32_is_within_0_9_ulp():
    """float32 is computed in float32 arithmetic (s_erff.c's tables): at most 0.8991 ulp from the
    exact value over every float32 in [2**-15, 6] (at 1.2623029), 0.738 over every 7th float32
    below (in the subnormals), 6% of results not correctly rounded (measured once, 147 million
    values).  Here: every 97th float32 in [2**-15, 6] by bit pattern and every 997th below, each
    range's edges and their neighbours, random values of either sign, the worst one found,
    subnormals, and +-0, +-inf, nan."""
    bits = np.float32([2.0**-15, 6.0]).view(np.uint32)
    grid = np.concatenate([np.arange(0, bits[0], 997), np.arange(bits[0], bits[1], 97)]).astype(np.uint32)
    grid = grid.view(np.float32)
    edges = np.array([2.0**-14, 0.84375, 1.25, 2.857150077819824, 4.0, 6.0], np.float32)
    neighbours = [np.nextafter(edges, np.float32(0)), edges, np.nextafter(edges, np.float32(np.inf))]
    rng = np.random.default_rng(16)
    sample = (rng.standard_normal(200_000) * 2).astype(np.float32)
    x = np.concatenate([*neighbours, [1.2623029, 1e-45, 1e-40, 1.1754942e-38]]).astype(np.float32)
    x = np.concatenate([grid, x, -x, sample])
    ulps = _float32_ulps(x)
    assert ulps.max() <= 0.9, x[np.argmax(ulps)]
    assert ulps.max() > 0.85  # the worst one found is in
    np.testing.assert_array_equal(np.signbit(erf_strict(x)), np.signbit(x))
    special = erf_strict(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 4.0, 1e30], np.float32))
    np.testing.assert_array_equal(special, [0.0, -0.0, 1.0, -1.0, np.nan, 1.0, 1.0])
    assert np.signbit(special[1])


def test_erf32_tables_are_float32_numbers():
    """Each float32 coefficient is exactly a float32, the one of the bit pattern beside it (s_erff.c's)."""
    text = inspect.getsource(erf_tables)
    found = re.findall(r"^(?:ERF32_\w+ = |    )(-?[0-9.e-]+),?  # (0x[0-9a-f]{8})$", text, re.MULTILINE)
    assert len(found) == 28
    for value, bits in found:
        assert np.float32(value).view(np.uint32) == int(bits, 16)
        assert float(np.float32(value)) == float(value)
    coefficients = [getattr(erf_tables, name) for name in dir(erf_tables) if name.startswith("ERF32_")]
    flat = [c for table in coefficients for c in (table if isinstance(table, tuple) else [table])]
    assert len(flat) == 28 + 4  # and the denominators' leading 1.0
    assert all(float(np.float32(c)) == c for c in flat)


def test_erf_source_is_the_tables_and_the_definition():
    assert ERF_SOURCE == ERF_TABLES_SOURCE + "\n\n" + inspect.getsource(erf)
    assert ERF_SOURCE.endswith("\n\n\ndef _erf(x):\n" + inspect.getsource(erf)[len("def _erf(x):\n") :])
    tree = ast.parse(ERF_SOURCE)
    *tables, func = tree.body
    assert isinstance(func, ast.FunctionDef)
    assert func.name == "_erf"
    defined = {t.targets[0].id for t in tables}  # the coefficient tables, pasted with it
    names = ("EFX", "ERX", "PP", "QQ", "PA", "QA", "RA", "SA", "RB", "SB")
    assert defined == {f"{prefix}_{name}" for prefix in ("ERF", "ERF32") for name in names} | {"ERF64", "ERF32"}
    # Self-contained: the only free (global) names it uses are ``np`` and the tables.
    # (and what a function defined inside it takes and is called)
    bound = {arg.arg for node in ast.walk(func) if isinstance(node, ast.FunctionDef) for arg in node.args.args}
    bound |= {node.name for node in ast.walk(func) if isinstance(node, ast.FunctionDef)}
    loaded = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            else:
                loaded.add(node.id)
        assert not isinstance(node, (ast.Import, ast.ImportFrom))
    free = loaded - bound
    # the choice of tables by dtype is erf_tables' (ERF32, ERF64), as the array-API _erf's is
    assert free - set(dir(builtins)) == {"np", "ERF64", "ERF32"}


def _generated_module(tmp_path):
    path = tmp_path / "generated_erf.py"
    path.write_text("import numpy as np\n\n" + ERF_SOURCE)  # the tables first: one blank line
    return path


def test_erf_source_pasted_module_defines_erf(tmp_path):
    path = _generated_module(tmp_path)
    spec = importlib.util.spec_from_file_location("generated_erf", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.concatenate([np.linspace(-8.0, 8.0, 10_001), [0.0, np.inf, np.nan]])
    np.testing.assert_array_equal(module._erf(x), erf_strict(x))


def _ruff_command():
    exe = shutil.which("ruff")
    if exe is not None:
        return [exe]
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    pytest.skip("ruff is not installed")


def test_erf_source_passes_ruff_check(tmp_path):
    ruff = _ruff_command()
    path = _generated_module(tmp_path)
    for extra in ([], ["--select", "E,F,W,B,UP,I,N,SIM,NPY"]):
        result = subprocess.run(
            [*ruff, "check", "--isolated", "--no-cache", *extra, str(path)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_erf_source_is_formatted(tmp_path):
    ruff = _ruff_command()
    path = _generated_module(tmp_path)
    result = subprocess.run(
        [*ruff, "format", "--isolated", "--no-cache", "--diff", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_erfs_take_their_tables_from_one_choice():
    """The NumPy _erf and the array-API _erf wrote the float32/float64 choice of edges and tables
    each in full; both now unpack erf_tables' ERF32 or ERF64, and name no table of their own."""
    from symprop.emit.array_api.helpers import ERF

    functions = {"numpy": inspect.getsource(erf), "array_api": ERF[len(ERF_TABLES_SOURCE) :]}
    for name, source in functions.items():
        assert "edges, efx, erx, pp, qq, pa, qa, ra, sa, rb, sb = ERF32 if float32 else ERF64" in source, name
        assert not re.search(r"\bERF(32)?_", source), name
        assert "0.84375, 1.25," not in source, name  # the edges are the tables'
