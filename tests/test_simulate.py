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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Audit, Case, EmailMessage, PackSnapshot, SamplingRun, Staff
from models.db import make_engine, upgrade
from models.enums import AuditKind, AuditStatus, EmailStatus, Role, SamplingKind
from models.settings import get_settings
from tasks.outbox import attachment_bytes
from tests.conftest import Cli, _load_question_sets, new_postgres_database

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
SIMULATE = ("simulate", "--from", "2025-04-01", "--to", "2026-03-31", "--seed", "3")

# Each backend's year is built by the first test that asks on a worker, so all the tests of one
# backend run on one worker (and the two backends' years on the two workers at once).
ON_SQLITE = [pytest.mark.slow, pytest.mark.xdist_group("simulated-year-sqlite")]
ON_POSTGRES = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.xdist_group("simulated-year-postgresql"),
]
BOTH = [pytest.param("sqlite", marks=ON_SQLITE), pytest.param("postgresql", marks=ON_POSTGRES)]


@dataclass
class Simulated:
    """A database after `yotqa simulate` over the financial year, and what the run said."""

    url: str
    output: Path  # the output folder the year wrote to
    exit_code: int
    stdout: str
    records: list[logging.LogRecord]  # logged at INFO and above while it ran


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _simulate(url: str, output: Path, *args: str) -> tuple[int, str, list[logging.LogRecord]]:
    """`yotqa` in-process on `url`, writing to `output`, keeping what is logged at INFO and above
    (as `caplog.set_level(logging.INFO)` would for a test)."""
    keep, root = _Keep(), logging.getLogger()
    level = root.level
    root.addHandler(keep)
    root.setLevel(logging.INFO)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("YOTQA_OUTPUT_DIR", str(output))
            # H1: the year's supervision-file audits use the inspection-style tool, so the packs'
            # inspection section (H2) is read back from a year of real recording.
            mp.setenv("YOTQA_INSPECTION_TOOL_KINDS", "supervision_file")
            result = Cli(mp, url)(*args)
    finally:
        root.removeHandler(keep)
        root.setLevel(level)
        get_settings.cache_clear()
    return result.exit_code, result.stdout + result.stderr, keep.records


class Years:
    """This worker's simulated years, one per backend, made on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: dict[str, Simulated] = {}
        self.drops: list[object] = []

    def get(self, backend: str, request: pytest.FixtureRequest) -> Simulated:
        if backend not in self.made:
            folder = self.folder / backend
            folder.mkdir()
            if backend == "sqlite":
                shutil.copy(request.getfixturevalue("sqlite_template"), folder / "yotqa.db")
                url = f"sqlite:///{folder / 'yotqa.db'}"
            else:
                url, drop = new_postgres_database(request.getfixturevalue("postgres_server"))
                self.drops.append(drop)
                upgrade(url)
                _load_question_sets(url)
            code, stdout, records = _simulate(url, folder / "var", *SIMULATE)
            self.made[backend] = Simulated(url, folder / "var", code, stdout, records)
        return self.made[backend]


@pytest.fixture(scope="session")
def simulated_years(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Years]:
    years = Years(tmp_path_factory.mktemp("simulated"))
    try:
        yield years
    finally:
        for drop in years.drops:
            drop()  # type: ignore[operator]


@pytest.fixture(params=BOTH)
def simulated(
    request: pytest.FixtureRequest, simulated_years: Years, monkeypatch: pytest.MonkeyPatch
) -> Simulated:
    """The year on each backend, with the settings pointing at its output folder."""
    year = simulated_years.get(request.param, request)
    monkeypatch.setenv("YOTQA_DATABASE_URL", year.url)
    monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(year.output))
    get_settings.cache_clear()
    return year


@pytest.fixture
def on_sqlite(
    request: pytest.FixtureRequest, simulated_years: Years, monkeypatch: pytest.MonkeyPatch
) -> Simulated:
    """The year on SQLite only (for the checks made once, not per backend)."""
    year = simulated_years.get("sqlite", request)
    monkeypatch.setenv("YOTQA_DATABASE_URL", year.url)
    monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(year.output))
    get_settings.cache_clear()
    return year


@pytest.fixture
def session_of() -> Iterator[object]:
    engines: list[sa.Engine] = []

    def open_session(year: Simulated) -> Session:
        engines.append(make_engine(year.url))
        return Session(engines[-1], expire_on_commit=False)

    yield open_session
    for engine in engines:
        engine.dispose()


@pytest.fixture
def db(simulated: Simulated, session_of) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    with session_of(simulated) as session:
        yield session


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


def test_simulated_year_samples_weaker_case_managers_more_and_says_why(db: Session) -> None:
    """H4 over a year: some months give a weaker case manager a risk-adaptive case; each such
    pick comes after S6's picks in its run, says why, is counted in the run's rules, and its
    case manager's last three audits before it were weaker than the threshold."""
    from models import SamplingSelection
    from tasks.inspection.adaptive import weaker_case_managers

    runs = db.exec(select(SamplingRun).where(SamplingRun.kind == SamplingKind.MONTHLY)).all()
    adaptive = 0
    for run in runs:
        picks = db.exec(
            select(SamplingSelection)
            .where(SamplingSelection.run_id == run.id)
            .order_by(SamplingSelection.position)
        ).all()
        h4 = [p for p in picks if p.reason.startswith("H4")]
        if not h4:
            assert not any(r.startswith("H4") for r in run.rules)
            continue
        adaptive += len(h4)
        assert f"H4: {len(h4)} risk-adaptive" in run.rules
        first = picks.index(h4[0])
        assert first >= 1 and all(p.reason.startswith("S6") for p in picks[:first])
        weaker = weaker_case_managers(db, run.sampling_date, 3, 0.3)
        for pick in h4:
            subject = db.get(Audit, pick.audit_id).subject_staff_id
            assert subject in weaker and "above 30%" in pick.reason
    assert adaptive > 0, "the simulated year's weaker team gives some risk-adaptive picks"


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


@pytest.mark.parametrize("quarter", ["2025-Q2", "2025-Q3"])
def test_simulated_year_rates_the_inspection_standards_in_its_packs(
    simulated: Simulated, db: Session, quarter: str
) -> None:
    """H1, H2 over a simulated year: the supervision files audited with the inspection-style
    tool; the frozen pack's inspection section counts exactly the key questions' answers stored
    for the quarter's completed audits, rates every standard seen, and its PDF and XLSX say so."""
    from openpyxl import load_workbook
    from pypdf import PdfReader

    from models import Finding, Question
    from models.enums import AnswerType, Judgement
    from tasks.workdays import Quarter

    q = Quarter.parse(quarter)
    rows = db.execute(
        sa.select(col(Question.standard), col(Question.code), col(Finding.judgement))
        .join(Finding, col(Finding.question_id) == Question.id)
        .join(Audit, col(Audit.id) == Finding.audit_id)
        .where(
            col(Question.answer_type) == AnswerType.SUFFICIENCY,
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.kind) == AuditKind.SUPERVISION_FILE,
            col(Audit.completed_on).between(q.first_day, q.last_day),
        )
    ).all()
    assert rows, "supervision files were audited with the inspection-style tool"
    tally: Counter[tuple[str, str]] = Counter()
    judged: Counter[tuple[str, str]] = Counter()
    for standard, code, judgement in rows:
        judged[(standard, code)] += judgement is not Judgement.NOT_APPLICABLE
        tally[(standard, code)] += judgement is Judgement.SUFFICIENT
    snapshot = db.execute(
        sa.select(PackSnapshot).where(
            col(PackSnapshot.kind) == "quarterly", col(PackSnapshot.period) == quarter
        )
    ).scalar_one()
    section = snapshot.figures["inspection"]
    seen = {
        (r["standard"], k["code"]): (k["sufficient"], k["judged"])
        for r in section["standards"]
        for k in r["keys"]
    }
    assert seen == {key: (tally[key], judged[key]) for key in judged}
    assert all(r["rating"] for r in section["standards"])
    folder = simulated.output / "packs" / quarter
    book = load_workbook(folder / f"qa-pack-{quarter}.xlsx", read_only=True)
    assert "Inspection standards" in book.sheetnames
    text = " ".join(
        p.extract_text() or "" for p in PdfReader(folder / f"qa-pack-{quarter}.pdf").pages
    )
    assert "Inspection standards" in text and section["standards"][0]["title"] in text


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


def test_simulated_year_moderates_every_auditor_each_quarter(db: Session) -> None:
    """A5: from May each month's sample brings moderations of the month before's audits, none
    re-marked by its own auditor; every auditor who completed an audit in a quarter is
    moderated from it (the quarters whose next month the year reaches: all but the last)."""
    moderations = list(db.exec(select(Audit).where(Audit.kind == AuditKind.MODERATION)))
    firsts = {a.id: a for a in db.exec(select(Audit).where(Audit.kind != AuditKind.MODERATION))}
    months = {m.period for m in moderations}
    assert months == {f"2025-{m:02d}" for m in range(5, 13)} | {"2026-01", "2026-02", "2026-03"}
    assert all(firsts[m.moderates_id].auditor_id != m.auditor_id for m in moderations)
    assert all(firsts[m.moderates_id].status is AuditStatus.COMPLETED for m in moderations)
    kinds = {AuditKind.CASE_FILE, AuditKind.SUPERVISION_FILE, AuditKind.THEMED}
    for first_day, last_day in [
        ("2025-04-01", "2025-06-30"),
        ("2025-07-01", "2025-09-30"),
        ("2025-10-01", "2025-12-31"),
    ]:
        done = [
            a
            for a in firsts.values()
            if a.kind in kinds
            and a.completed_on is not None
            and first_day <= a.completed_on.isoformat() <= last_day
        ]
        moderated = {firsts[m.moderates_id].auditor_id for m in moderations}
        moderated_here = {
            firsts[m.moderates_id].auditor_id
            for m in moderations
            if first_day <= firsts[m.moderates_id].completed_on.isoformat() <= last_day
        }
        assert {a.auditor_id for a in done} <= moderated_here, (first_day, moderated)
    recorded = [m for m in moderations if m.status is AuditStatus.COMPLETED]
    assert len(recorded) > len(moderations) / 2  # the simulated moderator does most of them


