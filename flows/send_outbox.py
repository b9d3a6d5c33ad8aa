"""E6: deliver queued emails; runs on its own so a failed send is retried without re-sampling."""

from __future__ import annotations

from prefect import flow

from tasks.jobs import send_outbox as send


@flow(name="send-outbox")
def send_outbox() -> dict[str, object]:
    """Send every email that is due; temporary failures wait for the next run."""
    return send()
