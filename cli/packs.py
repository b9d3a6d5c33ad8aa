"""`yotqa pack` (monthly, quarterly and annual packs) and `yotqa plan` (the improvement plan)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.common import database_session, date_option, err, out, ready_engine
from models.settings import get_settings

pack_app = typer.Typer(
    help="Compile a pack: monthly (2026-11), quarterly (2026-Q3) or annual (2026).",
    no_args_is_help=True,
)
plan_app = typer.Typer(
    help="The improvement plan (App. 6): outcomes, objectives, activities and their progress.",
    no_args_is_help=True,
)

QuarterArgument = Annotated[
    str, typer.Argument(help="The quarter, e.g. 2026-Q2 (July-September 2026 is Q2).")
]
YearArgument = Annotated[
    str, typer.Argument(help="The financial year, e.g. 2026 (April 2026-March 2027).")
]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="The day the pack is compiled for, YYYY-MM-DD (default today)."),
]
Email = Annotated[
    bool,
    typer.Option(
        "--email/--no-email",
        help="Queue and send the pack to the service manager, QA manager and board list.",
    ),
]
Year = Annotated[
    str | None,
    typer.Option(
        "--year", help="Financial year, e.g. 2026 for April 2026-March 2027 (default: this one)."
    ),
]


def _year(value: str | None, as_of: str | None = None) -> int:
    from tasks.workdays import financial_year, parse_financial_year

    return parse_financial_year(value) if value else financial_year(date_option(as_of))


def _send() -> str:
    from tasks.outbox import send_pending

    with database_session() as session:
        return send_pending(session, get_settings()).summary()


def _check_database() -> None:
    """A clear error before the long work if the database is missing or behind its schema."""
    ready_engine().dispose()


def _pack(
    what: str,
    compile: Callable[[], dict[str, object]],
    title: Callable[[dict[str, object]], str],
    email: bool,
) -> None:
    """Compile a pack with a spinner (after a clear error if the database is not ready), then
    say where its files are and whether it was emailed."""
    _check_database()
    with err.status(f"Compiling {what}..."):
        result = compile()
    out.print(f"{title(result)}, {result['pages']} pages.")
    out.print(f"  PDF:         {result['pdf']}")
    out.print(f"  HTML:        {result['html']}")
    out.print(f"  spreadsheet: {result['xlsx']}")
    if email:
        out.print(f"  emailed: {'queued' if result['emailed'] else 'already sent'}; {_send()}")


@pack_app.command("quarterly")
def pack_quarterly(period: QuarterArgument, as_of: AsOf = None, email: Email = False) -> None:
    """Q2: the quarterly QA pack (PDF, XLSX, markdown); frozen once the quarter has closed."""
    from tasks.steps import compile_quarterly_pack
    from tasks.workdays import Quarter

    quarter = str(Quarter.parse(period))
    day = date_option(as_of)
    _pack(
        f"the {quarter} pack (figures, charts, PDF)",
        lambda: compile_quarterly_pack(quarter, day, email),
        lambda result: f"Quarterly pack {quarter}: {result['status']}",
        email,
    )


@pack_app.command("annual")
def pack_annual(period: YearArgument, as_of: AsOf = None, email: Email = False) -> None:
    """Q3: the framework review pack (four quarters side by side) and the data-quality spot check."""
    from tasks.steps import compile_annual_pack
    from tasks.workdays import parse_financial_year

    year = parse_financial_year(period)
    day = date_option(as_of)
    _pack(
        f"the annual pack for {year}-{(year + 1) % 100:02d}",
        lambda: compile_annual_pack(year, day, email),
        lambda result: f"Annual pack {result['period']}",
        email,
    )


@pack_app.command("monthly")
def pack_monthly(
    period: Annotated[str, typer.Argument(help="The month, e.g. 2026-11.")],
    email: Email = False,
) -> None:
    """Q1: the month's four outputs (case-level data, exceptions, team audits, feedback) in one go."""
    from models.errors import InvalidInput
    from tasks import steps
    from tasks.workdays import Month, today

    month = Month.parse(period)
    try:
        day = month.as_of(today())
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc), param_hint="PERIOD") from None
    _check_database()
    with err.status(f"Compiling the monthly outputs for {month}..."):
        results = [
            ("case-level data set", steps.case_level_data_set(day)),
            ("exception report", steps.exception_report(day)),
            ("cases audited by team managers", steps.team_audits_report(day)),
            ("service-user feedback", steps.feedback_report(day)),
        ]
    out.print(f"Monthly outputs for {month} (as of {day}):")
    for name, result in results:
        out.print(f"  {name}: {result['path']}")
    if email:
        out.print(f"  emails: {_send()}")
    else:
        out.print("  their emails are queued: `yotqa outbox send` sends them")


