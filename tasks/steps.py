"""The steps jobs are made of: plain functions, one side effect each, each with a session of its
own, taking and returning plain data (ids, dates, dicts), so that a step can run directly or as a
Prefect task (`tasks/jobs.py`) alike. The jobs that compose them are in `tasks/catalogue.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlmodel import Session

from models.db import session_scope
from models.settings import get_settings
from tasks.monthly import reports
from tasks.outputs import Outputs
from tasks.packs.annual import compile_year, write_year
from tasks.packs.deliver import send_pack
from tasks.packs.quarterly import compile_quarter
from tasks.packs.render import PackFiles, write_quarter
from tasks.programme.notices import Notice
from tasks.sampling.report import SelectionReport
from tasks.workdays import Quarter


def draw_and_assign(as_of: date) -> dict[str, Any]:
    """T1, T4, T11: draw the month's sample, record it, assign audits and queue the emails (one transaction)."""
    from tasks.sampling.monthly import sample_month

    with session_scope() as session:
        return asdict(sample_month(session, as_of))


def assign_self_audits(as_of: date, case_managers: list[str] | None = None) -> dict[str, Any]:
    """A2: each case manager (or those named) asked to self-audit one of their own cases this month."""
    from tasks.self_audit import assign_self_audits as assign

    with session_scope() as session:
        return asdict(assign(session, as_of, case_managers))


def send_supervisee_summaries(quarter: str, as_of: date) -> dict[str, Any]:
    """A3: each case manager's quarterly summary written as a PDF and queued to them and their line manager."""
    from tasks.programme.supervisee import send_summaries
    from tasks.workdays import Quarter

    with session_scope() as session:
        return asdict(
            send_summaries(session, Quarter.parse(quarter), as_of, Outputs.configured().root)
        )


def send_needs_summary(quarter: str, as_of: date) -> dict[str, Any]:
    """A4: the quarter's support and training needs by theme and team (XLSX) queued to the workforce development lead."""
    from tasks.programme.needs_summary import send_needs_summary as send

    with session_scope() as session:
        return asdict(send(session, Quarter.parse(quarter), as_of, Outputs.configured().root))


def selection_report(period: str) -> SelectionReport:
    """The month's selections, make-up and rejections, for the flow run's artifacts (references only)."""
    from tasks.sampling.report import selection_report as build

    with session_scope() as session:
        return build(session, period)


def export_selections(period: str) -> str:
    """S12: the spreadsheet record of the month's selections."""
    from tasks.sampling.export import export_selections as export

    with session_scope() as session:
        written, _ = export(session, Outputs.configured().selections(period), period)
    return str(written)


def send_outbox() -> dict[str, Any]:
    """E6: deliver the due emails; temporary SMTP failures stay queued for the next run."""
    from tasks.outbox import send_pending

    with session_scope() as session:
        report = send_pending(session, get_settings())
    return {**report.counts(), "summary": report.summary()}


def chase_items(as_of: date) -> dict[str, Any]:
    """E2: reassign leavers' audits, record today's steps and queue one digest per person (one transaction)."""
    from tasks.chase import chase

    with session_scope() as session:
        return asdict(chase(session, as_of, get_settings()))


def case_level_data_set(as_of: date) -> dict[str, Any]:
    """T2: write the month's case-level data set (XLSX)."""
    from tasks.monthly.case_level import build_case_level, write_case_level

    with session_scope() as session:
        data = build_case_level(session, as_of)
    path = write_case_level(data, Outputs.configured().case_level_data(data.period))
    return {"period": data.period, "path": str(path), "summary": data.summary()}


def exception_report(as_of: date) -> dict[str, Any]:
    """T3: find the month's exceptions, keep them, queue each team manager's list, write the XLSX."""
    from tasks.monthly.exceptions import load_rules, run_exception_report, write_exceptions

    rules = load_rules()
    with session_scope() as session:
        report = run_exception_report(session, as_of, rules)
    path = write_exceptions(report, rules, Outputs.configured().exceptions(report.period))
    return {
        "period": report.period,
        "path": str(path),
        "exceptions": len(report.rows),
        "fixed": report.fixed,
        "emails": report.emails,
        "by_rule": dict(report.by_rule),
    }


