"""`yotqa demo-data`: a realistic synthetic service, imported through the real importers."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from models import Case, CaseAllocation, Feedback, ImportRun, Staff, Team
from models.enums import OrderType, Role
from tasks.demo import write_demo_files
from tasks.summary import team_manager

AS_OF = "2026-11-25"


def test_demo_data_builds_a_realistic_service(cli, session: Session) -> None:
    result = cli("demo-data", "--seed", "7", "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert "Imported cases from cases-2026-11-25.csv" in result.stdout
    session.expire_all()

    teams = session.exec(select(Team)).all()
    assert 4 <= len(teams) <= 5
    assert all(team_manager(session, t.id) is not None for t in teams)
    staff = session.exec(select(Staff)).all()
    assert 28 <= len(staff) <= 36
    assert {s.role for s in staff} == set(Role)  # every role
    managers = {s.id: s for s in staff}
    for s in staff:
        if s.role is Role.CASE_MANAGER:
            assert managers[s.line_manager_id].role is Role.OPERATIONAL_MANAGER
    assert sum(1 for s in staff if s.line_manager_id is None) == 1  # only the head of service

    cases = session.exec(select(Case)).all()
    assert 380 <= len(cases) <= 440
    today = date.fromisoformat(AS_OF)
    open_cases = [c for c in cases if c.closed_on is None]
    assert 0.3 < len(open_cases) / len(cases) < 0.7
    families = Counter(c.order_type.family for c in open_cases)
    assert families["Referral Order"] and families["YRO"] and families["DTO"]
    assert {OrderType.OUT_OF_COURT, OrderType.BAIL_ISS, OrderType.DTO_LICENCE} <= {
        c.order_type for c in cases
    }
    ages = [(c.opened_on - c.date_of_birth).days // 365.25 for c in cases]
    assert min(ages) >= 10 and max(ages) <= 17
    assert min(c.opened_on for c in cases) >= date(2024, 11, 1)
    genders = Counter(c.gender.value for c in cases)
    assert genders["male"] > genders["female"] > 0
    assert len({c.ethnicity for c in cases}) >= 6
    assert all(c.opened_on <= today for c in cases)

    # The earlier extract, then the current one: closures and moves went through the update path.
    imports = session.exec(select(ImportRun).order_by(ImportRun.id)).all()
    assert [i.kind.value for i in imports] == ["staff", "cases", "cases", "feedback"]
    assert imports[2].closed > 0 and imports[2].reallocated > 0
    moved = session.execute(
        sa.select(CaseAllocation.case_id)
        .group_by(CaseAllocation.case_id)
        .having(sa.func.count() > 1)
    ).all()
    assert moved
    leaver = session.exec(select(Staff).where(Staff.active == sa.false())).one()
    assert not [c for c in open_cases if c.case_manager_id == leaver.id]
    assert session.execute(sa.select(sa.func.count()).select_from(Feedback)).scalar_one() >= 30


def test_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    def digest(folder: Path) -> dict[str, str]:
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
        }

    write_demo_files(tmp_path / "a", seed=3, as_of=date(2026, 11, 25))
    write_demo_files(tmp_path / "b", seed=3, as_of=date(2026, 11, 25))
    write_demo_files(tmp_path / "c", seed=4, as_of=date(2026, 11, 25))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_demo_data_refuses_a_database_that_holds_a_service(cli) -> None:
    assert cli("demo-data", "--as-of", AS_OF).exit_code == 0
    again = cli("demo-data", "--as-of", AS_OF)
    assert again.exit_code == 1
    assert "already holds staff or cases" in again.stderr
    skipped = cli("demo-data", "--if-empty")
    assert skipped.exit_code == 0
    assert "demo data not loaded" in skipped.stdout
