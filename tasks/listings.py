"""What an admin lists from the command line: audits and action points, newest work first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session

from models import ActionPoint, Audit, Case, Staff
from models.enums import ActionStatus, AuditStatus
from tasks.workdays import Month

# How a record arrived, as `yotqa audits list` names it.
VIA = {
    "web": "web page",
    "file": "form file",
    "prefect-ui": "Prefect form",
    "simulation": "simulation",
}


@dataclass(frozen=True)
class AuditRow:
    id: int
    case_ref: str
    kind: str
    auditor: str
    due_on: date
    status: str
    three_way: bool
    recorded_via: str


def audit_rows(
    session: Session,
    *,
    status: AuditStatus | None = None,
    auditor_email: str | None = None,
    period: str | None = None,
) -> list[AuditRow]:
    """Audits by deadline, with their case, auditor and which way each was recorded."""
    who = aliased(Staff)
    query = (
        sa.select(Audit, Case.case_ref, who.name)
        .outerjoin(Case, Case.id == Audit.case_id)
        .join(who, who.id == Audit.auditor_id)
        .order_by(Audit.due_on, Audit.id)
    )
    if status:
        query = query.where(Audit.status == status)
    if auditor_email:
        query = query.where(who.email == auditor_email.strip().lower())
    if period:
        query = query.where(Audit.period == str(Month.parse(period)))
    return [
        AuditRow(
            id=audit.id,
            case_ref=ref or "",
            kind=audit.kind.label,
            auditor=name,
            due_on=audit.due_on,
            status=audit.status.value,
            three_way=audit.three_way_meeting,
            recorded_via=VIA.get(audit.recorded_via, audit.recorded_via),
        )
        for audit, ref, name in session.execute(query).tuples()
    ]


@dataclass(frozen=True)
class ActionRow:
    id: int
    case_ref: str
    priority: int
    text: str
    owner: str
    deadline: date
    status: str


def action_rows(
    session: Session, *, open_only: bool = True, owner_email: str | None = None
) -> list[ActionRow]:
    """Action points by deadline (D3), with their case and owner."""
    query = (
        sa.select(ActionPoint, Case.case_ref, Staff.name)
        .join(Audit, Audit.id == ActionPoint.audit_id)
        .outerjoin(Case, Case.id == Audit.case_id)
        .join(Staff, Staff.id == ActionPoint.owner_id)
        .order_by(ActionPoint.deadline, ActionPoint.audit_id, ActionPoint.priority)
    )
    if open_only:
        query = query.where(ActionPoint.status == ActionStatus.OPEN)
    if owner_email:
        query = query.where(Staff.email == owner_email.strip().lower())
    return [
        ActionRow(
            id=action.id,
            case_ref=ref or "",
            priority=action.priority,
            text=action.text,
            owner=name,
            deadline=action.deadline,
            status=action.status.value,
        )
        for action, ref, name in session.execute(query).tuples()
    ]
