"""The month's sample in the database (T1, T4, T11; S1-S12; D2; E1; E6) on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import (
    Audit,
    Case,
    EmailMessage,
    SamplingRejection,
    SamplingRun,
    SamplingSelection,
    Staff,
)
from models.db import make_engine
from models.enums import AuditKind, EmailStatus, Role, SamplingKind
from models.settings import get_settings
from models.types import utcnow
from tasks.outbox import send_pending
from tasks.sampling.monthly import due_date, sample_month
from tasks.workdays import Month, first_working_day
from tests.smtp import smtp_server, text_of

DEMO_DAY = date(2026, 11, 25)


# The tests with a database here run on a copy of the demo service (tests/demo_service.py).
pytestmark = pytest.mark.demo(seed=11, as_of=DEMO_DAY)


@pytest.fixture
def service(request: pytest.FixtureRequest, session: Session) -> Session:
    """The demo service, imported through the real importers (once, as the template copied)."""
    assert request.node.get_closest_marker("demo"), "a test using `service` needs its demo mark"
    return session


def _count(session: Session, model: type) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_d2_deadline_is_end_of_week_3_but_never_fewer_than_10_working_days() -> None:
    assert due_date(Month(2026, 12), date(2026, 12, 1)) == date(2026, 12, 21)
    # A run late in the month: 10 working days on, over Christmas and the substitute Boxing Day.
    assert due_date(Month(2026, 12), date(2026, 12, 15)) == date(2026, 12, 31)


def test_month_sample_assigns_by_the_rules(service: Session) -> None:
    on = date(2027, 1, 4)  # the first working day of the quarter's first month
    result = sample_month(service, on)
    assert result.created
    audits = service.exec(select(Audit)).all()
    staff = {s.id: s for s in service.exec(select(Staff))}
    cases = {c.id: c for c in service.exec(select(Case))}
    by_role = Counter(staff[a.auditor_id].role for a in audits if a.kind is AuditKind.CASE_FILE)
    managers = [s for s in staff.values() if s.role is Role.OPERATIONAL_MANAGER and s.active]
    assert by_role[Role.OPERATIONAL_MANAGER] >= 3 * len(managers)  # S9
    assert by_role[Role.QA_MANAGER] == 3
    assert by_role[Role.SERVICE_MANAGER] == 2  # S9: quarterly, first month of the quarter
    supervision = [a for a in audits if a.kind is AuditKind.SUPERVISION_FILE]
    assert {a.case_id for a in supervision} == {
        a.case_id
        for a in audits
        if a.kind is AuditKind.CASE_FILE and staff[a.auditor_id].role is Role.SERVICE_MANAGER
    }
    for a in audits:
        case = cases[a.case_id]
        assert a.auditor_id != case.case_manager_id  # S10
        assert a.three_way_meeting == (
            staff[case.case_manager_id].line_manager_id != a.auditor_id
        )  # S10
        assert a.due_on == due_date(Month(2027, 1), on)  # D2
        if a.kind is not AuditKind.OBSERVATION:
            assert (on - case.opened_on).days > 42  # S1
        if staff[a.auditor_id].role is Role.OPERATIONAL_MANAGER and a.kind is AuditKind.CASE_FILE:
            assert case.team_id == staff[a.auditor_id].team_id  # S6: from their own team
    families = {cases[a.case_id].order_type.family for a in audits if a.kind is AuditKind.CASE_FILE}
    assert {"Referral Order", "YRO", "DTO"} <= families  # S5

    # S12: the manifest: every run with its seed, rules, pool and make-up; every selection.
    runs = service.exec(select(SamplingRun)).all()
    assert all(r.seed and r.rules and r.pool_size and r.pool_makeup["order_type"] for r in runs)
    assert _count(service, SamplingSelection) == len(
        [a for a in audits if a.kind is not AuditKind.SUPERVISION_FILE]
    )
    assert {r.kind for r in runs} == {
        SamplingKind.MONTHLY,
        SamplingKind.QUARTERLY,
        SamplingKind.OBSERVATION,
    }


def test_every_case_holder_is_sampled_within_two_months(service: Session) -> None:
    """S6: across two consecutive months every active case manager with an eligible case is sampled."""
    december, january = date(2026, 12, 1), date(2027, 1, 4)
    sample_month(service, december)
    sample_month(service, january)
    sampled = {
        a.subject_staff_id
        for a in service.exec(select(Audit).where(Audit.kind == AuditKind.CASE_FILE))
    }
    eligible = {
        c.case_manager_id
        for c in service.exec(select(Case))
        if c.closed_on is None and (december - c.opened_on).days > 42
    }
    active = {
        s.id
        for s in service.exec(
            select(Staff).where(Staff.role == Role.CASE_MANAGER, Staff.active == sa.true())
        )
    }
    expected = eligible & active
    assert expected, "no active case manager holds an eligible case: nothing would be proved"
    assert expected <= sampled, f"never sampled: {sorted(expected - sampled)}"


def test_a_case_selected_within_six_weeks_is_passed_over_and_recorded(service: Session) -> None:
    """S4: January's draws meet December's selections: they are rejected with the reason kept."""
    sample_month(service, date(2026, 12, 1))
    december = {a.case_id for a in service.exec(select(Audit))}
    sample_month(service, date(2027, 1, 4))
    january = service.exec(
        select(Audit).where(Audit.period == "2027-01", Audit.kind != AuditKind.OBSERVATION)
    ).all()
    assert not {a.case_id for a in january} & december
    rejections = service.exec(select(SamplingRejection)).all()
    assert rejections and all(r.reason.startswith(("S4", "S10")) for r in rejections)


def test_rerun_changes_nothing_and_sends_nothing(service: Session) -> None:
    """S11: the same date again: same selection, no new audits, no second email."""
    on = date(2026, 12, 1)
    sample_month(service, on)
    before = (_count(service, Audit), _count(service, EmailMessage), _count(service, SamplingRun))
    again = sample_month(service, on)
    assert not again.created
    assert (
        _count(service, Audit),
        _count(service, EmailMessage),
        _count(service, SamplingRun),
    ) == before


@pytest.mark.postgres
def test_two_runs_at_the_same_moment_assign_once(service: Session, db_url: str) -> None:
    """S11: two processes race on PostgreSQL; the unique constraint lets exactly one assign."""
    if not db_url.startswith("postgresql"):
        pytest.skip("concurrency is proved on PostgreSQL")
    on, results, barrier = date(2026, 12, 1), [], threading.Barrier(2)

    def run() -> None:
        engine = make_engine(db_url)
        with Session(engine) as s:
            barrier.wait()
            results.append(sample_month(s, on).created)
        engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    service.expire_all()
    keys = [(a.case_id, a.kind, a.period) for a in service.exec(select(Audit))]
    assert len(keys) == len(set(keys)) > 0
    emails = [m.key for m in service.exec(select(EmailMessage))]
    assert len(emails) == len(set(emails))


def test_emails_reach_a_real_smtp_server_one_per_auditor_without_names(
    service: Session, monkeypatch
) -> None:
    """E1, E5, E6: one email per auditor with the .ics; line managers told; no young person's name."""
    sample_month(service, date(2026, 12, 1))
    names = [n for (n,) in service.execute(sa.select(Case.young_person_name))]
    auditors = {a.auditor_id for a in service.exec(select(Audit))}
    with smtp_server() as (recorder, port):
        monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("YOTQA_SMTP_PORT", str(port))
        get_settings.cache_clear()
        report = send_pending(service, get_settings())
        assert report.sent == _count(service, EmailMessage) and report.failed == 0
        assert send_pending(service, get_settings()).sent == 0  # nothing is sent twice
    get_settings.cache_clear()
    assignments = [m for m in recorder.messages if m["X-Yotqa-Key"].startswith("assignment:")]
    assert len(assignments) == len(auditors)
    assert len({m["To"] for m in assignments}) == len(auditors)
    assert any(m["X-Yotqa-Key"].startswith("team-notice:") for m in recorder.messages)
    for message in recorder.messages:
        body = text_of(message) + str(message["Subject"])
        assert not [n for n in names if n in body]  # E5
    ics = [p for m in assignments for p in m.walk() if p.get_content_type() == "text/calendar"]
    assert len(ics) == len(assignments)
    assert (
        "BEGIN:VEVENT" in ics[0].get_content()
        and "DTSTART;VALUE=DATE:20261221" in ics[0].get_content()
    )
    sample = assignments[0]
    text = text_of(sample)
    assert "Deadline" in text and "Why selected" in text and "Three-way meeting" in text
    # L1: each audit's own links (the form; "cannot be done"), in the text and the HTML part,
    # and the auditor's list of open items; no Prefect UI or command line for managers.
    parts = {
        p.get_content_type(): p.get_content() for p in sample.walk() if p.get_content_maintype() == "text"
    }
    listed = parts["text/plain"].count("Why selected:")
    for kind in ("text/plain", "text/html"):
        links = set(re.findall(r"http://127\.0\.0\.1:8400/l/[A-Za-z0-9_.-]+", parts[kind]))
        assert listed >= 1 and len(links) == 2 * listed + 1, kind
    assert "record-audit" not in text and "yotqa audits" not in text


