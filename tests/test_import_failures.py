"""Importers refuse bad files whole: every bad cell named by file, row and column; nothing written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from models.enums import ImportKind
from models.errors import InputFileError
from tasks.importing import import_file
from tests.factories import (
    CM_A,
    base_staff,
    case_row,
    columns,
    feedback_row,
    staff_row,
    write_csv,
    write_xlsx,
)

AS_OF = date(2026, 11, 25)


def snapshot(session: Session) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to prove a refused import changed nothing."""
    session.expire_all()
    return {
        t.name: sorted((tuple(map(str, r)) for r in session.execute(sa.select(t))), key=str)
        for t in SQLModel.metadata.sorted_tables
    }


@pytest.fixture
def loaded(session: Session, tmp_path: Path) -> Session:
    """A database holding the base staff list and one case."""
    import_file(
        session, ImportKind.STAFF, write_csv(tmp_path / "staff.csv", base_staff()), as_of=AS_OF
    )
    import_file(
        session, ImportKind.CASES, write_csv(tmp_path / "cases0.csv", [case_row()]), as_of=AS_OF
    )
    import_file(
        session, ImportKind.FEEDBACK, write_csv(tmp_path / "fb0.csv", [feedback_row()]), as_of=AS_OF
    )
    return session


def refused(session: Session, kind: ImportKind, path: Path) -> list[str]:
    """Import `path`, expect a refusal, check nothing changed, return the error lines."""
    before = snapshot(session)
    with pytest.raises(InputFileError) as caught:
        import_file(session, kind, path, as_of=AS_OF)
    session.rollback()
    assert snapshot(session) == before, "a refused import changed the database"
    return [str(e) for e in caught.value.errors]


def test_unknown_order_type_is_named_with_row_column_and_choices(
    loaded: Session, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "cases.csv",
        [case_row(case_ref="YJ26-2"), case_row(case_ref="YJ26-3", order_type="YOI")],
    )
    (error,) = refused(loaded, ImportKind.CASES, path)
    assert error.startswith(
        "cases.csv: row 3, column 'order_type': 'YOI' is not a known order type"
    )
    assert "referral_order (Referral Order)" in error


def test_unknown_role_is_refused(loaded: Session, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "staff.csv", [staff_row(email="new@yot.example.org", role="social worker")]
    )
    (error,) = refused(loaded, ImportKind.STAFF, path)
    assert "row 2, column 'role': 'social worker' is not a known role" in error
    assert "case_manager" in error


def test_unknown_staff_email_is_refused(loaded: Session, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "cases.csv", [case_row(case_manager_email="nobody@yot.example.org")]
    )
    (error,) = refused(loaded, ImportKind.CASES, path)
    assert "column 'case_manager_email': unknown staff email 'nobody@yot.example.org'" in error
    assert "yotqa import staff" in error


def test_unknown_line_manager_email_is_refused(loaded: Session, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "staff.csv",
        [staff_row(email="c@yot.example.org", line_manager_email="x@yot.example.org")],
    )
    (error,) = refused(loaded, ImportKind.STAFF, path)
    assert "column 'line_manager_email': unknown staff email 'x@yot.example.org'" in error


def test_line_management_loop_is_refused(loaded: Session, tmp_path: Path) -> None:
    rows = [
        staff_row(email="p@yot.example.org", line_manager_email="q@yot.example.org"),
        staff_row(email="q@yot.example.org", line_manager_email="p@yot.example.org"),
    ]
    errors = refused(loaded, ImportKind.STAFF, write_csv(tmp_path / "staff.csv", rows))
    assert any("goes round in a circle" in e for e in errors)


