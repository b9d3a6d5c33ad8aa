"""Import benchmark: a 50,000-row cases extract, first load and a later update, with peak memory.

    .venv/bin/python benchmarks/import_cases.py [--rows 50000] [--postgres SERVER_URL]

Prints figures; asserts nothing. Default database: a new SQLite file in a temporary folder;
with --postgres, a new database on that server, dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from benchmarks.record import peak_mb, record  # noqa: E402
from models.db import make_engine, upgrade  # noqa: E402
from models.enums import ImportKind  # noqa: E402
from models.settings import normalise_database_url  # noqa: E402
from tasks.demo import write_demo_files  # noqa: E402
from tasks.importing import COLUMNS, import_file  # noqa: E402

AS_OF = date(2026, 11, 25)


def _letters(n: int) -> str:
    """0 -> A, 25 -> Z, 26 -> BA, ...: a distinct surname for each row, made of letters."""
    word = ""
    while True:
        n, r = divmod(n, 26)
        word = chr(65 + r) + word
        if not n:
            return word.title()


def write_cases(
    path: Path, rows: int, staff: list[tuple[str, str]], seed: int, changed: float = 0.0
) -> None:
    rng = random.Random(seed)
    orders = ["referral_order", "yro", "dto_custody", "dto_licence", "out_of_court", "bail_iss"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS[ImportKind.CASES])
        for n in range(rows):
            r = random.Random(n)  # each case the same in every extract, unless changed below
            opened = AS_OF - timedelta(days=r.randint(50, 700))
            email, team = staff[r.randrange(len(staff))]
            closed = ""
            if changed and rng.random() < changed:
                email, team = staff[rng.randrange(len(staff))]
                closed = (AS_OF - timedelta(days=1)).isoformat() if rng.random() < 0.5 else ""
            writer.writerow(
                [
                    f"BM-{n:07d}",
                    f"YP{n:07d}",
                    f"Young Person {_letters(n)}",  # a name holds no digits
                    (opened - timedelta(days=r.randint(3700, 6500))).isoformat(),
                    r.choice(["male", "female"]),
                    "White British",
                    r.choice(orders),
                    opened.isoformat(),
                    closed,
                    email,
                    team,
                    "",
                    r.choice(["low", "medium", "high"]),
                    "low",
                    "",
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument(
        "--postgres", default="", help="e.g. postgresql://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="yotqa-bench-"))
    with scratch_database(args.postgres, folder / "bench.db") as url:
        run(args.rows, url, folder)


@contextmanager
def scratch_postgres(server_url: str) -> Iterator[str]:
    server = sa.make_url(normalise_database_url(server_url))
    name = f"yotqa_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_database(server_url: str, sqlite_file: Path) -> Iterator[str]:
    """A new database on the PostgreSQL server `server_url`, dropped afterwards; with no server,
    the SQLite file `sqlite_file`."""
    if server_url:
        with scratch_postgres(server_url) as url:
            yield url
    else:
        yield f"sqlite:///{sqlite_file}"


def run(rows: int, url: str, folder: Path) -> None:
    upgrade(url)
    engine = make_engine(url)

    demo = write_demo_files(folder / "demo", seed=1, as_of=AS_OF)
    with demo.staff.open(encoding="utf-8") as fh:
        staff = [(r["email"], r["team"]) for r in csv.DictReader(fh) if r["role"] == "case_manager"]
    first, later = folder / "cases-first.csv", folder / "cases-later.csv"
    write_cases(first, rows, staff, seed=1)
    write_cases(later, rows, staff, seed=2, changed=0.1)
    print(f"yotqa cases import benchmark: {rows:,} rows, database {url.split('://')[0]}")
    print(
        f"  file size: {first.stat().st_size / 1e6:.1f} MB; memory before import: {peak_mb():.0f} MB peak RSS"
    )

    with Session(engine) as session:
        import_file(session, ImportKind.STAFF, demo.staff, as_of=AS_OF)
    for label, path in [
        ("first load (all new)", first),
        ("same extract again (unchanged)", first),
        ("later extract (10% moved or closed)", later),
    ]:
        with Session(engine) as session:
            start = time.perf_counter()
            report = import_file(session, ImportKind.CASES, path, as_of=AS_OF)
            seconds = time.perf_counter() - start
        print(
            f"  {label:38s} {seconds:6.2f} s  {report.rows / seconds:8,.0f} rows/s  "
            f"new {report.created:,}, updated {report.updated:,}, moved {report.reallocated:,}; "
            f"peak RSS {peak_mb():.0f} MB"
        )
        record(f"cases import, {rows:,} rows: {label}", seconds, "s",
               database=url.split(":")[0].split("+")[0])  # fmt: skip
    engine.dispose()


if __name__ == "__main__":
    main()
