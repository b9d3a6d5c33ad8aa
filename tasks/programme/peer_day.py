"""T9: the annual team (peer) audit day: participants chosen, case files allocated, everyone told,
and the day's results reported, with how often two auditors of the same case agreed.

S9: every participant audits 2 case files; at least 1 operational manager, the QA manager, the
workforce development lead and 6 case managers take part. S10: nobody audits their own case.
To measure agreement, participants are paired and each pair audits one case in common (the
other case each is their own to audit), so about a third of the day's cases are double-marked.
Draws are seeded and the seed stored (S3), so the allocation can be reproduced.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Audit, Case, SamplingRun, Staff
from models.base import id_of
from models.enums import (
    AuditKind,
    AuditStatus,
    Judgement,
    Role,
    SamplingKind,
    SelectionMethod,
)
from tasks.moderation import answers_of, cohen_kappa, kappa_text, paired
from tasks.outputs import Outputs
from tasks.programme.common import entry_for, people, queue, workbook
from tasks.sampling.monthly import PlannedRun, record
from tasks.sampling.notify import notify
from tasks.sampling.pool import load_pool
from tasks.sampling.rules import (
    Candidate,
    Draw,
    Pick,
    Rejection,
    in_pool,
    rejection_reason,
    seed_for,
)
from tasks.workdays import Month

MINIMUM = {
    Role.OPERATIONAL_MANAGER: 1,
    Role.QA_MANAGER: 1,
    Role.WORKFORCE_DEVELOPMENT_LEAD: 1,
    Role.CASE_MANAGER: 6,
}
CASES_EACH = 2
GRADES = [Judgement.INSUFFICIENT, Judgement.SUFFICIENT, Judgement.GOOD, Judgement.EXCELLENT]


@dataclass
class PeerPlan:
    period: str
    day: date
    on: date
    created: bool
    participants: list[dict[str, Any]] = field(default_factory=list)
    audits: int = 0
    cases: int = 0
    double_marked: int = 0
    emails: int = 0
    shortfall: list[str] = field(default_factory=list)
    not_planned: str = ""  # why nothing was planned this time

    @property
    def report_due(self) -> bool:
        """The day has passed: its results can be reported (T9R)."""
        return self.on > self.day

    def markdown(self) -> str:
        if not self.created:
            return f"# Peer audit day {self.period}\n\n{self.not_planned}.\n"
        out = [
            f"# Peer audit day, {self.day:%A %-d %B %Y}",
            "",
            f"{len(self.participants)} participants, {self.audits} audits of {self.cases} case "
            f"files; {self.double_marked} cases audited by two participants to measure agreement.",
            "",
            "| Participant | Role | Case files | Shared with |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {p['name']} | {p['role']} | {', '.join(p['cases'])} | {p['shared_with'] or '-'} |"
            for p in self.participants
        ]
        out += [""] + [f"- **Short of the minimum:** {s}" for s in self.shortfall]
        return "\n".join(out) + "\n"


def choose_participants(session: Session, seed: int) -> tuple[list[Staff], list[str]]:
    """Every operational manager, the QA manager, the workforce development lead, and 6 case
    managers drawn at random, one team after another so the day mixes teams (S9)."""
    chosen = people(session, Role.OPERATIONAL_MANAGER)
    chosen += people(session, Role.QA_MANAGER)[:1]
    chosen += people(session, Role.WORKFORCE_DEVELOPMENT_LEAD)[:1]
    holders = sorted(people(session, Role.CASE_MANAGER), key=lambda s: s.id or 0)
    random.Random(seed).shuffle(holders)
    by_team: dict[int | None, list[Staff]] = defaultdict(list)
    for h in holders:
        by_team[h.team_id].append(h)
    teams = sorted(by_team, key=lambda t: (t is None, t or 0))
    picked: list[Staff] = []
    while len(picked) < MINIMUM[Role.CASE_MANAGER] and any(by_team.values()):
        for t in teams:
            if by_team[t] and len(picked) < MINIMUM[Role.CASE_MANAGER]:
                picked.append(by_team[t].pop(0))
    chosen += picked
    counts = Counter(s.role for s in chosen)
    shortfall = [
        f"{counts[role]} {role.label.lower()}{'s' if counts[role] != 1 else ''} "
        f"(the framework asks for at least {n})"
        for role, n in MINIMUM.items()
        if counts[role] < n
    ]
    return chosen, shortfall


def allocate(
    pool: list[Candidate], participants: list[Staff], on: date, seed: int
) -> tuple[dict[int, Draw], dict[int, int]]:
    """Two case files each (S9), never the auditor's own (S10) nor one selected in the last six
    weeks (S4); pairs of participants share one case. Returns each draw and who shares with whom."""
    ordered = sorted((c for c in pool if in_pool(c, on)), key=lambda c: c.case_id)
    rng = random.Random(seed)
    rng.shuffle(ordered)
    order = list(participants)
    rng.shuffle(order)
    draws = {id_of(p): Draw() for p in order}
    partner: dict[int, int] = {}
    taken: set[int] = set()

    def take(auditors: list[Staff], reason: str) -> bool:
        for c in ordered:
            if c.case_id in taken:
                continue
            why = next(
                (w for a in auditors if (w := rejection_reason(c, id_of(a), on)) is not None),
                None,
            )
            if why:
                draws[id_of(auditors[0])].rejections.append(Rejection(c, why))
                if why.startswith("S4"):
                    taken.add(c.case_id)
                continue
            for a in auditors:
                draws[id_of(a)].picks.append(Pick(c, reason))
            taken.add(c.case_id)
            return True
        return False

    for first, second in zip(order[0::2], order[1::2], strict=False):
        if take([first, second], "T9: peer audit day, double-marked to measure agreement"):
            partner[id_of(first)], partner[id_of(second)] = id_of(second), id_of(first)
    for p in order:
        while len(draws[id_of(p)].picks) < CASES_EACH and take([p], "T9: peer audit day"):
            pass
    return draws, partner


class Organisers(TypedDict):
    to: list[Staff]
    cc: list[Staff]


def organisers(session: Session) -> Organisers:
    """Who hears of the day's plan and report: the QA manager (who leads it) and the service
    manager; copied to the operational managers and the workforce development lead."""
    return {
        "to": people(session, Role.QA_MANAGER, Role.SERVICE_MANAGER),
        "cc": people(session, Role.OPERATIONAL_MANAGER, Role.WORKFORCE_DEVELOPMENT_LEAD),
    }


def _planned(session: Session, period: Month) -> bool:
    query = select(col(SamplingRun.id)).where(
        SamplingRun.period == str(period), SamplingRun.kind == SamplingKind.PEER_AUDIT_DAY
    )
    return session.exec(query).first() is not None


def day_month(on: date) -> Month:
    """The month of the latest peer audit day on or before `on` (the timetable's T9 month)."""
    months = entry_for("peer-audit-day").months
    month = Month.of(on)
    while month.month not in months:
        month = month.next(-1)
    return month


def plan_peer_day(session: Session, on: date) -> PeerPlan:
    """Choose, allocate, record and tell: once a year, in the T9 month (a re-run changes nothing,
    S11; run in another month it plans nothing and says when the day is)."""
    entry = entry_for("peer-audit-day")
    period = day_month(on)
    day = entry.deadline(period)
    plan = PeerPlan(str(period), day, on, created=False)
    if _planned(session, period):
        plan.not_planned = "Already planned: nothing changed (S11)"
        return plan
    if period != Month.of(on):
        plan.not_planned = (
            f"Not planned: the peer audit day is planned in month {entry.months} of the timetable"
        )
        return plan
    seed = seed_for(period, "peer-audit-day")
    participants, plan.shortfall = choose_participants(session, seed)
    draws, partner = allocate(load_pool(session, on), participants, on, seed)
    runs = [
        PlannedRun(
            p,
            SamplingKind.PEER_AUDIT_DAY,
            seed,
            [],
            draws[id_of(p)],
            audit_kind=AuditKind.PEER,
            method=SelectionMethod.PEER_AUDIT_DAY,
            rules=["T9", "S9: 2 case files each", "S4", "S10", "pairs share one case"],
        )
        for p in participants
        if draws[id_of(p)].picks
    ]
    audits = record(session, period, on, runs, due=max(day, on))
    names = {p.id: p.name for p in participants}
    plan.participants = [
        {
            "name": p.name,
            "role": p.role.label,
            "cases": [pick.candidate.case_ref for pick in draws[id_of(p)].picks],
            "shared_with": names.get(partner.get(id_of(p), -1), ""),
        }
        for p in participants
    ]
    plan.audits = len(audits)
    plan.cases = len({a.case_id for a in audits})
    plan.double_marked = plan.audits - plan.cases
    plan.emails = notify(session, period, audits, key="peer-day")
    plan.emails += queue(
        session,
        key=f"peer-day-plan:{period}",
        **organisers(session),
        subject=f"Peer audit day planned for {day:%A %-d %B %Y}: {len(participants)} participants",
        paragraphs=[
            f"The annual team (peer) audit day ({entry.id}: \u201c{entry.framework}\u201d) is set for "
            f"{day:%A %-d %B %Y}. Each participant has been sent their two case files.",
            f"{plan.double_marked} cases are audited by two participants, so the report can show "
            "how often auditors agree.",
            *[f"Short of the framework's minimum: {s}." for s in plan.shortfall],
        ],
        table={
            "header": ["Participant", "Role", "Case files", "Shared with"],
            "rows": [
                [p["name"], p["role"], ", ".join(p["cases"]), p["shared_with"] or "-"]
                for p in plan.participants
            ],
        },
    )
    session.commit()
    plan.created = True
    return plan


# The report -------------------------------------------------------------------------------


@dataclass
class PeerReport:
    period: str
    day: date
    figures: list[tuple[str, str]]
    pairs: list[list[object]]
    sections: list[list[object]]
    xlsx: Path
    complete: bool

    def markdown(self) -> str:
        out = [f"# Peer audit day report, {self.period}", ""]
        out += [f"- {label}: **{value}**" for label, value in self.figures]
        return "\n".join(out) + "\n"


def agreement(
    first: dict[str, tuple[str, str]], second: dict[str, tuple[str, str]]
) -> tuple[int, int, int]:
    """(questions both answered, answered alike, judged within one grade of each other)."""
    grades = {g.value: n for n, g in enumerate(GRADES)}
    both = sorted(set(first) & set(second))
    same = sum(first[q][1] == second[q][1] for q in both)
    near = sum(
        first[q][1] == second[q][1]
        or (
            first[q][1] in grades
            and second[q][1] in grades
            and abs(grades[first[q][1]] - grades[second[q][1]]) <= 1
        )
        for q in both
    )
    return len(both), same, near


def peer_report(session: Session, period: str, root: Path) -> PeerReport:
    """The day's audits done, judgements by section, and agreement where a case was audited twice."""
    entry = entry_for("peer-audit-day")
    day = entry.deadline(Month.parse(period))
    auditor = sa.orm.aliased(Staff)
    audits = session.execute(
        sa.select(Audit, col(Case.case_ref), col(auditor.name))
        .join(auditor, col(auditor.id) == Audit.auditor_id)
        .outerjoin(Case, col(Case.id) == Audit.case_id)
        .where(col(Audit.kind) == AuditKind.PEER, col(Audit.period) == period)
        .order_by(col(Audit.case_id), col(Audit.id))
    ).all()
    status = Counter(a.status for a, _, _ in audits)
    done = [(a, ref, who) for a, ref, who in audits if a.status is AuditStatus.COMPLETED]
    answers = answers_of(session, [id_of(a) for a, _, _ in done])
    by_case: dict[str, list[tuple[Audit, str]]] = defaultdict(list)
    for a, ref, who in done:
        by_case[ref].append((a, who))
    pairs: list[list[object]] = []
    totals = Counter[str]()
    compared: list[tuple[str, str]] = []  # every pair of answers, for kappa (A5's measure)
    for ref, marks in sorted(by_case.items()):
        if len(marks) < 2:
            continue
        (a1, w1), (a2, w2) = marks[:2]
        both, same, near = agreement(answers[id_of(a1)], answers[id_of(a2)])
        compared += [(x, y) for _, _, x, y in paired(answers[id_of(a1)], answers[id_of(a2)])]
        totals.update(both=both, same=same, near=near, cases=1)
        pairs.append([ref, w1, w2, both, same, f"{same / both:.0%}" if both else "-"])
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    ok = {Judgement.SUFFICIENT.value, Judgement.GOOD.value, Judgement.EXCELLENT.value}
    for per_audit in answers.values():
        for section, value in per_audit.values():
            if value in {g.value for g in GRADES}:
                sections[section]["judged"] += 1
                sections[section]["ok"] += value in ok
    section_rows: list[list[object]] = [
        [s, c["judged"], f"{c['ok'] / c['judged']:.0%}"] for s, c in sorted(sections.items())
    ]
    rate = totals["same"] / totals["both"] if totals["both"] else None
    within_one = totals["near"] / totals["both"] if totals["both"] else None
    figures = [
        ("peer audits allocated", str(len(audits))),
        ("peer audits completed", str(status[AuditStatus.COMPLETED])),
        ("not done or still open", str(len(audits) - status[AuditStatus.COMPLETED])),
        ("cases audited twice (both done)", str(totals["cases"])),
        ("auditors agreed (same answer)", "-" if rate is None else f"{rate:.0%}"),
        ("judgements within one grade", "-" if within_one is None else f"{within_one:.0%}"),
        ("agreement beyond chance, kappa (95% CI)", kappa_text(cohen_kappa(compared))),
    ]
    path = workbook(
        Outputs(root).peer_report(period),
        {
            "Summary": (["Figure", "Value"], [list(f) for f in figures]),
            "Agreement": (
                ["Case", "Auditor 1", "Auditor 2", "Questions compared", "Agreed", "Agreement"],
                pairs,
            ),
            "Sections": (["Section", "Judged", "Sufficient or better"], section_rows),
        },
    )
    return PeerReport(
        period,
        day,
        figures,
        pairs,
        section_rows,
        path,
        complete=bool(audits) and status[AuditStatus.ASSIGNED] == 0,
    )


def latest_report(session: Session, on: date, root: Path) -> PeerReport | None:
    """The report of the most recent peer audit day in the year before `on`, if there was one."""
    since = str(Month.of(on - timedelta(days=365)))
    period = session.exec(
        select(col(SamplingRun.period))
        .where(
            SamplingRun.kind == SamplingKind.PEER_AUDIT_DAY,
            SamplingRun.period >= since,
            SamplingRun.period <= str(Month.of(on)),
        )
        .order_by(col(SamplingRun.period).desc())
    ).first()
    return peer_report(session, period, root) if period else None


def send_report(session: Session, report: PeerReport) -> int:
    """The report to the QA manager and the service manager (once per day's report)."""
    sent = queue(
        session,
        key=f"peer-day-report:{report.period}",
        **organisers(session),
        subject=f"Peer audit day report, {report.day:%-d %B %Y}",
        paragraphs=[
            f"The results of the peer audit day on {report.day:%A %-d %B %Y}, collected like any "
            "audit. Where two participants audited the same case, the share of questions they "
            "answered alike shows how consistently the audit tool is applied.",
        ],
        figures=report.figures,
        table={
            "header": ["Case", "Auditor 1", "Auditor 2", "Compared", "Agreed", "Agreement"],
            "rows": report.pairs,
        }
        if report.pairs
        else None,
        files=[report.xlsx],
    )
    session.commit()
    return sent
