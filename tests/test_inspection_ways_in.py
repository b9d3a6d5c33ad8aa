"""H1 with L2: the inspection-style audit (key questions answered sufficient / not sufficient /
not applicable, with evidence) comes in through every way in, each offering the same three
answers, each recording the same findings once, and each refusing the same bad input by the one
validation: a key answer other than not applicable without its evidence (named by the evidence
field, `e.<code>`), and an answer that is not one of the three.

The ways in: the XLSX form (`yotqa audits form` / `yotqa audits record`), the Prefect UI form
(the input model the flow suspends with, and the flow's own check and store), the people's web
form (a signed link, posted with a TestClient), and that web form in headless Chromium (axe-core
and the keyboard). The database is the served world (tests/web_world.py) with a mock inspection
drawn on its day (H3), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col, select

from models import Audit, AuditEvent, Finding, Question, QuestionSet, Staff
from models.enums import AnswerType, AuditKind, AuditStatus
from tasks.inspection.mock import mock_inspection
from tasks.inspection.ratings import load_inspection
from tasks.links import RECORD
from tasks.recording.form import QuestionView
from tasks.recording.record import questions_for
from tests.browser import chromium
from tests.web_browser_world import ARGS, Person
from tests.web_browser_world import axe_script as _axe_script
from tests.web_browser_world import person as _person
from tests.web_browser_world import serve as _serve
from tests.web_browser_world import shots as _shots
from tests.web_world import TODAY, WORLD, World, csrf_of

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

# tests/web_browser_world.py's fixtures (the browser below is this module's own)
axe_script, person, serve, shots = _axe_script, _person, _serve, _shots

COURT, OUT_OF_COURT = "inspection-court", "inspection-out-of-court"
# The three answers as each way in spells them: words in the XLSX drop-down and the Prefect
# form, stored values behind the web page's labels.
WORDS = ["sufficient", "not sufficient", "not applicable"]
LABELS = ["Sufficient", "Not sufficient", "Not applicable"]
VALUES = ["sufficient", "insufficient", "not_applicable"]  # Finding.judgement's values
STORED = dict(zip(WORDS, VALUES, strict=True))


# The world with a mock inspection ------------------------------------------------------------


@pytest.fixture
def inspection(world: World) -> dict[str, Audit]:
    """H3's mock inspection drawn on the world's day: the first assigned audit of each set."""
    session = world.session
    result, drawn = mock_inspection(session, TODAY, 6, load_inspection().mock_inspection)
    assert result.created and drawn is not None
    session.commit()  # the CLI, the flow's own sessions and the pages read it
    sets = {q.id: q.code for q in session.exec(select(QuestionSet))}
    first: dict[str, Audit] = {}
    for audit in session.exec(
        select(Audit).where(Audit.kind == AuditKind.INSPECTION).order_by(col(Audit.id))
    ):
        first.setdefault(sets[audit.question_set_id], audit)
    assert set(first) == {COURT, OUT_OF_COURT}, first
    return first


def _keys(questions: list[QuestionView]) -> list[str]:
    return [q.code for q in questions if q.answer_type is AnswerType.SUFFICIENCY]


def _plan(questions: list[QuestionView]) -> dict[str, tuple[str, str]]:
    """A complete, valid answer to each question (as words) with its evidence: the first key
    question not sufficient, the second not applicable (which needs no evidence), the rest
    sufficient."""
    keys = _keys(questions)
    plan: dict[str, tuple[str, str]] = {}
    for q in questions:
        if q.answer_type is AnswerType.SUFFICIENCY:
            word = WORDS[1] if q.code == keys[0] else WORDS[2] if q.code == keys[1] else WORDS[0]
            plan[q.code] = (word, "" if word == WORDS[2] else f"Seen on the case file ({q.code})")
        elif q.answer_type is AnswerType.YES_NO:
            plan[q.code] = ("yes", "Panel minutes of the joint decision")
        else:
            assert q.answer_type is AnswerType.TEXT, q
            plan[q.code] = ("Referral order, September 2026", "")
    return plan


def _bad(questions: list[QuestionView]) -> dict[str, tuple[str, str]]:
    """The same bad input for every way in: the first key answer without its evidence, the third
    answered 'good' (a 2012-tool judgement, not one of a key question's answers)."""
    keys = _keys(questions)
    plan = _plan(questions)
    plan[keys[0]] = (WORDS[1], "")
    plan[keys[2]] = ("good", plan[keys[2]][1])
    return plan


def _expected(questions: list[QuestionView]) -> dict[str, tuple[str, str]]:
    """What the plan is stored as: a key answer as the judgement of the same value."""
    plan, stored = _plan(questions), {}
    for q in questions:
        word, evidence = plan[q.code]
        if q.answer_type is AnswerType.SUFFICIENCY:
            word = STORED[word]
        stored[q.code] = (word, evidence)
    return stored


def _stored(session: Session, audit_id: int) -> dict[str, tuple[str, str]]:
    session.expire_all()
    rows = session.exec(
        select(Question.code, Finding)
        .join(Finding, col(Finding.question_id) == Question.id)
        .where(Finding.audit_id == audit_id)
    ).all()
    return {
        code: (
            f.judgement.value if f.judgement else f.yes_no.value if f.yes_no else f.text,
            f.evidence,
        )
        for code, f in rows
    }


def _recorded_once(session: Session, audit: Audit, via: str) -> None:
    """L2: completed, by the way in named, with one 'recorded' event."""
    session.expire_all()
    stored = session.get(Audit, audit.id)
    assert (stored.status, stored.recorded_via, stored.completed_on) == (
        AuditStatus.COMPLETED,
        via,
        TODAY,
    )
    events = session.execute(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.audit_id == audit.id, AuditEvent.event == "recorded")
    ).scalar_one()
    assert events == 1


