"""The national estate benchmark's processes (benchmarks/national_estate.py): a Prefect server,
its workers and `yotqa` commands started as process groups, and what they use, read from /proc
(psutil is not installed with Prefect)."""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from models.settings import normalise_database_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_s(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            continue
    return total / TICK


def postgres_backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving `database` (named in their process titles)."""
    found = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmd.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text.startswith("postgres:") and f" {database} " in text:
            found.append(int(cmd.parent.name))
    return found


@dataclass
class Sampler:
    """Peak memory and CPU seconds of a process tree (and some PostgreSQL backends) over a phase."""

    pid: int
    database: str
    peak_mb: float = 0
    peak_pg_mb: float = 0
    cpu_start: float = 0
    cpu_end: float = 0
    pg_cpu: dict[int, tuple[float, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        pids = tree(self.pid)
        self.peak_mb = max(self.peak_mb, rss_mb(pids))
        self.cpu_end = cpu_s(pids)
        backends = postgres_backends(self.database)
        self.peak_pg_mb = max(self.peak_pg_mb, rss_mb(backends))
        for b in backends:
            now = cpu_s([b])
            first = self.pg_cpu.get(b, (now, now))[0]
            self.pg_cpu[b] = (first, now)

    def __enter__(self) -> Sampler:
        self.cpu_start = self.cpu_end = cpu_s(tree(self.pid))
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def cpu(self) -> float:
        return self.cpu_end - self.cpu_start

    @property
    def postgres_cpu(self) -> float:
        return sum(end - start for start, end in self.pg_cpu.values())


@dataclass
class Estate:
    folder: Path
    env: dict[str, str]
    api: str
    prefect_db: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> int:
        log = (self.folder / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
        return self.processes[name].pid

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def request(self, method: str, path: str, body: Any = None, timeout: float = 120) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 (loopback)
            text = response.read()
        return json.loads(text) if text else None

    def start_server(self, scheduler: bool, settings: dict[str, str]) -> tuple[int, float]:
        """The server, with its scheduler on or off; its pid and when it answered."""
        env = (
            self.env
            | settings
            | {
                "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.prefect_db,
                "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true" if scheduler else "false",
            }
        )
        port = self.api.rsplit(":", 1)[1].split("/")[0]
        pid = self.start("server", ["prefect", "server", "start", "--host", "127.0.0.1",
                                    "--port", port], env)  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                self.request("GET", "/health", timeout=5)
                return pid, time.monotonic()
            except OSError:
                if self.processes["server"].poll() is not None:
                    raise RuntimeError(
                        "the Prefect server stopped:\n" + self.log("server")[-3000:]
                    ) from None
                time.sleep(0.5)
        raise RuntimeError(
            "the Prefect server did not answer in 3 minutes:\n" + self.log("server")[-3000:]
        )

    def count_runs(self, state: str | None = None) -> int:
        body = {"flow_runs": {"state": {"type": {"any_": [state]}}}} if state else {}
        return int(self.request("POST", "/flow_runs/count", body))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """Median, 95th percentile and worst."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def machine(postgres: str) -> str:
    import prefect

    memory = next(
        int(line.split()[1]) / 1024**2
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    engine = sa.create_engine(normalise_database_url(postgres))
    with engine.connect() as c:
        pg = str(c.execute(sa.text("SHOW server_version")).scalar())
    engine.dispose()
    return (
        f"{os.cpu_count()} cores, {memory:.1f} GiB memory, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, PostgreSQL {pg}, "
        f"Prefect {prefect.__version__}"
    )
