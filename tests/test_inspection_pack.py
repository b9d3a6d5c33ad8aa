"""H2 in the quarterly pack: the inspection standards section (rule: a standard is rated by the
band of its LOWEST key question's share of cases judged sufficient, each share with its Wilson
95% interval, and a rating whose interval crosses a band edge saying what else it could be);
its figures, the PDF section, the XLSX sheets and the markdown line; a pack frozen before H2
still renders. SQLite and PostgreSQL.

The world, in the demo service's October to December 2026 (2026-Q3): five of December's sampled
case-file audits done with the inspection-style tool for court disposals (`inspection-court`)
and completed in December, their key questions answered (S sufficient, I not sufficient, N not
applicable), one letter a case:

    2.1 Assessment  desistance     S S S S I   4 / 5
                    child safety   S S S S S   5 / 5
                    others' safety S S S I I   3 / 5   <- lowest: 60%
    2.2 Planning    desistance     S S S S S   5 / 5
                    child safety   S S S S I   4 / 5   <- lowest: 80%
                    others' safety S S S S N   4 / 4

Worked by hand (bands: Outstanding from 80%, Good from 65%, Requires improvement from 50%,
Inadequate below; z = 1.959964 for 95%, Wilson's interval
(p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)):

- 3/5: centre (0.6 + 0.384146) / 1.768292 = 0.556545, half 1.108399 x 0.293964 = 0.325829:
  (0.2307, 0.8824). 4/5: centre 0.669655, half 1.108399 x 0.265358 = 0.294123: (0.3755, 0.9638).
  5/5: centre 0.782758, half 1.108399 x 0.195996 = 0.217242: (0.5655, 1). 4/4: centre
  1.480182 / 1.960365 = 0.755054, half 0.999795 x 0.244995 = 0.244945: (0.5101, 1).
- 2.1: lowest 3/5 = 60%: Requires improvement. The standard's interval runs from the lowest of
  its key questions' lower bounds (0.2307) to the lowest of their upper bounds (0.8824): it
  touches Inadequate (< 50%) and Good and Outstanding (88% >= 80%), so "Requires improvement,
  but could be Outstanding, Good or Inadequate".
- 2.2: lowest 4/5 = 80% (the edge is inclusive): Outstanding. Interval (0.3755, 0.9638): "could
  be Good, Requires improvement or Inadequate". Its 4/4 leaves out the case answered N/A.
- Most often not sufficient: 2.1 others' safety (2 of 5), then 2.1 desistance and 2.2 child
  safety (1 of 5 each, by standard).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from models import Audit, Finding, PackSnapshot, Question, QuestionSet
from models.enums import AuditKind, AuditStatus, Judgement
from tasks.outputs import Outputs
from tasks.workdays import Quarter
from tests.pack_world import pdf_text

pytestmark = pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))
Q3 = Quarter(2026, 3)  # October to December 2026
ON = date(2027, 1, 4)  # the first working day after it
ANSWERS = {  # one letter a case, as in the module's docstring
    "assessment_desistance": "SSSSI",
    "assessment_child_safety": "SSSSS",
    "assessment_others_safety": "SSSII",
    "planning_desistance": "SSSSS",
    "planning_child_safety": "SSSSI",
    "planning_others_safety": "SSSSN",
}
LETTER = {"S": Judgement.SUFFICIENT, "I": Judgement.INSUFFICIENT, "N": Judgement.NOT_APPLICABLE}
RI_2_1 = "Requires improvement, but could be Outstanding, Good or Inadequate"
OUTSTANDING_2_2 = "Outstanding, but could be Good, Requires improvement or Inadequate"
UNCONFIRMED = (
    "The bands are those HMIP's published ratings are commonly read with; we could not confirm "
    "them against the Inspectorate's own text (models/data/inspection.yaml)."
)


def _world(session: Session) -> dict[str, str]:
    """The five audits of the module's docstring; returns the key questions' texts by code."""
    tool = session.exec(
        select(QuestionSet)
        .where(QuestionSet.code == "inspection-court")
        .order_by(col(QuestionSet.version).desc())
    ).first()
    assert tool is not None, "the question-set sync loads the inspection-style tool"
    questions = {
        q.code: q for q in session.exec(select(Question).where(Question.question_set_id == tool.id))
    }
    audits = session.exec(
        select(Audit).where(Audit.kind == AuditKind.CASE_FILE).order_by(col(Audit.id))
    ).all()[:5]
    assert len(audits) == 5
    for i, audit in enumerate(audits):
        audit.question_set_id = tool.id  # type: ignore[assignment]
        audit.status = AuditStatus.COMPLETED
        audit.completed_on = date(2026, 12, 7 + i)
        audit.recorded_by_id = audit.auditor_id
        audit.recorded_at = datetime(2026, 12, 7 + i, 15, tzinfo=UTC)
        audit.recorded_via = "test"
        for code, letters in ANSWERS.items():
            session.add(
                Finding(
                    audit_id=audit.id,  # type: ignore[arg-type]
                    question_id=questions[code].id,  # type: ignore[arg-type]
                    judgement=LETTER[letters[i]],
                    evidence="Seen on file",
                )
            )
    session.commit()
    return {code: questions[code].text for code in ANSWERS}


def _keys(standard: dict[str, object]) -> list[tuple[object, ...]]:
    return [
        (k["code"], k["sufficient"], k["judged"], k["share"], k["low"], k["high"])
        for k in standard["keys"]  # type: ignore[attr-defined]
    ]


def test_h2_the_lowest_key_question_rates_each_standard_with_its_wilson_interval_in_the_pack(
    session: Session, tmp_path: Path
) -> None:
    """H2, lowest key question rule: each standard takes the band of its lowest key question's
    share (2.1: 3/5 = 60%, Requires improvement; 2.2: 4/5 = 80%, Outstanding, the edge
    inclusive), shown with the Wilson 95% interval, the phrase naming the other ratings the
    interval allows; "not applicable" left out (4/4). In the figures frozen with the quarter, in
    section 15 of the PDF (with the unconfirmed-bands warning and the source), in the XLSX's
    "Inspection standards" and "Inspection trend" sheets and in the markdown's line."""
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import write_quarter

    texts = _world(session)
    pack = compile_quarter(session, Q3, ON)
    assert pack.status == "final"
    frozen = session.execute(sa.select(col(PackSnapshot.figures))).scalar_one()
    f = frozen["inspection"]
    assert f["rule"] == "lowest key question" and f["confidence"] == 0.95
    assert f["confirmed"] is False
    assert [(b["rating"], b["from"]) for b in f["bands"]] == [
        ("Outstanding", 0.8),
        ("Good", 0.65),
        ("Requires improvement", 0.5),
        ("Inadequate", 0.0),
    ]
    s21, s22 = f["standards"]
    assert (s21["standard"], s21["title"], s21["cases"]) == ("2.1", "Assessment", 5)
    assert (s21["share"], s21["low"], s21["high"]) == (0.6, 0.2307, 0.8824)
    assert s21["rating"] == "Requires improvement"
    assert s21["could_be"] == ["Outstanding", "Good", "Inadequate"]
    assert s21["phrase"] == RI_2_1
    assert _keys(s21) == [
        ("assessment_desistance", 4, 5, 0.8, 0.3755, 0.9638),
        ("assessment_child_safety", 5, 5, 1.0, 0.5655, 1.0),
        ("assessment_others_safety", 3, 5, 0.6, 0.2307, 0.8824),
    ]
    assert (s22["standard"], s22["title"], s22["cases"]) == ("2.2", "Planning", 5)
    assert (s22["share"], s22["low"], s22["high"]) == (0.8, 0.3755, 0.9638)
    assert s22["rating"] == "Outstanding"
    assert s22["phrase"] == OUTSTANDING_2_2
    assert _keys(s22) == [
        ("planning_desistance", 5, 5, 1.0, 0.5655, 1.0),
        ("planning_child_safety", 4, 5, 0.8, 0.3755, 0.9638),
        ("planning_others_safety", 4, 4, 1.0, 0.5101, 1.0),  # the N/A case left out
    ]
    assert [(w["standard"], w["text"], w["not_sufficient"], w["judged"]) for w in f["weakest"]] == [
        ("2.1", texts["assessment_others_safety"], 2, 5),
        ("2.1", texts["assessment_desistance"], 1, 5),
        ("2.2", texts["planning_child_safety"], 1, 5),
    ]
    quarters = [
        "2024-Q4",
        "2025-Q1",
        "2025-Q2",
        "2025-Q3",
        "2025-Q4",
        "2026-Q1",
        "2026-Q2",
        "2026-Q3",
    ]
    assert f["trend"] == {
        "quarters": quarters,
        "standards": {
            "2.1 Assessment": [None] * 7 + [0.6],
            "2.2 Planning": [None] * 7 + [0.8],
        },
    }

    files = write_quarter(pack, Outputs(tmp_path).quarterly_pack(str(Q3)), "Riverside YOT")
    text, _, _ = pdf_text(files.pdf)
    words = " ".join(text.split())
    assert "15. Inspection standards (H2)" in words
    assert words.index("14. Support and training needs") < words.index("15. Inspection standards")
    section = words[words.index("15. Inspection standards (H2)") :]
    assert "5 audits were completed this quarter with the inspection-style tool" in section
    assert "rated by its lowest key question" in section and "95% interval (Wilson)" in section
    assert f"2.1 Assessment 5 60% 23% to 88% {RI_2_1}" in section
    assert f"2.2 Planning 5 80% 38% to 96% {OUTSTANDING_2_2}" in section
    assert (
        "Bands: Outstanding from 80%; Good from 65%; Requires improvement from 50%; "
        "Inadequate below 50%." in section
    )
    assert UNCONFIRMED in section
    assert "Source: HM Inspectorate of Probation, youth justice inspection ratings" in section
    assert f"{texts['assessment_others_safety']} 3 / 5 60% 23% to 88%" in section
    assert f"{texts['planning_others_safety']} 4 / 4 100% 51% to 100%" in section
    assert "Key questions most often not sufficient" in section
    assert f"2.1 Assessment {texts['assessment_others_safety']} 2 5 60%" in section
    contents = words[words.index("Contents") : words.index("1. Audits assigned")]
    assert "Support and training needs (§5)" in contents and "Inspection standards (H2)" in contents

    book = openpyxl.load_workbook(files.xlsx)
    sheet = [list(r) for r in book["Inspection standards"].iter_rows(values_only=True)]
    assert sheet[0] == [
        "standard",
        "title",
        "key question",
        "sufficient",
        "judged",
        "share",
        "low",
        "high",
        "rating",
    ]
    assert sheet[1:] == [
        ["2.1", "Assessment", texts["assessment_desistance"], 4, 5, 0.8, 0.3755, 0.9638, RI_2_1],
        ["2.1", "Assessment", texts["assessment_child_safety"], 5, 5, 1, 0.5655, 1, RI_2_1],
        ["2.1", "Assessment", texts["assessment_others_safety"], 3, 5, 0.6, 0.2307, 0.8824, RI_2_1],
        ["2.2", "Planning", texts["planning_desistance"], 5, 5, 1, 0.5655, 1, OUTSTANDING_2_2],
        [
            "2.2",
            "Planning",
            texts["planning_child_safety"],
            4,
            5,
            0.8,
            0.3755,
            0.9638,
            OUTSTANDING_2_2,
        ],
        ["2.2", "Planning", texts["planning_others_safety"], 4, 4, 1, 0.5101, 1, OUTSTANDING_2_2],
    ]
    trend = [list(r) for r in book["Inspection trend"].iter_rows(values_only=True)]
    assert trend == [
        ["standard", *quarters],
        ["2.1 Assessment", *[None] * 7, 0.6],
        ["2.2 Planning", *[None] * 7, 0.8],
    ]
    bands = {
        str(item): value
        for item, value in book["Inspection bands"].iter_rows(min_row=2, values_only=True)
    }
    assert bands["rule"] == "lowest key question" and bands["Good from"] == 0.65
    assert bands["confirmed against the Inspectorate's own text"] == "no"

    markdown = files.markdown.read_text(encoding="utf-8")
    assert "| inspection standards rated | 2.1 Requires improvement; 2.2 Outstanding |" in markdown


