"""The `yotqa` command line: init, status, help."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import Cli


def test_init_creates_then_leaves_an_up_to_date_database(
    monkeypatch, tmp_path: Path, settings_env
) -> None:
    cli = Cli(monkeypatch, f"sqlite:///{tmp_path / 'fresh' / 'yotqa.db'}")
    first = cli("init")
    assert first.exit_code == 0, first.stderr
    assert "Question sets loaded: case-audit@1" in first.stdout
    second = cli("init")
    assert second.exit_code == 0
    assert "Question sets already loaded" in second.stdout
    assert (
        tmp_path / "fresh" / "yotqa.db"
    ).stat().st_mode & 0o077 == 0  # owner only: personal data


@pytest.mark.postgres
def test_init_never_prints_the_database_password(
    monkeypatch, settings_env, postgres_server: str
) -> None:
    # The server trusts local connections, so any password gets in: enough to see it is hidden.
    url = (
        sa.make_url(postgres_server).set(password="s3cret-pw").render_as_string(hide_password=False)
    )
    result = Cli(monkeypatch, url)("init")
    assert result.exit_code == 0, result.stderr
    assert "Database ready: postgresql+psycopg://postgres:***@" in result.stdout
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_status_summarises_teams_staff_and_caseload(cli) -> None:
    assert "No staff or cases yet" in cli("status").stdout
    cli("demo-data", "--as-of", "2026-11-25")
    result = cli("status", "--as-of", "2026-11-25")
    assert result.exit_code == 0
    assert "Operational manager" in result.stdout
    assert "open (" in result.stdout and "Question sets: case-audit v1" in result.stdout


def test_status_never_shows_a_young_persons_name(cli, tmp_path: Path) -> None:
    """E5: the summary is figures and references only."""
    cli("demo-data", "--as-of", "2026-11-25")
    names = {
        line.split(",")[2]
        for line in (tmp_path / "var" / "demo" / "cases-2026-11-25.csv")
        .read_text()
        .splitlines()[1:]
    }
    output = cli("status", "--as-of", "2026-11-25").stdout
    assert not [n for n in names if n in output]


def test_help_lists_the_commands(offline_cli) -> None:
    result = offline_cli("--help")
    for command in ("init", "import", "demo-data", "calendar", "timetable", "status"):
        assert command in result.stdout


def test_bad_settings_are_named_without_a_traceback(
    monkeypatch, tmp_path: Path, settings_env
) -> None:
    cli = Cli(monkeypatch, f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("YOTQA_SMTP_PORT", "twenty-five")
    result = cli("status")
    assert result.exit_code == 1
    assert "YOTQA_SMTP_PORT='twenty-five'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_url_that_is_not_a_database_is_named(monkeypatch, settings_env) -> None:
    result = Cli(monkeypatch, "mysqlx://nowhere/db")("init")
    assert result.exit_code == 1
    assert "is not a database URL this product can use" in result.stderr


def test_an_unreachable_database_is_reported_with_where_and_what(monkeypatch, settings_env) -> None:
    # Port 9 on loopback: nothing listens there, the connection is refused at once.
    result = Cli(monkeypatch, "postgresql://postgres:pw@127.0.0.1:9/none")("status")
    assert result.exit_code == 1
    assert (
        "cannot connect to the database postgresql+psycopg://postgres:***@127.0.0.1:9/none"
        in result.stderr
    )
    assert "pw@" not in result.stderr


def test_names_with_brackets_are_printed_as_they_are_and_markup_is_refused(
    cli, tmp_path: Path
) -> None:
    from tests.factories import base_staff, write_csv

    rows = [{**r, "team": "[bold]North[/bold]" if r["team"] else ""} for r in base_staff()]
    rows[1]["name"] = "Olu <script>alert(1)</script> [red]Manager"
    refused = cli("import", "staff", write_csv(tmp_path / "staff.csv", rows))
    assert refused.exit_code == 1
    assert (
        "staff.csv: row 3, column 'name'" in refused.stderr
        and "not a person's name" in refused.stderr
    )
    rows[1]["name"] = "Olu Adeyemi-O'Neil"
    assert cli("import", "staff", write_csv(tmp_path / "staff.csv", rows)).exit_code == 0
    result = cli("status")
    assert "[bold]North[/bold]" in result.stdout  # rich markup is not interpreted


def test_an_unknown_status_option_lists_what_is_accepted(cli) -> None:
    for command in (("audits", "list"), ("outbox", "list")):
        result = cli(*command, "--status", "bogus")
        assert result.exit_code == 2, command
        assert "--status 'bogus' is not known: expected one of" in result.stderr
        assert "Traceback" not in result.stderr
