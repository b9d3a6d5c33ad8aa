"""Q1 monthly outputs: the case-level data set (T2) and the exception report (T3)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Audit, Case, EmailMessage, ExceptionFinding
from models.enums import AuditCategory, ImportKind
from models.errors import DataFileError
from models.settings import get_settings
from tasks.demo import YOUNG_FIRST_NAMES
from tasks.importing import import_file
from tasks.monthly.case_level import build_case_level, write_case_level
from tasks.monthly.exceptions import load_rules, run_exception_report, write_exceptions
from tasks.sampling.pool import open_on
from tests.conftest import artifacts_of
from tests.factories import CM_B, MANAGER, base_staff, case_row, write_csv

# The demo service (seed 4) with December's sample drawn, copied for each test that asks.
SAMPLED = pytest.mark.demo(seed=4, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))


@SAMPLED
def test_case_level_data_set_matches_the_database(session: Session, tmp_path: Path) -> None:
    """T2: open cases per team and case manager, gaps in compliance audits, audits due and done."""
    on = date(2026, 12, 17)
    data = build_case_level(session, on)
    path = write_case_level(data, tmp_path / "t2.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [
        "Summary",
        "Open cases",
        "By case manager",
        "Not yet audited",
        "Audits this month",
    ]
    open_count = session.execute(
        sa.select(sa.func.count()).select_from(Case).where(open_on(on))
    ).scalar_one()
    assert book["Open cases"].max_row - 1 == open_count
    assert (
        sum(r[2] for r in list(book["By case manager"].iter_rows(values_only=True))[1:])
        == open_count
    )
    audited = {
        a.case_id
        for a in session.exec(select(Audit).where(Audit.category == AuditCategory.COMPLIANCE))
    }
    gaps = [
        c
        for c in session.exec(select(Case).where(open_on(on)))
        if (on - c.opened_on).days > 42 and c.id not in audited
    ]
    assert book["Not yet audited"].max_row - 1 == len(gaps)
    due = session.exec(
        select(Audit).where(Audit.due_on >= date(2026, 12, 1), Audit.due_on <= date(2026, 12, 31))
    ).all()
    assert book["Audits this month"].max_row - 1 == len(due) > 0
    text = " ".join(
        str(c) for ws in book for row in ws.iter_rows(values_only=True) for c in row if c
    )
    assert not [n for n in YOUNG_FIRST_NAMES if f"{n} " in text]  # E5: references only


@pytest.fixture
def dirty(session: Session, tmp_path: Path) -> Session:
    """A caseload with one case for each exception rule."""
    import_file(
        session,
        ImportKind.STAFF,
        write_csv(tmp_path / "s.csv", base_staff()),
        as_of=date(2026, 6, 1),
    )
    rows = [
        case_row(case_ref="ETH", ethnicity="Not stated"),
        case_row(case_ref="ROSH", young_person_ref="YP2", rosh_level="high", mappa_level=""),
        case_row(case_ref="LEFT", young_person_ref="YP3", case_manager_email=CM_B),
        case_row(case_ref="DUP1", young_person_ref="YP4", date_of_birth="2010-01-01"),
        case_row(case_ref="DUP2", young_person_ref="YP4", date_of_birth="2010-01-02"),
        case_row(
            case_ref="OOC",
            young_person_ref="YP5",
            order_type="out_of_court",
            opened_on="2026-01-05",
        ),
        case_row(case_ref="CLEAN", young_person_ref="YP6"),
    ]
    import_file(
        session, ImportKind.CASES, write_csv(tmp_path / "c.csv", rows), as_of=date(2026, 7, 1)
    )
    leavers = base_staff()
    leavers[3]["active"] = "no"  # Bob, who holds LEFT, has left
    import_file(
        session, ImportKind.STAFF, write_csv(tmp_path / "s2.csv", leavers), as_of=date(2026, 7, 1)
    )
    return session


def test_exception_report_finds_each_rule_and_tells_the_team_manager_once(
    dirty: Session, tmp_path: Path
) -> None:
    report = run_exception_report(dirty, date(2026, 12, 1))
    found = {(r["case"], r["rule"]) for r in report.rows}
    assert found == {
        ("ETH", "Ethnicity not recorded"),
        ("ROSH", "High or very high ROSH with no MAPPA level recorded"),
        ("LEFT", "Open case held by someone who has left"),
        ("DUP1", "The same young person with different dates of birth"),
        ("DUP2", "The same young person with different dates of birth"),
        ("OOC", "Out-of-court disposal open for more than six months"),
    }
    email = dirty.exec(select(EmailMessage).where(EmailMessage.kind == "exceptions")).one()
    assert email.to_addrs == [MANAGER] and "6 records in North" in email.body_text
    assert "Record the young person's ethnicity" in email.body_text  # each exception with its fix
    again = run_exception_report(
        dirty, date(2026, 12, 1)
    )  # a re-run: same findings, no second email
    assert len(again.rows) == 6 and again.emails == 0
    path = write_exceptions(report, load_rules(), tmp_path / "t3.xlsx")
    summary = list(openpyxl.load_workbook(path)["Summary"].iter_rows(values_only=True))
    assert summary[1][:3] == ("Ethnicity not recorded", 1, 0)


def test_fixes_since_last_month_are_counted(dirty: Session, tmp_path: Path) -> None:
    run_exception_report(dirty, date(2026, 12, 1))
    fixed = [
        case_row(case_ref="ETH", ethnicity="White British"),
        case_row(case_ref="ROSH", young_person_ref="YP2", rosh_level="high", mappa_level="level_1"),
    ]
    import_file(
        dirty, ImportKind.CASES, write_csv(tmp_path / "fix.csv", fixed), as_of=date(2026, 12, 20)
    )
    report = run_exception_report(dirty, date(2027, 1, 4))
    assert report.fixed == 2
    assert (
        dirty.execute(
            sa.select(sa.func.count())
            .select_from(ExceptionFinding)
            .where(ExceptionFinding.period == "2027-01")
        ).scalar_one()
        == 4
    )


def test_a_rule_naming_an_unknown_check_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {code: x, check: telepathy, title: T, fix: F}\n"
        "  - {code: Bad Code, check: closed_before_opened, title: T, fix: F}\n"
    )
    with pytest.raises(DataFileError) as caught:
        load_rules(path)
    assert "rule 1 (x): field 'check': unknown check 'telepathy'" in str(caught.value)
    assert "rule 2: field 'code'" in str(caught.value)


def _run(name: str, as_of: date) -> tuple[dict[str, Any], set[str]]:
    """Run the job's flow; what it returned and the keys of the artifacts its run made."""
    from flows.timetable import FLOWS

    get_settings.cache_clear()
    state = FLOWS[name](as_of=as_of, return_state=True)
    assert state.is_completed(), state.message
    return state.result(), set(artifacts_of(state))


