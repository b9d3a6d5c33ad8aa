"""Issue 16 (part 2): `yotqa serve` stopped with SIGTERM, as systemd or a container stop does.

Ten SIGTERMs in a row to one `yotqa serve` after another, sharing one product database and
one Prefect home: while the server starts, while the deployments are registered, idle, and in
the middle of a flow run. Each time: no traceback (nor CancelledError, nor "Task was destroyed")
in its output, the server's log or the people's pages' log; no process of it left (the server,
the pages, the flow-run processes); and a run cut off is left Cancelled with a message saying
`yotqa serve` was stopped (read on the next start, through the Prefect API).
"""

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

from tests.smtp import free_port
from tests.test_flows import DEPLOYMENTS

ROOT = Path(__file__).resolve().parent.parent
BAD = ("Traceback", "CancelledError", "Task was destroyed", "Error logging to API")

# (when the SIGTERM is sent, what the round runs with, whether it starts its own Prefect server);
# "check" rounds are idle ones that also read the state of the run the previous round cut off.
# The first three start and stop their own server, as `make run` does; the rest are served to
# one server started here (as with PREFECT_API_URL set), which saves a server start a round.
ROUNDS = [
    ("starting", ["--web"], True),
    ("mid-run", ["--run-sample", "--web"], True),
    ("idle+check", ["--web"], True),
    ("registering", ["--run-sample"], False),
    ("mid-run", ["--run-sample"], False),
    ("idle+check", [], False),
    ("registering", [], False),
    ("mid-run", ["--run-sample"], False),
    ("idle+check", [], False),
    ("idle", [], False),
]


def _api(port: int, path: str, body: dict | None = None) -> object:  # type: ignore[type-arg]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return json.load(response)


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every process: pid -> (parent pid, session id, state)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            found[int(entry.name)] = (int(fields[1]), int(fields[3]), fields[0])
    return found


def _family(pid: int) -> set[int]:
    """`pid`, its descendants, and every process in a session one of them leads (the server and
    the pages run in their own sessions; a flow run's process in serve's)."""
    table = _processes()
    family, grew = {pid}, True
    while grew:
        children = {p for p, (parent, _, _) in table.items() if parent in family} - family
        family |= children
        grew = bool(children)
    sessions = {table[p][1] for p in family if p in table}
    return family | {p for p, (_, session, _) in table.items() if session in sessions}


def _alive(pids: set[int]) -> set[int]:
    table = _processes()
    return {p for p in pids if p in table and table[p][2] != "Z"}


class Serve:
    """One `yotqa serve` in its own session, its output collected as it comes."""

    def __init__(self, number: int, env: dict[str, str], port: int, options: list[str]):
        self.number = number
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "yotqa"), "serve", "--port", str(port), *options],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own session: its flow-run processes are found by it
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        self.lines.extend(self.process.stdout)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, seconds: float = 150) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if text in line), None)
            if found:
                return found
            assert self.process.poll() is None, self.output
            time.sleep(0.05)
        raise AssertionError(f"round {self.number}: no {text!r} in\n{self.output}")

    def sigterm(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        finally:
            self.reader.join(timeout=10)


@pytest.mark.slow
@pytest.mark.demo(as_of="2026-11-25")
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_ten_times_stops_cleanly_and_says_which_run_it_cut_off(
    cli, tmp_path: Path, db_url: str
) -> None:
    """Issue 16: SIGTERM ten times in a row, idle and in the middle of a run."""
    var = tmp_path / "serve-var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        YOTQA_DATABASE_URL=db_url,
        YOTQA_OUTPUT_DIR=str(var),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    own_port = free_port()  # the rounds with their own server share its state (var/prefect)
    shared_port = free_port()
    shared_env = {**env, "PREFECT_HOME": str(tmp_path / "shared-home")}
    shared = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
         "--port", str(shared_port)],
        env=shared_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    cut_off: list[str] = []  # the flow runs the mid-run rounds stopped, in order
    checked = 0
    started = time.monotonic()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _api(shared_port, "/health")
                break
            except OSError:
                assert time.monotonic() < deadline and shared.poll() is None, "no shared server"
                time.sleep(0.5)
        for number, (when, options, own) in enumerate(ROUNDS, 1):
            port = own_port if own else shared_port
            env["YOTQA_WEB_URL"] = f"http://127.0.0.1:{free_port()}"
            if own:
                env.pop("PREFECT_API_URL", None)
            else:
                env["PREFECT_API_URL"] = f"http://127.0.0.1:{shared_port}/api"
            checked += _round(number, when, Serve(number, env, port, options), port, var, cut_off)
    finally:
        shared.send_signal(signal.SIGTERM)
        try:
            shared.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(shared.pid, signal.SIGKILL)
            shared.wait(10)
    assert checked >= 1, "no round cut a run off: each finished before its SIGTERM"
    print(f"ten stops in {time.monotonic() - started:.0f} s")


def _round(number: int, when: str, serve: Serve, port: int, var: Path, cut_off: list[str]) -> int:
    """Stop one `yotqa serve` with SIGTERM at `when` and check it ended cleanly; 1 if it read
    the previous round's cut-off run as Cancelled by the stop."""
    checked = 0
    for log in ("prefect-server.log", "web.log"):
        (var / log).unlink(missing_ok=True)
    family: set[int] = set()
    try:
        if when == "starting":
            serve.wait_for("Starting a local Prefect server")
            time.sleep(1)
        elif when == "registering":
            serve.wait_for("Serving the timetable's deployments")
        elif when == "mid-run":
            line = serve.wait_for("runs/flow-run/")
            cut_off.append(line.split("runs/flow-run/")[1].split()[0])
        else:  # idle: the runner serves every deployment, nothing runs
            serve.wait_for("Serving the timetable's deployments")
            deadline = time.monotonic() + 60
            while len(_api(port, "/deployments/filter", {})) < len(DEPLOYMENTS):  # type: ignore[arg-type]
                assert time.monotonic() < deadline, "the deployments were never registered"
                time.sleep(0.5)
            time.sleep(1.5)  # the runner's loop is up
            if when == "idle+check":
                state = _api(port, f"/flow_runs/{cut_off[-1]}")["state"]  # type: ignore[index]
                assert state["type"] in ("CANCELLED", "COMPLETED"), (number, state)
                if state["type"] == "CANCELLED":  # not finished before the stop came
                    assert "`yotqa serve` was stopped (SIGTERM)" in state["message"], state
                    checked = 1
        family = _family(serve.process.pid)
    finally:
        serve.sigterm()
    logs = {
        log: (var / log).read_text()
        for log in ("prefect-server.log", "web.log")
        if (var / log).exists()
    }
    for where, text in {"output": serve.output, **logs}.items():
        found = [bad for bad in BAD if bad in text]
        assert not found, f"round {number} ({when}), {where}: {found}\n{text}"
    assert serve.process.returncode == 0, serve.output
    assert "Stopped: " in serve.output, serve.output
    time.sleep(0.3)
    left = _alive(family - {serve.process.pid})
    assert not left, f"round {number} ({when}) left {left}"
    return checked
