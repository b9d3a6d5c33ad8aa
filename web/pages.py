"""The pages behind people's links: one GET shows what the link is for, one POST does it.

Each handler parses the form, calls one domain function (the same one every other way in calls,
L2) and renders the result; a problem with the input is shown beside its field, and nothing is
stored until all of it is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlmodel import Session

from models import Staff
from models.errors import FieldProblems, InvalidInput
from models.settings import Settings
from tasks.links import (
    ACKNOWLEDGE,
    ACTION_DONE,
    DECIDE,
    ITEMS,
    NEW_DATE,
    NOT_DONE,
    RECORD,
    Grant,
    Links,
    check,
)
from tasks.outbox import send_pending
from tasks.recording.acknowledge import acknowledge_findings, findings_view
from tasks.recording.actions import (
    action_view,
    complete_action,
    decide_new_date,
    request_new_date,
    request_view,
)
from tasks.recording.drafts import load_draft, save_draft
from tasks.recording.form import FormInvalid, Problem
from tasks.recording.inbox import inbox
from tasks.recording.record import (
    NOT_DONE_REASONS,
    AlreadyRecorded,
    mark_not_done,
    not_done_reason,
    record_audit,
)
from tasks.recording.web_form import (
    FormPage,
    action_rows,
    field_labels,
    form_from_fields,
    form_page,
    kept_fields,
    receipt,
    summary_line,
)
from tasks.workdays import london_time
from web.app import FieldsDep, GrantDep, SessionDep, client_of, items_url, render
from web.security import CSRF_COOKIE, CSRF_FIELD

router = APIRouter()
Page = Callable[[Request, Grant, Session, dict[str, str], dict[str, str]], Response]


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return render(request, "home", title="Quality assurance")


@router.get("/healthz", response_class=PlainTextResponse)
def health() -> str:
    return "ok"


@router.get("/l/{token}", response_class=HTMLResponse)
def open_link(request: Request, grant: GrantDep, session: SessionDep) -> Response:
    """What the link is for: a form to fill in, a list, or findings to read."""
    return SHOW[grant.purpose](request, grant, session, {}, {})


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
        return render(
            request,
            "refused",
            status=403,
            title="This form could not be accepted",
            message="It did not come from this page as the system sent it (or it was open too "
            "long). Nothing was changed. Go back, reload the page and submit it again.",
            ask="",
        )
    action = ACT.get(grant.purpose)
    if action is None:
        return render(
            request,
            "refused",
            status=405,
            title="Nothing to submit here",
            message="This page only shows a list.",
            ask="",
        )
    try:
        response = action(request, grant, session, fields, {})
    except (InvalidInput, AlreadyRecorded, sa.exc.IntegrityError) as exc:
        # Done a moment ago by another tab or another way in: say what happened, change nothing.
        session.rollback()
        check(session, request.path_params["token"], _settings(request), _today(request))
        return render(
            request,
            "refused",
            status=409,
            title="This was changed a moment ago",
            message=str(exc)
            if isinstance(exc, InvalidInput)
            else "Someone else saved this at "
            "the same moment. Nothing of yours was saved: reload the page to see where it stands.",
            ask="",
        )
    if response.status_code == 200:
        background.add_task(deliver, request.app.state.engine, _settings(request))
    return response


def deliver(engine: sa.Engine, settings: Settings) -> None:
    """Send what the page queued (feedback, E3 alerts, a request to agree a date) straight away."""
    with Session(engine, expire_on_commit=False) as session:
        send_pending(session, settings, limit=50)


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _today(request: Request) -> date:
    return request.app.state.today()  # type: ignore[no-any-return]


def _links(request: Request, session: Session) -> Links:
    return Links(session, _today(request), _settings(request))


# The audit form (record) ---------------------------------------------------------------


def show_form(
    request: Request,
    grant: Grant,
    session: Session,
    fields: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
    notice: str | None = None,
    page: FormPage | None = None,
    problems: list[Problem] | None = None,
) -> Response:
    page = page or form_page(session, grant.item_id)
    draft = None
    if not fields:
        draft = load_draft(session, grant.item_id)
        fields = dict(draft.fields) if draft else {}
        if draft:
            notice = (
                notice
                or f"Your draft saved on {london_time(draft.saved_at):%-d %B %Y at %H:%M} is filled in below."
            )
    rows = action_rows(fields)
    for n in range(1, rows + 1):
        fields.setdefault(f"action.{n}.owner", page.default_owner)
        fields.setdefault(f"action.{n}.priority", str(n))
    others = _links(request, session)
    return render(
        request,
        "audit_form",
        status=status,
        title=f"{page.kind} audit of case {page.case_ref}",
        grant=grant,
        page=page,
        fields=fields,
        rows=rows,
        errors=errors,
        error_list=[(p.field, summary_line(p, field_labels(page))) for p in problems or []],
        notice=notice,
        not_done_url=others.audit(grant.person.id, page.audit_id, page.due_on)["not_done"],  # type: ignore[arg-type]
        items_url=items_url(request, session, grant.person.id),  # type: ignore[arg-type]
    )


def post_form(
    request: Request, grant: Grant, session: Session, fields: dict[str, str], _: dict[str, str]
) -> Response:
    page = form_page(session, grant.item_id)
    kept = kept_fields(page, fields)
    op = fields.get("op", "save")
    if op in ("save", "add-action"):
        if op == "add-action":
            kept["rows"] = str(min(action_rows(kept) + 1, 50))
        draft = save_draft(session, grant.item_id, grant.person.id, kept)  # type: ignore[arg-type]
        saved = f"Draft saved at {london_time(draft.saved_at):%H:%M}."
        if op == "add-action":
            saved += f" Action point {kept['rows']} added below."
        return show_form(request, grant, session, kept, {}, notice=saved, page=page)
    form, problems = form_from_fields(page, kept, grant.person.email)
    if form is not None:
        try:
            audit = record_audit(
                session,
                form,
                on=_today(request),
                source="the web form",
                settings=_settings(request),
                via="web",
            )
        except AlreadyRecorded:
            raise  # the caller says when it was recorded
        except FormInvalid as invalid:
            problems = [p if isinstance(p, Problem) else Problem(p) for p in invalid.problems]
        else:
            return render(
                request,
                "receipt",
                title=f"Audit of case {page.case_ref} recorded",
                receipt=receipt(session, audit.id),  # type: ignore[arg-type]
                items_url=items_url(request, session, grant.person.id),  # type: ignore[arg-type]
            )
    session.rollback()
    save_draft(session, grant.item_id, grant.person.id, kept)  # type: ignore[arg-type]
    errors: dict[str, str] = {}
    for p in problems:
        errors.setdefault(p.field or "form", p.short if p.field else str(p))
    return show_form(
        request,
        grant,
        session,
        kept,
        errors,
        status=400,
        page=page,
        problems=problems,
        notice="Nothing was recorded yet: put right what is marked below, then submit again. "
        "What you typed is kept as a draft.",
    )


# Cannot be done (D4) --------------------------------------------------------------------


def show_not_done(
    request: Request,
    grant: Grant,
    session: Session,
    fields: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    page = form_page(session, grant.item_id)
    return render(
        request,
        "not_done",
        status=status,
        title=f"Audit of case {page.case_ref} cannot be done",
        grant=grant,
        page=page,
        reasons=NOT_DONE_REASONS,
        fields=fields,
        errors=errors,
        form_url=_links(request, session).audit(grant.person.id, page.audit_id, page.due_on)[
            "form"
        ],  # type: ignore[arg-type]
        items_url=items_url(request, session, grant.person.id),  # type: ignore[arg-type]
    )


def post_not_done(
    request: Request, grant: Grant, session: Session, fields: dict[str, str], _: dict[str, str]
) -> Response:
    try:
        reason = not_done_reason(fields.get("reason", ""), fields.get("detail", ""))
    except FieldProblems as problems:
        return show_not_done(request, grant, session, fields, problems.problems, status=400)
    audit = mark_not_done(
        session, grant.item_id, reason=reason, on=_today(request), by_id=grant.person.id, via="web"
    )
    page = form_page(session, audit.id)  # type: ignore[arg-type]
    return done(
        request,
        session,
        grant,
        f"Audit of case {page.case_ref}: recorded as not done",
        [
            f"The {page.kind.lower()} audit of case {page.case_ref} is recorded as not done, with "
            f"your reason: {reason}",
            "The quarterly review sees the reason (D4), and you will not be chased for it.",
        ],
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
    today = _today(request)
    template, title = (
        ("action_done", f"Action point on case {action['case_ref']} done")
        if grant.purpose == ACTION_DONE
        else ("new_date", f"New date for an action point on case {action['case_ref']}")
    )
    links = _links(request, session).action(grant.person.id, grant.item_id, action["deadline"])  # type: ignore[arg-type]
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
    today = _today(request)
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
            on=_today(request),
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


# The person's own list ------------------------------------------------------------------


def show_items(
    request: Request, grant: Grant, session: Session, fields: dict[str, str], errors: dict[str, str]
) -> Response:
    box = inbox(session, grant.person, _today(request), _settings(request))
    session.commit()
    return render(request, "items", title="Your open quality-assurance items", grant=grant, box=box)


def done(
    request: Request, session: Session, grant: Grant, title: str, lines: list[str]
) -> Response:
    return render(
        request,
        "done",
        title=title,
        lines=lines,
        items_url=items_url(request, session, grant.person.id),  # type: ignore[arg-type]
    )


SHOW: dict[str, Callable[..., Response]] = {
    RECORD: show_form,
    NOT_DONE: show_not_done,
    ACTION_DONE: show_action,
    NEW_DATE: show_action,
    DECIDE: show_decide,
    ACKNOWLEDGE: show_findings,
    ITEMS: show_items,
}
ACT: dict[str, Page] = {
    RECORD: post_form,
    NOT_DONE: post_not_done,
    ACTION_DONE: post_action,
    NEW_DATE: post_action,
    DECIDE: post_decide,
    ACKNOWLEDGE: post_findings,
}
