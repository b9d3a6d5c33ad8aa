"""A4 support and training needs (§5 Methods: "the team manager will identify any additional
support or training needs for individuals, or groups of staff", timescales monitored through
supervision) on the people's pages: recorded with an audit on its web form, reviewed by the team
manager through their link, listed on the reviewer's own page. Both backends (tests/web_world.py).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from models import Audit, AuditDraft, AuditEvent, Case, Staff, SupportNeed
from models.enums import AuditKind, AuditStatus, NeedScope, NeedStatus
from models.settings import get_settings
from tasks.chase import due_steps
from tasks.links import ITEMS, RECORD, REVIEW
from tasks.recording.form import Answer, AuditForm, NeedIn
from tasks.recording.needs import themes_of
from tasks.recording.record import questions_for, record_audit
from tests.test_web import _answers, _post, _title
from tests.web_world import TODAY, WORLD, World, csrf_of, links_in

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

REVIEW_ON = date(2027, 1, 29)  # a Friday, within six months of TODAY
LATER = date(2027, 2, 26)  # a Friday, a month on


def _needs(world: World) -> list[SupportNeed]:
    world.session.expire_all()
    return list(world.session.exec(select(SupportNeed).order_by(SupportNeed.id)))


def _young_person(world: World, audit: Audit) -> str:
    case = world.session.get(Case, audit.case_id)
    assert case is not None and case.young_person_name
    return case.young_person_name.split()[0]


def _recorded_need(world: World, *, scope: str = "individual") -> SupportNeed:
    """The month's first case-file audit recorded (as a form file would) with one need whose
    words name the young person."""
    audit = world.audit()
    answers = {
        q.code: Answer(
            value={"judgement": "sufficient", "yes_no": "yes", "count": 1, "text": "Burglary"}[
                q.answer_type.value
            ]
        )
        for q in questions_for(world.session, audit)
    }
    form = AuditForm(
        audit_id=audit.id,
        recorded_by=world.person(audit.auditor_id).email,
        answers=answers,  # type: ignore[arg-type]
        support_needs=[
            NeedIn(
                theme=themes_of()[1],
                text=f"Talk through {_young_person(world, audit)}'s risk assessment in supervision",
                scope=scope,
                review_on=REVIEW_ON,
            )
        ],
    )
    record_audit(world.session, form, on=TODAY, source="test", via="file")
    [need] = _needs(world)
    return need


def _need_chase(world: World, need: SupportNeed, on: date) -> list[str]:
    world.session.expire_all()
    return [
        d.step
        for d in due_steps(world.session, on, get_settings())
        if d.item.kind == "need" and d.item.id == need.id
    ]


# The audit form: needs recorded with the audit --------------------------------------------


def test_a4_the_web_form_records_a_need_for_the_case_managers_team_manager_to_review(
    world: World, client
) -> None:
    """§5, L2: the form shows the needs' rows (the service's themes, for whom, review by, the
    words); a filled row is recorded with the audit through the one validation, reviewed by the
    case manager's team manager, whose copy of the findings carries the review link."""
    audit = world.audit()
    cm = world.person(audit.subject_staff_id)
    manager = world.person(cm.line_manager_id)
    assert manager is not None and manager.active  # the one who reviews its needs
    path = world.link(audit.auditor_id, RECORD, audit.id)
    page = client.get(path)
    assert page.status_code == 200
    html = page.text
    assert '<h2 id="needs">Support and training needs (&sect;5)</h2>' in html
    for n in (1, 2):  # at least two rows, each with its four fields and labels
        for part in ("theme", "scope", "review_on", "text"):
            assert f'name="need.{n}.{part}"' in html and f'for="need.{n}.{part}"' in html
        assert f"<legend>Support need {n}</legend>" in html
        # For whom: the case manager, unless said otherwise.
        assert re.search(rf'id="need\.{n}\.scope" value="individual" checked', html)
    assert 'name="need.3.theme"' not in html
    themes = themes_of()
    assert all(f'<option value="{t}">{t}</option>' in html for t in themes)
    assert '<option value="">Choose a theme</option>' in html
    assert html.index('id="actions"') < html.index('id="needs"') < html.index("Good practice")

    fields = {
        **_answers(world, audit),
        "need_rows": "2",
        "need.1.theme": themes[2],
        "need.1.scope": "team",
        "need.1.review_on": REVIEW_ON.isoformat(),
        "need.1.text": "Safeguarding refresher for the team",
        "need.2.scope": "individual",  # an empty row, its scope pre-chosen: passed over
        "op": "submit",
    }
    response = _post(client, path, fields)
    assert response.status_code == 200, response.text
    assert "support or training need (&sect;5) goes to" in response.text
    assert manager.name in response.text
    [need] = _needs(world)
    assert (
        need.audit_id,
        need.theme,
        need.scope,
        need.review_on,
        need.text,
        need.staff_id,
        need.team_id,
        need.owner_id,
        need.status,
    ) == (
        audit.id,
        themes[2],
        NeedScope.TEAM,
        REVIEW_ON,
        "Safeguarding refresher for the team",
        cm.id,
        cm.team_id,
        cm.line_manager_id,  # the case manager's team manager reviews it
        NeedStatus.OPEN,
    )
    assert world.session.get(Audit, audit.id).status is AuditStatus.COMPLETED
    # The team manager's copy of the findings carries their review link, which opens the page.
    [copy] = world.emails("feedback-copy")
    assert copy.to_addrs == [manager.email]
    opened = [client.get(p) for p in links_in(copy.body_text)]
    reviews = [r for r in opened if r.status_code == 200 and "Review a support need" in r.text]
    assert len(reviews) == 1 and themes[2] in reviews[0].text


