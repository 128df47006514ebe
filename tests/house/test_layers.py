"""The package's layers: no module imports a layer above its own, and no import cycle.

Every `import` statement is read from the source (including imports inside functions, which
a lazy import would otherwise hide), so a test fails the moment a module reaches upward.
The ranks follow the architecture map in the README: a module may import from its own
package (acyclically) and from lower ranks only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "rnncondense"

# The layers, lowest first. A key names a module or a subpackage of rnncondense.
RANKS = {
    "errors": 0,
    "runtime": 1, "interrupts": 1, "layout": 1, "metrics": 1, "validation": 1, "dirlock": 1, "failures": 1,
    "rnn": 2,
    "importers": 3,
    "tasks": 4,
    "config": 5, "storage": 5,
    "analysis": 6, "memory": 6, "ties": 6,
    "train": 7,
    "condense": 8, "sweep": 8,
    "plots": 9,
    "report": 10, "circuits": 10,
    "runs": 11,
    "cli": 12,
}


def _unit(module: str) -> str:
    """The layer key of a dotted module name inside the package."""
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of the package that `path` imports, resolved to dotted names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            submodules = {f"{module}.{alias.name}" for alias in node.names} & modules
            # `from package import submodule` loads the submodule; any other name loads the package
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(module)
    return {m for m in found if m in modules and m != name and m != "rnncondense"}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_rank():
    units = {_unit(name) for name in _graph()} - {"__init__", "__main__"}
    assert units <= set(RANKS), f"give these a rank in RANKS and in the README's map: {sorted(units - set(RANKS))}"


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{module} (rank {RANKS[_unit(module)]}) imports {target} (rank {RANKS[_unit(target)]})"
        for module, targets in _graph().items() if _unit(module) in RANKS
        for target in sorted(targets) if _unit(target) in RANKS and RANKS[_unit(target)] > RANKS[_unit(module)]
        or (_unit(target) != _unit(module) and RANKS[_unit(target)] == RANKS[_unit(module)])
    ]
    assert not upward, "upward or sideways imports:\n" + "\n".join(upward)


# Pure layers: analysis takes arrays and returns results, plots take results and return Figures.
# Neither reads or writes files (that is the runs layer's work), and plots never simulate.
FORBIDDEN = {
    "analysis": ("rnncondense.storage", "rnncondense.runs"),
    "plots": ("rnncondense.storage", "rnncondense.runs", "rnncondense.rnn"),
}


def test_analysis_and_plots_are_pure():
    impure = [
        f"{module} imports {target}"
        for module, targets in _graph().items() if _unit(module) in FORBIDDEN
        for target in sorted(targets) if target.startswith(FORBIDDEN[_unit(module)])
    ]
    assert not impure, "files or simulation in a pure layer:\n" + "\n".join(impure)


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_checker_sees_an_upward_import(tmp_path):
    """The graph reader resolves absolute, relative and in-function imports."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from rnncondense.runs import train\n")
    tree = ast.parse(source.read_text())
    names = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert names == {"rnncondense.runs"}


def test_every_import_of_the_package_names_a_module_that_exists():
    """Imports inside functions run late; a module that moved must not leave a stale path behind
    in the package, its tests or its benchmarks."""
    root = PACKAGE.parents[1]
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    stale = []
    for path in [*PACKAGE.rglob("*.py"), *(root / "tests").rglob("*.py"), *(root / "benchmarks").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else [])
            stale += [f"{path.relative_to(root)}:{node.lineno} {name}" for name in names
                      if name.startswith("rnncondense") and name not in modules]
    assert not stale, "imports of modules that do not exist:\n" + "\n".join(stale)
