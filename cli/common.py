"""What every `yotqa` command shares: the consoles, error handling, dates and the database."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import NoReturn, TypeVar

import click
import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session
from typer.core import TyperGroup

from models.enums import LabelledEnum
from models.errors import InputFileError, YotqaError
from models.settings import get_settings
from tasks.recording.form import FormInvalid

E = TypeVar("E", bound=LabelledEnum)

# Piped output (scripts, CI logs) gets a wide fixed width so tables are not folded.
# Markup off: names from import files are printed as they are, brackets and all.
out = Console(
    highlight=False, markup=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160
)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


class Commands(TyperGroup):
    """Reports the product's own errors as one clear message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (InputFileError, FormInvalid) as exc:
            for line in exc.lines():
                err.print(line, markup=False)
            raise typer.Exit(1) from None
        except YotqaError as exc:
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(1) from None
        except OSError as exc:  # disk full, permission denied, a folder that is a file...
            where = f" {exc.filename}" if exc.filename else ""
            err.print(
                f"error: cannot write or read{where}: {exc.strerror or exc}. Nothing half-written "
                "was left in place: free some space or fix the permission, then run it again.",
                markup=False,
            )
            raise typer.Exit(1) from None


@contextmanager
def database_session() -> Iterator[Session]:
    """A session on the configured database (which must be at the current schema), closed after."""
    engine = ready_engine()
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def print_table(title: str, header: list[str], rows: Iterable[Sequence[object]]) -> None:
    table = Table(*header, title=title)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(table)


def choice_option(enum: type[E], value: str, option: str) -> E:
    """A --option naming a member of `enum`, or a usage error listing what is accepted."""
    try:
        return enum.parse(value)
    except ValueError:
        fail(f"{option} {value!r} is not known: expected one of {enum.expected()}", 2)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def date_option(value: str | None) -> date:
    from tasks.workdays import parse_date, today

    return parse_date(value) if value else today()


def ready_engine():  # type: ignore[no-untyped-def]
    """The configured database, which must be at the current schema."""
    from models.db import (
        check_connection,
        current_revision,
        describe_url,
        head_revision,
        make_engine,
    )

    settings = get_settings()
    engine = make_engine()
    check_connection(engine)
    revision = current_revision(engine)
    if revision != head_revision():
        engine.dispose()
        where = describe_url(settings.resolved_database_url)
        state = (
            "is not set up"
            if revision is None
            else f"is at schema {revision}, not {head_revision()}"
        )
        fail(f"the database {where} {state}: run `yotqa init` first")
    return engine
