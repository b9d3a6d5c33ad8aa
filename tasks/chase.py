"""The daily chase (E2, D3, D4): reminders before deadlines, chases after, escalation later;
one digest per person per day; leavers' audits reassigned.

Steps, in order: a reminder N working days before the deadline (for each N configured, largest
first), a chase to the owner copying the line manager once the deadline has passed, and an
escalation to the service manager after a further period. On any day only the most advanced step
due is sent, and a step is never sent if it, or a later one, was sent before: each item gets each
message at most once, ever, and a day missed does not cause a burst of them later.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, select

from models import ActionPoint, Audit, AuditEvent, Case, ChaseStep, EmailMessage, Staff
from models.enums import ActionStatus, AuditStatus, Role
from models.settings import Settings
from tasks.links import Links, revoke
from tasks.outbox import queue_email
from tasks.workdays import (
    add_working_days,
    is_working_day,
    london_midnight,
    london_time,
    working_days_between,
)

log = logging.getLogger(__name__)
REASSIGN_WORKING_DAYS = 10


@dataclass(frozen=True)
class Item:
    kind: str  # "audit" or "action"
    id: int
    case_ref: str
    what: str
    owner_id: int
    deadline: date


@dataclass(frozen=True)
class Due:
    item: Item
    step: str


@dataclass
class ChaseReport:
    day: date
    steps: list[dict[str, str]] = field(default_factory=list)
    digests: int = 0
    reassigned: int = 0
    arrived: list[dict[str, str]] = field(default_factory=list)


def steps_in_order(settings: Settings) -> list[str]:
    return [f"reminder-{n}" for n in sorted(set(settings.chase_reminder_days), reverse=True)] + [
        "chase",
        "escalation",
    ]


def current_step(deadline: date, on: date, settings: Settings) -> str | None:
    """The most advanced step an item with this deadline has reached on `on` (E2)."""
    if on > deadline:
        late = working_days_between(deadline, on)
        return "escalation" if late >= settings.chase_escalate_after else "chase"
    ahead = working_days_between(on, deadline)
    reminders = [n for n in sorted(set(settings.chase_reminder_days)) if ahead <= n]
    return f"reminder-{reminders[0]}" if reminders else None


def open_items(session: Session) -> list[Item]:
    audits = session.execute(
        sa.select(Audit.id, Case.case_ref, Audit.kind, Audit.auditor_id, Audit.due_on)
        .outerjoin(Case, Case.id == Audit.case_id)
        .where(Audit.status == AuditStatus.ASSIGNED)
    )
    actions = session.execute(
        sa.select(
            ActionPoint.id,
            Case.case_ref,
            ActionPoint.priority,
            ActionPoint.text,
            ActionPoint.owner_id,
            ActionPoint.deadline,
        )
        .join(Audit, Audit.id == ActionPoint.audit_id)
        .outerjoin(Case, Case.id == Audit.case_id)
        .where(ActionPoint.status == ActionStatus.OPEN)
    )
    items = [
        Item("audit", i, ref or "-", f"{kind.label} audit #{i}", owner, due)
        for i, ref, kind, owner, due in audits
    ]
    items += [
        Item("action", i, ref or "-", f"action #{i} (priority {p}): {text}", owner, due)
        for i, ref, p, text, owner, due in actions
    ]
    return items


def due_steps(session: Session, on: date, settings: Settings) -> list[Due]:
    """Every item whose current step has not been sent, nor any step after it, for its deadline
    as it stands (an agreed new date, or a reassigned audit's, starts the steps again)."""
    order = steps_in_order(settings)
    sent: dict[tuple[str, int, date], int] = {}
    for kind, item_id, deadline, step in session.execute(
        sa.select(ChaseStep.item_type, ChaseStep.item_id, ChaseStep.deadline, ChaseStep.step)
    ):
        rank = order.index(step) if step in order else len(order)
        key = (kind, item_id, deadline)
        sent[key] = max(sent.get(key, -1), rank)
    due = []
    for item in open_items(session):
        step = current_step(item.deadline, on, settings)
        if step is not None and order.index(step) > sent.get(
            (item.kind, item.id, item.deadline), -1
        ):
            due.append(Due(item, step))
    return due


def chase(session: Session, on: date, settings: Settings) -> ChaseReport:
    """E2: queue today's digests and record each step sent; commits once. Nothing on non-working days."""
    report = ChaseReport(on)
    if not is_working_day(on):
        return report
    report.reassigned = reassign_leavers(session, on)
    report.arrived = arrived_by_link(session, on)
    staff = {s.id: s for s in session.exec(select(Staff))}
    service_managers = [s for s in staff.values() if s.role is Role.SERVICE_MANAGER and s.active]
    already = {
        k
        for (k,) in session.execute(
            sa.select(EmailMessage.key).where(EmailMessage.key.like(f"digest:{on}:%"))
        )
    }
    sections: dict[int, dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    records: list[tuple[Due, int, list[int]]] = []
    links = Links(session, on, settings)
    due = due_steps(session, on, settings)
    for kind in ("audit", "action"):
        links.preload(kind, [d.item.id for d in due if d.item.kind == kind])
    links.preload("staff", list(staff))
    for d in sorted(due, key=lambda d: (d.item.deadline, d.item.kind, d.item.id)):
        owner = staff[d.item.owner_id]
        manager = staff.get(owner.line_manager_id)  # type: ignore[arg-type]
        if d.step.startswith("reminder"):
            to = {owner.id: "reminders"}
        elif d.step == "chase":
            to = {owner.id: "chases", **({manager.id: "team"} if manager else {})}
        else:
            # The service manager sees it as escalated, even when also the owner's line manager.
            to = ({manager.id: "team"} if manager else {}) | {
                sm.id: "escalations" for sm in service_managers
            }
            to.setdefault(owner.id, "chases")
        if any(f"digest:{on}:{pid}" in already for pid in to):
            continue  # that person has had today's digest: the step waits for tomorrow's
        row = {
            "case_ref": d.item.case_ref,
            "what": d.item.what,
            "owner": owner.name,
            "deadline": d.item.deadline.isoformat(),
            "status": _status(d, on),
        }
        for pid, section in to.items():
            # Only the owner's copy carries links: a link is good for its one person (L1).
            own = pid == owner.id and section in ("reminders", "chases")
            sections[pid][section].append({**row, "links": _links(links, d.item) if own else None})
        records.append((d, owner.id, list(to)))  # type: ignore[arg-type]
    for pid, parts in sections.items():
        person = staff[pid]
        if queue_email(
            session,
            key=f"digest:{on}:{pid}",
            kind="digest",
            template="digest",
            subject=_subject(parts, on),
            to=[person],
            items_url=links.items(pid),
            day=on.strftime("%A %-d %B %Y"),
            sections=[
                {"title": TITLES[k], "note": NOTES[k], "items": parts[k]}
                for k in TITLES
                if k in parts
            ],
        ):
            report.digests += 1
    for d, owner_id, recipients in records:
        session.add(
            ChaseStep(
                item_type=d.item.kind,
                item_id=d.item.id,
                step=d.step,
                deadline=d.item.deadline,
                sent_on=on,
                recipient_id=owner_id,
                email_key=f"digest:{on}:{owner_id}",
            )
        )
        if d.item.kind == "action" and d.step in ("chase", "escalation"):
            session.execute(
                sa.update(ActionPoint)
                .where(ActionPoint.id == d.item.id)
                .values(times_chased=ActionPoint.times_chased + 1)
            )
        report.steps.append(
            {
                "item": f"{d.item.kind} {d.item.id}",
                "case": d.item.case_ref,
                "step": d.step,
                "to": ", ".join(staff[r].name for r in recipients),
            }
        )
    session.commit()
    log.info(
        "chase for %s: %d steps, %d digests, %d audits reassigned",
        on,
        len(records),
        report.digests,
        report.reassigned,
    )
    return report


EVENTS = {
    "recorded": "audit recorded",
    "not_done": "audit cannot be done (D4)",
    "action_done": "action point done",
    "new_date_asked": "new date asked for an action point",
    "new_date_agreed": "new date agreed",
    "new_date_refused": "new date refused",
    "acknowledged": "findings acknowledged",
}


def arrived_by_link(session: Session, on: date) -> list[dict[str, str]]:
    """What people did through their links since the previous working day began, up to the
    start of `on`: each working day's chase reports the days before it, once (references only)."""
    since = add_working_days(on, -1)
    rows = session.execute(
        sa.select(AuditEvent, Case.case_ref, Staff.name)
        .join(Audit, Audit.id == AuditEvent.audit_id)
        .outerjoin(Case, Case.id == Audit.case_id)
        .outerjoin(Staff, Staff.id == AuditEvent.by_id)
        .where(AuditEvent.via == "web", AuditEvent.at >= london_midnight(since))
        .where(AuditEvent.at < london_midnight(on))
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    return [
        {
            "when": london_time(e.at).strftime("%Y-%m-%d %H:%M"),
            "what": EVENTS.get(e.event, e.event),
            "audit": str(e.audit_id),
            "case": ref or "-",
            "by": name or "-",
        }
        for e, ref, name in rows
    ]


def _links(links: Links, item: Item) -> dict[str, str]:
    if item.kind == "audit":
        return links.audit(item.owner_id, item.id, item.deadline)
    return links.action(item.owner_id, item.id, item.deadline)


TITLES = {
    "escalations": "Escalated to you",
    "chases": "Overdue",
    "team": "Overdue in your team",
    "reminders": "Due soon",
}
NOTES = {
    "escalations": "Still open well after the deadline: please follow up with the line manager (E2).",
    "chases": "The deadline has passed: please complete it, or say why it cannot be done (D4).",
    "team": "Copied to you as line manager: the deadline has passed for these (App. 1).",
    "reminders": "Coming up: please complete by the deadline.",
}


def _status(d: Due, on: date) -> str:
    if on > d.item.deadline:
        return f"{working_days_between(d.item.deadline, on)} working days overdue"
    ahead = working_days_between(on, d.item.deadline)
    return "due today" if ahead == 0 else f"due in {ahead} working day{'s' if ahead != 1 else ''}"


def _subject(parts: dict[str, list[dict[str, str]]], on: date) -> str:
    counts = ", ".join(f"{len(parts[k])} {TITLES[k].lower()}" for k in TITLES if k in parts)
    return f"QA items for {on:%-d %B}: {counts}"


def reassign_leavers(session: Session, on: date) -> int:
    """An inactive auditor's open audits go to an active manager of the same role in the team."""
    leavers = session.exec(
        select(Audit, Staff)
        .join(Staff, Staff.id == Audit.auditor_id)  # type: ignore[arg-type]
        .where(Audit.status == AuditStatus.ASSIGNED, Staff.active == sa.false())
    ).all()
    moved: dict[tuple[int, int], list[Audit]] = defaultdict(list)
    for audit, leaver in leavers:
        heir = _heir(session, leaver, audit)
        if heir is None:
            log.warning("audit %s: no active %s to take it over", audit.id, leaver.role.value)
            continue
        audit.auditor_id = heir.id  # type: ignore[assignment]
        audit.due_on = max(audit.due_on, add_working_days(on, REASSIGN_WORKING_DAYS))
        revoke(
            session,
            "audit",
            audit.id,  # type: ignore[arg-type]
            f"This audit was reassigned to {heir.name} on {on:%-d %B %Y}, because {leaver.name} "
            "has left: it is no longer yours to do.",
        )
        subject = session.get(Staff, audit.subject_staff_id)
        audit.three_way_meeting = subject is not None and subject.line_manager_id != heir.id
        session.add(
            AuditEvent(
                audit_id=audit.id,
                event="reassigned",
                by_id=None,  # type: ignore[arg-type]
                reason=f"{leaver.name} left; reassigned to {heir.name}",
            )
        )
        moved[(leaver.id, heir.id)].append(audit)  # type: ignore[index]
    session.flush()
    for (leaver_id, heir_id), audits in moved.items():
        leaver, heir = session.get(Staff, leaver_id), session.get(Staff, heir_id)
        refs = dict(
            session.execute(
                sa.select(Case.id, Case.case_ref).where(Case.id.in_([a.case_id for a in audits]))
            )
            .tuples()
            .all()
        )  # type: ignore[attr-defined]
        links = Links(session, on)
        rows = [
            {
                "case_ref": refs.get(a.case_id, "-"),
                "kind": a.kind.label,
                "due_on": a.due_on.isoformat(),
                "links": links.audit(heir_id, a.id, a.due_on),  # type: ignore[arg-type]
            }
            for a in audits
        ]
        for person, message, own in (
            (heir, f"These audits were {leaver.name}'s, who has left; they are now yours.", True),  # type: ignore[union-attr]
            (leaver, f"Your open audits have been reassigned to {heir.name}.", False),  # type: ignore[union-attr]
        ):
            queue_email(
                session,
                key=f"reassigned:{on}:{leaver_id}:{heir_id}:{person.id}",  # type: ignore[union-attr]
                kind="reassigned",
                template="reassigned",
                subject="QA audits reassigned",
                to=[person],  # type: ignore[list-item]
                message=message,
                audits=[r if own else {**r, "links": None} for r in rows],
                items_url=links.items(heir_id) if own else None,
            )
    return sum(len(a) for a in moved.values())


def _heir(session: Session, leaver: Staff, audit: Audit) -> Staff | None:
    query = select(Staff).where(
        Staff.role == leaver.role, Staff.active == sa.true(), Staff.id != audit.subject_staff_id
    )
    same_team = session.exec(
        query.where(Staff.team_id == leaver.team_id).order_by(Staff.id)
    ).first()
    return same_team or session.exec(query.order_by(Staff.id)).first()
