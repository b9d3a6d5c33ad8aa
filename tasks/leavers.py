"""What happens to a leaver's work (E2, A2, A4, A5): their open audits pass to an active manager
of the same role (a self-audit is withdrawn; a moderation goes to someone who may moderate); the
support needs they review pass to the case manager's line manager; a leaving case manager's own
needs close. The daily chase runs these first, each day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Audit, AuditEvent, Case, ChaseStep, Staff, SupportNeed
from models.base import id_column, id_of
from models.enums import APART, AuditKind, AuditStatus, NeedScope, NeedStatus
from models.installation import installation_id
from models.settings import get_settings
from tasks.links import Links, revoke
from tasks.mail import audit_deadline, calendar_file
from tasks.moderation import moderator_for
from tasks.outbox import calendar_attachment, queue_email
from tasks.recording.actions import decider_for
from tasks.workdays import add_working_days

log = logging.getLogger(__name__)
REASSIGN_WORKING_DAYS = 10


def reassign_leavers(session: Session, on: date) -> int:
    """An inactive auditor's open audits go to an active manager of the same role in the team."""
    leavers = session.exec(
        select(Audit, Staff)
        .join(Staff, col(Staff.id) == col(Audit.auditor_id))
        .where(col(Audit.status) == AuditStatus.ASSIGNED, col(Staff.active) == sa.false())
    ).all()
    moved: dict[tuple[int, int], list[Audit]] = defaultdict(list)
    withdrawn: dict[int, list[Audit]] = defaultdict(list)
    was_due: dict[int, date] = {}
    people: dict[int, Staff] = {}
    for audit, leaver in leavers:
        if audit.kind is AuditKind.SELF:  # A2: one's own audit is nobody else's to do
            _withdraw_self_audit(session, audit, leaver)
            people[id_of(leaver)] = leaver
            withdrawn[id_of(leaver)].append(audit)
            continue
        heir = _heir(session, leaver, audit)
        if heir is None:
            log.warning("audit %s: no active %s to take it over", audit.id, leaver.role.value)
            continue
        leaver_id, heir_id = id_of(leaver), id_of(heir)
        people[leaver_id], people[heir_id] = leaver, heir
        audit.auditor_id = heir_id
        was_due[id_of(audit)] = audit.due_on  # the leaver's entry is cancelled where it stood
        audit.due_on = max(audit.due_on, add_working_days(on, REASSIGN_WORKING_DAYS))
        audit.calendar_sequence += 1  # O5: the files sent now outrank every earlier one
        revoke(
            session,
            "audit",
            id_of(audit),
            f"This audit was reassigned to {heir.name} on {on:%-d %B %Y}, because {leaver.name} "
            "has left: it is no longer yours to do.",
        )
        subject = session.get(Staff, audit.subject_staff_id)
        audit.three_way_meeting = (
            audit.kind not in APART and subject is not None and subject.line_manager_id != heir_id
        )
        session.add(
            AuditEvent(
                audit_id=id_of(audit),
                event="reassigned",
                by_id=None,
                reason=f"{leaver.name} left; reassigned to {heir.name}",
            )
        )
        moved[(leaver_id, heir_id)].append(audit)
    session.flush()
    installation = installation_id(session) if moved or withdrawn else ""
    for (leaver_id, heir_id), audits in moved.items():
        _tell_reassigned(
            session, installation, people[leaver_id], people[heir_id], audits, was_due, on
        )
    for leaver_id, audits in withdrawn.items():
        _tell_self_audits_withdrawn(session, installation, people[leaver_id], audits, on)
    return sum(len(a) for a in moved.values())


def _tell_reassigned(
    session: Session,
    installation: str,
    leaver: Staff,
    heir: Staff,
    audits: list[Audit],
    was_due: dict[int, date],
    on: date,
) -> None:
    """The heir is sent the audits (O5: entries of their own, new UIDs); the leaver is told,
    with their entries cancelled where they stood."""
    refs = _case_refs(session, audits)
    links = Links(session, on)
    rows = [
        {
            "case_ref": refs.get(a.case_id, "-"),
            "kind": a.kind.label,
            "due_on": a.due_on.isoformat(),
            "links": links.audit(id_of(heir), id_of(a), a.due_on),
        }
        for a in audits
    ]
    for person, message, own in (
        (heir, f"These audits were {leaver.name}'s, who has left; they are now yours.", True),
        (leaver, f"Your open audits have been reassigned to {heir.name}.", False),
    ):
        # O5: the heir's entries are their own (new UIDs); the leaver's are cancelled.
        ics = calendar_file(
            [
                replace(
                    audit_deadline(installation, a, refs.get(a.case_id, "-"), id_of(person)),
                    day=a.due_on if own else was_due[id_of(a)],
                )
                for a in audits
            ],
            cancel=not own,
        )
        queue_email(
            session,
            key=f"reassigned:{on}:{id_of(leaver)}:{id_of(heir)}:{person.id}",
            kind="reassigned",
            template="reassigned",
            subject="QA audits reassigned",
            to=[person],
            message=message,
            audits=[r if own else {**r, "links": None} for r in rows],
            items_url=links.items(id_of(heir)) if own else None,
            calendar_note="The attached calendar file puts their deadlines in your calendar."
            if own
            else "The attached calendar file cancels them in your calendar.",
            attachments=[
                calendar_attachment(
                    f"qa-audits-{'reassigned-to-you' if own else 'cancelled'}-{on}.ics", ics
                )
            ],
        )


