"""The figures of a quarterly QA pack (Q2), as plain JSON-able data so a closed quarter can be frozen.

Everything here names cases by reference and staff by name; free text typed by auditors or taken
from feedback passes through `Redactor`, which removes every young person's name the caseload
holds (E5), before it reaches a pack.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session

from models import (
    ActionPoint,
    Audit,
    Case,
    Feedback,
    Finding,
    GoodPractice,
    HighRiskIssue,
    ImprovementPlan,
    PlanActivity,
    PlanObjective,
    PlanOutcome,
    Question,
    SamplingRun,
    Staff,
    Team,
)
from models.enums import ActionStatus, AuditStatus, FeedbackSource, Judgement
from tasks.recording.difficulties import difficulties_alerted
from tasks.workdays import Quarter

OK = {Judgement.SUFFICIENT, Judgement.GOOD, Judgement.EXCELLENT}
JUDGED = [Judgement.INSUFFICIENT, Judgement.SUFFICIENT, Judgement.GOOD, Judgement.EXCELLENT]
TREND_QUARTERS = 8
NAME_REMOVED = "[name removed]"


class Redactor:
    """Removes the young people's names the caseload holds from free text (E5)."""

    def __init__(self, session: Session) -> None:
        words: set[str] = set()
        for (name,) in session.execute(
            sa.select(Case.young_person_name).where(Case.young_person_name != "")
        ):
            words.add(name.strip())
            words.update(part for part in re.split(r"[\s,]+", name) if len(part) >= 3)
        ordered = sorted((w for w in words if w), key=len, reverse=True)
        self._pattern = (
            re.compile(r"\b(?:" + "|".join(map(re.escape, ordered)) + r")\b") if ordered else None
        )

    def __call__(self, text: str) -> str:
        return self._pattern.sub(NAME_REMOVED, text) if self._pattern and text else text


def share(ok: int, judged: int) -> float | None:
    return round(ok / judged, 4) if judged else None


def _months(quarter: Quarter) -> list[str]:
    return [str(m) for m in quarter.months]


def _audits(session: Session, quarter: Quarter, on: date) -> dict[str, Any]:
    """Assigned against completed, per team and per auditor, with those not done and why (D4)."""
    auditor, subject = aliased(Staff), aliased(Staff)
    rows = session.execute(
        sa.select(
            Audit,
            auditor.name,
            auditor.role,
            sa.func.coalesce(Case.team_id, subject.team_id),
            Case.case_ref,
        )
        .join(auditor, auditor.id == Audit.auditor_id)
        .join(subject, subject.id == Audit.subject_staff_id)
        .outerjoin(Case, Case.id == Audit.case_id)
        .where(Audit.period.in_(_months(quarter)), Audit.status != AuditStatus.WITHDRAWN)  # type: ignore[attr-defined]
        .order_by(Audit.due_on, Audit.id)
    ).all()
    teams = dict(session.execute(sa.select(Team.id, Team.name)).tuples().all())
    by_team: dict[str, Counter[str]] = defaultdict(Counter)
    by_auditor: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    not_done = []
    for audit, who, role, team_id, ref in rows:
        team = teams.get(team_id, "No team")
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
        return "on time" if audit.completed_on <= audit.due_on else "late"
    if audit.status is AuditStatus.NOT_DONE:
        return "not done"
    return "open past deadline" if audit.due_on < on else "open"


def _judgements(session: Session, quarter: Quarter) -> dict[str, Any]:
    """Judgements per section of the audit tool, and the share sufficient or better per team."""
    subject = aliased(Staff)
    rows = session.execute(
        sa.select(
            Question.section,
            sa.func.coalesce(Case.team_id, subject.team_id),
            Finding.judgement,
            sa.func.count(),
        )
        .join(Finding, Finding.question_id == Question.id)
        .join(Audit, Audit.id == Finding.audit_id)
        .join(subject, subject.id == Audit.subject_staff_id)
        .outerjoin(Case, Case.id == Audit.case_id)
        .where(
            Audit.status == AuditStatus.COMPLETED,
            Audit.completed_on.between(quarter.first_day, quarter.last_day),  # type: ignore[union-attr]
            Finding.judgement.in_(JUDGED),  # type: ignore[union-attr]
        )
        .group_by(
            Question.section, sa.func.coalesce(Case.team_id, subject.team_id), Finding.judgement
        )
    ).all()
    teams = dict(session.execute(sa.select(Team.id, Team.name)).tuples().all())
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    grid: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for section, team_id, judgement, n in rows:
        sections[section][judgement.value] += n
        cell = grid[(teams.get(team_id, "No team"), section)]
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
    team_names = sorted({t for t, _ in grid})
    return {
        "sections": section_rows,
        "teams": team_names,
        "team_share": {
            t: {s: share(grid[(t, s)]["ok"], grid[(t, s)]["judged"]) for s in order}
            for t in team_names
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
            sa.select(Question.section, sa.func.min(Question.position)).group_by(Question.section)
        )
        .tuples()
        .all()
    )
    return sorted(sections, key=lambda s: (first.get(s, 10_000), s))


