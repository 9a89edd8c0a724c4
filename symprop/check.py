"""``symprop check``: load an emitted module and test its backward() against central differences.

The check does not trust the module's own ``gradient_check``: it drives the module's public
functions (``init_params``, ``sample_batch``, ``loss``, ``loss_and_grad``) from here, in float64,
so a module whose checker was edited still has to produce the right gradients.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from .errors import SymPropError

#: The functions every emitted module provides and the check relies on.
REQUIRED = ("init_params", "sample_batch", "loss", "loss_and_grad", "PARAM_SHAPES")
#: Largest relative error (CS231n's norm measure) that still passes.
TOLERANCE = 1e-6


@dataclass(frozen=True)
class CheckResult:
    path: Path
    error: float
    checked: int  # number of parameter elements compared

    @property
    def passed(self) -> bool:
        return bool(self.error < TOLERANCE)

    def __str__(self) -> str:
        verdict = "ok" if self.passed else f"FAILED (tolerance {TOLERANCE:.0e})"
        return (
            f"{self.path}: backward() vs central differences over {self.checked} parameters, "
            f"relative error {self.error:.2e}: {verdict}"
        )


def load_module(path: str | Path) -> ModuleType:
    """Import a generated module from its file path (under a unique name, not cached)."""
    path = Path(path)
    if not path.is_file():
        raise SymPropError(f"{path}: no such file")
    name = f"_symprop_checked_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SymPropError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the module's own code failed: report it as one line
        raise SymPropError(f"{path}: importing the module failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(name, None)
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing:
        raise SymPropError(f"{path}: not a module emitted by symprop (missing {', '.join(missing)})")
    return module


def gradient_error(module: ModuleType, seed: int = 0, batch: int = 3, eps: float = 1e-6) -> tuple[float, int]:
    """Relative error |g - n| / (|g| + |n|) of the module's gradients at a random float64 point."""
    rng = np.random.default_rng(seed + 12345)
    params = {
        # np.asarray: a scalar parameter (shape ()) must stay a 0-d array, which indexing can set.
        key: np.asarray(value + 0.1 * rng.standard_normal(value.shape))
        for key, value in module.init_params(seed, dtype=np.float64).items()
    }
    X, T = module.sample_batch(batch, seed, dtype=np.float64)
    _, grads = module.loss_and_grad(params, X, T)
    analytic, numeric = [], []
    for key, value in params.items():
        estimate = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            saved = value[index]
            value[index] = saved + eps
            up = module.loss(params, X, T)
            value[index] = saved - eps
            down = module.loss(params, X, T)
            value[index] = saved
            estimate[index] = (up - down) / (2 * eps)
        analytic.append(np.asarray(grads[key], dtype=np.float64).ravel())
        numeric.append(estimate.ravel())
    g, n = np.concatenate(analytic), np.concatenate(numeric)
    scale = max(np.linalg.norm(g) + np.linalg.norm(n), 1e-300)
    return float(np.linalg.norm(g - n) / scale), g.size


def check_module(path: str | Path, seed: int = 0) -> CheckResult:
    module = load_module(path)
    error, count = gradient_error(module, seed)
    return CheckResult(Path(path), error, count)