def _nothing_recorded(session: Session, audit: Audit) -> None:
    session.expire_all()
    assert session.get(Audit, audit.id).status is AuditStatus.ASSIGNED
    assert not session.exec(select(Finding).where(Finding.audit_id == audit.id)).all()


# 1. The XLSX form ----------------------------------------------------------------------------


def _fill(path: Path, plan: dict[str, tuple[str, str]]) -> None:
    """Answer the Questions sheet as an auditor would in Excel (answer in E, evidence in F)."""
    book = openpyxl.load_workbook(path)
    for row in book["Questions"].iter_rows(min_row=2):
        word, evidence = plan[str(row[0].value)]
        row[4].value, row[5].value = word, evidence or None
    book.save(path)


def test_h1_l2_xlsx_form_offers_the_three_answers_refuses_a_key_answer_without_evidence_and_records_once(
    world: World, inspection: dict[str, Audit], cli, tmp_path: Path
) -> None:
    """H1, L2 through `yotqa audits form` / `yotqa audits record`: each key question's answer
    cell has the drop-down "sufficient,not sufficient,not applicable" (and no other cell has
    it); filled in with the bad input, the file is refused naming the first key question's
    evidence and the 'good' answer, nothing recorded; filled in completely, it records the
    findings once, a key answer as the judgement of the same value."""
    audit = inspection[COURT]
    questions = questions_for(world.session, audit)
    path = tmp_path / "inspection.xlsx"
    written = cli("audits", "form", str(audit.id), "--out", path)
    assert written.exit_code == 0, written.output

    sheet = openpyxl.load_workbook(path)["Questions"]
    key_cells = {
        f"E{row[0].row}"
        for row in sheet.iter_rows(min_row=2)
        if row[3].value == AnswerType.SUFFICIENCY.label
    }
    assert len(key_cells) == len(_keys(questions)) == 12  # 2.1-2.4, three key questions each
    lists = {
        str(v.formula1): {str(c) for r in v.sqref.ranges for c in _cells(str(r))}
        for v in sheet.data_validations.dataValidation
    }
    assert lists['"sufficient,not sufficient,not applicable"'] == key_cells
    assert all(not cells & key_cells for f, cells in lists.items() if "not sufficient" not in f)

    bad = _bad(questions)
    keys = _keys(questions)
    _fill(path, bad)
    refused = cli("audits", "record", path, "--as-of", TODAY.isoformat())
    assert refused.exit_code == 1
    lines = [line for line in refused.stderr.splitlines() if line.startswith(f"{path.name}:")]
    assert len(lines) == 2, refused.stderr  # the not applicable key answer needs no evidence
    assert lines[0].startswith(f"{path.name}: question {keys[0]} (")
    assert "a key question's answer needs its evidence (H1)" in lines[0]
    assert lines[1].startswith(f"{path.name}: question {keys[2]} (")
    assert "'good' is not sufficient, not sufficient or not applicable" in lines[1]
    assert "nothing was recorded" in refused.stderr
    _nothing_recorded(world.session, audit)

    _fill(path, _plan(questions))
    recorded = cli("audits", "record", path, "--as-of", TODAY.isoformat())
    assert recorded.exit_code == 0, recorded.output
    assert _stored(world.session, audit.id) == _expected(questions)
    _recorded_once(world.session, audit, "file")
    again = cli("audits", "record", path, "--as-of", TODAY.isoformat())
    assert again.exit_code != 0 and "recorded" in again.output
    _recorded_once(world.session, audit, "file")


