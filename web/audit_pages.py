"""The audit form (recording an audit, L2) and "this audit cannot be done" (D4)."""

from __future__ import annotations

from fastapi.responses import Response

from models.base import id_of
from models.errors import FieldProblems
from tasks.recording.drafts import load_draft, save_draft
from tasks.recording.form import MAX_NEEDS, FormInvalid, Problem
from tasks.recording.record import (
    NOT_DONE_REASONS,
    AlreadyRecorded,
    mark_not_done,
    not_done_reason,
    record_audit,
)
from tasks.recording.web_form import (
    SCOPES,
    FormPage,
    action_rows,
    field_labels,
    form_from_fields,
    form_page,
    kept_fields,
    need_rows,
    receipt,
    summary_line,
)
from tasks.workdays import london_time
from web.app import Fields, Visit

# The audit form (record) ---------------------------------------------------------------


def show_form(
    visit: Visit,
    fields: Fields,
    errors: Fields,
    *,
    status: int = 200,
    notice: str | None = None,
    page: FormPage | None = None,
    problems: list[Problem] | None = None,
) -> Response:
    page = page or form_page(visit.session, visit.item_id, visit.settings)
    draft = None
    if not fields:
        draft = load_draft(visit.session, visit.item_id)
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
    needs = 0 if page.moderation else need_rows(fields)  # A5: a moderation takes no needs
    for n in range(1, needs + 1):  # A4: a need is the case manager's own unless said otherwise
        fields.setdefault(f"need.{n}.scope", SCOPES[0][0])
    others = visit.links().audit(visit.person_id, page.audit_id, page.due_on)
    return visit.form(
        "audit_form",
        f"{page.kind} audit of case {page.case_ref}",
        fields,
        errors,
        status,
        page=page,
        rows=rows,
        need_rows=needs,
        max_needs=MAX_NEEDS,
        scopes=SCOPES,
        error_list=[(p.field, summary_line(p, field_labels(page))) for p in problems or []],
        notice=notice,
        not_done_url=others["not_done"],
    )


def post_form(visit: Visit, fields: Fields) -> Response:
    page = form_page(visit.session, visit.item_id, visit.settings)
    kept = kept_fields(page, fields)
    op = fields.get("op", "save")
    if op in ("save", "add-action", "add-need"):
        if op == "add-action":
            kept["rows"] = str(min(action_rows(kept) + 1, 50))
        if op == "add-need" and not page.moderation:
            kept["need_rows"] = str(min(need_rows(kept) + 1, MAX_NEEDS))
        draft = save_draft(visit.session, visit.item_id, visit.person_id, kept)
        saved = f"Draft saved at {london_time(draft.saved_at):%H:%M}."
        if op == "add-action":
            saved += f" Action point {kept['rows']} added below."
        if op == "add-need" and not page.moderation:
            saved += f" Support need {kept['need_rows']} added below."
        return show_form(visit, kept, {}, notice=saved, page=page)
    form, problems = form_from_fields(page, kept, visit.grant.person.email)
    if form is not None:
        try:
            audit = record_audit(
                visit.session,
                form,
                on=visit.today,
                source="the web form",
                settings=visit.settings,
                via="web",
            )
        except AlreadyRecorded:
            raise  # the caller says when it was recorded
        except FormInvalid as invalid:
            problems = [p if isinstance(p, Problem) else Problem(p) for p in invalid.problems]
        else:
            return visit.page(
                "receipt",
                f"Audit of case {page.case_ref} recorded",
                receipt=receipt(visit.session, id_of(audit)),
            )
    visit.session.rollback()
    save_draft(visit.session, visit.item_id, visit.person_id, kept)
    errors: Fields = {}
    for p in problems:
        errors.setdefault(p.field or "form", p.short if p.field else str(p))
    return show_form(
        visit,
        kept,
        errors,
        status=400,
        page=page,
        problems=problems,
        notice="Nothing was recorded yet: put right what is marked below, then submit again. "
        "What you typed is kept as a draft.",
    )


# Cannot be done (D4) --------------------------------------------------------------------


def show_not_done(visit: Visit, fields: Fields, errors: Fields, status: int = 200) -> Response:
    page = form_page(visit.session, visit.item_id, visit.settings)
    others = visit.links().audit(visit.person_id, page.audit_id, page.due_on)
    title = f"Audit of case {page.case_ref} cannot be done"
    return visit.form(
        "not_done",
        title,
        fields,
        errors,
        status,
        page=page,
        reasons=NOT_DONE_REASONS,
        form_url=others["form"],
    )


def post_not_done(visit: Visit, fields: Fields) -> Response:
    try:
        reason = not_done_reason(fields.get("reason", ""), fields.get("detail", ""))
    except FieldProblems as problems:
        return show_not_done(visit, fields, problems.problems, status=400)
    audit = mark_not_done(
        visit.session,
        visit.item_id,
        reason=reason,
        on=visit.today,
        by_id=visit.person_id,
        via="web",
    )
    page = form_page(visit.session, id_of(audit), visit.settings)
    return visit.done(
        f"Audit of case {page.case_ref}: recorded as not done",
        [
            f"The {page.kind.lower()} audit of case {page.case_ref} is recorded as not done, with "
            f"your reason: {reason}",
            "The quarterly review sees the reason (D4), and you will not be chased for it.",
        ],
    )
