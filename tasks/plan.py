"""The improvement plan (SPEC §1, §5 "Action Planning", App. 6): outcomes, objectives, activities.

One plan per financial year; its master copy goes into every quarterly pack with the quarter's
new and completed activities. Audit action points can be linked to an objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from models import ActionPoint, ImprovementPlan, PlanActivity, PlanObjective, PlanOutcome, Staff
from models.errors import CellError, InputFileError, InvalidInput
from tasks.importing.fields import cell_text
from tasks.importing.reader import open_table
from tasks.workdays import parse_date

PLAN_COLUMNS = ["outcome", "objective", "activity", "lead_officer_email", "completion_date"]
OPTIONAL_COLUMNS = ["progress", "completed_on"]
MAX_OUTCOMES = 6  # "five or six a year"


def plan_for(session: Session, year: int, *, create: bool = False) -> ImprovementPlan | None:
    plan = session.exec(
        select(ImprovementPlan).where(ImprovementPlan.financial_year == year)
    ).first()
    if plan is None and create:
        plan = ImprovementPlan(
            financial_year=year, title=f"Improvement plan {year}-{(year + 1) % 100:02d}"
        )
        session.add(plan)
        session.flush()
    return plan


def add_outcome(session: Session, year: int, text: str) -> PlanOutcome:
    text = text.strip()
    if not text:
        raise InvalidInput("an outcome needs its text: what the service will achieve")
    plan = plan_for(session, year, create=True)
    outcomes = session.exec(select(PlanOutcome).where(PlanOutcome.plan_id == plan.id)).all()  # type: ignore[union-attr]
    if len(outcomes) >= MAX_OUTCOMES:
        raise InvalidInput(
            f"the {year} plan already has {MAX_OUTCOMES} outcomes (the framework asks for five or "
            "six a year): add objectives to one of them instead"
        )
    outcome = PlanOutcome(plan_id=plan.id, number=len(outcomes) + 1, text=text)  # type: ignore[union-attr]
    session.add(outcome)
    session.commit()
    return outcome


def _outcome(session: Session, year: int, number: int) -> PlanOutcome:
    plan = plan_for(session, year)
    outcome = (
        session.exec(
            select(PlanOutcome).where(PlanOutcome.plan_id == plan.id, PlanOutcome.number == number)
        ).first()
        if plan
        else None
    )
    if outcome is None:
        raise InvalidInput(
            f"the {year} plan has no outcome {number}: `yotqa plan show --year {year}` lists them"
        )
    return outcome


def add_objective(session: Session, year: int, outcome_number: int, text: str) -> PlanObjective:
    if not text.strip():
        raise InvalidInput("an objective needs its text")
    outcome = _outcome(session, year, outcome_number)
    objective = PlanObjective(outcome_id=outcome.id, text=text.strip())  # type: ignore[arg-type]
    session.add(objective)
    session.commit()
    return objective


def _staff(session: Session, email: str) -> Staff:
    person = session.exec(select(Staff).where(Staff.email == email.strip().lower())).first()
    if person is None or not person.active:
        raise InvalidInput(f"lead officer {email!r} is not an active member of staff's email")
    return person


def add_activity(
    session: Session,
    objective_id: int,
    text: str,
    *,
    completion_date: date,
    lead_email: str,
    on: date,
) -> PlanActivity:
    if session.get(PlanObjective, objective_id) is None:
        raise InvalidInput(
            f"there is no objective {objective_id}: `yotqa plan show` lists them with their ids"
        )
    if not text.strip():
        raise InvalidInput("an activity needs its text: what is to be done")
    activity = PlanActivity(
        objective_id=objective_id,
        text=text.strip(),
        completion_date=completion_date,
        lead_officer_id=_staff(session, lead_email).id,
        added_on=on,
    )
    session.add(activity)
    session.commit()
    return activity


def update_progress(
    session: Session, activity_id: int, progress: str, *, completed_on: date | None = None
) -> PlanActivity:
    activity = session.get(PlanActivity, activity_id)
    if activity is None:
        raise InvalidInput(f"there is no activity {activity_id}: `yotqa plan show` lists them")
    if progress.strip():
        activity.progress = progress.strip()
    if completed_on is not None:
        activity.completed_on = completed_on
    session.commit()
    return activity


def link_action(session: Session, action_id: int, objective_id: int) -> ActionPoint:
    action = session.get(ActionPoint, action_id)
    if action is None:
        raise InvalidInput(f"there is no action point {action_id}: `yotqa actions list` shows them")
    if session.get(PlanObjective, objective_id) is None:
        raise InvalidInput(f"there is no objective {objective_id}: `yotqa plan show` lists them")
    action.objective_id = objective_id
    session.commit()
    return action


@dataclass
class PlanImport:
    outcomes: int = 0
    objectives: int = 0
    activities: int = 0
    updated: int = 0


def import_plan(session: Session, path: Path, *, year: int, on: date) -> PlanImport:
    """A whole plan from CSV or XLSX, one activity per row; all rows or none, every bad cell listed.

    Outcomes and objectives are matched by their text, activities by objective and text, so a
    re-import of the updated master copy updates progress rather than adding rows twice.
    """
    table = open_table(path, PLAN_COLUMNS)
    staff = {s.email: s for s in session.exec(select(Staff).where(Staff.active == sa.true()))}
    errors: list[CellError] = []
    rows = []
    for number, raw in table.rows:
        values = {c: cell_text(raw.get(c)) for c in PLAN_COLUMNS + OPTIONAL_COLUMNS}
        before = len(errors)
        for column in ("outcome", "objective", "activity"):
            if not values[column]:
                errors.append(CellError(table.name, number, column, "required: it is empty"))
        lead = values["lead_officer_email"].lower()
        if lead not in staff:
            errors.append(
                CellError(
                    table.name,
                    number,
                    "lead_officer_email",
                    f"{lead[:60]!r} is not an active member of staff's email",
                )
            )
        dates = {}
        for column in ("completion_date", "completed_on"):
            text = values[column]
            if not text and column == "completed_on":
                dates[column] = None
                continue
            try:
                dates[column] = parse_date(text[:10])
            except InvalidInput:
                errors.append(
                    CellError(table.name, number, column, f"{text[:20]!r} is not a date YYYY-MM-DD")
                )
        if len(errors) == before:
            rows.append((values, staff[lead], dates))
    if errors:
        raise InputFileError(table.name, errors, "nothing was imported")
    if not rows:
        raise InputFileError(table.name, [CellError(table.name, None, None, "it has no rows")])
    result = PlanImport()
    plan = plan_for(session, year, create=True)
    outcomes = {
        o.text: o
        for o in session.exec(select(PlanOutcome).where(PlanOutcome.plan_id == plan.id))  # type: ignore[union-attr]
    }
    for values, lead, dates in rows:
        outcome = outcomes.get(values["outcome"])
        if outcome is None:
            outcome = PlanOutcome(plan_id=plan.id, number=len(outcomes) + 1, text=values["outcome"])  # type: ignore[union-attr]
            session.add(outcome)
            session.flush()
            outcomes[outcome.text] = outcome
            result.outcomes += 1
        objective = session.exec(
            select(PlanObjective).where(
                PlanObjective.outcome_id == outcome.id, PlanObjective.text == values["objective"]
            )
        ).first()
        if objective is None:
            objective = PlanObjective(outcome_id=outcome.id, text=values["objective"])  # type: ignore[arg-type]
            session.add(objective)
            session.flush()
            result.objectives += 1
        activity = session.exec(
            select(PlanActivity).where(
                PlanActivity.objective_id == objective.id, PlanActivity.text == values["activity"]
            )
        ).first()
        if activity is None:
            activity = PlanActivity(
                objective_id=objective.id,  # type: ignore[arg-type]
                text=values["activity"],
                completion_date=dates["completion_date"],
                added_on=on,
            )
            session.add(activity)
            result.activities += 1
        else:
            result.updated += 1
        activity.lead_officer_id = lead.id
        activity.completion_date = dates["completion_date"]
        activity.progress = values["progress"] or activity.progress
        activity.completed_on = dates["completed_on"] or activity.completed_on
    if len(outcomes) > MAX_OUTCOMES:
        session.rollback()
        raise InputFileError(
            table.name,
            [
                CellError(
                    table.name,
                    None,
                    "outcome",
                    f"{len(outcomes)} outcomes: at most {MAX_OUTCOMES} a year",
                )
            ],
        )
    session.commit()
    return result


@dataclass
class PlanTree:
    """A year's plan: its outcomes in order, each with its objectives, each with its activities."""

    plan: ImprovementPlan
    outcomes: list[tuple[PlanOutcome, list[tuple[PlanObjective, list[PlanActivity]]]]]

    @property
    def objective_ids(self) -> list[int]:
        return [o.id for _, objectives in self.outcomes for o, _ in objectives]  # type: ignore[misc]


