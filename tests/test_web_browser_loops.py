"""The people's pages in a real browser (headless Chromium through Playwright,
tests/web_browser_world.py): each loop from the email that starts it, received by a real
SMTP server, with axe-core (WCAG 2.1 AA) on every page on the way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import date
from email.message import EmailMessage as ParsedEmail
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from models import Acknowledgement, ActionPoint, Audit, AuditEvent, Case, DeadlineRequest
from models.enums import ActionStatus, AuditStatus
from models.settings import get_settings
from tasks.outbox import send_pending
from tasks.recording.form import ActionIn
from tests.smtp import Recorder, smtp_server
from tests.web_browser_world import Person
from tests.web_browser_world import axe_script as _axe_script
from tests.web_browser_world import browser as _browser
from tests.web_browser_world import person as _person
from tests.web_browser_world import serve as _serve
from tests.web_browser_world import shots as _shots
from tests.web_world import LINK, TODAY, WORLD, World, links_in

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

# The browser's fixtures (tests/web_browser_world.py), for this module's tests.
axe_script, browser, person, serve, shots = _axe_script, _browser, _person, _serve, _shots


# Real email through a real SMTP server --------------------------------------------------------


@pytest.fixture
def mailbox(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """An SMTP server on loopback that the product sends to (the world's queue and the pages')."""
    with smtp_server() as (recorder, port):
        monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("YOTQA_SMTP_PORT", str(port))
        get_settings.cache_clear()
        yield recorder


def deliver_queue(world: World) -> None:
    report = send_pending(world.session, get_settings())
    assert report.sent and not report.failed, report


def arrived(recorder: Recorder, to: str, subject: str, *, timeout: float = 10.0) -> ParsedEmail:
    """The message to `to` whose subject starts with `subject`, waiting for it to arrive."""
    deadline = time.monotonic() + timeout
    while True:
        for message in list(recorder.messages):
            if to in str(message["To"]) and str(message["Subject"]).startswith(subject):
                return message
        if time.monotonic() > deadline:
            seen = [(str(m["To"]), str(m["Subject"])) for m in recorder.messages]
            raise AssertionError(f"no email to {to} about {subject!r} arrived; arrived: {seen}")
        time.sleep(0.05)


def plain(message: ParsedEmail) -> str:
    return str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def link_after(text: str, label: str) -> list[str]:
    """The paths of the links that follow `label` in a plain-text email, in order."""
    return re.findall(re.escape(label) + r"\s*" + LINK.pattern, text)


def case_block(text: str, case_ref: str) -> str:
    """The lines of an assignment email about one case."""
    start = text.index(f"Case {case_ref}:")
    end = text.find("\n- Case ", start)
    return text[start : end if end > 0 else None]


def _case_ref(world: World, audit: Audit) -> str:
    return world.session.get(Case, audit.case_id).case_ref  # type: ignore[union-attr]


def _recorded_events(world: World, audit_id: int) -> int:
    return int(
        world.session.execute(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.audit_id == audit_id, AuditEvent.event == "recorded")
        ).scalar_one()
    )


def fill_audit_form(tab: Person, *, leave_out: str | None = None) -> None:
    """Answer every question (but `leave_out`) the way a person would: click the label of a
    choice, type in a box."""
    page = tab.page
    radios: list[str] = page.eval_on_selector_all(
        ".question input[type=radio]", "els => [...new Set(els.map(e => e.name))]"
    )
    for name in radios:
        if name == leave_out:
            continue
        page.locator(f'.question label[for="{name}"]').click()  # the first choice
    for box in page.locator(".question textarea, .question input[type=number]").all():
        name = box.get_attribute("name")
        if name == leave_out:
            continue
        kind = box.get_attribute("type")
        box.fill("2" if kind == "number" else f"Seen on the case file ({name})")


# 1. The loops, from the emails that start them ------------------------------------------------


def test_the_assignment_email_links_record_one_audit_and_say_another_cannot_be_done(
    world: World,
    mailbox: Recorder,
    person: Callable[..., Person],
    serve: Callable[..., Any],
) -> None:
    """The auditor opens the form from the email the SMTP server received, submits it with a
    question unanswered (told beside it, and in a summary linking to it), answers it, submits:
    recorded once, through the web, and the case manager's feedback arrives by email. The
    second link of another audit in the same email says that one cannot be done (D4)."""
    audit = world.audit()
    auditor, cm = world.person(audit.auditor_id), world.person(audit.subject_staff_id)
    ref = _case_ref(world, audit)
    deliver_queue(world)
    email = plain(arrived(mailbox, auditor.email, "QA audits for 2026-12"))
    form_path = link_after(case_block(email, ref), "Open the audit form:")[0]
    other = world.session.exec(
        select(Audit)
        .where(
            Audit.auditor_id == auditor.id,
            Audit.status == AuditStatus.ASSIGNED,
            Audit.id != audit.id,
        )
        .order_by(Audit.id)
    ).first()
    assert other is not None
    not_done_path = link_after(
        case_block(email, _case_ref(world, other)), "This audit cannot be done:"
    )[0]

    with serve() as base:
        tab = person(base)
        first = tab.open(form_path)
        assert first.status == 200 and ref in tab.page.title()
        tab.check("audit-form")
        required = tab.page.eval_on_selector_all(
            ".question fieldset:not(:has(.optional)) input[type=radio]",
            "els => [...new Set(els.map(e => e.name))]",
        )
        missing = required[1]  # a required question with choices, left unanswered
        fill_audit_form(tab, leave_out=missing)
        tab.page.fill('[id="action.1.text"]', "Countersign the VMP")
        tab.page.fill('[id="action.1.deadline"]', "2026-12-18")
        tab.page.check("#recorded_in_cms")
        refused = tab.submit('button[value="submit"]')
        assert refused.status == 400
        # Told beside the field, and in a summary (focused on load) that links to it.
        question = tab.page.locator(".question", has=tab.page.locator(f'[id="{missing}"]'))
        assert "has-error" in str(question.get_attribute("class"))
        assert "Answer this question" in question.locator(".error-message").inner_text()
        described = question.locator("fieldset").get_attribute("aria-describedby") or ""
        assert f"{missing}-error" in described.split()
        assert tab.autofocused()["cls"] == "error-summary"
        summary_link = tab.page.locator(f'.error-summary a[href="#{missing}"]')
        assert re.match(r"Question \d+: Answer this question", summary_link.inner_text())
        assert tab.page.input_value('[id="action.1.text"]') == "Countersign the VMP"  # kept
        tab.check("audit-form-errors")
        summary_link.click()
        assert tab.focused()["id"] == missing  # the link takes the keyboard to the field
        tab.page.locator(f'.question label[for="{missing}"]').click()
        receipt = tab.submit('button[value="submit"]')
        assert receipt.status == 200, tab.text("main")
        assert "#" not in tab.page.url  # the summary's #field is not carried into the post
        assert "recorded" in tab.page.title() and "Recorded on" in tab.text("main")
        assert cm.name in tab.text("main")
        tab.check("receipt")

        world.session.expire_all()
        stored = world.session.get(Audit, audit.id)
        assert (stored.status, stored.recorded_via, stored.completed_on) == (
            AuditStatus.COMPLETED,
            "web",
            TODAY,
        )
        assert _recorded_events(world, audit.id) == 1  # type: ignore[arg-type]
        # The page sends its emails after it has answered: the feedback reaches the SMTP server.
        feedback = plain(arrived(mailbox, cm.email, f"Audit feedback for case {ref}"))
        assert "Countersign the VMP" in feedback and links_in(feedback)
        assert arrived(mailbox, auditor.email, f"Audit of case {ref} recorded")  # the receipt

        # The other audit cannot be done: the email's second link for it.
        assert tab.open(not_done_path).status == 200
        tab.check("not-done")
        empty = tab.submit("main form button[type=submit]")
        assert empty.status == 400 and tab.autofocused()["cls"] == "error-summary"
        tab.check("not-done-errors")
        tab.page.locator("label[for=reason-2]").click()
        tab.page.fill("#detail", "The file is held by the court until January")
        done = tab.submit("main form button[type=submit]")
        assert done.status == 200 and "recorded as not done" in tab.text("main")
        tab.check("done")

    world.session.expire_all()
    assert world.session.get(Audit, other.id).status is AuditStatus.NOT_DONE
    assert world.session.get(Audit, other.id).reason_not_completed


def test_the_feedback_email_links_close_one_action_move_another_and_acknowledge_the_findings(
    world: World,
    mailbox: Recorder,
    person: Callable[..., Person],
    serve: Callable[..., Any],
) -> None:
    """The case manager's feedback email (received by SMTP): one action point done, a new date
    asked for the other; the line manager agrees it from the email that asks them; the case
    manager is told by email, then reads and acknowledges the findings, and opens their list."""
    audit = world.audit()
    cm = world.person(audit.subject_staff_id)
    manager = world.person(cm.line_manager_id)  # type: ignore[arg-type]
    ref = _case_ref(world, audit)
    world.record(
        audit,
        [
            ActionIn(
                priority=1,
                text="Countersign the RMP",
                owner_email=cm.email,
                deadline=date(2026, 12, 18),
            ),
            ActionIn(
                priority=2,
                text="Hold a review with the family",
                owner_email=cm.email,
                deadline=date(2026, 12, 22),
            ),
        ],
    )
    first, second = world.session.exec(
        select(ActionPoint).where(ActionPoint.audit_id == audit.id).order_by(ActionPoint.priority)
    ).all()
    world.session.commit()
    deliver_queue(world)
    feedback = plain(arrived(mailbox, cm.email, f"Audit feedback for case {ref}"))
    done_paths = link_after(feedback, "This action is done:")
    new_date_paths = link_after(feedback, "It cannot be done by the deadline:")
    (findings_path,) = link_after(feedback, "acknowledge them and add your response:")
    (items_path,) = link_after(feedback, "All your open quality-assurance items:")
    assert len(done_paths) == len(new_date_paths) == 2

    with serve() as base:
        tab = person(base)
        # Action point 1 is done (a date in the future is refused beside its field first).
        assert tab.open(done_paths[0]).status == 200
        assert "Countersign the RMP" in tab.text("main")
        tab.check("action-done")
        tab.page.fill("#done_on", "2026-12-04")
        refused = tab.submit("main form button[type=submit]")
        assert refused.status == 400 and "cannot be in the future" in tab.text(".field.has-error")
        assert tab.autofocused()["cls"] == "error-summary"
        tab.check("action-done-errors")
        tab.page.fill("#done_on", TODAY.isoformat())
        tab.page.fill("#note", "Countersigned on the case file")
        assert tab.submit("main form button[type=submit]").status == 200
        assert "recorded as done on 3 December 2026" in tab.text("main")

        # Action point 2 cannot be done by its deadline: a new date is asked for.
        assert tab.open(new_date_paths[1]).status == 200
        tab.check("new-date")
        tab.page.fill("#proposed_on", "2027-01-15")
        tab.page.fill("#reason", "The family are away until the new year")
        assert tab.submit("main form button[type=submit]").status == 200
        assert manager.name in tab.text("main")
        tab.check("new-date-done")

        # The line manager's email arrives (sent after the page answered); they agree.
        asked = plain(
            arrived(mailbox, manager.email, f"New date asked for an action point on case {ref}")
        )
        (decide_path,) = link_after(asked, "Agree or refuse the new date:")
        boss = person(base)
        assert boss.open(decide_path).status == 200
        assert "The family are away until the new year" in boss.text("main")
        boss.check("decide")
        boss.page.locator("label[for=decision-refuse]").click()
        refused = boss.submit("main form button[type=submit]")
        assert refused.status == 400 and "say why" in boss.text(".field.has-error").lower()
        boss.check("decide-errors")
        boss.page.locator("label[for=decision]").click()
        boss.page.fill("#note", "Agreed: see them in the first week back")
        assert boss.submit("main form button[type=submit]").status == 200
        assert "agreed" in boss.page.title()
        told = plain(arrived(mailbox, cm.email, f"New date agreed: action point on case {ref}"))
        assert "Friday 15 January 2027" in told or "15 January 2027" in told

        # The case manager reads the findings and acknowledges them (the box must be ticked).
        assert tab.open(findings_path).status == 200
        tab.check("findings")
        tab.page.fill("#response", "I will countersign it this week")
        unticked = tab.submit("main form button[type=submit]")
        assert unticked.status == 400 and tab.autofocused()["cls"] == "error-summary"
        assert tab.page.input_value("#response") == "I will countersign it this week"
        tab.check("findings-errors")
        tab.page.locator("label[for=confirm]").click()
        assert tab.submit("main form button[type=submit]").status == 200
        assert "acknowledged" in tab.page.title()

        # Their own list: nothing left of this audit's but the moved action point.
        assert tab.open(items_path).status == 200
        items = tab.text("main")
        assert "Hold a review with the family" in items and "Countersign the RMP" not in items
        tab.check("items")

    world.session.expire_all()
    assert world.session.get(ActionPoint, first.id).status is ActionStatus.COMPLETED
    assert world.session.get(ActionPoint, second.id).deadline == date(2027, 1, 15)
    assert world.session.exec(select(DeadlineRequest)).one().status == "agreed"
    ack = world.session.exec(select(Acknowledgement)).one()
    assert (ack.audit_id, ack.staff_id) == (audit.id, cm.id)
