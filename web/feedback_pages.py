"""After feedback: action points done or a new date asked for (D3), the line manager's
decision, the findings read and acknowledged, and a support need reviewed (A4)."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.responses import Response

from models import Staff
from models.errors import FieldProblems
from tasks.links import ACTION_DONE
from tasks.packs.redact import Redactor
from tasks.recording.acknowledge import acknowledge_findings, findings_view
from tasks.recording.actions import (
    action_view,
    complete_action,
    decide_new_date,
    request_new_date,
    request_view,
)
from tasks.recording.needs import need_view, review_need
from web.app import Fields, Visit

# Action points (D3) ---------------------------------------------------------------------


def _date_field(fields: Fields, name: str, label: str) -> date:
    raw = fields.get(name, "").strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FieldProblems({name: f"Enter {label} as a date, for example 2026-12-18."}) from None


def show_action(visit: Visit, fields: Fields, errors: Fields, status: int = 200) -> Response:
    action = action_view(visit.session, visit.item_id)
    today = visit.today
    template, title = (
        ("action_done", f"Action point on case {action['case_ref']} done")
        if visit.grant.purpose == ACTION_DONE
        else ("new_date", f"New date for an action point on case {action['case_ref']}")
    )
    links = visit.links().action(visit.person_id, visit.item_id, action["deadline"])
    return visit.form(
        template,
        title,
        {"done_on": today.isoformat(), **fields},
        errors,
        status,
        action=action,
        today=today.isoformat(),
        other_url=links["new_date"] if visit.grant.purpose == ACTION_DONE else links["done"],
    )


def post_action(visit: Visit, fields: Fields) -> Response:
    action = action_view(visit.session, visit.item_id)
    today = visit.today
    try:
        if visit.grant.purpose == ACTION_DONE:
            on = _date_field(fields, "done_on", "the date it was done")
            complete_action(
                visit.session,
                visit.item_id,
                on=on,
                evidence=fields.get("note", ""),
                by_id=visit.person_id,
                via="web",
                today=today,
            )
            lines = [
                f"Action point {action['priority']} on case {action['case_ref']} is recorded as done on {on:%-d %B %Y}.",
                "It will not be chased again.",
            ]
            title = f"Action point on case {action['case_ref']}: done"
        else:
            proposed = _date_field(fields, "proposed_on", "the date you propose")
            request_ = request_new_date(
                visit.session,
                visit.item_id,
                by_id=visit.person_id,
                reason=fields.get("reason", ""),
                proposed_on=proposed,
                on=today,
            )
            decider = visit.session.get(Staff, request_.decider_id)
            lines = [
                f"You asked for {proposed:%A %-d %B %Y} instead of {action['deadline_text']}.",
                f"{decider.name if decider else 'Your line manager'} has been sent your request to "
                f"agree or refuse. Until it is agreed, the deadline stays {action['deadline_text']}.",
            ]
            title = f"New date asked for: case {action['case_ref']}"
    except FieldProblems as problems:
        visit.session.rollback()
        return show_action(visit, fields, problems.problems, status=400)
    return visit.done(title, lines)


def show_decide(visit: Visit, fields: Fields, errors: Fields, status: int = 200) -> Response:
    view = request_view(visit.session, visit.item_id)
    title = f"New date for an action point on case {view['case_ref']}"
    return visit.form("decide", title, fields, errors, status, request_=view)


def post_decide(visit: Visit, fields: Fields) -> Response:
    decision = fields.get("decision", "")
    if decision not in ("agree", "refuse"):
        return show_decide(
            visit,
            fields,
            {"decision": "Choose whether you agree the new date."},
            status=400,
        )
    try:
        decided = decide_new_date(
            visit.session,
            visit.item_id,
            by_id=visit.person_id,
            agree=decision == "agree",
            note=fields.get("note", ""),
            on=visit.today,
        )
    except FieldProblems as problems:
        visit.session.rollback()
        return show_decide(visit, fields, problems.problems, status=400)
    view = request_view(visit.session, visit.item_id)
    agreed = decided.status == "agreed"
    return visit.done(
        f"New date {decided.status}: case {view['case_ref']}",
        [
            f"You {'agreed' if agreed else 'refused'} {view['asker']}'s request for {view['proposed']}.",
            f"The action point is now due on {view['deadline_text']}"
            + (", and reminders follow the new date." if agreed else "."),
            f"{view['asker']} has been told.",
        ],
    )


# Findings (acknowledge) -----------------------------------------------------------------


def show_findings(visit: Visit, fields: Fields, errors: Fields, status: int = 200) -> Response:
    view = findings_view(visit.session, visit.item_id)
    title = f"Audit findings for case {view.case_ref}"
    return visit.form("findings", title, fields, errors, status, view=view)


def post_findings(visit: Visit, fields: Fields) -> Response:
    if fields.get("confirm") != "yes":
        return show_findings(
            visit,
            fields,
            {"confirm": "Tick the box to confirm you have read the findings."},
            status=400,
        )
    try:
        acknowledge_findings(
            visit.session, visit.item_id, by_id=visit.person_id, response=fields.get("response", "")
        )
    except FieldProblems as problems:
        visit.session.rollback()
        return show_findings(visit, fields, problems.problems, status=400)
    view = findings_view(visit.session, visit.item_id)
    return visit.done(
        f"Findings for case {view.case_ref} acknowledged",
        [
            f"Thank you: your acknowledgement of the {view.kind.lower()} audit of case {view.case_ref} is recorded"
            + (", with your response." if fields.get("response", "").strip() else "."),
            "The quarterly QA pack counts the findings acknowledged, with the responses.",
        ],
    )


# Support and training needs (A4) --------------------------------------------------------


def show_need(visit: Visit, fields: Fields, errors: Fields, status: int = 200) -> Response:
    """A4 (§5 Methods): the reviewer sees the need and records that it is met, or still needed
    with a date to review it again by. The case by reference only, names of young people
    removed from the words (E5)."""
    need = need_view(visit.session, visit.item_id)
    return visit.form(
        "need_review",
        f"Support need on case {need.case_ref}",
        fields,
        errors,
        status,
        need=need,
        text=Redactor(visit.session)(need.text),
        tomorrow=(visit.today + timedelta(days=1)).isoformat(),
    )


def post_need(visit: Visit, fields: Fields) -> Response:
    """The review through the one domain function (L2): nothing is recorded unless all of it is
    valid; each problem is said beside its field."""
    outcome = fields.get("outcome", "")
    if outcome not in ("met", "continue"):
        return show_need(
            visit,
            fields,
            {"outcome": "Choose whether the need has been met or is still needed."},
            status=400,
        )
    met = outcome == "met"
    unreadable: Fields = {}
    next_review = None
    if not met and fields.get("next_review", "").strip():
        try:
            next_review = _date_field(fields, "next_review", "the date to review it again by")
        except FieldProblems as problems:
            unreadable = problems.problems
    note = fields.get("note", "")
    try:
        need = review_need(
            visit.session,
            visit.item_id,
            met=met,
            note=note,
            next_review=next_review,
            on=visit.today,
            by_id=visit.person_id,
            via="web",
        )
    except FieldProblems as problems:
        visit.session.rollback()
        found = {**problems.problems, **unreadable}
        in_page_order = {k: found[k] for k in ("next_review", "note") if k in found}
        return show_need(visit, fields, {**in_page_order, **found}, status=400)
    view = need_view(visit.session, visit.item_id)
    what = f"the support need \u201c{view.theme}\u201d for {view.scope.lower()} on case {view.case_ref}"
    if met:
        title = f"Support need on case {view.case_ref}: met"
        lines = [
            f"You recorded {what} as met on {visit.today:%-d %B %Y}.",
            "It will not be chased again.",
        ]
    else:
        title = (
            f"Support need on case {view.case_ref}: to review again by {need.review_on:%-d %B %Y}"
        )
        lines = [
            f"You recorded that {what} is still needed, to be reviewed again by "
            f"{need.review_on:%A %-d %B %Y}.",
            "Reminders follow the new date, as for an action point.",
        ]
    if note.strip():
        lines.append(f"Your note: {Redactor(visit.session)(note.strip())}")
    return visit.done(title, lines)
