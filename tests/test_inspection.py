"""H1-H3: the inspection-style tool (its question sets, its key questions answered sufficient or
not with evidence), each standard's rating with its Wilson interval from bands kept as data, and
the mock inspection drawn, assigned, recorded and reported. Database tests on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from fractions import Fraction
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader
from sqlmodel import Session, select

from models import Audit, Case, EmailMessage, Finding, Question, QuestionSet, SamplingRun, Staff
from models.enums import AnswerType, AuditKind, Judgement, SamplingKind
from models.errors import DataFileError, InvalidInput
from models.settings import DATA_DIR, Settings, get_settings
from tasks.inspection.mock import allocate, assign, draw, mock_inspection
from tasks.inspection.ratings import (
    KeyShare,
    MockSpec,
    load_inspection,
    rate,
    wilson,
)
from tasks.inspection.report import write_report
from tasks.inspection.tools import COURT, CUSTODY, OUT_OF_COURT, set_code
from tasks.question_sets import read_question_sets
from tasks.recording.form import Answer, AuditForm, validate
from tasks.recording.record import questions_for, record_audit
from tasks.sampling.pool import load_pool
from tasks.sampling.rules import Candidate, Pick, seed_for

SPEC = load_inspection().ratings
Z95 = 1.959963984540054


# H1: the question sets -----------------------------------------------------------------------


def test_h1_court_and_out_of_court_sets_load_with_three_key_questions_per_standard() -> None:
    """H1: court disposals rated on 2.1-2.4, out-of-court on 3.1-3.3, each standard with key
    questions on desistance, the child's safety and other people's safety, answered sufficient
    / not sufficient; the prompts are guidance; the source is cited."""
    sets = read_question_sets(DATA_DIR / "question_sets")
    court, ooc = sets["inspection-court@1"], sets["inspection-out-of-court@1"]
    for qs, standards in ((court, ["2.1", "2.2", "2.3", "2.4"]), (ooc, ["3.1", "3.2", "3.3"])):
        keys = [q for q in qs.questions if q.standard]
        assert sorted({q.standard for q in keys}) == standards
        for standard in standards:
            mine = [q for q in keys if q.standard == standard]
            aspects = [re.sub(r"^[a-z]+_", "", q.code) for q in mine]
            assert aspects == ["desistance", "child_safety", "others_safety"]
            assert all(q.answer is AnswerType.SUFFICIENCY and q.guidance for q in mine)
        assert "HMI Probation" in qs.source and "2021" in qs.source
    assert "Reviewing" not in {q.section for q in ooc.questions}
    assert sets["case-audit@1"].questions  # the 2012 tool is kept beside them


def test_h1_a_key_question_needs_its_standard_and_the_sufficiency_answer(tmp_path: Path) -> None:
    """H1: a question with a standard but another answer type (or the reverse) is refused,
    naming the file and the field."""
    (tmp_path / "bad.v1.yaml").write_text(
        "code: bad\nversion: 1\ntitle: Bad\nkind: case_audit\nquestions:\n"
        "  - {code: a, section: Assessment, text: 'A?', answer: yes_no, standard: '2.1'}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataFileError, match=r"bad\.v1\.yaml: field 'questions\.0'.*key question"):
        read_question_sets(tmp_path)


# H2: Wilson intervals and bands --------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # Wilson score intervals at 95% (z = 1.96), as published tables give them
        (13, 20, 0.4329, 0.8188),
        (5, 10, 0.2366, 0.7634),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (3, 5, 0.2307, 0.8824),
        (90, 100, 0.8256, 0.9448),
    ],
)
def test_h2_wilson_interval_matches_known_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(k, n, Z95)
    assert (round(lo, 4), round(hi, 4)) == (low, high)
    assert SPEC.z == pytest.approx(Z95)


@pytest.mark.parametrize(
    ("share", "rating"),
    [
        (Fraction(4, 5), "Outstanding"),  # 80%: the edge belongs to the higher band
        (Fraction(79, 100), "Good"),
        (Fraction(13, 20), "Good"),  # 65%
        (Fraction(64, 100), "Requires improvement"),
        (Fraction(1, 2), "Requires improvement"),  # 50%
        (Fraction(49, 100), "Inadequate"),
        (Fraction(0), "Inadequate"),
        (Fraction(1), "Outstanding"),
    ],
)
def test_h2_bands_at_their_edges(share: Fraction, rating: str) -> None:
    assert SPEC.band(share) == rating


def test_h2_a_standard_takes_its_lowest_key_question_and_says_what_else_it_could_be() -> None:
    """H2, worked by hand: desistance 4 of 5, child's safety 5 of 5, others' safety 3 of 5. The
    lowest is 3/5 = 60%: Requires improvement. Its interval runs from the lowest lower bound
    (3/5: 23.1%) to the lowest upper bound (3/5: 88.2%; 4/5's is 96.4%, 5/5's 100%), which
    touches Inadequate, Good and Outstanding too."""
    keys = [KeyShare("d", "D", 4, 5), KeyShare("c", "C", 5, 5), KeyShare("o", "O", 3, 5)]
    r = rate("2.1", "Assessment", keys, 5, SPEC)
    assert r.rating == "Requires improvement" and r.share == 0.6
    assert (round(r.low or 0, 4), round(r.high or 0, 4)) == (0.2307, 0.8824)
    assert r.could_be == ["Outstanding", "Good", "Inadequate"]
    assert r.phrase == "Requires improvement, but could be Outstanding, Good or Inadequate"
    # Many cases make it certain: 90 and 95 of 100 -> 90%, interval 82.6% to 94.5%.
    sure = rate(
        "2.2", "Planning", [KeyShare("a", "A", 90, 100), KeyShare("b", "B", 95, 100)], 100, SPEC
    )
    assert (sure.rating, sure.could_be, sure.phrase) == ("Outstanding", [], "Outstanding")
    # 13 of 20 (65%, 43% to 82%): "Good, but could be Outstanding, Requires improvement or Inadequate".
    edge = rate("2.3", "Delivery", [KeyShare("a", "A", 13, 20)], 20, SPEC)
    assert edge.phrase == "Good, but could be Outstanding, Requires improvement or Inadequate"
    none = rate("2.4", "Reviewing", [KeyShare("a", "A", 0, 0)], 0, SPEC)
    assert none.rating is None and none.phrase.startswith("Not rated")


def test_h2_the_bands_file_is_checked_and_cites_its_source(tmp_path: Path) -> None:
    """H2: the bands are data with their source; unordered bands or a missing floor are refused
    naming the field; the shipped file says it is not confirmed."""
    shipped = load_inspection()
    assert "Inspectorate of Probation" in shipped.ratings.source
    assert shipped.ratings.confirmed is False  # said in the pack and the report
    bad = tmp_path / "inspection.yaml"
    bad.write_text(
        "ratings:\n  source: x\n  bands:\n    - {rating: Good, from: 0.5}\n"
        "    - {rating: Outstanding, from: 0.8}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataFileError, match=r"inspection\.yaml: field 'ratings'.*highest"):
        load_inspection(bad)


# H3: the draw --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "court", "ooc"),
    [(20, 60, 20), (20, 70, 10), (7, 30, 13), (15, 100, 1), (10, 3, 40), (25, 10, 5)],
)
def test_h3_court_and_out_of_court_in_proportion_within_one_case(
    size: int, court: int, ooc: int
) -> None:
    """H3: with no minimum the split is the caseload's within one case; never more than there are."""
    a = allocate(size, court, ooc, MockSpec(minimum_out_of_court=0, minimum_custody=0))
    assert a.court + a.out_of_court == min(size, court + ooc)
    assert a.court <= court and a.out_of_court <= ooc
    if size <= court and size <= ooc:
        assert abs(a.out_of_court - size * ooc / (court + ooc)) <= 1


