"""Files the product writes hold personal data: owner-only, whatever the user's umask says."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import flows  # noqa: F401  (sets the product's umask, as every entry point does)


def test_database_outputs_and_folders_are_for_their_owner_only(
    monkeypatch, tmp_path: Path, settings_env
) -> None:
    from tests.conftest import Cli

    var = tmp_path / "var"
    cli = Cli(monkeypatch, f"sqlite:///{var / 'yotqa.db'}")
    assert cli("init").exit_code == 0
    assert cli("demo-data", "--as-of", "2026-11-25").exit_code == 0
    assert cli("run", "sample", "--as-of", "2026-12-01").exit_code == 0
    assert cli("export", "selections", "--period", "2026-12").exit_code == 0
    written = [p for p in var.rglob("*")]
    assert any(p.name.endswith("-wal") for p in written) or any(p.suffix == ".db" for p in written)
    assert any(p.suffix == ".eml" for p in written) and any(p.suffix == ".xlsx" for p in written)
    for path in [var, *written]:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(tmp_path)} is {oct(mode)}"
