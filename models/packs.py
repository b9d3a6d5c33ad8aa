"""Packs remember their figures once a period is closed (Q2 "frozen at close")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field
from models.types import UTCDateTime


class PackSnapshot(SQLModel, table=True):
    """The figures of a closed quarter, stored once; later compilations read them, not the tables."""

    __table_args__ = (sa.UniqueConstraint("kind", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20, description="quarterly")
    period: str = Field(max_length=10, description="2026-Q2")
    figures: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    frozen_on: date
    issues: int = 1
    last_issued_on: date
    last_issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
