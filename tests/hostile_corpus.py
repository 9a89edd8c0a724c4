"""A corpus of bad and hostile spec files, generated on the fly (no binary blobs in git).

Each case is ``(id, content, field, words)``: the file's content (text or bytes), the field
the one-line error must name (``symprop: error: FILE: FIELD: ...``) and words it must
contain.  ``tests/test_bad_files.py`` runs every case in-process; run this file to put the
whole corpus through the command line and count the clean refusals::

    python tests/hostile_corpus.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAD = "name: net\ninput: 2\n"
RELU = "layers: [{units: 2, activation: relu}]\n"
GOOD = HEAD + RELU + "loss: mse\n"
PARAMS = "params: {W1: [[1, 2], [3, 4]], b1: [0, 0]}"
GRAPH = (
    "name: g\ninputs: {x: 2}\ntargets: {t: 2}\nparams: {W: [2, 2]}\n"
    "nodes:\n  y: tanh(W @ x)\nloss: half_sse(y, t)\n"
)


def _example(x: str) -> str:
    return GOOD + f"example: {{x: {x}, t: [1, 2], {PARAMS}}}\n"


def _laughs() -> str:
    """Nine levels of nine aliases: 9**9 numbers once expanded, 600 bytes on disk."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return GOOD + "constants:\n" + "".join(f"  {line}\n" for line in lines)


def _merge_laughs() -> str:
    """The same with merge keys: each mapping merges nine copies of the one before."""
    lines = ["a0: &a0 {" + ", ".join(f"k{i}: 1" for i in range(9)) + "}"]
    lines += [f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 9)}]}}" for i in range(1, 9)]
    return GOOD + "constants:\n" + "".join(f"  {line}\n" for line in lines)


def _laughs_in_example() -> str:
    x = "&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"
    for i in range(1, 9):
        x = f"&a{i} [{x}, {', '.join([f'*a{i - 1}'] * 8)}]"
    return GOOD + f"example: {{t: [1, 2], {PARAMS}, x: {x}}}\n"


def _deep(depth: int, opener: str, closer: str) -> str:
    return GOOD + "constants: " + opener * depth + "1" * (opener == "{a: ") + closer * depth + "\n"


def _name(name: str) -> str:
    return f"name: {name}\ninput: 2\n" + RELU + "loss: mse\n"


def _graph_name(name: str) -> str:
    return GRAPH.replace("name: g", f"name: {name}")


def _formula(text: str) -> str:
    return HEAD + f'functions: {{f: "{text}"}}\nlayers: [{{units: 2, activation: f}}]\nloss: mse\n'


def _graph_node(text: str) -> str:
    return GRAPH.replace("y: tanh(W @ x)", f"y: {text}")


def _cycle(steps: int) -> str:
    return GRAPH.replace(
        "nodes:\n  y: tanh(W @ x)\n",
        f"nodes:\n  h{{k}}: {{for: k in 1..{steps}, value: \"tanh(W @ h{{k+1}})\"}}\n"
        f"  h{steps + 1}: W @ x + h1\n  y: h1\n",
    )


def _repeats(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}{{k}}: {{for: k in 1..1000, value: 2}}" for i in range(count)]


