"""A4 support and training needs after they are recorded (§5 Methods: "timescales monitored
through supervision"): the review date chased like an action point (E2) until the team manager's
review finds the need met, the review link and its life, who reviews when people leave, the
admin's commands, and a need counted once in the pack's reviews."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from models import AuditEvent, ChaseStep, EmailMessage, Link, Staff, SupportNeed
from models.enums import NeedStatus
from models.errors import FieldProblems, InvalidInput
from tasks.chase import chase
from tasks.links import REVIEW, check, token_of
from tasks.recording.needs import review_need
from tasks.recording.record import withdraw_record
from tests.test_recording import SAMPLED
from tests.test_support_needs import COURT, DONE_ON, SETTINGS, _json_form, _people, _record


@SAMPLED
def test_a4_review_date_is_chased_like_an_action_point_until_the_need_is_met(
    assigned, tmp_path: Path
) -> None:
    """§5 timescales monitored; E2: a reminder before the review date to the reviewer (with the
    review link), a chase after it copied to their line manager; a review with a later date
    starts the steps again; a need met is chased no more."""
    session, audit = assigned
    cm, manager, _ = _people(session, audit)
    _record(
        session,
        audit,
        tmp_path,
        [COURT],
    )
    need = session.exec(select(SupportNeed)).one()

    def steps(on: date) -> list[tuple[str, str]]:
        chase(session, on, SETTINGS)
        return [
            (s.step, s.email_key)
            for s in session.exec(
                select(ChaseStep).where(ChaseStep.item_type == "need", ChaseStep.sent_on == on)
            )
        ]

    assert steps(date(2027, 1, 11)) == [("reminder-5", f"digest:2027-01-11:{manager.id}")]
    digest = session.exec(
        select(EmailMessage).where(EmailMessage.key == f"digest:2027-01-11:{manager.id}")
    ).one()
    assert "support need" in digest.body_text and "Court and reports" in digest.body_text
    assert "Record the review of this support need: http" in digest.body_text
    assert steps(date(2027, 1, 18)) == [("chase", f"digest:2027-01-18:{manager.id}")]
    boss = session.get(Staff, manager.line_manager_id)
    assert session.exec(
        select(EmailMessage).where(EmailMessage.key == f"digest:2027-01-18:{boss.id}")
    ).one()  # the reviewer's line manager sees it overdue in their team
    session.refresh(need)
    assert need.times_chased == 1

    with pytest.raises(FieldProblems) as caught:
        review_need(session, need.id, met=False, note="", next_review=None, on=date(2027, 1, 19))
    assert set(caught.value.problems) == {"note", "next_review"}
    session.rollback()
    review_need(
        session,
        need.id,
        met=False,
        note="Booked on the February course",
        next_review=date(2027, 2, 26),
        on=date(2027, 1, 19),
        by_id=manager.id,
    )
    assert (need.review_on, need.status, need.times_reviewed) == (
        date(2027, 2, 26),
        NeedStatus.OPEN,
        1,
    )
    assert steps(date(2027, 1, 20)) == []  # the new date is weeks away
    assert steps(date(2027, 2, 19)) == [("reminder-5", f"digest:2027-02-19:{manager.id}")]
    review_need(
        session, need.id, met=True, note="Course done", next_review=None, on=date(2027, 2, 22)
    )
    assert (need.status, need.reviewed_on, need.outcome) == (
        NeedStatus.MET,
        date(2027, 2, 22),
        "Course done",
    )
    assert steps(date(2027, 3, 8)) == []  # met: chased no more
    with pytest.raises(InvalidInput, match="already reviewed and met"):
        review_need(session, need.id, met=True, note="", next_review=None, on=date(2027, 3, 8))
    events = session.exec(select(AuditEvent.event).where(AuditEvent.audit_id == audit.id)).all()
    assert events.count("need_reviewed") == 1 and events.count("need_met") == 1


@SAMPLED
def test_a4_review_link_dies_when_the_need_is_met_or_its_record_withdrawn(
    assigned, tmp_path: Path
) -> None:
    session, audit = assigned
    _record(
        session,
        audit,
        tmp_path,
        [
            {"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"},
            {"theme": "Diversity and inclusion", "scope": "team", "review_on": "2027-02-15"},
        ],
    )
    first, second = session.exec(select(SupportNeed).order_by(SupportNeed.id)).all()
    links = {
        link.item_id: token_of(link, SETTINGS)
        for link in session.exec(select(Link).where(Link.purpose == REVIEW))
    }
    assert check(session, links[first.id], SETTINGS, DONE_ON).item_id == first.id
    review_need(session, first.id, met=True, note="", next_review=None, on=DONE_ON)
    with pytest.raises(Exception, match="reviewed and met on 10 December 2026"):
        check(session, links[first.id], SETTINGS, DONE_ON)
    withdraw_record(session, audit.id, reason="recorded against the wrong case")
    assert not session.exec(select(SupportNeed)).all()  # withdrawn with the record
    with pytest.raises(Exception, match="withdrawn"):
        check(session, links[second.id], SETTINGS, DONE_ON)


@SAMPLED
def test_a4_a_leaving_reviewers_needs_pass_on_and_their_links_die(assigned, tmp_path: Path) -> None:
    """A need whose team manager has left is reviewed by the case manager's line manager, or,
    with none active, a service manager; the daily chase hands it on."""
    session, audit = assigned
    cm, manager, _ = _people(session, audit)
    _record(
        session,
        audit,
        tmp_path,
        [COURT],
    )
    need = session.exec(select(SupportNeed)).one()
    link = session.exec(select(Link).where(Link.purpose == REVIEW)).one()
    manager.active = False
    session.commit()
    chase(session, date(2026, 12, 14), SETTINGS)
    session.refresh(need)
    heir = session.get(Staff, need.owner_id)
    assert heir.role.value == "service_manager" and heir.active
    session.refresh(link)
    assert link.revoked_at is not None and "now reviews this need" in link.revoked_reason


@SAMPLED
def test_a4_needs_commands_list_and_review(cli, assigned, tmp_path: Path) -> None:
    """The admin's view: `yotqa needs list` and `yotqa needs review` (met, or again by a date)."""
    session, audit = assigned
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [{"theme": "Court and reports", "scope": "team", "review_on": "2027-01-15"}],
    )
    assert cli("audits", "record", path, "--as-of", "2026-12-10").exit_code == 0
    need = session.exec(select(SupportNeed)).one()
    listed = cli("needs", "list")
    assert listed.exit_code == 0 and "Court and reports" in listed.output
    assert "2027-01-15" in listed.output
    again = cli("needs", "review", need.id, "--again", "--as-of", "2027-01-14")
    assert again.exit_code != 0 and "Enter the date to review the need again by" in again.output
    again = cli(
        "needs",
        "review",
        need.id,
        "--again",
        "--next-review",
        "2027-02-12",
        "--note",
        "Course booked",
        "--as-of",
        "2027-01-14",
    )
    assert again.exit_code == 0 and "review again by 2027-02-12" in again.output
    assert cli("needs", "review", need.id, "--as-of", "2027-02-12").exit_code == 0
    assert "Court and reports" not in cli("needs", "list").output  # met: no longer open
    assert "met" in cli("needs", "list", "--all").output


