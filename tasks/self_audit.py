"""A2 self-audit (§3: "self auditing is promoted, supported and encouraged").

On its timetable row (SA, quarterly, which a service may delete to switch off) or on demand
(`yotqa audits self-audit`), each active case manager is asked to audit one of their own open
cases with the case audit tool, drawn seeded (S3) and kept in the manifest (S12). It is recorded
through every path the other audits use. Self-audits are kept apart from management audits in
every figure (S10 governs those only) and, where a manager has audited the same case within six
months, compared with that audit, judgement by judgement: is the case manager's own judgement
higher, equal or lower (calibration)?
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Audit, SamplingRun
from models.base import id_of
from models.enums import (
    MANAGEMENT_KINDS,
    AuditKind,
    AuditStatus,
    Role,
    SamplingKind,
    SelectionMethod,
)
from tasks.moderation import answers_of
from tasks.reaudit import RANK, compare
from tasks.sampling.pool import active_staff, load_pool
from tasks.sampling.rules import Draw, Pick, in_pool, seed_for
from tasks.workdays import Month, Quarter

REASON = "A2: self-audit of one of your own cases, with the case audit tool"
NEAR = timedelta(days=183)  # a manager's audit of the same case this close is compared


@dataclass
class SelfAudits:
    period: str
    audits: list[int] = field(default_factory=list)
    emails: int = 0
    already: list[str] = field(default_factory=list)  # case managers asked before this month
    no_case: list[str] = field(default_factory=list)  # case managers with no open case to audit


def assign_self_audits(session: Session, on: date, emails: list[str] | None = None) -> SelfAudits:
    """Ask each active case manager (or those whose `emails` are given) to self-audit one of their
    own open cases this month; once a month each (S11). Commits once."""
    from tasks.sampling.monthly import PlannedRun, due_date, record
    from tasks.sampling.notify import notify

    period = Month.of(on)
    result = SelfAudits(str(period))
    wanted = {e.strip().lower() for e in emails or []}
    people = [
        s for s in active_staff(session, Role.CASE_MANAGER) if not wanted or s.email in wanted
    ]
    unknown = wanted - {s.email for s in people}
    if unknown:
        from models.errors import InvalidInput

        raise InvalidInput(
            f"not an active case manager's email: {', '.join(sorted(unknown))}: check the "
            "staff list the service imported (`yotqa import staff FILE`); nothing was assigned"
        )
    asked = set(
        session.exec(
            select(col(SamplingRun.sampler_id)).where(
                col(SamplingRun.kind) == SamplingKind.SELF_AUDIT,
                col(SamplingRun.period) == str(period),
            )
        )
    )
    pool = [c for c in load_pool(session, on) if in_pool(c, on)]
    by_holder = defaultdict(list)
    for c in sorted(pool, key=lambda c: c.case_id):
        by_holder[c.case_manager_id].append(c)
    plans = []
    for cm in people:
        if cm.id in asked:
            result.already.append(cm.name)
            continue
        cases = by_holder.get(id_of(cm), [])
        if not cases:
            result.no_case.append(cm.name)
            continue
        seed = seed_for(period, "self-audit", cm.email)
        pick = random.Random(seed).choice(cases)
        plans.append(
            PlannedRun(
                cm,
                SamplingKind.SELF_AUDIT,
                seed,
                cases,
                Draw(picks=[Pick(pick, REASON)]),
                audit_kind=AuditKind.SELF,
                method=SelectionMethod.SELF_AUDIT,
                rules=["A2", "S3", "S12"],
            )
        )
    try:
        if plans:
            audits = record(session, period, on, plans, due=due_date(period, on))
            result.emails = notify(session, period, audits, key="self-audit")
            result.audits = [id_of(a) for a in audits]
        session.commit()
    except sa.exc.IntegrityError:
        # Another run (the timetable's and a command's at once) asked them first (S11): the
        # runs' unique key decides; nothing of this one is kept.
        session.rollback()
        return SelfAudits(str(period), already=[p.sampler.name for p in plans])
    return result


# Calibration ----------------------------------------------------------------------------------


def calibration_figures(session: Session, quarter: Quarter) -> dict[str, Any]:
    """A2: the quarter's self-audits; for those whose case a manager audited within six months,
    each judgement set beside the manager's: the case manager's own higher, equal or lower."""
    selves = list(
        session.exec(
            select(Audit).where(
                col(Audit.kind) == AuditKind.SELF,
                col(Audit.status) == AuditStatus.COMPLETED,
                col(Audit.completed_on).between(quarter.first_day, quarter.last_day),
            )
        )
    )
    cases = [a.case_id for a in selves if a.case_id is not None]
    managers: dict[int, list[Audit]] = defaultdict(list)
    for a in session.exec(
        select(Audit).where(
            col(Audit.case_id).in_(cases),
            col(Audit.kind).in_(MANAGEMENT_KINDS),
            col(Audit.status) == AuditStatus.COMPLETED,
        )
    ):
        if a.case_id is not None:
            managers[a.case_id].append(a)
    matched: list[tuple[Audit, Audit]] = []
    for own in selves:
        done = own.completed_on
        near = sorted(
            (abs(m.completed_on - done), id_of(m), m)
            for m in managers.get(own.case_id or 0, [])
            if done is not None
            and m.completed_on is not None
            and abs(m.completed_on - done) <= NEAR
        )
        if near:
            matched.append((own, near[0][2]))  # the manager's audit nearest in time
    answers = answers_of(session, [id_of(a) for pair in matched for a in pair])
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    words = {"improved": "higher", "same": "equal", "worse": "lower"}
    for own, manager in matched:
        mine, theirs = answers[id_of(own)], answers[id_of(manager)]
        for code in sorted(set(mine) & set(theirs)):
            section, value = mine[code]
            if value in RANK and theirs[code][1] in RANK:
                verdict = words[compare(theirs[code][1], value)]
                sections[section]["compared"] += 1
                sections[section][verdict] += 1
    rows = []
    totals = Counter[str]()
    for section, c in sorted(sections.items()):
        totals.update(c)
        rows.append({"section": section, **_shares(c)})
    return {
        "done": len(selves),
        "compared_with_a_manager": len(matched),
        "by_section": rows,
        "overall": {"section": "All sections", **_shares(totals)},
    }


def _shares(c: Counter[str]) -> dict[str, Any]:
    n = c["compared"]
    return {
        "compared": n,
        "higher": c["higher"],
        "equal": c["equal"],
        "lower": c["lower"],
        "share_higher": round(c["higher"] / n, 4) if n else None,
        "share_lower": round(c["lower"] / n, 4) if n else None,
    }
