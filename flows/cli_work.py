"""`yotqa` commands for the month's work: run a job, the outbox, exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli_common import (
    choice_option,
    database_session,
    date_option,
    err,
    fail,
    out,
)
from models.settings import get_settings

run_app = typer.Typer(
    help="Run one timetable job now, for a date (default today).", no_args_is_help=True
)
outbox_app = typer.Typer(
    help="The email outbox (E6): what is queued, sent or failed.", no_args_is_help=True
)
export_app = typer.Typer(
    help="Spreadsheets of what the product has recorded.", no_args_is_help=True
)


@run_app.command("sample")
def run_sample(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The sampling date, YYYY-MM-DD (default today).")
    ] = None,
    theme: Annotated[
        str | None,
        typer.Option(help="A themed dip test (S7): mappa, high-rosh, looked-after, dto-licence."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="A targeted selection (S8): a case reference or a case manager's email."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why the targeted selection is asked for (S8).")] = "",
    requested_by: Annotated[
        str | None, typer.Option("--requested-by", help="Email of who asked (S8).")
    ] = None,
    auditor: Annotated[
        str | None,
        typer.Option(
            help="Email of the auditor (themed: default the QA manager; targeted: the line manager)."
        ),
    ] = None,
    count: Annotated[
        int | None, typer.Option(min=1, max=20, help="How many cases (themed 3, targeted 2).")
    ] = None,
) -> None:
    """Draw and assign: the month's sample (T1, T4, T11), or a themed or targeted selection; then send the emails."""

    from models.enums import Role
    from tasks.outbox import send_pending
    from tasks.sampling.adhoc import targeted_sample, themed_sample
    from tasks.sampling.monthly import sample_month
    from tasks.sampling.pool import active_staff

    day = date_option(as_of)
    if theme and target:
        fail("choose --theme or --target, not both", 2)
    if target and not requested_by:
        fail("a targeted selection needs --requested-by EMAIL and --reason TEXT (S8)", 2)
    with database_session() as session:
        if theme:
            if auditor is None:
                qa = active_staff(session, Role.QA_MANAGER)
                if not qa:
                    fail("no active QA manager to audit the themed sample: name one with --auditor")
                auditor = qa[0].email
            result = themed_sample(session, day, theme, auditor, count or 3)
            what = f"themed sample '{theme}'"
        elif target:
            result = targeted_sample(
                session, day, target, reason, requested_by or "", auditor, count or 2
            )
            what = f"targeted selection of {target}"
        else:
            result = sample_month(session, day)
            what = "monthly sample"
        if not result.created:
            out.print(
                f"The {what} for {result.period} was already drawn: nothing changed, nothing sent (S11)."
            )
            return
        out.print(
            f"The {what} for {result.period}: {len(result.audits)} audits assigned from a pool of "
            f"{result.pool_size} eligible cases; {result.rejections} passed over; {result.emails} emails queued."
        )
        out.print(f"Emails: {send_pending(session, get_settings()).summary()}")


@run_app.command("chase")
def run_chase(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The day to chase for, YYYY-MM-DD (default today)."),
    ] = None,
) -> None:
    """The daily chase (E2): reminders, chases and escalations, one digest per person; then send."""

    from tasks.chase import chase
    from tasks.outbox import send_pending

    day = date_option(as_of)
    with database_session() as session:
        report = chase(session, day, get_settings())
        sent = send_pending(session, get_settings())
    if not report.steps and not report.reassigned:
        out.print(f"Nothing to chase on {day}.")
    for step in report.steps:
        out.print(f"{step['step']:>12}  case {step['case']}  {step['item']}  to {step['to']}")
    if report.reassigned:
        out.print(f"{report.reassigned} audits of staff who have left were reassigned.")
    out.print(f"{report.digests} digests queued. Emails: {sent.summary()}")


@run_app.command("case-level-data")
def run_case_level_data(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
    ] = None,
) -> None:
    """T2: write the month's case-level data set (XLSX) for the management meeting."""
    from tasks.jobs import case_level_data

    result = case_level_data.fn(date_option(as_of))
    figures = "; ".join(f"{k} {v}" for k, v in result["summary"].items())
    out.print(f"Case-level data set for {result['period']}: {figures}. Written to {result['path']}")


@run_app.command("exception-report")
def run_exception_report(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
    ] = None,
) -> None:
    """T3: the exception report for data cleansing; each team manager is sent their team's list."""
    from tasks.jobs import exception_report
    from tasks.outbox import send_pending

    result = exception_report.fn(date_option(as_of))
    with database_session() as session:
        sent = send_pending(session, get_settings())
    out.print(
        f"Exceptions for {result['period']}: {result['exceptions']} now, {result['fixed']} fixed since last "
        f"month; {result['emails']} team managers told. Written to {result['path']}. Emails: {sent.summary()}"
    )


@run_app.command("team-audits-report")
def run_team_audits_report(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
    ] = None,
) -> None:
    """Fig. 2: the month's report on cases audited by team managers, to the service manager."""
    from tasks.jobs import team_audits

    result = team_audits.fn(date_option(as_of))
    _send_and_report(
        f"Cases audited by team managers, {result['period']}: {result['managers']} managers. "
        f"Written to {result['path']}."
    )


@run_app.command("feedback-report")
def run_feedback_report(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
    ] = None,
) -> None:
    """Fig. 2: service-user feedback data for managers, this month and the year to date."""
    from tasks.jobs import feedback_data

    result = feedback_data.fn(date_option(as_of))
    _send_and_report(
        f"Service-user feedback, {result['period']}: {result['this_month']} items this month. "
        f"Written to {result['path']}."
    )


