"""A hostile campaign against the people's pages (L1) served on a real port, on both backends.

Every request below says what it is and asserts its status, the safe headers every response
carries, and that the database is exactly as it was (a snapshot of the audit, finding,
actionpoint, auditevent, auditdraft, deadlinerequest, acknowledgement, emailmessage and link
tables before and after: counts, a digest and the rows), except where a request is meant to
change something, where exactly that change is asserted (`expect`: which ids changed or went,
how many rows came). Pages mint links as they are opened (their own-list link, the other links
they show), so each campaign first mints every person's own-list link and opens its pages once
(`warm_up`); after that a refused request has nothing left to mint, and a request that may
rightly add a draft or links says so. At the end of each campaign the
server's own log output (uvicorn with `web.serve.log_config()`, captured from the process's
stdout and stderr) must hold no traceback, no error and no link token: every address of a link
is logged as /l/[link].

What the campaign found wrong when it was written is at the end, one test each, now passing:
NUL characters in free text (a 500 on PostgreSQL), text over the limit recorded cut short,
tokens in odd addresses logged whole, a slash redirect built from the Host header, a forged
X-Forwarded-For escaping the failure limit behind the proxy, and a token's other spellings.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from itsdangerous import Signer
from markupsafe import escape
from sqlmodel import Session, SQLModel, select

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    AuditDraft,
    DeadlineRequest,
    EmailMessage,
    Finding,
    GoodPractice,
    HighRiskIssue,
    Link,
    Question,
    Staff,
)
from models.enums import ActionStatus, AnswerType, AuditKind, AuditStatus, EmailStatus
from models.settings import get_settings
from models.types import as_utc, utcnow
from tasks.chase import chase
from tasks.links import (
    ACKNOWLEDGE,
    ACTION_DONE,
    DECIDE,
    ITEMS,
    NEW_DATE,
    NOT_DONE,
    RECORD,
    revoke,
    token_of,
    web_secret,
)
from tasks.outbox import send_pending
from tasks.recording.actions import request_new_date
from tasks.recording.form import ActionIn
from tasks.recording.record import NOT_DONE_REASONS, questions_for
from tests.web_world import TODAY, WORLD, World, app_for, csrf_of, served
from web.security import Csrf
from web.serve import log_config

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

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
FORM = {"content-type": "application/x-www-form-urlencoded"}
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


LINKS_ONLY = expect(link={"added": ANY})  # a page opened for the first time mints its links


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


def forged_token(hostile: Campaign) -> str:
    token = f"{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(32)}"
    hostile.made_up.append(token)
    return token


def nonce_of(token: str) -> str:
    return token.split(".", 1)[0]


# 1. Forged and malformed links: 403, or 404 where the address is no link at all --------------


def test_forged_and_malformed_links_are_refused_and_change_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    not_done = world.link(audit.auditor_id, NOT_DONE, audit.id)
    token = record[len("/l/") :]
    nonce, signature = token.split(".")
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record, not_done])
        secret = web_secret(get_settings())
        other_secret = Signer(
            "another service's secret, long enough", salt="yotqa.link", digest_method=hashlib.sha256
        )
        csrf_salt = Signer(secret, salt="yotqa.csrf", digest_method=hashlib.sha256)
        link_salt = Signer(secret, salt="yotqa.link", digest_method=hashlib.sha256)
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]  # 6 bits of the HMAC
        no_such = link_salt.sign(secrets.token_urlsafe(16)).decode()
        forged = {
            "a random token of the right shape": forged_token(hostile),
            "the real nonce with the first character of its signature changed": (
                f"{nonce}.{flipped}"
            ),
            "the real nonce signed with another secret": other_secret.sign(nonce).decode(),
            "the real nonce signed with the CSRF salt": csrf_salt.sign(nonce).decode(),
            "a nonce no link has, signed with the real secret": no_such,
            "the real token cut short by five characters": token[:-5],
            "the real token cut at the dot": f"{nonce}.",
            "the nonce alone": nonce,
            "the signature alone": signature,
            "the real token twice, joined by a dot": f"{token}.{token}",
            "the real token with 10 kB more": token + "A" * 10_240,
            "a 10 kB token": "A" * 10_240,
            "the real token upper-cased": token.upper(),
            "the real token with a Cyrillic a for its first letter": "\u0430" + token[1:],
            "unicode": "ünïcødé.ßïgnåtürę-\u202e\U0001f600",
        }
        for what, bad in forged.items():
            hostile.made_up.append(bad)
            response = hostile.send(what, "GET", f"/l/{bad}", 403)
            assert "This link does not work" in response.text, what
            assert bad not in response.text, what
        csrf = csrf_of(hostile.client.get(record).text)
        for what, bad in list(forged.items())[:3]:
            hostile.send(
                f"POST with {what}",
                "POST",
                f"/l/{bad}",
                403,
                data={"csrf_token": csrf, "op": "submit", **answers(world, audit)},
            )
        raw = {
            "path traversal /l/../..%2f": (b"/l/../..%2f", 404),
            "path traversal to the settings": (b"/l/..%2f..%2fmodels%2fsettings.py", 404),
            "an encoded dot-dot token": (b"/l/%2e%2e", 403),
            "a NUL in the token": (b"/l/abc%00def.ghi", 403),
            "a token of spaces": (b"/l/%20%20%20", 403),
            "no token at all": (b"/l/", 404),
        }
        for what, (target, status) in raw.items():
            response = hostile.send(what, "GET", "/", status, target=target)
            assert "class Settings" not in response.text, what
        trailing = hostile.send("the real token with a slash after it", "GET", record + "/", 404)
        assert "location" not in trailing.headers  # never redirected (the Host could be anyone's)
        response = hostile.send(
            "a query string trying to change the purpose and the item",
            "GET",
            record + f"?purpose={DECIDE}&item_id=1&token=../../etc/passwd",
            200,
        )
        assert "audit of case" in response.text
        hostile.send("a query string on /l/ with no token", "GET", "/l/?token=x", 404)
        assert hostile.send("a token in a query string on /", "GET", "/?t=abc.def", 200).text
        hostile.send("the API docs FastAPI would serve", "GET", "/docs", 404)
        hostile.send("the OpenAPI schema", "GET", "/openapi.json", 404)


# 2. Dead links: expired, reassigned, recorded, someone else's: 410 --------------------------


def test_dead_and_not_yours_links_are_gone_and_change_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    session = world.session
    action = world.action_of_case_manager()  # the month's last case-file audit, recorded
    audits = assigned(world)
    recorded, revoked, reassigned, expired = audits[0], audits[1], audits[2], audits[3]
    # A second recorded audit with two action points of its case manager.
    owner = world.person(audits[4].subject_staff_id)
    world.record(
        audits[4],
        [
            ActionIn(priority=n, text=f"Action {n}", owner_email=owner.email, deadline=d)
            for n, d in ((1, ACTION_DEADLINE), (2, ACTION_DEADLINE + timedelta(days=1)))
        ],
    )
    moved, asked = session.exec(
        select(ActionPoint)
        .where(ActionPoint.audit_id == audits[4].id)
        .order_by(ActionPoint.priority)  # type: ignore[arg-type]
    ).all()
    used = {a.auditor_id for a in audits[:5]} | {
        owner.id,
        owner.line_manager_id,
        action.owner_id,
        world.person(action.owner_id).line_manager_id,
    }
    leaver_audit = next(a for a in audits[5:] if a.auditor_id not in used)
    heir = next(
        a.auditor_id for a in audits if a.auditor_id not in used | {leaver_audit.auditor_id}
    )
    paths = {
        "recorded": world.link(recorded.auditor_id, RECORD, recorded.id),
        "recorded-not-done": world.link(recorded.auditor_id, NOT_DONE, recorded.id),
        "revoked": world.link(revoked.auditor_id, RECORD, revoked.id),
        "reassigned": world.link(reassigned.auditor_id, RECORD, reassigned.id),
        "expired": world.link(expired.auditor_id, NOT_DONE, expired.id),
        "leaver": world.link(leaver_audit.auditor_id, RECORD, leaver_audit.id),
        "moved": world.link(moved.owner_id, ACTION_DONE, moved.id),
        "asked-new-date": world.link(asked.owner_id, NEW_DATE, asked.id),
        "asked-done": world.link(asked.owner_id, ACTION_DONE, asked.id),
        "live": world.link(action.owner_id, ACTION_DONE, action.id),
    }
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, list(paths.values()))
        # Now each dies its own way.
        world.record(recorded)
        revoke(
            session,
            "audit",
            revoked.id,  # type: ignore[arg-type]
            "This audit was reassigned to someone else: it is no longer yours to do.",
        )
        reassigned.auditor_id = heir
        link = session.exec(select(Link).where(Link.nonce == nonce_of(paths["expired"][3:]))).one()
        link.expires_on = TODAY - timedelta(days=1)
        moved.owner_id = heir  # the action point is given to someone else
        request = request_new_date(
            session,
            asked.id,  # type: ignore[arg-type]
            by_id=asked.owner_id,
            reason="On leave",
            proposed_on=date(2027, 1, 15),
            on=TODAY,
        )
        leaver = world.person(leaver_audit.auditor_id)
        leaver.active = False
        session.commit()
        chase(session, TODAY, get_settings())  # the leaver's audits go to someone else
        session.commit()
        paths["owner-decide"] = world.link(asked.owner_id, DECIDE, request.id)  # never sent
        paths["decide"] = world.link(request.decider_id, DECIDE, request.id, request.proposed_on)
        session.expire_all()
        assert session.get(Audit, leaver_audit.id).auditor_id != leaver.id
        warm_up(hostile, [paths["decide"]])
        decide_csrf = csrf_of(hostile.client.get(paths["decide"]).text)
        live_csrf = csrf_of(hostile.client.get(paths["live"]).text)

        dead = {
            "recorded": ("a link for an audit already recorded", "was recorded on"),
            "recorded-not-done": ("the not-done link of a recorded audit", "was recorded on"),
            "revoked": ("a link revoked when its audit was reassigned", "no longer yours"),
            "reassigned": ("a link of an audit now another auditor's", "reassigned"),
            "expired": ("an expired link", "expired"),
            "leaver": ("a leaver's link after the chase reassigned it", "no longer on"),
            "moved": ("a link for an action point now someone else's", "someone else"),
            "asked-new-date": ("a new-date link while a new date waits", "waits for"),
            "owner-decide": ("a decide link of the owner, not the manager", "not yours"),
        }
        for key, (what, says) in dead.items():
            response = hostile.send(what, "GET", paths[key], 410)
            assert says in response.text, (what, response.text[:800])
            hostile.send(
                f"POST {what}",
                "POST",
                paths[key],
                410,
                data={"csrf_token": live_csrf, "decision": "agree", "done_on": TODAY.isoformat()},
            )
        hostile.send(
            "the owner's action link POSTed with the decide fields and another form's CSRF",
            "POST",
            paths["asked-done"],
            403,
            data={"csrf_token": live_csrf, "decision": "agree", "note": "I agree with myself"},
        )
        owners = csrf_of(hostile.client.get(paths["asked-done"]).text)
        hostile.send(
            "the owner's own done form with the decide fields and no date",
            "POST",
            paths["asked-done"],
            400,
            data={"csrf_token": owners, "decision": "agree", "note": "I agree with myself"},
        )
        hostile.send(
            "the manager's decide form with the owner's CSRF field",
            "POST",
            paths["decide"],
            403,
            data={"csrf_token": owners, "decision": "agree"},
        )
        hostile.send(
            "the manager's decide form with an unknown decision",
            "POST",
            paths["decide"],
            400,
            data={"csrf_token": decide_csrf, "decision": "agree-and-cancel"},
        )
        session.expire_all()
        assert session.get(DeadlineRequest, request.id).status == "pending"
        assert session.get(ActionPoint, asked.id).status is ActionStatus.OPEN


# 3. Forms from elsewhere: CSRF, and a replayed submit ---------------------------------------


def test_forms_from_anywhere_else_are_refused_and_a_replay_records_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    audits = assigned(world)
    target, replayed = audits[0], audits[1]
    not_done = world.link(target.auditor_id, NOT_DONE, target.id)
    record = world.link(target.auditor_id, RECORD, target.id)
    items = world.link(target.auditor_id, ITEMS, target.auditor_id)
    replay = world.link(replayed.auditor_id, NOT_DONE, replayed.id)
    fields = {"reason": NOT_DONE_REASONS[1]}
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [not_done, record, items, replay])
        own = hostile.page(not_done)
        hostile.send("no CSRF field", "POST", not_done, 403, data=fields)
        hostile.send(
            "an empty CSRF field", "POST", not_done, 403, data={**fields, "csrf_token": ""}
        )
        hostile.send(
            "a wrong CSRF field", "POST", not_done, 403, data={**fields, "csrf_token": "A" * 43}
        )
        hostile.send(
            "an overlong CSRF field",
            "POST",
            not_done,
            403,
            data={**fields, "csrf_token": own + "A" * 100},
        )
        hostile.send(
            "the CSRF field of another link's page (the same person's audit form)",
            "POST",
            not_done,
            403,
            data={**fields, "csrf_token": hostile.page(record)},
        )
        hostile.send(
            "two CSRF fields, the good one first and a bad one last",
            "POST",
            not_done,
            403,
            content=urlencode([("csrf_token", own), *fields.items(), ("csrf_token", "A" * 43)]),
            headers=FORM,
        )
        bare = hostile.browser()
        bare_csrf = csrf_of(bare.get(not_done).text)
        bare.cookies.clear()
        hostile.send(
            "the CSRF cookie missing",
            "POST",
            not_done,
            403,
            client=bare,
            data={**fields, "csrf_token": bare_csrf},
        )
        other = hostile.browser()
        other.get(not_done)
        hostile.send(
            "another browser's cookie with this browser's field",
            "POST",
            not_done,
            403,
            client=other,
            data={**fields, "csrf_token": own},
        )
        hostile.send(
            "a cross-site form: another Origin, no cookie",
            "POST",
            not_done,
            403,
            client=hostile.browser(),
            data={**fields, "csrf_token": own},
            headers={"origin": "https://evil.example", "referer": "https://evil.example/x"},
        )
        hostile.send(
            "a CSRF cookie of a bad shape",
            "POST",
            not_done,
            403,
            client=hostile.browser(),
            data={**fields, "csrf_token": own},
            headers={"cookie": "yotqa_csrf=" + "%3Cscript%3E" * 8},
        )
        hostile.send(
            "a JSON body instead of a form",
            "POST",
            not_done,
            403,
            json={**fields, "csrf_token": own},
        )
        hostile.send(
            "a plain-text body",
            "POST",
            not_done,
            403,
            content=urlencode({"csrf_token": own, **fields}),
            headers={"content-type": "text/plain"},
        )
        hostile.send("the own-list page, which has no form", "POST", items, 403, data=fields)
        hostile.send("the own-list page opened", "GET", items, 200)
        perfect = Csrf(get_settings()).field(
            hostile.client.cookies["yotqa_csrf"], nonce_of(items[3:])
        )
        hostile.send(
            "the own-list page with a CSRF field made with the secret, as no one else can",
            "POST",
            items,
            405,
            data={"csrf_token": perfect},
        )
        # The replay: one good submit (its change asserted), then the same form again.
        form = {"reason": NOT_DONE_REASONS[0], "csrf_token": hostile.page(replay)}
        hostile.send(
            "a good not-done submit",
            "POST",
            replay,
            200,
            data=form,
            changes=expect(
                audit={"changed": [replayed.id]},
                auditevent={"added": 1},
                link={"added": ANY},
                emailmessage={"added": ANY},
            ),
        )
        again = hostile.send("the same submit replayed", "POST", replay, 410, data=form)
        assert "recorded as not done" in again.text
        world.session.expire_all()
        assert world.session.get(Audit, target.id).status is AuditStatus.ASSIGNED
        assert world.session.get(Audit, replayed.id).reason_not_completed == NOT_DONE_REASONS[0]


# 4. Bodies, methods and headers -------------------------------------------------------------


def test_oversize_odd_bodies_methods_and_headers_are_refused_plainly(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record])
        csrf = hostile.page(record)
        big = hostile.send(
            "a body over 1 MiB, by its Content-Length",
            "POST",
            record,
            413,
            content=b"csrf_token=" + csrf.encode() + b"&e.x=" + b"x" * (1024 * 1024 + 10),
            headers=FORM,
        )
        assert "nothing was saved" in big.text

        def chunks() -> Iterator[bytes]:
            yield f"csrf_token={csrf}&op=save".encode()
            for n in range(300):  # small fields, so only the total is too large
                yield f"&f{n}=".encode() + b"x" * 4096

        hostile.send(
            "a chunked body with no Content-Length, over 1 MiB as it streams",
            "POST",
            record,
            413,
            content=chunks(),
            headers=FORM,
        )
        hostile.send(
            "one field over 64 KiB",
            "POST",
            record,
            400,
            data={"csrf_token": csrf, "op": "save", "good_practice": "x" * 70_000},
        )
        hostile.send(
            "a multipart upload",
            "POST",
            record,
            400,
            data={"csrf_token": csrf, "op": "save"},
            files={"evidence": ("case.pdf", b"%PDF-1.4 hostile", "application/pdf")},
        )
        hostile.send(
            "more than 800 form fields",
            "POST",
            record,
            400,
            data={"csrf_token": csrf, "op": "save", **{f"f{n}": "x" for n in range(801)}},
        )
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            hostile.send(f"{method} on a link", method, record, 405, data={"csrf_token": csrf})
        head = hostile.send("HEAD on a link", "HEAD", record, 405)
        assert head.content == b""
        host = hostile.send(
            "a Host header of another site", "GET", record, 200, headers={"host": "evil.example"}
        )
        assert "evil.example" not in host.text
        assert all(
            u.startswith("http://testserver/") for u in re.findall(r'href="(http[^"]+)"', host.text)
        )
        long = hostile.send(
            "a very long CSRF cookie",
            "GET",
            record,
            200,
            client=hostile.browser(),
            headers={"cookie": "yotqa_csrf=" + "A" * 8_000},
        )
        fresh = long.cookies.get("yotqa_csrf")
        assert fresh and len(fresh) < 100  # a new cookie, not the one sent back
        assert re.search(r"HttpOnly", long.headers["set-cookie"], re.I)
        assert re.search(r"SameSite=lax", long.headers["set-cookie"], re.I)
        hostile.send(
            "forty cookies of 1 kB",
            "GET",
            record,
            200,
            client=hostile.browser(),
            headers={"cookie": "; ".join(f"c{n}={'B' * 1000}" for n in range(40))},
        )
        for what, target in {
            "static traversal /static/../models/settings.py": b"/static/../models/settings.py",
            "static traversal two up": b"/static/../../models/settings.py",
            "static traversal with %2f": b"/static/..%2f..%2fmodels%2fsettings.py",
            "static traversal with %2e%2e": b"/static/%2e%2e/%2e%2e/models/settings.py",
            "static traversal to the app": b"/static/../app.py",
            "static traversal to the secret": b"/static/../../var/web-secret",
        }.items():
            response = hostile.send(what, "GET", "/", 404, target=target)
            assert "Settings" not in response.text and "create_app" not in response.text
        css = hostile.send("the stylesheet itself", "GET", "/static/yotqa.css", 200)
        assert css.headers.get("cache-control") != "no-store"
        world.session.expire_all()
        assert world.session.get(Audit, audit.id).status is AuditStatus.ASSIGNED


# 5. Values no form should hold ---------------------------------------------------------------


def test_values_no_form_should_hold_are_shown_beside_their_field_and_never_stored(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Each audit form is a submit with every other answer good: it comes back 400 with the
    value beside its field, the audit still assigned, and only the draft (what was typed, kept
    as typed) changed. The action and decide forms change nothing at all."""
    session = world.session
    action = world.action_of_case_manager()
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    done = world.link(action.owner_id, ACTION_DONE, action.id)
    new_date = world.link(action.owner_id, NEW_DATE, action.id)
    judgement = codes(world, audit, AnswerType.JUDGEMENT)[0]
    yes_no = codes(world, audit, AnswerType.YES_NO)[0]
    count = codes(world, audit, AnswerType.COUNT)[0]
    owner = world.person(audit.subject_staff_id).email
    good = {**answers(world, audit), "op": "submit"}
    row = {
        "action.1.text": "Countersign the plan",
        "action.1.owner": owner,
        "action.1.deadline": "2026-12-18",
        "action.1.priority": "1",
        # A4 (§5): a good support need beside them
        "need.1.theme": "Court and reports",
        "need.1.scope": "individual",
        "need.1.review_on": "2027-01-15",
    }
    cases = {
        f"q.{judgement}": ["brilliant", "<script>alert(1)</script>", "very good indeed"],
        f"q.{yes_no}": ["maybe", "yes' OR '1'='1"],
        f"q.{count}": ["-1", "1" + "0" * 30, "2.5", "1e3", "NaN", "0x10", "<b>3</b>"],
        "action.1.deadline": [
            "2026-12-01",  # in the past
            "not a date",
            "2099-01-01",
            "2026-02-30",
            "<b>",
        ],
        "action.1.owner": ["nobody@evil.example", "<script>@x", ""],
        "action.1.priority": ["0", "-1", "1.5", "one", "\u00b2", "\u0663", "9" * 30],
        "need.1.theme": ["Juggling", "<script>alert(1)</script>", "Court and reports' OR '1'='1"],
        "need.1.scope": ["everyone", "<b>team</b>", "team' OR '1'='1"],
        "need.1.review_on": ["2026-12-01", "not a date", "2099-01-01", "2026-02-30", "<b>"],
    }
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record, done, new_date])
        csrf = hostile.page(record)
        for name, values in cases.items():
            for value in values:
                fields = {**good, **row, name: value}
                response = hostile.send(
                    f"{name}={value!r}",
                    "POST",
                    record,
                    400,
                    data={**fields, "csrf_token": csrf},
                    changes=expect(auditdraft={"added": ANY, "changed": ANY}),
                )
                assert f'id="{name}-error"' in response.text, (name, value)
                assert "<script>" not in response.text and "<b>" not in response.text
                draft = session.exec(
                    select(AuditDraft).where(AuditDraft.audit_id == audit.id)
                ).one()
                session.refresh(draft)
                assert draft.fields.get(name) == value.strip(), (name, value)
        twice = {
            **good,
            **row,
            "action.2.text": "Review the VMP",
            "action.2.owner": owner,
            "action.2.deadline": "2026-12-19",
            "action.2.priority": "1",
        }
        response = hostile.send(
            "two action points of priority 1",
            "POST",
            record,
            400,
            data={**twice, "csrf_token": csrf},
            changes=expect(auditdraft={"changed": ANY}),
        )
        assert 'id="action.2.priority-error"' in response.text
        hostile.send(
            "a question this audit's tool does not have, and nothing else wrong but a count",
            "POST",
            record,
            400,
            data={**good, "q.no_such_question": "good", f"q.{count}": "-5", "csrf_token": csrf},
            changes=expect(auditdraft={"changed": ANY}),
        )
        draft = session.exec(select(AuditDraft).where(AuditDraft.audit_id == audit.id)).one()
        session.refresh(draft)
        assert "q.no_such_question" not in draft.fields  # only the page's own fields are kept
        hostile.send(
            "an absurd number of action rows",
            "POST",
            record,
            200,
            data={"csrf_token": csrf, "op": "save", "rows": "9" * 40},
            changes=expect(auditdraft={"changed": ANY}),
        )
        session.refresh(draft)
        assert draft.fields["rows"] == "50"

        csrf = hostile.page(done)
        for value in ("2026-02-30", "<b>", "", "03/12/2026", "9999-12-31", "0001-01-01"):
            response = hostile.send(
                f"done_on={value!r}",
                "POST",
                done,
                400,
                data={"csrf_token": csrf, "done_on": value, "note": "Done"},
            )
            assert 'id="done_on-error"' in response.text and "<b>" not in response.text
        csrf = hostile.page(new_date)
        for value in ("2026-02-30", "<b>", "9999-12-31", "2026-12-01", "2099-01-01"):
            response = hostile.send(
                f"proposed_on={value!r}",
                "POST",
                new_date,
                400,
                data={"csrf_token": csrf, "proposed_on": value, "reason": "Leave"},
            )
            assert 'id="proposed_on-error"' in response.text and "<b>" not in response.text
        hostile.send(
            "a new date with no reason",
            "POST",
            new_date,
            400,
            data={"csrf_token": csrf, "proposed_on": "2027-01-15", "reason": "   "},
        )
        hostile.send(
            "a reason over 2,000 characters",
            "POST",
            new_date,
            400,
            data={"csrf_token": csrf, "proposed_on": "2027-01-15", "reason": "x" * 2_001},
        )
        session.expire_all()
        assert session.get(Audit, audit.id).status is AuditStatus.ASSIGNED
        assert session.get(ActionPoint, action.id).status is ActionStatus.OPEN


