"""Flows run for real under the Prefect test harness; deployments load from their entrypoints."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from models import Audit, EmailMessage
from models.enums import EmailStatus
from models.settings import get_settings
from tasks.timetable import load_timetable, runs_between

LONDON = ZoneInfo("Europe/London")


def test_sample_and_assign_flow_runs_and_reports(prefect_harness, cli, session: Session) -> None:
    from prefect.client.orchestration import get_client

    from flows.sample_and_assign import sample_and_assign

    assert cli("demo-data", "--seed", "9", "--as-of", "2026-11-25").exit_code == 0
    get_settings.cache_clear()
    result = sample_and_assign(as_of=date(2026, 12, 1))
    assert result["created"] and result["audits"] > 0
    assert (
        result["sent"]
        == session.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
    )
    again = sample_and_assign(as_of=date(2026, 12, 1))  # S11 through the flow too
    assert not again["created"] and again["sent"] == 0
    assert (
        session.execute(sa.select(sa.func.count()).select_from(Audit)).scalar_one()
        == result["audits"]
    )
    statuses = {s for (s,) in session.execute(sa.select(EmailMessage.status))}
    assert statuses == {EmailStatus.SENT}

    async def artifacts() -> dict[str, str]:
        async with get_client() as client:
            return {a.key: a.type for a in await client.read_artifacts() if a.key}

    keys = asyncio.run(artifacts())
    assert keys.get("selection-202612") == "table"
    assert keys.get("sample-makeup-202612") == "markdown"
    assert "selections-xlsx-202612" in keys  # a link artifact (Prefect stores it as markdown)


# Every deployment `yotqa serve` offers; the serve test expects the same list from the server.
DEPLOYMENTS = {
    "sample-and-assign",
    "case-level-data",
    "exception-report",
    "team-audits-report",
    "feedback-report",
    "quarterly-pack",
    "annual-pack",
    "chase-overdue",
    "record-audit",
    "send-outbox",
}


def test_every_deployment_entrypoint_loads() -> None:
    from prefect.flows import load_flow_from_entrypoint

    from deployments.build import build_deployments

    deployments = build_deployments(date(2026, 11, 25))
    assert {d.name for d in deployments} == DEPLOYMENTS
    for d in deployments:
        flow = load_flow_from_entrypoint(d.entrypoint)
        assert flow.name == d.flow_name
        if (
            d.name != "record-audit"
        ):  # many auditors fill in forms at once; the rest run one at a time
            assert d.concurrency_limit == 1 or d.concurrency_options is not None
        assert all(s.slug for s in d.schedules)  # stable slugs: a redeploy never duplicates runs
        assert d.schedules or d.name == "record-audit"  # the form is started on demand


def _next_dates(schedule, start: datetime, n: int) -> list[datetime]:  # type: ignore[no-untyped-def]
    from prefect.server.schemas import schedules as server

    kind = type(schedule).__name__
    server_schedule = getattr(server, kind).model_validate(schedule.model_dump())
    return [d.astimezone(LONDON) for d in asyncio.run(server_schedule.get_dates(n=n, start=start))]


def test_sample_schedule_matches_the_timetable_for_twelve_months() -> None:
    """T1/T11: first working day of each month, 07:00 London, bank holidays skipped."""
    from deployments.build import build_deployments

    start = date(2026, 11, 25)
    deployment = next(d for d in build_deployments(start) if d.name == "sample-and-assign")
    dates = _next_dates(deployment.schedules[0].schedule, datetime(2026, 11, 25, tzinfo=LONDON), 12)
    expected = sorted(
        {
            datetime.combine(r.run_on, r.entry.time, LONDON)
            for r in runs_between(load_timetable(get_settings().timetable_file), start, 13)
            if r.entry.id == "T1"
        }
    )[:12]
    assert dates == expected
    assert dates[1] == datetime(2027, 1, 4, 7, 0, tzinfo=LONDON)  # 1 January is a bank holiday
    assert all(d.hour == 7 and d.minute == 0 for d in dates)  # 07:00 in winter and in summer


def test_outbox_schedule_runs_every_15_minutes_on_weekdays() -> None:
    from deployments.build import build_deployments

    deployment = next(d for d in build_deployments(date(2026, 11, 25)) if d.name == "send-outbox")
    dates = _next_dates(
        deployment.schedules[0].schedule, datetime(2026, 11, 27, 19, 30, tzinfo=LONDON), 4
    )
    assert dates[:2] == [
        datetime(2026, 11, 27, 19, 30, tzinfo=LONDON),
        datetime(2026, 11, 27, 19, 45, tzinfo=LONDON),
    ]
    assert dates[2] == datetime(2026, 11, 30, 7, 0, tzinfo=LONDON)  # Monday: no weekend runs
    assert dates[3] - dates[2] == timedelta(minutes=15)


@pytest.mark.parametrize("module", ["flows.sample_and_assign", "flows.send_outbox"])
def test_flow_modules_import_without_side_effects(module: str) -> None:
    import importlib

    assert importlib.import_module(module)


def test_chase_schedule_is_every_working_day_at_eight() -> None:
    from deployments.build import build_deployments

    deployment = next(d for d in build_deployments(date(2026, 11, 25)) if d.name == "chase-overdue")
    dates = _next_dates(deployment.schedules[0].schedule, datetime(2026, 12, 23, tzinfo=LONDON), 4)
    assert dates == [
        datetime(2026, 12, d, 8, 0, tzinfo=LONDON) for d in (23, 24, 29, 30)
    ]  # 25, 28 holidays


@pytest.mark.parametrize(
    "flow_name",
    [
        "sample-and-assign",
        "case-level-data",
        "exception-report",
        "team-audits-report",
        "feedback-report",
    ],
)
def test_each_timetable_deployment_runs_when_the_timetable_says(flow_name: str) -> None:
    """The next twelve scheduled runs equal the timetable's runs for that flow, at its time, London."""
    from deployments.build import build_deployments

    start = date(2026, 11, 25)
    deployment = next(d for d in build_deployments(start) if d.name == flow_name)
    dates = _next_dates(deployment.schedules[0].schedule, datetime(2026, 11, 25, tzinfo=LONDON), 12)
    timetable = load_timetable(get_settings().timetable_file)
    expected = sorted(
        {
            datetime.combine(r.run_on, r.entry.time, LONDON)
            for r in runs_between(timetable, start, 14)
            if r.entry.flow == flow_name
        }
    )[:12]
    assert dates == expected
