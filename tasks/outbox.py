"""The outbox (E6): queue messages in the caller's transaction; deliver pending ones later.

Delivery is at most once: a message is marked `sending` (committed) before the SMTP
conversation, and `sent`, `pending` (temporary failure, retried with backoff) or `failed`
(permanent) after it. A message left `sending` by a crash is reported, never resent blindly.
With no SMTP host set, a message is written as an `.eml` file and marked `written`: nobody
received it, and `yotqa outbox retry` can send it once a host is set.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from emails.backend.response import SMTPResponse
from emails.message import Message, html
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from models import EmailMessage, Staff
from models.base import id_of
from models.enums import EmailStatus
from models.settings import Settings
from models.types import utcnow
from tasks.mail import render
from tasks.mailserver import (
    LoginWithheld,
    TokenError,
    login_settings,
    refused_login,
    smtp_backend,
)
from tasks.outputs import Outputs

log = logging.getLogger(__name__)
BACKOFF = [timedelta(minutes=m) for m in (1, 5, 15, 60, 240)]
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 8


def queue_email(
    session: Session,
    *,
    key: str,
    kind: str,
    template: str,
    subject: str,
    to: Sequence[Staff | str],
    cc: Sequence[Staff | str] = (),
    attachments: Sequence[dict[str, str]] = (),
    **context: Any,
) -> bool:
    """The one way to queue an email: `templates/email/<template>.txt` and `.html` rendered with
    `context`, stored under `key` (E6) and sent only if the caller commits.

    `recipient_name` defaults to the one recipient's name ("colleague" for a list). False when a
    message with `key` was queued before, or when nobody is to receive it."""
    addresses = [_address(p) for p in to]
    if (
        not addresses
        or session.exec(select(EmailMessage.id).where(col(EmailMessage.key) == key)).first()
        is not None
    ):
        return False
    if "recipient_name" not in context:
        one = to[0] if len(to) == 1 else None
        context["recipient_name"] = one.name if isinstance(one, Staff) else "colleague"
    content = render(template, subject, **context)
    session.add(
        EmailMessage(
            key=key,
            kind=kind,
            to_addrs=sorted(set(addresses)),
            cc_addrs=sorted({_address(p) for p in cc} - set(addresses)),
            subject=content.subject,
            body_text=content.text,
            body_html=content.html,
            attachments=list(attachments),
        )
    )
    return True


def _address(person: Staff | str) -> str:
    return person if isinstance(person, str) else person.email


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    files: list[Path] = field(default_factory=list)  # .eml files written: no SMTP host is set
    # Why the batch stopped early (a refused login or token): what to check, for the admin.
    stopped: str = ""

    @property
    def written(self) -> int:
        return len(self.files)

    def summary(self) -> str:
        delivered = (
            f"{self.written} written to {self.files[0].parent} (no SMTP host is set, nothing sent)"
            if self.files
            else f"{self.sent} sent"
        )
        stopped = f"; {self.stopped}" if self.stopped else ""
        return f"{delivered}, {self.retrying} to retry, {self.failed} failed{stopped}"

    def counts(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "written": self.written,
            "retrying": self.retrying,
            "failed": self.failed,
        }


def _claim(session: Session, now: datetime, limit: int) -> list[EmailMessage]:
    """Lease due messages to this sender: on PostgreSQL, rows another sender holds are skipped.

    The lease is the retry time itself: a sender that dies leaves its unsent messages pending,
    due again once the lease has run out, so none is lost.
    """
    query = (
        select(EmailMessage)
        .where(
            col(EmailMessage.status) == EmailStatus.PENDING,
            col(EmailMessage.next_attempt_at) <= now,
        )
        .order_by(col(EmailMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = []
    for m in session.exec(query).all():
        # Taken only if no other sender moved it since we read it: SQLite has no row locks, and
        # the web pages send their own emails beside the outbox flow.
        taken = session.exec(
            sa.update(EmailMessage)
            .where(
                col(EmailMessage.id) == m.id,
                col(EmailMessage.status) == EmailStatus.PENDING,
                col(EmailMessage.next_attempt_at) == m.next_attempt_at,
            )
            .values(next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:
            set_committed_value(m, "next_attempt_at", now + LEASE)
            claimed.append(m)
    session.commit()
    return claimed


def _start(session: Session, m: EmailMessage) -> None:
    """Mark one message as in flight (committed) before the SMTP conversation: at most once."""
    m.status = EmailStatus.SENDING
    m.attempts += 1
    session.add(m)
    session.commit()


MIME_TYPES = {
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def file_attachment(path: Path) -> dict[str, str]:
    """A file (a pack's PDF, a spreadsheet) stored with the message as base64."""
    return {
        "filename": path.name,
        "mime_type": MIME_TYPES[path.suffix],
        "encoding": "base64",
        "content": base64.b64encode(path.read_bytes()).decode("ascii"),
    }


def calendar_attachment(filename: str, ics: str) -> dict[str, str]:
    """An iCalendar file of deadlines (E1), stored with the message as text; its METHOD (O5:
    PUBLISH, or CANCEL) named in the Content-Type too, where Outlook looks for it (RFC 6047)."""
    method = re.search(r"^METHOD:(\w+)", ics, re.MULTILINE)
    mime_type = f"text/calendar; method={method[1]}" if method else "text/calendar"
    return {"filename": filename, "mime_type": mime_type, "content": ics}


def attachment_bytes(a: dict[str, str]) -> bytes:
    if a.get("encoding") == "base64":
        return base64.b64decode(a["content"])
    return str(a["content"]).encode()


def _build(message: EmailMessage, settings: Settings) -> Message:
    mail = html(
        html=message.body_html,
        text=message.body_text,
        subject=message.subject,
        mail_from=settings.mail_from,
        mail_to=message.to_addrs,
        cc=message.cc_addrs or None,
    )
    for a in message.attachments:
        mail.attach(
            data=attachment_bytes(a),
            filename=a["filename"],
            mime_type=a["mime_type"],
            content_disposition="attachment",
        )
    mail.set_headers({"X-Yotqa-Key": message.key})
    return mail


def send_pending(
    session: Session, settings: Settings, *, now: datetime | None = None, limit: int = 500
) -> SendReport:
    """Deliver due messages over one SMTP connection, or write `.eml` files when no host is set."""
    now = now or utcnow()
    report = SendReport()
    messages = _claim(session, now, limit)
    if not messages:
        return report
    if not settings.smtp_host:
        outputs = Outputs(settings.output_dir)
        outputs.outbox.mkdir(parents=True, exist_ok=True)
        for m in messages:
            _start(session, m)
            path = outputs.email(id_of(m), m.kind)
            path.write_bytes(_build(m, settings).as_bytes())
            _finish(session, m, EmailStatus.WRITTEN, now)
            report.files.append(path)
        return report
    backend = smtp_backend(settings)
    try:
        for index, m in enumerate(messages):
            _start(session, m)
            recipients = m.to_addrs + m.cc_addrs
            response: SMTPResponse | None = _build(m, settings).send(
                to=list(m.to_addrs),
                smtp=backend,  # a list of the type `emails` asks for
            )
            if response is not None and response.success:
                _finish(session, m, EmailStatus.SENT, now)
                report.sent += 1
                continue
            code = getattr(response, "status_code", None)
            error = describe_response(response)
            # A refused login or no token (the message never left): it waits however long that
            # lasts, never failed for it; every message would fail alike, so the batch stops.
            report.stopped = _why_stop(response, settings)
            if not report.stopped and (
                code is not None and 500 <= code < 600 or m.attempts >= MAX_ATTEMPTS
            ):
                _finish(session, m, EmailStatus.FAILED, now, error)
                report.failed += 1
                log.warning("email %s to %d recipient(s) failed: %s", m.key, len(recipients), error)
            else:
                m.next_attempt_at = now + BACKOFF[min(m.attempts, len(BACKOFF)) - 1]
                _finish(session, m, EmailStatus.PENDING, now, error)
                report.retrying += 1
                backend.close()  # a fresh connection for the next message
                if report.stopped:  # the rest tried when this one is due
                    _postpone(session, messages[index + 1 :], m.next_attempt_at, error)
                    log.warning("%s; %d message(s) wait", report.stopped, len(messages) - index)
                    break
    finally:
        backend.close()
    return report


def _why_stop(response: SMTPResponse | None, settings: Settings) -> str:
    """What stops the batch, from the error the `emails` response carries: a refused login (one
    of these codes), no token to log in with (O2), or no safe connection to log in over; empty
    for an error of one message."""
    error = getattr(response, "error", None)
    if isinstance(error, TokenError):
        return f"nothing more is sent until there is a token: {error}"
    if isinstance(error, LoginWithheld):  # no TLS, or a certificate that does not check out
        return f"nothing more is sent: {error}"
    if refused_login(error):
        return (
            f"the mail server refused the login ({describe_response(response)}): nothing more "
            f"is sent until {login_settings(settings)} are put right"
        )
    return ""


def _postpone(session: Session, messages: list[EmailMessage], until: datetime, error: str) -> None:
    for m in messages:
        m.next_attempt_at, m.last_error = until, error[:2000]
        session.add(m)
    session.commit()


def describe_response(response: SMTPResponse | None) -> str:
    if response is None:
        return "no response from the mail server"
    if response.error is not None:
        return f"{type(response.error).__name__}: {response.error}"
    text = response.status_text.decode(errors="replace") if response.status_text else ""
    return f"{response.status_code} {text}".strip()


def _finish(
    session: Session, m: EmailMessage, status: EmailStatus, now: datetime, error: str = ""
) -> None:
    m.status = status
    m.last_error = error[:2000]
    if status in (EmailStatus.SENT, EmailStatus.WRITTEN):
        m.sent_at = now
    session.add(m)
    session.commit()


def requeue(session: Session, ids: list[int], now: datetime | None = None) -> list[int]:
    """Send again messages that failed, that were interrupted mid-delivery, or that were only
    written as files while no SMTP host was set (an admin's decision)."""
    messages = session.exec(select(EmailMessage).where(col(EmailMessage.id).in_(ids))).all()
    done = []
    for m in messages:
        if m.status in (EmailStatus.FAILED, EmailStatus.SENDING, EmailStatus.WRITTEN):
            m.status, m.next_attempt_at = EmailStatus.PENDING, now or utcnow()
            done.append(id_of(m))
    session.commit()
    return sorted(done)


def recent_messages(
    session: Session, status: EmailStatus | None = None, limit: int = 50
) -> list[EmailMessage]:
    """The newest messages first, of one status or all."""
    query = select(EmailMessage).order_by(col(EmailMessage.id).desc()).limit(limit)
    if status is not None:
        query = query.where(col(EmailMessage.status) == status)
    return list(session.exec(query))


def outbox_counts(session: Session) -> dict[EmailStatus, int]:
    rows = session.execute(
        sa.select(col(EmailMessage.status), sa.func.count()).group_by(col(EmailMessage.status))
    ).tuples()
    return {status: count for status, count in rows}
