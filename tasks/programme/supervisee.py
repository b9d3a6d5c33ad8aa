"""A3 the supervisee's quarterly summary (Fig. 2: operational managers "provide a quality audit
summary report and an action plan for improvement, with recommendations for the case, to the
supervisee", quarterly).

For each active case manager: one or two pages of the quarter from the line
manager's view: the judgements of the management audits of their cases by section, beside their
team's and the service's; those audits; their action points raised, done, open and overdue;
the good practice found; the recommendations (the auditors' action points, with where each
stands); their support and training needs (A4: their own, and their team's, open at the
quarter's end or identified or reviewed in it); whether they were observed this year (T11).
Sent to the case manager, copied to their line manager (if they have an active one), once per
quarter. Cases by reference only, free text with names removed (E5). Self-audits and
moderations are not management audits and are left out (A2, A5), but for the needs a
case manager records in their own self-audit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from models import (
    ActionPoint,
    Audit,
    Case,
    EmailMessage,
    Finding,
    GoodPractice,
    Question,
    Staff,
    SupportNeed,
)
from models.base import id_of
from models.enums import APART, ActionStatus, AuditKind, AuditStatus, NeedScope, Role
from models.settings import get_settings
from tasks.mail import TEMPLATES, environment
from tasks.outputs import Outputs
from tasks.packs.figures import JUDGED, OK, completed_in, share, team_of
from tasks.packs.needs import state_at
from tasks.packs.redact import Redactor
from tasks.packs.render import long_date, write_pdf
from tasks.programme.common import queue
from tasks.workdays import Month, Quarter, financial_year


@dataclass
class SummariesSent:
    period: str
    summaries: int = 0
    emails: int = 0
    already: int = 0
    files: list[str] = field(default_factory=list)


def _section_shares(
    session: Session, quarter: Quarter
) -> tuple[list[str], dict[Any, Counter[str]]]:
    """Sections in the tool's order, and judged / ok counts keyed by (scope, id, section), where
    scope is 'staff' (the audited case manager), 'team' or 'service'."""
    subject = aliased(Staff)
    rows = session.execute(
        sa.select(
            col(Question.section),
            col(Question.position),
            col(Audit.subject_staff_id),
            team_of(subject),
            col(Finding.judgement),
        )
        .join(Finding, col(Finding.question_id) == Question.id)
        .join(Audit, col(Audit.id) == Finding.audit_id)
        .join(subject, col(subject.id) == Audit.subject_staff_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(completed_in(quarter), col(Finding.judgement).in_(JUDGED))
    ).all()
    first: dict[str, int] = {}
    counts: dict[Any, Counter[str]] = defaultdict(Counter)
    for section, position, staff_id, team_id, judgement in rows:
        first[section] = min(first.get(section, position), position)
        for key in (("staff", staff_id), ("team", team_id), ("service", 0)):
            counts[(*key, section)]["judged"] += 1
            counts[(*key, section)]["ok"] += judgement in OK
    return sorted(first, key=lambda s: (first[s], s)), counts


def summary_figures(
    session: Session,
    quarter: Quarter,
    cm: Staff,
    sections: list[str],
    counts: dict[Any, Counter[str]],
    redact: Redactor,
) -> dict[str, Any]:
    """One case manager's quarter (see the module's docstring), as plain data."""
    me = id_of(cm)

    def shares(scope: str, key: int | None) -> dict[str, float | None]:
        return {
            s: share(counts[(scope, key, s)]["ok"], counts[(scope, key, s)]["judged"])
            for s in sections
        }

    auditor = aliased(Staff)
    audits = session.execute(
        sa.select(Audit, col(Case.case_ref), col(auditor.name))
        .join(auditor, col(auditor.id) == Audit.auditor_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(
            completed_in(quarter),
            col(Audit.subject_staff_id) == me,
            col(Audit.kind).not_in(APART),
        )
        .order_by(col(Audit.completed_on), col(Audit.id))
    ).all()
    audit_ids = [id_of(a) for a, _, _ in audits]
    end = quarter.last_day
    actions = session.execute(
        sa.select(ActionPoint, col(Audit.completed_on), col(Case.case_ref))
        .join(Audit, col(Audit.id) == ActionPoint.audit_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(
            col(ActionPoint.owner_id) == me,
            col(ActionPoint.status) != ActionStatus.CANCELLED,
            col(Audit.completed_on) <= end,
        )
        .order_by(col(ActionPoint.deadline), col(ActionPoint.id))
    ).all()
    tally = Counter[str]()
    recommendations = []
    for action, raised, ref in actions:
        done_by_end = action.completed_on is not None and action.completed_on <= end
        new = raised is not None and quarter.first_day <= raised <= end
        tally["raised"] += new
        tally["done"] += (
            action.completed_on is not None and quarter.first_day <= action.completed_on <= end
        )
        tally["open"] += not done_by_end
        tally["overdue"] += not done_by_end and action.deadline < end
        if new or not done_by_end:
            recommendations.append(
                {
                    "case": ref or "-",
                    "text": redact(action.text),
                    "deadline": action.deadline.isoformat(),
                    "status": "done"
                    if done_by_end
                    else "overdue"
                    if action.deadline < end
                    else "open",
                }
            )
    good = [
        redact(text)
        for (text,) in session.execute(
            sa.select(col(GoodPractice.text))
            .where(col(GoodPractice.audit_id).in_(audit_ids))
            .order_by(col(GoodPractice.id))
        )
    ]
    year_start = Month(financial_year(quarter.first_day), 4).first_day
    observed = session.execute(
        sa.select(sa.func.count())
        .select_from(Audit)
        .where(
            col(Audit.subject_staff_id) == me,
            col(Audit.kind) == AuditKind.OBSERVATION,
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.completed_on).between(year_start, end),
        )
    ).scalar_one()
    needs = support_needs(session, quarter, cm, redact)
    mine, team, service = shares("staff", me), shares("team", cm.team_id), shares("service", 0)
    return {
        "period": str(quarter),
        "sections": [
            {"section": s, "yours": mine[s], "team": team[s], "service": service[s]}
            for s in sections
            if counts[("staff", me, s)]["judged"]
        ],
        "audits": [
            {
                "case": ref or "-",
                "kind": a.kind.label,
                "auditor": who,
                "completed_on": a.completed_on.isoformat() if a.completed_on else "-",
            }
            for a, ref, who in audits
        ],
        "actions": {k: tally[k] for k in ("raised", "done", "open", "overdue")},
        "recommendations": recommendations,
        "good_practice": good,
        "needs": needs,
        "needs_open": sum(n["status"] not in ("met", "closed") for n in needs),
        "observed_this_year": observed > 0,
    }


def support_needs(
    session: Session, quarter: Quarter, cm: Staff, redact: Redactor
) -> list[dict[str, Any]]:
    """A4: the case manager's own needs and their team's (team-wide ones recorded with any of
    the team's audits), open at the quarter's end or identified or reviewed in it; self-audits'
    included (their own view). Words with young people's names removed (E5)."""
    me, end = id_of(cm), quarter.last_day
    theirs = col(SupportNeed.staff_id) == me
    if cm.team_id is not None:
        theirs = sa.or_(
            theirs,
            sa.and_(
                col(SupportNeed.scope) == NeedScope.TEAM, col(SupportNeed.team_id) == cm.team_id
            ),
        )
    rows = session.execute(
        sa.select(SupportNeed, col(Audit.completed_on))
        .join(Audit, col(Audit.id) == SupportNeed.audit_id)
        .where(col(Audit.status) == AuditStatus.COMPLETED, col(Audit.completed_on) <= end, theirs)
        .order_by(col(SupportNeed.review_on), col(SupportNeed.id))
    ).all()
    out = []
    for need, identified in rows:
        status = state_at(need, end)
        reviewed = need.reviewed_on is not None and quarter.first_day <= need.reviewed_on <= end
        new = identified is not None and quarter.first_day <= identified <= end
        if status in ("met", "closed") and not (new or reviewed):
            continue  # met (or closed) before the quarter began
        out.append(
            {
                "theme": need.theme,
                "need": redact(need.text) or "-",
                "for": "your team" if need.scope is NeedScope.TEAM else "you",
                "review_on": need.review_on.isoformat(),
                "status": status,
            }
        )
    return out


def summary_html(
    figures: dict[str, Any], cm: Staff, manager: Staff | None, service: str, on: date
) -> str:
    quarter = Quarter.parse(figures["period"])
    return (
        environment()
        .get_template("packs/supervisee.html")
        .render(
            f=figures,
            person=cm.name,
            manager=manager.name if manager else None,
            service=service,
            first_day=long_date(quarter.first_day),
            last_day=long_date(quarter.last_day),
            compiled_on=long_date(on),
            css=Markup((TEMPLATES / "packs" / "pack.css").read_text(encoding="utf-8")),  # noqa: S704
        )
    )


def send_summaries(session: Session, quarter: Quarter, on: date, root: Path) -> SummariesSent:
    """A3: each active case manager's summary written as a PDF and sent to them, copied to their
    line manager; a case manager already sent this quarter's is passed over (commits once)."""
    settings = get_settings()
    result = SummariesSent(str(quarter))
    staff = {id_of(s): s for s in session.exec(select(Staff))}
    sent = {
        key
        for (key,) in session.execute(
            sa.select(col(EmailMessage.key)).where(
                col(EmailMessage.key).like(f"supervisee-summary:{quarter}:%")
            )
        )
    }
    sections, counts = _section_shares(session, quarter)
    redact = Redactor(session)
    for cm in sorted(
        (s for s in staff.values() if s.active and s.role is Role.CASE_MANAGER),
        key=lambda s: s.name,
    ):
        manager = staff.get(cm.line_manager_id) if cm.line_manager_id is not None else None
        if manager is not None and not manager.active:
            manager = None  # sent to the case manager alone, and the PDF says so
        key = f"supervisee-summary:{quarter}:{cm.id}"
        if key in sent:
            result.already += 1
            continue
        figures = summary_figures(session, quarter, cm, sections, counts, redact)
        pdf = Outputs(root).supervisee_summary(str(quarter), id_of(cm))
        write_pdf(summary_html(figures, cm, manager, settings.service_name, on), pdf)
        result.summaries += 1
        result.files.append(str(pdf))
        a = figures["actions"]
        result.emails += queue(
            session,
            key=key,
            to=[cm],
            cc=[manager] if manager else [],
            greeting=cm.name,
            subject=f"Your quarterly QA summary, {quarter}",
            paragraphs=[
                f"Your quarterly quality audit summary for {long_date(quarter.first_day)} to "
                f"{long_date(quarter.last_day)} is attached, "
                + (
                    f"from {manager.name}'s view as your line manager"
                    if manager
                    else "from the service's view (no active line manager is recorded for you)"
                )
                + ": the judgements of your cases' audits beside your team's and the "
                "service's, your action points, the good practice found, the "
                "recommendations and your support and training needs. Talk it through at your "
                "next supervision.",
            ],
            figures=[
                ("audits of your cases completed", str(len(figures["audits"]))),
                (
                    "action points raised / done / open / overdue",
                    f"{a['raised']} / {a['done']} / {a['open']} / {a['overdue']}",
                ),
                ("support and training needs open", str(figures["needs_open"])),
                ("observed this year", "yes" if figures["observed_this_year"] else "not yet"),
            ],
            files=[pdf],
        )
    session.commit()
    return result
