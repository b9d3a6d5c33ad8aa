"""Q2-Q4: quarterly and annual packs compiled from a simulated year (PDF, XLSX, markdown, email)."""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from sqlmodel import Session

from models import (
    Audit,
    Case,
    EmailMessage,
    Feedback,
    Finding,
    PackSnapshot,
    Question,
    SamplingRun,
    SamplingSelection,
    Team,
)
from models.db import make_engine, upgrade
from models.enums import AuditStatus, Judgement
from models.settings import get_settings
from tasks.demo import load_demo, write_demo_files
from tasks.outbox import attachment_bytes
from tasks.packs.figures import JUDGED
from tasks.packs.redact import NAME_REMOVED
from tasks.question_sets import sync_question_sets
from tasks.simulation import simulate_span
from tasks.workdays import Quarter

START, END = date(2025, 4, 1), date(2026, 3, 31)
Q3 = Quarter(2025, 3)  # October to December 2025
LONDON = ZoneInfo("Europe/London")


def _pdf_text(path_or_bytes: Path | bytes) -> tuple[str, int, int]:
    """The PDF's text, its page count and how many images (charts) it holds."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    # WeasyPrint shares one resource dictionary between pages: count distinct image objects.
    images = set()
    for page in reader.pages:
        xobjects = page["/Resources"].get_object().get("/XObject")
        for ref in (xobjects.get_object() if xobjects else {}).values():
            if ref.get_object().get("/Subtype") == "/Image":
                images.add(ref.idnum)
    return text, len(reader.pages), len(images)


def _build_year(url: str, output: Path) -> None:
    """A demo service run for a financial year by simulated auditors, with an improvement plan."""
    from tasks.plan import add_activity, add_objective, add_outcome, update_progress

    upgrade(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        sync_question_sets(session, get_settings().question_sets_dir)
        session.commit()
        load_demo(session, write_demo_files(output / "demo", seed=11, as_of=START))
        # A young person's name typed into free text must never reach a pack (E5).
        name = session.execute(sa.select(Case.young_person_name).limit(1)).scalar_one()
        team_id = session.execute(sa.select(Team.id).order_by(Team.id)).scalars().first()
        session.add(
            Feedback(
                fingerprint="named-complaint",
                source="complaint",
                received_on=date(2025, 11, 3),
                team_id=team_id,
                themes=["communication"],
                summary=f"Complaint from the mother of {name} about missed visits.",
                lessons_learnt=f"Tell {name.split()[0]}'s family when a visit moves.",
            )
        )
        session.commit()
        outcome = add_outcome(
            session, 2025, "Plans are written with young people <b>and</b> families"
        )
        objective = add_objective(session, 2025, outcome.number, "Every plan reviewed at 3 months")
        staff = session.execute(
            sa.text("SELECT email FROM staff WHERE role = 'qa_manager'")
        ).scalar()
        first = add_activity(
            session,
            objective.id,
            "Plan-writing workshop for case managers",
            completion_date=date(2025, 12, 12),
            lead_email=staff,
            on=date(2025, 10, 6),
        )
        update_progress(session, first.id, "Held for two teams", completed_on=date(2025, 11, 20))
        add_activity(
            session,
            objective.id,
            "Add a plan review prompt to supervision",
            completion_date=date(2026, 2, 27),
            lead_email=staff,
            on=date(2025, 11, 10),
        )
        weak = session.execute(sa.select(Team.id).order_by(Team.id)).scalars().first()
        simulate_span(session, START, END, seed=5, weak_team_id=weak)
    engine.dispose()


@pytest.fixture(scope="session")
def year_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated year on SQLite, built once (about 15 s) and copied for each test."""
    folder = tmp_path_factory.mktemp("year")
    path = folder / "year.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOTQA_OUTPUT_DIR", str(folder / "var"))
        get_settings.cache_clear()
        _build_year(f"sqlite:///{path}", folder)
    get_settings.cache_clear()
    return path


