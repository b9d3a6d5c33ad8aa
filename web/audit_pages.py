"""The audit form (recording an audit, L2) and "this audit cannot be done" (D4)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from models.errors import FieldProblems
from tasks.links import (
    Grant,
)
from tasks.recording.drafts import load_draft, save_draft
from tasks.recording.form import FormInvalid, Problem
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
from web.app import (
    done,
    items_url,
    links_of,
    render,
    settings_of,
    today_of,
)

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
    others = links_of(request, session)
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
                on=today_of(request),
                source="the web form",
                settings=settings_of(request),
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
        form_url=links_of(request, session).audit(grant.person.id, page.audit_id, page.due_on)[
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
        session,
        grant.item_id,
        reason=reason,
        on=today_of(request),
        by_id=grant.person.id,
        via="web",
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
