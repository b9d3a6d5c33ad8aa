"""The timetable (SPEC §6, App. 5) as an editable, validated data file."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from models.errors import DataFileError
from models.settings import get_settings
from tasks.timetable import load_timetable, runs_between
from tasks.workdays import is_working_day

SHIPPED = get_settings().timetable_file


def test_shipped_timetable_has_t1_to_t13_and_the_daily_chase() -> None:
    tt = load_timetable(SHIPPED)
    ids = [e.id for e in tt.scheduled]
    assert ids == [f"T{i}" for i in range(1, 10)] + ["T9R"] + [f"T{i}" for i in range(10, 14)] + [
        "F1",
        "F2",
        "SA",
        "SS",
    ]  # T9's report in December; Fig. 2's monthly reports; A2's self-audits, A3's summaries
    assert [e.flow for e in tt.daily] == ["chase-overdue"]


def test_a_year_of_runs_has_each_row_at_its_frequency() -> None:
    runs = runs_between(load_timetable(SHIPPED), date(2026, 4, 1), 12)
    counts = Counter(r.entry.id for r in runs)
    assert (
        counts["T1"]
        == counts["T2"]
        == counts["T3"]
        == counts["T4"]
        == counts["T5"]
        == counts["T11"]
        == 12
    )
    assert counts["T6"] == counts["T10"] == counts["SA"] == counts["SS"] == 4
    assert counts["T7"] == counts["T8"] == counts["T9"] == counts["T12"] == counts["T13"] == 1
    assert all(is_working_day(r.run_on) and r.run_on <= r.deadline for r in runs)


def test_runs_carry_the_d1_deadline_and_the_period_they_cover() -> None:
    runs = {
        (r.entry.id, r.period): r
        for r in runs_between(load_timetable(SHIPPED), date(2026, 12, 1), 2)
    }
    t1 = runs[("T1", "2026-12")]
    assert (t1.run_on, t1.deadline) == (date(2026, 12, 1), date(2026, 12, 7))
    assert runs[("T5", "2026-12")].deadline == date(2026, 12, 24)  # day 28 is a bank holiday
    t10 = runs[("T10", "2026-Q3")]  # January reports on October to December
    assert (t10.run_on, t10.deadline) == (
        date(2027, 1, 4),
        date(2027, 1, 14),
    )  # 1 January is a holiday
    assert runs[("T13", "2026")].deadline == date(2027, 1, 21)


def test_runs_before_the_start_date_are_left_out() -> None:
    runs = runs_between(load_timetable(SHIPPED), date(2026, 11, 25), 1)
    assert [r.entry.id for r in runs] == ["T5", "F1", "F2"]


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "timetable.yaml"
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("frequency: monthly", "frequency: fortnightly", "entry 1 (T1): field 'frequency'"),
        (
            "deadline_week: 1",
            "deadline_week: 5",
            "entry 1 (T1): field 'deadline_week': Input should be less than or equal to 4",
        ),
        (
            "lead: performance_analyst",
            "lead: caretaker",
            "entry 1 (T1): field 'lead': Value error, expected a role",
        ),
        (
            "months: [11]",
            "months: [11, 12]",
            "entry 9 (T9): field '(entry)': Value error, a annually entry lists 1 month(s)",
        ),
        ("runs: first_working_day", "runs: soon", "entry 1 (T1): field 'runs'"),
        ("id: T2\n", "id: T1\n", "id T1 is used more than once"),
        ("entries:", "entrees:", "expected a list under 'entries:'"),
    ],
)
def test_bad_timetable_is_refused_naming_entry_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(DataFileError) as caught:
        load_timetable(_edited(tmp_path, old, new))
    assert message in str(caught.value)


def test_timetable_command_prints_runs_and_deadlines(offline_cli) -> None:
    result = offline_cli("timetable", "--from", "2027-01-01", "--months", "1")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "│ T" in line or "│ F" in line]
    assert len(lines) == 11 + 2  # T rows and Fig. 2's two monthly reports
    t10 = next(line for line in lines if "│ T10 " in line)
    assert "2027-01-04" in t10 and "2026-Q3" in t10 and "2027-01-14" in t10
    assert "every working day at 08:00 (20 working days in this span)" in result.stdout


def test_timetable_command_reports_a_broken_file(offline_cli, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(
        "YOTQA_TIMETABLE_FILE", str(_edited(tmp_path, "deadline_week: 3", "deadline_week: nine"))
    )
    result = offline_cli("timetable")
    assert result.exit_code == 1
    assert "entry 2 (T2): field 'deadline_week'" in result.stderr
    assert "Traceback" not in result.stderr