def test_h2_a_pack_frozen_before_h2_renders_without_the_section_and_none_used_says_how(
    session: Session,
) -> None:
    """H2: a pack frozen before the inspection standards (no "inspection" key) renders as it did:
    no section, no contents entry, no sheet, no markdown line. A quarter in which no audit used
    the inspection-style tool says so in one sentence and how to turn the tool on."""
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import quarter_html, quarter_markdown, quarter_workbook

    pack = compile_quarter(session, Q3, ON)  # no inspection-style audit in this world
    assert pack.figures["inspection"]["standards"] == []
    html = " ".join(quarter_html(pack, "Riverside YOT").split())
    assert 'id="inspection"' in html
    assert "No audit used the inspection-style tool this quarter." in html
    assert "<code>YOTQA_INSPECTION_TOOL_KINDS</code>" in html
    assert "<code>yotqa inspection sample</code>" in html
    assert "inspection standards rated" not in quarter_markdown(pack, "Riverside YOT", "x.pdf")
    assert "Inspection standards" in quarter_workbook(pack, "Riverside YOT").sheetnames

    snapshot = session.execute(sa.select(PackSnapshot)).scalar_one()
    snapshot.figures = {k: v for k, v in snapshot.figures.items() if k != "inspection"}
    session.commit()
    old = compile_quarter(session, Q3, date(2027, 1, 20))
    assert old.status == "re-issue" and "inspection" not in old.figures
    html = quarter_html(old, "Riverside YOT")
    assert 'id="inspection"' not in html and "Inspection standards" not in html
    assert 'id="needs"' in html
    book = quarter_workbook(old, "Riverside YOT")
    assert not any(name.startswith("Inspection") for name in book.sheetnames)
    assert "inspection" not in quarter_markdown(old, "Riverside YOT", "x.pdf")


