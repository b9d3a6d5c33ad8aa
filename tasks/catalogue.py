"""The catalogue of jobs: every job the timetable can name, once, with its plain function.

A job is a short composition of steps (`tasks/steps.py`) for one day. Whoever runs it says how a
step runs: `directly` (the command line, `yotqa simulate`) or as a Prefect task (`tasks/jobs.py`,
for the flows). Everything else reads this catalogue: the flows and deployments (one per job
the timetable names, its description from the timetable's rows), the `yotqa run` commands and
their help (the job's docstring), `yotqa simulate` and the deployment test. Adding a job is one
function here and one entry in JOBS; the timetable row that names it gives it its schedule.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import Any, ParamSpec, Protocol, TypeVar

from tasks import steps
from tasks.programme import notices
from tasks.sampling.report import makeup_markdown
from tasks.timetable import Entry, Timetable
from tasks.workdays import Month, Quarter, financial_year

P = ParamSpec("P")
R = TypeVar("R")


class Run(Protocol):
    """How a job runs each of its steps."""

    def __call__(self, step: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...


def directly(step: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a step as a plain call (the command line, `yotqa simulate`)."""
    return step(*args, **kwargs)


@dataclass(frozen=True)
class Artifact:
    """What a flow run shows in the Prefect UI: a table, a markdown page or a link."""

    key: str
    description: str | None = None
    table: list[dict[str, Any]] | None = None
    markdown: str | None = None
    link: str | None = None
    link_text: str | None = None


@dataclass
class Outcome:
    """What a job did: `result` for the flow run and tests, `said` for the command line,
    `artifacts` for the Prefect UI."""

    result: dict[str, Any]
    said: list[str] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    work: Callable[..., Outcome]  # (day, run=directly, **its own options) -> Outcome
    command: str | None = ""  # its `yotqa run` command ("" for its name), None for none

    @property
    def name(self) -> str:
        """The flow's and the deployment's name, as the timetable's `flow:` field names it."""
        return self.work.__name__.replace("_", "-")

    @property
    def run_command(self) -> str | None:
        return self.name if self.command == "" else self.command

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.work) or ""

    def rows(self, timetable: Timetable) -> list[Entry]:
        """The timetable rows this job serves (several rows may share one job)."""
        return [e for e in timetable.entries if e.flow == self.name]

    def __call__(self, day: date, run: Run = directly, **options: Any) -> Outcome:
        return self.work(day, run, **options)


def _slug(period: str) -> str:
    return period.replace("-", "").lower()


def _emails(sent: dict[str, Any]) -> dict[str, Any]:
    """The send step's counts, for a flow's result."""
    return {k: v for k, v in sent.items() if k != "summary"}


# The jobs ---------------------------------------------------------------------------------


def sample_and_assign(day: date, run: Run = directly) -> Outcome:
    """T1, T4, T11: draw the management team's audit sample for the month, assign it, and send the emails."""
    period = str(Month.of(day))
    drawn = run(steps.draw_and_assign, day)
    report = run(steps.selection_report, period)
    path = run(steps.export_selections, period)
    sent = run(steps.send_outbox)
    if drawn["created"]:
        said = [
            f"The monthly sample for {period}: {len(drawn['audits'])} audits assigned from a pool "
            f"of {drawn['pool_size']} eligible cases; {drawn['rejections']} passed over; "
            f"{drawn['emails']} emails queued.",
            f"Emails: {sent['summary']}",
        ]
    else:
        said = [
            f"The monthly sample for {period} was already drawn: nothing changed, nothing sent (S11)."
        ]
    return Outcome(
        {
            "period": period,
            "created": drawn["created"],
            "audits": len(drawn["audits"]),
            **_emails(sent),
        },
        said,
        [
            Artifact(
                f"selection-{_slug(period)}",
                f"Audits assigned for {period} (case references only)",
                table=report["selections"],
            ),
            Artifact(
                f"sample-makeup-{_slug(period)}",
                f"Sample make-up against the caseload, {period} (S5)",
                markdown=makeup_markdown(report),
            ),
            Artifact(
                f"selections-xlsx-{_slug(period)}",
                "The record of all cases selected (S12)",
                link=f"file://{path}",
                link_text=f"selections-{period}.xlsx",
            ),
        ],
    )


