"""The people's pages in a real browser (headless Chromium through Playwright), as
tests/test_web_browser_*.py open them: the browser, axe-core (WCAG 2.1 AA), one person's tab,
the app on a real port.

Skips when Chromium, Playwright or axe-core is missing, unless YOTQA_REQUIRE_CHROMIUM=1 (then it
fails). axe-core is installed from tests/a11y/package-lock.json (npm ci) on first use. PNGs of
every page type go to /tmp/yotqa-shots/<backend>/ to be looked at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests import web_world
from tests.browser import ARGS, chromium
from tests.smtp import free_port
from tests.web_world import World, app_for, served

A11Y = Path(__file__).resolve().parent / "a11y"
AXE = A11Y / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path("/tmp/yotqa-shots")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


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
