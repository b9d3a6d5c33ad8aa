"""Recording audits (App. 1, D3, D4, E3): the XLSX round trip, validation, withdrawals, emails."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import (
    ActionPoint,
    Audit,
    AuditEvent,
    EmailMessage,
    Finding,
    GoodPractice,
    HighRiskIssue,
    Staff,
)
from models.enums import ActionStatus, AuditKind, AuditStatus, Judgement, Role
from tasks.recording.actions import complete_action
from tasks.recording.files import read_form, write_form
from tasks.recording.form import FormInvalid
from tasks.recording.record import mark_not_done, record_audit, withdraw_record
from tasks.sampling.monthly import sample_month

DONE_ON = date(2026, 12, 10)


# The demo service with December's sample drawn, copied for each test (tests/demo_service.py).
SAMPLED = pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))


def fill(
    path: Path,
    answers: dict[str, object],
    actions: list[list[object]],
    *,
    high_risk: str = "",
    good: list[str] | None = None,
) -> Path:
    """Fill a written form as an auditor would in Excel."""
    book = openpyxl.load_workbook(path)
    questions = book["Questions"]
    for row in questions.iter_rows(min_row=2):
        code, kind = row[0].value, row[3].value
        if code in answers:
            row[4].value = answers[code]
        elif "optional" not in kind:
            row[4].value = {
                "Judgement": "sufficient",
                "Yes / no": "yes",
                "Count": 0,
                "Text": "Burglary",
            }[kind]
    for line in actions:
        book["Actions"].append(line)
    for text in good or []:
        book["Good practice"].append([text])
    about = book["Audit"]
    for row in about.iter_rows():
        if row[0].value == "high_risk":
            row[1].value = high_risk
    book.save(path)
    return path


def _staff(session: Session, audit: Audit) -> tuple[Staff, Staff]:
    cm = session.get(Staff, audit.subject_staff_id)
    return cm, session.get(Staff, cm.line_manager_id)


@SAMPLED
def test_xlsx_form_round_trip_records_findings_actions_and_emails(assigned, tmp_path: Path) -> None:
    session, audit = assigned
    cm, manager = _staff(session, audit)
    path = write_form(session, audit.id, tmp_path / "form.xlsx")
    book = openpyxl.load_workbook(path)
    assert [c.value for c in book["Questions"][1]][:5] == [
        "code",
        "section",
        "question",
        "answer type",
        "answer",
    ]
    assert book["Questions"].data_validations.dataValidation  # drop-down lists for judgements
    fill(
        path,
        {"asset_initial_quality": "Good", "enforcement_ftas": 2},
        [
            [2, "Review the RMP with the team manager", manager.email, "2027-01-15"],
            [1, "Complete the VMP", cm.email, date(2026, 12, 31)],
        ],
        good=["Clear, analytical Asset review"],
    )
    form = read_form(path)
    before = session.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
    record_audit(session, form, on=DONE_ON, source=path.name)
    session.expire_all()
    stored = session.get(Audit, audit.id)
    assert (stored.status, stored.completed_on) == (AuditStatus.COMPLETED, DONE_ON)
    assert stored.recorded_by_id == stored.auditor_id and stored.recorded_at is not None
    findings = session.exec(select(Finding).where(Finding.audit_id == audit.id)).all()
    assert any(f.judgement is Judgement.GOOD for f in findings)
    assert any(f.count == 2 for f in findings)
    actions = session.exec(
        select(ActionPoint).where(ActionPoint.audit_id == audit.id).order_by(ActionPoint.priority)
    ).all()
    assert [(a.priority, a.text, a.deadline) for a in actions] == [
        (1, "Complete the VMP", date(2026, 12, 31)),
        (2, "Review the RMP with the team manager", date(2027, 1, 15)),
    ]
    assert session.exec(select(GoodPractice)).one().text == "Clear, analytical Asset review"
    emails = session.exec(select(EmailMessage).order_by(EmailMessage.id)).all()[before:]
    feedback = next(e for e in emails if e.kind == "feedback")
    # The case manager's copy carries their own links (L1); the line manager's copy none.
    assert feedback.to_addrs == [cm.email] and feedback.cc_addrs == []
    assert "/l/" in feedback.body_text and "/l/" in feedback.body_html
    copy = next(e for e in emails if e.kind == "feedback-copy")
    assert copy.to_addrs == [manager.email] and "/l/" not in copy.body_text + copy.body_html
    assert cm.name in copy.subject and "Complete the VMP" in copy.body_text
    assert feedback.body_text.index("1. Complete the VMP") < feedback.body_text.index(
        "2. Review the RMP"
    )
    assert feedback.attachments[0]["mime_type"] == "text/calendar; method=PUBLISH"  # O5
    reminder = next(e for e in emails if e.kind == "recorded")
    assert "record on the case-management system" in reminder.body_text
    assert not [e for e in emails if e.kind == "high-risk"]


@SAMPLED
def test_invalid_form_names_each_question_and_records_nothing(assigned, tmp_path: Path) -> None:
    session, audit = assigned
    path = write_form(session, audit.id, tmp_path / "form.xlsx")
    fill(
        path,
        {
            "asset_initial_quality": "brilliant",
            "enforcement_ftas": -1,
            "intervention_plan_shared": None,
        },
        [[1, "", "nobody@example.org", "31/12/2026"], [1, "Second", "", ""]],
    )
    with pytest.raises(FormInvalid) as caught:
        record_audit(session, read_form(path), on=DONE_ON, source=path.name)
    problems = caught.value.problems
    assert any(
        p.startswith("question asset_initial_quality (")
        and "'brilliant' is not one of insufficient" in p
        for p in problems
    )
    assert any(
        p.startswith("question enforcement_ftas") and "a whole number" in p for p in problems
    )
    assert any(
        p.startswith("question intervention_plan_shared") and "an answer is required" in p
        for p in problems
    )
    assert any(p.startswith("action point 1: the action is missing") for p in problems)
    assert any(p.startswith("action point 1: owner 'nobody@example.org'") for p in problems)
    assert any(p.startswith("action point 1: a deadline is required") for p in problems)
    assert any(p.startswith("action point 2: priority must be") for p in problems)
    session.rollback()
    assert session.get(Audit, audit.id).status is AuditStatus.ASSIGNED
    assert not session.exec(select(Finding)).all()


@SAMPLED
def test_recording_twice_is_refused_until_withdrawn_with_a_reason(assigned, tmp_path: Path) -> None:
    session, audit = assigned
    form_path = fill(write_form(session, audit.id, tmp_path / "f.xlsx"), {}, [])
    record_audit(session, read_form(form_path), on=DONE_ON, source="f.xlsx")
    with pytest.raises(FormInvalid, match="1 problem"):
        record_audit(session, read_form(form_path), on=DONE_ON, source="f.xlsx")
    withdraw_record(session, audit.id, reason="wrong case file read")
    assert session.get(Audit, audit.id).status is AuditStatus.ASSIGNED
    record_audit(session, read_form(form_path), on=DONE_ON, source="f.xlsx")
    events = [
        e.event
        for e in session.exec(
            select(AuditEvent).where(AuditEvent.audit_id == audit.id).order_by(AuditEvent.id)
        )
    ]
    assert events == ["recorded", "withdrawn", "recorded"]
    assert session.execute(sa.select(sa.func.count()).select_from(Finding)).scalar_one() == len(
        {f.question_id for f in session.exec(select(Finding))}
    )


@SAMPLED
def test_high_risk_issue_alerts_line_manager_and_service_manager_once(
    assigned, tmp_path: Path
) -> None:
    """E3: at once, reference only, once."""
    session, audit = assigned
    _, manager = _staff(session, audit)
    path = fill(
        write_form(session, audit.id, tmp_path / "f.xlsx"),
        {},
        [],
        high_risk="Disclosure of harm not acted on",
    )
    record_audit(session, read_form(path), on=DONE_ON, source="f.xlsx")
    alerts = session.exec(select(EmailMessage).where(EmailMessage.kind == "high-risk")).all()
    service_manager = session.exec(select(Staff).where(Staff.role == Role.SERVICE_MANAGER)).one()
    assert sorted(a.to_addrs[0] for a in alerts) == sorted({manager.email, service_manager.email})
    assert all("Disclosure of harm not acted on" in a.body_text for a in alerts)
    assert session.exec(select(HighRiskIssue)).one().raised_with_id == manager.id


@SAMPLED
def test_json_form_is_validated_the_same_way(assigned, tmp_path: Path) -> None:
    session, audit = assigned
    path = tmp_path / "form.json"
    path.write_text(
        json.dumps(
            {"audit_id": audit.id, "recorded_by": "x@y.org", "answers": {"nope": {"value": "yes"}}}
        )
    )
    with pytest.raises(FormInvalid) as caught:
        record_audit(session, read_form(path), on=DONE_ON, source=path.name)
    assert "question nope: not a question of this audit's tool" in caught.value.problems
    assert any(p.startswith("recorded_by:") for p in caught.value.problems)
    garbage = tmp_path / "form.yaml"
    garbage.write_text("answers: [unclosed")
    with pytest.raises(FormInvalid, match="1 problem in form.yaml"):
        read_form(garbage)


@SAMPLED
def test_not_done_keeps_the_reason_and_actions_close(assigned, tmp_path: Path) -> None:
    """D4 and D3."""
    session, audit = assigned
    other = session.exec(
        select(Audit).where(Audit.id != audit.id, Audit.status == AuditStatus.ASSIGNED)
    ).first()
    mark_not_done(session, other.id, reason="Auditor on long-term sick leave", on=DONE_ON)
    assert session.get(Audit, other.id).reason_not_completed == "Auditor on long-term sick leave"
    cm, _ = _staff(session, audit)
    path = fill(
        write_form(session, audit.id, tmp_path / "f.xlsx"),
        {},
        [[1, "Update the plan", cm.email, "2026-12-20"]],
    )
    record_audit(session, read_form(path), on=DONE_ON, source="f.xlsx")
    action = session.exec(select(ActionPoint)).one()
    complete_action(session, action.id, on=date(2026, 12, 18), evidence="Plan updated 18/12")
    assert session.get(ActionPoint, action.id).status is ActionStatus.COMPLETED


@pytest.mark.demo(as_of="2026-11-25")
def test_audits_commands_round_trip(cli, tmp_path: Path, session: Session) -> None:
    assert cli("run", "sample", "--as-of", "2026-12-01").exit_code == 0
    listing = cli("audits", "list", "--status", "assigned")
    assert listing.exit_code == 0 and "Audits (" in listing.stdout
    audit = session.exec(select(Audit).where(Audit.kind == AuditKind.CASE_FILE)).first()
    result = cli("audits", "form", str(audit.id), "--out", tmp_path / "a.xlsx")
    assert result.exit_code == 0, result.stderr
    fill(tmp_path / "a.xlsx", {"asset_initial_quality": "awful"}, [])
    bad = cli("audits", "record", tmp_path / "a.xlsx")
    assert bad.exit_code == 1
    assert (
        "a.xlsx: question asset_initial_quality (" in bad.stderr
        and "nothing was recorded" in bad.stderr
    )
    fill(tmp_path / "a.xlsx", {"asset_initial_quality": "excellent"}, [])
    good = cli("audits", "record", tmp_path / "a.xlsx", "--as-of", "2026-12-10")
    assert good.exit_code == 0, good.stderr
    assert "recorded as completed on 2026-12-10" in good.stdout
    actions = cli("actions", "list")
    assert actions.exit_code == 0, actions.stderr
    assert "Action points (0)" in actions.stdout


@SAMPLED
def test_consistent_difficulty_is_reported_once_per_standard_team_and_quarter(
    assigned, tmp_path: Path
) -> None:
    """E4: insufficient in at least half of the last judgements (4 seen at least): told at once, once."""
    session, _ = assigned
    sample_month(session, date(2027, 1, 4))
    from models import Case

    by_team: dict[int, list[Audit]] = {}
    for a in session.exec(
        select(Audit).where(Audit.kind == AuditKind.CASE_FILE).order_by(Audit.id)
    ):
        by_team.setdefault(session.get(Case, a.case_id).team_id, []).append(a)
    team_id, audits = max(by_team.items(), key=lambda kv: len(kv[1]))
    assert len(audits) >= 5
    verdicts = ["insufficient", "insufficient", "sufficient", "good", "insufficient"]
    alerts_after = []
    for n, (audit, verdict) in enumerate(zip(audits, verdicts, strict=False)):
        path = fill(
            write_form(session, audit.id, tmp_path / f"f{n}.xlsx"),
            {"asset_initial_quality": verdict},
            [],
        )
        record_audit(session, read_form(path), on=date(2027, 1, 10 + n), source=path.name)
        alerts_after.append(
            len(session.exec(select(EmailMessage).where(EmailMessage.kind == "difficulty")).all())
        )
    qa = session.exec(select(Staff).where(Staff.role == Role.QA_MANAGER)).one()
    alerts = session.exec(select(EmailMessage).where(EmailMessage.kind == "difficulty")).all()
    recipients = {a.to_addrs[0] for a in alerts}
    assert alerts_after[:3] == [0, 0, 0]  # fewer than 4 judgements seen: too early to say
    assert alerts_after[3] == len(recipients) >= 2  # 2 of 4 insufficient: told at once
    assert alerts_after[4] == alerts_after[3]  # once per standard, team and quarter
    assert qa.email in recipients
    assert "asset_initial_quality" in alerts[0].subject and "2 of its last 4" in alerts[0].body_text


def test_examples_of_every_email_are_made_without_names(tmp_path: Path, settings_env) -> None:
    """What `make run` shows: one of each email, made by the real code on a scratch demo service."""
    from email import message_from_bytes, policy

    from tasks.demo_emails import write_examples

    written = write_examples(tmp_path / "examples")
    assert set(written) == {
        "assignment",
        "team-notice",
        "feedback",
        "feedback-copy",
        "date-request",
        "date-decided",
        "date-moved",
        "recorded",
        "high-risk",
        "difficulty",
        "digest",
        "reassigned",
        "exceptions",
        "team-audits",
        "feedback-data",
    }
    from tasks.demo import YOUNG_FIRST_NAMES

    for kind, path in written.items():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        text = "\n".join(
            p.get_content() for p in message.walk() if p.get_content_maintype() == "text"
        )
        assert message["To"], kind
        assert not [n for n in YOUNG_FIRST_NAMES if f"{n} " in text], kind  # E5


@SAMPLED
def test_e5_an_action_points_words_reach_emails_without_the_young_persons_name(
    assigned, tmp_path: Path
) -> None:
    """E5: an auditor may type the child's name into an action point; the feedback, its copy,
    the calendar file and the chase's digest take it out (the record keeps what was typed)."""
    from models import ActionPoint, Case
    from models.settings import Settings
    from tasks.chase import chase
    from tasks.outbox import attachment_bytes
    from tasks.packs.redact import NAME_REMOVED

    session, audit = assigned
    cm, _ = _staff(session, audit)
    name = session.get(Case, audit.case_id).young_person_name
    path = fill(
        write_form(session, audit.id, tmp_path / "form.xlsx"),
        {},
        [[1, f"Agree the plan with {name} and their carer", cm.email, date(2026, 12, 31)]],
    )
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
    assert name in session.exec(select(ActionPoint)).one().text
    chase(session, date(2026, 12, 24), Settings())  # the reminder, in the owner's digest
    emails = session.exec(
        select(EmailMessage).where(
            EmailMessage.kind.in_(["feedback", "feedback-copy"])
            | (EmailMessage.key == f"digest:2026-12-24:{cm.id}")
        )
    ).all()
    assert sorted(e.kind for e in emails) == ["digest", "feedback", "feedback-copy"]
    for email in emails:
        ics = b"".join(attachment_bytes(a) for a in email.attachments).decode()
        for body in (email.body_text, email.body_html, ics):
            assert name not in body, email.kind
        assert f"Agree the plan with {NAME_REMOVED}" in email.body_text, email.kind
