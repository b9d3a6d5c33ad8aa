"""The annual framework review pack (Q3, T8): the year's four quarters side by side, and the annual
data-quality spot check (T13) across all the year's data."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import openpyxl
import sqlalchemy as sa
from markupsafe import Markup
from sqlmodel import Session, col

from models import Case, ExceptionFinding, Staff, Team
from models.base import id_column
from tasks.mail import environment
from tasks.monthly.exceptions import CHECKS, load_rules
from tasks.outputs import PackPaths
from tasks.packs import charts
from tasks.packs.quarterly import frozen_figures, narrative, quarter_figures
from tasks.packs.render import (
    PackFiles,
    long_date,
    md_cell,
    pack_css,
    write_atomically,
    write_html,
    write_pdf,
)
from tasks.workdays import Quarter
from tasks.xlsx import write_table

SPOT_CHECK_SIZE = 20
SPOT_CHECK_FIELDS = (
    "date of birth, ethnicity, order type, ROSH, vulnerability and MAPPA levels, case manager"
)


@dataclass
class AnnualPack:
    year: int
    on: date
    quarters: list[dict[str, Any]] = field(default_factory=list)  # label, state, figures
    spot_check: dict[str, Any] = field(default_factory=dict)

    kind = "annual"
    title = "annual review of the quality assurance framework"
    status = "issued"
    frozen_on = None  # each quarter says whether it was frozen: see status_line

    @property
    def label(self) -> str:
        return f"{self.year}-{(self.year + 1) % 100:02d}"

    @property
    def period(self) -> str:
        return self.label

    @property
    def status_line(self) -> str:
        return "; ".join(f"{q['label']}: {q['state']}" for q in self.quarters)

    @property
    def narrative(self) -> list[str]:
        return []


def compile_year(session: Session, year: int, on: date) -> AnnualPack:
    """Each quarter from its frozen snapshot if closed and compiled, else live; future ones empty."""
    pack = AnnualPack(year, on)
    for number in range(1, 5):
        q = Quarter(year, number)
        frozen = frozen_figures(session, q)
        if frozen is not None:
            state, figures = "frozen at close", frozen
        elif q.first_day > on:
            state, figures = "not started", None
        else:
            state = "closed, not yet compiled" if q.last_day < on else "in progress"
            figures = quarter_figures(session, q, on)
        pack.quarters.append({"label": str(q), "state": state, "figures": figures})
    pack.spot_check = spot_check(session, year, on)
    return pack


# Each row of the year's table: its label, whether it is a share, and how to read it from a
# quarter's figures.
YEAR_ROWS: list[tuple[str, bool, Callable[[dict[str, Any]], Any]]] = [
    ("audits assigned", False, lambda f: f["audits"]["totals"]["assigned"]),
    ("audits completed", False, lambda f: f["audits"]["totals"]["completed"]),
    ("completed on time", False, lambda f: f["audits"]["totals"]["on time"]),
    ("not done", False, lambda f: f["audits"]["totals"]["not done"]),
    ("judgements sufficient or better", True, lambda f: f["judgements"]["overall"]),
    ("action points raised", False, lambda f: f["actions"]["totals"]["new"]),
    ("action points completed", False, lambda f: f["actions"]["totals"]["completed"]),
    ("action points overdue at the end", False, lambda f: f["actions"]["totals"]["overdue"]),
    ("high-risk issues", False, lambda f: len(f["high_risk"])),
    ("good practice examples", False, lambda f: len(f["good_practice"])),
    ("feedback received", False, lambda f: f["feedback"]["total"]),
    ("complaints", False, lambda f: len(f["feedback"]["complaints"])),
    ("consistent difficulties", False, lambda f: len(f["difficulties"])),
]


def side_by_side(pack: AnnualPack) -> list[dict[str, Any]]:
    """One row per figure, one column per quarter (None where a quarter has no figures yet)."""
    figures = [q["figures"] for q in pack.quarters]
    rows = [
        {"figure": name, "share": is_share, "values": [read(f) if f else None for f in figures]}
        for name, is_share, read in YEAR_ROWS
    ]
    shares: dict[str, list[float | None]] = {}
    for n, f in enumerate(figures):
        for s in f["judgements"]["sections"] if f else []:
            shares.setdefault(s["section"], [None] * len(figures))[n] = s["share_ok"]
    rows += [
        {"figure": f"{section}: sufficient or better", "share": True, "values": values}
        for section, values in shares.items()
    ]
    return rows


def spot_check(session: Session, year: int, on: date) -> dict[str, Any]:
    """T13: every data-quality rule over the caseload now, the year's monthly exception counts, and
    a seeded random sample of the year's cases to check against the files by hand."""
    start, end = Quarter(year, 1).first_day, min(Quarter(year, 4).last_day, on)
    teams = dict(session.execute(sa.select(id_column(Team), col(Team.name))).tuples().all())
    rules = load_rules()
    by_rule = []
    for rule in rules:
        found = CHECKS[rule.check](session, end, rule.params)
        by_rule.append({"rule": rule.title, "cases": len(found), "fix": rule.fix})
    months = [str(m) for q in range(1, 5) for m in Quarter(year, q).months]
    monthly = dict(
        session.execute(
            sa.select(col(ExceptionFinding.period), sa.func.count())
            .where(col(ExceptionFinding.period).in_(months))
            .group_by(col(ExceptionFinding.period))
        )
        .tuples()
        .all()
    )
    in_year = session.execute(
        sa.select(col(Case.case_ref), col(Case.team_id), col(Staff.name))
        .join(Staff, col(Staff.id) == Case.case_manager_id)
        .where(
            col(Case.opened_on) <= end,
            sa.or_(col(Case.closed_on).is_(None), col(Case.closed_on) >= start),
        )
        .order_by(col(Case.case_ref))
    ).all()
    rng = random.Random(f"spot-check:{year}")  # reproducible: the same year draws the same cases
    chosen = sorted(rng.sample(in_year, min(SPOT_CHECK_SIZE, len(in_year))))
    return {
        "as_of": end.isoformat(),
        "by_rule": by_rule,
        "monthly": [{"month": m, "exceptions": monthly.get(m)} for m in months],
        "cases_in_year": len(in_year),
        "sample": [
            {"case": ref, "team": teams.get(t, "-"), "case_manager": who} for ref, t, who in chosen
        ],
        "fields": SPOT_CHECK_FIELDS,
        "seed": f"spot-check:{year}",
    }


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def year_chart(pack: AnnualPack) -> Markup:
    """Each quarter's completion rate and share sufficient or better, with its text alternative."""
    completion = []
    for q in pack.quarters:
        t = (q["figures"] or {}).get("audits", {}).get("totals")
        completion.append(t["completed"] / t["assigned"] if t and t["assigned"] else None)
    overall = [(q["figures"] or {}).get("judgements", {}).get("overall") for q in pack.quarters]
    chart = charts.quarters_side_by_side([q["label"] for q in pack.quarters], overall, completion)
    return Markup(chart)  # noqa: S704 - an <img> built by charts._image, its alt text escaped