def test_h3_minimums_raise_out_of_court_and_custody_where_the_caseload_has_them() -> None:
    spec = MockSpec(minimum_out_of_court=3, minimum_custody=2)
    assert allocate(20, 100, 2, spec).out_of_court == 2  # only 2 held
    assert allocate(20, 100, 10, spec).out_of_court == 3  # 1.9 in proportion, raised to 3
    day = date(2027, 1, 5)
    pool = [_candidate(i, "yro") for i in range(1, 40)] + [
        _candidate(40, "dto_custody"),
        _candidate(41, "dto_licence"),
        _candidate(42, "dto_licence"),
    ]
    drawn = draw(pool, day, 10, 7, spec)
    assert drawn.custody >= 2
    assert [p.reason.startswith("H3") for p in drawn.picks] == [True] * 10


def test_h1_the_disposal_picks_the_set_and_bail_or_remand_keeps_the_2012_tool() -> None:
    assert set_code("inspection", "out_of_court") == "inspection-out-of-court"
    assert {set_code("inspection", o) for o in COURT} == {"inspection-court"}
    assert set_code("inspection", "bail_iss") == set_code("inspection", "remand") == "case-audit"
    assert set_code("case-audit-mappa", "out_of_court") == "case-audit-mappa"


def test_h3_a_case_selected_within_six_weeks_is_passed_over() -> None:
    """S4 for a mock inspection: a case selected for another audit within six weeks is not
    drawn; bail and remand are not disposals and are not drawn either."""
    day = date(2027, 1, 5)
    recent = Candidate(
        1,
        "C001",
        1,
        1,
        "YRO",
        "Male",
        "White",
        "15-16",
        date(2026, 6, 1),
        last_selected_on=date(2026, 12, 1),
        order_type="yro",
    )
    pool = [recent, _candidate(2, "yro"), _candidate(3, "bail_iss"), _candidate(4, "remand")]
    drawn = draw(pool, day, 5, 1, MockSpec(minimum_out_of_court=0, minimum_custody=0))
    assert [p.candidate.case_id for p in drawn.picks] == [2]


