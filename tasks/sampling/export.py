"""S12: the record of every case selected, as a spreadsheet (selections, rejections, make-up)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import Audit, Case, SamplingRun, SamplingSelection, Staff
from tasks.sampling.report import rejection_rows
from tasks.xlsx import first_sheet, write_table


def export_selections(session: Session, path: Path, period: str | None = None) -> tuple[Path, int]:
    """Write the selections (and rejections and make-up) of `period`, or of every period."""
    sampler = aliased(Staff)
    auditor = aliased(Staff)
    where = [col(SamplingRun.period) == period] if period else []
    selections = session.execute(
        sa.select(
            col(SamplingRun.period),
            col(SamplingRun.kind),
            col(SamplingRun.theme),
            col(sampler.name),
            col(SamplingRun.seed),
            col(SamplingRun.sampling_date),
            col(SamplingSelection.position),
            col(Case.case_ref),
            col(Case.order_type),
            col(Audit.kind),
            col(auditor.name),
            col(SamplingSelection.reason),
            col(Audit.due_on),
            col(Audit.three_way_meeting),
            col(Audit.status),
        )
        .join(SamplingSelection, col(SamplingSelection.run_id) == col(SamplingRun.id))
        .join(Case, col(Case.id) == col(SamplingSelection.case_id))
        .join(sampler, col(sampler.id) == col(SamplingRun.sampler_id))
        .outerjoin(Audit, col(Audit.id) == col(SamplingSelection.audit_id))
        .outerjoin(auditor, col(auditor.id) == col(Audit.auditor_id))
        .where(*where)
        .order_by(col(SamplingRun.period), col(SamplingRun.id), col(SamplingSelection.position))
    ).all()
    rejections = rejection_rows(session, period)
    runs = (
        session.execute(
            sa.select(SamplingRun, col(sampler.name))
            .join(sampler, col(sampler.id) == col(SamplingRun.sampler_id))
            .where(*where)
            .order_by(col(SamplingRun.period), col(SamplingRun.id))
        )
        .tuples()
        .all()
    )

    book = openpyxl.Workbook()
    write_table(
        first_sheet(book, "Selections"),
        [
            "Period",
            "Run",
            "Theme or target",
            "Sampler",
            "Seed",
            "Sampling date",
            "Position",
            "Case",
            "Order type",
            "Audit",
            "Auditor",
            "Why selected",
            "Deadline",
            "Three-way meeting",
            "Status",
        ],
        [
            [
                p,
                k.label,
                t,
                s,
                seed,
                d,
                pos,
                ref,
                o.label,
                a.label if a else "",
                au or "",
                why,
                due,
                "yes" if tw else "no",
                st.label if st else "",
            ]
            for p, k, t, s, seed, d, pos, ref, o, a, au, why, due, tw, st in selections
        ],
    )
    write_table(
        book.create_sheet("Rejections"),
        ["Period", "Run", "Sampler", "Case passed over", "Reason"],
        [[p, k.label, s, ref, why] for p, k, s, ref, why in rejections],
    )
    rows = []
    for run, name in runs:
        for dimension, pool_counts in run.pool_makeup.items():
            sample_counts = run.sample_makeup.get(dimension, {})
            for category in sorted(set(pool_counts) | set(sample_counts)):
                rows.append(
                    [
                        run.period,
                        run.kind.label,
                        name,
                        dimension.replace("_", " "),
                        category,
                        pool_counts.get(category, 0),
                        sample_counts.get(category, 0),
                    ]
                )
    write_table(
        book.create_sheet("Make-up"),
        ["Period", "Run", "Sampler", "Dimension", "Category", "Caseload (pool)", "Sample"],
        rows,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path, len(selections)
