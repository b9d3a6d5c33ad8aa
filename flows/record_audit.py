"""Completing an audit in the Prefect UI: the run waits with a form; invalid input asks again."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, task
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput

from models.db import session_scope
from models.settings import get_settings
from tasks.recording.form import FormInvalid, validate
from tasks.recording.record import active_staff_by_email, questions_for, record_audit
from tasks.recording.ui_form import description, form_spec, input_model, to_form
from tasks.workdays import today

MAX_ATTEMPTS = 20


@task(name="record-audit")
def store(form_json: dict[str, Any], on: date) -> int:
    """Record the validated form (one transaction) and queue its emails."""
    from tasks.recording.form import AuditForm

    with session_scope() as session:
        audit = record_audit(
            session,
            AuditForm.model_validate(form_json),
            on=on,
            source="the Prefect form",
            via="prefect-ui",
            settings=get_settings(),
        )
        return int(audit.id)  # type: ignore[arg-type]


def _problems(form_json: dict[str, Any], on: date) -> list[str]:
    """The same validation as every other path, with no side effect: safe to repeat on resume."""
    from models import Audit
    from models.enums import AuditStatus
    from tasks.recording.form import AuditForm
    from tasks.recording.needs import themes_of

    form = AuditForm.model_validate(form_json)
    with session_scope() as session:
        audit = session.get(Audit, form.audit_id)
        if audit is None or audit.status is not AuditStatus.ASSIGNED:
            return [
                f"audit {form.audit_id} cannot be recorded now: it is {audit.status.value if audit else 'missing'}"
            ]
        _, problems = validate(
            form,
            questions_for(session, audit),
            set(active_staff_by_email(session)),
            on,
            themes_of(),
        )
        return problems


@flow(name="record-audit", persist_result=True)
def record_audit_form(audit_id: int) -> dict[str, object]:
    """Wait for the auditor to fill in the audit's form; record it once it is valid."""
    with session_scope() as session:
        spec = form_spec(session, audit_id)
    model = input_model(spec, RunInput)
    problems: list[str] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        # On resume the flow runs again from the top: earlier attempts replay from their stored
        # input, so only the latest suspension waits, and nothing is recorded twice.
        answer = suspend_flow_run(
            wait_for_input=model.with_initial_data(
                description=description(spec, problems), recorded_by=spec.auditor_email
            ),
            key=f"audit-{audit_id}-attempt-{attempt}",
            timeout=None,
        )
        form_json = to_form(spec, answer).model_dump(mode="json")
        problems = _problems(form_json, today())
        if not problems:
            return {"audit_id": store(form_json, today()), "attempts": attempt}
    raise FormInvalid("the Prefect form", [f"no valid form after {MAX_ATTEMPTS} attempts"])
