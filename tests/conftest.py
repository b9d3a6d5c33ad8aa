"""Fixtures: a fresh database per test on SQLite and on PostgreSQL, and the command line."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from models.db import make_engine, upgrade  # noqa: E402
from models.settings import get_settings  # noqa: E402
from tasks.question_sets import sync_question_sets  # noqa: E402

# Fuzzing explores new inputs on every developer's run (a failure is saved in .hypothesis and
# replayed); CI sets HYPOTHESIS_PROFILE=ci, the same examples every time, so a red CI always
# means a change broke something. Deep runs: YOTQA_FUZZ_EXAMPLES=3000 make test.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The simulated year shared by the pack tests (its session fixture is built once for all).
pytest_plugins = ["tests.pack_world", "tests.web_world"]

POSTGRES_URL = os.environ.get(
    "YOTQA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# CI sets this: there, PostgreSQL being down is a failure, not a reason to skip.
REQUIRE_POSTGRES = os.environ.get("YOTQA_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _postgres_available() -> str | None:
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            return None
    except sa.exc.OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0]
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A database of this test run's own on the PostgreSQL server, dropped at the end."""
    problem = _postgres_available()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable at {POSTGRES_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL} ({problem})")
    name = f"yotqa_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def new_postgres_database(server_url: str) -> tuple[str, object]:
    """A further empty database beside the run's own; returns its URL and a function to drop it."""
    name = f"{sa.make_url(server_url).database}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: str) -> str:
    upgrade(postgres_server)
    _load_question_sets(postgres_server)
    return postgres_server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "yotqa.db"
    upgrade(f"sqlite:///{path}")
    _load_question_sets(f"sqlite:///{path}")
    return path


def _load_question_sets(url: str) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        sync_question_sets(session, get_settings().question_sets_dir)
        session.commit()
    engine.dispose()


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(
        f'"{t.name}"'
        for t in SQLModel.metadata.sorted_tables
        if t.name not in ("questionset", "question")
    )
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with the question sets loaded and nothing else, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "yotqa.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("migrated_postgres")
    _truncate_all(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Point the settings at the test's output folder; cleared again afterwards."""
    monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class Cli:
    """Runs `yotqa` in-process against a given database."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, url: str):
        monkeypatch.setenv("YOTQA_DATABASE_URL", url)
        get_settings.cache_clear()
        self.runner = CliRunner()

    def __call__(self, *args: str):  # type: ignore[no-untyped-def]
        from cli.main import app

        get_settings.cache_clear()
        return self.runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str, settings_env: None) -> Cli:
    return Cli(monkeypatch, db_url)


@pytest.fixture
def offline_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings_env: None) -> Cli:
    """The command line for commands that need no database (calendar, timetable)."""
    return Cli(monkeypatch, f"sqlite:///{tmp_path / 'unused.db'}")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole test session (12-14 s to start)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield
