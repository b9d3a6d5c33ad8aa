"""The `yotqa` command line (SPEC §7). Run from the repository root: `yotqa --help`."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

# Prefect, imported by later commands, must not phone home or litter the terminal.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import click  # noqa: E402
import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from models.enums import ImportKind  # noqa: E402
from models.errors import InputFileError, YotqaError  # noqa: E402
from models.settings import get_settings  # noqa: E402

# Piped output (scripts, CI logs) gets a wide fixed width so tables are not folded.
# Markup off: names from import files are printed as they are, brackets and all.
out = Console(
    highlight=False, markup=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160
)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


class _Commands(TyperGroup):
    """Reports the product's own errors as one clear message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except InputFileError as exc:
            for line in exc.lines():
                err.print(line, markup=False)
            raise typer.Exit(1) from None
        except YotqaError as exc:
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Commands,
    name="yotqa",
    help="Runs the youth offending team's quality-assurance framework: caseload, audits, timetable.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
calendar_app = typer.Typer(help="The working-day calendar (D1).", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")
run_app = typer.Typer(
    help="Run one timetable job now, for a date (default today).", no_args_is_help=True
)
app.add_typer(run_app, name="run")
outbox_app = typer.Typer(
    help="The email outbox (E6): what is queued, sent or failed.", no_args_is_help=True
)
app.add_typer(outbox_app, name="outbox")
export_app = typer.Typer(
    help="Spreadsheets of what the product has recorded.", no_args_is_help=True
)
app.add_typer(export_app, name="export")


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def _date_option(value: str | None) -> date:
    from tasks.workdays import parse_date, today

    return parse_date(value) if value else today()


def _engine():  # type: ignore[no-untyped-def]
    """The configured database, which must be at the current schema."""
    from models.db import (
        check_connection,
        current_revision,
        describe_url,
        head_revision,
        make_engine,
    )

    settings = get_settings()
    engine = make_engine()
    check_connection(engine)
    revision = current_revision(engine)
    if revision != head_revision():
        engine.dispose()
        where = describe_url(settings.resolved_database_url)
        state = (
            "is not set up"
            if revision is None
            else f"is at schema {revision}, not {head_revision()}"
        )
        _fail(f"the database {where} {state}: run `yotqa init` first")
    return engine


@app.command()
def init() -> None:
    """Create the database, or upgrade it to the current schema, and load the question sets."""
    from models.db import describe_url, head_revision, session_scope, upgrade
    from tasks.question_sets import sync_question_sets

    settings = get_settings()
    upgrade()
    engine = _engine()
    with session_scope(engine) as session:
        result = sync_question_sets(session, settings.question_sets_dir)
    engine.dispose()
    out.print(
        f"Database ready: {describe_url(settings.resolved_database_url)} (schema {head_revision()})"
    )
    if result.loaded:
        out.print(f"Question sets loaded: {', '.join(result.loaded)}")
    if result.unchanged:
        out.print(f"Question sets already loaded: {', '.join(result.unchanged)}")


@app.command("import")
def import_(
    kind: Annotated[
        ImportKind, typer.Argument(help="What the file holds: staff, cases or feedback.")
    ],
    file: Annotated[Path, typer.Argument(help="A CSV or XLSX file with a header row.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The extract's date, YYYY-MM-DD (default today); changes of case manager are dated from it.",
        ),
    ] = None,
) -> None:
    """Import a file: every row or none. Errors are listed by row and column."""
    from sqlmodel import Session

    from tasks.importing import import_file

    day = _date_option(as_of)
    engine = _engine()
    try:
        with Session(engine) as session, err.status(f"Importing {kind.value} from {file.name}..."):
            report = import_file(session, kind, file, as_of=day)
    finally:
        engine.dispose()
    out.print(report.summary())


@app.command("demo-data")
def demo_data(
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same service.")
    ] = 2012,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The demo's 'today', YYYY-MM-DD (default today).")
    ] = None,
    if_empty: Annotated[
        bool,
        typer.Option("--if-empty", help="Do nothing if the database already holds a caseload."),
    ] = False,
) -> None:
    """Create a realistic synthetic youth offending service and import it through the importers."""
    from sqlmodel import Session

    from models.db import upgrade
    from tasks.demo import load_demo, write_demo_files
    from tasks.summary import service_summary

    day = _date_option(as_of)
    upgrade()
    engine = _engine()
    try:
        with Session(engine) as session:
            if not service_summary(session, day).is_empty:
                if if_empty:
                    out.print("The database already holds a service: demo data not loaded.")
                    return
                _fail(
                    "the database already holds staff or cases; demo data is for an empty "
                    "database (point YOTQA_DATABASE_URL at a new one, or use --if-empty)"
                )
            files = write_demo_files(get_settings().output_dir / "demo", seed=seed, as_of=day)
            with err.status("Importing the demo service..."):
                reports = load_demo(session, files)
            for report in reports:
                out.print(report.summary())
    finally:
        engine.dispose()
    out.print(f"Demo files written to {files.staff.parent}")


