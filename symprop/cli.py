"""The ``symprop`` command.

Every user error (a bad command line, bad spec, unknown name, unreadable file, an output folder
that cannot be written, latexmk missing for --pdf, an interrupt) is one line on stderr and exit
code 2.
Outputs are first written into a temporary folder beside the destination and moved into
place only when all of them succeeded, so a failure never leaves half-written files (nor an
output folder that this run created and left empty).  ``symprop check`` exits 0 when the
gradients agree, 1 when they do not, 2 when the module could not be checked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .errors import SpecError, SymPropError, WorkedExampleError, did_you_mean
from .verify import cli as verify_cli
from .version import __version__

# Each command imports what it runs, in its function: `symprop derive --emit numpy` loads neither
# the verifier nor NumPy, `symprop check` not SymPy (issue 16: a third of a command's time).

#: What ``--emit`` writes: a comma-separated list of outputs, or ``all`` of them.  The default
#: stays the module and the LaTeX handout (an HTML page inlines KaTeX: some 700 kB).
OUTPUTS = {"numpy": ".py", "latex": ".tex", "html": ".html", "md": ".md"}
DEFAULT_EMIT = "numpy,latex"


def _outputs(value: str) -> list[str]:
    """``--emit``'s value: ``all``, or editions separated by commas (``numpy,html``)."""
    if value.strip() == "all":
        return list(OUTPUTS)
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in OUTPUTS]
    if unknown or not chosen:
        pdf = "; a PDF is --pdf, with latex" if "pdf" in unknown else ""  # what a new user tries first
        close = did_you_mean(unknown[0], OUTPUTS) if unknown and not pdf else ""
        raise argparse.ArgumentTypeError(f"{value!r}{close}: choose from {', '.join(OUTPUTS)} (comma-separated) or all{pdf}")
    return list(dict.fromkeys(chosen))


#: The module's backends (``symprop.api.BACKENDS``, spelt here so that ``--help`` needs no SymPy).
BACKENDS = ("numpy", "scalar", "array-api", "numba")
#: The handout's editions (``symprop.emit.latex.EDITIONS``, spelt here so that ``--help`` needs no emitter).
EDITIONS = ("full", "student")


class _Parser(argparse.ArgumentParser):
    """argparse's parser (and, as ``add_subparsers`` makes each of its own class, every
    subcommand's) with one-line errors: argparse prints its usage block first, three or four
    lines, where every other error of the command line is one line on stderr, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"symprop: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but arguments no parser knows point to the help of the subcommand they
        were given to (argparse reports them on the top-level parser: see symprop --help)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            self.exit(2, f"symprop: error: unrecognized arguments: {' '.join(extras)} (see {prog} --help)\n")
        return parsed


LATEXMK_MISSING = (
    "--pdf: latexmk not found: install a TeX distribution to build PDFs "
    "(Debian/Ubuntu: apt-get install latexmk texlive-latex-base texlive-latex-recommended texlive-pictures)"
)


def _derive_command(args: argparse.Namespace) -> int:
    if args.pdf and "latex" not in args.emit and not args.exercises:  # before anything is derived or written
        raise SymPropError("--pdf needs a LaTeX document: add latex to --emit (or --emit all), or --exercises")
    if args.pdf and shutil.which("latexmk") is None:
        raise SymPropError(LATEXMK_MISSING)
    if args.backend not in BACKENDS:  # not argparse's choices: --help shows BACKEND, explained in its help
        library = args.backend.lower() in ("torch", "pytorch", "jax", "dask")
        libraries = " (array-api runs on PyTorch, JAX and Dask arrays)" if library else ""
        raise SymPropError(f"--backend {args.backend!r}: choose from {', '.join(BACKENDS)}{libraries}")
    from .api import derive
    from .loading import load

    network = load(args.spec)
    derivation = derive(network)
    try:
        outputs = _rendered(args, network, derivation)
    except WorkedExampleError as exc:  # found while writing: the spec file is named here
        raise SpecError(args.spec, "example", exc.message) from None
    written = _write_all(Path(args.output), outputs, compile_pdf=args.pdf)
    for path in written:
        print(f"wrote {path}")
    return 0


def _rendered(args: argparse.Namespace, network, derivation) -> dict[str, str]:
    """Every output's text by its file name, nothing written yet."""
    # the handout's editions (latex, html, md) in the --edition chosen, each named as the LaTeX one
    sources = {
        "latex": lambda: derivation.latex(args.edition),
        "html": lambda: derivation.html(args.edition),
        "md": lambda: derivation.markdown(edition=args.edition),
    }
    outputs: dict[str, str] = {}
    for output in args.emit:
        if output == "numpy":
            outputs[f"{network.name}.py"] = derivation.module_source(args.backend)
        else:
            from .emit.latex import latex_file_name

            outputs[str(Path(latex_file_name(network.name, args.edition)).with_suffix(OUTPUTS[output]))] = sources[output]()
    if args.exercises:
        from .emit.latex.exercises import exercise_file_names
        from .exercises import example_point

        point = example_point(derivation, "--exercises")  # the flag's wording; the API names its methods
        outputs.update(zip(exercise_file_names(network.name), derivation.exercises_latex(point)))
    return outputs


