"""The simulated people: auditors who fill in and record their audits (or say why not), action
owners who close their action points, case managers who acknowledge their findings.

Every choice is drawn from a generator seeded by the run's seed and the audit's (or action's)
id, so a simulation is reproducible and a day can be re-run without changing what happened.
Audits go through the same validation and recording as a real form (`record_audit`).
"""

import logging
import random
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    Case,
    Finding,
    Question,
    Staff,
    SupportNeed,
)
from models.base import id_of
from models.enums import (
    ActionStatus,
    AnswerType,
    AuditKind,
    AuditStatus,
    Judgement,
    NeedStatus,
    YesNo,
)
from models.settings import Settings, get_settings
from tasks.recording.acknowledge import acknowledge_findings
from tasks.recording.actions import complete_action
from tasks.recording.form import ActionIn, Answer, AuditForm, NeedIn
from tasks.recording.needs import review_need, themes_of
from tasks.recording.record import mark_not_done, questions_for, record_audit
from tasks.workdays import (
    add_working_days,
    is_working_day,
    london_midnight,
)

log = logging.getLogger(__name__)

# How audits turn out (most on time, some late, a few not done with a reason: D4).
ON_TIME, LATE, NOT_DONE, LEFT_OPEN = "on time", "late", "not done", "left open"
FATES = [(ON_TIME, 80), (LATE, 11), (NOT_DONE, 6), (LEFT_OPEN, 3)]
NOT_DONE_REASONS = [
    "Auditor on long-term sick leave",
    "Case transferred out of area before the audit",
    "Capacity: auditor covering court duty",
    "Case file unavailable (awaiting archive retrieval)",
]
GOOD_PRACTICE = [
    "Clear, child-centred intervention plan written with the young person",
    "Excellent liaison with children's social care recorded on file",
    "Risk management plan reviewed promptly after new information",
    "Victim's views sought and reflected in the plan",
    "Thorough, well-evidenced assessment with a clear link to offending",
]
ACTIONS = [
    "Update the risk of harm assessment and record the review",
    "Complete the vulnerability management plan and share it with partners",
    "Record the reasons for missed appointments and the enforcement decision",
    "Review the intervention plan with the young person and their parent or carer",
    "Add the education, training and employment details to the file",
]
HIGH_RISK = "Risk of harm not reviewed after new information: manager to review today"
# One weaker section and team, so consistent difficulties (E4) show up in a year.
WEAK_SECTION = "Intervention plan"
EVIDENCE = {  # H1: what a simulated auditor writes beside a key question's answer
    True: "The file shows the work and its reasons",
    False: "The file does not show enough of the work",
}


@dataclass
class DayResult:
    """What the simulated auditors did on a day."""

    day: date
    recorded: int = 0
    not_done: int = 0


def _rng(seed: int, what: str, ident: int) -> random.Random:
    return random.Random(f"{seed}:{what}:{ident}")


def pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def fate_of(audit: Audit, seed: int) -> tuple[str, date]:
    """What becomes of an audit and on which day (before, after or at its deadline)."""
    rng = _rng(seed, "audit", audit.id or 0)
    fate = pick(rng, FATES)
    if fate == ON_TIME:
        span = max(0, (audit.due_on - audit.assigned_on).days)
        day = audit.assigned_on + timedelta(days=rng.randint(min(3, span), span))
    elif fate == LATE:
        day = add_working_days(audit.due_on, rng.randint(1, 12))
    elif fate == NOT_DONE:
        day = add_working_days(audit.due_on, rng.randint(1, 5))
    else:
        day = date.max
    while not is_working_day(day) and day != date.max:
        day += timedelta(days=1)
    return fate, day


