"""Outbox benchmark: 10,000 emails through the outbox to a real SMTP server on loopback.

    .venv/bin/python benchmarks/outbox.py [--emails 10000] [--postgres SERVER_URL]

Queues N messages (HTML and text, as the product renders them), then delivers them with the
product's sender (`send_pending`, batches of 500 over one SMTP connection each, every message
marked `sending` before and `sent` after its SMTP conversation) to an aiosmtpd server in this
process of its own. Target: 10,000 in 30 s or less. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from benchmarks.import_cases import scratch_postgres  # noqa: E402
from benchmarks.record import peak_mb, record  # noqa: E402
from models import EmailMessage  # noqa: E402
from models.db import make_engine, upgrade  # noqa: E402
from models.enums import EmailStatus  # noqa: E402
from models.settings import get_settings  # noqa: E402
from tasks.outbox import queue_email, send_pending  # noqa: E402
from tests.smtp import free_port  # noqa: E402


@contextmanager
def sink_server() -> Iterator[int]:
    """aiosmtpd in a process of its own (as a real mail server is), accepting and discarding."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ]
    )
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(url: str, count: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        started = time.perf_counter()
        for n in range(count):
            queue_email(
                session,
                key=f"bench:{n}",
                kind="notice",
                template="notice",
                subject=f"Benchmark message {n}",
                to=[f"person{n % 97}@yot.example.org"],
                paragraphs=["A paragraph of the kind the product sends, naming case YJ26-00001."],
                figures=[("audits assigned", "12"), ("completed", "9")],
                table=None,
                attached=[],
            )
            if n % 1000 == 999:
                session.commit()
        session.commit()
        queued = time.perf_counter() - started
        with sink_server() as port:
            os.environ.update(YOTQA_SMTP_HOST="127.0.0.1", YOTQA_SMTP_PORT=str(port))
            get_settings.cache_clear()
            settings = get_settings()
            started = time.perf_counter()
            while True:
                report = send_pending(session, settings, limit=500)
                if not report.sent and not report.retrying:
                    break
            sent = time.perf_counter() - started
        statuses = dict(
            session.execute(
                sa.select(EmailMessage.status, sa.func.count()).group_by(EmailMessage.status)
            )
            .tuples()
            .all()
        )
    engine.dispose()
    print(
        f"{engine.dialect.name}: {count:,} emails queued in {queued:.1f} s; delivered over SMTP in "
        f"{sent:.1f} s ({count / sent:,.0f} a second; target 10,000 in 30 s); "
        "statuses "
        + ", ".join(f"{s.value} {n:,}" for s, n in statuses.items())
        + f"; peak RSS {peak_mb():.0f} MB"
    )
    assert statuses.get(EmailStatus.SENT) == count, "not every message was sent"
    record(f"{count:,} emails through the outbox to SMTP", sent, "s", target=30,
           database=engine.dialect.name, note=f"queued in {queued:.1f} s")  # fmt: skip
    record("outbox peak memory", peak_mb(), "MB", target=500, database=engine.dialect.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--postgres", help="also run on PostgreSQL (a server URL)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["YOTQA_OUTPUT_DIR"] = tmp
        get_settings.cache_clear()
        run(f"sqlite:///{Path(tmp) / 'outbox.db'}", args.emails)
        if args.postgres:
            with scratch_postgres(args.postgres) as url:
                run(url, args.emails)


if __name__ == "__main__":
    main()