def test_failing_smtp_server_loses_nothing_and_duplicates_nothing(
    service: Session, monkeypatch
) -> None:
    """E6: refused, then 451, then accepted: every message delivered exactly once; 550 is failed."""
    sample_month(service, date(2026, 12, 1))
    total = _count(service, EmailMessage)
    with smtp_server() as (_, port):
        pass  # the port is free again: nothing listens, so connecting is refused
    monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("YOTQA_SMTP_PORT", str(port))
    get_settings.cache_clear()
    refused = send_pending(service, get_settings())
    assert (refused.sent, refused.retrying) == (0, total)
    with smtp_server(
        replies=["451 4.3.0 Try again later"] * 2 + ["550 5.1.1 No such user"], port=port
    ) as (recorder, _):
        assert send_pending(service, get_settings()).sent == 0  # not due again yet: backoff
        first = send_pending(service, get_settings(), now=utcnow() + timedelta(hours=1))
        assert (first.retrying, first.failed) == (2, 1)
        second = send_pending(service, get_settings(), now=utcnow() + timedelta(hours=6))
        assert second.sent == 2
    get_settings.cache_clear()
    statuses = Counter(m.status for m in service.exec(select(EmailMessage)))
    assert statuses == {EmailStatus.SENT: total - 1, EmailStatus.FAILED: 1}
    keys = [m["X-Yotqa-Key"] for m in recorder.messages]
    assert len(keys) == len(set(keys)) == total - 1
    failed = service.exec(
        select(EmailMessage).where(EmailMessage.status == EmailStatus.FAILED)
    ).one()
    assert "550" in failed.last_error


