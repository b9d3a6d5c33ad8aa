"""Recording, withdrawing and not-doing audits; closing action points (App. 1, D3, D4, E3)."""

from __future__ import annotations

import logging
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    AuditDraft,
    AuditEvent,
    DeadlineRequest,
    Finding,
    GoodPractice,
    HighRiskIssue,
    Question,
    QuestionSet,
    Staff,
    SupportNeed,
)
from models.base import id_column, id_of
from models.enums import AuditKind, AuditStatus
from models.errors import FieldProblems, InvalidInput
from models.settings import Settings, get_settings
from models.types import utcnow
from tasks.links import revoke
from tasks.recording.difficulties import report_difficulties
from tasks.recording.form import (
    AuditForm,
    CleanForm,
    FormInvalid,
    Problem,
    QuestionView,
    validate,
)
from tasks.recording.needs import store_needs, themes_of
from tasks.recording.notify import notify_actions_withdrawn, notify_recorded

log = logging.getLogger(__name__)


def questions_for(session: Session, audit: Audit) -> list[QuestionView]:
    rows = session.exec(
        select(Question)
        .where(Question.question_set_id == audit.question_set_id)
        .order_by(col(Question.position))
    )
    return [QuestionView(q.code, q.text, q.answer_type, q.required, q.section) for q in rows]


def question_set_of(session: Session, audit: Audit) -> QuestionSet:
    """The question set the audit is recorded against (its tool)."""
    qs = session.get(QuestionSet, audit.question_set_id)
    if qs is None:
        raise InvalidInput(f"audit {audit.id}'s question set {audit.question_set_id} is missing")
    return qs


def audit_by_id(session: Session, audit_id: int) -> Audit:
    audit = session.get(Audit, audit_id)
    if audit is None:
        raise InvalidInput(f"there is no audit {audit_id}: `yotqa audits list` shows them")
    return audit


def active_staff_by_email(session: Session) -> dict[str, Staff]:
    return {s.email: s for s in session.exec(select(Staff).where(Staff.active == sa.true()))}


MODERATION_ACTIONS = Problem(
    "action points: a moderation re-marks an audit to measure agreement (A5); its action points "
    "belong to the first audit, so leave them out",
    "action.1.text",
    "A moderation takes no action points: leave these empty.",
)
MODERATION_NEEDS = Problem(
    "support needs: a moderation re-marks an audit to measure agreement (A5); support needs "
    "belong to the first audit, so leave them out",
    "need.1.theme",
    "A moderation takes no support needs: leave these empty.",
)


class AlreadyRecorded(FormInvalid):
    """A second submit of an audit already recorded (another tab, a replay): nothing is stored."""

    def __init__(self, source: str, audit: Audit, by: Staff | None):
        self.audit_id, self.recorded_at, self.recorded_by = audit.id, audit.recorded_at, by
        super().__init__(
            source,
            [
                f"audit {audit.id} was already recorded on {audit.completed_on} by {by.name if by else 'someone'}: "
                f"withdraw that record first (yotqa audits withdraw {audit.id} --reason TEXT --by EMAIL)"
            ],
        )


def record_audit(
    session: Session,
    form: AuditForm,
    *,
    on: date,
    source: str,
    settings: Settings | None = None,
    via: str = "file",
) -> Audit:
    """Validate and store a completed audit, then queue its emails; all in one transaction.

    Every way in (form file, Prefect form, web page, simulation) comes here (L2); the audit row
    is locked first, so of two submits at once one records and the other is told it was done."""
    audit = session.exec(select(Audit).where(Audit.id == form.audit_id).with_for_update()).first()
    if audit is None:
        raise FormInvalid(source, [f"audit_id: there is no audit {form.audit_id}"])
    if audit.status is AuditStatus.COMPLETED:
        raise AlreadyRecorded(source, audit, session.get(Staff, audit.recorded_by_id))
    if audit.status is not AuditStatus.ASSIGNED:
        raise FormInvalid(
            source, [f"audit {audit.id} is {audit.status.value}: it cannot be recorded"]
        )
    settings = settings or get_settings()
    staff = active_staff_by_email(session)
    clean, problems = validate(
        form, questions_for(session, audit), set(staff), on, themes_of(settings)
    )
    if clean is None:
        raise FormInvalid(source, problems)
    if audit.kind is AuditKind.MODERATION and (clean.actions or clean.needs):
        raise FormInvalid(
            source,
            [
                p
                for p, has in ((MODERATION_ACTIONS, clean.actions), (MODERATION_NEEDS, clean.needs))
                if has
            ],
        )
    actions = _store(session, audit, clean, staff, on, via)
    needs = store_needs(session, audit, clean.needs, staff[clean.recorded_by])
    notify_recorded(session, audit, clean, actions, on, settings, needs)
    report_difficulties(session, audit, settings, on)  # E4, in the same transaction
    session.commit()
    log.info(
        "audit %s recorded with %d action points and %d support needs",
        audit.id,
        len(clean.actions),
        len(clean.needs),
    )
    return audit


