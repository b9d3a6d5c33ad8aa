"""`yotqa` commands for the month's work: run a job, the outbox, exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.common import (
    choice_option,
    database_session,
    date_option,
    err,
    fail,
    out,
)
from models.settings import get_settings
from tasks.catalogue import CATALOGUE, JOBS, Job, Outcome
from tasks.outputs import Outputs

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
    tool: Annotated[
        str | None,
        typer.Option(
            help="Themed only: 'inspection' audits with the inspection-style tool (H1) instead of "
            "the theme's own (the 2012 tool's variant)."
        ),
    ] = None,
) -> None:
    """Draw and assign: the month's sample (T1, T4, T11), or a themed or targeted selection; then send the emails."""

    from tasks.outbox import send_pending
    from tasks.sampling.adhoc import targeted_sample, themed_sample

    day = date_option(as_of)
    if theme and target:
        fail("choose --theme or --target, not both", 2)
    if target and not requested_by:
        fail("a targeted selection needs --requested-by EMAIL and --reason TEXT (S8)", 2)
    if tool is not None and not theme:
        fail("--tool is for a themed sample (--theme): 'inspection' or '2012'", 2)
    if not theme and not target:
        _say(CATALOGUE["sample-and-assign"](day))
        return
    with database_session() as session:
        if theme:
            result = themed_sample(session, day, theme, auditor, count or 3, tool)
            what = f"themed sample '{theme}'"
        else:
            result = targeted_sample(
                session, day, str(target), reason, requested_by or "", auditor, count or 2
            )
            what = f"targeted selection of {target}"
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


@run_app.command("self-audit")
def run_self_audit(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
    ] = None,
    case_manager: Annotated[
        list[str] | None,
        typer.Option(
            "--case-manager", help="Only this case manager (email); give it again for more."
        ),
    ] = None,
) -> None:
    """A2: ask every case manager (or those given) to self-audit one of their own cases this month."""
    _say(CATALOGUE["self-audit"](date_option(as_of), case_managers=case_manager or None))


def _say(outcome: Outcome) -> None:
    for line in outcome.said:
        out.print(line)


def _job_command(job: Job) -> None:
    """`yotqa run COMMAND`: the job, for a day, as its flow runs it but with its steps called directly."""

    def command(
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="The day, YYYY-MM-DD (default today).")
        ] = None,
    ) -> None:
        _say(job(date_option(as_of)))

    command.__doc__ = job.doc
    run_app.command(job.run_command)(command)


for _job in JOBS:
    if _job.run_command not in (None, "sample", "self-audit"):  # these have their own options
        _job_command(_job)


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None,
        typer.Option(help="Only this status: pending, sending, sent, written, failed."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
) -> None:
    """List queued and sent emails: recipients, subject, status, attempts and the last error."""
    from models.enums import EmailStatus
    from tasks.outbox import outbox_counts, recent_messages

    wanted = choice_option(EmailStatus, status, "--status") if status else None
    with database_session() as session:
        messages = recent_messages(session, wanted, limit)
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

    folder = out_dir or Outputs.configured().examples
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


@outbox_app.command("check")
def outbox_check() -> None:
    """Log in to the mail server as the settings say, and log out: nothing is sent (O2)."""

    from tasks.mailserver import check_login

    settings = get_settings()
    if not settings.smtp_host:
        fail("No SMTP host is set (YOTQA_SMTP_HOST): emails are written as .eml files.")
    with err.status(f"Logging in to {settings.smtp_host}:{settings.smtp_port}..."):
        ok, said = check_login(settings)
    if not ok:
        fail(said)
    out.print(said)


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

    month = str(Month.parse(period)) if period else None
    path = out_file or Outputs.configured().selections(month)
    with database_session() as session:
        written, count = export_selections(session, path, month)
    out.print(f"{count} selections written to {written}")