def test_without_an_smtp_host_messages_are_written_as_eml_files(
    service: Session, settings_env
) -> None:
    sample_month(service, first_working_day(2026, 12))
    report = send_pending(service, get_settings())
    files = sorted((get_settings().output_dir / "outbox").glob("*.eml"))
    assert len(files) == report.written == _count(service, EmailMessage)
    assert report.sent == 0  # nobody received them: they are files
    statuses = {s for (s,) in service.execute(sa.select(EmailMessage.status))}
    assert statuses == {EmailStatus.WRITTEN}
    assert b"To: " in files[0].read_bytes()


def test_rerunning_an_earlier_date_passes_over_later_selections(service: Session) -> None:
    """S4 both ways: a month re-run for an earlier date never clashes with newer audits."""
    sample_month(service, date(2026, 12, 15))
    december = {a.case_id for a in service.exec(select(Audit))}
    service.execute(sa.delete(SamplingSelection))
    service.execute(
        sa.update(Audit).values(period="2026-11", sampling_run_id=None)
    )  # as if November's
    service.execute(sa.delete(SamplingRejection))
    service.execute(sa.delete(SamplingRun))
    service.commit()
    result = sample_month(service, date(2026, 12, 1))
    assert result.created
    new = {
        a.case_id
        for a in service.exec(select(Audit).where(Audit.period == "2026-12"))
        if a.kind is not AuditKind.OBSERVATION
    }
    assert new and not new & december


def _waiting_by_manager(session: Session) -> dict[int, int]:
    """Active case managers holding a case, not yet observed this year, per line manager."""
    observed = {
        a.subject_staff_id
        for a in session.exec(select(Audit).where(Audit.kind == AuditKind.OBSERVATION))
    }
    holders = {c.case_manager_id for c in session.exec(select(Case)) if c.closed_on is None}
    return Counter(
        s.line_manager_id
        for s in session.exec(
            select(Staff).where(Staff.role == Role.CASE_MANAGER, Staff.active == sa.true())
        )
        if s.id not in observed and s.id in holders and s.line_manager_id is not None
    )


def test_a6_observations_are_spread_per_manager_not_across_the_service(
    service: Session,
) -> None:
    """A6 (S9, T11): from October (six months of the year left) each manager observes their own
    share of their waiting case managers every month (ceil(waiting / months left)), so no
    manager carries the service's month while another, with case managers waiting, has none."""
    for on, months_left in ((date(2026, 10, 1), 6), (date(2026, 11, 2), 5)):
        waiting = _waiting_by_manager(service)
        assert len(waiting) >= 2, "the demo needs two managers with case managers waiting"
        sample_month(service, on)
        observations = Counter(
            a.auditor_id
            for a in service.exec(
                select(Audit).where(
                    Audit.kind == AuditKind.OBSERVATION, Audit.period == f"{on:%Y-%m}"
                )
            )
        )
        expected = {m: -(-n // months_left) for m, n in waiting.items()}
        assert observations == expected, on