def test_h2_the_trend_shows_a_closed_quarter_as_its_frozen_pack_did(session: Session) -> None:
    """H2's eight quarters: once 2026-Q3's pack is frozen, a later change to one of its
    findings does not move 2026-Q3's point in the next quarter's trend (its pack's figure is
    used); a quarter with no frozen pack is counted from the database."""
    from tasks.packs.quarterly import compile_quarter, quarter_figures

    _world(session)
    compile_quarter(session, Q3, ON)  # frozen: 2.1 at 3/5 = 60%
    others = session.exec(select(Question).where(Question.code == "assessment_others_safety")).all()
    for finding in session.exec(
        select(Finding).where(col(Finding.question_id).in_([q.id for q in others]))
    ):
        finding.judgement = Judgement.SUFFICIENT  # live, 2.1 would now be 4/5 = 80%
    session.commit()
    later = quarter_figures(session, Quarter(2026, 4), date(2027, 2, 1))  # January to March 2027
    trend = later["inspection"]["trend"]
    assert trend["quarters"][-2] == str(Q3)
    assert trend["standards"]["2.1 Assessment"][-2] == 0.6  # as frozen, not 0.8
    live = quarter_figures(session, Q3, date(2027, 2, 1))["inspection"]["standards"][0]
    assert live["standard"] == "2.1" and live["share"] == 0.8  # counted afresh it would be 80%
