"""Recording, withdrawing and not-doing audits; closing action points (App. 1, D3, D4, E3)."""

from __future__ import annotations

import logging
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, select

from models import (
    ActionPoint,
    Audit,
    AuditEvent,
    Case,
    Finding,
    GoodPractice,
    HighRiskIssue,
    Question,
    Staff,
)
from models.enums import ActionStatus, AuditStatus, Role
from models.errors import InvalidInput
from models.settings import Settings, get_settings
from models.types import utcnow
from tasks.mail import Deadline, calendar_file, render
from tasks.outbox import enqueue
from tasks.recording.difficulties import report_difficulties
from tasks.recording.form import AuditForm, CleanForm, FormInvalid, QuestionView, validate

log = logging.getLogger(__name__)


def questions_for(session: Session, audit: Audit) -> list[QuestionView]:
    rows = session.exec(
        select(Question)
        .where(Question.question_set_id == audit.question_set_id)
        .order_by(Question.position)
    )
    return [QuestionView(q.code, q.text, q.answer_type, q.required, q.section) for q in rows]


def _audit(session: Session, audit_id: int) -> Audit:
    audit = session.get(Audit, audit_id)
    if audit is None:
        raise InvalidInput(f"there is no audit {audit_id}: `yotqa audits list` shows them")
    return audit


def active_staff_by_email(session: Session) -> dict[str, Staff]:
    return {s.email: s for s in session.exec(select(Staff).where(Staff.active == sa.true()))}


def record_audit(
    session: Session, form: AuditForm, *, on: date, source: str, settings: Settings | None = None
) -> Audit:
    """Validate and store a completed audit, then queue its emails; all in one transaction."""
    audit = session.get(Audit, form.audit_id)
    if audit is None:
        raise FormInvalid(source, [f"audit_id: there is no audit {form.audit_id}"])
    if audit.status is AuditStatus.COMPLETED:
        by = session.get(Staff, audit.recorded_by_id)
        raise FormInvalid(
            source,
            [
                f"audit {audit.id} was already recorded on {audit.completed_on} by {by.name if by else 'someone'}: "
                f"withdraw that record first (yotqa audits withdraw {audit.id} --reason TEXT --by EMAIL)"
            ],
        )
    if audit.status is not AuditStatus.ASSIGNED:
        raise FormInvalid(
            source, [f"audit {audit.id} is {audit.status.value}: it cannot be recorded"]
        )
    staff = active_staff_by_email(session)
    clean, problems = validate(form, questions_for(session, audit), set(staff), on)
    if clean is None:
        raise FormInvalid(source, problems)
    _store(session, audit, clean, staff, on)
    _notify_recorded(session, audit, clean, staff)
    report_difficulties(
        session, audit, settings or get_settings(), on
    )  # E4, in the same transaction
    session.commit()
    log.info("audit %s recorded with %d action points", audit.id, len(clean.actions))
    return audit


def _store(
    session: Session, audit: Audit, form: CleanForm, staff: dict[str, Staff], on: date
) -> None:
    ids = dict(
        session.execute(
            sa.select(Question.code, Question.id).where(
                Question.question_set_id == audit.question_set_id
            )
        )
        .tuples()
        .all()
    )
    session.add_all(
        Finding(
            audit_id=audit.id,
            question_id=ids[a.code],
            judgement=a.judgement,
            yes_no=a.yes_no,  # type: ignore[arg-type]
            count=a.count,
            text=a.text,
            evidence=a.evidence,
        )
        for a in form.answers
    )
    session.add_all(
        ActionPoint(
            audit_id=audit.id,
            text=a.text,
            priority=a.priority,
            owner_id=staff[a.owner_email].id,  # type: ignore[arg-type]
            deadline=a.deadline,
        )
        for a in form.actions
    )
    session.add_all(GoodPractice(audit_id=audit.id, text=g) for g in form.good_practice)  # type: ignore[arg-type]
    recorder = staff[form.recorded_by]
    audit.status, audit.completed_on = AuditStatus.COMPLETED, on
    audit.recorded_by_id, audit.recorded_at, audit.recorded_in_cms = (
        recorder.id,
        utcnow(),
        form.recorded_in_cms,
    )
    session.add(AuditEvent(audit_id=audit.id, event="recorded", by_id=recorder.id))  # type: ignore[arg-type]
    if form.high_risk:
        subject = session.get(Staff, audit.subject_staff_id)
        session.add(
            HighRiskIssue(
                audit_id=audit.id,
                text=form.high_risk,  # type: ignore[arg-type]
                raised_with_id=subject.line_manager_id if subject else None,
                raised_at=utcnow(),
            )
        )
    session.flush()


