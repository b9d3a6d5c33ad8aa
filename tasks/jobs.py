"""Prefect tasks: thin wrappers, one side effect each, over the plain functions of this package.

Each opens its own session (a session as a task argument would break Prefect's cache keys) and
returns plain data for the flow to report.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prefect import task
from prefect.logging import get_run_logger

from models.db import session_scope
from models.settings import get_settings


def database_connection_lost(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a task only when its database connection failed (a restart, a failover, a network
    blip): every job is idempotent per period and each try opens a new connection, so a retry
    finishes the work. Any other error fails the run at once, as it would fail again."""
    error = state.result(raise_on_failure=False)
    lost = isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated
    )
    if lost:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        get_run_logger().warning(
            "the database connection was lost (%s); trying %s again", reason, task.name
        )
    return lost


# Tasks that read or write the database try twice more if the connection is lost.
DB_RETRY: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [5, 30],
    "retry_condition_fn": database_connection_lost,
}


@task(name="draw-and-assign", **DB_RETRY)
def draw_and_assign(as_of: date) -> dict[str, Any]:
    """T1, T4, T11: draw the month's sample, record it, assign audits and queue the emails (one transaction)."""
    from tasks.sampling.monthly import sample_month

    with session_scope() as session:
        return asdict(sample_month(session, as_of))


@task(name="selection-report", **DB_RETRY)
def selection_report(period: str) -> dict[str, Any]:
    """The month's selections, make-up and rejections, for the flow run's artifacts (references only)."""
    from tasks.sampling.report import selection_report as build

    with session_scope() as session:
        return build(session, period)


@task(name="export-selections", **DB_RETRY)
def export_selections(period: str) -> str:
    """S12: the spreadsheet record of the month's selections."""
    from tasks.sampling.export import export_selections as export

    path = get_settings().output_dir / "exports" / f"selections-{period}.xlsx"
    with session_scope() as session:
        written, _ = export(session, Path(path), period)
    return str(written)


@task(name="send-outbox", retries=2, retry_delay_seconds=[30, 120])
def send_outbox() -> dict[str, Any]:
    """E6: deliver the due emails; temporary SMTP failures stay queued for the next run."""
    from tasks.outbox import send_pending

    with session_scope() as session:
        report = send_pending(session, get_settings())
        return report.counts()


@task(name="chase-items", **DB_RETRY)
def chase_items(as_of: date) -> dict[str, Any]:
    """E2: reassign leavers' audits, record today's steps and queue one digest per person (one transaction)."""
    from tasks.chase import chase

    with session_scope() as session:
        return asdict(chase(session, as_of, get_settings()))


def reports_dir(period: str) -> Path:
    return get_settings().output_dir / "reports" / period


@task(name="case-level-data-set", **DB_RETRY)
def case_level_data(as_of: date) -> dict[str, Any]:
    """T2: write the month's case-level data set (XLSX)."""
    from tasks.monthly.case_level import build_case_level, write_case_level

    with session_scope() as session:
        data = build_case_level(session, as_of)
    path = write_case_level(data, reports_dir(data.period) / f"case-level-data-{data.period}.xlsx")
    return {"period": data.period, "path": str(path), "summary": data.summary()}


@task(name="exception-report", **DB_RETRY)
def exception_report(as_of: date) -> dict[str, Any]:
    """T3: find the month's exceptions, keep them, queue each team manager's list, write the XLSX."""
    from tasks.monthly.exceptions import load_rules, run_exception_report, write_exceptions

    rules = load_rules()
    with session_scope() as session:
        report = run_exception_report(session, as_of, rules)
    path = write_exceptions(
        report, rules, reports_dir(report.period) / f"exceptions-{report.period}.xlsx"
    )
    return {
        "period": report.period,
        "path": str(path),
        "exceptions": len(report.rows),
        "fixed": report.fixed,
        "emails": report.emails,
        "by_rule": dict(report.by_rule),
    }


@task(name="team-audits-report", **DB_RETRY)
def team_audits(as_of: date) -> dict[str, Any]:
    """Fig. 2: cases audited by team managers this month, to the service manager (XLSX + email)."""
    from tasks.monthly.reports import TEAM_HEADER, send_team_audits_report, team_audits_report

    with session_scope() as session:
        report = team_audits_report(session, as_of)
        path = reports_dir(report.period) / f"team-audits-{report.period}.xlsx"
        emails = send_team_audits_report(session, report, path)
    return {
        "period": report.period,
        "path": str(path),
        "managers": len(report.rows),
        "emails": emails,
        "rows": [dict(zip(TEAM_HEADER, r, strict=True)) for r in report.rows],
    }


