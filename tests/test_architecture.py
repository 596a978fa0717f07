"""The house rules of docs/dev/architecture.md, read from the code with ``ast``.

Every import inside the package counts, at module level or inside a
function.  Stages are ranked in the order the data flows; a module may
import its own stage and the stages below it, never one above, and the
imports form no cycle.  Studies reach the solvers only through
:mod:`exodiff.run`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "exodiff"

#: stage of each top-level module or sub-package, lowest first (docs/dev/architecture.md)
RANKS = {
    "_version": 0, "_callable": 0, "_io": 0, "errors": 0, "units": 0, "data": 0, "kernels": 0,
    "physics": 1,
    "geometry": 2,
    "scenario": 3,
    "problem": 4,
    "solvers": 5,
    "results": 6,
    "report": 7,
    "run": 8,
    "studies": 9,
    "cli": 10, "__main__": 10, "": 10,  # "" is the package facade, exodiff/__init__.py
}

#: stages a study may import: it calls run() on changed scenarios, never the stages below it
STUDIES_MAY_IMPORT = {"_version", "_callable", "_io", "errors", "units", "data", "scenario", "results", "report", "run",
                      "studies"}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """Modules of the package that ``name`` imports, with the line of the first import of each.

    ``from a import b`` counts as an import of ``a.b`` when that is a module
    of the package, else of ``a``; relative imports are resolved.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(mod: str, line: int) -> None:
        if mod in known and mod != name:
            found.setdefault(mod, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("exodiff"):
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                add(sub if sub in known else mod, node.lineno)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, int]]:
    mods = _modules(root)
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def stage(module: str) -> str:
    """``exodiff.solvers.ledger`` -> ``solvers``; ``exodiff`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules (first repeated at the end), or None."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for dep in graph.get(node, {}):
            if colour.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in colour:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour:
            found = visit(node)
            if found:
                return found
    return None


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    out = []
    for mod, deps in sorted(graph.items()):
        for dep, line in sorted(deps.items()):
            if RANKS[stage(dep)] > RANKS[stage(mod)]:
                out.append(f"{mod} (line {line}) imports {dep}: stage {stage(dep)!r} is above {stage(mod) or 'exodiff'!r}")
    return out


def test_every_stage_has_a_rank():
    missing = sorted({stage(m) for m in _modules()} - set(RANKS))
    assert not missing, f"add these to RANKS here and to docs/dev/architecture.md: {missing}"


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_only_go_down_the_stages():
    bad = upward_imports(import_graph())
    assert not bad, "\n".join(bad)


def test_studies_reach_the_solvers_only_through_run():
    bad = [f"{mod} (line {line}) imports {dep}"
           for mod, deps in import_graph().items() if stage(mod) == "studies"
           for dep, line in deps.items() if stage(dep) not in STUDIES_MAY_IMPORT]
    assert not bad, "\n".join(bad)


def test_kernels_import_nothing_of_the_package_but_kernels():
    bad = [f"{mod} imports {dep}" for mod, deps in import_graph().items() if stage(mod) == "kernels"
           for dep in deps if stage(dep) != "kernels"]
    assert not bad, "\n".join(bad)


# -- the checker itself must catch what it is for ---------------------------------------------

def _write(tmp_path: Path, files: dict[str, str]) -> dict[str, dict[str, int]]:
    root = tmp_path / "exodiff"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return import_graph(root)


def test_checker_sees_a_cycle_through_an_import_inside_a_function(tmp_path):
    graph = _write(tmp_path, {
        "__init__.py": "",
        "solvers/__init__.py": "",
        "solvers/a.py": "def f():\n    from exodiff.solvers import b\n",
        "solvers/b.py": "from .a import f\n",
    })
    assert find_cycle(graph) in (["exodiff.solvers.a", "exodiff.solvers.b", "exodiff.solvers.a"],
                                 ["exodiff.solvers.b", "exodiff.solvers.a", "exodiff.solvers.b"])


def test_checker_sees_an_upward_import(tmp_path):
    graph = _write(tmp_path, {
        "__init__.py": "",
        "results/__init__.py": "",
        "results/dataset.py": "import numpy\n\ndef g():\n    from ..studies.compare import x\n",
        "studies/__init__.py": "",
        "studies/compare.py": "x = 1\n",
    })
    bad = upward_imports(graph)
    assert len(bad) == 1 and "exodiff.results.dataset (line 4) imports exodiff.studies.compare" in bad[0]


@pytest.mark.parametrize("public", ["load_scenario", "run", "compare", "sweep", "Scenario", "UserError"])
def test_public_names_are_listed_and_resolve(public):
    import exodiff

    assert public in dir(exodiff)
    assert getattr(exodiff, public) is not None


def test_run_compare_and_sweep_are_callable_modules():
    import exodiff
    import exodiff.run  # noqa: F401  (the submodule becomes the package attribute)

    assert callable(exodiff.run) and callable(exodiff.compare) and callable(exodiff.sweep)
    assert callable(exodiff.compare.to_csv) and callable(exodiff.sweep.plan) and callable(exodiff.run.warm)
