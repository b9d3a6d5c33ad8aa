"""The database connection lost mid-flow (issue 7, faults), on PostgreSQL under Prefect.

A connection is cut by the server (pg_terminate_backend, as a restart or failover does) just as
the monthly sample writes its audits. Once: the task tries again on a new connection and the
month ends exactly as a clean run does. For good (every try cut): the run fails saying why,
nothing of the month is half-written, and the run made once the database is back finishes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from models.db import make_engine
from models.settings import get_settings
from tests.demo_service import Demo, DemoTemplates

MONTH = date(2026, 10, 1)


class ConnectionCutter:
    """Terminates, from a second connection, whichever connection is about to insert an audit."""

    def __init__(self, admin_url: str, times: int):
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.times = times
        self.cuts = 0

    def __call__(self, conn: sa.Connection, cursor: Any, statement: str, *_: Any) -> None:
        if self.cuts >= self.times or not statement.lstrip().upper().startswith(
            "INSERT INTO AUDIT "
        ):
            return
        self.cuts += 1
        pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        with self.admin.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.fixture
def cutter(postgres_server: str) -> Iterator[Any]:
    made: list[ConnectionCutter] = []

    def install(times: int) -> ConnectionCutter:
        cut = ConnectionCutter(postgres_server, times)
        sa.event.listen(sa.Engine, "before_cursor_execute", cut)
        made.append(cut)
        return cut

    yield install
    for cut in made:
        sa.event.remove(sa.Engine, "before_cursor_execute", cut)
        cut.admin.dispose()


def _service(
    monkeypatch: pytest.MonkeyPatch, server: str, templates: DemoTemplates, var: Path
) -> tuple[str, Any]:
    """A database of its own holding the demo service (`yotqa demo-data --seed 12 --as-of
    2026-09-25`, copied from the template), set as the product's."""
    url, drop = templates.copy_postgres(Demo(seed=12, as_of=date(2026, 9, 25)), server, var)
    monkeypatch.setenv("YOTQA_DATABASE_URL", url)
    get_settings.cache_clear()
    return url, drop


def _month(url: str) -> dict[str, object]:
    engine = make_engine(url)
    with engine.connect() as c:
        state = {
            "runs": c.execute(
                sa.text("SELECT count(*) FROM samplingrun WHERE period = '2026-10'")
            ).scalar(),
            "audits": sorted(
                c.execute(
                    sa.text(
                        'SELECT c.case_ref, s.email, a.kind FROM audit a JOIN "case" c ON '
                        "c.id = a.case_id JOIN staff s ON s.id = a.auditor_id WHERE a.period = '2026-10'"
                    )
                ).all()
            ),
            "emails": c.execute(sa.text("SELECT count(*) FROM emailmessage")).scalar(),
        }
    engine.dispose()
    return state


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The product waits 5 s, then 30 s, for a database to come back; the test need not."""
    from tasks import steps
    from tasks.jobs import as_task

    monkeypatch.setattr(as_task(steps.draw_and_assign), "retry_delay_seconds", [0.2, 0.2])


@pytest.mark.postgres
def test_connection_lost_once_the_task_tries_again_and_ends_as_a_clean_run(
    prefect_harness,
    postgres_server: str,
    demo_templates: DemoTemplates,
    tmp_path: Path,
    cutter,
    quick_retries,
    monkeypatch,
    settings_env,
) -> None:
    from flows.timetable import FLOWS

    sample_and_assign = FLOWS["sample-and-assign"]

    clean_url, drop_clean = _service(monkeypatch, postgres_server, demo_templates, tmp_path / "var")
    url, drop = _service(monkeypatch, postgres_server, demo_templates, tmp_path / "var")
    try:
        monkeypatch.setenv("YOTQA_DATABASE_URL", clean_url)
        get_settings.cache_clear()
        assert sample_and_assign(as_of=MONTH, return_state=True).is_completed()
        clean = _month(clean_url)

        monkeypatch.setenv("YOTQA_DATABASE_URL", url)
        get_settings.cache_clear()
        cut = cutter(times=1)
        state = sample_and_assign(as_of=MONTH, return_state=True)
        assert cut.cuts == 1, "the connection was cut mid-flow"
        assert state.is_completed(), state.message
        assert _month(url) == clean
        assert clean["audits"] and clean["runs"]
    finally:
        drop()
        drop_clean()
        get_settings.cache_clear()


@pytest.mark.postgres
def test_connection_lost_for_good_fails_cleanly_and_a_rerun_finishes_the_month(
    prefect_harness,
    postgres_server: str,
    demo_templates: DemoTemplates,
    tmp_path: Path,
    cutter,
    quick_retries,
    monkeypatch,
    settings_env,
) -> None:
    from flows.timetable import FLOWS

    sample_and_assign = FLOWS["sample-and-assign"]

    url, drop = _service(monkeypatch, postgres_server, demo_templates, tmp_path / "var")
    try:
        get_settings.cache_clear()
        before = _month(url)
        cut = cutter(times=3)
        state = sample_and_assign(as_of=MONTH, return_state=True)
        assert cut.cuts == 3, "three tries (two retries), each cut"
        assert state.is_failed()
        assert "terminat" in str(state.message) + repr(state.result(raise_on_failure=False))
        assert _month(url) == before, "nothing half-written"
        assert before["runs"] == 0 and not before["audits"]

        again = sample_and_assign(as_of=MONTH, return_state=True)  # the database is back
        assert again.is_completed(), again.message
        month = _month(url)
        assert month["runs"] and month["audits"] and month["emails"] > before["emails"]
        assert len(month["audits"]) == len(set(month["audits"]))  # type: ignore[arg-type]
    finally:
        drop()
        get_settings.cache_clear()
