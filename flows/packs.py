"""Q2-Q4: the quarterly QA pack (T10, reviewed at T6) and the annual review pack (T8, T13)."""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from flows.guard import run_day
from tasks.jobs import quarterly_pack as compile_quarterly
from tasks.jobs import send_outbox
from tasks.workdays import Quarter


def _publish(name: str, result: dict[str, object]) -> None:
    slug = str(result["period"]).replace("-", "").lower()
    create_markdown_artifact(
        key=f"{name}-{slug}",
        markdown=str(result["markdown"]),
        description=f"{name} {result['period']} ({result['status']})",
    )
    create_link_artifact(
        key=f"{name}-pdf-{slug}", link=f"file://{result['pdf']}", link_text=f"{name} PDF"
    )


@flow(name="quarterly-pack")
def quarterly_pack(as_of: date | None = None, quarter: str | None = None) -> dict[str, object]:
    """T10: the quarterly QA progress report for the quarter before `as_of` (or `quarter`), emailed."""
    day = run_day(as_of)
    period = quarter or str(Quarter.containing(day).previous())
    result = compile_quarterly(period, day)
    _publish("quarterly-pack", result)
    send_outbox()
    return result


@flow(name="annual-pack")
def annual_pack(as_of: date | None = None, year: int | None = None) -> dict[str, object]:
    """T8 and T13: the annual framework review pack and data-quality spot check, emailed.

    Run in January (Appendix 5), it covers the financial year in progress: three quarters closed
    and frozen, the fourth as it stands; `year` compiles any other.
    """
    from tasks.jobs import annual_pack as compile_annual
    from tasks.workdays import financial_year

    day = run_day(as_of)
    result = compile_annual(year or financial_year(day), day)
    _publish("annual-pack", result)
    send_outbox()
    return result
