"""The `yotqa` command line: init, status, help."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import Cli


def test_init_creates_the_database_with_the_question_sets(
    monkeypatch, tmp_path: Path, settings_env
) -> None:
    first = Cli(monkeypatch, f"sqlite:///{tmp_path / 'fresh' / 'yotqa.db'}")("init")
    assert first.exit_code == 0, first.stderr
    assert "Question sets loaded: case-audit@1" in first.stdout


def test_init_again_leaves_an_up_to_date_database_as_it_is(
    monkeypatch, tmp_path: Path, settings_env
) -> None:
    cli = Cli(monkeypatch, f"sqlite:///{tmp_path / 'fresh' / 'yotqa.db'}")
    assert cli("init").exit_code == 0
    second = cli("init")
    assert second.exit_code == 0, second.stderr
    assert "Question sets already loaded" in second.stdout


def test_init_makes_the_database_file_for_its_owner_only(
    monkeypatch, tmp_path: Path, settings_env
) -> None:
    """Personal data: whatever the user's umask, no one else may read the database."""
    assert Cli(monkeypatch, f"sqlite:///{tmp_path / 'fresh' / 'yotqa.db'}")("init").exit_code == 0
    assert (tmp_path / "fresh" / "yotqa.db").stat().st_mode & 0o077 == 0


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


def test_status_says_when_there_is_no_service_yet(cli) -> None:
    result = cli("status")
    assert result.exit_code == 0, result.stderr
    assert "No staff or cases yet" in result.stdout


@pytest.mark.demo(as_of="2026-11-25")
def test_status_summarises_teams_staff_and_caseload(cli) -> None:
    result = cli("status", "--as-of", "2026-11-25")
    assert result.exit_code == 0, result.stderr
    assert "Operational manager" in result.stdout
    assert "open (" in result.stdout and "Question sets: case-audit v1" in result.stdout


@pytest.mark.demo(as_of="2026-11-25")
def test_status_never_shows_a_young_persons_name(cli, tmp_path: Path) -> None:
    """E5: the summary is figures and references only."""
    names = {
        line.split(",")[2]
        for line in (tmp_path / "var" / "demo" / "cases-2026-11-25.csv")
        .read_text()
        .splitlines()[1:]
    }
    assert names, "the demo's caseload names no one: nothing would be proved"
    result = cli("status", "--as-of", "2026-11-25")
    assert result.exit_code == 0, result.stderr
    assert not [n for n in names if n in result.stdout]


def test_help_lists_the_commands(offline_cli) -> None:
    result = offline_cli("--help")
    assert result.exit_code == 0, result.stderr
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


def _staff_in_team(team: str, manager: str) -> list[dict[str, str]]:
    from tests.factories import base_staff

    rows = [{**r, "team": team if r["team"] else ""} for r in base_staff()]
    rows[1]["name"] = manager
    return rows


def test_import_refuses_markup_in_a_name(cli, tmp_path: Path) -> None:
    from tests.factories import write_csv

    rows = _staff_in_team("[bold]North[/bold]", "Olu <script>alert(1)</script> [red]Manager")
    refused = cli("import", "staff", write_csv(tmp_path / "staff.csv", rows))
    assert refused.exit_code == 1
    assert (
        "staff.csv: row 3, column 'name'" in refused.stderr
        and "not a person's name" in refused.stderr
    )


def test_status_prints_brackets_in_names_as_they_are(cli, tmp_path: Path) -> None:
    from tests.factories import write_csv

    rows = _staff_in_team("[bold]North[/bold]", "Olu Adeyemi-O'Neil")
    assert cli("import", "staff", write_csv(tmp_path / "staff.csv", rows)).exit_code == 0
    result = cli("status")
    assert result.exit_code == 0, result.stderr
    assert "[bold]North[/bold]" in result.stdout  # rich markup is not interpreted


@pytest.mark.parametrize("command", [("audits", "list"), ("outbox", "list")])
def test_an_unknown_status_option_lists_what_is_accepted(cli, command: tuple[str, str]) -> None:
    result = cli(*command, "--status", "bogus")
    assert result.exit_code == 2
    assert "--status 'bogus' is not known: expected one of" in result.stderr
    assert "Traceback" not in result.stderr
