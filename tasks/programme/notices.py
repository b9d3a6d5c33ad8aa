"""The timetable's meetings and annual duties (Q3): the right people told in time, with figures.

T4 the month's audits at their deadline; T5 performance data for the management meeting; T6
the quarterly review (the pack, the audits not done and why (D4), the peer audit day's
findings); T7 the staff QA forum; T12 QA objectives in the appraisal cycle. Each email is
queued once per period and recipient (E6) and names cases by reference only (E5). Files are
written under `root` (the output folder, YOTQA_OUTPUT_DIR).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import ActionPoint, Audit, Finding, Staff
from models.base import id_of
from models.enums import APART, ActionStatus, AuditKind, AuditStatus, Judgement, Role
from models.settings import get_settings
from tasks.outputs import Outputs
from tasks.packs.annual import YEAR_ROWS
from tasks.programme.common import entry_for, people, queue, workbook
from tasks.programme.peer_day import latest_report, send_report
from tasks.workdays import Month, Quarter, financial_year

MEETING = (
    Role.SERVICE_MANAGER,
    Role.HEAD_OF_SERVICE,
    Role.OPERATIONAL_MANAGER,
    Role.QA_MANAGER,
    Role.PERFORMANCE_ANALYST,
)
OK = (Judgement.SUFFICIENT, Judgement.GOOD, Judgement.EXCELLENT)
JUDGED = (Judgement.INSUFFICIENT, *OK)
OBJECTIVE_BELOW = 0.7  # T12: suggest an objective below this share sufficient or better


@dataclass
class Notice:
    """What a notice job did: for the flow run's summary and the command line."""

    row: str
    task: str
    period: str
    due_by: date
    emails: int = 0
    figures: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        out = [
            f"# {self.row}: {self.task}, {self.period}",
            "",
            f"Due by {self.due_by:%A %-d %B %Y}.",
        ]
        out += [""] + [f"- {label}: **{value}**" for label, value in self.figures]
        out += [""] + [f"- {line}" for line in self.lines]
        out += ["", f"{self.emails} emails queued."]
        out += [f"- file: `{f}`" for f in self.files]
        return "\n".join(out) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


# T4 ---------------------------------------------------------------------------------------


def audits_due(session: Session, on: date, root: Path) -> Notice:
    """T4: on the month's audit deadline, where the month's audits stand, to the service manager."""
    entry = entry_for("audits-due")
    month = Month.of(on)
    notice = Notice(entry.id, entry.task, str(month), entry.deadline(month))
    auditor = sa.orm.aliased(Staff)
    rows = session.execute(
        sa.select(col(Audit.status), col(Audit.kind), col(auditor.name))
        .join(auditor, col(auditor.id) == Audit.auditor_id)
        .where(
            col(Audit.period) == str(month),
            col(Audit.status) != AuditStatus.WITHDRAWN,
            col(Audit.kind).not_in(APART),  # T4 is the managers' audits (A5, A2 apart)
        )
    ).all()
    by_status = Counter(status for status, _, _ in rows)
    open_by_auditor: Counter[str] = Counter(
        who for status, _, who in rows if status is AuditStatus.ASSIGNED
    )
    done_by_auditor: Counter[str] = Counter(
        who for status, _, who in rows if status is AuditStatus.COMPLETED
    )
    notice.figures = [
        ("audits assigned", str(len(rows))),
        ("completed", str(by_status[AuditStatus.COMPLETED])),
        ("still open", str(by_status[AuditStatus.ASSIGNED])),
        ("not done", str(by_status[AuditStatus.NOT_DONE])),
    ]
    auditors = sorted(set(open_by_auditor) | set(done_by_auditor))
    table = {
        "header": ["Auditor", "Completed", "Still open"],
        "rows": [[a, done_by_auditor[a], open_by_auditor[a]] for a in auditors],
    }
    notice.emails = queue(
        session,
        key=f"notice:{entry.id}:{month}",
        to=people(session, Role.SERVICE_MANAGER),
        cc=people(session, Role.QA_MANAGER),
        subject=f"{month} audits: deadline {notice.due_by:%-d %B}, {by_status[AuditStatus.ASSIGNED]} still open",
        paragraphs=[
            f"Today is the deadline for {month}'s case-file and supervision-file audits ({entry.id}: "
            f"\u201c{entry.framework}\u201d). Where they stand:",
            "Auditors with audits still open have their reminders; from tomorrow the daily chase "
            "copies their line managers (E2). An audit not done must have its reason recorded (D4).",
        ],
        figures=notice.figures,
        table=table,
    )
    session.commit()
    return notice


