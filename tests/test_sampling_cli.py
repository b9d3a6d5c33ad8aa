"""`yotqa run sample` (T1, S7, S8), `yotqa export selections` (S12) and `yotqa outbox`."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from sqlmodel import Session, select

from models import Audit, Case, SamplingRun, Staff
from models.enums import AuditKind, Role, SamplingKind

DAY = "2026-11-25"


# Every test here starts from the demo service (`yotqa demo-data --seed 5 --as-of DAY`), a copy
# of the one built once (tests/demo_service.py).
pytestmark = pytest.mark.demo(seed=5, as_of=DAY)


def test_run_sample_twice_assigns_once_and_sends_once(cli, session: Session) -> None:
    first = cli("run", "sample", "--as-of", "2026-12-01")
    assert first.exit_code == 0, first.stderr
    assert "audits assigned" in first.stdout
    assert "written to" in first.stdout and "no SMTP host is set, nothing sent" in first.stdout
    again = cli("run", "sample", "--as-of", "2026-12-01")
    assert again.exit_code == 0, again.stderr
    assert "already drawn: nothing changed, nothing sent (S11)" in again.stdout
    listing = cli("outbox", "list")
    assert listing.exit_code == 0, listing.stderr
    assert "Totals: written" in listing.stdout and "pending" not in listing.stdout


def test_themed_sample_uses_the_theme_filter_and_its_question_set(cli, session: Session) -> None:
    """S7: random from the cases matching the theme, audited with the theme's variant."""
    result = cli("run", "sample", "--as-of", "2026-12-03", "--theme", "high-rosh")
    assert result.exit_code == 0, result.stderr
    session.expire_all()
    audits = session.exec(select(Audit).where(Audit.kind == AuditKind.THEMED)).all()
    assert len(audits) == 3
    for a in audits:
        assert session.get(Case, a.case_id).rosh_level.value in ("high", "very_high")
    run = session.exec(select(SamplingRun).where(SamplingRun.kind == SamplingKind.THEMED)).one()
    assert run.theme == "high-rosh" and run.seed


def test_themed_sample_names_an_unknown_theme(cli) -> None:
    result = cli("run", "sample", "--theme", "stars")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown theme 'stars'")


def test_targeted_selection_records_who_asked_and_why(cli, session: Session) -> None:
    """S8: not random; the reason and the requester are kept."""
    case = session.exec(
        select(Case).where(Case.closed_on.is_(None)).order_by(Case.opened_on)
    ).first()
    sm = session.exec(select(Staff).where(Staff.role == Role.SERVICE_MANAGER)).one()
    result = cli(
        "run",
        "sample",
        "--as-of",
        "2026-12-03",
        "--target",
        case.case_ref,
        "--reason",
        "concern at supervision",
        "--requested-by",
        sm.email,
    )
    assert result.exit_code == 0, result.stderr
    session.expire_all()
    audit = session.exec(select(Audit).where(Audit.case_id == case.id)).one()
    assert (
        "S8: targeted at the request of" in audit.selection_reason
        and "concern at supervision" in audit.selection_reason
    )
    run = session.get(SamplingRun, audit.sampling_run_id)
    assert run.requested_by_id == sm.id and "S8: not random" in run.rules
    manager = session.get(Staff, session.get(Staff, case.case_manager_id).line_manager_id)
    assert audit.auditor_id == manager.id


def test_targeted_selection_needs_a_reason(cli, session: Session) -> None:
    case = session.exec(select(Case).where(Case.closed_on.is_(None))).first()
    sm = session.exec(select(Staff).where(Staff.role == Role.SERVICE_MANAGER)).one()
    missing = cli("run", "sample", "--target", case.case_ref, "--requested-by", sm.email)
    assert missing.exit_code == 1 and "needs --reason" in missing.stderr
    assert not session.exec(select(Audit)).all()


def test_export_selections_writes_three_sheets(cli, tmp_path: Path) -> None:
    """S12: a spreadsheet record of all cases selected, re-opened and checked."""
    assert cli("run", "sample", "--as-of", "2027-01-04").exit_code == 0
    path = tmp_path / "sel.xlsx"
    result = cli("export", "selections", "--period", "2027-01", "--out", path)
    assert result.exit_code == 0, result.stderr
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Selections", "Rejections", "Make-up"]
    rows = list(book["Selections"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Period", "Run", "Theme or target")
    count = int(result.stdout.split()[0])
    assert len(rows) - 1 == count > 0
    assert {r[0] for r in rows[1:]} == {"2027-01"}
    makeup = list(book["Make-up"].iter_rows(values_only=True))
    assert any(r[3] == "order type" and r[4] == "DTO" for r in makeup[1:])


def test_export_selections_names_a_period_that_is_not_a_month(cli) -> None:
    bad = cli("export", "selections", "--period", "January")
    assert bad.exit_code == 1 and "expected YYYY-MM" in bad.stderr


def test_outbox_retry_queues_failed_and_interrupted_messages_only(cli, session: Session) -> None:
    """E6: a failed or interrupted message goes again only when an admin says so."""
    from models import EmailMessage
    from models.enums import EmailStatus

    assert cli("run", "sample", "--as-of", "2026-12-01").exit_code == 0
    session.expire_all()
    first, second, third = session.exec(select(EmailMessage).order_by(EmailMessage.id)).all()[:3]
    first.status, second.status = EmailStatus.FAILED, EmailStatus.SENDING
    third.status = EmailStatus.SENT
    session.commit()
    listing = cli("outbox", "list")
    assert listing.exit_code == 0
    assert "interrupted mid-delivery" in listing.stdout
    result = cli("outbox", "retry", str(first.id), str(second.id), str(third.id))
    assert result.exit_code == 0
    assert (
        f"Queued again: {first.id}, {second.id}; not failed, interrupted or written, left as "
        f"they are: {third.id}" in result.stdout
    )
    sent = cli("outbox", "send")
    assert sent.exit_code == 0, sent.stderr
    assert "2 written to" in sent.stdout


def test_outbox_retry_queues_a_message_only_written_as_a_file(cli, session: Session) -> None:
    """A message written as .eml while no SMTP host was set reached nobody: it can go again."""
    from models import EmailMessage
    from models.enums import EmailStatus

    assert cli("run", "sample", "--as-of", "2026-12-01").exit_code == 0
    session.expire_all()
    written = session.exec(select(EmailMessage).order_by(EmailMessage.id)).first()
    assert written is not None and written.status is EmailStatus.WRITTEN
    result = cli("outbox", "retry", str(written.id))
    assert result.exit_code == 0
    assert f"Queued again: {written.id}" in result.stdout
    session.expire_all()
    assert session.get(EmailMessage, written.id).status is EmailStatus.PENDING
