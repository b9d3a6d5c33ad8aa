"""H3: a mock inspection. Cases are drawn as an inspection would draw them (court and
out-of-court disposals in proportion to the caseload, custody and resettlement cases where the
service holds them, minimum sizes as data), seeded and recorded like every sample (S3, S12),
assigned with the inspection-style tool to auditors who do not hold them (S10), with the month's
deadline (D2), through the normal emails and links (E1, L1)."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import SamplingRun, Staff
from models.base import id_column, id_of
from models.enums import AuditKind, Role, SamplingKind, SelectionMethod
from models.errors import InvalidInput
from tasks.inspection.ratings import MockSpec
from tasks.inspection.tools import COURT, CUSTODY, INSPECTION_TOOL, OUT_OF_COURT
from tasks.sampling.monthly import MonthResult, PlannedRun, due_date, record
from tasks.sampling.notify import notify
from tasks.sampling.pool import active_staff, load_pool
from tasks.sampling.rules import SIX_WEEKS, Candidate, Draw, Pick, in_pool, seed_for
from tasks.workdays import Month

THEME = "mock-inspection"
AUDITORS = (Role.OPERATIONAL_MANAGER, Role.QA_MANAGER)  # the management team (S9)


@dataclass(frozen=True)
class Allocation:
    court: int
    out_of_court: int


def allocate(size: int, court: int, out_of_court: int, spec: MockSpec) -> Allocation:
    """How many court and out-of-court cases a sample of `size` takes from a caseload of
    `court` and `out_of_court` cases: in proportion (rounded half up), raised to the minimum of
    out-of-court cases where the caseload has them, never more than there are."""
    total = court + out_of_court
    size = min(size, total)
    if size == 0:
        return Allocation(0, 0)
    ooc = math.floor(size * out_of_court / total + 0.5)
    ooc = min(max(ooc, min(spec.minimum_out_of_court, out_of_court)), out_of_court, size)
    taken_court = min(size - ooc, court)
    ooc = min(out_of_court, size - taken_court)  # a short court caseload leaves room
    return Allocation(taken_court, ooc)


@dataclass
class MockDraw:
    picks: list[Pick] = field(default_factory=list)
    pool: list[Candidate] = field(default_factory=list)
    allocation: Allocation = Allocation(0, 0)
    custody: int = 0

    @property
    def summary(self) -> str:
        court = sum(1 for c in self.pool if c.order_type in COURT)
        return (
            f"{len(self.picks)} cases: {self.allocation.court} court disposals of {court} "
            f"({self.custody} custody or resettlement), {self.allocation.out_of_court} "
            f"out-of-court of {len(self.pool) - court}"
        )


def draw(pool: list[Candidate], on: date, size: int, seed: int, spec: MockSpec) -> MockDraw:
    """The mock inspection's cases from `pool`, seeded (S3): court and out-of-court disposals
    open more than six weeks (S1), none selected for another audit within six weeks (S4)."""
    eligible = sorted(
        (
            c
            for c in pool
            if in_pool(c, on)
            and c.order_type in COURT | OUT_OF_COURT
            and (c.last_selected_on is None or abs((on - c.last_selected_on).days) >= SIX_WEEKS)
        ),
        key=lambda c: c.case_id,
    )
    court = [c for c in eligible if c.order_type in COURT]
    ooc = [c for c in eligible if c.order_type in OUT_OF_COURT]
    allocation = allocate(size, len(court), len(ooc), spec)
    rng = random.Random(seed)
    rng.shuffle(court)
    rng.shuffle(ooc)
    custody = [c for c in court if c.order_type in CUSTODY]
    first = custody[: min(spec.minimum_custody, allocation.court)]
    rest = [c for c in court if c not in first]
    result = MockDraw(pool=eligible, allocation=allocation, custody=0)
    for c in first:
        result.picks.append(
            Pick(
                c,
                f"H3: mock inspection, a custody or resettlement case (at least {spec.minimum_custody})",
            )
        )
    share = f"{allocation.court} of {len(court)}"
    for c in rest[: allocation.court - len(first)]:
        result.picks.append(
            Pick(c, f"H3: mock inspection, court disposals in proportion ({share})")
        )
    share = f"{allocation.out_of_court} of {len(ooc)}"
    for c in ooc[: allocation.out_of_court]:
        result.picks.append(
            Pick(c, f"H3: mock inspection, out-of-court disposals in proportion ({share})")
        )
    result.custody = sum(1 for p in result.picks if p.candidate.order_type in CUSTODY)
    return result


def assign(
    picks: list[Pick], auditors: list[Staff], line_manager: dict[int, int | None]
) -> dict[int, list[Pick]]:
    """S10: each case to an auditor who does not hold it, the one with fewest so far; among
    those, one who is not the case holder's line manager (an inspector reads the case afresh)."""
    load: Counter[int] = Counter({id_of(a): 0 for a in auditors})
    given: dict[int, list[Pick]] = {id_of(a): [] for a in auditors}
    for pick in picks:
        holder = pick.candidate.case_manager_id
        options = [a for a in load if a != holder]
        if not options:
            raise InvalidInput(
                f"S10: no auditor but the case's holder for {pick.candidate.case_ref}: "
                "add an operational manager or a QA manager to the staff list"
            )
        chosen = min(options, key=lambda a: (load[a], a == line_manager.get(holder), a))
        load[chosen] += 1
        given[chosen].append(pick)
    return {a: p for a, p in given.items() if p}