@app.command()
def status(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Count open cases on this date, YYYY-MM-DD (default today)."),
    ] = None,
) -> None:
    """Summarise the service held in the database: teams, staff, caseload, feedback."""
    from sqlmodel import Session

    from models.db import describe_url
    from tasks.summary import service_summary

    day = _date_option(as_of)
    engine = _engine()
    with Session(engine) as session:
        summary = service_summary(session, day)
    engine.dispose()
    out.print(
        f"Service on {day} ({describe_url(get_settings().resolved_database_url)})", style="bold"
    )
    if summary.is_empty:
        out.print("No staff or cases yet: `yotqa import staff FILE`, or `yotqa demo-data`.")
        return
    teams = Table("Team", "Operational manager", "Case managers", "Open cases", title="Teams")
    for t in summary.teams:
        teams.add_row(t.name, t.manager, str(t.case_managers), str(t.open_cases))
    out.print(teams)
    roles = ", ".join(f"{role.label} {n}" for role, n in summary.staff_by_role.most_common())
    out.print(f"Staff: {roles}; {summary.inactive_staff} inactive")
    mix = ", ".join(f"{o.label} {n}" for o, n in summary.open_by_order.most_common())
    out.print(f"Cases: {summary.open_cases} open ({mix}); {summary.closed_cases} closed")
    out.print(
        f"Feedback: {summary.feedback} items. Question sets: {', '.join(summary.question_sets)}"
    )
    if summary.last_import:
        last = summary.last_import
        out.print(
            f"Last import: {last.kind.value} from {last.file_name} on {last.imported_at:%Y-%m-%d %H:%M} UTC"
        )


@calendar_app.command("deadline")
def calendar_deadline(
    month: Annotated[str, typer.Argument(help="The month, YYYY-MM.")],
    week: Annotated[str, typer.Argument(help="The week of the month, 1 to 4.")],
) -> None:
    """Print the ISO date of "the end of week WEEK" of MONTH: the last working day on or before day 7xWEEK."""
    from tasks.workdays import Month

    if not week.isdigit():
        _fail(f"week must be a number from 1 to 4, not {week!r}", 2)
    out.print(Month.parse(month).deadline(int(week)).isoformat())


