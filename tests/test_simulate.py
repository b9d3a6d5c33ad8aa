"""A simulated year through the whole timetable, end to end, on SQLite and on PostgreSQL.

`yotqa simulate` runs every job on its day as its deployment would (T1-T13, F1, F2, the daily
chase), with simulated auditors and action owners, and every email through the outbox.

The year is simulated once per backend (about a minute each) and each test below checks one
thing about it, reading only; the one that runs a day again does so on a copy.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Audit, Case, EmailMessage, PackSnapshot, SamplingRun, Staff
from models.enums import AuditKind, AuditStatus, EmailStatus, Role, SamplingKind
from tasks.outbox import attachment_bytes
from tests.conftest import Cli
from tests.simulated_year import Simulated, Years

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


def _messages(db: Session) -> list[EmailMessage]:
    return list(db.exec(select(EmailMessage)))


# The run ------------------------------------------------------------------------------------


def test_simulate_runs_every_working_day_of_the_year(simulated: Simulated) -> None:
    assert simulated.exit_code == 0, simulated.stdout
    assert "Simulated 2025-04-01 to 2026-03-31: 253 working days" in simulated.stdout


# Sampling: T1, T9, S9, S10 -----------------------------------------------------------------


def test_simulated_year_draws_twelve_monthly_samples(db: Session) -> None:
    months = set(
        db.exec(select(SamplingRun.period).where(SamplingRun.kind == SamplingKind.MONTHLY))
    )
    assert len(months) == 12


def test_simulated_year_holds_the_peer_audit_day_in_november(db: Session) -> None:
    peer_days = db.exec(
        select(SamplingRun.period).where(SamplingRun.kind == SamplingKind.PEER_AUDIT_DAY)
    ).all()
    assert set(peer_days) == {"2025-11"}


def _peer(db: Session) -> list[Audit]:
    peer = list(db.exec(select(Audit).where(Audit.kind == AuditKind.PEER)))
    assert peer, "the peer audit day assigned nothing"
    return peer


def test_peer_audit_day_gives_each_auditor_two_case_files(db: Session) -> None:
    per_auditor = Counter(a.auditor_id for a in _peer(db))
    assert set(per_auditor.values()) == {2}


def test_peer_audit_day_takes_the_minimum_of_each_role(db: Session) -> None:
    """T9 and S9: an operational manager at least, the QA manager, the workforce development
    lead and six case managers."""
    per_auditor = Counter(a.auditor_id for a in _peer(db))
    roles = Counter(db.get(Staff, sid).role for sid in per_auditor)  # type: ignore[union-attr]
    assert roles[Role.OPERATIONAL_MANAGER] >= 1 and roles[Role.QA_MANAGER] == 1
    assert roles[Role.WORKFORCE_DEVELOPMENT_LEAD] == 1 and roles[Role.CASE_MANAGER] == 6


def test_peer_audit_day_pairs_share_a_case(db: Session) -> None:
    peer = _peer(db)
    twice = [c for c, n in Counter(a.case_id for a in peer).items() if n == 2]
    assert len(twice) >= len({a.auditor_id for a in peer}) // 2 - 1


def test_simulated_year_never_has_anyone_audit_themselves(db: Session) -> None:
    """S10: no auditor is the audit's subject, nor, on the peer day, the case's holder; but for
    self-audits (A2), the case manager's own, which S10 does not govern."""
    audits = db.exec(select(Audit).where(Audit.kind != AuditKind.SELF)).all()
    assert audits
    assert all(a.auditor_id != a.subject_staff_id for a in audits)
    selves = db.exec(select(Audit).where(Audit.kind == AuditKind.SELF)).all()
    assert selves and all(a.auditor_id == a.subject_staff_id for a in selves)
    owner = dict(db.execute(sa.select(Case.id, Case.case_manager_id)).tuples().all())
    assert all(a.case_id is None or owner[a.case_id] != a.auditor_id for a in _peer(db))


def test_simulated_year_assigns_each_audit_once(db: Session) -> None:
    audits = db.exec(select(Audit)).all()
    assert audits
    assert len({(a.case_id, a.kind, a.period, a.auditor_id) for a in audits}) == len(audits)


# Packs: T10, T8, T13 -------------------------------------------------------------------------


