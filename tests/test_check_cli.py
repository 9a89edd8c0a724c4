"""``symprop check`` (sampling, refusing foreign files, exit codes) and the CLI's error paths (issue 11)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES

import symprop
from symprop.check import TOLERANCE, check_module, load_module
from symprop.cli import main


@pytest.fixture(scope="module")
def tutorial_module(tmp_path_factory) -> Path:
    return symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml")).write_numpy(tmp_path_factory.mktemp("m"))


def _one_line_error(capsys, status: int, expected: str) -> None:
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert captured.err.startswith("symprop: error: ") and expected in captured.err, captured.err


# -- symprop check --------------------------------------------------------------------------------


def test_check_passes_with_exit_0_and_counts_every_coordinate(tutorial_module, capsys):
    assert main(["check", str(tutorial_module)]) == 0
    assert "all 8 coordinates" in capsys.readouterr().out


def test_check_samples_a_large_network_and_says_so(tmp_path, capsys):
    # Was: every coordinate, two loss calls each: hours for 4096-4096-10.
    spec = {
        "name": "wide",
        "input": 4096,
        "layers": [{"units": 4096, "activation": "tanh"}, {"units": 10, "activation": "softmax"}],
        "loss": "cross_entropy",
    }
    path = symprop.derive(symprop.from_dict(spec)).write_numpy(tmp_path)
    start = time.perf_counter()
    assert main(["check", str(path)]) == 0
    elapsed = time.perf_counter() - start
    out = capsys.readouterr().out
    assert "sampled 59 of 16,822,282 coordinates (at most 200 per parameter and 2000 in all" in out
    assert elapsed < 60  # seconds, not hours


def test_check_sampling_is_reproducible_by_seed():
    import numpy as np

    from symprop.check import MAX_TOTAL, coordinates

    sizes = {f"W{k}": 1000 for k in range(20)}  # 20,000 elements: the full budget
    first = coordinates(sizes, np.random.default_rng(3))
    again = coordinates(sizes, np.random.default_rng(3))
    assert all((first[k] == again[k]).all() for k in sizes)
    assert sum(len(v) for v in first.values()) == MAX_TOTAL


def test_check_fails_with_exit_1_on_a_wrong_gradient(tutorial_module, tmp_path, capsys):
    broken = tmp_path / "broken.py"
    text = tutorial_module.read_text()
    assert "dW1 = " in text
    broken.write_text(text.replace('"W1": dW1,', '"W1": 2 * dW1,'))
    assert main(["check", str(broken)]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("unit", "largest"),
    [
        ("relu(w * x - 100)", 0.0),  # dead: every gradient and every central difference exactly 0 (0/0)
        ("exp(w * x - 60)", 1e-24),  # vanishing: gradients near e^-60 = 9e-27, central differences exactly 0
    ],
)
@pytest.mark.parametrize("backend", ["numpy", "scalar"])
def test_a_check_of_gradients_all_zero_or_tiny_passes(unit, largest, backend, tmp_path):
    """Regression: |g - n| / (|g| + |n|) was 1 for a gradient of 1e-26 against a central difference
    of 0; the denominator has an absolute floor (module_interface.GRADIENT_FLOOR)."""
    spec = {"name": "dead", "inputs": {"x": []}, "targets": {"t": []}, "params": {"w": []},
            "nodes": {"h": unit}, "loss": "half_sse(h, t)"}  # fmt: skip
    derivation = symprop.derive(symprop.from_dict(spec, source="<test>"))
    path = derivation.write_numpy(tmp_path) if backend == "numpy" else derivation.write_scalar(tmp_path)
    module = load_module(path)
    _, grads = module.loss_and_grad(module.init_params(0), *module.sample_batch(4, 0))
    assert abs(float(np.ravel(grads["w"])[0])) <= largest
    assert module.gradient_check() < TOLERANCE
    assert check_module(path).passed


def test_check_refuses_a_file_that_is_not_a_symprop_module_without_running_it(tmp_path, capsys):
    # Was: any .py file was imported (run) before anything was checked.
    script = tmp_path / "other.py"
    marker = tmp_path / "ran"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    _one_line_error(capsys, main(["check", str(script)]), "not a module emitted by symprop")
    assert not marker.exists()


def test_check_of_a_module_that_raises_on_import_is_exit_2(tutorial_module, tmp_path, capsys):
    # Was: a traceback and exit 1.
    bad = tmp_path / "bad.py"
    source = tutorial_module.read_text()
    bad.write_text(source.replace("import numpy as np\n", "import numpy as np\nraise RuntimeError('boom')\n", 1))
    _one_line_error(capsys, main(["check", str(bad)]), "importing the module failed: RuntimeError: boom")


def test_check_of_a_module_that_raises_in_a_call_is_exit_2(tutorial_module, tmp_path, capsys):
    bad = tmp_path / "bad.py"
    source = tutorial_module.read_text()
    bad.write_text(source.replace('    """Forward pass', '    raise ZeroDivisionError("inside")\n    """Forward pass', 1))
    _one_line_error(capsys, main(["check", str(bad)]), "calling the module failed: ZeroDivisionError: inside")


def test_check_of_a_missing_file_is_exit_2(tmp_path, capsys):
    _one_line_error(capsys, main(["check", str(tmp_path / "nowhere.py")]), "no such file")


def test_check_of_a_folder_says_it_is_a_folder(tmp_path, capsys):
    # Was: "no such file" for a folder that exists.
    folder = tmp_path / "some_dir"
    folder.mkdir()
    _one_line_error(capsys, main(["check", f"{folder}/"]), f"{folder}: is a folder, not a module file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_check_of_a_pipe_says_it_is_not_a_regular_file(tmp_path, capsys):
    # Was: "no such file" (and reading it would have waited for a writer).
    pipe = tmp_path / "pipe.py"
    os.mkfifo(pipe)
    _one_line_error(capsys, main(["check", str(pipe)]), f"{pipe}: not a regular file (a device, a pipe, ...), not a module file")


@pytest.mark.parametrize(
    ("raised", "shown"),
    [
        ("SystemExit(0)", "SystemExit(0)"),
        ("SystemExit(3)", "SystemExit(3)"),
        ("GeneratorExit()", "GeneratorExit()"),
        ("type('Stop', (BaseException,), {})()", "Stop()"),  # a BaseException of the module's own
    ],
)
def test_check_of_a_module_that_exits_on_import_is_exit_2(raised, shown, tmp_path, capsys):
    # Was: SystemExit(0) at import ended `symprop check` with status 0 and no output: a pass.
    module = tmp_path / "m.py"
    module.write_text(f"# symprop-module: 1\nraise {raised}\n")
    expected = f"{module}: the module raised {shown} while importing it; a module must not exit, so it could not be checked"
    _one_line_error(capsys, main(["check", str(module)]), expected)


@pytest.mark.parametrize("backend", ["numpy", "scalar"])
@pytest.mark.parametrize("raised", ["SystemExit(0)", "GeneratorExit()"])
def test_check_of_a_module_that_exits_in_a_call_is_exit_2(backend, raised, tmp_path, capsys):
    # Was: `raise SystemExit(0)` as the first line of loss_and_grad passed the check (exit 0, no output).
    derivation = symprop.derive(symprop.load(EXAMPLES / "tutorial_222.yaml"))
    path = derivation.write_numpy(tmp_path) if backend == "numpy" else derivation.write_scalar(tmp_path)
    source = path.read_text()
    header = "def loss_and_grad(params, X, T"
    start = source.index(header)
    line_end = source.index(":\n", start) + 2
    path.write_text(source[:line_end] + f"    raise {raised}\n" + source[line_end:])
    expected = f"{path}: the module raised {raised} while calling it; a module must not exit, so it could not be checked"
    _one_line_error(capsys, main(["check", str(path)]), expected)


def test_check_error_of_a_module_is_one_line_whatever_its_message(tutorial_module, tmp_path, capsys):
    bad = tmp_path / "bad.py"
    source = tutorial_module.read_text()
    bad.write_text(source.replace("import numpy as np\n", "import numpy as np\nraise RuntimeError('two\\nlines')\n", 1))
    _one_line_error(capsys, main(["check", str(bad)]), "importing the module failed: RuntimeError: two lines")


# -- derive: error paths, nothing written ------------------------------------------------------------

SPEC = str(EXAMPLES / "tutorial_222.yaml")


# -- argparse's errors: one line each, exit 2 ---------------------------------------------------------

EMIT_CHOICES = "choose from numpy, latex, html, md (comma-separated) or all"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "the following arguments are required: COMMAND (see symprop --help)"),
        (["frob"], "argument COMMAND: invalid choice: 'frob' (choose from 'derive', 'check', 'classroom', 'grade', "
                   "'verify') (see symprop --help)"),
        (["derive", SPEC, "--bogus"], "unrecognized arguments: --bogus (see symprop derive --help)"),
        (["check", "m.py", "extra", "--x"], "unrecognized arguments: extra --x (see symprop check --help)"),
        (["derive"], "the following arguments are required: spec (see symprop derive --help)"),
        (["derive", SPEC, "--emit", "numpyy"],
         f"argument --emit: 'numpyy' (did you mean 'numpy'?): {EMIT_CHOICES} (see symprop derive --help)"),
        # a new user's misspelt edition in a list
        (["derive", SPEC, "--emit", "numpy,latx"],
         f"argument --emit: 'numpy,latx' (did you mean 'latex'?): {EMIT_CHOICES} (see symprop derive --help)"),
        (["derive", SPEC, "--emit", ""], f"argument --emit: '': {EMIT_CHOICES} (see symprop derive --help)"),
        # a new user's --emit pdf
        (["derive", SPEC, "--emit", "latex,pdf"],
         f"argument --emit: 'latex,pdf': {EMIT_CHOICES}; a PDF is --pdf, with latex (see symprop derive --help)"),
        (["derive", SPEC, "--edition", "x"],
         "argument --edition: invalid choice: 'x' (choose from 'full', 'student') (see symprop derive --help)"),
        (["check"], "the following arguments are required: module (see symprop check --help)"),
        (["check", "m.py", "--seed", "x"], "argument --seed: invalid int value: 'x' (see symprop check --help)"),
        (["classroom", SPEC], "the following arguments are required: --roster, -o/--output (see symprop classroom --help)"),
        (["grade", "folder"], "the following arguments are required: --answers (see symprop grade --help)"),
        (["verify", SPEC], "one of the arguments --claim --claim-latex --claims is required (see symprop verify --help)"),
        (["verify", SPEC, "--claim", "1", "--claims", "f.yaml"],
         "argument --claims: not allowed with argument --claim (see symprop verify --help)"),
    ],
)  # fmt: skip
def test_every_argparse_error_is_one_line_and_exit_2(argv, expected, capsys):
    # Was: argparse's usage block, then the error: three or four lines.
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"symprop: error: {expected}\n"


def test_output_path_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("x")
    _one_line_error(capsys, main(["derive", SPEC, "-o", str(target)]), "the output path is a file, not a folder")
    assert target.read_text() == "x"


def test_output_folder_that_cannot_be_created(tmp_path, capsys):
    # A folder under a regular file: mkdir fails even as root.
    (tmp_path / "file").write_text("x")
    _one_line_error(capsys, main(["derive", SPEC, "-o", str(tmp_path / "file" / "out")]), "cannot create the output folder")


def test_output_folder_that_is_not_writable(tmp_path, capsys, monkeypatch):
    # Was: a traceback (PermissionError from mkdtemp).  chmod does not stop root: simulate it.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    out = tmp_path / "out"
    _one_line_error(capsys, main(["derive", SPEC, "-o", str(out)]), "cannot write in the output folder (Permission denied)")
    assert not out.exists()  # the folder this run created is gone again


def test_pdf_without_latexmk_writes_nothing(tmp_path, capsys, monkeypatch):
    # Was: an empty output folder (created before latexmk was looked for).
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "latexmk" else real(name, *a, **k))
    out = tmp_path / "out"
    _one_line_error(capsys, main(["derive", SPEC, "-o", str(out), "--pdf"]), "latexmk not found")
    assert not out.exists()


def test_disk_full_while_writing_leaves_nothing(tmp_path, capsys, monkeypatch):
    real_write = Path.write_text

    def full(self, text, *args, **kwargs):
        if self.suffix == ".tex":
            raise OSError(28, "No space left on device")
        return real_write(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    out = tmp_path / "out"
    out.mkdir()
    _one_line_error(capsys, main(["derive", SPEC, "-o", str(out)]), "writing tutorial_222.tex failed (No space left on device)")
    assert list(out.iterdir()) == []


def test_interrupt_while_writing_leaves_nothing(tmp_path, capsys, monkeypatch):
    real_write = Path.write_text

    def interrupted(self, text, *args, **kwargs):
        if self.suffix == ".tex":
            raise KeyboardInterrupt
        return real_write(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", interrupted)
    out = tmp_path / "out"
    _one_line_error(capsys, main(["derive", SPEC, "-o", str(out)]), "interrupted")
    assert not out.exists()



def test_check_accepts_a_module_emitted_before_the_marker(tutorial_module, tmp_path, capsys):
    old = tmp_path / "old.py"
    old.write_text(tutorial_module.read_text().split("\n", 1)[1])  # without the marker line
    assert old.read_text().startswith('"""tutorial_222: forward pass')
    assert main(["check", str(old)]) == 0
