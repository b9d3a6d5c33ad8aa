"""One Prefect flow for every job in the catalogue (tasks/catalogue.py), made from it.

Each flow has the job's name and docstring, takes `as_of` (a date; default: the day the run was
scheduled for, see flows/guard.py) and the job's own options (`quarter`, `year`), runs the job
with its steps as Prefect tasks, and shows what the job lists as artifacts. The flows are module
attributes named after their jobs (`flows/timetable.py:sample_and_assign`), the entrypoints the
deployments record; FLOWS holds them by name.
"""

from __future__ import annotations

import inspect
from datetime import date
from typing import Any

from prefect import Flow, flow
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from flows.guard import daily_run_day, run_day
from models.settings import get_settings
from tasks.catalogue import JOBS, Artifact, Job
from tasks.jobs import in_prefect
from tasks.timetable import load_timetable


def publish(artifact: Artifact) -> None:
    if artifact.table is not None:
        create_table_artifact(
            key=artifact.key, table=artifact.table, description=artifact.description
        )
    elif artifact.markdown is not None:
        create_markdown_artifact(
            key=artifact.key, markdown=artifact.markdown, description=artifact.description
        )
    else:
        create_link_artifact(
            key=artifact.key,
            link=str(artifact.link),
            link_text=artifact.link_text,
            description=artifact.description,
        )


def the_day(job: Job, as_of: date | None) -> date | None:
    """The day a run works for; None for a daily job's run that a later day's run overtook."""
    rows = job.rows(load_timetable(get_settings().timetable_file))
    if rows and all(r.frequency == "daily" for r in rows):
        return daily_run_day(as_of, rows[0].time)
    return run_day(as_of)


def timetable_flow(job: Job) -> Flow[..., dict[str, Any]]:
    """The job as a flow: parameters `as_of` and the job's own options, each optional."""

    def run(as_of: date | None = None, **options: Any) -> dict[str, Any]:
        day = the_day(job, as_of)
        if day is None:
            return {"skipped": f"overtaken by a later day's {job.run_command or job.name}"}
        outcome = job(day, in_prefect, **options)
        for artifact in outcome.artifacts:
            publish(artifact)
        return outcome.result

    # The flow's signature is the job's, with `as_of` for its day: Prefect builds the
    # parameters' form and checks them from it.
    own = list(inspect.signature(job.work, eval_str=True).parameters.values())[2:]
    as_of = inspect.Parameter(
        "as_of", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=date | None
    )
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [as_of, *own], return_annotation=dict[str, Any]
    )
    run.__name__ = run.__qualname__ = job.name.replace("-", "_")
    run.__doc__ = job.doc
    return flow(name=job.name, log_prints=False)(run)


FLOWS: dict[str, Flow[..., dict[str, Any]]] = {job.name: timetable_flow(job) for job in JOBS}
globals().update({f.fn.__name__: f for f in FLOWS.values()})
