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

import keyword
import re
import sys

import sympy as sp

#: Variables the generated module uses for itself: an array whose name would be one of these
#: gets a trailing "_" (graph specs; a layer stack's names never clash).  X and T are free
#: for the single input and target.  O, I and l are free but ambiguous (ruff's E741: they
#: look like 0 and 1), so node ``o`` is ``O_`` too.  ``check`` is loss_and_grad's argument,
#: ``dtype`` a variable of the numba module's, ``xp`` and ``array_namespace`` the array-API
#: module's namespace: a parameter of that name made the module fail when called.  ``dE`` is the
#: loss's adjoint (dE = 1 / N): a parameter ``dE`` was overwritten by it, its gradient silently wrong.
RESERVED = {
    "np", "params", "cache", "grads", "N", "E", "dE", "X", "T", "O", "I", "l", "check", "dtype", "xp", "array_namespace"
}  # fmt: skip

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


def saved_name(array: str, what: str) -> str:
    """The variable of an array an op's forward line saves for its backward step (``_rstd_N1``
    for node array ``N1``): the leading ``_`` keeps it clear of every spec name."""
    return f"_{what}_{array}"


def shared_name(words: list[str], taken: set[str]) -> str:
    """The variable of a value that two lines of a generated function compute, spelled by ``words``
    (``_Z6_times_dH6`` for ``Z6 * dH6``): the leading ``_`` keeps it clear of every spec name, a
    trailing number of the names ``taken``."""
    name = "_" + "_".join(words)
    found, count = name, 1
    while found in taken:
        count += 1
        found = f"{name}_{count}"
    return found


