"""A4 the workforce development lead's quarterly summary of support and training needs (§5
Methods: "the team manager will identify any additional support or training needs for
individuals, or groups of staff"; issue 14: "the workforce development lead gets a quarterly
summary of needs by theme and team").

Sent in the supervisee summaries' quarterly job (timetable row SS), for the quarter just closed:
one email to every active workforce development lead (else the active service managers), copied
to the QA managers, with a spreadsheet of the needs by theme and team and of those open at the
quarter's end; once per quarter (E6), and sent even when no need was identified, saying so. The
figures are the quarterly pack's (`tasks/packs/needs.py`): the pack's frozen ones once the
quarter's pack has been compiled after its close, so the two never differ. No names: needs by
theme and team only (each case manager's own are in their supervisee summary, A3; E5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from models import EmailMessage
from models.enums import Role
from tasks.outputs import Outputs
from tasks.packs.needs import needs_figures, open_rows, theme_team_rows
from tasks.packs.quarterly import frozen_figures
from tasks.packs.render import long_date
from tasks.programme.common import people, queue, workbook
from tasks.workdays import Quarter

__all__ = ["NeedsSummarySent", "needs_figures", "quarter_needs", "send_needs_summary"]


@dataclass
class NeedsSummarySent:
    """What the summary's step did: for the job's outcome and the command line."""

    period: str
    emails: int = 0
    already: bool = False
    identified: int = 0
    open: int = 0
    overdue: int = 0
    file: str = ""


def key_of(quarter: Quarter) -> str:
    return f"needs-summary:{quarter}"


def quarter_needs(session: Session, quarter: Quarter, on: date) -> dict[str, Any]:
    """The quarter's needs figures: the pack's, frozen at its close, if it has been compiled since
    (packs frozen before A4 have none), else counted now."""
    frozen = frozen_figures(session, quarter)
    if frozen is not None and "needs" in frozen:
        return dict(frozen["needs"])
    return needs_figures(session, quarter, on)


def send_needs_summary(
    session: Session, quarter: Quarter, on: date, root: Path | None = None
) -> NeedsSummarySent:
    """A4: the quarter's needs by theme and team, and those open at its end, written as a
    spreadsheet (under `root`, the output folder) and queued to the workforce development lead(s)
    (else the service managers), copied to the QA manager(s); nothing again once queued for the
    quarter (commits once)."""
    result = NeedsSummarySent(str(quarter))
    key = key_of(quarter)
    queued_before = session.execute(
        sa.select(col(EmailMessage.id)).where(col(EmailMessage.key) == key)
    ).first()
    if queued_before is not None:
        result.already = True
        return result
    f = quarter_needs(session, quarter, on)
    result.identified, result.open, result.overdue = (
        f["identified"],
        f["open"]["open"],
        f["open"]["overdue"],
    )
    header, rows = theme_team_rows(f)
    path = workbook(
        (Outputs(root) if root is not None else Outputs.configured()).needs_summary(str(quarter)),
        {"By theme and team": (header, rows), "Open at the quarter's end": open_rows(f)},
    )
    result.file = str(path)
    to = people(session, Role.WORKFORCE_DEVELOPMENT_LEAD) or people(session, Role.SERVICE_MANAGER)
    cc = [p for p in people(session, Role.QA_MANAGER) if p.id not in {t.id for t in to}]
    period = f"{long_date(quarter.first_day)} to {long_date(quarter.last_day)}"
    if f["identified"]:
        found = (
            f"{f['identified']} support or training needs were identified in the audits "
            f"completed from {period}: {f['individual']} for individual case managers and "
            f"{f['whole_team']} for whole teams. Most often: "
            + "; ".join(f"{t['theme']} ({t['count']})" for t in f["most_often"])
            + ". The table below counts them by theme and team."
        )
    else:
        found = (
            f"No support or training needs were identified in the audits completed from {period}."
        )
    result.emails = queue(
        session,
        key=key,
        to=to,
        cc=cc,
        greeting=to[0].name if len(to) == 1 else "colleague",
        subject=f"Support and training needs, {quarter}: the quarterly summary",
        paragraphs=[
            "Team managers identify support and training needs for individuals or groups of staff "
            "with their audits, each with a date to review it by (framework section 5, Methods; "
            "A4). This is the quarter's summary for workforce development.",
            found,
            f"At the quarter's end {f['open']['open']} needs were open, {f['open']['overdue']} of "
            "them past their review date. The spreadsheet attached has the table and every need "
            "open at the quarter's end, by theme and team; no one is named. Each case manager's "
            "own needs are in their quarterly supervisee summary.",
        ],
        figures=[
            ("needs identified", str(f["identified"])),
            ("for individuals / whole teams", f"{f['individual']} / {f['whole_team']}"),
            ("identified in self-audits", str(f["from_self_audits"])),
            (
                "reviews due this quarter / found met",
                f"{f['reviews']['due']} / {f['reviews']['met']}",
            ),
            (
                "open at the quarter's end / past their review date",
                f"{f['open']['open']} / {f['open']['overdue']}",
            ),
        ],
        table={"header": header, "rows": rows} if rows else None,
        files=[path],
    )
    session.commit()
    return result
