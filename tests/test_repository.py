"""The product runs from the repository root: its packages are this checkout's folders."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["models", "tasks", "flows"])
def test_package_imports_from_this_repository(package: str) -> None:
    module = importlib.import_module(package)
    location = Path(module.__file__).resolve()  # type: ignore[arg-type]
    assert location.parent == ROOT / package, f"{package} imported from {location}, not from {ROOT}"
    assert "site-packages" not in location.parts


def _taken_names() -> dict[str, str]:
    """Every top-level module name something else may claim, with what claims it."""
    taken = {name: "the standard library" for name in sys.stdlib_module_names}
    for name, dists in importlib.metadata.packages_distributions().items():
        taken[name] = f"the installed distribution {', '.join(sorted(set(dists)))}"
    for folder in ROOT.iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            taken[folder.name] = "a top-level folder of this repository"
    return taken


def test_no_flow_module_shadows_a_library_or_top_level_folder() -> None:
    """STYLE 10: Prefect puts flows/ first on sys.path, so its modules must not shadow others:
    the standard library, any installed distribution's top-level names, or our own folders."""
    taken = _taken_names()
    assert {"json", "prefect", "sqlmodel", "models", "flows"} <= set(taken)  # the lists are read
    names = {p.stem for p in (ROOT / "flows").glob("*.py")} - {"__init__"}
    assert names, "flows/ holds no module: nothing would be checked"
    shadowing = {name: taken[name] for name in sorted(names & set(taken))}
    assert not shadowing, f"flows/ modules shadow: {shadowing}"
