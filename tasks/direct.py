"""The timetable's jobs called directly, without Prefect: the same task functions the flows call
(`task.fn`), in the same order, for `yotqa simulate` and the orchestration-overhead benchmark.

Each job takes the day it runs for and returns what it did; artifacts, which need a flow run,
are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from tasks import jobs
from tasks.workdays import Month, Quarter, financial_year

Job = Callable[[date], dict[str, Any]]


def _sample(day: date) -> dict[str, Any]:
    result = jobs.draw_and_assign.fn(day)
    jobs.export_selections.fn(str(Month.of(day)))
    return result


def _notice(name: str) -> Job:
    return lambda day: jobs.notice.fn(name, day)


def _peer_day(day: date) -> dict[str, Any]:
    plan = jobs.plan_peer_audit_day.fn(day)
    if plan["report_due"]:
        plan["report"] = jobs.peer_audit_day_report.fn(plan["period"])
    return plan


JOBS: dict[str, Job] = {
    "sample-and-assign": _sample,
    "case-level-data": jobs.case_level_data.fn,
    "exception-report": jobs.exception_report.fn,
    "audits-due": _notice("audits-due"),
    "management-meeting-pack": _notice("management-meeting-pack"),
    "quarterly-review": _notice("quarterly-review"),
    "staff-qa-forum": _notice("staff-qa-forum"),
    "annual-pack": lambda day: jobs.annual_pack.fn(financial_year(day), day),
    "peer-audit-day": _peer_day,
    "quarterly-pack": lambda day: jobs.quarterly_pack.fn(
        str(Quarter.containing(day).previous()), day
    ),
    "appraisal-objectives": _notice("appraisal-objectives"),
    "team-audits-report": jobs.team_audits.fn,
    "feedback-report": jobs.feedback_data.fn,
    "chase-overdue": jobs.chase_items.fn,
}


def send_outbox() -> dict[str, Any]:
    return jobs.send_outbox.fn()
