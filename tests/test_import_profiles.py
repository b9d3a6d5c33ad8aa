"""O3: a case-management system's own extract imported through a profile (its headers, values,
date format and title rows), errors in its own header names; S5: make-up by the 2021 census's
top-level ethnic groups as well as the detailed ones."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session, select

from models import Case, Staff
from models.enums import ImportKind, OrderType, SocialCareStatus
from models.errors import DataFileError, InputFileError
from tasks.importing import import_file
from tasks.importing.cases import CASE_COLUMNS
from tasks.importing.profiles import (
    PROFILES_DIR,
    inspect_file,
    load_profile,
    profile_names,
    proposal_yaml,
)
from tasks.importing.reader import Layout
from tests.factories import CM_A, CM_B, base_staff, case_row, staff_row, write_csv
from tests.test_import_failures import snapshot

AS_OF = date(2026, 11, 25)
WHITE_BRITISH = "White: English, Welsh, Scottish, Northern Irish or British"
WHITE_BLACK_CARIBBEAN = "Mixed or Multiple ethnic groups: White and Black Caribbean"
# A profile in the issue's own words: foreign headers, their order type, dd/mm/yyyy, two title rows.
PROFILE = """\
columns:
  case_ref: Case Number
  young_person_ref: Person ID
  young_person_name: [Forename, Surname]
  date_of_birth: DOB
  ethnicity: Ethnic Origin
  order_type: Legal Outcome
  opened_on: Start Date
  closed_on: End Date
  case_manager_email: Allocated Worker
values:
  order_type: {"Referral Order (Intensive)": Referral Order}
