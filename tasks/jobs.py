"""The one place Prefect meets the domain: a job's steps run as Prefect tasks.

`in_prefect` is the `Run` a flow gives a catalogue job (tasks/catalogue.py): each step becomes a
task named after it (so the run's graph reads draw-and-assign, selection-report, ...), retried
only when the database connection was lost; the outbox sender retries any failure.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, ParamSpec, TypeVar, cast

import sqlalchemy as sa
from prefect import Task, task
from prefect.client.schemas.objects import State, TaskRun
from prefect.logging import get_run_logger

from tasks import steps

P = ParamSpec("P")
R = TypeVar("R")


def database_connection_lost(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a task only when its database connection failed (a restart, a failover, a network
    blip): every job is idempotent per period and each try opens a new connection, so a retry
    finishes the work. Any other error fails the run at once, as it would fail again."""
    error = state.result(raise_on_failure=False)
    lost = isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated
    )
    if lost:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        get_run_logger().warning(
            "the database connection was lost (%s); trying %s again", reason, task.name
        )
    return lost


def as_task(step: Callable[P, R]) -> Task[P, R]:
    """The Prefect task for a step, named after it (made once per step)."""
    return cast("Task[P, R]", _task_of(step))  # functools.cache forgets a generic function's types


@cache
def _task_of(step: Callable[..., Any]) -> Task[..., Any]:
    name = step.__name__.replace("_", "-")
    if step is steps.send_outbox:
        # Sending retries any failure: temporary SMTP failures also stay queued for the next run.
        return task(name=name, retries=2, retry_delay_seconds=[30, 120])(step)
    # Steps that read or write the database try twice more if the connection is lost.
    return task(
        name=name,
        retries=2,
        retry_delay_seconds=[5, 30],
        retry_condition_fn=database_connection_lost,
    )(step)


def in_prefect(step: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a step as a Prefect task of the flow run in progress."""
    return as_task(step)(*args, **kwargs)
