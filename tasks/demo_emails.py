"""One example of every email the product sends, made by running the real code on a scratch copy
of the demo service (the configured database is not touched)."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

from sqlmodel import Session, col, select

from models import ActionPoint, Audit, Case, EmailMessage, Staff
from models.base import id_of
from models.db import make_engine, upgrade
from models.enums import AuditKind, AuditStatus
from models.settings import Settings, get_settings
from tasks.chase import chase
from tasks.demo import load_demo, write_demo_files
from tasks.outbox import _build
from tasks.question_sets import sync_question_sets
from tasks.recording.actions import decide_new_date, request_new_date
from tasks.recording.form import ActionIn, Answer, AuditForm, NeedIn
from tasks.recording.needs import themes_of
from tasks.recording.record import questions_for, record_audit
from tasks.sampling.monthly import sample_month
from tasks.workdays import add_working_days

START = date(2026, 12, 1)


def write_examples(out_dir: Path, settings: Settings | None = None) -> dict[str, Path]:
    """Write `<kind>.eml` and `<kind>.html` for each kind of email; returns the .eml paths."""
    settings = settings or get_settings()
    with tempfile.TemporaryDirectory(prefix="yotqa-examples-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'examples.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            with Session(engine, expire_on_commit=False) as session:
                sync_question_sets(session, settings.question_sets_dir)
                session.commit()
                load_demo(
                    session,
                    write_demo_files(
                        Path(scratch) / "demo", seed=2012, as_of=START - timedelta(days=6)
                    ),
                )
                # A small team's three audits are enough to show the E4 alert in the examples.
                _play(session, settings.model_copy(update={"difficulty_minimum": 3}))
                _monthly_reports(session, Path(scratch))
                return _write(session, settings, out_dir)
        finally:
            engine.dispose()


def _play(session: Session, settings: Settings) -> None:
    sample_month(session, START)
    audits = session.exec(
        select(Audit).where(col(Audit.kind) == AuditKind.CASE_FILE).order_by(col(Audit.id))
    ).all()
    team_of = dict(session.exec(select(col(Case.id), col(Case.team_id))).all())
    first_team = team_of[audits[0].case_id]
    same_team = [a for a in audits if team_of[a.case_id] == first_team][:4]
    done = add_working_days(START, 5)
    for n, audit in enumerate(same_team):
        answers = {}
        for q in questions_for(session, audit):
            answers[q.code] = Answer(
                value={
                    "judgement": "insufficient" if n % 2 == 0 else "sufficient",
                    "yes_no": "yes",
                    "count": 1,
                    "text": "Robbery",
                }[q.answer_type.value]
            )
        owner = session.get_one(Staff, audit.subject_staff_id)
        form = AuditForm(
            audit_id=id_of(audit),
            recorded_by=session.get_one(Staff, audit.auditor_id).email,
            answers=answers,
            action_points=[
                ActionIn(
                    priority=1,
                    text="Complete and countersign the VMP",
                    owner_email=owner.email,
                    deadline=done + timedelta(days=14),
                )
            ],
            good_practice=["An analytical Asset review that explains every score"],
            high_risk="Risk to a sibling disclosed at the last home visit, not yet shared with children's social care"
            if n == 0
            else "",
            support_needs=[  # A4: the team manager reviews it; the digest chases the date
                NeedIn(
                    theme=themes_of(settings)[0],
                    text="Refresher on analysing the risk factors, with the team at its next meeting",
                    scope="team",
                    review_on=done + timedelta(days=21),
                )
            ]
            if n == 0
            else [],
        )
        record_audit(session, form, on=done, source="example", settings=settings)
    # An action point's owner asks for a new date through their link; the line manager agrees.
    first = session.exec(select(ActionPoint).order_by(col(ActionPoint.id)).limit(1)).one()
    request = request_new_date(
        session,
        id_of(first),
        by_id=first.owner_id,
        reason="The VMP review meeting moved: the social worker is on leave until the 20th",
        proposed_on=first.deadline + timedelta(days=14),
        on=done,
    )
    decide_new_date(
        session,
        id_of(request),
        by_id=request.decider_id,
        agree=True,
        note="Agreed: book it now",
        on=done,
    )
    # Someone leaves, then a month of chasing: reminders, chases, escalations and a reassignment.
    leaver = session.get_one(
        Staff, next(a for a in audits if a.status is AuditStatus.ASSIGNED).auditor_id
    )
    leaver.active = False
    session.commit()
    day = START
    while day <= START + timedelta(days=40):
        chase(session, day, settings)
        day += timedelta(days=1)


def _monthly_reports(session: Session, scratch: Path) -> None:
    from tasks.monthly.exceptions import run_exception_report
    from tasks.monthly.reports import (
        feedback_report,
        send_feedback_report,
        send_team_audits_report,
        team_audits_report,
    )

    day = START + timedelta(days=21)
    run_exception_report(session, START)
    send_team_audits_report(session, team_audits_report(session, day), scratch / "team-audits.xlsx")
    send_feedback_report(
        session, feedback_report(session, START - timedelta(days=6)), scratch / "feedback.xlsx"
    )


def _write(session: Session, settings: Settings, out_dir: Path) -> dict[str, Path]:
    """Per kind, the fullest message (the digest with most sections shows them all)."""
    best: dict[str, EmailMessage] = {}
    for message in session.exec(select(EmailMessage).order_by(col(EmailMessage.id))):
        if message.kind not in best or len(message.body_text) > len(best[message.kind].body_text):
            best[message.kind] = message
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, message in sorted(best.items()):
        (out_dir / f"{kind}.eml").write_bytes(_build(message, settings).as_bytes())
        (out_dir / f"{kind}.html").write_text(message.body_html, encoding="utf-8")
        written[kind] = out_dir / f"{kind}.eml"
    return written
