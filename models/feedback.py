"""Service-user feedback and the improvement plan (SPEC §1, §5 "Action Planning", App. 6)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field
from models.enums import FeedbackSource
from models.types import enum_field


class Feedback(SQLModel, table=True):
    """One piece of feedback; `fingerprint` makes a re-imported row update rather than repeat."""

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64, unique=True)
    source: FeedbackSource = enum_field(FeedbackSource, "feedback_source")
    received_on: date
    team_id: int = Field(foreign_key="team.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="case.id")
    themes: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    summary: str
    lessons_learnt: str = ""
    resolved_on: date | None = None
    created_at: datetime = created_at_field()


class ImprovementPlan(SQLModel, table=True):
    """The App. 6 master copy for one financial year."""

    id: int | None = Field(default=None, primary_key=True)
    financial_year: int = Field(unique=True)
    title: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()


class PlanOutcome(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("plan_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="improvementplan.id", index=True)
    number: int
    text: str


class PlanObjective(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    outcome_id: int = Field(foreign_key="planoutcome.id", index=True)
    text: str


class PlanActivity(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    objective_id: int = Field(foreign_key="planobjective.id", index=True)
    text: str
    completion_date: date
    lead_officer_id: int | None = Field(default=None, foreign_key="staff.id")
    progress: str = ""
    added_on: date | None = Field(default=None, description="the day it joined the plan")
    completed_on: date | None = None
    created_at: datetime = created_at_field()
