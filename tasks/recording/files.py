"""The audit form as a file: an XLSX to fill in offline (or the same content as JSON/YAML)."""

from __future__ import annotations

import json
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import yaml
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import ValidationError
from sqlmodel import Session, col, select

from models import Case, Question, Staff
from models.enums import AnswerType
from tasks.recording.form import MAX_NEEDS, AuditForm, FormInvalid
from tasks.recording.needs import themes_of
from tasks.recording.record import audit_by_id, question_set_of
from tasks.xlsx import safe_cell

CHOICES = {
    AnswerType.JUDGEMENT: '"insufficient,sufficient,good,excellent,not applicable"',
    AnswerType.YES_NO: '"yes,no,not applicable"',
    AnswerType.SUFFICIENCY: '"sufficient,not sufficient,not applicable"',
}
HEAD = Font(bold=True, color="FFFFFF")
FILL = PatternFill("solid", fgColor="2F5597")


def write_form(session: Session, audit_id: int, path: Path) -> Path:
    """A pre-filled form: case details, one row per question with guidance, drop-downs for judgements."""
    audit = audit_by_id(session, audit_id)
    case = session.get(Case, audit.case_id) if audit.case_id else None
    qs = question_set_of(session, audit)
    people = {s.id: s for s in session.exec(select(Staff))}
    book = openpyxl.Workbook()
    about = book.worksheets[0]  # a new workbook's one sheet
    about.title = "Audit"
    details = [
        ("audit_id", audit.id),
        ("Case reference", case.case_ref if case else ""),
        ("Order type", case.order_type.label if case else ""),
        ("Audit", f"{audit.kind.label}: {qs.title} v{qs.version}"),
        ("Case manager", people[audit.subject_staff_id].name),
        ("Auditor", people[audit.auditor_id].name),
        ("Deadline", audit.due_on),
        ("Three-way meeting needed", "yes" if audit.three_way_meeting else "no"),
        ("Why selected", audit.selection_reason),
        ("recorded_by", people[audit.auditor_id].email),
        ("recorded_in_cms", "no"),
        ("high_risk", ""),
    ]
    for label, value in details:
        about.append([label, safe_cell(value)])
    about["A14"] = (
        "Fill in the Questions, Actions, Good practice and Support needs sheets. high_risk: describe any high-risk "
        "issue (it is sent to the line manager and service manager at once). recorded_in_cms: yes once "
        "the audit is recorded on the case-management system."
    )
    about.column_dimensions["A"].width, about.column_dimensions["B"].width = 28, 70

    sheet = book.create_sheet("Questions")
    sheet.append(["code", "section", "question", "answer type", "answer", "evidence", "guidance"])
    questions = session.exec(
        select(Question)
        .where(Question.question_set_id == audit.question_set_id)
        .order_by(col(Question.position))
    ).all()
    validations = {
        t: DataValidation(type="list", formula1=f, allow_blank=True) for t, f in CHOICES.items()
    }
    for v in validations.values():
        sheet.add_data_validation(v)
    for row, q in enumerate(questions, start=2):
        sheet.append(
            [
                q.code,
                q.section,
                q.text,
                q.answer_type.label + ("" if q.required else " (optional)"),
                None,
                None,
                q.guidance,
            ]
        )
        if q.answer_type in validations:
            validations[q.answer_type].add(f"E{row}")
    _style(sheet, [14, 22, 60, 16, 18, 50, 80])
    actions = book.create_sheet("Actions")
    actions.append(["priority", "text", "owner_email", "deadline"])
    _style(actions, [10, 70, 34, 14])
    good = book.create_sheet("Good practice")
    good.append(["example"])
    _style(good, [100])
    _needs_sheet(book)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


NEEDS_SHEET = "Support needs"


