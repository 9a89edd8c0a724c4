"""symprop: symbolic derivation of backpropagation, emitted as NumPy code and LaTeX.

    import symprop
    net = symprop.load("examples/tutorial_222.yaml")
    d = symprop.derive(net)
    d.write_numpy("generated/")
"""

from importlib import import_module

from . import verify as _verify_package  # noqa: F401  (cheap: its names load on first use)

# After the subpackage: the function ``verify`` takes the name (the import system binds
# ``symprop.verify`` to the subpackage when it first loads).
from .api import Derivation, Network, derive, from_dict, load, verify  # noqa: E402
from .errors import SpecError, SymPropError
from .version import __version__


def __getattr__(name: str):
    """``Verifier`` and ``VerifyResult`` on first use (PEP 562): the verifier loads SymPy's
    solvers and NumPy, which deriving and emitting do not need."""
    if name in ("Verifier", "VerifyResult"):
        value = getattr(import_module(".verify.verifier", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Derivation",
    "Network",
    "SpecError",
    "SymPropError",
    "Verifier",
    "VerifyResult",
    "derive",
    "from_dict",
    "load",
    "__version__",
    "verify",
]
