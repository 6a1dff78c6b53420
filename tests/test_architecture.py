"""The package's layering, read from the source with ``ast`` (no module is imported).

Data flows one way: ``errors`` <- ``model`` <- ``io`` <- ``nets``, ``project`` <- the workflow steps
(``labelling``, ``training``, ``analysis``, ``results``, ``viz``, ``threed``) <- ``app``, ``synthetic``
<- ``cli``. :data:`ALLOWED` states exactly which subpackage may import which; the tests check that the
import graph between subpackages has no cycle, keeps to that table, and that modules outside ``cli/``
import markerless at module level only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "markerless"

_FOUNDATION = {"errors", "model", "io", "nets", "project"}
_STEPS = {"labelling", "training", "analysis", "results", "viz", "threed", "tracking"}

# Subpackage (or top-level module; "__init__" is markerless/__init__.py) -> what it may import.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "model": {"errors"},
    "io": {"errors", "model"},
    "nets": {"errors", "model", "io"},
    "project": {"errors", "model", "io"},
    # the workflow steps build on the foundation and on the steps before them, never the other way round
    "results": _FOUNDATION,
    "viz": _FOUNDATION,  # not results: drawing works on poses, whatever filtered them
    "analysis": _FOUNDATION | {"tracking"},  # a multi-animal video is tracked as it is written
    "training": _FOUNDATION | {"results", "viz", "analysis"},  # evaluation plots; unlabelled losses; assembly
    "threed": _FOUNDATION | {"analysis"},  # 3D projects analyse each camera's video
    "labelling": _FOUNDATION | {"results", "training", "viz"},  # outliers, merge into a training set, check plots
    "tracking": _FOUNDATION,  # works on poses and prediction files only
    "live": _FOUNDATION | {"analysis"},  # one frame at a time with analysis's backends and tracking crop
    "app": _FOUNDATION | _STEPS,
    "synthetic": _FOUNDATION | _STEPS,
    "cli": _FOUNDATION | _STEPS | {"app", "synthetic", "live", "__init__"},
    "__main__": {"cli"},
    "__init__": set(),  # the public API is imported lazily by name (importlib), not by import statements
}

# Imports of markerless inside a function body, outside cli/ (where they keep start-up fast): path -> reason.
LOCAL_IMPORTS_ALLOWED = {
    "markerless/synthetic/__init__.py": "lazy __getattr__: make_synthetic_project pulls in the project and file modules",
}


def module_name(path: Path, src: Path) -> str:
    """Dotted module name of ``path`` under ``src`` (a package's ``__init__.py`` is the package)."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str, units: set[str]) -> str | None:
    """The subpackage or top-level module (one of ``units``) that ``module`` belongs to; None outside the package."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1:
        return "__init__"
    return parts[1] if parts[1] in units else "__init__"  # a name defined in markerless/__init__.py


def imported_modules(tree: ast.Module, module: str, is_package: bool) -> Iterable[tuple[ast.stmt, str]]:
    """Each import statement with each absolute module name it imports (``from a import b`` gives ``a.b``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield node, f"{base}.{alias.name}"


def import_graph(src: Path) -> dict[str, set[str]]:
    """Subpackage -> the other subpackages it imports, for every module of the package under ``src``."""
    files = sorted((src / PACKAGE).rglob("*.py"))
    units = {p.relative_to(src / PACKAGE).parts[0].removesuffix(".py") for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        module = module_name(path, src)
        source = unit_of(module, units)
        assert source is not None
        targets = graph.setdefault(source, set())
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for _, name in imported_modules(tree, module, path.name == "__init__.py"):
            target = unit_of(name, units)
            if target is not None and target != source:
                targets.add(target)
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path ``[a, b, ..., a]``, or None when it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def local_imports(src: Path) -> list[str]:
    """``path:line`` of each import of markerless inside a function body, outside ``cli/``."""
    found = []
    for path in sorted((src / PACKAGE).rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if rel.startswith(f"{PACKAGE}/cli/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = module_name(path, src)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = ast.Module(body=func.body, type_ignores=[])
            for node, name in imported_modules(body, module, path.name == "__init__.py"):
                if name.split(".")[0] == PACKAGE:
                    found.append(f"{rel}:{node.lineno}")
    return sorted(set(found))


def layer_violations(graph: Mapping[str, Iterable[str]], allowed: Mapping[str, set[str]]) -> list[str]:
    """``a -> b`` for each import edge that ``allowed`` does not permit (or whose source it does not know)."""
    return [
        f"{source} -> {target}"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if target not in allowed.get(source, set())
    ]


# The package itself


def test_no_import_cycle_between_subpackages() -> None:
    cycle = find_cycle(import_graph(SRC))
    assert cycle is None, f"import cycle between subpackages: {' -> '.join(cycle or [])}"


def test_subpackages_import_only_the_layers_below() -> None:
    graph = import_graph(SRC)
    assert set(graph) <= set(ALLOWED), f"subpackages missing from ALLOWED: {sorted(set(graph) - set(ALLOWED))}"
    bad = layer_violations(graph, ALLOWED)
    assert not bad, f"imports against the layering (see ALLOWED in {Path(__file__).name}): {', '.join(bad)}"


def test_the_allowed_table_is_itself_acyclic() -> None:
    assert find_cycle(ALLOWED) is None


def test_markerless_is_imported_at_module_level_outside_cli() -> None:
    found = [f for f in local_imports(SRC) if f.split(":")[0] not in LOCAL_IMPORTS_ALLOWED]
    assert not found, f"import markerless at module level (function-level imports are for cli/ only): {found}"


# The checks themselves, on a tiny fake package


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def fake_src(tmp_path: Path) -> Path:
    """model <- io, io imports model (absolute) and model imports io back (relative, inside a function)."""
    return _write(
        tmp_path,
        {
            "__init__.py": "",
            "errors.py": "class E(Exception): ...\n",
            "model/__init__.py": "from markerless.errors import E\n",
            "model/poses.py": "def load():\n    from ..io import dlc\n    return dlc\n",
            "io/__init__.py": "",
            "io/dlc.py": "import markerless.model.poses\nfrom markerless import errors\n",
            "cli/__init__.py": "def main():\n    from markerless.io.dlc import x\n",
        },
    )


def test_graph_of_a_fake_package_resolves_absolute_relative_and_package_imports(fake_src: Path) -> None:
    assert import_graph(fake_src) == {
        "__init__": set(),
        "errors": set(),
        "model": {"errors", "io"},
        "io": {"model", "errors"},
        "cli": {"io"},
    }


def test_cycle_is_found_with_its_path(fake_src: Path) -> None:
    assert find_cycle(import_graph(fake_src)) in (["io", "model", "io"], ["model", "io", "model"])
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"b"}}) == ["b", "c", "d", "b"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_layer_violations_name_the_edge(fake_src: Path) -> None:
    assert layer_violations(import_graph(fake_src), ALLOWED) == ["model -> io"]
    assert layer_violations({"newpkg": {"model"}}, ALLOWED) == ["newpkg -> model"]


def test_local_imports_outside_cli_are_found(fake_src: Path) -> None:
    assert local_imports(fake_src) == ["markerless/model/poses.py:2"]
