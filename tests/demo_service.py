"""The demo service as a template: built once per worker, copied for each test that asks for it.

A test marked `@pytest.mark.demo(seed=..., as_of=...)` gets, from `db_url`, a database holding
exactly what `yotqa demo-data --seed SEED --as-of AS_OF` loads into an empty one (the demo's
files imported through the real importers), and the import files where that command writes
them (tmp_path / "var" / "demo"). `sampled_on=` draws that month's sample as well, and `env=`
sets environment variables while the template is built (the web pages' address, for the links
in the sample's emails). The tests of `yotqa demo-data` itself still load it for real.

On SQLite the template is a file, copied; on PostgreSQL a database, copied by the server
(`CREATE DATABASE ... TEMPLATE`). Either way each test has its own copy to change.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from models.db import make_engine, upgrade
from models.settings import get_settings

DEMO_DATA_DEFAULT_SEED = 2012  # what `yotqa demo-data` uses without --seed


@dataclass(frozen=True)
class Demo:
    seed: int
    as_of: date
    sampled_on: date | None = None
    env: tuple[tuple[str, str], ...] = ()


def _day(value: date | str | None) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def demo_of(node: pytest.Item) -> Demo | None:
    """The demo service the test's `demo` marker asks for, if it has one."""
    marker = node.get_closest_marker("demo")
    return None if marker is None else _demo(marker, node.nodeid)


def demo_of_mark(decorator: pytest.MarkDecorator) -> Demo:
    return _demo(decorator.mark, repr(decorator))


def _demo(marker: pytest.Mark, where: str) -> Demo:
    kwargs: dict[str, Any] = dict(marker.kwargs)
    unknown = set(kwargs) - {"seed", "as_of", "sampled_on", "env"}
    if marker.args or unknown or "as_of" not in kwargs:
        raise pytest.UsageError(
            f"{where}: use @pytest.mark.demo(as_of=..., seed=..., sampled_on=..., env=...)"
        )
    return Demo(
        seed=int(kwargs.get("seed", DEMO_DATA_DEFAULT_SEED)),
        as_of=_day(kwargs["as_of"]),  # type: ignore[arg-type]
        sampled_on=_day(kwargs.get("sampled_on")),
        env=tuple(sorted((kwargs.get("env") or {}).items())),
    )


def build_demo(url: str, demo: Demo, var: Path) -> None:
    """Migrate `url`, load the question sets and the demo service (and draw the month's sample),
    with the product's output folder at `var`."""
    from tasks.demo import load_demo, write_demo_files
    from tasks.sampling.monthly import sample_month
    from tests.conftest import _load_question_sets

    upgrade(url)
    _load_question_sets(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOTQA_OUTPUT_DIR", str(var))
        mp.delenv("YOTQA_WEB_SECRET", raising=False)
        for name, value in demo.env:
            mp.setenv(name, value)
        get_settings.cache_clear()
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            load_demo(session, write_demo_files(var / "demo", seed=demo.seed, as_of=demo.as_of))
            if demo.sampled_on:
                sample_month(session, demo.sampled_on)
            session.commit()
        engine.dispose()
    get_settings.cache_clear()


class DemoTemplates:
    """This worker's templates, one per demo service and backend, built on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite: dict[Demo, tuple[Path, Path]] = {}
        self.postgres: dict[Demo, tuple[str, Path]] = {}
        self.drops: list[Callable[[], None]] = []

    def _var(self, backend: str, demo: Demo) -> Path:
        return self.folder / f"{backend}-{len(self.sqlite) + len(self.postgres)}" / "var"

    def copy_sqlite(self, demo: Demo, path: Path, var: Path) -> None:
        if demo not in self.sqlite:
            template_var = self._var("sqlite", demo)
            db = template_var.parent / "yotqa.db"
            build_demo(f"sqlite:///{db}", demo, template_var)
            for leftover in ("-wal", "-shm"):  # the last connection closed: all in the file
                assert not Path(f"{db}{leftover}").exists(), f"{db}{leftover} left behind"
            self.sqlite[demo] = (db, template_var)
        db, template_var = self.sqlite[demo]
        shutil.copy(db, path)
        shutil.copytree(template_var, var, dirs_exist_ok=True)

    def copy_postgres(
        self, demo: Demo, server_url: str, var: Path
    ) -> tuple[str, Callable[[], None]]:
        from tests.conftest import new_postgres_database

        if demo not in self.postgres:
            template_var = self._var("postgresql", demo)
            url, drop = new_postgres_database(server_url)
            self.drops.append(drop)
            build_demo(url, demo, template_var)
            self.postgres[demo] = (str(sa.make_url(url).database), template_var)
        template, template_var = self.postgres[demo]
        shutil.copytree(template_var, var, dirs_exist_ok=True)
        return new_postgres_database(server_url, template=template)

    def close(self) -> None:
        for drop in self.drops:
            drop()


@pytest.fixture(scope="session")
def demo_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTemplates]:
    templates = DemoTemplates(tmp_path_factory.mktemp("demo-templates"))
    try:
        yield templates
    finally:
        templates.close()
