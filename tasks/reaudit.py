"""A1 re-audit (§3: "re-audit is applied to ascertain whether improvements have been implemented").

Once every action point of a case-file or themed audit is done (none open, at least one
completed), the month's sample draws a re-audit of the same case, ahead of every other draw (so
ahead of the compliance queue, S2), with the same question set, by the first auditor (or, if they
have left or hold the case now, the case manager's line manager; S10). If the case has closed,
another open case of the same case manager is drawn, seeded (S3). Only audits whose last action
point was done within `reaudit_months` (default 3) are drawn, so the re-audit follows the work it
checks. The re-audit's judgements are set beside the first audit's, question by question:
improved, same or worse.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import ActionPoint, Audit, Question, Staff
from models.base import id_of
from models.enums import ActionStatus, AuditKind, AuditStatus, Judgement
from models.settings import Settings, get_settings
from tasks.moderation import answers_of
from tasks.sampling.rules import Candidate, in_pool, seed_for
from tasks.workdays import Month, Quarter

REAUDITED_KINDS = [AuditKind.CASE_FILE, AuditKind.THEMED]
GRADES = [Judgement.INSUFFICIENT, Judgement.SUFFICIENT, Judgement.GOOD, Judgement.EXCELLENT]
RANK = {g.value: n for n, g in enumerate(GRADES)}
NOT_IMPROVED = 8  # questions listed that were insufficient and stayed so


@dataclass(frozen=True)
class ReauditDue:
    """A re-audit to draw: the audit it follows, the case, who audits it, and why."""

    first: Audit
    candidate: Candidate
    auditor: Staff
    reason: str


def _actions_done(session: Session, since: date, on: date) -> dict[int, date]:
    """Audits whose action points are all done (none open, one or more completed), the last on
    a day within [since, on]: audit id -> that day."""
    open_ = sa.func.sum(sa.case((col(ActionPoint.status) == ActionStatus.OPEN, 1), else_=0))
    done = sa.func.sum(sa.case((col(ActionPoint.status) == ActionStatus.COMPLETED, 1), else_=0))
    last = sa.func.max(col(ActionPoint.completed_on))
    rows = session.execute(
        sa.select(col(ActionPoint.audit_id), last)
        .group_by(col(ActionPoint.audit_id))
        .having(open_ == 0, done > 0, last >= since, last <= on)
    ).all()
    return {audit_id: day for audit_id, day in rows}


def reaudits_due(
    session: Session,
    period: Month,
    on: date,
    pool: list[Candidate],
    taken: set[int],
    settings: Settings | None = None,
) -> list[ReauditDue]:
    """A1: the re-audits this month's sample draws first; each case taken from the other draws."""
    settings = settings or get_settings()
    done = _actions_done(session, period.next(-settings.reaudit_months).first_day, on)
    if not done:
        return []
    already = set(  # a re-audit withdrawn or not done is drawn again while it is due
        session.exec(
            select(col(Audit.reaudits_id)).where(
                col(Audit.reaudits_id).is_not(None),
                col(Audit.status).in_([AuditStatus.ASSIGNED, AuditStatus.COMPLETED]),
            )
        )
    )
    firsts = session.exec(
        select(Audit)
        .where(
            col(Audit.id).in_(list(done)),
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.kind).in_(REAUDITED_KINDS),
        )
        .order_by(col(Audit.id))
    ).all()
    staff = {id_of(s): s for s in session.exec(select(Staff))}
    by_case = {c.case_id: c for c in pool}
    by_holder: dict[int, list[Candidate]] = defaultdict(list)
    for c in sorted(pool, key=lambda c: c.case_id):
        if in_pool(c, on):
            by_holder[c.case_manager_id].append(c)
    due: list[ReauditDue] = []
    for first in firsts:
        if id_of(first) in already:
            continue
        when = f"its action points were all done by {done[id_of(first)]:%-d %B %Y}"
        same = by_case.get(first.case_id) if first.case_id is not None else None
        if same is not None and in_pool(same, on):
            if same.case_id in taken:
                continue  # another re-audit of the case this month: this one waits a month
            candidate, why = same, f"A1: re-audit of audit {first.id}: {when}"
        else:
            others = [c for c in by_holder[first.subject_staff_id] if c.case_id not in taken]
            if not others:
                continue  # the case has closed and the case manager holds no other open case
            rng = random.Random(seed_for(period, "reaudit", id_of(first)))
            candidate = rng.choice(others)
            why = (
                f"A1: re-audit of audit {first.id} on another of the case manager's cases "
                f"(that case has closed): {when}"
            )
        auditor = _auditor(first, candidate, staff)
        if auditor is None:
            continue
        taken.add(candidate.case_id)
        due.append(ReauditDue(first, candidate, auditor, why))
    return due


def _auditor(first: Audit, candidate: Candidate, staff: dict[int, Staff]) -> Staff | None:
    """The first auditor, else the case manager's line manager: active, never the holder (S10)."""
    holder = staff.get(candidate.case_manager_id)
    options = [staff.get(first.auditor_id)]
    if holder is not None and holder.line_manager_id is not None:
        options.append(staff.get(holder.line_manager_id))
    return next(
        (s for s in options if s is not None and s.active and s.id != candidate.case_manager_id),
        None,
    )


# Set beside the first audit -------------------------------------------------------------------


def compare(first: str, second: str) -> str:
    """'improved', 'same' or 'worse' for two judgements (insufficient < ... < excellent)."""
    a, b = RANK[first], RANK[second]
    return "improved" if b > a else "worse" if b < a else "same"


def reaudit_figures(session: Session, quarter: Quarter) -> dict[str, Any]:
    """A1: the re-audits completed in the quarter beside their first audits: per section, the
    judgements compared and how many improved, stayed the same or got worse; and the questions
    judged insufficient the first time that were not better the second."""
    pairs = session.execute(
        sa.select(col(Audit.id), col(Audit.reaudits_id)).where(
            col(Audit.reaudits_id).is_not(None),
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.completed_on).between(quarter.first_day, quarter.last_day),
        )
    ).all()
    answers = answers_of(session, [a for a, _ in pairs] + [f for _, f in pairs if f is not None])
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    stuck: Counter[tuple[str, str]] = Counter()
    for again, first_id in pairs:
        first, second = answers.get(first_id or 0, {}), answers.get(again, {})
        for code in sorted(set(first) & set(second)):
            section, before = first[code]
            after = second[code][1]
            if before not in RANK or after not in RANK:
                continue  # yes/no answers are not graded
            verdict = compare(before, after)
            sections[section]["compared"] += 1
            sections[section][verdict] += 1
            if before == Judgement.INSUFFICIENT.value and verdict != "improved":
                stuck[(section, code)] += 1
    rows = [
        {
            "section": s,
            "compared": c["compared"],
            "improved": c["improved"],
            "same": c["same"],
            "worse": c["worse"],
            "share_improved": round(c["improved"] / c["compared"], 4) if c["compared"] else None,
        }
        for s, c in sorted(sections.items())
    ]
    totals = Counter[str]()
    for c in sections.values():
        totals.update(c)
    texts = dict(session.execute(sa.select(col(Question.code), col(Question.text))).tuples().all())
    return {
        "done": len(pairs),
        "by_section": rows,
        "totals": {k: totals[k] for k in ("compared", "improved", "same", "worse")},
        "not_improved": [
            {"section": s, "question": q, "text": texts.get(q, q), "times": n}
            for (s, q), n in sorted(stuck.items(), key=lambda kv: (-kv[1], kv[0]))[:NOT_IMPROVED]
        ],
    }
