"""The `yotqa` command line (SPEC §7). Run from the repository root: `yotqa --help`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

# Prefect, imported by later commands, must not phone home or litter the terminal.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import typer  # noqa: E402
from rich.table import Table  # noqa: E402

from cli import alerts, audits, inspection, orchestration, packs, people, simulate, work  # noqa: E402
from cli.common import Commands, database_session, date_option, err, fail, out  # noqa: E402
from models.enums import ImportKind  # noqa: E402
from models.settings import get_settings  # noqa: E402

app = typer.Typer(
    cls=Commands,
    name="yotqa",
    help="Runs the youth offending team's quality-assurance framework: caseload, audits, timetable.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
calendar_app = typer.Typer(help="The working-day calendar (D1).", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")


@app.command()
def init() -> None:
    """Create the database, or upgrade it to the current schema, and load the question sets."""
    from models.db import describe_url, head_revision, upgrade
    from tasks.question_sets import sync_question_sets

    settings = get_settings()
    upgrade()
    with database_session() as session:
        result = sync_question_sets(session, settings.question_sets_dir)
        session.commit()
    out.print(
        f"Database ready: {describe_url(settings.resolved_database_url)} (schema {head_revision()})"
    )
    if result.loaded:
        out.print(f"Question sets loaded: {', '.join(result.loaded)}")
    if result.unchanged:
        out.print(f"Question sets already loaded: {', '.join(result.unchanged)}")


import_app = typer.Typer(
    help="Import a file of staff, cases or feedback (every row or none), or inspect one first. "
    "A case-management system's own extract is read through an import profile (O3).",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")
ImportFile = Annotated[Path, typer.Argument(help="A CSV or XLSX file with a header row.")]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="The extract's date, YYYY-MM-DD (default today); changes of case manager are dated from it.",
    ),
]
Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="An import profile: NAME of a file in models/data/import_profiles/ (with or without "
        ".yaml), or the PATH of one (a file of that name here wins). It maps the source system's "
        "headers, values, date format and title rows onto ours; `yotqa import inspect FILE` "
        "proposes one.",
    ),
]
IMPORT_HELP = {
    ImportKind.STAFF: "the staff list (email, name, role, team, line_manager_email, active)",
    ImportKind.CASES: "the caseload extract, after the staff list",
    ImportKind.FEEDBACK: "service-user feedback, after the cases",
}


def _import_command(kind: ImportKind) -> Callable[..., None]:
    def command(file: ImportFile, as_of: AsOf = None, profile: Profile = None) -> None:
        from tasks.importing import Layout, import_file
        from tasks.importing.profiles import load_profile

        layout = load_profile(profile) if profile else Layout()
        day = date_option(as_of)
        with (
            database_session() as session,
            err.status(f"Importing {kind.value} from {file.name}..."),
        ):
            report = import_file(session, kind, file, as_of=day, layout=layout)
        out.print(report.summary())

    command.__doc__ = (
        f"Import {IMPORT_HELP[kind]}: every row or none. Errors are listed by row and column, "
        "in the file's own header names."
    )
    return command


for _kind in ImportKind:
    import_app.command(_kind.value)(_import_command(_kind))


@import_app.command("inspect")
def import_inspect(
    file: ImportFile,
    kind: Annotated[
        ImportKind | None,
        typer.Option(
            "--kind",
            help="What the file holds (default: the kind whose fields its headers cover the "
            "largest share of; the proposal says when that guess is uncertain).",
        ),
    ] = None,
) -> None:
    """Print FILE's headers, a proposed import profile (YAML to save) and fields not placed."""
    from tasks.importing.profiles import inspect_file, proposal_yaml

    out.print(proposal_yaml(inspect_file(file, kind)), end="")


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

    from models.db import upgrade
    from tasks.demo import holds_a_service, load_demo_service
    from tasks.outputs import Outputs

    day = date_option(as_of)
    upgrade()
    folder = Outputs.configured().demo
    with database_session() as session:
        if if_empty and holds_a_service(session):
            out.print("The database already holds a service: demo data not loaded.")
            return
        with err.status("Importing the demo service..."):
            reports = load_demo_service(session, folder, seed=seed, as_of=day)
        for report in reports:
            out.print(report.summary())
    out.print(f"Demo files written to {folder}")


@app.command()
def status(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Count open cases on this date, YYYY-MM-DD (default today)."),
    ] = None,
) -> None:
    """Summarise the service held in the database: teams, staff, caseload, feedback."""

    from models.db import describe_url
    from tasks.summary import service_summary

    day = date_option(as_of)
    with database_session() as session:
        summary = service_summary(session, day)
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
        fail(f"week must be a number from 1 to 4, not {week!r}", 2)
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

    start = date_option(from_)
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


# The month's work, in the order an admin meets it.
app.add_typer(work.run_app, name="run")
app.add_typer(work.outbox_app, name="outbox")
app.add_typer(work.export_app, name="export")
app.add_typer(audits.audits_app, name="audits")
app.add_typer(audits.actions_app, name="actions")
app.add_typer(audits.needs_app, name="needs")
app.add_typer(packs.pack_app, name="pack")
app.add_typer(packs.plan_app, name="plan")
app.add_typer(inspection.inspection_app, name="inspection")
app.add_typer(alerts.alerts_app, name="alerts")
app.command()(simulate.simulate)
app.command()(orchestration.serve)
app.command()(orchestration.deploy)
app.command()(people.web)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