@SAMPLED
def test_a4_a_leaving_reviewers_need_passes_to_the_new_line_manager_and_starts_again(
    assigned, tmp_path: Path
) -> None:
    """The case manager's new line manager takes on the need of their old one, who left; the
    chase's steps start again for them, and the hand-on is in the audit's history."""
    session, audit = assigned
    cm, manager, _ = _people(session, audit)
    _record(
        session,
        audit,
        tmp_path,
        [COURT],
    )
    need = session.exec(select(SupportNeed)).one()
    chase(session, date(2027, 1, 11), SETTINGS)  # the reminder, to the first reviewer
    assert session.exec(select(ChaseStep).where(ChaseStep.item_type == "need")).all()
    successor = session.exec(
        select(Staff).where(
            Staff.role == manager.role, Staff.active == sa.true(), Staff.id != manager.id
        )
    ).first()
    cm.line_manager_id, manager.active = successor.id, False
    session.commit()
    chase(session, date(2027, 1, 12), SETTINGS)
    session.refresh(need)
    assert need.owner_id == successor.id
    [step] = session.exec(select(ChaseStep).where(ChaseStep.item_type == "need")).all()
    assert (step.sent_on, step.recipient_id) == (date(2027, 1, 12), successor.id)  # afresh
    digest = session.exec(
        select(EmailMessage).where(EmailMessage.key == f"digest:2027-01-12:{successor.id}")
    ).one()
    assert "Record the review of this support need: http" in digest.body_text
    assert (
        "need_handed_on"
        in session.exec(select(AuditEvent.event).where(AuditEvent.audit_id == audit.id)).all()
    )


