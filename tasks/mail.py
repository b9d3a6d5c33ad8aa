"""Email content: Jinja templates (autoescaped, strict) and calendar files for deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import icalendar
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

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
    uid: str
    day: date
    summary: str
    description: str


def calendar_file(deadlines: list[Deadline]) -> str:
    """An iCalendar file with one all-day event per deadline (RFC 5545)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//yotqa//quality assurance//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    stamp = utcnow()
    for d in deadlines:
        event = icalendar.Event()
        event.add("uid", d.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", d.day)
        event.add("dtend", d.day + timedelta(days=1))
        event.add("summary", d.summary)
        event.add("description", d.description)
        cal.add_component(event)
    ical: bytes = cal.to_ical()  # icalendar is untyped
    return ical.decode()