@task(name="feedback-report", **DB_RETRY)
def feedback_data(as_of: date) -> dict[str, Any]:
    """Fig. 2: service-user feedback data to managers (XLSX + email)."""
    from tasks.monthly.reports import feedback_report, send_feedback_report

    with session_scope() as session:
        report = feedback_report(session, as_of)
        path = reports_dir(report.period) / f"feedback-{report.period}.xlsx"
        emails = send_feedback_report(session, report, path)
    return {
        "period": report.period,
        "path": str(path),
        "this_month": len(report.month),
        "emails": emails,
        "by_source": [
            {"source": s, "this_month": m, "year_to_date": y} for s, m, y in report.by_source
        ],
    }


def packs_dir(period: str) -> Path:
    return get_settings().output_dir / "packs" / period


@task(name="compile-quarterly-pack", **DB_RETRY)
def quarterly_pack(quarter: str, as_of: date, email: bool = True) -> dict[str, Any]:
    """Q2: compile the quarter's figures (frozen once closed), write PDF, XLSX and markdown, queue the email."""
    from tasks.packs.deliver import send_pack
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import write_quarter
    from tasks.workdays import Quarter

    settings = get_settings()
    with session_scope() as session:
        pack = compile_quarter(session, Quarter.parse(quarter), as_of)
        files = write_quarter(pack, packs_dir(quarter), settings.service_name)
        sent = email and send_pack(
            session,
            settings,
            kind="quarterly",
            title="quarterly quality assurance report",
            period=quarter,
            status=pack.status,
            status_line=pack.status_line,
            narrative=pack.narrative,
            files=[files.pdf, files.xlsx],
            on=as_of,
            frozen_on=pack.frozen_on,
        )
    return {
        "period": quarter,
        "status": pack.status,
        "issue": pack.issue,
        "pdf": str(files.pdf),
        "xlsx": str(files.xlsx),
        "markdown": files.markdown.read_text(encoding="utf-8"),
        "pages": files.pages,
        "emailed": bool(sent),
    }


@task(name="compile-annual-pack", **DB_RETRY)
def annual_pack(year: int, as_of: date, email: bool = True) -> dict[str, Any]:
    """Q3: the framework review pack (four quarters side by side) and the data-quality spot check."""
    from tasks.packs.annual import compile_year, write_year
    from tasks.packs.deliver import send_pack

    settings = get_settings()
    with session_scope() as session:
        pack = compile_year(session, year, as_of)
        files = write_year(pack, packs_dir(str(year)), settings.service_name)
        sent = email and send_pack(
            session,
            settings,
            kind="annual",
            title="annual review of the quality assurance framework",
            period=pack.label,
            status="issued",
            status_line="; ".join(f"{q['label']}: {q['state']}" for q in pack.quarters),
            narrative=[],
            files=[files.pdf, files.xlsx],
            on=as_of,
        )
    return {
        "period": pack.label,
        "status": "compiled",
        "pdf": str(files.pdf),
        "xlsx": str(files.xlsx),
        "markdown": files.markdown.read_text(encoding="utf-8"),
        "pages": files.pages,
        "emailed": bool(sent),
    }


@task(name="queue-notice", **DB_RETRY)
def notice(flow: str, as_of: date) -> dict[str, Any]:
    """T4, T5, T6, T7, T12: write the notice's attachments and queue it for the right people."""
    from tasks.programme.notices import NOTICES

    with session_scope() as session:
        result = NOTICES[flow](session, as_of, get_settings().output_dir)
    return {**asdict(result), "markdown": result.markdown()}


@task(name="plan-peer-audit-day", **DB_RETRY)
def plan_peer_audit_day(as_of: date) -> dict[str, Any]:
    """T9: choose participants, allocate two case files each, record and queue the emails."""
    from tasks.programme.peer_day import plan_peer_day

    with session_scope() as session:
        plan = plan_peer_day(session, as_of)
    return {**asdict(plan), "report_due": plan.report_due, "markdown": plan.markdown()}


@task(name="peer-audit-day-report", **DB_RETRY)
def peer_audit_day_report(period: str) -> dict[str, Any]:
    """T9R: the day's results and the auditors' agreement, written and sent (once)."""
    from tasks.programme.peer_day import peer_report, send_report

    with session_scope() as session:
        report = peer_report(session, period, get_settings().output_dir)
        sent = send_report(session, report)
    return {
        "period": period,
        "complete": report.complete,
        "xlsx": str(report.xlsx),
        "emails": sent,
        "markdown": report.markdown(),
    }
