"""Loading a spec: a YAML file or plain data, either kind (layer stack or graph spec).

The one entry above both readers: a spec with ``nodes`` (tensor expressions) is a graph spec,
read by ``symprop.tensor_spec`` into a ``GraphNetwork``; any other is a layer stack, read by
``symprop.spec_reader`` into a ``Network`` (``symprop.spec``).  Both derive the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .spec import Network
from .spec_file import read_yaml
from .spec_reader import read_layer_spec
from .tensor_spec import read_graph_spec


def load(path: str | Path) -> Network:
    """Read and validate a YAML spec file (layer stack or graph spec).

    The file is read by ``symprop.spec_file``: bounded in size, nesting and values, UTF-8,
    no duplicate keys; any problem is a one-line ``SpecError``.
    """
    return from_dict(read_yaml(path), source=str(path))


def from_dict(data: Any, source: str = "<python>") -> Network:
    """Validate a spec given as plain data (the parsed YAML, or a dict built in Python)."""
    if isinstance(data, dict) and "nodes" in data:
        return read_graph_spec(data, source)
    return read_layer_spec(data, source)
