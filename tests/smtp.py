"""A real SMTP server on loopback for tests (aiosmtpd), which can be told to fail."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage as ParsedEmail

from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from models import EmailMessage
from models.enums import EmailStatus
from tasks.outbox import queue_email


class Recorder:
    """Keeps every message accepted; answers each DATA with the next scripted reply, then 250."""

    def __init__(self, replies: list[str] | None = None):
        self.messages: list[ParsedEmail] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.replies = list(replies or [])

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        if self.replies:
            return self.replies.pop(0)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(
    replies: list[str] | None = None, port: int | None = None
) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder(replies)
    controller = Controller(recorder, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


def text_of(message: ParsedEmail) -> str:
    """Every text part (plain and HTML), decoded, for searching."""
    return "\n".join(
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
    )


def queue_notices(session: Session, count: int, tag: str) -> None:
    """Queue `count` plain notices (keys `tag:0`, `tag:1`...) to different people, committed."""
    for n in range(count):
        queue_email(
            session,
            key=f"{tag}:{n}",
            kind="notice",
            template="notice",
            subject=f"Message {n}",
            to=[f"person{n}@yot.example.org"],
            paragraphs=["Case YJ26-00001."],
            figures=[],
            table=None,
            attached=[],
        )
    session.commit()


def statuses(session: Session) -> dict[EmailStatus, int]:
    """How many messages in the outbox are in each status, read afresh."""
    session.expire_all()
    counts: dict[EmailStatus, int] = {}
    for m in session.exec(select(EmailMessage)):
        counts[m.status] = counts.get(m.status, 0) + 1
    return counts
