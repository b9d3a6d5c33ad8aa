"""The daily chase (E2, D3): a month simulated day by day with the messages known in advance."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import ActionPoint, Audit, ChaseStep, EmailMessage, Staff
from models.enums import ActionStatus, AuditStatus, ImportKind
from models.settings import Settings, get_settings
from models.types import utcnow
from tasks.chase import chase, current_step
from tasks.importing import import_file
from tasks.outbox import send_pending
from tasks.recording.actions import complete_action
from tests.factories import (
    MANAGER,
    SERVICE_MANAGER,
    base_staff,
    staff_row,
    targeted_audit_service,
    write_csv,
)

SETTINGS = Settings()  # reminders 5 and 1 working days before; escalation 5 working days after


@pytest.mark.parametrize(
    ("on", "step"),
    [
        (date(2026, 12, 11), None),
        (date(2026, 12, 14), "reminder-5"),
        (date(2026, 12, 17), "reminder-5"),
        (date(2026, 12, 18), "reminder-1"),
        (date(2026, 12, 21), "reminder-1"),
        (date(2026, 12, 22), "chase"),
        (date(2026, 12, 29), "chase"),
        (date(2026, 12, 30), "escalation"),
    ],
)
def test_step_for_a_deadline_of_21_december(on: date, step: str | None) -> None:
    """E2 over Christmas: 25 and 28 December are not working days."""
    assert current_step(date(2026, 12, 21), on, SETTINGS) == step


@pytest.fixture
def world(session: Session, tmp_path: Path) -> Session:
    """A service manager, a team manager, two case managers, one case audited by the manager."""
    targeted_audit_service(session, tmp_path)
    audit = session.exec(select(Audit)).one()
    assert audit.due_on == date(2026, 12, 21)
    manager = session.exec(select(Staff).where(Staff.email == MANAGER)).one()
    session.add(
        ActionPoint(
            audit_id=audit.id,
            text="Countersign the RMP",
            priority=1,
            owner_id=manager.id,
            deadline=date(2026, 12, 21),
        )
    )
    session.commit()
    return session


def _simulate(session: Session, start: date, end: date) -> dict[date, dict[str, list[str]]]:
    """Run the chase every day; what each person's digest said, day by day."""
    seen: dict[date, dict[str, list[str]]] = {}
    day = start
    while day <= end:
        before = {m.id for m in session.exec(select(EmailMessage))}
        chase(session, day, SETTINGS)
        new = [
            m
            for m in session.exec(select(EmailMessage).order_by(EmailMessage.id))
            if m.id not in before
        ]
        if new:
            seen[day] = {
                m.to_addrs[0]: [
                    line for line in m.body_text.splitlines() if line.startswith("- Case")
                ]
                for m in new
            }
        day += timedelta(days=1)
    return seen


def test_a_month_day_by_day_sends_exactly_the_expected_digests(world: Session) -> None:
    days = _simulate(world, date(2026, 12, 1), date(2027, 1, 8))
    assert sorted(days) == [
        date(2026, 12, 14),
        date(2026, 12, 18),
        date(2026, 12, 22),
        date(2026, 12, 30),
    ]
    # One digest per person per day, whatever the number of items (the audit and the action).
    assert list(days[date(2026, 12, 14)]) == [MANAGER]
    assert len(days[date(2026, 12, 14)][MANAGER]) == 2
    assert list(days[date(2026, 12, 18)]) == [MANAGER]
    assert set(days[date(2026, 12, 22)]) == {
        MANAGER,
        SERVICE_MANAGER,
    }  # chase, copying the line manager
    assert set(days[date(2026, 12, 30)]) == {MANAGER, SERVICE_MANAGER}  # escalation
    sm_digest = next(
        m
        for m in world.exec(select(EmailMessage))
        if m.key.startswith("digest:2026-12-30") and m.to_addrs == [SERVICE_MANAGER]
    )
    assert "ESCALATED TO YOU" in sm_digest.body_text
    steps = [(c.item_type, c.step) for c in world.exec(select(ChaseStep).order_by(ChaseStep.id))]
    assert steps.count(("audit", "escalation")) == steps.count(("action", "escalation")) == 1
    assert world.exec(select(ActionPoint)).one().times_chased == 2


def test_rerun_the_same_day_sends_nothing_new(world: Session) -> None:
    chase(world, date(2026, 12, 14), SETTINGS)
    count = world.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
    report = chase(world, date(2026, 12, 14), SETTINGS)
    assert report.steps == [] and report.digests == 0
    assert world.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one() == count


def test_a_completed_item_gets_nothing_more(world: Session) -> None:
    _simulate(world, date(2026, 12, 1), date(2026, 12, 22))
    action = world.exec(select(ActionPoint)).one()
    complete_action(world, action.id, on=date(2026, 12, 23))
    audit = world.exec(select(Audit)).one()
    audit.status = AuditStatus.COMPLETED
    world.commit()
    assert _simulate(world, date(2026, 12, 23), date(2027, 1, 15)) == {}
    assert world.get(ActionPoint, action.id).status is ActionStatus.COMPLETED


