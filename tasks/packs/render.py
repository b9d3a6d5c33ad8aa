"""A pack's forms (Q4, O4): a tagged PDF a board member reads, the same pack as one self-contained
HTML file beside it, the same data as XLSX, and a markdown summary.

Files are written beside their final name and renamed into place, so a crash or a full disk
never leaves a half-written pack where a reader would find it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
from markupsafe import Markup

from tasks.inspection.figures import bands_table, key_question_table
from tasks.mail import TEMPLATES, environment
from tasks.outputs import PackPaths
from tasks.packs import charts
from tasks.packs.needs import open_rows, theme_team_rows
from tasks.packs.quarterly import QuarterPack
from tasks.xlsx import write_table


@dataclass(frozen=True)
class PackFiles:
    pdf: Path
    xlsx: Path
    markdown: Path
    pages: int
    html: Path


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Write to a temporary file in the same folder, then rename it over `path` (what `write`
    returns, such as the byte count of `Path.write_text`, is not used)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def long_date(day: date | str) -> str:
    day = date.fromisoformat(day) if isinstance(day, str) else day
    return f"{day:%-d %B %Y}"


def quarter_charts(f: dict[str, Any]) -> dict[str, Markup]:
    """Every chart of the quarterly pack as inline SVG (matplotlib escapes the labels it draws)."""
    fb = f["feedback"]
    made = {
        "completion": charts.completion_by_team(f["audits"]["by_team"])
        if f["audits"]["by_team"]
        else "",
        "sections": charts.judgements_by_section(f["judgements"]["sections"])
        if f["judgements"]["sections"]
        else "",
        "run": charts.run_chart(f["trend"]),
        "actions": charts.action_points(f["actions"]["by_team"]) if f["actions"]["by_team"] else "",
        "sources": charts.counts(
            [(r["source"], r["count"]) for r in fb["by_source"]], "Feedback by source"
        )
        if fb["by_source"]
        else "",
        "themes": charts.counts(
            [(r["theme"], r["count"]) for r in fb["themes"][:10]],
            "Feedback by theme",
            charts.ORANGE,
        )
        if fb["themes"]
        else "",
    }
    for key, dimension in [
        ("makeup_order", "order type"),
        ("makeup_gender", "gender"),
        ("makeup_age", "age band"),
        ("makeup_ethnicity", "ethnicity"),
        ("makeup_ethnic_group", "ethnic group"),
    ]:
        has = any(r["dimension"] == dimension for r in f["makeup"])
        made[key] = charts.makeup(f["makeup"], dimension) if has else ""
    ins = f.get("inspection")  # packs frozen before H2 have none
    made["inspection"] = (
        charts.inspection_trend(ins["trend"], band_edges(ins))
        if ins and ins["standards"] and ins["trend"]["standards"]
        else ""
    )
    return {k: Markup(v) for k, v in made.items()}  # noqa: S704 - SVG written by matplotlib, escaped


def band_edges(inspection: dict[str, Any]) -> tuple[float, ...]:
    """H2: where each rating band but the lowest begins (0.5, 0.65, 0.8), lowest first."""
    return tuple(sorted(b["from"] for b in inspection["bands"] if b["from"] > 0))


def inspection_line(inspection: dict[str, Any]) -> str:
    """H2: "2.1 Good; 2.2 Requires improvement" for the markdown summary."""
    return "; ".join(
        f"{s['standard']} {s['rating'] or 'not rated'}" for s in inspection["standards"]
    )


def pack_css(web: bool) -> Markup:
    """The print layout, and for the HTML pack the screen layout after it (O4)."""
    names = ["pack.css", "pack-screen.css"] if web else ["pack.css"]
    css = "\n".join((TEMPLATES / "packs" / n).read_text(encoding="utf-8") for n in names)
    return Markup(css)  # noqa: S704 - our own stylesheets


def quarter_html(
    pack: QuarterPack, service: str, web: bool = False, made: dict[str, Markup] | None = None
) -> str:
    """The pack as HTML: for the PDF, or (`web`) the HTML pack; `made`: its charts, if drawn."""
    f = pack.figures
    env = environment()
    return env.get_template("packs/quarterly.html").render(
        f=f,
        service=service,
        web=web,
        status_line=pack.status_line,
        narrative=pack.narrative,
        charts=quarter_charts(f) if made is None else made,
        section_names=[s["section"] for s in f["judgements"]["sections"]],
        first_day=long_date(f["first_day"]),
        last_day=long_date(f["last_day"]),
        compiled_on=long_date(pack.on),
        fy=f"{pack.quarter.year}-{(pack.quarter.year + 1) % 100:02d}",
        css=pack_css(web),
    )


def write_pdf(html: str, path: Path) -> int:
    """Render the HTML with WeasyPrint as tagged PDF (O4); returns the number of pages.

    PDF/UA-1 turns WeasyPrint's tags on (weasyprint/pdf/pdfua.py): a structure tree from the
    HTML (headings, tables with their headers, lists, links; an <img> becomes a /Figure whose
    /Alt is its alt text), /MarkInfo, /Lang from <html lang>, the <title> shown as the window's
    title, and PDF/UA identification in the XMP metadata.
    """
    import weasyprint

    document = weasyprint.HTML(string=html, base_url=str(TEMPLATES)).render()
    write_atomically(path, lambda tmp: document.write_pdf(tmp, pdf_variant="pdf/ua-1"))
    return len(document.pages)


def write_html(html: str, path: Path) -> Path:
    """The HTML pack (O4): one file, its styles and charts inside it, so it opens anywhere."""
    return write_atomically(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))


def quarter_markdown(pack: QuarterPack, service: str, pdf_name: str) -> str:
    """The summary shown on the flow run in the Prefect UI (no free text: figures only)."""
    f = pack.figures
    t = f["audits"]["totals"]
    a = f["actions"]["totals"]
    lines = [
        f"# Quarterly QA report {f['period']}: {md_cell(service)}",
        "",
        f"_{pack.status_line}_",
        "",
        *[f"- {line}" for line in pack.narrative],
        "",
        "| figure | value |",
        "|---|---|",
        f"| audits completed / assigned | {t['completed']} / {t['assigned']} |",
        f"| completed on time | {t['on time']} |",
        f"| not done / open past deadline | {t['not done']} / {t['open past deadline']} |",
        f"| judgements sufficient or better | {_pct(f['judgements']['overall'])} |",
        "| action points new / completed / outstanding / overdue | "
        f"{a['new']} / {a['completed']} / {a['outstanding']} / {a['overdue']} |",
        f"| high-risk issues | {len(f['high_risk'])} |",
        *(
            [
                "| findings acknowledged by case managers | "
                f"{f['acknowledgements']['acknowledged']} of {f['acknowledgements']['completed']} "
                f"({_pct(f['acknowledgements']['share'])}) |"
            ]
            if "acknowledgements" in f
            else []
        ),
        f"| feedback (complaints) | {f['feedback']['total']} ({len(f['feedback']['complaints'])}) |",
        *(
            [
                f"| moderations / answers alike / kappa (95% CI) | {f['moderation']['moderated']}"
                f" / {_pct(f['moderation']['overall']['share'])}"
                f" / {f['moderation']['overall']['kappa_(95%_interval)']} |"
            ]
            if "moderation" in f
            else []
        ),
        *(
            [
                f"| re-audits: judgements improved / same / worse | {f['reaudits']['done']}: "
                f"{r['improved']} / {r['same']} / {r['worse']} |"
                for r in [f["reaudits"]["totals"]]
            ]
            if "reaudits" in f
            else []
        ),
        *(
            [
                f"| self-audits (set beside a manager's): own judgement higher / equal / lower | "
                f"{s['done']} ({s['compared_with_a_manager']}): {s['overall']['higher']} / "
                f"{s['overall']['equal']} / {s['overall']['lower']} |"
                for s in [f["self_audits"]]
            ]
            if "self_audits" in f
            else []
        ),
        *(
            [
                "| support needs identified / reviews due / met / open at the end / overdue | "
                f"{n['identified']} / {n['reviews']['due']} / {n['reviews']['met']} / "
                f"{n['open']['open']} / {n['open']['overdue']} |"
                for n in [f["needs"]]
            ]
            if "needs" in f
            else []
        ),
        *(
            [f"| inspection standards rated | {md_cell(inspection_line(f['inspection']))} |"]
            if "inspection" in f and f["inspection"]["standards"]
            else []
        ),
        "",
        "| section | " + " | ".join(f["trend"]["quarters"][-4:]) + " |",
        "|---|" + "---|" * len(f["trend"]["quarters"][-4:]),
    ]
    for s in f["trend"]["sections"]:
        lines.append(
            f"| {md_cell(s)} | " + " | ".join(_pct(v) for v in f["trend"]["share"][s][-4:]) + " |"
        )
    html_name = pdf_name.removesuffix(".pdf") + ".html"
    lines += [
        "",
        f"The full pack: `{pdf_name}` (PDF), `{html_name}` (the same as a web page) and the "
        "spreadsheet beside them.",
    ]
    return "\n".join(lines) + "\n"


def md_cell(text: str) -> str:
    """Markdown table cell: no pipes, no markup, no line breaks."""
    return text.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def quarter_workbook(pack: QuarterPack, service: str) -> openpyxl.Workbook:
    """The pack's data, one sheet per table, with the same figures as the PDF."""
    f = pack.figures
    wb = openpyxl.Workbook()
    summary = wb.worksheets[0]  # a new workbook's one sheet
    summary.title = "Summary"
    about: list[list[object]] = [
        ["service", service],
        ["quarter", f["period"]],
        ["from", f["first_day"]],
        ["to", f["last_day"]],
        ["status", pack.status_line],
        ["compiled on", pack.on.isoformat()],
    ]
    write_table(summary, ["item", "value"], about + [["summary", line] for line in pack.narrative])

    def sheet(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
        write_table(wb.create_sheet(title), columns, [[r[c] for c in columns] for r in rows])

    cols = f["audits"]["columns"]
    sheet("Audits by team", f["audits"]["by_team"], ["team", *cols])
    sheet("Audits by auditor", f["audits"]["by_auditor"], ["auditor", "role", *cols])
    sheet("Audits by kind", f["audits"]["by_kind"], ["kind", *cols])
    sheet(
        "Not done",
        f["audits"]["not_done"],
        ["case", "kind", "auditor", "team", "due_on", "status", "reason"],
    )
    sheet(
        "Judgements by section",
        f["judgements"]["sections"],
        ["section", "insufficient", "sufficient", "good", "excellent", "judged", "share_ok"],
    )
    sections = [s["section"] for s in f["judgements"]["sections"]]
    write_table(
        wb.create_sheet("Judgements by team"),
        ["team", *sections],
        [
            [t, *[f["judgements"]["team_share"][t][s] for s in sections]]
            for t in f["judgements"]["teams"]
        ],
    )
    tr = f["trend"]
    write_table(
        wb.create_sheet("Trend"),
        ["section", *tr["quarters"]],
        [
            ["All sections", *tr["overall"]],
            *[[s, *tr["share"][s]] for s in tr["sections"]],
            ["source", *tr["source"]],
        ],
    )
    sheet(
        "Action points by team",
        f["actions"]["by_team"],
        ["team", "new", "completed", "outstanding", "overdue"],
    )
    sheet(
        "Overdue actions",
        f["actions"]["overdue"],
        ["case", "team", "priority", "deadline", "days_overdue", "times_chased"],
    )
    if "acknowledgements" in f:  # packs frozen before December 2026 have none
        sheet(
            "Acknowledged by team",
            f["acknowledgements"]["by_team"],
            ["team", "completed", "acknowledged", "share"],
        )
        sheet(
            "Responses to findings",
            f["acknowledgements"]["responses"],
            ["case", "team", "acknowledged_on", "response"],
        )
    if "moderation" in f:  # packs frozen before A5 have none
        kappa = ["compared", "agreed", "share", "kappa", "low", "high"]
        m = f["moderation"]
        sheet(
            "Moderation by auditor", [m["overall"], *m["by_auditor"]], ["auditor", "audits", *kappa]
        )
        sheet("Moderation by section", m["by_section"], ["section", *kappa])
        sheet(
            "Moderation differences",
            m["differing"],
            ["section", "question", "text", "compared", "differed"],
        )
    if "reaudits" in f:  # packs frozen before A1 have none
        sheet(
            "Re-audits by section",
            f["reaudits"]["by_section"],
            ["section", "compared", "improved", "same", "worse", "share_improved"],
        )
        sheet(
            "Re-audits not improved",
            f["reaudits"]["not_improved"],
            ["section", "question", "text", "times"],
        )
    if "self_audits" in f:  # packs frozen before A2 have none
        sheet(
            "Self-audit calibration",
            [f["self_audits"]["overall"], *f["self_audits"]["by_section"]],
            ["section", "compared", "higher", "equal", "lower", "share_higher", "share_lower"],
        )
    if "needs" in f:  # packs frozen before A4 have none
        header, rows = theme_team_rows(f["needs"])
        write_table(wb.create_sheet("Support needs by theme"), header, rows)
        header, rows = open_rows(f["needs"])
        write_table(wb.create_sheet("Support needs open"), header, rows)
    if "risk_adaptive" in f:  # packs frozen before H4 have none
        sheet(
            "Sampled more often (H4)", f["risk_adaptive"], ["month", "case_manager", "team", "why"]
        )
    if "inspection" in f:  # packs frozen before H2 have none
        ins = f["inspection"]
        write_table(wb.create_sheet("Inspection standards"), *key_question_table(ins))
        it = ins["trend"]
        write_table(
            wb.create_sheet("Inspection trend"),
            ["standard", *it["quarters"]],
            [[name, *values] for name, values in it["standards"].items()],
        )
        write_table(wb.create_sheet("Inspection bands"), *bands_table(ins))
    sheet("Good practice", f["good_practice"], ["team", "kind", "completed_on", "text"])
    sheet("High-risk issues", f["high_risk"], ["case", "team", "raised_on", "raised_with", "text"])
    sheet("Feedback by source", f["feedback"]["by_source"], ["source", "count"])
    sheet("Feedback themes", f["feedback"]["themes"], ["theme", "count"])
    sheet(
        "Complaints",
        f["feedback"]["complaints"],
        ["received_on", "team", "themes", "summary", "lessons", "resolved_on"],
    )
    sheet("Feedback lessons", f["feedback"]["lessons"], ["source", "team", "lesson"])
    sheet("Difficulties", f["difficulties"], ["team", "question", "section", "standard"])
    sheet(
        "Sample make-up",
        f["makeup"],
        ["dimension", "value", "sample", "sample_share", "caseload_share"],
    )
    plan_rows = [
        [
            o["number"],
            o["text"],
            obj["text"],
            a["text"],
            a["lead"],
            a["due"],
            a["progress"],
            a["completed_on"],
            "yes" if a["new_this_quarter"] else "",
            "yes" if a["completed_this_quarter"] else "",
        ]
        for o in f["plan"]["outcomes"]
        for obj in o["objectives"]
        for a in obj["activities"]
    ]
    write_table(
        wb.create_sheet("Improvement plan"),
        [
            "outcome",
            "outcome text",
            "objective",
            "activity",
            "lead officer",
            "completion date",
            "progress",
            "completed on",
            "new this quarter",
            "completed this quarter",
        ],
        plan_rows,
    )
    return wb


def write_quarter(pack: QuarterPack, paths: PackPaths, service: str) -> PackFiles:
    """The quarter's PDF, HTML, XLSX and markdown, each written whole or not at all."""
    made = quarter_charts(pack.figures)  # drawn once for both
    pages = write_pdf(quarter_html(pack, service, made=made), paths.pdf)
    html = write_html(quarter_html(pack, service, web=True, made=made), paths.html)
    xlsx = write_atomically(paths.xlsx, lambda tmp: quarter_workbook(pack, service).save(tmp))
    text = quarter_markdown(pack, service, paths.pdf.name)
    md = write_atomically(paths.md, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return PackFiles(paths.pdf, xlsx, md, pages, html)
