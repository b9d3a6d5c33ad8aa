"""The pages behind people's links: one GET shows what the link is for, one POST does it.

Each handler parses the form, calls one domain function (the same one every other way in calls,
L2) and renders the result; a problem with the input is shown beside its field, and nothing is
stored until all of it is valid.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlmodel import Session

from models.errors import InvalidInput
from models.settings import Settings
from tasks.links import (
    ACKNOWLEDGE,
    ACTION_DONE,
    DECIDE,
    ITEMS,
    NEW_DATE,
    NOT_DONE,
    RECORD,
    REVIEW,
    check,
)
from tasks.outbox import send_pending
from tasks.recording.inbox import inbox
from tasks.recording.record import (
    AlreadyRecorded,
)
from web.app import (
    Act,
    Fields,
    FieldsDep,
    GrantDep,
    SessionDep,
    Show,
    Visit,
    client_of,
    refusal,
    render,
    settings_of,
    today_of,
)
from web.audit_pages import post_form, post_not_done, show_form, show_not_done
from web.feedback_pages import (
    post_action,
    post_decide,
    post_findings,
    post_need,
    show_action,
    show_decide,
    show_findings,
    show_need,
)
from web.security import CSRF_COOKIE, CSRF_FIELD

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return render(request, "home", title="Quality assurance")


@router.get("/healthz", response_class=PlainTextResponse)
def health() -> str:
    return "ok"


@router.get("/l/{token}", response_class=HTMLResponse)
def open_link(request: Request, grant: GrantDep, session: SessionDep) -> Response:
    """What the link is for: a form to fill in, a list, or findings to read."""
    return SHOW[grant.purpose](Visit(request, grant, session), {}, {})


@router.post("/l/{token}", response_class=HTMLResponse)
def act(
    request: Request,
    fields: FieldsDep,
    grant: GrantDep,
    session: SessionDep,
    background: BackgroundTasks,
) -> Response:
    """Do what the link is for, once: the item was locked when the link was checked."""
    if not request.app.state.csrf.valid(
        request.cookies.get(CSRF_COOKIE), fields.get(CSRF_FIELD), grant.link.nonce
    ):
        request.app.state.failures.fail(client_of(request))
        session.rollback()
        return refusal(
            request,
            403,
            "This form could not be accepted",
            "It did not come from this page as the system sent it (or it was open too "
            "long). Nothing was changed. Go back, reload the page and submit it again.",
        )
    action = ACT.get(grant.purpose)
    if action is None:
        return refusal(request, 405, "Nothing to submit here", "This page only shows a list.")
    try:
        response = action(Visit(request, grant, session), fields)
    except (InvalidInput, AlreadyRecorded, sa.exc.IntegrityError) as exc:
        # Done a moment ago by another tab or another way in: say what happened, change nothing.
        session.rollback()
        check(session, request.path_params["token"], settings_of(request), today_of(request))
        return refusal(
            request,
            409,
            "This was changed a moment ago",
            str(exc)
            if isinstance(exc, InvalidInput)
            else "Someone else saved this at "
            "the same moment. Nothing of yours was saved: reload the page to see where it stands.",
        )
    if response.status_code == 200:
        background.add_task(deliver, request.app.state.engine, settings_of(request))
    return response


def deliver(engine: sa.Engine, settings: Settings) -> None:
    """Send what the page queued (feedback, E3 alerts, a request to agree a date) straight away."""
    with Session(engine, expire_on_commit=False) as session:
        send_pending(session, settings, limit=50)


# The person's own list ------------------------------------------------------------------


def show_items(visit: Visit, fields: Fields, errors: Fields) -> Response:
    box = inbox(visit.session, visit.grant.person, visit.today, visit.settings)
    visit.session.commit()
    return render(
        visit.request,
        "items",
        title="Your open quality-assurance items",
        grant=visit.grant,
        box=box,
    )


SHOW: dict[str, Show] = {
    RECORD: show_form,
    NOT_DONE: show_not_done,
    ACTION_DONE: show_action,
    NEW_DATE: show_action,
    DECIDE: show_decide,
    ACKNOWLEDGE: show_findings,
    ITEMS: show_items,
    REVIEW: show_need,
}
ACT: dict[str, Act] = {
    RECORD: post_form,
    NOT_DONE: post_not_done,
    ACTION_DONE: post_action,
    NEW_DATE: post_action,
    DECIDE: post_decide,
    ACKNOWLEDGE: post_findings,
    REVIEW: post_need,
}
