"""A corpus of malformed and hostile files through every importer and the audit-form reader.

Each file is refused with errors that name the file, and the row and column where there is one;
nothing already stored changes; no young person's name or date of birth is echoed. A fuzz test
(hypothesis) throws arbitrary text and bytes at the same readers: they refuse or accept, never
crash. (Issue 7's bad-input campaign.)
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from models.enums import ImportKind
from models.errors import InputFileError
from tasks.recording.files import read_form
from tasks.recording.form import FormInvalid
from tests.factories import base_staff, case_row, columns, feedback_row, staff_row
from tests.test_import_failures import AS_OF, refused
from tests.test_import_failures import loaded as _loaded

loaded = _loaded  # the fixture: the base staff list, one case and one feedback item

STAFF, CASES, FEEDBACK = ImportKind.STAFF, ImportKind.CASES, ImportKind.FEEDBACK


def _csv(kind: ImportKind, rows: list[dict[str, str]], delimiter: str = ",") -> str:
    header = columns(kind)
    lines = [delimiter.join(header)]
    for row in rows:
        lines.append(delimiter.join(_quote(str(row.get(c, "")), delimiter) for c in header))
    return "\n".join(lines) + "\n"


def _quote(value: str, delimiter: str) -> str:
    if any(ch in value for ch in f'"\n{delimiter}'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _cases(**overrides: str) -> str:
    return _csv(
        CASES, [case_row(**{"case_ref": "YJ26-90001", "young_person_ref": "YP-90001", **overrides})]
    )


def _staff(**overrides: str) -> str:
    return _csv(STAFF, [*base_staff(), staff_row(email="new.person@yot.example.org", **overrides)])


@dataclass(frozen=True)
class Bad:
    """One hostile file: its name, what it is imported as, how it is written, and what the
    error must say (every fragment must appear in one error line)."""

    name: str
    kind: ImportKind
    content: Callable[[], bytes]
    expect: tuple[str, ...]


def text(value: str, encoding: str = "utf-8") -> Callable[[], bytes]:
    return lambda: value.encode(encoding)


def _many_bad_dates() -> bytes:
    rows = [
        case_row(
            case_ref=f"YJ26-{9000 + n}", young_person_ref=f"YP-{9000 + n}", opened_on="31/02/2026"
        )
        for n in range(3000)
    ]
    return _csv(CASES, rows).encode()


def _xlsx(
    kind: ImportKind, rows: list[list[object]], header: list[str] | None = None
) -> Callable[[], bytes]:
    def build() -> bytes:
        import io

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(header or columns(kind))
        for r in rows:
            sheet.append(r)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    return build


def _case_cells(**overrides: object) -> list[object]:
    row = {**case_row(case_ref="YJ26-90002", young_person_ref="YP-90002"), **overrides}
    return [row.get(c, "") for c in columns(CASES)]


CORPUS = [
    # Encodings and byte-level damage
    Bad("utf16.csv", STAFF, text(_staff(), "utf-16"), ("utf16.csv", "binary")),
    Bad(
        "nul-bytes.csv",
        CASES,
        lambda: _cases().encode() + b"\x00\x00\x00garbage",
        ("nul-bytes.csv",),
    ),
    Bad("random-bytes.csv", FEEDBACK, lambda: bytes(range(256)) * 40, ("random-bytes.csv",)),
    Bad(
        "gzip-named-csv.csv",
        CASES,
        lambda: b"\x1f\x8b\x08\x00" + b"\x00" * 64,
        ("gzip-named-csv.csv",),
    ),
    Bad("zip-not-xlsx.xlsx", CASES, lambda: b"PK\x03\x04" + b"\x00" * 100, ("zip-not-xlsx.xlsx",)),
    Bad(
        "bom-bad-date.csv",
        CASES,
        lambda: codecs.BOM_UTF8 + _cases(opened_on="2026-13-01").encode(),
        ("bom-bad-date.csv: row 2, column 'opened_on'", "not a real date"),
    ),
    Bad(
        "cp1252-bad-role.csv",
        STAFF,
        text(_staff(name="Zoë Brontë", role="chef"), "cp1252"),
        ("cp1252-bad-role.csv: row 6, column 'role'", "not a known role"),
    ),
    # Layout
    Bad("empty.csv", STAFF, text(""), ("empty.csv",)),
    Bad(
        "header-only-wrong.csv", STAFF, text("mail;nom;rôle\n"), ("header-only-wrong.csv", "email")
    ),
    Bad(
        "missing-headers.csv",
        CASES,
        text("YJ26-1,YP-1,Sam Smith,2010-01-01\n"),
        ("missing-headers.csv", "case_ref"),
    ),
    Bad(
        "duplicated-header.csv",
        STAFF,
        text(
            "email,name,name,role,team,line_manager_email,active\na@b.org,A B,A B,case_manager,North,,yes\n"
        ),
        ("duplicated-header.csv", "name"),
    ),
    Bad(
        "semicolons-bad-date.csv",
        CASES,
        text(
            _csv(
                CASES,
                [case_row(case_ref="YJ26-90003", young_person_ref="YP-3", opened_on="2026/01/05")],
                ";",
            )
        ),
        ("semicolons-bad-date.csv: row 2, column 'opened_on'", "YYYY-MM-DD"),
    ),
    Bad(
        "tabs-extra-field.csv",
        STAFF,
        lambda: (
            _csv(STAFF, base_staff(), "\t") + "x@y.org\tX Y\tcase_manager\tNorth\t\tyes\textra\n"
        ).encode(),
        ("tabs-extra-field.csv: row 6", "fields but the header has"),
    ),
    Bad(
        "unclosed-quote.csv",
        FEEDBACK,
        text(_csv(FEEDBACK, [feedback_row()]) + '2026-11-01,complaint,North,,"never closed\n'),
        ("unclosed-quote.csv",),
    ),
    # Values
    Bad(
        "excel-serial-date.csv",
        CASES,
        text(_cases(opened_on="45231")),
        ("excel-serial-date.csv: row 2, column 'opened_on'", "spreadsheet date serial"),
    ),
    Bad(
        "future-opened.csv",
        CASES,
        text(_cases(opened_on="2031-01-01")),
        ("future-opened.csv: row 2, column 'opened_on'",),
    ),
    Bad(
        "impossible-birth.csv",
        CASES,
        text(_cases(date_of_birth="2009-02-30")),
        ("impossible-birth.csv: row 2, column 'date_of_birth'", "not shown: personal data"),
    ),
    Bad(
        "born-after-opened.csv",
        CASES,
        text(_cases(date_of_birth="2026-10-01", opened_on="2026-09-01")),
        ("born-after-opened.csv: row 2",),
    ),
    Bad(
        "closed-before-opened.csv",
        CASES,
        text(_cases(opened_on="2026-05-01", closed_on="2026-04-01")),
        ("closed-before-opened.csv: row 2, column 'closed_on'",),
    ),
    Bad(
        "ten-megabyte-field.csv",
        STAFF,
        lambda: _staff(name="A" * 10_000_000).encode(),
        ("ten-megabyte-field.csv: row 6", "longer than"),
    ),
    Bad(
        "three-thousand-errors.csv",
        CASES,
        _many_bad_dates,
        ("three-thousand-errors.csv: row 3001, column 'opened_on'",),
    ),
    # Hostile text
    Bad(
        "sql-in-name.csv",
        STAFF,
        text(_staff(name="Robert'); DROP TABLE staff;--")),
        ("sql-in-name.csv: row 6, column 'name'", "not a person's name"),
    ),
    Bad(
        "html-in-name.csv",
        STAFF,
        text(_staff(name="<script>alert(1)</script>")),
        ("html-in-name.csv: row 6, column 'name'", "not a person's name"),
    ),
    Bad(
        "formula-in-name.csv",
        STAFF,
        text(_staff(name='=HYPERLINK("http://evil.example","x")')),
        ("formula-in-name.csv: row 6, column 'name'",),
    ),
    Bad(
        "formula-in-team.csv",
        STAFF,
        text(_staff(team="=cmd|'/C calc'!A0")),
        ("formula-in-team.csv: row 6, column 'team'", "may not start with"),
    ),
    Bad(
        "html-in-young-person.csv",
        CASES,
        text(_cases(young_person_name="<img src=x onerror=alert(1)>")),
        ("html-in-young-person.csv: row 2, column 'young_person_name'", "not shown: personal data"),
    ),
    Bad(
        "sql-in-case-ref.csv",
        CASES,
        text(_cases(case_ref="1; DELETE FROM case")),
        ("sql-in-case-ref.csv: row 2, column 'case_ref'",),
    ),
    Bad(
        "unknown-staff-email.csv",
        CASES,
        text(_cases(case_manager_email="nobody@yot.example.org")),
        ("unknown-staff-email.csv: row 2, column 'case_manager_email'",),
    ),
    Bad(
        "feedback-formula-case.csv",
        FEEDBACK,
        text(_csv(FEEDBACK, [feedback_row(case_ref="@SUM(A1:A9)")])),
        ("feedback-formula-case.csv: row 2, column 'case_ref'",),
    ),
    # Spreadsheets
    Bad(
        "formula-cell.xlsx",
        CASES,
        _xlsx(CASES, [_case_cells(young_person_name="=1+1")]),
        ("formula-cell.xlsx: row 2, column 'young_person_name'",),
    ),
    Bad(
        "text-date.xlsx",
        CASES,
        _xlsx(CASES, [_case_cells(opened_on="next Tuesday")]),
        ("text-date.xlsx: row 2, column 'opened_on'",),
    ),
    Bad(
        "duplicated-header.xlsx",
        STAFF,
        _xlsx(
            STAFF,
            [],
            header=["email", "email", "name", "role", "team", "line_manager_email", "active"],
        ),
        ("duplicated-header.xlsx", "email"),
    ),
    Bad(
        "not-a-spreadsheet.xlsx",
        FEEDBACK,
        text("just text pretending"),
        ("not-a-spreadsheet.xlsx",),
    ),
]


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30
    assert len({b.name for b in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("bad", CORPUS, ids=[b.name for b in CORPUS])
def test_every_hostile_file_is_refused_clearly_and_changes_nothing(
    bad: Bad,
    loaded: Session,
    tmp_path: Path,
) -> None:
    path = tmp_path / bad.name
    path.write_bytes(bad.content())
    lines = refused(loaded, bad.kind, path)
    assert lines and all(bad.name in line for line in lines), lines[:3]
    assert any(all(f in line for f in bad.expect) for line in lines), (bad.expect, lines[:5])
    shown = "\n".join(lines)
    for secret in ("Sam Smith", "2010-04-02"):  # the young person of case_row(): never echoed (E5)
        assert secret not in shown
    assert len(shown) < 2_000_000  # a 10 MB cell is not echoed back


def test_thousands_of_errors_print_the_first_hundred_and_a_count(
    loaded: Session, tmp_path: Path
) -> None:
    path = tmp_path / "many.csv"
    path.write_bytes(_many_bad_dates())
    with pytest.raises(InputFileError) as caught:
        from tasks.importing import import_file

        import_file(loaded, CASES, path, as_of=AS_OF)
    printed = caught.value.lines()
    assert len(printed) == 100 + 2
    assert (
        "2,900 more errors not shown" in printed[-2] and "column 'opened_on' 3,000" in printed[-2]
    )
    assert printed[-1] == "3000 errors in many.csv; nothing was imported"


# The audit-form reader -----------------------------------------------------------------------

FORMS: list[tuple[str, Callable[[], bytes]]] = [
    ("binary.json", lambda: bytes(range(256))),
    ("array.json", lambda: b"[1, 2, 3]"),
    ("wrong-types.json", lambda: json.dumps({"audit_id": "twelve", "answers": 5}).encode()),
    (
        "huge-answer.json",
        lambda: json.dumps(
            {"audit_id": 1, "recorded_by": "a@b.org", "answers": {"Q1": {"value": "x" * 200_000}}}
        ).encode(),
    ),
    (
        "yaml-bomb.yaml",
        lambda: (
            b"a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        ),
    ),
    ("notes.txt", lambda: b"audit 12: all fine"),
    ("broken.xlsx", lambda: b"PK\x03\x04not really a zip"),
    ("no-sheets.xlsx", _xlsx(STAFF, [])),
]


def test_a_form_spreadsheet_with_overlong_and_malformed_cells_names_each(tmp_path: Path) -> None:
    """An XLSX form edited badly: every problem listed at once, none a crash."""
    book = openpyxl.Workbook()
    about = book.active
    about.title = "Audit"
    about.append(["audit_id", "not a number"])
    about.append(["recorded_by", "a@b.org"])
    book.create_sheet("Questions").append(
        ["code", "section", "question", "type", "answer", "evidence"]
    )
    book["Questions"].append(["Q1", "s", "q", "judgement", "x" * 500, "y" * 20_000])
    book.create_sheet("Actions").append(["priority", "text", "owner", "deadline"])
    book["Actions"].append(["first", "=cmd", "o@b.org", "someday" * 20])
    book.create_sheet("Good practice").append(["example"])
    path = tmp_path / "edited.xlsx"
    book.save(path)
    with pytest.raises(FormInvalid) as caught:
        read_form(path)
    problems = "\n".join(caught.value.problems)
    assert "answers.Q1.value" in problems and "answers.Q1.evidence" in problems
    assert "action_points.0.deadline" in problems


@pytest.mark.parametrize(("name", "content"), FORMS, ids=[f[0] for f in FORMS])
def test_hostile_audit_forms_are_refused_naming_the_file(
    name: str, content: Callable[[], bytes], tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_bytes(content())
    with pytest.raises(FormInvalid) as caught:
        read_form(path)
    lines = caught.value.lines()
    assert lines, "refused without saying why"
    assert all(name in line for line in lines), lines[:3]
    assert len("\n".join(lines)) < 20_000


# Fuzz ----------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=int(os.environ.get("YOTQA_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(
    kind=st.sampled_from([STAFF, CASES, FEEDBACK]),
    body=st.one_of(
        st.binary(max_size=2000),
        st.text(max_size=2000).map(str.encode),
        st.lists(st.lists(st.text(max_size=30), max_size=8), max_size=8).map(
            lambda rows: "\n".join(",".join(r) for r in rows).encode()
        ),
    ),
    header=st.booleans(),
)
# Found by CI: more than InputFileError.SHOWN errors, whose summary line did not name the file.
@example(kind=CASES, body=b"\x01\n" * 110, header=True)
def test_fuzzed_import_files_are_refused_or_taken_whole_never_a_crash(
    kind: ImportKind,
    body: bytes,
    header: bool,
    loaded: Session,
    tmp_path: Path,
) -> None:
    from tasks.importing import import_file

    path = tmp_path / "fuzz.csv"
    path.write_bytes((",".join(columns(kind)) + "\n").encode() + body if header else body)
    try:
        import_file(loaded, kind, path, as_of=AS_OF)
    except InputFileError as exc:
        loaded.rollback()
        assert all("fuzz.csv" in line for line in exc.lines())


@FUZZ
@given(
    data=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_fuzzed_json_forms_are_refused_or_read_never_a_crash(data: object, tmp_path: Path) -> None:
    path = tmp_path / "form.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    try:
        form = read_form(path)
    except FormInvalid as exc:
        assert all("form.json" in line for line in exc.lines())
    else:  # only a dict with an integer audit_id and nothing unknown gets this far
        assert isinstance(data, dict) and isinstance(form.audit_id, int)
