"""T2: the case-level data set for the monthly management meeting (Q1), as XLSX."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import openpyxl
import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import Audit, Case, Staff, Team
from models.enums import APART, AuditCategory, AuditStatus, RiskLevel
from tasks.sampling.pool import open_on
from tasks.sampling.rules import SIX_WEEKS
from tasks.workdays import Month
from tasks.xlsx import write_table


@dataclass
class CaseLevelData:
    period: str
    as_of: date
    open_cases: list[list[object]] = field(default_factory=list)
    by_holder: list[list[object]] = field(default_factory=list)
    unaudited: list[list[object]] = field(default_factory=list)
    audits: list[list[object]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        done = sum(1 for a in self.audits if a[5] == AuditStatus.COMPLETED.label)
        return {
            "open cases": len(self.open_cases),
            "open over six weeks, never compliance-audited": len(self.unaudited),
            "audits due this month": len(self.audits),
            "audits done": done,
        }


def build_case_level(session: Session, on: date) -> CaseLevelData:
    """Open cases (references only, no names), counts per team and case manager, gaps, audits."""
    period = Month.of(on)
    data = CaseLevelData(str(period), on)
    holder = aliased(Staff)
    last_audit = dict(
        session.execute(
            sa.select(col(Audit.case_id), sa.func.max(col(Audit.completed_on)))
            .where(
                col(Audit.category) == AuditCategory.COMPLIANCE,
                col(Audit.kind).not_in(APART),  # A5, A2: not a manager's audit of the case
                col(Audit.status) == AuditStatus.COMPLETED,
            )
            .group_by(col(Audit.case_id))
        )
        .tuples()
        .all()
    )
    ever_audited = set(
        session.execute(
            sa.select(col(Audit.case_id)).where(
                col(Audit.category) == AuditCategory.COMPLIANCE,
                col(Audit.kind).not_in(APART),
                col(Audit.status) != AuditStatus.WITHDRAWN,
            )
        ).scalars()
    )
    rows = session.execute(
        sa.select(Case, col(Team.name), col(holder.name))
        .join(Team, col(Team.id) == Case.team_id)
        .join(holder, col(holder.id) == Case.case_manager_id)
        .where(open_on(on))
        .order_by(col(Team.name), col(holder.name), col(Case.case_ref))
    ).all()
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for case, team, name in rows:
        days = (on - case.opened_on).days
        audited = last_audit.get(case.id)
        data.open_cases.append(
            [
                case.case_ref,
                case.young_person_ref,
                team,
                name,
                case.order_type.label,
                case.opened_on,
                days,
                _label(case.rosh_level),
                _label(case.vulnerability_level),
                _label(case.mappa_level),
                _label(case.social_care_status),
                audited or ("assigned" if case.id in ever_audited else "never"),
            ]
        )
        c = counts[(team, name)]
        c["open"] += 1
        c[case.order_type.family] += 1
        c["high ROSH"] += case.rosh_level in (RiskLevel.HIGH, RiskLevel.VERY_HIGH)
        c["MAPPA"] += case.mappa_level is not None
        if days > SIX_WEEKS and case.id not in ever_audited:
            data.unaudited.append(
                [case.case_ref, team, name, case.order_type.label, case.opened_on, days]
            )
    data.by_holder = [
        [
            team,
            name,
            c["open"],
            c["Referral Order"],
            c["YRO"],
            c["DTO"],
            c["Other"],
            c["high ROSH"],
            c["MAPPA"],
        ]
        for (team, name), c in sorted(counts.items())
    ]
    auditor = aliased(Staff)
    for audit, ref, who in session.execute(
        sa.select(Audit, col(Case.case_ref), col(auditor.name))
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .join(auditor, col(auditor.id) == Audit.auditor_id)
        .where(col(Audit.due_on) >= period.first_day, col(Audit.due_on) <= period.last_day)
        .order_by(col(Audit.due_on), col(Audit.id))
    ):
        late = audit.status is AuditStatus.ASSIGNED and audit.due_on < on
        data.audits.append(
            [
                audit.id,
                ref or "-",
                audit.kind.label,
                who,
                audit.due_on,
                audit.status.label + (" (overdue)" if late else ""),
                audit.completed_on or "",
                audit.reason_not_completed,
            ]
        )
    return data


def _label(value: object) -> str:
    return getattr(value, "label", "") if value is not None else ""


def write_case_level(data: CaseLevelData, path: Path) -> Path:
    book = openpyxl.Workbook()
    summary = book.worksheets[0]  # a new workbook's one sheet
    summary.title = "Summary"
    write_table(
        summary,
        ["Case-level data set", f"{data.period} (as of {data.as_of})"],
        [[k, v] for k, v in data.summary().items()],
    )
    write_table(
        book.create_sheet("Open cases"),
        [
            "Case",
            "Young person ref",
            "Team",
            "Case manager",
            "Order type",
            "Opened",
            "Days open",
            "ROSH",
            "Vulnerability",
            "MAPPA",
            "Social care",
            "Last compliance audit",
        ],
        data.open_cases,
    )
    write_table(
        book.create_sheet("By case manager"),
        [
            "Team",
            "Case manager",
            "Open cases",
            "Referral Orders",
            "YROs",
            "DTOs",
            "Other",
            "High ROSH",
            "MAPPA",
        ],
        data.by_holder,
    )
    write_table(
        book.create_sheet("Not yet audited"),
        ["Case", "Team", "Case manager", "Order type", "Opened", "Days open"],
        data.unaudited,
    )
    write_table(
        book.create_sheet("Audits this month"),
        ["Audit", "Case", "Kind", "Auditor", "Due", "Status", "Completed", "Why not done (D4)"],
        data.audits,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path
