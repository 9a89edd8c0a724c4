"""symprop: symbolic derivation of backpropagation, emitted as NumPy code and LaTeX.

    import symprop
    net = symprop.load("examples/tutorial_222.yaml")
    d = symprop.derive(net)
    d.write_numpy("generated/")
"""

from .derivation import Derivation, derive
from .errors import SpecError, SymPropError
from .spec import Network, from_dict, load
from .verify import Verifier, VerifyResult, verify

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
    "verify",
]
__version__ = "0.1.0"
