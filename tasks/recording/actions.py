"""Action points after feedback (D3): done, or a new date asked for and agreed or refused."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import ActionPoint, Audit, AuditEvent, Case, DeadlineRequest, Staff
from models.base import id_of
from models.enums import ActionStatus, Role
from models.errors import FieldProblems, InvalidInput
from models.installation import installation_id
from models.types import utcnow
from tasks.links import DECIDE, Links, pending_request
from tasks.mail import calendar_file
from tasks.outbox import calendar_attachment, queue_email
from tasks.packs.redact import Redactor
from tasks.recording.notify import action_deadline, calendar_holders

LONGEST_DELAY_DAYS = 183  # a new date within six months of the current one, as at recording
NOTE_LIMIT = 2_000


def _open_action(session: Session, action_id: int) -> ActionPoint:
    action = session.exec(
        select(ActionPoint).where(ActionPoint.id == action_id).with_for_update()
    ).first()
    if action is None:
        raise InvalidInput(f"there is no action point {action_id}: `yotqa actions list` shows them")
    if action.status is not ActionStatus.OPEN:
        raise InvalidInput(f"action point {action_id} is already {action.status.value}")
    return action


def _text(value: str, field: str, what: str, problems: dict[str, str], required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        problems[field] = f"Say {what}."
    elif len(text) > NOTE_LIMIT:
        problems[field] = f"Keep {what} under {NOTE_LIMIT:,} characters (it has {len(text):,})."
    return text


def complete_action(
    session: Session,
    action_id: int,
    *,
    on: date,
    evidence: str = "",
    by_id: int | None = None,
    via: str = "cli",
    today: date | None = None,
) -> ActionPoint:
    """Close an action point (it is chased no more); `on` may not be before it was set, nor after
    `today` when given."""
    action = _open_action(session, action_id)
    audit = session.get(Audit, action.audit_id)
    problems: dict[str, str] = {}
    note = _text(evidence, "note", "what was done", problems, required=False)
    set_on = audit.completed_on if audit and audit.completed_on else None
    if set_on and on < set_on:
        problems["done_on"] = (
            f"The date done cannot be before the audit set it, on {set_on:%-d %B %Y}."
        )
    elif today and on > today:
        problems["done_on"] = f"The date done cannot be in the future (today is {today:%-d %B %Y})."
    if problems:
        raise FieldProblems(problems)
    action.status, action.completed_on, action.evidence = ActionStatus.COMPLETED, on, note
    session.add(
        AuditEvent(
            audit_id=action.audit_id,
            event="action_done",
            by_id=by_id,
            reason=f"action point {action.id} (priority {action.priority})"
            + (f": {note}" if note else ""),
            via=via,
        )
    )
    session.commit()
    return action


def decider_for(session: Session, owner: Staff) -> Staff | None:
    """Who agrees a new date: the owner's line manager, else a service manager."""
    manager = session.get(Staff, owner.line_manager_id) if owner.line_manager_id else None
    if manager is not None and manager.active and manager.id != owner.id:
        return manager
    return session.exec(
        select(Staff)
        .where(Staff.role == Role.SERVICE_MANAGER, Staff.active == sa.true(), Staff.id != owner.id)
        .order_by(col(Staff.id))
    ).first()


def _case_ref(session: Session, action: ActionPoint) -> str:
    audit = session.get(Audit, action.audit_id)
    case = session.get(Case, audit.case_id) if audit and audit.case_id else None
    return case.case_ref if case else "-"


def request_new_date(
    session: Session,
    action_id: int,
    *,
    by_id: int,
    reason: str,
    proposed_on: date,
    on: date,
    via: str = "web",
) -> DeadlineRequest:
    """The owner cannot meet the deadline: keep the reason and date, and ask the line manager."""
    action = _open_action(session, action_id)
    if pending_request(session, action_id) is not None:
        raise InvalidInput(f"a new date for action point {action_id} already waits for a decision")
    owner = session.get(Staff, action.owner_id)
    problems: dict[str, str] = {}
    why = _text(reason, "reason", "why the deadline cannot be met", problems, required=True)
    if proposed_on <= max(on, action.deadline):
        later = max(on, action.deadline)
        problems["proposed_on"] = f"Propose a date after {later:%-d %B %Y}."
    elif (proposed_on - action.deadline).days > LONGEST_DELAY_DAYS:
        problems["proposed_on"] = "Propose a date within six months of the current deadline."
    decider = decider_for(session, owner) if owner else None
    if decider is None:
        problems["proposed_on"] = "Nobody can agree a new date: the service has no active manager."
    if problems or owner is None or decider is None:  # no owner, no decider: a problem already
        raise FieldProblems(problems)
    decider_id = id_of(decider)
    request = DeadlineRequest(
        action_id=id_of(action),
        requested_by_id=by_id,
        reason=why,
        current_deadline=action.deadline,
        proposed_on=proposed_on,
        decider_id=decider_id,
    )
    session.add(request)
    session.flush()
    session.add(
        AuditEvent(
            audit_id=action.audit_id,
            event="new_date_asked",
            by_id=by_id,
            reason=f"action point {action.id}: {action.deadline} to {proposed_on}: {why}",
            via=via,
        )
    )
    links = Links(session, on)
    case_ref = _case_ref(session, action)
    queue_email(
        session,
        to=[decider],
        template="date_request",
        subject=f"New date asked for an action point on case {case_ref}",
        key=f"date-request:{request.id}",
        kind="date-request",
        case_ref=case_ref,
        owner=owner.name,
        action=Redactor(session)(action.text),  # E5: typed freely, sent without names
        priority=action.priority,
        current=action.deadline.strftime("%A %-d %B %Y"),
        proposed=proposed_on.strftime("%A %-d %B %Y"),
        reason=why,
        decide_url=links.url(decider_id, DECIDE, id_of(request), proposed_on),
        items_url=links.items(decider_id),
    )
    session.commit()
    return request


