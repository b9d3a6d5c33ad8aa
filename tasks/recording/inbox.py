"""What one person owes the framework today, each item with its own links (L1): audits to do,
action points to close, new dates to decide, findings to read and acknowledge, support needs to
review (A4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    Case,
    DeadlineRequest,
    Staff,
    SupportNeed,
)
from models.base import id_of
from models.enums import APART, ActionStatus, AuditStatus, NeedScope, NeedStatus
from models.settings import Settings
from tasks.links import ACKNOWLEDGE, DECIDE, Links
from tasks.packs.redact import Redactor
from tasks.workdays import working_days_between


@dataclass
class Inbox:
    name: str
    audits: list[dict[str, object]] = field(default_factory=list)
    actions: list[dict[str, object]] = field(default_factory=list)
    decisions: list[dict[str, object]] = field(default_factory=list)
    findings: list[dict[str, object]] = field(default_factory=list)
    needs: list[dict[str, object]] = field(default_factory=list)  # A4: support needs to review

    @property
    def empty(self) -> bool:
        return not (self.audits or self.actions or self.decisions or self.findings or self.needs)


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
    person_id = id_of(person)
    for audit, ref in session.execute(
        sa.select(Audit, col(Case.case_ref))
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(col(Audit.auditor_id) == person_id, col(Audit.status) == AuditStatus.ASSIGNED)
        .order_by(col(Audit.due_on), col(Audit.id))
    ).tuples():
        box.audits.append(
            {
                "case_ref": ref or "-",
                "kind": audit.kind.label,
                "due_on": f"{audit.due_on:%A %-d %B %Y}",
                "status": _due(audit.due_on, on),
                "links": links.audit(person_id, id_of(audit), audit.due_on),
            }
        )
    pending = dict(
        session.execute(
            sa.select(col(DeadlineRequest.action_id), col(DeadlineRequest.proposed_on)).where(
                col(DeadlineRequest.status) == "pending"
            )
        )
        .tuples()
        .all()
    )
    for action, ref in session.execute(
        sa.select(ActionPoint, col(Case.case_ref))
        .join(Audit, col(Audit.id) == ActionPoint.audit_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(col(ActionPoint.owner_id) == person_id, col(ActionPoint.status) == ActionStatus.OPEN)
        .order_by(col(ActionPoint.deadline), col(ActionPoint.id))
    ).tuples():
        action_id = id_of(action)
        box.actions.append(
            {
                "case_ref": ref or "-",
                "text": action.text,
                "priority": action.priority,
                "deadline": f"{action.deadline:%A %-d %B %Y}",
                "status": _due(action.deadline, on),
                "asked": f"{pending[action_id]:%-d %B %Y}" if action_id in pending else "",
                "links": links.action(person_id, action_id, action.deadline),
            }
        )
    owner = sa.orm.aliased(Staff)
    for request, action, ref, owner_name in session.execute(
        sa.select(DeadlineRequest, ActionPoint, col(Case.case_ref), col(owner.name))
        .join(ActionPoint, col(ActionPoint.id) == DeadlineRequest.action_id)
        .join(Audit, col(Audit.id) == ActionPoint.audit_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .join(owner, col(owner.id) == ActionPoint.owner_id)
        .where(
            col(DeadlineRequest.decider_id) == person_id,
            col(DeadlineRequest.status) == "pending",
            col(ActionPoint.status) == ActionStatus.OPEN,
        )
        .order_by(col(DeadlineRequest.id))
    ).tuples():
        box.decisions.append(
            {
                "case_ref": ref or "-",
                "owner": owner_name,
                "text": action.text,
                "current": f"{request.current_deadline:%-d %B %Y}",
                "proposed": f"{request.proposed_on:%-d %B %Y}",
                "url": links.url(person_id, DECIDE, id_of(request), request.proposed_on),
            }
        )
    _needs(session, box, person_id, on, links)
    days = timedelta(days=settings.web_link_days)
    last_deadline = (
        sa.select(sa.func.max(col(ActionPoint.deadline)))
        .where(col(ActionPoint.audit_id) == Audit.id)
        .scalar_subquery()
    )
    for audit, ref, latest in session.execute(
        sa.select(Audit, col(Case.case_ref), last_deadline)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .outerjoin(Acknowledgement, col(Acknowledgement.audit_id) == Audit.id)
        .where(
            col(Audit.subject_staff_id) == person_id,
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.kind).not_in(APART),  # A5: blind, nothing to read; A2: their own
            col(Acknowledgement.id).is_(None),
        )
        .order_by(col(Audit.completed_on), col(Audit.id))
    ).tuples():
        if audit.completed_on is None:
            raise RuntimeError(f"audit {audit.id} is completed but has no completion date")
        last_day = max(latest or audit.completed_on, audit.completed_on)
        if last_day + days < on:
            continue  # too long ago: its link has expired
        box.findings.append(
            {
                "case_ref": ref or "-",
                "kind": audit.kind.label,
                "completed_on": f"{audit.completed_on:%-d %B %Y}",
                "url": links.url(person_id, ACKNOWLEDGE, id_of(audit), last_day),
            }
        )
    return box


def _needs(session: Session, box: Inbox, person_id: int, on: date, links: Links) -> None:
    """A4: the open support needs the person reviews, soonest first, each with its review link
    (the words with the young people's names removed, E5)."""
    subject = sa.orm.aliased(Staff)
    rows = session.execute(
        sa.select(SupportNeed, col(Case.case_ref), col(subject.name))
        .join(Audit, col(Audit.id) == SupportNeed.audit_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .outerjoin(subject, col(subject.id) == SupportNeed.staff_id)
        .where(col(SupportNeed.owner_id) == person_id, col(SupportNeed.status) == NeedStatus.OPEN)
        .order_by(col(SupportNeed.review_on), col(SupportNeed.id))
    ).tuples()
    redact: Redactor | None = None
    for need, ref, name in rows:
        redact = redact or Redactor(session)
        box.needs.append(
            {
                "case_ref": ref or "-",
                "theme": need.theme,
                "text": redact(need.text).rstrip().rstrip("."),  # the page ends the sentence
                "whom": f"{name or 'the case manager'}'s team"
                if need.scope is NeedScope.TEAM
                else name or "the case manager",
                "review_on": f"{need.review_on:%A %-d %B %Y}",
                "status": _due(need.review_on, on),
                "url": links.need(person_id, id_of(need), need.review_on)["review"],
            }
        )


def demo_link(session: Session, on: date) -> tuple[str, str] | None:
    """The operational manager with the most audits to do, and their own list's link (for the
    demo that `make run` ends with)."""
    from models.enums import Role

    row = session.execute(
        sa.select(Staff, sa.func.count(col(Audit.id)))
        .join(Audit, col(Audit.auditor_id) == Staff.id)
        .where(
            col(Staff.role) == Role.OPERATIONAL_MANAGER,
            col(Staff.active) == sa.true(),
            col(Audit.status) == AuditStatus.ASSIGNED,
        )
        .group_by(col(Staff.id))
        .order_by(sa.func.count(col(Audit.id)).desc(), col(Staff.id))
        .limit(1)
    ).first()
    if row is None:
        return None
    person = row[0]
    url = Links(session, on).items(id_of(person))
    session.commit()
    return person.name, url
