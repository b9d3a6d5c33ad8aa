"""A3 the supervisee's quarterly summary (Fig. 2: operational managers "provide a quality audit
summary report and an action plan for improvement, with recommendations for the case, to the
supervisee", quarterly): figures, the PDF read back, the email to the case manager copied to the
line manager, once a quarter; no young person's name anywhere (E5)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Audit, Case, EmailMessage, Staff
from models.enums import AnswerType, AuditKind, Role
from tasks.outbox import attachment_bytes
from tasks.packs.redact import NAME_REMOVED, Redactor
from tasks.programme.supervisee import _section_shares, send_summaries, summary_figures
from tasks.recording.form import ActionIn, AuditForm
from tasks.recording.record import questions_for, record_audit
from tasks.workdays import Quarter
from tests.answering import plain_answers
from tests.pack_world import pdf_text

pytestmark = pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))
Q3 = Quarter(2026, 3)  # October to December 2026
ON = date(2027, 1, 4)


def _recorded(session: Session) -> tuple[Audit, Staff, str, list[str]]:
    """December's first case-file audit recorded: the first judgement insufficient, the rest
    good; one action point for the case manager and good practice, both naming the young person."""
    audit = session.exec(
        select(Audit).where(Audit.kind == AuditKind.CASE_FILE).order_by(Audit.id)
    ).first()
    cm = session.get(Staff, audit.subject_staff_id)
    name = session.get(Case, audit.case_id).young_person_name
    judged = [
        q.code for q in questions_for(session, audit) if q.answer_type is AnswerType.JUDGEMENT
    ]
    answers = plain_answers(session, audit, {judged[0]: "insufficient"})
    form = AuditForm(
        audit_id=audit.id,
        recorded_by=session.get(Staff, audit.auditor_id).email,
        answers=answers,
        action_points=[
            ActionIn(
                priority=1,
                text=f"Review the plan with {name}",
                owner_email=cm.email,
                deadline=date(2026, 12, 18),
            )
        ],
        good_practice=[f"Warm, clear letter to {name}"],
    )
    record_audit(session, form, on=date(2026, 12, 10), source="test")
    return audit, cm, name, judged


def test_a3_summary_figures_set_the_case_manager_beside_team_and_service(session: Session) -> None:
    """A3: their audits' judgements by section beside the team's and service's; their action
    point raised and overdue at the quarter's end; good practice and the recommendation with
    the young person's name removed (E5)."""
    audit, cm, name, judged = _recorded(session)
    sections, counts = _section_shares(session, Q3)
    f = summary_figures(session, Q3, cm, sections, counts, Redactor(session))
    section = next(q.section for q in questions_for(session, audit) if q.code == judged[0])
    in_section = [q for q in questions_for(session, audit) if q.section == section]
    judged_here = [q for q in in_section if q.answer_type is AnswerType.JUDGEMENT]
    row = next(r for r in f["sections"] if r["section"] == section)
    assert row["yours"] == round((len(judged_here) - 1) / len(judged_here), 4)
    assert row["team"] == row["service"] == row["yours"]  # the quarter's only recorded audit
    assert [a["case"] for a in f["audits"]] == [session.get(Case, audit.case_id).case_ref]
    assert f["actions"] == {"raised": 1, "done": 0, "open": 1, "overdue": 1}
    [rec] = f["recommendations"]
    assert rec["status"] == "overdue" and NAME_REMOVED in rec["text"] and name not in rec["text"]
    assert f["good_practice"] == [f"Warm, clear letter to {NAME_REMOVED}"]
    assert f["observed_this_year"] is False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a3_each_case_manager_is_sent_their_pdf_copied_to_their_manager_once(
    session: Session, tmp_path: Path
) -> None:
    """A3: one PDF (one or two pages) and one email per active case manager with a line manager,
    to them, copied to the manager; names of young people nowhere; sent once a quarter."""
    audit, cm, name, _ = _recorded(session)
    result = send_summaries(session, Q3, ON, tmp_path)
    expected = session.exec(
        select(Staff).where(Staff.role == Role.CASE_MANAGER, Staff.active == sa.true())
    ).all()
    assert result.summaries == result.emails == len(expected) > 5
    emails = [e for e in session.exec(select(EmailMessage)) if e.key.startswith("supervisee")]
    mine = next(e for e in emails if e.to_addrs == [cm.email])
    manager = session.get(Staff, cm.line_manager_id)
    assert mine.cc_addrs == [manager.email] and mine.subject.endswith("2026-Q3")
    [attachment] = mine.attachments
    text, pages, _ = pdf_text(attachment_bytes(attachment))
    words = " ".join(text.split())
    assert 1 <= pages <= 2
    assert f"Quarterly quality audit summary: {cm.name}" in words and manager.name in words
    assert session.get(Case, audit.case_id).case_ref in words and NAME_REMOVED in words
    for e in emails:
        assert name not in e.body_text + e.body_html + e.subject
    assert name not in words
    again = send_summaries(session, Q3, ON, tmp_path)
    assert (again.summaries, again.already) == (0, len(expected))


def test_a3_a_case_manager_without_an_active_line_manager_is_sent_theirs_alone(
    session: Session, tmp_path: Path
) -> None:
    """A3: every case manager gets their summary; with no active line manager it goes to them
    alone and says from whose view it is written."""
    cm = session.exec(select(Staff).where(Staff.role == Role.CASE_MANAGER)).first()
    manager = session.get(Staff, cm.line_manager_id)
    manager.active = False
    session.commit()
    send_summaries(session, Q3, ON, tmp_path)
    mine = next(
        e for e in session.exec(select(EmailMessage)) if e.key == f"supervisee-summary:{Q3}:{cm.id}"
    )
    assert mine.to_addrs == [cm.email] and mine.cc_addrs == []
    assert "no active line manager" in mine.body_text
    text, _, _ = pdf_text(attachment_bytes(mine.attachments[0]))
    assert "no active line manager" in " ".join(text.split())
