"""SMTP and database passwords are never logged or printed (issue 7, security and privacy).

A service runs on PostgreSQL with a password in its URL and sends through an SMTP server that
asks for a login: the flows under Prefect (every log record at any level, and the logs Prefect
stored), the command line's terminal output, the errors of a refused login and of an unreachable
database, and what the outbox keeps as its last error are searched for either password.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from models.settings import get_settings
from tests.conftest import new_postgres_database
from tests.demo_service import Demo, DemoTemplates
from tests.smtp import Recorder, free_port

ROOT = Path(__file__).resolve().parent.parent
DB_SECRET = "Db-Pw-7f3kq9"
SMTP_SECRET = "Smtp-Pw-x81mzz"
SECRETS = (DB_SECRET, SMTP_SECRET)


class _Login:
    """Accepts one user and password, as a real relay asking for AUTH would."""

    def __init__(self, password: str):
        self.password = password.encode()
        self.refused = 0

    def __call__(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == self.password
        self.refused += not ok
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def login_smtp() -> Iterator[tuple[Recorder, int, _Login]]:
    recorder, login = Recorder(), _Login(SMTP_SECRET)
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=login,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield recorder, controller.port, login
    finally:
        controller.stop()


@pytest.fixture
def secret_url(postgres_server: str) -> Iterator[str]:
    """An empty PostgreSQL database reached by a URL holding a password (trust auth ignores it)."""
    url, drop = new_postgres_database(postgres_server)
    yield sa.make_url(url).set(password=DB_SECRET).render_as_string(hide_password=False)
    drop()  # type: ignore[operator]


@pytest.fixture
def secret_demo_url(
    postgres_server: str, demo_templates: DemoTemplates, tmp_path: Path
) -> Iterator[str]:
    """The demo service (`yotqa init`, `yotqa demo-data --seed 4 --as-of 2026-09-25`, copied
    from the template) in a database reached by a URL holding a password."""
    demo = Demo(seed=4, as_of=date(2026, 9, 25))
    url, drop = demo_templates.copy_postgres(demo, postgres_server, tmp_path / "var")
    yield sa.make_url(url).set(password=DB_SECRET).render_as_string(hide_password=False)
    drop()


def _env(tmp_path: Path, url: str, port: int, password: str) -> dict[str, str]:
    return {
        **os.environ,
        "YOTQA_DATABASE_URL": url,
        "YOTQA_OUTPUT_DIR": str(tmp_path / "var"),
        "YOTQA_SMTP_HOST": "127.0.0.1",
        "YOTQA_SMTP_PORT": str(port),
        "YOTQA_SMTP_USER": "relay-user",
        "YOTQA_SMTP_PASSWORD": password,
        "DO_NOT_TRACK": "1",
    }


def _yotqa(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "yotqa"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _clean(text: str, what: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{what} shows a password"


@pytest.mark.slow
@pytest.mark.postgres
def test_passwords_never_reach_the_terminal_or_stored_errors(
    login_smtp, secret_url: str, tmp_path: Path
) -> None:
    recorder, port, login = login_smtp
    env = _env(tmp_path, secret_url, port, SMTP_SECRET)
    printed = []
    for args in (
        ("init",),
        ("demo-data", "--seed", "3", "--as-of", "2026-09-25"),
        ("status",),
        ("run", "sample", "--as-of", "2026-10-01"),
        ("outbox", "list"),
    ):
        done = _yotqa(env, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        printed.append(done.stdout + done.stderr)
    assert recorder.messages, "the sample's emails were sent through the login-only relay"
    assert login.refused == 0

    # A wrong SMTP password: refused by the relay; the error kept and shown holds no password.
    wrong = _env(tmp_path, secret_url, port, SMTP_SECRET + "-old")
    wrong_secret = SMTP_SECRET + "-old"
    chased = _yotqa(wrong, "run", "chase", "--as-of", "2026-10-26")
    listed = _yotqa(wrong, "outbox", "list")
    assert chased.returncode == 0 and "refused the login" in chased.stdout + chased.stderr
    assert listed.returncode == 0, listed.stdout + listed.stderr
    # One login tried (smtplib tries PLAIN, then LOGIN), not one per waiting message: repeated
    # failed logins can lock a relay's account.
    assert 1 <= login.refused <= 2, login.refused
    for done in (chased, listed):
        printed.append(done.stdout + done.stderr)
        assert wrong_secret not in done.stdout + done.stderr
    engine = sa.create_engine(secret_url)
    with engine.connect() as c:
        errors = [
            e
            for (e,) in c.execute(
                sa.text("SELECT last_error FROM emailmessage WHERE status = 'pending'")
            )
        ]
    engine.dispose()
    assert len(errors) > 1, "the refused login is recorded on every waiting message"
    assert all("535" in e for e in errors), errors[:2]
    assert all(wrong_secret not in e and SMTP_SECRET not in e for e in errors)

    # The database unreachable: the one-line error names where, never the password.
    gone = sa.make_url(secret_url).set(port=free_port()).render_as_string(hide_password=False)
    down = _yotqa(_env(tmp_path, gone, port, SMTP_SECRET), "status")
    assert down.returncode == 1 and "cannot connect to the database" in down.stdout + down.stderr
    assert "***" in down.stdout + down.stderr
    printed.append(down.stdout + down.stderr)
    for text in printed:
        _clean(text, "the terminal")


@pytest.mark.postgres
def test_passwords_never_in_flow_logs_at_any_level(
    prefect_harness,
    login_smtp,
    secret_demo_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter

    from flows.send_outbox import send_outbox
    from flows.timetable import FLOWS

    chase_overdue, sample_and_assign = FLOWS["chase-overdue"], FLOWS["sample-and-assign"]

    recorder, port, _ = login_smtp
    for key, value in _env(tmp_path, secret_demo_url, port, SMTP_SECRET).items():
        if key.startswith("YOTQA_"):
            monkeypatch.setenv(key, value)
    get_settings.cache_clear()

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    keep = Keep(logging.DEBUG)
    # Prefect's loggers do not propagate to the root: listen on both, at every level.
    watched = [logging.getLogger(), logging.getLogger("prefect")]
    levels = [w.level for w in watched]
    for logger in watched:
        logger.addHandler(keep)
        logger.setLevel(logging.DEBUG)
    states = [
        sample_and_assign(as_of=date(2026, 10, 1), return_state=True),
        chase_overdue(as_of=date(2026, 10, 26), return_state=True),
        send_outbox(return_state=True),
    ]
    for logger, level in zip(watched, levels, strict=True):
        logger.removeHandler(keep)
        logger.setLevel(level)
    get_settings.cache_clear()
    assert all(s.is_completed() for s in states), [s.message for s in states]
    assert recorder.messages

    async def stored_logs() -> list[str]:
        ids = [s.state_details.flow_run_id for s in states]
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id={"any_": ids}),
                limit=200,
            )
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
            )
        return [log.message for log in logs] + [repr(r.parameters) for r in runs]

    stored = asyncio.run(stored_logs())
    assert stored, "Prefect stored the runs' logs"
    assert len(records) > 10
    _clean("\n".join(records), "a log record")
    _clean("\n".join(stored), "a log Prefect stored")
    out = capsys.readouterr()
    _clean(out.out + out.err, "the terminal")
