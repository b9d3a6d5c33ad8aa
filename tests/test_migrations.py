"""The schema: migrations reach the models' schema from nothing and from the first revision."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session, SQLModel

from models import Audit, Case, Staff, Team
from models.db import alembic_config, head_revision, make_engine, upgrade
from models.enums import AuditCategory, AuditKind, Gender, OrderType, Role, SelectionMethod
from tests.conftest import BACKENDS, new_postgres_database


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    """An empty database of its own (SQLite file or a new PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url, drop = new_postgres_database(request.getfixturevalue("postgres_server"))
    yield url
    drop()  # type: ignore[operator]


def _schema(url: str) -> dict[str, object]:
    engine = make_engine(url)
    inspector = sa.inspect(engine)
    schema = {}
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        schema[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ),
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)
            ),
            # A migration that forgets a new enumeration value leaves the old CHECK behind.
            "checks": sorted(
                (c["name"], " ".join(c["sqltext"].split()))
                for c in inspector.get_check_constraints(table)
            ),
        }
    engine.dispose()
    return schema


def _diff_against_models(url: str) -> list[object]:
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    engine.dispose()
    return diff


def test_fresh_database_and_upgrade_from_first_revision_reach_the_same_schema(
    empty_url, tmp_path
) -> None:
    script = ScriptDirectory.from_config(alembic_config(empty_url))
    first = list(script.walk_revisions())[-1].revision
    upgrade(empty_url, first)
    upgrade(empty_url, "head")
    upgraded = _schema(empty_url)
    assert _diff_against_models(empty_url) == []

    # The same models created directly, with no migrations, on the same backend.
    if empty_url.startswith("sqlite"):
        direct = f"sqlite:///{tmp_path / 'direct.db'}"
        engine = make_engine(direct)
        SQLModel.metadata.create_all(engine)
        engine.dispose()
        assert _schema(direct) == upgraded
    else:
        direct, drop = new_postgres_database(empty_url)
        try:
            engine = make_engine(direct)
            SQLModel.metadata.create_all(engine)
            engine.dispose()
            assert _schema(direct) == upgraded
        finally:
            drop()  # type: ignore[operator]


def test_init_twice_changes_nothing(empty_url) -> None:
    upgrade(empty_url)
    before = _schema(empty_url)
    upgrade(empty_url)
    assert _schema(empty_url) == before
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    engine.dispose()


def _team_and_staff(session: Session) -> tuple[Team, Staff]:
    team = Team(name="North")
    session.add(team)
    session.flush()
    staff = Staff(email="a@yot.example.org", name="A", role=Role.CASE_MANAGER, team_id=team.id)
    session.add(staff)
    session.flush()
    return team, staff


def _case(team: Team, staff: Staff, ref: str = "YJ-1", **kw) -> Case:  # type: ignore[no-untyped-def]
    values = dict(
        case_ref=ref,
        young_person_ref="YP1",
        young_person_name="N",
        date_of_birth=date(2010, 1, 1),
        gender=Gender.MALE,
        ethnicity="White British",
        order_type=OrderType.YRO,
        opened_on=date(2026, 1, 5),
        case_manager_id=staff.id,
        team_id=team.id,
    )
    return Case(**{**values, **kw})


def test_case_reference_is_unique(session: Session) -> None:
    team, staff = _team_and_staff(session)
    session.add(_case(team, staff))
    session.flush()
    session.add(_case(team, staff))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def test_second_audit_of_same_case_kind_and_period_is_refused(session: Session) -> None:
    """S11: the database itself refuses a duplicate assignment."""
    team, staff = _team_and_staff(session)
    case = _case(team, staff)
    session.add(case)
    session.flush()
    from models import QuestionSet

    qs = (
        session.exec(sa.select(QuestionSet).where(QuestionSet.code == "case-audit"))
        .scalars()
        .first()
    )  # type: ignore[call-overload]

    def audit() -> Audit:
        return Audit(
            kind=AuditKind.CASE_FILE,
            category=AuditCategory.COMPLIANCE,
            case_id=case.id,
            subject_staff_id=staff.id,
            auditor_id=staff.id,
            question_set_id=qs.id,
            selection_method=SelectionMethod.RANDOM,
            period="2026-11",
            assigned_on=date(2026, 11, 2),
            due_on=date(2026, 11, 20),
        )

    session.add(audit())
    session.flush()
    session.add(audit())
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def test_closed_before_opened_and_unknown_staff_are_refused_by_the_database(
    session: Session,
) -> None:
    team, staff = _team_and_staff(session)
    session.add(_case(team, staff, closed_on=date(2025, 12, 1)))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()
    session.rollback()
    team, staff = _team_and_staff(session)
    session.add(_case(team, staff, "YJ-2", case_manager_id=99999))
    with pytest.raises(sa.exc.IntegrityError):  # foreign keys are on for SQLite too
        session.flush()


def test_enumeration_columns_refuse_unknown_values(session: Session) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        session.execute(
            sa.text(
                "INSERT INTO staff (email, name, role, active, created_at, updated_at) "
                "VALUES ('x@y.org', 'X', 'wizard', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )


def test_timestamps_come_back_in_utc_on_every_backend(session: Session) -> None:
    team, _ = _team_and_staff(session)
    london_summer = datetime(2026, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    team.created_at = london_summer
    session.commit()
    session.expire_all()
    stored = session.get(Team, team.id)
    assert stored.created_at.tzinfo is not None
    assert stored.created_at == datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    assert stored.created_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(session: Session) -> None:
    team = Team(name="South", created_at=datetime(2026, 7, 1, 9, 30))  # noqa: DTZ001
    session.add(team)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        session.flush()