def test_simulated_year_freezes_each_closed_quarter(db: Session) -> None:
    frozen = set(db.exec(select(PackSnapshot.period)))
    assert {"2025-Q1", "2025-Q2", "2025-Q3"} <= frozen


def test_simulated_year_writes_the_quarterly_packs(simulated: Simulated) -> None:
    packs = simulated.output / "packs"
    for name in ("2025-Q1/qa-pack-2025-Q1.pdf", "2025-Q3/qa-pack-2025-Q3.pdf"):
        assert (packs / name).stat().st_size > 20_000


def test_simulated_year_writes_the_annual_pack(simulated: Simulated) -> None:
    assert list((simulated.output / "packs" / "2025").glob("*.pdf")), "the annual pack"


# Emails: E5, E6 and the notices ------------------------------------------------------------


def test_simulated_year_sends_every_kind_of_email(db: Session) -> None:
    assert {m.kind for m in _messages(db)} >= EXPECTED_KINDS


def test_without_an_smtp_host_every_email_is_written_as_a_file(db: Session) -> None:
    """E6: each delivered once; with no SMTP host set they were written as .eml files, and say so."""
    assert {m.status for m in _messages(db)} == {EmailStatus.WRITTEN}


def test_simulated_year_sends_each_notice_as_often_as_the_timetable_says(db: Session) -> None:
    messages = _messages(db)
    keys = Counter(m.key.rsplit(":", 1)[0] for m in messages if m.kind == "notice")
    assert keys["notice:T4"] == 12 and keys["notice:T5"] == 12 and keys["notice:T6"] == 4
    assert keys["notice:T7"] == 1 and keys["peer-day-plan"] == 1
    assert any(m.key.startswith("notice:T12:2025:") for m in messages)


def test_no_email_of_the_year_names_a_young_person(db: Session) -> None:
    """E5."""
    names = {n for (n,) in db.execute(sa.select(Case.young_person_name))}
    assert names
    for m in _messages(db):
        text = m.subject + m.body_text + m.body_html
        assert not [n for n in names if n in text], m.key


def _review(db: Session) -> EmailMessage:
    return next(m for m in _messages(db) if m.key == "notice:T6:2025-Q3")


def test_quarterly_review_attaches_the_pack_and_the_peer_audit_days_report(db: Session) -> None:
    """T6 in January: the pack and the peer audit day's report attached."""
    review = _review(db)
    attached = {a["filename"]: attachment_bytes(a) for a in review.attachments}
    assert attached["qa-pack-2025-Q3.pdf"].startswith(b"%PDF")
    assert "peer-audit-day-2025-11.xlsx" in attached
    assert "auditors agreed (same answer)" in review.body_text


def test_quarterly_review_lists_every_audit_not_done_with_its_reason(db: Session) -> None:
    """D4: every audit of the quarter not done by its deadline is listed with the reason recorded
    (even when recorded after the quarter's figures were frozen), and those still open too."""
    review = _review(db)
    months = [f"2025-{m:02d}" for m in (10, 11, 12)]
    not_done = db.exec(
        select(Audit).where(Audit.period.in_(months), Audit.status == AuditStatus.NOT_DONE)
    ).all()
    listed = int(review.body_text.split(" audits were not done by their deadline")[0].split()[-1])
    assert not_done and listed >= len(not_done)
    for audit in not_done:
        assert audit.reason_not_completed in review.body_text


def test_peer_audit_days_report_says_how_often_auditors_agreed(db: Session) -> None:
    report = next(m for m in _messages(db) if m.key == "peer-day-report:2025-11")
    assert "%" in report.body_text.split("auditors agreed (same answer):")[1].split("\n")[0]


def test_peer_audit_days_report_gives_kappa_as_moderation_does(db: Session) -> None:
    """T9 measured as A5 is: agreement beyond chance, with its 95% interval."""
    report = next(m for m in _messages(db) if m.key == "peer-day-report:2025-11")
    line = report.body_text.split("kappa (95% CI):")[1].split("\n")[0]
    assert re.search(r"-?\d\.\d\d \(-?\d\.\d\d to -?\d\.\d\d\)", line), line


