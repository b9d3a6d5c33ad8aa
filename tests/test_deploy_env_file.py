"""Services on shared workers (issue 16): `yotqa deploy --service NAME --env-file PATH`.

Two workers must serve 150 services, so a service's runs carry its settings instead of its
workers: every deployment gets the job variable `env: {YOTQA_ENV_FILE: <absolute path>}`, and
`get_settings()` then reads that file alone, so a worker's own YOTQA_* settings can never send a
run to another service's data. The deployments are applied in-process (deployments/apply.py),
and must come out as `prefect deploy` made them. The end-to-end run on two workers is
benchmarks/national_estate.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from models.errors import ConfigError
from models.settings import ENV_FILE_VARIABLE, get_settings
from tests.conftest import Cli


@pytest.fixture
def no_env_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """YOTQA_ENV_FILE unset now and again after the test (`yotqa deploy` sets it in-process)."""
    monkeypatch.setenv(ENV_FILE_VARIABLE, "")
    monkeypatch.delenv(ENV_FILE_VARIABLE)
    get_settings.cache_clear()


def _service(folder: Path, name: str) -> Path:
    env_file = folder / f"{name}.env"
    env_file.write_text(
        f"YOTQA_DATABASE_URL=sqlite:///{folder / name}.db\n"
        f"YOTQA_OUTPUT_DIR={folder / name}\n"
        f"YOTQA_SERVICE_NAME={name.title()} YOT\n",
        encoding="utf-8",
    )
    return env_file


def test_the_env_file_alone_decides_a_runs_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_env_file: None
) -> None:
    monkeypatch.setenv("YOTQA_DATABASE_URL", "sqlite:////elsewhere/worker.db")
    monkeypatch.setenv("YOTQA_SMTP_HOST", "worker-smtp.example")
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(_service(tmp_path, "north")))
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'north'}.db"
    assert settings.output_dir == tmp_path / "north"
    assert settings.service_name == "North YOT"
    assert settings.smtp_host == "", "the worker's own settings are ignored"

    monkeypatch.setenv(ENV_FILE_VARIABLE, str(tmp_path / "gone.env"))
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match=r"YOTQA_ENV_FILE='.*gone\.env': no such file"):
        get_settings()
    get_settings.cache_clear()


def test_deploy_with_an_env_file_writes_it_on_every_deployment_for_a_shared_pool(
    offline_cli: Cli, tmp_path: Path, no_env_file: None
) -> None:
    env_file = _service(tmp_path, "north")
    target = tmp_path / "north.yaml"
    done = offline_cli("deploy", "--service", "north", "--env-file", str(env_file),
                       "--prefect-file", str(target), "--write-only")  # fmt: skip
    assert done.exit_code == 0, done.output
    document = yaml.safe_load(target.read_text(encoding="utf-8"))
    deployments = document["deployments"]
    assert deployments and all(d["name"].endswith("-north") for d in deployments)
    for d in deployments:
        assert d["work_pool"]["name"] == "yotqa_shared"
        assert d["work_pool"]["job_variables"] == {"env": {"YOTQA_ENV_FILE": str(env_file)}}
        assert "service:north" in d["tags"]

    relative = offline_cli("deploy", "--service", "north", "--env-file", "missing.env",
                           "--write-only", "--prefect-file", str(target))  # fmt: skip
    assert relative.exit_code == 1 and "missing.env: no such file" in relative.output
    alone = offline_cli(
        "deploy", "--env-file", str(env_file), "--write-only", "--prefect-file", str(target)
    )
    assert alone.exit_code == 1 and "--env-file needs --service" in alone.output

    # Without --env-file nothing changes: the service's own pool, no job variables.
    own_pool = offline_cli("deploy", "--service", "north", "--write-only",
                                   "--prefect-file", str(target))  # fmt: skip
    assert own_pool.exit_code == 0, own_pool.output
    own = yaml.safe_load(target.read_text(encoding="utf-8"))["deployments"]
    assert {d["work_pool"]["name"] for d in own} == {"yotqa-north"}
    assert not any("job_variables" in d["work_pool"] for d in own)


@pytest.mark.slow  # the shared Prefect test server; applying 36 deployments is about 10 s
@pytest.mark.usefixtures("prefect_harness")
def test_applied_in_process_as_prefect_deploy_would_and_again_without_duplicates(
    tmp_path: Path, no_env_file: None
) -> None:
    from datetime import date

    from prefect.client.orchestration import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    from deployments.apply import apply_prefect_yaml, ensure_pool
    from deployments.prefect_yaml import ROOT, prefect_yaml

    env_file = _service(tmp_path, "east")
    document = prefect_yaml(date(2026, 11, 25), "yotqa_shared", "east", env_file)
    assert ensure_pool("yotqa_shared") in (True, False)
    assert ensure_pool("yotqa_shared") is False, "the pool is made once"
    names = apply_prefect_yaml(document, ROOT, home=str(ROOT))
    again = apply_prefect_yaml(document, ROOT, home=str(ROOT))
    assert names == again and len(names) == len(document["deployments"])

    async def read(name: str) -> Any:
        async with get_client() as client:
            return await client.read_deployment_by_name(name)

    sample = run_coro_as_sync(read("sample-and-assign/sample-and-assign-east"))
    assert sample is not None
    assert sample.work_pool_name == "yotqa_shared"
    assert sample.job_variables == {"env": {"YOTQA_ENV_FILE": str(env_file)}}
    assert sample.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
    ]
    assert sample.entrypoint == "flows/timetable.py:sample_and_assign"
    assert [s.slug for s in sample.schedules] == ["sample-and-assign-timetable"], "no duplicate"
    assert sample.global_concurrency_limit and sample.global_concurrency_limit.limit == 1
    assert "as_of" in sample.parameter_openapi_schema["properties"]
    form = run_coro_as_sync(read("record-audit/record-audit-east"))
    assert form is not None and not form.schedules