CASES: list[tuple[str, str | bytes, str, str]] = [
    # -- the file itself --------------------------------------------------------------------
    ("binary", bytes(range(256)) * 4, "file", "a binary file"),
    ("nul_byte", GOOD.encode() + b"\x00", "file", "a binary file"),
    ("utf16_bom", GOOD.encode("utf-16"), "file", "UTF-16 text; save the file as UTF-8"),
    ("utf16_no_bom", GOOD.encode("utf-16-le"), "file", "a binary file"),
    ("utf32_bom", GOOD.encode("utf-32"), "file", "UTF-32 text"),
    ("latin1", (GOOD + "# caf\xe9\n").encode("latin-1"), "file", "not UTF-8 text at byte 73 (line 5)"),
    ("ten_megabytes", _example("[" + ", ".join(["0.5"] * 2_500_000) + "]"), "file", "larger than 1,000,000 bytes"),
    ("empty_file", "", "spec", "expected a mapping"),
    ("yaml_syntax", HEAD + "layers: [ {units: 2\n", "line 4, column 1", "not valid YAML"),
    ("two_documents", GOOD + "---\n" + GOOD, "line 5, column 1", "not valid YAML"),
    ("python_tag", GOOD + "constants: {c: !!python/object/apply:os.system [ls]}\n", "line 5", "not valid YAML"),
    ("impossible_date", GOOD + "constants: {c: 2001-02-30}\n", "line 5, column 16", "cannot read the value '2001-02-30'"),
    ("bad_int_tag", GOOD + "constants: {c: !!int abc}\n", "line 5, column 16", "cannot read the value 'abc'"),
    ("bad_bool_tag", GOOD + "constants: {c: !!bool maybe}\n", "line 5, column 16", "cannot read the value 'maybe': not a bool"),
    ("undefined_alias", GOOD + "constants: {c: *nowhere}\n", "line 5", "not valid YAML"),
    # -- nesting and aliases --------------------------------------------------------------------
    ("deep_lists", _deep(10_000, "[", "]"), "line 5, column 43", "nested more than 32 levels deep"),
    ("deep_mappings", _deep(10_000, "{a: ", "}"), "line 5, column 136", "nested more than 32 levels deep"),
    ("deep_block_lists", GOOD + "constants:\n" + "- " * 20_000 + "1\n", "line 6, column 63", "nested more than 32"),
    ("deep_40_levels", _deep(40, "[", "]"), "constants", "nested more than 32 levels deep"),
    ("billion_laughs", _laughs(), "constants", "more than 250,000 values (counting each use of a YAML alias)"),
    ("billion_laughs_merge_keys", _merge_laughs(), "line 11, column 7", "merge keys (<<) expand to more than 250,000 values"),
    ("billion_laughs_example", _laughs_in_example(), "example", "more than 250,000 values"),
    ("many_values", _example("[" + ",".join(["0"] * 260_000) + "]"), "example", "more than 250,000 values"),
    ("long_example_x", _example("[" + ",".join(["0"] * 100_000) + "]"), "example.x", "got a list of 100000"),
    # -- keys and numbers -----------------------------------------------------------------------
    ("duplicate_loss", GOOD + "loss: half_sse\n", "line 5, column 1", "duplicate key 'loss' (first given at line 4)"),
    (
        "duplicate_nested_key",
        HEAD + "layers: [{units: 2, units: 3}]\nloss: mse\n",
        "line 3, column 21",
        "duplicate key 'units' (first given at line 3)",
    ),
    ("digits_400_constant", GOOD + "constants: {c: " + "9" * 400 + "}\n", "line 5, column 16", "400 characters"),
    ("digits_5000_input", GOOD.replace("input: 2", "input: " + "9" * 5000), "line 2, column 8", "5000 characters"),
    ("digits_400_float", _example("[" + "9" * 400 + ".0, 2]"), "line 5, column 15", "402 characters"),
    ("float_overflow", _example("[1.0e+999, 2]"), "example.x", "expected a finite number, got inf"),
    ("float_nan", _example("[.nan, 2]"), "example.x", "expected a finite number, got nan"),
    ("string_in_example", _example("[one, 2]"), "example.x", "not a rectangular array of numbers"),
    ("float_overflow_exponent_only", _example("[1e999, 2]"), "example.x", "expected a finite number, got inf"),
    ("huge_input", GOOD.replace("input: 2", "input: " + "9" * 90), "input", "at most 1000000 units"),
    (
        "example_too_large",
        GOOD.replace("input: 2", "input: 100001") + "example: {x: [0], t: [1, 2], params: {}}\n",
        "example.x",
        "a worked example gives at most 100,000 numbers per array",
    ),
    ("too_many_layers", HEAD + "layers:\n" + "  - {units: 1}\n" * 1001 + "loss: mse\n", "layers", "at most 1000 layers"),
    ("long_formula", _formula("z" + " + z" * 2000), "functions.f", "formula is too long"),
    # -- names --------------------------------------------------------------------------------
    ("name_300_characters", _name("n" * 300), "name", "a name of 300 characters; at most 64"),
    ("name_math", _name("math"), "name", "'math' would shadow the standard library's module math"),
    ("name_numpy", _name("numpy"), "name", "'numpy' would shadow the module numpy"),
    ("name_os", _name("os"), "name", "would shadow the standard library's module os"),
    ("name_sys", _name("sys"), "name", "would shadow the standard library's module sys"),
    ("name_symprop", _name("symprop"), "name", "would shadow the module symprop"),
    ("name_conftest", _name("conftest"), "name", "would shadow"),
    ("name_windows_device", _name("con"), "name", "a device name on Windows"),
    ("name_not_ascii", _name("n\u00e9t"), "name", "expected a name made of letters"),
    ("constant_300_characters", GOOD + f"constants: {{{'c' * 300}: 1}}\n", "constants." + "c" * 300, "300 characters"),
    ("graph_name_math", _graph_name("math"), "name", "would shadow the standard library's module math"),
    ("graph_name_numpy", _graph_name("numpy"), "name", "would shadow the module numpy"),
    ("graph_name_300_characters", _graph_name("g" * 300), "name", "300 characters"),
    # -- unknown names: did you mean ------------------------------------------------------------
    ("unknown_field", HEAD + "layer: []\nloss: mse\n", "layer", "unknown field (did you mean 'layers'?)"),
    ("unknown_layer_field", HEAD + "layers: [{unit: 2}]\nloss: mse\n", "layers[0].unit", "(did you mean 'units'?)"),
    (
        "unknown_activation",
        HEAD + "layers: [{units: 2, activation: sigmod}]\nloss: mse\n",
        "layers[0].activation",
        "unknown activation 'sigmod' (did you mean 'sigmoid'?); expected one of:",
    ),
    (
        "unknown_activation_constant",
        HEAD + "layers: [{units: 2, activation: {name: leaky_relu, alpah: 0.1}}]\nloss: mse\n",
        "layers[0].activation.alpah",
        "leaky_relu has no constant 'alpah' (did you mean 'alpha'?)",
    ),
    ("unknown_loss", HEAD + RELU + "loss: msee\n", "loss", "unknown loss 'msee' (did you mean 'mse'?)"),
    ("unknown_example_field", GOOD + f"example: {{x: [1, 2], tt: [1, 2], {PARAMS}}}\n", "example.tt", "(did you mean 't'?)"),
    (
        "unknown_example_param",
        GOOD + "example: {x: [1, 2], t: [1, 2], params: {W1: [[1, 2], [3, 4]], b1: [0, 0], W: [1]}}\n",
        "example.params.W",
        "unknown parameter (did you mean 'W1'?)",
    ),
    (
        "formula_unknown_function",
        _formula("z * sigmod(z)"),
        "functions.f",
        "unknown name 'sigmod' (did you mean 'sigmoid'?) at column 5; functions: abs, cos",
    ),
    (
        "formula_unknown_name",
        _formula("z * alhpa"),
        "functions.f",
        "unknown name 'alhpa' at column 5; variables: z; functions: abs,",
    ),
    (
        "graph_unknown_function",
        _graph_node("maximum(W @ x, 0)"),
        "nodes.y",
        "unknown name 'maximum' (did you mean 'max'?) at column 1; functions:",
    ),
    (
        "graph_unknown_node",
        _graph_node("tanh(W @ xx)"),
        "nodes.y",
        "unknown name 'xx' (did you mean 'x'?) at column 10; variables: W, t, x, y; functions:",
    ),
    ("graph_unknown_field", GRAPH + "input: 3\n", "input", "unknown field (did you mean 'inputs'?) (a graph spec has inputs"),
    ("graph_unknown_output", GRAPH + "output: yy\n", "output", "got 'yy' (did you mean 'y'?)"),
    (
        "graph_too_many_names",
        GRAPH.replace("inputs: {x: 2}", "inputs:\n  x: 2\n" + "".join(f"  {line}\n" for line in _repeats("x", 9))),
        "inputs.x4{k}",
        "more than 5000 names in inputs, targets, params and nodes together",
    ),
    ("graph_long_cycle", _cycle(300), "nodes.h1", "cycle: h1 -> h2 -> h3 -> h4 -> ... (294 more) -> h299 -> h300 -> h301 -> h1"),
]


