"""Teams, staff and the caseload (SPEC §1, Fig. 2)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field
from models.enums import (
    Gender,
    ImportKind,
    MappaLevel,
    OrderType,
    RiskLevel,
    Role,
    SocialCareStatus,
)
from models.types import enum_field


class Team(SQLModel, table=True):
    """A team; its operational manager is the active operational manager who belongs to it."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    created_at: datetime = created_at_field()


class Staff(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    role: Role = enum_field(Role, "role")
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    line_manager_id: int | None = Field(default=None, foreign_key="staff.id")
    active: bool = True
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Case(SQLModel, table=True):
    """A case from the case-management system; `case_manager_id` is the current holder."""

    __table_args__ = (
        sa.CheckConstraint(
            "closed_on IS NULL OR closed_on >= opened_on", name="closed_after_opened"
        ),
        sa.CheckConstraint("date_of_birth < opened_on", name="born_before_opened"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_ref: str = Field(max_length=64, unique=True)
    young_person_ref: str = Field(max_length=64, index=True)
    # Personal data: never written to an email or a log line (E5).
    young_person_name: str = Field(default="", max_length=200, repr=False)
    date_of_birth: date = Field(repr=False)
    gender: Gender = enum_field(Gender, "gender")
    ethnicity: str = Field(max_length=120)
    order_type: OrderType = enum_field(OrderType, "order_type")
    opened_on: date
    closed_on: date | None = None
    case_manager_id: int = Field(foreign_key="staff.id", index=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    social_care_status: SocialCareStatus | None = enum_field(
        SocialCareStatus, "social_care_status", default=None, nullable=True
    )
    rosh_level: RiskLevel | None = enum_field(RiskLevel, "rosh_level", default=None, nullable=True)
    vulnerability_level: RiskLevel | None = enum_field(
        RiskLevel, "vulnerability_level", default=None, nullable=True
    )
    mappa_level: MappaLevel | None = enum_field(
        MappaLevel, "mappa_level", default=None, nullable=True
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class CaseAllocation(SQLModel, table=True):
    """Who held a case, and in which team, from one date to another (None: still holds it)."""

    __table_args__ = (
        sa.CheckConstraint("to_date IS NULL OR to_date >= from_date", name="ends_after_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    team_id: int = Field(foreign_key="team.id")
    from_date: date
    to_date: date | None = None


class ImportRun(SQLModel, table=True):
    """One successful import of a file: what came in and what it changed."""

    id: int | None = Field(default=None, primary_key=True)
    kind: ImportKind = enum_field(ImportKind, "import_kind")
    file_name: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    as_of: date
    rows: int = 0
    created: int = 0
    updated: int = 0
    closed: int = 0
    reallocated: int = 0
    imported_at: datetime = created_at_field()
