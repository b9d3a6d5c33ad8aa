"""O1 end to end (issue 16): `yotqa serve` with YOTQA_ADMIN_EMAILS set watches its own runs.

A run whose process is killed (crashed), a run that fails because the product's database was
made unreachable, and a run nobody picks up (its deployment in a work pool no worker polls) each
reach the admins as one email through a real SMTP conversation (aiosmtpd), while the database
is still away: the alert does not go through the outbox table. A scheduled run cancelled on
purpose is not alerted. Once the database is back, the failed job re-run for the same period
completes and the admins are told "all clear". No email carries a young person's name or the
database's password.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from tests.demo_service import Demo, DemoTemplates
from tests.smtp import Recorder, free_port, smtp_server, text_of

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVICE = Demo(seed=21, as_of=date(2026, 9, 25))
PASSWORD = "pw-never-in-an-alert-4711"  # trust auth ignores it; the alerts must not show it
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class Served:
    """`yotqa serve` on a free port, its output collected, and its Prefect API."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [str(BIN / "yotqa"), "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()  # type: ignore[arg-type]

    def output(self) -> str:
        return "".join(self.lines)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        for attempt in range(10):  # a SQLite-backed server under load answers 503 for a moment
            try:
                with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 (loopback)
                    text = response.read()
                return json.loads(text) if text else None
            except urllib.error.HTTPError as exc:
                if exc.code != 503 or attempt == 9:
                    raise
                time.sleep(1)
        raise AssertionError("unreachable")

    def deployment(self, flow: str) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while True:
            try:
                return dict(self.request("GET", f"/deployments/name/{flow}/{flow}"))
            except OSError:
                assert self.process.poll() is None, self.output()
                assert time.monotonic() < deadline, "never served:\n" + self.output()
                time.sleep(0.5)

    def trigger(self, flow: str, when: datetime | None = None, **parameters: Any) -> str:
        body: dict[str, Any] = {"parameters": parameters}
        if when is not None:
            body["state"] = {
                "type": "SCHEDULED",
                "state_details": {"scheduled_time": when.isoformat()},
            }
        found = self.deployment(flow)
        return str(self.request("POST", f"/deployments/{found['id']}/create_flow_run", body)["id"])

    def state(self, run_id: str) -> str:
        return str(self.request("GET", f"/flow_runs/{run_id}")["state_type"])

    def wait(self, run_id: str, states: set[str], timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while (state := self.state(run_id)) not in states:
            assert time.monotonic() < deadline, f"{run_id} stayed {state}:\n{self.output()}"
            time.sleep(0.2)
        return state

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def _processes_of(run_id: str) -> list[int]:
    """The flow run's own processes (the runner starts them with its id in their environment)."""
    marker = f"PREFECT__FLOW_RUN_ID={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    assert found, f"no process runs {run_id}"
    return found


def _alerts(recorder: Recorder) -> list[Any]:
    """The alerts and all clears among the emails (the jobs' own emails go to the same server)."""
    return [m for m in recorder.messages if str(m["Subject"]).startswith("yotqa ")]


def _wait_for(recorder: Recorder, count: int, served: Served, timeout: float = 60) -> list[Any]:
    deadline = time.monotonic() + timeout
    while len(_alerts(recorder)) < count:
        assert time.monotonic() < deadline, (
            f"{len(_alerts(recorder))} of {count} alerts: "
            f"{[m['Subject'] for m in recorder.messages]}\n{served.output()}"
        )
        time.sleep(0.2)
    return _alerts(recorder)


@pytest.fixture
def product(postgres_server: str, demo_templates: DemoTemplates, tmp_path: Path) -> Iterator[str]:
    url, drop = demo_templates.copy_postgres(SERVICE, postgres_server, tmp_path / "var")
    yield url
    drop()


def _rename(url: str, old: str, new: str) -> None:
    """Rename a database, its connections ended: the product's URL no longer reaches it."""
    admin = sa.make_url(url).set(drivername="postgresql", database="postgres", password=None)
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [old]
        )
        c.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')


