"""A year of the framework run in minutes: the timetable day by day, with simulated people
(`tasks.simulated_people`) doing the work the emails ask of them. Everything is drawn from the
run's seed, so a simulation is reproducible and a day can be re-run without changing anything.
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
    Case,
    EmailMessage,
    Staff,
    Team,
)
from models.base import id_column
from models.enums import (
    FeedbackSource,
    Role,
)
from models.errors import InvalidInput
from models.settings import get_settings
from tasks import steps
from tasks.catalogue import CATALOGUE
from tasks.demo import holds_a_service, is_demo_service, load_demo_service
from tasks.outputs import Outputs
from tasks.simulated_people import (
    act_as_auditors,
    act_as_case_managers,
    act_as_owners,
    act_as_reviewers,
    pick,
)
from tasks.workdays import (
    Month,
    add_working_days,
    first_working_day,
    is_working_day,
)

log = logging.getLogger(__name__)

FEEDBACK_MIX = [
    (FeedbackSource.VIEWPOINT_SURVEY, 30),
    (FeedbackSource.EXIT_SURVEY, 25),
    (FeedbackSource.COMPLAINT, 12),
    (FeedbackSource.COMPLIMENT, 15),
    (FeedbackSource.PROFESSIONAL_FEEDBACK, 10),
    (FeedbackSource.CASE_MANAGEMENT_REVIEW, 8),
]


@dataclass
class SpanResult:
    """What happened over a simulated span: the months sampled, then the days' totals."""

    months: list[str] = field(default_factory=list)
    days: int = 0
    samples: int = 0
    recorded: int = 0
    not_done: int = 0
    actions_completed: int = 0
    needs_met: int = 0  # A4: support needs reviewed and met
    needs_reviewed_again: int = 0  # A4: reviewed, still needed, given a later date


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
        source = FeedbackSource(pick(rng, [(s.value, w) for s, w in FEEDBACK_MIX]))
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
                monthly_feedback(session, day, seed=seed, directory=Outputs.configured().simulated)
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
            met, again = act_as_reviewers(session, day, seed=seed)
            result.needs_met += met
            result.needs_reviewed_again += again
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
