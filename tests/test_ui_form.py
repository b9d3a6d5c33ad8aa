"""The audit form in the Prefect UI, driven through the Prefect API as the UI drives it:
start the run, it suspends with the form; resume with bad input, it asks again; resume with good
input, the audit is recorded once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models import Audit, EmailMessage, Question, Staff, SupportNeed
from models.enums import AnswerType, AuditKind, AuditStatus, NeedScope
from tasks.workdays import today
from tests.smtp import free_port

ROOT = Path(__file__).resolve().parent.parent


def _wait(client, run_id, wanted: str, timeout: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(run_id)
        if run.state and run.state.type.value == wanted:
            return run
        if run.state and run.state.type.value in ("FAILED", "CRASHED"):
            pytest.fail(f"the form run ended {run.state.type.value}: {run.state.message}")
        time.sleep(1)
    pytest.fail(
        f"the form run never reached {wanted}; it is {run.state.type.value if run.state else None}"
    )


def _good_answers(session: Session, audit: Audit) -> dict[str, object]:
    answers: dict[str, object] = {}
    for q in session.exec(
        select(Question).where(Question.question_set_id == audit.question_set_id)
    ):
        answers[q.code] = {
            AnswerType.JUDGEMENT: "sufficient",
            AnswerType.YES_NO: "yes",
            AnswerType.COUNT: 1,
            AnswerType.TEXT: "Robbery",
        }[q.answer_type]
    return answers


@pytest.mark.slow
@pytest.mark.demo(as_of="2026-11-25")
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_form_suspends_asks_again_on_bad_input_and_records_good_input(
    cli, session: Session, db_url: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL, temporary_settings

    assert cli("run", "sample", "--as-of", "2026-12-01").exit_code == 0
    audit = session.exec(
        select(Audit).where(Audit.kind == AuditKind.CASE_FILE).order_by(Audit.id)
    ).first()
    port, var = free_port(), tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        YOTQA_DATABASE_URL=db_url,
        YOTQA_OUTPUT_DIR=str(var),
        DO_NOT_TRACK="1",
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        PREFECT_HOME=str(tmp_path / "prefect-client"),
    )
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "yotqa"), "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with (
            temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}),
            get_client(sync_client=True) as client,
        ):
            deadline = time.monotonic() + 90
            while True:
                try:
                    client.read_deployment_by_name("record-audit/record-audit")
                    break
                except Exception:  # noqa: BLE001  (not registered yet)
                    assert time.monotonic() < deadline and server.poll() is None, (
                        server.stdout.read()
                    )  # type: ignore[union-attr]
                    time.sleep(1)
            run = run_deployment(
                "record-audit/record-audit", parameters={"audit_id": audit.id}, timeout=0
            )
            _wait(client, run.id, "PAUSED")  # suspended, waiting for the form

            answers = _good_answers(session, audit)
            bad = {**answers, "asset_initial_quality": None, "recorded_by": "nobody@nowhere.org"}
            resume_flow_run(run.id, run_input=bad)
            time.sleep(2)
            paused = _wait(client, run.id, "PAUSED")  # asked again
            assert paused.state.state_details.pause_key == f"audit-{audit.id}-attempt-2"
            session.expire_all()
            assert session.get(Audit, audit.id).status is AuditStatus.ASSIGNED

            good = {
                **answers,
                "recorded_by": session.get(Staff, audit.auditor_id).email,
                "action_points": [
                    {
                        "priority": 1,
                        "text": "Update the VMP",
                        "owner_email": session.get(Staff, audit.subject_staff_id).email,
                        "deadline": "2026-12-31",
                    }
                ],
                # A4 (§5): a support need, its theme from the form's drop-down of the list
                "support_needs": [
                    {
                        "theme": "Safety and wellbeing",
                        "scope": "team",
                        "review_on": str(today() + timedelta(days=30)),
                    }
                ],
            }
            resume_flow_run(run.id, run_input=good)
            _wait(client, run.id, "COMPLETED")
        session.expire_all()
        stored = session.get(Audit, audit.id)
        assert stored.status is AuditStatus.COMPLETED
        feedback = session.exec(select(EmailMessage).where(EmailMessage.kind == "feedback")).all()
        assert len(feedback) == 1  # recorded once, whatever the number of resumes
        assert stored.completed_on == today()
        need = session.exec(select(SupportNeed)).one()
        assert (need.audit_id, need.theme, need.scope) == (
            audit.id,
            "Safety and wellbeing",
            NeedScope.TEAM,
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
