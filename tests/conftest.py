"""Fixtures: a fresh database per test on SQLite and on PostgreSQL, and the command line.

The suite runs on two workers at once (pytest-xdist; `-n 2` in pyproject.toml). Each worker has
databases, an output folder and ports of its own: PostgreSQL databases are named after the
worker and its process, folders are pytest's tmp_path, servers listen on ports the system picks.
What is costly to build is built once per worker and copied for each test: the migrated
database (`sqlite_template`, `migrated_postgres`), the demo service (`@pytest.mark.demo`, in
tests/demo_service.py) and the simulated year (tests/pack_world.py). The tests that share a
costly session fixture (the Prefect test server, the simulated year, the browser) are sent to
one worker (`xdist_group`, below), so it is not built on both.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# "gw0", "gw1", ... under pytest-xdist; "main" when the suite runs in one process (-n 0).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Where the product writes when a test names no folder of its own (its default, var/, is in the
# repository: a test module's Settings() made at import wrote its web-secret there, both workers
# at once) and Prefect's home (results, caches): this worker's own, set before anything reads
# them, removed at the end.
_SCRATCH = Path(tempfile.mkdtemp(prefix=f"yotqa-tests-{WORKER}-"))
os.environ["YOTQA_OUTPUT_DIR"] = str(_SCRATCH / "var")
os.environ["PREFECT_HOME"] = str(_SCRATCH / "prefect-home")
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)

from models import Audit  # noqa: E402
from models.db import make_engine, upgrade  # noqa: E402
from models.enums import AuditKind  # noqa: E402
from models.settings import get_settings  # noqa: E402
from tasks.question_sets import sync_question_sets  # noqa: E402

# Fuzzing explores new inputs on every developer's run (a failure is saved in .hypothesis and
# replayed); CI sets HYPOTHESIS_PROFILE=ci, the same examples every time, so a red CI always
# means a change broke something. Deep runs: YOTQA_FUZZ_EXAMPLES=3000 make test.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The demo service copied for each test, the simulated year shared by the pack tests and the
# served people's pages: session fixtures built once per worker for all the modules that ask.
pytest_plugins = [
    "tests.demo_service",
    "tests.pack_world",
    "tests.simulated_year",
    "tests.web_world",
]

POSTGRES_URL = os.environ.get(
    "YOTQA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# CI sets this: there, PostgreSQL being down is a failure, not a reason to skip.
REQUIRE_POSTGRES = os.environ.get("YOTQA_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

# The session fixtures worth building once: every test that uses one runs on the same worker.
# A test that uses two of them (the quarterly pack's flow uses the Prefect server and the year)
# joins the first group listed, so the two groups' fixtures are built on one worker too.
SHARED_FIXTURE_GROUPS = {
    "prefect_harness": "prefect-and-year",
    "year": "prefect-and-year",
    "browser": "browser",
}
# The longest units of work (a test, or a group run as one) first, in an order that shares them
# evenly between two workers: xdist hands each worker its first two units at the start, so the
# workers' test (about 2 min) and the PostgreSQL year (1.5 min) go to one, the Prefect and pack
# group (2 min) and the SQLite year (1.5 min) to the other. Then the other slow tests, the other
# groups, and the rest, as they come.
FIRST = [
    "tests/test_workers.py",
    "prefect-and-year",
    "simulated-year-postgresql",
    "simulated-year-sqlite",
]
GROUPS_FILE = "YOTQA_TEST_GROUPS_FILE"  # where each worker says which group each test is in


def _group(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return None
    return str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the tests that share a costly session fixture, and start the slow ones first.

    Slow tests first (those marked `slow`, and the groups holding one), so that the two workers
    finish together rather than one running a two-minute test alone at the end. Every worker
    sorts the same collection the same way, as xdist requires.
    """
    for item in items:
        names = getattr(item, "fixturenames", ())
        group = next((g for f, g in SHARED_FIXTURE_GROUPS.items() if f in names), None)
        if group and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
    slow_groups = {_group(i) for i in items if i.get_closest_marker("slow")} - {None}

    def weight(item: pytest.Item) -> tuple[int, int]:
        unit = _group(item) or item.nodeid.split("::")[0]
        if unit in FIRST:
            return 0, FIRST.index(unit)
        if item.get_closest_marker("slow") or unit in slow_groups:
            return 1, 0
        return (2, 0) if _group(item) else (3, 0)

    items.sort(key=weight)  # stable: within each weight, the files' own order
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and os.environ.get(GROUPS_FILE):
        groups = {item.nodeid: group for item in items if (group := _group(item))}
        Path(f"{os.environ[GROUPS_FILE]}.{worker}").write_text(json.dumps(groups))