def _store(
    session: Session,
    audit: Audit,
    form: CleanForm,
    staff: dict[str, Staff],
    on: date,
    via: str,
) -> list[ActionPoint]:
    audit_id = id_of(audit)
    ids = dict(
        session.execute(
            sa.select(col(Question.code), id_column(Question)).where(
                col(Question.question_set_id) == audit.question_set_id
            )
        )
        .tuples()
        .all()
    )
    session.add_all(
        Finding(
            audit_id=audit_id,
            question_id=ids[a.code],
            judgement=a.judgement,
            yes_no=a.yes_no,
            count=a.count,
            text=a.text,
            evidence=a.evidence,
        )
        for a in form.answers
    )
    actions = [
        ActionPoint(
            audit_id=audit_id,
            text=a.text,
            priority=a.priority,
            owner_id=id_of(staff[a.owner_email]),
            deadline=a.deadline,
        )
        for a in form.actions
    ]
    session.add_all(actions)
    session.add_all(GoodPractice(audit_id=audit_id, text=g) for g in form.good_practice)
    recorder = staff[form.recorded_by]
    audit.status, audit.completed_on = AuditStatus.COMPLETED, on
    audit.recorded_by_id, audit.recorded_at, audit.recorded_in_cms = (
        recorder.id,
        utcnow(),
        form.recorded_in_cms,
    )
    audit.recorded_via = via
    session.add(AuditEvent(audit_id=audit_id, event="recorded", by_id=recorder.id, via=via))
    session.execute(sa.delete(AuditDraft).where(col(AuditDraft.audit_id) == audit_id))
    if form.high_risk:
        subject = session.get(Staff, audit.subject_staff_id)
        session.add(
            HighRiskIssue(
                audit_id=audit_id,
                text=form.high_risk,
                raised_with_id=subject.line_manager_id if subject else None,
                raised_at=utcnow(),
            )
        )
    session.flush()
    return actions


def withdraw_record(
    session: Session, audit_id: int, *, reason: str, by_email: str | None = None
) -> Audit:
    """Undo a recorded audit so it can be recorded again; the withdrawal and its reason are kept."""
    audit = audit_by_id(session, audit_id)
    if audit.status is not AuditStatus.COMPLETED:
        raise InvalidInput(
            f"audit {audit_id} is {audit.status.value}, not recorded: nothing to withdraw"
        )
    by = _who(session, by_email) if by_email else session.get(Staff, audit.recorded_by_id)
    if not reason.strip():
        raise InvalidInput("say why the record is withdrawn: --reason TEXT")
    # O5: the action points go with the record: whoever was sent them is sent the cancellation.
    notify_actions_withdrawn(
        session,
        audit,
        list(session.exec(select(ActionPoint).where(col(ActionPoint.audit_id) == audit_id))),
        by,
    )
    actions = sa.select(col(ActionPoint.id)).where(col(ActionPoint.audit_id) == audit_id)
    session.execute(sa.delete(DeadlineRequest).where(col(DeadlineRequest.action_id).in_(actions)))
    needs = sa.select(col(SupportNeed.id)).where(col(SupportNeed.audit_id) == audit_id)
    for need_id in session.execute(needs).scalars().all():
        revoke(
            session, "need", need_id, "The record of the audit this need came with was withdrawn."
        )
    for model in (Finding, ActionPoint, GoodPractice, HighRiskIssue, Acknowledgement, SupportNeed):
        session.execute(sa.delete(model).where(col(model.audit_id) == audit_id))
    audit.status, audit.completed_on, audit.recorded_by_id, audit.recorded_at = (
        AuditStatus.ASSIGNED,
        None,
        None,
        None,
    )
    audit.recorded_via = ""
    session.add(
        AuditEvent(
            audit_id=audit_id, event="withdrawn", by_id=by.id if by else None, reason=reason.strip()
        )
    )
    session.commit()
    return audit


NOT_DONE_REASONS = [
    "The case closed or moved to another service before it could be audited",
    "The case file could not be reached",
    "I am on leave or off sick until after the deadline",
    "I have a conflict of interest with this case",
    "Another reason",
]


def not_done_reason(choice: str, detail: str) -> str:
    """D4's reason from the page's choices and words: one of NOT_DONE_REASONS, and what happened
    (needed for "Another reason")."""
    problems: dict[str, str] = {}
    text = (detail or "").strip()
    if choice not in NOT_DONE_REASONS:
        problems["reason"] = "Choose why the audit cannot be done."
    elif choice == NOT_DONE_REASONS[-1] and not text:
        problems["detail"] = "Say what the other reason is: the quarterly review reads it (D4)."
    if len(text) > 2_000:
        problems["detail"] = f"Keep it under 2,000 characters (it has {len(text):,})."
    if problems:
        raise FieldProblems(problems)
    if choice == NOT_DONE_REASONS[-1]:
        return text
    return f"{choice}: {text}" if text else choice


def mark_not_done(
    session: Session,
    audit_id: int,
    *,
    reason: str,
    on: date,
    by_email: str | None = None,
    by_id: int | None = None,
    via: str = "cli",
) -> Audit:
    """D4: an audit not done, with the reason the quarterly review will see."""
    audit = session.exec(select(Audit).where(Audit.id == audit_id).with_for_update()).first()
    if audit is None:
        raise InvalidInput(f"there is no audit {audit_id}: `yotqa audits list` shows them")
    if audit.status is not AuditStatus.ASSIGNED:
        raise InvalidInput(
            f"audit {audit_id} is {audit.status.value}: only an assigned audit can be marked not done"
        )
    if not reason.strip():
        raise InvalidInput("say why the audit was not done: --reason TEXT (D4)")
    if by_id is not None:
        by = session.get(Staff, by_id)
    else:
        by = _who(session, by_email) if by_email else session.get(Staff, audit.auditor_id)
    audit.status, audit.reason_not_completed = AuditStatus.NOT_DONE, reason.strip()
    session.execute(sa.delete(AuditDraft).where(col(AuditDraft.audit_id) == audit_id))
    session.add(
        AuditEvent(
            audit_id=audit_id,
            event="not_done",
            by_id=by.id if by else None,
            reason=reason.strip(),
            via=via,
        )
    )
    session.commit()
    return audit


def _who(session: Session, email: str) -> Staff:
    person = session.exec(select(Staff).where(Staff.email == email.strip().lower())).first()
    if person is None:
        raise InvalidInput(
            f"{email!r} is not in the staff list: give your own staff email with --by"
        )
    return person