def chase_overdue(day: date, run: Run = directly) -> Outcome:
    """The daily chase (E2): reminders, chases and escalations, one digest per person; then send."""
    report = run(steps.chase_items, day)
    sent = run(steps.send_outbox)
    said = [] if report["steps"] or report["reassigned"] else [f"Nothing to chase on {day}."]
    said += [
        f"{s['step']:>12}  case {s['case']}  {s['item']}  to {s['to']}" for s in report["steps"]
    ]
    if report["reassigned"]:
        said.append(f"{report['reassigned']} audits of staff who have left were reassigned.")
    said.append(f"{report['digests']} digests queued. Emails: {sent['summary']}")
    return Outcome(
        {
            "day": day.isoformat(),
            "steps": len(report["steps"]),
            "digests": report["digests"],
            "reassigned": report["reassigned"],
            "arrived_by_link": len(report["arrived"]),
            **_emails(sent),
        },
        said,
        [
            Artifact(
                f"chase-{day:%Y%m%d}",
                f"What was chased on {day}, at which step, to whom",
                table=report["steps"]
                or [{"item": "-", "case": "-", "step": "nothing due", "to": "-"}],
            ),
            Artifact(
                f"web-{day:%Y%m%d}",
                "What people did through their email links on the working day before "
                f"{day} (and any days off since)",
                table=report["arrived"]
                or [{"when": "-", "what": "nothing", "audit": "-", "case": "-", "by": "-"}],
            ),
        ],
    )


def _report_artifacts(
    name: str, result: dict[str, Any], table: list[dict[str, Any]], description: str
) -> list[Artifact]:
    """A monthly report's figures as a table, and a link to its spreadsheet."""
    period = str(result["period"])
    return [
        Artifact(
            f"{name}-{_slug(period)}",
            f"{description}, {period}",
            table=table or [{"result": "nothing this month"}],
        ),
        Artifact(
            f"{name}-xlsx-{_slug(period)}",
            link=f"file://{result['path']}",
            link_text=f"{name}-{period}.xlsx",
        ),
    ]


def case_level_data(day: date, run: Run = directly) -> Outcome:
    """T2: write the month's case-level data set (XLSX) for the management meeting."""
    result = run(steps.case_level_data_set, day)
    figures = "; ".join(f"{k} {v}" for k, v in result["summary"].items())
    return Outcome(
        result,
        [f"Case-level data set for {result['period']}: {figures}. Written to {result['path']}"],
        _report_artifacts(
            "case-level-data",
            result,
            [{"figure": k, "value": v} for k, v in result["summary"].items()],
            "Case-level data set",
        ),
    )


def _monthly_report(
    day: date,
    run: Run,
    step: Callable[[date], dict[str, Any]],
    name: str,
    said: str,
    shown: str,
    table: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> Outcome:
    """A monthly report (T3, F1, F2): written and sent; what it says and shows is `said` and
    `shown`, filled in from its result, and `table` of its result."""
    result = run(step, day)
    sent = run(steps.send_outbox)
    return Outcome(
        {**result, **_emails(sent)},
        [f"{said.format(**result)} Written to {result['path']}. Emails: {sent['summary']}"],
        _report_artifacts(name, result, table(result), shown.format(**result)),
    )


def exception_report(day: date, run: Run = directly) -> Outcome:
    """T3: the exception report for data cleansing; each team manager is sent their team's list."""
    said = (
        "Exceptions for {period}: {exceptions} now, {fixed} fixed since last month; "
        "{emails} team managers told."
    )
    shown = "Exceptions for data cleansing ({fixed} fixed since last month)"
    return _monthly_report(day, run, steps.exception_report, "exceptions", said, shown, _by_rule)


def _by_rule(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"rule": k, "exceptions": v} for k, v in sorted(result["by_rule"].items())]


