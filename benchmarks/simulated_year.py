"""Simulated-year benchmark: the whole timetable for a year, for one service and for an estate;
and the orchestration overhead of Prefect against calling the same functions directly.

    .venv/bin/python benchmarks/simulated_year.py [--services 4] [--workers 2] [--overhead]

1. The demo service, April to March, through `simulate_timetable` (every job on its day, the
   daily chase, simulated auditors, emails written as .eml files, packs as PDF): seconds, peak
   memory, runs and emails.
2. An estate: N services (N demo services of different seeds, each its own SQLite database, as
   the product keeps one service per database) run in a pool of worker processes; the time for
   150 services is extrapolated from the rate.
3. With --overhead: one month of the timetable's jobs (November 2026: sample, reports, notices,
   peer audit day, 21 daily chases) run directly and then as Prefect flow runs against a local
   Prefect server (started first, not timed), on copies of the same database.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # figures only, not every run's log

from benchmarks.record import in_worker_processes, record  # noqa: E402
from models.db import make_engine, upgrade  # noqa: E402
from models.settings import get_settings  # noqa: E402

START, END = date(2025, 4, 1), date(2026, 3, 31)
MONTH_START, MONTH_END = date(2026, 11, 1), date(2026, 11, 30)


def _configure(db: Path, out: Path) -> str:
    url = f"sqlite:///{db}"
    os.environ["YOTQA_DATABASE_URL"] = url
    os.environ["YOTQA_OUTPUT_DIR"] = str(out)
    get_settings.cache_clear()
    return url


def _demo(url: str, out: Path, seed: int, as_of: date) -> None:
    from sqlmodel import Session

    from tasks.demo import load_demo, write_demo_files
    from tasks.question_sets import sync_question_sets

    upgrade(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        sync_question_sets(session, get_settings().question_sets_dir)
        session.commit()
        load_demo(session, write_demo_files(out / "demo", seed=seed, as_of=as_of))
    engine.dispose()


def one_year(args: tuple[str, int]) -> dict[str, object]:
    """A service's year, from an empty database: demo service loaded, then simulated."""
    import sqlalchemy as sa
    from sqlmodel import Session

    from models import Team
    from tasks.simulation import simulate_timetable

    folder, seed = Path(args[0]), args[1]
    folder.mkdir(parents=True, exist_ok=True)
    url = _configure(folder / "yotqa.db", folder / "var")
    _demo(url, folder / "var", seed, START)
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        weak = session.execute(sa.select(Team.id).order_by(Team.id)).scalars().first()
        result = simulate_timetable(session, START, END, seed=seed, weak_team_id=weak)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "runs": sum(result.runs.values()),
        "emails": sum(result.emails.values()),
        "recorded": result.span.recorded,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "jobs": dict(result.seconds),
    }


def overhead(folder: Path) -> None:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows.timetable import FLOWS
    from tasks.catalogue import CATALOGUE
    from tasks.simulation import timetable_days

    template = folder / "month.db"
    _demo(_configure(template, folder / "var-template"), folder / "var-template", 7, MONTH_START)
    plan = timetable_days(MONTH_START, MONTH_END)
    count = sum(len(v) for v in plan.values())

    shutil.copy(template, folder / "direct.db")
    _configure(folder / "direct.db", folder / "var-direct")
    started = time.perf_counter()
    for day, flows in plan.items():
        for flow in flows:
            CATALOGUE[flow](day)
    direct = time.perf_counter() - started

    shutil.copy(template, folder / "prefect.db")
    _configure(folder / "prefect.db", folder / "var-prefect")
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        started = time.perf_counter()
        for day, names in plan.items():
            for name in names:
                FLOWS[name](as_of=day)
        through_prefect = time.perf_counter() - started
    print(
        f"\norchestration overhead, {MONTH_START:%B %Y} ({count} job runs, same functions):\n"
        f"  called directly                  {direct:6.1f} s\n"
        f"  as Prefect flow runs (local API) {through_prefect:6.1f} s\n"
        f"  ratio (target 1.25x)             {through_prefect / direct:6.2f}x "
        f"({(through_prefect - direct) / count * 1000:.0f} ms a flow run)"
    )
    record(f"Prefect overhead, a month's {count} job runs (flow runs / direct)",
           through_prefect / direct, "x", target=1.25, database="sqlite",
           note=f"direct {direct:.1f} s, through Prefect {through_prefect:.1f} s; "
           f"{(through_prefect - direct) / count * 1000:.0f} ms a flow run")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=4, help="services in the estate run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--overhead", action="store_true", help="also measure Prefect's overhead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        demo = one_year((str(folder / "demo"), 2012))
        print(
            f"simulated year, demo service ({START} to {END}): {demo['seconds']:.1f} s; "
            f"{demo['runs']} job runs, {demo['emails']} emails, {demo['recorded']} audits recorded; "
            f"peak RSS {demo['rss_mb']:.0f} MB"
        )
        slowest = sorted(demo["jobs"].items(), key=lambda kv: -kv[1])[:5]  # type: ignore[union-attr]
        print("  time in the jobs: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
        record("simulated year, one service", float(demo["seconds"]), "s", database="sqlite",  # type: ignore[arg-type]
               note=f"{demo['runs']} job runs, {demo['emails']} emails")  # fmt: skip
        record("simulated year peak memory, one service", float(demo["rss_mb"]), "MB",  # type: ignore[arg-type]
               target=500, database="sqlite")  # fmt: skip
        if args.services:
            jobs = [(str(folder / f"s{n:03d}"), 100 + n) for n in range(args.services)]
            each, wall = in_worker_processes(one_year, jobs, args.workers)
            print(
                f"estate: {args.services} services' years with {args.workers} workers: {wall:.0f} s "
                f"wall (each {min(e['seconds'] for e in each):.0f}-{max(e['seconds'] for e in each):.0f} s "
                f"simulating, plus loading the demo); 150 services at this rate: "
                f"{150 * wall / args.services / 60:.0f} min; peak RSS per worker "
                f"{max(e['rss_mb'] for e in each):.0f} MB"
            )
            record(f"simulated year, 150 services (from {args.services} run, extrapolated)",
                   150 * wall / args.services, "s", target=300, database="sqlite",
                   note=f"{args.services} services in {wall:.0f} s on {args.workers} processes")  # fmt: skip
        if args.overhead:
            overhead(folder)


if __name__ == "__main__":
    main()
