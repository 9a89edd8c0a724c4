"""The package's shape: imports run one way (no circle, counting imports inside functions),
no private name is imported from another module, and a normal install ships every package.

The layers, bottom up: errors, naming, registry and the printers; formula; ops; graph; spec;
the derivation (derivation, scalar); the emitters; the verifier; the API and the CLI.
"""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT

PACKAGE = ROOT / "symprop"


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import of ``name`` outside ``if TYPE_CHECKING:``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "symprop":
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.append((submodule, []) if submodule in MODULES else (target, [alias.name]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name.split(".")[0] == "symprop"]
    return found


def _graph() -> dict[str, set[str]]:
    return {name: {target for target, _ in _imports(name) if target in MODULES and target != name} for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index, low, on_stack, stack, result, counter = {}, {}, set(), [], [], 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    result.append(sorted(component))
    return result


def test_imports_have_no_circle():
    assert _cycles(_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_from_another_module():
    offenders = [
        f"{name} imports {target}.{imported}"
        for name in MODULES
        for target, names in _imports(name)
        for imported in names
        if imported.startswith("_") and not imported.startswith("__")
    ]
    assert offenders == []


def test_no_emitter_knows_an_op_class():
    """The emitters ask each op questions (the flags and hooks of ``ops.base.Op``); they import
    no op class to test against, nor an op family's module with its rule labels."""
    from symprop import ops

    offenders = []
    for name in MODULES:
        if not name.startswith("symprop.emit"):
            continue
        for target, names in _imports(name):
            if not target.startswith("symprop.ops"):
                continue
            if target not in ("symprop.ops", "symprop.ops.base"):
                offenders.append(f"{name} imports {target}")
            found = [getattr(ops, n, None) for n in names]
            offenders += [f"{name} imports {n}" for n, o in zip(names, found) if isinstance(o, type) and issubclass(o, ops.Op)]
    assert offenders == []


def test_the_tests_import_no_private_name_of_the_package():
    offenders = []
    for path in (ROOT / "tests").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("symprop"):
                offenders += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert offenders == []


def test_an_install_ships_every_package():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    packages = {_module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, f"add {sorted(packages - listed)} to [tool.setuptools] packages"


#: The rule's ~500 lines, with a little room: every module of the package stays within it.
LINES = 510


def test_every_module_stays_small():
    """Regression: verifier.py had grown to 554 lines with two jobs, ruling on a claim and
    rewriting and reading it; the rewriting and reading went to verify/reading.py.  Later
    ops/base.py (682 lines), verify/claims_latex.py (612), spec.py (585) and verify/claims_text.py
    (517) were split the same way, one job a module, and then emit/numpy's builder.py (717),
    module.py (590) and rewrites.py (549)."""
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in sizes.items() if n > LINES} == {}


def test_deriving_and_writing_the_module_do_not_import_numpy():
    """Regression (issue 16 part 4): `symprop derive --emit numpy` stays as fast to start as it was
    made; a broadcast check in ops/elementwise.py had started importing NumPy (0.1-0.2 s)."""
    import subprocess
    import sys

    script = (
        "import sys, symprop\n"
        "for name in ('mlp_784_30_10', 'residual_block', 'highway', 'cs231n_neuron'):\n"
        "    symprop.derive(symprop.load(f'examples/{name}.yaml')).numpy_source()\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