def team_audits_report(day: date, run: Run = directly) -> Outcome:
    """Fig. 2: the month's report on cases audited by team managers, to the service manager."""
    said = "Cases audited by team managers, {period}: {managers} managers."
    shown = "Cases audited by team managers"
    table = itemgetter("rows")
    return _monthly_report(day, run, steps.team_audits_report, "team-audits", said, shown, table)


def feedback_report(day: date, run: Run = directly) -> Outcome:
    """Fig. 2: service-user feedback data for managers, this month and the year to date."""
    said = "Service-user feedback, {period}: {this_month} items this month."
    shown = "Service-user feedback"
    table = itemgetter("by_source")
    return _monthly_report(day, run, steps.feedback_report, "feedback", said, shown, table)


def _pack_artifacts(name: str, result: dict[str, Any]) -> list[Artifact]:
    slug = _slug(str(result["period"]))
    return [
        Artifact(
            f"{name}-{slug}",
            f"{name} {result['period']} ({result['status']})",
            markdown=str(result["markdown"]),
        ),
        Artifact(f"{name}-pdf-{slug}", link=f"file://{result['pdf']}", link_text=f"{name} PDF"),
        Artifact(f"{name}-html-{slug}", link=f"file://{result['html']}", link_text=f"{name} HTML"),
    ]


def quarterly_pack(day: date, run: Run = directly, quarter: str | None = None) -> Outcome:
    """T10: the quarterly QA progress report for the quarter before the day (or `quarter`), emailed."""
    period = quarter or str(Quarter.containing(day).previous())
    result = run(steps.compile_quarterly_pack, period, day)
    sent = run(steps.send_outbox)
    return Outcome(
        {**result, **_emails(sent)},
        [f"Quarterly pack {period}: {result['status']}, {result['pages']} pages."],
        _pack_artifacts("quarterly-pack", result),
    )


def annual_pack(day: date, run: Run = directly, year: int | None = None) -> Outcome:
    """T8 and T13: the annual framework review pack and data-quality spot check, emailed.

    Run in January (Appendix 5), it covers the financial year in progress: three quarters closed
    and frozen, the fourth as it stands; `year` compiles any other.
    """
    result = run(steps.compile_annual_pack, year or financial_year(day), day)
    sent = run(steps.send_outbox)
    return Outcome(
        {**result, **_emails(sent)},
        [f"Annual pack {result['period']}, {result['pages']} pages."],
        _pack_artifacts("annual-pack", result),
    )


def self_audit(day: date, run: Run = directly, case_managers: list[str] | None = None) -> Outcome:
    """A2: ask every case manager (or those whose emails are given) to self-audit one of their own cases."""
    result = run(steps.assign_self_audits, day, case_managers)
    sent = run(steps.send_outbox)
    said = [
        f"Self-audits for {result['period']}: {len(result['audits'])} assigned, "
        f"{result['emails']} emails queued"
        + (f"; already asked this month: {len(result['already'])}" if result["already"] else "")
        + (f"; no open case to audit: {', '.join(result['no_case'])}" if result["no_case"] else "")
        + ".",
        f"Emails: {sent['summary']}",
    ]
    return Outcome(
        {"period": result["period"], "audits": len(result["audits"]), **_emails(sent)}, said
    )


def supervisee_summaries(day: date, run: Run = directly, quarter: str | None = None) -> Outcome:
    """A3, A4 (Fig. 2, §5): each case manager's quarter in a page or two, to them and their line
    manager; and the quarter's support and training needs by theme and team, to the workforce
    development lead."""
    period = quarter or str(Quarter.containing(day).previous())
    result = run(steps.send_supervisee_summaries, period, day)
    needs = run(steps.send_needs_summary, period, day)
    sent = run(steps.send_outbox)
    told = (
        "sent before"
        if needs["already"]
        else f"{needs['emails']} email queued ({needs['identified']} identified, "
        f"{needs['open']} open at the quarter's end, {needs['overdue']} overdue)"
    )
    return Outcome(
        {k: v for k, v in result.items() if k != "files"}
        | {"needs_summary_emails": needs["emails"], "needs_identified": needs["identified"]}
        | _emails(sent),
        [
            f"Supervisee summaries {period}: {result['summaries']} written, {result['emails']} "
            f"emails queued ({result['already']} sent before); support and training needs "
            f"summary: {told}. Emails: {sent['summary']}"
        ],
    )


