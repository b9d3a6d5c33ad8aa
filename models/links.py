"""People's links (L1): one person, one item, one purpose; what the signed token stands for."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field
from models.types import UTCDateTime


class Link(SQLModel, table=True):
    """A personal link sent in an email. The token is `nonce` signed with the web secret, so a
    token cannot be made without the secret, and nothing of the case or person is in it."""

    __table_args__ = (sa.Index("ix_link_item", "item_type", "item_id"),)

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=64, unique=True, repr=False)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    item_type: str = Field(max_length=20, description="audit, action, request, need or staff")
    item_id: int
    purpose: str = Field(max_length=20)
    expires_on: date
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str = ""
    created_at: datetime = created_at_field()
