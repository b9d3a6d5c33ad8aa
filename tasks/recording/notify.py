"""The emails an audit's record sends (App. 1, D3, E3, A4): the findings to the case manager with
their links, a copy to their line manager, the auditor's receipt, and any high-risk alert; the
words people typed go out with young people's names taken out (E5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from models import (
    ActionPoint,
    Audit,
    Case,
    DeadlineRequest,
    EmailMessage,
    Staff,
    SupportNeed,
)
from models.base import id_of
from models.enums import AuditKind, Role
from models.errors import InvalidInput
from models.installation import installation_id
from models.settings import Settings
from tasks.links import ACKNOWLEDGE, Links
from tasks.mail import Deadline, action_uid, calendar_file
from tasks.outbox import calendar_attachment, queue_email
from tasks.packs.redact import Redactor
from tasks.recording.form import CleanForm


def notify_recorded(
    session: Session,
    audit: Audit,
    form: CleanForm,
    actions: list[ActionPoint],
    on: date,
    settings: Settings,
    needs: list[SupportNeed] | None = None,
) -> None:
    """The findings to the case manager (with their links), a copy to their line manager (no
    links: a link is its one person's, save the review links of the needs they review), the
    auditor's receipt, and any high-risk alert (E3)."""
    people = {id_of(s): s for s in session.exec(select(Staff))}
    case_ref = _case_ref(session, audit.case_id)
    subject_cm = people[audit.subject_staff_id]
    subject_cm_id = id_of(subject_cm)
    manager = (
        people.get(subject_cm.line_manager_id) if subject_cm.line_manager_id is not None else None
    )
    auditor = people[audit.auditor_id]
    links = Links(session, on, settings)
    # E5: action points' and needs' words are typed freely: young people's names come out of
    # the emails (and the calendar file); the record keeps what was typed.
    redact: Callable[[str], str] = Redactor(session) if actions or needs else str
    rows = [
        {
            "priority": a.priority,
            "text": redact(a.text),
            "owner": people[a.owner_id].name,
            "deadline": a.deadline.strftime("%A %-d %B %Y"),
            "links": links.action(a.owner_id, id_of(a), a.deadline)
            if a.owner_id == subject_cm_id
            else None,
        }
        for a in actions
    ]
    attachments = []
    if actions:
        installation = installation_id(session)
        ics = calendar_file([action_deadline(installation, a, case_ref, redact) for a in actions])
        attachments = [calendar_attachment(f"actions-{case_ref}.ics", ics)]
    noun = f"{len(rows)} action point{'s' if len(rows) != 1 else ''}"
    stamp = _stamp(audit)
    last_day = max([a.deadline for a in actions] + [on])

    def queue(kind: str, **email: Any) -> None:
        """One of this record's emails, keyed by its kind, the audit and when it was recorded."""
        queue_email(session, key=f"{kind}:{audit.id}:{stamp}", kind=kind, **email)

    if audit.kind is not AuditKind.MODERATION:  # A5: a re-mark tells the case manager nothing
        feedback: dict[str, Any] = {  # the case manager's email, as queue_email takes it
            "template": "feedback",
            "attachments": attachments,
            "actions": rows,
            "findings_url": None  # A2: one's own findings are not acknowledged
            if audit.kind is AuditKind.SELF
            else links.url(subject_cm_id, ACKNOWLEDGE, id_of(audit), last_day),
            "items_url": links.items(subject_cm_id),
            "copy_for": None,
            "audit_kind": audit.kind.label,
            "case_ref": case_ref,
            "auditor": auditor.name,
            "good_practice": form.good_practice,
            "three_way": audit.three_way_meeting,
            "own": audit.kind is AuditKind.SELF,
            "needs": [_need_row(n, people, None, redact) for n in needs or []],
        }
        # A2: a self-audit's findings are the case manager's own: they are sent only the
        # action points they set themselves (with their links and calendar); their manager
        # gets the copy.
        to_subject = audit.kind is not AuditKind.SELF or bool(actions) or bool(needs)
        reviews = [  # A4: the line manager reviews the needs: their copy carries those links
            _need_row(n, people, links.need(n.owner_id, id_of(n), n.review_on), redact)
            if manager is not None and n.owner_id == manager.id
            else _need_row(n, people, None, redact)
            for n in needs or []
        ]
        _queue_feedback(queue, feedback, subject_cm, manager, case_ref, noun, to_subject, reviews)
    queue(
        "recorded",
        template="recorded",
        subject=f"Audit of case {case_ref} recorded",
        to=[auditor],
        audit_kind=audit.kind.label,
        case_ref=case_ref,
        actions=len(rows),
        recorded_in_cms=audit.recorded_in_cms,
        three_way=audit.three_way_meeting,
        # A4: needs the auditor reviews (no active team manager), unless the copy carried them
        needs=[
            _need_row(n, people, links.need(n.owner_id, id_of(n), n.review_on), redact)
            for n in needs or []
            if n.owner_id == auditor.id and (manager is None or manager.id != auditor.id)
        ],
    )
    if form.high_risk:
        _alert_high_risk(
            session, audit, case_ref, form.high_risk, people, subject_cm, manager, auditor
        )


def _stamp(audit: Audit) -> str:
    """When the record was made, to the microsecond: a record withdrawn and made again within
    the second is a new record, with emails (and calendar entries) of its own."""
    return f"{audit.recorded_at:%Y%m%d%H%M%S%f}"


def action_deadline(
    installation: str, action: ActionPoint, case_ref: str, redact: Callable[[str], str]
) -> Deadline:
    """An action point's calendar entry: case reference only, its words without names (E5)."""
    return Deadline(
        uid=action_uid(installation, action),
        day=action.deadline,
        summary=f"Action {action.priority} due: case {case_ref}",
        description=redact(action.text),
        sequence=action.calendar_sequence,
    )


def calendar_holders(session: Session, audit: Audit, action_ids: list[int]) -> set[str]:
    """O5: everyone sent these action points in a calendar file: the findings, their copy and
    any agreed new date (found in the outbox, where what was sent is kept)."""
    requests = session.exec(
        select(DeadlineRequest.id).where(
            col(DeadlineRequest.action_id).in_(action_ids),
            col(DeadlineRequest.status) == "agreed",
        )
    ).all()
    # the records made before keys had microseconds were keyed to the second
    stamps = {_stamp(audit), f"{audit.recorded_at:%Y%m%d%H%M%S}"}
    keys = [f"{kind}:{id_of(audit)}:{s}" for kind in ("feedback", "feedback-copy") for s in stamps]
    keys += [f"date-decided:{r}" for r in requests]
    return {
        address
        for to in session.exec(select(EmailMessage.to_addrs).where(col(EmailMessage.key).in_(keys)))
        for address in to
    }


def notify_actions_withdrawn(
    session: Session, audit: Audit, actions: list[ActionPoint], by: Staff | None
) -> int:
    """O5: a withdrawn record takes its action points: everyone who was sent them in a calendar
    file (the findings, their copy, an agreed new date) is sent their cancellation. Call before
    the action points are deleted; returns the emails queued."""
    if not actions:
        return 0
    audit_id = id_of(audit)
    stamp = _stamp(audit)
    addresses = calendar_holders(session, audit, [id_of(a) for a in actions])
    if not addresses:
        return 0
    people = {
        s.email: s for s in session.exec(select(Staff).where(col(Staff.email).in_(addresses)))
    }
    case_ref = _case_ref(session, audit.case_id)
    redact: Callable[[str], str] = Redactor(session)
    installation = installation_id(session)
    ics = calendar_file(
        [
            replace(d, sequence=d.sequence + 1)  # the cancellation outranks every file sent
            for d in (action_deadline(installation, a, case_ref, redact) for a in actions)
        ],
        cancel=True,
    )
    noun = f"{len(actions)} action point{'s' if len(actions) != 1 else ''}"
    queued = 0
    for address in sorted(addresses):
        person = people.get(address)
        queued += queue_email(
            session,
            key=f"actions-withdrawn:{audit_id}:{stamp}:{address}",
            kind="withdrawn",
            template="withdrawn",
            subject=f"Withdrawn: {noun} from the audit of case {case_ref}",
            to=[person or address],
            message=(
                f"The record of the {audit.kind.label.lower()} audit of case {case_ref} was "
                f"withdrawn{f' by {by.name}' if by else ''}, and its action points with it: "
                "they are no longer to be done."
            ),
            items=[
                f"Action {a.priority}, due {a.deadline:%A %-d %B %Y}: {redact(a.text)}"
                for a in sorted(actions, key=lambda a: a.priority)
            ],
            attachments=[calendar_attachment(f"withdrawn-actions-{case_ref}.ics", ics)],
        )
    return queued


def _queue_feedback(
    queue: Callable[..., None],
    feedback: dict[str, Any],
    subject_cm: Staff,
    manager: Staff | None,
    case_ref: str,
    noun: str,
    to_subject: bool = True,
    reviews: list[dict[str, Any]] | None = None,
) -> None:
    """The findings to the case manager, and a copy without their links to their line manager
    (with the review links of the support needs the manager reviews, A4)."""
    if to_subject:
        queue(
            "feedback",
            subject=f"Audit feedback for case {case_ref}: {noun}",
            to=[subject_cm],
            **feedback,
        )
    if manager and manager.id != subject_cm.id:
        copy = feedback | {  # the same without the links: a link is its one person's
            "actions": [{**r, "links": None} for r in feedback["actions"]],
            "findings_url": None,
            "items_url": None,
            "copy_for": subject_cm.name,
            "needs": reviews if reviews is not None else feedback.get("needs", []),
        }
        queue(
            "feedback-copy",
            subject=f"Copy: audit feedback for case {case_ref} ({subject_cm.name}): {noun}",
            to=[manager],
            **copy,
        )


def _need_row(
    need: SupportNeed,
    people: dict[int, Staff],
    links: dict[str, str] | None,
    redact: Callable[[str], str],
) -> dict[str, Any]:
    """A support need as an email lists it (A4); only its reviewer's copy has the link."""
    return {
        "theme": need.theme,
        "text": redact(need.text),
        "scope": need.scope.label,
        "review_on": need.review_on.strftime("%A %-d %B %Y"),
        "reviewer": people[need.owner_id].name,
        "links": links,
    }


def _case_ref(session: Session, case_id: int | None) -> str:
    if case_id is None:
        return "(no case)"
    case = session.get(Case, case_id)
    if case is None:
        raise InvalidInput(f"there is no case {case_id}")
    return case.case_ref


def _alert_high_risk(
    session: Session,
    audit: Audit,
    case_ref: str,
    issue: str,
    people: dict[int, Staff],
    subject_cm: Staff,
    manager: Staff | None,
    auditor: Staff,
) -> None:
    """E3: at once, to the case manager's line manager and the service manager; once per audit."""
    recipients = [
        p
        for p in [
            manager,
            *[s for s in people.values() if s.role is Role.SERVICE_MANAGER and s.active],
        ]
        if p
    ]
    for person in {p.id: p for p in recipients}.values():
        queue_email(
            session,
            key=f"high-risk:{audit.id}:{person.id}",
            kind="high-risk",
            template="high_risk",
            subject=f"HIGH-RISK issue raised: case {case_ref}",
            to=[person],
            audit_kind=audit.kind.label,
            case_ref=case_ref,
            auditor=auditor.name,
            case_manager=subject_cm.name,
            issue=issue,
        )
