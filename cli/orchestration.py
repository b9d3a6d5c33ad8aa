"""`yotqa` commands that face Prefect: serve the deployments locally, or deploy them to a server."""

from __future__ import annotations

import os
import signal
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from cli.common import err, fail, out, ready_engine
from models.settings import get_settings
from tasks.outputs import Outputs


def deploy(
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            help="One of several services sharing this installation: deployments named "
            "<flow>-SERVICE in the work pool yotqa-SERVICE (README: several services).",
        ),
    ] = None,
    work_pool: Annotated[
        str | None,
        typer.Option(
            "--work-pool",
            help="The process work pool the workers take runs from [default: yotqa, or "
            "yotqa-SERVICE].",
        ),
    ] = None,
    write_only: Annotated[
        bool, typer.Option("--write-only", help="Only write prefect.yaml; deploy nothing.")
    ] = False,
    prefect_file: Annotated[
        Path | None,
        typer.Option(
            "--prefect-file",
            help="Write the deployments here instead of the repository's prefect.yaml.",
        ),
    ] = None,
) -> None:
    """Write prefect.yaml from the timetable and deploy it to the Prefect server at PREFECT_API_URL,
    for workers (`prefect worker start --pool yotqa`); see the README's Deployment section."""
    import subprocess
    import sys

    from deployments.prefect_yaml import PREFECT_YAML, ROOT, service_pool, write_prefect_yaml
    from tasks.workdays import today

    work_pool = work_pool or service_pool(service)
    if prefect_file is None:
        # A service's file is its own, beside its data; the repository's is the single service's.
        prefect_file = (
            Outputs.configured().prefect_file(service) if service else PREFECT_YAML
        )
        prefect_file.parent.mkdir(parents=True, exist_ok=True)
    path = write_prefect_yaml(today(), path=prefect_file.resolve(), pool=work_pool, service=service)
    out.print(f"Wrote {path} (schedules from {today()}; run `yotqa deploy` again within a year).")
    if write_only:
        return
    if not os.environ.get("PREFECT_API_URL"):
        fail(
            "PREFECT_API_URL is not set: point it at your Prefect server (and set "
            "PREFECT_API_AUTH_STRING if it asks for one), or use --write-only"
        )
    prefect = str(Path(sys.executable).parent / "prefect")
    env = {**os.environ, "YOTQA_HOME": str(ROOT), "DO_NOT_TRACK": "1"}
    inspect = subprocess.run(
        [prefect, "work-pool", "inspect", work_pool], env=env, capture_output=True, text=True
    )
    if inspect.returncode != 0:
        created = subprocess.run(
            [prefect, "work-pool", "create", work_pool, "--type", "process"],
            env=env,
            capture_output=True,
            text=True,
        )
        if created.returncode != 0:
            fail(f"could not create the work pool {work_pool!r}: {created.stdout}{created.stderr}")
        out.print(f"Created the process work pool {work_pool!r}.")
    deployed = subprocess.run(
        [prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if deployed.returncode != 0:
        err.print(deployed.stdout[-3000:] + deployed.stderr[-3000:])
        fail("prefect deploy failed (its output is above)")
    out.print(
        f"Deployed to {os.environ['PREFECT_API_URL']}. Start workers with:\n"
        f"  YOTQA_HOME={ROOT} {prefect} worker start --pool {work_pool}"
    )


def show_demo_link() -> None:
    """One manager's own page, so a newcomer can click through a manager's day."""
    from tasks.recording.inbox import demo_link
    from tasks.workdays import today

    engine = ready_engine()
    try:
        with Session(engine, expire_on_commit=False) as session:
            found = demo_link(session, today())
    finally:
        engine.dispose()
    if found:
        name, url = found
        out.print(f"Open {name}'s page, as they would from their email: {url}")
    else:
        out.print("No manager has open audits yet, so there is no link to show.")


def serve(
    host: Annotated[
        str,
        typer.Option(
            help="Address for the local Prefect server (keep 127.0.0.1 unless behind a proxy)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for the local Prefect server.")] = 4200,
    run_due: Annotated[
        bool,
        typer.Option(
            "--run-due/--no-run-due",
            help="At start, run this month's timetable jobs due by today, each for its own date, "
            "and today's chase (re-running one changes nothing).",
        ),
    ] = False,
    run_sample: Annotated[
        bool,
        typer.Option(
            "--run-sample/--no-run-sample", help="At start, run only this month's sample."
        ),
    ] = False,
    web: Annotated[
        bool,
        typer.Option(
            "--web/--no-web",
            help="Also serve the people's pages (yotqa web) where YOTQA_WEB_URL points, and "
            "print one manager's link once the due jobs have run.",
        ),
    ] = False,
) -> None:
    """Start a local Prefect server (unless PREFECT_API_URL is set) and serve every timetable deployment."""
    from deployments.serve import local_server, serve_all, web_pages
    from tasks.workdays import today

    engine = ready_engine()  # refuse early if the database is not ready
    engine.dispose()
    settings = get_settings()
    outputs = Outputs(settings.output_dir)
    if not os.environ.get("PREFECT_API_URL"):
        out.print(f"Starting a local Prefect server on {host}:{port} (about 10 seconds)...")

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # a service manager's stop or a closed terminal: stop cleanly

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        with local_server(host, port) as api_url, web_pages() if web else nullcontext("") as pages:
            ui = api_url.removesuffix("/api")
            out.print(f"Prefect UI: {ui}  (deployments, runs, artifacts)")
            out.print(
                f"Emails: {outputs.outbox} (as .eml files)"
                if not settings.smtp_host
                else f"Emails: sent through {settings.smtp_host}:{settings.smtp_port}"
            )
            out.print(
                f"Packs: {outputs.packs}   Reports: {outputs.reports}   "
                f"Exports: {outputs.exports}"
            )
            out.print(f"Server log: {outputs.prefect_log}")
            if pages:
                out.print(
                    f"People's pages: {pages}  (reached through the links in emails; log {outputs.web_log})"
                )
            out.print("Serving the timetable's deployments. Stop with Ctrl+C.")
            serve_all(
                today(),
                lambda line: out.print(line),
                run_due=run_due,
                only="sample-and-assign" if run_sample and not run_due else None,
                then=show_demo_link if pages else None,
            )
    except KeyboardInterrupt:
        out.print("Stopped: the Prefect server is shut down; scheduled runs stay for next time.")
