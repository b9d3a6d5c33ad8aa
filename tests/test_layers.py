"""The house's layers (docs/architecture.md): no module imports one above it, no two modules
import each other (directly or round a longer circle), and Prefect stays in its wrapper."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each package may import itself and those listed: the domain knows nothing of Prefect or HTTP,
# the flows and the people's pages sit side by side on it, the command line is the top.
MAY_IMPORT = {
    "models": {"models"},
    "tasks": {"models", "tasks"},
    "flows": {"models", "tasks", "flows"},
    "web": {"models", "tasks", "web"},
    "deployments": {"models", "tasks", "flows", "deployments"},
    "cli": {"models", "tasks", "flows", "web", "deployments", "cli"},
}
PACKAGES = set(MAY_IMPORT)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {
        _module_name(p): p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts
    }


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports, at its top or inside a function alike."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from tasks import steps` imports the module tasks.steps.
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    modules = set(sources)
    return {m: _imports(p, modules) - {m} for m, p in sources.items()}


def test_the_layers_hold_the_sources_the_test_reads() -> None:
    graph = _graph()
    assert {"tasks.catalogue", "flows.timetable", "cli.main", "web.app"} <= set(graph)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_module_imports_one_above_it(package: str) -> None:
    wrong = sorted(
        f"{m} imports {i}"
        for m, imported in _graph().items()
        if m.split(".")[0] == package
        for i in imported
        if i.split(".")[0] not in MAY_IMPORT[package]
    )
    assert wrong == []


def test_no_modules_import_each_other_round_a_circle() -> None:
    """Tarjan's strongly connected components: any with two or more modules is a circle."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for n in sorted(graph[m]):
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            component = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                component.append(n)
                if n == m:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    assert circles == []


def test_prefect_is_imported_by_the_domain_only_in_its_wrapper() -> None:
    """tasks/ is plain functions; tasks/jobs.py alone turns them into Prefect tasks."""
    importers = set()
    for m, path in _sources().items():
        if m.split(".")[0] in {"models", "tasks", "web"}:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(n == "prefect" or n.startswith("prefect.") for n in names):
                    importers.add(m)
    assert importers == {"tasks.jobs"}
