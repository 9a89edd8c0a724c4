"""symprop: symbolic derivation of backpropagation, emitted as NumPy code and LaTeX.

    import symprop
    net = symprop.load("examples/tutorial_222.yaml")
    d = symprop.derive(net)
    d.write_numpy("generated/")
"""

from .api import Derivation, Network, Verifier, VerifyResult, derive, from_dict, load, verify
from .errors import SpecError, SymPropError
from .version import __version__

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