def _cells(ref: str) -> list[str]:
    """The cells of an A1 range ('E3' or 'E3:E5')."""
    from openpyxl.utils.cell import range_boundaries

    low_col, low_row, high_col, high_row = range_boundaries(ref)
    return [
        f"{openpyxl.utils.get_column_letter(c)}{r}"
        for c in range(low_col, high_col + 1)
        for r in range(low_row, high_row + 1)
    ]


# 2. The Prefect UI form ----------------------------------------------------------------------


def _enum(schema: dict[str, Any], prop: dict[str, Any]) -> list[str]:
    """The choices a JSON-schema property offers (through anyOf and $ref, as the UI reads it)."""
    found: list[str] = []
    for alt in prop.get("anyOf", [prop]):
        if "$ref" in alt:
            alt = schema["$defs"][alt["$ref"].rsplit("/", 1)[1]]
        found += alt.get("enum", [])
    return found


def test_h1_l2_prefect_ui_form_offers_the_three_answers_as_an_enum_and_records_the_same_findings(
    world: World, inspection: dict[str, Audit]
) -> None:
    """H1, L2 through the Prefect UI form, on an out-of-court audit (key questions beside a
    yes/no and a text question): the input model the flow suspends with offers each key
    question's three answers as an enum, with an evidence field beside it; 'good' is refused by
    the form itself; a key answer without evidence is refused by the flow's check (the one
    validation) naming the question, nothing recorded; a complete submission records the same
    findings as any other way in, once, via prefect-ui."""
    from prefect.input import RunInput

    from flows.record_audit import _problems, store
    from tasks.recording.ui_form import form_spec, input_model, to_form

    audit = inspection[OUT_OF_COURT]
    session = world.session
    questions = questions_for(session, audit)
    keys = _keys(questions)
    assert len(keys) == 9  # 3.1-3.3
    spec = form_spec(session, audit.id)
    model = input_model(spec, RunInput)
    schema = model.model_json_schema()
    props = schema["properties"]
    for q in questions:
        if q.answer_type is AnswerType.SUFFICIENCY:
            assert _enum(schema, props[q.code]) == WORDS, q.code
            assert props[f"{q.code}__evidence"]["title"] == "Evidence"
        elif q.answer_type is AnswerType.YES_NO:
            assert _enum(schema, props[q.code]) == ["yes", "no", "not applicable"]
    auditor = session.get(Staff, audit.auditor_id)

    def submitted(plan: dict[str, tuple[str, str]]) -> dict[str, Any]:
        """The JSON the Prefect UI sends back on resume."""
        data: dict[str, Any] = {"recorded_by": auditor.email}
        for code, (word, evidence) in plan.items():
            data[code] = word
            if f"{code}__evidence" in props:
                data[f"{code}__evidence"] = evidence
        return data

    bad = submitted(_bad(questions))
    with pytest.raises(ValidationError) as caught:
        model.model_validate(bad)
    assert {e["loc"][0] for e in caught.value.errors()} == {keys[2]}  # 'good' is no choice
    bad[keys[2]] = WORDS[0]
    form_json = to_form(spec, model.model_validate(bad)).model_dump(mode="json")
    problems = _problems(form_json, TODAY)
    assert len(problems) == 1 and problems[0].startswith(f"question {keys[0]} (")
    assert "needs its evidence (H1)" in problems[0] and problems[0].field == f"e.{keys[0]}"
    _nothing_recorded(session, audit)

    good = model.model_validate(submitted(_plan(questions)))
    form_json = to_form(spec, good).model_dump(mode="json")
    assert _problems(form_json, TODAY) == []
    assert store.fn(form_json, TODAY) == audit.id  # the flow's own step, without the server
    assert _stored(session, audit.id) == _expected(questions)
    _recorded_once(session, audit, "prefect-ui")


