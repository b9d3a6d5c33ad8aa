"""The people's pages in a real browser (headless Chromium through Playwright,
tests/web_browser_world.py): a phone, the pages no email leads to (axe-core, WCAG 2.1 AA),
and no referrer leaving a page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlmodel import select

from models import Audit, SupportNeed
from models.enums import NeedScope
from tasks.links import ACKNOWLEDGE, ACTION_DONE, ITEMS, NOT_DONE, RECORD, REVIEW
from tasks.sampling.monthly import sample_month
from tests.web_browser_world import PHONE, Person
from tests.web_browser_world import axe_script as _axe_script
from tests.web_browser_world import browser as _browser
from tests.web_browser_world import person as _person
from tests.web_browser_world import serve as _serve
from tests.web_browser_world import shots as _shots
from tests.web_world import WORLD, World

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

# The browser's fixtures (tests/web_browser_world.py), for this module's tests.
axe_script, browser, person, serve, shots = _axe_script, _browser, _person, _serve, _shots

FORGED = "/l/forgedAAAAAAAAAAAAAAAAAAA." + "B" * 43


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