def _notify_recorded(
    session: Session, audit: Audit, form: CleanForm, staff: dict[str, Staff]
) -> None:
    people = {s.id: s for s in session.exec(select(Staff))}
    case_ref = session.get(Case, audit.case_id).case_ref if audit.case_id else "(no case)"  # type: ignore[union-attr]
    subject_cm = people[audit.subject_staff_id]
    manager = people.get(subject_cm.line_manager_id)  # type: ignore[arg-type]
    auditor = people[audit.auditor_id]
    actions = [
        {
            "priority": a.priority,
            "text": a.text,
            "owner": staff[a.owner_email].name,
            "deadline": a.deadline.strftime("%A %-d %B %Y"),
        }
        for a in form.actions
    ]
    attachments = []
    if form.actions:
        ics = calendar_file(
            [
                Deadline(
                    uid=f"action-{audit.id}-{a.priority}@yotqa",
                    day=a.deadline,
                    summary=f"Action {a.priority} due: case {case_ref}",
                    description=a.text,
                )
                for a in form.actions
            ]
        )
        attachments = [
            {"filename": f"actions-{case_ref}.ics", "mime_type": "text/calendar", "content": ics}
        ]
    context = {
        "kind": audit.kind.label,
        "case_ref": case_ref,
        "auditor": auditor.name,
        "actions": actions,
        "good_practice": form.good_practice,
        "three_way": audit.three_way_meeting,
    }
    subject = f"Audit feedback for case {case_ref}: {len(actions)} action point{'s' if len(actions) != 1 else ''}"
    enqueue(
        session,
        key=f"feedback:{audit.id}:{audit.recorded_at:%Y%m%d%H%M%S}",
        kind="feedback",
        to=[subject_cm.email],
        cc=[manager.email] if manager else [],
        content=render("feedback", subject, recipient_name=subject_cm.name, **context),
        attachments=attachments,
    )
    enqueue(
        session,
        key=f"recorded:{audit.id}:{audit.recorded_at:%Y%m%d%H%M%S}",
        kind="recorded",
        to=[auditor.email],
        content=render(
            "recorded",
            f"Audit of case {case_ref} recorded",
            recipient_name=auditor.name,
            kind=audit.kind.label,
            case_ref=case_ref,
            actions=len(actions),
            recorded_in_cms=audit.recorded_in_cms,
            three_way=audit.three_way_meeting,
        ),
    )
    if form.high_risk:
        _alert_high_risk(
            session, audit, case_ref, form.high_risk, people, subject_cm, manager, auditor
        )


def _alert_high_risk(session, audit, case_ref, issue, people, subject_cm, manager, auditor) -> None:  # type: ignore[no-untyped-def]
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
        enqueue(
            session,
            key=f"high-risk:{audit.id}:{person.id}",
            kind="high-risk",
            to=[person.email],
            content=render(
                "high_risk",
                f"HIGH-RISK issue raised: case {case_ref}",
                recipient_name=person.name,
                kind=audit.kind.label,
                case_ref=case_ref,
                auditor=auditor.name,
                case_manager=subject_cm.name,
                issue=issue,
            ),
        )


def withdraw_record(
    session: Session, audit_id: int, *, reason: str, by_email: str | None = None
) -> Audit:
    """Undo a recorded audit so it can be recorded again; the withdrawal and its reason are kept."""
    audit = _audit(session, audit_id)
    if audit.status is not AuditStatus.COMPLETED:
        raise InvalidInput(
            f"audit {audit_id} is {audit.status.value}, not recorded: nothing to withdraw"
        )
    by = _who(session, by_email) if by_email else session.get(Staff, audit.recorded_by_id)
    if not reason.strip():
        raise InvalidInput("say why the record is withdrawn: --reason TEXT")
    for model in (Finding, ActionPoint, GoodPractice, HighRiskIssue):
        session.execute(sa.delete(model).where(model.audit_id == audit_id))  # type: ignore[attr-defined]
    audit.status, audit.completed_on, audit.recorded_by_id, audit.recorded_at = (
        AuditStatus.ASSIGNED,
        None,
        None,
        None,
    )
    session.add(
        AuditEvent(
            audit_id=audit_id, event="withdrawn", by_id=by.id if by else None, reason=reason.strip()
        )
    )
    session.commit()
    return audit


def mark_not_done(
    session: Session, audit_id: int, *, reason: str, on: date, by_email: str | None = None
) -> Audit:
    """D4: an audit not done, with the reason the quarterly review will see."""
    audit = _audit(session, audit_id)
    if audit.status is not AuditStatus.ASSIGNED:
        raise InvalidInput(
            f"audit {audit_id} is {audit.status.value}: only an assigned audit can be marked not done"
        )
    if not reason.strip():
        raise InvalidInput("say why the audit was not done: --reason TEXT (D4)")
    by = _who(session, by_email) if by_email else session.get(Staff, audit.auditor_id)
    audit.status, audit.reason_not_completed = AuditStatus.NOT_DONE, reason.strip()
    session.add(
        AuditEvent(
            audit_id=audit_id, event="not_done", by_id=by.id if by else None, reason=reason.strip()
        )
    )
    session.commit()
    return audit


def complete_action(
    session: Session, action_id: int, *, on: date, evidence: str = ""
) -> ActionPoint:
    action = session.get(ActionPoint, action_id)
    if action is None:
        raise InvalidInput(f"there is no action point {action_id}: `yotqa actions list` shows them")
    if action.status is not ActionStatus.OPEN:
        raise InvalidInput(f"action point {action_id} is already {action.status.value}")
    action.status, action.completed_on, action.evidence = (
        ActionStatus.COMPLETED,
        on,
        evidence.strip(),
    )
    session.commit()
    return action


def _who(session: Session, email: str) -> Staff:
    person = session.exec(select(Staff).where(Staff.email == email.strip().lower())).first()
    if person is None:
        raise InvalidInput(
            f"{email!r} is not in the staff list: give your own staff email with --by"
        )
    return person
