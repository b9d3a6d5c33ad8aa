"""The figures of a quarterly QA pack (Q2), as plain JSON-able data so a closed quarter can be frozen.

Here: the audits done against those assigned, the judgements, and the action points; the rest of
the pack (good practice, risks, feedback, difficulties, make-up, plan) is in `tasks.packs.evidence`.
Cases are named by reference and staff by name; free text goes through `Redactor` (E5).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import ActionPoint, Audit, Case, Finding, Question, Staff, Team
from models.base import id_column
from models.enums import APART, ActionStatus, AuditStatus, Judgement
from tasks.packs.redact import Redactor
from tasks.workdays import Quarter

OK = {Judgement.SUFFICIENT, Judgement.GOOD, Judgement.EXCELLENT}
JUDGED = [Judgement.INSUFFICIENT, Judgement.SUFFICIENT, Judgement.GOOD, Judgement.EXCELLENT]
TREND_QUARTERS = 8


@dataclass(frozen=True)
class Scope:
    """What every part of one quarter's figures needs: the period, the day, team names, redaction."""

    quarter: Quarter
    on: date
    teams: dict[int, str]
    redact: Redactor

    def team(self, team_id: int | None) -> str:
        return "No team" if team_id is None else self.teams.get(team_id, "No team")

    @classmethod
    def of(cls, session: Session, quarter: Quarter, on: date) -> Scope:
        return cls(quarter, on, team_names(session), Redactor(session))


def team_names(session: Session) -> dict[int, str]:
    return dict(session.execute(sa.select(id_column(Team), col(Team.name))).tuples().all())


def team_of(subject: type[Staff]) -> sa.ColumnElement[int | None]:
    """An audit's team: its case's team, or the audited member of staff's for an observation
    (`subject` the audited member of staff, aliased; None if neither has a team)."""
    return sa.func.coalesce(col(Case.team_id), col(subject.team_id))


def completed_in(quarter: Quarter) -> sa.ColumnElement[bool]:
    """The management audits completed within the quarter, as a query's condition: moderations
    (A5) and self-audits (A2) are reported in sections of their own."""
    return sa.and_(
        col(Audit.status) == AuditStatus.COMPLETED,
        col(Audit.kind).not_in(APART),
        col(Audit.completed_on).between(quarter.first_day, quarter.last_day),
    )


def share(ok: int, judged: int) -> float | None:
    return round(ok / judged, 4) if judged else None


def months_of(quarter: Quarter) -> list[str]:
    return [str(m) for m in quarter.months]


