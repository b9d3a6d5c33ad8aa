"""The product runs from the repository root: its packages are this checkout's folders."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["models", "tasks", "flows"])
def test_package_imports_from_this_repository(package: str) -> None:
    module = importlib.import_module(package)
    location = Path(module.__file__).resolve()  # type: ignore[arg-type]
    assert location.parent == ROOT / package, f"{package} imported from {location}, not from {ROOT}"
    assert "site-packages" not in location.parts


def test_no_flow_module_shadows_a_library_or_top_level_folder() -> None:
    """STYLE 10: Prefect puts flows/ first on sys.path, so its modules must not shadow others."""
    reserved = {
        "models",
        "tasks",
        "flows",
        "deployments",
        "templates",
        "email",
        "emails",
        "prefect",
        "calendar",
        "holidays",
        "typing",
        "logging",
        "json",
        "csv",
        "sqlmodel",
        "alembic",
    }
    names = {p.stem for p in (ROOT / "flows").glob("*.py")}
    assert not names & reserved
