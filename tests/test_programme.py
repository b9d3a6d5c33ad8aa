"""The annual programme's rules (T9 allocation) and the late-run guard of every scheduled flow."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest

from flows.guard import superseded_by
from models import Staff
from models.enums import Role
from tasks.programme.peer_day import CASES_EACH, allocate
from tasks.sampling.rules import Candidate

ON = date(2026, 11, 2)


def _people() -> list[Staff]:
    roles = [Role.OPERATIONAL_MANAGER] * 2 + [Role.QA_MANAGER, Role.WORKFORCE_DEVELOPMENT_LEAD]
    roles += [Role.CASE_MANAGER] * 6
    return [Staff(id=n, email=f"p{n}@x", name=f"P{n}", role=r) for n, r in enumerate(roles, 1)]


def _pool(holders: list[int], per_holder: int, recent: set[int] = frozenset()) -> list[Candidate]:  # type: ignore[assignment]
    cases = []
    for h in holders:
        for k in range(per_holder):
            cid = h * 100 + k
            cases.append(
                Candidate(
                    case_id=cid,
                    case_ref=f"C{cid}",
                    case_manager_id=h,
                    team_id=1,
                    order_family="YRO",
                    gender="Male",
                    ethnicity="White",
                    age_band="15-16",
                    opened_on=ON - timedelta(days=200),
                    last_selected_on=ON - timedelta(days=10) if cid in recent else None,
                )
            )
    return cases


def test_peer_day_gives_two_files_each_never_their_own_and_pairs_share_one() -> None:
    """S9 two case files each; S10 nobody their own; S4 recent selections passed over; pairs
    of participants share one case so agreement can be measured (T9)."""
    people = _people()
    recent = {701, 801}
    pool = _pool([p.id for p in people if p.role is Role.CASE_MANAGER] + [99], 4, recent)
    draws, partner = allocate(pool, people, ON, seed=7)
    assert all(len(draws[p.id].picks) == CASES_EACH for p in people)
    for p in people:
        for pick in draws[p.id].picks:
            assert pick.candidate.case_manager_id != p.id
            assert pick.candidate.case_id not in recent
    audited = Counter(pick.candidate.case_id for d in draws.values() for pick in d.picks)
    assert sorted(Counter(audited.values()).items()) == [(1, len(people)), (2, len(people) // 2)]
    assert len(partner) == len(people) and all(partner[partner[p]] == p for p in partner)
    for a, b in partner.items():
        shared = {x.candidate.case_id for x in draws[a].picks} & {
            x.candidate.case_id for x in draws[b].picks
        }
        assert len(shared) == 1
    assert draws == allocate(pool, people, ON, seed=7)[0]  # S3: the same seed, the same day


def test_peer_day_with_too_few_cases_allocates_what_it_can() -> None:
    people = _people()
    draws, _ = allocate(_pool([99], 3), people, ON, seed=1)
    audited = Counter(pick.candidate.case_id for d in draws.values() for pick in d.picks)
    assert audited == {9900: 2, 9901: 2, 9902: 2}  # three cases for three pairs; no more exist
    assert all(len(d.picks) <= CASES_EACH for d in draws.values())


@pytest.mark.parametrize(
    ("scheduled", "now", "overtaken_by"),
    [
        (datetime(2026, 11, 23, 8, tzinfo=UTC), datetime(2026, 11, 23, 15, tzinfo=UTC), None),
        (
            datetime(2026, 11, 23, 8, tzinfo=UTC),
            datetime(2026, 11, 26, 9, tzinfo=UTC),
            date(2026, 11, 26),
        ),
        # Friday's run fired over the weekend: nothing has overtaken it yet, so it runs.
        (datetime(2026, 11, 27, 8, tzinfo=UTC), datetime(2026, 11, 29, 9, tzinfo=UTC), None),
        # Christmas Eve's run fired on the 29th, after that day's 08:00 run (25, 28: holidays).
        (
            datetime(2026, 12, 24, 8, tzinfo=UTC),
            datetime(2026, 12, 29, 8, 30, tzinfo=UTC),
            date(2026, 12, 29),
        ),
    ],
)
def test_a_late_daily_run_is_skipped_only_when_a_later_run_has_overtaken_it(
    scheduled: datetime, now: datetime, overtaken_by: date | None
) -> None:
    assert superseded_by(scheduled, now, time(8, 0)) == overtaken_by


def test_flows_fired_late_after_an_outage_work_for_their_own_date_or_skip(
    prefect_harness, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs Prefect fires days late (PREFECT_NOTES): the chase skips itself, saying why; a
    timetable job works for the date it was scheduled for, not the day it started."""
    import prefect.runtime.flow_run

    from flows.timetable import FLOWS

    chase_overdue, audits_due = FLOWS["chase-overdue"], FLOWS["audits-due"]

    assert cli("init").exit_code == 0
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    monkeypatch.setattr(prefect.runtime.flow_run, "scheduled_start_time", three_days_ago)
    assert chase_overdue() == {"skipped": "overtaken by a later day's chase"}
    result = audits_due()
    from tasks.workdays import london_date

    assert result["period"] == f"{london_date(three_days_ago):%Y-%m}"
    assert result["row"] == "T4"


def test_a_job_whose_timetable_row_was_removed_says_which_file_and_flow(
    monkeypatch: pytest.MonkeyPatch, tmp_path, settings_env
) -> None:
    from models.errors import ConfigError
    from models.settings import get_settings
    from tasks.programme.notices import entry_for

    shipped = get_settings().timetable_file.read_text(encoding="utf-8")
    edited = tmp_path / "timetable.yaml"
    edited.write_text(
        shipped.replace("flow: staff-qa-forum", "flow: annual-pack"), encoding="utf-8"
    )
    monkeypatch.setenv("YOTQA_TIMETABLE_FILE", str(edited))
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as caught:
        entry_for("staff-qa-forum")
    assert "timetable.yaml: no entry names the flow 'staff-qa-forum'" in str(caught.value)
