"""People's pages benchmark: the audit form page with 50 people opening it at once, on PostgreSQL.

    .venv/bin/python benchmarks/web_form.py [--users 50] [--requests 20] [--postgres SERVER_URL]

A scratch database holds the demo service with three months' samples (75 audits); `yotqa web`
runs as its own process, as in production (one uvicorn process). Each of N users (threads in
this process, each its own connection and cookie) opens its own audit's form page R times, as
fast as the server answers; then all N submit their audit at the same moment. Prints the
median and 95th percentile of each; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from benchmarks.import_cases import scratch_postgres  # noqa: E402
from benchmarks.record import record  # noqa: E402
from models import Audit  # noqa: E402
from models.db import make_engine, upgrade  # noqa: E402
from models.enums import AuditStatus  # noqa: E402
from models.settings import get_settings  # noqa: E402
from tasks.demo import load_demo, write_demo_files  # noqa: E402
from tasks.links import RECORD, Links  # noqa: E402
from tasks.question_sets import sync_question_sets  # noqa: E402
from tasks.recording.record import questions_for  # noqa: E402
from tasks.sampling.monthly import sample_month  # noqa: E402
from tests.smtp import free_port  # noqa: E402
from tests.web_world import csrf_of  # noqa: E402

ON = date(2027, 2, 3)
ROOT = Path(__file__).resolve().parent.parent


def build(url: str, folder: Path, users: int) -> list[tuple[str, dict[str, str]]]:
    """The service, and for each user their audit's form link and a valid set of answers."""
    upgrade(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        sync_question_sets(session, get_settings().question_sets_dir)
        load_demo(session, write_demo_files(folder / "demo", seed=21, as_of=date(2026, 11, 25)))
        for month in (date(2026, 12, 1), date(2027, 1, 4), date(2027, 2, 1)):
            sample_month(session, month)
        session.commit()
        audits = session.exec(
            select(Audit).where(Audit.status == AuditStatus.ASSIGNED).order_by(Audit.id)
        ).all()[:users]
        links = Links(session, ON)
        work = []
        for audit in audits:
            url_ = links.url(audit.auditor_id, RECORD, audit.id, audit.due_on)  # type: ignore[arg-type]
            fields = {"op": "submit"}
            for q in questions_for(session, audit):
                fields[f"q.{q.code}"] = {
                    "judgement": "good",
                    "yes_no": "yes",
                    "count": "1",
                    "text": "Theft",
                }[q.answer_type.value]
                fields[f"e.{q.code}"] = "Seen on the case file, with the plan and its review."
            work.append((url_[url_.index("/l/") :], fields))
        session.commit()
    engine.dispose()
    if len(work) < users:
        raise SystemExit(f"only {len(work)} audits to give {users} users")
    return work


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="form page loads per user")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_postgres(args.postgres) as url:
        folder = Path(tmp)
        port = free_port()
        os.environ.update(
            YOTQA_DATABASE_URL=url,
            YOTQA_OUTPUT_DIR=str(folder / "var"),
            YOTQA_WEB_URL=f"http://127.0.0.1:{port}",
            YOTQA_WEB_FAILED_CHECKS="1000",
        )
        get_settings.cache_clear()
        work = build(url, folder, args.users)
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "yotqa"),
                "web",
                "--port",
                str(port),
                "--as-of",
                ON.isoformat(),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            pages: list[float] = []
            submits: list[float] = []
            statuses: list[int] = []
            lock = threading.Lock()
            start = threading.Barrier(args.users)

            def user(path: str, fields: dict[str, str]) -> None:
                with httpx.Client(base_url=base, timeout=120) as browser:
                    token = csrf_of(browser.get(path).text)  # a first visit, not counted
                    start.wait()
                    mine = []
                    for _ in range(args.requests):
                        t = time.perf_counter()
                        response = browser.get(path)
                        mine.append(time.perf_counter() - t)
                        statuses.append(response.status_code)
                    start.wait()
                    t = time.perf_counter()
                    response = browser.post(path, data={**fields, "csrf_token": token})
                    with lock:
                        pages.extend(mine)
                        submits.append(time.perf_counter() - t)
                        statuses.append(response.status_code)

            began = time.perf_counter()
            with ThreadPoolExecutor(args.users) as pool:
                list(pool.map(lambda w: user(*w), work))
            elapsed = time.perf_counter() - began
        finally:
            server.terminate()
            server.wait(timeout=30)
    bad = [s for s in statuses if s != 200]
    med, p95 = statistics.median(pages), percentile(pages, 95)
    smed, sp95 = statistics.median(submits), percentile(submits, 95)
    print(f"{args.users} users x {args.requests} form pages: {len(pages)} pages in {elapsed:.1f} s")
    print(f"  form page: median {med * 1000:.0f} ms, 95th percentile {p95 * 1000:.0f} ms")
    print(
        f"  submit (all {args.users} at once): median {smed * 1000:.0f} ms, 95th {sp95 * 1000:.0f} ms"
    )
    print(f"  responses other than 200: {len(bad)}")
    note = f"{args.users} users at once, {len(pages):,} pages, {len(bad)} not 200"
    record(
        f"audit form page, {args.users} users at once: median",
        med * 1000,
        "ms",
        target=1000,
        database="postgresql",
        note=note,
    )
    record(
        f"audit form page, {args.users} users at once: 95th percentile",
        p95 * 1000,
        "ms",
        target=2000,
        database="postgresql",
        note=note,
    )
    record(
        f"audit submit, {args.users} at the same moment: 95th percentile",
        sp95 * 1000,
        "ms",
        database="postgresql",
        note=f"median {smed * 1000:.0f} ms",
    )


if __name__ == "__main__":
    main()
