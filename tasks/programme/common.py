"""What the programme's notices (T4-T7, T12) and the peer audit day (T9) share: their timetable
row, the people they go to, the one notice email, and the spreadsheets they attach."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Staff
from models.enums import Role
from models.errors import ConfigError
from models.settings import Settings, get_settings
from tasks.outbox import file_attachment, queue_email
from tasks.packs.render import write_atomically
from tasks.timetable import Entry, load_timetable
from tasks.xlsx import write_table


def entry_for(flow: str, settings: Settings | None = None) -> Entry:
    settings = settings or get_settings()
    timetable = load_timetable(settings.timetable_file)
    for entry in timetable.scheduled:
        if entry.flow == flow:
            return entry
    raise ConfigError(
        f"{timetable.source.name}: no entry names the flow {flow!r}: add one (see the shipped "
        "models/data/timetable.yaml) or do not run this job"
    )


def people(session: Session, *roles: Role) -> list[Staff]:
    query = (
        select(Staff)
        .where(Staff.active == sa.true(), col(Staff.role).in_(roles))
        .order_by(col(Staff.role), col(Staff.name))
    )
    return list(session.exec(query))


def queue(
    session: Session,
    *,
    key: str,
    to: list[Staff] | list[str],
    cc: list[Staff] | None = None,
    subject: str,
    paragraphs: list[str],
    figures: Sequence[tuple[str, str]] = (),
    table: dict[str, Any] | None = None,
    files: Sequence[Path] = (),
    greeting: str = "colleague",
) -> int:
    """Queue one notice (1) unless its key was queued before (0)."""
    queued = queue_email(
        session,
        key=key,
        kind="notice",
        template="notice",
        subject=subject,
        to=to,
        cc=cc or [],
        attachments=[file_attachment(f) for f in files],
        recipient_name=greeting,
        paragraphs=paragraphs,
        figures=list(figures),
        table=table,
        attached=[f.name for f in files],
    )
    return int(queued)


def workbook(path: Path, sheets: dict[str, tuple[list[str], list[list[object]]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.worksheets[0])  # a new workbook's one sheet: each sheet is named below
    for title, (header, rows) in sheets.items():
        write_table(book.create_sheet(title[:31]), header, rows)
    return write_atomically(path, book.save)
