"""What an admin lists from the command line: audits and action points, newest work first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import ActionPoint, Audit, Case, Staff, SupportNeed
from models.base import id_of
from models.enums import ActionStatus, AuditStatus, NeedStatus
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
        sa.select(Audit, col(Case.case_ref), col(who.name))
        .outerjoin(Case, col(Case.id) == col(Audit.case_id))
        .join(who, col(who.id) == col(Audit.auditor_id))
        .order_by(col(Audit.due_on), col(Audit.id))
    )
    if status:
        query = query.where(col(Audit.status) == status)
    if auditor_email:
        query = query.where(col(who.email) == auditor_email.strip().lower())
    if period:
        query = query.where(col(Audit.period) == str(Month.parse(period)))
    return [
        AuditRow(
            id=id_of(audit),
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
        sa.select(ActionPoint, col(Case.case_ref), col(Staff.name))
        .join(Audit, col(Audit.id) == col(ActionPoint.audit_id))
        .outerjoin(Case, col(Case.id) == col(Audit.case_id))
        .join(Staff, col(Staff.id) == col(ActionPoint.owner_id))
        .order_by(col(ActionPoint.deadline), col(ActionPoint.audit_id), col(ActionPoint.priority))
    )
    if open_only:
        query = query.where(col(ActionPoint.status) == ActionStatus.OPEN)
    if owner_email:
        query = query.where(col(Staff.email) == owner_email.strip().lower())
    return [
        ActionRow(
            id=id_of(action),
            case_ref=ref or "",
            priority=action.priority,
            text=action.text,
            owner=name,
            deadline=action.deadline,
            status=action.status.value,
        )
        for action, ref, name in session.execute(query).tuples()
    ]


@dataclass(frozen=True)
class NeedRow:
    id: int
    case_ref: str
    theme: str
    scope: str
    case_manager: str
    reviewer: str
    review_on: date
    status: str


def need_rows(
    session: Session, *, open_only: bool = True, reviewer_email: str | None = None
) -> list[NeedRow]:
    """A4: support and training needs by review date, with their case, case manager and reviewer."""
    holder, reviewer = aliased(Staff), aliased(Staff)
    query = (
        sa.select(SupportNeed, col(Case.case_ref), col(holder.name), col(reviewer.name))
        .join(Audit, col(Audit.id) == col(SupportNeed.audit_id))
        .outerjoin(Case, col(Case.id) == col(Audit.case_id))
        .join(holder, col(holder.id) == col(SupportNeed.staff_id))
        .join(reviewer, col(reviewer.id) == col(SupportNeed.owner_id))
        .order_by(col(SupportNeed.review_on), col(SupportNeed.id))
    )
    if open_only:
        query = query.where(col(SupportNeed.status) == NeedStatus.OPEN)
    if reviewer_email:
        query = query.where(col(reviewer.email) == reviewer_email.strip().lower())
    return [
        NeedRow(
            id=id_of(need),
            case_ref=ref or "",
            theme=need.theme,
            scope=need.scope.value,
            case_manager=who,
            reviewer=by,
            review_on=need.review_on,
            status=need.status.value,
        )
        for need, ref, who, by in session.execute(query).tuples()
    ]