def test_h3_s10_each_case_to_a_manager_who_does_not_hold_it() -> None:
    """S10: a manager holding a case is never given it; with only its holder to audit it, a
    clear refusal; among equally loaded managers, not the holder's line manager."""
    a = Staff(id=1, email="a@x", name="A", role="operational_manager")
    b = Staff(id=2, email="b@x", name="B", role="qa_manager")
    picks = [Pick(_candidate(i, "yro", holder=1), "H3") for i in range(1, 5)]
    given = assign(picks, [a, b], {})
    assert given == {2: picks}  # manager 1 holds them all
    with pytest.raises(InvalidInput, match="S10: no auditor but the case's holder for C001"):
        assign(picks[:1], [a], {})
    held_by_7 = [Pick(_candidate(9, "yro", holder=7), "H3")]
    assert list(assign(held_by_7, [a, b], {7: 1})) == [2]  # 1 is 7's line manager
    assert list(assign(held_by_7, [a, b], {7: 2})) == [1]


def _candidate(i: int, order: str, holder: int = 1) -> Candidate:
    return Candidate(
        i,
        f"C{i:03}",
        holder,
        1,
        "Other",
        "Male",
        "White",
        "15-16",
        date(2026, 6, 1),
        order_type=order,
    )


# H3: end to end, on the demo service ---------------------------------------------------------

pytestmark_demo = pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))
DRAWN_ON = date(2027, 1, 5)