def plan_tree(session: Session, year: int) -> PlanTree | None:
    """The whole plan in three queries (outcomes, objectives, activities), or None if there is none."""
    plan = plan_for(session, year)
    if plan is None:
        return None
    outcomes = session.exec(
        select(PlanOutcome).where(PlanOutcome.plan_id == plan.id).order_by(PlanOutcome.number)
    ).all()
    objectives = session.exec(
        select(PlanObjective)
        .where(PlanObjective.outcome_id.in_([o.id for o in outcomes]))  # type: ignore[attr-defined]
        .order_by(PlanObjective.id)
    ).all()
    activities = session.exec(
        select(PlanActivity)
        .where(PlanActivity.objective_id.in_([o.id for o in objectives]))  # type: ignore[attr-defined]
        .order_by(PlanActivity.id)
    ).all()
    by_objective: dict[int, list[PlanActivity]] = {}
    for a in activities:
        by_objective.setdefault(a.objective_id, []).append(a)
    by_outcome: dict[int, list[tuple[PlanObjective, list[PlanActivity]]]] = {}
    for o in objectives:
        by_outcome.setdefault(o.outcome_id, []).append((o, by_objective.get(o.id, [])))  # type: ignore[arg-type]
    return PlanTree(plan, [(o, by_outcome.get(o.id, [])) for o in outcomes])  # type: ignore[arg-type]


def plan_rows(session: Session, year: int) -> list[list[object]]:
    """The plan as rows for a table: outcome, objective id and text, activity id and details."""
    tree = plan_tree(session, year)
    if tree is None:
        return []
    leads = dict(session.execute(sa.select(Staff.id, Staff.name)).tuples().all())
    rows: list[list[object]] = []
    for outcome, objectives in tree.outcomes:
        if not objectives:
            rows.append([outcome.number, outcome.text, "", "", "", "", "", "", ""])
        for objective, activities in objectives:
            if not activities:
                rows.append(
                    [outcome.number, outcome.text, objective.id, objective.text, "", "", "", "", ""]
                )
            for a in activities:
                rows.append(
                    [
                        outcome.number,
                        outcome.text,
                        objective.id,
                        objective.text,
                        a.id,
                        a.text,
                        leads.get(a.lead_officer_id, ""),
                        a.completion_date,
                        f"completed {a.completed_on}" if a.completed_on else a.progress,
                    ]
                )
    return rows
