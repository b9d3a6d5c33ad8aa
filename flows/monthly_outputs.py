"""Q1 monthly outputs: the case-level data set (T2), the exception report (T3), and Fig. 2's reports on
cases audited by team managers and on service-user feedback."""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.artifacts import create_link_artifact, create_table_artifact

from flows.guard import run_day
from tasks.jobs import case_level_data as build_data_set
from tasks.jobs import exception_report as build_exceptions
from tasks.jobs import feedback_data, send_outbox, team_audits


def _publish(
    name: str, result: dict[str, object], table: list[dict[str, object]], description: str
) -> None:
    """The run's artifacts: its figures as a table and a link to its spreadsheet."""
    period = str(result["period"])
    slug = period.replace("-", "")
    create_table_artifact(
        key=f"{name}-{slug}",
        table=table or [{"result": "nothing this month"}],
        description=f"{description}, {period}",
    )
    create_link_artifact(
        key=f"{name}-xlsx-{slug}",
        link=f"file://{result['path']}",
        link_text=f"{name}-{period}.xlsx",
    )


@flow(name="case-level-data")
def case_level_data(as_of: date | None = None) -> dict[str, object]:
    """T2: the case-level data set for the monthly management meeting, as XLSX."""
    result = build_data_set(run_day(as_of))
    _publish(
        "case-level-data",
        result,
        [{"figure": k, "value": v} for k, v in result["summary"].items()],
        "Case-level data set",
    )
    return result


@flow(name="exception-report")
def exception_report(as_of: date | None = None) -> dict[str, object]:
    """T3: data-quality exceptions per team, each with its fix; team managers told; fixes counted."""
    result = build_exceptions(run_day(as_of))
    _publish(
        "exceptions",
        result,
        [{"rule": k, "exceptions": v} for k, v in sorted(result["by_rule"].items())],
        f"Exceptions for data cleansing ({result['fixed']} fixed since last month)",
    )
    send_outbox()
    return result


@flow(name="team-audits-report")
def team_audits_report(as_of: date | None = None) -> dict[str, object]:
    """Fig. 2: the monthly report on cases audited by team managers, for the service manager."""
    result = team_audits(run_day(as_of))
    _publish("team-audits", result, result["rows"], "Cases audited by team managers")
    send_outbox()
    return result


@flow(name="feedback-report")
def feedback_report(as_of: date | None = None) -> dict[str, object]:
    """Fig. 2: service-user feedback data for managers, this month and the year to date."""
    result = feedback_data(run_day(as_of))
    _publish("feedback", result, result["by_source"], "Service-user feedback")
    send_outbox()
    return result
