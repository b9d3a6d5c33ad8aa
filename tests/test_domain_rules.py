"""Rules that once lived in the command line, tested where they live now: in the domain."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models import EmailMessage, Staff
from models.enums import EmailStatus, ImportKind, Role
from models.errors import InvalidInput
from tasks.demo import holds_a_service, is_demo_service, load_demo_service
from tasks.importing import import_file
from tasks.outbox import queue_email, recent_messages
from tasks.sampling.adhoc import default_themed_auditor
from tasks.simulation import demo_service_for
from tasks.workdays import Month
from tests.factories import base_staff, columns, staff_row, write_csv

ON = date(2026, 11, 25)


def _staff(session: Session, tmp_path: Path, rows: list[dict[str, str]]) -> None:
    path = write_csv(tmp_path / "staff.csv", rows, columns(ImportKind.STAFF))
    import_file(session, ImportKind.STAFF, path, as_of=ON)


# Month.as_of: the day `yotqa pack monthly` compiles a month for ---------------------------


def test_a_month_that_has_ended_is_compiled_as_of_its_last_day() -> None:
    assert Month(2026, 10).as_of(ON) == date(2026, 10, 31)


def test_the_running_month_is_compiled_as_of_today() -> None:
    assert Month(2026, 11).as_of(ON) == ON


def test_a_month_not_yet_begun_is_refused_saying_so() -> None:
    with pytest.raises(InvalidInput, match="2026-12 has not started yet"):
        Month(2026, 12).as_of(ON)


# Who audits a themed sample when nobody is named (S7) ------------------------------------


def test_a_themed_sample_defaults_to_the_qa_manager(session: Session, tmp_path: Path) -> None:
    qa = staff_row(email="quinn.qa@yot.example.org", name="Quinn QA", role="qa_manager", team="")
    _staff(session, tmp_path, [*base_staff(), qa])
    assert default_themed_auditor(session).email == "quinn.qa@yot.example.org"


def test_a_themed_sample_without_a_qa_manager_asks_for_an_auditor(
    session: Session, tmp_path: Path
) -> None:
    _staff(session, tmp_path, base_staff())
    with pytest.raises(InvalidInput, match="no active QA manager.*--auditor"):
        default_themed_auditor(session)


# The demo service goes only into an empty database ------------------------------------------


def test_an_empty_database_holds_no_service(session: Session) -> None:
    assert not holds_a_service(session)


def test_demo_data_is_refused_where_a_service_is_held(session: Session, tmp_path: Path) -> None:
    _staff(session, tmp_path, base_staff())
    assert holds_a_service(session)
    with pytest.raises(InvalidInput, match="already holds staff or cases"):
        load_demo_service(session, tmp_path / "demo", seed=1, as_of=ON)
    assert not (tmp_path / "demo").exists()  # refused before anything was written


def test_a_service_of_demo_staff_is_the_demo_service(session: Session, tmp_path: Path) -> None:
    _staff(session, tmp_path, base_staff())  # the factories' staff are at the demo's domain
    assert is_demo_service(session)


def test_simulate_refuses_a_real_service(session: Session, tmp_path: Path, settings_env) -> None:
    _staff(session, tmp_path, [*base_staff(), staff_row(email="real.person@council.gov.uk")])
    assert not is_demo_service(session)
    with pytest.raises(InvalidInput, match="holds a real service"):
        demo_service_for(session, ON)


def test_simulate_uses_the_demo_service_already_loaded(
    session: Session, tmp_path: Path, settings_env
) -> None:
    _staff(session, tmp_path, base_staff())
    loaded, _ = demo_service_for(session, ON)
    assert not loaded
    assert len(session.exec(select(Staff)).all()) == len(base_staff())


# The outbox listing -------------------------------------------------------------------------


def test_recent_messages_come_newest_first_and_filter_by_status(session: Session) -> None:
    for n in range(3):
        queue_email(
            session,
            key=f"k{n}",
            kind="notice",
            template="notice",
            subject=f"Message {n}",
            to=["someone@yot.example.org"],
            paragraphs=[],
            figures=[],
            table=None,
            attached=[],
        )
    session.commit()
    first = session.exec(select(EmailMessage).where(EmailMessage.key == "k0")).one()
    first.status = EmailStatus.FAILED
    session.commit()
    assert [m.key for m in recent_messages(session)] == ["k2", "k1", "k0"]
    assert [m.key for m in recent_messages(session, limit=2)] == ["k2", "k1"]
    assert [m.key for m in recent_messages(session, EmailStatus.FAILED)] == ["k0"]


def test_queue_email_is_once_per_key(session: Session) -> None:
    message = {
        "kind": "notice",
        "template": "notice",
        "subject": "Once",
        "to": ["someone@yot.example.org"],
        "paragraphs": [],
        "figures": [],
        "table": None,
        "attached": [],
    }
    assert queue_email(session, key="once", **message)
    assert not queue_email(session, key="once", **message)
    assert len(session.exec(select(EmailMessage)).all()) == 1


def test_queue_email_greets_one_member_of_staff_by_name(session: Session, tmp_path: Path) -> None:
    _staff(session, tmp_path, base_staff())
    ann = session.exec(
        select(Staff).where(Staff.role == Role.CASE_MANAGER).order_by(Staff.id)
    ).first()
    assert ann is not None
    queue_email(
        session,
        key="hello",
        kind="notice",
        template="notice",
        subject="Hello",
        to=[ann],
        paragraphs=[],
        figures=[],
        table=None,
        attached=[],
    )
    message = session.exec(select(EmailMessage)).one()
    assert ann.name in message.body_text and message.to_addrs == [ann.email]
