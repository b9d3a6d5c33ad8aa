"""Compile a quarter's pack figures: live while the quarter is open, frozen once it has closed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from statistics import median
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from models import Audit, PackSnapshot
from models.settings import get_settings
from models.types import utcnow
from tasks.inspection.adaptive import adaptive_figures
from tasks.inspection.figures import inspection_figures
from tasks.inspection.ratings import load_inspection
from tasks.moderation import agreement_figures
from tasks.packs import evidence
from tasks.packs.figures import (
    TREND_QUARTERS,
    Scope,
    action_figures,
    audit_figures,
    judgement_figures,
    months_of,
)
from tasks.packs.needs import needs_figures
from tasks.reaudit import reaudit_figures
from tasks.self_audit import calibration_figures
from tasks.workdays import Quarter

log = logging.getLogger(__name__)
KIND = "quarterly"
PROVISIONAL, FINAL, REISSUE = "provisional", "final", "re-issue"


@dataclass
class QuarterPack:
    quarter: Quarter
    on: date
    figures: dict[str, Any]
    status: str  # provisional (quarter still open), final (first issue after close), re-issue
    frozen_on: date | None = None
    issue: int = 1
    narrative: list[str] = field(default_factory=list)
    kind = "quarterly"
    title = "quarterly quality assurance report"

    @property
    def period(self) -> str:
        return str(self.quarter)

    @property
    def status_line(self) -> str:
        if self.status == PROVISIONAL:
            return (
                f"Provisional: the quarter ends on {self.quarter.last_day:%-d %B %Y}; "
                f"figures as of {self.on:%-d %B %Y} and may change."
            )
        if self.status == REISSUE:
            return (
                f"Re-issued on {self.on:%-d %B %Y} (issue {self.issue}): the figures are those "
                f"frozen when the quarter closed, on {self.frozen_on:%-d %B %Y}; later imports "
                "and edits do not change them."
            )
        return f"Final: figures frozen at the close of the quarter, on {self.on:%-d %B %Y}."


def quarter_figures(session: Session, quarter: Quarter, on: date) -> dict[str, Any]:
    """Every figure of the quarter's pack as of `on` (the trend is added by the compiler)."""
    scope = Scope.of(session, quarter, on)
    return {
        "period": str(quarter),
        "first_day": quarter.first_day.isoformat(),
        "last_day": quarter.last_day.isoformat(),
        "as_of": on.isoformat(),
        "audits": audit_figures(session, scope),
        "judgements": judgement_figures(session, quarter, scope.teams),
        "actions": action_figures(session, scope),
        "acknowledgements": evidence.acknowledgements(session, scope),
        **evidence.good_practice_and_risk(session, scope),
        "feedback": evidence.feedback(session, scope),
        "difficulties": evidence.difficulties(session, scope),
        "makeup": evidence.makeup(session, scope),
        "plan": evidence.plan_figures(session, scope),
        "moderation": agreement_figures(session, quarter),
        "reaudits": reaudit_figures(session, quarter),
        "self_audits": calibration_figures(session, quarter),
        "needs": needs_figures(session, quarter, on),
        "risk_adaptive": adaptive_figures(session, months_of(quarter), scope),
        "inspection": inspection_figures(
            session,
            quarter,
            load_inspection(get_settings().inspection_file).ratings,
            lambda q: frozen_figures(session, q),
        ),
    }


def compile_quarter(session: Session, quarter: Quarter, on: date) -> QuarterPack:
    """The pack's figures; a closed quarter is frozen on first compilation and read back after."""
    snapshot = _snapshot(session, quarter)
    if snapshot is not None:
        snapshot.issues += 1
        snapshot.last_issued_on, snapshot.last_issued_at = on, utcnow()
        session.commit()
        pack = QuarterPack(
            quarter, on, snapshot.figures, REISSUE, snapshot.frozen_on, snapshot.issues
        )
    else:
        figures = quarter_figures(session, quarter, on)
        figures["trend"] = trend(session, quarter, figures["judgements"])
        closed = on > quarter.last_day
        pack = QuarterPack(quarter, on, figures, FINAL if closed else PROVISIONAL)
        if closed:
            pack = _freeze(session, pack)
    pack.narrative = narrative(pack.figures, previous_overall(pack.figures))
    return pack


def _snapshot(session: Session, quarter: Quarter) -> PackSnapshot | None:
    return session.execute(
        sa.select(PackSnapshot).where(
            col(PackSnapshot.kind) == KIND, col(PackSnapshot.period) == str(quarter)
        )
    ).scalar_one_or_none()


