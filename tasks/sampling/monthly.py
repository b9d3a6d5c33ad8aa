"""T1, T4, T11: the month's sample drawn and audits assigned with deadlines (the emails that
tell the auditors, E1, are in `tasks.sampling.notify`)."""

from __future__ import annotations

import logging
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import (
    Audit,
    QuestionSet,
    SamplingRejection,
    SamplingRun,
    SamplingSelection,
    Staff,
)
from models.base import id_column, id_of
from models.enums import (
    APART,
    AuditCategory,
    AuditKind,
    AuditStatus,
    Role,
    SamplingKind,
    SelectionMethod,
)
from models.settings import get_settings
from tasks.inspection.adaptive import weaker_case_managers
from tasks.inspection.tools import DEFAULT_TOOL, INSPECTION_TOOL, set_code
from tasks.moderation import plan_moderation, record_moderation
from tasks.reaudit import ReauditDue, reaudits_due
from tasks.sampling.notify import notify
from tasks.sampling.pool import active_staff, last_sampled, load_pool
from tasks.sampling.rules import (
    Candidate,
    Draw,
    Pick,
    enforce_mix,
    in_pool,
    makeup,
    random_draw,
    seed_for,
    team_draw,
)
from tasks.workdays import Month, Quarter, add_working_days, financial_year

log = logging.getLogger(__name__)
DEADLINE_WEEK = 3  # D2
MIN_WORKING_DAYS = 10
SERVICE_MANAGER_CASES = 2  # S9: 2 case files and the 2 matching supervision files a quarter


class AlreadySampled(Exception):
    """The month's sample exists: a re-run changes nothing (S11)."""


def due_date(period: Month, assigned_on: date) -> date:
    """D2: end of week 3 of the month, but never fewer than 10 working days after assignment."""
    return max(period.deadline(DEADLINE_WEEK), add_working_days(assigned_on, MIN_WORKING_DAYS))


@dataclass
class PlannedRun:
    sampler: Staff
    kind: SamplingKind
    seed: int
    pool: list[Candidate]
    draw: Draw
    audit_kind: AuditKind = AuditKind.CASE_FILE
    method: SelectionMethod = SelectionMethod.RANDOM
    rules: list[str] = field(default_factory=list)
    question_set: str = DEFAULT_TOOL  # a question set's code, or INSPECTION_TOOL (H1)
    reaudits: dict[int, Audit] = field(default_factory=dict)  # A1: case id -> the first audit


@dataclass
class MonthResult:
    period: str
    created: bool
    runs: int = 0
    audits: list[int] = field(default_factory=list)
    emails: int = 0
    rejections: int = 0
    pool_size: int = 0


def sample_month(session: Session, as_of: date) -> MonthResult:
    """Draw, record and assign the month of `as_of`; commits once, or not at all if already done."""
    period = Month.of(as_of)
    if _already_sampled(session, period):
        return MonthResult(str(period), created=False)
    pool = load_pool(session, as_of)
    plans = plan_month(session, period, as_of, pool)
    result = MonthResult(
        str(period), created=True, pool_size=sum(1 for c in pool if in_pool(c, as_of))
    )
    try:
        audits = record(session, period, as_of, plans)
        seed, moderations = plan_moderation(session, period, as_of)  # A5, with the sample
        audits += record_moderation(
            session, period, as_of, due_date(period, as_of), seed, moderations
        )
        result.emails = notify(session, period, audits)
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        if not _already_sampled(session, period):
            raise  # not a concurrent run: a real conflict, to be reported, not hidden
        # Another run for the same month committed first (S11): the constraint decides, not luck.
        log.info("the sample for %s was recorded by a concurrent run: nothing assigned", period)
        return MonthResult(str(period), created=False)
    result.runs = len(plans) + len({id_of(m.moderator) for m in moderations})
    result.audits = [id_of(a) for a in audits]
    result.rejections = sum(len(p.draw.rejections) for p in plans)
    log.info(
        "sampled %s: %d audits in %d runs, %d emails queued",
        period,
        len(audits),
        len(plans),
        result.emails,
    )
    return result