@pytest.mark.demo(as_of="2026-11-25")
def test_case_level_data_flow_writes_its_data_set_under_prefect(prefect_harness, cli) -> None:
    """T2."""
    t2, artifacts = _run("case-level-data", date(2026, 12, 17))
    assert Path(t2["path"]).is_file() and t2["summary"]["open cases"] > 0
    assert {"case-level-data-202612", "case-level-data-xlsx-202612"} <= artifacts


@pytest.mark.demo(as_of="2026-11-25")
def test_exception_report_flow_writes_its_report_and_emails_under_prefect(
    prefect_harness, cli, session: Session
) -> None:
    """T3: with no SMTP host set, the team managers' emails are written as files."""
    t3, artifacts = _run("exception-report", date(2026, 12, 1))
    assert Path(t3["path"]).is_file() and t3["exceptions"] >= 1
    statuses = {
        s
        for (s,) in session.execute(
            sa.select(EmailMessage.status).where(EmailMessage.kind == "exceptions")
        )
    }
    assert statuses == {"written"}
    assert {"exceptions-202612", "exceptions-xlsx-202612"} <= artifacts


@pytest.mark.demo(as_of="2026-11-25")
def test_team_audits_report_flow_writes_its_report_under_prefect(prefect_harness, cli) -> None:
    """F1."""
    f1, artifacts = _run("team-audits-report", date(2026, 12, 23))
    assert Path(f1["path"]).is_file()
    assert {"team-audits-202612", "team-audits-xlsx-202612"} <= artifacts


