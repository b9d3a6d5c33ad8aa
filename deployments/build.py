"""One deployment per timetable row whose flow exists, plus the outbox sender (SPEC §6).

Schedules are in Europe/London. A timetable row's runs are listed as RDATEs (the exact working
days, bank holidays of England and Wales skipped), regenerated whenever the deployments are
built; every schedule has a stable slug so a redeploy never duplicates runs.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, RRule, Schedule

from flows.chase_overdue import chase_overdue
from flows.monthly_outputs import (
    case_level_data,
    exception_report,
    feedback_report,
    team_audits_report,
)
from flows.packs import annual_pack, quarterly_pack
from flows.record_audit import record_audit_form
from flows.sample_and_assign import sample_and_assign
from flows.send_outbox import send_outbox
from models.settings import get_settings
from tasks.timetable import Entry, Timetable, load_timetable, runs_between
from tasks.workdays import TIMEZONE, is_working_day, today

# The flows that exist so far, by the name the timetable gives them.
FLOWS: dict[str, Flow] = {  # type: ignore[type-arg]
    "sample-and-assign": sample_and_assign,
    "case-level-data": case_level_data,
    "exception-report": exception_report,
    "team-audits-report": team_audits_report,
    "feedback-report": feedback_report,
    "quarterly-pack": quarterly_pack,
    "annual-pack": annual_pack,
}
DAILY: dict[str, Flow] = {"chase-overdue": chase_overdue}  # type: ignore[type-arg]
SCHEDULE_MONTHS = 24  # RDATEs listed ahead; Prefect keeps an rrule under 6,500 characters
ONE_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)
# Every 15 minutes from 07:00 to 19:45, Monday to Friday, London time.
OUTBOX_CRON = "*/15 7-19 * * 1-5"


def run_times(
    timetable: Timetable, flow_name: str, start: date, months: int = SCHEDULE_MONTHS
) -> list[datetime]:
    """The local start times of every timetable run of `flow_name` (rows sharing a flow run once a day)."""
    times = {
        datetime.combine(r.run_on, r.entry.time)
        for r in runs_between(timetable, start, months)
        if r.entry.flow == flow_name
    }
    return sorted(times)


def timetable_schedule(timetable: Timetable, flow_name: str, start: date) -> Schedule:
    dates = ",".join(t.strftime("%Y%m%dT%H%M%S") for t in run_times(timetable, flow_name, start))
    return RRule(f"RDATE:{dates}", timezone=TIMEZONE, slug=f"{flow_name}-timetable")


def working_days_schedule(flow_name: str, at: time, start: date, days: int = 380) -> Schedule:
    """Every working day (bank holidays skipped) at `at`, London time, for about a year ahead."""
    dates = [start + timedelta(days=i) for i in range(days)]
    listed = ",".join(
        datetime.combine(d, at).strftime("%Y%m%dT%H%M%S") for d in dates if is_working_day(d)
    )
    return RRule(f"RDATE:{listed}", timezone=TIMEZONE, slug=f"{flow_name}-working-days")


def _entries(timetable: Timetable, flow_name: str) -> list[Entry]:
    return [e for e in timetable.scheduled if e.flow == flow_name]


def build_deployments(start: date | None = None) -> list[RunnerDeployment]:
    start = start or today()
    timetable = load_timetable(get_settings().timetable_file)
    deployments = []
    for flow_name, flow in FLOWS.items():
        entries = _entries(timetable, flow_name)
        if not entries:
            continue
        ids = ", ".join(e.id for e in entries)
        deployments.append(
            flow.to_deployment(
                name=flow_name,
                description=f"{ids}: " + " / ".join(f"{e.task} ({e.framework})" for e in entries),
                schedules=[timetable_schedule(timetable, flow_name, start)],
                tags=sorted(
                    {e.frequency for e in entries}
                    | {f"lead:{e.lead}" for e in entries}
                    | set(ids.split(", "))
                ),
                concurrency_limit=ONE_AT_A_TIME,
            )
        )
    for entry in timetable.daily:
        if entry.flow in DAILY:
            deployments.append(
                DAILY[entry.flow].to_deployment(
                    name=entry.flow,
                    description=f"{entry.task}: {entry.framework}",
                    schedules=[working_days_schedule(entry.flow, entry.time, start)],
                    tags=["daily", f"lead:{entry.lead}"],
                    concurrency_limit=ONE_AT_A_TIME,
                )
            )
    deployments.append(
        record_audit_form.to_deployment(
            name="record-audit",
            description="Complete an audit in the browser: run it with the audit's id, then press Resume "
            "on the run to fill in the form (App. 3 or 4, with the App. 1 guidance). Invalid input asks again.",
            tags=["on-demand", "audit"],
        )
    )
    deployments.append(
        send_outbox.to_deployment(
            name="send-outbox",
            description="E6: deliver queued emails every 15 minutes in working hours; failed sends are retried here.",
            schedules=[
                Cron(
                    OUTBOX_CRON,
                    timezone=TIMEZONE,
                    day_or=False,
                    slug="working-hours-every-15-minutes",
                )
            ],
            tags=["system", "email"],
            concurrency_limit=ONE_AT_A_TIME,
        )
    )
    return deployments
