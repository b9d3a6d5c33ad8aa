"""Q2-Q4: the quarterly and annual packs' contents, compiled from a simulated year (PDF, XLSX,
markdown): the figures match the tables, a closed quarter is frozen, markup is escaped, no
young person is named."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from models import Audit, Finding, PackSnapshot, SamplingRun, SamplingSelection, Team
from models.enums import AuditKind, AuditStatus, Judgement, SamplingKind
from tasks.packs.redact import NAME_REMOVED
from tasks.workdays import Quarter
from tests.pack_world import Q3, pdf_text, result_totals, session_judged, young_names


def _compile(quarter: Quarter, on: date, email: bool = False) -> dict:
    """The whole job: figures, PDF, XLSX and markdown (about 7 s, for the PDF)."""
    from tasks.steps import compile_quarterly_pack

    return compile_quarterly_pack(str(quarter), on, email)


def _quick(session: Session, quarter: Quarter, on: date, tmp: Path) -> tuple[object, Path, str]:
    """Figures, spreadsheet and HTML without the PDF, for tests about the figures."""
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import quarter_html, quarter_workbook

    pack = compile_quarter(session, quarter, on)
    path = tmp / f"{quarter}-{on}.xlsx"
    quarter_workbook(pack, "Riverside YOT").save(path)
    return pack, path, " ".join(quarter_html(pack, "Riverside YOT").split())


def test_quarterly_pdf_reads_as_a_board_pack(year: Session) -> None:
    """Q2/Q4: cover, contents, narrative, every section and chart; no young person's name (E5)."""
    result = _compile(Q3, date(2026, 1, 6))
    text, pages, images = pdf_text(Path(result["pdf"]))
    assert result["status"] == "final" and pages == result["pages"] and 8 <= pages <= 24
    for heading in [
        "Quarterly quality",
        "Riverside YOT",
        "Contents",
        "Audits assigned and completed",
        "Judgements by section and team",
        "Trend over eight quarters",
        "Action points",
        "Good practice to share",
        "High-risk issues raised",
        "Service-user feedback and complaints",
        "Consistent difficulties",
        "The sample against the caseload",
        "Improvement plan",
        "Moderation: do auditors agree?",
        "Re-audits: did the actions work?",
        "Self-audits: do case managers judge their work as managers do?",
        "Final: figures frozen",
    ]:
        assert heading in text, heading
    # Completion, sections, run chart, actions, feedback by source and theme, five make-up charts.
    assert images == 11  # S5: the make-up by ethnic group (O3) beside the detailed one
    totals = result_totals(year, Q3)
    assert f"{totals['completed']} of the {totals['assigned']} audits assigned" in " ".join(
        text.split()
    )
    words = " ".join(text.split())
    for name in young_names(year):
        assert name not in words
    assert NAME_REMOVED in words  # the complaint naming a young person was redacted, not dropped


def test_quarterly_xlsx_totals_match_the_database(year: Session, tmp_path: Path) -> None:
    _, path, _ = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    book = openpyxl.load_workbook(path)
    by_team = list(book["Audits by team"].iter_rows(values_only=True))
    header, rows = by_team[0], by_team[1:]
    col = {name: i for i, name in enumerate(header)}
    totals = result_totals(year, Q3)
    assert sum(r[col["assigned"]] for r in rows) == totals["assigned"]
    assert sum(r[col["completed"]] for r in rows) == totals["completed"]
    auditors = list(book["Audits by auditor"].iter_rows(values_only=True))
    assert sum(r[2] for r in auditors[1:]) == totals["assigned"]
    judged = session_judged(year, Q3)
    sections = list(book["Judgements by section"].iter_rows(values_only=True))
    assert sum(r[5] for r in sections[1:]) == judged
    not_done = year.execute(
        sa.select(sa.func.count())
        .select_from(Audit)
        .where(
            Audit.period.in_([str(m) for m in Q3.months]),
            Audit.status == AuditStatus.NOT_DONE,
            Audit.kind.not_in([AuditKind.MODERATION, AuditKind.SELF]),  # A5, A2: apart
        )
    ).scalar_one()
    assert (
        sum(1 for r in book["Not done"].iter_rows(values_only=True) if r[5] == "not done")
        == not_done
    )
    assert book["Trend"].max_column == 9  # section + eight quarters
    # S5: the sample's make-up counts every case selected in the quarter, beside caseload shares.
    selected = year.execute(
        sa.select(sa.func.count())
        .select_from(SamplingSelection)
        .join(SamplingRun, SamplingRun.id == SamplingSelection.run_id)
        .where(
            SamplingRun.period.in_([str(m) for m in Q3.months]),
            SamplingRun.kind.not_in([SamplingKind.MODERATION, SamplingKind.SELF_AUDIT]),
        )
    ).scalar_one()
    makeup = list(book["Sample make-up"].iter_rows(values_only=True))[1:]
    for dimension in ("order type", "gender", "ethnicity", "age band"):
        rows_of = [r for r in makeup if r[0] == dimension]
        assert sum(r[2] for r in rows_of) == selected > 0, dimension
        assert sum(r[4] or 0 for r in rows_of) == pytest.approx(1, abs=0.01)
    plan = list(book["Improvement plan"].iter_rows(values_only=True))
    assert len(plan) == 3 and plan[1][-1] == "yes"  # the workshop was completed in Q3


