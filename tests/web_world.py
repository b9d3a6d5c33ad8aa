"""A served service for the people's pages: the demo service with December's sample drawn, its
emails queued, the web app (in-process or on a real port), and helpers to act as a person."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from sqlmodel import Session, select

from models import ActionPoint, Audit, EmailMessage, Staff
from models.enums import AuditKind, AuditStatus
from models.settings import get_settings
from tasks.links import Links
from tasks.recording.form import ActionIn, Answer, AuditForm
from tasks.recording.record import questions_for, record_audit
from tests.demo_service import demo_of, demo_of_mark
from tests.smtp import free_port

SAMPLED_ON = date(2026, 12, 1)
TODAY = date(2026, 12, 3)  # the pages' date in these tests
LINK = re.compile(r"https?://[^/\s\"<>]+(/l/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class World:
    session: Session
    url: str  # the database
    var: Path

    def audit(self, *, three_way: bool | None = None) -> Audit:
        """An assigned case-file audit of the month (the first, or the first with/without a
        three-way meeting)."""
        query = select(Audit).where(
            Audit.kind == AuditKind.CASE_FILE, Audit.status == AuditStatus.ASSIGNED
        )
        if three_way is not None:
            query = query.where(Audit.three_way_meeting == (sa.true() if three_way else sa.false()))
        return self.session.exec(query.order_by(Audit.id)).first()  # type: ignore[return-value]

    def person(self, staff_id: int) -> Staff:
        return self.session.get(Staff, staff_id)  # type: ignore[return-value]

    def link(self, person_id: int, purpose: str, item_id: int, deadline: date = TODAY) -> str:
        """The path of a person's link, as an email would carry it."""
        url = Links(self.session, TODAY).url(person_id, purpose, item_id, deadline)
        self.session.commit()
        return url[url.index("/l/") :]

    def emails(self, kind: str) -> list[EmailMessage]:
        self.session.expire_all()
        return list(
            self.session.exec(
                select(EmailMessage).where(EmailMessage.kind == kind).order_by(EmailMessage.id)
            )
        )

    def record(self, audit: Audit, actions: list[ActionIn] | None = None) -> Audit:
        """Record an audit through the domain (as a form file would), with `actions`."""
        answers = {
            q.code: Answer(
                value={"judgement": "sufficient", "yes_no": "yes", "count": 1, "text": "Burglary"}[
                    q.answer_type.value
                ]
            )
            for q in questions_for(self.session, audit)
        }
        form = AuditForm(
            audit_id=audit.id,
            recorded_by=self.person(audit.auditor_id).email,
            answers=answers,  # type: ignore[arg-type]
            action_points=actions or [],
        )
        return record_audit(self.session, form, on=TODAY, source="test", via="file")

    def action_of_case_manager(self) -> ActionPoint:
        """A recorded audit (the month's last case-file audit, so `audit()` stays assigned) with
        one action point owned by its case manager."""
        audit = self.session.exec(
            select(Audit).where(Audit.kind == AuditKind.CASE_FILE).order_by(Audit.id.desc())  # type: ignore[union-attr]
        ).first()
        owner = self.person(audit.subject_staff_id)
        self.record(
            audit,
            [
                ActionIn(
                    priority=1,
                    text="Countersign the RMP",
                    owner_email=owner.email,
                    deadline=date(2026, 12, 18),
                )
            ],
        )
        return self.session.exec(select(ActionPoint).where(ActionPoint.audit_id == audit.id)).one()


# The world's database: the demo service sampled for December 2026, its emails' links to the
# in-process test client. Every test that uses `world` carries this mark (as `pytestmark`), and
# `db_url` hands it a copy of the world built once (tests/demo_service.py).
WORLD_ENV = {"YOTQA_WEB_URL": "http://testserver"}
WORLD = pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=SAMPLED_ON, env=WORLD_ENV)


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    session: Session,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    """The demo service sampled for December 2026; settings point at this test's folder (which
    holds the world's own, with the key its links were signed with)."""
    if demo_of(request.node) != demo_of_mark(WORLD):
        pytest.fail("a test using `world` must be marked with tests.web_world.WORLD")
    var = tmp_path / "var"
    monkeypatch.setenv("YOTQA_DATABASE_URL", db_url)
    monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(var))
    for name, value in WORLD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("YOTQA_WEB_SECRET", raising=False)
    get_settings.cache_clear()
    yield World(session, db_url, var)
    get_settings.cache_clear()


def app_for(world: World) -> FastAPI:
    """The people's pages on the world's database, with today pinned to TODAY."""
    from web.main import create_app

    get_settings.cache_clear()
    return create_app(today=lambda: TODAY)


@pytest.fixture
def client(world: World) -> Iterator[object]:
    from fastapi.testclient import TestClient

    with TestClient(app_for(world)) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form"
    return found.group(1)


def links_in(text: str) -> list[str]:
    """The link paths in an email body, in order, once each."""
    return list(dict.fromkeys(LINK.findall(text)))


@contextmanager
def served(app: FastAPI, *, log_config: dict[str, object] | None = None) -> Iterator[str]:
    """The app on a real port in this process (uvicorn in a thread); yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=log_config, log_level="info", lifespan="off"
    )
    with running(config) as url:
        yield url


@contextmanager
def running(config: uvicorn.Config) -> Iterator[str]:
    """uvicorn with `config` in a thread of this process until the block ends; yields its base
    URL."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    try:
        yield f"http://{config.host}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def email_link(message: EmailMessage, index: int = 0) -> str:
    return links_in(message.body_text)[index]