@pytestmark_demo
def test_h3_mock_inspection_drawn_assigned_emailed_and_reproducible(
    session: Session, settings_env: None
) -> None:
    """H3 with S3, S10, S11, S12, D2, E1: the draw is recorded with its seed and reproducible,
    in proportion to the caseload, court cases with the court set and out-of-court with theirs,
    never to the case's holder, due at the month's deadline, each auditor emailed; again in the
    month changes nothing."""
    spec = load_inspection().mock_inspection
    pool = load_pool(session, DRAWN_ON)
    result, drawn = mock_inspection(session, DRAWN_ON, 12, spec)
    assert result.created and drawn is not None and len(result.audits) == 12
    again = draw(pool, DRAWN_ON, 12, seed_for("2027-01", "mock-inspection", 12), spec)
    assert [p.candidate.case_id for p in again.picks] == [p.candidate.case_id for p in drawn.picks]
    audits = session.exec(select(Audit).where(Audit.kind == AuditKind.INSPECTION)).all()
    cases = {c.id: c for c in session.exec(select(Case))}
    sets = {q.id: q.code for q in session.exec(select(QuestionSet))}
    orders = Counter()
    for a in audits:
        case = cases[a.case_id]
        assert a.auditor_id != case.case_manager_id  # S10
        assert case.order_type.value in COURT | OUT_OF_COURT
        expected = (
            "inspection-out-of-court"
            if case.order_type.value in OUT_OF_COURT
            else "inspection-court"
        )
        assert sets[a.question_set_id] == expected
        assert a.due_on == date(2027, 1, 21) and a.period == "2027-01"  # D2: end of week 3
        orders["ooc" if case.order_type.value in OUT_OF_COURT else "court"] += 1
    eligible = drawn.pool
    share = sum(1 for c in eligible if c.order_type in OUT_OF_COURT) / len(eligible)
    assert orders["ooc"] >= min(spec.minimum_out_of_court, round(share * len(eligible)))
    assert abs(orders["ooc"] - 12 * share) <= 1 or orders["ooc"] == spec.minimum_out_of_court
    held = sum(1 for c in eligible if c.order_type in CUSTODY)
    assert drawn.custody >= min(spec.minimum_custody, held)
    runs = session.exec(
        select(SamplingRun).where(SamplingRun.kind == SamplingKind.MOCK_INSPECTION)
    ).all()
    assert {r.seed for r in runs} == {str(seed_for("2027-01", "mock-inspection", 12))}
    assert all("H3" in r.rules for r in runs)
    emails = [e for e in session.exec(select(EmailMessage)) if ":mock_inspection:" in e.key]
    assert len(emails) >= len(runs)
    assert all(
        cases[a.case_id].young_person_name not in e.body_text for a in audits for e in emails
    )
    second, none = mock_inspection(session, date(2027, 1, 20), 12, spec)  # S11
    assert not second.created and none is None
    assert len(session.exec(select(Audit).where(Audit.kind == AuditKind.INSPECTION)).all()) == 12


def _answers(session: Session, audit: Audit, weak: set[str], none: str = "reviewing_") -> AuditForm:
    """Key questions sufficient, but those in `weak` not sufficient and those whose code starts
    with `none` not applicable."""
    values = {
        AnswerType.JUDGEMENT: "sufficient",
        AnswerType.YES_NO: "yes",
        AnswerType.COUNT: "1",
        AnswerType.TEXT: "Seen",
    }
    answers = {}
    for q in questions_for(session, audit):
        if q.answer_type is AnswerType.SUFFICIENCY:
            bad = q.code in weak
            value = "not sufficient" if bad else "sufficient"
            if q.code.startswith(none):
                value = "not applicable"
            answers[q.code] = Answer(value=value, evidence="Read on file")
        else:
            answers[q.code] = Answer(value=values[q.answer_type])
    return AuditForm(
        audit_id=audit.id, recorded_by=session.get(Staff, audit.auditor_id).email, answers=answers
    )


