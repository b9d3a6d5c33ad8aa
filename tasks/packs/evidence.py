"""The quarterly pack's evidence beyond the audit counts (Q2): good practice, high-risk issues,
feedback and complaints, consistent difficulties (E4), the sample's make-up (S5) and the
improvement plan (App. 6). Free text passes the scope's redactor first (E5)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    Case,
    Feedback,
    GoodPractice,
    HighRiskIssue,
    PlanActivity,
    Question,
    SamplingRun,
    Staff,
)
from models.base import id_column
from models.enums import APART, FeedbackSource, SamplingKind
from tasks.ethnicity import census_name, ethnic_group
from tasks.packs.figures import Scope, completed_in, months_of, share, team_of
from tasks.plan import plan_tree
from tasks.recording.difficulties import difficulties_alerted
from tasks.workdays import london_date


def _iso(day: date | None) -> str:
    """YYYY-MM-DD, or "" for no date (the queries here read completed audits, which have one)."""
    return day.isoformat() if day is not None else ""


def good_practice_and_risk(session: Session, scope: Scope) -> dict[str, Any]:
    """Good practice to share, and high-risk issues raised (E3), from the quarter's audits."""
    quarter, redact = scope.quarter, scope.redact
    subject = aliased(Staff)
    team = team_of(subject)
    in_quarter = col(Audit.completed_on).between(quarter.first_day, quarter.last_day)
    good = [
        {
            "team": scope.team(t),
            "kind": kind.label,
            "completed_on": _iso(done),
            "text": redact(text),
        }
        for text, kind, done, t in session.execute(
            sa.select(col(GoodPractice.text), col(Audit.kind), col(Audit.completed_on), team)
            .join(Audit, col(Audit.id) == GoodPractice.audit_id)
            .join(subject, col(subject.id) == Audit.subject_staff_id)
            .outerjoin(Case, col(Case.id) == Audit.case_id)
            .where(
                in_quarter,
                col(GoodPractice.shared) == sa.true(),
                col(Audit.kind).not_in(APART),  # A5: counted with the first; A2: apart
            )
            .order_by(col(Audit.completed_on), col(GoodPractice.id))
        )
    ]
    raised_with = aliased(Staff)
    risks = [
        {
            "case": ref or "-",
            "team": scope.team(t),
            "raised_on": _iso(done),
            "raised_with": role.label if role else "-",
            "text": redact(text),
        }
        for text, ref, done, t, role in session.execute(
            sa.select(
                col(HighRiskIssue.text),
                col(Case.case_ref),
                col(Audit.completed_on),
                team,
                col(raised_with.role),
            )
            .join(Audit, col(Audit.id) == HighRiskIssue.audit_id)
            .join(subject, col(subject.id) == Audit.subject_staff_id)
            .outerjoin(Case, col(Case.id) == Audit.case_id)
            .outerjoin(raised_with, col(raised_with.id) == HighRiskIssue.raised_with_id)
            .where(in_quarter)
            .order_by(col(Audit.completed_on), col(HighRiskIssue.id))
        )
    ]
    return {"good_practice": good, "high_risk": risks}


def acknowledgements(session: Session, scope: Scope) -> dict[str, Any]:
    """The feedback loop closed from the inbox: of the quarter's completed audits, how many case
    managers have read and acknowledged the findings (by the day of the pack), with their
    responses (E5 applied)."""
    quarter, redact = scope.quarter, scope.redact
    subject = aliased(Staff)
    team = team_of(subject)
    rows = session.execute(
        sa.select(
            col(Case.case_ref),
            team,
            col(Acknowledgement.acknowledged_at),
            col(Acknowledgement.response),
        )
        .select_from(Audit)
        .join(subject, col(subject.id) == Audit.subject_staff_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .outerjoin(Acknowledgement, col(Acknowledgement.audit_id) == Audit.id)
        .where(completed_in(quarter))
        .order_by(col(Audit.completed_on), col(Audit.id))
    ).all()
    by_team: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    responses = []
    acknowledged = 0
    for ref, t, at, response in rows:
        counted = at is not None and london_date(at) <= scope.on
        by_team[scope.team(t)][0] += 1
        if counted:
            acknowledged += 1
            by_team[scope.team(t)][1] += 1
            if response:
                responses.append(
                    {
                        "case": ref or "-",
                        "team": scope.team(t),
                        "acknowledged_on": london_date(at).isoformat(),
                        "response": redact(response),
                    }
                )
    return {
        "completed": len(rows),
        "acknowledged": acknowledged,
        "share": share(acknowledged, len(rows)),
        "by_team": [
            {"team": name, "completed": n, "acknowledged": k, "share": share(k, n)}
            for name, (n, k) in sorted(by_team.items())
        ],
        "responses": responses,
    }


def feedback(session: Session, scope: Scope) -> dict[str, Any]:
    """Service-user feedback and complaints: by source, by theme, and complaints with their lessons."""
    quarter, redact = scope.quarter, scope.redact
    items = (
        session.execute(
            sa.select(Feedback)
            .where(col(Feedback.received_on).between(quarter.first_day, quarter.last_day))
            .order_by(col(Feedback.received_on), col(Feedback.id))
        )
        .scalars()
        .all()
    )
    sources = Counter(f.source for f in items)
    themes = Counter(t for f in items for t in f.themes)
    complaints = [
        {
            "received_on": f.received_on.isoformat(),
            "team": scope.team(f.team_id),
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
                "team": scope.team(f.team_id),
                "lesson": redact(f.lessons_learnt),
            }
            for f in items
            if f.lessons_learnt and f.source is not FeedbackSource.COMPLAINT
        ],
    }


