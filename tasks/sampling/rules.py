"""The sampling rules of SPEC §2 as pure functions over plain data (no database, no Prefect).

S1 open more than 42 days; S2 compliance queue; S3 seeded random draws; S4 six-week pass-over;
S5 mix of Referral Orders, YROs and DTOs; S6 every case holder sampled at least every two months;
S10 never the auditor's own case.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from tasks.ethnicity import ethnic_group

SIX_WEEKS = 42
MIX_FAMILIES = ("Referral Order", "YRO", "DTO")
MONTHLY_QUOTA = 3  # S9: each operational manager and the QA manager, 3 case files a month


@dataclass(frozen=True)
class Candidate:
    """An open case as the sampler sees it: references and categories, no personal data."""

    case_id: int
    case_ref: str
    case_manager_id: int
    team_id: int
    order_family: str
    gender: str
    ethnicity: str
    age_band: str
    opened_on: date
    compliance_audited: bool = False
    last_selected_on: date | None = None
    order_type: str = ""  # the OrderType value: which inspection-style set audits it (H1)


@dataclass(frozen=True)
class Pick:
    candidate: Candidate
    reason: str


@dataclass(frozen=True)
class Rejection:
    candidate: Candidate
    reason: str


@dataclass
class Draw:
    """One sampler's draw: what was picked and what was passed over, in order."""

    picks: list[Pick] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def case_ids(self) -> set[int]:
        return {p.candidate.case_id for p in self.picks}


def seed_for(*parts: object) -> int:
    """A seed anyone can recompute from the period, the kind of draw and the sampler (S3)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest[:15], 16)


def age_band(age: int) -> str:
    if age <= 12:
        return "10-12"
    if age <= 14:
        return "13-14"
    if age <= 16:
        return "15-16"
    return "17+"


def in_pool(candidate: Candidate, on: date) -> bool:
    """S1: a compliance audit only for a case open more than six weeks on the sampling date."""
    return (on - candidate.opened_on).days > SIX_WEEKS


def rejection_reason(candidate: Candidate, auditor_id: int, on: date) -> str | None:
    """Why a drawn case is passed over for this auditor, or None if it may be audited."""
    if candidate.case_manager_id == auditor_id:
        return "S10: the auditor's own case"
    # Six weeks either side: a period re-run later must not clash with newer selections.
    if (
        candidate.last_selected_on is not None
        and abs((on - candidate.last_selected_on).days) < SIX_WEEKS
    ):
        return f"S4: already selected for audit on {candidate.last_selected_on}, within six weeks"
    return None


def _take(
    draw: Draw,
    ordered: Iterable[Candidate],
    quota: int,
    auditor_id: int,
    on: date,
    taken: set[int],
    reason: str,
) -> None:
    for candidate in ordered:
        if len(draw.picks) >= quota:
            return
        if candidate.case_id in taken:
            continue
        why = rejection_reason(candidate, auditor_id, on)
        if why:
            draw.rejections.append(Rejection(candidate, why))
            if why.startswith("S4"):
                taken.add(candidate.case_id)  # recently audited: passed over for every sampler
            continue
        draw.picks.append(Pick(candidate, reason))
        taken.add(candidate.case_id)


def random_draw(
    pool: Sequence[Candidate],
    quota: int,
    auditor_id: int,
    on: date,
    seed: int,
    taken: set[int],
    reason: str,
) -> Draw:
    """S3: a seeded random draw; the same pool and seed give the same picks."""
    ordered = sorted((c for c in pool if in_pool(c, on)), key=lambda c: c.case_id)
    random.Random(seed).shuffle(ordered)
    draw = Draw()
    _take(draw, ordered, quota, auditor_id, on, taken, reason)
    return draw


def team_quota(case_holders: int) -> int:
    """S6 and S9: at least 3 a month, and enough to reach every case holder in two months."""
    return max(MONTHLY_QUOTA, math.ceil(case_holders / 2))


def team_draw(
    pool: Sequence[Candidate],
    case_holders: Sequence[int],
    last_sampled: dict[int, date],
    auditor_id: int,
    on: date,
    taken: set[int],
    weaker: dict[int, str] | None = None,
) -> Draw:
    """S6 with S2: case holders sampled longest ago first; for each, their compliance queue.
    H4: once S6's share of the month is drawn (half the holders, rounded up), each holder in
    `weaker` (staff id: why) has one more case than the rotation would give them, in the slots
    the quota leaves, before the rotation goes on."""
    holders = sorted(case_holders, key=lambda s: (last_sampled.get(s, date.min), s))
    queues = {
        s: sorted(
            (c for c in pool if c.case_manager_id == s and in_pool(c, on)),
            key=lambda c: (c.compliance_audited, c.opened_on, c.case_id),
        )
        for s in holders
    }
    quota = team_quota(len(holders))
    s6_share = math.ceil(len(holders) / 2)
    extra: list[int] = []
    if weaker and quota > s6_share:
        # H4 gives a weaker holder a case they would not have had this month: a second one if
        # S6's share takes them, else one the rotation's spare slots would not have reached.
        plain = team_draw(pool, case_holders, last_sampled, auditor_id, on, set(taken))
        in_share = {p.candidate.case_manager_id for p in plain.picks[:s6_share]}
        reached = {p.candidate.case_manager_id for p in plain.picks}
        extra = [s for s in holders if s in weaker and (s in in_share or s not in reached)]
    draw = Draw()
    # Round after round over the holders until the quota is met or every queue is spent.
    while len(draw.picks) < quota and any(queues.values()):
        for holder in holders:
            if extra and len(draw.picks) >= s6_share:
                for weak in extra:  # H4, once: S6's share is already drawn
                    _next(draw, queues[weak], quota, auditor_id, on, taken, (weaker or {})[weak])
                extra = []
            last = last_sampled.get(holder)
            why = (
                "S6: case holder not sampled before"
                if last is None
                else f"S6: case holder last sampled {last}"
            )
            _next(draw, queues[holder], quota, auditor_id, on, taken, why, queue_reason=True)
    return draw


def _next(
    draw: Draw,
    queue: list[Candidate],
    quota: int,
    auditor_id: int,
    on: date,
    taken: set[int],
    why: str,
    queue_reason: bool = False,
) -> None:
    """The first case of a holder's queue that may be audited, if the quota has room."""
    while queue and len(draw.picks) < quota:
        candidate = queue.pop(0)
        before = len(draw.picks)
        reason = why
        if queue_reason:
            reason += (
                "; S2: oldest case with no compliance audit"
                if not candidate.compliance_audited
                else "; S2: oldest case"
            )
        _take(draw, [candidate], before + 1, auditor_id, on, taken, reason)
        if len(draw.picks) > before:
            return