@pytestmark_demo
def test_h1_a_key_question_without_evidence_is_refused_and_not_sufficient_is_stored(
    session: Session, settings_env: None
) -> None:
    """H1 (and L2: one validation for every way in): a sufficient / not sufficient answer needs
    its evidence, named by the evidence field; 'not sufficient' is stored as insufficient."""
    mock_inspection(session, DRAWN_ON, 4, load_inspection().mock_inspection)
    audit = session.exec(select(Audit).where(Audit.kind == AuditKind.INSPECTION)).first()
    form = _answers(session, audit, {"planning_desistance"})
    form.answers["assessment_desistance"] = Answer(value="sufficient", evidence=" ")
    questions = questions_for(session, audit)
    emails = {s.email for s in session.exec(select(Staff))}
    clean, problems = validate(form, questions, emails, date(2027, 1, 10), ["Risk"])
    assert clean is None
    assert [p.field for p in problems] == ["e.assessment_desistance"]
    form.answers["assessment_desistance"] = Answer(value="sufficient", evidence="Seen")
    record_audit(session, form, on=date(2027, 1, 10), source="test")
    stored = dict(
        session.exec(
            select(Question.code, Finding.judgement)
            .join(Finding, Finding.question_id == Question.id)
            .where(Finding.audit_id == audit.id)
        ).all()
    )
    assert stored["planning_desistance"] is Judgement.INSUFFICIENT
    assert stored["assessment_desistance"] is Judgement.SUFFICIENT


@pytestmark_demo
def test_h2_h3_mock_inspection_report_rates_each_standard_with_its_interval(
    session: Session, settings_env: None, tmp_path: Path
) -> None:
    """H2, H3: the report's PDF and XLSX give each standard's rating with its interval from the
    completed audits only (a standard answered only "not applicable" is there, not rated), say
    the bands are unconfirmed, and name cases by reference only (E5)."""
    mock_inspection(session, DRAWN_ON, 6, load_inspection().mock_inspection)
    audits = session.exec(
        select(Audit).where(Audit.kind == AuditKind.INSPECTION).order_by(Audit.id)
    ).all()
    court = [
        a for a in audits if session.get(QuestionSet, a.question_set_id).code == "inspection-court"
    ]
    assert len(court) >= 2
    for n, audit in enumerate(court[:2]):  # 2.1 others' safety: 1 of 2 sufficient
        record_audit(
            session,
            _answers(session, audit, {"assessment_others_safety"} if n else set()),
            on=date(2027, 1, 12),
            source="test",
        )
    files = write_report(session, None, SPEC, date(2027, 1, 25), tmp_path, "Test YOT")
    assert (files.period, files.completed, files.assigned) == ("2027-01", 2, 6)
    text = " ".join(p.extract_text() for p in PdfReader(files.pdf).pages)
    text = re.sub(r"\s+", " ", text)
    assert "2.1 Assessment" in text and "Requires improvement, but could be" in text
    assert "could not confirm" in text
    names = [session.get(Case, a.case_id).young_person_name for a in audits]
    assert not any(name in text for name in names)  # E5
    book = openpyxl.load_workbook(files.xlsx)
    ratings = {r[0]: r for r in book["Ratings"].iter_rows(min_row=2, values_only=True)}
    assert ratings["2.1"][2:4] == (2, 0.5) and ratings["2.2"][3] == 1.0
    assert ratings["2.1"][6].startswith("Requires improvement")  # 1 of 2 = 50%
    assert ratings["2.2"][6].startswith("Outstanding, but could be")  # 2 of 2, interval 34%-100%
    assert ratings["2.4"][2:4] == (0, None) and ratings["2.4"][6] == "Not rated: no case judged"
    assert "2.4 Reviewing" in text and "Not rated: no case judged" in text
    assert len(list(book["Cases"].iter_rows(min_row=2))) == 6
    keys = list(book["Key questions"].iter_rows(values_only=True))
    assert keys[0][:5] == ("standard", "title", "key question", "sufficient", "judged")
    others = next(
        r
        for r in keys
        if r[2] == "Does the assessment analyse well enough how to keep other people safe?"
    )
    assert others[3:5] == (1, 2) and others[8].startswith("Requires improvement")
    bands = dict(book["Bands"].iter_rows(min_row=2, values_only=True))
    assert (
        bands["Good from"] == 0.65
        and bands["confirmed against the Inspectorate's own text"] == "no"
    )


