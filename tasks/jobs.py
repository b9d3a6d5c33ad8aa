"""The one place Prefect meets the domain: a job's steps run as Prefect tasks.

`in_prefect` is the `Run` a flow gives a catalogue job (tasks/catalogue.py): each step becomes a
task named after it (so the run's graph reads draw-and-assign, selection-report, ...), retried
only when the database connection was lost; the outbox sender retries any failure.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from prefect import Task, task
from prefect.logging import get_run_logger

from tasks import steps

P = ParamSpec("P")
R = TypeVar("R")


def database_connection_lost(task: Any, task_run: Any, state: Any) -> bool:
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


# Steps that read or write the database try twice more if the connection is lost.
DB_RETRY: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [5, 30],
    "retry_condition_fn": database_connection_lost,
}
# Sending retries any failure: temporary SMTP failures also stay queued for the next run.
SEND_RETRY: dict[str, Any] = {"retries": 2, "retry_delay_seconds": [30, 120]}


@cache
def as_task(step: Callable[P, R]) -> Task[P, R]:
    """The Prefect task for a step, named after it."""
    options = SEND_RETRY if step is steps.send_outbox else DB_RETRY
    return task(step, name=step.__name__.replace("_", "-"), **options)


def in_prefect(step: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a step as a Prefect task of the flow run in progress."""
    return as_task(step)(*args, **kwargs)
