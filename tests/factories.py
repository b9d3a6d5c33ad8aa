"""Small typed factories for import files and rows."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from models import Audit
from models.enums import ImportKind
from tasks.importing import COLUMNS

MANAGER = "olu.manager@yot.example.org"
CM_A = "ann.case@yot.example.org"
CM_B = "bob.case@yot.example.org"
SERVICE_MANAGER = "sam.service@yot.example.org"


def staff_row(**overrides: Any) -> dict[str, str]:
    row = {
        "email": CM_A,
        "name": "Ann Case",
        "role": "case_manager",
        "team": "North",
        "line_manager_email": MANAGER,
        "active": "yes",
    }
    return {**row, **overrides}


def base_staff() -> list[dict[str, str]]:
    return [
        staff_row(
            email=SERVICE_MANAGER,
            name="Sam Service",
            role="service_manager",
            team="",
            line_manager_email="",
        ),
        staff_row(
            email=MANAGER,
            name="Olu Manager",
            role="operational_manager",
            line_manager_email=SERVICE_MANAGER,
        ),
        staff_row(),
        staff_row(email=CM_B, name="Bob Case"),
    ]


def case_row(**overrides: Any) -> dict[str, str]:
    row = {
        "case_ref": "YJ26-00001",
        "young_person_ref": "YP100001",
        "young_person_name": "Jordan Example",
        "date_of_birth": "2010-05-01",
        "gender": "male",
        "ethnicity": "White British",
        "order_type": "referral_order",
        "opened_on": "2026-03-02",
        "closed_on": "",
        "case_manager_email": CM_A,
        "team": "North",
        "social_care_status": "",
        "rosh_level": "medium",
        "vulnerability_level": "low",
        "mappa_level": "",
    }
    return {**row, **overrides}


def feedback_row(**overrides: Any) -> dict[str, str]:
    row = {
        "received_on": "2026-06-01",
        "source": "exit_survey",
        "team": "North",
        "case_ref": "YJ26-00001",
        "themes": "communication; respect",
        "summary": "Rated the service 4 out of 5.",
        "lessons_learnt": "",
        "resolved_on": "",
    }
    return {**row, **overrides}


def write_csv(
    path: Path, rows: list[dict[str, str]], columns: list[str] | None = None, **kwargs: Any
) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="", encoding=kwargs.pop("encoding", "utf-8")) as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", **kwargs)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    import openpyxl

    columns = columns or list(rows[0])
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(columns)
    for row in rows:
        sheet.append([row.get(c) for c in columns])
    workbook.save(path)
    return path


def columns(kind: ImportKind) -> list[str]:
    return list(COLUMNS[kind])


SECOND_MANAGER = "olu2.manager@yot.example.org"


def targeted_audit_service(session: Session, tmp_path: Path) -> Audit:
    """Imported through the importers: a service manager, two team managers (the second,
    SECOND_MANAGER, with no team), two case managers; one case with a targeted audit by the
    first team manager (the case manager's line manager), due 21 December 2026."""
    from tasks.importing import import_file
    from tasks.sampling.adhoc import targeted_sample

    tmp_path.mkdir(parents=True, exist_ok=True)
    rows = base_staff() + [
        staff_row(
            email=SECOND_MANAGER,
            name="Second Manager",
            role="operational_manager",
            line_manager_email=SERVICE_MANAGER,
        )
    ]
    import_file(
        session, ImportKind.STAFF, write_csv(tmp_path / "s.csv", rows), as_of=date(2026, 11, 1)
    )
    import_file(
        session,
        ImportKind.CASES,
        write_csv(tmp_path / "c.csv", [case_row(opened_on="2026-06-01")]),
        as_of=date(2026, 11, 1),
    )
    targeted_sample(session, date(2026, 12, 1), "YJ26-00001", "test", SERVICE_MANAGER, MANAGER)
    session.commit()
    return session.exec(select(Audit)).one()
