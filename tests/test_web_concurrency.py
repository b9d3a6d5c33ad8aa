"""Submits at the same moment (L2): two tabs on one audit record it once; fifty people submitting
fifty audits at once on PostgreSQL are each recorded once, none lost."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import select

from models import Audit, AuditEvent, EmailMessage, Finding
from models.enums import AuditStatus
from models.settings import get_settings
from tasks.links import RECORD, Links
from tasks.recording.record import questions_for
from tasks.sampling.monthly import sample_month
from tests.web_world import WORLD, World, csrf_of, served

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

ON = date(2027, 2, 3)  # the pages' date: December's, January's and February's audits are open


def _fields(world: World, audit: Audit) -> dict[str, str]:
    fields = {"op": "submit"}
    for q in questions_for(world.session, audit):
        fields[f"q.{q.code}"] = {
            "judgement": "sufficient",
            "yes_no": "no",
            "count": "0",
            "text": "Theft",
        }[q.answer_type.value]
    return fields


def _app(world: World):  # type: ignore[no-untyped-def]
    from web.main import create_app

    get_settings.cache_clear()
    return create_app(today=lambda: ON)


def _link(world: World, audit: Audit) -> str:
    url = Links(world.session, ON).url(audit.auditor_id, RECORD, audit.id, audit.due_on)
    world.session.commit()
    return url[url.index("/l/") :]


def test_two_tabs_submitting_one_audit_at_once_record_it_once(world: World) -> None:
    audit = world.audit()
    path, fields = _link(world, audit), _fields(world, audit)
    with served(_app(world)) as base, httpx.Client(base_url=base, timeout=60) as browser:
        tabs = [csrf_of(browser.get(path).text) for _ in range(2)]  # one browser, one cookie
        start = threading.Barrier(2)

        def submit(token: str) -> httpx.Response:
            start.wait()
            return browser.post(path, data={**fields, "csrf_token": token})

        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(r.status_code for r in pool.map(submit, tabs))
        again = browser.post(path, data={**fields, "csrf_token": tabs[0]})
    assert statuses[0] == 200 and statuses[1] in (409, 410), statuses
    assert again.status_code == 410 and "was recorded on" in again.text
    world.session.expire_all()
    assert world.session.get(Audit, audit.id).status is AuditStatus.COMPLETED
    findings = world.session.exec(select(Finding).where(Finding.audit_id == audit.id)).all()
    assert len(findings) == len(questions_for(world.session, audit))
    recorded = world.session.exec(
        select(AuditEvent).where(AuditEvent.audit_id == audit.id, AuditEvent.event == "recorded")
    ).all()
    assert len(recorded) == 1
    feedback = world.session.exec(select(EmailMessage).where(EmailMessage.kind == "feedback")).all()
    assert len(feedback) == 1


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_fifty_people_submitting_fifty_audits_at_once_are_each_recorded_once(world: World) -> None:
    for month in (date(2027, 1, 4), date(2027, 2, 1)):
        sample_month(world.session, month)
    world.session.commit()
    audits = world.session.exec(
        select(Audit).where(Audit.status == AuditStatus.ASSIGNED).order_by(Audit.id)
    ).all()[:50]
    assert len(audits) == 50
    work = [(a.id, _link(world, a), _fields(world, a)) for a in audits]
    start = threading.Barrier(50)

    def person(path: str, fields: dict[str, str], base: str) -> int:
        with httpx.Client(base_url=base, timeout=120) as browser:
            token = csrf_of(browser.get(path).text)
            start.wait()
            return browser.post(path, data={**fields, "csrf_token": token}).status_code

    with served(_app(world)) as base, ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(lambda w: person(w[1], w[2], base), work))
    assert statuses == [200] * 50, statuses
    world.session.expire_all()
    ids = [a for a, _, _ in work]
    done = world.session.execute(
        sa.select(sa.func.count())
        .select_from(Audit)
        .where(
            Audit.id.in_(ids), Audit.status == AuditStatus.COMPLETED, Audit.recorded_via == "web"
        )  # type: ignore[attr-defined]
    ).scalar_one()
    events = world.session.execute(
        sa.select(AuditEvent.audit_id, sa.func.count())
        .where(AuditEvent.event == "recorded")
        .group_by(AuditEvent.audit_id)
    ).all()
    assert (
        done == 50 and sorted(a for a, _ in events) == sorted(ids) and {n for _, n in events} == {1}
    )
    feedback = world.session.execute(
        sa.select(sa.func.count()).select_from(EmailMessage).where(EmailMessage.kind == "feedback")
    ).scalar_one()
    assert feedback == 50
