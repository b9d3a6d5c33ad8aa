"""A2 self-audit (§3: "self auditing is promoted, supported and encouraged"): each case manager
asked, on the timetable or on demand, to audit one of their own cases with the same tool; recorded
through the same path; kept apart from management figures; compared with a manager's audit of the
same case (calibration). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Audit, Case, EmailMessage, SamplingRun, Staff
from models.enums import AnswerType, AuditKind, AuditStatus, Role, SamplingKind
from models.errors import InvalidInput
from tasks.packs.figures import Scope, audit_figures, judgement_figures
from tasks.recording.form import AuditForm
from tasks.recording.record import questions_for, record_audit
from tasks.sampling.pool import load_pool
from tasks.sampling.rules import in_pool
from tasks.self_audit import assign_self_audits, calibration_figures
from tasks.workdays import Quarter
from tests.answering import plain_answers

pytestmark = pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))
FEBRUARY = date(2027, 2, 1)
Q4 = Quarter.containing(FEBRUARY)  # January to March 2027


def _case_managers(session: Session) -> list[Staff]:
    return list(
        session.exec(
            select(Staff).where(Staff.role == Role.CASE_MANAGER, Staff.active == sa.true())
        )
    )


def test_a2_each_case_manager_is_asked_to_self_audit_one_of_their_own_cases(
    session: Session,
) -> None:
    """A2, S3, S11, S12: one self-audit each, of a case they hold, with the case audit tool,
    their own link in their assignment email; the month asked again changes nothing."""
    result = assign_self_audits(session, FEBRUARY)
    selves = list(session.exec(select(Audit).where(Audit.kind == AuditKind.SELF)))
    holders = {c.id: c.case_manager_id for c in session.exec(select(Case))}
    eligible = {c.case_manager_id for c in load_pool(session, FEBRUARY) if in_pool(c, FEBRUARY)}
    expected = {s.id for s in _case_managers(session)} & eligible
    assert len(expected) >= 5
    assert sorted(a.auditor_id for a in selves) == sorted(expected)  # one each
    for a in selves:
        assert a.auditor_id == a.subject_staff_id == holders[a.case_id]
        assert a.selection_reason.startswith("A2") and a.period == "2027-02"
    runs = session.exec(select(SamplingRun).where(SamplingRun.kind == SamplingKind.SELF_AUDIT))
    assert {r.sampler_id for r in runs} == expected  # S12: each in the manifest with its seed
    emails = [e for e in session.exec(select(EmailMessage)) if e.key.startswith("assignment:")]
    mine = {e.to_addrs[0] for e in emails if "self-audit" in e.key}
    assert mine == {s.email for s in _case_managers(session) if s.id in expected}
    assert result.emails >= len(expected)
    again = assign_self_audits(session, FEBRUARY)  # S11
    assert again.audits == [] and len(again.already) == len(expected)


def test_a2_on_demand_for_named_case_managers_and_an_unknown_email_refused(
    session: Session,
) -> None:
    """A2 on demand: only the case manager named; an email that is not one says so, changing
    nothing."""
    someone = _case_managers(session)[0]
    with pytest.raises(InvalidInput, match="nobody@example.org"):
        assign_self_audits(session, FEBRUARY, ["nobody@example.org"])
    assert not session.exec(select(Audit).where(Audit.kind == AuditKind.SELF)).all()
    result = assign_self_audits(session, FEBRUARY, [someone.email.upper()])
    [audit_id] = result.audits
    assert session.get(Audit, audit_id).auditor_id == someone.id


def _form(session: Session, audit: Audit, judgements: dict[str, str], default: str) -> AuditForm:
    answers = plain_answers(session, audit, judgements, default)
    auditor = session.get(Staff, audit.auditor_id)
    return AuditForm(audit_id=audit.id, recorded_by=auditor.email, answers=answers)


def test_a2_a_self_audit_is_kept_apart_and_set_beside_the_managers_audit_of_the_case(
    session: Session,
) -> None:
    """A2: recorded like any audit, the case manager is sent no feedback on their own work (their
    line manager gets the copy), no management figure moves, and the pack's calibration sets each
    judgement beside the manager's audit of the same case: one higher, one lower, the rest equal."""
    managers = session.exec(
        select(Audit).where(Audit.kind == AuditKind.CASE_FILE).order_by(Audit.id)
    ).all()
    first = next(
        a
        for a in managers
        if in_pool(
            next(c for c in load_pool(session, FEBRUARY) if c.case_id == a.case_id), FEBRUARY
        )
    )
    record_audit(
        session, _form(session, first, {}, "sufficient"), on=date(2026, 12, 10), source="t"
    )
    # The case manager's other cases closed, so their self-audit falls on this one.
    for case in session.exec(
        select(Case).where(Case.case_manager_id == first.subject_staff_id, Case.id != first.case_id)
    ):
        case.closed_on = date(2027, 1, 15)
    session.commit()
    cm = session.get(Staff, first.subject_staff_id)
    [own_id] = assign_self_audits(session, FEBRUARY, [cm.email]).audits
    own = session.get(Audit, own_id)
    assert own.case_id == first.case_id
    judged = [q.code for q in questions_for(session, own) if q.answer_type is AnswerType.JUDGEMENT]
    before_judged = judgement_figures(session, Q4)
    before_sent = {e.id for e in session.exec(select(EmailMessage))}
    form = _form(session, own, {judged[0]: "good", judged[1]: "insufficient"}, "sufficient")
    record_audit(session, form, on=date(2027, 2, 10), source="self.json")
    assert session.get(Audit, own_id).status is AuditStatus.COMPLETED
    new = [e for e in session.exec(select(EmailMessage)) if e.id not in before_sent]
    assert "feedback" not in {e.kind for e in new}
    copy = [e for e in new if e.kind == "feedback-copy"]
    line_manager = session.get(Staff, cm.line_manager_id)
    assert [e.to_addrs for e in copy] == [[line_manager.email]]
    # Kept apart: the quarter's management figures are as they were.
    assert judgement_figures(session, Q4) == before_judged
    kinds = {
        r["kind"]
        for r in audit_figures(session, Scope.of(session, Q4, date(2027, 3, 1)))["by_kind"]
    }
    assert "Self-audit" not in kinds
    # Calibration against the manager's December audit of the same case.
    figures = calibration_figures(session, Q4)
    assert (figures["done"], figures["compared_with_a_manager"]) == (1, 1)
    overall = figures["overall"]
    assert (overall["higher"], overall["lower"]) == (1, 1)
    assert overall["equal"] == overall["compared"] - 2 == len(judged) - 2
    assert sum(r["compared"] for r in figures["by_section"]) == overall["compared"]


