"""Cases import (SPEC §7): streams the extract, updates by case_ref, keeps allocation history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Case, CaseAllocation, Staff, Team
from models.base import id_column
from models.enums import Gender, ImportKind, MappaLevel, OrderType, RiskLevel, SocialCareStatus
from models.errors import CellError
from models.types import utcnow
from tasks.importing.common import ImportReport, record_import
from tasks.importing.fields import RowReader, readable_rows
from tasks.importing.reader import PLAIN, Layout, open_table, value_key

CASE_COLUMNS = [
    "case_ref",
    "young_person_ref",
    "young_person_name",
    "date_of_birth",
    "gender",
    "ethnicity",
    "order_type",
    "opened_on",
    "closed_on",
    "case_manager_email",
    "team",
    "social_care_status",
    "rosh_level",
    "vulnerability_level",
    "mappa_level",
]
PERSONAL = frozenset({"young_person_name", "date_of_birth"})
# Fields compared between extracts; a change to any of them updates the case.
_TRACKED = [c for c in CASE_COLUMNS if c not in ("case_ref", "case_manager_email", "team")] + [
    "case_manager_id",
    "team_id",
]
BATCH = 2000


@dataclass(frozen=True)
class _Change:
    """A case whose holder (`moved`) or closure changed between extracts, effective `on`."""

    case_id: int
    staff_id: int
    team_id: int
    on: date
    closed_on: date | None
    moved: bool


@dataclass
class _Pending:
    """Writes waiting to go to the database in one batch."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    history: list[_Change] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inserts) + len(self.updates)


def import_cases(
    session: Session, path: Path, *, as_of: date, layout: Layout = PLAIN
) -> ImportReport:
    """Create or update cases by case_ref as of the extract's date; all rows or none."""
    table = open_table(path, CASE_COLUMNS, layout)
    staff = _staff_keys(session)
    teams = dict(session.exec(select(col(Team.name), id_column(Team))).all())
    cols = [getattr(Case, name) for name in ["id", "case_ref", *_TRACKED]]
    existing = {row.case_ref: row._asdict() for row in session.execute(sa.select(*cols))}

    errors: list[CellError] = []
    first_row: dict[str, int] = {}
    report = ImportReport(ImportKind.CASES, table.name)
    pending = _Pending()
    now = utcnow()
    for cells in readable_rows(table, errors, personal=PERSONAL):
        values = _read_case(cells, staff, teams, as_of)
        ref = values.get("case_ref")
        if ref and ref in first_row:
            cells.error(
                "case_ref", f"{ref} appears twice in this file: first on row {first_row[ref]}"
            )
        elif ref:
            first_row[ref] = cells.row
        if not cells.ok:
            continue
        report.rows += 1
        if errors:
            continue  # keep checking every row, but write nothing more: the import will be refused
        before = existing.get(ref)
        if before is None:
            pending.inserts.append({**values, "created_at": now, "updated_at": now})
            report.created += 1
        else:
            changed = {k: v for k, v in values.items() if k in _TRACKED and before[k] != v}
            if not changed:
                report.unchanged += 1
                continue
            report.updated += 1
            pending.updates.append({"id": before["id"], **changed, "updated_at": now})
            moved = "case_manager_id" in changed or "team_id" in changed
            if moved or "closed_on" in changed:
                report.reallocated += moved
                pending.history.append(
                    _Change(
                        before["id"],
                        values["case_manager_id"],
                        values["team_id"],
                        max(as_of, values["opened_on"]),
                        values["closed_on"],
                        moved,
                    )
                )
            if values["closed_on"] and not before["closed_on"]:
                report.closed += 1
        if len(pending) >= BATCH:
            _flush(session, pending)
    if errors:
        session.rollback()
        raise table.refused(errors)
    _flush(session, pending)
    record_import(session, report, path, as_of)
    session.commit()
    return report


def _read_case(
    cells: RowReader, staff: dict[str, int | None], teams: dict[str, int], as_of: date
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "case_ref": cells.label("case_ref", max_length=64),
        "young_person_ref": cells.label("young_person_ref", max_length=64),
        "young_person_name": cells.name("young_person_name"),
        "date_of_birth": cells.date("date_of_birth"),
        "gender": cells.choice("gender", Gender),
        "ethnicity": cells.ethnicity("ethnicity"),
        "order_type": cells.choice("order_type", OrderType),
        "opened_on": cells.date("opened_on"),
        "closed_on": cells.date("closed_on", required=False),
        "social_care_status": cells.choice("social_care_status", SocialCareStatus, required=False),
        "rosh_level": cells.choice("rosh_level", RiskLevel, required=False),
        "vulnerability_level": cells.choice("vulnerability_level", RiskLevel, required=False),
        "mappa_level": cells.choice("mappa_level", MappaLevel, required=False),
    }
    born, opened, closed = values["date_of_birth"], values["opened_on"], values["closed_on"]
    if born and born > as_of:
        cells.error(
            "date_of_birth", f"born in the future: the date is after the extract's date {as_of}"
        )
    elif born and opened and born >= opened:
        cells.error("date_of_birth", "born on or after the day the case was opened")
    if opened and opened > as_of:
        cells.error("opened_on", f"{opened} is after the extract's date {as_of}")
    if closed and opened and closed < opened:
        cells.error("closed_on", f"closed before opened: {closed} is before opened_on {opened}")
    elif closed and closed > as_of:
        cells.error("closed_on", f"{closed} is after the extract's date {as_of}")

    values["case_manager_id"] = _case_manager(cells, staff)
    values["team_id"] = cells.team("team", teams)
    return values