@pytest.mark.slow
@pytest.mark.postgres
def test_o1_served_runs_that_crash_fail_or_wait_reach_the_admins_once_then_all_clear(
    product: str, tmp_path: Path
) -> None:
    with_password = sa.make_url(product).set(password=PASSWORD)
    engine = sa.create_engine(with_password)
    with engine.connect() as c:
        names = [n for (n,) in c.execute(sa.text('SELECT young_person_name FROM "case"')) if n]
    engine.dispose()
    assert names
    with smtp_server() as (recorder, smtp_port):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "YOTQA_"))}
        env |= {
            "YOTQA_DATABASE_URL": with_password.render_as_string(hide_password=False),
            "YOTQA_OUTPUT_DIR": str(tmp_path / "var"),
            "YOTQA_ADMIN_EMAILS": "admin@yot.example",
            "YOTQA_SMTP_HOST": "127.0.0.1",
            "YOTQA_SMTP_PORT": str(smtp_port),
            "YOTQA_ALERT_CHECK_SECONDS": "1",
            "DO_NOT_TRACK": "1",
        }
        served = Served(env)
        name = str(sa.make_url(product).database)
        moved = False
        try:
            # Cancelled on purpose: a scheduled run the admin cancels is never alerted.
            cancelled = served.trigger("audits-due", when=datetime.now(UTC) + timedelta(hours=1))
            served.request(
                "POST",
                f"/flow_runs/{cancelled}/set_state",
                {"state": {"type": "CANCELLED", "message": "not needed"}, "force": True},
            )
            # Nobody picks it up: the same flow deployed to a pool no worker polls, due 40
            # minutes ago (YOTQA_ALERT_LATE_MINUTES is 30).
            flow_id = served.deployment("sample-and-assign")["flow_id"]
            served.request("POST", "/work_pools/", {"name": "nobody-polls", "type": "process"})
            orphan = served.request(
                "POST",
                "/deployments/",
                {
                    "name": "orphan",
                    "flow_id": flow_id,
                    "work_pool_name": "nobody-polls",
                    "tags": ["timetable", "T1"],
                },
            )
            due = (datetime.now(UTC) - timedelta(minutes=40)).isoformat()
            late_run = {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": due}}}
            late = str(
                served.request("POST", f"/deployments/{orphan['id']}/create_flow_run", late_run)[
                    "id"
                ]
            )
            _wait_for(recorder, 1, served)
            assert "sample-and-assign" in _alerts(recorder)[0]["Subject"]
            assert "late" in _alerts(recorder)[0]["Subject"]
            # Crashed: the pack's process killed while it runs.
            quarter = served.trigger("quarterly-pack", as_of="2026-10-01")
            served.wait(quarter, {"RUNNING"})
            for pid in _processes_of(quarter):
                os.kill(pid, signal.SIGKILL)
            assert served.wait(quarter, FINAL) == "CRASHED"
            _wait_for(recorder, 2, served)
            assert "quarterly-pack" in _alerts(recorder)[1]["Subject"]
            assert "crashed" in _alerts(recorder)[1]["Subject"]
            # Failed: the product's database made unreachable, the exception report run.
            _rename(product, name, f"{name}_away")
            moved = True
            failed = served.trigger("exception-report", as_of="2026-10-01")
            assert served.wait(failed, FINAL) == "FAILED"
            _wait_for(recorder, 3, served)
            alert = _alerts(recorder)[2]
            assert alert["Subject"] == (
                "yotqa alert: exception-report for 1 October 2026 failed (Youth Offending Team)"
            )
            assert failed in text_of(alert) and "OperationalError" in text_of(alert)
            # Put right: the database back, the job re-run for its period: all clear, once.
            _rename(product, f"{name}_away", name)
            moved = False
            rerun = served.trigger("exception-report", as_of="2026-10-01")
            assert served.wait(rerun, FINAL) == "COMPLETED"
            _wait_for(recorder, 4, served)
            assert _alerts(recorder)[3]["Subject"] == (
                "yotqa all clear: exception-report for 1 October 2026 completed (Youth Offending Team)"
            )
            time.sleep(3)  # three more checks: nothing is told twice
            assert len(_alerts(recorder)) == 4, [m["Subject"] for m in recorder.messages]
            assert served.state(cancelled) == "CANCELLED" and served.state(late) == "SCHEDULED"
        finally:
            served.stop()
            if moved:
                _rename(product, f"{name}_away", name)
    everything = "\n".join(text_of(m) + str(m["Subject"]) for m in recorder.messages)
    assert PASSWORD not in everything
    assert not [n for n in names if n in everything]
    assert "Told the admins: exception-report" in served.output()
