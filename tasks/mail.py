"""Email content: Jinja templates (autoescaped, strict) and calendar files for deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import Any

import icalendar
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from models import ActionPoint, Audit
from models.base import id_of
from models.settings import get_settings
from models.types import utcnow

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@cache
def environment() -> Environment:
    # .txt templates are plain text; everything else is HTML and escaped.
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(template: str, subject: str, **context: Any) -> Rendered:
    """Render `email/<template>.txt` and `.html` with the same context."""
    env = environment()
    context = {"subject": subject, **context}
    return Rendered(
        subject=subject,
        text=env.get_template(f"email/{template}.txt").render(**context),
        html=env.get_template(f"email/{template}.html").render(**context),
    )


@dataclass(frozen=True)
class Deadline:
    """One calendar entry: `uid` names it for good (O5), `sequence` says which file is newer."""

    uid: str
    day: date
    summary: str
    description: str
    sequence: int = 0


def audit_uid(installation: str, audit_id: int, auditor_id: int) -> str:
    """O5: an audit's entry in its auditor's calendar; whoever takes it over gets an entry of
    their own, so one shared calendar can hold the cancelled one and theirs."""
    return f"audit-{audit_id}-{auditor_id}.{installation}@yotqa"


def action_uid(installation: str, action: ActionPoint) -> str:
    """O5: an action point's entry. Its creation time is in it because SQLite hands a deleted
    row's id to the next row: a record withdrawn and made again has action points of its own."""
    return f"action-{action.id}-{action.created_at:%Y%m%dT%H%M%S%f}.{installation}@yotqa"


def audit_deadline(installation: str, audit: Audit, case_ref: str, auditor_id: int) -> Deadline:
    """The entry for an audit's deadline, named by case reference only (E5)."""
    kind = audit.kind.label
    return Deadline(
        uid=audit_uid(installation, id_of(audit), auditor_id),
        day=audit.due_on,
        summary=f"Audit due: case {case_ref} ({kind})",
        description=f"Complete the {kind.lower()} audit of case {case_ref}.",
        sequence=audit.calendar_sequence,
    )


def calendar_file(deadlines: list[Deadline], *, cancel: bool = False) -> str:
    """An iCalendar file with one all-day event per deadline (RFC 5545), published (RFC 5546
    PUBLISH: a newer SEQUENCE of the same UID replaces the entry) or, with `cancel`, cancelled
    (CANCEL, each event STATUS:CANCELLED at its raised SEQUENCE)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//yotqa//quality assurance//EN")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancel else "PUBLISH")
    stamp = utcnow()
    # RFC 5546 asks for an ORGANIZER in PUBLISH and CANCEL alike: the address the emails come from.
    organizer = icalendar.vCalAddress(f"mailto:{parseaddr(get_settings().mail_from)[1]}")
    organizer.params["cn"] = icalendar.vText("yotqa")
    for d in deadlines:
        event = icalendar.Event()
        event.add("uid", d.uid)
        event.add("sequence", d.sequence)
        event.add("dtstamp", stamp)
        event.add("dtstart", d.day)
        event.add("dtend", d.day + timedelta(days=1))
        event.add("summary", d.summary)
        event.add("description", d.description)
        event.add("organizer", organizer)
        if cancel:
            event.add("status", "CANCELLED")
        cal.add_component(event)
    ical: bytes = cal.to_ical()  # icalendar is untyped
    return ical.decode()
