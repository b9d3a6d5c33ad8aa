"""E2: the daily chase of audits and action points, every working day at 08:00."""

from __future__ import annotations

from datetime import date, time

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.guard import daily_run_day
from tasks.jobs import chase_items, send_outbox


def chase_time() -> time:
    """When the daily chase runs, from the timetable (a later day's run overtakes a late one)."""
    from models.settings import get_settings
    from tasks.timetable import load_timetable

    timetable = load_timetable(get_settings().timetable_file)
    return next(e.time for e in timetable.daily if e.flow == "chase-overdue")


@flow(name="chase-overdue")
def chase_overdue(as_of: date | None = None) -> dict[str, object]:
    """Remind before deadlines, chase after them, escalate later: one digest per person per day."""
    day = daily_run_day(as_of, chase_time())
    if day is None:
        return {"skipped": "overtaken by a later day's chase"}
    report = chase_items(day)
    create_table_artifact(
        key=f"chase-{day:%Y%m%d}",
        table=report["steps"] or [{"item": "-", "case": "-", "step": "nothing due", "to": "-"}],
        description=f"What was chased on {day}, at which step, to whom",
    )
    create_table_artifact(
        key=f"web-{day:%Y%m%d}",
        table=report["arrived"]
        or [{"when": "-", "what": "nothing", "audit": "-", "case": "-", "by": "-"}],
        description="What people did through their email links on the working day before "
        f"{day} (and any days off since)",
    )
    sent = send_outbox()
    return {
        "day": day.isoformat(),
        "steps": len(report["steps"]),
        "digests": report["digests"],
        "reassigned": report["reassigned"],
        "arrived_by_link": len(report["arrived"]),
        **sent,
    }
