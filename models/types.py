"""Column types shared by the tables: UTC timestamps and enumerations stored as text."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: every stored timestamp is UTC, so say so."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored in UTC, returned aware on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column: attach a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def enum_column(enum: type[Enum], name: str) -> sa.Enum:
    """A portable enumeration: VARCHAR plus a CHECK constraint, on SQLite and PostgreSQL alike."""
    return sa.Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(str(m.value)) for m in enum),
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def enum_field(enum: type[Enum], name: str, **kwargs: Any) -> Any:
    from sqlmodel import Field

    return Field(sa_type=enum_column(enum, name), **kwargs)
