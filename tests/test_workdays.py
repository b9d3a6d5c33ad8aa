"""D1: "by the end of the Nth week of the month" and the periods of SPEC §6."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from models.errors import InvalidInput
from tasks.workdays import (
    Month,
    Quarter,
    add_working_days,
    end_of_week,
    financial_year,
    is_working_day,
    london_date,
    parse_date,
    parse_financial_year,
    working_days_between,
)


@pytest.mark.parametrize(
    ("year", "month", "week", "expected", "why"),
    [
        (2026, 11, 3, date(2026, 11, 20), "day 21 is a Saturday: back to Friday"),
        (2026, 11, 1, date(2026, 11, 6), "day 7 is a Saturday"),
        (2026, 10, 1, date(2026, 10, 7), "day 7 is a Wednesday: itself"),
        (2026, 2, 4, date(2026, 2, 27), "day 28 is a Saturday"),
        (2028, 4, 2, date(2028, 4, 13), "day 14 is Good Friday"),
        (2025, 4, 3, date(2025, 4, 17), "day 21 is Easter Monday, day 18 Good Friday"),
        (2026, 12, 4, date(2026, 12, 24), "day 28 is the substitute Boxing Day, Christmas week"),
        (2021, 12, 4, date(2021, 12, 24), "27 and 28 December both substitute days"),
        (2020, 12, 4, date(2020, 12, 24), "day 28 is the substitute Boxing Day"),
    ],
)
def test_end_of_week_is_last_working_day_on_or_before_day_7n(
    year, month, week, expected, why
) -> None:
    assert end_of_week(year, month, week) == expected, why


@pytest.mark.parametrize("week", [0, 5, -1])
def test_end_of_week_refuses_weeks_outside_1_to_4(week: int) -> None:
    with pytest.raises(InvalidInput, match="week must be 1 to 4"):
        end_of_week(2026, 11, week)


def test_working_days_skip_weekends_and_bank_holidays_of_england_and_wales() -> None:
    assert not is_working_day(date(2026, 12, 28))  # substitute Boxing Day
    assert not is_working_day(date(2026, 8, 31))  # late summer bank holiday
    assert not is_working_day(date(2026, 11, 21))  # Saturday
    assert is_working_day(date(2026, 11, 25))
    assert add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    assert add_working_days(date(2026, 12, 29), -1) == date(2026, 12, 24)
    assert working_days_between(date(2026, 12, 24), date(2027, 1, 4)) == 4  # 29, 30, 31 Dec, 4 Jan


def test_quarters_follow_the_uk_financial_year() -> None:
    assert str(Quarter.containing(date(2026, 4, 1))) == "2026-Q1"
    assert str(Quarter.containing(date(2027, 3, 31))) == "2026-Q4"
    assert [str(m) for m in Quarter.parse("2026-Q4").months] == ["2027-01", "2027-02", "2027-03"]
    assert Quarter.parse("2026-Q1").previous() == Quarter(2025, 4)
    assert financial_year(date(2027, 1, 15)) == 2026
    assert Month.parse("2026-12").next() == Month(2027, 1)
    assert Month(2026, 2).last_day == date(2026, 2, 28)
    assert Quarter.parse("2026-q4").last_day == date(2027, 3, 31)
    assert parse_financial_year("2026") == 2026
    with pytest.raises(InvalidInput, match="expected YYYY"):
        parse_financial_year("2026/27")


@pytest.mark.parametrize("text", ["2026-13", "26-11", "November", "2026/11"])
def test_month_in_wrong_form_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(InvalidInput, match="expected YYYY-MM"):
        Month.parse(text)


@pytest.mark.parametrize("text", ["20/11/2026", "2026-02-30", "20261120", ""])
def test_date_in_wrong_form_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(InvalidInput, match="expected YYYY-MM-DD"):
        parse_date(text)


def test_calendar_deadline_command_prints_iso_date(offline_cli) -> None:
    result = offline_cli("calendar", "deadline", "2026-11", "3")
    assert result.exit_code == 0
    assert result.stdout.strip() == "2026-11-20"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("2026-11", "5"), "week must be 1 to 4"),
        (("2026-11", "three"), "week must be a number"),
        (("11-2026", "3"), "expected YYYY-MM"),
    ],
)
def test_calendar_deadline_command_explains_bad_input(offline_cli, args, message) -> None:
    result = offline_cli("calendar", "deadline", *args)
    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_dates_are_taken_in_europe_london_across_daylight_saving() -> None:
    """D1: 23:30 UTC is already tomorrow in British Summer Time, still today in winter."""
    assert london_date(datetime(2026, 7, 1, 23, 30, tzinfo=UTC)) == date(2026, 7, 2)
    assert london_date(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) == date(2026, 12, 1)
    assert london_date(datetime(2026, 3, 29, 0, 30, tzinfo=UTC)) == date(
        2026, 3, 29
    )  # the clocks go forward at 01:00
    with pytest.raises(ValueError, match="naive"):
        london_date(datetime(2026, 7, 1, 12, 0))  # noqa: DTZ001
