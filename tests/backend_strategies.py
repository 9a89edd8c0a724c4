"""Random graph specs (``tensor_strategies``) through the other backends: the array-API module on
NumPy and array-api-strict (PyTorch in float64 and float32 where installed), the scalar module
where it applies (no batch_norm, at most 300 parameters), the numba module; each module's loss
and gradients against the NumPy module's, which ``test_tensor_property`` checks against
autograd and central differences.  Shared by ``tests/test_backends_property.py`` and
``scripts/fuzz_backends.py``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

import symprop
from symprop.check import load_module
from symprop.errors import SymPropError

#: Agreement with the NumPy module: float64 (the same formulas, summed in other orders) and float32.
AGREE = 1e-9
AGREE_FLOAT32 = 5e-3
#: Losses beyond this at the point drawn are not compared (the NumPy module overflows too).
LARGEST = 1e6


def _numpy(value) -> np.ndarray:
    return np.asarray(value.cpu() if hasattr(value, "cpu") else value, dtype=np.float64)


def converted(value, convert):
    """``value`` (an array, a dict of them, or None) through ``convert`` (an array library's asarray)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: converted(v, convert) for key, v in value.items()}
    return convert(value)


def _single(a):
    a = np.asarray(a)
    return a.astype(np.float32) if a.dtype.kind == "f" else a


def compare(tag: str, value, grads: dict, ours, our_grads: dict, tolerance: float) -> None:
    """``ours`` and ``our_grads`` equal to ``value`` and ``grads`` within ``tolerance`` (relative to the largest)."""
    ours = float(_numpy(ours))
    assert abs(ours - value) <= tolerance * max(1.0, abs(value)), f"{tag}: the loss is {ours}, the NumPy module's {value}"
    assert set(our_grads) == set(grads), f"{tag}: gradients of {sorted(our_grads)}, expected {sorted(grads)}"
    for key, expected in grads.items():
        got = _numpy(our_grads[key])
        assert got.shape == np.shape(expected), f"{tag}: dE/d{key} of shape {got.shape}, expected {np.shape(expected)}"
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        error = float(np.max(np.abs(got - expected), initial=0.0))
        assert error <= tolerance * scale, f"{tag}: dE/d{key} off by {error:.3g} (largest {scale:.3g})"


def _libraries() -> list[tuple[str, object]]:
    found = [("numpy", np.asarray)]
    for name in ("array_api_strict", "torch"):
        if importlib.util.find_spec(name) is not None:
            found.append((name, __import__(name).asarray))
    return found


def check_backends(spec: dict, directory: Path, backends=("array-api", "scalar")) -> list[str]:
    """Each of ``backends`` against the NumPy module at batch 3 and 1 (2 with batch_norm); returns
    the refusals met (a backend that cannot spell the spec says so in one line).  Raises
    AssertionError naming the backend, library and batch on any difference or crash."""
    derivation = symprop.derive(symprop.from_dict(spec, source="<backend property>"))
    numpy_module = load_module(derivation.write_numpy(directory / "numpy"))
    modules, refused = {}, []
    for backend in backends:
        try:
            modules[backend] = load_module(derivation.write_module(directory / backend, backend=backend))
        except SymPropError as error:
            refused.append(f"{backend}: {error}")
    rng = np.random.default_rng(3)
    params = {k: np.asarray(v + 0.3 * rng.standard_normal(np.shape(v))) for k, v in numpy_module.init_params(0).items()}
    smallest = 2 if "batch_norm(" in json.dumps(spec) else 1  # batch_norm needs two samples (README)
    for batch in (3, smallest):
        X, T = numpy_module.sample_batch(batch, 0)
        with np.errstate(all="ignore"):
            value, grads = numpy_module.loss_and_grad(params, X, T)
        if not abs(value) < LARGEST:
            return refused
        for backend, module in modules.items():
            runs = [("", lambda a: a)]
            if backend == "array-api":
                runs = _libraries()
            for library, convert in runs:
                tag = f"{backend} {library} batch {batch}".replace("  ", " ")
                try:
                    arguments = (converted(value, convert) for value in (params, X, T))
                    ours, our_grads = module.loss_and_grad(*arguments)
                except Exception as error:  # noqa: BLE001 - a crash is reported with where it happened
                    raise AssertionError(f"{tag}: {type(error).__name__}: {error}") from error
                compare(tag, value, grads, ours, our_grads, AGREE)
            if backend in ("array-api", "numba"):
                _check_float32(backend, module, params, X, T, value, grads, batch)
    return refused


def _check_float32(backend, module, params, X, T, value, grads, batch) -> None:
    """The module run on float32 arrays (PyTorch's for the array-API module) keeps float32 and
    stays within ``AGREE_FLOAT32`` of the float64 run."""
    convert = _single
    if backend == "array-api":
        if importlib.util.find_spec("torch") is None:
            return
        import torch

        def convert(a):
            return torch.asarray(_single(a))

    tag = f"{backend} float32 batch {batch}"
    try:
        ours, our_grads = module.loss_and_grad(converted(params, convert), converted(X, convert), converted(T, convert))
    except Exception as error:  # noqa: BLE001
        raise AssertionError(f"{tag}: {type(error).__name__}: {error}") from error
    kinds = {str(getattr(g, "dtype", type(g))) for g in [ours, *our_grads.values()]}
    assert kinds <= {"float32", "torch.float32"}, f"{tag}: a float32 run returned {sorted(kinds)}"
    compare(tag, value, grads, ours, our_grads, AGREE_FLOAT32)
