"""Sampling runs and their manifests (SPEC §2, S3, S4, S11, S12)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field
from models.enums import SamplingKind
from models.types import enum_field


class SamplingRun(SQLModel, table=True):
    """One draw for one sampler and period; a second run for the same key is refused (S11)."""

    __table_args__ = (sa.UniqueConstraint("period", "sampler_id", "kind", "theme"),)

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=10)
    kind: SamplingKind = enum_field(SamplingKind, "sampling_kind")
    theme: str = Field(default="", max_length=80)
    sampler_id: int = Field(foreign_key="staff.id", index=True)
    sampling_date: date
    seed: str = Field(max_length=80)
    rules: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    pool_size: int = 0
    # makeup(): each dimension's count of cases by category (S5)
    pool_makeup: dict[str, dict[str, int]] = Field(default_factory=dict, sa_type=sa.JSON)
    sample_makeup: dict[str, dict[str, int]] = Field(default_factory=dict, sa_type=sa.JSON)
    requested_by_id: int | None = Field(default=None, foreign_key="staff.id")
    run_at: datetime = created_at_field()


class SamplingSelection(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("run_id", "case_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="samplingrun.id", index=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    position: int
    reason: str = ""
    audit_id: int | None = Field(default=None, foreign_key="audit.id")


class SamplingRejection(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="samplingrun.id", index=True)
    case_id: int = Field(foreign_key="case.id")
    reason: str
