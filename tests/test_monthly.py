"""Q1 monthly outputs: the case-level data set (T2) and the exception report (T3)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Audit, Case, EmailMessage, ExceptionFinding
from models.enums import AuditCategory, ImportKind
from models.errors import DataFileError
from tasks.demo import YOUNG_FIRST_NAMES, load_demo, write_demo_files
from tasks.importing import import_file
from tasks.monthly.case_level import build_case_level, write_case_level
from tasks.monthly.exceptions import load_rules, run_exception_report, write_exceptions
from tasks.sampling.monthly import sample_month
from tasks.sampling.pool import open_on
from tests.factories import CM_B, MANAGER, base_staff, case_row, write_csv


def test_case_level_data_set_matches_the_database(session: Session, tmp_path: Path) -> None:
    """T2: open cases per team and case manager, gaps in compliance audits, audits due and done."""
    load_demo(session, write_demo_files(tmp_path / "demo", seed=4, as_of=date(2026, 11, 25)))
    sample_month(session, date(2026, 12, 1))
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


def test_monthly_flows_run_under_prefect(prefect_harness, cli, session: Session) -> None:
    from flows.monthly_outputs import case_level_data, exception_report
    from models.settings import get_settings

    assert cli("demo-data", "--as-of", "2026-11-25").exit_code == 0
    get_settings.cache_clear()
    t2 = case_level_data(as_of=date(2026, 12, 17))
    assert Path(t2["path"]).is_file() and t2["summary"]["open cases"] > 0
    t3 = exception_report(as_of=date(2026, 12, 1))
    assert Path(t3["path"]).is_file() and t3["exceptions"] >= 1
    statuses = {
        s
        for (s,) in session.execute(
            sa.select(EmailMessage.status).where(EmailMessage.kind == "exceptions")
        )
    }
    assert statuses == {"sent"}
