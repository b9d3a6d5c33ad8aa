"""A realistic synthetic youth offending service, written as import files and imported (demo-data).

The demo goes through the real importers: it writes the staff list, an earlier cases extract,
the current extract (with closures and changes of case manager in between) and feedback.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
import yaml
from sqlmodel import Session, select

from models import Case, Staff
from models.base import id_column
from models.enums import FeedbackSource, ImportKind, OrderType, Role
from models.errors import InvalidInput
from models.settings import DATA_DIR
from tasks.importing import COLUMNS, ImportReport, import_file

T = TypeVar("T")
DEMO_DOMAIN = "yot.example.org"  # every demo member of staff has an email here
_NAMES = yaml.safe_load((DATA_DIR / "demo_names.yaml").read_text(encoding="utf-8"))
FIRST_NAMES: list[str] = _NAMES["staff_first_names"]
# Never a member of staff's first name: a name in an email is then a young person's (E5 tests).
YOUNG_FIRST_NAMES: list[str] = _NAMES["young_first_names"]
SURNAMES: list[str] = _NAMES["surnames"]
FEEDBACK_THEMES: list[str] = _NAMES["feedback_themes"]
TEAMS = {  # team: (case managers, the order types it mostly holds)
    "North Locality": (5, "community"),
    "South Locality": (5, "community"),
    "City Centre": (4, "community"),
    "Prevention and Out of Court": (4, "out_of_court"),
    "Court and Resettlement": (4, "court"),
}
ETHNICITIES = [  # a youth justice caseload in an English city
    ("White British", 50),
    ("White other", 6),
    ("Mixed or multiple ethnic groups", 12),
    ("Black or Black British", 14),
    ("Asian or Asian British", 12),
    ("Other ethnic group", 3),
    ("Not stated", 3),
]
AGES = [(10, 1), (11, 2), (12, 4), (13, 8), (14, 14), (15, 20), (16, 25), (17, 26)]
ORDER_MIX = {
    "community": [
        (OrderType.REFERRAL_ORDER, 40),
        (OrderType.YRO, 35),
        (OrderType.COMMUNITY_OTHER, 8),
        (OrderType.BAIL_ISS, 10),
        (OrderType.DTO_LICENCE, 7),
    ],
    "out_of_court": [(OrderType.OUT_OF_COURT, 90), (OrderType.REFERRAL_ORDER, 10)],
    "court": [
        (OrderType.DTO_CUSTODY, 25),
        (OrderType.DTO_LICENCE, 30),
        (OrderType.REMAND, 15),
        (OrderType.BAIL_ISS, 20),
        (OrderType.YRO, 10),
    ],
}
DURATION_DAYS = {  # how long each kind of case stays open: (shortest, longest)
    OrderType.OUT_OF_COURT: (56, 150),
    OrderType.REFERRAL_ORDER: (90, 365),
    OrderType.YRO: (180, 730),
    OrderType.COMMUNITY_OTHER: (90, 365),
    OrderType.BAIL_ISS: (30, 150),
    OrderType.REMAND: (20, 150),
    OrderType.DTO_CUSTODY: (60, 360),
    OrderType.DTO_LICENCE: (90, 360),
}


def _pick(rng: random.Random, weighted: Sequence[tuple[T, int]]) -> T:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


@dataclass(frozen=True)
class _DemoCase:
    """A case's row in the current extract, and in the earlier one if it was open then."""

    current: dict[str, str]
    earlier: dict[str, str] | None


@dataclass
class DemoFiles:
    staff: Path
    earlier_cases: Path
    earlier_as_of: date
    cases: Path
    feedback: Path
    as_of: date
    notes: list[str] = field(default_factory=list)


