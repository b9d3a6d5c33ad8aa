"""E1: the assignment emails of a draw: one per auditor listing their audits, with an .ics of
the deadlines and their links; line managers told of their team's cases selected."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any, TypedDict

from sqlmodel import Session, col, select

from models import Audit, Case, QuestionSet, Staff
from models.base import id_column, id_of
from models.enums import AuditKind
from models.installation import installation_id
from tasks.links import Links
from tasks.mail import audit_deadline, calendar_file
from tasks.outbox import calendar_attachment, queue_email
from tasks.workdays import Month


class AssignedRow(TypedDict):
    """One assigned audit as the assignment and team notice emails list it."""

    case_ref: str
    kind: str
    question_set: str
    reason: str
    due_on: str
    due: date
    three_way: bool
    audit_id: int
    case_manager: str
    auditor: str


def notify(session: Session, period: Month, audits: list[Audit], *, key: str = "") -> int:
    """E1: one email per auditor listing their audits, with an .ics; line managers told of their team's."""
    if not audits:
        return 0
    scope = f"{key}:" if key else ""
    staff = {id_of(s): s for s in session.exec(select(Staff))}
    case_ids = sorted({a.case_id for a in audits if a.case_id is not None})
    refs: dict[int | None, str] = {
        case_id: ref
        for case_id, ref in session.exec(
            select(id_column(Case), col(Case.case_ref)).where(col(Case.id).in_(case_ids))
        )
    }
    sets = {id_of(q): q for q in session.exec(select(QuestionSet))}
    rows_by_auditor: dict[int, list[AssignedRow]] = defaultdict(list)
    rows_by_manager: dict[int, list[AssignedRow]] = defaultdict(list)
    for a in sorted(audits, key=lambda a: (a.due_on, refs[a.case_id], a.kind)):
        row = AssignedRow(
            case_ref=refs[a.case_id],
            kind=a.kind.label,
            question_set=sets[a.question_set_id].title,
            reason=a.selection_reason,
            due_on=a.due_on.strftime("%A %-d %B %Y"),
            due=a.due_on,
            three_way=a.three_way_meeting,
            audit_id=id_of(a),
            case_manager=staff[a.subject_staff_id].name,
            auditor=staff[a.auditor_id].name,
        )
        rows_by_auditor[a.auditor_id].append(row)
        manager_id = staff[a.subject_staff_id].line_manager_id
        if a.kind is AuditKind.MODERATION:
            continue  # A5 re-marks the auditor's work: nothing new for the case manager's team
        if manager_id is not None and manager_id != a.auditor_id:
            rows_by_manager[manager_id].append(row)

    def queue(*, kind: str, template: str, to: int, subject: str, **context: Any) -> bool:
        """One email about the period's audits to the member of staff whose id is `to`, once:
        its key is kind, period, scope and person."""
        return queue_email(
            session,
            key=f"{kind}:{period}:{scope}{to}",
            kind=kind,
            template=template,
            subject=subject,
            to=[staff[to]],
            period=str(period),
            **context,
        )

    count = 0
    links = Links(session, max(a.assigned_on for a in audits))
    links.preload("audit", [id_of(a) for a in audits])
    links.preload("staff", list(rows_by_auditor))
    installation = installation_id(session)
    by_id = {id_of(a): a for a in audits}
    for auditor_id, rows in rows_by_auditor.items():
        subject = f"QA audits for {period}: {len(rows)} to complete, first due {rows[0]['due_on']}"
        ics = calendar_file(
            [
                audit_deadline(installation, by_id[r["audit_id"]], r["case_ref"], auditor_id)
                for r in rows
            ]
        )
        if queue(
            kind="assignment",
            template="assignment",
            to=auditor_id,
            subject=subject,
            attachments=[calendar_attachment(f"qa-audits-{period}.ics", ics)],
            audits=[{**r, "links": links.audit(auditor_id, r["audit_id"], r["due"])} for r in rows],
            items_url=links.items(auditor_id),
        ):
            count += 1
    for manager_id, rows in rows_by_manager.items():
        subject = f"QA audits for {period}: {len(rows)} of your team's cases selected"
        if queue(
            kind="team-notice", template="team_notice", to=manager_id, subject=subject, audits=rows
        ):
            count += 1
    session.flush()
    return count
