r"""A spec's ``tutorial_names``: the names a tutorial gives the handout's tensors and elements
(aliases; the field is not called ``aliases``, which YAML's anchors are called already).

A tutorial calls the 2-2-2 network's ``w^{(2)}_{11}`` ``W5`` and its hidden activations
``h1, h2``; the spec may say so, and the handout then prints a table from its names to the
tutorial's and tells the worked numbers in the tutorial's names::

    tutorial_names: {W2_11: W5, z2_1: z3, a1: h}

A key is a tensor of the network (``a1``: every element takes the alias and its index, ``h1``,
``h2``) or one element of it, by the plain name ``symprop verify`` reads (``W2_11``: row 1,
column 2 is ``W2_12``; indices from 1).  An element's own alias wins over its tensor's.  A
value is a short name of ASCII letters and digits, with at most one ``_`` before its
subscript (``W5``, ``h1``, ``net_h1``); it is printed in LaTeX as a letter or an upright word
with that subscript, so nothing a spec writes reaches LaTeX unchecked.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from . import naming

#: What an alias may be: letters, then digits or ``_`` and a subscript of letters and digits.
_ALIAS = re.compile(r"(?P<base>[A-Za-z]{1,12})(?:(?P<digits>[0-9]{1,4})|_(?P<sub>[A-Za-z0-9]{1,8}))?")
#: The spec's field.
FIELD = "tutorial_names"
#: Most names a spec may give (one per element of a small network's tensors).
MAX_ALIASES = 200


def read_aliases(data: Any, shapes: dict[str, tuple[int, ...]], fail) -> dict[str, str]:
    """Validate ``tutorial_names`` against the tensors ``shapes`` (name -> per-sample shape); returns
    element name -> alias for every element named, in the order the spec gives them.
    ``fail(field, message)`` raises the reader's one-line error."""
    if not isinstance(data, dict) or not data:
        fail(FIELD, f"expected a mapping of handout name: tutorial name (W2_11: W5, a1: h), got {_kind(data)}")
    if len(data) > MAX_ALIASES:
        fail(FIELD, f"{len(data)} names; at most {MAX_ALIASES} are allowed")
    elements = {
        naming.element_name(name, index): (name, index)
        for name, shape in shapes.items()
        for index in itertools.product(*map(range, shape))
    }
    given: dict[str, str] = {}
    for key, value in data.items():
        where = f"{FIELD}.{key}"
        if not isinstance(key, str) or (key not in shapes and key not in elements):
            fail(
                where if isinstance(key, str) else FIELD,
                f"unknown name {key!r}; expected a tensor ({', '.join(shapes)}) or one of its elements by its "
                f"claim name ({', '.join(list(elements)[:3])}, ...)",
            )
        if not isinstance(value, str) or not _ALIAS.fullmatch(value):
            fail(where, f"expected a name of letters and digits such as W5, h or net_h1, got {_kind(value)}")
        if key in shapes and shapes[key] and not value.isalpha():
            fail(where, f"a whole tensor's alias is letters only (its elements add their index: h -> h1, h2), got {value!r}")
        given[key] = value
    names: dict[str, str] = {}  # in the spec's order, an element's own alias over its tensor's
    for key, value in given.items():
        if key not in shapes:
            names[key] = value
            continue
        for element, (name, index) in elements.items():
            if name == key and element not in given or element == key:
                names[element] = value + naming.element_suffix(index) if index else value
    seen: dict[str, str] = {}
    for element, alias in names.items():
        if alias in seen:
            fail(f"{FIELD}.{element}", f"the name {alias!r} also names {seen[alias]}; each name may stand for one element")
        seen[alias] = element
    return names


def alias_latex(alias: str) -> str:
    r"""An alias (already validated) in LaTeX: ``W5`` -> ``W_{5}``, ``h`` -> ``h``, ``net_h1``
    -> ``\mathrm{net}_{h1}``."""
    match = _ALIAS.fullmatch(alias)
    if match is None:  # read_aliases let it through: a bug, never a user's string in LaTeX
        raise ValueError(f"not a valid alias: {alias!r}")
    base = naming.escape_latex_name(match["base"])
    sub = match["digits"] or match["sub"]
    return f"{base}_{{{sub}}}" if sub else base


def _kind(value: Any) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:37] + '...'}"
