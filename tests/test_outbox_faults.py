"""E6 under SMTP faults, against a real aiosmtpd server that misbehaves on cue: 421 (the server
closing), a connection dropped mid-batch, a slow server. Nothing is lost and nothing is sent
twice. (Refused connections, 451 and 550 are covered in test_sampling.py.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from models import EmailMessage
from models.enums import EmailStatus
from models.settings import get_settings
from models.types import utcnow
from tasks.outbox import send_pending
from tests.smtp import Recorder, free_port, queue_notices

COUNT = 12


class Faulty(Recorder):
    """Accepts mail, but drops the connection on some DATA commands and is slow on others."""

    def __init__(self, drop_on: set[int], slow_on: set[int], delay: float, replies: list[str]):
        super().__init__(replies)
        self.drop_on, self.slow_on, self.delay, self.seen = drop_on, slow_on, delay, 0

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.seen += 1
        if self.seen in self.slow_on:
            await asyncio.sleep(self.delay)
        if self.seen in self.drop_on:
            server.transport.close()  # mid-batch: gone before answering this message
            return "421 4.3.0 connection lost"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize(
    ("drop_on", "slow_on", "replies"),
    [
        ({4}, set(), []),  # the connection dropped on the 4th message of the batch
        (set(), set(), ["421 4.7.0 Too busy, closing"]),  # the server closes
        (set(), {2, 7}, []),  # a slow server: 1.5 s on two messages
        ({3, 9}, {5}, ["421 4.3.2 Shutting down"]),  # all at once
    ],
    ids=["dropped-mid-batch", "421-closing", "slow", "everything"],
)
def test_smtp_faults_lose_nothing_and_send_nothing_twice(
    session: Session, monkeypatch: pytest.MonkeyPatch, settings_env, drop_on, slow_on, replies
) -> None:
    queue_notices(session, COUNT, "fault")
    handler = Faulty(drop_on, slow_on, 1.5, replies)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("YOTQA_SMTP_PORT", str(controller.port))
    get_settings.cache_clear()
    try:
        later = utcnow()
        for _ in range(6):  # the schedule's later runs, each after the backoff has passed
            send_pending(session, get_settings(), now=later)
            later += timedelta(hours=5)
    finally:
        controller.stop()
        get_settings.cache_clear()
    session.expire_all()
    statuses = Counter(m.status for m in session.exec(select(EmailMessage)))
    assert statuses == {EmailStatus.SENT: COUNT}, statuses
    keys = [m["X-Yotqa-Key"] for m in handler.messages]
    assert sorted(keys) == sorted(f"fault:{n}" for n in range(COUNT))  # each exactly once
    # A 421 is answered by a later run (after the backoff); a dropped connection is reconnected
    # by the mail library within the same attempt, and the dropped message was never accepted.
    retried = session.exec(select(EmailMessage).where(EmailMessage.attempts > 1)).all()
    assert len(retried) == sum(r.startswith("421") for r in replies)
    assert handler.seen == COUNT + len(drop_on) + len(replies)  # every resend reached the server
