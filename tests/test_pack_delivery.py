"""Q2-Q4: packs delivered: through the Prefect flow by email, on either database, from the
command line, and safely when the disk fills while one is written."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from models import EmailMessage, Question
from models.db import make_engine
from models.settings import get_settings
from tasks.outbox import attachment_bytes
from tasks.simulation import simulate_span
from tasks.workdays import Quarter
from tests.pack_world import (
    Q3,
    START,
    pdf_text,
    result_totals,
    session_judged,
    young_names,
)


@pytest.mark.slow
def test_quarterly_flow_emails_the_pack_to_the_service_manager_and_board(
    prefect_harness, year: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T10 through Prefect: artifacts on the run, one email with the PDF, HTML (O4) and XLSX, no
    names (E5)."""
    from prefect.client.orchestration import get_client

    from flows.timetable import FLOWS
    from tests.smtp import smtp_server

    year.execute(sa.update(EmailMessage).values(status="sent"))  # the year's own mail is old news
    year.commit()
    with smtp_server() as (recorder, port):
        monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("YOTQA_SMTP_PORT", str(port))
        get_settings.cache_clear()
        result = FLOWS["quarterly-pack"](as_of=date(2026, 1, 6))
        again = FLOWS["quarterly-pack"](as_of=date(2026, 1, 6))  # a re-run the same day sends nothing new
    assert result["period"] == "2025-Q3" and result["emailed"] and not again["emailed"]
    packs = [m for m in recorder.messages if m["X-Yotqa-Key"].startswith("pack:")]
    assert len(packs) == 1
    message = packs[0]
    service_manager = year.execute(
        sa.text("SELECT email FROM staff WHERE role = 'service_manager'")
    ).scalar()
    assert {service_manager, "chair@board.example", "member@board.example"} <= set(
        a.strip() for a in message["To"].split(",")
    )
    files = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    assert set(files) == {"qa-pack-2025-Q3.pdf", "qa-pack-2025-Q3.html", "qa-pack-2025-Q3.xlsx"}
    text, _, _ = pdf_text(files["qa-pack-2025-Q3.pdf"])
    body = message.get_body(("plain",)).get_content()
    html = files["qa-pack-2025-Q3.html"]  # text/html: read back as text
    assert isinstance(html, str) and 'alt="Bar chart: audits assigned' in html
    everything = " ".join((text + body + html).split())
    for name in young_names(year):
        assert name not in everything
    stored = year.execute(sa.select(EmailMessage).where(EmailMessage.kind == "pack")).scalar_one()
    assert attachment_bytes(stored.attachments[0])[:5] == b"%PDF-"

    async def artifacts() -> dict[str, str]:
        async with get_client() as client:
            return {a.key: a.type for a in await client.read_artifacts() if a.key}

    found = asyncio.run(artifacts())
    assert found.get("quarterly-pack-2025q3") == "markdown"
    assert "quarterly-pack-pdf-2025q3" in found


@pytest.mark.demo(seed=3, as_of=START)
def test_packs_on_either_database(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A simulated quarter compiled on SQLite and on PostgreSQL gives figures that match the tables."""
    from tasks.packs.quarterly import compile_quarter

    monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as session:
        simulate_span(session, START, date(2025, 7, 8), seed=2)
        pack = compile_quarter(session, Quarter(2025, 1), date(2025, 7, 8))
        assert pack.status == "final"
        totals = result_totals(session, Quarter(2025, 1))
        assert pack.figures["audits"]["totals"]["assigned"] == totals["assigned"] > 0
        assert pack.figures["audits"]["totals"]["completed"] == totals["completed"]
        judged = sum(s["judged"] for s in pack.figures["judgements"]["sections"])
        assert judged == session_judged(session, Quarter(2025, 1))
        sections = {q for (q,) in session.execute(sa.select(Question.section))}
        assert pack.figures["trend"]["sections"], "the pack's run chart has no section"
        assert set(pack.figures["trend"]["sections"]) <= sections
        again = compile_quarter(session, Quarter(2025, 1), date(2025, 8, 1))
        assert again.status == "re-issue" and again.figures == pack.figures
    engine.dispose()
    get_settings.cache_clear()


@pytest.mark.demo(as_of="2026-10-20")
def test_pack_monthly_writes_the_four_outputs(cli) -> None:
    """`yotqa pack monthly`: Q1's four outputs for a month in one command."""
    result = cli("pack", "monthly", "2026-10")
    assert result.exit_code == 0, result.output
    paths = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if ".xlsx" in line]
    assert len(paths) == 4 and all(Path(p).is_file() for p in paths)
    assert "2026-10" in paths[0]
    bad = cli("pack", "quarterly", "2026-Q5")
    assert bad.exit_code == 1 and "'2026-Q5' is not a quarter" in bad.output


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of 256 KB (tmpfs), too small for a pack: writes fail with ENOSPC."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_disk_full_while_writing_a_pack_leaves_the_last_good_one(
    year: Session, full_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 7: the disk fills while the PDF is written; the previous pack stays whole, no
    partial or temporary file is left, and the command says what happened, without a traceback."""
    folder = full_disk / "packs" / str(Q3)
    folder.mkdir(parents=True)
    (folder / f"qa-pack-{Q3}.pdf").write_bytes(b"%PDF-1.7 the last good issue")
    monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(full_disk))
    get_settings.cache_clear()
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["pack", "quarterly", str(Q3)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    assert (folder / f"qa-pack-{Q3}.pdf").read_bytes() == b"%PDF-1.7 the last good issue"
    assert sorted(p.name for p in folder.iterdir()) == [f"qa-pack-{Q3}.pdf"]