def _write_all(directory: Path, outputs: dict[str, str], compile_pdf: bool) -> list[Path]:
    """Write every output (and the PDF) in a scratch folder, then move them all into place."""
    created = _make_folder(directory)
    try:
        return _write_into(directory, outputs, compile_pdf)
    except BaseException:
        if created:
            _remove_if_empty(directory)
        raise


def _make_folder(directory: Path) -> bool:
    """Create the output folder if needed; returns whether this call created it."""
    if directory.exists() and not directory.is_dir():
        raise SymPropError(f"{directory}: the output path is a file, not a folder")
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SymPropError(f"{directory}: cannot create the output folder ({exc.strerror or exc})") from None
    return created


def _write_into(directory: Path, outputs: dict[str, str], compile_pdf: bool) -> list[Path]:
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".symprop-", dir=directory))
    except OSError as exc:
        raise SymPropError(f"{directory}: cannot write in the output folder ({exc.strerror or exc})") from None
    try:
        names = list(outputs)
        try:
            for name, text in outputs.items():
                (scratch / name).parent.mkdir(parents=True, exist_ok=True)  # feedback/ID.md
                (scratch / name).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise SymPropError(f"{directory}: writing {name} failed ({exc.strerror or exc}); nothing was written") from None
        if compile_pdf:
            from .emit.latex import compile_pdf as compile_tex

            names += [compile_tex(scratch / tex).name for tex in [name for name in names if name.endswith(".tex")]]
        try:
            for name in names:
                (directory / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(scratch / name, directory / name)
        except OSError as exc:
            raise SymPropError(f"{directory / name}: cannot move the output into place ({exc.strerror or exc})") from None
        return [directory / name for name in names]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty (or gone): leave it


def _classroom_command(args: argparse.Namespace) -> int:
    if args.pdf and shutil.which("latexmk") is None:
        raise SymPropError(LATEXMK_MISSING)
    from .api import derive
    from .classroom.build import MANIFEST, class_set
    from .classroom.questions import parse_questions
    from .classroom.roster import read_roster
    from .loading import from_dict
    from .spec_file import read_yaml

    manifest = Path(args.output) / MANIFEST
    if manifest.exists():  # its files would stand beside the new ones: keys that fit no worksheet
        raise SymPropError(
            f"{args.output}: holds a class set already ({MANIFEST}); write the new one into another folder, "
            "or delete this one first"
        )
    students = read_roster(args.roster)
    spec_data = read_yaml(args.spec)
    derivation = derive(from_dict(spec_data, args.spec))
    questions_data = read_yaml(args.questions, "questions file") if args.questions else None
    items = parse_questions(questions_data, derivation, args.questions) if args.questions else None
    chosen = class_set(derivation, students, args.seed, items, spec_data, questions_data)
    written = _write_all(Path(args.output), chosen.sources(), compile_pdf=args.pdf)
    print(f"wrote {len(written)} files for {len(students)} student{'' if len(students) == 1 else 's'} into {args.output}")
    return 0


def _grade_command(args: argparse.Namespace) -> int:
    from .classroom.build import open_class

    chosen = open_class(args.folder)
    rows, outputs = chosen.grade(args.answers)
    written = _write_all(Path(args.folder), outputs, compile_pdf=False)
    graded = sum(1 for row in rows if row.student is not None)
    print(f"graded {graded} students; wrote {written[0]} and {len(written) - 1} feedback files{_ungraded(rows)}")
    return 0


def _ungraded(rows) -> str:
    """``; no submission: s02; not on the roster, not graded: s41``: the rows a teacher must not
    miss (their notes are in the gradebook), at most five ids each."""

    from .classroom.grading import NO_SUBMISSION

    def listed(ids: list[str]) -> str:
        return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")

    missing = [row.student_id for row in rows if row.student is not None and NO_SUBMISSION in row.notes]
    unknown = [row.student_id for row in rows if row.student is None]
    said = f"; no submission: {listed(missing)}" if missing else ""
    return said + (f"; not on the roster, not graded: {listed(unknown)}" if unknown else "")


def _check_command(args: argparse.Namespace) -> int:
    from .check import check_module

    result = check_module(args.module, seed=args.seed)
    print(result)
    return 0 if result.passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="symprop",
        description="Derive backpropagation symbolically; emit NumPy code and derivation handouts.",
    )
    parser.add_argument("--version", action="version", version=f"symprop {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    derive_parser = commands.add_parser("derive", help="derive a network spec and write its outputs")
    derive_parser.add_argument("spec", help="the network spec (YAML)")
    derive_parser.add_argument("-o", "--output", default=".", help="output folder (default: the current one)")
    derive_parser.add_argument(
        "--emit",
        type=_outputs,
        default=DEFAULT_EMIT,
        metavar="OUTPUTS",
        help="what to write, comma-separated: numpy (.py), latex (.tex), html (one self-contained page), "
        f"md (Markdown), or all (default: {DEFAULT_EMIT})",
    )
    derive_parser.add_argument(
        "--backend",
        default="numpy",
        metavar="BACKEND",
        help="the module's backend: numpy (arrays; the default), scalar (straight-line Python over floats, "
        "no NumPy, for networks of at most 300 parameters), array-api (the array API standard through "
        "array-api-compat: NumPy, PyTorch, JAX, Dask arrays) or numba (compiled loops: a layer stack's "
        "elementwise work fused per layer, a graph spec's loss_and_grad one compiled function; needs numba)",
    )
    derive_parser.add_argument("--pdf", action="store_true", help="also compile the handout to PDF (needs latexmk)")
    derive_parser.add_argument(
        "--edition",
        choices=EDITIONS,
        default="full",
        help="the handout's edition, in latex, html and md alike: full (with the NumPy code; NAME.tex) or "
        "student (the derivation, the summary and the worked numbers; NAME_student.tex, .html, .md)",
    )
    derive_parser.add_argument(
        "--exercises",
        action="store_true",
        help="also write a worksheet (NAME_exercises.tex: questions with blanks) and its answer key "
        "(NAME_answers.tex), with the numbers of the spec's worked example; --pdf compiles them too",
    )
    derive_parser.set_defaults(run=_derive_command)

    check_parser = commands.add_parser("check", help="gradient-check an emitted module against central differences")
    check_parser.add_argument("module", help="the emitted .py file")
    check_parser.add_argument("--seed", type=int, default=0, help="seed of the random check point")
    check_parser.set_defaults(run=_check_command)

    classroom_parser = commands.add_parser(
        "classroom", help="a class set: per student a variant's worksheet and answer key, and the class answer sheet"
    )
    classroom_parser.add_argument("spec", help="the network spec (YAML) with a worked example")
    classroom_parser.add_argument("--roster", required=True, help="CSV file with the columns id and name")
    classroom_parser.add_argument("-o", "--output", required=True, help="output folder")
    classroom_parser.add_argument("--seed", type=int, default=0, help="the course seed (same seed, same id: same numbers)")
    classroom_parser.add_argument("--questions", help="questions YAML (default: the exercises plan)")
    classroom_parser.add_argument("--pdf", action="store_true", help="also compile every document (needs latexmk)")
    classroom_parser.set_defaults(run=_classroom_command)

    grade_parser = commands.add_parser("grade", help="grade a class's answers: gradebook.csv and feedback/ID.md per student")
    grade_parser.add_argument("folder", help="the folder symprop classroom wrote")
    grade_parser.add_argument(
        "--answers", required=True, help="one CSV for the class (id and a column per question), or a folder of ID.yaml / ID.csv"
    )
    grade_parser.set_defaults(run=_grade_command)

    verify_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SymPropError as exc:
        print(f"symprop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symprop: error: interrupted; no output was left half-written", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