def test_a4_a_bad_need_row_is_shown_beside_its_fields_and_nothing_is_stored(
    world: World, client
) -> None:
    """§5: a theme not on the service's list and a missing review date are said beside the
    page's own row (row 2 here, row 1 left empty), listed at the top as "Support need 2"; the
    audit stays assigned, no need is stored, and what was typed is kept as the draft."""
    audit = world.audit()
    path = world.link(audit.auditor_id, RECORD, audit.id)
    fields = {
        **_answers(world, audit),
        "need_rows": "3",
        "need.2.theme": "Knitting",
        "need.2.text": "Something to learn",
        "need.3.theme": themes_of()[0],
        "need.3.review_on": (TODAY + timedelta(days=400)).isoformat(),  # past six months
        "op": "submit",
    }
    response = _post(client, path, fields)
    assert response.status_code == 400
    html = response.text
    for name, said in (
        ("need.2.theme", "Choose the need&#39;s theme from the list."),
        ("need.2.review_on", "Enter the date the need is to be reviewed by."),
        ("need.3.review_on", "within six months"),
    ):
        assert re.search(
            rf'id="{re.escape(name)}-error"><span class="visually-hidden">Error:</span> [^<]*'
            + re.escape(said),
            html,
        ), name
        assert re.search(rf'aria-describedby="[^"]*{re.escape(name)}-error"', html), name
        assert re.search(rf'href="#{re.escape(name)}">Support need {name.split(".")[1]}: ', html)
    assert 'id="need.1.theme-error"' not in html and 'id="need.3.theme-error"' not in html
    assert ">Something to learn<" in html  # nothing typed is lost
    assert "Knitting (not on the list)" in html  # the chosen value is shown, and said wrong
    world.session.expire_all()
    assert world.session.get(Audit, audit.id).status is AuditStatus.ASSIGNED
    assert _needs(world) == []
    draft = world.session.exec(select(AuditDraft).where(AuditDraft.audit_id == audit.id)).one()
    assert draft.fields["need.2.text"] == "Something to learn"
    assert draft.fields["need_rows"] == "3"
    # Words over the limit are refused beside their field, not recorded cut short.
    long = {
        **_answers(world, audit),
        "need.1.theme": themes_of()[0],
        "need.1.review_on": REVIEW_ON.isoformat(),
        "need.1.text": "x" * 2_001,
        "op": "submit",
    }
    response = _post(client, path, long)
    assert response.status_code == 400 and 'id="need.1.text-error"' in response.text
    assert 'href="#need.1.text">Support need 1: ' in response.text
    assert _needs(world) == []


def test_a4_add_a_support_need_row_keeps_what_was_typed_without_script(
    world: World, client
) -> None:
    """The "Add another support need" button (a plain submit: no script) saves the draft and
    shows one more row; the link opened again shows the rows and what was in them."""
    audit = world.audit()
    path = world.link(audit.auditor_id, RECORD, audit.id)
    saved = _post(
        client,
        path,
        {
            "need_rows": "2",
            "need.2.theme": themes_of()[3],
            "need.2.text": "Half-way <b>notes</b>",
            "op": "add-need",
        },
    )
    assert saved.status_code == 200 and "Support need 3 added below" in saved.text
    assert 'id="need.3.theme"' in saved.text and 'id="need.4.theme"' not in saved.text
    assert "Half-way &lt;b&gt;notes&lt;/b&gt;" in saved.text  # escaped, never markup
    reopened = client.get(path)
    assert "Your draft saved on" in reopened.text and 'id="need.3.theme"' in reopened.text
    assert f'<option value="{themes_of()[3]}" selected>' in reopened.text
    # An absurd number of rows is held to the form's limit.
    _post(client, path, {"need_rows": "9" * 30, "op": "save"})
    draft = world.session.exec(select(AuditDraft).where(AuditDraft.audit_id == audit.id)).one()
    world.session.refresh(draft)
    assert draft.fields["need_rows"] == "20"


