"""`yotqa inspection`: a mock inspection (H3) drawn and assigned, and its report (H2)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import database_session, date_option, out
from models.settings import get_settings

inspection_app = typer.Typer(
    help="A mock inspection (H3): draw and assign its cases, then report each standard's rating.",
    no_args_is_help=True,
)


@inspection_app.command("sample")
def sample(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The sampling date, YYYY-MM-DD (default today).")
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(
            min=1, max=500, help="How many cases (default: models/data/inspection.yaml's size)."
        ),
    ] = None,
) -> None:
    """Draw a mock inspection's cases (court and out-of-court in proportion, custody where held),
    assign them with the inspection-style tool to auditors who do not hold them, and email them."""
    from tasks.inspection.mock import mock_inspection
    from tasks.inspection.ratings import load_inspection
    from tasks.outbox import send_pending

    settings = get_settings()
    spec = load_inspection(settings.inspection_file).mock_inspection
    with database_session() as session:
        result, drawn = mock_inspection(session, date_option(as_of), size, spec)
        if not result.created or drawn is None:
            out.print(
                f"The mock inspection for {result.period} was already drawn: nothing changed, "
                "nothing sent (S11). `yotqa inspection report` reports it."
            )
            return
        out.print(
            f"Mock inspection {result.period}: {drawn.summary}; {len(result.audits)} audits "
            f"assigned to {result.runs} auditors; {result.emails} emails queued."
        )
        out.print(f"Emails: {send_pending(session, settings).summary()}")


@inspection_app.command("report")
def report(
    period: Annotated[
        str | None,
        typer.Option(help="The month the mock inspection was drawn, YYYY-MM (default the latest)."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The day of the report, YYYY-MM-DD (default today)."),
    ] = None,
) -> None:
    """Compile the mock inspection's report (PDF and XLSX): each standard's rating with its interval."""
    from tasks.inspection.ratings import load_inspection
    from tasks.inspection.report import write_report
    from tasks.outputs import Outputs

    settings = get_settings()
    spec = load_inspection(settings.inspection_file).ratings
    with database_session() as session:
        files = write_report(
            session,
            period,
            spec,
            date_option(as_of),
            Outputs.configured().packs,
            settings.service_name,
        )
    out.print(
        f"Mock inspection {files.period}: {files.completed} of {files.assigned} audits completed."
    )
    out.print(f"Report: {files.pdf} ({files.pages} pages) and {files.xlsx}")