def difficulties(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """Consistent difficulties (E4) alerted in the quarter, by team and standard."""
    alerted = difficulties_alerted(session, scope.quarter)
    if not alerted:
        return []
    questions = {
        code: (section, text)
        for code, section, text in session.execute(
            sa.select(col(Question.code), col(Question.section), col(Question.text))
        )
    }
    return [
        {
            "team": scope.team(t),
            "question": code,
            "section": questions.get(code, ("", ""))[0],
            "standard": questions.get(code, ("", ""))[1],
        }
        for t, code in sorted(alerted, key=lambda a: (scope.team(a[0]), a[1]))
    ]


def makeup(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """S5: the quarter's samples beside the caseload they were drawn from, per dimension."""
    runs = (
        session.execute(
            sa.select(SamplingRun).where(
                col(SamplingRun.period).in_(months_of(scope.quarter)),
                # A5 re-marks and A2 self-audits are not draws of the management sample
                col(SamplingRun.kind).not_in([SamplingKind.MODERATION, SamplingKind.SELF_AUDIT]),
            )
        )
        .scalars()
        .all()
    )
    sample: dict[str, Counter[str]] = defaultdict(Counter)
    pool: dict[str, Counter[str]] = defaultdict(Counter)
    widest: dict[str, SamplingRun] = {}
    for run in runs:
        for dimension, counts in _as_now(run.sample_makeup).items():
            sample[dimension].update(counts)
        best = widest.get(run.period)
        if best is None or sum(run.pool_makeup.get("order_type", {}).values()) > sum(
            best.pool_makeup.get("order_type", {}).values()
        ):
            widest[run.period] = run
    for run in widest.values():
        for dimension, counts in _as_now(run.pool_makeup).items():
            pool[dimension].update(counts)
    rows = []
    for dimension in ("order_type", "gender", "ethnic_group", "ethnicity", "age_band"):
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


def _as_now(made: dict[str, dict[str, int]]) -> dict[str, Counter[str]]:
    """A sampling run's stored make-up with its ethnicities in today's census names and their
    top-level groups worked out again, so a run drawn before O3 (older labels, no groups) adds
    up with the later runs of its quarter."""
    counts = {d: Counter(c) for d, c in made.items() if d not in ("ethnicity", "ethnic_group")}
    if "ethnicity" in made:
        counts["ethnicity"], counts["ethnic_group"] = Counter(), Counter()
        for label, n in made["ethnicity"].items():
            counts["ethnicity"][census_name(label) or label] += n
            counts["ethnic_group"][ethnic_group(label)] += n
    return counts


def plan_figures(session: Session, scope: Scope) -> dict[str, Any]:
    """The improvement plan (App. 6) master copy, with the quarter's new and completed activities."""
    quarter, redact = scope.quarter, scope.redact
    tree = plan_tree(session, quarter.year)
    if tree is None:
        return {"title": "", "outcomes": [], "new": 0, "completed": 0, "linked_actions": 0}
    leads = dict(session.execute(sa.select(id_column(Staff), col(Staff.name))).tuples().all())
    linked = Counter(
        session.execute(
            sa.select(col(ActionPoint.objective_id)).where(
                col(ActionPoint.objective_id).in_(tree.objective_ids)
            )
        ).scalars()
    )

    def in_quarter(day: date | None) -> bool:
        return day is not None and quarter.first_day <= day <= quarter.last_day

    def activity(a: PlanActivity) -> dict[str, Any]:
        return {
            "id": a.id,
            "text": redact(a.text),
            "lead": leads.get(a.lead_officer_id, "-"),
            "due": a.completion_date.isoformat(),
            "progress": redact(a.progress),
            "completed_on": a.completed_on.isoformat() if a.completed_on else "",
            "new_this_quarter": in_quarter(a.added_on),
            "completed_this_quarter": in_quarter(a.completed_on),
        }

    outcomes: list[dict[str, Any]] = [
        {
            "number": outcome.number,
            "text": redact(outcome.text),
            "objectives": [
                {
                    "id": objective.id,
                    "text": redact(objective.text),
                    "activities": [activity(a) for a in activities],
                    "linked_actions": linked.get(objective.id, 0),
                }
                for objective, activities in objectives
            ],
        }
        for outcome, objectives in tree.outcomes
    ]
    every = [a for o in outcomes for obj in o["objectives"] for a in obj["activities"]]
    return {
        "title": tree.plan.title,
        "outcomes": outcomes,
        "new": sum(a["new_this_quarter"] for a in every),
        "completed": sum(a["completed_this_quarter"] for a in every),
        "linked_actions": sum(linked.values()),
    }
