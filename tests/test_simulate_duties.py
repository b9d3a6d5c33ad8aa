"""The simulated year (tests/simulated_year.py) checked for the rest of the framework (A1 re-audit,
A3 supervisee summaries, A4 support needs, A5 moderation) and today's standards (H1, H2 the
inspection-style tool rated in the packs; H4 risk-adaptive sampling), on SQLite and PostgreSQL,
reading only."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Audit, Case, EmailMessage, PackSnapshot, SamplingRun, Staff
from models.enums import AuditKind, AuditStatus, Role, SamplingKind
from tests.simulated_year import Simulated


def _messages(db: Session) -> list[EmailMessage]:
    return list(db.exec(select(EmailMessage)))


def test_simulated_year_moderates_every_auditor_each_quarter(db: Session) -> None:
    """A5: from May each month's sample brings moderations of the month before's audits, none
    re-marked by its own auditor; every auditor who completed an audit in a quarter is
    moderated from it (the quarters whose next month the year reaches: all but the last)."""
    moderations = list(db.exec(select(Audit).where(Audit.kind == AuditKind.MODERATION)))
    firsts = {a.id: a for a in db.exec(select(Audit).where(Audit.kind != AuditKind.MODERATION))}
    months = {m.period for m in moderations}
    assert months == {f"2025-{m:02d}" for m in range(5, 13)} | {"2026-01", "2026-02", "2026-03"}
    assert all(firsts[m.moderates_id].auditor_id != m.auditor_id for m in moderations)
    assert all(firsts[m.moderates_id].status is AuditStatus.COMPLETED for m in moderations)
    kinds = {AuditKind.CASE_FILE, AuditKind.SUPERVISION_FILE, AuditKind.THEMED}
    for first_day, last_day in [
        ("2025-04-01", "2025-06-30"),
        ("2025-07-01", "2025-09-30"),
        ("2025-10-01", "2025-12-31"),
    ]:
        done = [
            a
            for a in firsts.values()
            if a.kind in kinds
            and a.completed_on is not None
            and first_day <= a.completed_on.isoformat() <= last_day
        ]
        moderated = {firsts[m.moderates_id].auditor_id for m in moderations}
        moderated_here = {
            firsts[m.moderates_id].auditor_id
            for m in moderations
            if first_day <= firsts[m.moderates_id].completed_on.isoformat() <= last_day
        }
        assert {a.auditor_id for a in done} <= moderated_here, (first_day, moderated)
    recorded = [m for m in moderations if m.status is AuditStatus.COMPLETED]
    assert len(recorded) > len(moderations) / 2  # the simulated moderator does most of them


def test_simulated_year_reaudits_once_the_actions_are_done(db: Session) -> None:
    """A1: every re-audit follows an audit whose action points were all done by its sample day,
    with the same tool, never by the case's holder; most are recorded."""
    from models import ActionPoint

    reaudits = list(db.exec(select(Audit).where(col(Audit.reaudits_id).is_not(None))))
    assert len(reaudits) >= 10
    holders = {c.id: c.case_manager_id for c in db.exec(select(Case))}
    for again in reaudits:
        first = db.get(Audit, again.reaudits_id)
        actions = db.exec(select(ActionPoint).where(ActionPoint.audit_id == first.id)).all()
        assert actions and all(
            a.completed_on is not None and a.completed_on <= again.assigned_on
            for a in actions
            if a.status.value != "cancelled"
        )
        assert again.question_set_id == first.question_set_id
        assert again.auditor_id != holders[again.case_id]
    assert sum(a.status is AuditStatus.COMPLETED for a in reaudits) > len(reaudits) / 2


def test_simulated_year_sends_each_case_manager_a_quarterly_summary(db: Session) -> None:
    """A3 (Fig. 2): in July, October and January each case manager with a line manager is sent
    the quarter before's summary, copied to that manager, with its PDF (April's would cover the
    quarter before the simulated year began, and is sent too)."""
    summaries = [m for m in _messages(db) if m.key.startswith("supervisee-summary:")]
    quarters = Counter(m.key.split(":")[1] for m in summaries)
    assert set(quarters) >= {"2025-Q1", "2025-Q2", "2025-Q3"}
    staff = {s.email: s for s in db.exec(select(Staff))}
    for m in summaries:
        [to] = m.to_addrs
        [manager] = m.cc_addrs  # their line manager then (one left mid-year: staff_change)
        assert staff[to].role is Role.CASE_MANAGER
        assert staff[manager].role is Role.OPERATIONAL_MANAGER
        assert [a["filename"] for a in m.attachments] == [
            f"summary-{m.key.split(':')[1]}-{staff[to].id}.pdf"
        ]


