"""The case manager reads an audit's findings and acknowledges them, perhaps with a response."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    AuditEvent,
    Case,
    Finding,
    GoodPractice,
    Question,
    QuestionSet,
    Staff,
)
from models.base import id_of
from models.enums import AuditStatus
from models.errors import FieldProblems, InvalidInput
from tasks.packs.redact import Redactor

RESPONSE_LIMIT = 5_000


@dataclass
class FindingsView:
    """What the case manager reads: answers by section, actions, good practice (E5 applied)."""

    audit_id: int
    case_ref: str
    kind: str
    tool: str
    auditor: str
    completed_on: str
    three_way: bool
    sections: list[dict[str, object]] = field(default_factory=list)
    actions: list[dict[str, object]] = field(default_factory=list)
    good_practice: list[str] = field(default_factory=list)


def findings_view(session: Session, audit_id: int) -> FindingsView:
    audit = session.get(Audit, audit_id)
    if audit is None or audit.status is not AuditStatus.COMPLETED:
        raise InvalidInput(f"audit {audit_id} has no recorded findings")
    redact = Redactor(session)
    case = session.get(Case, audit.case_id) if audit.case_id else None
    tool = session.get(QuestionSet, audit.question_set_id)
    auditor = session.get(Staff, audit.auditor_id)
    view = FindingsView(
        id_of(audit),
        case.case_ref if case else "-",
        audit.kind.label,
        f"{tool.title} (version {tool.version})" if tool else "",
        auditor.name if auditor else "",
        f"{audit.completed_on:%-d %B %Y}",
        audit.three_way_meeting,
    )
    rows = session.exec(
        select(Question, Finding)
        .join(Finding, col(Finding.question_id) == Question.id)
        .where(Finding.audit_id == audit_id)
        .order_by(col(Question.position))
    ).all()
    sections: dict[str, list[dict[str, str]]] = {}
    for question, finding in rows:
        answer = (
            finding.judgement.label
            if finding.judgement
            else finding.yes_no.label
            if finding.yes_no
            else str(finding.count)
            if finding.count is not None
            else redact(finding.text)
        )
        sections.setdefault(question.section, []).append(
            {"question": question.text, "answer": answer, "evidence": redact(finding.evidence)}
        )
    view.sections = [{"title": t, "answers": a} for t, a in sections.items()]
    people = {s.id: s.name for s in session.exec(select(Staff))}
    view.actions = [
        {
            "priority": a.priority,
            "text": redact(a.text),
            "owner": people.get(a.owner_id, ""),
            "deadline": f"{a.deadline:%-d %B %Y}",
            "status": a.status.label,
        }
        for a in session.exec(
            select(ActionPoint)
            .where(ActionPoint.audit_id == audit_id)
            .order_by(col(ActionPoint.priority))
        )
    ]
    view.good_practice = [
        redact(g.text)
        for g in session.exec(select(GoodPractice).where(GoodPractice.audit_id == audit_id))
    ]
    return view


def acknowledge_findings(
    session: Session,
    audit_id: int,
    *,
    by_id: int,
    response: str = "",
    via: str = "web",
    at: datetime | None = None,
) -> Acknowledgement:
    """Record that the case manager has read the findings; once per audit (`at`: when, if not
    now, as a simulated year gives it)."""
    audit = session.exec(select(Audit).where(Audit.id == audit_id).with_for_update()).first()
    if audit is None or audit.status is not AuditStatus.COMPLETED:
        raise InvalidInput(f"audit {audit_id} has no recorded findings to acknowledge")
    done = session.exec(select(Acknowledgement).where(Acknowledgement.audit_id == audit_id)).first()
    if done is not None:
        raise InvalidInput(f"the findings of audit {audit_id} were acknowledged already")
    text = (response or "").strip()
    if len(text) > RESPONSE_LIMIT:
        raise FieldProblems(
            {
                "response": f"Keep the response under {RESPONSE_LIMIT:,} characters (it has {len(text):,})."
            }
        )
    ack = Acknowledgement(audit_id=audit_id, staff_id=by_id, response=text)
    if at is not None:
        ack.acknowledged_at = at
    session.add(ack)
    session.add(
        AuditEvent(
            audit_id=audit_id,
            event="acknowledged",
            by_id=by_id,
            reason="with a response" if text else "",
            via=via,
        )
    )
    session.commit()
    return ack
