"""A1 re-audit (§3: "re-audit is applied to ascertain whether improvements have been
implemented"): drawn once an audit's action points are all done, ahead of the compliance queue,
with the same tool, and set beside the first audit question by question. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, select

from models import ActionPoint, Audit, Case, SamplingRun, Staff
from models.enums import AnswerType, AuditKind, SamplingKind, SelectionMethod
from tasks.reaudit import compare, reaudit_figures
from tasks.recording.actions import complete_action
from tasks.recording.form import ActionIn, AuditForm
from tasks.recording.record import questions_for, record_audit
from tasks.sampling.monthly import sample_month
from tasks.workdays import Quarter
from tests.answering import plain_answers

pytestmark = pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))
DONE_ON = date(2026, 12, 10)
ACTIONS_DONE = date(2026, 12, 18)
JANUARY = date(2027, 1, 4)


def test_a1_compare_ranks_judgements() -> None:
    assert compare("insufficient", "good") == "improved"
    assert compare("excellent", "excellent") == "same"
    assert compare("good", "sufficient") == "worse"


def _record(
    session: Session, audit: Audit, answers: dict[str, str], actions: int, on: date
) -> list[ActionPoint]:
    """Record `audit` through the one recording path: judgements as `answers` says, else
    'good'; `actions` action points owned by the case manager."""
    given = plain_answers(session, audit, answers)
    owner = session.get(Staff, audit.subject_staff_id)
    auditor = session.get(Staff, audit.auditor_id)
    form = AuditForm(
        audit_id=audit.id,
        recorded_by=auditor.email,
        answers=given,
        action_points=[
            ActionIn(
                priority=n, text=f"Action {n}", owner_email=owner.email, deadline=date(2027, 1, 29)
            )
            for n in range(1, actions + 1)
        ],
    )
    record_audit(session, form, on=on, source="test")
    return list(session.exec(select(ActionPoint).where(ActionPoint.audit_id == audit.id)))


def _case_files(session: Session) -> list[Audit]:
    return list(
        session.exec(select(Audit).where(Audit.kind == AuditKind.CASE_FILE).order_by(Audit.id))
    )


def _judged(session: Session, audit: Audit) -> list[str]:
    return [q.code for q in questions_for(session, audit) if q.answer_type is AnswerType.JUDGEMENT]


def test_a1_an_audit_whose_actions_are_all_done_is_reaudited_first_with_the_same_tool(
    session: Session,
) -> None:
    """A1, S2, S10, S12: January's sample re-audits the case of December's audit whose action
    points are all done (not the one with an action still open), by the same auditor, with the
    same kind and question set, before any other draw can take the case; marked so in the
    manifest. The re-audit set beside the first: the standard judged insufficient improved, one
    judged good got worse. A re-run draws nothing new (S11)."""
    first, open_one = _case_files(session)[:2]
    judged = _judged(session, first)
    for action in _record(session, first, {judged[0]: "insufficient"}, 2, DONE_ON):
        complete_action(session, action.id, on=ACTIONS_DONE)
    still_open = _record(session, open_one, {}, 2, DONE_ON)
    complete_action(session, still_open[0].id, on=ACTIONS_DONE)

    sample_month(session, JANUARY)
    again = session.exec(select(Audit).where(Audit.reaudits_id == first.id)).one()
    assert not session.exec(select(Audit).where(Audit.reaudits_id == open_one.id)).all()
    assert (again.case_id, again.auditor_id, again.kind, again.question_set_id) == (
        first.case_id,
        first.auditor_id,
        first.kind,
        first.question_set_id,
    )
    assert again.selection_method is SelectionMethod.REAUDIT
    assert again.selection_reason.startswith(f"A1: re-audit of audit {first.id}")
    others = session.exec(
        select(Audit).where(
            Audit.period == "2027-01", Audit.case_id == first.case_id, Audit.id != again.id
        )
    ).all()
    # No other draw of the case (an observation of its holder, or a moderation of the first
    # audit, are not draws of cases).
    assert {a.kind for a in others} <= {AuditKind.OBSERVATION, AuditKind.MODERATION}
    run = session.get(SamplingRun, again.sampling_run_id)
    assert run.kind is SamplingKind.REAUDIT and "A1" in run.rules
    assert not sample_month(session, JANUARY).created  # S11
    assert len(session.exec(select(Audit).where(Audit.reaudits_id == first.id)).all()) == 1

    _record(session, again, {judged[1]: "insufficient"}, 0, date(2027, 1, 12))
    figures = reaudit_figures(session, Quarter.containing(JANUARY))
    assert figures["done"] == 1
    totals = figures["totals"]
    assert (totals["improved"], totals["worse"]) == (1, 1)
    assert totals["same"] == totals["compared"] - 2 == len(judged) - 2
    assert figures["not_improved"] == []  # the one insufficient the first time improved


def test_a1_a_closed_case_is_reaudited_on_another_of_the_case_managers(session: Session) -> None:
    """A1: the case closed after its audit: another open case of the same case manager."""
    first = _case_files(session)[0]
    for action in _record(session, first, {}, 1, DONE_ON):
        complete_action(session, action.id, on=ACTIONS_DONE)
    case = session.get(Case, first.case_id)
    case.closed_on = date(2026, 12, 21)
    session.commit()
    sample_month(session, JANUARY)
    again = session.exec(select(Audit).where(Audit.reaudits_id == first.id)).one()
    other = session.get(Case, again.case_id)
    assert other.id != case.id and other.case_manager_id == case.case_manager_id
    assert (
        other.closed_on is None and "another of the case manager's cases" in again.selection_reason
    )


def test_a1_a_reaudit_withdrawn_is_drawn_again_the_next_month(session: Session) -> None:
    """A1: a re-audit that was withdrawn leaves its audit due: February draws it again."""
    from models.enums import AuditStatus

    first = _case_files(session)[0]
    for action in _record(session, first, {}, 1, DONE_ON):
        complete_action(session, action.id, on=ACTIONS_DONE)
    sample_month(session, JANUARY)
    january = session.exec(select(Audit).where(Audit.reaudits_id == first.id)).one()
    january.status = AuditStatus.WITHDRAWN
    session.commit()
    sample_month(session, date(2027, 2, 1))
    again = session.exec(
        select(Audit).where(Audit.reaudits_id == first.id, Audit.period == "2027-02")
    ).one()
    assert again.case_id == first.case_id
