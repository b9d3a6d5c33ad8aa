"""Flows run for real under the Prefect test harness; deployments load from their entrypoints."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from models import Audit, EmailMessage
from models.enums import EmailStatus
from models.settings import get_settings
from tasks.catalogue import CATALOGUE
from tasks.timetable import load_timetable, runs_between
from tests.conftest import artifacts_of

LONDON = ZoneInfo("Europe/London")
ROOT = Path(__file__).resolve().parent.parent


def _sample_and_assign():  # type: ignore[no-untyped-def]
    from flows.timetable import FLOWS

    get_settings.cache_clear()
    return FLOWS["sample-and-assign"]


@pytest.mark.demo(seed=9, as_of="2026-11-25")
def test_sample_and_assign_flow_runs_and_reports(prefect_harness, cli, session: Session) -> None:
    state = _sample_and_assign()(as_of=date(2026, 12, 1), return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result["created"] and result["audits"] > 0
    assert (
        result["written"]
        == session.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
    )
    assert result["sent"] == 0  # no SMTP host is set: written as files, not sent
    statuses = {s for (s,) in session.execute(sa.select(EmailMessage.status))}
    assert statuses == {EmailStatus.WRITTEN}

    keys = artifacts_of(state)  # this run's own
    assert keys.get("selection-202612") == "table"
    assert keys.get("sample-makeup-202612") == "markdown"
    assert "selections-xlsx-202612" in keys  # a link artifact (Prefect stores it as markdown)


@pytest.mark.demo(seed=9, as_of="2026-11-25")
def test_sample_and_assign_flow_run_again_changes_nothing(
    prefect_harness, cli, session: Session
) -> None:
    """S11 through the flow too."""
    sample_and_assign = _sample_and_assign()
    first = sample_and_assign(as_of=date(2026, 12, 1))
    assert first["created"] and first["audits"] > 0
    emails = session.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
    again = sample_and_assign(as_of=date(2026, 12, 1))
    assert not again["created"] and again["written"] == 0
    assert (
        session.execute(sa.select(sa.func.count()).select_from(Audit)).scalar_one()
        == first["audits"]
    )
    assert (
        session.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
        == emails
    )


# Every deployment `yotqa serve` offers: one per job of the catalogue, the audit form in the
# Prefect UI and the outbox sender. The serve test expects the same list from the server.
DEPLOYMENTS = set(CATALOGUE) | {"record-audit", "send-outbox"}


def test_every_job_of_the_catalogue_has_a_row_of_the_shipped_timetable_and_each_row_a_job() -> None:
    rows = load_timetable(get_settings().timetable_file).entries
    assert {e.flow for e in rows} == set(CATALOGUE)
    # T1-T13 (T1 and T11 share one, T8 and T13 another), F1, F2, A2's self-audits (SA), A3's
    # supervisee summaries (SS), the chase
    assert len(CATALOGUE) == 16


@functools.cache
def _deployments() -> tuple[Any, ...]:
    """The deployments `yotqa serve` builds (on a fixed day); built once, read by the tests."""
    from deployments.build import build_deployments

    deployments = tuple(build_deployments(date(2026, 11, 25)))
    assert deployments, "no deployment built: nothing would be checked"
    return deployments


def test_deployments_are_the_jobs_the_audit_form_and_the_outbox() -> None:
    assert {d.name for d in _deployments()} == DEPLOYMENTS


def test_every_deployment_entrypoint_loads_its_flow() -> None:
    from prefect.flows import load_flow_from_entrypoint

    for d in _deployments():
        assert load_flow_from_entrypoint(d.entrypoint).name == d.flow_name, d.name


def test_every_deployment_but_the_audit_form_runs_one_at_a_time() -> None:
    """Many auditors fill in forms at once; the rest run one at a time."""
    for d in _deployments():
        if d.name != "record-audit":
            assert d.concurrency_limit == 1 or d.concurrency_options is not None, d.name


def test_every_schedule_has_a_stable_slug() -> None:
    """A redeploy never duplicates runs."""
    for d in _deployments():
        assert all(s.slug for s in d.schedules), d.name


def test_every_deployment_but_the_audit_form_has_a_schedule() -> None:
    """The form is started on demand."""
    for d in _deployments():
        assert d.schedules or d.name == "record-audit", d.name


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


# Imports the flow modules one after another in one fresh interpreter and writes, as JSON, what
# importing each changed (a change made by a module another imported first is that one's). The
# `flows` package itself comes first, with Prefect: its umask for personal data is on purpose.
_IMPORT_PROBE = """
import json, os, pathlib, sys, threading
sys.path.insert(0, sys.argv[1])
import prefect, flows

def state():
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    children = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    children.append(pid)
        except (OSError, ValueError, IndexError):
            pass
    umask = os.umask(0o077); os.umask(umask)
    return {
        "files": sorted(str(p) for p in pathlib.Path.cwd().rglob("*") if p.name != "printed"),
        "threads": sorted(t.name for t in threading.enumerate()),
        "open files and sockets": sorted(fds.values()),
        "child processes": children,
        "environment": dict(os.environ),
        "umask": umask,
        "working directory": os.getcwd(),
        "sys.path": list(sys.path),
    }

report = {}
for module in sys.argv[3:]:
    before = state()
    out, err = os.dup(1), os.dup(2)
    with open("printed", "w+b") as printed:
        os.dup2(printed.fileno(), 1); os.dup2(printed.fileno(), 2)
        try:
            __import__(module)
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(out, 1); os.dup2(err, 2); os.close(out); os.close(err)
        printed.seek(0)
        said = printed.read().decode(errors="replace")
    after = state()
    changed = {k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]}
    if said:
        changed["printed"] = said
    report[module] = changed
json.dump(report, open(sys.argv[2], "w"), default=str)
"""
FLOW_MODULES = sorted(
    f"flows.{p.stem}" for p in (ROOT / "flows").glob("*.py") if p.stem != "__init__"
)


@pytest.fixture(scope="module")
def import_changes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """What importing each flow module changed, in a fresh interpreter with its own folders."""
    work = tmp_path_factory.mktemp("import-probe")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "YOTQA_"))}
    env |= {
        "PREFECT_HOME": str(work / "prefect-home"),
        "YOTQA_DATABASE_URL": f"sqlite:///{work / 'yotqa.db'}",
        "YOTQA_OUTPUT_DIR": str(work / "var"),
        "DO_NOT_TRACK": "1",
    }
    report = work.parent / f"{work.name}.json"
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, str(ROOT), str(report), *FLOW_MODULES],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(report.read_text()))


@pytest.mark.xdist_group("flow-imports")  # one interpreter imports them all
@pytest.mark.parametrize("module", FLOW_MODULES)
def test_flow_modules_import_without_side_effects(
    module: str, import_changes: dict[str, dict[str, Any]]
) -> None:
    """Prefect imports each flow's module to load a deployment: importing one must do nothing
    else: no file written (the database, var/), nothing printed, no thread, socket, file or
    process left open, no change to the environment, umask, working directory or sys.path."""
    assert import_changes[module] == {}, f"importing {module} changed this"


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
        rows = {t for t in d.tags if re.fullmatch(r"[TF]\d+R?|SA|SS", t)}
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
