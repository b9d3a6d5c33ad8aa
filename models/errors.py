"""The product's exceptions: each says what is wrong and how to put it right."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError


class YotqaError(Exception):
    """Base of every error the command line reports as a message rather than a traceback."""


class InvalidInput(YotqaError, ValueError):
    """A value typed by a user (a date, a month, a week) that is not in the expected form."""


class FieldProblems(InvalidInput):
    """Input with one or more fields wrong; each message names what to put right (a page shows
    each beside its field, the command line prints them all)."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


@dataclass(frozen=True)
class CellError:
    """One bad cell: the file, its row as a spreadsheet numbers it, the column and what was wrong."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f": row {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class InputFileError(YotqaError):
    """A file that cannot be taken in whole; lists every problem found, one per cell."""

    def __init__(self, file: str, errors: list[CellError], what: str = "nothing was imported"):
        self.file = file
        self.errors = errors
        self.what = what
        noun = "error" if len(errors) == 1 else "errors"
        super().__init__(f"{len(errors)} {noun} in {file}; {what}")

    SHOWN = 100  # a file with thousands of bad cells: the first ones, then a count per column

    def lines(self) -> list[str]:
        shown = [str(e) for e in self.errors[: self.SHOWN]]
        hidden = self.errors[self.SHOWN :]
        if hidden:
            counts: dict[str, int] = {}
            for e in self.errors:
                key = f"column '{e.column}'" if e.column else "whole rows"
                counts[key] = counts.get(key, 0) + 1
            shown.append(
                f"{self.file}: ... and {len(hidden):,} more errors not shown. All errors by column: "
                + ", ".join(f"{k} {n:,}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
            )
        return shown + [str(self)]


class DataFileError(YotqaError):
    """A shipped or edited data file (timetable, question set) that does not validate."""

    @classmethod
    def invalid(cls, name: str, exc: ValidationError) -> DataFileError:
        """The file `name` failed validation: each field that is wrong, and why."""
        return cls(
            f"{name}: "
            + "; ".join(
                f"field '{'.'.join(str(p) for p in e['loc']) or '(top)'}': {e['msg']}"
                for e in exc.errors()
            )
        )


class ConfigError(YotqaError):
    """A setting (environment variable or .env) that cannot be used."""
