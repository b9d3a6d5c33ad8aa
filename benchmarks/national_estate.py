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

Its processes and their measurement: benchmarks/processes.py; the services, made and checked:
benchmarks/estate_services.py. Every process started here is stopped by its process group at the end (also on failure) and the
Prefect database dropped. Prints figures, records them for results.py; asserts nothing but says
what did not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from benchmarks.estate_services import (  # noqa: E402
    AS_OF,
    POOL,
    check_services,
    demo_template,
    deploy_all,
    make_services,
)
from benchmarks.import_cases import scratch_postgres  # noqa: E402
from benchmarks.processes import (  # noqa: E402
    Estate,
    Sampler,
    free_port,
    machine,
    quantiles,
    rss_mb,
    tree,
)
from benchmarks.record import record  # noqa: E402

MORNING = ("sample-and-assign", "exception-report", "quarterly-pack")
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


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