# T5 ---------------------------------------------------------------------------------------


def meeting_data(session: Session, on: date, root: Path) -> Notice:
    """T5: the month's performance data for the management meeting (the case-level data set)."""
    from tasks.monthly.case_level import build_case_level, write_case_level

    entry = entry_for("management-meeting-pack")
    month = Month.of(on)
    notice = Notice(entry.id, entry.task, str(month), entry.deadline(month))
    data = build_case_level(session, on)
    path = write_case_level(data, Outputs(root).case_level_data(str(month)))
    overdue = session.exec(
        select(sa.func.count())
        .select_from(ActionPoint)
        .where(ActionPoint.status == ActionStatus.OPEN, ActionPoint.deadline < on)
    ).one()
    notice.figures = [(k, str(v)) for k, v in data.summary().items()]
    notice.figures.append(("action points overdue", str(overdue)))
    notice.files = [str(path)]
    notice.emails = queue(
        session,
        key=f"notice:{entry.id}:{month}",
        to=people(session, *MEETING),
        subject=f"Performance data for the management meeting, {month}",
        paragraphs=[
            f"The management meeting reviews and scrutinises the YOT's performance data by "
            f"{notice.due_by:%A %-d %B} ({entry.id}: \u201c{entry.framework}\u201d).",
            "The case-level data set is attached (case references only); the headline figures:",
        ],
        figures=notice.figures,
        files=[path],
    )
    session.commit()
    return notice


# T6 ---------------------------------------------------------------------------------------


def quarterly_review(session: Session, on: date, root: Path) -> Notice:
    """T6: the management meeting and board review last quarter's pack, the audits not done and
    why (D4), and the peer audit day's findings."""
    from tasks.packs.figures import Scope, audit_figures
    from tasks.packs.quarterly import compile_quarter, frozen_figures, quarter_figures
    from tasks.packs.render import write_quarter

    entry = entry_for("quarterly-review")
    quarter = Quarter.containing(on).previous()
    notice = Notice(entry.id, entry.task, str(quarter), entry.deadline(Month.of(on)))
    paths = Outputs(root).quarterly_pack(str(quarter))
    pdf = paths.pdf
    if not pdf.exists():  # T10 has not run (or its files were moved): compile it now
        pack = compile_quarter(session, quarter, on)
        write_quarter(pack, paths, get_settings().service_name)
    figures = frozen_figures(session, quarter) or quarter_figures(session, quarter, on)
    # D4 as the meeting meets: the pack's figures are frozen at close, but reasons recorded since
    # (an audit marked not done after the quarter ended) are reported as they stand now.
    not_done = audit_figures(session, Scope.of(session, quarter, on))["not_done"]
    notice.figures = [
        (label, _pct(read(figures)) if is_share else str(read(figures)))
        for label, is_share, read in YEAR_ROWS[:8]
    ]
    files = [pdf, *([paths.html] if paths.html.exists() else [])]  # O4: packs before it had none
    peer = latest_report(session, on, root)
    if peer is not None:
        notice.emails += send_report(session, peer)  # what is in by the review, once
        notice.figures += peer.figures
        files.append(peer.xlsx)
    notice.files = [str(f) for f in files]
    notice.lines = [f"not done: case {n['case']} ({n['auditor']}): {n['reason']}" for n in not_done]
    notice.emails += queue(
        session,
        key=f"notice:{entry.id}:{quarter}",
        to=[p.email for p in people(session, *MEETING)] + get_settings().board_emails,
        subject=f"Quarterly QA review {quarter}: for the management meeting by {notice.due_by:%-d %B}",
        paragraphs=[
            f"The management meeting reviews the quarterly quality assurance report for {quarter} "
            f"by {notice.due_by:%A %-d %B} ({entry.id}: \u201c{entry.framework}\u201d). "
            "The pack is attached" + (", with the peer audit day's report." if peer else "."),
            f"{len(not_done)} audits were not done by their deadline"
            + (": each is listed with the reason given (D4)." if not_done else "."),
        ],
        figures=notice.figures,
        table={
            "header": ["Case", "Audit", "Auditor", "Due", "Status", "Reason"],
            "rows": [
                [n["case"], n["kind"], n["auditor"], n["due_on"], n["status"], n["reason"]]
                for n in not_done
            ],
        }
        if not_done
        else None,
        files=files,
    )
    session.commit()
    return notice