@SAMPLED
def test_a4_nobody_reviews_their_own_need(assigned) -> None:
    """A self-audit's need, its case manager without an active line manager: a service manager
    reviews it, not the case manager who recorded it."""
    from tasks.recording.needs import reviewer_for

    session, audit = assigned
    cm, manager, auditor = _people(session, audit)
    assert reviewer_for(session, cm, auditor).id == manager.id
    manager.active = False
    session.flush()
    assert reviewer_for(session, cm, auditor).id == auditor.id  # who recorded it
    heir = reviewer_for(session, cm, cm)
    assert heir.id != cm.id and heir.role.value == "service_manager"


@SAMPLED
def test_a4_a_need_met_before_its_review_date_counts_as_reviewed_once(
    assigned, tmp_path: Path
) -> None:
    """Met in December though due in January: a review of October-December's quarter, not
    again of January-March's (the pack's section 14)."""
    from tasks.packs.needs import needs_figures
    from tasks.workdays import Quarter

    session, audit = assigned
    _record(
        session,
        audit,
        tmp_path,
        [COURT],
    )
    need = session.exec(select(SupportNeed)).one()
    review_need(session, need.id, met=True, note="", next_review=None, on=date(2026, 12, 20))
    autumn = needs_figures(session, Quarter(2026, 3), date(2027, 1, 4))["reviews"]
    winter = needs_figures(session, Quarter(2026, 4), date(2027, 4, 1))["reviews"]
    assert (autumn["due"], autumn["met"]) == (1, 1)
    assert (winter["due"], winter["met"]) == (0, 0)


@SAMPLED
def test_a4_an_auditor_who_reviews_the_need_is_sent_its_link_with_the_receipt(
    assigned, tmp_path: Path
) -> None:
    """With no team manager on record the auditor who recorded the need reviews it: their
    receipt carries the review link (nobody else's email does)."""
    session, audit = assigned
    cm, _, auditor = _people(session, audit)
    cm.line_manager_id = None
    session.commit()
    _record(
        session,
        audit,
        tmp_path,
        [{"theme": "Court and reports", "scope": "team", "review_on": "2027-01-15"}],
    )
    need = session.exec(select(SupportNeed)).one()
    assert need.owner_id == auditor.id
    link = session.exec(select(Link).where(Link.purpose == REVIEW)).one()
    receipt = session.exec(select(EmailMessage).where(EmailMessage.kind == "recorded")).one()
    assert receipt.to_addrs == [auditor.email]
    assert token_of(link, SETTINGS) in receipt.body_text and "review by" in receipt.body_html
    others = session.exec(select(EmailMessage).where(EmailMessage.kind != "recorded")).all()
    assert not [e for e in others if token_of(link, SETTINGS) in e.body_text]


@SAMPLED
def test_a4_a_leaving_case_managers_own_needs_close_and_their_teams_stay_open(
    assigned, tmp_path: Path
) -> None:
    """A need for the case manager alone closes when they leave (chased no more, its link dead,
    not open in the pack); a need for their team stays open for the team manager to review."""
    from tasks.packs.needs import needs_figures
    from tasks.workdays import Quarter

    session, audit = assigned
    cm, manager, _ = _people(session, audit)
    _record(
        session,
        audit,
        tmp_path,
        [
            {"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"},
            {"theme": "Diversity and inclusion", "scope": "team", "review_on": "2027-01-15"},
        ],
    )
    own, teams = session.exec(select(SupportNeed).order_by(SupportNeed.id)).all()
    links = {
        link.item_id: token_of(link, SETTINGS)
        for link in session.exec(select(Link).where(Link.purpose == REVIEW))
    }
    cm.active = False
    session.commit()
    chase(session, date(2027, 1, 11), SETTINGS)
    session.refresh(own)
    session.refresh(teams)
    assert (own.status, own.reviewed_on) == (NeedStatus.CLOSED, date(2027, 1, 11))
    assert cm.name in own.outcome and teams.status is NeedStatus.OPEN
    steps = session.exec(select(ChaseStep.item_id).where(ChaseStep.item_type == "need")).all()
    assert steps == [teams.id]  # the team's is reminded; the closed one is not
    with pytest.raises(Exception, match="left"):
        check(session, links[own.id], SETTINGS, date(2027, 1, 11))
    with pytest.raises(InvalidInput, match="is closed"):
        review_need(session, own.id, met=True, note="", next_review=None, on=date(2027, 1, 12))
    winter = needs_figures(session, Quarter(2026, 4), date(2027, 1, 12))
    assert winter["open"]["open"] == 1  # the team's alone
    assert (
        "need_closed"
        in session.exec(select(AuditEvent.event).where(AuditEvent.audit_id == audit.id)).all()
    )
