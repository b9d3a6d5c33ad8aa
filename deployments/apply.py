"""Apply a generated prefect.yaml to the Prefect server in this process, as `prefect --no-prompt
deploy --all --prefect-file` would (issue 16).

`prefect deploy` as a subprocess took about 28 s a service on these 2-core machines (it starts
Prefect, imports every flow and builds each deployment again): 70 minutes for 150 services. Here
the flows are already imported and each deployment is a few API calls. The file stays the
record of what was deployed: every deployment is made from its entry, through the same
RunnerDeployment and the same schedule conversion the CLI uses (`prefect.cli.deploy._core`,
Prefect 3.9), so a redeploy keeps the schedules' slugs and never duplicates runs.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from typing import Any

from prefect import Flow
from prefect._internal.versioning import get_inferred_version_info
from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule
from prefect.cli.deploy._storage import _PullStepStorage
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import VersionInfo
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.utilities.asyncutils import run_coro_as_sync
from prefect.workers.process import ProcessWorker

from models.errors import ConfigError

# Deployments sent to the server at once: the API answers several while one waits on its database.
AT_ONCE = 4


def _flow(root: Path, entrypoint: str) -> Flow[..., Any]:
    """The flow an entrypoint such as `flows/timetable.py:sample_and_assign` names, imported
    as a module of this checkout (once, unlike the CLI's loading of the file per deployment)."""
    path, _, attribute = entrypoint.partition(":")
    module = (root / path).relative_to(root).with_suffix("").as_posix().replace("/", ".")
    found = getattr(importlib.import_module(module), attribute, None)
    if not isinstance(found, Flow):
        raise ConfigError(f"entrypoint {entrypoint!r}: {attribute!r} is not a flow in {path}")
    return found


async def _ensure_pool(name: str) -> bool:
    """Create the process work pool `name` unless it exists; True if it was created."""
    async with get_client() as client:
        try:
            await client.read_work_pool(name)
            return False
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            try:
                await client.create_work_pool(
                    WorkPoolCreate(name=name, type="process", base_job_template=template)
                )
            except ObjectAlreadyExists:  # another service's `yotqa deploy`, at the same moment
                return False
            return True


async def _apply_one(
    entry: dict[str, Any],
    flow: Flow[..., Any],
    pull_steps: list[dict[str, Any]],
    inferred: VersionInfo | None,
) -> str:
    limit = entry.get("concurrency_limit")
    deployment = RunnerDeployment(
        name=entry["name"],
        flow_name=flow.name,
        entrypoint=entry["entrypoint"],
        work_pool_name=entry["work_pool"]["name"],
        work_queue_name=entry["work_pool"].get("work_queue_name"),
        job_variables=entry["work_pool"].get("job_variables") or {},
        parameters=entry.get("parameters") or {},
        description=entry.get("description"),
        tags=entry.get("tags") or [],
        concurrency_limit=limit["limit"] if isinstance(limit, dict) else limit,
        concurrency_options=(
            {"collision_strategy": limit["collision_strategy"]} if isinstance(limit, dict) else None
        ),
        storage=_PullStepStorage(pull_steps),
    )
    deployment._set_defaults_from_flow(flow)
    # The version as RunnerDeployment would infer it (from git), found once for all of them.
    if inferred is not None:
        deployment.version = inferred.version
        version_info = inferred.model_copy(update={"version": deployment.version})
    else:
        version_info = VersionInfo(version=deployment.version or "", type="prefect:simple")
    # None, not [], for none: an empty list on a redeploy is deprecated (Prefect warns).
    schedules = [_schedule_config_to_deployment_schedule(s) for s in entry["schedules"]] or None
    await deployment.aapply(schedules=schedules, version_info=version_info)
    return f"{flow.name}/{entry['name']}"


async def _apply(document: dict[str, Any], root: Path, home: str, at_once: int) -> list[str]:
    # `{{ $YOTQA_HOME }}` is filled in now with the deploying checkout, as `prefect deploy` did
    # (it templates `$VARIABLES` from its environment), so workers need no YOTQA_HOME.
    text = json.dumps(document.get("pull") or []).replace("{{ $YOTQA_HOME }}", home)
    pull_steps = json.loads(text)
    inferred = await get_inferred_version_info()
    gate = asyncio.Semaphore(at_once)

    async def one(entry: dict[str, Any]) -> str:
        async with gate:
            return await _apply_one(entry, _flow(root, entry["entrypoint"]), pull_steps, inferred)

    return list(await asyncio.gather(*(one(e) for e in document["deployments"])))


def ensure_pool(name: str) -> bool:
    """Create the process work pool `name` on the server unless it exists (True if created)."""
    return bool(run_coro_as_sync(_ensure_pool(name)))


def apply_prefect_yaml(
    document: dict[str, Any], root: Path, home: str, at_once: int = AT_ONCE
) -> list[str]:
    """Create or update every deployment in `document` (a prefect.yaml as written by
    deployments/prefect_yaml.py) on the server at PREFECT_API_URL, `at_once` at a time; their
    names, as flow/deployment."""
    return list(run_coro_as_sync(_apply(document, root, home, at_once)) or [])
