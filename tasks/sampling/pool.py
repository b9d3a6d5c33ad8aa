"""Loads what the sampling rules need from the database, in a handful of queries."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col

from models import Audit, Case, Staff
from models.base import id_column
from models.enums import APART, AuditCategory, AuditKind, AuditStatus, Role
from tasks.sampling.rules import Candidate, age_band


def open_on(day: date) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(Case.opened_on) <= day,
        sa.or_(col(Case.closed_on).is_(None), col(Case.closed_on) > day),
    )


def load_pool(session: Session, day: date) -> list[Candidate]:
    """Every case open on `day`, with its audit history as the rules see it: management audits
    only (a moderation's re-mark or a case manager's self-audit is not a selection: A5, A2)."""
    live = sa.and_(col(Audit.status) != AuditStatus.WITHDRAWN, col(Audit.kind).not_in(APART))
    audited = set(
        session.execute(
            sa.select(col(Audit.case_id))
            .where(
                live,
                col(Audit.category) == AuditCategory.COMPLIANCE,
                col(Audit.case_id).is_not(None),
            )
            .distinct()
        ).scalars()
    )
    last_selected = dict(
        session.execute(
            sa.select(col(Audit.case_id), sa.func.max(col(Audit.assigned_on)))
            .where(live)
            .group_by(col(Audit.case_id))
        )
        .tuples()
        .all()
    )
    rows = session.execute(
        sa.select(
            id_column(Case),
            col(Case.case_ref),
            col(Case.case_manager_id),
            col(Case.team_id),
            col(Case.order_type),
            col(Case.gender),
            col(Case.ethnicity),
            col(Case.date_of_birth),
            col(Case.opened_on),
        )
        .where(open_on(day))
        .order_by(col(Case.id))
    ).tuples()
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
                order_type=order.value,
            )
        )
    return pool


def last_sampled(session: Session, day: date) -> dict[int, date]:
    """S6: when each case manager last had a case file sampled (by assignment date)."""
    return dict(
        session.execute(
            sa.select(col(Audit.subject_staff_id), sa.func.max(col(Audit.assigned_on)))
            .where(
                col(Audit.kind) == AuditKind.CASE_FILE,
                col(Audit.status) != AuditStatus.WITHDRAWN,
                col(Audit.assigned_on) <= day,
            )
            .group_by(col(Audit.subject_staff_id))
        )
        .tuples()
        .all()
    )


def active_staff(session: Session, role: Role) -> list[Staff]:
    query = (
        sa.select(Staff)
        .where(col(Staff.role) == role, col(Staff.active) == sa.true())
        .order_by(col(Staff.id))
    )
    return list(session.execute(query).scalars())