def _withdraw_self_audit(session: Session, audit: Audit, leaver: Staff) -> None:
    audit.status = AuditStatus.WITHDRAWN
    audit.calendar_sequence += 1  # O5: the cancellation outranks the assignment's file
    revoke(session, "audit", id_of(audit), "This self-audit was withdrawn: you have left.")
    session.add(
        AuditEvent(
            audit_id=id_of(audit),
            event="withdrawn",
            by_id=None,
            reason=f"{leaver.name} left: a self-audit is withdrawn, not handed on (A2)",
        )
    )


def _case_refs(session: Session, audits: list[Audit]) -> dict[int | None, str]:
    return {
        case_id: ref
        for case_id, ref in session.exec(
            select(id_column(Case), col(Case.case_ref)).where(
                col(Case.id).in_([a.case_id for a in audits])
            )
        )
    }


def _tell_self_audits_withdrawn(
    session: Session, installation: str, leaver: Staff, audits: list[Audit], on: date
) -> None:
    """O5: the leaver's self-audits are withdrawn (A2): their calendar entries are cancelled."""
    refs = _case_refs(session, audits)
    ics = calendar_file(
        [audit_deadline(installation, a, refs.get(a.case_id, "-"), id_of(leaver)) for a in audits],
        cancel=True,
    )
    queue_email(
        session,
        key=f"self-audits-withdrawn:{on}:{leaver.id}",
        kind="withdrawn",
        template="withdrawn",
        subject="QA self-audits withdrawn",
        to=[leaver],
        message="You have left the service, so your open self-audits are withdrawn: a self-audit "
        "is nobody else's to do.",
        items=[
            f"Case {refs.get(a.case_id, '-')}: {a.kind.label}, due {a.due_on:%A %-d %B %Y}"
            for a in audits
        ],
        attachments=[calendar_attachment(f"qa-self-audits-withdrawn-{on}.ics", ics)],
    )


def close_leavers_needs(session: Session, on: date) -> int:
    """A4: a case manager's own open need closes when they leave (a team's need stays open: the
    team still has it); its review links die and it is chased no more."""
    closed = 0
    for need, leaver in session.exec(
        select(SupportNeed, Staff)
        .join(Staff, col(Staff.id) == col(SupportNeed.staff_id))
        .where(
            col(SupportNeed.status) == NeedStatus.OPEN,
            col(SupportNeed.scope) == NeedScope.INDIVIDUAL,
            col(Staff.active) == sa.false(),
        )
    ).all():
        need.status, need.reviewed_on = NeedStatus.CLOSED, on
        need.outcome = f"Closed on {on:%-d %B %Y}: {leaver.name} left the service."
        session.add(
            AuditEvent(
                audit_id=need.audit_id,
                event="need_closed",
                reason=f"support need {need.id}: {leaver.name} left",
            )
        )
        revoke(session, "need", id_of(need), f"{leaver.name} has left: this need is closed.")
        closed += 1
    session.flush()
    return closed


def hand_on_needs(session: Session) -> int:
    """A4: an open support need whose reviewer has left passes to the case manager's active
    line manager (else an active service manager); the leaver's review links die."""
    moved = 0
    for need, leaver in session.exec(
        select(SupportNeed, Staff)
        .join(Staff, col(Staff.id) == col(SupportNeed.owner_id))
        .where(col(SupportNeed.status) == NeedStatus.OPEN, col(Staff.active) == sa.false())
    ).all():
        subject = session.get(Staff, need.staff_id)
        # the case manager's active line manager, else a service manager (as for a new date, D3)
        heir = decider_for(session, subject) if subject is not None else None
        if heir is None:
            continue
        need.owner_id = id_of(heir)
        session.add(
            AuditEvent(
                audit_id=need.audit_id,
                event="need_handed_on",
                reason=f"support need {need.id}: {leaver.name} left; {heir.name} reviews it",
            )
        )
        session.execute(  # the new reviewer is sent the steps from the start
            sa.delete(ChaseStep).where(
                col(ChaseStep.item_type) == "need", col(ChaseStep.item_id) == id_of(need)
            )
        )
        revoke(
            session,
            "need",
            id_of(need),
            f"{leaver.name} has left: {heir.name} now reviews this need.",
        )
        moved += 1
    session.flush()
    return moved


def _heir(session: Session, leaver: Staff, audit: Audit) -> Staff | None:
    if audit.kind is AuditKind.MODERATION:  # A5: never the first auditor nor the case's holder
        first = session.get(Audit, audit.moderates_id) if audit.moderates_id else None
        case = session.get(Case, audit.case_id) if audit.case_id else None
        barred = {
            leaver.id,
            audit.subject_staff_id,
            first.auditor_id if first else None,
            case.case_manager_id if case else None,
        }
        return next((m for m in moderator_for(session, get_settings()) if m.id not in barred), None)
    query = select(Staff).where(
        col(Staff.role) == leaver.role,
        col(Staff.active) == sa.true(),
        col(Staff.id) != audit.subject_staff_id,
    )
    same_team = session.exec(
        query.where(col(Staff.team_id) == leaver.team_id).order_by(col(Staff.id))
    ).first()
    return same_team or session.exec(query.order_by(col(Staff.id))).first()
