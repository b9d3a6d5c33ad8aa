"""T1, T4, T11: the month's sample drawn, audits assigned, auditors told."""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from flows.guard import run_day
from tasks.jobs import draw_and_assign, export_selections, selection_report, send_outbox
from tasks.sampling.report import makeup_markdown
from tasks.workdays import Month


@flow(name="sample-and-assign", log_prints=False)
def sample_and_assign(as_of: date | None = None) -> dict[str, object]:
    """Draw the management team's audit sample for the month of `as_of`, assign it, and send the emails."""
    day = run_day(as_of)
    period = str(Month.of(day))
    result = draw_and_assign(day)
    report = selection_report(period)
    slug = period.replace("-", "")
    create_table_artifact(
        key=f"selection-{slug}",
        table=report["selections"],
        description=f"Audits assigned for {period} (case references only)",
    )
    create_markdown_artifact(
        key=f"sample-makeup-{slug}",
        markdown=makeup_markdown(report),
        description=f"Sample make-up against the caseload, {period} (S5)",
    )
    path = export_selections(period)
    create_link_artifact(
        key=f"selections-xlsx-{slug}",
        link=f"file://{path}",
        link_text=f"selections-{period}.xlsx",
        description="The record of all cases selected (S12)",
    )
    sent = send_outbox()
    return {"period": period, "created": result["created"], "audits": len(result["audits"]), **sent}
