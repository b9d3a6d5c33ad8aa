"""A4 support and training needs (§5 Methods): "once an audit's actions are set, the team manager
will identify any additional support or training needs for individuals, or groups of staff",
with their timescales monitored through supervision.

A need is recorded with its audit, by every way an audit is recorded (form file, Prefect form,
web page, simulation): a theme from the service's list (`load_themes`), some words, whether it is
the case manager's own or their whole team's, and a date to review it by. Its reviewer is the
case manager's team manager (else whoever recorded the audit); the review date is chased like an
action point's deadline (E2) and the reviewer's link opens a page to record the review: met, or
still needed with a later date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml
from sqlmodel import Session, col, select

from models import Audit, AuditEvent, Case, Staff, SupportNeed
from models.base import id_of
from models.enums import NeedScope, NeedStatus
from models.errors import ConfigError, FieldProblems, InvalidInput
from models.settings import Settings, get_settings
from tasks.recording.actions import decider_for
from tasks.recording.form import MAX_ACTION_DAYS, CleanNeed

NOTE_LIMIT = 2_000


def load_themes(path: Path) -> list[str]:
    """The service's list of need themes, or a ConfigError naming the file and the entry."""
    return list(_themes(path, path.stat().st_mtime_ns if path.is_file() else 0))


@lru_cache(maxsize=4)
def _themes(path: Path, _stamp: int) -> tuple[str, ...]:
    if not path.is_file():
        raise ConfigError(
            f"{path}: the list of support-need themes is missing (YOTQA_SUPPORT_NEEDS_FILE)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as YAML: {str(exc)[:200]}") from None
    themes = data.get("themes") if isinstance(data, dict) else None
    if not isinstance(themes, list) or not themes:
        raise ConfigError(f"{path}: expected `themes:` followed by a list of themes, one a line")
    seen: set[str] = set()
    for n, theme in enumerate(themes, start=1):
        if not isinstance(theme, str) or not theme.strip() or len(theme.strip()) > 120:
            raise ConfigError(f"{path}: theme {n} must be some text of up to 120 characters")
        if theme.strip().casefold() in seen:
            raise ConfigError(f"{path}: theme {n} ({theme.strip()!r}) is listed twice")
        seen.add(theme.strip().casefold())
    return tuple(t.strip() for t in themes)


def themes_of(settings: Settings | None = None) -> list[str]:
    return load_themes((settings or get_settings()).support_needs_file)


def reviewer_for(session: Session, subject: Staff, recorder: Staff) -> Staff:
    """Who reviews a need: the case manager's active team manager, else who recorded the audit,
    unless that is the case manager (their self-audit): then an active service manager."""
    manager = decider_for(session, subject)  # their line manager, else a service manager
    if manager is not None and manager.id == subject.line_manager_id:
        return manager
    return recorder if recorder.id != subject.id else manager or recorder


def store_needs(
    session: Session, audit: Audit, needs: list[CleanNeed], recorder: Staff
) -> list[SupportNeed]:
    """The audit's needs, each for its case manager (and their team, when it is the team's)."""
    if not needs:
        return []
    subject = session.get(Staff, audit.subject_staff_id)
    if subject is None:
        raise InvalidInput(f"audit {audit.id}'s case manager {audit.subject_staff_id} is missing")
    owner = reviewer_for(session, subject, recorder)
    rows = [
        SupportNeed(
            audit_id=id_of(audit),
            theme=n.theme,
            text=n.text,
            scope=n.scope,
            staff_id=id_of(subject),
            team_id=subject.team_id,
            owner_id=id_of(owner),
            review_on=n.review_on,
        )
        for n in needs
    ]
    session.add_all(rows)
    session.flush()
    return rows


@dataclass(frozen=True)
class NeedView:
    """A need as its page and emails show it (case reference only, E5)."""

    id: int
    case_ref: str
    theme: str
    text: str
    scope: str
    case_manager: str
    team_wide: bool
    review_on: date
    status: str
    owner_id: int

    @property
    def review_text(self) -> str:
        return f"{self.review_on:%A %-d %B %Y}"


def need_view(session: Session, need_id: int) -> NeedView:
    need = session.get(SupportNeed, need_id)
    if need is None:
        raise InvalidInput(f"there is no support need {need_id}")
    audit = session.get(Audit, need.audit_id)
    case = session.get(Case, audit.case_id) if audit and audit.case_id else None
    person = session.get(Staff, need.staff_id)
    return NeedView(
        id_of(need),
        case.case_ref if case else "-",
        need.theme,
        need.text,
        need.scope.label,
        person.name if person else "",
        need.scope is NeedScope.TEAM,
        need.review_on,
        need.status.value,
        need.owner_id,
    )


def review_need(
    session: Session,
    need_id: int,
    *,
    met: bool,
    note: str,
    next_review: date | None,
    on: date,
    by_id: int | None = None,
    via: str = "cli",
) -> SupportNeed:
    """Record a need's review: met (it is chased no more), or still needed, to be reviewed again
    by a later date within six months (its reminders start again from that date). One commit."""
    need = session.exec(
        select(SupportNeed).where(col(SupportNeed.id) == need_id).with_for_update()
    ).first()
    if need is None:
        raise InvalidInput(f"there is no support need {need_id}")
    if need.status is NeedStatus.MET:
        raise InvalidInput(f"support need {need_id} was already reviewed and met")
    if need.status is not NeedStatus.OPEN:
        raise InvalidInput(f"support need {need_id} is closed: {need.outcome}")
    problems: dict[str, str] = {}
    text = (note or "").strip()
    if len(text) > NOTE_LIMIT:
        problems["note"] = f"Keep the note under {NOTE_LIMIT:,} characters (it has {len(text):,})."
    if not met:
        if not text:
            problems["note"] = "Say what support is still needed, or what has been arranged."
        if next_review is None:
            problems["next_review"] = "Enter the date to review the need again by."
        elif next_review <= on or (next_review - on).days > MAX_ACTION_DAYS:
            problems["next_review"] = (
                f"The next review must be after {on:%-d %B %Y} and within six months."
            )
    if problems:
        raise FieldProblems(problems)
    need.outcome, need.reviewed_on = text, on
    need.times_reviewed += 1
    if met:
        need.status = NeedStatus.MET
    elif next_review is not None:  # checked above
        need.review_on = next_review
    session.add(
        AuditEvent(
            audit_id=need.audit_id,
            event="need_met" if met else "need_reviewed",
            by_id=by_id,
            reason=f"support need {need.id} ({need.theme})"
            + ("" if met else f": review again by {need.review_on}")
            + (f": {text}" if text else ""),
            via=via,
        )
    )
    session.commit()
    return need