def test_closed_before_opened_is_refused(loaded: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cases.csv", [case_row(closed_on="2026-01-01")])
    (error,) = refused(loaded, ImportKind.CASES, path)
    assert (
        "column 'closed_on': closed before opened: 2026-01-01 is before opened_on 2026-03-02"
        in error
    )


def test_born_in_the_future_is_refused_without_showing_the_date(
    loaded: Session, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "cases.csv", [case_row(date_of_birth="2027-01-09")])
    (error,) = refused(loaded, ImportKind.CASES, path)
    assert "column 'date_of_birth': born in the future" in error
    assert "2027-01-09" not in error  # E5: personal data stays out of messages


def test_duplicate_reference_in_one_file_is_refused(loaded: Session, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "cases.csv",
        [case_row(case_ref="YJ26-9"), case_row(), case_row(case_ref="YJ26-9")],
    )
    (error,) = refused(loaded, ImportKind.CASES, path)
    assert (
        error
        == "cases.csv: row 4, column 'case_ref': YJ26-9 appears twice in this file: first on row 2"
    )


def test_missing_required_column_is_refused(loaded: Session, tmp_path: Path) -> None:
    cols = [c for c in columns(ImportKind.CASES) if c != "opened_on"]
    path = write_csv(tmp_path / "cases.csv", [case_row()], columns=cols)
    (error,) = refused(loaded, ImportKind.CASES, path)
    assert (
        error == "cases.csv: row 1, column 'opened_on': required column is missing from the header"
    )


def test_duplicated_header_is_refused(loaded: Session, tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_text("email,name,role,team,line_manager_email,active,role\n", encoding="utf-8")
    (error,) = refused(loaded, ImportKind.STAFF, path)
    assert "column 'role': this column appears twice in the header" in error


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"%PDF-1.7\n\x00\x01\x02binary", "not a CSV or XLSX file (it holds binary data)"),
        (b"", "not a CSV or XLSX file (it is empty)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old-style Excel .xls file"),
        (b"PK\x03\x04not really a zip", "not a readable XLSX workbook"),
    ],
)
def test_file_that_is_not_csv_or_xlsx_is_refused(
    loaded: Session, tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(content)
    (error,) = refused(loaded, ImportKind.CASES, path)
    assert expected in error


def test_missing_file_is_reported(loaded: Session, tmp_path: Path) -> None:
    (error,) = refused(loaded, ImportKind.CASES, tmp_path / "nope.csv")
    assert "no such file" in error


def test_every_bad_cell_gets_its_own_line(loaded: Session, tmp_path: Path) -> None:
    rows = [
        case_row(case_ref="YJ26-2", opened_on="02/03/2026", gender="X1", rosh_level="extreme"),
        case_row(case_ref="YJ26-3", team="Atlantis"),
        case_row(case_ref="", young_person_ref=""),
    ]
    errors = refused(loaded, ImportKind.CASES, write_csv(tmp_path / "cases.csv", rows))
    assert errors == [
        "cases.csv: row 2, column 'gender': 'X1' is not a known gender: expected one of male (Male), "
        "female (Female), other (Other), not_known (Not known)",
        "cases.csv: row 2, column 'opened_on': '02/03/2026' is not a date in the form YYYY-MM-DD "
        "(if this is day/month/year, write 2026-03-02)",
        "cases.csv: row 2, column 'rosh_level': 'extreme' is not a known risk level: expected one of "
        "low (Low), medium (Medium), high (High), very_high (Very high)",
        "cases.csv: row 3, column 'team': unknown team 'Atlantis': expected one of North",
        "cases.csv: row 4, column 'case_ref': a value is required here",
        "cases.csv: row 4, column 'young_person_ref': a value is required here",
    ]


def test_errors_late_in_a_large_file_still_leave_earlier_rows_unwritten(
    loaded: Session, tmp_path: Path
) -> None:
    """Rows are written in batches as the file streams; a late error rolls all of them back."""
    rows = [case_row(case_ref=f"YJ26-{i:05d}") for i in range(2, 5000)]
    rows.append(case_row(case_ref="YJ26-99999", order_type="nonsense"))
    (error,) = refused(loaded, ImportKind.CASES, write_csv(tmp_path / "cases.csv", rows))
    assert "row 5000, column 'order_type'" in error


def test_update_with_an_error_leaves_the_earlier_extract_in_place(
    loaded: Session, tmp_path: Path
) -> None:
    rows = [
        case_row(case_manager_email="bob.case@yot.example.org", closed_on="2026-11-01"),
        case_row(case_ref="YJ26-2", date_of_birth="2026-13-01"),
    ]
    (error,) = refused(loaded, ImportKind.CASES, write_csv(tmp_path / "cases.csv", rows))
    assert (
        "column 'date_of_birth': the value (not shown: personal data) is not a real date" in error
    )


def test_xlsx_errors_name_the_spreadsheet_row(loaded: Session, tmp_path: Path) -> None:
    rows = [case_row(case_ref="YJ26-2"), case_row(case_ref="YJ26-3", opened_on="yesterday")]
    (error,) = refused(loaded, ImportKind.CASES, write_xlsx(tmp_path / "cases.xlsx", rows))
    assert error.startswith("cases.xlsx: row 3, column 'opened_on': 'yesterday' is not a date")


def test_csv_row_with_extra_fields_is_refused(loaded: Session, tmp_path: Path) -> None:
    path = tmp_path / "feedback.csv"
    header = ",".join(columns(ImportKind.FEEDBACK))
    path.write_text(
        header + "\n2026-06-01,complaint,North,,late, rude,summary,,\n", encoding="utf-8"
    )
    errors = refused(loaded, ImportKind.FEEDBACK, path)
    assert any("this row has 9 fields but the header has 8" in e for e in errors)


def test_feedback_for_unknown_case_or_team_is_refused(loaded: Session, tmp_path: Path) -> None:
    rows = [
        feedback_row(case_ref="YJ00-0"),
        feedback_row(team="Mars", summary="x"),
        feedback_row(source="tweet", summary="y"),
        feedback_row(resolved_on="2026-01-01", summary="z"),
    ]
    errors = refused(loaded, ImportKind.FEEDBACK, write_csv(tmp_path / "feedback.csv", rows))
    assert [e.split(": ", 2)[1] for e in errors] == [
        "row 2, column 'case_ref'",
        "row 3, column 'team'",
        "row 4, column 'source'",
        "row 5, column 'resolved_on'",
    ]


def test_team_role_without_team_is_refused(loaded: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "staff.csv", [staff_row(email="z@yot.example.org", team="")])
    (error,) = refused(loaded, ImportKind.STAFF, path)
    assert "column 'team': a team is required for the role case_manager" in error


def test_bad_email_and_yes_no_are_refused(loaded: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "staff.csv", [staff_row(email="not-an-email", active="perhaps")])
    errors = refused(loaded, ImportKind.STAFF, path)
    assert any("'not-an-email' is not an email address" in e for e in errors)
    assert any("'perhaps' is not yes or no" in e for e in errors)


def test_import_command_prints_each_error_and_exits_1(cli, tmp_path: Path) -> None:
    assert cli("import", "staff", write_csv(tmp_path / "staff.csv", base_staff())).exit_code == 0
    path = write_csv(
        tmp_path / "cases.csv",
        [case_row(order_type="YOI"), case_row(case_ref="B", closed_on="2020-01-01")],
    )
    result = cli("import", "cases", path, "--as-of", "2026-11-25")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("cases.csv: row 2, column 'order_type'")
    assert lines[1].startswith("cases.csv: row 3, column 'closed_on': closed before opened")
    assert lines[-1] == "2 errors in cases.csv; nothing was imported"
    assert CM_A not in result.stdout


def test_import_command_refuses_a_database_not_yet_initialised(
    monkeypatch, tmp_path: Path, settings_env
) -> None:
    from tests.conftest import Cli

    cli = Cli(monkeypatch, f"sqlite:///{tmp_path / 'new.db'}")
    result = cli("import", "staff", write_csv(tmp_path / "staff.csv", base_staff()))
    assert result.exit_code == 1
    assert "is not set up: run `yotqa init` first" in result.stderr


def test_import_command_refuses_a_bad_as_of_date(cli, tmp_path: Path) -> None:
    result = cli(
        "import", "staff", write_csv(tmp_path / "staff.csv", base_staff()), "--as-of", "25/11/2026"
    )
    assert result.exit_code == 1
    assert "'25/11/2026' is not a date: expected YYYY-MM-DD" in result.stderr


def test_missing_columns_end_with_the_header_expected(cli, tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("case_ref,young_person_ref\nX,1\n", encoding="utf-8")
    result = cli("import", "cases", path)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1
    assert len(lines) == 14  # one line per missing column, then the summary
    assert (
        lines[0]
        == "cases.csv: row 1, column 'young_person_name': required column is missing from the header"
    )
    assert lines[-1].startswith(
        "13 errors in cases.csv; nothing was imported; the header must include: case_ref,"
    )