def _quality(session: Session, audit: Audit, start: date, day: date) -> float:
    """Chance of a sufficient-or-better judgement: better where actions were completed, and over time."""
    done = session.exec(
        select(sa.func.count())
        .select_from(ActionPoint)
        .where(
            col(ActionPoint.owner_id) == audit.subject_staff_id,
            col(ActionPoint.status) == ActionStatus.COMPLETED,
        )
    ).one()
    months = max(0, (day - start).days // 30)
    return min(0.95, 0.66 + 0.03 * min(done, 5) + 0.008 * months)


def _answers_given(session: Session, audit_id: int | None) -> dict[str, str]:
    """The answers recorded for an audit (the one a moderation re-marks), as a form gives them."""
    if audit_id is None:
        return {}
    rows = session.execute(
        sa.select(
            col(Question.code),
            col(Finding.judgement),
            col(Finding.yes_no),
            col(Finding.count),
            col(Finding.text),
        )
        .join(Question, col(Question.id) == Finding.question_id)
        .where(col(Finding.audit_id) == audit_id)
    ).all()
    given: dict[str, str] = {}
    for code, judgement, yes_no, count, text in rows:
        chosen = judgement or yes_no
        given[code] = chosen.value if chosen else str(count) if count is not None else text
    return given


def filled_form(
    session: Session, audit: Audit, day: date, seed: int, start: date, weak_team_id: int | None
) -> AuditForm:
    """A plausible completed form: judgements drawn around the case manager's quality."""
    rng = _rng(seed, "form", audit.id or 0)
    auditor = session.get_one(Staff, audit.auditor_id)
    subject = session.get(Staff, audit.subject_staff_id)
    case = session.get(Case, audit.case_id) if audit.case_id else None
    p = _quality(session, audit, start, day)
    answers: dict[str, Answer] = {}
    weak = 0
    first = _answers_given(session, audit.moderates_id)
    for q in questions_for(session, audit):
        if q.code in first and rng.random() < 0.8:  # A5: a moderator mostly sees the same
            key = q.answer_type is AnswerType.SUFFICIENCY  # H1: with its evidence
            evidence = EVIDENCE[first[q.code] == "sufficient"] if key else ""
            answers[q.code] = Answer(value=first[q.code], evidence=evidence)
            continue
        chance = p + (0.12 if audit.kind is AuditKind.SELF else 0)  # A2: kinder to one's own
        if q.section == WEAK_SECTION and case is not None and case.team_id == weak_team_id:
            chance = p - 0.35
        # Two peer auditors of one case see the same file: mostly the same answer (T9 agreement).
        seen = (
            _rng(seed, f"case-{q.code}", case.id or 0)
            if audit.kind is AuditKind.PEER and case is not None and rng.random() < 0.8
            else rng
        )
        ok = seen.random() < chance
        if q.answer_type is AnswerType.JUDGEMENT:
            if rng.random() < 0.04:
                value = Judgement.NOT_APPLICABLE.value
            elif ok:
                value = pick(seen, [("sufficient", 50), ("good", 36), ("excellent", 14)])
            else:
                value, weak = Judgement.INSUFFICIENT.value, weak + 1
        elif q.answer_type is AnswerType.SUFFICIENCY:  # H1: with evidence, as a key question needs
            value = "sufficient" if ok else "not sufficient"
            weak += 0 if ok else 1
            answers[q.code] = Answer(value=value, evidence=EVIDENCE[ok])
            continue
        elif q.answer_type is AnswerType.YES_NO:
            value = YesNo.YES.value if ok else YesNo.NO.value
        elif q.answer_type is AnswerType.COUNT:
            value = str(rng.randint(0, 6))
        else:
            value = "Seen on file" if ok else "Not found on file"
        answers[q.code] = Answer(value=value)
    owner = subject if subject is not None and subject.active else None
    actions = (
        [
            ActionIn(
                priority=n,
                text=rng.choice(ACTIONS),
                owner_email=owner.email,
                deadline=add_working_days(day, rng.randint(10, 30)),
            )
            for n in range(1, min(weak, 3) + 1)
        ]
        if owner is not None and audit.kind is not AuditKind.MODERATION  # A5: none of its own
        else []
    )
    good = [rng.choice(GOOD_PRACTICE)] if rng.random() < 0.3 else []
    high_risk = HIGH_RISK if rng.random() < 0.03 else ""
    in_cms = rng.random() < 0.9
    return AuditForm(
        audit_id=id_of(audit),
        recorded_by=auditor.email,
        answers=answers,
        action_points=actions,
        good_practice=good,
        high_risk=high_risk,
        recorded_in_cms=in_cms,
        support_needs=_needs(rng, audit, weak, day),
    )


def _needs(rng: random.Random, audit: Audit, weak: int, day: date) -> list[NeedIn]:
    """A4 (§5): where an audit found weaknesses, now and then a support or training need, for
    the case manager or (a quarter of the time) their whole team, to review in one to two months."""
    if audit.kind is AuditKind.MODERATION or weak < 2 or rng.random() >= 0.35:
        return []
    return [
        NeedIn(
            theme=rng.choice(themes_of()),
            text=rng.choice(NEEDS),
            scope="team" if rng.random() < 0.25 else "individual",
            review_on=day + timedelta(days=rng.randint(30, 60)),
        )
    ]


def act_as_auditors(
    session: Session,
    day: date,
    *,
    seed: int,
    start: date,
    settings: Settings | None = None,
    weak_team_id: int | None = None,
) -> DayResult:
    """Record or mark not done every open audit whose drawn day has come."""
    result = DayResult(day)
    settings = settings or get_settings()
    open_audits = session.exec(
        select(Audit)
        .where(col(Audit.status) == AuditStatus.ASSIGNED, col(Audit.assigned_on) <= day)
        .order_by(col(Audit.id))
    ).all()
    for audit in open_audits:
        fate, when = fate_of(audit, seed)
        if when > day:
            continue
        auditor = session.get(Staff, audit.auditor_id)
        if auditor is None or not auditor.active:
            continue  # the chase reassigns leavers' audits; the heir's audit is drawn afresh
        if fate == NOT_DONE:
            rng = _rng(seed, "reason", audit.id or 0)
            mark_not_done(
                session,
                id_of(audit),
                reason=rng.choice(NOT_DONE_REASONS),
                on=day,
                via="simulation",
            )
            result.not_done += 1
        else:
            form = filled_form(session, audit, day, seed, start, weak_team_id)
            record_audit(
                session,
                form,
                on=day,
                source="simulated auditor",
                settings=settings,
                via="simulation",
            )
            result.recorded += 1
    return result


def act_as_owners(session: Session, day: date, *, seed: int) -> int:
    """Action owners complete most actions, some late, a few never (they show as overdue)."""
    done = 0
    rows = session.exec(
        select(ActionPoint, col(Audit.completed_on))
        .join(Audit, col(Audit.id) == col(ActionPoint.audit_id))
        .where(col(ActionPoint.status) == ActionStatus.OPEN)
        .order_by(col(ActionPoint.id))
    ).all()
    for action, raised_on in rows:
        rng = _rng(seed, "action", action.id or 0)
        if rng.random() < 0.08 or raised_on is None:
            continue  # never completed
        span = max(1, (action.deadline - raised_on).days)
        when = raised_on + timedelta(days=int(span * rng.uniform(0.3, 1.4)))
        if when <= day:
            complete_action(
                session,
                id_of(action),
                on=day,
                evidence="Checked on file (simulated)",
                via="simulation",
            )
            done += 1
    return done


NEEDS = [
    "Shadow an experienced colleague on this part of the work.",
    "Attend the next in-house training session.",
    "Go through the practice guidance together at supervision.",
    "Complete the e-learning module and discuss it at supervision.",
]


def act_as_reviewers(session: Session, day: date, *, seed: int) -> tuple[int, int]:
    """A4: team managers review support needs around their review dates, as they would from the
    link in their digest: most are met; some still needed, reviewed again a month later; a few
    never reviewed (they show as overdue). Returns (met, reviewed and still needed)."""
    met = again = 0
    for need in session.exec(
        select(SupportNeed)
        .where(
            col(SupportNeed.status) == NeedStatus.OPEN,
            col(SupportNeed.review_on) <= day + timedelta(days=3),
        )
        .order_by(col(SupportNeed.id))
    ).all():
        rng = _rng(seed, f"need-{need.times_reviewed}", need.id or 0)
        if rng.random() < 0.07:
            continue  # not reviewed: chased, and overdue in the pack
        if need.review_on + timedelta(days=rng.randint(-3, 8)) > day:
            continue
        owner = session.get(Staff, need.owner_id)
        if owner is None or not owner.active:
            continue
        still = rng.random() < 0.25 and need.times_reviewed == 0
        review_need(
            session,
            id_of(need),
            met=not still,
            note="Booked on the next course (simulated)"
            if still
            else "Seen in supervision (simulated)",
            next_review=day + timedelta(days=30) if still else None,
            on=day,
            by_id=owner.id,
            via="simulation",
        )
        again += still
        met += not still
    return met, again


RESPONSES = [
    "Agreed; I have booked time with my manager to update the plan.",
    "I had raised the VMP with the social worker already: it is now countersigned.",
    "Thank you. The review was late because the case moved teams in the summer.",
    "Helpful feedback; I would like to discuss the ROSH judgement at supervision.",
]


def act_as_case_managers(session: Session, day: date, *, seed: int) -> int:
    """Most case managers acknowledge their audit's findings within a fortnight, some with a
    response, as they would from the link in their feedback email."""
    done = 0
    rows = session.exec(
        select(Audit, col(Audit.completed_on))
        .outerjoin(Acknowledgement, col(Acknowledgement.audit_id) == col(Audit.id))
        .where(
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.completed_on) <= day,
            col(Acknowledgement.id).is_(None),
        )
        .order_by(col(Audit.id))
    ).all()
    for audit, completed_on in rows:
        rng = _rng(seed, "acknowledge", audit.id or 0)
        if rng.random() < 0.15 or completed_on is None:  # (never None: selected as <= day)
            continue  # never acknowledged: the pack shows the share
        when = completed_on + timedelta(days=rng.randint(0, 12))
        response = rng.choice(RESPONSES) if rng.random() < 0.3 else ""
        if when <= day:
            acknowledge_findings(
                session,
                id_of(audit),
                by_id=audit.subject_staff_id,
                response=response,
                via="simulation",
                at=london_midnight(day) + timedelta(hours=14),
            )
            done += 1
    return done