def families_missing(sample: Iterable[Candidate], eligible: Iterable[Candidate]) -> list[str]:
    """S5: the families of MIX_FAMILIES the eligible pool has but the sample lacks."""
    have = {c.order_family for c in sample}
    available = {c.order_family for c in eligible}
    return [f for f in MIX_FAMILIES if f in available and f not in have]


def enforce_mix(
    draw: Draw,
    all_picks: Sequence[Candidate],
    pool: Sequence[Candidate],
    auditor_id: int,
    on: date,
    seed: int,
    taken: set[int],
) -> list[str]:
    """S5: swap random picks of `draw` for cases of missing families; returns the rules applied."""
    applied = []
    rng = random.Random(seed + 1)
    sample = list(all_picks)
    for family in MIX_FAMILIES:
        eligible = [
            c
            for c in sorted(pool, key=lambda c: c.case_id)
            if c.order_family == family
            and in_pool(c, on)
            and c.case_id not in taken
            and rejection_reason(c, auditor_id, on) is None
        ]
        if family not in families_missing(sample, eligible):
            continue
        replacement = rng.choice(eligible)
        # Replace a pick whose family is not needed for the mix, latest first; else add one.
        spare = [i for i, p in enumerate(draw.picks) if _replaceable(p.candidate, sample)]
        reason = f"S5: a {family} case, so the month's sample holds Referral Orders, YROs and DTOs"
        if spare:
            removed = draw.picks.pop(spare[-1])
            sample.remove(removed.candidate)
            taken.discard(removed.candidate.case_id)
            applied.append(f"S5: {removed.candidate.case_ref} replaced by a {family} case")
        else:
            applied.append(f"S5: a {family} case added")
        draw.picks.append(Pick(replacement, reason))
        sample.append(replacement)
        taken.add(replacement.case_id)
    return applied


def _replaceable(candidate: Candidate, sample: list[Candidate]) -> bool:
    if candidate.order_family not in MIX_FAMILIES:
        return True
    return sum(1 for c in sample if c.order_family == candidate.order_family) > 1


def makeup(cases: Iterable[Candidate]) -> dict[str, dict[str, int]]:
    """S5: the make-up by order type, gender, ethnicity (the 2021 census's five top-level groups
    and its detailed categories) and age band."""
    cases = list(cases)
    return {
        "order_type": dict(sorted(Counter(c.order_family for c in cases).items())),
        "gender": dict(sorted(Counter(c.gender for c in cases).items())),
        "ethnic_group": dict(sorted(Counter(ethnic_group(c.ethnicity) for c in cases).items())),
        "ethnicity": dict(sorted(Counter(c.ethnicity for c in cases).items())),
        "age_band": dict(sorted(Counter(c.age_band for c in cases).items())),
    }
