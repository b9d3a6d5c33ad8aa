"""The people's pages in a real browser (headless Chromium through Playwright): each loop from
the email that starts it, axe-core on every page type (WCAG 2.1 AA), the keyboard, a phone.

Skips when Chromium, Playwright or axe-core is missing, unless YOTQA_REQUIRE_CHROMIUM=1 (then it
fails). axe-core is installed from tests/a11y/package-lock.json (npm ci) on first use. PNGs of
every page type go to /tmp/yotqa-shots/<backend>/ to be looked at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from email.message import EmailMessage as ParsedEmail
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    AuditEvent,
    Case,
    DeadlineRequest,
    SupportNeed,
)
from models.enums import ActionStatus, AuditStatus, NeedScope
from models.settings import get_settings
from tasks.links import ACKNOWLEDGE, ACTION_DONE, ITEMS, NOT_DONE, RECORD, REVIEW
from tasks.outbox import send_pending
from tasks.recording.form import ActionIn
from tasks.sampling.monthly import sample_month
from tests import web_world
from tests.browser import chromium
from tests.smtp import Recorder, free_port, smtp_server
from tests.web_world import LINK, TODAY, WORLD, World, app_for, links_in, served

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

A11Y = Path(__file__).resolve().parent / "a11y"
AXE = A11Y / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path("/tmp/yotqa-shots")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
FORGED = "/l/forgedAAAAAAAAAAAAAAAAAAA." + "B" * 43


def _missing(why: str) -> None:
    if os.environ.get("YOTQA_REQUIRE_CHROMIUM"):
        pytest.fail(why)
    pytest.skip(why)


# The browser and axe-core, once per run -----------------------------------------------------


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's script, installed from the lock file the first time (npm ci, ~1 s)."""
    if not AXE.exists() and shutil.which("npm"):
        subprocess.run(
            ["npm", "ci", "--prefix", str(A11Y), "--no-audit", "--no-fund"],
            capture_output=True,
            timeout=120,
            check=False,
        )
    if not AXE.exists():
        _missing(f"axe-core is not installed: npm ci --prefix {A11Y} (needs npm)")
    return AXE


