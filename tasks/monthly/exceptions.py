"""T3: the exception report for data cleansing. Rules are data (exception_rules.yaml), each with
its fix; each team manager is sent their team's exceptions; fixes since last month are counted."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select

from models import Case, ExceptionFinding, Staff, Team
from models.base import id_column, id_of
from models.enums import OrderType, RiskLevel
from models.errors import DataFileError
from models.settings import DATA_DIR
from tasks.outbox import queue_email
from tasks.sampling.pool import open_on
from tasks.summary import team_manager
from tasks.workdays import Month
from tasks.xlsx import write_table

RULES_FILE = DATA_DIR / "exception_rules.yaml"
Found = list[tuple[int, int]]  # (case id, team id)
CASE_AND_TEAM = (id_column(Case), col(Case.team_id))


def _ethnicity_missing(session: Session, on: date, p: dict[str, Any]) -> Found:
    values = [v.strip().lower() for v in p.get("missing_values", [""])]
    q = sa.select(*CASE_AND_TEAM).where(
        open_on(on), sa.func.lower(sa.func.trim(col(Case.ethnicity))).in_(values)
    )
    return list(session.execute(q).tuples())


def _implausible_age(session: Session, on: date, p: dict[str, Any]) -> Found:
    youngest, oldest = int(p.get("youngest", 10)), int(p.get("oldest", 18))
    found = []
    for cid, team, born, opened in session.execute(
        sa.select(*CASE_AND_TEAM, col(Case.date_of_birth), col(Case.opened_on)).where(open_on(on))
    ):
        age = opened.year - born.year - ((opened.month, opened.day) < (born.month, born.day))
        if not youngest <= age <= oldest:
            found.append((cid, team))
    return found


def _no_active_case_manager(session: Session, on: date, p: dict[str, Any]) -> Found:
    q = (
        sa.select(*CASE_AND_TEAM)
        .join(Staff, col(Staff.id) == Case.case_manager_id)
        .where(open_on(on), col(Staff.active) == sa.false())
    )
    return list(session.execute(q).tuples())


def _closed_before_opened(session: Session, on: date, p: dict[str, Any]) -> Found:
    q = sa.select(*CASE_AND_TEAM).where(
        col(Case.closed_on).is_not(None), col(Case.closed_on) < Case.opened_on
    )
    return list(session.execute(q).tuples())


def _high_rosh_without_mappa(session: Session, on: date, p: dict[str, Any]) -> Found:
    q = sa.select(*CASE_AND_TEAM).where(
        open_on(on),
        col(Case.rosh_level).in_([RiskLevel.HIGH, RiskLevel.VERY_HIGH]),
        col(Case.mappa_level).is_(None),
    )
    return list(session.execute(q).tuples())


def _unchanged_for(session: Session, on: date, p: dict[str, Any]) -> Found:
    cutoff = on - timedelta(days=int(p.get("days", 183)))
    found = []
    for cid, team, updated in session.execute(
        sa.select(*CASE_AND_TEAM, col(Case.updated_at)).where(open_on(on))
    ):
        if updated.date() < cutoff:
            found.append((cid, team))
    return found


def _duplicate_young_person_dob(session: Session, on: date, p: dict[str, Any]) -> Found:
    doubtful = (
        sa.select(col(Case.young_person_ref))
        .group_by(col(Case.young_person_ref))
        .having(sa.func.count(sa.distinct(col(Case.date_of_birth))) > 1)
    )
    q = sa.select(*CASE_AND_TEAM).where(open_on(on), col(Case.young_person_ref).in_(doubtful))
    return list(session.execute(q).tuples())


def _open_longer_than(session: Session, on: date, p: dict[str, Any]) -> Found:
    cutoff = on - timedelta(days=int(p.get("days", 183)))
    q = sa.select(*CASE_AND_TEAM).where(open_on(on), col(Case.opened_on) < cutoff)
    if p.get("order_type"):
        q = q.where(col(Case.order_type) == OrderType(p["order_type"]))
    return list(session.execute(q).tuples())


CHECKS: dict[str, Callable[[Session, date, dict[str, Any]], Found]] = {
    "ethnicity_missing": _ethnicity_missing,
    "implausible_age": _implausible_age,
    "no_active_case_manager": _no_active_case_manager,
    "closed_before_opened": _closed_before_opened,
    "high_rosh_without_mappa": _high_rosh_without_mappa,
    "unchanged_for": _unchanged_for,
    "duplicate_young_person_dob": _duplicate_young_person_dob,
    "open_longer_than": _open_longer_than,
}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    check: str
    title: str
    fix: str
    params: dict[str, Any] = Field(default_factory=dict)


def load_rules(path: Path = RULES_FILE) -> list[Rule]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise DataFileError(f"{path.name}: expected a list under 'rules:' ({exc})") from None
    rules, problems = [], []
    for n, item in enumerate(raw, start=1):
        try:
            rule = Rule.model_validate(item)
        except ValidationError as exc:
            problems += [
                f"{path.name}: rule {n}: field '{'.'.join(map(str, e['loc']))}': {e['msg']}"
                for e in exc.errors()
            ]
            continue
        if rule.check not in CHECKS:
            problems.append(
                f"{path.name}: rule {n} ({rule.code}): field 'check': unknown check {rule.check!r}; "
                f"expected one of {', '.join(CHECKS)}"
            )
        rules.append(rule)
    if problems:
        raise DataFileError("\n".join(problems))
    return rules


@dataclass
class ExceptionReport:
    period: str
    as_of: date
    rows: list[dict[str, str]] = field(default_factory=list)  # team, case, rule, fix
    by_rule: Counter[str] = field(default_factory=Counter)
    fixed_by_rule: Counter[str] = field(default_factory=Counter)
    emails: int = 0

    @property
    def fixed(self) -> int:
        return sum(self.fixed_by_rule.values())


def run_exception_report(
    session: Session, on: date, rules: list[Rule] | None = None
) -> ExceptionReport:
    """Find this month's exceptions, keep them, count last month's now fixed, tell each team manager."""
    rules = rules if rules is not None else load_rules()
    period, previous = Month.of(on), str(Month.of(on).next(-1))
    report = ExceptionReport(str(period), on)
    refs = dict(session.execute(sa.select(id_column(Case), col(Case.case_ref))).tuples().all())
    teams = dict(session.execute(sa.select(id_column(Team), col(Team.name))).tuples().all())
    found: set[tuple[str, int, int]] = set()
    for rule in rules:
        for case_id, team_id in CHECKS[rule.check](session, on, rule.params):
            found.add((rule.code, case_id, team_id))
    session.execute(sa.delete(ExceptionFinding).where(col(ExceptionFinding.period) == str(period)))
    session.add_all(
        ExceptionFinding(period=str(period), rule=r, case_id=c, team_id=t, found_on=on)
        for r, c, t in found
    )
    last = (
        session.execute(
            sa.select(col(ExceptionFinding.rule), col(ExceptionFinding.case_id)).where(
                col(ExceptionFinding.period) == previous
            )
        )
        .tuples()
        .all()
    )
    now = {(r, c) for r, c, _ in found}
    report.fixed_by_rule = Counter(r for r, c in last if (r, c) not in now)
    by_code = {r.code: r for r in rules}
    for code, case_id, team_id in sorted(found, key=lambda f: (teams[f[2]], f[0], refs[f[1]])):
        report.by_rule[code] += 1
        report.rows.append(
            {
                "team": teams[team_id],
                "case": refs[case_id],
                "rule": by_code[code].title,
                "fix": by_code[code].fix,
                "team_id": str(team_id),
            }
        )
    report.emails = _tell_team_managers(session, report)
    session.commit()
    return report


def _tell_team_managers(session: Session, report: ExceptionReport) -> int:
    by_team: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in report.rows:
        by_team[row["team_id"]].append(row)
    sent = 0
    for team in session.exec(select(Team).order_by(col(Team.name))):
        manager = team_manager(session, id_of(team))
        rows = by_team.get(str(team.id), [])
        if manager is None or not rows:
            continue
        subject = f"Data cleansing for {report.period}: {len(rows)} exception{'s' if len(rows) != 1 else ''} in {team.name}"
        if queue_email(
            session,
            to=[manager],
            template="exceptions",
            subject=subject,
            key=f"exceptions:{report.period}:{team.id}",
            kind="exceptions",
            team=team.name,
            period=report.period,
            rows=rows,
            fixed=report.fixed,
        ):
            sent += 1
    return sent


def write_exceptions(report: ExceptionReport, rules: list[Rule], path: Path) -> Path:
    book = openpyxl.Workbook()
    summary = book.worksheets[0]  # a new workbook's one sheet
    summary.title = "Summary"
    write_table(
        summary,
        ["Rule", "Exceptions now", "Fixed since last month", "Fix"],
        [
            [r.title, report.by_rule.get(r.code, 0), report.fixed_by_rule.get(r.code, 0), r.fix]
            for r in rules
        ],
    )
    write_table(
        book.create_sheet("Exceptions"),
        ["Team", "Case", "Exception", "Fix"],
        [[r["team"], r["case"], r["rule"], r["fix"]] for r in report.rows],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path
