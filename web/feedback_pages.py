"""After feedback: action points done or a new date asked for (D3), the line manager's
decision, and the findings read and acknowledged."""

from __future__ import annotations

from datetime import date

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from models import Staff
from models.errors import FieldProblems
from tasks.links import (
    ACTION_DONE,
    Grant,
)
from tasks.recording.acknowledge import acknowledge_findings, findings_view
from tasks.recording.actions import (
    action_view,
    complete_action,
    decide_new_date,
    request_new_date,
    request_view,
)
from web.app import (
    done,
    items_url,
    links_of,
    render,
    today_of,
)

# Action points (D3) ---------------------------------------------------------------------


def _date_field(fields: dict[str, str], name: str, label: str) -> date:
    raw = fields.get(name, "").strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FieldProblems({name: f"Enter {label} as a date, for example 2026-12-18."}) from None


def show_action(
    request: Request,
    grant: Grant,
    session: Session,
    fields: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    action = action_view(session, grant.item_id)
    today = today_of(request)
    template, title = (
        ("action_done", f"Action point on case {action['case_ref']} done")
        if grant.purpose == ACTION_DONE
        else ("new_date", f"New date for an action point on case {action['case_ref']}")
    )
    links = links_of(request, session).action(grant.person.id, grant.item_id, action["deadline"])  # type: ignore[arg-type]
    return render(
        request,
        template,
        status=status,
        title=title,
        grant=grant,
        action=action,
        fields={"done_on": today.isoformat(), **fields},
        errors=errors,
        today=today.isoformat(),
        other_url=links["new_date"] if grant.purpose == ACTION_DONE else links["done"],
        items_url=items_url(request, session, grant.person.id),  # type: ignore[arg-type]
    )


def post_action(
    request: Request, grant: Grant, session: Session, fields: dict[str, str], _: dict[str, str]
) -> Response:
    action = action_view(session, grant.item_id)
    today = today_of(request)
    try:
        if grant.purpose == ACTION_DONE:
            on = _date_field(fields, "done_on", "the date it was done")
            complete_action(
                session,
                grant.item_id,
                on=on,
                evidence=fields.get("note", ""),
                by_id=grant.person.id,
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
                session,
                grant.item_id,
                by_id=grant.person.id,  # type: ignore[arg-type]
                reason=fields.get("reason", ""),
                proposed_on=proposed,
                on=today,
            )
            decider = session.get(Staff, request_.decider_id)
            lines = [
                f"You asked for {proposed:%A %-d %B %Y} instead of {action['deadline_text']}.",
                f"{decider.name if decider else 'Your line manager'} has been sent your request to "
                f"agree or refuse. Until it is agreed, the deadline stays {action['deadline_text']}.",
            ]
            title = f"New date asked for: case {action['case_ref']}"
    except FieldProblems as problems:
        session.rollback()
        return show_action(request, grant, session, fields, problems.problems, status=400)
    return done(request, session, grant, title, lines)


def show_decide(
    request: Request,
    grant: Grant,
    session: Session,
    fields: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    view = request_view(session, grant.item_id)
    return render(
        request,
        "decide",
        status=status,
        title=f"New date for an action point on case {view['case_ref']}",
        grant=grant,
        request_=view,
        fields=fields,
        errors=errors,
        items_url=items_url(request, session, grant.person.id),  # type: ignore[arg-type]
    )


def post_decide(
    request: Request, grant: Grant, session: Session, fields: dict[str, str], _: dict[str, str]
) -> Response:
    decision = fields.get("decision", "")
    if decision not in ("agree", "refuse"):
        return show_decide(
            request,
            grant,
            session,
            fields,
            {"decision": "Choose whether you agree the new date."},
            status=400,
        )
    try:
        decided = decide_new_date(
            session,
            grant.item_id,
            by_id=grant.person.id,  # type: ignore[arg-type]
            agree=decision == "agree",
            note=fields.get("note", ""),
            on=today_of(request),
        )
    except FieldProblems as problems:
        session.rollback()
        return show_decide(request, grant, session, fields, problems.problems, status=400)
    view = request_view(session, grant.item_id)
    agreed = decided.status == "agreed"
    return done(
        request,
        session,
        grant,
        f"New date {decided.status}: case {view['case_ref']}",
        [
            f"You {'agreed' if agreed else 'refused'} {view['asker']}'s request for {view['proposed']}.",
            f"The action point is now due on {view['deadline_text']}"
            + (", and reminders follow the new date." if agreed else "."),
            f"{view['asker']} has been told.",
        ],
    )


# Findings (acknowledge) -----------------------------------------------------------------


def show_findings(
    request: Request,
    grant: Grant,
    session: Session,
    fields: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    view = findings_view(session, grant.item_id)
    return render(
        request,
        "findings",
        status=status,
        title=f"Audit findings for case {view.case_ref}",
        grant=grant,
        view=view,
        fields=fields,
        errors=errors,
        items_url=items_url(request, session, grant.person.id),  # type: ignore[arg-type]
    )


def post_findings(
    request: Request, grant: Grant, session: Session, fields: dict[str, str], _: dict[str, str]
) -> Response:
    if fields.get("confirm") != "yes":
        return show_findings(
            request,
            grant,
            session,
            fields,
            {"confirm": "Tick the box to confirm you have read the findings."},
            status=400,
        )
    try:
        acknowledge_findings(
            session, grant.item_id, by_id=grant.person.id, response=fields.get("response", "")
        )  # type: ignore[arg-type]
    except FieldProblems as problems:
        session.rollback()
        return show_findings(request, grant, session, fields, problems.problems, status=400)
    view = findings_view(session, grant.item_id)
    return done(
        request,
        session,
        grant,
        f"Findings for case {view.case_ref} acknowledged",
        [
            f"Thank you: your acknowledgement of the {view.kind.lower()} audit of case {view.case_ref} is recorded"
            + (", with your response." if fields.get("response", "").strip() else "."),
            "The quarterly QA pack counts the findings acknowledged, with the responses.",
        ],
    )