def _already_sampled(session: Session, period: Month) -> bool:
    kinds = [
        SamplingKind.MONTHLY,
        SamplingKind.OBSERVATION,
        SamplingKind.REAUDIT,
        SamplingKind.MODERATION,
    ]
    query = select(SamplingRun.id).where(
        col(SamplingRun.period) == str(period), col(SamplingRun.kind).in_(kinds)
    )
    return session.exec(query).first() is not None


def plan_month(
    session: Session, period: Month, on: date, pool: list[Candidate]
) -> list[PlannedRun]:
    """The draws of every sampler for the month, in the order the rules need (S6, S3, S5, S9)."""
    taken: set[int] = set()
    plans: list[PlannedRun] = plan_reaudits(session, period, on, pool, taken)  # A1, first
    history = last_sampled(session, on)
    settings = get_settings()
    weaker = {  # H4
        staff_id: w.reason
        for staff_id, w in weaker_case_managers(
            session, on, settings.risk_adaptive_audits, settings.risk_adaptive_share
        ).items()
    }
    holders_by_team: dict[int | None, set[int]] = defaultdict(set)
    for s in active_staff(session, Role.CASE_MANAGER):
        holders_by_team[s.team_id].add(id_of(s))
    by_team: dict[int, list[Candidate]] = defaultdict(list)
    for c in pool:
        by_team[c.team_id].append(c)
    for manager in active_staff(session, Role.OPERATIONAL_MANAGER):
        if manager.team_id is None:
            continue
        team_pool = by_team.get(manager.team_id, [])
        holders = sorted(
            {c.case_manager_id for c in team_pool if in_pool(c, on)}
            | holders_by_team[manager.team_id]
        )
        draw = team_draw(team_pool, holders, history, id_of(manager), on, taken, weaker)
        adaptive = [p for p in draw.picks if p.reason.startswith("H4")]
        plans.append(
            PlannedRun(
                manager,
                SamplingKind.MONTHLY,
                seed_for(period, "monthly", manager.email),
                team_pool,
                draw,
                method=SelectionMethod.TEAM_ROTATION,
                rules=[
                    "S1",
                    "S2",
                    "S4",
                    "S6",
                    "S10",
                    f"quota {len(draw.picks)} for {len(holders)} case holders",
                    *([f"H4: {len(adaptive)} risk-adaptive"] if adaptive else []),
                ],
            )
        )
    if Quarter.containing(period.first_day).months[0] == period:
        for sm in active_staff(session, Role.SERVICE_MANAGER)[:1]:
            seed = seed_for(period, "quarterly", sm.email)
            draw = random_draw(
                pool,
                SERVICE_MANAGER_CASES,
                id_of(sm),
                on,
                seed,
                taken,
                "S3: random, the service manager's quarterly sample",
            )
            plans.append(
                PlannedRun(
                    sm,
                    SamplingKind.QUARTERLY,
                    seed,
                    pool,
                    draw,
                    rules=["S1", "S3", "S4", "S9", "S10"],
                )
            )
    qa_plan = None
    for qa in active_staff(session, Role.QA_MANAGER)[:1]:
        seed = seed_for(period, "monthly", qa.email)
        draw = random_draw(
            pool, 3, id_of(qa), on, seed, taken, "S3: random, the QA manager's monthly sample"
        )
        qa_plan = PlannedRun(
            qa, SamplingKind.MONTHLY, seed, pool, draw, rules=["S1", "S3", "S4", "S10"]
        )
        plans.append(qa_plan)
    if qa_plan is not None:
        picked = [p.candidate for plan in plans for p in plan.draw.picks]
        qa_plan.rules += enforce_mix(
            qa_plan.draw, picked, pool, id_of(qa_plan.sampler), on, qa_plan.seed, taken
        )
    plans += plan_observations(session, period, on, pool)
    return plans