def mock_inspection(
    session: Session, on: date, size: int | None, spec: MockSpec
) -> tuple[MonthResult, MockDraw | None]:
    """Draw, record and assign the month's mock inspection; a second one in the same month
    changes nothing (S11)."""
    period = Month.of(on)
    exists = session.exec(
        select(SamplingRun.id).where(
            col(SamplingRun.period) == str(period),
            col(SamplingRun.kind) == SamplingKind.MOCK_INSPECTION,
        )
    ).first()
    if exists is not None:
        return MonthResult(str(period), created=False), None
    size = spec.size if size is None else size
    if size < 1:
        raise InvalidInput("--size must be at least 1")
    auditors = [s for role in AUDITORS for s in active_staff(session, role)]
    if not auditors:
        raise InvalidInput(
            "no active operational manager or QA manager to audit the mock inspection's cases"
        )
    seed = seed_for(period, "mock-inspection", size)
    drawn = draw(load_pool(session, on), on, size, seed, spec)
    if not drawn.picks:
        raise InvalidInput(f"no open court or out-of-court case on {on} has been open six weeks")
    line_manager = dict(session.exec(select(id_column(Staff), col(Staff.line_manager_id))).all())
    by_auditor = assign(drawn.picks, auditors, line_manager)
    staff = {id_of(a): a for a in auditors}
    rules = ["H3", "S1", "S3", "S10", "S12", drawn.summary]
    plans = [
        PlannedRun(
            staff[auditor_id],
            SamplingKind.MOCK_INSPECTION,
            seed,
            drawn.pool,
            Draw(picks=picks),
            audit_kind=AuditKind.INSPECTION,
            method=SelectionMethod.MOCK_INSPECTION,
            rules=rules,
            question_set=INSPECTION_TOOL,
        )
        for auditor_id, picks in by_auditor.items()
    ]
    try:
        audits = record(session, period, on, plans, theme=THEME, due=due_date(period, on))
        emails = notify(session, period, audits, key=SamplingKind.MOCK_INSPECTION.value)
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        if (
            session.exec(
                select(SamplingRun.id).where(
                    col(SamplingRun.period) == str(period),
                    col(SamplingRun.kind) == SamplingKind.MOCK_INSPECTION,
                )
            ).first()
            is None
        ):
            raise  # not a concurrent draw of the same month: a real conflict, to be reported
        return MonthResult(str(period), created=False), None
    return (
        MonthResult(
            str(period),
            created=True,
            runs=len(plans),
            audits=[id_of(a) for a in audits],
            emails=emails,
            pool_size=len(drawn.pool),
        ),
        drawn,
    )