NOTICE_HELP = {
    "audits-due": "T4: on the month's audit deadline, where the month's audits stand, to the service manager.",
    "management-meeting-pack": "T5: the month's performance data (case-level data set) for the management meeting.",
    "quarterly-review": "T6: last quarter's pack, audits not done and why (D4), peer audit day findings, to meeting and board.",
    "staff-qa-forum": "T7: ask the service manager to hold the staff QA forum, with the last four quarters' figures.",
    "appraisal-objectives": "T12: each operational manager gets their case managers' QA figures and suggested objectives.",
}


def _notice_command(name: str) -> None:
    def command(
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
        ] = None,
    ) -> None:
        from tasks.jobs import notice

        result = notice.fn(name, date_option(as_of))
        figures = "; ".join(f"{k} {v}" for k, v in result["figures"])
        _send_and_report(
            f"{result['row']} {result['task']}, {result['period']} (due by {result['due_by']}): "
            f"{figures}. {result['emails']} notices queued."
        )

    command.__doc__ = NOTICE_HELP[name]
    run_app.command(name)(command)


for _name in NOTICE_HELP:
    _notice_command(_name)


@run_app.command("peer-audit-day")
def run_peer_audit_day(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
    ] = None,
) -> None:
    """T9: plan the peer audit day (in its month), or after the day, report its results and agreement."""
    from tasks.jobs import peer_audit_day_report, plan_peer_audit_day

    day = date_option(as_of)
    plan = plan_peer_audit_day.fn(day)
    out.print(plan["markdown"])
    if plan["report_due"]:
        report = peer_audit_day_report.fn(plan["period"])
        out.print(report["markdown"])
        out.print(f"Written to {report['xlsx']}")
    _send_and_report("Peer audit day.")


def _send_and_report(line: str) -> None:
    from tasks.outbox import send_pending

    with database_session() as session:
        sent = send_pending(session, get_settings())
    out.print(f"{line} Emails: {sent.summary()}")


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None,
        typer.Option(help="Only this status: pending, sending, sent, written, failed."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
) -> None:
    """List queued and sent emails: recipients, subject, status, attempts and the last error."""
    from sqlmodel import select

    from models import EmailMessage
    from models.enums import EmailStatus
    from tasks.outbox import outbox_counts

    with database_session() as session:
        query = select(EmailMessage).order_by(EmailMessage.id.desc()).limit(limit)  # type: ignore[union-attr]
        if status:
            query = query.where(
                EmailMessage.status == choice_option(EmailStatus, status, "--status")
            )
        messages = session.exec(query).all()
        counts = outbox_counts(session)
    table = Table("Id", "Status", "To", "Subject", "Attempts", "Last error", title="Outbox")
    for m in messages:
        table.add_row(
            str(m.id),
            m.status.value,
            ", ".join(m.to_addrs),
            m.subject,
            str(m.attempts),
            m.last_error,
        )
    out.print(table)
    out.print(
        "Totals: " + (", ".join(f"{s.value} {n}" for s, n in sorted(counts.items())) or "empty")
    )
    if counts.get(EmailStatus.SENDING):
        out.print(
            "Messages still 'sending' were interrupted mid-delivery: they are not resent automatically. "
            "Check whether they arrived; if not, `yotqa outbox retry ID`."
        )


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[
        list[int],
        typer.Argument(
            help="Ids of failed, interrupted ('sending') or written (.eml only) messages."
        ),
    ],
) -> None:
    """Queue failed, interrupted or only-written messages again (check first that an interrupted one did not arrive)."""
    from tasks.outbox import requeue

    with database_session() as session:
        done = requeue(session, ids)
    skipped = sorted(set(ids) - set(done))
    out.print(
        f"Queued again: {', '.join(map(str, done)) or 'none'}"
        + (
            f"; not failed, interrupted or written, left as they are: {', '.join(map(str, skipped))}"
            if skipped
            else ""
        )
    )


@outbox_app.command("examples")
def outbox_examples(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder (default var/examples/).")
    ] = None,
) -> None:
    """Write one example of every email (.eml and .html), made on a scratch copy of the demo service."""
    from tasks.demo_emails import write_examples

    folder = out_dir or get_settings().output_dir / "examples"
    with err.status("Making one of each email on a scratch demo service..."):
        written = write_examples(folder)
    out.print(
        f"Examples of {len(written)} kinds of email in {folder}: {', '.join(sorted(written))}"
    )


@outbox_app.command("send")
def outbox_send() -> None:
    """Send the emails that are due, now (one SMTP connection; .eml files when no SMTP host is set)."""

    from tasks.outbox import send_pending

    with database_session() as session, err.status("Sending..."):
        report = send_pending(session, get_settings())
    out.print(f"Emails: {report.summary()}")


@export_app.command("selections")
def export_selections_command(
    period: Annotated[
        str | None, typer.Option(help="Only this month, YYYY-MM (default: every period).")
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the XLSX (default under var/exports/)."),
    ] = None,
) -> None:
    """Write the record of every case selected (S12): selections, rejections and make-up, as XLSX."""

    from tasks.sampling.export import export_selections
    from tasks.workdays import Month

    label = str(Month.parse(period)) if period else "all"
    path = out_file or get_settings().output_dir / "exports" / f"selections-{label}.xlsx"
    with database_session() as session:
        written, count = export_selections(
            session, path, str(Month.parse(period)) if period else None
        )
    out.print(f"{count} selections written to {written}")
