"""H4: risk-adaptive sampling. A case manager whose last N completed audits found more than a
threshold of their judgements insufficient has one more case sampled in the month, in the slots
the team manager's quota leaves once S6's rotation has had its share; each such pick says why in
the manifest; the pack lists them by initials and staff number, never by name. Database tests on
SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import date

import pytest
from sqlmodel import Session, select

from models import Audit, SamplingSelection, Staff
from models.enums import AnswerType, AuditKind, AuditStatus, Role
from tasks.inspection.adaptive import initials, weaker_case_managers
from tasks.recording.form import Answer, AuditForm
from tasks.recording.record import questions_for, record_audit
from tasks.sampling.rules import Candidate, team_draw, team_quota

ON = date(2027, 1, 4)
WHY = (
    "H4: risk-adaptive, 50% of the judgements in the case manager's last 3 audits were insufficient"
)


def _case(i: int, holder: int) -> Candidate:
    return Candidate(
        i, f"C{i:03}", holder, 1, "YRO", "Male", "White", "15-16", date(2026, 6, i % 28 + 1)
    )


def _pool(holders: int, each: int = 3) -> list[Candidate]:
    return [_case(h * 10 + k, h) for h in range(1, holders + 1) for k in range(each)]


def test_h4_the_weaker_holder_gets_one_more_case_after_s6s_share() -> None:
    """Four holders: quota 3 (S9), S6's share 2 (half, rounded up): the two sampled longest ago
    first, then the weaker holder's case in the spare slot, its reason saying why."""
    last = {1: date(2026, 12, 1), 2: date(2026, 10, 1), 3: date(2026, 11, 1), 4: date(2026, 12, 2)}
    plain = team_draw(_pool(4), [1, 2, 3, 4], last, 99, ON, set())
    assert [p.candidate.case_manager_id for p in plain.picks] == [2, 3, 1]
    adaptive = team_draw(_pool(4), [1, 2, 3, 4], last, 99, ON, set(), {4: WHY})
    assert [p.candidate.case_manager_id for p in adaptive.picks] == [2, 3, 4]
    assert [p.reason.split(":")[0] for p in adaptive.picks] == ["S6", "S6", "H4"]
    assert adaptive.picks[2].reason == WHY


def test_h4_gives_only_a_case_the_rotation_would_not_have_given() -> None:
    """H4 is one case more than the rotation gives: a weaker holder the spare slot reaches
    anyway is drawn as the rotation draws them (nothing labelled H4); one in S6's share has a
    second case."""
    last = {1: date(2026, 12, 1), 2: date(2026, 10, 1), 3: date(2026, 11, 1), 4: date(2026, 12, 2)}
    plain = team_draw(_pool(4), [1, 2, 3, 4], last, 99, ON, set())
    reached = team_draw(_pool(4), [1, 2, 3, 4], last, 99, ON, set(), {1: WHY})
    assert [(p.candidate.case_id, p.reason) for p in reached.picks] == [
        (p.candidate.case_id, p.reason) for p in plain.picks
    ]
    second = team_draw(_pool(4), [1, 2, 3, 4], last, 99, ON, set(), {2: WHY})
    assert [(p.candidate.case_manager_id, p.reason[:2]) for p in second.picks] == [
        (2, "S6"),
        (3, "S6"),
        (2, "H4"),
    ]


@pytest.mark.parametrize("holders", [1, 2, 3, 4, 5, 6, 7, 9])
def test_h4_is_bounded_by_the_quota_and_never_crowds_out_s6(holders: int) -> None:
    """Every holder weaker: the picks stay within the quota, S6's share is drawn first and in
    full, and no more risk-adaptive picks than the quota leaves (none once a team has five:
    its quota, 3, is S6's share)."""
    ids = list(range(1, holders + 1))
    last = {h: date(2026, 1, h) for h in ids}
    draw = team_draw(_pool(holders), ids, last, 99, ON, set(), {h: WHY for h in ids})
    quota, share = team_quota(holders), math.ceil(holders / 2)
    assert len(draw.picks) <= quota
    s6 = [p for p in draw.picks if p.reason.startswith("S6")]
    h4 = [p for p in draw.picks if p.reason.startswith("H4")]
    assert [p.candidate.case_manager_id for p in draw.picks[:share]] == ids[:share]
    assert all(p.reason.startswith("S6") for p in draw.picks[:share])
    assert len(h4) <= quota - share and len(s6) + len(h4) == len(draw.picks)
    if holders >= 5:
        assert not h4


