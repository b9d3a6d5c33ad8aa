"""`yotqa` commands that face Prefect: serve the deployments locally, or deploy them to a server."""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlmodel import Session

from cli.common import fail, out, ready_engine
from models.settings import get_settings
from tasks.outputs import Outputs

if TYPE_CHECKING:
    from deployments.serve import Stop

# The pool services deployed with --env-file share by default: `_` is in no service's name, so
# no service's own pool (yotqa-NAME) is ever called this.
SHARED_POOL = "yotqa_shared"


def deploy(
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            help="One of several services sharing this installation: deployments named "
            "<flow>-SERVICE in the work pool yotqa-SERVICE (README: several services).",
        ),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="With --service: the service's settings file. Every run carries "
            "YOTQA_ENV_FILE=<its absolute path>, so workers on one shared pool (default "
            f"{SHARED_POOL}), started without YOTQA_* settings, run it with that file alone.",
        ),
    ] = None,
    work_pool: Annotated[
        str | None,
        typer.Option(
            "--work-pool",
            help="The process work pool the workers take runs from [default: yotqa, or "
            f"yotqa-SERVICE, or {SHARED_POOL} with --env-file].",
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
    from deployments.prefect_yaml import PREFECT_YAML, ROOT, service_pool, write_prefect_yaml
    from models.settings import ENV_FILE_VARIABLE
    from tasks.workdays import today

    if env_file is not None:
        if not service:
            fail("--env-file needs --service NAME: each service's deployments need their own names")
        env_file = env_file.expanduser().resolve()
        if not env_file.is_file():
            fail(f"--env-file {env_file}: no such file; write the service's YOTQA_* settings there")
        # This command reads the service's settings too (its timetable, its output folder).
        os.environ[ENV_FILE_VARIABLE] = str(env_file)
        get_settings.cache_clear()
    work_pool = work_pool or (SHARED_POOL if env_file else service_pool(service))
    if prefect_file is None:
        # A service's file is its own, beside its data; the repository's is the single service's.
        prefect_file = Outputs.configured().prefect_file(service) if service else PREFECT_YAML
        prefect_file.parent.mkdir(parents=True, exist_ok=True)
    path = prefect_file.resolve()
    document = write_prefect_yaml(
        today(), path=path, pool=work_pool, service=service, env_file=env_file
    )
    out.print(f"Wrote {path} (schedules from {today()}; run `yotqa deploy` again within a year).")
    if write_only:
        return
    if not os.environ.get("PREFECT_API_URL"):
        fail(
            "PREFECT_API_URL is not set: point it at your Prefect server (and set "
            "PREFECT_API_AUTH_STRING if it asks for one), or use --write-only"
        )
    # In this process, from the file's content (deployments/apply.py): `prefect deploy --all`
    # as a subprocess took 28 s a service, too slow for an estate of services.
    import httpx
    from prefect.exceptions import PrefectException

    from deployments.apply import apply_prefect_yaml, ensure_pool

    try:
        if ensure_pool(work_pool):
            out.print(f"Created the process work pool {work_pool!r}.")
        names = apply_prefect_yaml(document, ROOT, home=str(ROOT))
    except (httpx.HTTPError, PrefectException, RuntimeError) as exc:  # RuntimeError: apply's
        fail(f"could not deploy to {os.environ['PREFECT_API_URL']}: {type(exc).__name__} {exc}")
    prefect = Path(sys.executable).parent / "prefect"
    out.print(
        f"Deployed {len(names)} deployments to {os.environ['PREFECT_API_URL']}. Start workers "
        f"with:\n  {prefect} worker start --pool {work_pool}"
        + (
            " --limit 4  (no YOTQA_* settings needed: each run names its env file)"
            if env_file
            else ""
        )
    )
    admins = get_settings().admin_emails
    watch = f"{Path(sys.executable).parent / 'yotqa'} alerts watch" + (
        f" --service {service}" if service else ""
    )
    out.print(
        f"Alerts (O1): run `{watch}` beside the Prefect server, where no worker's outage stops "
        f"it; it emails {', '.join(admins)} when a run fails, crashes or is late (README: Alerts)."
        if admins
        else "Alerts (O1): off. Set YOTQA_ADMIN_EMAILS and run `yotqa alerts watch` beside the "
        "Prefect server to be emailed when a run fails, crashes or is late (README: Alerts)."
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
    from deployments.serve import Stop

    # Ctrl+C, a service manager's or container's SIGTERM and a closed terminal's SIGHUP take
    # the one path: the signal asks, and serving stops where it is safe (issue 16).
    stop = Stop()
    with stop.installed():
        _serve(stop, host, port, run_due=run_due, run_sample=run_sample, web=web)


def _serve(stop: Stop, host: str, port: int, *, run_due: bool, run_sample: bool, web: bool) -> None:
    from deployments.serve import Stopped, alert_watcher, local_server, serve_all, web_pages
    from tasks.workdays import today

    engine = ready_engine()  # refuse early if the database is not ready
    engine.dispose()
    settings = get_settings()
    outputs = Outputs(settings.output_dir)
    configured = os.environ.get("PREFECT_API_URL")
    if not configured:
        out.print(f"Starting a local Prefect server on {host}:{port} (about 10 seconds)...")
    try:
        with (
            local_server(host, port, stop) as api_url,
            web_pages(stop=stop) if web else nullcontext("") as pages,
            alert_watcher() as alerting,
        ):
            ui = api_url.removesuffix("/api")
            out.print(f"Prefect UI: {ui}  (deployments, runs, artifacts)")
            out.print(
                f"Emails: {outputs.outbox} (as .eml files)"
                if not settings.smtp_host
                else f"Emails: sent through {settings.smtp_host}:{settings.smtp_port}"
            )
            out.print(
                f"Packs: {outputs.packs}   Reports: {outputs.reports}   Exports: {outputs.exports}"
            )
            out.print(f"Server log: {outputs.prefect_log}")
            out.print(
                f"Alerts: failed, crashed or late timetable runs are emailed to "
                f"{', '.join(settings.admin_emails)} (O1)"
                if alerting
                else "Alerts: off; set YOTQA_ADMIN_EMAILS to be emailed when a timetable run "
                "fails, crashes or is late (README: Alerts)"
            )
            if pages:
                out.print(
                    f"People's pages: {pages}  (reached through the links in emails; log {outputs.web_log})"
                )
            out.print("Serving the timetable's deployments. Stop with Ctrl+C.")
            serve_all(
                today(),
                lambda line: out.print(line),
                stop=stop,
                run_due=run_due,
                only="sample-and-assign" if run_sample and not run_due else None,
                then=show_demo_link if pages else None,
            )
    except Stopped:
        pass
    if stop.requested:
        out.print(
            f"Stopped: serving ended; the Prefect server at {configured} keeps running."
            if configured
            else "Stopped: the Prefect server is shut down; scheduled runs stay for next time."
        )
