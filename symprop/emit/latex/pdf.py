"""Compiling a handout to PDF with latexmk; LaTeX errors name the line of the user's file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ...errors import SymPropError


def compile_pdf(tex_path: str | Path, timeout: float = 300, keep_log: bool = False) -> Path:
    """Compile ``tex_path`` with latexmk in a temporary directory; the PDF lands next to it
    (and LaTeX's log too, with ``keep_log``: ``overfull_boxes`` reads it).

    Raises ``SymPropError`` when latexmk is missing or LaTeX reports an error (with the
    first error line of the log).
    """
    tex_path = Path(tex_path).resolve()
    if not tex_path.is_file():
        raise SymPropError(f"{tex_path}: no such file")
    latexmk = shutil.which("latexmk")
    if latexmk is None:
        raise SymPropError(
            "latexmk not found: install a TeX distribution to build PDFs "
            "(Debian/Ubuntu: apt-get install latexmk texlive-latex-base texlive-latex-recommended texlive-pictures)"
        )
    with tempfile.TemporaryDirectory(prefix="symprop-tex-") as work:
        work_path = Path(work)
        shutil.copyfile(tex_path, work_path / "handout.tex")
        env = {**os.environ, "max_print_line": "1000"}
        try:
            result = subprocess.run(
                [latexmk, "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "handout.tex"],
                cwd=work_path,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SymPropError(f"{tex_path.name}: latexmk did not finish within {timeout:.0f} s") from None
        pdf = work_path / "handout.pdf"
        log = work_path / "handout.log"
        log_text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else result.stdout + result.stderr
        if result.returncode != 0 or not pdf.is_file():
            error = _first_error(log_text).replace("./handout.tex:", "line ")
            raise SymPropError(f"{tex_path.name}: LaTeX failed: {error}")
        target = tex_path.with_suffix(".pdf")
        shutil.copyfile(pdf, target)
        if keep_log:
            tex_path.with_suffix(".log").write_text(log_text, encoding="utf-8")
    return target


def overfull_boxes(log_text: str) -> list[tuple[float, str]]:
    """The lines LaTeX set wider than the text (into the margin): how much wider in points, and
    where (``detected at line 166`` or ``in paragraph at lines 12--14``)."""
    found = re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\) (.*)", log_text)
    return [(float(width), where.strip()) for width, where in found]


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!") or re.match(r"^.*:\d+: ", line):
            detail = line.lstrip("! ").strip()
            context = next((lines[j].strip() for j in range(i + 1, min(i + 4, len(lines))) if lines[j].startswith("l.")), "")
            return f"{detail} ({context})" if context else detail
    tail = [line for line in lines if line.strip()][-1:] or ["no log"]
    return tail[0]