def test_closed_quarter_is_frozen_and_a_reissue_says_so(year: Session, tmp_path: Path) -> None:
    """Q2: once closed, later edits and imports do not change a quarter's figures."""
    first, _, _ = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    assert first.status == "final"
    snapshot = year.execute(sa.select(PackSnapshot)).scalar_one()
    frozen = dict(snapshot.figures)
    # Later: an audit's findings all turn insufficient, another audit is withdrawn, a case closes.
    audit = (
        year.execute(
            sa.select(Audit).where(
                Audit.status == AuditStatus.COMPLETED,
                Audit.completed_on.between(Q3.first_day, Q3.last_day),
            )
        )
        .scalars()
        .first()
    )
    year.execute(
        sa.update(Finding)
        .where(Finding.audit_id == audit.id, Finding.judgement.is_not(None))
        .values(judgement=Judgement.INSUFFICIENT)
    )
    year.execute(
        sa.update(Audit)
        .where(Audit.period == "2025-11", Audit.status == AuditStatus.NOT_DONE)
        .values(status=AuditStatus.WITHDRAWN)
    )
    year.commit()
    again, path, html = _quick(year, Q3, date(2026, 2, 20), tmp_path)
    year.expire_all()
    assert again.status == "re-issue" and again.issue == 2
    assert year.execute(sa.select(PackSnapshot)).scalar_one().figures == frozen
    book = openpyxl.load_workbook(path)
    rows = list(book["Judgements by section"].iter_rows(values_only=True))[1:]
    assert [list(r) for r in rows] == [
        [
            s[k]
            for k in [
                "section",
                "insufficient",
                "sufficient",
                "good",
                "excellent",
                "judged",
                "share_ok",
            ]
        ]
        for s in frozen["judgements"]["sections"]
    ]
    assert "Re-issued on 20 February 2026 (issue 2)" in html
    assert "frozen when the quarter closed, on 6 January 2026" in html
    # The live figures have moved: a provisional recompilation would differ.
    from tasks.packs.quarterly import quarter_figures

    assert quarter_figures(year, Q3, date(2026, 2, 20))["judgements"] != frozen["judgements"]


def test_an_open_quarter_is_provisional_and_not_frozen(year: Session, tmp_path: Path) -> None:
    pack, _, html = _quick(year, Quarter(2025, 4), date(2026, 2, 16), tmp_path)
    assert pack.status == "provisional"
    assert year.execute(sa.select(sa.func.count()).select_from(PackSnapshot)).scalar_one() == 0
    assert "Provisional: the quarter ends on 31 March 2026" in html


def test_trend_uses_the_frozen_figures_of_earlier_quarters(year: Session, tmp_path: Path) -> None:
    first, _, _ = _quick(year, Quarter(2025, 2), date(2025, 10, 2), tmp_path)
    frozen_overall = year.execute(sa.select(PackSnapshot.figures)).scalar_one()["judgements"][
        "overall"
    ]
    year.execute(
        sa.update(Finding)
        .values(judgement=Judgement.EXCELLENT)
        .where(Finding.judgement.is_not(None))
    )
    year.commit()
    _, path, _ = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    book = openpyxl.load_workbook(path)
    trend = {r[0]: r[1:] for r in book["Trend"].iter_rows(values_only=True)}
    assert trend["All sections"][-2] == frozen_overall  # Q2 as frozen, not as edited
    assert trend["source"][-2] == "frozen" and trend["source"][-1] == "this quarter"
    assert trend["All sections"][-1] == 1.0  # Q3 compiled live after the edit
    assert first.status == "final"


