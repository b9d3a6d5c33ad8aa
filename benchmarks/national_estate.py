"""The national estate on one server (issue 16): 150 services, one Prefect server, two workers.

    .venv/bin/python benchmarks/national_estate.py --services 150 [--postgres SERVER_URL]
    .venv/bin/python benchmarks/national_estate.py --services 5      # a quick check (5 min)

A Prefect server on a PostgreSQL database of its own; N services, each a copy of one demo
service's SQLite database with its own output folder and env file, deployed with
`yotqa deploy --service NAME --env-file FILE` into one shared process work pool; two process
workers on that pool started with no YOTQA_* settings (each run names its service's env file).
Measured, in order:

1. deploying all N services (`yotqa deploy` processes, `--deploy-at-once` side by side);
2. the scheduler creating the runs ahead (server restarted with the scheduler on): how long,
   the server's memory (process tree) and CPU, PostgreSQL's backends for its database;
3. the deployments page's API calls with N x 18 deployments (median, 95th percentile);
4. a busy morning: the first working day of a quarter (1 October 2026, the demo's data being
   "as of" 25 September), every service's sample, exception report and quarterly pack created
   at once, scheduled a minute ahead: until the last completes, lateness per run, none lost or
   run twice, every service's sample in its own database and its files in its own folder.

Every process started here is stopped by its process group at the end (also on failure) and the
Prefect database dropped. Prints figures, records them for results.py; asserts nothing but says
what did not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from benchmarks.import_cases import scratch_postgres  # noqa: E402
from benchmarks.record import record  # noqa: E402
from models.settings import normalise_database_url  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POOL = "yotqa_shared"
AS_OF = "2026-10-01"  # the first working day of 2026-Q4; the demo is made as of 2026-09-25
DEMO_AS_OF, DEMO_SEED = "2026-09-25", 21
MORNING = ("sample-and-assign", "exception-report", "quarterly-pack")
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
TICK = os.sysconf("SC_CLK_TCK")


# ---- processes and their resources, read from /proc (psutil is not installed with Prefect)


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


# ---- the services


def demo_template(folder: Path, env: dict[str, str]) -> Path:
    """One demo service's SQLite database, made by `yotqa init` and `yotqa demo-data`."""
    db = folder / "template.db"
    settings = env | {
        "YOTQA_DATABASE_URL": f"sqlite:///{db}",
        "YOTQA_OUTPUT_DIR": str(folder / "template-var"),
    }
    for args in (["init"], ["demo-data", "--seed", str(DEMO_SEED), "--as-of", DEMO_AS_OF]):
        subprocess.run([str(BIN / "yotqa"), *args], cwd=ROOT, env=settings, check=True,
                       capture_output=True)  # fmt: skip
    return db


def make_services(folder: Path, template: Path, count: int) -> list[tuple[str, Path]]:
    """Service NAME's own copy of the database, output folder and env file, for each service."""
    services = []
    for n in range(1, count + 1):
        name = f"s{n:03d}"
        home = folder / name
        (home / "var").mkdir(parents=True)
        shutil.copy(template, home / "yotqa.db")
        env_file = home / "yotqa.env"
        env_file.write_text(
            f"YOTQA_DATABASE_URL=sqlite:///{home / 'yotqa.db'}\n"
            f"YOTQA_OUTPUT_DIR={home / 'var'}\n"
            f"YOTQA_SERVICE_NAME=Youth Justice Service {n}\n",
            encoding="utf-8",
        )
        services.append((name, env_file))
    return services


def deploy_all(
    estate: Estate, services: list[tuple[str, Path]], at_once: int
) -> tuple[float, list[float]]:
    """`yotqa deploy --service NAME --env-file FILE` for every service, `at_once` side by side."""

    def one(service: tuple[str, Path]) -> float:
        name, env_file = service
        started = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "yotqa"), "deploy", "--service", name, "--env-file", str(env_file),
             "--work-pool", POOL, "--prefect-file", str(env_file.parent / "prefect.yaml")],
            cwd=ROOT, env=estate.env, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"yotqa deploy --service {name} failed:\n{done.stdout}{done.stderr}")
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        each = list(pool.map(one, services))
    return time.perf_counter() - started, each


def wait_for_schedule(estate: Estate, ready: float, quiet: float) -> tuple[float, int]:
    """Seconds from the server answering until its scheduled runs stopped growing for `quiet`
    seconds, and how many there are."""
    last, changed = -1, time.monotonic()
    while True:
        count = estate.count_runs("SCHEDULED")
        if count != last:
            last, changed = count, time.monotonic()
        elif count > 0 and time.monotonic() - changed > quiet:
            return changed - ready, count
        time.sleep(1)


