"""Selections on demand: themed dip tests (S7) and targeted selections (S8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select

from models import Case, SamplingRun, Staff
from models.base import id_column, id_of
from models.enums import AuditKind, Role, SamplingKind, SelectionMethod
from models.errors import DataFileError, InvalidInput
from models.settings import DATA_DIR
from tasks.inspection.tools import INSPECTION_TOOL, TOOLS
from tasks.sampling.monthly import MonthResult, PlannedRun, record
from tasks.sampling.notify import notify
from tasks.sampling.pool import active_staff, load_pool
from tasks.sampling.rules import Draw, Pick, random_draw, seed_for
from tasks.workdays import Month

THEMES_FILE = DATA_DIR / "themes.yaml"
FILTER_FIELDS = {
    "order_type",
    "rosh_level",
    "vulnerability_level",
    "mappa_level",
    "social_care_status",
    "gender",
}


class Theme(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    where: dict[str, list[str]]
    question_set: str


def load_themes(path: Path = THEMES_FILE) -> dict[str, Theme]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))["themes"]
        themes = [Theme.model_validate(t) for t in raw]
    except (OSError, KeyError, TypeError, yaml.YAMLError, ValidationError) as exc:
        raise DataFileError(f"{path.name}: cannot read the themes: {exc}") from None
    for t in themes:
        unknown = set(t.where) - FILTER_FIELDS
        if unknown:
            raise DataFileError(
                f"{path.name}: theme {t.name}: field 'where' names unknown case fields {sorted(unknown)}"
            )
    return {t.name: t for t in themes}


def _auditor(session: Session, email: str, what: str) -> Staff:
    staff = session.exec(select(Staff).where(col(Staff.email) == email.strip().lower())).first()
    if staff is None or not staff.active:
        raise InvalidInput(
            f"{what} {email!r} is not an active member of staff: check the staff list"
        )
    return staff


def _run(
    session: Session,
    plan: PlannedRun,
    period: Month,
    on: date,
    theme: str,
    requested_by: Staff | None,
) -> MonthResult:
    exists = session.exec(
        select(SamplingRun.id).where(
            col(SamplingRun.period) == str(period),
            col(SamplingRun.kind) == plan.kind,
            col(SamplingRun.theme) == theme,
            col(SamplingRun.sampler_id) == plan.sampler.id,
        )
    ).first()
    if exists is not None:
        return MonthResult(str(period), created=False)
    try:
        audits = record(session, period, on, [plan], theme=theme, requested_by=requested_by)
        emails = notify(session, period, audits, key=f"{plan.kind.value}:{theme}")
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        return MonthResult(str(period), created=False)
    return MonthResult(
        str(period),
        created=True,
        runs=1,
        audits=[id_of(a) for a in audits],
        emails=emails,
        rejections=len(plan.draw.rejections),
        pool_size=len(plan.pool),
    )


def themed_sample(
    session: Session,
    on: date,
    theme_name: str,
    auditor_email: str | None = None,
    count: int = 3,
    tool: str | None = None,
) -> MonthResult:
    """S7: a random draw from the cases matching the theme, audited with the theme's question set
    (or `tool` "inspection": the inspection-style tool, H1) by `auditor_email`, or by default the
    (first active) QA manager."""
    themes = load_themes()
    if theme_name not in themes:
        raise InvalidInput(
            f"unknown theme {theme_name!r}: expected one of {', '.join(sorted(themes))}"
        )
    theme = themes[theme_name]
    if tool is not None and tool not in TOOLS:
        raise InvalidInput(f"unknown tool {tool!r}: expected one of {', '.join(TOOLS)}")
    auditor = (
        _auditor(session, auditor_email, "auditor")
        if auditor_email
        else default_themed_auditor(session)
    )
    matching = _matching_ids(session, theme)
    pool = [c for c in load_pool(session, on) if c.case_id in matching]
    period = Month.of(on)
    seed = seed_for(period, "themed", theme.name, auditor.email)
    draw = random_draw(
        pool, count, id_of(auditor), on, seed, set(), f"S7: themed dip test, {theme.title}"
    )
    plan = PlannedRun(
        auditor,
        SamplingKind.THEMED,
        seed,
        pool,
        draw,
        audit_kind=AuditKind.THEMED,
        method=SelectionMethod.THEMED,
        rules=["S1", "S4", "S7", "S10", f"theme {theme.name}"],
        question_set=INSPECTION_TOOL if tool == INSPECTION_TOOL else theme.question_set,
    )
    return _run(session, plan, period, on, theme.name, None)


def _matching_ids(session: Session, theme: Theme) -> set[int]:
    query = sa.select(id_column(Case))
    for field, values in theme.where.items():
        query = query.where(getattr(Case, field).in_(values))
    return set(session.execute(query).scalars())


@dataclass(frozen=True)
class Target:
    case_ref: str | None
    staff_email: str | None


def default_themed_auditor(session: Session) -> Staff:
    """Who audits a themed sample when nobody is named: the QA manager (S7, Fig. 2)."""
    qa = active_staff(session, Role.QA_MANAGER)
    if not qa:
        raise InvalidInput(
            "no active QA manager to audit the themed sample: name one with --auditor"
        )
    return qa[0]


def targeted_sample(
    session: Session,
    on: date,
    target: str,
    reason: str,
    requested_by_email: str,
    auditor_email: str | None = None,
    count: int = 2,
) -> MonthResult:
    """S8: not random; a named case, or a case manager's cases (oldest first), with who asked and why."""
    if not reason.strip():
        raise InvalidInput("a targeted selection needs --reason: say why it is asked for (S8)")
    requester = _auditor(session, requested_by_email, "--requested-by")
    pool = [c for c in load_pool(session, on)]
    if "@" in target:
        holder = _auditor(session, target, "case manager")
        chosen = sorted(
            (c for c in pool if c.case_manager_id == holder.id),
            key=lambda c: (c.compliance_audited, c.opened_on),
        )
        if not chosen:
            raise InvalidInput(f"{target} holds no open case on {on}")
        subject_manager = holder.line_manager_id
    else:
        chosen = [c for c in pool if c.case_ref == target]
        if not chosen:
            raise InvalidInput(f"no open case {target!r} on {on}: check the reference")
        subject_manager = session.get_one(Staff, chosen[0].case_manager_id).line_manager_id
    auditor = (
        _auditor(session, auditor_email, "--auditor")
        if auditor_email
        else session.get(Staff, subject_manager)
    )
    if auditor is None:
        raise InvalidInput("the case manager has no line manager: name the auditor with --auditor")
    draw = Draw()
    why = f"S8: targeted at the request of {requester.name}: {reason.strip()}"
    for c in chosen:
        if len(draw.picks) >= count:
            break
        if c.case_manager_id == auditor.id:
            raise InvalidInput(
                "S10: nobody audits their own case: name another auditor with --auditor"
            )
        draw.picks.append(Pick(c, why))
    period = Month.of(on)
    plan = PlannedRun(
        auditor,
        SamplingKind.TARGETED,
        0,
        chosen,
        draw,
        method=SelectionMethod.TARGETED,
        rules=["S8: not random", f"requested by {requester.email}", reason.strip()],
    )
    return _run(session, plan, period, on, f"target:{target.lower()}", requester)
