"""Fig. 2's monthly reports: cases audited by team managers (for the service manager) and
service-user feedback data (for managers)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from models import ActionPoint, Audit, Case, Feedback, Finding, Staff, Team
from models.base import id_column, id_of
from models.enums import AuditKind, AuditStatus, FeedbackSource, Judgement, Role
from tasks.outbox import queue_email
from tasks.workdays import Month, financial_year
from tasks.xlsx import write_table

GOOD_ENOUGH = (Judgement.SUFFICIENT, Judgement.GOOD, Judgement.EXCELLENT)


@dataclass
class TeamAuditsReport:
    period: str
    rows: list[list[object]] = field(default_factory=list)  # one per team manager
    not_done: list[list[object]] = field(default_factory=list)


def team_audits_report(session: Session, on: date) -> TeamAuditsReport:
    """For each operational manager: the month's audits assigned, done (on time), overdue, not done
    (with the reason, D4), action points raised, and the share of judgements sufficient or better."""
    period = Month.of(on)
    report = TeamAuditsReport(str(period))
    auditor = aliased(Staff)
    audits = session.execute(
        sa.select(Audit, auditor, col(Case.case_ref))
        .join(auditor, col(auditor.id) == Audit.auditor_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(
            col(Audit.period) == str(period),
            col(auditor.role) == Role.OPERATIONAL_MANAGER,
            col(Audit.kind).in_([AuditKind.CASE_FILE, AuditKind.OBSERVATION]),
        )
    ).all()
    ids = [id_of(a) for a, _, _ in audits]
    actions = Counter(
        session.execute(
            sa.select(col(ActionPoint.audit_id)).where(col(ActionPoint.audit_id).in_(ids))
        ).scalars()
    )
    judged: dict[int, Counter[str]] = defaultdict(Counter)
    for audit_id, judgement in session.execute(
        sa.select(col(Finding.audit_id), col(Finding.judgement)).where(
            col(Finding.audit_id).in_(ids), col(Finding.judgement).is_not(None)
        )
    ):
        if judgement is not Judgement.NOT_APPLICABLE:
            judged[audit_id]["all"] += 1
            judged[audit_id]["ok"] += judgement in GOOD_ENOUGH
    teams = dict(session.execute(sa.select(id_column(Team), col(Team.name))).tuples().all())
    per: dict[int, Counter[str]] = defaultdict(Counter)
    names: dict[int, tuple[str, str]] = {}
    for audit, who, ref in audits:
        who_id, audit_id = id_of(who), id_of(audit)
        c = per[who_id]
        names[who_id] = (teams.get(who.team_id, ""), who.name)
        c["assigned"] += 1
        if audit.status is AuditStatus.COMPLETED:
            c["done"] += 1
            if audit.completed_on is None:
                raise RuntimeError(f"audit {audit_id} is completed but has no completion date")
            c["on time"] += audit.completed_on <= audit.due_on
        elif audit.status is AuditStatus.NOT_DONE:
            c["not done"] += 1
            report.not_done.append(
                [who.name, ref or "-", audit.kind.label, audit.due_on, audit.reason_not_completed]
            )
        elif audit.status is AuditStatus.ASSIGNED and audit.due_on < on:
            c["overdue"] += 1
        c["actions"] += actions.get(audit_id, 0)
        c["judged"] += judged[audit_id]["all"]
        c["ok"] += judged[audit_id]["ok"]
    for who_id, c in sorted(per.items(), key=lambda kv: names[kv[0]]):
        share = f"{100 * c['ok'] / c['judged']:.0f}%" if c["judged"] else "-"
        report.rows.append(
            [
                *names[who_id],
                c["assigned"],
                c["done"],
                c["on time"],
                c["overdue"],
                c["not done"],
                c["actions"],
                share,
            ]
        )
    return report


def _queue_for_each(
    session: Session,
    people: Iterable[Staff],
    *,
    kind: str,
    period: str,
    template: str,
    subject: str,
    **context: Any,
) -> int:
    """Queue a monthly report's email to each of `people`, once a person for `period` (its key
    is kind, period and person); how many were queued now."""
    sent = 0
    for person in people:
        if queue_email(
            session,
            to=[person],
            template=template,
            subject=subject,
            key=f"{kind}:{period}:{person.id}",
            kind=kind,
            period=period,
            **context,
        ):
            sent += 1
    return sent


TEAM_HEADER = [
    "Team",
    "Team manager",
    "Assigned",
    "Done",
    "Done on time",
    "Overdue",
    "Not done",
    "Action points",
    "Judgements sufficient or better",
]


def send_team_audits_report(session: Session, report: TeamAuditsReport, path: Path) -> int:
    book = openpyxl.Workbook()
    first = book.worksheets[0]  # a new workbook's one sheet
    write_table(first, TEAM_HEADER, report.rows)
    first.title = "By team manager"
    write_table(
        book.create_sheet("Not done (D4)"),
        ["Team manager", "Case", "Audit", "Due", "Reason"],
        report.not_done,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    service_managers = session.exec(
        select(Staff).where(Staff.role == Role.SERVICE_MANAGER, Staff.active == sa.true())
    )
    sent = _queue_for_each(
        session,
        service_managers,
        kind="team-audits",
        period=report.period,
        template="team_audits",
        subject=f"Cases audited by team managers, {report.period}",
        header=TEAM_HEADER,
        rows=report.rows,
        not_done=report.not_done,
    )
    session.commit()
    return sent


@dataclass
class FeedbackReport:
    period: str
    month: list[list[object]] = field(default_factory=list)  # feedback received this month
    by_source: list[list[object]] = field(default_factory=list)  # month and year to date
    themes: list[list[object]] = field(default_factory=list)
    complaints: list[list[object]] = field(default_factory=list)


def feedback_report(session: Session, on: date) -> FeedbackReport:
    """Service-user feedback: this month and the financial year to date, by source, team and theme;
    complaints with their lessons and whether resolved."""
    period = Month.of(on)
    year_start = Month(financial_year(period.first_day), 4).first_day
    report = FeedbackReport(str(period))
    rows = session.execute(
        sa.select(Feedback, col(Team.name), col(Case.case_ref))
        .join(Team, col(Team.id) == Feedback.team_id)
        .outerjoin(Case, col(Case.id) == Feedback.case_id)
        .where(
            col(Feedback.received_on) >= year_start,
            col(Feedback.received_on) <= period.last_day,
        )
        .order_by(col(Feedback.received_on))
    ).all()
    month_sources: Counter[FeedbackSource] = Counter()
    year_sources: Counter[FeedbackSource] = Counter()
    month_themes: Counter[str] = Counter()
    year_themes: Counter[str] = Counter()
    for item, team, ref in rows:
        in_month = item.received_on >= period.first_day
        year_sources[item.source] += 1
        year_themes.update(item.themes)
        if in_month:
            month_sources[item.source] += 1
            month_themes.update(item.themes)
            report.month.append(
                [
                    item.received_on,
                    item.source.label,
                    team,
                    ref or "",
                    "; ".join(item.themes),
                    item.summary,
                    item.lessons_learnt,
                ]
            )
        if item.source is FeedbackSource.COMPLAINT:
            report.complaints.append(
                [
                    item.received_on,
                    team,
                    ref or "",
                    item.summary,
                    item.lessons_learnt,
                    item.resolved_on or "open",
                ]
            )
    report.by_source = [[s.label, month_sources[s], year_sources[s]] for s in FeedbackSource]
    report.themes = [[t, month_themes[t], n] for t, n in year_themes.most_common()]
    return report


def send_feedback_report(session: Session, report: FeedbackReport, path: Path) -> int:
    book = openpyxl.Workbook()
    first = book.worksheets[0]  # a new workbook's one sheet
    write_table(first, ["Source", "This month", "Year to date"], report.by_source)
    first.title = "By source"
    write_table(book.create_sheet("Themes"), ["Theme", "This month", "Year to date"], report.themes)
    write_table(
        book.create_sheet("This month"),
        ["Received", "Source", "Team", "Case", "Themes", "Summary", "Lessons learnt"],
        report.month,
    )
    write_table(
        book.create_sheet("Complaints"),
        ["Received", "Team", "Case", "Summary", "Lessons learnt", "Resolved"],
        report.complaints,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    managers = session.exec(
        select(Staff)
        .where(
            col(Staff.role).in_([Role.OPERATIONAL_MANAGER, Role.QA_MANAGER, Role.SERVICE_MANAGER]),
            Staff.active == sa.true(),
        )
        .order_by(col(Staff.id))
    ).all()
    sent = _queue_for_each(
        session,
        managers,
        kind="feedback-data",
        period=report.period,
        template="feedback_data",
        subject=f"Service-user feedback, {report.period}",
        by_source=report.by_source,
        themes=report.themes[:8],
        complaints=[c for c in report.complaints if c[5] == "open"],
    )
    session.commit()
    return sent