def deployments_page(estate: Estate, repeat: int) -> dict[str, list[float]]:
    """The API calls the Prefect UI's deployments page makes (ui-v2: the paginated list, its
    count, the listed deployments' flows and recent runs), timed `repeat` times each."""
    times: dict[str, list[float]] = {}

    def timed(name: str, method: str, path: str, body: Any) -> Any:
        started = time.perf_counter()
        answer = estate.request(method, path, body)
        times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return answer

    for i in range(repeat):
        page = 1 + i % 5
        listed = timed("deployments/paginate", "POST", "/deployments/paginate",
                       {"page": page, "limit": 10, "sort": "NAME_ASC"})  # fmt: skip
        timed("deployments/count", "POST", "/deployments/count", {})
        timed("deployments/paginate, name search", "POST", "/deployments/paginate",
              {"page": 1, "limit": 10, "sort": "NAME_ASC",
               "deployments": {"flow_or_deployment_name": {"like_": "pack-s0"}}})  # fmt: skip
        ids = [d["id"] for d in listed["results"]]
        flows = sorted({d["flow_id"] for d in listed["results"]})
        timed("flows/filter (listed)", "POST", "/flows/filter", {"flows": {"id": {"any_": flows}}})
        timed("flow_runs/filter (listed deployments' runs)", "POST", "/flow_runs/filter",
              {"deployments": {"id": {"any_": ids}}, "sort": "START_TIME_DESC",
               "limit": 160})  # fmt: skip
    return times


# ---- the busy morning


def busy_morning(estate: Estate, services: list[tuple[str, Path]], lead: float) -> dict[str, Any]:
    """Each service's sample, exception report and quarterly pack, scheduled `lead` s ahead
    (created 4 at a time: 450 one after another took longer than the minute's lead)."""
    wanted = [(name, flow) for name, _env in services for flow in MORNING]
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(
            lambda w: estate.request("GET", f"/deployments/name/{w[1]}/{w[1]}-{w[0]}")["id"], wanted
        ))  # fmt: skip
    when = datetime.now(UTC) + timedelta(seconds=lead)
    state = {"type": "SCHEDULED", "state_details": {"scheduled_time": when.isoformat()}}
    body = {"parameters": {"as_of": AS_OF}, "state": state}
    created = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(
            lambda i: estate.request("POST", f"/deployments/{i}/create_flow_run", body)["id"], ids
        ))  # fmt: skip
    runs = dict(zip(made, wanted, strict=True))
    creating = time.perf_counter() - created
    print(f"  created {len(runs)} runs in {creating:.1f} s, due at {when:%H:%M:%S} UTC")
    if creating > lead:
        print(f"  (creating them took longer than the {lead:.0f} s lead: use a longer --lead)")
    deadline = time.monotonic() + lead + 3600
    while time.monotonic() < deadline:
        seen = []  # the filter answers at most 200 runs: ask in pages
        ids = list(runs)
        for i in range(0, len(ids), 200):
            seen += estate.request("POST", "/flow_runs/filter",
                                   {"flow_runs": {"id": {"any_": ids[i:i + 200]}}, "limit": 200})  # fmt: skip
        if len(seen) == len(runs) and all(r["state_type"] in FINAL for r in seen):
            break
        time.sleep(2)
    return {"when": when, "runs": runs, "seen": {r["id"]: r for r in seen}}