def test_a_missed_day_does_not_cause_a_burst(world: Session) -> None:
    """Down from 10 to 29 December: on return only the current step (escalation is not due yet) is sent."""
    chase(world, date(2026, 12, 29), SETTINGS)
    steps = [c.step for c in world.exec(select(ChaseStep))]
    assert steps == ["chase", "chase"]


def test_a_leavers_audits_go_to_another_manager_of_the_team(world: Session, tmp_path: Path) -> None:
    rows = base_staff() + [
        staff_row(
            email="olu2.manager@yot.example.org",
            name="Second Manager",
            role="operational_manager",
            line_manager_email=SERVICE_MANAGER,
        )
    ]
    rows[1]["active"] = "no"  # the first team manager leaves
    import_file(
        world, ImportKind.STAFF, write_csv(tmp_path / "s2.csv", rows), as_of=date(2026, 12, 15)
    )
    report = chase(world, date(2026, 12, 16), SETTINGS)
    assert report.reassigned == 1
    audit = world.exec(select(Audit)).one()
    heir = world.get(Staff, audit.auditor_id)
    assert heir.email == "olu2.manager@yot.example.org"
    assert audit.due_on == date(2027, 1, 4)  # 10 working days from 16 December, over Christmas
    assert audit.three_way_meeting  # the new auditor is not the case manager's line manager
    notices = world.exec(select(EmailMessage).where(EmailMessage.kind == "reassigned")).all()
    assert sorted(n.to_addrs[0] for n in notices) == sorted([MANAGER, heir.email])


def test_nothing_is_chased_on_a_bank_holiday(world: Session) -> None:
    assert chase(world, date(2026, 12, 28), SETTINGS).steps == []


def test_crash_mid_send_sends_nothing_twice(world: Session, monkeypatch, settings_env) -> None:
    """E6: the process dies after some emails; the next send resends none of them."""
    _simulate(world, date(2026, 12, 1), date(2026, 12, 30))
    import tasks.outbox as outbox

    real, calls = outbox._build, {"n": 0}

    def dying(message, settings):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(message, settings)

    monkeypatch.setattr(outbox, "_build", dying)
    with pytest.raises(KeyboardInterrupt):
        send_pending(world, get_settings())
    monkeypatch.setattr(outbox, "_build", real)
    world.rollback()
    send_pending(world, get_settings())
    files = list((get_settings().output_dir / "outbox").glob("*.eml"))
    keys = [m.key for m in world.exec(select(EmailMessage).where(EmailMessage.status == "written"))]
    assert len(files) == len(keys) == len(set(keys))
    stuck = world.exec(select(EmailMessage).where(EmailMessage.status == "sending")).all()
    assert len(stuck) == 1  # the one being sent when it died: reported, never resent blindly
    total = world.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
    assert len(files) == 2  # the leased rest wait for the lease to run out: none lost
    later = send_pending(world, get_settings(), now=utcnow() + timedelta(minutes=11))
    assert later.written == total - 3
    files = list((get_settings().output_dir / "outbox").glob("*.eml"))
    assert len(files) + len(stuck) == total


def test_chase_flow_runs_under_prefect(
    prefect_harness, world: Session, db_url: str, monkeypatch, settings_env
) -> None:
    from flows.timetable import FLOWS

    chase_overdue = FLOWS["chase-overdue"]

    monkeypatch.setenv("YOTQA_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = chase_overdue(as_of=date(2026, 12, 14))
    assert result["steps"] == 2 and result["digests"] == 1 and result["written"] >= 1
    assert result["sent"] == 0  # no SMTP host: written as files, not sent
    pending = world.exec(select(EmailMessage).where(EmailMessage.status != "written")).all()
    assert pending == []
    assert chase_overdue(as_of=date(2026, 12, 14))["steps"] == 0


def test_a_real_smtp_server_receives_every_digest_once(world: Session, monkeypatch) -> None:
    """E2 and E6 end to end: a month of chasing delivered over SMTP, each message exactly once."""
    from tests.smtp import smtp_server

    _simulate(world, date(2026, 12, 1), date(2027, 1, 8))
    queued = {m.key: m.to_addrs for m in world.exec(select(EmailMessage))}
    with smtp_server() as (recorder, port):
        monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("YOTQA_SMTP_PORT", str(port))
        get_settings.cache_clear()
        first = send_pending(world, get_settings())
        again = send_pending(world, get_settings())
    get_settings.cache_clear()
    assert (first.sent, first.failed, again.sent) == (len(queued), 0, 0)
    received = {m["X-Yotqa-Key"]: m["To"] for m in recorder.messages}
    assert set(received) == set(queued) and len(recorder.messages) == len(queued)
    digests = [k for k in received if k.startswith("digest:")]
    days = [k.split(":")[1] for k in digests]
    for day in set(days):  # one digest per person per day
        people = [received[k] for k in digests if k.split(":")[1] == day]
        assert len(people) == len(set(people))