@pytest.mark.demo(as_of="2026-11-25")
def test_feedback_report_flow_writes_its_report_under_prefect(prefect_harness, cli) -> None:
    """F2."""
    f2, artifacts = _run("feedback-report", date(2026, 11, 25))
    assert Path(f2["path"]).is_file()
    assert {"feedback-202611", "feedback-xlsx-202611"} <= artifacts


@SAMPLED
def test_team_audits_report_counts_each_managers_month(session: Session, tmp_path: Path) -> None:
    """Fig. 2: assigned, done on time, overdue, not done with its reason (D4), for the service manager."""
    from models import Staff
    from models.enums import AuditStatus, Role
    from tasks.monthly.reports import send_team_audits_report, team_audits_report
    from tasks.recording.record import mark_not_done

    managers = {
        s.id for s in session.exec(select(Staff).where(Staff.role == Role.OPERATIONAL_MANAGER))
    }
    mine = session.exec(
        select(Audit).where(Audit.auditor_id.in_(managers)).order_by(Audit.id)
    ).all()
    done, skipped = mine[0], mine[1]
    done.status, done.completed_on = AuditStatus.COMPLETED, date(2026, 12, 10)
    session.commit()
    mark_not_done(session, skipped.id, reason="Case transferred out of area", on=date(2026, 12, 15))
    report = team_audits_report(session, date(2026, 12, 23))  # after the week-3 deadline
    totals = [sum(r[i] for r in report.rows) for i in range(2, 7)]
    assert totals == [
        len(mine),
        1,
        1,
        len(mine) - 2,
        1,
    ]  # assigned, done, on time, overdue, not done
    assert report.not_done[0][4] == "Case transferred out of area"
    assert send_team_audits_report(session, report, tmp_path / "f1.xlsx") == 1
    email = session.exec(select(EmailMessage).where(EmailMessage.kind == "team-audits")).one()
    sm = session.exec(select(Staff).where(Staff.role == Role.SERVICE_MANAGER)).one()
    assert email.to_addrs == [sm.email] and "Case transferred out of area" in email.body_text


@pytest.mark.demo(seed=4, as_of=date(2026, 11, 25))
def test_feedback_report_matches_the_feedback_held(session: Session, tmp_path: Path) -> None:
    """Fig. 2: feedback this month and year to date by source and theme; open complaints listed."""
    from models import Feedback
    from tasks.monthly.reports import feedback_report, send_feedback_report

    on = date(2026, 11, 25)
    report = feedback_report(session, on)
    items = session.exec(select(Feedback)).all()
    month = [f for f in items if date(2026, 11, 1) <= f.received_on <= date(2026, 11, 30)]
    year = [f for f in items if date(2026, 4, 1) <= f.received_on <= date(2026, 11, 30)]
    assert len(report.month) == len(month)
    assert sum(r[1] for r in report.by_source) == len(month)
    assert sum(r[2] for r in report.by_source) == len(year)
    assert sum(r[2] for r in report.themes) == sum(len(f.themes) for f in year)
    sent = send_feedback_report(session, report, tmp_path / "f2.xlsx")
    book = openpyxl.load_workbook(tmp_path / "f2.xlsx")
    assert book.sheetnames == ["By source", "Themes", "This month", "Complaints"]
    assert (
        sent
        == len(session.exec(select(EmailMessage).where(EmailMessage.kind == "feedback-data")).all())
        >= 5
    )
