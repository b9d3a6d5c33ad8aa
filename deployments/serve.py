"""`yotqa serve`: a local Prefect server (when none is configured) and every deployment served.

The server runs as a child process with its state under var/prefect/ and its output in
var/prefect-server.log, so the terminal shows only what an admin needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from models.errors import ConfigError
from models.settings import get_settings
from tasks.outputs import Outputs

SERVER_START_TIMEOUT = 90
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _answers(url: str) -> bool:
    """Whether a health check on this machine answers 200 (a Prefect server, the people's pages)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback URL)
            return response.status == 200
    except OSError:
        return False


def _healthy(api_url: str) -> bool:
    return _answers(f"{api_url}/health")


def _healthy_web(base: str) -> bool:
    return _answers(f"{base}/healthz")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def local_server(host: str, port: int) -> Iterator[str]:
    """Start `prefect server start` unless PREFECT_API_URL names a server; yield the API URL."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        if not _healthy(configured):
            raise ConfigError(
                f"PREFECT_API_URL={configured} does not answer at /health: start that server first"
            )
        yield configured
        return
    if host not in LOOPBACK and not os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
        raise ConfigError(
            f"the Prefect server would listen on {host}, beyond this machine, with no password: "
            "set PREFECT_SERVER_API_AUTH_STRING='admin:a-long-secret' (and PREFECT_API_AUTH_STRING "
            "to the same on every client), or keep --host 127.0.0.1"
        )
    # Not a bind: the address a client on this machine uses when the server listens everywhere.
    wildcard = ("0.0.0.0", "::")  # noqa: S104
    api_url = f"http://{'127.0.0.1' if host in wildcard else host}:{port}/api"
    if _healthy(api_url):
        raise ConfigError(f"something already answers on {host}:{port}: stop it, or choose --port")
    outputs = Outputs.configured()
    home = outputs.prefect_home
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        # Create runs up to 400 days ahead (default 100), so every timetable deployment, the
        # annual ones too, shows its next run in the UI.
        "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": "P400D",
    }
    log_path = outputs.prefect_log
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "prefect"),
                "server",
                "start",
                "--host",
                host,
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _healthy(api_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"the Prefect server did not start: see {log_path}")
            time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = api_url
        yield api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        _stop(process)


@contextmanager
def web_pages(as_of: date | None = None) -> Iterator[str]:
    """`yotqa web` beside the Prefect server, listening where YOTQA_WEB_URL says the emails
    link to; its output in var/web.log. Yields the base URL."""
    from urllib.parse import urlsplit

    settings = get_settings()
    where = urlsplit(settings.web_url)
    host, port = where.hostname or "127.0.0.1", where.port or 8400
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    if _healthy_web(base):
        raise ConfigError(f"something already answers on {base}: stop it, or set YOTQA_WEB_URL")
    log_path = Outputs(settings.output_dir).web_log
    command = [
        str(Path(sys.executable).parent / "yotqa"),
        "web",
        "--host",
        host,
        "--port",
        str(port),
    ]
    if as_of:
        command += ["--as-of", as_of.isoformat()]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while not _healthy_web(base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"the people's pages did not start: see {log_path}")
            time.sleep(0.3)
        yield base
    finally:
        _stop(process)


def due_now(start: date) -> list[tuple[str, date]]:
    """This month's timetable runs due by `start` (each for its own date, in timetable order),
    then today's chase: what a service starting today would have run already."""
    from tasks.timetable import load_timetable, runs_between
    from tasks.workdays import Month, is_working_day

    timetable = load_timetable(get_settings().timetable_file)
    due: list[tuple[str, date]] = []
    for run in runs_between(timetable, Month.of(start).first_day, 1):
        if run.run_on <= start and (run.entry.flow, run.run_on) not in due:
            due.append((run.entry.flow, run.run_on))
    if is_working_day(start):
        due += [(e.flow, start) for e in timetable.daily]
    return due


def trigger_in_order(
    runs: list[tuple[str, date]],
    announce: Callable[[str], None],
    then: Callable[[], None] | None = None,
) -> None:
    """Once `serve` has registered the deployments, run each in turn (in a background thread),
    waiting for one to finish before starting the next: later jobs build on earlier ones; then
    call `then`."""

    def worker() -> None:
        from prefect.deployments import run_deployment

        for flow, day in runs:
            name = f"{flow}/{flow}"
            for _ in range(120):
                try:
                    run = run_deployment(name, parameters={"as_of": day.isoformat()})
                    break
                except Exception:  # noqa: BLE001  (not registered yet: try again shortly)
                    time.sleep(1)
            else:
                announce(f"Could not start {flow}: it was never registered")
                return
            state = run.state.name if run.state else "unknown"
            announce(f"Ran {flow} for {day}: {state} (flow run {run.name})")
        if then is not None:
            then()

    threading.Thread(target=worker, daemon=True).start()


def serve_all(
    start: date,
    announce: Callable[[str], None],
    *,
    run_due: bool,
    only: str | None = None,
    then: Callable[[], None] | None = None,
) -> None:
    """Serve every deployment until interrupted (Ctrl+C); deployments stay unpaused on exit.

    With `run_due`, first run what is due by `start` (`only` that flow, if given), then `then`."""
    from prefect import serve

    from deployments.build import build_deployments

    deployments = build_deployments(start)
    if run_due or only:
        due = [(f, d) for f, d in due_now(start) if only is None or f == only]
        announce(
            f"Running what is due by {start}: " + ", ".join(f"{f} ({d})" for f, d in due) + "."
        )
        trigger_in_order(due, announce, then)
    serve(*deployments, pause_on_shutdown=False, print_starting_message=False)
