"""A financial year of the demo service run by simulated auditors, shared by the pack tests.

Registered as a plugin in conftest.py, so the session-scoped year is built once (about 15 s)
for every test module that asks for `year`.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from sqlmodel import Session

from models import Audit, Case, Feedback, Finding, Team
from models.db import make_engine, upgrade
from models.enums import AuditKind, AuditStatus
from models.settings import get_settings
from tasks.demo import load_demo, write_demo_files
from tasks.packs.figures import JUDGED
from tasks.programme.common import entry_for
from tasks.question_sets import sync_question_sets
from tasks.sampling.monthly import sample_month
from tasks.self_audit import assign_self_audits
from tasks.simulation import simulate_span
from tasks.workdays import Quarter

START, END = date(2025, 4, 1), date(2026, 3, 31)
Q3 = Quarter(2025, 3)  # October to December 2025


def pdf_text(path_or_bytes: Path | bytes) -> tuple[str, int, int]:
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


def _sample(session: Session, day: date) -> None:
    """The month's sample, and in the self-audit row's months (SA) the self-audits (A2)."""
    sample_month(session, day)
    if day.month in entry_for("self-audit").months:
        assign_self_audits(session, day)


def build_year(url: str, output: Path) -> None:
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
        simulate_span(session, START, END, seed=5, weak_team_id=weak, sample=_sample)
    engine.dispose()


@pytest.fixture(scope="session")
def year_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated year on SQLite, built once (about 15 s) and copied for each test."""
    folder = tmp_path_factory.mktemp("year")
    path = folder / "year.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOTQA_OUTPUT_DIR", str(folder / "var"))
        get_settings.cache_clear()
        build_year(f"sqlite:///{path}", folder)
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


def young_names(session: Session) -> set[str]:
    return {n for (n,) in session.execute(sa.select(Case.young_person_name)) if n}


def result_totals(session: Session, quarter: Quarter) -> dict[str, int]:
    months = [str(m) for m in quarter.months]
    rows = session.execute(
        sa.select(Audit.status, sa.func.count())
        .where(
            Audit.period.in_(months),
            Audit.status != AuditStatus.WITHDRAWN,
            Audit.kind.not_in([AuditKind.MODERATION, AuditKind.SELF]),  # A5, A2: apart
        )
        .group_by(Audit.status)
    ).all()
    by = dict(rows)
    return {"assigned": sum(by.values()), "completed": by.get(AuditStatus.COMPLETED, 0)}


def session_judged(session: Session, quarter: Quarter) -> int:
    return session.execute(
        sa.select(sa.func.count())
        .select_from(Finding)
        .join(Audit, Audit.id == Finding.audit_id)
        .where(
            Audit.status == AuditStatus.COMPLETED,
            Audit.kind.not_in(
                [AuditKind.MODERATION, AuditKind.SELF]
            ),  # A5, A2: in sections of their own
            Audit.completed_on.between(quarter.first_day, quarter.last_day),
            Finding.judgement.in_(JUDGED),
        )
    ).scalar_one()