# 3. The people's web form --------------------------------------------------------------------


def _fields(plan: dict[str, tuple[str, str]]) -> dict[str, str]:
    """The plan as the page posts it: a key answer as its radio's value."""
    fields = {}
    for code, (word, evidence) in plan.items():
        fields[f"q.{code}"] = STORED.get(word, word)
        fields[f"e.{code}"] = evidence
    return fields


def test_h1_l2_web_form_shows_the_three_answers_refuses_beside_the_evidence_and_records_once(
    world: World, inspection: dict[str, Audit], client
) -> None:
    """H1, L2 through the people's page (a signed link): each key question is a group of three
    radio buttons, Sufficient / Not sufficient / Not applicable; posted with the bad input the
    page comes back (400) with the error beside the first key question's evidence field (and
    in the summary, linked to it) and beside the 'good' answer, what was typed kept, nothing
    recorded; posted complete, the same findings are recorded once, via web."""
    audit = inspection[COURT]
    questions = questions_for(world.session, audit)
    keys = _keys(questions)
    path = world.link(audit.auditor_id, RECORD, audit.id, audit.due_on)
    page = client.get(path)
    assert page.status_code == 200, page.text
    html = page.text
    for code in keys:
        radios = re.findall(
            rf'<input type="radio" name="q\.{code}" id="([^"]+)" value="([^"]+)"', html
        )
        assert radios == [
            (f"q.{code}", VALUES[0]),
            (f"q.{code}-{VALUES[1]}", VALUES[1]),
            (f"q.{code}-{VALUES[2]}", VALUES[2]),
        ]
        labels = re.findall(rf'<label for="q\.{code}(?:-[a-z_]+)?">([^<]+)</label>', html)
        assert labels == LABELS
        assert f'<textarea name="e.{code}" id="e.{code}"' in html

    bad = {**_fields(_bad(questions)), "op": "submit", "csrf_token": csrf_of(html)}
    refused = client.post(path, data=bad)
    assert refused.status_code == 400
    html = refused.text
    evidence = re.escape(f"e.{keys[0]}")
    assert re.search(
        rf'<p class="error-message" id="{evidence}-error"><span class="visually-hidden">Error:'
        r"</span> Say what in the case file shows this answer\.</p>\s*<textarea name="
        rf'"{evidence}" id="{evidence}" rows="2" aria-describedby="{evidence}-error" '
        r'aria-invalid="true">',
        html,
    ), html
    assert re.search(  # and in the summary, linked to it
        rf'<a href="#{evidence}">Evidence for question \d+: Say what in the case file', html
    )
    assert f'id="q.{keys[2]}-error"' in html and "&#39;good&#39; is not an answer here" in html
    assert f'id="q.{keys[1]}-error"' not in html and f'id="e.{keys[1]}-error"' not in html
    assert f'id="e.{keys[0]}-error"' in html and html.count('class="error-message"') == 2
    assert re.search(rf'name="q\.{keys[0]}" id="[^"]+" value="insufficient" checked', html)
    _nothing_recorded(world.session, audit)

    good = {**_fields(_plan(questions)), "op": "submit", "csrf_token": csrf_of(html)}
    recorded = client.post(path, data=good)
    assert recorded.status_code == 200, recorded.text
    assert "Recorded on" in recorded.text
    assert _stored(world.session, audit.id) == _expected(questions)
    _recorded_once(world.session, audit, "web")
    again = client.post(path, data=good)
    assert again.status_code == 410 and "was recorded on" in again.text
    _recorded_once(world.session, audit, "web")


# 4. The web form in a browser ----------------------------------------------------------------