def _actions(session: Session, quarter: Quarter, on: date) -> dict[str, Any]:
    """Action points raised in the quarter, completed in it, and outstanding and overdue at its end."""
    end = min(quarter.last_day, on)
    subject = aliased(Staff)
    rows = session.execute(
        sa.select(
            ActionPoint,
            Audit.completed_on,
            Case.case_ref,
            sa.func.coalesce(Case.team_id, subject.team_id),
        )
        .join(Audit, Audit.id == ActionPoint.audit_id)
        .join(subject, subject.id == Audit.subject_staff_id)
        .outerjoin(Case, Case.id == Audit.case_id)
        .where(Audit.completed_on <= end, ActionPoint.status != ActionStatus.CANCELLED)  # type: ignore[operator]
    ).all()
    teams = dict(session.execute(sa.select(Team.id, Team.name)).tuples().all())
    totals, by_team = Counter[str](), defaultdict(Counter)
    overdue = []
    for action, raised_on, ref, team_id in rows:
        team = teams.get(team_id, "No team")
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


def _good_practice_and_risk(session: Session, quarter: Quarter, redact: Redactor) -> dict[str, Any]:
    subject = aliased(Staff)
    team_of = sa.func.coalesce(Case.team_id, subject.team_id)
    teams = dict(session.execute(sa.select(Team.id, Team.name)).tuples().all())
    in_quarter = Audit.completed_on.between(quarter.first_day, quarter.last_day)  # type: ignore[union-attr]
    good = [
        {
            "team": teams.get(t, "No team"),
            "kind": kind.label,
            "completed_on": done.isoformat(),
            "text": redact(text),
        }
        for text, kind, done, t in session.execute(
            sa.select(GoodPractice.text, Audit.kind, Audit.completed_on, team_of)
            .join(Audit, Audit.id == GoodPractice.audit_id)
            .join(subject, subject.id == Audit.subject_staff_id)
            .outerjoin(Case, Case.id == Audit.case_id)
            .where(in_quarter, GoodPractice.shared == sa.true())
            .order_by(Audit.completed_on, GoodPractice.id)
        )
    ]
    raised_with = aliased(Staff)
    risks = [
        {
            "case": ref or "-",
            "team": teams.get(t, "No team"),
            "raised_on": done.isoformat(),
            "raised_with": role.label if role else "-",
            "text": redact(text),
        }
        for text, ref, done, t, role in session.execute(
            sa.select(
                HighRiskIssue.text, Case.case_ref, Audit.completed_on, team_of, raised_with.role
            )
            .join(Audit, Audit.id == HighRiskIssue.audit_id)
            .join(subject, subject.id == Audit.subject_staff_id)
            .outerjoin(Case, Case.id == Audit.case_id)
            .outerjoin(raised_with, raised_with.id == HighRiskIssue.raised_with_id)
            .where(in_quarter)
            .order_by(Audit.completed_on, HighRiskIssue.id)
        )
    ]
    return {"good_practice": good, "high_risk": risks}


def _feedback(session: Session, quarter: Quarter, redact: Redactor) -> dict[str, Any]:
    """Service-user feedback and complaints: by source, by theme, and complaints with their lessons."""
    teams = dict(session.execute(sa.select(Team.id, Team.name)).tuples().all())
    items = (
        session.execute(
            sa.select(Feedback)
            .where(Feedback.received_on.between(quarter.first_day, quarter.last_day))  # type: ignore[attr-defined]
            .order_by(Feedback.received_on, Feedback.id)
        )
        .scalars()
        .all()
    )
    sources = Counter(f.source for f in items)
    themes = Counter(t for f in items for t in f.themes)
    complaints = [
        {
            "received_on": f.received_on.isoformat(),
            "team": teams.get(f.team_id, "-"),
            "themes": "; ".join(f.themes),
            "summary": redact(f.summary),
            "lessons": redact(f.lessons_learnt) or "not yet recorded",
            "resolved_on": f.resolved_on.isoformat() if f.resolved_on else "open",
        }
        for f in items
        if f.source is FeedbackSource.COMPLAINT
    ]
    return {
        "total": len(items),
        "by_source": [
            {"source": s.label, "count": sources[s]} for s in FeedbackSource if sources[s]
        ],
        "themes": [{"theme": t, "count": n} for t, n in themes.most_common()],
        "complaints": complaints,
        "lessons": [
            {
                "source": f.source.label,
                "team": teams.get(f.team_id, "-"),
                "lesson": redact(f.lessons_learnt),
            }
            for f in items
            if f.lessons_learnt and f.source is not FeedbackSource.COMPLAINT
        ],
    }


def _difficulties(session: Session, quarter: Quarter) -> list[dict[str, Any]]:
    alerted = difficulties_alerted(session, quarter)
    if not alerted:
        return []
    teams = dict(session.execute(sa.select(Team.id, Team.name)).tuples().all())
    questions = {
        code: (section, text)
        for code, section, text in session.execute(
            sa.select(Question.code, Question.section, Question.text)
        )
    }
    return [
        {
            "team": teams.get(t, "-"),
            "question": code,
            "section": questions.get(code, ("", ""))[0],
            "standard": questions.get(code, ("", ""))[1],
        }
        for t, code in sorted(alerted, key=lambda a: (teams.get(a[0], ""), a[1]))
    ]


