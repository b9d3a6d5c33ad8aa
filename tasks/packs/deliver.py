"""Send a pack to the service manager, the QA manager and the board list (Q2, T6, T10)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import Session, col

from models import Staff
from models.enums import Role
from models.settings import Settings
from tasks.outbox import file_attachment, queue_email


def pack_recipients(session: Session, settings: Settings) -> tuple[list[str], list[str]]:
    """To: the service manager(s) and the board list; copied: the QA manager(s)."""
    people = dict(
        session.execute(
            sa.select(col(Staff.email), col(Staff.role)).where(
                col(Staff.active) == sa.true(),
                col(Staff.role).in_([Role.SERVICE_MANAGER, Role.QA_MANAGER]),
            )
        )
        .tuples()
        .all()
    )
    to = [e for e, r in people.items() if r is Role.SERVICE_MANAGER] + settings.board_emails
    cc = [e for e, r in people.items() if r is Role.QA_MANAGER]
    return to, cc


class Pack(Protocol):
    """What a pack's email says of it: which pack, its period, its status and its summary."""

    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def period(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def status_line(self) -> str: ...
    @property
    def narrative(self) -> list[str]: ...
    @property
    def frozen_on(self) -> date | None: ...


def send_pack(
    session: Session, settings: Settings, pack: Pack, files: list[Path], on: date
) -> bool:
    """Queue the pack's email once per period and issue (a re-issue is sent at most once a day;
    compiling again on the day the quarter was frozen is the same issue, not a re-issue)."""
    to, cc = pack_recipients(session, settings)
    if not to:
        return False
    status = pack.status
    same_issue = status == "final" or (status == "re-issue" and pack.frozen_on == on)
    key = f"pack:{pack.kind}:{pack.period}:" + ("final" if same_issue else f"{status}:{on}")
    queued = queue_email(
        session,
        key=key,
        kind="pack",
        template="pack",
        subject=f"{pack.title.capitalize()} {pack.period}"
        + (" (re-issued)" if status == "re-issue" else ""),
        to=to,
        cc=cc,
        attachments=[file_attachment(p) for p in files],
        recipient_name="colleague",
        title=pack.title,
        period=pack.period,
        status_line=pack.status_line,
        narrative=pack.narrative,
    )
    session.commit()
    return queued
