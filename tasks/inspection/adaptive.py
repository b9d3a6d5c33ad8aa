"""H4: risk-adaptive sampling. A case manager whose last N completed audits found a share of
insufficient judgements above a threshold (both settings) has one more case sampled in their
team manager's month, in the slots the quota (S9) leaves once S6's rotation has had its share:
never at the cost of S6's coverage. Each such pick says why in the manifest (S12)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col

from models import Audit, Finding, Staff
from models.enums import MANAGEMENT_KINDS, AuditStatus, Judgement
from tasks.packs.figures import JUDGED, Scope


@dataclass(frozen=True)
class Weaker:
    """A case manager's recent audits, weaker than the threshold."""

    staff_id: int
    audits: int
    insufficient: int
    judged: int
    threshold: float

    @property
    def share(self) -> float:
        return self.insufficient / self.judged

    @property
    def reason(self) -> str:
        return (
            f"H4: risk-adaptive, {self.share:.0%} of the judgements in the case manager's last "
            f"{self.audits} audits were insufficient (above {self.threshold:.0%})"
        )


def weaker_case_managers(
    session: Session, on: date, last: int, threshold: float
) -> dict[int, Weaker]:
    """H4: the case managers whose `last` completed management audits before `on` (all of them
    completed: fewer is not enough to judge by) found more than `threshold` of their judgements
    insufficient, keyed by staff id."""
    rows = session.execute(
        sa.select(col(Audit.id), col(Audit.subject_staff_id))
        .where(
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.kind).in_(MANAGEMENT_KINDS),
            col(Audit.completed_on) < on,
        )
        .order_by(col(Audit.completed_on).desc(), col(Audit.id).desc())
    ).tuples()
    recent: dict[int, list[int]] = defaultdict(list)
    for audit_id, staff_id in rows:
        if len(recent[staff_id]) < last:
            recent[staff_id].append(audit_id)
    ids = [a for audits in recent.values() if len(audits) == last for a in audits]
    tally: dict[int, tuple[int, int]] = {}
    if ids:
        counts = session.execute(
            sa.select(
                col(Finding.audit_id),
                sa.func.count(),
                sa.func.sum(
                    sa.case((col(Finding.judgement) == Judgement.INSUFFICIENT, 1), else_=0)
                ),
            )
            .where(col(Finding.audit_id).in_(ids), col(Finding.judgement).in_(JUDGED))
            .group_by(col(Finding.audit_id))
        ).tuples()
        tally = {audit_id: (int(bad or 0), int(n)) for audit_id, n, bad in counts}
    weaker = {}
    for staff_id, audits in recent.items():
        if len(audits) < last:
            continue
        bad = sum(tally.get(a, (0, 0))[0] for a in audits)
        judged = sum(tally.get(a, (0, 0))[1] for a in audits)
        if judged and bad / judged > threshold:
            weaker[staff_id] = Weaker(staff_id, last, bad, judged, threshold)
    return weaker


def initials(name: str) -> str:
    """'Ann Case' -> 'A.C.': how the pack names a case manager sampled more (not by name)."""
    return "".join(f"{part[0].upper()}." for part in name.split() if part[:1].isalpha())


def adaptive_figures(session: Session, months: list[str], scope: Scope) -> list[dict[str, object]]:
    """H4 for the quarterly pack: each risk-adaptive pick of the quarter's months, with the case
    manager by initials and staff number only (the board does not see names) and why."""
    rows = session.execute(
        sa.select(
            col(Audit.period),
            col(Audit.selection_reason),
            col(Staff.id),
            col(Staff.name),
            col(Staff.team_id),
        )
        .join(Staff, col(Staff.id) == Audit.subject_staff_id)
        .where(
            col(Audit.period).in_(months),
            col(Audit.selection_reason).startswith("H4"),
            col(Audit.status) != AuditStatus.WITHDRAWN,
        )
        .order_by(col(Audit.period), col(Staff.id))
    ).tuples()
    return [
        {
            "month": period,
            "case_manager": f"{initials(name)} (staff {staff_id})",
            "team": scope.team(team_id),
            "why": reason.removeprefix("H4: risk-adaptive, "),
        }
        for period, reason, staff_id, name, team_id in rows
    ]
