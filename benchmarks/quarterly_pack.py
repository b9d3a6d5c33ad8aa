"""Pack benchmark: one service's quarterly pack, phase by phase, and many services' packs in one run.

    .venv/bin/python benchmarks/quarterly_pack.py [--services N] [--workers 2]

Builds the demo service and runs a financial year of it with simulated auditors (SQLite), then
compiles the 2025-Q3 pack: figures, charts, PDF (WeasyPrint), XLSX and markdown, timing each
phase, cold (first in the process) and warm. With --services N it then compiles N packs (one per
service; here N copies of the same service's database) in a pool of worker processes, as a
national run would. Target: one pack in 3 s or less. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session  # noqa: E402

from benchmarks.record import in_worker_processes, peak_mb, record  # noqa: E402
from models.db import make_engine, upgrade  # noqa: E402
from models.settings import get_settings  # noqa: E402
from tasks.demo import load_demo, write_demo_files  # noqa: E402
from tasks.question_sets import sync_question_sets  # noqa: E402
from tasks.simulation import simulate_span  # noqa: E402
from tasks.workdays import Quarter  # noqa: E402

QUARTER, ON = Quarter(2025, 3), date(2026, 1, 6)


def build_year(path: Path, folder: Path) -> float:
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        sync_question_sets(session, get_settings().question_sets_dir)
        session.commit()
        load_demo(session, write_demo_files(folder / "demo", seed=11, as_of=date(2025, 4, 1)))
        simulate_span(session, date(2025, 4, 1), date(2026, 3, 31), seed=5)
    engine.dispose()
    return time.perf_counter() - started


def phases(path: Path, out: Path) -> tuple[dict[str, float], str]:
    """Each phase of one pack, in this process; and what the pack held ("21-page PDF, 12
    charts")."""
    from tasks.packs import render
    from tasks.packs.quarterly import compile_quarter

    times: dict[str, float] = {}
    engine = make_engine(f"sqlite:///{path}")
    t = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        pack = compile_quarter(session, QUARTER, ON)
    times["figures (database)"] = time.perf_counter() - t
    t = time.perf_counter()
    charts = sum(map(bool, render.quarter_charts(pack.figures).values()))
    times["charts (matplotlib)"] = time.perf_counter() - t
    t = time.perf_counter()
    html = render.quarter_html(pack, "Benchmark YOT")  # draws the charts again, inside
    times["HTML (charts + Jinja)"] = time.perf_counter() - t
    t = time.perf_counter()
    pages = render.write_pdf(html, out / "pack.pdf")
    times[f"PDF ({pages} pages, WeasyPrint)"] = time.perf_counter() - t
    t = time.perf_counter()
    render.quarter_workbook(pack, "Benchmark YOT").save(out / "pack.xlsx")
    times["XLSX"] = time.perf_counter() - t
    engine.dispose()
    return times, f"{pages}-page PDF, {charts} charts"


def one_service(args: tuple[str, str]) -> float:
    """A whole pack for one service's database, as the flow's task does (figures to files)."""
    from tasks.outputs import Outputs
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import write_quarter

    path, out = args
    started = time.perf_counter()
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine, expire_on_commit=False) as session:
        pack = compile_quarter(session, QUARTER, ON)
    write_quarter(pack, Outputs(Path(out)).quarterly_pack(str(QUARTER)), "Benchmark YOT")
    engine.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=0, help="also compile N services' packs")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["YOTQA_OUTPUT_DIR"] = str(folder / "var")
        get_settings.cache_clear()
        template = folder / "year.db"
        print(f"simulated year for the demo service: {build_year(template, folder):.1f} s")
        for label in ("cold", "warm"):
            copy = folder / f"{label}.db"
            shutil.copy(template, copy)  # not yet frozen: the figures are computed each time
            out = folder / label
            out.mkdir()
            times, held = phases(copy, out)
            whole = sum(v for k, v in times.items() if not k.startswith("charts"))
            print(
                f"\none pack, {label} (first in this process)"
                if label == "cold"
                else "\none pack, warm"
            )
            for name, seconds in times.items():
                print(f"  {name:32} {seconds:6.2f} s")
            print(f"  {'total (target 3 s)':32} {whole:6.2f} s")
            record(f"one quarterly pack (PDF, XLSX), {label}", whole, "s", target=3,
                   database="sqlite", note=held)  # fmt: skip
        if args.services:
            jobs = []
            for n in range(args.services):
                db = folder / f"service-{n}.db"
                shutil.copy(template, db)
                jobs.append((str(db), str(folder / f"out-{n}")))
            each, wall = in_worker_processes(one_service, jobs, args.workers)
            print(
                f"\n{args.services} services' packs with {args.workers} workers: {wall:.1f} s "
                f"({wall / args.services:.2f} s a pack; each {min(each):.1f}-{max(each):.1f} s); "
                f"150 services at this rate: {150 * wall / args.services / 60:.1f} min"
            )
            record(f"{args.services} services' quarterly packs, {args.workers} processes", wall,
                   "s", database="sqlite", note=f"{wall / args.services:.2f} s a pack")  # fmt: skip
    peak = peak_mb()
    print(f"\npeak resident memory of the main process: {peak:.0f} MB")
    record("quarterly pack peak memory", peak, "MB", target=500, database="sqlite")


if __name__ == "__main__":
    main()