def test_a4_a_moderations_form_has_no_need_rows_and_records_none(world: World, client) -> None:
    """A5: a moderation re-marks an audit blind; needs belong to the first audit, so its page
    shows no rows, and need fields posted to it anyway are not kept nor recorded."""
    from tasks.sampling.monthly import sample_month

    first = world.audit()
    world.record(first)
    sample_month(world.session, date(2027, 1, 4))
    moderation = world.session.exec(select(Audit).where(Audit.moderates_id == first.id)).one()
    assert moderation.kind is AuditKind.MODERATION
    path = world.link(moderation.auditor_id, RECORD, moderation.id, moderation.due_on)
    page = client.get(path)
    assert page.status_code == 200
    assert 'name="need.1.theme"' not in page.text and 'name="need_rows"' not in page.text
    response = _post(
        client,
        path,
        {
            **_answers(world, moderation),
            "need.1.theme": themes_of()[0],
            "need.1.review_on": REVIEW_ON.isoformat(),
            "op": "submit",
        },
    )
    assert response.status_code == 200, response.text
    assert _needs(world) == []


# The review page --------------------------------------------------------------------------


def test_a4_review_met_closes_the_need_its_chase_and_its_link(world: World, client) -> None:
    """§5: the reviewer sees the case by reference, the theme, the words (the young person's
    name removed, E5), for whom and the review date; must choose an outcome; "met" records the
    review (via the web), stops the chase, and the link is dead after."""
    need = _recorded_need(world)
    audit = world.session.get(Audit, need.audit_id)
    case = world.session.get(Case, audit.case_id)
    cm = world.person(need.staff_id)
    assert _need_chase(world, need, REVIEW_ON + timedelta(days=3)) == ["chase"]
    path = world.link(need.owner_id, REVIEW, need.id, need.review_on)
    page = client.get(path)
    assert page.status_code == 200
    assert _title(page.text).startswith(f"Support need on case {case.case_ref} -")
    names = [n for (n,) in world.session.execute(sa.select(Case.young_person_name)) if n]
    assert not [n for n in names if n in page.text]  # E5, L3
    assert _young_person(world, audit) not in page.text
    assert "[name removed]" in page.text
    for shown in (case.case_ref, need.theme, "The case manager", cm.name, "Friday 29 January 2027"):
        assert shown in page.text, shown
    token = csrf_of(page.text)
    unchosen = client.post(path, data={"csrf_token": token, "note": "Done"})
    assert unchosen.status_code == 400 and 'id="outcome-error"' in unchosen.text
    assert 'href="#outcome"' in unchosen.text and ">Done<" in unchosen.text
    done = client.post(
        path, data={"csrf_token": token, "outcome": "met", "note": "Discussed in supervision"}
    )
    assert done.status_code == 200, done.text
    assert "as met on 3 December 2026" in done.text and case.case_ref in _title(done.text)
    [stored] = _needs(world)
    assert (stored.status, stored.reviewed_on, stored.outcome, stored.times_reviewed) == (
        NeedStatus.MET,
        TODAY,
        "Discussed in supervision",
        1,
    )
    event = world.session.exec(select(AuditEvent).where(AuditEvent.event == "need_met")).one()
    assert (event.via, event.by_id, event.audit_id) == ("web", need.owner_id, need.audit_id)
    assert _need_chase(world, need, REVIEW_ON + timedelta(days=3)) == []
    again = client.get(path)
    assert again.status_code == 410 and "reviewed and met on 3 December 2026" in again.text
    replay = client.post(path, data={"csrf_token": token, "outcome": "met"})
    assert replay.status_code == 410
    world.session.expire_all()
    assert world.session.get(SupportNeed, need.id).times_reviewed == 1


def test_a4_review_still_needed_moves_the_review_date_and_its_chase(world: World, client) -> None:
    """§5: "still needed" with a later date and a note keeps the need open, to be reviewed by the
    new date: the old date's chase stops and the new one's follows."""
    need = _recorded_need(world, scope="team")
    path = world.link(need.owner_id, REVIEW, need.id, need.review_on)
    page = client.get(path)
    assert "The whole team" in page.text
    done = _post(
        client,
        path,
        {"outcome": "continue", "next_review": LATER.isoformat(), "note": "Course booked"},
    )
    assert done.status_code == 200, done.text
    assert "still needed, to be reviewed again by Friday 26 February 2027" in done.text
    [stored] = _needs(world)
    assert (stored.status, stored.review_on, stored.reviewed_on, stored.outcome) == (
        NeedStatus.OPEN,
        LATER,
        TODAY,
        "Course booked",
    )
    event = world.session.exec(select(AuditEvent).where(AuditEvent.event == "need_reviewed")).one()
    assert event.via == "web" and "2027-02-26" in event.reason
    assert _need_chase(world, need, REVIEW_ON + timedelta(days=3)) == []
    assert _need_chase(world, need, LATER + timedelta(days=3)) == ["chase"]
    assert "Friday 26 February 2027" in client.get(path).text  # still open: the page says so


