"""A4 support and training needs (§5 Methods: "the team manager will identify any additional
support or training needs for individuals, or groups of staff", with timescales monitored
through supervision): recorded with an audit by every way in, reviewed by a date, chased like an
action point until the review finds the need met."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Audit, AuditEvent, ChaseStep, EmailMessage, Link, Staff, SupportNeed
from models.enums import AuditKind, AuditStatus, NeedScope, NeedStatus
from models.errors import ConfigError, FieldProblems, InvalidInput
from models.settings import Settings
from tasks.chase import chase
from tasks.links import REVIEW, check, token_of
from tasks.recording.files import read_form, write_form
from tasks.recording.form import FormInvalid
from tasks.recording.needs import load_themes, review_need, themes_of
from tasks.recording.record import record_audit, withdraw_record
from tasks.recording.ui_form import form_spec, input_model, to_form
from tests.test_recording import SAMPLED, fill

DONE_ON = date(2026, 12, 10)
REVIEW_ON = date(2027, 1, 29)
SETTINGS = Settings()


def _people(session: Session, audit: Audit) -> tuple[Staff, Staff, Staff]:
    cm = session.get(Staff, audit.subject_staff_id)
    return cm, session.get(Staff, cm.line_manager_id), session.get(Staff, audit.auditor_id)


def _json_form(path: Path, session: Session, audit: Audit, needs: list[dict[str, object]]) -> Path:
    """A filled form as JSON: every required question answered, the given needs."""
    xlsx = fill(write_form(session, audit.id, path.with_suffix(".xlsx")), {}, [])
    form = read_form(xlsx).model_dump(mode="json")
    form["support_needs"] = needs
    path.write_text(json.dumps(form), encoding="utf-8")
    return path


@SAMPLED
def test_a4_xlsx_form_records_a_need_for_the_team_manager_to_review(
    assigned, tmp_path: Path
) -> None:
    """§5: the need is recorded with the audit, reviewed by the case manager's team manager; the
    case manager is told of it, the team manager's copy carries the link to record the review."""
    session, audit = assigned
    cm, manager, _ = _people(session, audit)
    path = write_form(session, audit.id, tmp_path / "form.xlsx")
    book = openpyxl.load_workbook(path)
    needs = book["Support needs"]
    assert [c.value for c in needs[1]][:4] == ["theme", "for_whom", "review_on", "text"]
    assert book["Lists"].sheet_state == "hidden"
    assert [r[0] for r in book["Lists"].iter_rows(values_only=True)] == themes_of()
    formulas = {v.formula1 for v in needs.data_validations.dataValidation}
    assert f"=Lists!$A$1:$A${len(themes_of())}" in formulas  # the theme is chosen from the list
    fill(path, {}, [])
    book = openpyxl.load_workbook(path)
    book["Support needs"].append(
        ["risk of harm assessment", "team", REVIEW_ON, "Refresher on RoSH analysis"]
    )
    book.save(path)
    before = session.execute(sa.select(sa.func.count()).select_from(EmailMessage)).scalar_one()
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
    need = session.exec(select(SupportNeed)).one()
    assert (need.audit_id, need.theme, need.scope, need.review_on, need.status) == (
        audit.id,
        "Risk of harm assessment",  # the list's own spelling
        NeedScope.TEAM,
        REVIEW_ON,
        NeedStatus.OPEN,
    )
    assert (need.staff_id, need.team_id, need.owner_id) == (cm.id, cm.team_id, manager.id)
    emails = session.exec(select(EmailMessage).order_by(EmailMessage.id)).all()[before:]
    feedback = next(e for e in emails if e.kind == "feedback")
    copy = next(e for e in emails if e.kind == "feedback-copy")
    assert "Risk of harm assessment (the whole team): Refresher on RoSH analysis" in (
        feedback.body_text
    )
    assert "Record the review" not in feedback.body_text  # the case manager does not review it
    review = session.exec(select(Link).where(Link.purpose == REVIEW)).one()
    assert (review.staff_id, review.item_type, review.item_id) == (manager.id, "need", need.id)
    assert token_of(review, SETTINGS) in copy.body_text  # the manager's own link, in their copy
    assert "Record the review of this support need" in copy.body_html


