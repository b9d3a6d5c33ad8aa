"""`yotqa serve` (what `make run` ends with), run as an admin would: a real server, then Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import page_text, screenshot
from tests.smtp import free_port
from tests.test_flows import DEPLOYMENTS

ROOT = Path(__file__).resolve().parent.parent


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return response.status
    except OSError:
        return 0


@pytest.mark.slow
@pytest.mark.demo(as_of="2026-11-25")
def test_serve_starts_prefect_runs_the_sample_and_stops_cleanly(
    cli, tmp_path: Path, db_url: str
) -> None:
    """And, with --web, the people's pages beside it, and one manager's link printed (L1)."""
    port, web_port = free_port(), free_port()
    var = tmp_path / "serve-var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        YOTQA_DATABASE_URL=db_url,
        YOTQA_OUTPUT_DIR=str(var),
        YOTQA_WEB_URL=f"http://127.0.0.1:{web_port}",
        DO_NOT_TRACK="1",
    )
    command = ["serve", "--port", str(port), "--run-sample", "--web"]
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "yotqa"), *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while (
            not any("page, as they would" in line for line in lines) and time.monotonic() < deadline
        ):
            assert process.poll() is None, "".join(lines)
            time.sleep(1)
        assert list((var / "outbox").glob("*assignment.eml")), "the first sample sent no email"
        link = next(line for line in lines if "page, as they would" in line).split()[-1]
        assert link.startswith(f"http://127.0.0.1:{web_port}/l/")
        assert _get(link) == 200  # the manager's own list, served beside Prefect
        assert _get(f"http://127.0.0.1:{port}/api/health") == 200
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/deployments/filter",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            deployments = json.load(response)
        assert {d["name"] for d in deployments} == DEPLOYMENTS
        if db_url.startswith("sqlite"):  # the UI does not depend on the product's database
            _check_the_ui(port, deployments, tmp_path)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        reader.join(timeout=10)
    output = "".join(lines)
    assert f"Prefect UI: http://127.0.0.1:{port}" in output
    assert f"People's pages: http://127.0.0.1:{web_port}" in output
    assert "Traceback" not in output
    assert _get(f"http://127.0.0.1:{port}/api/health") == 0  # the server stopped with it
    assert _get(f"http://127.0.0.1:{web_port}/healthz") == 0  # and the pages with it
    web_log = (var / "web.log").read_text()
    assert "/l/[link]" in web_log and link.split("/l/")[1] not in web_log  # no token logged
    assert "Traceback" not in web_log


def _next_runs(port: int, deployment_ids: list[str]) -> dict[str, str]:
    """Each deployment's earliest scheduled run, as the scheduler created it."""
    body = json.dumps(
        {
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
            "deployments": {"id": {"any_": deployment_ids}},
            "sort": "EXPECTED_START_TIME_ASC",
            "limit": 200,
        }
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/flow_runs/filter",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        runs = json.load(response)
    first: dict[str, str] = {}
    for run in runs:
        first.setdefault(run["deployment_id"], run["expected_start_time"])
    return first


def _check_the_ui(port: int, deployments: list[dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    """Open the UI in headless Chromium: every deployment is listed with its timetable rows, and
    each scheduled one has its next run (annual ones too: runs are created 400 days ahead)."""
    ui = f"http://127.0.0.1:{port}"
    text = page_text(f"{ui}/v2/deployments?limit=50")
    assert f"{len(DEPLOYMENTS)} Deployments" in text, text[:500]
    for name in DEPLOYMENTS:
        assert f" {name} " in text, name
    for row in ("T1", "T4", "T9", "T12", "T13"):
        assert f" {row} " in text
    scheduled = {d["id"]: d["name"] for d in deployments if d["name"] != "record-audit"}
    deadline = time.monotonic() + 30
    while set(_next_runs(port, list(scheduled))) != set(scheduled) and time.monotonic() < deadline:
        time.sleep(1)
    missing = set(scheduled) - set(_next_runs(port, list(scheduled)))
    assert not missing, [scheduled[m] for m in missing]
    by_name = {v: k for k, v in scheduled.items()}
    from deployments.build import run_times
    from models.settings import get_settings
    from tasks.timetable import load_timetable
    from tasks.workdays import today

    timetable = load_timetable(get_settings().timetable_file)
    t12 = run_times(timetable, "appraisal-objectives", today())[0]  # months ahead: annual
    detail = page_text(f"{ui}/v2/deployments/deployment/{by_name['appraisal-objectives']}")
    assert "Next Run" in detail and f"{t12:%Y/%m/%d %H:%M:%S}" in detail, detail[:800]
    shot = screenshot(f"{ui}/v2/deployments?limit=50", tmp_path / "deployments.png")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_serve_refuses_to_listen_beyond_loopback_without_an_auth_string(
    monkeypatch, tmp_path: Path, settings_env
) -> None:
    """The Prefect API has one shared credential and no roles: never open to the network bare."""
    from tests.conftest import Cli

    cli = Cli(monkeypatch, f"sqlite:///{tmp_path / 'yotqa.db'}")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_API_AUTH_STRING", raising=False)
    assert cli("init").exit_code == 0
    port = free_port()
    result = cli("serve", "--host", "0.0.0.0", "--port", str(port))
    assert result.exit_code == 1
    assert "PREFECT_SERVER_API_AUTH_STRING" in result.stderr and "0.0.0.0" in result.stderr
    assert _get(f"http://127.0.0.1:{port}/api/health") == 0  # nothing was started
