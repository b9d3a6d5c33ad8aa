"""What the database holds, in figures a manager recognises (no personal data)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Case, Feedback, ImportRun, QuestionSet, Staff, Team
from models.base import id_of
from models.enums import OrderType, Role


@dataclass
class TeamSummary:
    name: str
    manager: str
    case_managers: int
    open_cases: int


@dataclass
class ServiceSummary:
    teams: list[TeamSummary]
    staff_by_role: Counter[Role]
    inactive_staff: int
    open_cases: int
    closed_cases: int
    open_by_order: Counter[OrderType]
    feedback: int
    question_sets: list[str]
    last_import: ImportRun | None

    @property
    def is_empty(self) -> bool:
        return not self.staff_by_role and not self.open_cases and not self.closed_cases


def team_manager(session: Session, team_id: int) -> Staff | None:
    """The team's operational manager: the active one who line-manages most of the team."""
    managers = session.exec(
        select(Staff)
        .where(
            col(Staff.team_id) == team_id,
            col(Staff.role) == Role.OPERATIONAL_MANAGER,
            col(Staff.active) == sa.true(),
        )
        .order_by(col(Staff.email))
    ).all()
    if len(managers) <= 1:
        return managers[0] if managers else None
    reports = Counter(
        session.exec(select(Staff.line_manager_id).where(col(Staff.team_id) == team_id)).all()
    )
    return max(managers, key=lambda m: reports[m.id])


def service_summary(session: Session, as_of: date) -> ServiceSummary:
    open_filter = sa.and_(
        col(Case.opened_on) <= as_of,
        sa.or_(col(Case.closed_on).is_(None), col(Case.closed_on) > as_of),
    )
    open_by_team = dict(
        session.execute(
            sa.select(col(Case.team_id), sa.func.count())
            .where(open_filter)
            .group_by(col(Case.team_id))
        )
        .tuples()
        .all()
    )
    cms_by_team = dict(
        session.execute(
            sa.select(col(Staff.team_id), sa.func.count())
            .where(col(Staff.role) == Role.CASE_MANAGER, col(Staff.active) == sa.true())
            .group_by(col(Staff.team_id))
        )
        .tuples()
        .all()
    )
    teams = []
    for team in session.exec(select(Team).order_by(col(Team.name))):
        manager = team_manager(session, id_of(team))
        teams.append(
            TeamSummary(
                team.name,
                manager.name if manager else "(none)",
                cms_by_team.get(team.id, 0),
                open_by_team.get(team.id, 0),
            )
        )
    total = session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one()
    open_cases = sum(open_by_team.values())
    return ServiceSummary(
        teams=teams,
        staff_by_role=Counter(
            dict(
                session.execute(
                    sa.select(col(Staff.role), sa.func.count())
                    .where(col(Staff.active) == sa.true())
                    .group_by(col(Staff.role))
                )
                .tuples()
                .all()
            )
        ),
        inactive_staff=session.execute(
            sa.select(sa.func.count()).select_from(Staff).where(col(Staff.active) == sa.false())
        ).scalar_one(),
        open_cases=open_cases,
        closed_cases=total - open_cases,
        open_by_order=Counter(
            dict(
                session.execute(
                    sa.select(col(Case.order_type), sa.func.count())
                    .where(open_filter)
                    .group_by(col(Case.order_type))
                )
                .tuples()
                .all()
            )
        ),
        feedback=session.execute(sa.select(sa.func.count()).select_from(Feedback)).scalar_one(),
        question_sets=[
            f"{q.code} v{q.version}"
            for q in session.exec(select(QuestionSet).order_by(col(QuestionSet.code)))
        ],
        last_import=session.exec(select(ImportRun).order_by(col(ImportRun.id).desc())).first(),
    )