def _staff_keys(session: Session) -> dict[str, int | None]:
    """Staff by email, and by name where the name is one person's (None: two people share it):
    a case-management system's extract often names the allocated worker rather than their email.
    A name is looked for among the active staff first, so a leaver never blocks the colleague
    who has their name; a leaver's name is theirs only when no one active has it."""
    keys: dict[str, int | None] = {}
    staff = session.exec(
        select(col(Staff.email), col(Staff.name), id_column(Staff), col(Staff.active))
    ).all()
    active_names = {value_key(name) for _, name, _, active in staff if active}
    for email, name, staff_id, active in staff:
        keys[email] = staff_id
        key = value_key(name)
        if active or key not in active_names:
            keys[key] = None if key in keys and keys[key] != staff_id else staff_id
    return keys


def _case_manager(cells: RowReader, staff: dict[str, int | None]) -> int | None:
    column = "case_manager_email"
    text = cells.text(column, max_length=254)
    if text and "@" not in text:
        who = cells.name(column)
        if who and staff.get(value_key(who), 0) is None:
            cells.error(column, f"two members of staff are called {who!r}: give their email")
        elif who and value_key(who) not in staff:
            cells.error(
                column,
                f"no member of staff is called {who!r}: import the staff list with this "
                "person first (yotqa import staff FILE), or give their email",
            )
        return staff.get(value_key(who or "")) if who else None
    email = cells.email(column) if text else None
    if email and email not in staff:
        cells.error(
            column,
            f"unknown staff email {email!r}: import the staff list "
            "with this person first (yotqa import staff FILE)",
        )
    return staff.get(email or "")


def _flush(session: Session, pending: _Pending) -> None:
    if pending.inserts:
        ids = session.execute(
            sa.insert(Case).returning(
                col(Case.id),
                col(Case.case_manager_id),
                col(Case.team_id),
                col(Case.opened_on),
                col(Case.closed_on),
            ),
            pending.inserts,
        ).all()
        session.execute(
            sa.insert(CaseAllocation),
            [
                {"case_id": i, "staff_id": s, "team_id": t, "from_date": o, "to_date": c}
                for i, s, t, o, c in ids
            ],
        )
    if pending.updates:
        session.execute(sa.update(Case), pending.updates)
    if pending.history:
        _record_history(session, pending.history)
    pending.inserts.clear()
    pending.updates.clear()
    pending.history.clear()


def _record_history(session: Session, changes: list[_Change]) -> None:
    """Moves open a new allocation from the extract's date; closures end the current one."""
    latest: dict[int, CaseAllocation] = {}
    for allocation in session.exec(
        select(CaseAllocation)
        .where(col(CaseAllocation.case_id).in_([c.case_id for c in changes]))
        .order_by(col(CaseAllocation.from_date), col(CaseAllocation.id))
    ):
        latest[allocation.case_id] = allocation
    for change in changes:
        last, closed_on = latest[change.case_id], change.closed_on
        if (
            change.moved
            and last.from_date < change.on
            and (closed_on is None or closed_on >= change.on)
        ):
            last.to_date = change.on - timedelta(days=1)
            session.add(
                CaseAllocation(
                    case_id=change.case_id,
                    staff_id=change.staff_id,
                    team_id=change.team_id,
                    from_date=change.on,
                    to_date=closed_on,
                )
            )
            continue
        if change.moved:
            # A same-day change, or a closed case corrected afterwards: amend, don't add history.
            last.staff_id, last.team_id = change.staff_id, change.team_id
        last.to_date = max(closed_on, last.from_date) if closed_on else None
    session.flush()


def case_manager_on(session: Session, case_ref: str, day: date) -> Staff | None:
    """Who held the case on `day` ("who held this case in March")."""
    return session.exec(
        select(Staff)
        .join(CaseAllocation, col(CaseAllocation.staff_id) == col(Staff.id))
        .join(Case, col(Case.id) == col(CaseAllocation.case_id))
        .where(col(Case.case_ref) == case_ref, col(CaseAllocation.from_date) <= day)
        .where(sa.or_(col(CaseAllocation.to_date).is_(None), col(CaseAllocation.to_date) >= day))
        .order_by(col(CaseAllocation.from_date).desc())
    ).first()
