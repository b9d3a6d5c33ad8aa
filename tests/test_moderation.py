"""A5 moderation: a seeded share of completed audits re-marked blind by a moderator who is not the
auditor, recorded through the path every audit takes, and agreement reported as a share and as
Cohen's kappa with its 95% interval (also used for the peer audit day, T9). SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Audit, Case, EmailMessage, SamplingRun, SamplingSelection, Staff
from models.enums import AnswerType, AuditKind, AuditStatus, Role, SamplingKind
from models.settings import get_settings
from tasks.moderation import agreement_figures, cohen_kappa, plan_moderation
from tasks.recording.form import ActionIn, AuditForm, FormInvalid
from tasks.recording.record import questions_for, record_audit
from tasks.sampling.monthly import sample_month
from tasks.workdays import Month, Quarter
from tests.answering import plain_answers

pytestmark = pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))
DONE_ON = date(2026, 12, 10)
JANUARY = date(2027, 1, 4)
FIRST_EVIDENCE = "seen in the first auditor's notes only"


def test_a5_kappa_against_a_hand_worked_example() -> None:
    """50 answers: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no. p_o = 35/50 = 0.7; p_e = 0.5 x 0.6 +
    0.5 x 0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4; SE = sqrt(0.7 x 0.3 / 50) / 0.5 =
    0.12961; 95% interval 0.4 -+ 1.96 x 0.12961 = 0.1460 to 0.6540."""
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    k = cohen_kappa(pairs)
    assert (k.n, k.agreed, k.share) == (50, 35, 0.7)
    assert k.kappa == pytest.approx(0.4)
    assert k.low == pytest.approx(0.14596, abs=1e-4)
    assert k.high == pytest.approx(0.65404, abs=1e-4)
    # Full agreement over two answers is 1 with no doubt; one answer throughout has no kappa
    # (chance agreement is already 1); nothing compared, nothing to say.
    full = cohen_kappa([("good", "good"), ("insufficient", "insufficient")] * 3)
    assert (full.kappa, full.low, full.high) == (1.0, 1.0, 1.0)
    assert cohen_kappa([("good", "good")] * 4).kappa is None
    assert cohen_kappa([]).share is None
    # Worse than chance is negative, and the interval never leaves [-1, 1].
    opposite = cohen_kappa([("yes", "no"), ("no", "yes")] * 2)
    assert opposite.kappa == pytest.approx(-1.0) and opposite.low == -1.0


def _complete_all(session: Session, on: date) -> list[Audit]:
    """Every assigned audit of the month marked done on `on` (the draw reads status and date)."""
    done = list(session.exec(select(Audit).where(Audit.status == AuditStatus.ASSIGNED)))
    for audit in done:
        audit.status, audit.completed_on = AuditStatus.COMPLETED, on
    session.commit()
    return done


def test_a5_a_seeded_share_of_last_months_audits_is_drawn_for_a_moderator_not_the_auditor(
    session: Session,
) -> None:
    """A5: January's sample brings a moderation of ceil(10%) of December's completed audits,
    plus one for any auditor not yet moderated in the quarter (December closes it), each for the
    QA manager, never the audit's auditor nor the case's holder (S10), with the same tool,
    recorded in the manifest with its seed (S3, S12); the draw is reproducible from its seed
    and a re-run changes nothing (S11)."""
    done = _complete_all(session, DONE_ON)
    moderated_kinds = {AuditKind.CASE_FILE, AuditKind.SUPERVISION_FILE, AuditKind.THEMED}
    eligible = [a for a in done if a.kind in moderated_kinds]
    assert len(eligible) >= 10, "the demo's December needs a share worth drawing"
    first = plan_moderation(session, Month.of(JANUARY), JANUARY)
    assert plan_moderation(session, Month.of(JANUARY), JANUARY) == first  # S3: same seed, same
    sample_month(session, JANUARY)
    moderations = session.exec(select(Audit).where(Audit.kind == AuditKind.MODERATION)).all()
    originals = {a.id: a for a in eligible}
    qa = session.exec(select(Staff).where(Staff.role == Role.QA_MANAGER)).first()
    holders = {c.id: c.case_manager_id for c in session.exec(select(Case))}
    random_share = math.ceil(get_settings().moderation_share * len(eligible))
    auditors = {a.auditor_id for a in eligible}
    assert random_share <= len(moderations) <= random_share + len(auditors)
    assert {originals[m.moderates_id].auditor_id for m in moderations} == auditors
    for m in moderations:
        first_audit = originals[m.moderates_id]
        assert m.auditor_id not in (first_audit.auditor_id, holders[m.case_id])  # S10
        if first_audit.auditor_id != qa.id:
            assert m.auditor_id == qa.id  # the QA manager moderates, but their own audits
        assert (m.case_id, m.question_set_id) == (first_audit.case_id, first_audit.question_set_id)
        assert m.period == "2027-01" and m.selection_reason.startswith("A5")
    assert len({m.case_id for m in moderations}) == len(moderations)
    runs = session.exec(select(SamplingRun).where(SamplingRun.kind == SamplingKind.MODERATION))
    runs = list(runs)
    assert runs and all(r.seed == str(first[0]) and "A5" in r.rules for r in runs)  # S12
    run_ids = {r.id for r in runs}
    selected = [s for s in session.exec(select(SamplingSelection)) if s.run_id in run_ids]
    assert {s.audit_id for s in selected} == {m.id for m in moderations}
    # The moderator's assignment email lists them with links, the team notices leave them out.
    emails = [e for e in session.exec(select(EmailMessage)) if ":2027-01:" in e.key]
    notices = [e for e in emails if e.kind == "team-notice"]
    assert notices and all("Moderation" not in e.body_text for e in notices)
    to_qa = [e for e in emails if e.kind == "assignment" and e.to_addrs == [qa.email]]
    assert to_qa and "Moderation" in to_qa[0].body_text and "/l/" in to_qa[0].body_text
    before = session.execute(sa.select(sa.func.count()).select_from(Audit)).scalar_one()
    assert not sample_month(session, JANUARY).created  # S11
    assert session.execute(sa.select(sa.func.count()).select_from(Audit)).scalar_one() == before


def _form(session: Session, audit: Audit, answers: dict[str, str], by: Staff) -> AuditForm:
    """Every question answered: judgements as `answers` says, else 'good'; the rest plainly."""
    evidence = FIRST_EVIDENCE if audit.moderates_id is None else ""
    given = plain_answers(session, audit, answers, evidence=evidence)
    return AuditForm(audit_id=audit.id, recorded_by=by.email, answers=given)


def test_a5_moderation_is_recorded_blind_and_agreement_reported_per_auditor_and_section(
    session: Session,
) -> None:
    """A5: the moderation is recorded through record_audit like every audit (L2), takes no
    action points (they belong to the first audit), sends the case manager nothing, and is left
    out of the pack's judgements; the pack's moderation section sets the two markings side by
    side: per auditor and per section, the share alike and kappa, and the questions that differ."""
    case_file = session.exec(
        select(Audit).where(Audit.kind == AuditKind.CASE_FILE).order_by(Audit.id)
    ).first()
    auditor = session.get(Staff, case_file.auditor_id)
    judged = [
        q.code for q in questions_for(session, case_file) if q.answer_type is AnswerType.JUDGEMENT
    ]
    assert len(judged) >= 4
    record_audit(
        session,
        _form(session, case_file, {judged[0]: "insufficient"}, auditor),
        on=DONE_ON,
        source="test",
    )
    sample_month(session, JANUARY)
    moderation = session.exec(select(Audit).where(Audit.moderates_id == case_file.id)).one_or_none()
    assert moderation is not None, "the only completed audit is moderated (once per auditor)"
    moderator = session.get(Staff, moderation.auditor_id)
    assignment = [
        e for e in session.exec(select(EmailMessage)) if e.key.startswith("assignment:2027-01:")
    ]
    blind = [e for e in assignment if moderator.email in e.to_addrs]
    assert blind and all(FIRST_EVIDENCE not in e.body_text + e.body_html for e in blind)
    # The moderator differs on two judgements: the first (insufficient -> good), and one more.
    remark = _form(session, moderation, {judged[0]: "good", judged[1]: "sufficient"}, moderator)
    case_manager = session.get(Staff, moderation.subject_staff_id)
    with_actions = remark.model_copy(
        update={
            "action_points": [
                ActionIn(
                    priority=1,
                    text="Redo it",
                    owner_email=case_manager.email,
                    deadline=date(2027, 1, 29),
                )
            ]
        }
    )
    with pytest.raises(FormInvalid) as refused:
        record_audit(session, with_actions, on=JANUARY, source="moderation.json")
    assert "A5" in str(refused.value.problems[0]) and refused.value.problems[0].field
    session.rollback()
    sent_before = {e.id for e in session.exec(select(EmailMessage))}
    record_audit(session, remark, on=date(2027, 1, 8), source="moderation.json")
    new = [e for e in session.exec(select(EmailMessage)) if e.id not in sent_before]
    assert [e.kind for e in new] == ["recorded"] and new[0].to_addrs == [moderator.email]

    figures = agreement_figures(session, Quarter.containing(date(2027, 1, 8)))
    assert figures["moderated"] == 1
    [row] = figures["by_auditor"]
    compared = len(
        [
            q
            for q in questions_for(session, case_file)
            if q.answer_type in (AnswerType.JUDGEMENT, AnswerType.YES_NO)
        ]
    )
    assert (row["auditor"], row["audits"], row["compared"]) == (auditor.name, 1, compared)
    assert row["agreed"] == compared - 2 and row["share"] == round((compared - 2) / compared, 3)
    assert figures["overall"]["kappa"] == row["kappa"] and row["kappa_(95%_interval)"] != "-"
    assert sum(s["compared"] for s in figures["by_section"]) == compared
    assert {d["question"] for d in figures["differing"]} == {judged[0], judged[1]}
    assert all(d["differed"] == 1 == d["compared"] for d in figures["differing"])
    # The pack's judgement figures count the first audit once, not its re-mark beside it.
    from tasks.packs.figures import judgement_figures

    december = judgement_figures(session, Quarter.containing(DONE_ON))
    january = judgement_figures(session, Quarter.containing(JANUARY))
    assert sum(s["judged"] for s in december["sections"]) > 0
    assert sum(s["judged"] for s in january["sections"]) == 0


def test_a5_mid_quarter_the_share_alone_is_drawn(session: Session) -> None:
    """A5: February draws from January, the middle of a quarter: the random share alone (at most
    ceil(10%) of January's completed audits, one per case), with no per-auditor top-up."""
    _complete_all(session, DONE_ON)
    sample_month(session, JANUARY)
    january = [
        a
        for a in _complete_all(session, date(2027, 1, 20))
        if a.kind in (AuditKind.CASE_FILE, AuditKind.SUPERVISION_FILE, AuditKind.THEMED)
    ]
    _, drawn = plan_moderation(session, Month(2027, 2), date(2027, 2, 1))
    share = math.ceil(get_settings().moderation_share * len(january))
    assert 1 <= len(drawn) <= share < len({a.auditor_id for a in january})
    assert {m.audit.id for m in drawn} <= {a.id for a in january}
    assert all("at random: 10% of the audits completed in 2027-01" in m.reason for m in drawn)


def test_a5_a_leaving_moderators_moderations_pass_to_someone_who_may_moderate(
    session: Session,
) -> None:
    """A5, S10: the QA manager leaves with moderations open: each passes to the next moderator
    (a service manager), never the first audit's auditor nor the case's holder."""
    from tasks.leavers import reassign_leavers

    _complete_all(session, DONE_ON)
    sample_month(session, JANUARY)
    qa = session.exec(select(Staff).where(Staff.role == Role.QA_MANAGER)).first()
    theirs = [
        m.id
        for m in session.exec(select(Audit).where(Audit.kind == AuditKind.MODERATION))
        if m.auditor_id == qa.id
    ]
    assert theirs
    qa.active = False
    session.commit()
    reassign_leavers(session, date(2027, 1, 6))
    session.commit()
    holders = {c.id: c.case_manager_id for c in session.exec(select(Case))}
    for moderation_id in theirs:
        m = session.get(Audit, moderation_id)
        first = session.get(Audit, m.moderates_id)
        assert m.auditor_id != qa.id and session.get(Staff, m.auditor_id).active
        assert m.auditor_id not in (first.auditor_id, holders[m.case_id], m.subject_staff_id)
        assert not m.three_way_meeting