def check_services(services: list[tuple[str, Path]], since: datetime) -> list[str]:
    """What did not hold. Each service's database: October's sample drawn this morning, once (no
    sampler drew twice), every email once and written to its own outbox folder; its own folder:
    the exception report and the quarter's pack, the pack naming its own service (the name is
    only in that service's env file). All services are copies of one database, so all draw alike."""
    from tasks.workdays import Quarter

    quarter = str(Quarter.containing(datetime.fromisoformat(AS_OF).date()).previous())
    problems = []
    counts = set()
    for n, (name, env_file) in enumerate(services, 1):
        home = env_file.parent
        engine = sa.create_engine(f"sqlite:///{home / 'yotqa.db'}")
        with engine.connect() as c:
            runs = c.execute(sa.text(
                "SELECT kind, sampler_id, theme, count(*), min(run_at) FROM samplingrun "
                "WHERE period = '2026-10' GROUP BY kind, sampler_id, theme"
            )).all()  # fmt: skip
            audits = c.execute(
                sa.text("SELECT count(*) FROM audit WHERE period = '2026-10'")
            ).scalar()
            emails = c.execute(sa.text(
                "SELECT kind, CAST(to_addrs AS TEXT), subject, count(*) FROM emailmessage "
                "GROUP BY kind, CAST(to_addrs AS TEXT), subject"
            )).all()  # fmt: skip
        engine.dispose()
        if not runs or any(r[3] != 1 for r in runs):
            problems.append(
                f"{name}: October's sampling runs (kind, sampler, theme, count): {runs}"
            )
        early = [r for r in runs if str(r[4]) < since.strftime("%Y-%m-%d %H:%M")]
        if early:
            problems.append(
                f"{name}: {len(early)} of October's sampling runs were not this morning's"
            )
        if any(e[3] != 1 for e in emails):
            problems.append(
                f"{name}: emails made twice: {[e[:3] for e in emails if e[3] != 1][:3]}"
            )
        written = len(list((home / "var" / "outbox").glob("*.eml")))
        if written != len(emails):
            problems.append(
                f"{name}: {len(emails)} emails in its database, {written} in its outbox"
            )
        counts.add((len(runs), audits, len(emails)))
        packs = list((home / "var").rglob(f"*{quarter}*.md"))
        own = f"Youth Justice Service {n}\n"
        if not packs or not any(own in p.read_text(encoding="utf-8") + "\n" for p in packs):
            problems.append(f"{name}: no {quarter} pack naming its own service in its folder")
        if not list((home / "var").rglob("exceptions-2026-10.*")):
            problems.append(f"{name}: no exception report for 2026-10 in its own folder")
    if len(counts) > 1:
        problems.append(
            f"the services' mornings differ (sampling runs, audits, emails): {sorted(counts)}"
        )
    return problems