def _makeup(session: Session, quarter: Quarter) -> list[dict[str, Any]]:
    """S5: the quarter's samples beside the caseload they were drawn from, per dimension."""
    runs = (
        session.execute(
            sa.select(SamplingRun).where(SamplingRun.period.in_(_months(quarter)))  # type: ignore[attr-defined]
        )
        .scalars()
        .all()
    )
    sample: dict[str, Counter[str]] = defaultdict(Counter)
    pool: dict[str, Counter[str]] = defaultdict(Counter)
    widest: dict[str, SamplingRun] = {}
    for run in runs:
        for dimension, counts in run.sample_makeup.items():
            sample[dimension].update(counts)
        best = widest.get(run.period)
        if best is None or sum(run.pool_makeup.get("order_type", {}).values()) > sum(
            best.pool_makeup.get("order_type", {}).values()
        ):
            widest[run.period] = run
    for run in widest.values():
        for dimension, counts in run.pool_makeup.items():
            pool[dimension].update(counts)
    rows = []
    for dimension in ("order_type", "gender", "ethnicity", "age_band"):
        s_total, p_total = sum(sample[dimension].values()), sum(pool[dimension].values())
        for value in sorted(set(sample[dimension]) | set(pool[dimension])):
            rows.append(
                {
                    "dimension": dimension.replace("_", " "),
                    "value": value,
                    "sample": sample[dimension][value],
                    "sample_share": share(sample[dimension][value], s_total),
                    "caseload_share": share(pool[dimension][value], p_total),
                }
            )
    return rows


def plan_figures(session: Session, quarter: Quarter, redact: Redactor) -> dict[str, Any]:
    """The improvement plan (App. 6) master copy, with the quarter's new and completed activities."""
    plan = session.execute(
        sa.select(ImprovementPlan).where(ImprovementPlan.financial_year == quarter.year)
    ).scalar_one_or_none()
    if plan is None:
        return {"title": "", "outcomes": [], "new": 0, "completed": 0, "linked_actions": 0}
    leads = dict(session.execute(sa.select(Staff.id, Staff.name)).tuples().all())
    linked = Counter(
        session.execute(
            sa.select(ActionPoint.objective_id).where(ActionPoint.objective_id.is_not(None))  # type: ignore[union-attr]
        ).scalars()
    )
    outcomes = []
    new = completed = 0
    for outcome in session.execute(
        sa.select(PlanOutcome).where(PlanOutcome.plan_id == plan.id).order_by(PlanOutcome.number)
    ).scalars():
        objectives = []
        for objective in session.execute(
            sa.select(PlanObjective)
            .where(PlanObjective.outcome_id == outcome.id)
            .order_by(PlanObjective.id)
        ).scalars():
            activities = []
            for a in session.execute(
                sa.select(PlanActivity)
                .where(PlanActivity.objective_id == objective.id)
                .order_by(PlanActivity.id)
            ).scalars():
                is_new = (
                    a.added_on is not None and quarter.first_day <= a.added_on <= quarter.last_day
                )
                is_done = (
                    a.completed_on is not None
                    and quarter.first_day <= a.completed_on <= quarter.last_day
                )
                new += is_new
                completed += is_done
                activities.append(
                    {
                        "id": a.id,
                        "text": redact(a.text),
                        "lead": leads.get(a.lead_officer_id, "-"),
                        "due": a.completion_date.isoformat(),
                        "progress": redact(a.progress),
                        "completed_on": a.completed_on.isoformat() if a.completed_on else "",
                        "new_this_quarter": is_new,
                        "completed_this_quarter": is_done,
                    }
                )
            objectives.append(
                {
                    "id": objective.id,
                    "text": redact(objective.text),
                    "activities": activities,
                    "linked_actions": linked.get(objective.id, 0),
                }
            )
        outcomes.append(
            {"number": outcome.number, "text": redact(outcome.text), "objectives": objectives}
        )
    return {
        "title": plan.title,
        "outcomes": outcomes,
        "new": new,
        "completed": completed,
        "linked_actions": sum(linked.values()),
    }


def quarter_figures(session: Session, quarter: Quarter, on: date) -> dict[str, Any]:
    """Every figure of the quarter's pack as of `on` (the trend is added by the compiler)."""
    redact = Redactor(session)
    return {
        "period": str(quarter),
        "first_day": quarter.first_day.isoformat(),
        "last_day": quarter.last_day.isoformat(),
        "as_of": on.isoformat(),
        "audits": _audits(session, quarter, on),
        "judgements": _judgements(session, quarter),
        "actions": _actions(session, quarter, on),
        **_good_practice_and_risk(session, quarter, redact),
        "feedback": _feedback(session, quarter, redact),
        "difficulties": _difficulties(session, quarter),
        "makeup": _makeup(session, quarter),
        "plan": plan_figures(session, quarter, redact),
    }