@pytestmark_demo
def test_h1_a_themed_sample_can_use_either_tool(session: Session, settings_env: None) -> None:
    """H1 with S7: `--tool inspection` audits the theme's cases with the inspection-style sets
    (by disposal), '2012' with the theme's own variant; another name is refused."""
    from tasks.sampling.adhoc import themed_sample

    with pytest.raises(InvalidInput, match="unknown tool 'hmip'"):
        themed_sample(session, DRAWN_ON, "high-rosh", tool="hmip")
    inspected = themed_sample(session, DRAWN_ON, "high-rosh", count=3, tool="inspection")
    kept = themed_sample(session, DRAWN_ON, "mappa", count=3, tool="2012")
    sets = {q.id: q.code for q in session.exec(select(QuestionSet))}
    codes = {sets[session.get(Audit, a).question_set_id] for a in inspected.audits}
    assert codes and codes <= {"inspection-court", "inspection-out-of-court"}
    assert {sets[session.get(Audit, a).question_set_id] for a in kept.audits} == {
        "case-audit-mappa"
    }


def test_h1_the_tool_setting_names_kinds_of_audit_and_refuses_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("YOTQA_INSPECTION_TOOL_KINDS", "case_file, PEER")
    assert Settings().inspection_tool_kinds == ["case_file", "peer"]
    monkeypatch.setenv("YOTQA_INSPECTION_TOOL_KINDS", "observation")
    with pytest.raises(ValueError, match="observation"):
        Settings()


@pytest.mark.demo(seed=21, as_of=date(2026, 11, 25))
def test_h1_the_months_sample_uses_the_inspection_style_tool_where_the_setting_says(
    session: Session, settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H1: with YOTQA_INSPECTION_TOOL_KINDS=case_file the month's case-file audits use the
    court or out-of-court set by disposal; observations keep theirs."""
    from tasks.sampling.monthly import sample_month

    monkeypatch.setenv("YOTQA_INSPECTION_TOOL_KINDS", "case_file")
    get_settings.cache_clear()
    sample_month(session, date(2026, 12, 1))
    sets = {q.id: q.code for q in session.exec(select(QuestionSet))}
    cases = {c.id: c for c in session.exec(select(Case))}
    used = Counter()
    for a in session.exec(select(Audit)):
        code = sets[a.question_set_id]
        used[(a.kind, code)] += 1
        if a.kind is AuditKind.CASE_FILE:
            ooc = cases[a.case_id].order_type.value in OUT_OF_COURT
            assert code == ("inspection-out-of-court" if ooc else "inspection-court")
        if a.kind is AuditKind.OBSERVATION:
            assert code == "observation"
    assert any(k is AuditKind.CASE_FILE for k, _ in used)


@pytestmark_demo
def test_h3_mock_inspection_from_the_command_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """H3 from the CLI as a QA manager runs it: sample (emails sent or written), again (nothing
    changed, S11), report (PDF and XLSX written); a bad size is a usage error, not a traceback."""
    drawn = cli("inspection", "sample", "--as-of", "2027-01-05", "--size", "5")
    assert drawn.exit_code == 0, drawn.output
    assert "Mock inspection 2027-01: 5 cases:" in drawn.stdout and "Emails:" in drawn.stdout
    again = cli("inspection", "sample", "--as-of", "2027-01-06", "--size", "5")
    assert again.exit_code == 0 and "already drawn" in again.stdout
    report = cli("inspection", "report", "--as-of", "2027-01-07")
    assert report.exit_code == 0, report.output
    assert "0 of 5 audits completed" in report.stdout
    assert list(Path(get_settings().output_dir, "packs").glob("mock-inspection-2027-01.*"))
    assert cli("inspection", "sample", "--size", "0").exit_code == 2
    missing = cli("inspection", "report", "--period", "2026-05")
    assert missing.exit_code == 1 and "no mock inspection was drawn in 2026-05" in missing.output