# 6. Script and markup in every text field: escaped on every page, stored as typed -----------


def payload(field: str) -> str:
    return f"<script>alert('{field}')</script><img src=x onerror=alert(1)><b>{field}</b> & \"q\""


def escaped_not_raw(what: str, html: str, text: str) -> None:
    assert str(escape(text)) in html, f"{what}: the text is not shown escaped"
    assert text not in html and "<script" not in html and "<img" not in html, what


def test_script_and_markup_in_every_text_field_is_escaped_and_stored_as_typed(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    session = world.session
    action = world.action_of_case_manager()
    audits = assigned(world)
    audit, cannot = audits[0], audits[1]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    not_done = world.link(cannot.auditor_id, NOT_DONE, cannot.id)
    new_date = world.link(action.owner_id, NEW_DATE, action.id)
    done = world.link(action.owner_id, ACTION_DONE, action.id)
    findings = world.link(action.owner_id, ACKNOWLEDGE, action.audit_id)
    judgement = codes(world, audit, AnswerType.JUDGEMENT)[0]
    text_code = codes(world, audit, AnswerType.TEXT)[0]
    subject = world.person(audit.subject_staff_id)
    typed = {
        f"e.{judgement}": payload("evidence"),
        f"q.{text_code}": payload("text answer"),
        "action.1.text": payload("action"),
        "action.1.owner": subject.email,
        "action.1.deadline": "2026-12-18",
        "action.1.priority": "1",
        "good_practice": payload("good practice"),
        "high_risk": payload("high risk"),
    }
    texts = [
        v for k, v in typed.items() if k.split(".")[-1] not in ("owner", "deadline", "priority")
    ]
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record, not_done, new_date, done, findings])

        # The audit form: a draft first (the page shows each text back, escaped) ...
        csrf = hostile.page(record)
        saved = hostile.send(
            "script in every text field of the audit form, saved as a draft",
            "POST",
            record,
            200,
            data={**typed, "op": "save", "csrf_token": csrf},
            changes=expect(auditdraft={"added": 1}),
        )
        for text in texts:
            escaped_not_raw("the draft page", saved.text, text)
        draft = session.exec(select(AuditDraft).where(AuditDraft.audit_id == audit.id)).one()
        assert {k: draft.fields[k] for k in typed} == typed
        reopened = hostile.send("the draft reopened", "GET", record, 200)
        for text in texts:
            escaped_not_raw("the reopened draft", reopened.text, text)
        # ... then submitted: stored exactly as typed.
        hostile.send(
            "the same texts submitted with every answer",
            "POST",
            record,
            200,
            data={**answers(world, audit), **typed, "op": "submit", "csrf_token": csrf},
            changes=expect(
                audit={"changed": [audit.id]},
                finding={"added": len(questions_for(session, audit))},
                actionpoint={"added": 1},
                auditevent={"added": ANY},
                auditdraft={"removed": [draft.id]},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        session.expire_all()
        stored = {
            q.code: f
            for f, q in session.exec(
                select(Finding, Question)
                .join(Question, Question.id == Finding.question_id)  # type: ignore[arg-type]
                .where(Finding.audit_id == audit.id)
            )
        }
        assert stored[judgement].evidence == payload("evidence")
        assert stored[text_code].text == payload("text answer")
        point = session.exec(select(ActionPoint).where(ActionPoint.audit_id == audit.id)).one()
        assert point.text == payload("action")
        assert [
            g.text
            for g in session.exec(select(GoodPractice).where(GoodPractice.audit_id == audit.id))
        ] == [payload("good practice")]
        assert session.exec(
            select(HighRiskIssue).where(HighRiskIssue.audit_id == audit.id)
        ).one().text == payload("high risk")
        queued = hostile.last["emailmessage"]["added"]
        assert queued  # feedback, high risk, recorded
        for message in session.exec(select(EmailMessage).where(EmailMessage.id.in_(queued))):  # type: ignore[union-attr]
            assert "<script" not in message.body_html and "<img" not in message.body_html
        # Shown to the case manager: escaped.
        shown = hostile.send(
            "the recorded findings, with every text in them",
            "GET",
            world.link(subject.id, ACKNOWLEDGE, audit.id),
            200,
            changes=LINKS_ONLY,
        )
        for key in (f"e.{judgement}", f"q.{text_code}", "action.1.text", "good_practice"):
            escaped_not_raw(f"the findings page: {key}", shown.text, typed[key])

        # Cannot be done: the detail.
        csrf = hostile.page(not_done)
        detail = payload("not-done detail")
        bad = hostile.send(
            "script in the not-done detail, with no reason chosen",
            "POST",
            not_done,
            400,
            data={"csrf_token": csrf, "detail": detail},
        )
        escaped_not_raw("the not-done page", bad.text, detail)
        ok = hostile.send(
            "script in the not-done detail, with a reason",
            "POST",
            not_done,
            200,
            data={"csrf_token": csrf, "reason": NOT_DONE_REASONS[1], "detail": detail},
            changes=expect(
                audit={"changed": [cannot.id]},
                auditevent={"added": 1},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        escaped_not_raw("the not-done receipt", ok.text, detail)
        session.expire_all()
        assert (
            session.get(Audit, cannot.id).reason_not_completed == f"{NOT_DONE_REASONS[1]}: {detail}"
        )
        gone = hostile.send("the not-done link again", "GET", not_done, 410)
        escaped_not_raw("the refusal quoting the reason", gone.text, detail)

        # A new date: the reason; then the manager's decision: the note.
        csrf = hostile.page(new_date)
        reason = payload("new-date reason")
        bad = hostile.send(
            "script in the new-date reason, with a date that is no date",
            "POST",
            new_date,
            400,
            data={"csrf_token": csrf, "proposed_on": "<b>", "reason": reason},
        )
        escaped_not_raw("the new-date page", bad.text, reason)
        hostile.send(
            "script in the new-date reason, with a good date",
            "POST",
            new_date,
            200,
            data={"csrf_token": csrf, "proposed_on": "2027-01-15", "reason": reason},
            changes=expect(
                deadlinerequest={"added": 1},
                auditevent={"added": 1},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        request = session.exec(
            select(DeadlineRequest).where(DeadlineRequest.action_id == action.id)
        ).one()
        assert request.reason == reason
        decide = world.link(request.decider_id, DECIDE, request.id, request.proposed_on)
        page = hostile.send("the manager's decide page", "GET", decide, 200, changes=LINKS_ONLY)
        escaped_not_raw("the decide page", page.text, reason)
        csrf = csrf_of(page.text)
        note = payload("decision note")
        bad = hostile.send(
            "script in the decision note, with no decision",
            "POST",
            decide,
            400,
            data={"csrf_token": csrf, "note": note},
        )
        escaped_not_raw("the decide page with its error", bad.text, note)
        hostile.send(
            "script in the note of a refusal",
            "POST",
            decide,
            200,
            data={"csrf_token": csrf, "decision": "refuse", "note": note},
            changes=expect(
                deadlinerequest={"changed": [request.id]},
                auditevent={"added": 1},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        session.expire_all()
        request = session.get(DeadlineRequest, request.id)
        assert (request.status, request.decision_note) == ("refused", note)
        assert session.get(ActionPoint, action.id).deadline == ACTION_DEADLINE

        # Done: the note of what was done.
        csrf = hostile.page(done)
        evidence = payload("action note")
        bad = hostile.send(
            "script in the action note, with a date that does not exist",
            "POST",
            done,
            400,
            data={"csrf_token": csrf, "done_on": "2026-02-30", "note": evidence},
        )
        escaped_not_raw("the action page", bad.text, evidence)
        hostile.send(
            "script in the action note, with a good date",
            "POST",
            done,
            200,
            data={"csrf_token": csrf, "done_on": TODAY.isoformat(), "note": evidence},
            changes=expect(
                actionpoint={"changed": [action.id]},
                auditevent={"added": 1},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        session.expire_all()
        assert session.get(ActionPoint, action.id).evidence == evidence

        # The findings: the case manager's response.
        csrf = hostile.page(findings)
        response = payload("findings response")
        bad = hostile.send(
            "script in the findings response, not ticked",
            "POST",
            findings,
            400,
            data={"csrf_token": csrf, "response": response},
        )
        escaped_not_raw("the findings page", bad.text, response)
        hostile.send(
            "script in the findings response, ticked",
            "POST",
            findings,
            200,
            data={"csrf_token": csrf, "confirm": "yes", "response": response},
            changes=expect(
                acknowledgement={"added": 1},
                auditevent={"added": ANY},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        ack = session.exec(
            select(Acknowledgement).where(Acknowledgement.audit_id == action.audit_id)
        ).one()
        assert ack.response == response
        hostile.send(
            "the acknowledgement replayed",
            "POST",
            findings,
            410,
            data={"csrf_token": csrf, "confirm": "yes", "response": "again"},
        )
        hostile.send(
            "the audit form replayed after it was recorded",
            "POST",
            record,
            410,
            data={**answers(world, audit), "op": "submit", "csrf_token": csrf},
        )


# 7. The failure limit ----------------------------------------------------------------------


def test_too_many_failed_checks_from_one_address_are_refused_for_a_while(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Forged links and forms that fail their CSRF check count; dead links (410) do not; once
    the count reaches YOTQA_WEB_FAILED_CHECKS, every link from that address is refused (429)."""
    audits = assigned(world)
    record = world.link(audits[0].auditor_id, RECORD, audits[0].id)
    dead = world.link(audits[1].auditor_id, RECORD, audits[1].id)
    with campaign(world, monkeypatch, capfd, failed_checks=3) as hostile:
        warm_up(hostile, [record, dead])
        world.record(audits[1])
        deliver(world)
        csrf = hostile.page(record)
        for n in range(5):
            hostile.send(f"dead link {n + 1}, which does not count", "GET", dead, 410)
        hostile.send("forged link 1", "GET", f"/l/{forged_token(hostile)}", 403)
        hostile.send(
            "forged link 2, POSTed", "POST", f"/l/{forged_token(hostile)}", 403, data={"a": "b"}
        )
        hostile.send(
            "a good link with a wrong CSRF field: failure 3",
            "POST",
            record,
            403,
            data={"csrf_token": "A" * 43, "op": "save"},
        )
        blocked = hostile.send("the good link, now refused", "GET", record, 429)
        assert "Wait ten minutes" in blocked.text
        hostile.send(
            "the good link's own form, now refused",
            "POST",
            record,
            429,
            data={"csrf_token": csrf, "op": "save", "high_risk": "x"},
        )
        hostile.send("a dead link, now refused too", "GET", dead, 429)
        hostile.send("a forged link, still refused", "GET", f"/l/{forged_token(hostile)}", 429)
        hostile.send("the health check is not a link", "GET", "/healthz", 200)
        hostile.send("the home page is not a link", "GET", "/", 200)


# What the campaign found wrong ---------------------------------------------------------------


POSTGRES_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # not the database's


def _nul_case(world: World, field: str) -> tuple[str, dict[str, str], list[str]]:
    """A page, a valid submit of it with a NUL in `field`, and the pages to open first."""
    action = world.action_of_case_manager()
    audit = assigned(world)[0]
    if field == "evidence":
        path = world.link(audit.auditor_id, RECORD, audit.id)
        code = codes(world, audit, AnswerType.JUDGEMENT)[0]
        return path, {**answers(world, audit), "op": "submit", f"e.{code}": "a\x00b"}, [path]
    if field == "not-done detail":
        path = world.link(audit.auditor_id, NOT_DONE, audit.id)
        return path, {"reason": NOT_DONE_REASONS[0], "detail": "a\x00b"}, [path]
    if field == "action note":
        path = world.link(action.owner_id, ACTION_DONE, action.id)
        return path, {"done_on": TODAY.isoformat(), "note": "a\x00b"}, [path]
    if field == "new-date reason":
        path = world.link(action.owner_id, NEW_DATE, action.id)
        return path, {"proposed_on": "2027-01-15", "reason": "a\x00b"}, [path]
    path = world.link(action.owner_id, ACKNOWLEDGE, action.audit_id)
    return path, {"confirm": "yes", "response": "a\x00b"}, [path]


@POSTGRES_ONLY
@pytest.mark.parametrize(
    "field", ["evidence", "not-done detail", "action note", "new-date reason", "findings response"]
)
def test_a_nul_character_in_free_text_is_refused_or_stripped_not_a_server_error(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    field: str,
) -> None:
    path, fields, pages = _nul_case(world, field)
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, pages)
        csrf = hostile.page(path)
        response = hostile.client.post(path, data={**fields, "csrf_token": csrf})
        assert response.status_code in (200, 400), (field, response.status_code)
        hostile.settle()


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("address", "status"),
    [("/l//{token}", 404), ("/L/{token}", 404), ("/?token={token}", 200)],
    ids=["double-slash", "upper-case-L", "query-string"],
)
def test_a_real_token_in_an_odd_address_never_reaches_the_log(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    address: str,
    status: int,
) -> None:
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record])
        hostile.send(f"a real token at {address}", "GET", address.format(token=record[3:]), status)
    # (The campaign's log check fails here: the token is in the access log.)


@SQLITE_ONLY
def test_a_link_with_a_slash_after_it_is_never_redirected_to_another_host(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record])
        response = hostile.client.get(record + "/", headers={"host": "evil.example"})
        assert "evil.example" not in response.headers.get("location", ""), response.headers


@contextmanager
def served_as_yotqa_web(monkeypatch: pytest.MonkeyPatch, *, proxy: bool) -> Iterator[str]:
    """The app as `yotqa web [--proxy]` starts it (web.serve.run's own uvicorn settings), in a
    thread of this process."""
    import threading

    import uvicorn

    import web.serve
    from tests.smtp import free_port

    started: dict[str, Any] = {}
    monkeypatch.setattr(web.serve.uvicorn, "run", lambda app, **kw: started.update(kw, app=app))
    web.serve.run("127.0.0.1", free_port(), as_of=TODAY, proxy=proxy)
    app = started.pop("app")
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **started))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{started['port']}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@SQLITE_ONLY
def test_behind_the_proxy_a_made_up_forwarded_address_does_not_escape_the_failure_limit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YOTQA_WEB_FAILED_CHECKS", "3")
    get_settings.cache_clear()
    with (
        served_as_yotqa_web(monkeypatch, proxy=True) as base,
        httpx.Client(base_url=base, timeout=30) as browser,
    ):
        statuses = []
        for n in range(6):
            # What nginx forwards: what the client sent, then the address it came from.
            forwarded = f"198.51.100.{n}, 203.0.113.7"
            response = browser.get(
                f"/l/{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(32)}",
                headers={"x-forwarded-for": forwarded},
            )
            statuses.append(response.status_code)
    assert statuses == [403, 403, 403, 429, 429, 429], statuses


def test_evidence_longer_than_the_limit_is_refused_not_recorded_cut_short(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    code = codes(world, audit, AnswerType.JUDGEMENT)[0]
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record])
        csrf = hostile.page(record)
        response = hostile.client.post(
            record,
            data={
                **answers(world, audit),
                "op": "submit",
                f"e.{code}": "x" * 12_000,
                "csrf_token": csrf,
            },
        )
        hostile.settle()
        world.session.expire_all()
        finding = world.session.exec(
            select(Finding)
            .join(Question, Question.id == Finding.question_id)  # type: ignore[arg-type]
            .where(Finding.audit_id == audit.id, Question.code == code)
        ).first()
        assert finding is None or len(finding.evidence) == 12_000, "recorded cut short"
        assert response.status_code == 400 and f'id="e.{code}-error"' in response.text


def _spare_bits(signature: str) -> str:
    """The signature with its last character's two unused bits set: the same 32 bytes once
    decoded, so it is the same signature spelt another way."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return signature[:-1] + alphabet[alphabet.index(signature[-1]) | 3]


@SQLITE_ONLY
def test_only_the_token_as_issued_opens_its_page(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    nonce, signature = record[3:].split(".")
    respelt = f"/l/{nonce}.{_spare_bits(signature)}"
    assert respelt != record
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record])
        hostile.send("the real token with its spare bits set", "GET", respelt, 403)
