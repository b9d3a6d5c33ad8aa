"""O1: the admins are told when a timetable run fails, crashes or has not started in time, once
per run, and told "all clear" when a later run of the same job and period succeeds.

Plain functions over what the Prefect server says of its runs (`RunView`): deployments/alerts.py
reads the runs, sends what these functions compose and marks the runs told with a tag. Nothing
here touches the product's database, and the email goes straight to the mail server through
`emails`, not through the outbox table: the alert must reach the admins when that database is
what failed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from emails.message import html

from models.settings import Settings
from tasks.mail import Rendered, render
from tasks.mailserver import smtp_backend
from tasks.outbox import describe_response
from tasks.outputs import Outputs
from tasks.workdays import london_date

# Tags the deployments and runs carry: which runs are watched, and which have been told.
TIMETABLE = "timetable"
DAILY = "daily"
ALERTED = "alert-sent"  # failed or crashed, and the admins were told
LATE_ALERTED = "late-alert-sent"  # not started in time, and the admins were told
CLEARED = "all-clear-sent"  # a later run succeeded, and the admins were told
LOOKBACK = timedelta(days=7)  # runs scheduled further back are no longer news
ROW = re.compile(r"^(T\d+|F\d+|SA|SS)$")
# How `yotqa serve` marks the runs its stop cut off or kept from starting (deployments/serve.py):
# Cancelled, but not on purpose, so the admins are told and the work for the period is re-run.
CUT_OFF = "Cut off:"
NOT_STARTED = "Not started:"


class Trouble(StrEnum):
    FAILED = "failed"
    CRASHED = "crashed"
    LATE = "late"
    STOPPED = "cut off by a stop"


@dataclass(frozen=True)
class RunView:
    """One flow run as the Prefect server reports it."""

    id: str
    name: str
    job: str
    tags: tuple[str, ...]
    state: str  # the state's type: SCHEDULED, PENDING, RUNNING, COMPLETED, FAILED, CRASHED, ...
    state_name: str
    message: str
    expected: datetime  # when it was due to start (UTC)
    deployment_id: str = ""
    ended: datetime | None = None
    as_of: date | None = None

    @property
    def period(self) -> date:
        """The day the run works for: its `as_of`, else the London date it was scheduled for."""
        return self.as_of or london_date(self.expected)

    @property
    def service(self) -> str:
        return next((t.split(":", 1)[1] for t in self.tags if t.startswith("service:")), "")

    @property
    def rows(self) -> list[str]:
        return sorted(t for t in self.tags if ROW.match(t))

    @property
    def daily(self) -> bool:
        return DAILY in self.tags


@dataclass(frozen=True)
class Alert:
    run: RunView
    trouble: Trouble
    what: str  # what went wrong, in one line, with no secret in it

    @property
    def tag(self) -> str:
        return LATE_ALERTED if self.trouble is Trouble.LATE else ALERTED


@dataclass(frozen=True)
class AllClear:
    """A run that succeeded, and the told runs of the same job and period it answers."""

    run: RunView
    answers: tuple[RunView, ...]


def troubles(runs: list[RunView], now: datetime, late_after: timedelta) -> list[Alert]:
    """The runs the admins have not yet been told about: failed, crashed, or still not started
    `late_after` past their time, or cut off by `yotqa serve` stopping. A run cancelled on
    purpose (in the UI, by the admin) is not alerted. A run told once is not told again (a
    retry that fails again is the same run); a run told late that then fails is told once
    more, as failed."""
    found = []
    for run in runs:
        if run.state in ("FAILED", "CRASHED") and ALERTED not in run.tags:
            trouble = Trouble.FAILED if run.state == "FAILED" else Trouble.CRASHED
            found.append(Alert(run, trouble, run.message or run.state_name))
        elif run.state == "CANCELLED" and run.message.startswith((CUT_OFF, NOT_STARTED)):
            if ALERTED not in run.tags:
                found.append(Alert(run, Trouble.STOPPED, run.message))
        elif (
            run.state in ("SCHEDULED", "PENDING")
            and now - run.expected >= late_after
            and LATE_ALERTED not in run.tags
        ):
            late = _minutes(now - run.expected)
            found.append(
                Alert(run, Trouble.LATE, f"not started {late} after its time ({run.state_name})")
            )
    return sorted(found, key=lambda a: (a.run.service, a.run.expected, a.run.job))


def all_clears(told: list[RunView], completed: list[RunView]) -> list[AllClear]:
    """For each job and period the admins were told about and not yet cleared, the run that
    succeeded after it (the same run retried, or a re-run for the same period; for a daily job,
    any later day's run, which does all the earlier one would have)."""
    waiting: dict[tuple[str, str, date | None], list[RunView]] = defaultdict(list)
    for run in told:
        if CLEARED not in run.tags:
            waiting[_key(run)].append(run)
    clears = []
    for problems in waiting.values():
        success = [c for c in completed if _answers(c, problems)]
        if success:
            latest = max(success, key=lambda c: c.ended or c.expected)
            clears.append(AllClear(latest, tuple(problems)))
    return sorted(clears, key=lambda c: (c.run.service, c.run.expected, c.run.job))


def _answers(success: RunView, problems: list[RunView]) -> bool:
    """Whether a completed run puts right these told runs (all of one job, service and period)."""
    job, service, period = _key(problems[0])
    if success.state != "COMPLETED" or (success.job, success.service) != (job, service):
        return False
    if success.id in {p.id for p in problems}:
        return True  # the same run, retried
    # A daily job's later day's run does all the earlier one would have.
    earliest = min(p.period for p in problems)
    same = success.period >= earliest if period is None else success.period == period
    return same and success.expected >= min(p.expected for p in problems)


def _key(run: RunView) -> tuple[str, str, date | None]:
    """What a success must match: the job and service, and the period (any day, for a daily job)."""
    return (run.job, run.service, None if run.daily else run.period)


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{minutes // 60} hours"


SECRET_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", re.I)
SECRET_PAIR = re.compile(r"(?P<key>password|passwd|pwd|secret|token)(?P<sep>\s*[=:]\s*)\S+", re.I)


def one_line(text: str, settings: Settings, limit: int = 300) -> str:
    """The first line of an error, with credentials and the configured secrets masked."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = SECRET_IN_URL.sub(r"\g<scheme>***@", line)
    line = SECRET_PAIR.sub(r"\g<key>\g<sep>***", line)
    for secret in (
        settings.smtp_password,
        settings.smtp_oauth_client_secret,
        settings.web_secret,
        _password(settings.database_url),
    ):
        if secret and len(secret) >= 4:
            line = line.replace(secret, "***")
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def _password(url: str) -> str:
    match = re.match(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<password>[^/\s@]+)@", url, re.I)
    return match["password"] if match else ""


def _line(run: RunView, trouble: str, what: str, ui_url: str, settings: Settings) -> dict[str, str]:
    return {
        "job": run.job,
        "rows": ", ".join(run.rows),
        "period": f"{run.period:%-d %B %Y}",
        "service": run.service or settings.service_name,
        "trouble": trouble,
        "what": one_line(what, settings),
        "due": f"{run.expected.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        "run": run.name,
        "link": f"{ui_url}/runs/flow-run/{run.id}",
    }


def alert_email(alerts: list[Alert], ui_url: str, settings: Settings) -> Rendered:
    """One email for every run found in one check: a digest when there are several."""
    lines = [_line(a.run, a.trouble.value, a.what, ui_url, settings) for a in alerts]
    if len(lines) == 1:
        one = lines[0]
        subject = (
            f"yotqa alert: {one['job']} for {one['period']} {one['trouble']} ({one['service']})"
        )
    else:
        subject = f"yotqa alert: {len(lines)} timetable runs need attention"
    return render("alert", subject, recipient_name="admin", lines=lines, clear=False)


def all_clear_email(clears: list[AllClear], ui_url: str, settings: Settings) -> Rendered:
    lines = [
        _line(
            c.run,
            ", ".join(sorted({p.state_name.lower() for p in c.answers})),
            f"{len(c.answers)} run(s) told before; this one completed",
            ui_url,
            settings,
        )
        for c in clears
    ]
    if len(lines) == 1:
        subject = f"yotqa all clear: {lines[0]['job']} for {lines[0]['period']} completed ({lines[0]['service']})"
    else:
        subject = f"yotqa all clear: {len(lines)} timetable jobs completed"
    return render("alert", subject, recipient_name="admin", lines=lines, clear=True)


class AlertNotSent(Exception):
    """The mail server did not take the alert; the runs stay untold and are tried next check."""


def deliver(settings: Settings, email: Rendered, now: datetime) -> str:
    """Send to the admins now, straight through the mail server (or, with no SMTP host, write an
    .eml file under the outbox folder); where it went."""
    message = html(
        html=email.html,
        text=email.text,
        subject=email.subject,
        mail_from=settings.mail_from,
        mail_to=settings.admin_emails,
    )
    if not settings.smtp_host:
        folder = Outputs(settings.output_dir).alerts
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{now:%Y%m%dT%H%M%S%f}-alert.eml"
        path.write_bytes(message.as_bytes())
        return str(path)
    backend = smtp_backend(settings)
    try:
        response = message.send(to=list(settings.admin_emails), smtp=backend)
    finally:
        backend.close()
    if response is None or not response.success:
        raise AlertNotSent(
            f"the mail server {settings.smtp_host}:{settings.smtp_port} did not take the alert "
            f"({one_line(describe_response(response), settings)}); check YOTQA_SMTP_*"
        )
    return f"{settings.smtp_host}:{settings.smtp_port}"