def pytest_configure(config: pytest.Config) -> None:
    """On the controller of an xdist run: a file for the workers to say which group each test
    is in (read by the scheduler below)."""
    if not hasattr(config, "workerinput") and GROUPS_FILE not in os.environ:
        os.environ[GROUPS_FILE] = str(Path(tempfile.mkdtemp(prefix="yotqa-groups-")) / "groups")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and os.environ.get(GROUPS_FILE):
        shutil.rmtree(Path(os.environ.pop(GROUPS_FILE)).parent, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup`, with each test's group as its worker said it.

    xdist's own loadgroup finds a test's group in an "@group" suffix it adds to the test's id,
    by setting an attribute pytest 9.2 no longer reads (node ids are now `Node._id`): the
    suffix never appears and every test is scheduled alone. This scheduler reads the groups
    the workers wrote instead (and still honours a suffix, should one appear).
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class SharedFixtureScheduling(LoadGroupScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                written = sorted(Path(os.environ[GROUPS_FILE]).parent.glob("groups.*"))
                self.groups = json.loads(written[0].read_text()) if written else {}
            group = self.groups.get(nodeid)
            return f"group:{group}" if group else str(super()._split_scope(nodeid))

    return SharedFixtureScheduling(config, log)


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
    """A database of this worker's own on the PostgreSQL server, dropped at the end."""
    problem = _postgres_available()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable at {POSTGRES_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL} ({problem})")
    name = f"yotqa_test_{WORKER}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
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


def new_postgres_database(
    server_url: str, template: str | None = None
) -> tuple[str, Callable[[], None]]:
    """A further database beside the worker's own, empty or a copy of `template` (a database
    no one is connected to); returns its URL and a function to drop it."""
    name = f"{sa.make_url(server_url).database}_{uuid.uuid4().hex[:6]}"
    # Connected to the server's own database, not the worker's, which goes first at the end.
    maintenance = sa.make_url(server_url).set(database=sa.make_url(POSTGRES_URL).database)
    admin = sa.create_engine(maintenance, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))

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


def _empty_all(url: str) -> None:
    """Every table but the question sets emptied and every other sequence back at 1, as
    TRUNCATE ... RESTART IDENTITY leaves them (DELETE, child tables first: a third of the time
    on these few rows, TRUNCATE costing a fixed ~3 ms a table)."""
    tables = [
        t for t in SQLModel.metadata.sorted_tables if t.name not in ("questionset", "question")
    ]
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in reversed(tables):
            conn.execute(table.delete())
        sequences = conn.execute(
            sa.text("SELECT relname FROM pg_class WHERE relkind = 'S'")
        ).scalars()
        for sequence in sequences:
            if not sequence.startswith(("questionset_", "question_")):
                conn.execute(sa.text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database with the question sets loaded, on each backend: nothing else, or,
    for a test marked `@pytest.mark.demo(...)`, a copy of that demo service (whose import
    files and output folder are copied to tmp_path / "var", where `yotqa demo-data` puts them)."""
    from tests.demo_service import DemoTemplates, demo_of

    demo = demo_of(request.node)
    templates: DemoTemplates | None = request.getfixturevalue("demo_templates") if demo else None
    if request.param == "sqlite":
        path = tmp_path / "yotqa.db"
        if templates and demo:
            templates.copy_sqlite(demo, path, tmp_path / "var")
        else:
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    elif templates and demo:
        server = request.getfixturevalue("postgres_server")
        url, drop = templates.copy_postgres(demo, server, tmp_path / "var")
        try:
            yield url
        finally:
            drop()
    else:
        url = request.getfixturevalue("migrated_postgres")
        _empty_all(url)
        yield url


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


def artifacts_of(state: Any) -> dict[str, str]:
    """The keyed artifacts (key: type) the flow run that ended in `state` made, and no other's."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read() -> dict[str, str]:
        run = ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
        async with get_client() as client:
            found = await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=run))
        return {a.key: str(a.type) for a in found if a.key}

    return asyncio.run(read())


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the worker's session (12-14 s to start); the tests that
    use it all run on one worker (the "prefect-and-year" group above)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture
def assigned(request: pytest.FixtureRequest, session: Session) -> tuple[Session, Audit]:
    """The demo service with December's sample drawn; one team manager's case-file audit."""
    assert request.node.get_closest_marker("demo"), "a test using `assigned` needs @SAMPLED"
    audit = session.exec(
        select(Audit)
        .where(Audit.kind == AuditKind.CASE_FILE, Audit.three_way_meeting == sa.false())
        .order_by(Audit.id)
    ).first()
    return session, audit