def test_simulated_year_reaudits_once_the_actions_are_done(db: Session) -> None:
    """A1: every re-audit follows an audit whose action points were all done by its sample day,
    with the same tool, never by the case's holder; most are recorded."""
    from models import ActionPoint

    reaudits = list(db.exec(select(Audit).where(col(Audit.reaudits_id).is_not(None))))
    assert len(reaudits) >= 10
    holders = {c.id: c.case_manager_id for c in db.exec(select(Case))}
    for again in reaudits:
        first = db.get(Audit, again.reaudits_id)
        actions = db.exec(select(ActionPoint).where(ActionPoint.audit_id == first.id)).all()
        assert actions and all(
            a.completed_on is not None and a.completed_on <= again.assigned_on
            for a in actions
            if a.status.value != "cancelled"
        )
        assert again.question_set_id == first.question_set_id
        assert again.auditor_id != holders[again.case_id]
    assert sum(a.status is AuditStatus.COMPLETED for a in reaudits) > len(reaudits) / 2


def test_simulated_year_sends_each_case_manager_a_quarterly_summary(db: Session) -> None:
    """A3 (Fig. 2): in July, October and January each case manager with a line manager is sent
    the quarter before's summary, copied to that manager, with its PDF (April's would cover the
    quarter before the simulated year began, and is sent too)."""
    summaries = [m for m in _messages(db) if m.key.startswith("supervisee-summary:")]
    quarters = Counter(m.key.split(":")[1] for m in summaries)
    assert set(quarters) >= {"2025-Q1", "2025-Q2", "2025-Q3"}
    staff = {s.email: s for s in db.exec(select(Staff))}
    for m in summaries:
        [to] = m.to_addrs
        [manager] = m.cc_addrs  # their line manager then (one left mid-year: staff_change)
        assert staff[to].role is Role.CASE_MANAGER
        assert staff[manager].role is Role.OPERATIONAL_MANAGER
        assert [a["filename"] for a in m.attachments] == [
            f"summary-{m.key.split(':')[1]}-{staff[to].id}.pdf"
        ]


def test_simulated_year_identifies_reviews_and_chases_support_needs(db: Session) -> None:
    """A4 (§5 Methods): auditors identify support or training needs with audits (never with a
    moderation), each for the team manager to review within six months; the reviews are chased
    (E2) and made: most needs are met, some reviewed again with a later date."""
    from models import ChaseStep, SupportNeed
    from models.enums import NeedScope, NeedStatus

    needs = list(db.exec(select(SupportNeed)))
    assert len(needs) >= 20
    audits = {a.id: a for a in db.exec(select(Audit))}
    staff = {s.id: s for s in db.exec(select(Staff))}
    for need in needs:
        audit = audits[need.audit_id]
        assert audit.kind is not AuditKind.MODERATION and audit.status is AuditStatus.COMPLETED
        assert need.staff_id == audit.subject_staff_id
        # The team manager then (one left mid-year: staff_change), or whoever recorded it.
        reviewer = staff[need.owner_id]
        managers = (Role.OPERATIONAL_MANAGER, Role.SERVICE_MANAGER)
        assert reviewer.role in managers or need.owner_id == audit.recorded_by_id
        if need.status is NeedStatus.OPEN:  # a leaver's open needs were handed on
            assert reviewer.active
        assert 0 < (need.review_on - audit.completed_on).days <= 183 + 30 * need.times_reviewed
    assert {n.scope for n in needs} == {NeedScope.INDIVIDUAL, NeedScope.TEAM}
    met = [n for n in needs if n.status is NeedStatus.MET]
    assert len(met) > len(needs) / 2
    assert any(n.times_reviewed == 2 for n in met)  # reviewed, still needed, then met
    # The workforce development lead's summary each quarter, with the supervisee summaries (SS).
    summaries = [m for m in _messages(db) if m.key.startswith("needs-summary:")]
    assert {m.key.split(":")[1] for m in summaries} >= {"2025-Q1", "2025-Q2", "2025-Q3"}
    leads = {s.email for s in staff.values() if s.role is Role.WORKFORCE_DEVELOPMENT_LEAD}
    assert all(set(m.to_addrs) <= leads for m in summaries)
    chased = set(db.exec(select(ChaseStep.item_id).where(ChaseStep.item_type == "need")))
    assert {
        n.id for n in needs if n.status is NeedStatus.OPEN and n.review_on < date(2026, 3, 1)
    } <= chased


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
