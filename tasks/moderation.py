"""A5 moderation: a seeded share of completed audits re-marked blind, and how far markers agree.

Each month, with the month's sample (T1), a seeded random share (`moderation_share`, default
10%, rounded up) of the audits completed in the month before is assigned to the moderator (the
`moderator_email` setting, else the QA manager; never the audit's own auditor, nor the case's
holder) to re-mark with the same question set, blind: the moderation's emails and pages show the
case and the tool, never the first audit's answers. In a quarter's last month's draw, every
auditor who completed an audit in the quarter and has none moderated from it gets one, so each
auditor is moderated at least once a quarter.

Agreement, per auditor, per section and overall, is the share of questions answered alike and
Cohen's kappa (agreement beyond chance) with its 95% interval; the peer audit day's pairs are
measured the same way (T9). Questions answered "not applicable" by either marker, and counts and
free text, are not compared.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Audit, Case, Finding, Question, SamplingRun, SamplingSelection, Staff
from models.base import id_of
from models.enums import (
    AuditKind,
    AuditStatus,
    Judgement,
    Role,
    SamplingKind,
    SelectionMethod,
    YesNo,
)
from models.settings import Settings, get_settings
from tasks.sampling.pool import active_staff, load_pool
from tasks.sampling.rules import Candidate, makeup, seed_for
from tasks.workdays import Month, Quarter

Z95 = 1.959964  # the normal distribution's two-sided 95% point
MODERATED_KINDS = [AuditKind.CASE_FILE, AuditKind.SUPERVISION_FILE, AuditKind.THEMED]
REASON = "A5: moderation, re-mark this audit blind with the same tool"
MOST_DIFFERENT = 5  # questions listed where markers most often differ


# Cohen's kappa ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kappa:
    """Agreement of two markers over `n` paired answers."""

    n: int
    agreed: int
    kappa: float | None  # None: no pairs, or every answer in one category (chance agreement 1)
    low: float | None
    high: float | None

    @property
    def share(self) -> float | None:
        return self.agreed / self.n if self.n else None


def cohen_kappa(pairs: Iterable[tuple[str, str]]) -> Kappa:
    """Cohen's kappa, (p_o - p_e) / (1 - p_e), with the large-sample 95% interval of Cohen
    (1960): kappa +- 1.96 * sqrt(p_o (1 - p_o) / (n (1 - p_e)^2)), clipped to [-1, 1]."""
    pairs = list(pairs)
    n = len(pairs)
    agreed = sum(a == b for a, b in pairs)
    if not n:
        return Kappa(0, 0, None, None, None)
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    p_o = agreed / n
    p_e = sum(first[c] * second[c] for c in first) / (n * n)
    if p_e >= 1:
        return Kappa(n, agreed, None, None, None)
    kappa = (p_o - p_e) / (1 - p_e)
    se = math.sqrt(p_o * (1 - p_o) / n) / (1 - p_e)
    return Kappa(n, agreed, kappa, max(-1.0, kappa - Z95 * se), min(1.0, kappa + Z95 * se))


Answers = dict[str, tuple[str, str]]  # question code -> (section, answer)


def answers_of(session: Session, audit_ids: list[int]) -> dict[int, Answers]:
    """Per audit: its judged and yes/no answers, not-applicable ones left out."""
    out: dict[int, Answers] = defaultdict(dict)
    if not audit_ids:
        return out
    rows = session.execute(
        sa.select(
            col(Finding.audit_id),
            col(Question.code),
            col(Question.section),
            col(Finding.judgement),
            col(Finding.yes_no),
        )
        .join(Question, col(Question.id) == Finding.question_id)
        .where(col(Finding.audit_id).in_(audit_ids))
    )
    for audit_id, code, section, judgement, yes_no in rows:
        if judgement is not None and judgement is not Judgement.NOT_APPLICABLE:
            out[audit_id][code] = (section, judgement.value)
        elif yes_no is not None and yes_no is not YesNo.NOT_APPLICABLE:
            out[audit_id][code] = (section, yes_no.value)
    return out


def paired(first: Answers, second: Answers) -> list[tuple[str, str, str, str]]:
    """(question, section, first answer, second answer) for every question both answered."""
    return [(q, first[q][0], first[q][1], second[q][1]) for q in sorted(set(first) & set(second))]


# The monthly draw ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moderation:
    """One audit to be re-marked, by whom, and why it was drawn."""

    audit: Audit
    moderator: Staff
    reason: str


def moderator_for(session: Session, settings: Settings) -> list[Staff]:
    """Who moderates, in order of preference: the named moderator, the QA manager, then a
    service manager (for the audits the first of them did themselves)."""
    named = []
    if settings.moderator_email:
        named = list(
            session.exec(
                select(Staff).where(
                    col(Staff.email) == settings.moderator_email.strip().lower(),
                    col(Staff.active) == sa.true(),
                )
            )
        )
    return (
        named + active_staff(session, Role.QA_MANAGER) + active_staff(session, Role.SERVICE_MANAGER)
    )


def plan_moderation(
    session: Session, period: Month, on: date, settings: Settings | None = None
) -> tuple[int, list[Moderation]]:
    """The month's moderations (A5): its seed, and the audits drawn from last month's completed."""
    settings = settings or get_settings()
    seed = seed_for(period, "moderation")
    rng = random.Random(seed)
    last = period.next(-1)
    done = _completed(session, last.first_day, last.last_day)
    moderated = set(  # a moderation withdrawn or not done leaves its audit to draw again
        session.exec(
            select(col(Audit.moderates_id)).where(
                col(Audit.moderates_id).is_not(None),
                col(Audit.status).in_([AuditStatus.ASSIGNED, AuditStatus.COMPLETED]),
            )
        )
    )
    done = [a for a in done if id_of(a) not in moderated]
    moderators = moderator_for(session, settings)
    holders = dict(
        session.execute(sa.select(col(Case.id), col(Case.case_manager_id))).tuples().all()
    )

    def who(audit: Audit) -> Staff | None:
        holder = holders.get(audit.case_id) if audit.case_id is not None else None
        return next(
            (
                m
                for m in moderators
                if m.id not in (audit.auditor_id, holder, audit.subject_staff_id)
            ),
            None,
        )

    drawn: list[Moderation] = []
    cases: set[int | None] = set()

    def take(audit: Audit, reason: str) -> None:
        moderator = who(audit)
        if moderator is not None and audit.case_id not in cases:
            drawn.append(Moderation(audit, moderator, reason))
            cases.add(audit.case_id)

    share = math.ceil(settings.moderation_share * len(done))
    for audit in rng.sample(done, min(share, len(done))):
        take(
            audit,
            f"{REASON} (drawn at random: {settings.moderation_share:.0%} of the audits completed in {last})",
        )
    quarter = Quarter.containing(last.first_day)
    if quarter.months[-1] == last:  # the quarter's last draw: every auditor at least once
        in_quarter = _completed(session, quarter.first_day, quarter.last_day)
        covered = {a.auditor_id for a in in_quarter if id_of(a) in moderated}
        covered |= {m.audit.auditor_id for m in drawn}
        by_auditor: dict[int, list[Audit]] = defaultdict(list)
        for a in in_quarter:
            if id_of(a) not in moderated:
                by_auditor[a.auditor_id].append(a)
        for auditor_id in sorted(set(by_auditor) - covered):
            before = len(drawn)
            for audit in rng.sample(by_auditor[auditor_id], len(by_auditor[auditor_id])):
                take(audit, f"{REASON} (each auditor at least once in {quarter})")
                if len(drawn) > before:
                    break
    return seed, drawn


def _completed(session: Session, first: date, last: date) -> list[Audit]:
    return list(
        session.exec(
            select(Audit)
            .where(
                col(Audit.status) == AuditStatus.COMPLETED,
                col(Audit.kind).in_(MODERATED_KINDS),
                col(Audit.completed_on).between(first, last),
            )
            .order_by(col(Audit.id))
        )
    )


def record_moderation(
    session: Session, period: Month, on: date, due: date, seed: int, drawn: list[Moderation]
) -> list[Audit]:
    """S12: one manifest run per moderator, and the moderation audits it assigns."""
    candidates: dict[int | None, Candidate] = {c.case_id: c for c in load_pool(session, on)}
    audits: list[Audit] = []
    by_moderator: dict[int, list[Moderation]] = defaultdict(list)
    for m in drawn:
        by_moderator[id_of(m.moderator)].append(m)
    for moderator_id, items in sorted(by_moderator.items()):
        drawn_makeup = makeup(c for m in items if (c := candidates.get(m.audit.case_id)))
        run = SamplingRun(
            period=str(period),
            kind=SamplingKind.MODERATION,
            sampler_id=moderator_id,
            sampling_date=on,
            seed=str(seed),
            rules=["A5", "S3", "S10", "S12"],
            pool_size=len(items),
            pool_makeup=drawn_makeup,  # the pool is the drawn audits themselves
            sample_makeup=drawn_makeup,
        )
        session.add(run)
        session.flush()
        for position, m in enumerate(items, start=1):
            first = m.audit
            audit = Audit(
                kind=AuditKind.MODERATION,
                category=first.category,
                case_id=first.case_id,
                subject_staff_id=first.subject_staff_id,
                auditor_id=moderator_id,
                question_set_id=first.question_set_id,
                selection_method=SelectionMethod.MODERATION,
                selection_reason=m.reason,
                sampling_run_id=id_of(run),
                moderates_id=id_of(first),
                period=str(period),
                assigned_on=on,
                due_on=due,
            )
            session.add(audit)
            session.flush()
            audits.append(audit)
            if first.case_id is not None:
                session.add(
                    SamplingSelection(
                        run_id=id_of(run),
                        case_id=first.case_id,
                        position=position,
                        reason=m.reason,
                        audit_id=id_of(audit),
                    )
                )
    session.flush()
    return audits


# Agreement in a quarter -----------------------------------------------------------------------


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _row(kappa: Kappa, **named: Any) -> dict[str, Any]:
    return {
        **named,
        "compared": kappa.n,
        "agreed": kappa.agreed,
        "share": _rounded(kappa.share),
        "kappa": _rounded(kappa.kappa),
        "low": _rounded(kappa.low),
        "high": _rounded(kappa.high),
        "kappa_(95%_interval)": kappa_text(kappa),
    }


def agreement_figures(session: Session, quarter: Quarter) -> dict[str, Any]:
    """A5: moderations completed in the quarter set against the audits they re-marked: agreement
    per auditor, per section and overall, and the questions where markers most often differ."""
    pairs = session.execute(
        sa.select(col(Audit.id), col(Audit.moderates_id)).where(
            col(Audit.kind) == AuditKind.MODERATION,
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.completed_on).between(quarter.first_day, quarter.last_day),
        )
    ).all()
    firsts = {
        id_of(a): a
        for a in session.exec(
            select(Audit).where(
                col(Audit.id).in_([f for _, f in pairs]),
                col(Audit.status) == AuditStatus.COMPLETED,
            )
        )
    }
    answers = answers_of(session, [m for m, _ in pairs] + list(firsts))
    names = dict(session.execute(sa.select(col(Staff.id), col(Staff.name))).tuples().all())
    texts = dict(session.execute(sa.select(col(Question.code), col(Question.text))).tuples().all())
    by_auditor: dict[str, list[tuple[str, str]]] = defaultdict(list)
    audits_by_auditor: Counter[str] = Counter()
    by_section: dict[str, list[tuple[str, str]]] = defaultdict(list)
    by_question: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    everything: list[tuple[str, str]] = []
    for moderation_id, first_id in pairs:
        first = firsts.get(first_id or 0)
        if first is None:
            continue  # the first audit's record was withdrawn: nothing to compare
        auditor = names.get(first.auditor_id, "?")
        audits_by_auditor[auditor] += 1
        for question, section, theirs, ours in paired(
            answers[id_of(first)], answers[moderation_id]
        ):
            pair = (theirs, ours)
            by_auditor[auditor].append(pair)
            by_section[section].append(pair)
            everything.append(pair)
            by_question[(section, question)]["compared"] += 1
            by_question[(section, question)]["differed"] += theirs != ours
    differing = sorted(
        ((k, c) for k, c in by_question.items() if c["differed"]),
        key=lambda kc: (-kc[1]["differed"] / kc[1]["compared"], -kc[1]["differed"], kc[0]),
    )[:MOST_DIFFERENT]
    return {
        "moderated": sum(audits_by_auditor.values()),
        "overall": _row(
            cohen_kappa(everything), auditor="All auditors", audits=sum(audits_by_auditor.values())
        ),
        "by_auditor": [
            _row(cohen_kappa(by_auditor[name]), auditor=name, audits=audits_by_auditor[name])
            for name in sorted(audits_by_auditor)
        ],
        "by_section": [_row(cohen_kappa(p), section=s) for s, p in sorted(by_section.items())],
        "differing": [
            {
                "section": section,
                "question": code,
                "text": texts.get(code, code),
                "compared": c["compared"],
                "differed": c["differed"],
            }
            for (section, code), c in differing
        ],
    }


def kappa_text(k: Kappa) -> str:
    """'0.62 (0.41 to 0.83)': kappa and its 95% interval, or '-' where it is not defined."""
    if k.kappa is None or k.low is None or k.high is None:
        return "-"
    return f"{k.kappa:.2f} ({k.low:.2f} to {k.high:.2f})"
