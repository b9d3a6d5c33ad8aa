"""Question sets, audits and what an audit finds (SPEC §1, App. 1, 3 and 4)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field
from models.enums import (
    ActionStatus,
    AnswerType,
    AuditCategory,
    AuditKind,
    AuditStatus,
    Judgement,
    QuestionSetKind,
    SelectionMethod,
    YesNo,
)
from models.types import UTCDateTime, enum_field


class QuestionSet(SQLModel, table=True):
    """A versioned audit tool; a themed variant names the base set it adds to or drops from."""

    __table_args__ = (sa.UniqueConstraint("code", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=80)
    version: int
    title: str = Field(max_length=200)
    kind: QuestionSetKind = enum_field(QuestionSetKind, "question_set_kind")
    base_id: int | None = Field(default=None, foreign_key="questionset.id")
    source: str = Field(default="", max_length=200)
    checksum: str = Field(max_length=64)
    loaded_at: datetime = created_at_field()


class Question(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("question_set_id", "code"),
        sa.UniqueConstraint("question_set_id", "position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    question_set_id: int = Field(foreign_key="questionset.id", index=True)
    code: str = Field(max_length=80)
    position: int
    section: str = Field(max_length=120)
    text: str
    answer_type: AnswerType = enum_field(AnswerType, "answer_type")
    guidance: str = ""
    required: bool = True
    # H1: the inspection standard a key question belongs to (e.g. "2.1"), else "".
    standard: str = Field(default="", max_length=10, sa_column_kwargs={"server_default": ""})


class Audit(SQLModel, table=True):
    """One assigned audit: who audits what, why it was chosen, and what became of it."""

    __table_args__ = (
        # No second audit of the same case, kind and period (S11), except at the peer audit day,
        # where two auditors may audit one case so their agreement can be measured (T9).
        sa.Index(
            "uq_audit_case_kind_period",
            "case_id",
            "kind",
            "period",
            unique=True,
            sqlite_where=sa.text("kind <> 'peer'"),
            postgresql_where=sa.text("kind <> 'peer'"),
        ),
        sa.UniqueConstraint("case_id", "kind", "period", "auditor_id"),
        sa.CheckConstraint("due_on >= assigned_on", name="due_after_assigned"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: AuditKind = enum_field(AuditKind, "audit_kind")
    category: AuditCategory = enum_field(AuditCategory, "audit_category")
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    subject_staff_id: int = Field(foreign_key="staff.id", index=True)
    auditor_id: int = Field(foreign_key="staff.id", index=True)
    question_set_id: int = Field(foreign_key="questionset.id")
    selection_method: SelectionMethod = enum_field(SelectionMethod, "selection_method")
    selection_reason: str = ""
    sampling_run_id: int | None = Field(default=None, foreign_key="samplingrun.id", index=True)
    # A5: the completed audit this one re-marks blind (a moderation), else None.
    moderates_id: int | None = Field(default=None, foreign_key="audit.id", index=True)
    # A1: the audit whose action points this one re-audits, else None.
    reaudits_id: int | None = Field(default=None, foreign_key="audit.id", index=True)
    period: str = Field(max_length=10, description="YYYY-MM the audit belongs to")
    assigned_on: date
    due_on: date
    completed_on: date | None = None
    status: AuditStatus = enum_field(AuditStatus, "audit_status", default=AuditStatus.ASSIGNED)
    reason_not_completed: str = ""
    three_way_meeting: bool = False
    recorded_in_cms: bool = False
    recorded_by_id: int | None = Field(default=None, foreign_key="staff.id")
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_via: str = Field(default="", max_length=20, description="how the record arrived")
    # O5: raised whenever the audit's calendar entry changes (moved, passed on, withdrawn), so a
    # calendar takes the newer file over the older one.
    calendar_sequence: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = created_at_field()


class Finding(SQLModel, table=True):
    """The answer to one question of an audit's question set."""

    __table_args__ = (
        sa.UniqueConstraint("audit_id", "question_id"),
        sa.CheckConstraint("count IS NULL OR count >= 0", name="count_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True)
    question_id: int = Field(foreign_key="question.id")
    judgement: Judgement | None = enum_field(Judgement, "judgement", default=None, nullable=True)
    yes_no: YesNo | None = enum_field(YesNo, "yes_no", default=None, nullable=True)
    count: int | None = None
    text: str = ""
    evidence: str = ""


class ActionPoint(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("audit_id", "priority"),
        sa.CheckConstraint("priority >= 1", name="priority_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True)
    text: str
    priority: int
    owner_id: int = Field(foreign_key="staff.id", index=True)
    deadline: date
    status: ActionStatus = enum_field(ActionStatus, "action_status", default=ActionStatus.OPEN)
    completed_on: date | None = None
    evidence: str = ""
    times_chased: int = 0
    objective_id: int | None = Field(default=None, foreign_key="planobjective.id")
    # O5: raised when a new date is agreed, so a calendar takes the newer file over the older one.
    calendar_sequence: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = created_at_field()


class GoodPractice(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True)
    text: str
    shared: bool = True


class HighRiskIssue(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True)
    text: str
    raised_with_id: int | None = Field(default=None, foreign_key="staff.id")
    raised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
