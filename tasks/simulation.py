"""Simulated auditors and action owners, so a year of the framework can be run in minutes.

Every choice is drawn from a generator seeded by the run's seed and the audit's (or action's)
id, so a simulation is reproducible and a day can be re-run without changing what happened.
Audits go through the same validation and recording as a real form (`record_audit`).
"""

from __future__ import annotations

import csv
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import (
    Acknowledgement,
    ActionPoint,
    Audit,
    Case,
    EmailMessage,
    Finding,
    Question,
    Staff,
    Team,
)
from models.base import id_column, id_of
from models.enums import (
    ActionStatus,
    AnswerType,
    AuditKind,
    AuditStatus,
    FeedbackSource,
    Judgement,
    Role,
    YesNo,
)
from models.errors import InvalidInput
from models.settings import Settings, get_settings
from tasks import steps
from tasks.catalogue import CATALOGUE
from tasks.demo import holds_a_service, is_demo_service, load_demo_service
from tasks.outputs import Outputs
from tasks.recording.acknowledge import acknowledge_findings
from tasks.recording.actions import complete_action
from tasks.recording.form import ActionIn, Answer, AuditForm
from tasks.recording.record import mark_not_done, questions_for, record_audit
from tasks.workdays import (
    Month,
    add_working_days,
    first_working_day,
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
FEEDBACK_MIX = [
    (FeedbackSource.VIEWPOINT_SURVEY, 30),
    (FeedbackSource.EXIT_SURVEY, 25),
    (FeedbackSource.COMPLAINT, 12),
    (FeedbackSource.COMPLIMENT, 15),
    (FeedbackSource.PROFESSIONAL_FEEDBACK, 10),
    (FeedbackSource.CASE_MANAGEMENT_REVIEW, 8),
]


@dataclass
class DayResult:
    """What the simulated auditors did on a day."""

    day: date
    recorded: int = 0
    not_done: int = 0


@dataclass
class SpanResult:
    """What happened over a simulated span: the months sampled, then the days' totals."""

    months: list[str] = field(default_factory=list)
    days: int = 0
    samples: int = 0
    recorded: int = 0
    not_done: int = 0
    actions_completed: int = 0


def _rng(seed: int, what: str, ident: int) -> random.Random:
    return random.Random(f"{seed}:{what}:{ident}")


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def fate_of(audit: Audit, seed: int) -> tuple[str, date]:
    """What becomes of an audit and on which day (before, after or at its deadline)."""
    rng = _rng(seed, "audit", audit.id or 0)
    fate = _pick(rng, FATES)
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
            answers[q.code] = Answer(value=first[q.code])
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
                value = _pick(seen, [("sufficient", 50), ("good", 36), ("excellent", 14)])
            else:
                value, weak = Judgement.INSUFFICIENT.value, weak + 1
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
    return AuditForm(
        audit_id=id_of(audit),
        recorded_by=auditor.email,
        answers=answers,
        action_points=actions,
        good_practice=[rng.choice(GOOD_PRACTICE)] if rng.random() < 0.3 else [],
        high_risk=HIGH_RISK if rng.random() < 0.03 else "",
        recorded_in_cms=rng.random() < 0.9,
    )


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


def monthly_feedback(session: Session, day: date, *, seed: int, directory: Path) -> int:
    """Last month's service-user feedback, written as the feedback extract and imported as one."""
    from tasks.demo import FEEDBACK_THEMES, _feedback_text
    from tasks.importing.feedback import import_feedback

    month = Month.of(day).next(-1)
    rng = random.Random(f"{seed}:feedback:{month}")
    cases = session.exec(
        select(col(Case.case_ref), col(Team.name))
        .join(Team, col(Team.id) == col(Case.team_id))
        .order_by(col(Case.id))
    ).all()
    if not cases:
        return 0
    rows = []
    for _ in range(rng.randint(3, 8)):
        source = FeedbackSource(_pick(rng, [(s.value, w) for s, w in FEEDBACK_MIX]))
        ref, team = rng.choice(cases)
        received = month.first_day + timedelta(days=rng.randint(0, 27))
        themes = rng.sample(FEEDBACK_THEMES, rng.randint(1, 3))
        summary, lessons, resolved = _feedback_text(rng, source, themes, received)
        rows.append(
            {
                "received_on": received.isoformat(),
                "source": source.value,
                "team": team,
                "case_ref": ref if source is not FeedbackSource.PROFESSIONAL_FEEDBACK else "",
                "themes": ";".join(themes),
                "summary": summary,
                "lessons_learnt": lessons,
                "resolved_on": resolved.isoformat() if resolved and resolved < day else "",
            }
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"feedback-{month}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return import_feedback(session, path, as_of=day).created


def simulate_span(
    session: Session,
    start: date,
    end: date,
    *,
    seed: int = 1,
    sample: Callable[[Session, date], object] | None = None,
    jobs: Callable[[Session, date], None] | None = None,
    progress: Callable[[date], None] | None = None,
    weak_team_id: int | None = None,
) -> SpanResult:
    """Each working day: the day's jobs (by default only the month's sample, on its first working
    day; `jobs` runs the whole timetable instead), then people work."""
    from tasks.sampling.monthly import sample_month

    draw = sample or sample_month
    settings = get_settings()
    result = SpanResult()
    day = start
    while day <= end:
        if is_working_day(day):
            if day == first_working_day(day.year, day.month):
                monthly_feedback(
                    session, day, seed=seed, directory=Outputs.configured().simulated
                )
                result.samples += 1
                result.months.append(f"{day:%Y-%m}")
                if jobs is None:
                    draw(session, day)
            if jobs is not None:
                session.commit()  # the jobs use sessions of their own
                jobs(session, day)
            r = act_as_auditors(
                session, day, seed=seed, start=start, settings=settings, weak_team_id=weak_team_id
            )
            result.recorded += r.recorded
            result.not_done += r.not_done
            result.actions_completed += act_as_owners(session, day, seed=seed)
            act_as_case_managers(session, day, seed=seed)
            session.commit()
            result.days += 1
        if progress:
            progress(day)
        day += timedelta(days=1)
    log.info(
        "simulated %s to %s: %d months, %d audits recorded, %d not done, %d actions completed",
        start,
        end,
        result.samples,
        result.recorded,
        result.not_done,
        result.actions_completed,
    )
    return result


def staff_change(session: Session, day: date, *, seed: int) -> str:
    """Mid-year turnover: an operational manager leaves (the daily chase hands their open audits
    to a colleague) and a successor takes over their team and its case managers."""
    from tasks.demo import FIRST_NAMES, SURNAMES

    managers = session.exec(
        select(Staff)
        .where(
            col(Staff.role) == Role.OPERATIONAL_MANAGER,
            col(Staff.active) == sa.true(),
            col(Staff.team_id).is_not(None),
        )
        .order_by(col(Staff.id))
    ).all()
    if len(managers) < 2:
        return ""
    rng = random.Random(f"{seed}:turnover:{day}")
    leaver = rng.choice(list(managers))
    taken = set(session.exec(select(Staff.email)))
    first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
    domain = leaver.email.split("@", 1)[1]
    email = f"{first}.{last}".lower().replace("-", "") + f"@{domain}"
    while email in taken:
        email = email.replace("@", "1@", 1)
    successor = Staff(
        email=email,
        name=f"{first} {last}",
        role=Role.OPERATIONAL_MANAGER,
        team_id=leaver.team_id,
        line_manager_id=leaver.line_manager_id,
    )
    session.add(successor)
    leaver.active = False
    session.add(leaver)
    session.flush()
    for report in session.exec(select(Staff).where(col(Staff.line_manager_id) == leaver.id)):
        report.line_manager_id = successor.id
        session.add(report)
    session.commit()
    log.info("simulated turnover on %s: an operational manager left, a successor joined", day)
    return f"{leaver.name} left on {day}; {successor.name} took over the team"


@dataclass
class TimetableResult:
    span: SpanResult
    runs: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    sent: int = 0
    written: int = 0  # as .eml files: no SMTP host is set
    emails: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)


def demo_service_for(session: Session, start: date) -> tuple[bool, int | None]:
    """The demo service a simulation writes into: loaded as of `start` if the database is empty
    (True), else the one already there (False); with the team made weak in one section (E4).
    A real service is refused: simulated audits must never mix with real ones."""
    loaded = not holds_a_service(session)
    if loaded:
        load_demo_service(session, Outputs.configured().demo, seed=2012, as_of=start)
    elif not is_demo_service(session):
        raise InvalidInput(
            "this database holds a real service: simulate only writes into the demo service. "
            "Point YOTQA_DATABASE_URL at a new database (e.g. sqlite:///var/simulation.db) "
            "and run again; the demo service is loaded for you."
        )
    weak = session.exec(select(id_column(Team)).order_by(col(Team.id))).first()
    return loaded, weak


def _delivered(result: TimetableResult, counts: dict[str, Any]) -> None:
    """Add what a job (or the last send of the span) delivered."""
    result.sent += counts.get("sent", 0)
    result.written += counts.get("written", 0)


def timetable_days(start: date, end: date) -> dict[date, list[str]]:
    """The flows the timetable runs on each day of [start, end] (rows sharing a flow run once)."""
    from tasks.timetable import load_timetable, runs_between

    timetable = load_timetable(get_settings().timetable_file)
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    by_day: dict[date, list[str]] = defaultdict(list)
    for run in sorted(
        runs_between(timetable, start, months), key=lambda r: (r.run_on, r.entry.time)
    ):
        if run.run_on <= end and run.entry.flow not in by_day[run.run_on]:
            by_day[run.run_on].append(run.entry.flow)
    daily = [e.flow for e in timetable.daily]
    day, out = start, {}
    while day <= end:
        if is_working_day(day):
            out[day] = by_day.get(day, []) + daily
        day += timedelta(days=1)
    return out


def simulate_timetable(
    session: Session,
    start: date,
    end: date,
    *,
    seed: int = 1,
    progress: Callable[[date], None] | None = None,
    weak_team_id: int | None = None,
) -> TimetableResult:
    """Run the whole timetable day by day over [start, end] with simulated auditors and owners:
    every job as its deployment would run it (without Prefect), every email through the outbox."""
    plan = timetable_days(start, end)
    result = TimetableResult(SpanResult())
    # One staff change a year, in the middle of a month's audits (the 10th working day of September).
    turnover = {
        add_working_days(first_working_day(y, 9), 9) for y in range(start.year, end.year + 1)
    }

    def day_jobs(session: Session, day: date) -> None:
        if day in turnover:
            result.events.append(staff_change(session, day, seed=seed))
        for flow in plan.get(day, []):
            started = time.perf_counter()
            outcome = CATALOGUE[flow](day)
            result.runs[flow] += 1
            result.seconds[flow] += time.perf_counter() - started
            _delivered(result, outcome.result)

    result.span = simulate_span(
        session,
        start,
        end,
        seed=seed,
        jobs=day_jobs,
        progress=progress,
        weak_team_id=weak_team_id,
    )
    _delivered(result, steps.send_outbox())
    result.emails = dict(
        session.execute(
            sa.select(col(EmailMessage.kind), sa.func.count()).group_by(col(EmailMessage.kind))
        )
        .tuples()
        .all()
    )
    outputs = Outputs.configured()
    for name, folder in (
        ("packs", outputs.packs),
        ("reports", outputs.reports),
        ("exports", outputs.exports),
    ):
        result.files[name] = sum(1 for p in folder.rglob("*") if p.is_file())
    return result
