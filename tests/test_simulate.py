"""A simulated year through the whole timetable, end to end, on SQLite and on PostgreSQL.

`yotqa simulate` runs every job on its day as its deployment would (T1-T13, F1, F2, the daily
chase), with simulated auditors and action owners, and every email through the outbox.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Audit, Case, EmailMessage, PackSnapshot, SamplingRun, Staff
from models.enums import AuditKind, AuditStatus, EmailStatus, Role, SamplingKind
from models.settings import get_settings
from tasks.outbox import attachment_bytes

EXPECTED_KINDS = {
    "assignment",  # E1
    "team-notice",  # E1: the line manager told
    "digest",  # E2: reminders, chases, escalations
    "recorded",  # App. 1: feedback and action points
    "feedback",
    "high-risk",  # E3
    "difficulty",  # E4
    "exceptions",  # T3
    "team-audits",  # F1
    "feedback-data",  # F2
    "pack",  # T10, T8/T13
    "notice",  # T4, T5, T6, T7, T9, T12
    "reassigned",  # a manager left mid-year: their open audits handed on
}


def test_a_simulated_year_runs_the_whole_timetable(
    cli, session: Session, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    result = cli("simulate", "--from", "2025-04-01", "--to", "2026-03-31", "--seed", "3")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Simulated 2025-04-01 to 2026-03-31: 253 working days" in result.stdout

    # Twelve monthly samples (T1), the peer audit day (T9) in November.
    months = set(
        session.exec(select(SamplingRun.period).where(SamplingRun.kind == SamplingKind.MONTHLY))
    )
    assert len(months) == 12
    peer_days = session.exec(
        select(SamplingRun.period).where(SamplingRun.kind == SamplingKind.PEER_AUDIT_DAY)
    ).all()
    assert set(peer_days) == {"2025-11"}

    # T9 and S9: the minimum took part, two case files each, pairs double-marked; S10 throughout.
    peer = session.exec(select(Audit).where(Audit.kind == AuditKind.PEER)).all()
    per_auditor = Counter(a.auditor_id for a in peer)
    assert set(per_auditor.values()) == {2}
    roles = Counter(session.get(Staff, sid).role for sid in per_auditor)  # type: ignore[union-attr]
    assert roles[Role.OPERATIONAL_MANAGER] >= 1 and roles[Role.QA_MANAGER] == 1
    assert roles[Role.WORKFORCE_DEVELOPMENT_LEAD] == 1 and roles[Role.CASE_MANAGER] == 6
    twice = [c for c, n in Counter(a.case_id for a in peer).items() if n == 2]
    assert len(twice) >= len(per_auditor) // 2 - 1
    owner = dict(session.execute(sa.select(Case.id, Case.case_manager_id)).tuples().all())
    audits = session.exec(select(Audit)).all()
    assert all(a.auditor_id != a.subject_staff_id for a in audits)  # S10
    assert all(a.case_id is None or owner[a.case_id] != a.auditor_id for a in peer)
    assert len({(a.case_id, a.kind, a.period, a.auditor_id) for a in audits}) == len(audits)

    # Packs: four quarters frozen at close (T10) and the annual pack (T8, T13), as PDFs.
    frozen = set(session.exec(select(PackSnapshot.period)))
    assert {"2025-Q1", "2025-Q2", "2025-Q3"} <= frozen
    packs = Path(get_settings().output_dir) / "packs"
    for name in ("2025-Q1/qa-pack-2025-Q1.pdf", "2025-Q3/qa-pack-2025-Q3.pdf"):
        assert (packs / name).stat().st_size > 20_000
    assert list((packs / "2025").glob("*.pdf")), "the annual pack"

    # Every kind of email, each delivered once (E6), none naming a young person (E5). With no
    # SMTP host set they were written as .eml files, and say so.
    messages = session.exec(select(EmailMessage)).all()
    assert {m.kind for m in messages} >= EXPECTED_KINDS
    assert {m.status for m in messages} == {EmailStatus.WRITTEN}
    keys = Counter(m.key.rsplit(":", 1)[0] for m in messages if m.kind == "notice")
    assert keys["notice:T4"] == 12 and keys["notice:T5"] == 12 and keys["notice:T6"] == 4
    assert keys["notice:T7"] == 1 and keys["peer-day-plan"] == 1
    assert any(m.key.startswith("notice:T12:2025:") for m in messages)
    names = {n for (n,) in session.execute(sa.select(Case.young_person_name))}
    for m in messages:
        text = m.subject + m.body_text + m.body_html
        assert not [n for n in names if n in text], m.key

    # T6 in January: the pack and the peer audit day's report attached, the audits not done (D4).
    review = next(m for m in messages if m.key == "notice:T6:2025-Q3")
    attached = {a["filename"]: attachment_bytes(a) for a in review.attachments}
    assert attached["qa-pack-2025-Q3.pdf"].startswith(b"%PDF")
    assert "peer-audit-day-2025-11.xlsx" in attached
    assert "auditors agreed (same answer)" in review.body_text
    # D4: every audit of the quarter not done by its deadline is listed with the reason recorded
    # (even when recorded after the quarter's figures were frozen), and those still open too.
    months = [f"2025-{m:02d}" for m in (10, 11, 12)]
    not_done = session.exec(
        select(Audit).where(Audit.period.in_(months), Audit.status == AuditStatus.NOT_DONE)
    ).all()
    listed = int(review.body_text.split(" audits were not done by their deadline")[0].split()[-1])
    assert not_done and listed >= len(not_done)
    for audit in not_done:
        assert audit.reason_not_completed in review.body_text
    report = next(m for m in messages if m.key == "peer-day-report:2025-11")
    assert "%" in report.body_text.split("auditors agreed (same answer):")[1].split("\n")[0]

    if db_url.startswith("sqlite"):
        _nothing_personal_in_what_the_year_produced(session, caplog.records, result.stdout)

    if db_url.startswith("sqlite"):  # the same day again changes nothing (S11, E6)
        before = (len(audits), len(messages))
        again = cli("simulate", "--from", "2026-01-05", "--to", "2026-01-05", "--seed", "3")
        assert again.exit_code == 0, again.stdout
        session.expire_all()
        after = (
            len(session.exec(select(Audit)).all()),
            len(session.exec(select(EmailMessage)).all()),
        )
        assert after == before


def test_simulate_refuses_a_real_service_and_bad_dates(cli, session: Session) -> None:
    session.add(Staff(email="manager@council.gov.uk", name="Real Person", role=Role.QA_MANAGER))
    session.commit()
    refused = cli("simulate", "--from", "2026-01-05", "--to", "2026-01-09")
    assert refused.exit_code == 1
    assert "holds a real service" in refused.stderr
    backwards = cli("simulate", "--from", "2026-01-09", "--to", "2026-01-05")
    assert backwards.exit_code == 2 and "before --from" in backwards.stderr
    assert session.exec(select(sa.func.count()).select_from(Audit)).one() == 0


@pytest.mark.parametrize("bad", ["2026-13-01", "05/01/2026"])
def test_simulate_names_a_malformed_date(cli, bad: str) -> None:
    result = cli("simulate", "--from", bad, "--to", "2026-01-09")
    assert result.exit_code != 0 and bad in result.stderr


def _nothing_personal_in_what_the_year_produced(
    session: Session, records: list[logging.LogRecord], stdout: str
) -> None:
    """E5: no young person's name or date of birth in any log line at INFO or above, any email
    (as stored and as written to .eml), or any file the year wrote (packs, reports, exports)."""
    import openpyxl
    from pypdf import PdfReader

    people = session.execute(sa.select(Case.young_person_name, Case.date_of_birth)).all()
    secrets = {n for n, _ in people} | {f"{d:%Y-%m-%d}" for _, d in people}
    secrets |= {f"{d:%d/%m/%Y}" for _, d in people}
    texts = {"terminal": stdout}
    texts |= {
        f"log {r.name}:{r.lineno}": r.getMessage() for r in records if r.levelno >= logging.INFO
    }
    output = Path(get_settings().output_dir)
    scanned = Counter[str]()
    for path in sorted(output.rglob("*")):
        if not path.is_file() or "demo" in path.parts or "simulated" in path.parts:
            continue  # the import files themselves hold the caseload, as a real extract would
        if path.suffix in (".eml", ".md", ".csv", ".txt", ".html"):
            texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path, read_only=True)
            texts[str(path)] = " ".join(
                str(v) for ws in book for row in ws.iter_rows(values_only=True) for v in row if v
            )
        elif path.suffix == ".pdf":
            texts[str(path)] = " ".join(p.extract_text() or "" for p in PdfReader(path).pages)
        else:
            continue
        scanned[path.suffix] += 1
    assert scanned[".eml"] > 1000 and scanned[".xlsx"] > 40 and scanned[".pdf"] >= 5, scanned
    leaks = [(where, s) for where, text in texts.items() for s in secrets if s in text]
    assert not leaks, leaks[:5]
