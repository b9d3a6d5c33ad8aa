"""Sampling rules (SPEC §2) over random caseloads: S1, S4, S5, S6 and S10 always hold."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.sampling.rules import (
    MIX_FAMILIES,
    Candidate,
    enforce_mix,
    in_pool,
    random_draw,
    seed_for,
    team_draw,
    team_quota,
)

ON = date(2026, 12, 1)
FAMILIES = ["Referral Order", "YRO", "DTO", "Other"]


@st.composite
def caseloads(draw: st.DrawFn) -> list[Candidate]:
    size = draw(st.integers(min_value=0, max_value=60))
    holders = draw(st.integers(min_value=1, max_value=8))
    cases = []
    for i in range(size):
        selected_ago = draw(st.one_of(st.none(), st.integers(min_value=-60, max_value=120)))
        cases.append(
            Candidate(
                case_id=i + 1,
                case_ref=f"C{i + 1}",
                case_manager_id=draw(st.integers(1, holders)),
                team_id=1,
                order_family=draw(st.sampled_from(FAMILIES)),
                gender=draw(st.sampled_from(["Male", "Female"])),
                ethnicity="x",
                age_band="15-16",
                opened_on=ON - timedelta(days=draw(st.integers(0, 400))),
                compliance_audited=draw(st.booleans()),
                last_selected_on=None
                if selected_ago is None
                else ON - timedelta(days=selected_ago),
            )
        )
    return cases


def _allowed(c: Candidate, auditor: int) -> bool:
    recently = c.last_selected_on is not None and abs((ON - c.last_selected_on).days) < 42
    return in_pool(c, ON) and c.case_manager_id != auditor and not recently


@settings(max_examples=150, deadline=None)
@given(caseloads(), st.integers(0, 9))
def test_random_draw_keeps_s1_s4_s10(pool: list[Candidate], auditor: int) -> None:
    draw = random_draw(pool, 3, auditor, ON, seed_for("2026-12", auditor), set(), "S3")
    picks = [p.candidate for p in draw.picks]
    assert all(_allowed(c, auditor) for c in picks)  # S1 (open > 42 days), S4, S10
    assert len(picks) == min(3, sum(_allowed(c, auditor) for c in pool))
    assert len({c.case_id for c in picks}) == len(picks)
    for r in draw.rejections:  # S4: the passed-over case is recorded with its reason
        assert r.reason.startswith(("S4", "S10")) and not _allowed(r.candidate, auditor)


@settings(max_examples=150, deadline=None)
@given(caseloads())
def test_random_draw_is_reproducible_from_its_seed(pool: list[Candidate]) -> None:
    """S3: the same pool and seed give the same draw."""
    seed = seed_for("2026-12", "monthly", "qa@yot.example.org")
    first = random_draw(pool, 3, 99, ON, seed, set(), "S3")
    again = random_draw(list(reversed(pool)), 3, 99, ON, seed, set(), "S3")
    assert [p.candidate.case_id for p in first.picks] == [p.candidate.case_id for p in again.picks]


@settings(max_examples=150, deadline=None)
@given(caseloads(), st.integers(0, 9))
def test_team_draw_reaches_the_longest_unsampled_holders_first(
    pool: list[Candidate], auditor: int
) -> None:
    """S6: one case per holder before anyone gets a second; longest-unsampled first; S2 queue."""
    holders = sorted({c.case_manager_id for c in pool})
    last = {h: ON - timedelta(days=10 * h) for h in holders[::2]}  # some sampled, some never
    draw = team_draw(pool, holders, last, auditor, ON, set())
    picks = [p.candidate for p in draw.picks]
    assert all(_allowed(c, auditor) for c in picks)
    holders_with_cases = [
        h for h in holders if any(_allowed(c, auditor) and c.case_manager_id == h for c in pool)
    ]
    expected = min(team_quota(len(holders)), sum(_allowed(c, auditor) for c in pool))
    assert len(picks) == expected
    first_round = [c.case_manager_id for c in picks[: len(holders_with_cases)]]
    assert len(set(first_round)) == len(first_round)  # nobody twice before everyone once
    order = sorted(holders_with_cases, key=lambda h: (last.get(h, date.min), h))
    assert first_round == order[: len(first_round)]
    for c in picks:  # S2: within a holder, never-audited and oldest first
        better = [
            o
            for o in pool
            if o.case_manager_id == c.case_manager_id
            and _allowed(o, auditor)
            and (o.compliance_audited, o.opened_on, o.case_id)
            < (c.compliance_audited, c.opened_on, c.case_id)
        ]
        assert all(o.case_id in {p.case_id for p in picks} for o in better)


def test_team_quota_reaches_every_holder_in_two_months() -> None:
    assert [team_quota(n) for n in (1, 4, 6, 7, 10)] == [3, 3, 3, 4, 5]


@settings(max_examples=150, deadline=None)
@given(caseloads())
def test_mix_holds_referral_orders_yros_and_dtos_where_the_pool_has_them(
    pool: list[Candidate],
) -> None:
    """S5: the month's sample includes each of the three families the eligible pool holds."""
    auditor = 99
    taken: set[int] = set()
    draw = random_draw(pool, 3, auditor, ON, 7, taken, "S3")
    rules = enforce_mix(draw, [p.candidate for p in draw.picks], pool, auditor, ON, 7, taken)
    families = {p.candidate.order_family for p in draw.picks}
    eligible = {c.order_family for c in pool if _allowed(c, auditor)}
    for family in MIX_FAMILIES:
        if family in eligible:
            assert family in families
    assert all(_allowed(p.candidate, auditor) for p in draw.picks)
    assert all(r.startswith("S5") for r in rules)