def test_simulated_year_identifies_reviews_and_chases_support_needs(db: Session) -> None:
    """A4 (§5 Methods): auditors identify support or training needs with audits (never with a
    moderation), each for the team manager to review within six months; the reviews are chased
    (E2) and made: most needs are met, some reviewed again with a later date."""
    from models import ChaseStep, SupportNeed
    from models.enums import NeedScope, NeedStatus

    needs = list(db.exec(select(SupportNeed)))
    assert len(needs) >= 20
    audits = {a.id: a for a in db.exec(select(Audit))}
    staff = {s.id: s for s in db.exec(select(Staff))}
    for need in needs:
        audit = audits[need.audit_id]
        assert audit.kind is not AuditKind.MODERATION and audit.status is AuditStatus.COMPLETED
        assert need.staff_id == audit.subject_staff_id
        # The team manager then (one left mid-year: staff_change), or whoever recorded it.
        reviewer = staff[need.owner_id]
        managers = (Role.OPERATIONAL_MANAGER, Role.SERVICE_MANAGER)
        assert reviewer.role in managers or need.owner_id == audit.recorded_by_id
        if need.status is NeedStatus.OPEN:  # a leaver's open needs were handed on
            assert reviewer.active
        assert 0 < (need.review_on - audit.completed_on).days <= 183 + 30 * need.times_reviewed
    assert {n.scope for n in needs} == {NeedScope.INDIVIDUAL, NeedScope.TEAM}
    met = [n for n in needs if n.status is NeedStatus.MET]
    assert len(met) > len(needs) / 2
    assert any(n.times_reviewed == 2 for n in met)  # reviewed, still needed, then met
    # The workforce development lead's summary each quarter, with the supervisee summaries (SS).
    summaries = [m for m in _messages(db) if m.key.startswith("needs-summary:")]
    assert {m.key.split(":")[1] for m in summaries} >= {"2025-Q1", "2025-Q2", "2025-Q3"}
    leads = {s.email for s in staff.values() if s.role is Role.WORKFORCE_DEVELOPMENT_LEAD}
    assert all(set(m.to_addrs) <= leads for m in summaries)
    chased = set(db.exec(select(ChaseStep.item_id).where(ChaseStep.item_type == "need")))
    assert {
        n.id for n in needs if n.status is NeedStatus.OPEN and n.review_on < date(2026, 3, 1)
    } <= chased


def test_simulated_year_samples_weaker_case_managers_more_and_says_why(db: Session) -> None:
    """H4 over a year: some months give a weaker case manager a risk-adaptive case; each such
    pick comes after S6's picks in its run, says why, is counted in the run's rules, and its
    case manager's last three audits before it were weaker than the threshold."""
    from models import SamplingSelection
    from tasks.inspection.adaptive import weaker_case_managers

    runs = db.exec(select(SamplingRun).where(SamplingRun.kind == SamplingKind.MONTHLY)).all()
    adaptive = 0
    for run in runs:
        picks = db.exec(
            select(SamplingSelection)
            .where(SamplingSelection.run_id == run.id)
            .order_by(SamplingSelection.position)
        ).all()
        h4 = [p for p in picks if p.reason.startswith("H4")]
        if not h4:
            assert not any(r.startswith("H4") for r in run.rules)
            continue
        adaptive += len(h4)
        assert f"H4: {len(h4)} risk-adaptive" in run.rules
        first = picks.index(h4[0])
        assert first >= 1 and all(p.reason.startswith("S6") for p in picks[:first])
        weaker = weaker_case_managers(db, run.sampling_date, 3, 0.3)
        for pick in h4:
            subject = db.get(Audit, pick.audit_id).subject_staff_id
            assert subject in weaker and "above 30%" in pick.reason
    assert adaptive > 0, "the simulated year's weaker team gives some risk-adaptive picks"


@pytest.mark.parametrize("quarter", ["2025-Q2", "2025-Q3"])
def test_simulated_year_rates_the_inspection_standards_in_its_packs(
    simulated: Simulated, db: Session, quarter: str
) -> None:
    """H1, H2 over a simulated year: the supervision files audited with the inspection-style
    tool; the frozen pack's inspection section counts exactly the key questions' answers stored
    for the quarter's completed audits, rates every standard seen, and its PDF and XLSX say so."""
    from openpyxl import load_workbook
    from pypdf import PdfReader

    from models import Finding, Question
    from models.enums import AnswerType, Judgement
    from tasks.workdays import Quarter

    q = Quarter.parse(quarter)
    rows = db.execute(
        sa.select(col(Question.standard), col(Question.code), col(Finding.judgement))
        .join(Finding, col(Finding.question_id) == Question.id)
        .join(Audit, col(Audit.id) == Finding.audit_id)
        .where(
            col(Question.answer_type) == AnswerType.SUFFICIENCY,
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.kind) == AuditKind.SUPERVISION_FILE,
            col(Audit.completed_on).between(q.first_day, q.last_day),
        )
    ).all()
    assert rows, "supervision files were audited with the inspection-style tool"
    tally: Counter[tuple[str, str]] = Counter()
    judged: Counter[tuple[str, str]] = Counter()
    for standard, code, judgement in rows:
        judged[(standard, code)] += judgement is not Judgement.NOT_APPLICABLE
        tally[(standard, code)] += judgement is Judgement.SUFFICIENT
    snapshot = db.execute(
        sa.select(PackSnapshot).where(
            col(PackSnapshot.kind) == "quarterly", col(PackSnapshot.period) == quarter
        )
    ).scalar_one()
    section = snapshot.figures["inspection"]
    seen = {
        (r["standard"], k["code"]): (k["sufficient"], k["judged"])
        for r in section["standards"]
        for k in r["keys"]
    }
    assert seen == {key: (tally[key], judged[key]) for key in judged}
    assert all(r["rating"] for r in section["standards"])
    folder = simulated.output / "packs" / quarter
    book = load_workbook(folder / f"qa-pack-{quarter}.xlsx", read_only=True)
    assert "Inspection standards" in book.sheetnames
    text = " ".join(
        p.extract_text() or "" for p in PdfReader(folder / f"qa-pack-{quarter}.pdf").pages
    )
    assert "Inspection standards" in text and section["standards"][0]["title"] in text
