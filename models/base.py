"""Metadata conventions shared by every table."""

from __future__ import annotations

from typing import Any, Protocol, cast

from sqlalchemy.orm import Mapped
from sqlmodel import Field, SQLModel, col

from models.types import UTCDateTime, utcnow

# Named constraints let Alembic alter them on SQLite (batch mode) and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def created_at_field() -> Any:
    """A creation timestamp column. Any, as sqlmodel's Field is: the attribute's annotation
    (`created_at: datetime = created_at_field()`) gives the value's type."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Stored(Protocol):
    id: int | None


def id_of(row: Stored) -> int:
    """A stored row's id: a table's `id` is None only until the row is flushed, so a row read
    from the database, or added and flushed, always has one."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: flush the session first")
    return row.id


def id_column(table: type[Stored]) -> Mapped[int]:
    """A table's id column for a query (`sa.select(col(Team.name), id_column(Team))`): `int | None`
    on a row not yet flushed, but every id the database hands back is an int."""
    return cast("Mapped[int]", col(table.id))
