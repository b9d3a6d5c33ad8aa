"""O1 (issue 16): the admins are told once of a timetable run that failed, crashed or did not
start in time, never of one cancelled on purpose, and told "all clear" when a later run of the
same job and period succeeds; the email names no person and carries no secret.

The rules as plain functions first; then `check` against a real Prefect server (the test
harness) and a real SMTP conversation. tests/test_alerts_served.py runs it end to end under
`yotqa serve`, with a database made unreachable, a killed run and a run nobody picks up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from models.settings import Settings, get_settings
from tasks.alerts import (
    ALERTED,
    CLEARED,
    LATE_ALERTED,
    RunView,
    Trouble,
    alert_email,
    all_clear_email,
    all_clears,
    one_line,
    troubles,
)
from tests.smtp import smtp_server, text_of

NOW = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
TAGS = ("timetable", "T1", "T11", "service:north")
LATE = timedelta(minutes=30)


def run(
    state: str,
    *,
    job: str = "sample-and-assign",
    at: datetime = NOW - timedelta(hours=2),
    tags: tuple[str, ...] = TAGS,
    message: str = "",
    as_of: date | None = None,
    name: str | None = None,
    ended: datetime | None = None,
) -> RunView:
    return RunView(
        id=name or str(uuid.uuid4()),
        name=name or "brave-otter",
        job=job,
        tags=tags,
        state=state,
        state_name=state.title(),
        message=message,
        expected=at,
        deployment_id="d-" + job,
        ended=ended,
        as_of=as_of,
    )


def test_o1_failed_crashed_and_late_runs_are_told_and_a_cancelled_one_never() -> None:
    failed = run("FAILED", message="Flow run encountered an exception: OperationalError: gone")
    crashed = run("CRASHED", job="quarterly-pack", message="exited with status code -9")
    late = run("SCHEDULED", job="exception-report", at=NOW - timedelta(minutes=31))
    not_yet = run("SCHEDULED", job="audits-due", at=NOW - timedelta(minutes=29))
    cancelled = run("CANCELLED", job="case-level-data")
    completed = run("COMPLETED", job="annual-pack")
    found = troubles([failed, crashed, late, not_yet, cancelled, completed], NOW, LATE)
    assert {(a.run.job, a.trouble) for a in found} == {
        ("sample-and-assign", Trouble.FAILED),
        ("quarterly-pack", Trouble.CRASHED),
        ("exception-report", Trouble.LATE),
    }
    assert next(a for a in found if a.trouble is Trouble.LATE).what.startswith(
        "not started 31 minutes after its time"
    )


def test_o1_a_run_cut_off_by_serve_stopping_is_told_though_cancelled() -> None:
    """Issue 16: `yotqa serve` stopped mid-run leaves the run Cancelled with a message that says
    so (deployments/serve.py, Stop.message); unlike a cancel in the UI, that is alerted."""
    from deployments.serve import Stop

    stop = Stop()
    stop.reason = "SIGTERM"
    cut = run("CANCELLED", message=stop.message)
    never_started = run("CANCELLED", job="exception-report", message=stop.not_started_message)
    by_hand = run("CANCELLED", job="audits-due", message="Cancelled from the UI")
    found = troubles([cut, never_started, by_hand], NOW, LATE)
    assert {(a.run.job, a.trouble) for a in found} == {
        ("sample-and-assign", Trouble.STOPPED),
        ("exception-report", Trouble.STOPPED),
    }
    assert (
        troubles([run("CANCELLED", message=stop.message, tags=(*TAGS, ALERTED))], NOW, LATE) == []
    )


def test_o1_a_run_is_told_once_a_retry_that_fails_again_is_not_told_again() -> None:
    told = run("FAILED", tags=("timetable", ALERTED))
    assert troubles([told], NOW, LATE) == []
    # Told late, then it started and failed: that is news, told once more, as failed.
    late_then_failed = run("FAILED", tags=("timetable", LATE_ALERTED))
    assert [a.trouble for a in troubles([late_then_failed], NOW, LATE)] == [Trouble.FAILED]
    still_late = run("SCHEDULED", tags=("timetable", LATE_ALERTED))
    assert troubles([still_late], NOW, LATE) == []


def test_o1_all_clear_comes_from_a_later_success_of_the_same_job_and_period() -> None:
    october = date(2026, 10, 1)
    failed = run("FAILED", tags=(*TAGS, ALERTED), as_of=october)
    other_period = run("COMPLETED", as_of=date(2026, 11, 2), at=NOW)
    other_job = run("COMPLETED", job="exception-report", as_of=october, at=NOW)
    assert all_clears([failed], [other_period, other_job]) == []
    rerun = run("COMPLETED", as_of=october, at=NOW, ended=NOW + timedelta(minutes=1))
    [clear] = all_clears([failed], [other_period, rerun])
    assert clear.run is rerun and clear.answers == (failed,)
    # The same run, retried in the UI, clears itself; a cleared run is not cleared twice.
    retried = run("COMPLETED", tags=(*TAGS, ALERTED), name="same-run")
    assert all_clears([retried], [retried])[0].run is retried
    assert all_clears([run("FAILED", tags=(*TAGS, ALERTED, CLEARED))], [rerun]) == []


def test_o1_a_daily_job_is_cleared_by_a_later_days_run() -> None:
    tags = ("timetable", "daily")
    failed = run("FAILED", job="chase-overdue", tags=(*tags, ALERTED), at=NOW - timedelta(days=1))
    earlier = run("COMPLETED", job="chase-overdue", tags=tags, at=NOW - timedelta(days=2))
    assert all_clears([failed], [earlier]) == []
    tomorrow = run("COMPLETED", job="chase-overdue", tags=tags, at=NOW)
    assert [c.run for c in all_clears([failed], [earlier, tomorrow])] == [tomorrow]


def test_o1_the_error_line_keeps_no_password_or_secret() -> None:
    settings = Settings(
        smtp_password="mail-pass-77",
        web_secret="web-secret-88",
        database_url="postgresql://yotqa:db-pass-99@db.example/yotqa",
    )
    message = (
        "\n  OperationalError: connection to postgresql://yotqa:db-pass-99@db.example/yotqa "
        "failed; password=hunter2 token: abc mail-pass-77 web-secret-88\nsecond line"
    )
    line = one_line(message, settings)
    for secret in ("db-pass-99", "hunter2", "abc", "mail-pass-77", "web-secret-88", "second"):
        assert secret not in line
    assert line.startswith("OperationalError: connection to postgresql://***@db.example/yotqa")
    assert len(one_line("x" * 1000, settings)) == 300


def test_o1_one_email_for_one_run_and_a_digest_for_several() -> None:
    settings = Settings(service_name="North YOT")
    failed = run(
        "FAILED",
        message="Flow run encountered an exception: KeyError: 'x'",
        as_of=date(2026, 10, 1),
    )
    one = alert_email(troubles([failed], NOW, LATE), "http://ui", settings)
    assert one.subject == "yotqa alert: sample-and-assign for 1 October 2026 failed (north)"
    assert f"http://ui/runs/flow-run/{failed.id}" in one.text and "T1, T11" in one.text
    assert "KeyError: 'x'" in one.text and "KeyError: &#39;x&#39;" in one.html
    crashed = run("CRASHED", job="quarterly-pack", tags=("timetable",))
    digest = alert_email(troubles([failed, crashed], NOW, LATE), "http://ui", settings)
    assert digest.subject == "yotqa alert: 2 timetable runs need attention"
    assert "North YOT" in digest.text  # a run with no service tag is the configured service's
    clear = all_clear_email(
        all_clears([failed], [run("COMPLETED", as_of=date(2026, 10, 1), at=NOW)]),
        "http://ui",
        settings,
    )
    assert (
        clear.subject == "yotqa all clear: sample-and-assign for 1 October 2026 completed (north)"
    )


# --- against a real Prefect server and a real SMTP conversation ---------------------------------


@pytest.fixture
def admins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[object, Settings]]:
    with smtp_server() as (recorder, port):
        monkeypatch.setenv("YOTQA_ADMIN_EMAILS", "admin@yot.example, ops@yot.example")
        monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("YOTQA_SMTP_PORT", str(port))
        monkeypatch.setenv("YOTQA_OUTPUT_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("YOTQA_PREFECT_UI_URL", "http://prefect.example")
        get_settings.cache_clear()
        yield recorder, get_settings()
    get_settings.cache_clear()


def _make_runs(service: str, specs: list[tuple[str, str, dict[str, object]]]) -> dict[str, str]:
    """Flow runs of one service on the server, each forced into a state: {name: flow run id}."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import State, StateType

    @flow(name="alerts-test")
    def job() -> None:  # never run: its runs are made and put into states
        pass

    async def make() -> dict[str, str]:
        ids = {}
        async with get_client() as client:
            for name, state, extra in specs:
                tags = extra.get("tags", ["timetable", "T1"])
                made = await client.create_flow_run(
                    job,
                    name=name,
                    parameters=dict(extra.get("parameters", {})),  # type: ignore[call-overload]
                    tags=[*tags, f"service:{service}"],  # type: ignore[misc]
                )
                message = str(extra.get("message", ""))
                await client.set_flow_run_state(
                    made.id, State(type=StateType(state), message=message), force=True
                )
                ids[name] = str(made.id)
        return ids

    return asyncio.run(make())


