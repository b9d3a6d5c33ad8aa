"""A4 support and training needs, counted for a quarter (§5 Methods: "the team manager will
identify any additional support or training needs for individuals, or groups of staff", their
timescales monitored through supervision): for the quarterly pack's section and the workforce
development lead's quarterly summary (`tasks/programme/needs_summary.py`).

Here, not beside the summary that sends them, because the pack (`tasks/packs/quarterly.py`) reads
these figures and the summary's email helpers (`tasks/programme/common.py`) import the pack's
writer: one module of plain figures keeps the imports from going round a circle.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from models import Audit, SupportNeed
from models.enums import AuditKind, AuditStatus, NeedScope, NeedStatus
from tasks.packs.figures import team_names
from tasks.workdays import Quarter

MOST_OFTEN = 3  # the themes named as those most often identified
FOR_WHOM = {NeedScope.INDIVIDUAL: "individual", NeedScope.TEAM: "whole team"}


def state_at(need: SupportNeed, end: date) -> str:
    """Where a need stood at `end`: "met" (its review found it met by then), "closed" (its case
    manager had left), "overdue" (open and past its review date) or "open"."""
    if (
        need.status is not NeedStatus.OPEN
        and need.reviewed_on is not None
        and need.reviewed_on <= end
    ):
        return "met" if need.status is NeedStatus.MET else "closed"
    return "overdue" if need.review_on < end else "open"


def needs_figures(session: Session, quarter: Quarter, on: date | None = None) -> dict[str, Any]:
    """A4: the quarter's support and training needs, as plain JSON-able data (frozen with the
    pack once the quarter closes).

    - Identified in the quarter: the needs recorded with an audit completed within it (the
      audit's `completed_on`, not the row's creation time, so an audit recorded late counts in
      the quarter it was done), counted by theme and team (the case manager's team when the need
      was recorded), split into the individual's and the whole team's. Self-audits' needs are
      counted too (the case manager's own view of what they need, A2) and also shown apart as
      `from_self_audits`; moderations take no needs (A5).
    - Reviews due in the quarter: the needs whose review date falls in it, or which were reviewed
      in it (a review that finds a need still needed moves its date on); met: those whose review
      found them met by the quarter's end.
    - Open at the quarter's end: recorded by then and not yet met by then; overdue: of those,
      the ones past their review date.

    Dates are the needs' as they stand when the figures are taken (the pack is frozen at the
    quarter's close). `on` (the day the figures are taken) ends a quarter still open early: a
    provisional pack's "end" is that day. No names: needs are counted by theme and team, and
    their words are left out (staff names belong in the supervisee's own summary only, E5).
    """
    end = min(quarter.last_day, on) if on is not None else quarter.last_day
    first = quarter.first_day
    teams = team_names(session)
    rows = session.execute(
        sa.select(SupportNeed, col(Audit.completed_on), col(Audit.kind))
        .join(Audit, col(Audit.id) == SupportNeed.audit_id)
        .where(col(Audit.status) == AuditStatus.COMPLETED, col(Audit.completed_on) <= end)
        .order_by(col(SupportNeed.id))
    ).all()

    def team(team_id: int | None) -> str:
        return "No team" if team_id is None else teams.get(team_id, "No team")

    cells: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    themes: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    reviews: Counter[str] = Counter()
    still_open: list[dict[str, Any]] = []
    for need, completed_on, kind in rows:
        if completed_on is None:
            continue  # never: completed audits only
        state = state_at(need, end)
        if first <= completed_on <= end:
            scope = "individual" if need.scope is NeedScope.INDIVIDUAL else "whole_team"
            cells[(need.theme, team(need.team_id))][scope] += 1
            themes[need.theme] += 1
            totals["identified"] += 1
            totals[scope] += 1
            totals["from_self_audits"] += kind is AuditKind.SELF
        reviewed_in = need.reviewed_on is not None and first <= need.reviewed_on <= end
        met_before = (
            state in ("met", "closed") and need.reviewed_on is not None and need.reviewed_on < first
        )
        if (first <= need.review_on <= end or reviewed_in) and not met_before:
            reviews["due"] += 1
            reviews["met"] += state == "met"
        if state not in ("met", "closed"):
            reviews["open"] += 1
            reviews["overdue"] += state == "overdue"
            still_open.append(
                {
                    "theme": need.theme,
                    "team": team(need.team_id),
                    "for": FOR_WHOM[need.scope],
                    "identified_on": completed_on.isoformat(),
                    "review_on": need.review_on.isoformat(),
                    "status": state,
                }
            )
    table_teams = sorted({t for _, t in cells})
    ordered = sorted(themes, key=lambda t: (-themes[t], t))
    by_theme = []
    for theme in ordered:
        mine = {t: cells.get((theme, t), Counter()) for t in table_teams}
        by_theme.append(
            {
                "theme": theme,
                "teams": {t: c["individual"] + c["whole_team"] for t, c in mine.items()},
                "individual": sum(c["individual"] for c in mine.values()),
                "whole_team": sum(c["whole_team"] for c in mine.values()),
                "total": themes[theme],
            }
        )
    return {
        "identified": totals["identified"],
        "individual": totals["individual"],
        "whole_team": totals["whole_team"],
        "from_self_audits": totals["from_self_audits"],
        "teams": table_teams,
        "by_theme": by_theme,
        "by_theme_team": [
            {
                "theme": theme,
                "team": t,
                "individual": c["individual"],
                "whole_team": c["whole_team"],
                "total": c["individual"] + c["whole_team"],
            }
            for (theme, t), c in sorted(
                cells.items(), key=lambda kv: (ordered.index(kv[0][0]), kv[0][1])
            )
        ],
        "team_totals": {
            t: sum(c["individual"] + c["whole_team"] for (_, tt), c in cells.items() if tt == t)
            for t in table_teams
        },
        "most_often": [{"theme": t, "count": themes[t]} for t in ordered[:MOST_OFTEN]],
        "reviews": {"due": reviews["due"], "met": reviews["met"]},
        "open": {"open": reviews["open"], "overdue": reviews["overdue"]},
        "open_needs": sorted(
            still_open, key=lambda r: (r["review_on"], r["theme"], r["team"], r["for"])
        ),
    }


def theme_team_rows(f: dict[str, Any]) -> tuple[list[str], list[list[object]]]:
    """The theme by team table as a header and rows (for the spreadsheets and the email): a row
    per theme, a column per team, then the individual and whole-team split and the total."""
    header = ["theme", *f["teams"], "individual", "whole team", "total"]
    rows: list[list[object]] = [
        [
            r["theme"],
            *[r["teams"][t] for t in f["teams"]],
            r["individual"],
            r["whole_team"],
            r["total"],
        ]
        for r in f["by_theme"]
    ]
    if rows:
        rows.append(
            [
                "All themes",
                *[f["team_totals"][t] for t in f["teams"]],
                f["individual"],
                f["whole_team"],
                f["identified"],
            ]
        )
    return header, rows


OPEN_COLUMNS = ["theme", "team", "for", "identified_on", "review_on", "status"]


def open_rows(f: dict[str, Any]) -> tuple[list[str], list[list[object]]]:
    """The needs open at the quarter's end, as a header and rows."""
    return [c.replace("_", " ") for c in OPEN_COLUMNS], [
        [r[c] for c in OPEN_COLUMNS] for r in f["open_needs"]
    ]
