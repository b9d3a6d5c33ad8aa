"""Processes killed (SIGKILL) at random points during sampling, chasing and pack compilation,
then run again: nothing half-written, nothing twice, the re-run finishes the work. (Issue 7.)"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from models.db import make_engine
from tests.demo_service import Demo, DemoTemplates

ROOT = Path(__file__).resolve().parent.parent
JOBS = [
    ("run", "sample", "--as-of", "2026-10-01"),
    ("run", "chase", "--as-of", "2026-10-26"),
    ("pack", "quarterly", "2026-Q2"),
]


def _yotqa(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "yotqa"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _state(url: str) -> dict[str, object]:
    engine = make_engine(url)
    with engine.connect() as c:
        state = {
            "runs": c.execute(sa.text("SELECT count(*) FROM samplingrun")).scalar(),
            "audits": c.execute(sa.text("SELECT count(*) FROM audit")).scalar(),
            "steps": c.execute(sa.text("SELECT count(*) FROM chasestep")).scalar(),
            "emails": Counter(s for (s,) in c.execute(sa.text("SELECT status FROM emailmessage"))),
            "snapshots": c.execute(sa.text("SELECT count(*) FROM packsnapshot")).scalar(),
        }
    engine.dispose()
    return state


@pytest.mark.slow
def test_killed_at_random_points_then_rerun_ends_as_one_clean_run(
    tmp_path: Path, demo_templates: DemoTemplates
) -> None:
    # The demo service (`yotqa demo-data --seed 4 --as-of 2026-07-01`), twice: one copy to kill
    # runs on, one to run cleanly.
    demo = Demo(seed=4, as_of=date(2026, 7, 1))
    demo_templates.copy_sqlite(demo, tmp_path / "yotqa.db", tmp_path / "var")
    demo_templates.copy_sqlite(demo, tmp_path / "clean.db", tmp_path / "c")
    url = f"sqlite:///{tmp_path / 'yotqa.db'}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base["DO_NOT_TRACK"] = "1"
    env = {**base, "YOTQA_DATABASE_URL": url, "YOTQA_OUTPUT_DIR": str(tmp_path / "var")}
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    clean_env = {**base, "YOTQA_DATABASE_URL": clean_url, "YOTQA_OUTPUT_DIR": str(tmp_path / "c")}
    rng = random.Random(1)
    kills = 0
    for job in JOBS:
        _finish(clean_env, job)
        for _ in range(3):
            process = _yotqa(env, *job)
            time.sleep(rng.uniform(0.3, 3.0))  # imports, the transaction, the files: anywhere
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                kills += 1
            process.wait(timeout=30)
        _finish(env, job)
    assert kills >= 3  # most attempts were cut short, somewhere

    # A sender killed mid-batch leaves the messages it had claimed but not begun leased to it
    # for LEASE, so a live sender's batch is never sent twice; once the lease runs out the next
    # outbox run sends them. Ten minutes on: none lost.
    _send_after_leases(url, tmp_path / "var")
    state, clean = _state(url), _state(clean_url)
    for what in ("runs", "audits", "steps", "snapshots"):
        assert state[what] == clean[what] and clean[what], what  # as if run once, cleanly
    emails, clean_emails = state["emails"], clean["emails"]
    assert sum(clean_emails.values()) > 0, "the clean run queued no email: nothing to compare"
    assert sum(emails.values()) == sum(clean_emails.values())  # queued once each (E6)
    assert set(emails) <= {"written", "sending"}  # 'sending': cut off mid-delivery, reported
    assert emails.get("sending", 0) <= kills
    # Every pack file is whole: the PDF opens and the spreadsheet is a zip.
    folder = tmp_path / "var" / "packs" / "2026-Q2"
    assert len(PdfReader(folder / "qa-pack-2026-Q2.pdf").pages) > 3
    assert (folder / "qa-pack-2026-Q2.xlsx").read_bytes()[:2] == b"PK"
    visible = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    assert visible == {f"qa-pack-2026-Q2.{ext}" for ext in ("pdf", "html", "xlsx", "md")}


def _send_after_leases(url: str, var: Path) -> None:
    from sqlmodel import Session

    from models.settings import Settings
    from models.types import utcnow
    from tasks.outbox import LEASE, send_pending

    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        send_pending(session, Settings(output_dir=var), now=utcnow() + LEASE + LEASE)
    engine.dispose()


def _finish(env: dict[str, str], job: tuple[str, ...]) -> None:
    finished = _yotqa(env, *job)
    _, stderr = finished.communicate(timeout=180)
    assert finished.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr
