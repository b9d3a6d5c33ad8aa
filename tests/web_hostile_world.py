"""The hostile campaign against the people's pages (L1) served on a real port, on both backends:
what tests/test_web_hostile_*.py share.

Every request of a campaign says what it is and asserts its status, the safe headers every
response carries, and that the database is exactly as it was (a snapshot of the audit, finding,
actionpoint, auditevent, auditdraft, deadlinerequest, acknowledgement, emailmessage and link
tables before and after: counts, a digest and the rows), except where a request is meant to
change something, where exactly that change is asserted (`expect`: which ids changed or went,
how many rows came). Pages mint links as they are opened (their own-list link, the other links
they show), so each campaign first mints every person's own-list link and opens its pages once
(`warm_up`); after that a refused request has nothing left to mint, and a request that may
rightly add a draft or links says so. At the end of each campaign the server's own log output
(uvicorn with `web.serve.log_config()`, captured from the process's stdout and stderr) must hold
no traceback, no error and no link token: every address of a link is logged as /l/[link].
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from models import Audit, EmailMessage, Link, Staff
from models.enums import AnswerType, AuditKind, AuditStatus, EmailStatus
from models.settings import get_settings
from models.types import as_utc, utcnow
from tasks.links import ITEMS, token_of
from tasks.outbox import send_pending
from tasks.recording.record import questions_for
from tests.web_world import World, app_for, csrf_of, served
from web.serve import log_config

TABLES = (
    "audit",
    "finding",
    "actionpoint",
    "auditevent",
    "auditdraft",
    "deadlinerequest",
    "acknowledgement",
    "emailmessage",
    "link",
)
ANY = None  # in a change spec: any number of rows (0 too)
ACTION_DEADLINE = date(2026, 12, 18)


# The database, before and after ------------------------------------------------------------


class Snapshot:
    """Every row of TABLES, by id, as text: counts and a digest say whether anything moved, the
    rows say what."""

    def __init__(self, engine: sa.Engine) -> None:
        self.rows: dict[str, dict[int, str]] = {}
        with engine.connect() as conn:
            for name in TABLES:
                table = SQLModel.metadata.tables[name]
                result = conn.execute(sa.select(table).order_by(table.c.id))
                self.rows[name] = {row.id: repr(tuple(row)) for row in result}

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows.items()}

    @property
    def digest(self) -> str:
        text = repr(sorted((n, sorted(r.items())) for n, r in self.rows.items()))
        return hashlib.sha256(text.encode()).hexdigest()


Diff = dict[str, dict[str, list[int]]]


def diff(before: Snapshot, after: Snapshot) -> Diff:
    """Per table that moved: the ids added, removed and changed."""
    found: Diff = {}
    for name in TABLES:
        old, new = before.rows[name], after.rows[name]
        moved = {
            "added": sorted(set(new) - set(old)),
            "removed": sorted(set(old) - set(new)),
            "changed": sorted(i for i in set(old) & set(new) if old[i] != new[i]),
        }
        if any(moved.values()):
            found[name] = moved
    return found


def expect(**spec: dict[str, Any]) -> Callable[[str, Diff], None]:
    """A check that the database changed as `spec` says and in no other way: per table, the ids
    `changed` and `removed` and how many rows `added`, each exactly or ANY."""

    def check(what: str, found: Diff) -> None:
        assert set(found) <= set(spec), f"{what}: tables changed beyond {set(spec)}: {found}"
        for name, allowed in spec.items():
            moved = found.get(name, {"added": [], "removed": [], "changed": []})
            for kind in ("changed", "removed"):
                ids = allowed.get(kind, [])
                if ids is not ANY:
                    assert moved[kind] == sorted(ids), (what, name, kind, moved)
            added = allowed.get("added", 0)
            if added is not ANY:
                assert len(moved["added"]) == added, (what, name, "added", moved)

    return check


# The campaign ------------------------------------------------------------------------------


def safe_headers(what: str, response: httpx.Response) -> None:
    csp = response.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, (what, csp)
    assert response.headers.get("referrer-policy") == "no-referrer", what
    assert response.headers.get("x-frame-options") == "DENY", what
    assert response.headers.get("x-content-type-options") == "nosniff", what


class Campaign:
    """A browser (httpx over real HTTP) against the served app; `send` is one hostile request."""

    def __init__(self, world: World, base: str) -> None:
        self.world, self.base = world, base
        self.engine = world.session.get_bind()
        self.browsers: list[httpx.Client] = []
        self.client = self.browser()
        self.sent: list[tuple[str, str, int]] = []  # (what, method, status)
        self.made_up: list[str] = []  # forged tokens: none may reach the log either
        self.last: Diff = {}  # what the last request changed

    def browser(self) -> httpx.Client:
        """A browser of its own (its own cookie jar)."""
        client = httpx.Client(base_url=self.base, timeout=30)
        self.browsers.append(client)
        return client

    def close(self) -> None:
        for client in self.browsers:
            client.close()

    def page(self, path: str, client: httpx.Client | None = None) -> str:
        """The CSRF field of a page that opens (a GET that must change nothing)."""
        response = self.send(f"open {path[:12]}", "GET", path, 200, client=client)
        return csrf_of(response.text)

    def send(
        self,
        what: str,
        method: str,
        path: str,
        status: int,
        *,
        client: httpx.Client | None = None,
        target: bytes | None = None,
        changes: Callable[[str, Diff], None] | None = None,
        safe: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request; it must answer `status` with safe headers and leave the database as it
        was (or changed as `changes` says)."""
        client = client or self.client
        self.world.session.commit()  # the test's own session holds no transaction open
        before = Snapshot(self.engine)
        request = client.build_request(method, path, **kwargs)
        if target is not None:  # sent as is: httpx would resolve the dot segments itself
            request.extensions["target"] = target
        response = client.send(request)
        self.sent.append((what, method, response.status_code))
        assert response.status_code == status, (
            f"{what}: {method} answered {response.status_code}, not {status}: {response.text[:600]}"
        )
        if safe:
            safe_headers(what, response)
        if not (target.decode() if target else request.url.path).startswith("/static/"):
            assert response.headers.get("cache-control") == "no-store", what
        assert "Traceback" not in response.text and "Exception" not in response.text, what
        self.settle()
        after = Snapshot(self.engine)
        self.last = diff(before, after)
        if changes is None:
            assert (before.counts, before.digest) == (after.counts, after.digest), (
                f"{what}: the database changed: {diff(before, after)}"
            )
        else:
            changes(what, self.last)
        return response

    def settle(self, timeout: float = 15) -> None:
        """Wait for the emails a page queued to be delivered in the background (after its
        response), so the next snapshot is not taken half-way through. (A message claimed but
        not yet marked as sending once passed for settled, and a later request's snapshot saw
        it change under load.)"""
        deadline = time.monotonic() + timeout
        while True:
            with Session(self.engine) as session:
                busy = [
                    m
                    for m in session.exec(
                        select(EmailMessage).where(
                            EmailMessage.status.in_([EmailStatus.PENDING, EmailStatus.SENDING])  # type: ignore[attr-defined]
                        )
                    )
                    # In flight: sending, due, or leased to a sender (still pending, its retry
                    # time moved on by the lease, no error yet: the background delivery has
                    # claimed it and will mark it in a moment). A retry put off has its error.
                    if m.status is EmailStatus.SENDING
                    or as_utc(m.next_attempt_at) <= utcnow()
                    or not m.last_error
                ]
            if not busy:
                return
            assert time.monotonic() < deadline, f"{len(busy)} emails were never delivered"
            time.sleep(0.05)

    def check_log(self, log: str) -> None:
        """No traceback or error; no token, real or made up; every link's address redacted."""
        for word in ("Traceback", "Exception", 'File "', "failed with", "ERROR"):
            assert word not in log, f"{word!r} in the server's log:\n{log[-3000:]}"
        requests = re.findall(r'"[A-Z]+ /\S* HTTP/1\.1" \d{3}', log)
        assert len(requests) >= len(self.sent), "the access log was not captured"
        assert "/l/[link]" in log, "no link's address was logged as /l/[link]"
        assert re.findall(r'/l/(?!\[link\])[^\s?"]+', log) == [], "a link's address was logged"
        settings = get_settings()
        with Session(self.engine) as session:
            links = session.exec(select(Link)).all()
        for link in links:
            assert link.nonce not in log, "a link's nonce is in the log"
            assert token_of(link, settings) not in log, "a link's token is in the log"
        for token in self.made_up:
            assert token not in log, "a forged token is in the log"


