"""`yotqa serve`: a local Prefect server (when none is configured) and every deployment served.

The server runs as a child process with its state under var/prefect/ and its output in
var/prefect-server.log, so the terminal shows only what an admin needs.

Stopping (issue 16): Ctrl+C, a service manager's or container's SIGTERM and a closed terminal's
SIGHUP all take one path (`Stop`). No signal raises anything into Prefect's machinery: the
signal only asks, and each stage looks at the request where it is safe to stop (the server's
start, the deployments' registration) or, once the runner serves, Prefect's own graceful stop
runs (`Runner.astop`: no new runs, the runs in flight cancelled over its control channel and
their processes ended). A run cut off is left Cancelled with a message saying `yotqa serve`
was stopped; the runs `--run-due` created and no one started are cancelled likewise, so the
next start does not run them behind the new ones. Then the logs and events still queued are
sent and the server and the people's pages are stopped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from models.errors import ConfigError
from models.settings import get_settings
from tasks.alerts import CUT_OFF, NOT_STARTED
from tasks.outputs import Outputs

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments.runner import RunnerDeployment

SERVER_START_TIMEOUT = 90
LOOPBACK = ("127.0.0.1", "localhost", "::1")
FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")


class Stopped(Exception):  # noqa: N818 (not an error: the admin asked)
    """Raised where `yotqa serve` can stop safely once a stop was asked for."""


class Stop:
    """The one way `yotqa serve` stops, whatever asks: Ctrl+C (SIGINT), a service manager's or
    container's stop (SIGTERM), a closed terminal (SIGHUP).

    The handler only records the request and wakes the runner's loop (`on_request`); it never
    raises into the code it interrupts (a KeyboardInterrupt raised inside Prefect's event loop
    or its loop threads is what printed CancelledError tracebacks and "Task was destroyed but
    it is pending"). A second signal changes nothing: the stop under way ends everything."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self._asked = threading.Event()
        self.reason = ""
        self._wake: Callable[[], None] | None = None

    @contextmanager
    def installed(self) -> Iterator[Stop]:
        """This stop handles the signals (main thread only) until the block ends."""
        before = {number: signal.getsignal(number) for number in self.SIGNALS}
        for number in self.SIGNALS:
            signal.signal(number, self.handle)
        try:
            yield self
        finally:
            for number, handler in before.items():
                signal.signal(number, handler)

    def handle(self, signum: int, _frame: object = None) -> None:
        if not self._asked.is_set():
            self.reason = "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name
            self._asked.set()
        wake = self._wake
        if wake is not None:
            wake()

    @property
    def requested(self) -> bool:
        return self._asked.is_set()

    def check(self) -> None:
        if self.requested:
            raise Stopped(self.reason)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking at once on a stop; whether one was asked for."""
        return self._asked.wait(seconds)

    def on_request(self, wake: Callable[[], None] | None) -> None:
        """Call `wake` (thread-safe, cheap) on a stop, at once if one was already asked for."""
        self._wake = wake
        if wake is not None and self.requested:
            wake()

    @property
    def message(self) -> str:
        """The state message of a run the stop cut off."""
        return (
            f"{CUT_OFF} `yotqa serve` was stopped ({self.reason or 'asked to stop'}) while this "
            "run was going. Run it again (`yotqa serve --run-due` runs what is due)."
        )

    @property
    def not_started_message(self) -> str:
        return (
            f"{NOT_STARTED} `yotqa serve` was stopped ({self.reason or 'asked to stop'}) before "
            "this run began. `yotqa serve --run-due` runs what is due."
        )


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
def local_server(host: str, port: int, stop: Stop | None = None) -> Iterator[str]:
    """Start `prefect server start` unless PREFECT_API_URL names a server; yield the API URL.

    While the server starts, a `stop` ends the wait (raising `Stopped`) and the server with it."""
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
            if stop is not None:
                stop.check()
            if process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"the Prefect server did not start: see {log_path}")
            if stop is not None:
                stop.wait(0.5)
            else:
                time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = api_url
        yield api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        _stop(process)


@contextmanager
def web_pages(as_of: date | None = None, stop: Stop | None = None) -> Iterator[str]:
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
            if stop is not None:
                stop.check()
            if process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"the people's pages did not start: see {log_path}")
            if stop is not None:
                stop.wait(0.3)
            else:
                time.sleep(0.3)
        yield base
    finally:
        _stop(process)


@contextmanager
def alert_watcher() -> Iterator[bool]:
    """`yotqa alerts watch` as a child process beside `yotqa serve`'s server, while it serves
    (its lines in serve's output); yields whether alerts are on (YOTQA_ADMIN_EMAILS set). A
    process of its own reads PREFECT_API_URL as serve set it (Prefect imported here, before
    the server started, would keep the settings it found then); it takes SIGTERM cleanly."""
    if not get_settings().admin_emails:
        yield False
        return
    command = [str(Path(sys.executable).parent / "yotqa"), "alerts", "watch"]
    process = subprocess.Popen(command, start_new_session=True)
    try:
        yield True
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
    stop: Stop,
    then: Callable[[], None] | None = None,
) -> threading.Thread:
    """Once `serve` has registered the deployments, run each in turn (in a background thread),
    waiting for one to finish before starting the next: later jobs build on earlier ones; then
    call `then`. On a stop the thread ends within a second; the run it created that the runner
    has not started yet is cancelled (one that started, the runner's stop cancels)."""

    def worker() -> None:
        from prefect.client.orchestration import get_client
        from prefect.deployments import run_deployment

        with get_client(sync_client=True) as client:
            for flow, day in runs:
                name = f"{flow}/{flow}"
                run: FlowRun | None = None
                for _ in range(120):
                    if stop.requested:
                        return
                    try:
                        run = cast(
                            "FlowRun",
                            run_deployment(name, parameters={"as_of": day.isoformat()}, timeout=0),
                        )
                        break
                    except Exception:  # noqa: BLE001  (not registered yet: try again shortly)
                        stop.wait(1)
                if run is None:
                    announce(f"Could not start {flow}: it was never registered")
                    return
                state = run.state
                while not (state and state.is_final()):
                    if stop.wait(1):
                        _cancel_if_not_started(client, run.id, stop)
                        return
                    state = client.read_flow_run(run.id).state
                announce(f"Ran {flow} for {day}: {state.name} (flow run {run.name})")
        if then is not None and not stop.requested:
            then()

    thread = threading.Thread(target=worker, name="yotqa-run-due", daemon=True)
    thread.start()
    return thread


def _cancel_if_not_started(client: Any, flow_run_id: UUID, stop: Stop) -> None:
    """A run still Scheduled when `yotqa serve` stops would start at the next start, beside the
    ones `--run-due` creates then: cancel it, saying why."""
    from prefect.states import Cancelled

    try:
        run = client.read_flow_run(flow_run_id)
        if run.state and run.state.type.value == "SCHEDULED":
            client.set_flow_run_state(flow_run_id, Cancelled(message=stop.not_started_message))
    except Exception:  # noqa: BLE001, S110  (the server may be going: nothing more to do)
        pass


def _stoppable_runner(stop: Stop, announce: Callable[[str], None]) -> Any:
    """Prefect's `Runner` (what `prefect.serve` runs), stopped the one way for every signal."""
    import anyio
    from prefect.runner import Runner

    cut_off: set[UUID] = set()

    class StoppableRunner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            # `Runner.start` installs this for SIGTERM. Prefect's own raises SystemExit inside
            # the event loop when the runner is still starting; here SIGTERM is Ctrl+C.
            stop.handle(signal.SIGTERM)

        async def cancel_all(self) -> None:
            """What `astop` calls: end every run in flight at once (the intent over Prefect's
            control channel, then SIGTERM to its process) and leave it Cancelled with
            `stop.message` instead of Prefect's "Runner is shutting down."."""
            fresh = self._process_manager.flow_run_ids() - cut_off
            cut_off.update(fresh)
            async with anyio.create_task_group() as group:
                for flow_run_id in fresh:
                    group.start_soon(self._end, flow_run_id)

        async def _end(self, flow_run_id: UUID) -> None:
            try:
                await self._cancel_run(flow_run_id, state_msg=stop.message)
            except Exception as error:  # noqa: BLE001  (one run's trouble must not stop the rest)
                self._logger.warning("Could not end flow run %s: %s", flow_run_id, error)

        async def stop_serving(self, serving: asyncio.Task[None]) -> None:
            """Prefect's graceful stop, once the runner has started; then the runs that were
            being started as the stop came are ended too, until the runner has returned."""
            announce(f"Stopping ({stop.reason}): ending the runs in flight, then the server.")
            while not self.started and not serving.done():
                await asyncio.sleep(0.1)
            if self.started:
                await self.astop()
            while not serving.done():
                await self.cancel_all()
                await asyncio.wait({serving}, timeout=0.5)

    return StoppableRunner(pause_on_shutdown=False)


async def _serve_until_stopped(
    deployments: list[RunnerDeployment],
    stop: Stop,
    announce: Callable[[str], None],
    served: Callable[[], None],
) -> None:
    """Register the deployments, call `served`, and run Prefect's runner until a stop."""
    loop = asyncio.get_running_loop()
    asked = asyncio.Event()

    def wake() -> None:  # from the signal handler, on this (the main) thread
        with suppress(RuntimeError):  # the loop has closed: nothing left to wake
            loop.call_soon_threadsafe(asked.set)

    stop.on_request(wake)
    try:
        runner = _stoppable_runner(stop, announce)
        for deployment in deployments:
            if stop.requested:
                return
            await runner.add_deployment(deployment)
        if stop.requested:
            return
        served()
        serving = asyncio.create_task(runner.start())
        waiting = asyncio.create_task(asked.wait())
        try:
            await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if not serving.done():
                await runner.stop_serving(serving)
            await serving
        finally:
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
    finally:
        stop.on_request(None)


def _send_what_is_queued() -> None:
    """Send the logs and events still queued while the server is up: at exit they would be
    retried against a stopped server for a minute and end in "Error logging to API"."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)


def serve_all(
    start: date,
    announce: Callable[[str], None],
    *,
    stop: Stop,
    run_due: bool,
    only: str | None = None,
    then: Callable[[], None] | None = None,
) -> None:
    """Serve every deployment until `stop` (Ctrl+C, SIGTERM, SIGHUP); deployments stay unpaused.

    With `run_due`, first run what is due by `start` (`only` that flow, if given), then `then`."""
    from deployments.build import build_deployments

    deployments = build_deployments(start)
    stop.check()
    triggered: list[threading.Thread] = []

    def served() -> None:
        if run_due or only:
            due = [(f, d) for f, d in due_now(start) if only is None or f == only]
            announce(
                f"Running what is due by {start}: " + ", ".join(f"{f} ({d})" for f, d in due) + "."
            )
            triggered.append(trigger_in_order(due, announce, stop, then))

    try:
        asyncio.run(_serve_until_stopped(deployments, stop, announce, served))
    finally:
        for thread in triggered:
            if stop.requested:
                thread.join(timeout=15)
        _send_what_is_queued()
