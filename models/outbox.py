"""The email outbox (E6): every message is stored before it is sent, and sent at most once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field
from models.enums import EmailStatus
from models.types import UTCDateTime, enum_field


class EmailMessage(SQLModel, table=True):
    """One email; `key` names what it is about, so the same message is never queued twice."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=40)
    to_addrs: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    cc_addrs: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    subject: str = Field(max_length=300)
    body_text: str
    body_html: str
    # [{"filename": ..., "mime_type": ..., "content": text}]
    # filename, mime_type, content and, for a file, encoding (tasks/outbox.py)
    attachments: list[dict[str, str]] = Field(default_factory=list, sa_type=sa.JSON)
    status: EmailStatus = enum_field(
        EmailStatus, "email_status", default=EmailStatus.PENDING, index=True
    )
    attempts: int = 0
    next_attempt_at: datetime = created_at_field()
    last_error: str = ""
    created_at: datetime = created_at_field()
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
