"""Reading a YAML file that someone else wrote: bounded, strict, one clear line per problem.

Spec files are shared, so a file may be binary, in another encoding, huge, or built to
exhaust the reader.  ``read_yaml`` turns every such file into a ``SpecError`` naming the
file and where (``file``, ``line L, column C`` or the top-level field), in bounded time
and memory:

* a regular file of at most ``MAX_BYTES`` (checked with ``stat`` and by reading at most
  one byte more), UTF-8 text (a BOM is allowed) without NUL bytes;
* the C YAML parser where PyYAML has it (``yaml.CSafeLoader``), else the pure Python one,
  both with the safe constructors plus: no key twice in a mapping (YAML would silently keep
  the last), no number written with more than ``MAX_NUMBER_CHARACTERS`` characters
  (Python's int() refuses 4,300 digits, float() turns 400 digits into inf), and a value
  that cannot be built (``2001-02-30``, ``!!int abc``) is an error naming its line;
* at most ``MAX_NESTING`` levels of lists and mappings, checked on the parser's events
  before anything is built where the text could nest deeper than the parsers survive
  (the C one crashes at some 30,000 levels), and again on the loaded data;
* at most ``MAX_VALUES`` values in the loaded data, counting each use of a YAML alias
  (``*name``) as a copy of what it names, and as many pairs in a mapping once its merge
  keys (``<<: *base``) are expanded.  Anchors, aliases and merge keys are allowed; these
  counts are what stop a "billion laughs" file (nine aliases of nine aliases of ...): they
  stop once past the limit, whatever the expansion would be.

Parsing itself is the slow part: some 20 microseconds a value with the C parser, ten
times that with the pure Python one.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

MAX_BYTES = 1_000_000
MAX_NESTING = 32
MAX_VALUES = 250_000
MAX_NUMBER_CHARACTERS = 100

_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
_UTF8_BOM = b"\xef\xbb\xbf"


def read_yaml(path: str | Path, what: str = "spec") -> Any:
    """The data of the YAML file ``path``; a ``SpecError`` for anything not a sane text file."""
    source = str(path)
    text = read_text(path, what)
    data = parse(text, source)
    check_shape(data, source)
    return data


def read_text(path: str | Path, what: str = "spec") -> str:
    """The file's text: at most ``MAX_BYTES``, UTF-8, not binary."""
    source = str(path)
    try:
        status = Path(path).stat()
        if stat.S_ISDIR(status.st_mode):
            raise SpecError(source, "file", f"cannot read the {what}: it is a folder, not a file")
        if not stat.S_ISREG(status.st_mode):
            raise SpecError(source, "file", f"cannot read the {what}: not a regular file")
        if status.st_size > MAX_BYTES:
            raise _too_large(source, what)
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError(source, "file", f"cannot read the {what}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:  # the file grew since stat
        raise _too_large(source, what)
    return decode(raw, source)


def _too_large(source: str, what: str) -> SpecError:
    article = "an" if what[0] in "aeiou" else "a"
    return SpecError(source, "file", f"the {what} is larger than {MAX_BYTES:,} bytes; {article} {what} is a short text file")


def decode(raw: bytes, source: str) -> str:
    """UTF-8 text, or a one-line reason why ``raw`` is not (binary, UTF-16, Latin-1, ...)."""
    for bom, encoding in _BOMS.items():
        if raw.startswith(bom):
            raise SpecError(source, "file", f"{encoding} text; save the file as UTF-8")
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    if b"\x00" in raw:
        raise SpecError(source, "file", "a binary file (it contains NUL bytes), not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            source, "file", f"not UTF-8 text at byte {exc.start} (line {line}); save the file as UTF-8"
        ) from None


# -- YAML -----------------------------------------------------------------------------------


class _Refused(yaml.constructor.ConstructorError):
    """Valid YAML that a spec may not contain (a duplicate key, an overlong number)."""


class _StrictConstructor:
    """Safe construction plus: no duplicate keys, no overlong numbers, and a value that cannot
    be built (``2001-02-30``, ``!!int abc``) is a YAML error naming its line (mixed into a loader)."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            if isinstance(exc, yaml.YAMLError):
                raise
            problem = f"not a {node.tag.rsplit(':', 1)[-1]}" if isinstance(exc, KeyError) else exc
            raise _Refused(None, None, f"cannot read the value {node.value!r}: {problem}", node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)

    def flatten_mapping(self, node):
        """Merge keys (``<<: *base``) copy pairs into the mapping before it is built, so they
        are counted here: nine merges of nine merges of ... would be a "billion laughs"."""
        total = len(node.value)
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for subnode in merged:
                    if isinstance(subnode, yaml.MappingNode):
                        self.flatten_mapping(subnode)
                        total += len(subnode.value)
        if total > MAX_VALUES:
            raise _Refused(None, None, f"merge keys (<<) expand to more than {MAX_VALUES:,} values", node.start_mark)
        super().flatten_mapping(node)

    def construct_yaml_int(self, node):
        _refuse_long_number(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        _refuse_long_number(node)
        return super().construct_yaml_float(node)


def _refuse_duplicate_keys(constructor, node: yaml.MappingNode) -> None:
    """Before merge keys (``<<``) are expanded, so an explicit key may override a merged one."""
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = constructor.construct_object(key_node)
        if key in seen:
            first = seen[key].start_mark.line + 1
            raise _Refused(
                None, None, f"duplicate key {key!r} (first given at line {first})", key_node.start_mark
            )
        seen[key] = key_node


def _refuse_long_number(node: yaml.ScalarNode) -> None:
    if len(node.value) > MAX_NUMBER_CHARACTERS:
        raise _Refused(
            None,
            None,
            f"a number written with {len(node.value)} characters; at most {MAX_NUMBER_CHARACTERS} are allowed",
            node.start_mark,
        )


#: Floats in exponent notation that YAML 1.1 (PyYAML) reads as text and YAML 1.2 as numbers:
#: ``1e-3``, ``2E5``, ``1.0e5`` (1.1 wants a dot and a signed exponent, ``1.0e-3``).  Without
#: this, ``learning_rate: 1e-3`` is "expected a finite number, got the text '1e-3'".
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


def _loader(base: type) -> type:
    loader = type(f"Strict{base.__name__}", (_StrictConstructor, base), {})
    loader.add_constructor("tag:yaml.org,2002:int", _StrictConstructor.construct_yaml_int)
    loader.add_constructor("tag:yaml.org,2002:float", _StrictConstructor.construct_yaml_float)
    loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+.0123456789"))
    return loader


#: The loaders, fastest first; ``LOADER`` is the one used (tests switch it to check both).
LOADERS = tuple(_loader(base) for base in (getattr(yaml, "CSafeLoader", None), yaml.SafeLoader) if base is not None)
LOADER = LOADERS[0]


#: Nesting depth the parsers surely survive: both build nested collections by recursion,
#: the C one in C, where ten thousands of levels overflow the stack (a crash, no exception).
_SAFE_DEPTH = 1000


def parse(text: str, source: str) -> Any:
    """The YAML document in ``text``: a ``SpecError`` naming the line for any YAML problem."""
    try:
        _check_nesting(text, source)
        return yaml.load(text, Loader=LOADER)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = exc.problem or exc.context or str(exc).splitlines()[0]
        raise SpecError(source, where, problem if isinstance(exc, _Refused) else f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(source, "file", f"not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise SpecError(source, "file", f"nested too deeply (at most {MAX_NESTING} levels of lists and mappings)") from None


def _check_nesting(text: str, source: str) -> None:
    """Refuse YAML nested more than ``MAX_NESTING`` levels, before building anything.

    Each level of nesting opens with a character of ``[{-:?`` of its own, so their count
    bounds the depth; only where that bound is above ``_SAFE_DEPTH`` are the parser's events
    counted (a second pass over the text; the event parser itself keeps an explicit stack).
    """
    if sum(map(text.count, "[{-:?")) <= _SAFE_DEPTH:
        return
    depth = 0
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                mark = event.start_mark
                raise SpecError(
                    source, f"line {mark.line + 1}, column {mark.column + 1}", f"nested more than {MAX_NESTING} levels deep"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def check_shape(data: Any, source: str) -> None:
    """Refuse data nested deeper than ``MAX_NESTING`` or holding more than ``MAX_VALUES`` values.

    Walks with an explicit stack (no recursion) and counts every value each time it is
    reached, so data shared through YAML aliases counts once per use: the walk stops after
    ``MAX_VALUES`` steps whatever the file holds.  The field named is the top-level key.
    """
    stack = [(data, 1, "file")]  # (value, its level if a list or mapping, the field)
    count = 0
    while stack:
        value, depth, field = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise SpecError(
                source, field, f"more than {MAX_VALUES:,} values (counting each use of a YAML alias); a spec is small"
            )
        if depth > MAX_NESTING and isinstance(value, (dict, list)):
            raise SpecError(source, field, f"nested more than {MAX_NESTING} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                inside = str(key) if depth == 1 else field
                stack += ((key, depth + 1, inside), (item, depth + 1, inside))
        elif isinstance(value, list):
            stack += ((item, depth + 1, field) for item in value)
