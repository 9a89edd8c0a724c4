"""Hostile and broken spec files (tests/hostile_corpus.py): each gives one line naming the
file and the field, exit status 2, no traceback, nothing written, in bounded time; with the
C YAML parser and with the pure Python one."""

from __future__ import annotations

import time

import pytest
from hostile_corpus import CASES, GOOD, write_corpus

import symprop
from symprop import spec_file
from symprop.cli import main

#: Loose: the hostile cases (billion laughs, deep nesting, 10 MB) take well under a second.
SECONDS = 5
#: Files of a few hundred kB, within the size limit: the parser's own time, some 20 us a
#: value with the C parser on a busy machine (and ten times that with the pure Python one,
#: so they run with the C parser only).
LARGE = {"many_values", "long_example_x"}
LARGE_SECONDS = 15


@pytest.fixture(params=spec_file.LOADERS, ids=lambda loader: loader.__name__)
def loader(request, monkeypatch):
    monkeypatch.setattr(spec_file, "LOADER", request.param)
    return request.param


@pytest.mark.parametrize(("case", "content", "field", "words"), CASES, ids=[case[0] for case in CASES])
def test_bad_file_gives_one_clear_line(tmp_path, capsys, loader, case, content, field, words):
    if case in LARGE and loader is not spec_file.LOADERS[0]:
        pytest.skip("large file: the C parser only")
    ((spec, _, _),) = write_corpus_case(tmp_path, case)
    out = tmp_path / "out"
    start = time.perf_counter()
    status = main(["derive", str(spec), "-o", str(out)])
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"symprop: error: {spec}: {field}"), err[:300]
    assert words in err, err[:300]
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())
    assert seconds < (LARGE_SECONDS if case in LARGE else SECONDS)


def write_corpus_case(directory, case):
    return [entry for entry in write_corpus(directory) if entry[0].stem == case]


def test_both_parsers_are_tried():
    """The C parser where PyYAML has it, else the pure Python one, with the same checks."""
    names = [loader.__name__ for loader in spec_file.LOADERS]
    assert names[-1] == "StrictSafeLoader"
    assert spec_file.LOADER is spec_file.LOADERS[0]


def test_aliases_and_merge_keys_within_limits_are_fine(tmp_path, loader):
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "name: net\ninput: 2\nlayers:\n  - &layer {units: 2, activation: relu}\n  - {<<: *layer, activation: tanh}\n"
        "loss: mse\nexample: {x: &row [1, 2], t: *row, params: {W1: [*row, *row], b1: [0, 0], W2: [*row, *row], b2: [0, 0]}}\n"
    )
    network = symprop.load(spec)
    assert [layer.activation.name for layer in network.layers] == ["relu", "tanh"]
    assert network.example.params["W2"] == [[1, 2], [1, 2]]


def test_a_utf8_bom_is_fine(tmp_path, loader):
    spec = tmp_path / "net.yaml"
    spec.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert symprop.load(spec).name == "net"


def test_a_directory_is_not_a_spec(tmp_path, capsys):
    status = main(["derive", str(tmp_path), "-o", str(tmp_path / "out")])
    assert status == 2
    # a new user's finding: it said "not a regular file" of a folder
    assert capsys.readouterr().err == f"symprop: error: {tmp_path}: file: cannot read the spec: it is a folder, not a file\n"
    assert not (tmp_path / "out").exists()


def test_a_legal_size_example_is_read_quickly(tmp_path):
    """The 784-30-10 MLP with a full worked example (23,860 numbers, 200 kB)."""
    rows = lambda count, width: "[" + ", ".join(["[" + ", ".join(["0.01"] * width) + "]"] * count) + "]"  # noqa: E731
    vector = lambda size: "[" + ", ".join(["0.5"] * size) + "]"  # noqa: E731
    spec = tmp_path / "mlp.yaml"
    spec.write_text(
        "name: mlp\ninput: 784\nlayers: [{units: 30, activation: sigmoid}, {units: 10, activation: sigmoid}]\n"
        f"loss: half_sse\nexample:\n  x: {vector(784)}\n  t: {vector(10)}\n"
        f"  params: {{W1: {rows(30, 784)}, b1: {vector(30)}, W2: {rows(10, 30)}, b2: {vector(10)}}}\n"
    )
    start = time.perf_counter()
    network = symprop.load(spec)
    assert time.perf_counter() - start < SECONDS
    assert len(network.example.params["W1"]) == 30


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"constants": {"c": 10**400}}, r"constants\.c: expected a finite number, got a whole number of 1329 bits"),
        ({"input": 10**5000}, r"input: expected at most 1000000 units, got a whole number of 16610 bits"),
    ],
    ids=["400_digits", "5000_digits"],
)
def test_huge_numbers_from_python_are_refused_too(fields, message):
    """Specs built in Python skip the YAML limits; float() and repr() of such ints would raise."""
    spec = {"name": "net", "input": 2, "layers": [{"units": 2}], "loss": "mse", **fields}
    with pytest.raises(symprop.SpecError, match=message):
        symprop.from_dict(spec)
