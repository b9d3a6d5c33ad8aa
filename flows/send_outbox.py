"""E6: deliver queued emails; runs on its own so a failed send is retried without re-sampling."""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks import steps
from tasks.jobs import in_prefect


@flow(name="send-outbox")
def send_outbox() -> dict[str, Any]:
    """Send every email that is due; temporary failures wait for the next run."""
    return in_prefect(steps.send_outbox)