def _any_of(strings: set[str]) -> re.Pattern[str]:
    """A pattern that finds any of `strings` in a text: it matches exactly where one of them
    occurs, as `s in text` for each would. Written as a trie (shared beginnings once), so a
    text is read once, not once per string (a plain alternation of them all is slower still)."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for text in strings:
        node = trie
        for char in text:
            node = node.setdefault(char, {})
        node[""] = {}  # one of the strings ends here

    def pattern(node: dict) -> str:  # type: ignore[type-arg]
        branches = [re.escape(char) + pattern(rest) for char, rest in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    assert strings, "nothing to look for"
    return re.compile(pattern(trie))


# Once, on SQLite -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.xdist_group("simulated-year-sqlite")
def test_nothing_personal_in_what_the_year_logged_printed_or_wrote(
    on_sqlite: Simulated, session_of
) -> None:  # type: ignore[no-untyped-def]
    """E5: no young person's name or date of birth in any log line at INFO or above, the
    terminal, any email (as stored and as written to .eml), or any file the year wrote (packs,
    reports, exports)."""
    import openpyxl
    from pypdf import PdfReader

    with session_of(on_sqlite) as session:
        people = session.execute(sa.select(Case.young_person_name, Case.date_of_birth)).all()
    assert people
    secrets = {n for n, _ in people} | {f"{d:%Y-%m-%d}" for _, d in people}
    secrets |= {f"{d:%d/%m/%Y}" for _, d in people}
    texts = {"terminal": on_sqlite.stdout}
    texts |= {
        f"log {r.name}:{r.lineno}": r.getMessage()
        for r in on_sqlite.records
        if r.levelno >= logging.INFO
    }
    scanned = Counter[str]()
    for path in sorted(on_sqlite.output.rglob("*")):
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
    assert len(on_sqlite.records) > 100, "the year logged next to nothing: nothing was checked"
    anyone = _any_of(secrets)
    leaks = [(where, found[0]) for where, text in texts.items() if (found := anyone.search(text))]
    assert not leaks, leaks[:5]


@pytest.mark.slow
@pytest.mark.xdist_group("simulated-year-sqlite")
def test_simulating_a_day_of_the_year_again_changes_nothing(
    simulated_years: Years,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    session_of,
) -> None:  # type: ignore[no-untyped-def]
    """S11, E6: the same day again, on a copy of the year: no audit, no email."""
    year = simulated_years.get("sqlite", request)
    path = tmp_path / "yotqa.db"
    shutil.copy(year.url.removeprefix("sqlite:///"), path)
    shutil.copytree(year.output, tmp_path / "var")
    copy = Simulated(f"sqlite:///{path}", tmp_path / "var", 0, "", [])
    monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(copy.output))

    def counts() -> tuple[int, int]:
        with session_of(copy) as session:
            return (
                len(session.exec(select(Audit)).all()),
                len(session.exec(select(EmailMessage)).all()),
            )

    before = counts()
    again = Cli(monkeypatch, copy.url)("simulate", "--from", "2026-01-05", "--to", "2026-01-05",
                                       "--seed", "3")  # fmt: skip
    assert again.exit_code == 0, again.stdout
    assert counts() == before


def test_simulate_refuses_a_real_service(cli, session: Session) -> None:
    session.add(Staff(email="manager@council.gov.uk", name="Real Person", role=Role.QA_MANAGER))
    session.commit()
    refused = cli("simulate", "--from", "2026-01-05", "--to", "2026-01-09")
    assert refused.exit_code == 1
    assert "holds a real service" in refused.stderr
    assert session.exec(select(sa.func.count()).select_from(Audit)).one() == 0


def test_simulate_refuses_an_end_before_its_start(cli, session: Session) -> None:
    backwards = cli("simulate", "--from", "2026-01-09", "--to", "2026-01-05")
    assert backwards.exit_code == 2 and "before --from" in backwards.stderr
    assert session.exec(select(sa.func.count()).select_from(Audit)).one() == 0


@pytest.mark.parametrize("bad", ["2026-13-01", "05/01/2026"])
def test_simulate_names_a_malformed_date(cli, bad: str) -> None:
    result = cli("simulate", "--from", bad, "--to", "2026-01-09")
    assert result.exit_code != 0 and bad in result.stderr