@pytest.fixture
def year(year_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    """A copy of the simulated year, configured as the product's database."""
    path = tmp_path / "yotqa.db"
    shutil.copy(year_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("YOTQA_DATABASE_URL", url)
    monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("YOTQA_BOARD_EMAILS", "chair@board.example, member@board.example")
    monkeypatch.setenv("YOTQA_SERVICE_NAME", "Riverside YOT")
    get_settings.cache_clear()
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()
    get_settings.cache_clear()


def _young_names(session: Session) -> set[str]:
    return {n for (n,) in session.execute(sa.select(Case.young_person_name)) if n}


def _compile(quarter: Quarter, on: date, email: bool = False) -> dict:
    """The whole job: figures, PDF, XLSX and markdown (about 7 s, for the PDF)."""
    from tasks.jobs import quarterly_pack

    return quarterly_pack.fn(str(quarter), on, email)


def _quick(session: Session, quarter: Quarter, on: date, tmp: Path) -> tuple[object, Path, str]:
    """Figures, spreadsheet and HTML without the PDF, for tests about the figures."""
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import quarter_html, quarter_workbook

    pack = compile_quarter(session, quarter, on)
    path = tmp / f"{quarter}-{on}.xlsx"
    quarter_workbook(pack, "Riverside YOT").save(path)
    return pack, path, " ".join(quarter_html(pack, "Riverside YOT").split())


def test_quarterly_pdf_reads_as_a_board_pack(year: Session) -> None:
    """Q2/Q4: cover, contents, narrative, every section and chart; no young person's name (E5)."""
    result = _compile(Q3, date(2026, 1, 6))
    text, pages, images = _pdf_text(Path(result["pdf"]))
    assert result["status"] == "final" and pages == result["pages"] and 8 <= pages <= 20
    for heading in [
        "Quarterly quality",
        "Riverside YOT",
        "Contents",
        "Audits assigned and completed",
        "Judgements by section and team",
        "Trend over eight quarters",
        "Action points",
        "Good practice to share",
        "High-risk issues raised",
        "Service-user feedback and complaints",
        "Consistent difficulties",
        "The sample against the caseload",
        "Improvement plan",
        "Final: figures frozen",
    ]:
        assert heading in text, heading
    # Completion, sections, run chart, actions, feedback by source and theme, four make-up charts.
    assert images == 10
    totals = result_totals(year, Q3)
    assert f"{totals['completed']} of the {totals['assigned']} audits assigned" in " ".join(
        text.split()
    )
    words = " ".join(text.split())
    for name in _young_names(year):
        assert name not in words
    assert NAME_REMOVED in words  # the complaint naming a young person was redacted, not dropped


def result_totals(session: Session, quarter: Quarter) -> dict[str, int]:
    months = [str(m) for m in quarter.months]
    rows = session.execute(
        sa.select(Audit.status, sa.func.count())
        .where(Audit.period.in_(months), Audit.status != AuditStatus.WITHDRAWN)
        .group_by(Audit.status)
    ).all()
    by = dict(rows)
    return {"assigned": sum(by.values()), "completed": by.get(AuditStatus.COMPLETED, 0)}


def test_quarterly_xlsx_totals_match_the_database(year: Session, tmp_path: Path) -> None:
    _, path, _ = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    book = openpyxl.load_workbook(path)
    by_team = list(book["Audits by team"].iter_rows(values_only=True))
    header, rows = by_team[0], by_team[1:]
    col = {name: i for i, name in enumerate(header)}
    totals = result_totals(year, Q3)
    assert sum(r[col["assigned"]] for r in rows) == totals["assigned"]
    assert sum(r[col["completed"]] for r in rows) == totals["completed"]
    auditors = list(book["Audits by auditor"].iter_rows(values_only=True))
    assert sum(r[2] for r in auditors[1:]) == totals["assigned"]
    judged = session_judged(year, Q3)
    sections = list(book["Judgements by section"].iter_rows(values_only=True))
    assert sum(r[5] for r in sections[1:]) == judged
    not_done = year.execute(
        sa.select(sa.func.count())
        .select_from(Audit)
        .where(Audit.period.in_([str(m) for m in Q3.months]), Audit.status == AuditStatus.NOT_DONE)
    ).scalar_one()
    assert (
        sum(1 for r in book["Not done"].iter_rows(values_only=True) if r[5] == "not done")
        == not_done
    )
    assert book["Trend"].max_column == 9  # section + eight quarters
    # S5: the sample's make-up counts every case selected in the quarter, beside caseload shares.
    selected = year.execute(
        sa.select(sa.func.count())
        .select_from(SamplingSelection)
        .join(SamplingRun, SamplingRun.id == SamplingSelection.run_id)
        .where(SamplingRun.period.in_([str(m) for m in Q3.months]))
    ).scalar_one()
    makeup = list(book["Sample make-up"].iter_rows(values_only=True))[1:]
    for dimension in ("order type", "gender", "ethnicity", "age band"):
        rows_of = [r for r in makeup if r[0] == dimension]
        assert sum(r[2] for r in rows_of) == selected > 0, dimension
        assert sum(r[4] or 0 for r in rows_of) == pytest.approx(1, abs=0.01)
    plan = list(book["Improvement plan"].iter_rows(values_only=True))
    assert len(plan) == 3 and plan[1][-1] == "yes"  # the workshop was completed in Q3


def session_judged(session: Session, quarter: Quarter) -> int:
    return session.execute(
        sa.select(sa.func.count())
        .select_from(Finding)
        .join(Audit, Audit.id == Finding.audit_id)
        .where(
            Audit.status == AuditStatus.COMPLETED,
            Audit.completed_on.between(quarter.first_day, quarter.last_day),
            Finding.judgement.in_(JUDGED),
        )
    ).scalar_one()


def test_closed_quarter_is_frozen_and_a_reissue_says_so(year: Session, tmp_path: Path) -> None:
    """Q2: once closed, later edits and imports do not change a quarter's figures."""
    first, _, _ = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    assert first.status == "final"
    snapshot = year.execute(sa.select(PackSnapshot)).scalar_one()
    frozen = dict(snapshot.figures)
    # Later: an audit's findings all turn insufficient, another audit is withdrawn, a case closes.
    audit = (
        year.execute(
            sa.select(Audit).where(
                Audit.status == AuditStatus.COMPLETED,
                Audit.completed_on.between(Q3.first_day, Q3.last_day),
            )
        )
        .scalars()
        .first()
    )
    year.execute(
        sa.update(Finding)
        .where(Finding.audit_id == audit.id, Finding.judgement.is_not(None))
        .values(judgement=Judgement.INSUFFICIENT)
    )
    year.execute(
        sa.update(Audit)
        .where(Audit.period == "2025-11", Audit.status == AuditStatus.NOT_DONE)
        .values(status=AuditStatus.WITHDRAWN)
    )
    year.commit()
    again, path, html = _quick(year, Q3, date(2026, 2, 20), tmp_path)
    year.expire_all()
    assert again.status == "re-issue" and again.issue == 2
    assert year.execute(sa.select(PackSnapshot)).scalar_one().figures == frozen
    book = openpyxl.load_workbook(path)
    rows = list(book["Judgements by section"].iter_rows(values_only=True))[1:]
    assert [list(r) for r in rows] == [
        [
            s[k]
            for k in [
                "section",
                "insufficient",
                "sufficient",
                "good",
                "excellent",
                "judged",
                "share_ok",
            ]
        ]
        for s in frozen["judgements"]["sections"]
    ]
    assert "Re-issued on 20 February 2026 (issue 2)" in html
    assert "frozen when the quarter closed, on 6 January 2026" in html
    # The live figures have moved: a provisional recompilation would differ.
    from tasks.packs.quarterly import quarter_figures

    assert quarter_figures(year, Q3, date(2026, 2, 20))["judgements"] != frozen["judgements"]


def test_an_open_quarter_is_provisional_and_not_frozen(year: Session, tmp_path: Path) -> None:
    pack, _, html = _quick(year, Quarter(2025, 4), date(2026, 2, 16), tmp_path)
    assert pack.status == "provisional"
    assert year.execute(sa.select(sa.func.count()).select_from(PackSnapshot)).scalar_one() == 0
    assert "Provisional: the quarter ends on 31 March 2026" in html


def test_trend_uses_the_frozen_figures_of_earlier_quarters(year: Session, tmp_path: Path) -> None:
    first, _, _ = _quick(year, Quarter(2025, 2), date(2025, 10, 2), tmp_path)
    frozen_overall = year.execute(sa.select(PackSnapshot.figures)).scalar_one()["judgements"][
        "overall"
    ]
    year.execute(
        sa.update(Finding)
        .values(judgement=Judgement.EXCELLENT)
        .where(Finding.judgement.is_not(None))
    )
    year.commit()
    _, path, _ = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    book = openpyxl.load_workbook(path)
    trend = {r[0]: r[1:] for r in book["Trend"].iter_rows(values_only=True)}
    assert trend["All sections"][-2] == frozen_overall  # Q2 as frozen, not as edited
    assert trend["source"][-2] == "frozen" and trend["source"][-1] == "this quarter"
    assert trend["All sections"][-1] == 1.0  # Q3 compiled live after the edit
    assert first.status == "final"


def test_markup_in_names_is_escaped_everywhere(year: Session, tmp_path: Path) -> None:
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import quarter_html, quarter_markdown, quarter_workbook

    team = year.execute(sa.select(Team).order_by(Team.id)).scalars().first()
    team.name = "<script>alert('x')</script> & Co"
    year.commit()
    pack = compile_quarter(year, Q3, date(2025, 12, 1))
    html = quarter_html(pack, "<i>Service</i>")
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<i>Service</i>" not in html and "&lt;i&gt;Service&lt;/i&gt;" in html
    assert "<b>and</b>" not in html and "&lt;b&gt;and&lt;/b&gt;" in html  # the plan's outcome
    assert "<script>" not in quarter_markdown(pack, "<script>x</script>", "p.pdf")
    book_path = tmp_path / "markup.xlsx"
    quarter_workbook(pack, '=HYPERLINK("http://x")').save(book_path)
    summary = {
        r[0]: r[1] for r in openpyxl.load_workbook(book_path)["Summary"].iter_rows(values_only=True)
    }
    assert summary["service"].startswith("'=")  # a formula is written as text


def test_quarterly_flow_emails_the_pack_to_the_service_manager_and_board(
    prefect_harness, year: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T10 through Prefect: artifacts on the run, one email with the PDF and XLSX, no names (E5)."""
    from prefect.client.orchestration import get_client

    from flows.packs import quarterly_pack
    from tests.smtp import smtp_server

    year.execute(sa.update(EmailMessage).values(status="sent"))  # the year's own mail is old news
    year.commit()
    with smtp_server() as (recorder, port):
        monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("YOTQA_SMTP_PORT", str(port))
        get_settings.cache_clear()
        result = quarterly_pack(as_of=date(2026, 1, 6))
        again = quarterly_pack(as_of=date(2026, 1, 6))  # a re-run the same day sends nothing new
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
    assert set(files) == {"qa-pack-2025-Q3.pdf", "qa-pack-2025-Q3.xlsx"}
    text, _, _ = _pdf_text(files["qa-pack-2025-Q3.pdf"])
    body = message.get_body(("plain",)).get_content()
    everything = " ".join((text + body).split())
    for name in _young_names(year):
        assert name not in everything
    stored = year.execute(sa.select(EmailMessage).where(EmailMessage.kind == "pack")).scalar_one()
    assert attachment_bytes(stored.attachments[0])[:5] == b"%PDF-"

    async def artifacts() -> dict[str, str]:
        async with get_client() as client:
            return {a.key: a.type for a in await client.read_artifacts() if a.key}

    found = asyncio.run(artifacts())
    assert found.get("quarterly-pack-2025q3") == "markdown"
    assert "quarterly-pack-pdf-2025q3" in found


def test_annual_pack_sets_the_quarters_side_by_side(year: Session, tmp_path: Path) -> None:
    """Q3/T8/T13: four quarters side by side and a reproducible data-quality spot check."""
    from tasks.jobs import annual_pack
    from tasks.packs.annual import annual_workbook, compile_year
    from tasks.packs.quarterly import compile_quarter

    compile_quarter(year, Quarter(2025, 1), date(2025, 7, 2))  # Q1 closed and frozen
    result = annual_pack.fn(2025, date(2026, 4, 20), False)
    text, pages, images = _pdf_text(Path(result["pdf"]))
    words = " ".join(text.split())
    assert "Annual review of the quality assurance framework" in words and images == 1
    assert "2025-Q1: frozen at close" in words and "2025-Q4: closed, not yet compiled" in words
    book = openpyxl.load_workbook(result["xlsx"])
    side = {r[0]: r[1:] for r in book["Year by quarter"].iter_rows(values_only=True)}
    assert side["figure"] == ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4")
    for number, assigned in enumerate(side["audits assigned"], start=1):
        assert assigned == result_totals(year, Quarter(2025, number))["assigned"]
    sample = [r[0] for r in list(book["Spot-check sample"].iter_rows(values_only=True))[1:]]
    assert len(sample) == 20 and len(set(sample)) == 20
    annual_workbook(compile_year(year, 2025, date(2026, 4, 21)), "x").save(tmp_path / "a.xlsx")
    book2 = openpyxl.load_workbook(tmp_path / "a.xlsx")
    assert [
        r[0] for r in list(book2["Spot-check sample"].iter_rows(values_only=True))[1:]
    ] == sample
    for name in _young_names(year):
        assert name not in words


@pytest.mark.parametrize("flow_name", ["quarterly-pack", "annual-pack"])
def test_pack_deployments_run_when_the_timetable_says(flow_name: str) -> None:
    """T10 first working day of April, July, October, January; T8/T13 first working day of January."""
    from deployments.build import build_deployments
    from tasks.timetable import load_timetable, runs_between
    from tests.test_flows import _next_dates

    start = date(2026, 11, 25)
    deployment = next(d for d in build_deployments(start) if d.name == flow_name)
    timetable = load_timetable(get_settings().timetable_file)
    expected = sorted(
        {
            datetime.combine(r.run_on, r.entry.time, LONDON)
            for r in runs_between(timetable, start, 24)
            if r.entry.flow == flow_name
        }
    )
    dates = _next_dates(deployment.schedules[0].schedule, datetime(2026, 11, 25, tzinfo=LONDON), 50)
    assert dates[: len(expected)] == expected and len(expected) >= 2
    if flow_name == "quarterly-pack":
        assert [d.month for d in expected[:4]] == [1, 4, 7, 10]


def test_packs_on_either_database(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A simulated quarter compiled on SQLite and on PostgreSQL gives figures that match the tables."""
    from tasks.packs.quarterly import compile_quarter

    monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as session:
        load_demo(session, write_demo_files(tmp_path / "demo", seed=3, as_of=START))
        simulate_span(session, START, date(2025, 7, 8), seed=2)
        pack = compile_quarter(session, Quarter(2025, 1), date(2025, 7, 8))
        assert pack.status == "final"
        totals = result_totals(session, Quarter(2025, 1))
        assert pack.figures["audits"]["totals"]["assigned"] == totals["assigned"] > 0
        assert pack.figures["audits"]["totals"]["completed"] == totals["completed"]
        judged = sum(s["judged"] for s in pack.figures["judgements"]["sections"])
        assert judged == session_judged(session, Quarter(2025, 1))
        sections = {q for (q,) in session.execute(sa.select(Question.section))}
        assert set(pack.figures["trend"]["sections"]) <= sections
        again = compile_quarter(session, Quarter(2025, 1), date(2025, 8, 1))
        assert again.status == "re-issue" and again.figures == pack.figures
    engine.dispose()
    get_settings.cache_clear()


def test_pack_monthly_writes_the_four_outputs(cli) -> None:
    """`yotqa pack monthly`: Q1's four outputs for a month in one command."""
    assert cli("demo-data", "--as-of", "2026-10-20").exit_code == 0
    result = cli("pack", "monthly", "2026-10")
    assert result.exit_code == 0, result.output
    paths = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if ".xlsx" in line]
    assert len(paths) == 4 and all(Path(p).is_file() for p in paths)
    assert "2026-10" in paths[0]
    bad = cli("pack", "quarterly", "2026-Q5")
    assert bad.exit_code == 1 and "'2026-Q5' is not a quarter" in bad.output