@app.command()
def timetable(
    from_: Annotated[
        str | None, typer.Option("--from", help="First date, YYYY-MM-DD (default today).")
    ] = None,
    months: Annotated[
        int, typer.Option(min=1, max=36, help="How many calendar months to show.")
    ] = 12,
) -> None:
    """Print the timetable's runs and deadlines ahead (T1-T13), from the editable timetable file."""
    from tasks.timetable import load_timetable, runs_between, working_days_in

    start = _date_option(from_)
    tt = load_timetable(get_settings().timetable_file)
    table = Table(
        "Runs on",
        "At",
        "Id",
        "Task",
        "Lead",
        "Period",
        "Due by",
        title=f"Timetable from {start} for {months} month{'s' if months != 1 else ''}",
    )
    for run in runs_between(tt, start, months):
        e = run.entry
        table.add_row(
            run.run_on.isoformat(),
            e.time.strftime("%H:%M"),
            e.id,
            e.task,
            e.lead.replace("_", " "),
            run.period,
            run.deadline.isoformat(),
        )
    out.print(table)
    days = len(working_days_in(start, months))
    for e in tt.daily:
        out.print(
            f"{e.id}: {e.task}, every working day at {e.time:%H:%M} ({days} working days in this span)."
        )
    out.print(f"Times are Europe/London. Timetable file: {tt.source}")


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
    from sqlmodel import Session

    from models.enums import Role
    from tasks.outbox import send_pending
    from tasks.sampling.adhoc import targeted_sample, themed_sample
    from tasks.sampling.monthly import sample_month
    from tasks.sampling.pool import active_staff

    day = _date_option(as_of)
    if theme and target:
        _fail("choose --theme or --target, not both", 2)
    if target and not requested_by:
        _fail("a targeted selection needs --requested-by EMAIL and --reason TEXT (S8)", 2)
    engine = _engine()
    try:
        with Session(engine, expire_on_commit=False) as session:
            if theme:
                if auditor is None:
                    qa = active_staff(session, Role.QA_MANAGER)
                    if not qa:
                        _fail(
                            "no active QA manager to audit the themed sample: name one with --auditor"
                        )
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
    finally:
        engine.dispose()


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="Only this status: pending, sending, sent, failed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
) -> None:
    """List queued and sent emails: recipients, subject, status, attempts and the last error."""
    from sqlmodel import Session, select

    from models import EmailMessage
    from models.enums import EmailStatus
    from tasks.outbox import outbox_counts

    engine = _engine()
    with Session(engine) as session:
        query = select(EmailMessage).order_by(EmailMessage.id.desc()).limit(limit)  # type: ignore[union-attr]
        if status:
            try:
                query = query.where(EmailMessage.status == EmailStatus.parse(status))
            except ValueError:
                _fail(f"unknown status {status!r}: expected one of {EmailStatus.expected()}", 2)
        messages = session.exec(query).all()
        counts = outbox_counts(session)
    engine.dispose()
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
            "Messages still 'sending' were interrupted mid-delivery: they are not resent automatically."
        )


@outbox_app.command("send")
def outbox_send() -> None:
    """Send the emails that are due, now (one SMTP connection; .eml files when no SMTP host is set)."""
    from sqlmodel import Session

    from tasks.outbox import send_pending

    engine = _engine()
    with Session(engine) as session, err.status("Sending..."):
        report = send_pending(session, get_settings())
    engine.dispose()
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
    from sqlmodel import Session

    from tasks.sampling.export import export_selections
    from tasks.workdays import Month

    label = str(Month.parse(period)) if period else "all"
    path = out_file or get_settings().output_dir / "exports" / f"selections-{label}.xlsx"
    engine = _engine()
    with Session(engine) as session:
        written, count = export_selections(
            session, path, str(Month.parse(period)) if period else None
        )
    engine.dispose()
    out.print(f"{count} selections written to {written}")


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            help="Address for the local Prefect server (keep 127.0.0.1 unless behind a proxy)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for the local Prefect server.")] = 4200,
    run_sample: Annotated[
        bool,
        typer.Option(
            "--run-sample/--no-run-sample",
            help="Run this month's sample once at start (it changes nothing if already drawn).",
        ),
    ] = False,
) -> None:
    """Start a local Prefect server (unless PREFECT_API_URL is set) and serve every timetable deployment."""
    from deployments.serve import local_server, serve_all
    from tasks.workdays import today

    engine = _engine()  # refuse early if the database is not ready
    engine.dispose()
    settings = get_settings()
    if not os.environ.get("PREFECT_API_URL"):
        out.print(f"Starting a local Prefect server on {host}:{port} (about 10 seconds)...")
    with local_server(host, port) as api_url:
        ui = api_url.removesuffix("/api")
        out.print(f"Prefect UI: {ui}  (deployments, runs, artifacts)")
        out.print(
            f"Emails: {settings.output_dir / 'outbox'} (as .eml files)"
            if not settings.smtp_host
            else f"Emails: sent through {settings.smtp_host}:{settings.smtp_port}"
        )
        out.print(
            f"Exports: {settings.output_dir / 'exports'}   Server log: {settings.output_dir / 'prefect-server.log'}"
        )
        out.print("Serving the timetable's deployments. Stop with Ctrl+C.")
        try:
            serve_all(today(), lambda line: out.print(line), run_sample)
        except KeyboardInterrupt:
            out.print("Stopped.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