@pytest.mark.usefixtures("prefect_harness")
def test_o1_check_tells_the_admins_once_then_all_clear_through_a_real_smtp_conversation(
    admins: tuple[object, Settings],
) -> None:
    from deployments.alerts import check

    recorder, settings = admins
    october = {"as_of": "2026-10-01"}
    refused = (
        "Flow run encountered an exception: OperationalError: connection to "
        "postgresql://yotqa:pw-123456@db/yotqa refused"
    )
    service = f"north-{uuid.uuid4().hex[:6]}"
    ids = _make_runs(
        service,
        [
            ("failed-run", "FAILED", {"parameters": october, "message": refused}),
            ("crashed-run", "CRASHED", {"message": "Flow run infrastructure exited with non-zero status code -9."}),
            ("cancelled-run", "CANCELLED", {"message": "Cancelled by the admin"}),
            ("untagged-run", "FAILED", {"tags": ["not-timetable"]}),
        ]
    )  # fmt: skip
    first = check(settings, service=service)
    assert {a.run.name for a in first.alerts} == {"failed-run", "crashed-run"}
    [digest] = recorder.messages  # type: ignore[attr-defined]
    assert digest["Subject"] == "yotqa alert: 2 timetable runs need attention"
    assert digest["To"] == "admin@yot.example, ops@yot.example"
    body = text_of(digest)
    assert f"http://prefect.example/runs/flow-run/{ids['failed-run']}" in body
    assert "pw-123456" not in body and "postgresql://***@db/yotqa" in body
    assert "cancelled-run" not in body and ids["cancelled-run"] not in body
    # Told once: a second look finds nothing new, and the runs carry the tag in the UI.
    assert check(settings, service=service).alerts == []
    assert len(recorder.messages) == 1  # type: ignore[attr-defined]
    # The month's run re-run for the same period completes: all clear, once.
    rerun = _make_runs(service, [("rerun", "COMPLETED", {"parameters": october})])
    second = check(settings, service=service)
    assert [c.run.id for c in second.clears] == [rerun["rerun"]]
    assert recorder.messages[-1]["Subject"].startswith("yotqa all clear: ")  # type: ignore[attr-defined]
    assert check(settings, service=service).clears == []
    assert len(recorder.messages) == 2  # type: ignore[attr-defined]


