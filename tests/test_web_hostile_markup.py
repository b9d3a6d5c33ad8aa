"""A hostile campaign against the people's pages (L1) served on a real port, on both backends
(tests/web_hostile_world.py): script and markup in every text field, escaped on every page
and stored as typed.
"""

from __future__ import annotations

import pytest
from markupsafe import escape
from sqlmodel import select

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    AuditDraft,
    DeadlineRequest,
    EmailMessage,
    Finding,
    GoodPractice,
    HighRiskIssue,
    Question,
)
from models.enums import AnswerType
from tasks.links import ACKNOWLEDGE, ACTION_DONE, DECIDE, NEW_DATE, NOT_DONE, RECORD
from tasks.recording.record import NOT_DONE_REASONS, questions_for
from tests.web_hostile_world import (
    ACTION_DEADLINE,
    ANY,
    answers,
    assigned,
    campaign,
    codes,
    expect,
    warm_up,
)
from tests.web_world import TODAY, WORLD, World, csrf_of

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

LINKS_ONLY = expect(link={"added": ANY})  # a page opened for the first time mints its links


# 6. Script and markup in every text field: escaped on every page, stored as typed -----------


def payload(field: str) -> str:
    return f"<script>alert('{field}')</script><img src=x onerror=alert(1)><b>{field}</b> & \"q\""


def escaped_not_raw(what: str, html: str, text: str) -> None:
    assert str(escape(text)) in html, f"{what}: the text is not shown escaped"
    assert text not in html and "<script" not in html and "<img" not in html, what


