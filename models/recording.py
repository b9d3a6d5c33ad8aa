"""What happens to an audit after assignment: its history, and the chasing of what is overdue."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field
from models.types import UTCDateTime


class AuditEvent(SQLModel, table=True):
    """One thing done to an audit (recorded, withdrawn, not done, reassigned): who, when, why."""

    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True)
    event: str = Field(max_length=40)
    by_id: int | None = Field(default=None, foreign_key="staff.id")
    reason: str = ""
    via: str = Field(
        default="", max_length=20, description="web, file, prefect-ui, simulation, cli"
    )
    at: datetime = created_at_field()


class ChaseStep(SQLModel, table=True):
    """E2: a reminder, chase or escalation sent for one item; each step at most once per item and
    deadline (an agreed new date starts the steps again from the new date)."""

    __table_args__ = (sa.UniqueConstraint("item_type", "item_id", "deadline", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    item_type: str = Field(max_length=20, description="audit or action")
    item_id: int
    step: str = Field(max_length=40)
    deadline: date
    sent_on: date
    recipient_id: int = Field(foreign_key="staff.id")
    email_key: str = Field(max_length=200)


class AuditDraft(SQLModel, table=True):
    """An audit form saved part-way through the web page, so a closed tab loses nothing."""

    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", unique=True)
    staff_id: int = Field(foreign_key="staff.id")
    fields: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    saved_at: datetime = created_at_field()


class DeadlineRequest(SQLModel, table=True):
    """D3: an action point's owner cannot meet the deadline and proposes another date; the line
    manager agrees or refuses it."""

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="actionpoint.id", index=True)
    requested_by_id: int = Field(foreign_key="staff.id")
    reason: str
    current_deadline: date
    proposed_on: date
    decider_id: int = Field(foreign_key="staff.id", index=True)
    status: str = Field(default="pending", max_length=10, description="pending, agreed, refused")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_note: str = ""
    created_at: datetime = created_at_field()


class Acknowledgement(SQLModel, table=True):
    """The case manager has read an audit's findings, perhaps with a response of their own."""

    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", unique=True)
    staff_id: int = Field(foreign_key="staff.id")
    response: str = ""
    acknowledged_at: datetime = created_at_field()
