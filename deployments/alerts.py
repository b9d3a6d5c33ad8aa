"""O1 against a Prefect server: read the timetable's runs, tell the admins, mark the runs told.

`check` is one look; `watch` looks every YOTQA_ALERT_CHECK_SECONDS until stopped (`yotqa alerts
watch`, which `yotqa serve` starts beside its server). Only the Prefect server is needed, never
the product's database or a worker: a failed run (the database unreachable, a bug), a crashed
one (its process killed) and a run nobody picks up (every worker or the serve process down) are
all seen in the server's own record of its runs.

Why not a Prefect automation: its actions either run a deployment (which needs the very workers
that may be down), call a webhook (which needs a receiver running anyway) or notify through a
block, and Prefect 3.9 ships no SMTP notification block (prefect/blocks/notifications.py:
Slack, Teams, PagerDuty, Twilio, Opsgenie, Mattermost, Discord, custom webhook, SendGrid). So
the server's own services do what they do (the `late_runs` service marks a run Late, the runner
or worker marks a killed run Crashed) and this reads the result. "Told" is kept on the run
itself, as a tag (alert-sent, late-alert-sent, all-clear-sent), so it survives the watcher's
restarts, shows in the UI, and a retry of the same run is never told twice.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort

from models.settings import Settings
from tasks.alerts import (
    ALERTED,
    CLEARED,
    LATE_ALERTED,
    LOOKBACK,
    TIMETABLE,
    Alert,
    AlertNotSent,
    AllClear,
    RunView,
    alert_email,
    all_clear_email,
    all_clears,
    deliver,
    troubles,
)

PAGE = 200


@dataclass
class CheckReport:
    alerts: list[Alert] = field(default_factory=list)
    clears: list[AllClear] = field(default_factory=list)
    sent_to: list[str] = field(default_factory=list)


def ui_url(settings: Settings) -> str:
    from prefect.settings import get_current_settings

    return (settings.prefect_ui_url or get_current_settings().ui_url or "").rstrip("/")


def check(
    settings: Settings, now: datetime | None = None, service: str | None = None
) -> CheckReport:
    """Tell the admins of every timetable run not yet told (one email, a digest if several),
    then of every job and period now clear; tag the runs told only once the email is taken.
    With `service`, only that service's runs (deployed with `yotqa deploy --service`)."""
    now = now or datetime.now(UTC)
    report = CheckReport()
    with get_client(sync_client=True) as client:
        reader = _Reader(client)
        since = now - LOOKBACK
        scope = [TIMETABLE, f"service:{service}"] if service else [TIMETABLE]
        candidates = reader.runs(
            tags=scope,
            states=[
                StateType.FAILED,
                StateType.CRASHED,
                StateType.CANCELLED,
                StateType.SCHEDULED,
                StateType.PENDING,
            ],
            since=since,
            before=now,
        )
        report.alerts = troubles(candidates, now, timedelta(minutes=settings.alert_late_minutes))
        told = [
            r
            for r in reader.runs(tags_any=[ALERTED, LATE_ALERTED], since=since)
            if CLEARED not in r.tags and set(scope) <= set(r.tags)
        ]
        # The successes that could answer them: the same deployments' (or, for runs made
        # outside a deployment, the same tags'), since the first of them was due.
        deployments = sorted({r.deployment_id for r in told})
        completed = (
            reader.runs(
                states=[StateType.COMPLETED],
                tags=scope,
                deployments=None if "" in deployments else deployments,
                since=min(r.expected for r in told),
            )
            if told
            else []
        )
        report.clears = all_clears(told, completed)
        link = ui_url(settings)
        if report.alerts:
            report.sent_to.append(
                deliver(settings, alert_email(report.alerts, link, settings), now)
            )
            for alert in report.alerts:
                reader.tag(alert.run, alert.tag)
        if report.clears:
            report.sent_to.append(
                deliver(settings, all_clear_email(report.clears, link, settings), now)
            )
            for clear in report.clears:
                for run in clear.answers:
                    reader.tag(run, CLEARED)
    return report


def watch(
    settings: Settings,
    announce: Callable[[str], None],
    stop: threading.Event,
    service: str | None = None,
) -> None:
    """Check every `alert_check_seconds` until `stop` is set; a check that cannot reach the
    Prefect server or the mail server is said once and tried again next time."""
    last_problem = ""
    while not stop.is_set():
        try:
            report = check(settings, service=service)
        except AlertNotSent as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001  (the server away: say so, try again)
            problem = (
                f"could not read the runs from the Prefect server: {type(exc).__name__}: {exc}"
            )
        else:
            problem = ""
            for alert in report.alerts:
                announce(
                    f"Told the admins: {alert.run.job} for {alert.run.period} "
                    f"{alert.trouble.value} (flow run {alert.run.name})"
                )
            for clear in report.clears:
                announce(f"Told the admins: all clear for {clear.run.job} ({clear.run.period})")
        if problem and problem != last_problem:
            announce(f"Alerts could not be checked or sent, trying again: {problem}")
        last_problem = problem
        stop.wait(settings.alert_check_seconds)


class _Reader:
    """The flow runs the check needs, as RunViews, with their flows' names."""

    def __init__(self, client: SyncPrefectClient) -> None:
        self.client = client
        self.flow_names: dict[uuid.UUID, str] = {}

    def runs(
        self,
        *,
        since: datetime,
        before: datetime | None = None,
        tags: list[str] | None = None,
        tags_any: list[str] | None = None,
        states: list[StateType] | None = None,
        deployments: list[str] | None = None,
    ) -> list[RunView]:
        found: list[FlowRun] = []
        run_filter = FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since, before_=before),
            tags=FlowRunFilterTags(all_=tags, any_=tags_any) if tags or tags_any else None,
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)) if states else None,
            deployment_id=FlowRunFilterDeploymentId(any_=[uuid.UUID(d) for d in deployments])
            if deployments
            else None,
        )
        while True:
            page = self.client.read_flow_runs(
                flow_run_filter=run_filter,
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=PAGE,
                offset=len(found),
            )
            found += page
            if len(page) < PAGE:
                break
        return [self._view(r) for r in found]

    def _view(self, run: FlowRun) -> RunView:
        if run.flow_id not in self.flow_names:
            self.flow_names[run.flow_id] = self.client.read_flow(run.flow_id).name
        state = run.state
        return RunView(
            id=str(run.id),
            name=run.name or "",
            job=self.flow_names[run.flow_id],
            tags=tuple(run.tags),
            state=state.type.value if state else "SCHEDULED",
            state_name=(state.name or state.type.value.title()) if state else "Scheduled",
            message=(state.message or "") if state else "",
            expected=run.expected_start_time or run.created or datetime.now(UTC),
            deployment_id=str(run.deployment_id or ""),
            ended=run.end_time,
            as_of=_as_of(run.parameters),
        )

    def tag(self, run: RunView, tag: str) -> None:
        self.client.update_flow_run(uuid.UUID(run.id), tags=[*run.tags, tag])


def _as_of(parameters: dict[str, Any]) -> date | None:
    value = parameters.get("as_of")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
