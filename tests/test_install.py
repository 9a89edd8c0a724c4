"""A normal (non-editable) install ships the templates (with KaTeX, for the HTML edition) and
the ``symprop`` command works from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import venv

from conftest import ROOT


def test_fresh_virtualenv_install_derives_outside_the_checkout(tmp_path):
    env_dir = tmp_path / "venv"
    # System site packages provide the dependencies (sympy, numpy, ...); symprop itself is
    # built (in pip's isolated build environment) and installed from the checkout.
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(ROOT)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    located = subprocess.run(
        [str(python), "-c", "import symprop.templating as t; print(t.templates_dir())"],
        check=True,
        capture_output=True,
        text=True,
        cwd=work,
    ).stdout.strip()
    assert str(env_dir) in located, located  # the installed copy, not the checkout's templates/
    spec = ROOT / "examples" / "tutorial_222.yaml"
    subprocess.run(
        [str(bin_dir / "symprop"), "derive", str(spec), "-o", "out", "--emit", "numpy"],
        check=True,
        capture_output=True,
        cwd=work,
    )
    run = subprocess.run([sys.executable, "out/tutorial_222.py"], capture_output=True, text=True, cwd=work)
    assert run.returncode == 0, run.stderr
    assert "E = 0.02397190" in run.stdout
    # the HTML edition: KaTeX and its fonts are shipped with the templates and inlined
    subprocess.run(
        [str(bin_dir / "symprop"), "derive", str(spec), "-o", "web", "--emit", "html,md"],
        check=True,
        capture_output=True,
        cwd=work,
    )
    page = (work / "web" / "tutorial_222.html").read_text(encoding="utf-8")
    assert page.count("data:font/woff2;base64,") == 20 and "katex.render(" in page
    assert (work / "web" / "tutorial_222.md").read_text(encoding="utf-8").startswith("# Backpropagation")
