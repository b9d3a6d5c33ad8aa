"""E2: the daily chase of audits and action points, every working day at 08:00."""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.sample_and_assign import scheduled_day
from tasks.jobs import chase_items, send_outbox


@flow(name="chase-overdue")
def chase_overdue(as_of: date | None = None) -> dict[str, object]:
    """Remind before deadlines, chase after them, escalate later: one digest per person per day."""
    day = as_of or scheduled_day()
    report = chase_items(day)
    create_table_artifact(
        key=f"chase-{day:%Y%m%d}",
        table=report["steps"] or [{"item": "-", "case": "-", "step": "nothing due", "to": "-"}],
        description=f"What was chased on {day}, at which step, to whom",
    )
    sent = send_outbox()
    return {
        "day": day.isoformat(),
        "steps": len(report["steps"]),
        "digests": report["digests"],
        "reassigned": report["reassigned"],
        **sent,
    }
