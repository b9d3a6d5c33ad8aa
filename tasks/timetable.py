"""The editable timetable of SPEC §6 (Appendix 5): loaded, checked, and laid out over the months ahead."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.enums import Role
from models.errors import DataFileError
from tasks.workdays import (
    MAX_WEEK,
    Month,
    Quarter,
    add_working_days,
    financial_year,
    first_working_day,
    is_working_day,
)

OTHER_LEADS = ("management_meeting", "board", "system")
_BEFORE = re.compile(r"^(\d+) working days? before deadline$")


class Entry(BaseModel):
    """One row of the timetable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Z][A-Z0-9]*$")
    task: str = Field(min_length=1)
    framework: str = ""
    lead: str
    frequency: Literal["monthly", "quarterly", "annually", "daily"]
    months: tuple[int, ...] = ()
    deadline_week: int | None = Field(default=None, ge=1, le=MAX_WEEK)
    runs: str = "first_working_day"
    time: dt.time = dt.time(7, 0)
    period: Literal["month", "previous_quarter", "financial_year"] | None = None
    flow: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    notes: str = ""

    @field_validator("lead")
    @classmethod
    def _lead(cls, value: str) -> str:
        if value not in {r.value for r in Role} | set(OTHER_LEADS):
            raise ValueError(
                f"expected a role ({', '.join(r.value for r in Role)}) or one of {', '.join(OTHER_LEADS)}"
            )
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= m <= 12 for m in value):
            raise ValueError("months are numbered 1 (January) to 12 (December)")
        return value

    @field_validator("runs")
    @classmethod
    def _runs(cls, value: str) -> str:
        if value not in (
            "first_working_day",
            "deadline",
            "every_working_day",
        ) and not _BEFORE.match(value):
            raise ValueError(
                "expected first_working_day, deadline, every_working_day or 'N working days before deadline'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Entry:
        expected = {"monthly": 0, "quarterly": 4, "annually": 1, "daily": 0}[self.frequency]
        if len(self.months) != expected:
            if self.frequency in ("monthly", "daily"):
                raise ValueError(f"a {self.frequency} entry runs every month: leave out 'months'")
            raise ValueError(f"a {self.frequency} entry lists {expected} month(s) in 'months'")
        if self.frequency == "daily":
            if self.runs != "every_working_day" or self.deadline_week is not None:
                raise ValueError("a daily entry has runs: every_working_day and no deadline_week")
        else:
            if self.deadline_week is None:
                raise ValueError("'deadline_week' is required (1 to 4)")
            if self.runs == "every_working_day":
                raise ValueError("every_working_day is only for daily entries")
        return self

    @property
    def covers(self) -> str:
        if self.period:
            return self.period
        return {"monthly": "month", "quarterly": "previous_quarter"}.get(
            self.frequency, "financial_year"
        )

    def runs_in(self, month: Month) -> bool:
        return self.frequency == "monthly" or month.month in self.months

    def run_date(self, month: Month) -> date:
        deadline = self.deadline(month)
        if self.runs == "first_working_day":
            return min(first_working_day(month.year, month.month), deadline)
        if self.runs == "deadline":
            return deadline
        match = _BEFORE.match(self.runs)
        if match is None:  # cannot happen: the validators allow no other form of runs here
            raise ValueError(f"timetable entry {self.id} runs {self.runs!r}: not a known time")
        before = int(match[1])
        return max(add_working_days(deadline, -before), first_working_day(month.year, month.month))

    def deadline(self, month: Month) -> date:
        if self.deadline_week is None:
            raise ValueError(f"timetable entry {self.id} has no deadline week")
        return month.deadline(self.deadline_week)

    def period_label(self, month: Month) -> str:
        if self.covers == "month":
            return str(month)
        if self.covers == "previous_quarter":
            return str(Quarter.containing(month.first_day).previous())
        return str(financial_year(month.first_day))


@dataclass(frozen=True)
class Timetable:
    entries: tuple[Entry, ...]
    source: Path

    @property
    def scheduled(self) -> list[Entry]:
        return [e for e in self.entries if e.frequency != "daily"]

    @property
    def daily(self) -> list[Entry]:
        return [e for e in self.entries if e.frequency == "daily"]


@dataclass(frozen=True)
class Run:
    """One run of a timetable entry: when it starts, what period it covers, when it is due."""

    entry: Entry
    run_on: date
    period: str
    deadline: date


def load_timetable(path: Path) -> Timetable:
    """Read and check the timetable file; every mistake is named by entry and field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(
            f"timetable file not found: {path} (set YOTQA_TIMETABLE_FILE)"
        ) from None
    except yaml.YAMLError as exc:
        raise DataFileError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise DataFileError(f"{path.name}: expected a list under 'entries:'")
    entries, problems = [], []
    for index, raw in enumerate(data["entries"], start=1):
        label = f"entry {index}" + (
            f" ({raw.get('id')})" if isinstance(raw, dict) and raw.get("id") else ""
        )
        try:
            entries.append(Entry.model_validate(raw))
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "(entry)"
                problems.append(f"{path.name}: {label}: field '{field}': {err['msg']}")
    ids = [e.id for e in entries]
    problems += [
        f"{path.name}: id {i} is used more than once"
        for i in sorted({i for i in ids if ids.count(i) > 1})
    ]
    if problems:
        raise DataFileError("\n".join(problems))
    return Timetable(tuple(entries), path)


def runs_between(timetable: Timetable, start: date, months: int) -> list[Run]:
    """Every scheduled (non-daily) run from `start` through the next `months` calendar months."""
    first = Month.of(start)
    runs = []
    for offset in range(months):
        month = first.next(offset)
        for entry in timetable.scheduled:
            if entry.runs_in(month) and entry.run_date(month) >= start:
                runs.append(
                    Run(
                        entry,
                        entry.run_date(month),
                        entry.period_label(month),
                        entry.deadline(month),
                    )
                )
    return sorted(runs, key=lambda r: (r.run_on, _order(r.entry.id)))


def working_days_in(start: date, months: int) -> list[date]:
    end = Month.of(start).next(months).first_day
    return [
        start + timedelta(days=i)
        for i in range((end - start).days)
        if is_working_day(start + timedelta(days=i))
    ]


def _order(entry_id: str) -> tuple[int, int, str]:
    """Appendix 5's rows (T1-T13) in number order first, then the others (Fig. 2's F1, F2)."""
    digits = "".join(ch for ch in entry_id if ch.isdigit())
    return (0 if entry_id.startswith("T") else 1, int(digits) if digits else 999, entry_id)
