"""E4: consistent difficulties in meeting a standard, reported to managers as soon as they are seen."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session

from models import Audit, Case, EmailMessage, Finding, Question, Staff, Team
from models.enums import AnswerType, AuditStatus, Judgement, Role
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
    if case is None:
        return []
    codes = session.execute(
        sa.select(Question.code, Question.text)
        .join(Finding, Finding.question_id == Question.id)
        .where(Finding.audit_id == audit.id, Question.answer_type == AnswerType.JUDGEMENT)
    ).all()
    found = []
    for code, text in codes:
        rows = session.execute(
            sa.select(Finding.judgement, Case.case_ref, Audit.completed_on)
            .join(Question, Question.id == Finding.question_id)
            .join(Audit, Audit.id == Finding.audit_id)
            .join(Case, Case.id == Audit.case_id)
            .where(
                Question.code == code,
                Case.team_id == case.team_id,
                Audit.status == AuditStatus.COMPLETED,
                Finding.judgement.is_not(None),
                Finding.judgement != Judgement.NOT_APPLICABLE,
            )  # type: ignore[union-attr]
            .order_by(Audit.completed_on.desc(), Audit.id.desc())
            .limit(settings.difficulty_window)  # type: ignore[union-attr]
        ).all()
        insufficient = sum(1 for j, _, _ in rows if j is Judgement.INSUFFICIENT)
        needed = math.ceil(settings.difficulty_share * len(rows))
        if len(rows) >= settings.difficulty_minimum and insufficient >= needed:
            recent = [
                {"case_ref": ref, "completed_on": str(done), "judgement": j.label}
                for j, ref, done in rows
            ]
            found.append(Difficulty(case.team_id, code, text, len(rows), insufficient, recent))
    return found


def difficulty_key(quarter: Quarter, team_id: int, code: str, person_id: int) -> str:
    return f"difficulty:{quarter}:{team_id}:{code}:{person_id}"


def difficulties_alerted(session: Session, quarter: Quarter) -> set[tuple[int, str]]:
    """(team id, question code) of every E4 alert queued in the quarter."""
    keys = session.execute(
        sa.select(EmailMessage.key).where(EmailMessage.key.startswith(f"difficulty:{quarter}:"))  # type: ignore[attr-defined]
    ).scalars()
    return {(int(k.split(":")[2]), k.split(":")[3]) for k in keys}


def report_difficulties(session: Session, audit: Audit, settings: Settings, on: date) -> int:
    """Tell the team's manager and the QA manager, once per standard, team and quarter."""
    sent = 0
    quarter = Quarter.containing(on)
    for d in difficulties_after(session, audit, settings):
        team = session.get(Team, d.team_id)
        manager = team_manager(session, d.team_id)
        qa = session.execute(
            sa.select(Staff).where(Staff.role == Role.QA_MANAGER, Staff.active == sa.true())
        ).scalars()
        for person in {p.id: p for p in [manager, *qa] if p}.values():
            if queue_email(
                session,
                to=[person],
                template="difficulty",
                subject=f"Consistent difficulty in {team.name}: {d.code} ({quarter})",  # type: ignore[union-attr]
                key=difficulty_key(quarter, d.team_id, d.code, person.id),  # type: ignore[arg-type]
                kind="difficulty",
                team=team.name,
                question=d.question,
                judged=d.judged,  # type: ignore[union-attr]
                insufficient=d.insufficient,
                recent=d.recent,
                threshold=f"{settings.difficulty_share:.0%} of the last {settings.difficulty_window}",
            ):
                sent += 1
    return sent