def _notice(name: str, notice: Callable[..., notices.Notice], day: date, run: Run) -> Outcome:
    """A notice job (T4-T7, T12): the right people told in time, with the figures that help."""
    result = run(steps.queue_notice, notice, day)
    sent = run(steps.send_outbox)
    markdown = result.pop("markdown")
    figures = "; ".join(f"{k} {v}" for k, v in result["figures"])
    return Outcome(
        {**result, **_emails(sent)},
        [
            f"{result['row']} {result['task']}, {result['period']} (due by {result['due_by']}): "
            f"{figures}. {result['emails']} notices queued. Emails: {sent['summary']}"
        ],
        [
            Artifact(
                f"{name}-{_slug(str(result['period']))}",
                f"{result['row']}: {result['task']}, {result['period']}",
                markdown=markdown,
            )
        ],
    )


def audits_due(day: date, run: Run = directly) -> Outcome:
    """T4: on the month's audit deadline, where the month's audits stand, to the service manager."""
    return _notice("audits-due", notices.audits_due, day, run)


def management_meeting_pack(day: date, run: Run = directly) -> Outcome:
    """T5: the month's performance data (case-level data set) for the management meeting."""
    return _notice("management-meeting-pack", notices.meeting_data, day, run)


def quarterly_review(day: date, run: Run = directly) -> Outcome:
    """T6: last quarter's pack, audits not done and why (D4), peer audit day findings, to meeting and board."""
    return _notice("quarterly-review", notices.quarterly_review, day, run)


def staff_qa_forum(day: date, run: Run = directly) -> Outcome:
    """T7: ask the service manager to hold the staff QA forum, with the last four quarters' figures."""
    return _notice("staff-qa-forum", notices.staff_forum, day, run)


def appraisal_objectives(day: date, run: Run = directly) -> Outcome:
    """T12: each operational manager gets their case managers' QA figures and suggested objectives."""
    return _notice("appraisal-objectives", notices.appraisal_objectives, day, run)


def peer_audit_day(day: date, run: Run = directly) -> Outcome:
    """T9: plan the peer audit day (in its month), or after the day, report its results and agreement."""
    plan = run(steps.plan_peer_audit_day, day)
    period = str(plan["period"])
    said = [plan.pop("markdown")]
    artifacts = [
        Artifact(
            f"peer-audit-day-{_slug(period)}",
            f"Peer audit day {period}: participants and case files (references only)",
            markdown=said[0],
        )
    ]
    result: dict[str, Any] = {"plan": plan}
    if plan["report_due"]:
        report = run(steps.peer_audit_day_report, period)
        said += [report.pop("markdown"), f"Written to {report['xlsx']}"]
        artifacts.append(
            Artifact(
                f"peer-audit-day-report-{_slug(period)}",
                f"Peer audit day {period}: results and agreement",
                markdown=said[-2],
            )
        )
        result["report"] = report
    sent = run(steps.send_outbox)
    said.append(f"Peer audit day. Emails: {sent['summary']}")
    return Outcome({**result, **_emails(sent)}, said, artifacts)


# Each job is named after its function (sample_and_assign: "sample-and-assign"); its `yotqa run`
# command is its name but for the two an admin types most, and the packs, which `yotqa pack`
# compiles for any period.
JOBS = [
    Job(sample_and_assign, command="sample"),
    Job(chase_overdue, command="chase"),
    Job(self_audit),
    Job(supervisee_summaries),
    *(
        Job(work)
        for work in (
            case_level_data,
            exception_report,
            team_audits_report,
            feedback_report,
            audits_due,
            management_meeting_pack,
            quarterly_review,
            staff_qa_forum,
            appraisal_objectives,
            peer_audit_day,
        )
    ),
    *(Job(work, command=None) for work in (quarterly_pack, annual_pack)),
]
CATALOGUE: dict[str, Job] = {job.name: job for job in JOBS}