date_format: "%d/%m/%Y"
skip_rows: 2
"""
TITLE = [["Youth Justice Service: open caseload"], ["Produced 25/11/2026 by the CMS", "", ""]]


def extract_rows() -> list[dict[str, str]]:
    return [
        case_row(
            ethnicity="WBRI",
            order_type="Referral Order (Intensive)",
            case_manager_email="Ann Case",  # the extract names the worker, not their email
        ),
        case_row(
            case_ref="YJ26-00002",
            young_person_ref="YP100002",
            young_person_name="Kai Sample-Jones",
            date_of_birth="2011-02-14",
            ethnicity="MWBC",
            order_type="yro",
            opened_on="2026-01-10",
            closed_on="2026-10-31",
            case_manager_email=CM_B,
        ),
    ]


def _their_value(layout: Layout, name: str, ours: str) -> str:
    """A value as the source system writes it: its date format, its own word for ours."""
    if layout.date_format and ours and name in ("date_of_birth", "opened_on", "closed_on"):
        return date.fromisoformat(ours).strftime(layout.date_format)
    theirs = [t for t, o in layout.values.get(name, {}).items() if o and o.casefold() == ours]
    return theirs[0] if theirs else ours


def _extract_rows(layout: Layout, rows: list[dict[str, str]]) -> list[list[Any]]:
    """A header and rows laid out as `layout` says (title rows first); a field split over two
    headers (forename, surname) is split at its first space."""
    header = [h for name in CASE_COLUMNS for h in layout.wanted(name)]
    lines: list[list[Any]] = [*TITLE[: layout.skip_rows], header]
    for row in rows:
        cells = []
        for name in CASE_COLUMNS:
            value = _their_value(layout, name, row[name])
            parts = layout.wanted(name)
            cells += value.split(" ", 1) if len(parts) == 2 else [value]
        lines.append(cells)
    return lines


def write_extract(path: Path, layout: Layout, rows: list[dict[str, str]]) -> Path:
    return _write_lines(path, _extract_rows(layout, rows))


def _write_lines(path: Path, lines: list[list[Any]]) -> Path:
    """A CSV or, for a .xlsx path, a workbook holding `lines` from its first row."""
    if path.suffix == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        for line in lines:
            book.active.append(line)
        book.save(path)
    else:
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(lines)
    return path


def profile_file(tmp_path: Path, text: str = PROFILE, name: str = "ourcms.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def import_staff(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "staff.csv", base_staff())
    import_file(session, ImportKind.STAFF, path, as_of=AS_OF)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_o3_import_cases_through_a_profile_with_foreign_headers_dates_codes_and_title_rows(
    session: Session, tmp_path: Path, suffix: str
) -> None:
    import_staff(session, tmp_path)
    layout = load_profile(str(profile_file(tmp_path)))
    path = write_extract(tmp_path / f"extract{suffix}", layout, extract_rows())
    report = import_file(session, ImportKind.CASES, path, as_of=AS_OF, layout=layout)
    assert (report.rows, report.created) == (2, 2)
    cases = {c.case_ref: c for c in session.exec(select(Case))}
    staff = {s.email: s.id for s in session.exec(select(Staff))}
    first, second = cases["YJ26-00001"], cases["YJ26-00002"]
    assert first.young_person_name == "Jordan Example"  # Forename + Surname
    assert first.date_of_birth == date(2010, 5, 1) and first.opened_on == date(2026, 3, 2)
    assert first.order_type is OrderType.REFERRAL_ORDER  # "Referral Order (Intensive)"
    assert first.ethnicity == WHITE_BRITISH  # WBRI
    assert first.case_manager_id == staff[CM_A]  # "Ann Case", by name
    assert second.ethnicity == WHITE_BLACK_CARIBBEAN  # MWBC
    assert second.closed_on == date(2026, 10, 31) and second.case_manager_id == staff[CM_B]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_o3_a_bad_date_stores_nothing_and_names_the_real_row_and_their_header(
    session: Session, tmp_path: Path, suffix: str
) -> None:
    import_staff(session, tmp_path)
    layout = load_profile(str(profile_file(tmp_path)))
    rows = [*extract_rows(), case_row(case_ref="YJ26-00003", young_person_ref="YP3")]
    lines = _extract_rows(layout, rows)
    lines[-1][lines[2].index("Start Date")] = "31/02/2026"
    lines[-1][lines[2].index("DOB")] = "2010-05-01"  # ISO, not the profile's format
    path = _write_lines(tmp_path / f"extract{suffix}", lines)
    before = snapshot(session)
    with pytest.raises(InputFileError) as caught:
        import_file(session, ImportKind.CASES, path, as_of=AS_OF, layout=layout)
    session.rollback()
    assert snapshot(session) == before  # all or nothing: the two good rows are not stored either
    # Two title rows and the header above: the third case is on row 6 of the file.
    assert [str(e) for e in caught.value.errors] == [
        f"extract{suffix}: row 6, column 'DOB': the value (not shown: personal data) is not "
        "a date like 25/11/2026 (the profile's date_format '%d/%m/%Y')",
        f"extract{suffix}: row 6, column 'Start Date': '31/02/2026' is not a date like "
        "25/11/2026 (the profile's date_format '%d/%m/%Y')",
    ]


def test_o3_errors_name_their_headers_for_joined_and_unprofiled_columns(
    session: Session, tmp_path: Path
) -> None:
    import_staff(session, tmp_path)
    layout = load_profile(str(profile_file(tmp_path)))
    rows = extract_rows()
    rows[0].update(young_person_name="Jordan <b>", ethnicity="Martian", gender="X1")
    rows[1].update(case_manager_email="Nobody Known")
    path = write_extract(tmp_path / "extract.csv", layout, rows)
    with pytest.raises(InputFileError) as caught:
        import_file(session, ImportKind.CASES, path, as_of=AS_OF, layout=layout)
    errors = [str(e) for e in caught.value.errors]
    assert errors[0].startswith(
        "extract.csv: row 4, column 'Forename + Surname': the value (not shown: personal data)"
    )
    assert errors[1].startswith("extract.csv: row 4, column 'gender': 'X1' is not a known gender")
    assert errors[2].startswith(
        "extract.csv: row 4, column 'Ethnic Origin': 'Martian' is not an ethnicity this product "
        "knows: use a 2021 census ethnic group or a DfE code"
    )
    assert errors[3].startswith(
        "extract.csv: row 5, column 'Allocated Worker': no member of staff is called 'Nobody Known'"
    )
    assert "Jordan" not in "\n".join(errors)  # E5: the young person's name is not echoed


def test_o3_a_header_the_profile_names_but_the_file_lacks_is_named(
    session: Session, tmp_path: Path
) -> None:
    layout = load_profile(str(profile_file(tmp_path)))
    lines = _extract_rows(layout, extract_rows())
    at = lines[2].index("DOB")
    path = _write_lines(tmp_path / "extract.csv", [line[:at] + line[at + 1 :] for line in lines])
    with pytest.raises(InputFileError) as caught:
        import_file(session, ImportKind.CASES, path, as_of=AS_OF, layout=layout)
    assert [str(e) for e in caught.value.errors] == [
        "extract.csv: row 3, column 'DOB': required column is missing from the header "
        "(the profile ourcms.yaml names it for date_of_birth)"
    ]
    assert "the header must include: Case Number, Person ID, Forename + Surname, DOB," in str(
        caught.value
    )


def test_o3_a_worker_name_two_staff_share_is_refused(session: Session, tmp_path: Path) -> None:
    staff = [*base_staff(), staff_row(email="ann.other@yot.example.org", name="Ann Case")]
    import_file(session, ImportKind.STAFF, write_csv(tmp_path / "s.csv", staff), as_of=AS_OF)
    layout = load_profile(str(profile_file(tmp_path)))
    path = write_extract(tmp_path / "extract.csv", layout, extract_rows()[:1])
    with pytest.raises(InputFileError) as caught:
        import_file(session, ImportKind.CASES, path, as_of=AS_OF, layout=layout)
    (error,) = caught.value.errors
    assert "column 'Allocated Worker': two members of staff are called 'Ann Case'" in str(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PROFILE.replace("case_ref:", "case_number:"), "columns.case_number: unknown field"),
        (PROFILE.replace("columns:", "colums:"), "unknown key 'colums': expected columns, values"),
        (PROFILE + "  bad: [unclosed\n", "ourcms.yaml: not valid YAML at line"),
        (PROFILE.replace("Referral Order}", "Borstal}"), "values.order_type.Referral Order"),
        (PROFILE.replace('"%d/%m/%Y"', '"%d/%m"'), "date_format: '%d/%m' is not a strptime"),
        (PROFILE.replace("skip_rows: 2", "skip_rows: -1"), "skip_rows: -1 is not a number"),
        (PROFILE.replace("DOB", "[]"), "columns.date_of_birth: expected a header"),
        ("- just\n- a list\n", "ourcms.yaml: expected a mapping with the keys"),
        # YAML's yes/no and numbers: `Yes` would never match a cell, silently (O3).
        (
            PROFILE.replace(
                "date_format:", "  social_care_status: {Yes: child_in_need, 01: none}\ndate_format:"
            ),
            "values.social_care_status: True was read as a yes/no, not as text: put it in quotes",
        ),
    ],
)
def test_o3_a_bad_profile_is_refused_naming_the_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(DataFileError) as caught:
        load_profile(str(profile_file(tmp_path, text)))
    assert expected in str(caught.value)
    assert str(caught.value).startswith("ourcms.yaml")


def test_o3_an_unknown_profile_name_lists_the_shipped_ones() -> None:
    with pytest.raises(DataFileError) as caught:
        load_profile("no-such-system")
    assert "no import profile 'no-such-system'" in str(caught.value)
    assert "careworks-example, childview-example" in str(caught.value)


@pytest.mark.parametrize("name", ["childview-example", "careworks-example"])
def test_o3_each_shipped_example_profile_imports_a_sample_extract(
    session: Session, tmp_path: Path, name: str
) -> None:
    """The shipped examples load, and an extract written as each describes imports whole."""
    assert name in profile_names()
    assert "NOT VENDOR-VERIFIED" in (PROFILES_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    import_staff(session, tmp_path)
    layout = load_profile(name)
    rows = extract_rows()
    rows[0]["social_care_status"] = "looked_after"
    path = write_extract(tmp_path / "sample.csv", layout, rows)
    report = import_file(session, ImportKind.CASES, path, as_of=AS_OF, layout=layout)
    assert report.created == 2
    first = session.exec(select(Case).where(Case.case_ref == "YJ26-00001")).one()
    assert first.ethnicity == WHITE_BRITISH
    assert first.social_care_status is SocialCareStatus.LOOKED_AFTER


def test_o3_import_command_takes_a_profile_by_name_or_path(cli, tmp_path: Path) -> None:
    assert cli("import", "staff", write_csv(tmp_path / "staff.csv", base_staff())).exit_code == 0
    by_name = write_extract(
        tmp_path / "cv.csv", load_profile("childview-example"), extract_rows()[:1]
    )
    result = cli("import", "cases", by_name, "--profile", "childview-example", "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert "Imported cases from cv.csv: 1 rows, 1 new" in result.stdout
    path = profile_file(tmp_path)
    ours = write_extract(tmp_path / "ours.csv", load_profile(str(path)), extract_rows())
    result = cli("import", "cases", ours, "--profile", path, "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert "2 rows, 1 new, 0 updated, 1 unchanged" in result.stdout
    refused = cli("import", "cases", ours, "--profile", "no-such-system")
    assert refused.exit_code == 1
    assert "error: no import profile 'no-such-system'" in refused.stderr


def test_o3_import_command_prints_errors_in_their_headers(cli, tmp_path: Path) -> None:
    assert cli("import", "staff", write_csv(tmp_path / "staff.csv", base_staff())).exit_code == 0
    path = profile_file(tmp_path)
    rows = extract_rows()
    rows[1]["opened_on"] = "2027-01-01"  # after the extract's date
    extract = write_extract(tmp_path / "cases.csv", load_profile(str(path)), rows)
    result = cli("import", "cases", extract, "--profile", path, "--as-of", AS_OF)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "cases.csv: row 5, column 'Start Date': 2027-01-01 is after the extract's date 2026-11-25",
        # Another of our fields named in a message is named as the file names it, too.
        "cases.csv: row 5, column 'End Date': closed before opened: 2026-10-31 is before "
        "Start Date 2027-01-01",
        "2 errors in cases.csv; nothing was imported",
    ]


def test_o3_inspect_prints_headers_a_profile_to_save_and_what_it_could_not_place(
    cli, tmp_path: Path
) -> None:
    theirs = load_profile(str(profile_file(tmp_path))).columns
    rows = extract_rows()
    # Their headers but for the order type, whose column is headed as ours: its values are looked at.
    layout = Layout("", {f: h for f, h in theirs.items() if f != "order_type"}, {}, "%d/%m/%Y", 2)
    path = write_extract(tmp_path / "extract.csv", layout, rows)
    result = cli("import", "inspect", path)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "# Headers found on row 3: Case Number, Person ID, Forename, Surname, DOB," in text
    # Headers the shipped example profiles use are proposed for their fields (Case Number,
    # [Forename, Surname]...); only "Ethnic Origin" is in none of them.
    assert "# Fields not placed: ethnicity\n" in text
    assert "  # from the headers not used: Ethnic Origin\n" in text
    assert "\n  # ethnicity: ?\n" in text
    assert "  young_person_name: [Forename, Surname]\n" in text
    assert "    # Referral Order (Intensive): ?" in text  # under values: order_type:
    proposal = yaml.safe_load(text)  # the whole output is a profile, the rest comments
    assert proposal["columns"]["case_ref"] == "Case Number"
    assert proposal["columns"]["case_manager_email"] == "Allocated Worker"
    assert proposal["columns"]["order_type"] == "order_type"
    assert proposal["columns"]["gender"] == "gender"
    assert proposal["date_format"] == "%d/%m/%Y" and proposal["skip_rows"] == 2
    unplaced = inspect_file(path).unplaced
    assert unplaced == ["ethnicity"]
    # Saved and completed as its comments ask, the proposal imports the file.
    proposal["columns"].update({f: list(theirs[f]) for f in unplaced})
    proposal["values"] = {"order_type": {"Referral Order (Intensive)": "referral_order"}}
    saved = profile_file(tmp_path, yaml.safe_dump(proposal), "proposed.yaml")
    assert cli("import", "staff", write_csv(tmp_path / "staff.csv", base_staff())).exit_code == 0
    result = cli("import", "cases", path, "--profile", saved, "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert "2 rows, 2 new" in result.stdout


def test_o3_inspect_never_takes_a_data_row_for_the_headers(cli, tmp_path: Path) -> None:
    """No row names a field of ours: it says so, and prints no row (a data row holds young
    people's names, E5)."""
    path = tmp_path / "export.csv"
    path.write_text("Col1,Col2,Col3\nJordan Example,01/05/2010,North\n", encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        inspect_file(path)
    assert "none of the first 10 rows names any of our fields" in str(caught.value)
    result = cli("import", "inspect", path)
    assert result.exit_code != 0 and "Jordan" not in result.output


def test_o3_inspect_guesses_the_kind_and_reads_a_plain_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "staff.csv", base_staff())
    found = inspect_file(path)
    assert found.kind is ImportKind.STAFF and found.header_row == 1 and found.unplaced == []
    assert "skip_rows" not in proposal_yaml(found) and "date_format" not in proposal_yaml(found)


def test_o3_dates_in_spreadsheet_date_cells_need_no_format(
    session: Session, tmp_path: Path
) -> None:
    import_staff(session, tmp_path)
    layout = load_profile(str(profile_file(tmp_path)))
    lines = _extract_rows(layout, extract_rows()[:1])
    lines[-1][lines[2].index("Start Date")] = datetime(2026, 3, 2)  # noqa: DTZ001 (Excel: naive)
    path = _write_lines(tmp_path / "dates.xlsx", lines)
    import_file(session, ImportKind.CASES, path, as_of=AS_OF, layout=layout)
    assert session.exec(select(Case)).one().opened_on == date(2026, 3, 2)


HR_PROFILE = """\
columns:
  email: Work Email
  name: [First Name, Last Name]
  role: Job Title
  line_manager_email: Manager's Email
  active: Status
  received_on: Date Received
  source: Feedback Type
  case_ref: Case Number
values:
  role: {"YJ Case Manager": case_manager, "YJ Team Manager": operational_manager,
         "Head of Service": service_manager}
  active: {Current: "yes", Left: "no"}
  source: {"End of Order Survey": exit_survey}
date_format: "%d/%m/%Y"
skip_rows: 1
"""


def test_o3_staff_and_feedback_import_through_a_profile_too(
    session: Session, tmp_path: Path
) -> None:
    layout = load_profile(str(profile_file(tmp_path, HR_PROFILE, "hr.yaml")))
    staff = tmp_path / "staff.csv"
    staff.write_text(
        "Staff list at 25/11/2026\n"
        "Work Email,First Name,Last Name,Job Title,Team,Manager's Email,Status\n"
        "sam.service@yot.example.org,Sam,Service,Head of Service,,,Current\n"
        "olu.manager@yot.example.org,Olu,Manager,YJ Team Manager,North,sam.service@yot.example.org,Current\n"
        f"{CM_A},Ann,Case,YJ Case Manager,North,olu.manager@yot.example.org,Current\n"
        f"{CM_B},Bob,Case,YJ Case Manager,North,olu.manager@yot.example.org,Left\n",
        encoding="utf-8",
    )
    assert import_file(session, ImportKind.STAFF, staff, as_of=AS_OF, layout=layout).created == 4
    people = {s.email: s for s in session.exec(select(Staff))}
    assert people[CM_A].name == "Ann Case" and people[CM_B].active is False
    import_file(session, ImportKind.CASES, write_csv(tmp_path / "c.csv", [case_row()]), as_of=AS_OF)
    feedback = tmp_path / "feedback.csv"
    feedback.write_text(
        "Feedback received\n"
        "Date Received,Feedback Type,Team,Case Number,Themes,Summary,Lessons Learnt,Resolved On\n"
        "01/06/2026,End of Order Survey,North,YJ26-00001,respect,Helpful.,,\n"
        "02/06/2026,complaint,North,,,Late.,,2026-06-03\n",
        encoding="utf-8",
    )
    with pytest.raises(InputFileError) as caught:
        import_file(session, ImportKind.FEEDBACK, feedback, as_of=AS_OF, layout=layout)
    (error,) = caught.value.errors  # the profile's date format holds for every date column
    assert str(error).startswith("feedback.csv: row 4, column 'Resolved On': '2026-06-03' is not")
    feedback.write_text(feedback.read_text().replace("2026-06-03", "03/06/2026"))
    report = import_file(session, ImportKind.FEEDBACK, feedback, as_of=AS_OF, layout=layout)
    assert report.created == 2
