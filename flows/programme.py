"""The timetable's meetings and annual programme (Q3): T4, T5, T6, T7, T9, T12.

Each flow tells the right people in time, with the figures that help, and puts what it did on
the run as a markdown artifact. Re-running one for the same period sends nothing twice (E6).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.guard import run_day
from tasks.jobs import notice, peer_audit_day_report, plan_peer_audit_day, send_outbox


def _notify(name: str, as_of: date | None) -> dict[str, Any]:
    day = run_day(as_of)
    result = notice(name, day)
    create_markdown_artifact(
        key=f"{name}-{str(result['period']).replace('-', '').lower()}",
        markdown=result.pop("markdown"),
        description=f"{result['row']}: {result['task']}, {result['period']}",
    )
    return {**result, **send_outbox()}


@flow(name="audits-due")
def audits_due(as_of: date | None = None) -> dict[str, Any]:
    """T4: on the month's audit deadline, where the month's audits stand, to the service manager."""
    return _notify("audits-due", as_of)


@flow(name="management-meeting-pack")
def management_meeting_pack(as_of: date | None = None) -> dict[str, Any]:
    """T5: the month's performance data (case-level data set) for the management meeting."""
    return _notify("management-meeting-pack", as_of)


@flow(name="quarterly-review")
def quarterly_review(as_of: date | None = None) -> dict[str, Any]:
    """T6: last quarter's pack, the audits not done and why (D4), and the peer audit day's
    findings, to the management meeting and the board before they meet."""
    return _notify("quarterly-review", as_of)


@flow(name="staff-qa-forum")
def staff_qa_forum(as_of: date | None = None) -> dict[str, Any]:
    """T7: the service manager is asked to hold the staff QA forum; the year's figures attached."""
    return _notify("staff-qa-forum", as_of)


@flow(name="appraisal-objectives")
def appraisal_objectives(as_of: date | None = None) -> dict[str, Any]:
    """T12: each operational manager gets their case managers' QA figures and suggested objectives."""
    return _notify("appraisal-objectives", as_of)


@flow(name="peer-audit-day")
def peer_audit_day(as_of: date | None = None) -> dict[str, Any]:
    """T9: plan the peer audit day (participants, two case files each, emails); run after the
    day (T9R, in December), report the results and how often two auditors of one case agreed."""
    day = run_day(as_of)
    plan = plan_peer_audit_day(day)
    period = str(plan["period"])
    create_markdown_artifact(
        key=f"peer-audit-day-{period.replace('-', '')}",
        markdown=plan.pop("markdown"),
        description=f"Peer audit day {period}: participants and case files (references only)",
    )
    result: dict[str, Any] = {"plan": plan}
    if plan["report_due"]:
        report = peer_audit_day_report(period)
        create_markdown_artifact(
            key=f"peer-audit-day-report-{period.replace('-', '')}",
            markdown=report.pop("markdown"),
            description=f"Peer audit day {period}: results and agreement",
        )
        result["report"] = report
    return {**result, **send_outbox()}