def plan_reaudits(
    session: Session, period: Month, on: date, pool: list[Candidate], taken: set[int]
) -> list[PlannedRun]:
    """A1: one run per auditor of the re-audits due, drawn before (and taken from) every other."""
    by_auditor: dict[int, list[ReauditDue]] = defaultdict(list)
    for due in reaudits_due(session, period, on, pool, taken):
        by_auditor[id_of(due.auditor)].append(due)
    plans = []
    for items in by_auditor.values():
        draw = Draw(picks=[Pick(d.candidate, d.reason) for d in items])
        plans.append(
            PlannedRun(
                items[0].auditor,
                SamplingKind.REAUDIT,
                seed_for(period, "reaudit", items[0].auditor.email),
                [d.candidate for d in items],
                draw,
                method=SelectionMethod.REAUDIT,
                rules=["A1", "S10", "S12"],
                reaudits={d.candidate.case_id: d.first for d in items},
            )
        )
    return plans


def plan_observations(
    session: Session, period: Month, on: date, pool: list[Candidate]
) -> list[PlannedRun]:
    """T11, S9, A6: every case manager observed once a financial year by their line manager,
    spread evenly per manager: each manager's month takes its share of their own case managers
    not yet observed over the months left."""
    year_start = Month(financial_year(period.first_day), 4)
    months_left = 12 - (
        (period.year * 12 + period.month) - (year_start.year * 12 + year_start.month)
    )
    observed = set(
        session.execute(
            sa.select(col(Audit.subject_staff_id)).where(
                col(Audit.kind) == AuditKind.OBSERVATION,
                col(Audit.status) != AuditStatus.WITHDRAWN,
                col(Audit.period) >= str(year_start),
                col(Audit.period) <= str(year_start.next(11)),
            )
        ).scalars()
    )
    by_holder: dict[int, list[Candidate]] = defaultdict(list)
    for c in pool:
        by_holder[c.case_manager_id].append(c)
    waiting: dict[int, list[Staff]] = defaultdict(list)
    for cm in active_staff(session, Role.CASE_MANAGER):
        if cm.id not in observed and cm.line_manager_id is not None and cm.id in by_holder:
            waiting[cm.line_manager_id].append(cm)
    # A6: each manager takes this month's share of their own waiting case managers, so none
    # carries the whole service's share while another has none.
    by_manager = {
        manager_id: staff[: math.ceil(len(staff) / months_left)]
        for manager_id, staff in waiting.items()
    }
    managers = {
        id_of(s): s for s in session.exec(select(Staff).where(col(Staff.id).in_(list(by_manager))))
    }
    plans = []
    for manager_id, observed_staff in sorted(by_manager.items()):
        manager = managers[manager_id]
        if not manager.active:
            continue
        seed = seed_for(period, "observation", manager.email)
        rng = random.Random(seed)
        draw = Draw()
        for cm in observed_staff:
            cases = by_holder[id_of(cm)]
            if cases:
                draw.picks.append(
                    Pick(rng.choice(cases), "T11: the case manager's observation for the year")
                )
        plans.append(
            PlannedRun(
                manager,
                SamplingKind.OBSERVATION,
                seed,
                [c for cm in observed_staff for c in by_holder[id_of(cm)]],
                draw,
                audit_kind=AuditKind.OBSERVATION,
                method=SelectionMethod.OBSERVATION_PROGRAMME,
                rules=["T11", "S9"],
                question_set="observation",
            )
        )
    return plans


def _kinds(plan: PlannedRun, first: Audit | None) -> list[AuditKind]:
    """The audits one pick makes: the plan's kind (a re-audit: the first audit's), and with the
    service manager's quarterly case file the matching supervision file (S9)."""
    return [first.kind if first else plan.audit_kind] + (
        [AuditKind.SUPERVISION_FILE] if plan.kind is SamplingKind.QUARTERLY else []
    )