def test_h4_never_picks_the_auditors_own_case_or_one_audited_within_six_weeks() -> None:
    """S10 and S4 still hold for a risk-adaptive pick: a weaker holder with only such cases
    has none."""
    pool = [_case(10, 1), _case(20, 2), _case(30, 3)]
    recent = Candidate(
        40,
        "C040",
        3,
        1,
        "YRO",
        "Male",
        "White",
        "15-16",
        date(2026, 6, 1),
        last_selected_on=date(2026, 12, 20),
    )
    last = {1: date(2026, 10, 1), 2: date(2026, 11, 1), 3: date(2026, 12, 1)}
    draw = team_draw([*pool[:2], recent], [1, 2, 3], last, 99, ON, set(), {3: WHY})
    assert all(p.candidate.case_id != 40 for p in draw.picks)
    # The auditor (staff 3 here) holds the weaker holder's only case: S10 passes it over.
    own = team_draw([*pool[:2], _case(30, 3)], [1, 2, 3], last, 3, ON, set(), {3: WHY})
    assert all(p.candidate.case_manager_id != 3 for p in own.picks)
    assert any(r.reason.startswith("S10") for r in own.rejections)


def test_h4_names_by_initials() -> None:
    assert initials("Ann  Case") == "A.C." and initials("Jo van der Berg") == "J.V.D.B."


def _form(session: Session, audit: Audit, bad: int) -> AuditForm:
    """`bad` of the judgements insufficient, the rest sufficient; other answers plain."""
    answers, n = {}, 0
    for q in questions_for(session, audit):
        if q.answer_type is AnswerType.JUDGEMENT:
            n += 1
            answers[q.code] = Answer(value="insufficient" if n <= bad else "sufficient")
        else:
            answers[q.code] = Answer(
                value={
                    AnswerType.YES_NO: "yes",
                    AnswerType.COUNT: "1",
                    AnswerType.TEXT: "Seen",
                }.get(q.answer_type, "sufficient"),
                evidence="Seen",
            )
    auditor = session.get(Staff, audit.auditor_id)
    return AuditForm(audit_id=audit.id, recorded_by=auditor.email, answers=answers)


@pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))
def test_h4_weaker_case_managers_are_found_from_their_last_audits_and_sampled_more(
    session: Session, settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H4 end to end: one case manager's December audits recorded with 4 of each audit's
    judgements insufficient, another's with none; only the first is weaker (share worked from the counts
    recorded), and January's sample gives them a risk-adaptive pick where their team's quota
    has room, explained in the manifest (S12); the pack lists them by initials only."""
    from tasks.packs.quarterly import quarter_figures
    from tasks.sampling.monthly import sample_month
    from tasks.workdays import Quarter

    december = session.exec(
        select(Audit).where(Audit.kind == AuditKind.CASE_FILE, Audit.period == "2026-12")
    ).all()
    by_holder: dict[int, list[Audit]] = {}
    for a in december:
        by_holder.setdefault(a.subject_staff_id, []).append(a)

    def team_size(staff_id: int) -> int:
        team = session.get(Staff, staff_id).team_id
        return len(
            session.exec(
                select(Staff).where(
                    Staff.team_id == team, Staff.role == Role.CASE_MANAGER, Staff.active
                )
            ).all()
        )

    # A team whose quota leaves a slot once S6 has its share (4 holders: quota 3, share 2).
    holders = sorted(
        by_holder, key=lambda h: (team_quota(team_size(h)) <= math.ceil(team_size(h) / 2), h)
    )
    weak_id = holders[0]
    assert team_quota(team_size(weak_id)) > math.ceil(team_size(weak_id) / 2)
    for audit in by_holder[weak_id]:
        record_audit(session, _form(session, audit, bad=4), on=date(2026, 12, 14), source="t")
    for audit in by_holder[holders[1]]:
        record_audit(session, _form(session, audit, bad=0), on=date(2026, 12, 14), source="t")
    done = len(by_holder[weak_id])
    found = weaker_case_managers(session, ON, done, 0.3)
    assert set(found) == {weak_id}
    w = found[weak_id]
    judged = sum(
        1
        for a in by_holder[weak_id]
        for q in questions_for(session, a)
        if q.answer_type is AnswerType.JUDGEMENT
    )
    assert (w.insufficient, w.judged) == (4 * done, judged)  # 4 of each audit's judgements
    assert not weaker_case_managers(
        session, ON, done + 1, 0.3
    )  # fewer audits than asked: not judged
    assert not weaker_case_managers(session, ON, done, 0.99)

    from models.settings import get_settings

    monkeypatch.setenv("YOTQA_RISK_ADAPTIVE_AUDITS", str(done))
    get_settings.cache_clear()
    sample_month(session, ON)
    weak = session.get(Staff, weak_id)
    picks = session.exec(
        select(SamplingSelection).where(SamplingSelection.reason.startswith("H4"))
    ).all()
    [pick] = picks
    audit = session.get(Audit, pick.audit_id)
    assert audit.subject_staff_id == weak_id and audit.status is AuditStatus.ASSIGNED
    assert pick.reason.startswith("H4: risk-adaptive") and f"last {done} audits" in pick.reason
    rows = quarter_figures(session, Quarter.containing(ON), ON)["risk_adaptive"]
    assert [r["case_manager"] for r in rows] == [f"{initials(weak.name)} (staff {weak_id})"]
    assert weak.name not in str(rows)
