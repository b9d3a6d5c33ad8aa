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

from models import Audit, EmailMessage, Link, Staff, SupportNeed
from models.enums import AuditKind, AuditStatus, NeedScope, NeedStatus
from models.errors import ConfigError
from models.settings import Settings
from tasks.links import REVIEW, token_of
from tasks.recording.files import read_form, write_form
from tasks.recording.form import FormInvalid
from tasks.recording.needs import load_themes, themes_of
from tasks.recording.record import record_audit
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


COURT = {"theme": "Court and reports", "scope": "individual", "review_on": "2027-01-15"}


def _record(session: Session, audit: Audit, tmp_path: Path, needs: list[dict[str, object]]) -> None:
    """Record the audit, every question answered, with these needs (from a JSON form file)."""
    path = _json_form(tmp_path / "form.json", session, audit, needs)
    record_audit(session, read_form(path), on=DONE_ON, source=path.name)


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
        [COURT],
    )
    with pytest.raises(FormInvalid) as caught:
        record_audit(session, read_form(path), on=DONE_ON, source=path.name)
    assert [p.field for p in caught.value.problems] == ["need.1.theme"]
    assert "A moderation takes no support needs" in caught.value.problems[0].short


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
def test_a4_e5_a_needs_words_reach_the_emails_without_the_young_persons_name(
    assigned, tmp_path: Path
) -> None:
    """E5: a need's words are typed freely; the feedback and its copy take the name out."""
    from models import Case
    from tasks.packs.redact import NAME_REMOVED

    session, audit = assigned
    name = session.get(Case, audit.case_id).young_person_name
    _record(
        session,
        audit,
        tmp_path,
        [
            {
                "theme": "Court and reports",
                "scope": "individual",
                "review_on": "2027-01-15",
                "text": f"Talk through {name}'s pre-sentence report",
            }
        ],
    )
    assert name in session.exec(select(SupportNeed)).one().text  # stored as typed
    for kind in ("feedback", "feedback-copy"):
        email = session.exec(select(EmailMessage).where(EmailMessage.kind == kind)).one()
        for body in (email.body_text, email.body_html):
            assert name not in body and f"Talk through {NAME_REMOVED}" in body, kind
