"""T6, the quarterly review: what it sends, and that it counts every email it queues."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session

from models import EmailMessage
from models.settings import get_settings
from tasks.programme.notices import quarterly_review
from tasks.programme.peer_day import plan_peer_day

REVIEW_DAY = date(2026, 1, 20)  # T6 for Q3 2025 (October-December), the year's peer day behind it


def _emails(session: Session) -> dict[str, str]:
    return dict(session.execute(sa.select(EmailMessage.key, EmailMessage.subject)).tuples().all())


def test_quarterly_review_counts_the_peer_report_and_its_own_notice(year: Session) -> None:
    """The review sends the peer audit day's report (once) beside its own notice: both counted."""
    plan_peer_day(year, date(2025, 11, 3))
    before = _emails(year)
    notice = quarterly_review(year, REVIEW_DAY, get_settings().output_dir)
    queued = {k: s for k, s in _emails(year).items() if k not in before}
    assert set(queued) == {"peer-day-report:2025-11", "notice:T6:2025-Q3"}
    assert notice.emails == len(queued) == 2


def test_quarterly_review_run_again_queues_nothing_and_counts_nothing(year: Session) -> None:
    plan_peer_day(year, date(2025, 11, 3))
    quarterly_review(year, REVIEW_DAY, get_settings().output_dir)
    before = _emails(year)
    again = quarterly_review(year, REVIEW_DAY, get_settings().output_dir)
    assert _emails(year) == before
    assert again.emails == 0


def test_quarterly_review_without_a_peer_day_sends_its_notice_alone(year: Session) -> None:
    before = _emails(year)
    notice = quarterly_review(year, REVIEW_DAY, get_settings().output_dir)
    queued = set(_emails(year)) - set(before)
    assert queued == {"notice:T6:2025-Q3"}
    assert notice.emails == 1
    assert notice.period == "2025-Q3" and notice.row == "T6"