def module_arrays(names: list[tuple[str, bool]], single: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    """The variables of a graph spec's module: each (name, is_param) gets ``array_name``
    unless that variable is taken (``RESERVED``, a keyword, another name's array or adjoint:
    ``h`` and ``H``), in which case it gets a trailing ``_`` (node ``t`` -> ``T_``, since ``T``
    holds the targets).  ``single`` maps the one input (target) to ``X`` (``T``), which it may
    then use.  Returns (the exceptions to ``array_name``, every variable taken)."""
    taken = set(RESERVED)
    exceptions: dict[str, str] = {}
    for name, is_param in names:
        array = array_name(name, is_param)
        if single.get(name) == array:
            taken.discard(array)
        while array in taken or "d" + array in taken or keyword.iskeyword(array):
            array += "_"
        if array != array_name(name, is_param):
            exceptions[name] = array
        taken.update({array, "d" + array})
    return exceptions, taken


def fresh_part_name(root: str, taken: set[str], taken_arrays: set[str]) -> str:
    r"""The next free name for a part of node ``root`` (``h = tanh(W @ x + b)`` has the part
    ``h_a = W x + b``): ``root_a``, ``root_b``, ..., ``root_z``, ``root_aa``, ... whose array
    and adjoint are free too; records it in ``taken`` and ``taken_arrays``.

    Why letters after an underscore: a digit would read as a layer or a step (``h1`` is the
    RNN's first step, and a part ``h11`` of it its eleventh), and ``root_1`` is the claim name
    of element 1.  ``h1_a`` is a valid identifier, tells its root, and its elements
    (``h1_a_2``) stay unambiguous in ``symprop verify`` claims; the handout writes it
    ``h_{1\mathrm{a}}`` (``latex_base``)."""
    k = 0
    while True:
        name = f"{root}_{part_letters(k)}"
        array, grad = array_name(name), grad_name(name)
        if name not in taken and array not in taken_arrays and grad not in taken_arrays and not keyword.iskeyword(array):
            taken.add(name)
            taken_arrays.update({array, grad})
            return name
        k += 1


def part_letters(k: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'aa', 27 -> 'ab', ... (as spreadsheet columns, in lower case)."""
    letters = ""
    k += 1
    while k:
        k, rest = divmod(k - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


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


#: How every message says that element names count from 1 (verify's hints, the worksheets' tags).
ONE_BASED = "indices count from 1"


def one_based_hint(node: str, index: tuple[int, ...]) -> str:
    """``indices count from 1: W1_12 is NumPy's W1[0, 1]``, shown on an element of the user's own
    network (0-based ``index``): the one spelling of the hint in every message."""
    return f"{ONE_BASED}: {element_name(node, index)} is NumPy's {node}[{', '.join(map(str, index))}]"


def element_symbol(node: str, index: tuple[int, ...]) -> sp.Symbol:
    return sp.Symbol(element_name(node, index), real=True)


_LAYERED = re.compile(r"^([A-Za-z]+?)(\d+)$")
#: A graph spec's name read as a letter and its subscript: ``x0``, ``W1``, ``h10`` (a letter and
#: digits) or ``Wx``, ``bh`` (a letter and one lower-case letter, the RNN's ``W_x``), with digits
#: after (``Wx1``).
_SUBSCRIPTED = re.compile(r"^([A-Za-z])([a-z]?\d*)$")


def latex_layer_mark(node: str) -> str:
    r"""How a node's layer is written after a symbol: ``z2`` -> ``^{(2)}`` (``\delta^{(2)}``);
    a name without a layer number is written as a subscript: ``h`` -> ``_{h}``."""
    match = _LAYERED.match(node)
    return f"^{{({match.group(2)})}}" if match else f"_{{{escape_latex_name(node)}}}"


def _spec_parts(node: str, layered: bool) -> tuple[str, str, str]:
    r"""(letter or upright name, superscript, subscript) of a node name, without braces.

    A layer stack's digits are its layer (``z2`` -> z, (2), none).  A graph spec's names are
    the spec author's: digits and one trailing lower-case letter are a subscript (``x0`` ->
    x_0 as CS231n writes it, ``W1`` -> W_1, ``Wx`` -> W_x), longer names upright
    (``\mathrm{Emb}``).  What follows an underscore is a part of the node (``h1_a`` ->
    h_{1a}, the letter upright: ``naming.fresh_part_name``), never a layer or an element."""
    head, *tails = node.split("_")
    if not head or any(not t for t in tails):  # a name with a leading, trailing or double "_"
        return escape_latex_name(node), "", ""
    sup, sub = "", ""
    match = _LAYERED.match(head)
    if layered and match:
        core, sup = escape_latex_name(match.group(1)), f"({match.group(2)})"
    elif not layered and (match := _SUBSCRIPTED.match(head)):
        core, sub = match.group(1), match.group(2)
    else:
        core = escape_latex_name(head)
    for tail in tails:
        piece = tail if tail.isdigit() else r"\mathrm{" + escape_latex_text(tail) + "}"
        joined = not sub or (sub[-1].isdigit() and not tail.isdigit())  # h_{1a}, but W_{x,a}, h_{1,2}
        sub += piece if joined else "," + piece
    return core, sup, sub


def latex_base(node: str, layered: bool = True) -> str:
    r"""LaTeX of a node name: ``z1`` -> ``z^{(1)}`` (a layer stack), ``W2`` -> ``W^{(2)}``,
    ``x`` -> ``x``; in a graph spec (``layered=False``) ``W1`` -> ``W_{1}``, ``Wx`` -> ``W_{x}``,
    ``h1_a`` -> ``h_{1\mathrm{a}}``."""
    core, sup, sub = _spec_parts(node, layered)
    return core + (f"^{{{sup}}}" if sup else "") + (f"_{{{sub}}}" if sub else "")


def latex_indexed(node: str, indices: str, layered: bool = True, matrix: bool = False) -> str:
    r"""Element ``indices`` (LaTeX, already separated) of a node: ``w^{(2)}_{jk}`` (a layer
    stack's matrix elements in lower case, as the tutorials write them), ``s_{i,j,k}``; a name
    that has a subscript of its own is bracketed first, ``(W_{x})_{jk}``, ``(h_{5})_{j}``, so
    that the element's indices never run into it."""
    core, sup, sub = _spec_parts(node, layered)
    if matrix and layered and core[:1] == "W":
        core = "w" + core[1:]
    base = core + (f"^{{{sup}}}" if sup else "")
    if sub:
        return rf"({base}_{{{sub}}})_{{{indices}}}"
    return f"{base}_{{{indices}}}"


def latex_element(node: str, index: tuple[int, ...], layered: bool = True) -> str:
    r"""``a1``, (1,) -> ``a^{(1)}_{2}``; ``W2``, (0, 1) -> ``w^{(2)}_{12}`` (elements in lower case);
    ``s``, (0, 1, 2) -> ``s_{1,2,3}``; a graph spec's ``W1``, (0, 1) -> ``(W_{1})_{12}``."""
    if not index:
        return latex_base(node, layered)
    if len(index) > 2:  # a tensor's element: x_{1,2,3}, never x_{123}
        indices = ",".join(str(i + 1) for i in index)
    else:
        indices = element_suffix(index).replace("_", ",")
    return latex_indexed(node, indices, layered, matrix=len(index) == 2)


def latex_element_of_symbol(name: str) -> str:
    """The LaTeX of an ``element_name``: ``a2_1`` -> ``a^{(2)}_{1}``, ``W2_12`` -> ``w^{(2)}_{12}``."""
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*(?:_[a-z]+)*)_(\d+(?:_\d+)*)", name)
    if not match:
        return latex_base(name)
    node, suffix = match.groups()
    if "_" in suffix:
        index = tuple(int(i) - 1 for i in suffix.split("_"))
    elif node[:1] == "W" and len(suffix) == 2:
        index = (int(suffix[0]) - 1, int(suffix[1]) - 1)
    else:
        index = (int(suffix) - 1,)
    return latex_element(node, index)


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
