"""Staff import: `email,name,role,team,line_manager_email,active` (SPEC §7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypedDict

from sqlmodel import Session, select

from models import Staff, Team
from models.enums import ImportKind, Role
from models.errors import CellError
from models.types import utcnow
from tasks.importing.common import ImportReport, record_import
from tasks.importing.fields import readable_rows
from tasks.importing.reader import PLAIN, Layout, open_table

STAFF_COLUMNS = ["email", "name", "role", "team", "line_manager_email", "active"]
# Roles that belong to a team (Fig. 2); the others work across the service.
TEAM_ROLES = {Role.CASE_MANAGER, Role.OPERATIONAL_MANAGER}


@dataclass
class _StaffRow:
    row: int
    email: str
    name: str
    role: Role
    team: str
    manager_email: str
    active: bool


class _StaffValues(TypedDict):
    """The fields of a Staff row an import sets and compares (besides email and line manager)."""

    name: str
    role: Role
    active: bool
    team_id: int | None


def import_staff(
    session: Session, path: Path, *, as_of: date, layout: Layout = PLAIN
) -> ImportReport:
    """Create or update staff by email; all rows or none. Commits on success."""
    table = open_table(path, STAFF_COLUMNS, layout)
    errors: list[CellError] = []
    rows: list[_StaffRow] = []
    first_row: dict[str, int] = {}
    for cells in readable_rows(table, errors):
        email = cells.email("email")
        name = cells.name("name")
        role = cells.choice("role", Role)
        team = cells.label("team", required=False)
        manager = cells.email("line_manager_email", required=False)
        active = cells.boolean("active", default=True)
        if email and email in first_row:
            cells.error("email", f"{email} appears twice: first on row {first_row[email]}")
        elif email:
            first_row[email] = cells.row
        if role in TEAM_ROLES and team == "":
            cells.error("team", f"a team is required for the role {role.value}")
        if manager and manager == email:
            cells.error("line_manager_email", "a member of staff cannot be their own line manager")
        if cells.ok and not (
            # a None is a bad cell, already noted (so cells.ok is False): this only tells mypy
            email is None
            or name is None
            or role is None
            or team is None
            or manager is None
            or active is None
        ):
            rows.append(_StaffRow(cells.row, email, name, role, team, manager, active))

    existing = {s.email: s for s in session.exec(select(Staff))}
    known = set(existing) | set(first_row)
    for r in rows:
        if r.manager_email and r.manager_email not in known:
            errors.append(
                CellError(
                    table.name,
                    r.row,
                    "line_manager_email",
                    f"unknown staff email {r.manager_email!r}: not in this file nor already imported",
                )
            )
    errors += _cycles(table.name, rows, existing)
    if errors:
        raise table.refused(errors)

    report = ImportReport(ImportKind.STAFF, table.name, rows=len(rows))
    teams = {t.name: t for t in session.exec(select(Team))}
    for name in sorted({r.team for r in rows if r.team} - set(teams)):
        teams[name] = Team(name=name)
        session.add(teams[name])
    session.flush()
    email_of = {s.id: e for e, s in existing.items()}
    for r in rows:
        staff = existing.get(r.email)
        values: _StaffValues = {
            "name": r.name,
            "role": r.role,
            "active": r.active,
            "team_id": teams[r.team].id if r.team else None,
        }
        if staff is None:
            existing[r.email] = Staff(email=r.email, **values)
            session.add(existing[r.email])
            report.created += 1
        elif any(getattr(staff, k) != v for k, v in values.items()) or email_of.get(
            staff.line_manager_id
        ) != (r.manager_email or None):
            for k, v in values.items():
                setattr(staff, k, v)
            staff.updated_at = utcnow()
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()
    for r in rows:
        existing[r.email].line_manager_id = (
            existing[r.manager_email].id if r.manager_email else None
        )
    record_import(session, report, path, as_of)
    session.commit()
    return report


def _cycles(file: str, rows: list[_StaffRow], existing: dict[str, Staff]) -> list[CellError]:
    """Line management must end at someone with no manager; a loop is an error."""
    by_id = {s.id: s.email for s in existing.values()}
    manager_of = {email: by_id.get(s.line_manager_id) for email, s in existing.items()}
    manager_of.update({r.email: r.manager_email or None for r in rows})
    errors = []
    for r in rows:
        seen, current = {r.email}, manager_of.get(r.email)
        while current:
            if current in seen:
                errors.append(
                    CellError(
                        file,
                        r.row,
                        "line_manager_email",
                        f"line management goes round in a circle through {current}: someone must have no manager",
                    )
                )
                break
            seen.add(current)
            current = manager_of.get(current)
    return errors
