"""Loads what the sampling rules need from the database, in a handful of queries."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session

from models import Audit, Case, Staff
from models.enums import AuditCategory, AuditKind, AuditStatus, Role
from tasks.sampling.rules import Candidate, age_band


def open_on(day: date) -> sa.ColumnElement[bool]:
    return sa.and_(Case.opened_on <= day, sa.or_(Case.closed_on.is_(None), Case.closed_on > day))  # type: ignore[union-attr]


def load_pool(session: Session, day: date) -> list[Candidate]:
    """Every case open on `day`, with its audit history as the rules see it."""
    live = Audit.status != AuditStatus.WITHDRAWN
    audited = set(
        session.execute(
            sa.select(Audit.case_id)
            .where(live, Audit.category == AuditCategory.COMPLIANCE, Audit.case_id.is_not(None))  # type: ignore[union-attr]
            .distinct()
        ).scalars()
    )
    last_selected = dict(
        session.execute(
            sa.select(Audit.case_id, sa.func.max(Audit.assigned_on))
            .where(live)
            .group_by(Audit.case_id)
        )
        .tuples()
        .all()
    )
    rows = session.execute(
        sa.select(
            Case.id,
            Case.case_ref,
            Case.case_manager_id,
            Case.team_id,
            Case.order_type,
            Case.gender,
            Case.ethnicity,
            Case.date_of_birth,
            Case.opened_on,
        )
        .where(open_on(day))
        .order_by(Case.id)
    )
    pool = []
    for cid, ref, cm, team, order, gender, ethnicity, born, opened in rows:
        age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        pool.append(
            Candidate(
                case_id=cid,
                case_ref=ref,
                case_manager_id=cm,
                team_id=team,
                order_family=order.family,
                gender=gender.label,
                ethnicity=ethnicity,
                age_band=age_band(age),
                opened_on=opened,
                compliance_audited=cid in audited,
                last_selected_on=last_selected.get(cid),
            )
        )
    return pool


def last_sampled(session: Session, day: date) -> dict[int, date]:
    """S6: when each case manager last had a case file sampled (by assignment date)."""
    return dict(
        session.execute(
            sa.select(Audit.subject_staff_id, sa.func.max(Audit.assigned_on))
            .where(
                Audit.kind == AuditKind.CASE_FILE,
                Audit.status != AuditStatus.WITHDRAWN,
                Audit.assigned_on <= day,
            )
            .group_by(Audit.subject_staff_id)
        )
        .tuples()
        .all()
    )


def active_staff(session: Session, role: Role) -> list[Staff]:
    query = sa.select(Staff).where(Staff.role == role, Staff.active == sa.true()).order_by(Staff.id)
    return list(session.execute(query).scalars())