@contextmanager
def campaign(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    *,
    failed_checks: int = 100_000,
) -> Iterator[Campaign]:
    """The app on a real port, its log captured; the log is checked when the campaign ends."""
    monkeypatch.setenv("YOTQA_WEB_FAILED_CHECKS", str(failed_checks))
    get_settings.cache_clear()
    app = app_for(world)
    capfd.readouterr()  # what the fixtures printed is not the server's
    with served(app, log_config=log_config()) as base:
        hostile = Campaign(world, base)
        try:
            yield hostile
        finally:
            hostile.close()
    out, err = capfd.readouterr()
    hostile.check_log(out + err)


# The service under attack -----------------------------------------------------------------


def assigned(world: World) -> list[Audit]:
    """The month's assigned case-file audits, but the last (`action_of_case_manager`'s)."""
    audits = world.session.exec(
        select(Audit)
        .where(Audit.kind == AuditKind.CASE_FILE, Audit.status == AuditStatus.ASSIGNED)
        .order_by(Audit.id)  # type: ignore[arg-type]
    ).all()
    return list(audits[:-1])


def answers(world: World, audit: Audit) -> dict[str, str]:
    """Every question of the audit answered as an auditor would on the page."""
    fields = {}
    for q in questions_for(world.session, audit):
        fields[f"q.{q.code}"] = {
            AnswerType.JUDGEMENT: "good",
            AnswerType.YES_NO: "yes",
            AnswerType.COUNT: "2",
            AnswerType.TEXT: "Burglary",
        }[q.answer_type]
    return fields


def codes(world: World, audit: Audit, answer_type: AnswerType) -> list[str]:
    return [q.code for q in questions_for(world.session, audit) if q.answer_type is answer_type]


def deliver(world: World) -> None:
    """Send every email queued so far (as the outbox flow would), so none is left pending."""
    send_pending(world.session, get_settings(), limit=100_000)
    world.session.commit()


def warm_up(hostile: Campaign, pages: list[str]) -> None:
    """Mint every person's own-list link, open each page once (a first opening mints the links
    it shows) and deliver every queued email, so a refused request has nothing left to mint."""
    world = hostile.world
    for (staff_id,) in world.session.execute(sa.select(Staff.id)):
        world.link(staff_id, ITEMS, staff_id)
    for path in pages:
        response = hostile.client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
    deliver(world)
    hostile.settle()


def nonce_of(token: str) -> str:
    return token.split(".", 1)[0]
