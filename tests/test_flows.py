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
from tasks.catalogue import CATALOGUE
from tasks.timetable import load_timetable, runs_between

LONDON = ZoneInfo("Europe/London")


def test_sample_and_assign_flow_runs_and_reports(prefect_harness, cli, session: Session) -> None:
    from prefect.client.orchestration import get_client

    from flows.timetable import FLOWS

    sample_and_assign = FLOWS["sample-and-assign"]

    assert cli("demo-data", "--seed", "9", "--as-of", "2026-11-25").exit_code == 0
    get_settings.cache_clear()
    result = sample_and_assign(as_of=date(2026, 12, 1))
    assert result["created"] and result["audits"] > 0
    assert (
        result["written"]
        == session.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
    )
    assert result["sent"] == 0  # no SMTP host is set: written as files, not sent
    again = sample_and_assign(as_of=date(2026, 12, 1))  # S11 through the flow too
    assert not again["created"] and again["written"] == 0
    assert (
        session.execute(sa.select(sa.func.count()).select_from(Audit)).scalar_one()
        == result["audits"]
    )
    statuses = {s for (s,) in session.execute(sa.select(EmailMessage.status))}
    assert statuses == {EmailStatus.WRITTEN}

    async def artifacts() -> dict[str, str]:
        async with get_client() as client:
            return {a.key: a.type for a in await client.read_artifacts() if a.key}

    keys = asyncio.run(artifacts())
    assert keys.get("selection-202612") == "table"
    assert keys.get("sample-makeup-202612") == "markdown"
    assert "selections-xlsx-202612" in keys  # a link artifact (Prefect stores it as markdown)


# Every deployment `yotqa serve` offers: one per job of the catalogue, the audit form in the
# Prefect UI and the outbox sender. The serve test expects the same list from the server.
DEPLOYMENTS = set(CATALOGUE) | {"record-audit", "send-outbox"}


def test_every_job_of_the_catalogue_has_a_row_of_the_shipped_timetable_and_each_row_a_job() -> None:
    rows = load_timetable(get_settings().timetable_file).entries
    assert {e.flow for e in rows} == set(CATALOGUE)
    assert len(CATALOGUE) == 14  # T1-T13 (T1 and T11 share one, T8 and T13 another), F1, F2, the chase


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


@pytest.mark.parametrize("module", ["flows.timetable", "flows.send_outbox"])
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


def test_schedules_for_twelve_months_equal_what_yotqa_timetable_prints(offline_cli) -> None:
    """Every row T1-T13 (and F1, F2) has a deployment; over the next twelve months (and November 2027, for T9) each one runs
    on exactly the days and at the times `yotqa timetable` prints for its rows."""
    import re

    from deployments.build import build_deployments

    result = offline_cli("timetable", "--from", "2026-11-26", "--months", "13")
    assert result.exit_code == 0, result.stderr
    printed = set()
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in re.split("[│|]", line) if c.strip()]
        if len(cells) >= 3 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", cells[0]):
            printed.add((cells[0], cells[1], cells[2]))
    assert {row for _, _, row in printed} >= {f"T{n}" for n in range(1, 14)}

    start, end = datetime(2026, 11, 26, tzinfo=LONDON), datetime(2027, 12, 1, tzinfo=LONDON)
    covered = set()
    for d in build_deployments(date(2026, 11, 26)):
        rows = {t for t in d.tags if re.fullmatch(r"[TF]\d+R?", t)}
        if not rows:
            continue
        covered |= rows
        assert len(d.schedules) == 1 and d.schedules[0].schedule.timezone == "Europe/London"
        runs = {
            (f"{when:%Y-%m-%d}", f"{when:%H:%M}")
            for when in _next_dates(d.schedules[0].schedule, start, 120)
            if when < end
        }
        assert runs == {(day, at) for day, at, row in printed if row in rows}, d.name
    assert covered == {row for _, _, row in printed}  # every printed row has its deployment
    assert ("2027-01-04", "07:00", "T10") in printed  # 1 January is a bank holiday
    assert ("2026-12-01", "07:00", "T11") in printed


def test_prefect_yaml_holds_the_same_deployments_for_a_process_work_pool() -> None:
    """prefect.yaml (for `prefect deploy --all` and workers) is what `yotqa deploy` generates from
    the timetable on the day in its header: regenerate it when the timetable or flows change."""
    import re

    import yaml

    from deployments.prefect_yaml import PREFECT_YAML, prefect_yaml

    text = PREFECT_YAML.read_text(encoding="utf-8")
    generated_on = date.fromisoformat(re.search(r"on (\d{4}-\d{2}-\d{2})", text)[1])  # type: ignore[index]
    committed = yaml.safe_load(text)
    assert committed == prefect_yaml(generated_on), "run `yotqa deploy --write-only` and commit"
    assert {d["name"] for d in committed["deployments"]} == DEPLOYMENTS
    assert {d["work_pool"]["name"] for d in committed["deployments"]} == {"yotqa"}
    step = committed["pull"][0]["prefect.deployments.steps.set_working_directory"]
    assert step["directory"] == "{{ $YOTQA_HOME }}"
    for d in committed["deployments"]:
        assert all(s["timezone"] == "Europe/London" and s["slug"] for s in d["schedules"])


def test_each_service_sharing_an_installation_gets_its_own_deployments_and_pool(
    offline_cli, tmp_path
) -> None:
    """`yotqa deploy --service NAME`: deployments `<flow>-NAME` tagged `service:NAME` in the pool
    `yotqa-NAME`, so one service's workers never take another's runs (README: several services)."""
    import yaml

    path = tmp_path / "north.yaml"
    result = offline_cli("deploy", "--service", "north", "--write-only", "--prefect-file", path)
    assert result.exit_code == 0, result.output
    north = yaml.safe_load(path.read_text(encoding="utf-8"))["deployments"]
    assert {d["name"] for d in north} == {f"{name}-north" for name in DEPLOYMENTS}
    assert {d["work_pool"]["name"] for d in north} == {"yotqa-north"}
    assert all("service:north" in d["tags"] for d in north)

    refused = offline_cli("deploy", "--service", "North YOT!", "--write-only")
    assert refused.exit_code != 0 and "lower-case letters" in refused.output