def write_demo_files(directory: Path, *, seed: int, as_of: date, service: str = "") -> DemoFiles:
    """Write the demo service's import files for `as_of` under `directory`; same seed, same files.

    `service` (e.g. "S001") prefixes team names, email domains and case references, so that
    many demo services can share one database (the benchmarks' national estate).
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    names = iter(rng.sample([(f, s) for f in FIRST_NAMES for s in SURNAMES], 60))

    def person() -> tuple[str, str]:
        first, last = next(names)
        return f"{first} {last}", f"{first}.{last}".lower().replace("-", "") + f"@{DEMO_DOMAIN}"

    staff: list[dict[str, str]] = []

    def add(role: Role, team: str, manager: str, active: bool = True) -> str:
        name, email = person()
        staff.append(
            {
                "email": email,
                "name": name,
                "role": role.value,
                "team": team,
                "line_manager_email": manager,
                "active": "yes" if active else "no",
            }
        )
        return email

    head = add(Role.HEAD_OF_SERVICE, "", "")
    service_manager = add(Role.SERVICE_MANAGER, "", head)
    qa = add(Role.QA_MANAGER, "", service_manager)
    add(Role.PERFORMANCE_ANALYST, "", qa)
    add(Role.WORKFORCE_DEVELOPMENT_LEAD, "", service_manager)
    case_managers: dict[str, list[str]] = {}
    for team, (count, _) in TEAMS.items():
        manager = add(Role.OPERATIONAL_MANAGER, team, service_manager)
        case_managers[team] = [add(Role.CASE_MANAGER, team, manager) for _ in range(count)]
    # One case manager left last month: their cases moved to colleagues in the current extract.
    leaver_team = "North Locality"
    leaver = add(Role.CASE_MANAGER, leaver_team, _manager_of(staff, leaver_team), active=False)

    earlier_as_of = as_of - timedelta(days=91)
    cases = _cases(rng, as_of, earlier_as_of, case_managers, leaver, leaver_team)

    files = DemoFiles(
        staff=directory / "staff.csv",
        earlier_cases=directory / f"cases-{earlier_as_of.isoformat()}.csv",
        earlier_as_of=earlier_as_of,
        cases=directory / f"cases-{as_of.isoformat()}.csv",
        feedback=directory / "feedback.csv",
        as_of=as_of,
    )
    feedback = _feedback(rng, as_of, cases)
    earlier = [c.earlier for c in cases if c.earlier is not None]
    current = [c.current for c in cases]
    if service:
        for row in [*staff, *earlier, *current, *feedback]:
            _prefix(row, service)
    _write(files.staff, COLUMNS[ImportKind.STAFF], staff)
    _write(files.earlier_cases, COLUMNS[ImportKind.CASES], earlier)
    _write(files.cases, COLUMNS[ImportKind.CASES], current)
    _write(files.feedback, COLUMNS[ImportKind.FEEDBACK], feedback)
    return files


def _prefix(row: dict[str, str], service: str) -> None:
    domain = f"@{service.lower()}.{DEMO_DOMAIN}"
    for key in ("email", "line_manager_email", "case_manager_email"):
        if row.get(key):
            row[key] = row[key].replace(f"@{DEMO_DOMAIN}", domain)
    if row.get("team"):
        row["team"] = f"{service} {row['team']}"
    for key in ("case_ref", "young_person_ref"):
        if row.get(key):
            row[key] = f"{service}-{row[key]}"


def _manager_of(staff: list[dict[str, str]], team: str) -> str:
    return next(
        s["email"]
        for s in staff
        if s["team"] == team and s["role"] == Role.OPERATIONAL_MANAGER.value
    )


def _cases(
    rng: random.Random,
    as_of: date,
    earlier_as_of: date,
    case_managers: dict[str, list[str]],
    leaver: str,
    leaver_team: str,
) -> list[_DemoCase]:
    out: list[_DemoCase] = []
    team_weights = [(t, n) for t, (n, _) in TEAMS.items()]
    young_people: list[dict[str, str]] = []
    for number in range(1, 421):
        team = _pick(rng, team_weights)
        order = _pick(rng, ORDER_MIX[TEAMS[team][1]])
        # Recent openings are more common: most of the open caseload started within the year.
        opened = as_of - timedelta(days=int(730 * rng.random() ** 1.6) + 1)
        low, high = DURATION_DAYS[order]
        ends = opened + timedelta(days=rng.randint(low, high))
        closed = ends if ends <= as_of else None
        yp = rng.choice(young_people) if young_people and rng.random() < 0.08 else None
        if yp is None or not 10 <= _age(yp["date_of_birth"], opened) <= 17:
            age = _pick(rng, AGES)
            born = opened - timedelta(days=int(365.25 * age) + rng.randint(0, 364))
            gender = rng.choices(["male", "female", "not_known"], weights=[84, 15, 1])[0]
            first = rng.choice(YOUNG_FIRST_NAMES)
            yp = {
                "young_person_ref": f"YP{rng.randint(100000, 999999)}",
                "young_person_name": f"{first} {rng.choice(SURNAMES)}",
                "date_of_birth": born.isoformat(),
                "gender": gender,
                "ethnicity": _pick(rng, ETHNICITIES),
            }
            young_people.append(yp)
        rosh = _pick(rng, [("low", 55), ("medium", 34), ("high", 9), ("very_high", 2)])
        if order is OrderType.OUT_OF_COURT and rng.random() < 0.3:
            rosh = ""
        mappa = ""
        if rosh in ("high", "very_high") and rng.random() < 0.5:
            mappa = _pick(rng, [("level_1", 70), ("level_2", 25), ("level_3", 5)])
        holder = rng.choice(case_managers[team])
        if team == leaver_team and rng.random() < 0.25:
            holder = leaver
        final = holder
        if (
            holder == leaver
            and (closed is None or closed > earlier_as_of)
            or closed is None
            and rng.random() < 0.06
        ):
            final = rng.choice(case_managers[team])
        row = {
            "case_ref": f"YJ{opened.year % 100:02d}-{number:05d}",
            **yp,
            "order_type": order.value,
            "opened_on": opened.isoformat(),
            "closed_on": closed.isoformat() if closed else "",
            "case_manager_email": final,
            "team": team,
            "social_care_status": _pick(
                rng,
                [
                    ("none", 60),
                    ("child_in_need", 15),
                    ("child_protection", 7),
                    ("looked_after", 13),
                    ("care_leaver", 5),
                ],
            ),
            "rosh_level": rosh,
            "vulnerability_level": _pick(
                rng, [("low", 45), ("medium", 38), ("high", 15), ("very_high", 2)]
            ),
            "mappa_level": mappa,
        }
        earlier = None
        if opened <= earlier_as_of:
            earlier = {
                **row,
                "case_manager_email": holder,
                "closed_on": closed.isoformat() if closed and closed <= earlier_as_of else "",
            }
        out.append(_DemoCase(current=row, earlier=earlier))
    return out


def _age(born: str, on: date) -> int:
    b = date.fromisoformat(born)
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


def _feedback(rng: random.Random, as_of: date, cases: list[_DemoCase]) -> list[dict[str, str]]:
    rows = []
    sources = [
        (FeedbackSource.VIEWPOINT_SURVEY, 30),
        (FeedbackSource.EXIT_SURVEY, 30),
        (FeedbackSource.COMPLAINT, 10),
        (FeedbackSource.COMPLIMENT, 15),
        (FeedbackSource.PROFESSIONAL_FEEDBACK, 10),
        (FeedbackSource.CASE_MANAGEMENT_REVIEW, 5),
    ]
    closed = [c.current for c in cases if c.current and c.current["closed_on"]]
    for _ in range(64):
        source = _pick(rng, sources)
        case = rng.choice(closed)
        received = date.fromisoformat(case["closed_on"]) + timedelta(days=rng.randint(1, 40))
        if received > as_of or received < as_of - timedelta(days=365):
            continue
        themes = rng.sample(FEEDBACK_THEMES, rng.randint(1, 3))
        summary, lessons, resolved = _feedback_text(rng, source, themes, received)
        rows.append(
            {
                "received_on": received.isoformat(),
                "source": source.value,
                "team": case["team"],
                "case_ref": case["case_ref"]
                if source is not FeedbackSource.PROFESSIONAL_FEEDBACK
                else "",
                "themes": ";".join(themes),
                "summary": summary,
                "lessons_learnt": lessons,
                "resolved_on": resolved.isoformat() if resolved and resolved <= as_of else "",
            }
        )
    return sorted(rows, key=lambda r: r["received_on"])


def _feedback_text(
    rng: random.Random, source: FeedbackSource, themes: list[str], received: date
) -> tuple[str, str, date | None]:
    topic = " and ".join(themes)
    if source is FeedbackSource.COMPLAINT:
        return (
            f"Parent complained about {topic}.",
            f"Team to review practice on {themes[0]}; discussed at team meeting.",
            received + timedelta(days=rng.randint(5, 28)),
        )
    if source is FeedbackSource.CASE_MANAGEMENT_REVIEW:
        return (
            f"Case management review identified learning on {topic}.",
            f"Learning on {themes[0]} shared at the staff QA forum.",
            None,
        )
    if source is FeedbackSource.COMPLIMENT:
        return f"Compliment from a family about {topic}.", "", None
    if source is FeedbackSource.PROFESSIONAL_FEEDBACK:
        return f"Partner agency feedback on {topic}.", "", None
    score = rng.randint(2, 5)
    return f"Young person rated the service {score} out of 5; comments on {topic}.", "", None


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def holds_a_service(session: Session) -> bool:
    """Whether the database already holds staff or cases (a real service, or a demo loaded before)."""
    return any(
        session.execute(sa.select(id_column(table)).limit(1)).first() is not None
        for table in (Staff, Case)
    )


def is_demo_service(session: Session) -> bool:
    """Whether every member of staff is the demo service's (their email at the demo's domain)."""
    emails = session.exec(select(Staff.email))
    return all(e.endswith(DEMO_DOMAIN) for e in emails)


def load_demo_service(
    session: Session, folder: Path, *, seed: int, as_of: date
) -> list[ImportReport]:
    """Write the demo service's files under `folder` and import them, into an empty database
    only: demo people must never mix with a real service's."""
    if holds_a_service(session):
        raise InvalidInput(
            "the database already holds staff or cases; demo data is for an empty "
            "database (point YOTQA_DATABASE_URL at a new one, or use --if-empty)"
        )
    return load_demo(session, write_demo_files(folder, seed=seed, as_of=as_of))


def load_demo(session: Session, files: DemoFiles) -> list[ImportReport]:
    """Import the demo files in order through the real importers."""
    return [
        import_file(session, ImportKind.STAFF, files.staff, as_of=files.as_of),
        import_file(session, ImportKind.CASES, files.earlier_cases, as_of=files.earlier_as_of),
        import_file(session, ImportKind.CASES, files.cases, as_of=files.as_of),
        import_file(session, ImportKind.FEEDBACK, files.feedback, as_of=files.as_of),
    ]