# T7 ---------------------------------------------------------------------------------------


def year_rows(session: Session, on: date) -> tuple[list[str], list[list[object]]]:
    """The last four closed quarters side by side (frozen figures where they exist)."""
    from tasks.packs.quarterly import frozen_figures, quarter_figures

    last = Quarter.containing(on).previous()
    quarters = [last]
    for _ in range(3):
        quarters.insert(0, quarters[0].previous())
    figures = [frozen_figures(session, q) or quarter_figures(session, q, on) for q in quarters]
    rows: list[list[object]] = [
        [label, *[_pct(read(f)) if share else read(f) for f in figures]]
        for label, share, read in YEAR_ROWS
    ]
    return ["Figure", *[str(q) for q in quarters]], rows


def staff_forum(session: Session, on: date, root: Path) -> Notice:
    """T7: the service manager convenes the staff QA forum; the year's figures attached."""
    entry = entry_for("staff-qa-forum")
    year = financial_year(on)
    notice = Notice(entry.id, entry.task, str(year), entry.deadline(Month.of(on)))
    header, rows = year_rows(session, on)
    path = workbook(Outputs(root).qa_year(year, on), {"Year": (header, rows)})
    notice.files = [str(path)]
    notice.figures = [(str(r[0]), " / ".join(str(v) for v in r[1:])) for r in rows[:5]]
    notice.emails = queue(
        session,
        key=f"notice:{entry.id}:{year}",
        to=people(session, Role.SERVICE_MANAGER),
        cc=people(
            session, Role.QA_MANAGER, Role.WORKFORCE_DEVELOPMENT_LEAD, Role.OPERATIONAL_MANAGER
        ),
        subject=f"Staff QA forum: to be held by {notice.due_by:%-d %B %Y}",
        paragraphs=[
            f"The framework asks the service manager to conduct a staff quality assurance forum "
            f"by {notice.due_by:%A %-d %B} ({entry.id}: \u201c{entry.framework}\u201d).",
            f"The last four quarters' figures are attached to share with staff ({', '.join(header[1:])}); "
            "the headlines, quarter by quarter:",
        ],
        figures=notice.figures,
        files=[path],
    )
    session.commit()
    return notice


# T12 --------------------------------------------------------------------------------------


