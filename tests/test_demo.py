"""`yotqa demo-data`: a realistic synthetic service, imported through the real importers.

`yotqa demo-data --seed 7` is run for real once per backend (on each worker that runs these
tests), and each test checks one thing about the service it made, reading only.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Case, CaseAllocation, Feedback, ImportRun, Staff, Team
from models.db import make_engine, upgrade
from models.enums import OrderType, Role
from tasks.demo import write_demo_files
from tasks.summary import team_manager
from tests.conftest import BACKENDS, Cli, _load_question_sets, new_postgres_database

AS_OF = "2026-11-25"


@dataclass
class Loaded:
    """A database `yotqa demo-data --seed 7 --as-of AS_OF` loaded, and what the command said."""

    url: str
    exit_code: int
    stdout: str
    stderr: str


class Loads:
    """This worker's loads, one per backend, made on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: dict[str, Loaded] = {}
        self.drops: list[object] = []

    def get(self, backend: str, request: pytest.FixtureRequest) -> Loaded:
        if backend not in self.made:
            folder = self.folder / backend
            folder.mkdir()
            if backend == "sqlite":
                url = f"sqlite:///{folder / 'yotqa.db'}"
            else:
                url, drop = new_postgres_database(request.getfixturevalue("postgres_server"))
                self.drops.append(drop)
            upgrade(url)
            _load_question_sets(url)
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("YOTQA_OUTPUT_DIR", str(folder / "var"))
                result = Cli(mp, url)("demo-data", "--seed", "7", "--as-of", AS_OF)
            self.made[backend] = Loaded(url, result.exit_code, result.stdout, result.stderr)
        return self.made[backend]


@pytest.fixture(scope="session")
def demo_loads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loads]:
    loads = Loads(tmp_path_factory.mktemp("demo-data"))
    try:
        yield loads
    finally:
        for drop in loads.drops:
            drop()  # type: ignore[operator]


@pytest.fixture(params=BACKENDS)
def loaded(request: pytest.FixtureRequest, demo_loads: Loads) -> Loaded:
    return demo_loads.get(request.param, request)


@pytest.fixture
def demo(loaded: Loaded) -> Iterator[Session]:
    """A session on the loaded service (read only: the load is shared by the tests here)."""
    assert loaded.exit_code == 0, loaded.stderr
    engine = make_engine(loaded.url)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


def _cases(demo: Session) -> list[Case]:
    cases = list(demo.exec(select(Case)))
    assert cases, "the demo holds no case"
    return cases


def _open(cases: list[Case]) -> list[Case]:
    return [c for c in cases if c.closed_on is None]


def test_demo_data_says_what_it_imported(loaded: Loaded) -> None:
    assert loaded.exit_code == 0, loaded.stderr
    assert "Imported cases from cases-2026-11-25.csv" in loaded.stdout


def test_demo_service_has_four_or_five_teams_each_with_a_manager(demo: Session) -> None:
    teams = demo.exec(select(Team)).all()
    assert 4 <= len(teams) <= 5
    assert all(team_manager(demo, t.id) is not None for t in teams)


def test_demo_staff_fill_every_role(demo: Session) -> None:
    staff = demo.exec(select(Staff)).all()
    assert 28 <= len(staff) <= 36
    assert {s.role for s in staff} == set(Role)


def test_demo_case_managers_report_to_operational_managers_under_one_head(demo: Session) -> None:
    staff = demo.exec(select(Staff)).all()
    managers = {s.id: s for s in staff}
    case_managers = [s for s in staff if s.role is Role.CASE_MANAGER]
    assert case_managers
    for s in case_managers:
        assert managers[s.line_manager_id].role is Role.OPERATIONAL_MANAGER
    assert sum(1 for s in staff if s.line_manager_id is None) == 1  # only the head of service


def test_demo_caseload_holds_about_four_hundred_cases_half_of_them_open(demo: Session) -> None:
    cases = _cases(demo)
    assert 380 <= len(cases) <= 440
    assert 0.3 < len(_open(cases)) / len(cases) < 0.7


def test_demo_caseload_holds_every_family_of_order(demo: Session) -> None:
    cases = _cases(demo)
    families = Counter(c.order_type.family for c in _open(cases))
    assert families["Referral Order"] and families["YRO"] and families["DTO"]
    assert {OrderType.OUT_OF_COURT, OrderType.BAIL_ISS, OrderType.DTO_LICENCE} <= {
        c.order_type for c in cases
    }


def test_demo_young_people_are_10_to_17_of_varied_gender_and_ethnicity(demo: Session) -> None:
    cases = _cases(demo)
    ages = [(c.opened_on - c.date_of_birth).days // 365.25 for c in cases]
    assert min(ages) >= 10 and max(ages) <= 17
    genders = Counter(c.gender.value for c in cases)
    assert genders["male"] > genders["female"] > 0
    assert len({c.ethnicity for c in cases}) >= 6


def test_demo_cases_opened_between_november_2024_and_the_demos_day(demo: Session) -> None:
    cases = _cases(demo)
    assert min(c.opened_on for c in cases) >= date(2024, 11, 1)
    assert max(c.opened_on for c in cases) <= date.fromisoformat(AS_OF)


def test_demo_data_closes_and_moves_cases_through_a_later_extract(demo: Session) -> None:
    """The earlier extract, then the current one: closures and moves went through the update path."""
    imports = demo.exec(select(ImportRun).order_by(ImportRun.id)).all()
    assert [i.kind.value for i in imports] == ["staff", "cases", "cases", "feedback"]
    assert imports[2].closed > 0 and imports[2].reallocated > 0
    moved = demo.execute(
        sa.select(CaseAllocation.case_id)
        .group_by(CaseAllocation.case_id)
        .having(sa.func.count() > 1)
    ).all()
    assert moved


def test_demo_leaver_holds_no_open_case(demo: Session) -> None:
    leaver = demo.exec(select(Staff).where(Staff.active == sa.false())).one()
    assert not [c for c in _open(_cases(demo)) if c.case_manager_id == leaver.id]


def test_demo_holds_thirty_feedback_items_or_more(demo: Session) -> None:
    assert demo.execute(sa.select(sa.func.count()).select_from(Feedback)).scalar_one() >= 30


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    write_demo_files(tmp_path / "a", seed=3, as_of=date(2026, 11, 25))
    write_demo_files(tmp_path / "b", seed=3, as_of=date(2026, 11, 25))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_another_seed_gives_other_files(tmp_path: Path) -> None:
    write_demo_files(tmp_path / "a", seed=3, as_of=date(2026, 11, 25))
    write_demo_files(tmp_path / "c", seed=4, as_of=date(2026, 11, 25))
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


@pytest.mark.demo(as_of=AS_OF)  # the database already holds the demo service
def test_demo_data_refuses_a_database_that_holds_a_service(cli) -> None:
    again = cli("demo-data", "--as-of", AS_OF)
    assert again.exit_code == 1
    assert "already holds staff or cases" in again.stderr


@pytest.mark.demo(as_of=AS_OF)  # the database already holds the demo service
def test_demo_data_if_empty_leaves_a_service_as_it_is(cli, session: Session) -> None:
    staff = session.execute(sa.select(sa.func.count()).select_from(Staff)).scalar_one()
    skipped = cli("demo-data", "--if-empty")
    assert skipped.exit_code == 0
    assert "demo data not loaded" in skipped.stdout
    assert session.execute(sa.select(sa.func.count()).select_from(Staff)).scalar_one() == staff