@SAMPLED
def test_a4_bad_needs_are_named_row_and_field_and_nothing_is_stored(
    assigned, tmp_path: Path
) -> None:
    session, audit = assigned
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [
            {"theme": "Juggling", "scope": "individual", "review_on": "2027-01-15"},
            {"theme": "Court and reports", "scope": "the whole service", "review_on": "2027-01-15"},
            {"theme": "Court and reports", "text": "Pre-sentence reports"},
            {"theme": "Court and reports", "review_on": "2027-09-01"},
            {"theme": "", "text": "", "scope": "team", "review_on": None},  # an empty row
        ],
    )
    with pytest.raises(FormInvalid) as caught:
        record_audit(session, read_form(path), on=DONE_ON, source=path.name)
    said = {p.field: str(p) for p in caught.value.problems}
    assert "'Juggling' is not one of the service's support needs" in said["need.1.theme"]
    assert "support_needs.yaml" in said["need.1.theme"]  # where the list is kept
    assert "'the whole service' is not individual or team" in said["need.2.scope"]
    assert "a review date is required" in said["need.3.review_on"]
    assert "within six months" in said["need.4.review_on"]
    assert not [f for f in said if f.startswith("need.5")]
    session.rollback()
    assert session.get(Audit, audit.id).status is AuditStatus.ASSIGNED
    assert not session.exec(select(SupportNeed)).all()


@SAMPLED
def test_a4_a_moderation_takes_no_needs(assigned, tmp_path: Path) -> None:
    """A5 with A4: a moderation re-marks the first audit; its needs belong to the first."""
    session, audit = assigned
    audit.kind = AuditKind.MODERATION
    session.commit()
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [{"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"}],
    )
    with pytest.raises(FormInvalid) as caught:
        record_audit(session, read_form(path), on=DONE_ON, source=path.name)
    assert [p.field for p in caught.value.problems] == ["need.1.theme"]
    assert "A moderation takes no support needs" in caught.value.problems[0].short


@SAMPLED
def test_a4_review_date_is_chased_like_an_action_point_until_the_need_is_met(
    assigned, tmp_path: Path
) -> None:
    """§5 timescales monitored; E2: a reminder before the review date to the reviewer (with the
    review link), a chase after it copied to their line manager; a review with a later date
    starts the steps again; a need met is chased no more."""
    session, audit = assigned
    cm, manager, _ = _people(session, audit)
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [{"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"}],
    )
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
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
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [
            {"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"},
            {"theme": "Diversity and inclusion", "scope": "team", "review_on": "2027-02-15"},
        ],
    )
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
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
def test_a4_the_prefect_ui_form_offers_the_themes_and_records_a_need(assigned) -> None:
    """The Prefect UI's form (built from the audit's tool) has the needs, the theme a drop-down
    of the service's list; its input is recorded through the one validation."""
    session, audit = assigned
    cm, manager, auditor = _people(session, audit)
    spec = form_spec(session, audit.id)
    model = input_model(spec, __import__("pydantic").BaseModel)
    schema = model.model_json_schema()
    need_schema = schema["$defs"]["SupportNeedInput"]["properties"]
    assert need_schema["theme"]["enum"] == ["", *themes_of()]
    assert need_schema["scope"]["enum"] == ["individual", "team"]
    answers = {
        code: {"judgement": "good", "yes_no": "yes", "count": 0, "text": "Robbery"}[t.value]
        for code, _, t, required, _ in spec.questions
        if required
    }
    filled = model(
        **answers,
        recorded_by=auditor.email,
        support_needs=[
            {"theme": "Safety and wellbeing", "scope": "individual", "review_on": REVIEW_ON}
        ],
    )
    record_audit(session, to_form(spec, filled), on=DONE_ON, source="the Prefect form")
    need = session.exec(select(SupportNeed)).one()
    assert (need.theme, need.scope, need.owner_id) == (
        "Safety and wellbeing",
        NeedScope.INDIVIDUAL,
        manager.id,
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("themes: []\n", "expected `themes:` followed by a list"),
        ("themes:\n  - Court\n  - court\n", "theme 2 ('court') is listed twice"),
        ("themes:\n  - Court\n  - ''\n", "theme 2 must be some text"),
        ("themes: [Court\n", "cannot be read as YAML"),
    ],
)
def test_a4_the_services_list_of_themes_is_checked(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "needs.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{path}.*{__import__('re').escape(said)}"):
        load_themes(path)