def audit_figures(session: Session, scope: Scope) -> dict[str, Any]:
    """Assigned against completed, per team and per auditor, with those not done and why (D4)."""
    quarter, on = scope.quarter, scope.on
    auditor, subject = aliased(Staff), aliased(Staff)
    rows = session.execute(
        sa.select(Audit, col(auditor.name), col(auditor.role), team_of(subject), col(Case.case_ref))
        .join(auditor, col(auditor.id) == Audit.auditor_id)
        .join(subject, col(subject.id) == Audit.subject_staff_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(
            col(Audit.period).in_(months_of(quarter)),
            col(Audit.status) != AuditStatus.WITHDRAWN,
            col(Audit.kind).not_in(APART),  # A5 and A2: in sections of their own
        )
        .order_by(col(Audit.due_on), col(Audit.id))
    ).all()
    by_team: dict[str, Counter[str]] = defaultdict(Counter)
    by_auditor: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    not_done = []
    for audit, who, role, team_id, ref in rows:
        team = scope.team(team_id)
        outcome = _outcome(audit, on)
        for counter in (by_team[team], by_auditor[(who, role.label)], by_kind[audit.kind.label]):
            counter["assigned"] += 1
            counter[outcome] += 1
            counter["completed"] += outcome in ("on time", "late")
        if outcome in ("not done", "open past deadline"):
            not_done.append(
                {
                    "case": ref or "-",
                    "kind": audit.kind.label,
                    "auditor": who,
                    "team": team,
                    "due_on": audit.due_on.isoformat(),
                    "status": outcome,
                    "reason": audit.reason_not_completed or "no reason recorded yet",
                }
            )
    columns = ["assigned", "completed", "on time", "late", "not done", "open past deadline", "open"]

    def table(groups: dict[Any, Counter[str]], keys: list[str]) -> list[dict[str, Any]]:
        out = []
        for key in sorted(groups):
            named = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
            out.append({**named, **{c: groups[key][c] for c in columns}})
        return out

    totals = Counter[str]()
    for c in by_team.values():
        totals.update(c)
    return {
        "columns": columns,
        "by_team": table(by_team, ["team"]),
        "by_auditor": table(by_auditor, ["auditor", "role"]),
        "by_kind": table(by_kind, ["kind"]),
        "totals": {c: totals[c] for c in columns},
        "not_done": not_done,
    }


def _outcome(audit: Audit, on: date) -> str:
    if audit.status is AuditStatus.COMPLETED:
        if audit.completed_on is None:
            raise RuntimeError(f"audit {audit.id} is completed but has no completion date")
        return "on time" if audit.completed_on <= audit.due_on else "late"
    if audit.status is AuditStatus.NOT_DONE:
        return "not done"
    return "open past deadline" if audit.due_on < on else "open"


def judgement_figures(
    session: Session, quarter: Quarter, teams: dict[int, str] | None = None
) -> dict[str, Any]:
    """Judgements per section of the audit tool, and the share sufficient or better per team."""
    teams = teams if teams is not None else team_names(session)
    subject = aliased(Staff)
    rows = session.execute(
        sa.select(col(Question.section), team_of(subject), col(Finding.judgement), sa.func.count())
        .join(Finding, col(Finding.question_id) == Question.id)
        .join(Audit, col(Audit.id) == Finding.audit_id)
        .join(subject, col(subject.id) == Audit.subject_staff_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(completed_in(quarter), col(Finding.judgement).in_(JUDGED))
        .group_by(col(Question.section), team_of(subject), col(Finding.judgement))
    ).all()
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    grid: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for section, team_id, judgement, n in rows:
        if judgement is None:
            continue  # never: the query reads judged findings only
        sections[section][judgement.value] += n
        cell = grid[("No team" if team_id is None else teams.get(team_id, "No team"), section)]
        cell["judged"] += n
        cell["ok"] += n if judgement in OK else 0
    order = _section_order(session, list(sections))
    section_rows = []
    for section in order:
        c = sections[section]
        judged = sum(c[j.value] for j in JUDGED)
        ok = sum(c[j.value] for j in JUDGED if j in OK)
        section_rows.append(
            {
                "section": section,
                **{j.value: c[j.value] for j in JUDGED},
                "judged": judged,
                "share_ok": share(ok, judged),
            }
        )
    judged_teams = sorted({t for t, _ in grid})
    return {
        "sections": section_rows,
        "teams": judged_teams,
        "team_share": {
            t: {s: share(grid[(t, s)]["ok"], grid[(t, s)]["judged"]) for s in order}
            for t in judged_teams
        },
        "overall": share(
            sum(sum(c[j.value] for j in JUDGED if j in OK) for c in sections.values()),
            sum(sum(c[j.value] for j in JUDGED) for c in sections.values()),
        ),
    }


def _section_order(session: Session, sections: list[str]) -> list[str]:
    """Sections in the audit tool's own order (their first question's position)."""
    first = dict(
        session.execute(
            sa.select(col(Question.section), sa.func.min(col(Question.position))).group_by(
                col(Question.section)
            )
        )
        .tuples()
        .all()
    )
    return sorted(sections, key=lambda s: (first.get(s, 10_000), s))


def action_figures(session: Session, scope: Scope) -> dict[str, Any]:
    """Action points raised in the quarter, completed in it, and outstanding and overdue at its end."""
    quarter = scope.quarter
    end = min(quarter.last_day, scope.on)
    subject = aliased(Staff)
    rows = session.execute(
        sa.select(ActionPoint, col(Audit.completed_on), col(Case.case_ref), team_of(subject))
        .join(Audit, col(Audit.id) == ActionPoint.audit_id)
        .join(subject, col(subject.id) == Audit.subject_staff_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(
            col(Audit.completed_on) <= end,
            col(ActionPoint.status) != ActionStatus.CANCELLED,
            col(Audit.kind).not_in(APART),  # A2: a self-audit's own action points are apart
        )
    ).all()
    totals = Counter[str]()
    by_team: dict[str, Counter[str]] = defaultdict(Counter)
    overdue: list[dict[str, Any]] = []
    for action, raised_on, ref, team_id in rows:
        if raised_on is None:
            continue  # never: the query reads actions of completed audits only
        team = scope.team(team_id)
        done_by_end = action.completed_on is not None and action.completed_on <= end
        flags = {
            "new": quarter.first_day <= raised_on <= quarter.last_day,
            "completed": action.completed_on is not None
            and quarter.first_day <= action.completed_on <= end,
            "outstanding": not done_by_end,
            "overdue": not done_by_end and action.deadline < end,
        }
        for name, flag in flags.items():
            totals[name] += flag
            by_team[team][name] += flag
        if flags["overdue"]:
            overdue.append(
                {
                    "case": ref or "-",
                    "team": team,
                    "priority": action.priority,
                    "deadline": action.deadline.isoformat(),
                    "days_overdue": (end - action.deadline).days,
                    "times_chased": action.times_chased,
                }
            )
    names = ["new", "completed", "outstanding", "overdue"]
    return {
        "totals": {n: totals[n] for n in names},
        "by_team": [{"team": t, **{n: by_team[t][n] for n in names}} for t in sorted(by_team)],
        "overdue": sorted(overdue, key=lambda r: -r["days_overdue"]),
    }
