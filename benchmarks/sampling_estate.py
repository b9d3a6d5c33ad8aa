"""Sampling benchmark: one month's sampling for a national estate in one database.

    .venv/bin/python benchmarks/sampling_estate.py [--services 150] [--postgres SERVER_URL]

150 demo services (about 30,000 open cases, 5,000 staff) are imported through the real importers,
then the month's sample is drawn, recorded and its emails queued, as the flow does. Target: the
sampling itself in 10 s or less. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from benchmarks.import_cases import scratch_database  # noqa: E402
from benchmarks.record import peak_mb, record  # noqa: E402
from models import Audit, Case, EmailMessage  # noqa: E402
from models.db import make_engine, upgrade  # noqa: E402
from models.settings import get_settings  # noqa: E402
from tasks.demo import load_demo, write_demo_files  # noqa: E402
from tasks.question_sets import sync_question_sets  # noqa: E402
from tasks.sampling.monthly import sample_month  # noqa: E402
from tasks.sampling.pool import open_on  # noqa: E402

AS_OF = date(2026, 11, 25)
SAMPLE_DAY = date(2027, 1, 4)  # a quarter's first month: the service managers sample too


def overhead(estate: sa.Engine, folder: Path) -> None:
    """The national month's sample-and-assign job, on two copies of the estate: called directly
    (the task functions the flow calls, in its order) and as a Prefect flow run."""
    import os

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows.timetable import FLOWS
    from tasks.catalogue import CATALOGUE

    def use(name: str) -> Path:
        db = folder / f"{name}.db"
        with estate.connect() as c:  # a consistent copy, the WAL included
            c.exec_driver_sql(f"VACUUM INTO '{db}'")
        os.environ["YOTQA_DATABASE_URL"] = f"sqlite:///{db}"
        os.environ["YOTQA_OUTPUT_DIR"] = str(folder / f"var-{name}")
        get_settings.cache_clear()
        return db

    use("direct")
    start = time.perf_counter()
    CATALOGUE["sample-and-assign"](SAMPLE_DAY)  # the flow's own steps, called directly
    direct = time.perf_counter() - start

    use("prefect")
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        start = time.perf_counter()
        FLOWS["sample-and-assign"](as_of=SAMPLE_DAY)
        flow = time.perf_counter() - start
    print(
        f"the national month's sample-and-assign (draw, report, spreadsheet, emails written as files): "
        f"directly {direct:.2f} s, as a Prefect flow run {flow:.2f} s: {flow / direct:.2f}x"
    )
    record("Prefect overhead, the national month's sample-and-assign (flow run / direct)",
           flow / direct, "x", target=1.25, database="sqlite",
           note=f"direct {direct:.1f} s, through Prefect {flow:.1f} s")  # fmt: skip


def run(services: int, url: str, folder: Path, with_overhead: bool = False) -> None:
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        sync_question_sets(session, get_settings().question_sets_dir)
        session.commit()
        start = time.perf_counter()
        for n in range(1, services + 1):
            files = write_demo_files(folder / f"s{n:03d}", seed=n, as_of=AS_OF, service=f"S{n:03d}")
            load_demo(session, files)
            if n % 25 == 0:
                print(f"  imported {n} services ({time.perf_counter() - start:.0f} s)", flush=True)
        open_cases = session.execute(
            sa.select(sa.func.count()).select_from(Case).where(open_on(SAMPLE_DAY))
        ).scalar_one()
        print(
            f"estate: {services} services, {open_cases:,} open cases on {SAMPLE_DAY}; "
            f"built in {time.perf_counter() - start:.0f} s"
        )
        if with_overhead:
            session.commit()
            overhead(engine, folder)
        start = time.perf_counter()
        result = sample_month(session, SAMPLE_DAY)
        seconds = time.perf_counter() - start
        audits = session.execute(sa.select(sa.func.count()).select_from(Audit)).scalar_one()
        emails = session.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
        print(
            f"one month's sampling: {seconds:.2f} s (target 10 s): {audits:,} audits in {result.runs:,} runs, "
            f"{result.rejections:,} passed over, {emails:,} emails queued; "
            f"peak RSS {peak_mb():.0f} MB"
        )
        db = url.split(":")[0].split("+")[0]
        scope = f"{services} services, {open_cases:,} open cases"
        record(f"sampling, {scope}", seconds, "s", target=10, database=db,
               note=f"{audits:,} audits, {emails:,} emails queued")  # fmt: skip
        record(f"open cases, {services} services", open_cases, "cases", database=db)
        record(f"sampling peak memory, {scope}", peak_mb(), "MB", target=500, database=db)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=150)
    parser.add_argument(
        "--postgres", default="", help="e.g. postgresql://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument(
        "--overhead",
        action="store_true",
        help="also run the month's sample-and-assign directly and as a Prefect flow run (SQLite)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="yotqa-estate-"))
    with scratch_database(args.postgres, folder / "estate.db") as url:
        # The overhead is measured on SQLite only, as --help says.
        run(args.services, url, folder, args.overhead and not args.postgres)


if __name__ == "__main__":
    main()
