"""`yotqa alerts`: tell the admins of timetable runs that failed, crashed or did not start (O1)."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer

from cli.common import fail, out
from models.settings import get_settings

alerts_app = typer.Typer(
    help="Alerts to YOTQA_ADMIN_EMAILS when a timetable run fails, crashes or has not started "
    "YOTQA_ALERT_LATE_MINUTES after its time, and an all clear when it is put right (O1).",
    no_args_is_help=True,
)


def _ready() -> None:
    if not os.environ.get("PREFECT_API_URL"):
        fail(
            "PREFECT_API_URL is not set: point it at the Prefect server whose runs to watch "
            "(`yotqa serve` starts a watcher itself)"
        )
    if not get_settings().admin_emails:
        fail("YOTQA_ADMIN_EMAILS is empty: set it to the admins' addresses, comma-separated")


Service = Annotated[
    str | None,
    typer.Option(
        "--service",
        help="Only this service's runs (deployed with `yotqa deploy --service`); default: "
        "every timetable run on the server.",
    ),
]


def _stamp(line: str) -> None:
    out.print(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC  {line}")


@alerts_app.command("check")
def check_once(service: Service = None) -> None:
    """Look once: alert what is new, say all clear for what is put right, and print it."""
    from deployments.alerts import check

    _ready()
    report = check(get_settings(), service=service)
    for alert in report.alerts:
        out.print(
            f"Alerted: {alert.run.job} for {alert.run.period} {alert.trouble.value} "
            f"(flow run {alert.run.name})"
        )
    for clear in report.clears:
        out.print(f"All clear: {clear.run.job} for {clear.run.period}")
    if not report.alerts and not report.clears:
        out.print("Nothing new to tell the admins.")
    for where in report.sent_to:
        out.print(f"Sent: {where}")


@alerts_app.command("watch")
def watch_runs(service: Service = None) -> None:
    """Look every YOTQA_ALERT_CHECK_SECONDS until stopped (Ctrl+C or SIGTERM); run it beside the
    Prefect server, where no worker's outage can stop it."""
    from deployments.alerts import watch

    _ready()
    settings = get_settings()
    stop = threading.Event()

    def stopping(_signum: int, _frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stopping)
    _stamp(
        f"Watching the timetable's runs every {settings.alert_check_seconds:g} s; alerts go to "
        f"{', '.join(settings.admin_emails)}."
    )
    watch(settings, _stamp, stop, service)
    _stamp("Stopped watching.")