def decide_new_date(
    session: Session,
    request_id: int,
    *,
    by_id: int,
    agree: bool,
    note: str = "",
    on: date,
    via: str = "web",
) -> DeadlineRequest:
    """Agree (the action's deadline moves, and the chase with it) or refuse; the owner is told."""
    request = session.exec(
        select(DeadlineRequest).where(DeadlineRequest.id == request_id).with_for_update()
    ).first()
    if request is None or request.status != "pending":
        raise InvalidInput(f"there is no request {request_id} waiting for a decision")
    problems: dict[str, str] = {}
    text = _text(note, "note", "why the date is refused", problems, required=not agree)
    if problems:
        raise FieldProblems(problems)
    action = _open_action(session, request.action_id)
    request.status = "agreed" if agree else "refused"
    request.decided_at, request.decision_note = utcnow(), text
    if agree:
        action.deadline = request.proposed_on
        action.calendar_sequence += 1  # O5: the owner's calendar moves the entry, not adds one
    session.add(
        AuditEvent(
            audit_id=action.audit_id,
            event=f"new_date_{request.status}",
            by_id=by_id,
            reason=f"action point {action.id}: {request.proposed_on}"
            + (f": {text}" if text else ""),
            via=via,
        )
    )
    session.flush()
    owner, decider = session.get(Staff, action.owner_id), session.get(Staff, by_id)
    if owner is None:
        raise InvalidInput(f"action point {action.id}'s owner {action.owner_id} is missing")
    links = Links(session, on)
    case_ref = _case_ref(session, action)
    redact = Redactor(session)  # E5: the action's words are typed freely: sent without names
    attachments = []
    if agree:
        ics = calendar_file([action_deadline(installation_id(session), action, case_ref, redact)])
        attachments = [calendar_attachment(f"action-{case_ref}-new-date.ics", ics)]
    queue_email(
        session,
        to=[owner],
        attachments=attachments,
        template="date_decided",
        subject=f"New date {request.status}: action point on case {case_ref}",
        key=f"date-decided:{request.id}",
        kind="date-decided",
        case_ref=case_ref,
        agreed=agree,
        decider=decider.name if decider else "your manager",
        action=redact(action.text),
        priority=action.priority,
        proposed=request.proposed_on.strftime("%A %-d %B %Y"),
        deadline=action.deadline.strftime("%A %-d %B %Y"),
        note=text,
        links=links.action(action.owner_id, id_of(action), action.deadline),
        items_url=links.items(action.owner_id),
    )
    if agree:
        _tell_date_moved(session, action, owner, case_ref, attachments)
    session.commit()
    return request


def action_view(session: Session, action_id: int) -> dict[str, object]:
    """An action point as its pages show it (case reference only)."""
    action = session.get(ActionPoint, action_id)
    if action is None:
        raise InvalidInput(f"there is no action point {action_id}")
    owner = session.get(Staff, action.owner_id)
    return {
        "id": action.id,
        "case_ref": _case_ref(session, action),
        "text": action.text,
        "priority": action.priority,
        "owner": owner.name if owner else "",
        "deadline": action.deadline,
        "deadline_text": f"{action.deadline:%A %-d %B %Y}",
    }


def request_view(session: Session, request_id: int) -> dict[str, object]:
    """A request for a new date as the line manager's page shows it."""
    request = session.get(DeadlineRequest, request_id)
    if request is None:
        raise InvalidInput(f"there is no request {request_id}")
    asker = session.get(Staff, request.requested_by_id)
    return {
        **action_view(session, request.action_id),
        "asker": asker.name if asker else "",
        "reason": request.reason,
        "current": f"{request.current_deadline:%A %-d %B %Y}",
        "proposed": f"{request.proposed_on:%A %-d %B %Y}",
    }


def _tell_date_moved(
    session: Session,
    action: ActionPoint,
    owner: Staff,
    case_ref: str,
    attachments: list[dict[str, str]],
) -> None:
    """O5: the others who hold the action point in their calendar (the line manager's copy of
    the findings, the case manager when someone else owns it) get the moved entry too."""
    audit = session.get(Audit, action.audit_id)
    if audit is None or audit.recorded_at is None:
        return
    others = sorted(calendar_holders(session, audit, [id_of(action)]) - {owner.email})
    people = {s.email: s for s in session.exec(select(Staff).where(col(Staff.email).in_(others)))}
    when = f"{action.deadline:%A %-d %B %Y}"
    for address in others:
        queue_email(
            session,
            key=f"date-moved:{id_of(action)}:{action.calendar_sequence}:{address}",
            kind="date-moved",
            template="notice",
            subject=f"Action point {action.priority} on case {case_ref} now due {when}",
            to=[people.get(address) or address],
            paragraphs=[
                f"A new date was agreed for action point {action.priority} of the audit of case "
                f"{case_ref}, owned by {owner.name}: it is now due on {when}.",
                "The calendar entry attached replaces the one sent with the findings.",
            ],
            figures=[],
            table=None,
            attached=[a["filename"] for a in attachments],
            attachments=attachments,
        )