def annual_html(
    pack: AnnualPack, service: str, web: bool = False, chart: Markup | None = None
) -> str:
    """The pack as HTML: for the PDF, or (`web`) the HTML pack (O4)."""
    rows = side_by_side(pack)
    summaries = [
        {"label": q["label"], "state": q["state"], "lines": narrative(q["figures"], None)}
        for q in pack.quarters
        if q["figures"] is not None
    ]
    return (
        environment()
        .get_template("packs/annual.html")
        .render(
            pack=pack,
            label=pack.label,
            service=service,
            web=web,
            rows=rows,
            quarters=pack.quarters,
            chart=year_chart(pack) if chart is None else chart,
            summaries=summaries,
            sc=pack.spot_check,
            compiled_on=long_date(pack.on),
            pct=_pct,
            css=pack_css(web),
        )
    )


def annual_workbook(pack: AnnualPack, service: str) -> openpyxl.Workbook:
    wb = openpyxl.Workbook()
    ws = wb.worksheets[0]  # a new workbook's one sheet
    ws.title = "Year by quarter"
    write_table(
        ws,
        ["figure", *[q["label"] for q in pack.quarters]],
        [[r["figure"], *r["values"]] for r in side_by_side(pack)]
        + [["state", *[q["state"] for q in pack.quarters]]],
    )
    sc = pack.spot_check
    write_table(
        wb.create_sheet("Data-quality rules"),
        ["rule", "cases", "fix"],
        [[r["rule"], r["cases"], r["fix"]] for r in sc["by_rule"]],
    )
    write_table(
        wb.create_sheet("Exceptions by month"),
        ["month", "exceptions"],
        [[m["month"], m["exceptions"]] for m in sc["monthly"]],
    )
    write_table(
        wb.create_sheet("Spot-check sample"),
        [
            "case",
            "team",
            "case manager",
            "fields to check",
            "checked by",
            "matches the file?",
            "note",
        ],
        [[s["case"], s["team"], s["case_manager"], sc["fields"], "", "", ""] for s in sc["sample"]],
    )
    return wb


def write_year(pack: AnnualPack, paths: PackPaths, service: str) -> PackFiles:
    """The year's PDF, HTML, XLSX and markdown, each written whole or not at all."""
    chart = year_chart(pack)
    pages = write_pdf(annual_html(pack, service, chart=chart), paths.pdf)
    html = write_html(annual_html(pack, service, web=True, chart=chart), paths.html)
    xlsx = write_atomically(paths.xlsx, lambda tmp: annual_workbook(pack, service).save(tmp))
    lines = [
        f"# Annual QA review pack {pack.label}: {md_cell(service)}",
        "",
        "| figure | " + " | ".join(q["label"] for q in pack.quarters) + " |",
        "|---|" + "---|" * len(pack.quarters),
    ]
    for r in side_by_side(pack)[:8]:
        cells = [(_pct(v) if r["share"] else ("-" if v is None else str(v))) for v in r["values"]]
        lines.append(f"| {md_cell(r['figure'])} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Data-quality spot check: {len(pack.spot_check['sample'])} cases drawn to check by hand.",
        "",
        f"The full pack: `{paths.pdf.name}` (PDF), `{paths.html.name}` (the same as a web page) "
        "and the spreadsheet beside them.",
    ]
    text = "\n".join(lines) + "\n"
    md = write_atomically(paths.md, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return PackFiles(paths.pdf, xlsx, md, pages, html)
