"""`yotqa audits` and `yotqa actions`: recording audits and closing action points."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import choice_option, database_session, date_option, out, print_table
from models.settings import get_settings
from tasks.outputs import Outputs

audits_app = typer.Typer(
    help="Assigned audits: list them, write a form, record a filled one.", no_args_is_help=True
)
actions_app = typer.Typer(help="Action points raised by audits (D3).", no_args_is_help=True)


@audits_app.command("list")
def audits_list(
    status: Annotated[
        str | None, typer.Option(help="assigned, completed, not_done or withdrawn.")
    ] = None,
    auditor: Annotated[str | None, typer.Option(help="Only this auditor's (email).")] = None,
    period: Annotated[str | None, typer.Option(help="Only this month, YYYY-MM.")] = None,
) -> None:
    """List audits with their case, auditor, deadline and status."""
    from models.enums import AuditStatus
    from tasks.listings import audit_rows

    wanted = choice_option(AuditStatus, status, "--status") if status else None
    with database_session() as session:
        rows = audit_rows(session, status=wanted, auditor_email=auditor, period=period)
    print_table(
        f"Audits ({len(rows)})",
        ["Id", "Case", "Audit", "Auditor", "Due", "Status", "Three-way", "Recorded via"],
        (
            [
                r.id,
                r.case_ref,
                r.kind,
                r.auditor,
                r.due_on,
                r.status,
                "yes" if r.three_way else "",
                r.recorded_via,
            ]
            for r in rows
        ),
    )


@audits_app.command("form")
def audits_form(
    audit_id: Annotated[int, typer.Argument(help="The audit's id (yotqa audits list).")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Where to write the XLSX (default var/forms/).")
    ] = None,
) -> None:
    """Write the audit's form as XLSX: case details, every question with guidance, drop-down judgements."""

    from tasks.recording.files import write_form

    path = out_file or Outputs.configured().audit_form(audit_id)
    with database_session() as session:
        written = write_form(session, audit_id, path)
    out.print(
        f"Form for audit {audit_id} written to {written}: fill it in, then `yotqa audits record {written}`"
    )


@audits_app.command("record")
def audits_record(
    file: Annotated[
        Path,
        typer.Argument(help="A filled form: .xlsx from `yotqa audits form`, or .json / .yaml."),
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The date it was completed (default today).")
    ] = None,
) -> None:
    """Record a completed audit from its filled form; errors name the question or action point."""

    from tasks.outbox import send_pending
    from tasks.recording.files import read_form
    from tasks.recording.record import record_audit

    day = date_option(as_of)
    form = read_form(file)
    with database_session() as session:
        audit = record_audit(session, form, on=day, source=file.name)
        report = send_pending(session, get_settings())
    out.print(f"Audit {audit.id} recorded as completed on {day}. Emails: {report.summary()}")


@audits_app.command("withdraw")
def audits_withdraw(
    audit_id: Annotated[int, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why the record is withdrawn (kept with the audit).")],
    by: Annotated[
        str | None, typer.Option(help="Your staff email (default: whoever recorded it).")
    ] = None,
) -> None:
    """Withdraw a recorded audit so it can be recorded again; the reason is kept."""

    from tasks.recording.record import withdraw_record

    with database_session() as session:
        withdraw_record(session, audit_id, reason=reason, by_email=by)
    out.print(f"The record of audit {audit_id} is withdrawn; the audit is assigned again.")


@audits_app.command("not-done")
def audits_not_done(
    audit_id: Annotated[int, typer.Argument()],
    reason: Annotated[
        str, typer.Option(help="Why it was not done: reported to the quarterly review (D4).")
    ],
    by: Annotated[str | None, typer.Option(help="Your staff email (default: the auditor).")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date, YYYY-MM-DD (default today).")
    ] = None,
) -> None:
    """Record that an audit was not done, and why (D4)."""

    from tasks.recording.record import mark_not_done

    with database_session() as session:
        mark_not_done(session, audit_id, reason=reason, by_email=by, on=date_option(as_of))
    out.print(f"Audit {audit_id} recorded as not done: {reason}")


@actions_app.command("list")
def actions_list(
    open_only: Annotated[
        bool, typer.Option("--open/--all", help="Only open action points (default).")
    ] = True,
    owner: Annotated[str | None, typer.Option(help="Only this owner's (email).")] = None,
) -> None:
    """List action points: case, priority, owner, deadline, status."""

    from tasks.listings import action_rows

    with database_session() as session:
        rows = action_rows(session, open_only=open_only, owner_email=owner)
    print_table(
        f"Action points ({len(rows)})",
        ["Id", "Case", "Priority", "Action", "Owner", "Deadline", "Status"],
        ([r.id, r.case_ref, r.priority, r.text, r.owner, r.deadline, r.status] for r in rows),
    )


@actions_app.command("complete")
def actions_complete(
    action_id: Annotated[int, typer.Argument()],
    evidence: Annotated[str, typer.Option(help="What shows it is done.")] = "",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date completed, YYYY-MM-DD (default today).")
    ] = None,
) -> None:
    """Close an action point; it is chased no more."""

    from tasks.recording.actions import complete_action

    with database_session() as session:
        complete_action(session, action_id, on=date_option(as_of), evidence=evidence)
    out.print(f"Action point {action_id} completed.")


needs_app = typer.Typer(
    help="Support and training needs found by audits, reviewed by a date (A4, §5).",
    no_args_is_help=True,
)


@needs_app.command("list")
def needs_list(
    open_only: Annotated[
        bool, typer.Option("--open/--all", help="Only needs not yet met (default).")
    ] = True,
    reviewer: Annotated[str | None, typer.Option(help="Only this reviewer's (email).")] = None,
) -> None:
    """List support needs: case, theme, for whom, reviewer, review date, status."""

    from tasks.listings import need_rows

    with database_session() as session:
        rows = need_rows(session, open_only=open_only, reviewer_email=reviewer)
    print_table(
        f"Support and training needs ({len(rows)})",
        ["Id", "Case", "Theme", "For", "Case manager", "Reviewer", "Review by", "Status"],
        (
            [r.id, r.case_ref, r.theme, r.scope, r.case_manager, r.reviewer, r.review_on, r.status]
            for r in rows
        ),
    )


@needs_app.command("review")
def needs_review(
    need_id: Annotated[int, typer.Argument()],
    met: Annotated[
        bool, typer.Option("--met/--again", help="Met (default), or still needed (--again).")
    ] = True,
    next_review: Annotated[
        str | None,
        typer.Option("--next-review", help="With --again: the date to review by, YYYY-MM-DD."),
    ] = None,
    note: Annotated[str, typer.Option(help="What was found (required with --again).")] = "",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date reviewed, YYYY-MM-DD (default today).")
    ] = None,
) -> None:
    """Record a need's review: met (chased no more), or still needed with a later date."""

    from tasks.recording.needs import review_need

    with database_session() as session:
        need = review_need(
            session,
            need_id,
            met=met,
            note=note,
            next_review=date_option(next_review) if next_review else None,
            on=date_option(as_of),
        )
    out.print(
        f"Support need {need_id} reviewed: "
        + ("met." if met else f"still needed, to review again by {need.review_on}.")
    )
