"""What a month's sampling looks like to an admin: selections, make-up against the pool, rejections."""

from __future__ import annotations

from typing import TypedDict

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import Audit, Case, SamplingRejection, SamplingRun, SamplingSelection, Staff
from models.enums import SamplingKind


class SelectionReport(TypedDict):
    """A month's sampling as plain data: rows of text, and each make-up's counts by category."""

    period: str
    selections: list[dict[str, str]]
    rejections: list[dict[str, str]]
    pool_makeup: dict[str, dict[str, int]]
    sample_makeup: dict[str, dict[str, int]]
    rules: list[str]


def selection_report(session: Session, period: str) -> SelectionReport:
    """Plain rows for tables and markdown: case references and staff names, never a young person's name."""
    auditor = aliased(Staff)
    selections = [
        {
            "case": ref,
            "audit": kind.label,
            "auditor": who,
            "why": why,
            "deadline": due.isoformat(),
            "three_way_meeting": "yes" if tw else "no",
        }
        for ref, kind, who, why, due, tw in session.execute(
            sa.select(
                col(Case.case_ref),
                col(Audit.kind),
                col(auditor.name),
                col(SamplingSelection.reason),
                col(Audit.due_on),
                col(Audit.three_way_meeting),
            )
            .join(SamplingSelection, col(SamplingSelection.audit_id) == col(Audit.id))
            .join(Case, col(Case.id) == col(Audit.case_id))
            .join(auditor, col(auditor.id) == col(Audit.auditor_id))
            .where(col(Audit.period) == period)
            .order_by(col(auditor.name), col(Case.case_ref))
        ).tuples()
    ]
    rejections = [
        {"case": ref, "sampler": who, "reason": why}
        for _, _, who, ref, why in rejection_rows(session, period)
    ]
    runs = (
        session.execute(sa.select(SamplingRun).where(col(SamplingRun.period) == period))
        .scalars()
        .all()
    )
    pool: dict[str, dict[str, int]] = {}
    sample: dict[str, dict[str, int]] = {}
    for run in runs:  # the whole service's pool is the widest run's; the sample adds up over runs
        if sum(run.pool_makeup.get("order_type", {}).values()) > sum(
            pool.get("order_type", {}).values()
        ):
            pool = run.pool_makeup
        for dimension, counts in run.sample_makeup.items():
            for category, n in counts.items():
                sample.setdefault(dimension, {}).setdefault(category, 0)
                sample[dimension][category] += n
    return {
        "period": period,
        "selections": selections,
        "rejections": rejections,
        "pool_makeup": pool,
        "sample_makeup": sample,
        "rules": sorted({r for run in runs for r in run.rules}),
    }


def rejection_rows(
    session: Session, period: str | None
) -> list[tuple[str, SamplingKind, str, str, str]]:
    """Every case passed over (S4, S10): period, run kind, sampler, case reference, reason."""
    sampler = aliased(Staff)
    query = (
        sa.select(
            col(SamplingRun.period),
            col(SamplingRun.kind),
            col(sampler.name),
            col(Case.case_ref),
            col(SamplingRejection.reason),
        )
        .join(SamplingRejection, col(SamplingRejection.run_id) == col(SamplingRun.id))
        .join(Case, col(Case.id) == col(SamplingRejection.case_id))
        .join(sampler, col(sampler.id) == col(SamplingRun.sampler_id))
        .order_by(col(SamplingRun.period), col(SamplingRun.id), col(SamplingRejection.id))
    )
    if period:
        query = query.where(col(SamplingRun.period) == period)
    return [
        (run_period, kind, who, ref, why)
        for run_period, kind, who, ref, why in session.execute(query).tuples()
    ]


def makeup_markdown(report: SelectionReport) -> str:
    """S5: the sample's make-up beside the caseload's, and every case passed over (S4, S10)."""
    lines = [
        f"# Sample for {report['period']}",
        "",
        f"{len(report['selections'])} audits assigned; {len(report['rejections'])} cases passed over.",
        "",
    ]
    for dimension, pool_counts in report["pool_makeup"].items():
        sample_counts = report["sample_makeup"].get(dimension, {})
        pool_total = sum(pool_counts.values()) or 1
        sample_total = sum(sample_counts.values()) or 1
        lines += [
            f"## {dimension.replace('_', ' ').capitalize()}",
            "",
            "| | Caseload | Sample |",
            "|---|---:|---:|",
        ]
        for category in sorted(set(pool_counts) | set(sample_counts)):
            p, s = pool_counts.get(category, 0), sample_counts.get(category, 0)
            lines.append(
                f"| {category} | {p} ({100 * p / pool_total:.0f}%) | {s} ({100 * s / sample_total:.0f}%) |"
            )
        lines.append("")
    if report["rejections"]:
        lines += ["## Passed over", "", "| Case | Sampler | Reason |", "|---|---|---|"]
        lines += [f"| {r['case']} | {r['sampler']} | {r['reason']} |" for r in report["rejections"]]
    return "\n".join(lines)
