"""`yotqa simulate`: the whole timetable run day by day over a span, with simulated people."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli.common import database_session, date_option, err, fail, out
from models.settings import get_settings
from tasks.outputs import Outputs


def simulate(
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    seed: Annotated[int, typer.Option(help="The same seed gives the same year.")] = 1,
) -> None:
    """Run the timetable day by day from --from to --to with simulated auditors and action owners.

    Every job runs on its day as its deployment would (samples, reports, chases, packs, notices),
    audits are recorded through the same checks as a real form, and every email goes through the
    outbox. On an empty database the demo service is loaded first, as of --from. It refuses a
    database that holds a real service: simulated audits must never mix with real ones.
    """
    from models.db import upgrade
    from tasks.simulation import demo_service_for, simulate_timetable, timetable_days

    start, end = date_option(from_), date_option(to)
    if end < start:
        fail(f"--to {end} is before --from {start}", 2)
    if (end - start).days > 3 * 366:
        fail("simulate at most three years at a time", 2)
    upgrade()
    settings = get_settings()
    outputs = Outputs(settings.output_dir)
    with database_session() as session:
        with err.status(f"Loading the demo service as of {start}, if the database is empty..."):
            loaded, weak = demo_service_for(session, start)
        if loaded:
            out.print(f"The database was empty: the demo service was loaded as of {start}.")
        days = timetable_days(start, end)
        began = time.perf_counter()
        total = (end - start).days + 1
        with Progress(
            TextColumn("Simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days  {task.fields[day]}"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("days", total=total, day="")
            result = simulate_timetable(
                session,
                start,
                end,
                seed=seed,
                weak_team_id=weak,
                progress=lambda d: bar.update(task, advance=1, day=str(d)),
            )
        seconds = time.perf_counter() - began
    span = result.span
    out.print(
        f"Simulated {start} to {end}: {span.days} working days in {seconds:.0f} s "
        f"({sum(len(v) for v in days.values())} timetable runs)."
    )
    out.print(
        f"Audits recorded {span.recorded}, not done with a reason {span.not_done}; "
        f"action points completed {span.actions_completed}; support needs met "
        f"{span.needs_met}, reviewed again {span.needs_reviewed_again}."
    )
    for event in filter(None, result.events):
        out.print(f"Staff change: {event}.")
    runs = Table("Job", "Runs", "Seconds", title="Timetable runs")
    for flow, n in sorted(result.runs.items()):
        runs.add_row(flow, str(n), f"{result.seconds[flow]:.1f}")
    out.print(runs)
    kinds = Table("Email", "Queued", title="Emails by kind")
    for kind, n in sorted(result.emails.items()):
        kinds.add_row(kind, str(n))
    out.print(kinds)
    if result.written:
        out.print(
            f"{result.written} emails written to {outputs.outbox} "
            "(no SMTP host is set: nothing was sent)."
        )
    if result.sent or settings.smtp_host:
        out.print(f"{result.sent} emails sent through {settings.smtp_host}.")
    out.print(
        "Files: " + ", ".join(f"{n} in {outputs.root / k}" for k, n in result.files.items())
    )
