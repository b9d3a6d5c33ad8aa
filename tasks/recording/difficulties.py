"""E4: consistent difficulties in meeting a standard, reported to managers as soon as they are seen."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Audit, Case, EmailMessage, Finding, Question, Staff, Team
from models.base import id_of
from models.enums import APART, AnswerType, AuditStatus, Judgement, Role
from models.settings import Settings
from tasks.outbox import queue_email
from tasks.summary import team_manager
from tasks.workdays import Quarter


@dataclass(frozen=True)
class Difficulty:
    team_id: int
    code: str
    question: str
    judged: int
    insufficient: int
    recent: list[dict[str, str]]


def difficulties_after(session: Session, audit: Audit, settings: Settings) -> list[Difficulty]:
    """For each judged standard of this audit: is it insufficient often enough in the team's latest?"""
    case = session.get(Case, audit.case_id) if audit.case_id else None
    if case is None or audit.kind in APART:
        return []  # A5, A2: a re-mark, or a case manager's own audit, is no manager's evidence
    codes = session.execute(
        sa.select(col(Question.code), col(Question.text))
        .join(Finding, col(Finding.question_id) == Question.id)
        .where(
            col(Finding.audit_id) == audit.id,
            col(Question.answer_type).in_([AnswerType.JUDGEMENT, AnswerType.SUFFICIENCY]),
        )
    ).all()
    found = []
    for code, text in codes:
        rows = session.execute(
            sa.select(col(Finding.judgement), col(Case.case_ref), col(Audit.completed_on))
            .join(Question, col(Question.id) == Finding.question_id)
            .join(Audit, col(Audit.id) == Finding.audit_id)
            .join(Case, col(Case.id) == Audit.case_id)
            .where(
                col(Question.code) == code,
                col(Case.team_id) == case.team_id,
                col(Audit.status) == AuditStatus.COMPLETED,
                col(Audit.kind).not_in(APART),
                col(Finding.judgement).is_not(None),
                col(Finding.judgement) != Judgement.NOT_APPLICABLE,
            )
            .order_by(col(Audit.completed_on).desc(), col(Audit.id).desc())
            .limit(settings.difficulty_window)
        ).all()
        insufficient = sum(1 for j, _, _ in rows if j is Judgement.INSUFFICIENT)
        needed = math.ceil(settings.difficulty_share * len(rows))
        if len(rows) >= settings.difficulty_minimum and insufficient >= needed:
            recent = [
                {"case_ref": ref, "completed_on": str(done), "judgement": j.label}
                for j, ref, done in rows
                if j is not None  # always: the query reads judged findings only
            ]
            found.append(Difficulty(case.team_id, code, text, len(rows), insufficient, recent))
    return found


def difficulty_key(quarter: Quarter, team_id: int, code: str, person_id: int) -> str:
    return f"difficulty:{quarter}:{team_id}:{code}:{person_id}"


def difficulties_alerted(session: Session, quarter: Quarter) -> set[tuple[int, str]]:
    """(team id, question code) of every E4 alert queued in the quarter."""
    keys = session.execute(
        sa.select(col(EmailMessage.key)).where(
            col(EmailMessage.key).startswith(f"difficulty:{quarter}:")
        )
    ).scalars()
    return {(int(k.split(":")[2]), k.split(":")[3]) for k in keys}


def report_difficulties(session: Session, audit: Audit, settings: Settings, on: date) -> int:
    """Tell the team's manager and the QA manager, once per standard, team and quarter."""
    sent = 0
    quarter = Quarter.containing(on)
    for d in difficulties_after(session, audit, settings):
        team = session.get(Team, d.team_id)
        if team is None:
            raise LookupError(f"there is no team {d.team_id}, yet a case is in it")
        manager = team_manager(session, d.team_id)
        qa = session.exec(
            select(Staff).where(Staff.role == Role.QA_MANAGER, Staff.active == sa.true())
        )
        for person in {p.id: p for p in [manager, *qa] if p}.values():
            if queue_email(
                session,
                to=[person],
                template="difficulty",
                subject=f"Consistent difficulty in {team.name}: {d.code} ({quarter})",
                key=difficulty_key(quarter, d.team_id, d.code, id_of(person)),
                kind="difficulty",
                team=team.name,
                question=d.question,
                judged=d.judged,
                insufficient=d.insufficient,
                recent=d.recent,
                threshold=f"{settings.difficulty_share:.0%} of the last {settings.difficulty_window}",
            ):
                sent += 1
    return sent
