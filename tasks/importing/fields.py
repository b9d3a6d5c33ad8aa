"""Reads the cells of one row into typed values, noting every bad cell with what was expected."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from models.enums import LabelledEnum
from models.errors import CellError
from tasks.ethnicity import accepted, census_name
from tasks.importing.reader import Table
from tasks.importing.reader import cell_text as cell_text  # where plan.py and others take it from

E = TypeVar("E", bound=LabelledEnum)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UK = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
# A person's name: letters of any alphabet, with spaces, hyphens, apostrophes and full stops
# between them. Markup, formulas and SQL fragments in a name are refused, not stored.
_NAME = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '\u2019.\-])*$")
_FORMULA_START = ("=", "+", "-", "@")
_TRUE = {"true", "yes", "y", "1", "active"}
_FALSE = {"false", "no", "n", "0", "inactive", "left"}


class RowReader:
    """One row's cells; each accessor returns None and records a CellError when a cell is bad."""

    def __init__(
        self,
        file: str,
        row: int,
        record: dict[str, Any],
        errors: list[CellError],
        personal: frozenset[str] = frozenset(),
        date_format: str | None = None,
    ):
        self.file, self.row, self.record, self.errors = file, row, record, errors
        # Cells of personal data are never echoed into messages (E5).
        self.personal = personal
        # A profile's strptime format for every date cell (O3); else YYYY-MM-DD.
        self.date_format = date_format
        self.ok = True
        # A row the file format could not deliver (an overlong or unreadable field): one error
        # for the row, and its cells are not checked one by one.
        self.readable = "__error__" not in record
        if not self.readable:
            self.error(None, record["__error__"])

    def error(self, column: str | None, message: str) -> None:
        self.ok = False
        self.errors.append(CellError(self.file, self.row, column, message))

    def _show(self, column: str, value: str) -> str:
        return "the value (not shown: personal data)" if column in self.personal else _quote(value)

    def text(self, column: str, *, required: bool = True, max_length: int = 200) -> str | None:
        value = cell_text(self.record.get(column))
        if not value:
            if required:
                self.error(column, "a value is required here")
                return None
            return ""
        if len(value) > max_length:
            self.error(column, f"{len(value):,} characters is too long: at most {max_length}")
            return None
        return value

    def name(self, column: str, *, required: bool = True) -> str | None:
        """A person's name (staff or young person): letters, spaces, hyphens, apostrophes, dots."""
        value = self.text(column, required=required, max_length=200)
        if value and not _NAME.match(value):
            self.error(
                column,
                f"{self._show(column, value)} is not a person's name: use letters, spaces, "
                "hyphens, apostrophes and full stops only (no markup, formulas or symbols)",
            )
            return None
        return value

    def label(self, column: str, *, required: bool = True, max_length: int = 120) -> str | None:
        """A short label such as a team's name: no markup, and not a spreadsheet formula."""
        value = self.text(column, required=required, max_length=max_length)
        if value and (value.startswith(_FORMULA_START) or any(c in value for c in "<>;")):
            self.error(
                column,
                f"{_quote(value)} cannot be used as a name here: it may not start with = + - @ "
                "or hold < > ;",
            )
            return None
        return value

    def email(self, column: str, *, required: bool = True) -> str | None:
        value = self.text(column, required=required, max_length=254)
        if not value:
            return value
        if not _EMAIL.match(value):
            self.error(
                column,
                f"{self._show(column, value)} is not an email address: expected name@example.org",
            )
            return None
        return value.lower()

    def _date_form(self) -> str:
        return (
            f"a date like {date(2026, 11, 25):{self.date_format}}"
            if self.date_format
            else "YYYY-MM-DD"
        )

    def _formatted_date(self, column: str, value: str, form: str) -> date | None:
        try:
            return datetime.strptime(value, form).date()  # noqa: DTZ007 (a date, no time zone)
        except ValueError:
            self.error(
                column,
                f"{self._show(column, value)} is not {self._date_form()} "
                f"(the profile's date_format {form!r})",
            )
            return None

    def date(self, column: str, *, required: bool = True) -> date | None:
        raw = self.record.get(column)
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        value = cell_text(raw)
        if not value:
            if required:
                self.error(column, f"a date is required here: expected {self._date_form()}")
            return None
        if self.date_format:
            return self._formatted_date(column, value, self.date_format)
        if _ISO.match(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                self.error(
                    column, f"{self._show(column, value)} is not a real date: expected YYYY-MM-DD"
                )
                return None
        hint = ""
        if (uk := _UK.match(value)) and column not in self.personal:
            hint = f" (if this is day/month/year, write {uk[3]}-{int(uk[2]):02d}-{int(uk[1]):02d})"
        elif uk:
            hint = " (it looks like day/month/year: write year-month-day)"
        elif value.isdigit():
            hint = " (a spreadsheet date serial: format the column as a date, YYYY-MM-DD)"
        self.error(
            column, f"{self._show(column, value)} is not a date in the form YYYY-MM-DD{hint}"
        )
        return None

    def choice(self, column: str, enum: type[E], *, required: bool = True) -> E | None:
        value = cell_text(self.record.get(column))
        if not value:
            if required:
                self.error(column, f"a value is required here: one of {enum.expected()}")
            return None
        try:
            return enum.parse(value)
        except ValueError:
            noun = re.sub(r"(?<!^)([A-Z])", r" \1", enum.__name__).lower()
            self.error(
                column,
                f"{self._show(column, value)} is not a known {noun}: expected one of {enum.expected()}",
            )
            return None

    def ethnicity(self, column: str) -> str | None:
        """An ethnicity by 2021 census name, DfE code or known label: its census name (S5, O3)."""
        value = self.label(column)
        if not value:
            return value
        name = census_name(value)
        if name is None:
            self.error(
                column, f"{_quote(value)} is not an ethnicity this product knows: use {accepted()}"
            )
        return name

    def team(self, column: str, teams: dict[str, int]) -> int | None:
        """A team named as the staff list names it; its id, or None noting what is known."""
        name = self.label(column)
        if name and name not in teams:
            known = ", ".join(sorted(teams)) or "none yet: import the staff list first"
            self.error(column, f"unknown team {name!r}: expected one of {known}")
        return teams.get(name or "")

    def boolean(self, column: str, *, default: bool) -> bool | None:
        value = cell_text(self.record.get(column)).lower()
        if isinstance(self.record.get(column), bool):
            return bool(self.record[column])
        if not value:
            return default
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.error(
            column,
            f"{self._show(column, value)} is not yes or no: expected true/false, yes/no or 1/0",
        )
        return None


def readable_rows(
    table: Table, errors: list[CellError], personal: frozenset[str] = frozenset()
) -> Iterator[RowReader]:
    """A reader of each row of `table` the file could deliver; a row it could not deliver is
    one error in `errors` (the reader notes it) and is not checked cell by cell."""
    for number, record in table.rows:
        cells = RowReader(
            table.name, number, record, errors, personal=personal, date_format=table.date_format
        )
        if cells.readable:
            yield cells


def _quote(value: str, limit: int = 60) -> str:
    """A cell value quoted for an error message, cut short if long."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def enum_values(enum: type[Enum]) -> list[str]:
    return [str(m.value) for m in enum]
