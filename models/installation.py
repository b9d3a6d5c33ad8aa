"""O5: this installation's own identity, made once and kept: calendar entries' UIDs carry it, so
two services' entries never collide in one calendar."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from models.base import created_at_field
from models.types import utcnow


class Installation(SQLModel, table=True):
    """One row: the random id every worker sharing the database puts in calendar UIDs."""

    __table_args__ = (sa.CheckConstraint("id = 1", name="one_row"),)

    id: int = Field(default=1, primary_key=True)
    uid: str = Field(max_length=32)
    created_at: datetime = created_at_field()


def installation_id(session: Session) -> str:
    """The installation's id: migration 0014 made it; a database built without the migrations
    (or emptied) gets one at first use, the same for every worker (the insert races harmlessly)."""
    query = select(Installation.uid).where(col(Installation.id) == 1)
    found = session.exec(query).first()
    if found is not None:
        return found
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Installation)
        .values(id=1, uid=uuid.uuid4().hex, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return session.exec(query).one()