@pytest.mark.usefixtures("prefect_harness")
def test_o1_an_alert_the_mail_server_refuses_is_tried_again_next_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from deployments.alerts import check
    from tasks.alerts import AlertNotSent

    with smtp_server(replies=["451 try again later"]) as (recorder, port):
        monkeypatch.setenv("YOTQA_ADMIN_EMAILS", "admin@yot.example")
        monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("YOTQA_SMTP_PORT", str(port))
        get_settings.cache_clear()
        settings = get_settings()
        service = f"east-{uuid.uuid4().hex[:6]}"
        _make_runs(service, [("refused-then-sent", "FAILED", {})])
        with pytest.raises(AlertNotSent, match="did not take the alert"):
            check(settings, service=service)
        again = check(settings, service=service)
        assert [a.run.name for a in again.alerts] == ["refused-then-sent"]
        assert "refused-then-sent" in text_of(recorder.messages[-1])
    get_settings.cache_clear()


@pytest.mark.usefixtures("prefect_harness")
def test_o1_yotqa_alerts_watch_emails_then_stops_on_sigterm_without_a_traceback(
    tmp_path: Path,
) -> None:
    """The command an admin runs beside the Prefect server (README: Alerts), as a process."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from prefect.settings import PREFECT_API_URL

    service = f"west-{uuid.uuid4().hex[:6]}"
    with smtp_server() as (recorder, port):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "YOTQA_"))}
        env |= {
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "YOTQA_ADMIN_EMAILS": "admin@yot.example",
            "YOTQA_SMTP_HOST": "127.0.0.1",
            "YOTQA_SMTP_PORT": str(port),
            "YOTQA_ALERT_CHECK_SECONDS": "0.5",
            "YOTQA_OUTPUT_DIR": str(tmp_path / "var"),
            "DO_NOT_TRACK": "1",
        }
        watcher = subprocess.Popen(
            [str(Path(sys.executable).parent / "yotqa"), "alerts", "watch", "--service", service],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _make_runs(service, [("watched-run", "CRASHED", {"message": "exit code -9"})])
            deadline = time.monotonic() + 60
            while not recorder.messages:
                assert time.monotonic() < deadline and watcher.poll() is None, "no alert"
                time.sleep(0.2)
        finally:
            watcher.send_signal(signal.SIGTERM)
            output, _ = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, output
    assert "watched-run" in text_of(recorder.messages[0])
    assert "Told the admins: alerts-test for" in output and "Stopped watching." in output
    assert "Traceback" not in output
