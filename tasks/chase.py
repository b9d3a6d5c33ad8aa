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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TypedDict

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import (
    ActionPoint,
    Audit,
    AuditEvent,
    Case,
    ChaseStep,
    EmailMessage,
    Staff,
    SupportNeed,
)
from models.base import id_column, id_of
from models.enums import ActionStatus, AuditStatus, NeedStatus, Role
from models.settings import Settings
from tasks.leavers import close_leavers_needs, hand_on_needs, reassign_leavers
from tasks.links import Links
from tasks.outbox import queue_email
from tasks.packs.redact import Redactor
from tasks.workdays import (
    add_working_days,
    is_working_day,
    london_midnight,
    london_time,
    working_days_between,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    kind: str  # "audit", "action" or "need" (A4: a support need's review date)
    id: int
    case_ref: str
    what: str
    owner_id: int
    deadline: date


class DigestItem(TypedDict):
    """One item in a person's digest; only the owner's copy carries links (L1)."""

    case_ref: str
    what: str
    owner: str
    deadline: str
    status: str
    links: dict[str, str] | None


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
        sa.select(
            id_column(Audit),
            col(Case.case_ref),
            col(Audit.kind),
            col(Audit.auditor_id),
            col(Audit.due_on),
        )
        .outerjoin(Case, col(Case.id) == col(Audit.case_id))
        .where(col(Audit.status) == AuditStatus.ASSIGNED)
    ).tuples()
    actions = session.execute(
        sa.select(
            id_column(ActionPoint),
            col(Case.case_ref),
            col(ActionPoint.priority),
            col(ActionPoint.text),
            col(ActionPoint.owner_id),
            col(ActionPoint.deadline),
        )
        .join(Audit, col(Audit.id) == col(ActionPoint.audit_id))
        .outerjoin(Case, col(Case.id) == col(Audit.case_id))
        .where(col(ActionPoint.status) == ActionStatus.OPEN)
    ).tuples()
    items = [
        Item("audit", i, ref or "-", f"{kind.label} audit #{i}", owner, due)
        for i, ref, kind, owner, due in audits
    ]
    action_rows = actions.all()
    redact: Callable[[str], str] = Redactor(session) if action_rows else str  # E5: typed words
    items += [
        Item("action", i, ref or "-", f"action #{i} (priority {p}): {redact(text)}", owner, due)
        for i, ref, p, text, owner, due in action_rows
    ]
    needs = session.execute(
        sa.select(
            id_column(SupportNeed),
            col(Case.case_ref),
            col(SupportNeed.theme),
            col(SupportNeed.scope),
            col(SupportNeed.owner_id),
            col(SupportNeed.review_on),
        )
        .join(Audit, col(Audit.id) == col(SupportNeed.audit_id))
        .outerjoin(Case, col(Case.id) == col(Audit.case_id))
        .where(col(SupportNeed.status) == NeedStatus.OPEN)
    ).tuples()
    items += [
        Item(
            "need",
            i,
            ref or "-",
            f"support need #{i} to review ({scope.label.lower()}): {theme}",
            owner,
            due,
        )
        for i, ref, theme, scope, owner, due in needs
    ]
    return items


def due_steps(session: Session, on: date, settings: Settings) -> list[Due]:
    """Every item whose current step has not been sent, nor any step after it, for its deadline
    as it stands (an agreed new date, or a reassigned audit's, starts the steps again)."""
    order = steps_in_order(settings)
    sent: dict[tuple[str, int, date], int] = {}
    for kind, item_id, deadline, sent_step in session.exec(
        select(
            col(ChaseStep.item_type),
            col(ChaseStep.item_id),
            col(ChaseStep.deadline),
            col(ChaseStep.step),
        )
    ):
        rank = order.index(sent_step) if sent_step in order else len(order)
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
    close_leavers_needs(session, on)
    hand_on_needs(session)
    report.arrived = arrived_by_link(session, on)
    staff = {id_of(s): s for s in session.exec(select(Staff))}
    service_managers = [
        sid for sid, s in staff.items() if s.role is Role.SERVICE_MANAGER and s.active
    ]
    already = set(
        session.exec(select(EmailMessage.key).where(col(EmailMessage.key).like(f"digest:{on}:%")))
    )
    sections: dict[int, dict[str, list[DigestItem]]] = defaultdict(lambda: defaultdict(list))
    records: list[tuple[Due, int, list[int]]] = []
    links = Links(session, on, settings)
    due = due_steps(session, on, settings)
    for kind in ("audit", "action", "need"):
        links.preload(kind, [d.item.id for d in due if d.item.kind == kind])
    links.preload("staff", list(staff))
    for d in sorted(due, key=lambda d: (d.item.deadline, d.item.kind, d.item.id)):
        owner_id = d.item.owner_id
        owner = staff[owner_id]
        manager = owner.line_manager_id
        to: dict[int, str]
        if d.step.startswith("reminder"):
            to = {owner_id: "reminders"}
        elif d.step == "chase":
            to = {owner_id: "chases", **({manager: "team"} if manager in staff else {})}
        else:
            # The service manager sees it as escalated, even when also the owner's line manager.
            to = ({manager: "team"} if manager in staff else {}) | {
                sm: "escalations" for sm in service_managers
            }
            to.setdefault(owner_id, "chases")
        if any(f"digest:{on}:{pid}" in already for pid in to):
            continue  # that person has had today's digest: the step waits for tomorrow's
        for pid, section in to.items():
            # Only the owner's copy carries links: a link is good for its one person (L1).
            own = pid == owner_id and section in ("reminders", "chases")
            sections[pid][section].append(
                DigestItem(
                    case_ref=d.item.case_ref,
                    what=d.item.what,
                    owner=owner.name,
                    deadline=d.item.deadline.isoformat(),
                    status=_status(d, on),
                    links=_links(links, d.item) if own else None,
                )
            )
        records.append((d, owner_id, list(to)))
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
                .where(col(ActionPoint.id) == d.item.id)
                .values(times_chased=col(ActionPoint.times_chased) + 1)
            )
        elif d.item.kind == "need" and d.step in ("chase", "escalation"):
            session.execute(
                sa.update(SupportNeed)
                .where(col(SupportNeed.id) == d.item.id)
                .values(times_chased=col(SupportNeed.times_chased) + 1)
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
    "need_met": "support need reviewed and met",
    "need_reviewed": "support need reviewed, still needed",
    "need_handed_on": "support need handed on (its reviewer left)",
    "need_closed": "support need closed (the case manager left)",
}


def arrived_by_link(session: Session, on: date) -> list[dict[str, str]]:
    """What people did through their links since the previous working day began, up to the
    start of `on`: each working day's chase reports the days before it, once (references only)."""
    since = add_working_days(on, -1)
    rows = session.exec(
        select(AuditEvent, col(Case.case_ref), col(Staff.name))
        .join(Audit, col(Audit.id) == col(AuditEvent.audit_id))
        .outerjoin(Case, col(Case.id) == col(Audit.case_id))
        .outerjoin(Staff, col(Staff.id) == col(AuditEvent.by_id))
        .where(col(AuditEvent.via) == "web", col(AuditEvent.at) >= london_midnight(since))
        .where(col(AuditEvent.at) < london_midnight(on))
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
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
    if item.kind == "need":
        return links.need(item.owner_id, item.id, item.deadline)
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


def _subject(parts: dict[str, list[DigestItem]], on: date) -> str:
    counts = ", ".join(f"{len(parts[k])} {TITLES[k].lower()}" for k in TITLES if k in parts)
    return f"QA items for {on:%-d %B}: {counts}"
