"""What the monthly outputs remember from one month to the next (Q1, T3)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class ExceptionFinding(SQLModel, table=True):
    """One data-quality exception found on a case in a month's report (T3)."""

    __table_args__ = (sa.UniqueConstraint("period", "rule", "case_id"),)

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=10, index=True)
    rule: str = Field(max_length=60)
    case_id: int = Field(foreign_key="case.id", index=True)
    team_id: int = Field(foreign_key="team.id")
    found_on: date
