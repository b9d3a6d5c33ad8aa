"""The working-day calendar (D1) and the periods the framework speaks of (SPEC §6).

Working days are Monday to Friday less the bank holidays of England and Wales, substitute
days included; dates are calendar dates in Europe/London.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays
import pendulum

from models.errors import InvalidInput

TIMEZONE = "Europe/London"
MAX_WEEK = 4  # day 7 x 4 = 28 exists in every month


class CalendarInputError(InvalidInput):
    """A month, week or period written in a form the calendar does not accept."""


@lru_cache(maxsize=1)
def _bank_holidays() -> holidays.HolidayBase:
    # England and Wales share one list of bank holidays; "(observed)" entries are substitute days.
    return holidays.country_holidays("GB", subdiv="ENG")


def today() -> date:
    """Today's date in Europe/London (not the machine's zone, not UTC)."""
    return london_date(pendulum.now("UTC"))


def london_date(instant: datetime) -> date:
    """The calendar date in Europe/London at an aware instant, summer time included."""
    if instant.tzinfo is None:
        raise ValueError("a naive datetime has no instant: attach a time zone")
    return pendulum.instance(instant).in_timezone(TIMEZONE).date()


def london_time(instant: datetime) -> datetime:
    """An aware instant as the wall-clock time in Europe/London, for people to read."""
    if instant.tzinfo is None:
        raise ValueError("a naive datetime has no instant: attach a time zone")
    return pendulum.instance(instant).in_timezone(TIMEZONE)


def london_midnight(day: date) -> datetime:
    """The instant a calendar day begins in Europe/London, for comparing stored UTC times."""
    return pendulum.datetime(day.year, day.month, day.day, tz=TIMEZONE)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays()


def working_day_on_or_before(day: date) -> date:
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def working_day_on_or_after(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def add_working_days(day: date, count: int) -> date:
    """The date `count` working days after (or, if negative, before) `day`."""
    step = 1 if count >= 0 else -1
    for _ in range(abs(count)):
        day += timedelta(days=step)
        while not is_working_day(day):
            day += timedelta(days=step)
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count


def end_of_week(year: int, month: int, week: int) -> date:
    """D1: "by the end of the Nth week" is the last working day on or before day 7N."""
    if not 1 <= week <= MAX_WEEK:
        raise CalendarInputError(f"week must be 1 to {MAX_WEEK}, not {week}")
    return working_day_on_or_before(date(year, month, 7 * week))


def first_working_day(year: int, month: int) -> date:
    return working_day_on_or_after(date(year, month, 1))


# --- Periods -------------------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def next(self, months: int = 1) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def deadline(self, week: int) -> date:
        return end_of_week(self.year, self.month, week)

    def as_of(self, today: date) -> date:
        """The day the month's outputs are compiled for: its last day once it has ended, today
        while it runs; a month not yet begun has nothing to compile."""
        if today < self.first_day:
            raise InvalidInput(f"{self} has not started yet")
        return min(self.last_day, today)

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.match(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise CalendarInputError(f"{text!r} is not a month: expected YYYY-MM, e.g. 2026-11")
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, order=True)
class Quarter:
    """A UK financial quarter: 2026-Q1 is April to June 2026, 2026-Q4 January to March 2027."""

    year: int
    number: int

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def months(self) -> list[Month]:
        start = Month(self.year, 4).next(3 * (self.number - 1))
        return [start, start.next(), start.next(2)]

    @property
    def first_day(self) -> date:
        return self.months[0].first_day

    @property
    def last_day(self) -> date:
        return self.months[-1].last_day

    def previous(self) -> Quarter:
        return (
            Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)
        )

    @classmethod
    def containing(cls, day: date) -> Quarter:
        fy = financial_year(day)
        return cls(fy, (day.month - 4) % 12 // 3 + 1)

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = _QUARTER.match(text.strip())
        if not match:
            raise CalendarInputError(
                f"{text!r} is not a quarter: expected YYYY-QN, e.g. 2026-Q3 (October-December 2026)"
            )
        return cls(int(match.group(1)), int(match.group(2)))


def financial_year(day: date) -> int:
    """The financial year (April to March) a date falls in, named by the year it starts in."""
    return day.year if day.month >= 4 else day.year - 1


def parse_financial_year(text: str) -> int:
    match = _YEAR.match(text.strip())
    if not match:
        raise CalendarInputError(f"{text!r} is not a financial year: expected YYYY, e.g. 2026")
    return int(match.group(1))


def parse_date(text: str) -> date:
    """An ISO date YYYY-MM-DD, or a clear error."""
    try:
        if not _ISO_DATE.match(text.strip()):
            raise ValueError(text)
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CalendarInputError(
            f"{text!r} is not a date: expected YYYY-MM-DD, e.g. 2026-11-20"
        ) from None
