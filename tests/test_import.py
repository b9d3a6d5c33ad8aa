"""Importers (SPEC §7): CSV and XLSX in, later extracts update by key, history kept."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from models import Case, CaseAllocation, Feedback, ImportRun, Staff, Team
from models.enums import ImportKind, MappaLevel, OrderType, Role, SocialCareStatus
from tasks.importing import case_manager_on, import_file
from tasks.summary import team_manager
from tests.factories import (
    CM_A,
    CM_B,
    MANAGER,
    SERVICE_MANAGER,
    base_staff,
    case_row,
    feedback_row,
    staff_row,
    write_csv,
    write_xlsx,
)

AS_OF = date(2026, 11, 25)


def _staff(session: Session, tmp_path: Path) -> None:
    import_file(
        session, ImportKind.STAFF, write_csv(tmp_path / "staff.csv", base_staff()), as_of=AS_OF
    )


def test_import_staff_creates_teams_staff_and_line_management(
    session: Session, tmp_path: Path
) -> None:
    report = import_file(
        session, ImportKind.STAFF, write_csv(tmp_path / "staff.csv", base_staff()), as_of=AS_OF
    )
    assert (report.rows, report.created, report.updated) == (4, 4, 0)
    staff = {s.email: s for s in session.exec(select(Staff))}
    assert staff[CM_A].line_manager_id == staff[MANAGER].id
    assert staff[MANAGER].line_manager_id == staff[SERVICE_MANAGER].id
    assert (
        staff[SERVICE_MANAGER].team_id is None
        and staff[SERVICE_MANAGER].role is Role.SERVICE_MANAGER
    )
    team = session.exec(select(Team)).one()
    assert team.name == "North"
    assert team_manager(session, team.id).email == MANAGER


def test_import_staff_again_updates_by_email_and_marks_leavers(
    session: Session, tmp_path: Path
) -> None:
    _staff(session, tmp_path)
    rows = base_staff()
    rows[3] = staff_row(
        email=CM_B.upper(), name="Bob Case", active="no"
    )  # emails match whatever the case
    rows.append(staff_row(email="new@yot.example.org", name="New Starter", team="South"))
    report = import_file(
        session, ImportKind.STAFF, write_csv(tmp_path / "staff2.csv", rows), as_of=AS_OF
    )
    assert (report.created, report.updated, report.unchanged) == (1, 1, 3)
    session.expire_all()
    assert session.exec(select(Staff).where(Staff.email == CM_B)).one().active is False
    assert {t.name for t in session.exec(select(Team))} == {"North", "South"}


def test_import_cases_then_a_later_extract_records_closures_and_moves(
    session: Session, tmp_path: Path
) -> None:
    _staff(session, tmp_path)
    first = [case_row(), case_row(case_ref="YJ26-00002", opened_on="2026-01-10")]
    report = import_file(
        session, ImportKind.CASES, write_csv(tmp_path / "march.csv", first), as_of=date(2026, 3, 31)
    )
    assert (report.created, report.updated) == (2, 0)

    later = [
        case_row(case_manager_email=CM_B),
        case_row(case_ref="YJ26-00002", opened_on="2026-01-10", closed_on="2026-06-30"),
        case_row(case_ref="YJ26-00003", opened_on="2026-07-01", young_person_ref="YP2"),
    ]
    report = import_file(
        session, ImportKind.CASES, write_csv(tmp_path / "july.csv", later), as_of=date(2026, 7, 15)
    )
    assert (report.created, report.updated, report.closed, report.reallocated) == (1, 2, 1, 1)

    assert (
        case_manager_on(session, "YJ26-00001", date(2026, 3, 15)).email == CM_A
    )  # who held it in March
    assert case_manager_on(session, "YJ26-00001", date(2026, 7, 14)).email == CM_A
    assert case_manager_on(session, "YJ26-00001", date(2026, 7, 15)).email == CM_B
    assert case_manager_on(session, "YJ26-00002", date(2026, 7, 1)) is None  # closed on 30 June
    history = session.exec(
        select(CaseAllocation)
        .join(Case)
        .where(Case.case_ref == "YJ26-00001")
        .order_by(CaseAllocation.from_date)
    ).all()
    assert [(h.from_date, h.to_date) for h in history] == [
        (date(2026, 3, 2), date(2026, 7, 14)),
        (date(2026, 7, 15), None),
    ]
    case = session.exec(select(Case).where(Case.case_ref == "YJ26-00002")).one()
    assert case.closed_on == date(2026, 6, 30)

    # The same extract again changes nothing.
    report = import_file(
        session, ImportKind.CASES, write_csv(tmp_path / "july.csv", later), as_of=date(2026, 7, 15)
    )
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert session.execute(sa.select(sa.func.count()).select_from(CaseAllocation)).scalar_one() == 4
    assert session.execute(sa.select(sa.func.count()).select_from(ImportRun)).scalar_one() == 4


def test_import_cases_from_xlsx_with_date_cells_and_numeric_references(
    session: Session, tmp_path: Path
) -> None:
    _staff(session, tmp_path)
    row = case_row(
        case_ref=10234.0,
        date_of_birth=datetime(2010, 5, 1),  # noqa: DTZ001  (Excel date cells are naive)
        opened_on=datetime(2026, 3, 2),  # noqa: DTZ001
        order_type="Detention and Training Order",
        social_care_status="LAC",
        mappa_level=2,
    )
    import_file(session, ImportKind.CASES, write_xlsx(tmp_path / "cases.xlsx", [row]), as_of=AS_OF)
    case = session.exec(select(Case)).one()
    assert case.case_ref == "10234"
    assert case.date_of_birth == date(2010, 5, 1) and case.opened_on == date(2026, 3, 2)
    assert case.order_type is OrderType.DTO_CUSTODY
    assert (
        case.social_care_status is SocialCareStatus.LOOKED_AFTER
        and case.mappa_level is MappaLevel.LEVEL_2
    )


def test_import_accepts_bom_semicolons_and_windows_encoding(
    session: Session, tmp_path: Path
) -> None:
    _staff(session, tmp_path)
    bom = write_csv(tmp_path / "bom.csv", [case_row()], encoding="utf-8-sig")
    semicolons = write_csv(tmp_path / "semi.csv", [case_row(case_ref="YJ26-2")], delimiter=";")
    windows = write_csv(
        tmp_path / "win.csv",
        [case_row(case_ref="YJ26-3", young_person_name="Zoë Brontë", ethnicity="White – Irish")],
        encoding="cp1252",
    )
    for path in (bom, semicolons, windows):
        import_file(session, ImportKind.CASES, path, as_of=AS_OF)
    case = session.exec(select(Case).where(Case.case_ref == "YJ26-3")).one()
    assert case.young_person_name == "Zoë Brontë"  # Windows-1252 read as such
    # The DfE's "White - Irish" (with an en dash), stored as the 2021 census names it (O3).
    assert case.ethnicity == "White: Irish"


def test_header_names_are_matched_loosely(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(
        "Email,Name,Role,Team,Line Manager Email,Active,Extra column\n"
        "sam@yot.example.org,Sam,Service manager,,,Y,ignored\n",
        encoding="utf-8",
    )
    report = import_file(session, ImportKind.STAFF, path, as_of=AS_OF)
    assert report.created == 1


def test_import_feedback_twice_does_not_duplicate(session: Session, tmp_path: Path) -> None:
    _staff(session, tmp_path)
    import_file(session, ImportKind.CASES, write_csv(tmp_path / "c.csv", [case_row()]), as_of=AS_OF)
    rows = [
        feedback_row(),
        feedback_row(
            source="complaint",
            case_ref="",
            summary="Late for appointments.",
            lessons_learnt="Reminder texts.",
            resolved_on="2026-06-20",
        ),
    ]
    path = write_csv(tmp_path / "feedback.csv", rows)
    assert import_file(session, ImportKind.FEEDBACK, path, as_of=AS_OF).created == 2
    rows[1]["resolved_on"] = "2026-06-21"
    report = import_file(
        session, ImportKind.FEEDBACK, write_csv(tmp_path / "feedback.csv", rows), as_of=AS_OF
    )
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    items = session.exec(select(Feedback).order_by(Feedback.received_on, Feedback.id)).all()
    assert len(items) == 2
    assert items[0].themes == ["communication", "respect"]
    assert items[1].case_id is None


def test_reopened_case_and_same_day_correction_keep_history_tidy(
    session: Session, tmp_path: Path
) -> None:
    _staff(session, tmp_path)
    day = date(2026, 6, 1)
    import_file(
        session,
        ImportKind.CASES,
        write_csv(tmp_path / "a.csv", [case_row(closed_on="2026-05-01")]),
        as_of=day,
    )
    assert case_manager_on(session, "YJ26-00001", date(2026, 5, 2)) is None
    import_file(
        session, ImportKind.CASES, write_csv(tmp_path / "b.csv", [case_row()]), as_of=day
    )  # re-opened
    assert case_manager_on(session, "YJ26-00001", date(2026, 5, 20)).email == CM_A
    # A correction on the day of the extract amends the allocation rather than adding a one-day one.
    import_file(
        session,
        ImportKind.CASES,
        write_csv(tmp_path / "c.csv", [case_row(case_manager_email=CM_B)]),
        as_of=day,
    )
    import_file(
        session,
        ImportKind.CASES,
        write_csv(tmp_path / "d.csv", [case_row(case_manager_email=CM_A)]),
        as_of=day,
    )
    rows = session.exec(select(CaseAllocation).order_by(CaseAllocation.from_date)).all()
    assert [(r.from_date, r.to_date) for r in rows] == [
        (date(2026, 3, 2), date(2026, 5, 31)),
        (day, None),
    ]
    staff_a = session.exec(select(Staff).where(Staff.email == CM_A)).one().id
    assert [r.staff_id for r in rows] == [staff_a, staff_a]
    assert case_manager_on(session, "YJ26-00001", day).email == CM_A


def test_import_staff_and_feedback_from_xlsx(session: Session, tmp_path: Path) -> None:
    rows = [{**r, "active": True} for r in base_staff()]
    rows[2]["active"] = False  # a real boolean cell
    import_file(session, ImportKind.STAFF, write_xlsx(tmp_path / "staff.xlsx", rows), as_of=AS_OF)
    assert session.exec(select(Staff).where(Staff.email == CM_A)).one().active is False
    import_file(
        session, ImportKind.CASES, write_xlsx(tmp_path / "cases.xlsx", [case_row()]), as_of=AS_OF
    )
    fb = feedback_row(received_on=datetime(2026, 6, 1), case_ref="")  # noqa: DTZ001
    report = import_file(
        session, ImportKind.FEEDBACK, write_xlsx(tmp_path / "fb.xlsx", [fb]), as_of=AS_OF
    )
    assert report.created == 1


def test_a_leaver_with_a_colleagues_name_does_not_block_the_colleague(
    session: Session, tmp_path: Path
) -> None:
    """An extract names the allocated worker; a leaver called the same as an active colleague is
    passed over (the case is the colleague's). Two active people of one name are still refused
    (tests/test_import_profiles.py)."""
    leaver = staff_row(email="ann.old@yot.example.org", name="Ann Case", active="no")
    staff = write_csv(tmp_path / "staff.csv", [*base_staff(), leaver])
    import_file(session, ImportKind.STAFF, staff, as_of=AS_OF)
    named = write_csv(tmp_path / "cases.csv", [case_row(case_manager_email="Ann Case")])
    import_file(session, ImportKind.CASES, named, as_of=AS_OF)
    case = session.exec(select(Case)).one()
    assert session.get(Staff, case.case_manager_id).email == CM_A

    # Only a leaver has the name: the case is theirs (the extract may predate their leaving).
    gone = staff_row(email="zed.old@yot.example.org", name="Zed Gone", active="no")
    import_file(
        session,
        ImportKind.STAFF,
        write_csv(tmp_path / "s2.csv", [*base_staff(), leaver, gone]),
        as_of=AS_OF,
    )
    theirs = write_csv(tmp_path / "c2.csv", [case_row(case_manager_email="Zed Gone")])
    import_file(session, ImportKind.CASES, theirs, as_of=AS_OF)
    session.expire_all()
    case = session.exec(select(Case)).one()
    assert session.get(Staff, case.case_manager_id).email == "zed.old@yot.example.org"