@plan_app.command("show")
def plan_show(year: Year = None) -> None:
    """The plan's outcomes, objectives (with ids) and activities (with ids)."""
    from tasks.plan import plan_rows

    fy = _year(year)
    with database_session() as session:
        rows = plan_rows(session, fy)
    if not rows:
        out.print(
            f"No improvement plan for {fy} yet: start one with `yotqa plan add-outcome TEXT`."
        )
        return
    table = Table(title=f"Improvement plan {fy}-{(fy + 1) % 100:02d}")
    for column in [
        "#",
        "outcome",
        "obj id",
        "objective",
        "act id",
        "activity",
        "lead",
        "by",
        "progress",
    ]:
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(v) for v in row])
    out.print(table)


@plan_app.command("add-outcome")
def plan_add_outcome(text: Annotated[str, typer.Argument()], year: Year = None) -> None:
    """Add an outcome (five or six a year)."""
    from tasks.plan import add_outcome

    with database_session() as session:
        outcome = add_outcome(session, _year(year), text)
    out.print(f"Outcome {outcome.number} added.")


@plan_app.command("add-objective")
def plan_add_objective(
    outcome: Annotated[int, typer.Argument(help="The outcome's number.")],
    text: Annotated[str, typer.Argument()],
    year: Year = None,
) -> None:
    """Add an objective to an outcome."""
    from tasks.plan import add_objective

    with database_session() as session:
        objective = add_objective(session, _year(year), outcome, text)
    out.print(f"Objective {objective.id} added to outcome {outcome}.")


@plan_app.command("add-activity")
def plan_add_activity(
    objective: Annotated[int, typer.Argument(help="The objective's id (`yotqa plan show`).")],
    text: Annotated[str, typer.Argument()],
    by: Annotated[str, typer.Option(help="Completion date, YYYY-MM-DD.")],
    lead: Annotated[str, typer.Option(help="The lead officer's staff email.")],
    as_of: AsOf = None,
) -> None:
    """Add an activity with its completion date and lead officer."""
    from tasks.plan import add_activity
    from tasks.workdays import parse_date

    with database_session() as session:
        activity = add_activity(
            session,
            objective,
            text,
            completion_date=parse_date(by),
            lead_email=lead,
            on=date_option(as_of),
        )
    out.print(f"Activity {activity.id} added.")


@plan_app.command("progress")
def plan_progress(
    activity: Annotated[int, typer.Argument(help="The activity's id.")],
    text: Annotated[str, typer.Argument(help="Progress in a sentence or two.")] = "",
    completed: Annotated[str | None, typer.Option(help="Completed on, YYYY-MM-DD.")] = None,
) -> None:
    """Update an activity's progress, or mark it completed."""
    from tasks.plan import update_progress
    from tasks.workdays import parse_date

    with database_session() as session:
        update_progress(
            session, activity, text, completed_on=parse_date(completed) if completed else None
        )
    out.print(f"Activity {activity} updated.")


@plan_app.command("link")
def plan_link(
    action: Annotated[int, typer.Argument(help="The action point's id (`yotqa actions list`).")],
    objective: Annotated[int, typer.Argument(help="The objective's id (`yotqa plan show`).")],
) -> None:
    """Link an audit's action point to an objective of the plan."""
    from tasks.plan import link_action

    with database_session() as session:
        link_action(session, action, objective)
    out.print(f"Action point {action} linked to objective {objective}.")


@plan_app.command("import")
def plan_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV or XLSX: outcome, objective, activity, lead_officer_email, completion_date[, progress, completed_on]."
        ),
    ],
    year: Year = None,
    as_of: AsOf = None,
) -> None:
    """Import or update the whole plan from a spreadsheet (all rows or none)."""
    from tasks.plan import import_plan

    with database_session() as session:
        r = import_plan(session, file, year=_year(year, as_of), on=date_option(as_of))
    out.print(
        f"Plan imported from {file.name}: {r.outcomes} new outcomes, {r.objectives} new objectives, "
        f"{r.activities} new activities, {r.updated} updated."
    )