def test_markup_in_names_is_escaped_everywhere(year: Session, tmp_path: Path) -> None:
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import quarter_html, quarter_markdown, quarter_workbook

    team = year.execute(sa.select(Team).order_by(Team.id)).scalars().first()
    team.name = "<script>alert('x')</script> & Co"
    year.commit()
    pack = compile_quarter(year, Q3, date(2025, 12, 1))
    html = quarter_html(pack, "<i>Service</i>")
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<i>Service</i>" not in html and "&lt;i&gt;Service&lt;/i&gt;" in html
    assert "<b>and</b>" not in html and "&lt;b&gt;and&lt;/b&gt;" in html  # the plan's outcome
    assert "<script>" not in quarter_markdown(pack, "<script>x</script>", "p.pdf")
    book_path = tmp_path / "markup.xlsx"
    quarter_workbook(pack, '=HYPERLINK("http://x")').save(book_path)
    summary = {
        r[0]: r[1] for r in openpyxl.load_workbook(book_path)["Summary"].iter_rows(values_only=True)
    }
    assert summary["service"].startswith("'=")  # a formula is written as text


def test_annual_pack_sets_the_quarters_side_by_side(year: Session, tmp_path: Path) -> None:
    """Q3/T8/T13: four quarters side by side and a reproducible data-quality spot check."""
    from tasks.packs.annual import annual_workbook, compile_year
    from tasks.packs.quarterly import compile_quarter
    from tasks.steps import compile_annual_pack

    compile_quarter(year, Quarter(2025, 1), date(2025, 7, 2))  # Q1 closed and frozen
    result = compile_annual_pack(2025, date(2026, 4, 20), False)
    text, pages, images = pdf_text(Path(result["pdf"]))
    words = " ".join(text.split())
    assert "Annual review of the quality assurance framework" in words and images == 1
    assert "2025-Q1: frozen at close" in words and "2025-Q4: closed, not yet compiled" in words
    book = openpyxl.load_workbook(result["xlsx"])
    side = {r[0]: r[1:] for r in book["Year by quarter"].iter_rows(values_only=True)}
    assert side["figure"] == ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4")
    for number, assigned in enumerate(side["audits assigned"], start=1):
        assert assigned == result_totals(year, Quarter(2025, number))["assigned"]
    sample = [r[0] for r in list(book["Spot-check sample"].iter_rows(values_only=True))[1:]]
    assert len(sample) == 20 and len(set(sample)) == 20
    annual_workbook(compile_year(year, 2025, date(2026, 4, 21)), "x").save(tmp_path / "a.xlsx")
    book2 = openpyxl.load_workbook(tmp_path / "a.xlsx")
    assert [
        r[0] for r in list(book2["Spot-check sample"].iter_rows(values_only=True))[1:]
    ] == sample
    for name in young_names(year):
        assert name not in words


def test_pack_shows_the_share_of_findings_acknowledged_and_the_responses(
    year: Session, tmp_path: Path
) -> None:
    """Issue 12: the loop closed from the inbox reaches the board: the share acknowledged per
    team, and the responses, with young people's names removed (E5)."""
    from models import Acknowledgement, Case

    completed = (
        year.execute(
            sa.select(Audit.id)
            .where(
                Audit.status == AuditStatus.COMPLETED,
                Audit.kind.not_in([AuditKind.MODERATION, AuditKind.SELF]),  # A5, A2: apart
                Audit.completed_on.between(Q3.first_day, Q3.last_day),
            )
            .order_by(Audit.id)
        )
        .scalars()
        .all()
    )
    acked = (
        year.execute(
            sa.select(Acknowledgement)
            .join(Audit, Audit.id == Acknowledgement.audit_id)
            .where(Audit.id.in_(completed))
        )
        .scalars()
        .all()
    )
    assert 0 < len(acked) < len(completed)  # the simulated case managers acknowledge most
    name = year.execute(sa.select(Case.young_person_name).limit(1)).scalar_one()
    acked[0].response = f"I have spoken to {name} and their mother about the plan."
    year.commit()
    pack, path, html = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    figures = pack.figures["acknowledgements"]
    # Acknowledged by the day the pack was compiled (the simulation acknowledges on its days).
    by_then = [a for a in acked if a.acknowledged_at.date() <= date(2026, 1, 6)]
    assert (figures["completed"], figures["acknowledged"]) == (len(completed), len(by_then))
    assert sum(t["completed"] for t in figures["by_team"]) == len(completed)
    assert "Findings read and acknowledged" in html
    assert f"{figures['acknowledged']} ({figures['share']:.0%})" in html
    responses = [r["response"] for r in figures["responses"]]
    assert f"I have spoken to {NAME_REMOVED} and their mother about the plan." in responses
    assert name not in html and name.split()[0] not in " ".join(responses)
    book = openpyxl.load_workbook(path)
    sheet = book["Responses to findings"]
    assert sheet.max_row - 1 == len(figures["responses"])
    assert [c.value for c in book["Acknowledged by team"][1]] == [
        "team",
        "completed",
        "acknowledged",
        "share",
    ]


