"""Service-user feedback import: `received_on,source,team,case_ref,themes,summary,lessons_learnt,resolved_on`."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import TypedDict

from sqlmodel import Session, col, select

from models import Case, Feedback, Team
from models.base import id_column
from models.enums import FeedbackSource, ImportKind
from models.errors import CellError
from tasks.importing.common import ImportReport, record_import
from tasks.importing.fields import readable_rows
from tasks.importing.reader import PLAIN, Layout, open_table

FEEDBACK_COLUMNS = [
    "received_on",
    "source",
    "team",
    "case_ref",
    "themes",
    "summary",
    "lessons_learnt",
    "resolved_on",
]


class _FeedbackValues(TypedDict):
    """The fields of a Feedback row an import sets and compares (besides its fingerprint)."""

    received_on: date
    source: FeedbackSource
    team_id: int
    case_id: int | None
    themes: list[str]
    summary: str
    lessons_learnt: str
    resolved_on: date | None


def import_feedback(
    session: Session, path: Path, *, as_of: date, layout: Layout = PLAIN
) -> ImportReport:
    """Add feedback; a row already imported (same date, source, team, case, summary) is updated."""
    table = open_table(path, FEEDBACK_COLUMNS, layout)
    teams = dict(session.exec(select(col(Team.name), id_column(Team))).all())
    cases = dict(session.exec(select(col(Case.case_ref), id_column(Case))).all())
    existing = {f.fingerprint: f for f in session.exec(select(Feedback))}
    errors: list[CellError] = []
    report = ImportReport(ImportKind.FEEDBACK, table.name)
    seen: dict[str, int] = {}
    for cells in readable_rows(table, errors):
        received = cells.date("received_on")
        source = cells.choice("source", FeedbackSource)
        team_id = cells.team("team", teams)
        case_ref = cells.label("case_ref", required=False, max_length=64)
        themes_text = cells.text("themes", required=False, max_length=1000) or ""
        summary = cells.text("summary", max_length=4000)
        lessons = cells.text("lessons_learnt", required=False, max_length=4000)
        resolved = cells.date("resolved_on", required=False)
        if received and received > as_of:
            cells.error("received_on", f"{received} is after the extract's date {as_of}")
        if received and resolved and resolved < received:
            cells.error("resolved_on", f"resolved before received: {resolved} is before {received}")
        if case_ref and case_ref not in cases:
            cells.error("case_ref", f"unknown case {case_ref!r}: import the cases extract first")
        if (
            not cells.ok
            # a None is a bad cell, already noted (so cells.ok is False): this only tells mypy
            or received is None
            or source is None
            or team_id is None
            or case_ref is None
            or summary is None
        ):
            continue
        key = _fingerprint(received, source, team_id, case_ref, summary)
        if key in seen:
            cells.error(None, f"the same feedback as row {seen[key]}")
            continue
        seen[key] = cells.row
        report.rows += 1
        values: _FeedbackValues = {
            "received_on": received,
            "source": source,
            "team_id": team_id,
            "case_id": cases.get(case_ref) if case_ref else None,
            "themes": [t.strip() for t in themes_text.split(";") if t.strip()],
            "summary": summary,
            "lessons_learnt": lessons or "",
            "resolved_on": resolved,
        }
        item = existing.get(key)
        if item is None:
            session.add(Feedback(fingerprint=key, **values))
            report.created += 1
        elif any(getattr(item, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(item, k, v)
            report.updated += 1
        else:
            report.unchanged += 1
    if errors:
        session.rollback()
        raise table.refused(errors)
    record_import(session, report, path, as_of)
    session.commit()
    return report


def _fingerprint(
    received: date, source: FeedbackSource, team_id: int, case_ref: str, summary: str
) -> str:
    text = "\x1f".join(
        [received.isoformat(), source.value, str(team_id), case_ref, " ".join(summary.split())]
    )
    return hashlib.sha256(text.encode()).hexdigest()
