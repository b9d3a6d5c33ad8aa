"""A deployment for every row of the timetable (T1-T13, F1, F2, the daily chase), plus the outbox
sender and the browser audit form (SPEC §6).

Rows that name the same flow share one deployment, which runs once on a day both fall on (T1
and T11: the month's sample; T8 and T13: the annual pack); its tags and description name every
row it serves. Schedules are in Europe/London. A timetable row's runs are listed as RDATEs (the exact working
days, bank holidays of England and Wales skipped), regenerated whenever the deployments are
built; every schedule has a stable slug so a redeploy never duplicates runs.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from dateutil.rrule import rrulestr
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, RRule, Schedule

from flows.record_audit import record_audit_form
from flows.send_outbox import send_outbox
from flows.timetable import FLOWS
from models.enums import Role
from models.errors import ConfigError
from models.settings import get_settings
from tasks.alerts import DAILY, TIMETABLE
from tasks.catalogue import CATALOGUE
from tasks.timetable import Entry, Timetable, load_timetable, runs_between
from tasks.workdays import TIMEZONE, Month, is_working_day, today

SCHEDULE_MONTHS = 24  # RDATEs listed ahead; Prefect keeps an rrule under 6,500 characters
# One run at a time; runs that pile up after an outage wait their turn (each then works for its
# own date or skips itself when overtaken: flows/guard.py) rather than being cancelled unseen.
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
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


WEEKDAYS = "MO,TU,WE,TH,FR"


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _ruleset(pattern: str, wanted: list[datetime], start: date, until: datetime) -> str:
    """An RRULE the Prefect UI can put into words, with EXDATE/RDATE correcting it to the exact
    working days (a bank holiday moves a run; D1). Without a pattern, the dates alone."""
    if not pattern:
        return "RDATE:" + ",".join(_fmt(t) for t in wanted)
    dtstart = datetime.combine(start.replace(day=1), time())
    rule = f"{pattern};UNTIL={_fmt(until)}"
    generated = set(rrulestr(f"RRULE:{rule}", dtstart=dtstart))
    generated = {g for g in generated if g.date() >= start}
    lines = [f"DTSTART:{_fmt(dtstart)}", f"RRULE:{rule}"]
    dropped, added = sorted(generated - set(wanted)), sorted(set(wanted) - generated)
    if dropped:
        lines.append("EXDATE:" + ",".join(_fmt(t) for t in dropped))
    if added:
        lines.append("RDATE:" + ",".join(_fmt(t) for t in added))
    return "\n".join(lines)


def _pattern(entry: Entry) -> str:
    """A row's runs as an RRULE: the first working day, or the Nth working day before the end
    of week N, of each month (or of its months), at its time."""
    week_days = ",".join(str(d) for d in range(1, 7 * (entry.deadline_week or 1) + 1))
    if entry.runs == "first_working_day":
        when = f"BYDAY={WEEKDAYS};BYMONTHDAY=1,2,3,4,5,6,7;BYSETPOS=1"
    elif entry.runs == "deadline":
        when = f"BYDAY={WEEKDAYS};BYMONTHDAY={week_days};BYSETPOS=-1"
    else:
        before = int(entry.runs.split()[0])
        when = f"BYDAY={WEEKDAYS};BYMONTHDAY={week_days};BYSETPOS=-{before + 1}"
    months = f";BYMONTH={','.join(str(m) for m in sorted(entry.months))}" if entry.months else ""
    return (
        f"FREQ=MONTHLY{months};{when};"
        f"BYHOUR={entry.time.hour};BYMINUTE={entry.time.minute};BYSECOND=0"
    )


def pattern_of(entries: list[Entry]) -> str:
    """The rows' common RRULE pattern, or "" where rows sharing a flow run on different days."""
    patterns = {_pattern(e) for e in entries}
    return patterns.pop() if len(patterns) == 1 else ""


def timetable_schedule(timetable: Timetable, flow_name: str, start: date) -> Schedule:
    wanted = run_times(timetable, flow_name, start)
    until = datetime.combine(Month.of(start).next(SCHEDULE_MONTHS).first_day, time())
    text = _ruleset(pattern_of(_entries(timetable, flow_name)), wanted, start, until)
    return RRule(text, timezone=TIMEZONE, slug=f"{flow_name}-timetable")


def working_days_schedule(flow_name: str, at: time, start: date, days: int = 380) -> Schedule:
    """Every working day (bank holidays skipped) at `at`, London time, for about a year ahead."""
    dates = [start + timedelta(days=i) for i in range(days)]
    wanted = [datetime.combine(d, at) for d in dates if is_working_day(d)]
    pattern = f"FREQ=WEEKLY;BYDAY={WEEKDAYS};BYHOUR={at.hour};BYMINUTE={at.minute};BYSECOND=0"
    until = datetime.combine(start + timedelta(days=days), time())
    text = _ruleset(pattern, wanted, start, until)
    return RRule(text, timezone=TIMEZONE, slug=f"{flow_name}-working-days")


def _entries(timetable: Timetable, flow_name: str) -> list[Entry]:
    return [e for e in timetable.scheduled if e.flow == flow_name]


def _lead(lead: str) -> str:
    return Role(lead).label.lower() if lead in {r.value for r in Role} else lead.replace("_", " ")


def _runs(runs: str) -> str:
    if runs == "first_working_day":
        return "on the first working day of its month"
    if runs == "deadline":
        return "on its deadline"
    return runs.replace("deadline", "its deadline")


def describe(entries: list[Entry]) -> str:
    """What the deployment does, in the framework's words, and when it runs."""
    parts = [
        f"{e.id} ({_lead(e.lead)}, {e.frequency}, by the end of week {e.deadline_week}): "
        f"\u201c{e.framework or e.task}\u201d." + (f" {e.notes}" if e.notes else "")
        for e in entries
    ]
    first = entries[0]
    return (
        " ".join(parts)
        + f" Runs {_runs(first.runs)} at {first.time:%H:%M} Europe/London, bank holidays skipped;"
        " a run that starts late works for the day it was scheduled for."
    )


def build_deployments(start: date | None = None) -> list[RunnerDeployment]:
    """One deployment per catalogue job the timetable names (rows sharing a job share it), plus
    the browser audit form and the outbox sender."""
    start = start or today()
    timetable = load_timetable(get_settings().timetable_file)
    unknown = [e for e in timetable.entries if e.flow not in CATALOGUE]
    if unknown:
        raise ConfigError(
            "\n".join(
                f"{timetable.source.name}: entry {e.id}: field 'flow': no flow is called {e.flow!r} "
                f"(expected one of {', '.join(sorted(CATALOGUE))})"
                for e in unknown
            )
        )
    deployments = []
    for name, job in CATALOGUE.items():
        entries = job.rows(timetable)
        if not entries:
            continue
        if all(e.frequency == "daily" for e in entries):
            entry = entries[0]
            deployments.append(
                FLOWS[name].to_deployment(
                    name=name,
                    description=f"{entry.task}: {entry.framework}",
                    schedules=[working_days_schedule(name, entry.time, start)],
                    tags=[TIMETABLE, DAILY, f"lead:{entry.lead}"],
                    concurrency_limit=ONE_AT_A_TIME,
                )
            )
            continue
        ids = [e.id for e in entries]
        deployments.append(
            FLOWS[name].to_deployment(
                name=name,
                description=describe(entries),
                schedules=[timetable_schedule(timetable, name, start)],
                tags=sorted(
                    {e.frequency.replace("annually", "annual") for e in entries}
                    | {f"lead:{e.lead}" for e in entries}
                    | set(ids)
                    | {TIMETABLE}
                ),
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