def _freeze(session: Session, pack: QuarterPack) -> QuarterPack:
    """Store the figures once; if a concurrent compilation froze them first, use theirs."""
    session.add(
        PackSnapshot(
            kind=KIND,
            period=str(pack.quarter),
            figures=pack.figures,
            frozen_on=pack.on,
            last_issued_on=pack.on,
            last_issued_at=utcnow(),
        )
    )
    try:
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        theirs = _snapshot(session, pack.quarter)
        if theirs is None:
            raise
        return QuarterPack(pack.quarter, pack.on, theirs.figures, REISSUE, theirs.frozen_on, 1)
    log.info("%s closed: its figures are frozen as of %s", pack.quarter, pack.on)
    pack.frozen_on = pack.on
    return pack


def frozen_figures(session: Session, quarter: Quarter) -> dict[str, Any] | None:
    snapshot = _snapshot(session, quarter)
    return snapshot.figures if snapshot else None


def trend(session: Session, quarter: Quarter, current: dict[str, Any]) -> dict[str, Any]:
    """Share of judgements sufficient or better per section over the last eight quarters."""
    quarters = [quarter]
    while len(quarters) < TREND_QUARTERS:
        quarters.insert(0, quarters[0].previous())
    first_audit = session.execute(sa.select(sa.func.min(col(Audit.completed_on)))).scalar()
    columns: list[dict[str, Any]] = []
    sources = []
    for q in quarters:
        if q == quarter:
            columns.append(current)
            sources.append("this quarter")
        elif (frozen := frozen_figures(session, q)) is not None:
            columns.append(frozen["judgements"])
            sources.append("frozen")
        elif first_audit is None or q.last_day < first_audit:
            columns.append({"sections": [], "overall": None})
            sources.append("no audits")
        else:
            columns.append(judgement_figures(session, q))
            sources.append("live")
    sections: list[str] = []
    for column in [current, *columns]:
        for row in column["sections"]:
            if row["section"] not in sections:
                sections.append(row["section"])
    share = {
        s: [
            next((r["share_ok"] for r in c["sections"] if r["section"] == s), None) for c in columns
        ]
        for s in sections
    }
    overall = [c.get("overall") for c in columns]
    return {
        "quarters": [str(q) for q in quarters],
        "source": sources,
        "sections": sections,
        "share": share,
        "overall": overall,
        "median": _median(overall),
    }


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(median(present), 4) if present else None


def previous_overall(figures: dict[str, Any]) -> float | None:
    overall = figures.get("trend", {}).get("overall", [])
    return overall[-2] if len(overall) >= 2 else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def narrative(f: dict[str, Any], before: float | None) -> list[str]:
    """A short summary in words, generated from the figures (never from free text)."""
    out = []
    t = f["audits"]["totals"]
    if t["assigned"]:
        out.append(
            f"{t['completed']} of the {t['assigned']} audits assigned for {f['period']} were "
            f"completed ({t['completed'] / t['assigned']:.0%}), {t['on time']} of them by their "
            f"deadline; {t['not done']} were not done and {t['open past deadline']} were still "
            "open after their deadline (listed with reasons in section 1)."
        )
    else:
        out.append(f"No audits were assigned for {f['period']}.")
    j = f["judgements"]
    judged = [s for s in j["sections"] if s["share_ok"] is not None]
    if judged:
        sentence = f"{_pct(j['overall'])} of judgements were sufficient or better"
        if before is not None and j["overall"] is not None:
            change = round((j["overall"] - before) * 100)
            sentence += (
                f", {'up' if change > 0 else 'down'} {abs(change)} points on the quarter before"
                if change
                else ", the same as the quarter before"
            )
        best = max(judged, key=lambda s: s["share_ok"])
        worst = min(judged, key=lambda s: s["share_ok"])
        out.append(
            f"{sentence}. Strongest section: {best['section']} ({_pct(best['share_ok'])}); "
            f"weakest: {worst['section']} ({_pct(worst['share_ok'])})."
        )
    a = f["actions"]["totals"]
    out.append(
        f"{a['new']} action points were raised and {a['completed']} completed; at the quarter's "
        f"end {a['outstanding']} were outstanding, {a['overdue']} of them past their deadline."
    )
    extras = []
    if f["high_risk"]:
        extras.append(f"{len(f['high_risk'])} high-risk issue(s) were raised with managers")
    if f["difficulties"]:
        extras.append(
            f"{len(f['difficulties'])} consistent difficulty(ies) in meeting a standard were seen"
        )
    if f["good_practice"]:
        extras.append(f"{len(f['good_practice'])} examples of good practice are shared")
    if extras:
        out.append("; ".join(extras).capitalize() + ".")
    fb = f["feedback"]
    complaints = len(fb["complaints"])
    out.append(
        f"{fb['total']} pieces of service-user feedback were received, {complaints} of them "
        f"complaint{'s' if complaints != 1 else ''}"
        + (f"; the commonest theme was {fb['themes'][0]['theme']}." if fb["themes"] else ".")
    )
    plan = f["plan"]
    if plan["outcomes"]:
        out.append(
            f"Improvement plan: {plan['new']} activities added and {plan['completed']} completed "
            "this quarter."
        )
    return out
