"""One place that decides every name: arrays in the generated code, scalar element symbols
in the derivation, and their LaTeX spellings.

Math names (``x``, ``z1``, ``a1``, ``W1``, ``t``) are the graph's node names.  In the
generated NumPy module a batched array of a data node is its name in capitals (``Z1``,
``A1``, ``X``, ``T``); parameters keep their names (``W1``); an adjoint is ``d`` + the
array name (``dZ1``, ``dW1``).  Elements are 1-based as in the tutorials: ``a1_2`` is the
second unit of ``a1``, ``W2_12`` is row 1, column 2 of ``W2`` (``W2_1_12`` style with
underscores between indices once an index exceeds 9).
"""

from __future__ import annotations

import re
import sys

import sympy as sp

#: Variables the generated module uses for itself: an array whose name would be one of these
#: gets a trailing "_" (graph specs; a layer stack's names never clash).  X and T are free
#: for the single input and target.
RESERVED = {"np", "params", "cache", "grads", "N", "E", "X", "T"}

#: Longest name a spec may give (a network, a constant, a node): names become variables and
#: file names, and a file name of 300 characters cannot be written.
MAX_NAME_LENGTH = 64

#: Module names a network may not take.  Its NumPy module is written as ``<name>.py``, and a
#: file ``math.py`` or ``numpy.py`` would be imported instead of the real module by every
#: script in that folder: the standard library, what the generated module imports (numpy),
#: symprop itself, and the modules Python or pytest import by themselves from a folder.
SHADOWING = frozenset(sys.stdlib_module_names) | {"numpy", "symprop", "sitecustomize", "usercustomize", "conftest"}

#: File names Windows refuses whatever the extension (compared ignoring case).
_DEVICE_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def module_name_problem(name: str) -> str | None:
    """Why ``name`` (an identifier) cannot name a generated module, or None if it can."""
    if name in SHADOWING:
        what = "the standard library's" if name in sys.stdlib_module_names else "the"
        return f"{name!r} would shadow {what} module {name} for every script in the output folder; choose another name"
    if name.lower() in _DEVICE_NAMES:
        return f"{name!r} is a device name on Windows and cannot name a file; choose another name"
    return None


def array_name(node: str, is_param: bool = False) -> str:
    """The variable holding a node's (batched) value in the generated module."""
    return node if is_param else node[0].upper() + node[1:]


def grad_name(node: str, is_param: bool = False) -> str:
    return "d" + array_name(node, is_param)


def element_suffix(index: tuple[int, ...]) -> str:
    """1-based element suffix: (0,) -> '1', (0, 1) -> '12', (9, 10) -> '10_11'."""
    one_based = [i + 1 for i in index]
    if all(i < 10 for i in one_based):
        return "".join(map(str, one_based))
    return "_".join(map(str, one_based))


def element_name(node: str, index: tuple[int, ...]) -> str:
    if not index:
        return node
    return f"{node}_{element_suffix(index)}"


def element_symbol(node: str, index: tuple[int, ...]) -> sp.Symbol:
    return sp.Symbol(element_name(node, index), real=True)


_LAYERED = re.compile(r"^([A-Za-z]+?)(\d+)$")


def latex_base(node: str) -> str:
    r"""LaTeX of a node name: ``z1`` -> ``z^{(1)}``, ``W2`` -> ``W^{(2)}``, ``x`` -> ``x``."""
    match = _LAYERED.match(node)
    if match:
        return f"{escape_latex_name(match.group(1))}^{{({match.group(2)})}}"
    return escape_latex_name(node)


def latex_element(node: str, index: tuple[int, ...]) -> str:
    r"""``a1``, (1,) -> ``a^{(1)}_{2}``; ``W2``, (0, 1) -> ``w^{(2)}_{12}`` (elements in lower case)."""
    base = latex_base(node)
    if not index:
        return base
    if len(index) == 2 and base[:1] == "W":
        base = "w" + base[1:]
    return f"{base}_{{{element_suffix(index).replace('_', ',')}}}"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "^": r"\^{}",
    "~": r"\~{}",
}


def escape_latex_text(text: str) -> str:
    """Escape arbitrary text for LaTeX (names from specs go through here)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def escape_latex_name(name: str) -> str:
    """A spec name inside math: single letters as is, longer names upright and escaped."""
    if len(name) == 1 and name.isalpha():
        return name
    return r"\mathrm{" + escape_latex_text(name) + "}"