def test_pack_reports_moderation_agreement_per_auditor_and_section(
    year: Session, tmp_path: Path
) -> None:
    """A5 in the simulated year: the quarter's moderations set beside the audits they re-marked,
    per auditor and per section, with kappa and its interval, in the HTML and the spreadsheet."""
    pack, path, html = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    m = pack.figures["moderation"]
    done = year.execute(
        sa.select(sa.func.count())
        .select_from(Audit)
        .where(
            Audit.kind == AuditKind.MODERATION,
            Audit.status == AuditStatus.COMPLETED,
            Audit.completed_on.between(Q3.first_day, Q3.last_day),
        )
    ).scalar_one()
    assert m["moderated"] == done > 0
    assert sum(r["audits"] for r in m["by_auditor"]) == done
    overall = m["overall"]
    assert overall["compared"] == sum(r["compared"] for r in m["by_section"])
    # The simulated moderator keeps most of the first audit's answers: agreement well above chance.
    assert 0.5 < overall["share"] < 1 and 0 < overall["kappa"] < 1
    assert overall["low"] < overall["kappa"] < overall["high"]
    assert "Moderation: do auditors agree?" in html and overall["kappa_(95%_interval)"] in html
    book = openpyxl.load_workbook(path)
    rows = list(book["Moderation by auditor"].iter_rows(values_only=True))
    assert rows[1][0] == "All auditors" and rows[1][2] == overall["compared"]
    assert len(rows) == 2 + len(m["by_auditor"])


def test_pack_sets_each_reaudit_beside_its_first_audit(year: Session, tmp_path: Path) -> None:
    """A1 in the simulated year: the quarter's re-audits, judgement by judgement against the first
    audit: improved, same or worse per section, in the HTML and the spreadsheet."""
    pack, path, html = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    r = pack.figures["reaudits"]
    assert r["done"] > 0 and r["by_section"]
    t = r["totals"]
    assert t["compared"] == t["improved"] + t["same"] + t["worse"] > 0
    assert t["compared"] == sum(s["compared"] for s in r["by_section"])
    assert "Re-audits: did the actions work?" in html
    rows = list(openpyxl.load_workbook(path)["Re-audits by section"].iter_rows(values_only=True))
    assert len(rows) == 1 + len(r["by_section"])


def test_pack_sets_self_audits_beside_managers_audits(year: Session, tmp_path: Path) -> None:
    """A2 in the simulated year: November's self-audits, apart from every management figure,
    and where a manager audited the same case, the case manager's own judgement higher, equal or
    lower (the simulated case managers judge their own work a little more kindly)."""
    pack, path, html = _quick(year, Q3, date(2026, 1, 6), tmp_path)
    s = pack.figures["self_audits"]
    done = year.execute(
        sa.select(sa.func.count())
        .select_from(Audit)
        .where(
            Audit.kind == AuditKind.SELF,
            Audit.status == AuditStatus.COMPLETED,
            Audit.completed_on.between(Q3.first_day, Q3.last_day),
        )
    ).scalar_one()
    assert s["done"] == done > 0 and 0 < s["compared_with_a_manager"] <= done
    o = s["overall"]
    assert o["compared"] == o["higher"] + o["equal"] + o["lower"] > 0
    assert o["higher"] > o["lower"]
    assert "Self-audit" not in {r["kind"] for r in pack.figures["audits"]["by_kind"]}
    rows = list(openpyxl.load_workbook(path)["Self-audit calibration"].iter_rows(values_only=True))
    assert rows[1][0] == "All sections" and rows[1][1] == o["compared"]
