"""Headless Chromium (Debian's package) for checking pages for real: text and screenshots."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# Chromium quiet and self-contained, however it is driven (here, or by Playwright).
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FLAGS = [
    "--headless",
    *ARGS,
    "--window-size=1400,1600",
    "--virtual-time-budget=20000",  # let the page's scripts fetch and render
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("YOTQA_REQUIRE_CHROMIUM"):
        pytest.fail("chromium is not installed: apt-get install chromium")
    pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")


def _run(*args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "TZ": "Europe/London"},  # times shown as the service sees them
        )
    return done.stdout


def page_text(url: str) -> str:
    """The rendered page's visible text, whitespace collapsed."""
    html = _run("--dump-dom", url)
    html = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def screenshot(url: str, path: Path) -> Path:
    _run(f"--screenshot={path}", url)
    return path
