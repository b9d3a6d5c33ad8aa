"""People's links (L1): signed tokens for one person, one item and one purpose.

A token is a random nonce signed with the web secret (itsdangerous, HMAC-SHA256, checked in
constant time). The nonce names a `Link` row that says whose it is, for what and until when; the
item itself decides whether the link still lives, so a link dies the moment its item is done,
withdrawn or given to someone else, whichever way that happened (web, command line, chase).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from itsdangerous import BadSignature, Signer
from sqlmodel import Session, col, select

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    AuditEvent,
    DeadlineRequest,
    Link,
    Staff,
    SupportNeed,
)
from models.base import id_of
from models.enums import ActionStatus, AuditStatus, NeedStatus, Role
from models.errors import ConfigError, YotqaError
from models.settings import Settings, get_settings
from models.types import utcnow
from tasks.workdays import Month, london_time

# purpose -> the kind of item it acts on
RECORD, NOT_DONE, ACKNOWLEDGE = "record", "not-done", "acknowledge"
ACTION_DONE, NEW_DATE, DECIDE, ITEMS = "done", "new-date", "decide", "items"
REVIEW = "review"  # A4: a support need's review
PURPOSES = {
    RECORD: "audit",
    NOT_DONE: "audit",
    ACKNOWLEDGE: "audit",
    ACTION_DONE: "action",
    NEW_DATE: "action",
    DECIDE: "request",
    ITEMS: "staff",
    REVIEW: "need",
}
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{20,100}")
SECRET_FILE = "web-secret"  # noqa: S105 (a file name, not a password)


class LinkRefused(YotqaError):
    """A link that does not open its page: forged (403), or dead, expired or not yours (410)."""

    def __init__(
        self, status: int, title: str, message: str, ask: str = "", person_id: int | None = None
    ):
        self.status, self.title, self.message, self.ask = status, title, message, ask
        self.person_id = person_id  # whose link it was, when their other items may be shown
        super().__init__(f"{title}: {message}")


@dataclass(frozen=True)
class Grant:
    """A checked link: whose it is and what it may do."""

    link: Link
    person: Staff

    @property
    def purpose(self) -> str:
        return self.link.purpose

    @property
    def item_id(self) -> int:
        return self.link.item_id


def web_secret(settings: Settings) -> str:
    """YOTQA_WEB_SECRET, or a key made once and kept owner-readable under the output folder."""
    if settings.web_secret:
        if len(settings.web_secret) < 16:
            raise ConfigError("YOTQA_WEB_SECRET is too short: use 32 or more random characters")
        return settings.web_secret
    path = Path(settings.output_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 32:
            raise ConfigError(
                f"{path} does not hold a usable key: delete it to make a new one"
            ) from None
        return key
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


def _signer(settings: Settings, salt: str = "yotqa.link") -> Signer:
    return _signer_for(web_secret(settings), salt)


@lru_cache(maxsize=8)
def _signer_for(secret: str, salt: str) -> Signer:
    # Made once per key: a month's sample signs thousands of links.
    return Signer(secret, salt=salt, digest_method=hashlib.sha256)


def token_of(link: Link, settings: Settings) -> str:
    return _signer(settings).sign(link.nonce).decode("ascii")


def url_of(token: str, settings: Settings) -> str:
    return f"{settings.web_url.rstrip('/')}/l/{token}"


def issue(session: Session, person_id: int, purpose: str, item_id: int, expires_on: date) -> Link:
    """A live link for this person, item and purpose lasting at least until `expires_on`."""
    item_type = PURPOSES[purpose]
    found = session.exec(
        select(Link)
        .where(
            col(Link.staff_id) == person_id,
            col(Link.item_type) == item_type,
            col(Link.item_id) == item_id,
            col(Link.purpose) == purpose,
            col(Link.revoked_at).is_(None),
            col(Link.expires_on) >= expires_on,
        )
        .order_by(col(Link.id).desc())
    ).first()
    if found is not None:
        return found
    link = Link(
        nonce=secrets.token_urlsafe(16),
        staff_id=person_id,
        item_type=item_type,
        item_id=item_id,
        purpose=purpose,
        expires_on=expires_on,
    )
    session.add(link)
    session.flush()
    return link


class Links:
    """Builds the URLs an email or a page puts in front of one person, as of one day.

    `preload` reads the live links of many items in one query, so an email run (a month's
    sample, a day's chase) asks the database once, not once per link."""

    def __init__(self, session: Session, on: date, settings: Settings | None = None):
        self.session, self.on = session, on
        self.settings = settings or get_settings()
        self.days = timedelta(days=self.settings.web_link_days)
        self._secret = web_secret(self.settings)
        self._known: dict[tuple[int, str, int], Link] = {}
        self._loaded: set[tuple[str, int]] = set()

    def preload(self, item_type: str, item_ids: list[int]) -> None:
        ids = sorted({i for i in item_ids if (item_type, i) not in self._loaded})
        for chunk in (ids[n : n + 500] for n in range(0, len(ids), 500)):
            for link in self.session.exec(
                select(Link)
                .where(
                    col(Link.item_type) == item_type,
                    col(Link.item_id).in_(chunk),
                    col(Link.revoked_at).is_(None),
                    # shorter-lived ones are never reused
                    col(Link.expires_on) >= self.on + self.days,
                )
                .order_by(col(Link.id))
            ):
                self._keep(link)
            self._loaded.update((item_type, i) for i in chunk)

    def _keep(self, link: Link) -> None:
        key = (link.staff_id, link.purpose, link.item_id)
        if key not in self._known or self._known[key].expires_on <= link.expires_on:
            self._known[key] = link

    def url(self, person_id: int, purpose: str, item_id: int, deadline: date) -> str:
        expires_on = max(deadline, self.on) + self.days
        known = self._known.get((person_id, purpose, item_id))
        if known is not None and known.expires_on >= expires_on:
            link = known
        elif (PURPOSES[purpose], item_id) in self._loaded:
            link = Link(
                nonce=secrets.token_urlsafe(16),
                staff_id=person_id,
                item_type=PURPOSES[purpose],
                item_id=item_id,
                purpose=purpose,
                expires_on=expires_on,
            )
            self.session.add(link)  # inserted with the rest at the next flush
        else:
            link = issue(self.session, person_id, purpose, item_id, expires_on)
        self._keep(link)
        token = _signer_for(self._secret, "yotqa.link").sign(link.nonce).decode("ascii")
        return url_of(token, self.settings)

    def audit(self, person_id: int, audit_id: int, due_on: date) -> dict[str, str]:
        return {
            "form": self.url(person_id, RECORD, audit_id, due_on),
            "not_done": self.url(person_id, NOT_DONE, audit_id, due_on),
        }

    def action(self, person_id: int, action_id: int, deadline: date) -> dict[str, str]:
        return {
            "done": self.url(person_id, ACTION_DONE, action_id, deadline),
            "new_date": self.url(person_id, NEW_DATE, action_id, deadline),
        }

    def need(self, person_id: int, need_id: int, review_on: date) -> dict[str, str]:
        return {"review": self.url(person_id, REVIEW, need_id, review_on)}

    def items(self, person_id: int) -> str:
        # Lasting to a month after the month's end, so one link serves all of a month's emails.
        return self.url(person_id, ITEMS, person_id, Month.of(self.on).last_day)


def revoke(session: Session, item_type: str, item_id: int, reason: str) -> int:
    """Kill every live link to an item (it has gone to someone else); the reason is shown."""
    result = session.exec(
        sa.update(Link)
        .where(
            col(Link.item_type) == item_type,
            col(Link.item_id) == item_id,
            col(Link.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return int(result.rowcount or 0)


FORGED = (
    "This link is not one the QA system sent, or it has been changed (perhaps cut short when it "
    "was copied). Open the link from your latest email again, whole."
)
ASK_SENDER = "the QA manager, who can send you a new email"


def check(
    session: Session,
    token: str,
    settings: Settings,
    today: date,
    *,
    lock: bool = False,
) -> Grant:
    """The grant a token carries, or LinkRefused saying what happened and whom to ask; `lock`
    holds the item's row until the caller's transaction ends (one of two submits wins)."""
    if not TOKEN_SHAPE.fullmatch(token or ""):
        raise LinkRefused(403, "This link does not work", FORGED, ASK_SENDER)
    signer = _signer(settings)
    try:
        nonce = signer.unsign(token).decode("ascii")
    except BadSignature:
        raise LinkRefused(403, "This link does not work", FORGED, ASK_SENDER) from None
    if not hmac.compare_digest(signer.sign(nonce).decode("ascii"), token):
        # base64's spare bits let a signature be spelled four ways: only the one issued opens.
        raise LinkRefused(403, "This link does not work", FORGED, ASK_SENDER)
    link = session.exec(select(Link).where(col(Link.nonce) == nonce)).first()
    person = session.get(Staff, link.staff_id) if link else None
    if link is None or person is None:
        raise LinkRefused(403, "This link does not work", FORGED, ASK_SENDER)
    refusal: tuple[str, str, int | None] | None = None  # title, message, whose the item is
    if not person.active:
        refusal = (
            "This link has stopped working",
            "You are no longer on the service's staff list.",
            None,
        )
    elif link.revoked_at is not None:
        refusal = ("This link has stopped working", link.revoked_reason, person.id)
    elif today > link.expires_on:
        refusal = (
            "This link has expired",
            f"It could be used until {link.expires_on:%-d %B %Y}. Your newer emails have new links.",
            None,
        )
    elif problem := _dead(session, link, lock):
        refusal = ("There is nothing left to do here", problem, person.id)
    if refusal is not None:  # whom to ask is looked up only when it is needed
        title, message, person_id = refusal
        raise LinkRefused(410, title, message, whom_to_ask(session, person), person_id)
    return Grant(link, person)


def whom_to_ask(session: Session, person: Staff) -> str:
    """The person to ask about a link: the line manager, else the QA manager."""
    manager = session.get(Staff, person.line_manager_id) if person.line_manager_id else None
    if manager is None or not manager.active or manager.id == person.id:
        manager = session.exec(
            select(Staff)
            .where(col(Staff.role) == Role.QA_MANAGER, col(Staff.active) == sa.true())
            .order_by(col(Staff.id))
        ).first()
    return f"{manager.name} ({manager.email})" if manager else ASK_SENDER


def when(value: datetime | None) -> str:
    """A stored instant as people in the service read it: '1 December 2026 at 10:42'."""
    return london_time(value).strftime("%-d %B %Y at %H:%M") if value else "an unknown time"


def _dead(session: Session, link: Link, lock: bool) -> str:
    """Why the link's item no longer wants this person's action, or '' if it does."""
    if link.item_type == "audit":
        audits = select(Audit).where(col(Audit.id) == link.item_id)
        audit = session.exec(audits.with_for_update() if lock else audits).first()
        if audit is None:
            return "The audit this link was for no longer exists."
        if link.purpose == ACKNOWLEDGE:
            return _dead_findings(session, link, audit)
        if audit.auditor_id != link.staff_id:
            return f"This audit was reassigned{_reassigned_on(session, id_of(audit))}: it is no longer yours to do."
        if audit.status is AuditStatus.COMPLETED:
            return f"This audit was recorded on {when(audit.recorded_at)}{_via(audit.recorded_via)}. Nothing more is needed."
        if audit.status is AuditStatus.NOT_DONE:
            return f"This audit was recorded as not done: {audit.reason_not_completed}"
        if audit.status is AuditStatus.WITHDRAWN:
            return "This audit was withdrawn: it is not to be done."
        return ""
    if link.item_type == "action":
        actions = select(ActionPoint).where(col(ActionPoint.id) == link.item_id)
        action = session.exec(actions.with_for_update() if lock else actions).first()
        if action is None:
            return "The action point this link was for no longer exists."
        if action.owner_id != link.staff_id:
            return "This action point now belongs to someone else."
        if action.status is ActionStatus.COMPLETED:
            return f"This action point was marked done on {action.completed_on:%-d %B %Y}."
        if action.status is ActionStatus.CANCELLED:
            return "This action point was cancelled."
        if link.purpose == NEW_DATE:
            pending = pending_request(session, id_of(action))
            if pending is not None:
                decider = session.get(Staff, pending.decider_id)
                return (
                    f"A new date ({pending.proposed_on:%-d %B %Y}) was asked for on "
                    f"{when(pending.created_at)} and waits for {decider.name if decider else 'a decision'}."
                )
        return ""
    if link.item_type == "request":
        requests = select(DeadlineRequest).where(col(DeadlineRequest.id) == link.item_id)
        request = session.exec(requests.with_for_update() if lock else requests).first()
        if request is None or request.decider_id != link.staff_id:
            return "This request is not yours to decide."
        if request.status != "pending":
            return f"This request was {request.status} on {when(request.decided_at)}."
        action = session.get(ActionPoint, request.action_id)
        if action is None or action.status is not ActionStatus.OPEN:
            return "The action point is no longer open, so there is no date to decide."
        return ""
    if link.item_type == "need":
        needs = select(SupportNeed).where(col(SupportNeed.id) == link.item_id)
        need = session.exec(needs.with_for_update() if lock else needs).first()
        if need is None:
            return "The support need this link was for no longer exists."
        if need.owner_id != link.staff_id:
            return "This support need is now someone else's to review."
        if need.status is NeedStatus.MET:
            return f"This support need was reviewed and met on {need.reviewed_on:%-d %B %Y}."
        if need.status is not NeedStatus.OPEN:
            return need.outcome or "This support need is closed."
        return ""
    if link.item_type == "staff":
        return "" if link.item_id == link.staff_id else "This list is someone else's."
    return "This link is for something the system no longer knows."


def _dead_findings(session: Session, link: Link, audit: Audit) -> str:
    if audit.subject_staff_id != link.staff_id:
        return "These findings are about someone else's case."
    if audit.status is not AuditStatus.COMPLETED:
        return "The record of this audit was withdrawn; a new one will be sent when it is recorded again."
    ack = session.exec(
        select(Acknowledgement).where(col(Acknowledgement.audit_id) == audit.id)
    ).first()
    if ack is not None:
        return f"You acknowledged these findings on {when(ack.acknowledged_at)}."
    return ""


def _reassigned_on(session: Session, audit_id: int) -> str:
    event = session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.audit_id) == audit_id, col(AuditEvent.event) == "reassigned")
        .order_by(col(AuditEvent.id).desc())
    ).first()
    return f" on {london_time(event.at):%-d %B %Y}" if event else ""


def _via(via: str) -> str:
    return {
        "web": " through its web page",
        "file": " from a form file",
        "prefect-ui": " in the Prefect form",
    }.get(via, "")


def pending_request(session: Session, action_id: int) -> DeadlineRequest | None:
    return session.exec(
        select(DeadlineRequest).where(
            col(DeadlineRequest.action_id) == action_id, col(DeadlineRequest.status) == "pending"
        )
    ).first()
