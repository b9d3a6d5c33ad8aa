"""Which day a run works for, and whether a late run is still wanted.

After an outage Prefect runs every scheduled run it had already created, all at once (see
PREFECT_NOTES: nothing is backfilled, nothing is dropped). Each deployment takes one run at a
time (the others wait for the slot), and each run decides here:

- a timetable run (a month's sample, a pack) works for the day it was scheduled for, however
  late it starts: every such job is idempotent for its period, so nothing is done twice;
- a daily run (the chase) that a later day's run has overtaken is skipped, with a log line that
  says so: the later run chases everything the earlier one would have.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tasks.workdays import TIMEZONE, add_working_days, london_date

LATE_AFTER = timedelta(hours=1)
LONDON = ZoneInfo(TIMEZONE)


def superseded_by(scheduled: datetime, now: datetime, at: time) -> date | None:
    """The later working day whose daily run (at `at`, London) was due by `now`, if any."""
    next_day = add_working_days(london_date(scheduled), 1)
    while datetime.combine(add_working_days(next_day, 1), at, LONDON) <= now:
        next_day = add_working_days(next_day, 1)
    return next_day if datetime.combine(next_day, at, LONDON) <= now else None


def run_day(as_of: date | None) -> date:
    """`as_of` when given (a manual re-run); else the London date the run was scheduled for,
    with a log line when the run started late."""
    return _scheduled(as_of, None)  # type: ignore[return-value]


def daily_run_day(as_of: date | None, at: time) -> date | None:
    """As `run_day`, for a job run every working day at `at`: None when a later day's run has
    overtaken this one (it is skipped, and the log says why)."""
    return _scheduled(as_of, at)


def _scheduled(as_of: date | None, daily_at: time | None) -> date | None:
    if as_of is not None:
        return as_of
    from prefect import get_run_logger
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    day = london_date(scheduled)
    now = datetime.now(UTC)
    if now - scheduled < LATE_AFTER:
        return day
    logger = get_run_logger()
    if daily_at is not None:
        later = superseded_by(scheduled, now, daily_at)
        if later is not None:
            logger.warning(
                "Skipped: this run was scheduled for %s and started only now; the run for %s "
                "has overtaken it and does all it would have done.",
                day,
                later,
            )
            return None
    logger.warning(
        "This run was scheduled for %s and started %s late: it works for %s, its own date.",
        f"{scheduled.astimezone(LONDON):%Y-%m-%d %H:%M}",
        _hours(now - scheduled),
        day,
    )
    return day


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"