# For this module only: Playwright's sync API keeps an event loop running in this thread while
# it is open, and Prefect's sync-or-async calls made by later tests on the worker would see it.
@pytest.fixture(scope="module")
def browser(axe_script: Path) -> Iterator[Any]:
    executable = chromium()  # skips, or fails with YOTQA_REQUIRE_CHROMIUM=1, when missing
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """This backend's folder of screenshots (outside the repository)."""
    callspec = getattr(request.node, "callspec", None)
    backend = callspec.params.get("db_url", "sqlite") if callspec else "sqlite"
    folder = SHOTS / str(backend)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Person:
    """One browser tab of one person: opens our pages, checks each with axe, photographs it."""

    def __init__(self, page: Any, base: str, shots: Path, axe: Path) -> None:
        self.page, self.base, self.shots, self.axe = page, base, shots, axe

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None
        return response

    def submit(self, selector: str) -> Any:
        """Click a submit button and wait for the page that comes back."""
        with self.page.expect_navigation() as navigation:
            self.page.click(selector)
        return navigation.value

    def check(self, name: str) -> None:
        """No axe-core violation (WCAG 2.0/2.1 A and AA), and a PNG of the whole page."""
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        self.page.add_script_tag(path=str(self.axe))
        found = self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => ({"
            " passes: r.passes.length,"
            " review: r.incomplete.map(v => v.id + ' x' + v.nodes.length),"
            " violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))}))",
            TAGS,
        )
        # What axe could not decide (to look at by hand) goes beside the screenshot.
        (self.shots / f"{name}.axe.json").write_text(json.dumps(found, indent=1))
        assert found["passes"] > 5, f"{name}: axe-core did not run its rules: {found}"
        assert found["violations"] == [], f"{name}: axe-core found\n" + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"][:8])
            for v in found["violations"]
        )

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).inner_text())

    def autofocused(self, timeout: float = 5.0) -> dict[str, Any]:
        """What has the focus once the page's `autofocus` has run: Chromium applies it at its
        next rendering update, which on a busy machine can come after the load event."""
        deadline = time.monotonic() + timeout
        while (
            self.page.evaluate("document.activeElement === document.body")
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        return self.focused()

    def focused(self) -> dict[str, Any]:
        return dict(
            self.page.evaluate(
                "() => { const e = document.activeElement, s = getComputedStyle(e);"
                " return {tag: e.tagName, id: e.id, cls: e.className, name: e.name || '',"
                " kbd: e.dataset.kbd || '', type: e.type || '', focus: e.matches(':focus'),"
                " outline: s.outlineStyle + ' ' + s.outlineWidth, shadow: s.boxShadow}; }"
            )
        )


@pytest.fixture
def person(browser: Any, shots: Path, axe_script: Path) -> Iterator[Callable[..., Person]]:
    """Opens a fresh browser context (cookies of its own) on a served app: one per person."""
    contexts: list[Any] = []

    def open_as(base: str, *, viewport: dict[str, int] = DESKTOP, phone: bool = False) -> Person:
        context = browser.new_context(
            bypass_csp=True,  # to inject axe-core: our pages allow no script at all
            viewport=viewport,
            is_mobile=phone,
            has_touch=phone,
            device_scale_factor=1,
            locale="en-GB",
            timezone_id="Europe/London",
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return Person(context.new_page(), base, shots, axe_script)

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture
def serve(world: World, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """`with serve() as base:` the pages on a real port, whose own links (and the emails they
    send) point at that port, so a click on a link in a page works as it would for real."""

    @contextmanager
    def serving(wrap: Callable[[Any], Any] = lambda app: app) -> Iterator[str]:
        port = free_port()
        monkeypatch.setenv("YOTQA_WEB_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setattr(web_world, "free_port", lambda: port)  # served() takes this port
        with served(wrap(app_for(world))) as base:
            yield base

    return serving


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


# 2-3. The keyboard -------------------------------------------------------------------------

# Everything Tab should stop at, in document order; of a radio group only the checked radio
# (or the first, when none is), as browsers do.
MARK_TAB_STOPS = """() => {
  const all = [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex="0"]')];
  const stops = all.filter(e => {
    if (e.type !== 'radio') return true;
    const group = [...document.getElementsByName(e.name)];
    const checked = group.find(r => r.checked);
    return checked ? e === checked : e === group[0];
  });
  stops.forEach((e, i) => { e.dataset.kbd = String(i); });
  return stops.map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                        (e.name ? '[' + e.name + ']' : '') + ' ' + (e.textContent || '').trim().slice(0, 30));
}"""


def test_the_audit_form_works_from_the_keyboard_with_focus_always_visible(
    world: World,
    person: Callable[..., Person],
    serve: Callable[..., Any],
) -> None:
    """Tab from the top: the skip link first, then every control in the order on the page, each
    visibly focused; a question answered with the arrow keys, the form sent with Enter; the
    error summary has the focus when the page comes back."""
    audit = world.audit()
    path = world.link(audit.auditor_id, RECORD, audit.id)
    with serve() as base:
        tab = person(base)
        tab.open(path)
        stops: list[str] = tab.page.evaluate(MARK_TAB_STOPS)
        assert "skip-link" in tab.page.eval_on_selector("[data-kbd='0']", "e => e.className")
        walked: list[str] = []
        last = str(len(stops) - 1)
        for _ in range(len(stops) * 2):
            tab.page.keyboard.press("Tab")
            now = tab.focused()
            if not walked or walked[-1] != now["kbd"]:  # a date box is three stops and a button
                walked.append(now["kbd"])
            own_ring = (
                now["type"] == "date" and not now["focus"]
            )  # its picker button: Chrome's ring
            assert own_ring or now["outline"].split()[0] != "none" or now["shadow"] != "none", (
                f"no visible focus on {stops[int(now['kbd'] or 0)]}: {now}"
            )
            if now["kbd"] == last:
                break
        assert walked == [str(i) for i in range(len(stops))], [
            stops[int(k)] if k else "(outside the page's controls)" for k in walked
        ]
        # The skip link goes to the main content.
        tab.page.keyboard.press("Control+Home")
        tab.page.locator(".skip-link").focus()
        tab.page.keyboard.press("Enter")
        assert tab.focused()["id"] == "main"

        # The first question with choices, answered with the keyboard alone.
        radio = tab.page.locator(".question input[type=radio]").first
        name = str(radio.get_attribute("name"))
        radio.focus()
        tab.page.keyboard.press("Space")
        tab.page.keyboard.press("ArrowRight")
        chosen = tab.page.locator(f'input[name="{name}"]:checked')
        assert chosen.count() == 1 and chosen.get_attribute("id") == f"{name}-" + str(
            tab.page.locator(f'input[name="{name}"]').nth(1).get_attribute("value")
        )
        assert tab.focused()["id"] == chosen.get_attribute("id")
        # Then to the submit button, and Enter.
        tab.page.locator('button[value="submit"]').focus()
        with tab.page.expect_navigation() as navigation:
            tab.page.keyboard.press("Enter")
        assert navigation.value.status == 400  # the rest is unanswered
        # The address ended in #main (the skip link was used): the form posts to its address
        # without it, or the browser would go to #main and not focus the summary.
        assert "#" not in tab.page.url
        assert tab.autofocused()["cls"] == "error-summary"  # announced, and first for the keyboard
        tab.page.keyboard.press("Tab")
        assert tab.page.evaluate("document.activeElement.closest('.error-summary') !== null")
        assert tab.page.locator(f'input[name="{name}"]:checked').count() == 1  # kept


# 4. A phone, and the pages no email leads to ---------------------------------------------


def test_on_a_phone_nothing_scrolls_sideways_and_the_other_pages_pass_axe(
    world: World,
    person: Callable[..., Person],
    serve: Callable[..., Any],
) -> None:
    """At 375 x 740 (and 320 wide) no page scrolls sideways and each passes axe; then the pages
    no email leads to (home, a forged link, no page at all) pass axe on a desktop."""
    audit = world.audit()
    action = world.action_of_case_manager()
    auditor = audit.auditor_id
    # A5: January's sample gives the moderator that recorded audit to mark again, blind: the
    # form without action point rows.
    sample_month(world.session, date(2027, 1, 4))
    moderation = world.session.exec(
        select(Audit).where(Audit.moderates_id == action.audit_id)
    ).one()
    # A4: a support need on the recorded audit, for its case manager's team manager to review.
    owner = world.person(action.owner_id)
    need = SupportNeed(
        audit_id=action.audit_id,
        theme="Risk of harm assessment",
        text="Talk through the risk management plan in supervision",
        scope=NeedScope.TEAM,
        staff_id=owner.id,
        team_id=owner.team_id,
        owner_id=owner.line_manager_id or owner.id,
        review_on=date(2027, 1, 29),
    )
    world.session.add(need)
    world.session.commit()
    reviewer = world.person(need.owner_id)
    pages = {
        "phone-moderation-form": world.link(
            moderation.auditor_id, RECORD, moderation.id, moderation.due_on
        ),
        "phone-audit-form": world.link(auditor, RECORD, audit.id),
        "phone-not-done": world.link(auditor, NOT_DONE, audit.id),
        "phone-items": world.link(auditor, ITEMS, auditor),
        "phone-action-done": world.link(action.owner_id, ACTION_DONE, action.id),
        "phone-findings": world.link(action.owner_id, ACKNOWLEDGE, action.audit_id),
        "phone-need-review": world.link(need.owner_id, REVIEW, need.id, need.review_on),
        "phone-reviewer-items": world.link(reviewer.id, ITEMS, reviewer.id),
    }
    with serve() as base:
        phone = person(base, viewport=PHONE, phone=True)
        for name, path in pages.items():
            assert phone.open(path).status == 200, name
            wide = phone.page.evaluate("document.documentElement.scrollWidth")
            assert wide <= PHONE["width"] + 1, f"{name} scrolls sideways: {wide}px wide"
            phone.check(name)
        # The form with its errors showing, on the phone too.
        phone.open(pages["phone-audit-form"])
        phone.submit('button[value="submit"]')
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
        phone.check("phone-audit-form-errors")
        phone.page.screenshot(path=str(phone.shots / "phone-audit-form-top.png"))
        # A4: the need review page with its errors showing (still needed, no date nor note).
        phone.open(pages["phone-need-review"])
        phone.page.locator('label[for="outcome-continue"]').click()
        assert phone.submit("main form button[type=submit]").status == 400
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
        phone.check("phone-need-review-errors")
        # And at the 320 px that WCAG 1.4.10 (reflow) names.
        phone.page.set_viewport_size({"width": 320, "height": 640})
        for name in ("phone-audit-form", "phone-items", "phone-findings", "phone-need-review"):
            phone.open(pages[name])
            wide = phone.page.evaluate("document.documentElement.scrollWidth")
            assert wide <= 321, f"{name} scrolls sideways at 320 px: {wide}px wide"

        desktop = person(base)
        assert desktop.open("/").status == 200
        desktop.check("home")
        refused = desktop.open(FORGED)
        assert refused.status == 403
        desktop.check("refused")
        assert desktop.open("/nowhere").status == 404
        desktop.check("not-found")
        assert desktop.open(pages["phone-audit-form"]).status == 200
        desktop.page.screenshot(path=str(desktop.shots / "audit-form-top.png"))


def test_no_referrer_leaves_a_page_so_its_token_stays_in(
    world: World,
    person: Callable[..., Person],
    serve: Callable[..., Any],
) -> None:
    """Referrer-Policy: no-referrer, and the browser keeps to it: going from the list to a form,
    and fetching the stylesheet, no request reaches the server with a Referer (so none would
    reach another site), and the next page cannot read one."""
    audit = world.audit()
    items = world.link(audit.auditor_id, ITEMS, audit.auditor_id)
    arrived_with: list[tuple[str, dict[bytes, bytes]]] = []

    def recording(app: Any) -> Any:
        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                arrived_with.append((scope["path"], dict(scope["headers"])))
            await app(scope, receive, send)

        return asgi

    with serve(recording) as base:
        tab = person(base)
        first = tab.open(items)
        assert first.headers["referrer-policy"] == "no-referrer"
        assert first.headers["cache-control"] == "no-store"
        with tab.page.expect_navigation():
            tab.page.locator("main ul.items a").first.click()
        assert "/l/" in tab.page.url and tab.page.url != base + items
        assert tab.page.evaluate("document.referrer") == ""
    paths = [path for path, _ in arrived_with]
    assert paths[0] == items and "/static/yotqa.css" in paths and len(paths) >= 3, paths
    assert not [(p, h[b"referer"]) for p, h in arrived_with if h.get(b"referer")]