class _Monthly(Protocol):
    period: str


M = TypeVar("M", bound=_Monthly)


def _written_and_sent(
    as_of: date,
    build: Callable[[Session, date], M],
    path: Callable[[Outputs, str], Path],
    send: Callable[[Session, M, Path], int],
) -> tuple[M, dict[str, Any]]:
    """A monthly report built, written where `path` names it and sent: the report, and its
    period, file and emails queued."""
    with session_scope() as session:
        report = build(session, as_of)
        file = path(Outputs.configured(), report.period)
        emails = send(session, report, file)
    return report, {"period": report.period, "path": str(file), "emails": emails}


def team_audits_report(as_of: date) -> dict[str, Any]:
    """Fig. 2: cases audited by team managers this month, to the service manager (XLSX + email)."""
    report, result = _written_and_sent(
        as_of, reports.team_audits_report, Outputs.team_audits, reports.send_team_audits_report
    )
    rows = [dict(zip(reports.TEAM_HEADER, r, strict=True)) for r in report.rows]
    return {**result, "managers": len(report.rows), "rows": rows}


def feedback_report(as_of: date) -> dict[str, Any]:
    """Fig. 2: service-user feedback data to managers (XLSX + email)."""
    report, result = _written_and_sent(
        as_of, reports.feedback_report, Outputs.feedback_report, reports.send_feedback_report
    )
    by_source = [{"source": s, "this_month": m, "year_to_date": y} for s, m, y in report.by_source]
    return {**result, "this_month": len(report.month), "by_source": by_source}


def _pack_result(files: PackFiles, emailed: bool) -> dict[str, Any]:
    """Where a pack's files are, its summary in markdown, its pages and whether it was emailed."""
    return {
        "pdf": str(files.pdf),
        "html": str(files.html),
        "xlsx": str(files.xlsx),
        "markdown": files.markdown.read_text(encoding="utf-8"),
        "pages": files.pages,
        "emailed": emailed,
    }


def compile_quarterly_pack(quarter: str, as_of: date, email: bool = True) -> dict[str, Any]:
    """Q2: compile the quarter's figures (frozen once closed), write PDF, HTML, XLSX and markdown, queue the email."""
    settings = get_settings()
    with session_scope() as session:
        pack = compile_quarter(session, Quarter.parse(quarter), as_of)
        paths = Outputs.configured().quarterly_pack(quarter)
        files = write_quarter(pack, paths, settings.service_name)
        attached = [files.pdf, files.html, files.xlsx]
        sent = email and send_pack(session, settings, pack, attached, as_of)
    return {
        "period": quarter,
        "status": pack.status,
        "issue": pack.issue,
        **_pack_result(files, sent),
    }


def compile_annual_pack(year: int, as_of: date, email: bool = True) -> dict[str, Any]:
    """Q3: the framework review pack (four quarters side by side) and the data-quality spot check."""
    settings = get_settings()
    with session_scope() as session:
        pack = compile_year(session, year, as_of)
        files = write_year(pack, Outputs.configured().annual_pack(year), settings.service_name)
        attached = [files.pdf, files.html, files.xlsx]
        sent = email and send_pack(session, settings, pack, attached, as_of)
    return {"period": pack.label, "status": "compiled", **_pack_result(files, sent)}


def queue_notice(notice: Callable[[Session, date, Path], Notice], as_of: date) -> dict[str, Any]:
    """T4, T5, T6, T7, T12: write the notice's attachments and queue it for the right people."""
    with session_scope() as session:
        result = notice(session, as_of, get_settings().output_dir)
    return {**asdict(result), "markdown": result.markdown()}


def plan_peer_audit_day(as_of: date) -> dict[str, Any]:
    """T9: choose participants, allocate two case files each, record and queue the emails."""
    from tasks.programme.peer_day import plan_peer_day

    with session_scope() as session:
        plan = plan_peer_day(session, as_of)
    return {**asdict(plan), "report_due": plan.report_due, "markdown": plan.markdown()}


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