def test_a2_on_demand_from_the_command_line(cli, session: Session) -> None:  # type: ignore[no-untyped-def]
    """`yotqa run self-audit --case-manager EMAIL`: that case manager asked; an unknown email is
    refused with the reason and how to find the right one, and nothing is assigned."""
    someone = _case_managers(session)[0]
    refused = cli("run", "self-audit", "--as-of", "2027-02-01", "--case-manager", "x@example.org")
    assert refused.exit_code != 0 and "x@example.org" in refused.output + refused.stderr
    assert "staff list" in refused.output + refused.stderr
    done = cli("run", "self-audit", "--as-of", "2027-02-01", "--case-manager", someone.email)
    assert done.exit_code == 0, done.output
    assert "Self-audits for 2027-02: 1 assigned" in done.output
    session.expire_all()
    [audit] = session.exec(select(Audit).where(Audit.kind == AuditKind.SELF)).all()
    assert audit.auditor_id == someone.id


def test_a2_a_self_audit_is_not_a_selection_and_needs_no_three_way_meeting(
    session: Session,
) -> None:
    """A2 apart from S2, S4, S6 and S10: a self-audit neither marks its case as compliance
    audited nor as selected (the management sample the same morning is unchanged), needs no
    three-way meeting, and its findings are not the case manager's to acknowledge."""
    from tasks.recording.inbox import inbox
    from tasks.sampling.monthly import plan_month
    from tasks.workdays import Month

    before = {c.case_id: c for c in load_pool(session, FEBRUARY)}
    draws = [
        [p.candidate.case_id for p in plan.draw.picks]
        for plan in plan_month(session, Month.of(FEBRUARY), FEBRUARY, load_pool(session, FEBRUARY))
    ]
    assign_self_audits(session, FEBRUARY)
    selves = session.exec(select(Audit).where(Audit.kind == AuditKind.SELF)).all()
    assert selves and not any(a.three_way_meeting for a in selves)
    after = {c.case_id: c for c in load_pool(session, FEBRUARY)}
    assert after == before
    assert [
        [p.candidate.case_id for p in plan.draw.picks]
        for plan in plan_month(session, Month.of(FEBRUARY), FEBRUARY, load_pool(session, FEBRUARY))
    ] == draws
    own = selves[0]
    cm = session.get(Staff, own.auditor_id)
    record_audit(session, _form(session, own, {}, "good"), on=date(2027, 2, 10), source="t")
    from models.settings import get_settings

    box = inbox(session, cm, date(2027, 2, 11), get_settings())
    assert not box.findings  # nothing to acknowledge of one's own audit


def test_a2_a_leavers_self_audit_is_withdrawn_not_handed_on(session: Session) -> None:
    """A2: when a case manager leaves, their open self-audit is withdrawn (nobody else's to do),
    where their other open audits would pass to a colleague."""
    from tasks.leavers import reassign_leavers

    assign_self_audits(session, FEBRUARY)
    own = session.exec(select(Audit).where(Audit.kind == AuditKind.SELF)).first()
    cm = session.get(Staff, own.auditor_id)
    cm.active = False
    session.commit()
    reassign_leavers(session, date(2027, 2, 3))
    session.commit()
    stored = session.get(Audit, own.id)
    assert (stored.status, stored.auditor_id) == (AuditStatus.WITHDRAWN, cm.id)


def test_a2_a_self_audits_action_points_reach_the_case_manager_without_an_acknowledgement(
    session: Session,
) -> None:
    """A2, L1: action points a case manager sets in their own audit come to them with their
    links (no findings to acknowledge); their line manager's copy does not say they were asked
    to acknowledge."""
    from tasks.recording.form import ActionIn

    [own_id] = assign_self_audits(session, FEBRUARY, [_case_managers(session)[0].email]).audits
    own = session.get(Audit, own_id)
    cm = session.get(Staff, own.auditor_id)
    form = _form(session, own, {}, "good").model_copy(
        update={
            "action_points": [
                ActionIn(priority=1, text="Update the plan", owner_email=cm.email,
                         deadline=date(2027, 2, 26))
            ]
        }
    )  # fmt: skip
    record_audit(session, form, on=date(2027, 2, 10), source="t")
    sent = {e.kind: e for e in session.exec(select(EmailMessage)) if f":{own_id}:" in e.key}
    mine = sent["feedback"]
    assert mine.to_addrs == [cm.email] and "/l/" in mine.body_text
    assert "acknowledge" not in mine.body_text.lower() and "None" not in mine.body_text
    assert "acknowledge" not in sent["feedback-copy"].body_text.lower()