def case_manager_rows(
    session: Session, holders: list[Staff], start: date, end: date
) -> list[list[object]]:
    """Per case manager over [start, end]: audits of their cases, judgements, actions, observed."""
    ids = [id_of(h) for h in holders]
    audits = Counter[int]()
    observed: set[int] = set()
    for subject, kind in session.execute(
        sa.select(col(Audit.subject_staff_id), col(Audit.kind)).where(
            col(Audit.subject_staff_id).in_(ids),
            col(Audit.kind).not_in(APART),  # A5, A2: managers' audits only
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.completed_on).between(start, end),
        )
    ):
        if kind is AuditKind.OBSERVATION:
            observed.add(subject)
        else:
            audits[subject] += 1
    judged: dict[int, Counter[str]] = defaultdict(Counter)
    for subject, judgement in session.execute(
        sa.select(col(Audit.subject_staff_id), col(Finding.judgement))
        .join(Finding, col(Finding.audit_id) == Audit.id)
        .where(
            col(Audit.subject_staff_id).in_(ids),
            col(Audit.kind).not_in(APART),
            col(Audit.completed_on).between(start, end),
            col(Finding.judgement).in_(JUDGED),
        )
    ):
        judged[subject]["all"] += 1
        judged[subject]["ok"] += judgement in OK
    actions: dict[int, Counter[str]] = defaultdict(Counter)
    for owner, status, deadline, created in session.execute(
        sa.select(
            col(ActionPoint.owner_id),
            col(ActionPoint.status),
            col(ActionPoint.deadline),
            col(Audit.completed_on),
        )
        .join(Audit, col(Audit.id) == ActionPoint.audit_id)
        .where(col(ActionPoint.owner_id).in_(ids), col(Audit.kind).not_in(APART))
    ):
        if created is not None and start <= created <= end:
            actions[owner]["raised"] += 1
            actions[owner]["completed"] += status is ActionStatus.COMPLETED
        actions[owner]["overdue"] += status is ActionStatus.OPEN and deadline < end
    rows: list[list[object]] = []
    for h in holders:
        h_id = id_of(h)
        j = judged[h_id]
        share = j["ok"] / j["all"] if j["all"] else None
        rows.append(
            [
                h.name,
                audits[h_id],
                _pct(share),
                actions[h_id]["raised"],
                actions[h_id]["completed"],
                actions[h_id]["overdue"],
                "yes" if h_id in observed else "no",
                _suggestion(share, actions[h_id]["overdue"], h_id in observed),
            ]
        )
    return rows


def _suggestion(share: float | None, overdue: int, observed: bool) -> str:
    ideas = []
    if share is not None and share < OBJECTIVE_BELOW:
        ideas.append(f"raise audit judgements (now {share:.0%} sufficient or better)")
    if overdue:
        ideas.append(f"complete {overdue} overdue action point{'s' if overdue > 1 else ''}")
    if not observed:
        ideas.append("be observed this year (S9)")
    return "; ".join(ideas) or "maintain"


APPRAISAL_HEADER = [
    "Case manager",
    "Audits of their cases",
    "Judgements sufficient or better",
    "Action points raised",
    "Completed",
    "Overdue now",
    "Observed",
    "Suggested QA objective",
]


def appraisal_objectives(session: Session, on: date, root: Path) -> Notice:
    """T12: each operational manager gets their case managers' QA figures for the last twelve
    months, with a suggested objective for each, to set in the appraisal cycle."""
    entry = entry_for("appraisal-objectives")
    year = financial_year(on)
    notice = Notice(entry.id, entry.task, str(year), entry.deadline(Month.of(on)))
    start = on - timedelta(days=365)
    for manager in people(session, Role.OPERATIONAL_MANAGER):
        holders = list(
            session.exec(
                select(Staff)
                .where(
                    Staff.line_manager_id == manager.id,
                    Staff.active == sa.true(),
                    Staff.role == Role.CASE_MANAGER,
                )
                .order_by(col(Staff.name))
            )
        )
        if not holders:
            continue
        rows = case_manager_rows(session, holders, start, on)
        path = workbook(
            Outputs(root).appraisal(year, id_of(manager), on),
            {"Case managers": (APPRAISAL_HEADER, rows)},
        )
        notice.files.append(str(path))
        notice.emails += queue(
            session,
            key=f"notice:{entry.id}:{year}:{manager.id}",
            to=[manager],
            greeting=manager.name,
            subject=f"QA objectives for appraisals: your team's figures, by {notice.due_by:%-d %B}",
            paragraphs=[
                f"Please set objectives in relation to quality assurance in this year's appraisals by "
                f"{notice.due_by:%A %-d %B} ({entry.id}: \u201c{entry.framework}\u201d).",
                f"Your case managers' QA figures from {start:%-d %B %Y} to {on:%-d %B %Y}, each with a "
                "suggested objective, are below and attached:",
            ],
            table={"header": APPRAISAL_HEADER, "rows": rows},
            files=[path],
        )
    notice.figures = [("operational managers sent their team's figures", str(notice.emails))]
    session.commit()
    return notice


NOTICES: dict[str, Callable[[Session, date, Path], Notice]] = {
    "audits-due": audits_due,
    "management-meeting-pack": meeting_data,
    "quarterly-review": quarterly_review,
    "staff-qa-forum": staff_forum,
    "appraisal-objectives": appraisal_objectives,
}