def test_a4_the_shipped_list_loads_and_an_edit_is_seen(tmp_path: Path) -> None:
    assert "Risk of harm assessment" in themes_of()
    path = tmp_path / "needs.yaml"
    path.write_text("themes:\n  - Court work\n", encoding="utf-8")
    assert load_themes(path) == ["Court work"]
    path.write_text("themes:\n  - Court work\n  - Restorative justice\n", encoding="utf-8")
    import os

    os.utime(path, ns=(0, 10**18))  # a later modification time, as an edit gives
    assert load_themes(path) == ["Court work", "Restorative justice"]
    with pytest.raises(ConfigError, match="is missing"):
        load_themes(tmp_path / "none.yaml")


def test_a4_review_date_rules_at_the_boundaries() -> None:
    """The review date is after the day of recording and within six months (as a deadline)."""
    from tasks.recording.form import MAX_ACTION_DAYS, NeedIn, _needs

    on = date(2026, 12, 10)
    for review_on, ok in [
        (on, False),
        (on + timedelta(days=1), True),
        (on + timedelta(days=MAX_ACTION_DAYS), True),
        (on + timedelta(days=MAX_ACTION_DAYS + 1), False),
    ]:
        problems: list[str] = []
        clean = _needs([NeedIn(theme="Court", review_on=review_on)], ["Court"], on, problems)
        assert bool(clean) is ok and bool(problems) is not ok, review_on


@SAMPLED
def test_a4_a_leaving_reviewers_needs_pass_on_and_their_links_die(assigned, tmp_path: Path) -> None:
    """A need whose team manager has left is reviewed by the case manager's line manager, or,
    with none active, a service manager; the daily chase hands it on."""
    session, audit = assigned
    cm, manager, _ = _people(session, audit)
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [{"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"}],
    )
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
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
def test_a4_e5_a_needs_words_reach_the_emails_without_the_young_persons_name(
    assigned, tmp_path: Path
) -> None:
    """E5: a need's words are typed freely; the feedback and its copy take the name out."""
    from models import Case
    from tasks.packs.redact import NAME_REMOVED

    session, audit = assigned
    name = session.get(Case, audit.case_id).young_person_name
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [
            {
                "theme": "Court and reports",
                "scope": "individual",
                "review_on": "2027-01-15",
                "text": f"Talk through {name}'s pre-sentence report",
            }
        ],
    )
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
    assert name in session.exec(select(SupportNeed)).one().text  # stored as typed
    for kind in ("feedback", "feedback-copy"):
        email = session.exec(select(EmailMessage).where(EmailMessage.kind == kind)).one()
        for body in (email.body_text, email.body_html):
            assert name not in body and f"Talk through {NAME_REMOVED}" in body, kind


@SAMPLED
def test_a4_a_leaving_reviewers_need_passes_to_the_new_line_manager_and_starts_again(
    assigned, tmp_path: Path
) -> None:
    """The case manager's new line manager takes on the need of their old one, who left; the
    chase's steps start again for them, and the hand-on is in the audit's history."""
    session, audit = assigned
    cm, manager, _ = _people(session, audit)
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [{"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"}],
    )
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
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
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [{"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"}],
    )
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
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
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [{"theme": "Court and reports", "scope": "team", "review_on": "2027-01-15"}],
    )
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
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
    path = _json_form(
        tmp_path / "form.json",
        session,
        audit,
        [
            {"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"},
            {"theme": "Diversity and inclusion", "scope": "team", "review_on": "2027-01-15"},
        ],
    )
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)
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