def test_script_and_markup_in_every_text_field_is_escaped_and_stored_as_typed(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    session = world.session
    action = world.action_of_case_manager()
    audits = assigned(world)
    audit, cannot = audits[0], audits[1]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    not_done = world.link(cannot.auditor_id, NOT_DONE, cannot.id)
    new_date = world.link(action.owner_id, NEW_DATE, action.id)
    done = world.link(action.owner_id, ACTION_DONE, action.id)
    findings = world.link(action.owner_id, ACKNOWLEDGE, action.audit_id)
    judgement = codes(world, audit, AnswerType.JUDGEMENT)[0]
    text_code = codes(world, audit, AnswerType.TEXT)[0]
    subject = world.person(audit.subject_staff_id)
    typed = {
        f"e.{judgement}": payload("evidence"),
        f"q.{text_code}": payload("text answer"),
        "action.1.text": payload("action"),
        "action.1.owner": subject.email,
        "action.1.deadline": "2026-12-18",
        "action.1.priority": "1",
        "good_practice": payload("good practice"),
        "high_risk": payload("high risk"),
    }
    texts = [
        v for k, v in typed.items() if k.split(".")[-1] not in ("owner", "deadline", "priority")
    ]
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record, not_done, new_date, done, findings])

        # The audit form: a draft first (the page shows each text back, escaped) ...
        csrf = hostile.page(record)
        saved = hostile.send(
            "script in every text field of the audit form, saved as a draft",
            "POST",
            record,
            200,
            data={**typed, "op": "save", "csrf_token": csrf},
            changes=expect(auditdraft={"added": 1}),
        )
        for text in texts:
            escaped_not_raw("the draft page", saved.text, text)
        draft = session.exec(select(AuditDraft).where(AuditDraft.audit_id == audit.id)).one()
        assert {k: draft.fields[k] for k in typed} == typed
        reopened = hostile.send("the draft reopened", "GET", record, 200)
        for text in texts:
            escaped_not_raw("the reopened draft", reopened.text, text)
        # ... then submitted: stored exactly as typed.
        hostile.send(
            "the same texts submitted with every answer",
            "POST",
            record,
            200,
            data={**answers(world, audit), **typed, "op": "submit", "csrf_token": csrf},
            changes=expect(
                audit={"changed": [audit.id]},
                finding={"added": len(questions_for(session, audit))},
                actionpoint={"added": 1},
                auditevent={"added": ANY},
                auditdraft={"removed": [draft.id]},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        session.expire_all()
        stored = {
            q.code: f
            for f, q in session.exec(
                select(Finding, Question)
                .join(Question, Question.id == Finding.question_id)  # type: ignore[arg-type]
                .where(Finding.audit_id == audit.id)
            )
        }
        assert stored[judgement].evidence == payload("evidence")
        assert stored[text_code].text == payload("text answer")
        point = session.exec(select(ActionPoint).where(ActionPoint.audit_id == audit.id)).one()
        assert point.text == payload("action")
        assert [
            g.text
            for g in session.exec(select(GoodPractice).where(GoodPractice.audit_id == audit.id))
        ] == [payload("good practice")]
        assert session.exec(
            select(HighRiskIssue).where(HighRiskIssue.audit_id == audit.id)
        ).one().text == payload("high risk")
        queued = hostile.last["emailmessage"]["added"]
        assert queued  # feedback, high risk, recorded
        for message in session.exec(select(EmailMessage).where(EmailMessage.id.in_(queued))):  # type: ignore[union-attr]
            assert "<script" not in message.body_html and "<img" not in message.body_html
        # Shown to the case manager: escaped.
        shown = hostile.send(
            "the recorded findings, with every text in them",
            "GET",
            world.link(subject.id, ACKNOWLEDGE, audit.id),
            200,
            changes=LINKS_ONLY,
        )
        for key in (f"e.{judgement}", f"q.{text_code}", "action.1.text", "good_practice"):
            escaped_not_raw(f"the findings page: {key}", shown.text, typed[key])

        # Cannot be done: the detail.
        csrf = hostile.page(not_done)
        detail = payload("not-done detail")
        bad = hostile.send(
            "script in the not-done detail, with no reason chosen",
            "POST",
            not_done,
            400,
            data={"csrf_token": csrf, "detail": detail},
        )
        escaped_not_raw("the not-done page", bad.text, detail)
        ok = hostile.send(
            "script in the not-done detail, with a reason",
            "POST",
            not_done,
            200,
            data={"csrf_token": csrf, "reason": NOT_DONE_REASONS[1], "detail": detail},
            changes=expect(
                audit={"changed": [cannot.id]},
                auditevent={"added": 1},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        escaped_not_raw("the not-done receipt", ok.text, detail)
        session.expire_all()
        assert (
            session.get(Audit, cannot.id).reason_not_completed == f"{NOT_DONE_REASONS[1]}: {detail}"
        )
        gone = hostile.send("the not-done link again", "GET", not_done, 410)
        escaped_not_raw("the refusal quoting the reason", gone.text, detail)

        # A new date: the reason; then the manager's decision: the note.
        csrf = hostile.page(new_date)
        reason = payload("new-date reason")
        bad = hostile.send(
            "script in the new-date reason, with a date that is no date",
            "POST",
            new_date,
            400,
            data={"csrf_token": csrf, "proposed_on": "<b>", "reason": reason},
        )
        escaped_not_raw("the new-date page", bad.text, reason)
        hostile.send(
            "script in the new-date reason, with a good date",
            "POST",
            new_date,
            200,
            data={"csrf_token": csrf, "proposed_on": "2027-01-15", "reason": reason},
            changes=expect(
                deadlinerequest={"added": 1},
                auditevent={"added": 1},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        request = session.exec(
            select(DeadlineRequest).where(DeadlineRequest.action_id == action.id)
        ).one()
        assert request.reason == reason
        decide = world.link(request.decider_id, DECIDE, request.id, request.proposed_on)
        page = hostile.send("the manager's decide page", "GET", decide, 200, changes=LINKS_ONLY)
        escaped_not_raw("the decide page", page.text, reason)
        csrf = csrf_of(page.text)
        note = payload("decision note")
        bad = hostile.send(
            "script in the decision note, with no decision",
            "POST",
            decide,
            400,
            data={"csrf_token": csrf, "note": note},
        )
        escaped_not_raw("the decide page with its error", bad.text, note)
        hostile.send(
            "script in the note of a refusal",
            "POST",
            decide,
            200,
            data={"csrf_token": csrf, "decision": "refuse", "note": note},
            changes=expect(
                deadlinerequest={"changed": [request.id]},
                auditevent={"added": 1},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        session.expire_all()
        request = session.get(DeadlineRequest, request.id)
        assert (request.status, request.decision_note) == ("refused", note)
        assert session.get(ActionPoint, action.id).deadline == ACTION_DEADLINE

        # Done: the note of what was done.
        csrf = hostile.page(done)
        evidence = payload("action note")
        bad = hostile.send(
            "script in the action note, with a date that does not exist",
            "POST",
            done,
            400,
            data={"csrf_token": csrf, "done_on": "2026-02-30", "note": evidence},
        )
        escaped_not_raw("the action page", bad.text, evidence)
        hostile.send(
            "script in the action note, with a good date",
            "POST",
            done,
            200,
            data={"csrf_token": csrf, "done_on": TODAY.isoformat(), "note": evidence},
            changes=expect(
                actionpoint={"changed": [action.id]},
                auditevent={"added": 1},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        session.expire_all()
        assert session.get(ActionPoint, action.id).evidence == evidence

        # The findings: the case manager's response.
        csrf = hostile.page(findings)
        response = payload("findings response")
        bad = hostile.send(
            "script in the findings response, not ticked",
            "POST",
            findings,
            400,
            data={"csrf_token": csrf, "response": response},
        )
        escaped_not_raw("the findings page", bad.text, response)
        hostile.send(
            "script in the findings response, ticked",
            "POST",
            findings,
            200,
            data={"csrf_token": csrf, "confirm": "yes", "response": response},
            changes=expect(
                acknowledgement={"added": 1},
                auditevent={"added": ANY},
                emailmessage={"added": ANY},
                link={"added": ANY},
            ),
        )
        ack = session.exec(
            select(Acknowledgement).where(Acknowledgement.audit_id == action.audit_id)
        ).one()
        assert ack.response == response
        hostile.send(
            "the acknowledgement replayed",
            "POST",
            findings,
            410,
            data={"csrf_token": csrf, "confirm": "yes", "response": "again"},
        )
        hostile.send(
            "the audit form replayed after it was recorded",
            "POST",
            record,
            410,
            data={**answers(world, audit), "op": "submit", "csrf_token": csrf},
        )