def _needs_sheet(book: openpyxl.Workbook) -> None:
    """A4 (§5): a row per support or training need, its theme chosen from the service's list
    (kept on a hidden sheet, so the list may be longer than a drop-down's 255 characters)."""
    themes = themes_of()
    lists = book.create_sheet("Lists")
    for n, theme in enumerate(themes, start=1):
        lists.cell(row=n, column=1, value=safe_cell(theme))
    lists.sheet_state = "hidden"
    sheet = book.create_sheet(NEEDS_SHEET, index=book.sheetnames.index("Lists"))
    sheet.append(["theme", "for_whom", "review_on", "text"])
    last = MAX_NEEDS + 1
    choose_theme = DataValidation(
        type="list", formula1=f"=Lists!$A$1:$A${len(themes)}", allow_blank=True
    )
    choose_scope = DataValidation(type="list", formula1='"individual,team"', allow_blank=True)
    for v, column in ((choose_theme, "A"), (choose_scope, "B")):
        sheet.add_data_validation(v)
        v.add(f"{column}2:{column}{last}")
    _style(sheet, [40, 14, 14, 80])
    sheet["F1"] = (
        "for_whom: individual (the case manager) or team (the whole team). review_on: the date "
        "the team manager reviews the need by, YYYY-MM-DD (§5)."
    )


def _style(sheet: Worksheet, widths: list[int]) -> None:
    for cell in sheet[1]:
        cell.font, cell.fill = HEAD, FILL
    for i, w in enumerate(widths):
        sheet.column_dimensions[chr(65 + i)].width = w
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"


def read_form(path: Path) -> AuditForm:
    """Read a filled form from XLSX, JSON or YAML; a file that is none of those is refused clearly."""
    name = path.name
    if not path.is_file():
        raise FormInvalid(name, [f"no such file: {path}"])
    head = path.read_bytes()[:4]
    try:
        if head.startswith(b"PK"):
            data = _from_xlsx(path)
        elif path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        else:
            raise FormInvalid(
                name, ["expected an .xlsx form (yotqa audits form ID), or .json / .yaml"]
            )
    except (
        json.JSONDecodeError,
        yaml.YAMLError,
        UnicodeDecodeError,
        zipfile.BadZipFile,
        KeyError,
    ) as exc:
        raise FormInvalid(
            name, [f"cannot be read: {type(exc).__name__}: {str(exc)[:200]}"]
        ) from None
    try:
        return AuditForm.model_validate(data)
    except ValidationError as exc:
        raise FormInvalid(
            name,
            [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors()],
        ) from None


def _from_xlsx(path: Path) -> dict[str, Any]:
    book = openpyxl.load_workbook(path, data_only=True)
    for sheet in ("Audit", "Questions", "Actions", "Good practice"):
        if sheet not in book.sheetnames:
            raise FormInvalid(
                path.name, [f"the sheet {sheet!r} is missing: start from `yotqa audits form ID`"]
            )
    about = {
        str(r[0]).strip(): r[1] for r in book["Audit"].iter_rows(values_only=True) if r and r[0]
    }
    answers = {}
    for row in list(book["Questions"].iter_rows(values_only=True))[1:]:
        if row and row[0]:
            answers[str(row[0]).strip()] = {
                "value": _plain(row[4]),
                "evidence": str(row[5] or "").strip(),
            }
    actions = [  # plain values: the form's one validation names every problem
        {
            "priority": _int(r[0]),
            "text": str(r[1] or ""),
            "owner_email": str(r[2] or ""),
            "deadline": _when(r[3]),
        }
        for r in list(book["Actions"].iter_rows(values_only=True))[1:]
        if r and any(v is not None for v in r[:4])
    ]
    good = [
        str(r[0]).strip()
        for r in list(book["Good practice"].iter_rows(values_only=True))[1:]
        if r and r[0]
    ]
    needs = [  # A4; a form written before needs existed has no such sheet
        {
            "theme": str(r[0] or ""),
            "scope": str(r[1] or ""),
            "review_on": _when(r[2]),
            "text": str(r[3] or "") if len(r) > 3 else "",
        }
        for r in (
            list(book[NEEDS_SHEET].iter_rows(max_col=4, values_only=True))[1:]
            if NEEDS_SHEET in book.sheetnames
            else []
        )
        if r and any(v is not None for v in r[:4])
    ]
    return {
        "audit_id": _int(about.get("audit_id")) or 0,
        "recorded_by": str(about.get("recorded_by") or ""),
        "answers": answers,
        "action_points": actions,
        "good_practice": good,
        "high_risk": str(about.get("high_risk") or ""),
        "recorded_in_cms": str(about.get("recorded_in_cms") or "").strip().lower()
        in ("yes", "y", "true", "1"),
        "support_needs": needs,
    }


def _plain(value: Any) -> str | int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if value is None or isinstance(value, int) else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _when(value: Any) -> date | str | None:
    if isinstance(value, datetime):
        return value.date()
    return value if value is None or isinstance(value, date) else str(value)
