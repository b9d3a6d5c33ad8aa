"""Question sets (App. 3, App. 4, S7 variants) as versioned data, loaded at init."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from models import Question, QuestionSet
from models.enums import AnswerType
from models.errors import DataFileError
from models.settings import get_settings
from tasks.question_sets import read_question_sets, sync_question_sets

SHIPPED = get_settings().question_sets_dir

# Every question of Appendix 3, in the seed's words (OCR damage mended).
APPENDIX_3 = [
    "Index offence",
    "Asset score",
    "Initial Asset",
    "Asset actively reviewed",
    "engagement & learning styles",
    "Vulnerability/Safeguarding Screening",
    "Quality of VMP",
    "ROSH/ROH Screening",
    "Quality of ROSH/ROH",
    "Quality of RMP",
    "Quality of Intervention Plan",
    "Intervention Plan been shared with the YP",
    "Delivery of the Intervention Plan",
    "Intervention Plans are actively reviewed",
    "RMP been actively reviewed",
    "VMP been actively reviewed",
    "purposeful HVs",
    "safeguard and protect the YP",
    "any other affected YP",
    "Panel Dates",
    "victim attend the Panel",
    "victim's views represented",
    "number of FTAs",
    "breach action",
    "correctly identified as a MAPPA case",
    "MAPPA Level appropriate",
    "referral to MAPPA timely",
    "ROSH & management been appropriately communicated",
    "Management Oversight",
    "reduction in criminogenic need",
    "objectives in the Intervention Plan been achieved",
    "frequency of offending",
    "seriousness of offending",
    "safeguarding & vulnerability",
    "positive outcomes are sustainable",
]
APPENDIX_4 = [
    "Offence with dates",
    "session been planned",
    "link to the objectives held within the intervention plan",
    "responsive to diversity issues",
    "responsive to the needs of the young person",
    "crisis or an urgent issue",
    "objectives of the session clearly outlined",
    "promote engagement, understanding and reflection",
    "review the session with the young person",
    "goals are set for the next session",
]


def _texts(key: str) -> list[str]:
    return [q.text for q in read_question_sets(SHIPPED)[key].questions]


@pytest.mark.parametrize("phrase", APPENDIX_3)
def test_case_audit_tool_holds_every_question_of_appendix_3(phrase: str) -> None:
    assert any(phrase.lower() in t.lower() for t in _texts("case-audit@1")), phrase


@pytest.mark.parametrize("phrase", APPENDIX_4)
def test_observation_template_holds_every_question_of_appendix_4(phrase: str) -> None:
    assert any(phrase.lower() in t.lower() for t in _texts("observation@1")), phrase


def test_case_audit_tool_carries_answer_types_and_appendix_1_guidance() -> None:
    questions = {q.code: q for q in read_question_sets(SHIPPED)["case-audit@1"].questions}
    assert questions["asset_initial_quality"].answer is AnswerType.JUDGEMENT
    assert "CareFirst" in questions["asset_initial_quality"].guidance
    assert "Excellent" in questions["rosh_quality"].guidance
    assert questions["intervention_plan_shared"].answer is AnswerType.YES_NO
    assert questions["enforcement_ftas"].answer is AnswerType.COUNT
    assert questions["index_offence"].answer is AnswerType.TEXT
    judged = [q.section for q in questions.values() if q.answer is AnswerType.JUDGEMENT]
    assert len(judged) >= 8


def test_themed_variant_drops_and_adds_questions_of_its_base() -> None:
    """S7: the same tool 'with some variations to the questions'."""
    sets = read_question_sets(SHIPPED)
    base = [q.code for q in sets["case-audit@1"].questions]
    mappa = [q.code for q in sets["case-audit-mappa@1"].questions]
    assert "panel_dates" in base and "panel_dates" not in mappa
    assert mappa.index("mappa_meeting_actions") == mappa.index("rosh_communicated") + 1
    assert set(base) - {"panel_dates", "victim_attended_panel", "victim_views_represented"} <= set(
        mappa
    )
    assert {
        "case-audit-high-rosh@1",
        "case-audit-looked-after@1",
        "case-audit-dto-licence@1",
    } <= set(sets)


def test_sync_loads_once_and_links_variants_to_their_base(session: Session) -> None:
    # The fixture database already holds the shipped sets: a second sync changes nothing.
    result = sync_question_sets(session, SHIPPED)
    assert result.loaded == [] and "case-audit@1" in result.unchanged
    stored = {f"{s.code}@{s.version}": s for s in session.exec(select(QuestionSet))}
    assert stored["case-audit-mappa@1"].base_id == stored["case-audit@1"].id
    questions = session.exec(
        select(Question).where(Question.question_set_id == stored["case-audit@1"].id)
    ).all()
    assert len(questions) == len(_texts("case-audit@1"))


def _copy_shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "sets"
    folder.mkdir()
    for path in SHIPPED.glob("*.yaml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_changing_a_loaded_version_is_refused(session: Session, tmp_path: Path) -> None:
    folder = _copy_shipped(tmp_path)
    path = folder / "observation.v1.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("Is it responsive", "Was it responsive"),
        encoding="utf-8",
    )
    with pytest.raises(
        DataFileError, match="observation@1 differs .* save the change as version 2"
    ):
        sync_question_sets(session, folder)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("base: case-audit@1", "base: case-audit@7"),
            "field 'base': no question set case-audit@7",
        ),
        (
            ("drop: [panel_dates", "drop: [no_such_question"),
            "field 'drop': case-audit@1 has no question 'no_such_question'",
        ),
        (("answer: judgement", "answer: stars"), "field 'add.1.answer'"),
        (("after: rosh_communicated", "after: nowhere"), "no question 'nowhere'"),
    ],
)
def test_bad_variant_file_is_refused_naming_file_and_field(tmp_path: Path, edit, message) -> None:
    folder = _copy_shipped(tmp_path)
    path = folder / "case-audit-mappa.v1.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(*edit, 1), encoding="utf-8")
    with pytest.raises(DataFileError, match="case-audit-mappa.v1.yaml: ") as caught:
        read_question_sets(folder)
    assert message in str(caught.value)