def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="yotqa-national-estate-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "YOTQA_"))}
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env |= {
        "PREFECT_HOME": str(folder / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    server_settings = {
        "PREFECT_SERVER_SERVICES_SCHEDULER_DEPLOYMENT_BATCH_SIZE": str(args.scheduler_batch),
        "PREFECT_SERVER_SERVICES_SCHEDULER_INSERT_BATCH_SIZE": str(args.insert_batch),
        "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": args.horizon,
        # Prefect stops at 3 runs a schedule (min_runs) once 1 hour (min_scheduled_time) is
        # covered: the next 100 days are created only when this asks for them.
        "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME": args.min_ahead,
        "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": str(args.max_runs),
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    }
    n = args.services
    print(f"Machine: {machine(args.postgres)}")
    print(f"Scratch folder: {folder}; settings: {json.dumps(server_settings)}; worker limit "
          f"{args.limit}, query every {args.query_seconds} s")  # fmt: skip
    databases = ExitStack()  # the Prefect server's database, dropped at the end
    prefect_url = databases.enter_context(scratch_postgres(args.postgres))
    asyncpg = sa.make_url(prefect_url).set(drivername="postgresql+asyncpg")
    estate = Estate(folder, env, api, asyncpg.render_as_string(hide_password=False))
    database = str(asyncpg.database)
    try:
        started = time.perf_counter()
        template = demo_template(folder, env)
        services = make_services(folder, template, n)
        print(f"{n} services made from one demo database in {time.perf_counter() - started:.0f} s")

        # 1. Deploying, with the scheduler off (so this phase measures deploying alone).
        estate.start_server(False, server_settings)
        with Sampler(estate.processes["server"].pid, database) as load:
            total, each = deploy_all(estate, services, args.deploy_at_once)
        deployments = int(estate.request("POST", "/deployments/count", {}))
        median, p95, worst = quantiles(each)
        print(f"1. deployed {n} services ({deployments} deployments) in {total:.0f} s, "
              f"{args.deploy_at_once} at once: one service's `yotqa deploy` median {median:.1f} s, "
              f"95th {p95:.1f} s; server peak {load.peak_mb:.0f} MB, {load.cpu:.0f} CPU s")  # fmt: skip
        record(f"national estate: deploy {n} services ({deployments} deployments)", total, "s",
               database="postgresql", note=f"{args.deploy_at_once} `yotqa deploy` at once; "
               f"one service {median:.1f} s median, {p95:.1f} s 95th")  # fmt: skip
        estate.stop("server")

        # 2. The scheduler's first pass: every deployment's runs ahead, from nothing.
        pid, ready = estate.start_server(True, server_settings)
        with Sampler(pid, database) as load:
            seconds, scheduled = wait_for_schedule(estate, ready, args.quiet)
        print(f"2. the scheduler created {scheduled:,} runs ({args.min_ahead} ahead) in {seconds:.0f} s "
              f"after the server answered; server tree peak {load.peak_mb:.0f} MB, "
              f"{load.cpu:.0f} CPU s; PostgreSQL backends peak {load.peak_pg_mb:.0f} MB, "
              f"{load.postgres_cpu:.0f} CPU s")  # fmt: skip
        lines = [line for line in estate.log("server").splitlines() if "Scheduled" in line]
        if lines:
            print("   server log: " + " | ".join(lines[:3]))
        record(
            f"national estate: scheduler's first pass, {scheduled:,} runs",
            seconds,
            "s",
            database="postgresql",
            note=f"{deployments} deployments; {args.min_ahead} to {args.horizon} ahead, at "
            f"most {args.max_runs} runs a schedule",
        )
        record("national estate: Prefect server peak memory while scheduling", load.peak_mb,
               "MB", database="postgresql", note=f"CPU {load.cpu:.0f} s; PostgreSQL "
               f"{load.peak_pg_mb:.0f} MB, {load.postgres_cpu:.0f} CPU s")  # fmt: skip

        # 3. The deployments page.
        times = deployments_page(estate, args.page_repeat)
        print(
            f"3. the deployments page's API calls with {deployments} deployments "
            f"({args.page_repeat} times each; median / 95th / worst, ms):"
        )
        for name, values in times.items():
            median, p95, worst = quantiles(values)
            print(f"   {name}: {median:.0f} / {p95:.0f} / {worst:.0f}")
        page = [sum(t) for t in zip(*times.values(), strict=True)]
        median, p95, worst = quantiles(page)
        print(f"   the page's calls one after another: {median:.0f} / {p95:.0f} / {worst:.0f}")
        record(
            f"national estate: deployments page API calls, {deployments} deployments (median)",
            median,
            "ms",
            database="postgresql",
            note=f"95th {p95:.0f} ms; 5 calls in turn",
        )
        slowest = max(times, key=lambda k: statistics.median(times[k]))
        print(f"   slowest call: {slowest}")

        # 4. The busy morning, on a server without its scheduler (only these runs are due).
        estate.stop("server")
        pid, _ready = estate.start_server(False, server_settings)
        due = estate.request("POST", "/flow_runs/filter", {"flow_runs": {
            "state": {"type": {"any_": ["SCHEDULED"]}},
            "expected_start_time": {"before_": (datetime.now(UTC) + timedelta(hours=3)).isoformat()}},
            "limit": 200})  # fmt: skip
        while due:  # the next hours' outbox and chase runs: not this measurement
            for r in due:
                estate.request("DELETE", f"/flow_runs/{r['id']}")
            due = estate.request("POST", "/flow_runs/filter", {"flow_runs": {
                "state": {"type": {"any_": ["SCHEDULED"]}},
                "expected_start_time": {"before_": (datetime.now(UTC) + timedelta(hours=3)).isoformat()}},
                "limit": 200})  # fmt: skip
        workers_env = env | {
            "PREFECT_WORKER_QUERY_SECONDS": str(args.query_seconds),
            "PREFECT_WORKER_PREFETCH_SECONDS": str(args.prefetch_seconds),
        }
        assert not any(k.startswith("YOTQA_") for k in workers_env), "workers have no YOTQA_*"
        worker_pids = [
            estate.start(
                w,
                [
                    "prefect",
                    "worker",
                    "start",
                    "--pool",
                    POOL,
                    "--type",
                    "process",
                    "--name",
                    w,
                    "--limit",
                    str(args.limit),
                ],
                workers_env,
            )  # fmt: skip
            for w in ("worker-a", "worker-b")
        ]
        deadline = time.monotonic() + 120
        while len(estate.request("POST", f"/work_pools/{POOL}/workers/filter", {})) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "the workers did not come online:\n" + estate.log("worker-a")[-2000:]
                )
            time.sleep(0.5)
        peaks: dict[str, float] = {}
        with Sampler(pid, database) as load:
            stop = threading.Event()

            def watch() -> None:
                while not stop.wait(1):
                    peaks["workers"] = max(peaks.get("workers", 0),
                                           rss_mb([p for w in worker_pids for p in tree(w)]))  # fmt: skip

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            morning = busy_morning(estate, services, args.lead)
            stop.set()
            watcher.join()
        runs, seen, when = morning["runs"], morning["seen"], morning["when"]
        states: dict[str, int] = {}
        for r in seen.values():
            states[r["state_type"]] = states.get(r["state_type"], 0) + 1
        lateness = [
            (datetime.fromisoformat(r["start_time"]) - datetime.fromisoformat(r["expected_start_time"])).total_seconds()
            for r in seen.values() if r.get("start_time")
        ]  # fmt: skip
        ends = [datetime.fromisoformat(r["end_time"]) for r in seen.values() if r.get("end_time")]
        last = (max(ends) - when).total_seconds() if ends else float("nan")
        twice = [r["id"] for r in seen.values() if r.get("run_count", 1) > 1]
        lost = len(runs) - states.get("COMPLETED", 0)
        problems = check_services(services, when - timedelta(minutes=5))
        median, p95, worst = quantiles(lateness) if lateness else (0.0, 0.0, 0.0)
        by_flow = {
            flow: quantiles([
                (datetime.fromisoformat(r["end_time"]) - datetime.fromisoformat(r["start_time"])).total_seconds()
                for r in seen.values() if runs[r["id"]][1] == flow and r.get("end_time") and r.get("start_time")
            ] or [0.0])[0]
            for flow in MORNING
        }  # fmt: skip
        print(f"4. busy morning: {len(runs)} runs due at once; the last completed {last:.0f} s "
              f"after they were due; states {states}; lateness median {median:.0f} s, 95th "
              f"{p95:.0f} s, worst {worst:.0f} s; run twice: {len(twice)}; not completed: {lost}; "
              f"server tree peak {load.peak_mb:.0f} MB, workers and their flow runs peak "
              f"{peaks.get('workers', 0):.0f} MB")  # fmt: skip
        print(
            "   median run time by flow: " + ", ".join(f"{f} {s:.1f} s" for f, s in by_flow.items())
        )
        print(
            "   every service's data its own: "
            + ("yes" if not problems else "NO:\n     " + "\n     ".join(problems[:20]))
        )
        record(f"national estate: busy morning, {len(runs)} runs, until the last completed",
               last, "s", database="sqlite", note=f"2 workers, --limit {args.limit}; "
               f"not completed {lost}, run twice {len(twice)}, services wrong {len(problems)}")  # fmt: skip
        record("national estate: busy morning lateness (median)", median, "s",
               database="sqlite", note=f"95th {p95:.0f} s, worst {worst:.0f} s")  # fmt: skip
        record("national estate: workers' peak memory in the busy morning", peaks.get("workers", 0),
               "MB", database="sqlite", note=f"2 workers x --limit {args.limit} flow processes")  # fmt: skip
        if lost or twice or problems:
            sys.exit(f"the busy morning lost {lost} runs, ran {len(twice)} twice, "
                     f"{len(problems)} services wrong (above); logs in {folder}")  # fmt: skip
    finally:
        estate.stop_all()
        databases.close()
        if args.keep:
            print(f"Kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=150)
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL server (a database is made beside this one)",
    )
    parser.add_argument("--limit", type=int, default=4, help="flow runs a worker takes at once")
    parser.add_argument(
        "--query-seconds",
        type=float,
        default=5,
        help="PREFECT_WORKER_QUERY_SECONDS (Prefect's default is 10)",
    )
    parser.add_argument(
        "--prefetch-seconds", type=float, default=10, help="PREFECT_WORKER_PREFETCH_SECONDS"
    )
    parser.add_argument(
        "--deploy-at-once", type=int, default=2, help="`yotqa deploy` processes side by side"
    )
    parser.add_argument(
        "--scheduler-batch",
        type=int,
        default=100,
        help="PREFECT_SERVER_SERVICES_SCHEDULER_DEPLOYMENT_BATCH_SIZE",
    )
    parser.add_argument(
        "--insert-batch",
        type=int,
        default=500,
        help="PREFECT_SERVER_SERVICES_SCHEDULER_INSERT_BATCH_SIZE",
    )
    parser.add_argument(
        "--horizon", default="P100D", help="PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME"
    )
    parser.add_argument(
        "--min-ahead",
        default="P100D",
        help="PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME (Prefect's default PT1H)",
    )
    parser.add_argument(
        "--max-runs",
        type=int,
        default=100,
        help="PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS, a schedule's runs ahead at most",
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=15,
        help="seconds without new runs that end the scheduler's pass",
    )
    parser.add_argument("--page-repeat", type=int, default=40)
    parser.add_argument(
        "--lead", type=float, default=60, help="the busy morning's runs are due this far ahead"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
