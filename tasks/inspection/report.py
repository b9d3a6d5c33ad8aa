"""H3: the mock inspection's report: each standard's rating with its interval, from the mock
inspection's completed audits, as a short PDF and the same figures as XLSX. Cases by reference
only (E5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup
from sqlmodel import Session, col

from models import Audit, Case, QuestionSet, SamplingRun, Staff
from models.base import id_of
from models.enums import AuditStatus, SamplingKind
from models.errors import InvalidInput
from tasks.inspection.figures import (
    about,
    bands_table,
    key_question_table,
    rating_rows,
    ratings,
    weakest,
)
from tasks.inspection.ratings import RatingsSpec
from tasks.mail import TEMPLATES, environment
from tasks.packs.render import long_date, write_atomically, write_pdf
from tasks.workdays import Month
from tasks.xlsx import write_table


@dataclass(frozen=True)
class ReportFiles:
    period: str
    pdf: Path
    xlsx: Path
    pages: int
    completed: int
    assigned: int


def latest_period(session: Session) -> str:
    period = session.execute(
        sa.select(sa.func.max(col(SamplingRun.period))).where(
            col(SamplingRun.kind) == SamplingKind.MOCK_INSPECTION
        )
    ).scalar()
    if period is None:
        raise InvalidInput("no mock inspection has been drawn: run `yotqa inspection sample` first")
    return str(period)


def report_figures(session: Session, period: str, spec: RatingsSpec, on: date) -> dict[str, Any]:
    """The mock inspection of `period` (YYYY-MM): its cases, what became of them, the ratings."""
    Month.parse(period)  # a clear error for a malformed period
    runs = list(
        session.execute(
            sa.select(SamplingRun).where(
                col(SamplingRun.kind) == SamplingKind.MOCK_INSPECTION,
                col(SamplingRun.period) == period,
            )
        ).scalars()
    )
    if not runs:
        raise InvalidInput(f"no mock inspection was drawn in {period}: check the month (YYYY-MM)")
    audits = list(
        session.execute(
            sa.select(Audit)
            .where(col(Audit.sampling_run_id).in_([id_of(r) for r in runs]))
            .order_by(col(Audit.id))
        ).scalars()
    )
    cases = {
        id_of(c): c
        for c in session.execute(
            sa.select(Case).where(col(Case.id).in_([a.case_id for a in audits]))
        ).scalars()
    }
    staff = {id_of(s): s for s in session.execute(sa.select(Staff)).scalars()}
    tools = {id_of(q): q for q in session.execute(sa.select(QuestionSet)).scalars()}
    done = [id_of(a) for a in audits if a.status is AuditStatus.COMPLETED]
    rows = rating_rows(ratings(session, date.min, date.max, spec, audit_ids=done), spec)
    return {
        **about(spec),
        "period": period,
        "drawn_on": runs[0].sampling_date.isoformat(),
        "seed": runs[0].seed,
        "summary": runs[0].rules[-1] if runs[0].rules else "",
        "as_of": on.isoformat(),
        "assigned": sum(1 for a in audits if a.status is not AuditStatus.WITHDRAWN),
        "withdrawn": sum(1 for a in audits if a.status is AuditStatus.WITHDRAWN),
        "completed": len(done),
        "standards": rows,
        "weakest": weakest(rows),
        "cases": [
            {
                "case_ref": cases[a.case_id].case_ref if a.case_id in cases else "",
                "disposal": cases[a.case_id].order_type.label if a.case_id in cases else "",
                "tool": tools[a.question_set_id].title,
                "auditor": staff[a.auditor_id].name,
                "due_on": a.due_on.isoformat(),
                "status": a.status.label,
                "reason": a.selection_reason,
            }
            for a in audits
        ],
    }


def report_html(f: dict[str, Any], service: str) -> str:
    return (
        environment()
        .get_template("packs/inspection.html")
        .render(
            f=f,
            service=service,
            drawn_on=long_date(f["drawn_on"]),
            compiled_on=long_date(f["as_of"]),
            css=Markup((TEMPLATES / "packs" / "pack.css").read_text(encoding="utf-8")),  # noqa: S704
        )
    )


def write_report(
    session: Session, period: str | None, spec: RatingsSpec, on: date, folder: Path, service: str
) -> ReportFiles:
    period = period or latest_period(session)
    f = report_figures(session, period, spec, on)
    folder.mkdir(parents=True, exist_ok=True)
    pdf, xlsx = folder / f"mock-inspection-{period}.pdf", folder / f"mock-inspection-{period}.xlsx"
    pages = write_pdf(report_html(f, service), pdf)
    write_atomically(xlsx, lambda tmp: workbook(f).save(tmp))
    return ReportFiles(period, pdf, xlsx, pages, f["completed"], f["assigned"])


RATING_COLUMNS = ["standard", "title", "cases", "share", "low", "high", "phrase"]
CASE_COLUMNS = ["case_ref", "disposal", "tool", "auditor", "due_on", "status", "reason"]


def workbook(f: dict[str, Any]) -> Any:
    """The report's figures as sheets: ratings, key questions (as the pack's), cases, bands."""
    import openpyxl

    book = openpyxl.Workbook()
    first = book.worksheets[0]
    first.title = "Ratings"
    write_table(
        first,
        ["Standard", "Title", "Cases", "Lowest key question sufficient"]
        + ["Low (95%)", "High (95%)", "Rating"],
        [[r[c] for c in RATING_COLUMNS] for r in f["standards"]],
    )
    write_table(book.create_sheet("Key questions"), *key_question_table(f))
    write_table(
        book.create_sheet("Cases"),
        ["Case reference", "Disposal", "Tool", "Auditor", "Due", "Status", "Why drawn"],
        [[c[k] for k in CASE_COLUMNS] for c in f["cases"]],
    )
    write_table(book.create_sheet("Bands"), *bands_table(f))
    return book
