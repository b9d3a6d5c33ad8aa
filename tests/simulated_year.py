"""The simulated year the tests of `test_simulate*.py` read: `yotqa simulate` over a financial
year, once per backend and worker, and the fixtures that hand it to a test (a plugin of
tests/conftest.py, so every module shares the one year)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from models.db import make_engine, upgrade
from models.settings import get_settings
from tests.conftest import Cli, _load_question_sets, new_postgres_database

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
