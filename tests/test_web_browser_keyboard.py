"""The people's pages in a real browser (headless Chromium through Playwright,
tests/web_browser_world.py): the keyboard, with the focus always visible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.links import RECORD
from tests.web_browser_world import Person
from tests.web_browser_world import axe_script as _axe_script
from tests.web_browser_world import browser as _browser
from tests.web_browser_world import person as _person
from tests.web_browser_world import serve as _serve
from tests.web_browser_world import shots as _shots
from tests.web_world import WORLD, World

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

# The browser's fixtures (tests/web_browser_world.py), for this module's tests.
axe_script, browser, person, serve, shots = _axe_script, _browser, _person, _serve, _shots


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
