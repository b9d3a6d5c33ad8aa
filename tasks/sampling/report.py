"""What a month's sampling looks like to an admin: selections, make-up against the pool, rejections."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session

from models import Audit, Case, SamplingRejection, SamplingRun, SamplingSelection, Staff
from models.enums import SamplingKind


def selection_report(session: Session, period: str) -> dict[str, Any]:
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
                Case.case_ref,
                Audit.kind,
                auditor.name,
                SamplingSelection.reason,
                Audit.due_on,
                Audit.three_way_meeting,
            )
            .join(SamplingSelection, SamplingSelection.audit_id == Audit.id)
            .join(Case, Case.id == Audit.case_id)
            .join(auditor, auditor.id == Audit.auditor_id)
            .where(Audit.period == period)
            .order_by(auditor.name, Case.case_ref)
        )
    ]
    rejections = [
        {"case": ref, "sampler": who, "reason": why}
        for _, _, who, ref, why in rejection_rows(session, period)
    ]
    runs = (
        session.execute(sa.select(SamplingRun).where(SamplingRun.period == period)).scalars().all()
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
            SamplingRun.period,
            SamplingRun.kind,
            sampler.name,
            Case.case_ref,
            SamplingRejection.reason,
        )
        .join(SamplingRejection, SamplingRejection.run_id == SamplingRun.id)
        .join(Case, Case.id == SamplingRejection.case_id)
        .join(sampler, sampler.id == SamplingRun.sampler_id)
        .order_by(SamplingRun.period, SamplingRun.id, SamplingRejection.id)
    )
    if period:
        query = query.where(SamplingRun.period == period)
    return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]


def makeup_markdown(report: dict[str, Any]) -> str:
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
