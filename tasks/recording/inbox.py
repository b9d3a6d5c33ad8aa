"""What one person owes the framework today, each item with its own links (L1): audits to do,
action points to close, new dates to decide, findings to read and acknowledge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from models import Acknowledgement, ActionPoint, Audit, Case, DeadlineRequest, Staff
from models.enums import ActionStatus, AuditStatus
from models.settings import Settings
from tasks.links import ACKNOWLEDGE, DECIDE, Links
from tasks.workdays import working_days_between


@dataclass
class Inbox:
    name: str
    audits: list[dict[str, object]] = field(default_factory=list)
    actions: list[dict[str, object]] = field(default_factory=list)
    decisions: list[dict[str, object]] = field(default_factory=list)
    findings: list[dict[str, object]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.audits or self.actions or self.decisions or self.findings)


def _due(deadline: date, on: date) -> str:
    if deadline < on:
        late = working_days_between(deadline, on)
        return f"{late} working day{'s' if late != 1 else ''} overdue"
    if deadline == on:
        return "due today"
    ahead = working_days_between(on, deadline)
    return f"due in {ahead} working day{'s' if ahead != 1 else ''}"


def inbox(session: Session, person: Staff, on: date, settings: Settings) -> Inbox:
    links = Links(session, on, settings)
    box = Inbox(person.name)
    for audit, ref in session.execute(
        sa.select(Audit, Case.case_ref)
        .outerjoin(Case, Case.id == Audit.case_id)
        .where(Audit.auditor_id == person.id, Audit.status == AuditStatus.ASSIGNED)
        .order_by(Audit.due_on, Audit.id)
    ).tuples():
        box.audits.append(
            {
                "case_ref": ref or "-",
                "kind": audit.kind.label,
                "due_on": f"{audit.due_on:%A %-d %B %Y}",
                "status": _due(audit.due_on, on),
                "links": links.audit(person.id, audit.id, audit.due_on),  # type: ignore[arg-type]
            }
        )
    pending = dict(
        session.execute(
            sa.select(DeadlineRequest.action_id, DeadlineRequest.proposed_on).where(
                DeadlineRequest.status == "pending"
            )
        )
        .tuples()
        .all()
    )
    for action, ref in session.execute(
        sa.select(ActionPoint, Case.case_ref)
        .join(Audit, Audit.id == ActionPoint.audit_id)
        .outerjoin(Case, Case.id == Audit.case_id)
        .where(ActionPoint.owner_id == person.id, ActionPoint.status == ActionStatus.OPEN)
        .order_by(ActionPoint.deadline, ActionPoint.id)
    ).tuples():
        box.actions.append(
            {
                "case_ref": ref or "-",
                "text": action.text,
                "priority": action.priority,
                "deadline": f"{action.deadline:%A %-d %B %Y}",
                "status": _due(action.deadline, on),
                "asked": f"{pending[action.id]:%-d %B %Y}" if action.id in pending else "",
                "links": links.action(person.id, action.id, action.deadline),  # type: ignore[arg-type]
            }
        )
    owner = sa.orm.aliased(Staff)
    for request, action, ref, owner_name in session.execute(
        sa.select(DeadlineRequest, ActionPoint, Case.case_ref, owner.name)
        .join(ActionPoint, ActionPoint.id == DeadlineRequest.action_id)
        .join(Audit, Audit.id == ActionPoint.audit_id)
        .outerjoin(Case, Case.id == Audit.case_id)
        .join(owner, owner.id == ActionPoint.owner_id)
        .where(
            DeadlineRequest.decider_id == person.id,
            DeadlineRequest.status == "pending",
            ActionPoint.status == ActionStatus.OPEN,
        )
        .order_by(DeadlineRequest.id)
    ).tuples():
        box.decisions.append(
            {
                "case_ref": ref or "-",
                "owner": owner_name,
                "text": action.text,
                "current": f"{request.current_deadline:%-d %B %Y}",
                "proposed": f"{request.proposed_on:%-d %B %Y}",
                "url": links.url(person.id, DECIDE, request.id, request.proposed_on),  # type: ignore[arg-type]
            }
        )
    days = timedelta(days=settings.web_link_days)
    last_deadline = (
        sa.select(sa.func.max(ActionPoint.deadline))
        .where(ActionPoint.audit_id == Audit.id)
        .scalar_subquery()
    )
    for audit, ref, latest in session.execute(
        sa.select(Audit, Case.case_ref, last_deadline)
        .outerjoin(Case, Case.id == Audit.case_id)
        .outerjoin(Acknowledgement, Acknowledgement.audit_id == Audit.id)
        .where(
            Audit.subject_staff_id == person.id,
            Audit.status == AuditStatus.COMPLETED,
            Acknowledgement.id.is_(None),  # type: ignore[union-attr]
        )
        .order_by(Audit.completed_on, Audit.id)
    ).tuples():
        last_day = max(latest or audit.completed_on, audit.completed_on)  # type: ignore[type-var]
        if last_day + days < on:
            continue  # too long ago: its link has expired
        box.findings.append(
            {
                "case_ref": ref or "-",
                "kind": audit.kind.label,
                "completed_on": f"{audit.completed_on:%-d %B %Y}",
                "url": links.url(person.id, ACKNOWLEDGE, audit.id, last_day),  # type: ignore[arg-type]
            }
        )
    return box


def demo_link(session: Session, on: date) -> tuple[str, str] | None:
    """The operational manager with the most audits to do, and their own list's link (for the
    demo that `make run` ends with)."""
    from models.enums import Role

    row = session.execute(
        sa.select(Staff, sa.func.count(Audit.id))
        .join(Audit, Audit.auditor_id == Staff.id)
        .where(
            Staff.role == Role.OPERATIONAL_MANAGER,
            Staff.active == sa.true(),
            Audit.status == AuditStatus.ASSIGNED,
        )
        .group_by(Staff.id)
        .order_by(sa.func.count(Audit.id).desc(), Staff.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    person = row[0]
    url = Links(session, on).items(person.id)  # type: ignore[arg-type]
    session.commit()
    return person.name, url
