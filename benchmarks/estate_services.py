"""The national estate benchmark's services (benchmarks/national_estate.py): N copies of one
demo service, each with its own folder and env file, deployed into one shared work pool, and
afterwards checked: each service's data and files its own, nothing made twice."""

from __future__ import annotations

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from benchmarks.processes import BIN, ROOT, Estate

POOL = "yotqa_shared"
AS_OF = "2026-10-01"  # the first working day of 2026-Q4; the demo is made as of 2026-09-25
DEMO_AS_OF, DEMO_SEED = "2026-09-25", 21


def demo_template(folder: Path, env: dict[str, str]) -> Path:
    """One demo service's SQLite database, made by `yotqa init` and `yotqa demo-data`."""
    db = folder / "template.db"
    settings = env | {
        "YOTQA_DATABASE_URL": f"sqlite:///{db}",
        "YOTQA_OUTPUT_DIR": str(folder / "template-var"),
    }
    for args in (["init"], ["demo-data", "--seed", str(DEMO_SEED), "--as-of", DEMO_AS_OF]):
        subprocess.run([str(BIN / "yotqa"), *args], cwd=ROOT, env=settings, check=True,
                       capture_output=True)  # fmt: skip
    return db


def make_services(folder: Path, template: Path, count: int) -> list[tuple[str, Path]]:
    """Service NAME's own copy of the database, output folder and env file, for each service."""
    services = []
    for n in range(1, count + 1):
        name = f"s{n:03d}"
        home = folder / name
        (home / "var").mkdir(parents=True)
        shutil.copy(template, home / "yotqa.db")
        env_file = home / "yotqa.env"
        env_file.write_text(
            f"YOTQA_DATABASE_URL=sqlite:///{home / 'yotqa.db'}\n"
            f"YOTQA_OUTPUT_DIR={home / 'var'}\n"
            f"YOTQA_SERVICE_NAME=Youth Justice Service {n}\n",
            encoding="utf-8",
        )
        services.append((name, env_file))
    return services


def deploy_all(
    estate: Estate, services: list[tuple[str, Path]], at_once: int
) -> tuple[float, list[float]]:
    """`yotqa deploy --service NAME --env-file FILE` for every service, `at_once` side by side."""

    def one(service: tuple[str, Path]) -> float:
        name, env_file = service
        started = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "yotqa"), "deploy", "--service", name, "--env-file", str(env_file),
             "--work-pool", POOL, "--prefect-file", str(env_file.parent / "prefect.yaml")],
            cwd=ROOT, env=estate.env, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"yotqa deploy --service {name} failed:\n{done.stdout}{done.stderr}")
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        each = list(pool.map(one, services))
    return time.perf_counter() - started, each


def check_services(services: list[tuple[str, Path]], since: datetime) -> list[str]:
    """What did not hold. Each service's database: October's sample drawn this morning, once (no
    sampler drew twice), every email once and written to its own outbox folder; its own folder:
    the exception report and the quarter's pack, the pack naming its own service (the name is
    only in that service's env file). All services are copies of one database, so all draw alike."""
    from tasks.workdays import Quarter

    quarter = str(Quarter.containing(datetime.fromisoformat(AS_OF).date()).previous())
    problems = []
    counts = set()
    for n, (name, env_file) in enumerate(services, 1):
        home = env_file.parent
        engine = sa.create_engine(f"sqlite:///{home / 'yotqa.db'}")
        with engine.connect() as c:
            runs = c.execute(sa.text(
                "SELECT kind, sampler_id, theme, count(*), min(run_at) FROM samplingrun "
                "WHERE period = '2026-10' GROUP BY kind, sampler_id, theme"
            )).all()  # fmt: skip
            audits = c.execute(
                sa.text("SELECT count(*) FROM audit WHERE period = '2026-10'")
            ).scalar()
            emails = c.execute(sa.text(
                "SELECT kind, CAST(to_addrs AS TEXT), subject, count(*) FROM emailmessage "
                "GROUP BY kind, CAST(to_addrs AS TEXT), subject"
            )).all()  # fmt: skip
        engine.dispose()
        if not runs or any(r[3] != 1 for r in runs):
            problems.append(
                f"{name}: October's sampling runs (kind, sampler, theme, count): {runs}"
            )
        early = [r for r in runs if str(r[4]) < since.strftime("%Y-%m-%d %H:%M")]
        if early:
            problems.append(
                f"{name}: {len(early)} of October's sampling runs were not this morning's"
            )
        if any(e[3] != 1 for e in emails):
            problems.append(
                f"{name}: emails made twice: {[e[:3] for e in emails if e[3] != 1][:3]}"
            )
        written = len(list((home / "var" / "outbox").glob("*.eml")))
        if written != len(emails):
            problems.append(
                f"{name}: {len(emails)} emails in its database, {written} in its outbox"
            )
        counts.add((len(runs), audits, len(emails)))
        packs = list((home / "var").rglob(f"*{quarter}*.md"))
        own = f"Youth Justice Service {n}\n"
        if not packs or not any(own in p.read_text(encoding="utf-8") + "\n" for p in packs):
            problems.append(f"{name}: no {quarter} pack naming its own service in its folder")
        if not list((home / "var").rglob("exceptions-2026-10.*")):
            problems.append(f"{name}: no exception report for 2026-10 in its own folder")
    if len(counts) > 1:
        problems.append(
            f"the services' mornings differ (sampling runs, audits, emails): {sorted(counts)}"
        )
    return problems
