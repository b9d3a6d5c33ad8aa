"""What happens to an audit after assignment: its history, and the chasing of what is overdue."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field


class AuditEvent(SQLModel, table=True):
    """One thing done to an audit (recorded, withdrawn, not done, reassigned): who, when, why."""

    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True)
    event: str = Field(max_length=40)
    by_id: int | None = Field(default=None, foreign_key="staff.id")
    reason: str = ""
    at: datetime = created_at_field()


class ChaseStep(SQLModel, table=True):
    """E2: a reminder, chase or escalation sent for one item; each step at most once per item."""

    __table_args__ = (sa.UniqueConstraint("item_type", "item_id", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    item_type: str = Field(max_length=20, description="audit or action")
    item_id: int
    step: str = Field(max_length=40)
    sent_on: date
    recipient_id: int = Field(foreign_key="staff.id")
    email_key: str = Field(max_length=200)
