"""A4 support and training needs (§5 Methods: "the team manager will identify any additional
support or training needs for individuals, or groups of staff", timescales monitored through
supervision)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from models.base import created_at_field
from models.enums import NeedScope, NeedStatus
from models.types import enum_field


class SupportNeed(SQLModel, table=True):
    """A need identified with an audit: its theme (from the service's list), for the audited case
    manager or their whole team, reviewed by a date by the team manager, and chased like an
    action point until the review finds it met."""

    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True)
    theme: str = Field(max_length=120)
    text: str = ""
    scope: NeedScope = enum_field(NeedScope, "need_scope")
    staff_id: int = Field(foreign_key="staff.id", index=True, description="the case manager")
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    owner_id: int = Field(foreign_key="staff.id", index=True, description="who reviews it")
    review_on: date
    status: NeedStatus = enum_field(NeedStatus, "need_status", default=NeedStatus.OPEN)
    reviewed_on: date | None = None
    outcome: str = ""
    times_reviewed: int = 0
    times_chased: int = 0
    created_at: datetime = created_at_field()
