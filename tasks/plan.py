"""The improvement plan (SPEC §1, §5 "Action Planning", App. 6): outcomes, objectives, activities.

One plan per financial year; its master copy goes into every quarterly pack with the quarter's
new and completed activities. Audit action points can be linked to an objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import ActionPoint, ImprovementPlan, PlanActivity, PlanObjective, PlanOutcome, Staff
from models.base import id_column, id_of
from models.errors import CellError, InputFileError, InvalidInput
from tasks.importing.fields import cell_text
from tasks.importing.reader import open_table
from tasks.workdays import parse_date

PLAN_COLUMNS = ["outcome", "objective", "activity", "lead_officer_email", "completion_date"]
OPTIONAL_COLUMNS = ["progress", "completed_on"]
MAX_OUTCOMES = 6  # "five or six a year"


def plan_for(session: Session, year: int) -> ImprovementPlan | None:
    return session.exec(
        select(ImprovementPlan).where(col(ImprovementPlan.financial_year) == year)
    ).first()


def _plan_to_add_to(session: Session, year: int) -> ImprovementPlan:
    """The year's plan, made (and flushed) if it has none yet."""
    plan = plan_for(session, year)
    if plan is None:
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
    plan_id = id_of(_plan_to_add_to(session, year))
    outcomes = session.exec(select(PlanOutcome).where(col(PlanOutcome.plan_id) == plan_id)).all()
    if len(outcomes) >= MAX_OUTCOMES:
        raise InvalidInput(
            f"the {year} plan already has {MAX_OUTCOMES} outcomes (the framework asks for five or "
            "six a year): add objectives to one of them instead"
        )
    outcome = PlanOutcome(plan_id=plan_id, number=len(outcomes) + 1, text=text)
    session.add(outcome)
    session.commit()
    return outcome


def _outcome(session: Session, year: int, number: int) -> PlanOutcome:
    plan = plan_for(session, year)
    outcome = (
        session.exec(
            select(PlanOutcome).where(
                col(PlanOutcome.plan_id) == plan.id, col(PlanOutcome.number) == number
            )
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
    objective = PlanObjective(outcome_id=id_of(outcome), text=text.strip())
    session.add(objective)
    session.commit()
    return objective


def _staff(session: Session, email: str) -> Staff:
    person = session.exec(select(Staff).where(col(Staff.email) == email.strip().lower())).first()
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
    staff = {s.email: s for s in session.exec(select(Staff).where(col(Staff.active) == sa.true()))}
    errors: list[CellError] = []
    rows: list[tuple[dict[str, str], Staff, date, date | None]] = []
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
        due = _date_cell(table.name, number, "completion_date", values["completion_date"], errors)
        done = (
            _date_cell(table.name, number, "completed_on", values["completed_on"], errors)
            if values["completed_on"]
            else None
        )
        if len(errors) == before and due is not None:  # (None only when an error was noted)
            rows.append((values, staff[lead], due, done))
    if errors:
        raise InputFileError(table.name, errors, "nothing was imported")
    if not rows:
        raise InputFileError(table.name, [CellError(table.name, None, None, "it has no rows")])
    result = PlanImport()
    plan_id = id_of(_plan_to_add_to(session, year))
    outcomes = {
        o.text: o
        for o in session.exec(select(PlanOutcome).where(col(PlanOutcome.plan_id) == plan_id))
    }
    for values, lead_officer, due, done in rows:
        outcome = outcomes.get(values["outcome"])
        if outcome is None:
            outcome = PlanOutcome(plan_id=plan_id, number=len(outcomes) + 1, text=values["outcome"])
            session.add(outcome)
            session.flush()
            outcomes[outcome.text] = outcome
            result.outcomes += 1
        objective = _with_text(
            session, PlanObjective, col(PlanObjective.outcome_id) == outcome.id, values["objective"]
        )
        if objective is None:
            objective = PlanObjective(outcome_id=id_of(outcome), text=values["objective"])
            session.add(objective)
            session.flush()
            result.objectives += 1
        activity = _with_text(
            session,
            PlanActivity,
            col(PlanActivity.objective_id) == objective.id,
            values["activity"],
        )
        if activity is None:
            activity = PlanActivity(
                objective_id=id_of(objective),
                text=values["activity"],
                completion_date=due,
                added_on=on,
            )
            session.add(activity)
            result.activities += 1
        else:
            result.updated += 1
        activity.lead_officer_id = lead_officer.id
        activity.completion_date = due
        activity.progress = values["progress"] or activity.progress
        activity.completed_on = done or activity.completed_on
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


class _Texted(Protocol):
    text: str


_Row = TypeVar("_Row", bound=_Texted)


def _with_text(
    session: Session, table: type[_Row], under: sa.ColumnElement[bool], text: str
) -> _Row | None:
    """The row of `table` under the same parent (`under`) with this text: what an earlier import
    of the plan made, matched as a re-import matches it."""
    return session.exec(select(table).where(under, col(table.text) == text)).first()


def _date_cell(file: str, row: int, column: str, text: str, errors: list[CellError]) -> date | None:
    """A date cell of the plan, or None with the error noted."""
    try:
        return parse_date(text[:10])
    except InvalidInput:
        errors.append(CellError(file, row, column, f"{text[:20]!r} is not a date YYYY-MM-DD"))
        return None


@dataclass
class PlanTree:
    """A year's plan: its outcomes in order, each with its objectives, each with its activities."""

    plan: ImprovementPlan
    outcomes: list[tuple[PlanOutcome, list[tuple[PlanObjective, list[PlanActivity]]]]]

    @property
    def objective_ids(self) -> list[int]:
        return [id_of(o) for _, objectives in self.outcomes for o, _ in objectives]


def plan_tree(session: Session, year: int) -> PlanTree | None:
    """The whole plan in three queries (outcomes, objectives, activities), or None if there is none."""
    plan = plan_for(session, year)
    if plan is None:
        return None
    outcomes = session.exec(
        select(PlanOutcome)
        .where(col(PlanOutcome.plan_id) == plan.id)
        .order_by(col(PlanOutcome.number))
    ).all()
    objectives = session.exec(
        select(PlanObjective)
        .where(col(PlanObjective.outcome_id).in_([o.id for o in outcomes]))
        .order_by(col(PlanObjective.id))
    ).all()
    activities = session.exec(
        select(PlanActivity)
        .where(col(PlanActivity.objective_id).in_([o.id for o in objectives]))
        .order_by(col(PlanActivity.id))
    ).all()
    by_objective: dict[int, list[PlanActivity]] = {}
    for a in activities:
        by_objective.setdefault(a.objective_id, []).append(a)
    by_outcome: dict[int, list[tuple[PlanObjective, list[PlanActivity]]]] = {}
    for o in objectives:
        by_outcome.setdefault(o.outcome_id, []).append((o, by_objective.get(id_of(o), [])))
    return PlanTree(plan, [(o, by_outcome.get(id_of(o), [])) for o in outcomes])


def plan_rows(session: Session, year: int) -> list[list[object]]:
    """The plan as rows for a table: outcome, objective id and text, activity id and details."""
    tree = plan_tree(session, year)
    if tree is None:
        return []
    leads: dict[int | None, str] = {
        staff_id: name for staff_id, name in session.exec(select(id_column(Staff), col(Staff.name)))
    }
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
