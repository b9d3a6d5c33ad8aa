"""The improvement plan (App. 6): `yotqa plan` commands and the spreadsheet import."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from models import ActionPoint, PlanActivity, PlanObjective, PlanOutcome
from tests.factories import MANAGER, SERVICE_MANAGER, base_staff, write_csv


def _staff(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "staff.csv", base_staff())
    assert cli("import", "staff", path).exit_code == 0


def test_plan_commands_build_the_master_copy(cli, tmp_path: Path, session: Session) -> None:
    _staff(cli, tmp_path)
    empty = cli("plan", "show", "--year", "2026")
    assert empty.exit_code == 0, empty.output
    assert "No improvement plan for 2026" in empty.stdout
    assert cli("plan", "add-outcome", "Better plans", "--year", "2026").exit_code == 0
    result = cli("plan", "add-objective", "1", "Plans reviewed at 3 months", "--year", "2026")
    assert result.exit_code == 0, result.output
    objective = session.execute(sa.select(PlanObjective)).scalar_one()
    result = cli(
        "plan",
        "add-activity",
        objective.id,
        "Workshop",
        "--by",
        "2026-12-18",
        "--lead",
        SERVICE_MANAGER,
        "--as-of",
        "2026-11-25",
    )
    assert result.exit_code == 0, result.output
    activity = session.execute(sa.select(PlanActivity)).scalar_one()
    assert activity.added_on.isoformat() == "2026-11-25"
    assert (
        cli("plan", "progress", activity.id, "Booked", "--completed", "2026-12-10").exit_code == 0
    )
    shown = cli("plan", "show", "--year", "2026")
    assert shown.exit_code == 0, shown.output
    assert "Better plans" in shown.stdout and "Workshop" in shown.stdout
    assert "completed 2026-12-10" in shown.stdout


def _plan(cli, outcomes: int = 1) -> None:  # type: ignore[no-untyped-def]
    """The 2026 plan with `outcomes` outcomes, the first with one objective."""
    for n in range(1, outcomes + 1):
        assert cli("plan", "add-outcome", f"Outcome {n}", "--year", "2026").exit_code == 0
    assert cli("plan", "add-objective", "1", "B", "--year", "2026").exit_code == 0


def test_add_objective_names_a_missing_outcome(cli, tmp_path: Path) -> None:
    _staff(cli, tmp_path)
    result = cli("plan", "add-objective", "3", "x", "--year", "2026")
    assert result.exit_code == 1 and "the 2026 plan has no outcome 3" in result.output


def test_add_activity_names_a_date_that_is_not_one(cli, tmp_path: Path) -> None:
    _staff(cli, tmp_path)
    _plan(cli)
    result = cli("plan", "add-activity", "1", "C", "--by", "2026-13-01", "--lead", MANAGER)
    assert result.exit_code == 1 and "'2026-13-01' is not a date" in result.output


def test_add_activity_names_a_lead_who_is_not_active_staff(cli, tmp_path: Path) -> None:
    _staff(cli, tmp_path)
    _plan(cli)
    result = cli("plan", "add-activity", "1", "C", "--by", "2026-12-01", "--lead", "who@x.org")
    assert result.exit_code == 1 and "'who@x.org' is not an active member" in result.output


def test_add_outcome_refuses_a_seventh(cli, tmp_path: Path) -> None:
    _staff(cli, tmp_path)
    _plan(cli, outcomes=6)
    result = cli("plan", "add-outcome", "Seventh", "--year", "2026")
    assert result.exit_code == 1 and "five or six a year" in result.output


def test_link_names_a_missing_action_point(cli, tmp_path: Path) -> None:
    _staff(cli, tmp_path)
    _plan(cli)
    result = cli("plan", "link", "99", "1")
    assert result.exit_code == 1 and "there is no action point 99" in result.output


def test_plan_import_lists_every_bad_cell_and_keeps_nothing(
    cli, tmp_path: Path, session: Session
) -> None:
    _staff(cli, tmp_path)
    columns = [
        "outcome",
        "objective",
        "activity",
        "lead_officer_email",
        "completion_date",
        "progress",
        "completed_on",
    ]
    rows = [
        {
            "outcome": "O1",
            "objective": "B1",
            "activity": "A1",
            "lead_officer_email": MANAGER,
            "completion_date": "2026-12-01",
            "progress": "",
            "completed_on": "",
        },
        {
            "outcome": "",
            "objective": "B1",
            "activity": "A2",
            "lead_officer_email": "nobody@x.org",
            "completion_date": "01/12/2026",
            "progress": "",
            "completed_on": "",
        },
    ]
    path = write_csv(tmp_path / "plan.csv", rows, columns)
    result = cli("plan", "import", path, "--year", "2026")
    assert result.exit_code == 1
    assert "plan.csv: row 3, column 'outcome': required" in result.output
    assert "plan.csv: row 3, column 'lead_officer_email'" in result.output
    assert "plan.csv: row 3, column 'completion_date': '01/12/2026' is not a date" in result.output
    assert session.execute(sa.select(sa.func.count()).select_from(PlanOutcome)).scalar_one() == 0
    rows[1].update(outcome="O1", lead_officer_email=SERVICE_MANAGER, completion_date="2027-01-15")
    write_csv(path, rows, columns)
    result = cli("plan", "import", path, "--year", "2026", "--as-of", "2026-11-25")
    assert result.exit_code == 0, result.output
    assert "1 new outcomes, 1 new objectives, 2 new activities, 0 updated" in result.stdout
    rows[0].update(progress="Half done", completed_on="2026-11-30")
    write_csv(path, rows, columns)
    result = cli("plan", "import", path, "--year", "2026")
    assert "0 new activities, 2 updated" in result.stdout
    session.expire_all()
    done = session.execute(sa.select(PlanActivity).where(PlanActivity.text == "A1")).scalar_one()
    assert done.progress == "Half done" and done.completed_on.isoformat() == "2026-11-30"
    assert session.execute(sa.select(sa.func.count()).select_from(ActionPoint)).scalar_one() == 0