def _question_set(session: Session, code: str) -> QuestionSet:
    qs = session.exec(
        select(QuestionSet)
        .where(col(QuestionSet.code) == code)
        .order_by(col(QuestionSet.version).desc())
    ).first()
    if qs is None:
        from models.errors import ConfigError

        raise ConfigError(f"question set {code!r} is not loaded: run `yotqa init`")
    return qs


def record(
    session: Session,
    period: Month,
    on: date,
    plans: list[PlannedRun],
    *,
    theme: str = "",
    requested_by: Staff | None = None,
    due: date | None = None,
) -> list[Audit]:
    """S12: the manifest of every run, and the audits it assigns (S10 three-way flag, D2 deadline)."""
    inspection_kinds = set(get_settings().inspection_tool_kinds)

    def tool_for(plan: PlannedRun, kind: AuditKind, candidate: Candidate) -> str:
        """H1: the plan's set, or the inspection-style tool where the setting names the kind."""
        default = plan.question_set == DEFAULT_TOOL and kind.value in inspection_kinds
        return set_code(INSPECTION_TOOL if default else plan.question_set, candidate.order_type)

    question_sets = {
        code: _question_set(session, code)
        for p in plans
        for code in {
            tool_for(p, kind, pick.candidate)
            for pick in p.draw.picks
            if pick.candidate.case_id not in p.reaudits
            for kind in _kinds(p, None)
        }
    }
    line_manager = dict(session.exec(select(id_column(Staff), col(Staff.line_manager_id))).all())
    due = due or due_date(period, on)
    audits: list[Audit] = []
    for plan in plans:
        eligible = [c for c in plan.pool if in_pool(c, on)]
        sampler_id = id_of(plan.sampler)
        run = SamplingRun(
            period=str(period),
            kind=plan.kind,
            sampler_id=sampler_id,
            sampling_date=on,
            seed=str(plan.seed),
            rules=plan.rules,
            pool_size=len(eligible),
            pool_makeup=makeup(eligible),
            sample_makeup=makeup(p.candidate for p in plan.draw.picks),
            theme=theme,
            requested_by_id=id_of(requested_by) if requested_by else None,
        )
        session.add(run)
        session.flush()
        run_id = id_of(run)
        for position, pick in enumerate(plan.draw.picks, start=1):
            c = pick.candidate
            first = plan.reaudits.get(c.case_id)  # A1: the same kind and question set again
            kinds = _kinds(plan, first)
            for kind in kinds:
                audit = Audit(
                    kind=kind,
                    category=AuditCategory.COMPLIANCE,
                    case_id=c.case_id,
                    subject_staff_id=c.case_manager_id,
                    auditor_id=sampler_id,
                    question_set_id=first.question_set_id
                    if first
                    else id_of(question_sets[tool_for(plan, kind, c)]),
                    reaudits_id=id_of(first) if first else None,
                    selection_method=plan.method,
                    selection_reason=pick.reason,
                    sampling_run_id=run_id,
                    period=str(period),
                    assigned_on=on,
                    due_on=due,
                    # S10's three-way meeting is for a manager's audit, not one's own (A2)
                    three_way_meeting=kind not in APART
                    and line_manager.get(c.case_manager_id) != sampler_id,
                )
                session.add(audit)
                audits.append(audit)
            session.flush()
            session.add(
                SamplingSelection(
                    run_id=run_id,
                    case_id=c.case_id,
                    position=position,
                    reason=pick.reason,
                    audit_id=audits[-len(kinds)].id,
                )
            )
        for r in plan.draw.rejections:
            session.add(
                SamplingRejection(run_id=run_id, case_id=r.candidate.case_id, reason=r.reason)
            )
    session.flush()
    return audits
