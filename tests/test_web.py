"""The people's pages (L1-L3) through the web app: each page, each way in, each refusal."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    AuditDraft,
    AuditEvent,
    Case,
    DeadlineRequest,
    Finding,
    HighRiskIssue,
)
from models.enums import ActionStatus, AuditStatus
from models.settings import get_settings
from tasks.chase import arrived_by_link, due_steps
from tasks.links import ACKNOWLEDGE, ACTION_DONE, ITEMS, NEW_DATE, NOT_DONE, RECORD
from tasks.recording.record import NOT_DONE_REASONS, questions_for
from tasks.workdays import add_working_days, today
from tests.web_world import TODAY, WORLD, World, app_for, csrf_of, links_in

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

SECURITY = {
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def _answers(world: World, audit: Audit) -> dict[str, str]:
    """Every question answered as an auditor would on the page."""
    fields = {}
    for q in questions_for(world.session, audit):
        fields[f"q.{q.code}"] = {
            "judgement": "good",
            "yes_no": "yes",
            "count": "2",
            "text": "Burglary",
        }[q.answer_type.value]
        fields[f"e.{q.code}"] = f"Seen on file for {q.code}"
    return fields


def _post(client, path: str, fields: dict[str, str]):  # type: ignore[no-untyped-def]
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={**fields, "csrf_token": csrf_of(page.text)})


def _title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1)  # type: ignore[union-attr]


def test_every_page_type_opens_with_its_case_reference_only_and_safe_headers(
    world: World, client
) -> None:
    """L3: titles and pages name the case by reference; headers keep the token in the page."""
    audit = world.audit()
    case = world.session.get(Case, audit.case_id)
    action = world.action_of_case_manager()
    paths = {
        "record": world.link(audit.auditor_id, RECORD, audit.id),
        "not-done": world.link(audit.auditor_id, NOT_DONE, audit.id),
        "done": world.link(action.owner_id, ACTION_DONE, action.id),
        "new-date": world.link(action.owner_id, NEW_DATE, action.id),
        "acknowledge": world.link(action.owner_id, ACKNOWLEDGE, action.audit_id),
        "items": world.link(audit.auditor_id, ITEMS, audit.auditor_id),
    }
    names = [n for (n,) in world.session.execute(sa.select(Case.young_person_name))]
    for purpose, path in paths.items():
        response = client.get(path)
        assert response.status_code == 200, (purpose, response.text)
        for header, value in SECURITY.items():
            assert response.headers[header] == value, (purpose, header)
        csp = response.headers["content-security-policy"]
        assert (
            "default-src 'none'" in csp and "script" not in csp and "frame-ancestors 'none'" in csp
        )
        assert "<script" not in response.text and " style=" not in response.text
        title = _title(response.text)
        assert not [n for n in names if n and n in response.text], purpose  # E5
        if purpose in ("record", "not-done"):
            assert case.case_ref in title
    assert client.get("/").status_code == 200
    assert client.get("/nowhere").status_code == 404


def test_submit_with_a_missing_answer_shows_it_beside_the_field_and_stores_nothing(
    world: World, client
) -> None:
    audit = world.audit()
    path = world.link(audit.auditor_id, RECORD, audit.id)
    fields = _answers(world, audit)
    missing = next(k for k in fields if k.startswith("q.") and fields[k] == "good")
    del fields[missing]
    fields.update(
        {"action.1.text": "Review the VMP", "action.1.deadline": "2026-12-10", "op": "submit"}
    )
    response = _post(client, path, fields)
    assert response.status_code == 400
    html = response.text
    assert f'id="{missing}-error"' in html
    # Beside the field in plain words; at the top by the question's number on the page.
    assert re.search(
        rf'id="{re.escape(missing)}-error"><span class="visually-hidden">Error:</span> Answer this question',
        html,
    )
    assert re.search(rf'href="#{re.escape(missing)}">Question \d+: Answer this question', html)
    assert f'href="#{missing}"' in html  # the summary links to the field
    # The field is described by its error (read out by a screen reader on focus).
    assert re.search(rf'aria-describedby="[^"]*{re.escape(missing)}-error"', html)
    assert 'value="Review the VMP"' in html or ">Review the VMP<" in html  # nothing typed is lost
    world.session.expire_all()
    assert world.session.get(Audit, audit.id).status is AuditStatus.ASSIGNED
    assert not world.session.exec(select(Finding).where(Finding.audit_id == audit.id)).all()
    assert world.session.exec(select(AuditDraft).where(AuditDraft.audit_id == audit.id)).one()


def test_submit_records_once_with_the_same_emails_and_says_when_on_a_second_submit(
    world: World, client
) -> None:
    """L2: the same validation and side effects as every other way in; E3 fires on submit."""
    audit = world.audit()
    path = world.link(audit.auditor_id, RECORD, audit.id)
    cm = world.person(audit.subject_staff_id)
    fields = {
        **_answers(world, audit),
        "action.1.text": "Countersign the VMP",
        "action.1.owner": cm.email,
        "action.1.deadline": "2026-12-18",
        "action.1.priority": "1",
        "good_practice": "Clear analysis of risk\nA plan written with the family",
        "high_risk": "Risk to a sibling not yet shared with social care",
        "recorded_in_cms": "yes",
        "op": "submit",
    }
    page = client.get(path)
    token = csrf_of(page.text)
    response = client.post(path, data={**fields, "csrf_token": token})
    assert response.status_code == 200, response.text
    assert "recorded" in _title(response.text) and "Recorded on" in response.text
    world.session.expire_all()
    stored = world.session.get(Audit, audit.id)
    assert (stored.status, stored.recorded_via, stored.completed_on) == (
        AuditStatus.COMPLETED,
        "web",
        TODAY,
    )
    assert stored.recorded_in_cms
    assert len(
        world.session.exec(select(Finding).where(Finding.audit_id == audit.id)).all()
    ) == len(questions_for(world.session, audit))
    action = world.session.exec(select(ActionPoint).where(ActionPoint.audit_id == audit.id)).one()
    assert (action.owner_id, action.deadline) == (cm.id, date(2026, 12, 18))
    assert world.session.exec(select(HighRiskIssue).where(HighRiskIssue.audit_id == audit.id)).one()
    feedback = world.emails("feedback")
    assert len(feedback) == 1 and feedback[0].to_addrs == [cm.email]
    assert {m.kind for m in world.emails("high-risk")} == {"high-risk"}
    assert world.emails("recorded")
    assert not world.session.exec(select(AuditDraft).where(AuditDraft.audit_id == audit.id)).all()
    # A replay of the same submit (or a second tab): nothing recorded, and it says when.
    again = client.post(path, data={**fields, "csrf_token": token})
    assert again.status_code == 410 and "was recorded on" in again.text
    world.session.expire_all()
    assert len(world.emails("feedback")) == 1
    assert (
        world.session.execute(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.event == "recorded")
        ).scalar_one()
        == 1
    )


def test_save_draft_and_add_action_point_keep_what_was_typed(world: World, client) -> None:
    audit = world.audit()
    path = world.link(audit.auditor_id, RECORD, audit.id)
    code = questions_for(world.session, audit)[4].code
    saved = _post(
        client,
        path,
        {f"e.{code}": "Half-way <b>notes</b>", "action.1.text": "First action", "op": "add-action"},
    )
    assert saved.status_code == 200 and "Draft saved at" in saved.text
    assert 'id="action.2.text"' in saved.text and "First action" in saved.text
    assert "Half-way &lt;b&gt;notes&lt;/b&gt;" in saved.text  # escaped, never markup
    # The tab is closed; the link opened again shows the draft.
    reopened = client.get(path)
    assert "Your draft saved on" in reopened.text and "Half-way &lt;b&gt;notes" in reopened.text
    assert 'id="action.2.text"' in reopened.text


def test_cannot_be_done_needs_a_reason_and_stops_the_chase(world: World, client) -> None:
    """D4: the reason is kept as every other path keeps it, and the audit is chased no more."""
    audit = world.audit()
    path = world.link(audit.auditor_id, NOT_DONE, audit.id)
    assert _post(client, path, {}).status_code == 400
    other = _post(client, path, {"reason": NOT_DONE_REASONS[-1]})
    assert other.status_code == 400 and 'id="detail-error"' in other.text
    done = _post(
        client, path, {"reason": NOT_DONE_REASONS[3], "detail": "I supervised this case last year"}
    )
    assert done.status_code == 200
    world.session.expire_all()
    stored = world.session.get(Audit, audit.id)
    assert stored.status is AuditStatus.NOT_DONE
    assert stored.reason_not_completed == f"{NOT_DONE_REASONS[3]}: I supervised this case last year"
    assert not [
        d
        for d in due_steps(world.session, audit.due_on + timedelta(days=10), get_settings())
        if d.item.id == audit.id and d.item.kind == "audit"
    ]
    assert client.get(path).status_code == 410


def test_action_done_stops_its_chase(world: World, client) -> None:
    action = world.action_of_case_manager()
    path = world.link(action.owner_id, ACTION_DONE, action.id)
    future = _post(client, path, {"done_on": (TODAY + timedelta(days=1)).isoformat()})
    assert future.status_code == 400 and "cannot be in the future" in future.text
    bad = _post(client, path, {"done_on": "03/12/2026"})
    assert bad.status_code == 400 and "for example 2026-12-18" in bad.text
    assert (
        _post(client, path, {"done_on": TODAY.isoformat(), "note": "Countersigned"}).status_code
        == 200
    )
    world.session.expire_all()
    stored = world.session.get(ActionPoint, action.id)
    assert (stored.status, stored.completed_on, stored.evidence) == (
        ActionStatus.COMPLETED,
        TODAY,
        "Countersigned",
    )
    late = action.deadline + timedelta(days=14)
    assert not [
        d for d in due_steps(world.session, late, get_settings()) if d.item.kind == "action"
    ]


def test_new_date_asked_agreed_moves_the_deadline_and_the_chase(world: World, client) -> None:
    """D3: the line manager is told with a link; agreed, the chase follows the new date."""
    action = world.action_of_case_manager()
    settings = get_settings()
    after_old = action.deadline + timedelta(days=3)
    assert [
        d.step for d in due_steps(world.session, after_old, settings) if d.item.kind == "action"
    ] == ["chase"]
    path = world.link(action.owner_id, NEW_DATE, action.id)
    early = _post(client, path, {"proposed_on": "2026-12-10", "reason": "Leave"})
    assert early.status_code == 400 and "Propose a date after" in early.text
    asked = _post(
        client, path, {"proposed_on": "2027-01-15", "reason": "The social worker is on leave"}
    )
    assert asked.status_code == 200, asked.text
    request = world.session.exec(select(DeadlineRequest)).one()
    owner = world.person(action.owner_id)
    assert request.decider_id == owner.line_manager_id
    email = world.emails("date-request")[0]
    assert email.to_addrs == [world.person(request.decider_id).email]
    decide = links_in(email.body_text)[0]
    assert links_in(email.body_html)[0] == decide
    assert client.get(path).status_code == 410  # asked already: waits for the decision
    refuse = _post(client, decide, {"decision": "refuse"})
    assert refuse.status_code == 400 and "say why" in refuse.text.lower()
    agreed = _post(client, decide, {"decision": "agree", "note": "Fine"})
    assert agreed.status_code == 200
    world.session.expire_all()
    assert world.session.get(ActionPoint, action.id).deadline == date(2027, 1, 15)
    assert world.session.get(DeadlineRequest, request.id).status == "agreed"
    assert world.emails("date-decided")[0].to_addrs == [owner.email]
    # The chase of the old deadline stops; the new one gets its own reminders and chase.
    assert not [d for d in due_steps(world.session, after_old, settings) if d.item.kind == "action"]
    steps = [
        d.step
        for d in due_steps(world.session, date(2027, 1, 18), settings)
        if d.item.kind == "action"
    ]
    assert steps == ["chase"]
    assert client.get(decide).status_code == 410


def test_acknowledging_findings_keeps_the_response_and_removes_names(world: World, client) -> None:
    action = world.action_of_case_manager()
    audit = world.session.get(Audit, action.audit_id)
    case = world.session.get(Case, audit.case_id)
    first = case.young_person_name.split()[0]
    finding = world.session.exec(select(Finding).where(Finding.audit_id == audit.id)).first()
    finding.evidence = f"{case.young_person_name} was seen at home"
    world.session.commit()
    path = links_in(world.emails("feedback")[0].body_text)[0]
    page = client.get(path)
    assert page.status_code == 200 and "[name removed] was seen at home" in page.text
    assert first not in page.text  # E5, L3
    unticked = client.post(path, data={"csrf_token": csrf_of(page.text), "response": "Agreed"})
    assert unticked.status_code == 400 and 'id="confirm-error"' in unticked.text
    done = _post(client, path, {"confirm": "yes", "response": "I will countersign it this week"})
    assert done.status_code == 200
    ack = world.session.exec(select(Acknowledgement)).one()
    assert (ack.audit_id, ack.staff_id, ack.response) == (
        audit.id,
        audit.subject_staff_id,
        "I will countersign it this week",
    )
    assert client.get(path).status_code == 410


def test_items_page_lists_only_the_persons_own_open_items_with_their_links(
    world: World, client
) -> None:
    audit = world.audit()
    auditor = world.person(audit.auditor_id)
    page = client.get(world.link(auditor.id, ITEMS, auditor.id))
    assert page.status_code == 200
    theirs = world.session.exec(
        select(Audit).where(Audit.auditor_id == auditor.id, Audit.status == AuditStatus.ASSIGNED)
    ).all()
    refs = {world.session.get(Case, a.case_id).case_ref for a in theirs}
    others = {
        c
        for (c,) in world.session.execute(
            sa.select(Case.case_ref)
            .join(Audit, Audit.case_id == Case.id)
            .where(Audit.auditor_id != auditor.id)
        )
    }
    assert refs, "the auditor has no open audit: nothing would be checked"
    assert all(r in page.text for r in refs)
    assert not [r for r in others - refs if r in page.text]
    for path in links_in(page.text):
        assert client.get(path).status_code == 200  # every link on it works, and is theirs
    assert client.post(world.link(auditor.id, ITEMS, auditor.id), data={}).status_code in (403, 405)


def test_post_without_or_with_a_wrong_csrf_token_changes_nothing(world: World, client) -> None:
    audit = world.audit()
    path = world.link(audit.auditor_id, NOT_DONE, audit.id)
    client.get(path)
    fields = {"reason": NOT_DONE_REASONS[0]}
    assert client.post(path, data=fields).status_code == 403
    assert client.post(path, data={**fields, "csrf_token": "A" * 43}).status_code == 403
    other = world.link(audit.auditor_id, RECORD, audit.id)  # a good token from another form
    assert (
        client.post(
            path, data={**fields, "csrf_token": csrf_of(client.get(other).text)}
        ).status_code
        == 403
    )
    client.cookies.clear()
    assert client.post(
        path, data={**fields, "csrf_token": csrf_of(client.get(path).text)}
    ).status_code in (200, 403)
    world.session.expire_all()


def test_failed_checks_from_one_address_are_refused_for_a_while(world: World, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    monkeypatch.setenv("YOTQA_WEB_FAILED_CHECKS", "5")
    audit = world.audit()
    good = world.link(audit.auditor_id, RECORD, audit.id)
    with TestClient(app_for(world)) as client:
        for n in range(5):
            assert client.get(f"/l/forged{n}AAAAAAAAAAAAAAA.{'B' * 43}").status_code == 403
        assert client.get(good).status_code == 429  # even a good link, until the window passes
        assert "Wait ten minutes" in client.get(good).text


def test_oversized_and_odd_requests_are_refused_plainly(world: World, client) -> None:
    audit = world.audit()
    path = world.link(audit.auditor_id, RECORD, audit.id)
    huge = client.post(
        path,
        content=b"a=" + b"x" * (1024 * 1024 + 10),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413 and "nothing was saved" in huge.text
    upload = client.post(path, files={"f": ("x.txt", b"hello")})
    assert upload.status_code in (400, 403)
    assert client.put(path).status_code == 405


def test_chase_artifact_lists_what_came_in_through_links(world: World, client) -> None:
    audit = world.audit()
    _post(client, world.link(audit.auditor_id, NOT_DONE, audit.id), {"reason": NOT_DONE_REASONS[0]})
    now = today()  # events carry the real time; the pages' pinned date does not move them
    rows = arrived_by_link(world.session, add_working_days(now, 1))
    assert [r["what"] for r in rows] == ["audit cannot be done (D4)"]
    assert rows[0]["case"] == world.session.get(Case, audit.case_id).case_ref
    assert rows[0]["by"] == world.person(audit.auditor_id).name
    assert arrived_by_link(world.session, now) == []  # the next working day reports it, once
    assert arrived_by_link(world.session, add_working_days(now, 2)) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_audits_list_shows_how_each_audit_was_recorded(world: World, client, cli) -> None:
    first, second = world.session.exec(
        select(Audit).where(Audit.status == AuditStatus.ASSIGNED).order_by(Audit.id)
    ).all()[:2]
    world.record(first)
    _post(
        client,
        world.link(second.auditor_id, RECORD, second.id),
        {**_answers(world, second), "op": "submit"},
    )
    listed = cli("audits", "list", "--status", "completed")
    assert listed.exit_code == 0
    rows = [re.split(r"\s*[│|]\s*", line.strip(" │|")) for line in listed.stdout.splitlines()]
    via = {int(r[0]): r[-1] for r in rows if r and r[0].isdigit()}
    assert (via[first.id], via[second.id]) == ("form file", "web page")


def test_a5_a_moderation_is_marked_blind_on_its_page_with_no_action_points(
    world: World, client
) -> None:
    """A5, L2: the moderator's link opens the same form, without the first audit's answers or
    any action point rows; the record goes through the same path and tells the case manager
    nothing."""
    from models.enums import AuditKind
    from tasks.sampling.monthly import sample_month

    first = world.audit()
    world.record(first)  # completed on 3 December
    world.session.execute(
        sa.update(Finding).where(Finding.audit_id == first.id).values(evidence="FIRST-MARKER-NOTE")
    )
    world.session.commit()
    sample_month(world.session, date(2027, 1, 4))
    moderation = world.session.exec(select(Audit).where(Audit.moderates_id == first.id)).one()
    assert moderation.kind is AuditKind.MODERATION
    path = world.link(moderation.auditor_id, RECORD, moderation.id, moderation.due_on)
    page = client.get(path)
    assert page.status_code == 200 and "Moderation audit of case" in page.text
    assert 'name="action.1.text"' not in page.text and "FIRST-MARKER-NOTE" not in page.text
    before = len(world.emails("feedback"))
    response = _post(client, path, {**_answers(world, moderation), "op": "submit"})
    assert response.status_code == 200 and "Recorded on" in response.text, response.text
    world.session.expire_all()
    assert world.session.get(Audit, moderation.id).status is AuditStatus.COMPLETED
    assert len(world.emails("feedback")) == before  # nothing new for the case manager