def write_corpus(directory: Path) -> list[tuple[Path, str, str]]:
    """Write every case as ``<id>.yaml`` in ``directory``; (path, field, words) per case."""
    written = []
    for case, content, field, words in CASES:
        path = directory / f"{case}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        written.append((path, field, words))
    return written


#: Seconds a case may take through the command line (with Python's and SymPy's start-up).
TIMEOUT = 60


def run_through_cli(directory: Path) -> int:
    """Put every case through ``python -m symprop derive``; print one line per case and a
    summary; the number of cases not refused cleanly."""
    unclean = 0
    for path, field, words in write_corpus(directory):
        out = directory / f"{path.stem}.out"
        start = time.perf_counter()
        try:
            result = subprocess.run(
                [sys.executable, "-m", "symprop", "derive", str(path), "-o", str(out)],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            result = subprocess.CompletedProcess([], None, "", f"(no answer after {TIMEOUT} s)\n")
        seconds = time.perf_counter() - start
        clean = (
            result.returncode == 2
            and result.stderr.count("\n") == 1
            and result.stderr.startswith(f"symprop: error: {path}: {field}")
            and words in result.stderr
            and not (out.exists() and any(out.iterdir()))
        )
        unclean += not clean
        message = result.stderr.strip().replace(str(path), path.name).splitlines()[-1:] or ["(nothing on stderr)"]
        print(f"{'clean' if clean else 'NOT CLEAN':9} {seconds:5.1f} s  {path.stem}: {message[0][:150]}")
    print(f"{len(CASES) - unclean} of {len(CASES)} clean")
    return unclean


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        raise SystemExit(1 if run_through_cli(Path(folder)) else 0)