def test_a4_review_still_needed_without_a_good_date_or_note_is_a_400_naming_the_field(
    world: World, client
) -> None:
    need = _recorded_need(world)
    path = world.link(need.owner_id, REVIEW, need.id, need.review_on)
    for fields, wrong, said in (
        ({"note": "Not yet"}, "next_review", "Enter the date to review the need again by"),
        ({"note": "Not yet", "next_review": "26/02/2027"}, "next_review", "for example"),
        ({"note": "Not yet", "next_review": "2026-12-01"}, "next_review", "within six months"),
        ({"note": "Not yet", "next_review": "2027-12-01"}, "next_review", "within six months"),
        ({"next_review": LATER.isoformat()}, "note", "Say what support is still needed"),
    ):
        response = _post(client, path, {"outcome": "continue", **fields})
        assert response.status_code == 400, fields
        html = response.text
        assert re.search(
            rf'id="{wrong}-error"><span class="visually-hidden">Error:</span> [^<]*{said}', html
        ), (fields, html)
        assert re.search(rf'aria-describedby="[^"]*{wrong}-error"', html)
        assert f'href="#{wrong}"' in html
        assert 'value="continue" checked' in html  # what was chosen is kept
    [stored] = _needs(world)
    assert (stored.status, stored.review_on, stored.times_reviewed) == (
        NeedStatus.OPEN,
        REVIEW_ON,
        0,
    )
    assert not world.session.exec(
        select(AuditEvent).where(AuditEvent.event.in_(["need_met", "need_reviewed"]))  # type: ignore[attr-defined]
    ).all()


def test_a4_a_need_review_link_for_anyone_but_its_reviewer_is_refused(world: World, client) -> None:
    """L1: a review link is its reviewer's alone: the same need under the case manager's or the
    auditor's token opens nothing and changes nothing."""
    need = _recorded_need(world)
    audit = world.session.get(Audit, need.audit_id)
    good = world.link(need.owner_id, REVIEW, need.id, need.review_on)
    token = csrf_of(client.get(good).text)
    for someone in {need.staff_id, audit.auditor_id} - {need.owner_id}:
        path = world.link(someone, REVIEW, need.id, need.review_on)
        refused = client.get(path)
        assert refused.status_code == 410, refused.text
        assert "someone else&#39;s to review" in refused.text
        posted = client.post(path, data={"csrf_token": token, "outcome": "met"})
        assert posted.status_code == 410
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert client.post(forged, data={"csrf_token": token, "outcome": "met"}).status_code == 403
    [stored] = _needs(world)
    assert (stored.status, stored.times_reviewed) == (NeedStatus.OPEN, 0)


# The reviewer's own page ------------------------------------------------------------------


def test_a4_the_reviewers_items_page_lists_their_open_needs_with_review_links(
    world: World, client
) -> None:
    """L1: the team manager's own list has the need (case by reference, theme, for whom, the
    review date, the words with names removed) and its review link; the case manager's has no
    link to review it; once met, it leaves the list."""
    need = _recorded_need(world)
    audit = world.session.get(Audit, need.audit_id)
    case = world.session.get(Case, audit.case_id)
    reviewer = world.person(need.owner_id)
    page = client.get(world.link(reviewer.id, ITEMS, reviewer.id))
    assert page.status_code == 200
    assert "Support and training needs to review (1)" in page.text
    assert case.case_ref in page.text and "Friday 29 January 2027" in page.text
    assert _young_person(world, audit) not in page.text and "[name removed]" in page.text
    review = [p for p in links_in(page.text) if "Review a support need" in client.get(p).text]
    assert len(review) == 1
    theirs = client.get(world.link(need.staff_id, ITEMS, need.staff_id))
    assert theirs.status_code == 200 and "Support and training needs to review" not in theirs.text
    assert _post(client, review[0], {"outcome": "met"}).status_code == 200
    after = client.get(world.link(reviewer.id, ITEMS, reviewer.id))
    assert "Support and training needs to review" not in after.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a4_a_need_reviewers_link_stops_when_they_leave(world: World, client) -> None:
    """A leaver's review link is refused, as every leaver's link is (L1)."""
    need = _recorded_need(world)
    path = world.link(need.owner_id, REVIEW, need.id, need.review_on)
    reviewer = world.session.get(Staff, need.owner_id)
    reviewer.active = False
    world.session.commit()
    refused = client.get(path)
    assert (
        refused.status_code == 410 and "no longer on the service&#39;s staff list" in refused.text
    )