@pytest.fixture
def browser(axe_script: Path) -> Iterator[Any]:
    """Headless Chromium as tests/web_browser_world.py launches it, closed after this test (so
    Playwright's event loop is not left running for the worker's next tests)."""
    executable = chromium()
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _tab_to(tab: Person, wanted: str, limit: int = 400) -> None:
    """Press Tab until the focus is on the element `wanted` (a JS test on `e`) holds."""
    for _ in range(limit):
        tab.page.keyboard.press("Tab")
        if tab.page.evaluate(f"(e => {wanted})(document.activeElement)"):
            return
    pytest.fail(f"Tab never reached {wanted}")


def _checked(tab: Person, name: str) -> list[str]:
    return list(
        tab.page.eval_on_selector_all(
            f'input[name="{name}"]:checked', "els => els.map(e => e.value)"
        )
    )


def test_h1_l2_inspection_form_in_a_browser_passes_axe_and_takes_key_answers_by_keyboard(
    world: World,
    inspection: dict[str, Audit],
    person: Callable[..., Person],
    serve: Callable[..., Any],
) -> None:
    """H1, L2 in headless Chromium: the inspection-style form has no axe-core violation (WCAG
    2.1 A/AA), fresh and with its errors showing. From the keyboard alone: Tab reaches the first
    key question's radios, Space and the arrow keys choose among Sufficient / Not sufficient /
    Not applicable; sent without evidence the page comes back with the error beside the
    evidence field and the choice kept; the summary's link (Tab, Enter) takes the keyboard to
    that field, evidence is typed, and sent again that question has no error."""
    audit = inspection[COURT]
    key = _keys(questions_for(world.session, audit))[0]
    name = f"q.{key}"
    path = world.link(audit.auditor_id, RECORD, audit.id, audit.due_on)
    submit = "e.tagName === 'BUTTON' && e.value === 'submit'"
    with serve() as base:
        tab = person(base)
        assert tab.open(path).status == 200
        labels = tab.page.locator(f'.question:has([name="{name}"]) .choice label')
        assert labels.all_inner_texts() == LABELS
        tab.check("inspection-audit-form")

        _tab_to(tab, f"e.name === '{name}'")
        assert tab.focused()["id"] == name  # the group's first radio: none is chosen yet
        tab.page.keyboard.press("Space")
        assert _checked(tab, name) == [VALUES[0]]
        tab.page.keyboard.press("ArrowRight")
        assert _checked(tab, name) == [VALUES[1]]
        assert tab.focused()["id"] == f"{name}-{VALUES[1]}"
        tab.page.keyboard.press("ArrowRight")
        assert _checked(tab, name) == [VALUES[2]]
        tab.page.keyboard.press("ArrowLeft")
        assert _checked(tab, name) == [VALUES[1]]  # Not sufficient: evidence is needed
        tab.page.keyboard.press("Tab")
        assert tab.focused()["id"] == f"e.{key}"  # the evidence comes next

        _tab_to(tab, submit)
        with tab.page.expect_navigation() as navigation:
            tab.page.keyboard.press("Enter")
        assert navigation.value.status == 400  # other questions are unanswered too
        assert tab.autofocused()["cls"] == "error-summary"
        question = tab.page.locator(".question", has=tab.page.locator(f'[id="{name}"]'))
        beside = question.locator(f'[id="e.{key}-error"]').inner_text()
        assert "Say what in the case file shows this answer" in beside
        described = tab.page.get_attribute(f'[id="e.{key}"]', "aria-describedby") or ""
        assert f"e.{key}-error" in described.split()
        assert _checked(tab, name) == [VALUES[1]]  # kept
        tab.check("inspection-audit-form-errors")

        tab.page.keyboard.press("Tab")  # into the summary: its first link is this evidence
        assert tab.page.evaluate("document.activeElement.getAttribute('href')") == f"#e.{key}"
        tab.page.keyboard.press("Enter")
        _wait_for(lambda: tab.focused()["id"] == f"e.{key}")
        tab.page.keyboard.type("Seen on the case file: no plan for the child's desistance")
        _tab_to(tab, submit)
        with tab.page.expect_navigation() as navigation:
            tab.page.keyboard.press("Enter")
        assert navigation.value.status == 400  # the rest is still unanswered
        assert tab.page.locator(f'[id="e.{key}-error"], [id="{name}-error"]').count() == 0
        assert _checked(tab, name) == [VALUES[1]]
        assert tab.page.input_value(f'[id="e.{key}"]').startswith("Seen on the case file")
    _nothing_recorded(world.session, audit)


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
