"""A completed audit form as plain data, and the one validation every way of recording uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from models.enums import AnswerType, Judgement, YesNo
from models.errors import YotqaError

MAX_ACTION_DAYS = 183  # an action point's deadline within six months of recording
MAX_ACTIONS = 50  # action points on one audit, so priorities run 1 to 50
MAX_COUNT = 100_000  # a count question (failures to attend, scores) is far below this


# Longest free text a form may hold: generous for evidence, far short of a pasted file.
LONG_TEXT = 10_000
Text = Annotated[str, Field(max_length=LONG_TEXT)]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, Field(max_length=200)] | int | None = None
    evidence: Text = ""


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None
    text: Annotated[str, Field(max_length=2_000)] = ""
    owner_email: Annotated[str, Field(max_length=254)] = ""
    deadline: date | Annotated[str, Field(max_length=40)] | None = None


class AuditForm(BaseModel):
    """What an auditor hands in, from the UI form, an XLSX, JSON or YAML: not yet trusted."""

    model_config = ConfigDict(extra="forbid")

    audit_id: int = Field(ge=1, le=2**31 - 1)  # a database id: no wider than the column
    recorded_by: Annotated[str, Field(max_length=254)] = ""
    answers: dict[Annotated[str, Field(max_length=80)], Answer] = Field(
        default_factory=dict, max_length=500
    )
    action_points: list[ActionIn] = Field(default_factory=list, max_length=MAX_ACTIONS)
    good_practice: list[Text] = Field(default_factory=list, max_length=50)
    high_risk: Text = ""
    recorded_in_cms: bool = False


class Problem(str):
    """One problem with a form, as the sentence every path shows; `field` names the form field it
    belongs to (`q.<code>`, `action.<n>.text|owner|priority|deadline`, `recorded_by`), if any."""

    field: str
    short: str  # the same, said beside its field (the page shows which question it is)

    def __new__(cls, message: str, field: str = "", short: str = "") -> Problem:
        problem = super().__new__(cls, message)
        problem.field, problem.short = field, short or message
        return problem


class FormInvalid(YotqaError):
    """A form that cannot be recorded; lists every problem, each naming its question or action."""

    def __init__(self, source: str, problems: list[str] | list[Problem]):
        self.source, self.problems = source, problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{len(problems)} {noun} in {source}; nothing was recorded")

    def lines(self) -> list[str]:
        return [f"{self.source}: {p}" for p in self.problems] + [str(self)]


@dataclass(frozen=True)
class QuestionView:
    code: str
    text: str
    answer_type: AnswerType
    required: bool
    section: str = ""


@dataclass(frozen=True)
class CleanAnswer:
    code: str
    judgement: Judgement | None = None
    yes_no: YesNo | None = None
    count: int | None = None
    text: str = ""
    evidence: str = ""


@dataclass(frozen=True)
class CleanAction:
    priority: int
    text: str
    owner_email: str
    deadline: date


@dataclass(frozen=True)
class CleanForm:
    audit_id: int
    recorded_by: str
    answers: list[CleanAnswer]
    actions: list[CleanAction]
    good_practice: list[str]
    high_risk: str
    recorded_in_cms: bool


def _label(q: QuestionView) -> str:
    short = q.text if len(q.text) <= 70 else q.text[:67] + "..."
    return f"question {q.code} ({short})"


def validate(
    form: AuditForm, questions: list[QuestionView], staff_emails: set[str], on: date
) -> tuple[CleanForm | None, list[Problem]]:
    """Check a form against its question set; return the clean form, or every problem found."""
    problems: list[Problem] = []
    by_code = {q.code: q for q in questions}
    for code in form.answers:
        if code not in by_code:
            problems.append(Problem(f"question {code}: not a question of this audit's tool"))
    answers = []
    for q in questions:
        given = form.answers.get(q.code, Answer())
        clean = _answer(q, given, problems)
        if clean is not None:
            answers.append(clean)
    actions = _actions(form.action_points, staff_emails, on, problems)
    recorder = form.recorded_by.strip().lower()
    if recorder not in staff_emails:
        problems.append(
            Problem(
                f"recorded_by: {form.recorded_by!r} is not an active member of staff's email",
                "recorded_by",
            )
        )
    good = [g.strip() for g in form.good_practice if g and g.strip()]
    if problems:
        return None, problems
    return CleanForm(
        form.audit_id,
        recorder,
        answers,
        actions,
        good,
        form.high_risk.strip(),
        form.recorded_in_cms,
    ), []


def _answer(q: QuestionView, given: Answer, problems: list[Problem]) -> CleanAnswer | None:
    raw = given.value
    text = "" if raw is None else str(raw).strip()
    evidence = given.evidence.strip()
    if not text:
        if q.required:
            problems.append(
                Problem(
                    f"{_label(q)}: an answer is required ({_expected(q.answer_type)})",
                    f"q.{q.code}",
                    _ask(q.answer_type),
                )
            )
        return None
    try:
        if q.answer_type is AnswerType.JUDGEMENT:
            return CleanAnswer(q.code, judgement=Judgement.parse(text), evidence=evidence)
        if q.answer_type is AnswerType.YES_NO:
            return CleanAnswer(q.code, yes_no=YesNo.parse(text), evidence=evidence)
        if q.answer_type is AnswerType.COUNT:
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            digits = str(raw).strip() if isinstance(raw, int) else text
            if not (digits.isascii() and digits.isdigit()) or int(digits) > MAX_COUNT:
                raise ValueError(text)
            count = int(digits)
            return CleanAnswer(q.code, count=count, evidence=evidence)
        return CleanAnswer(q.code, text=text, evidence=evidence)
    except ValueError:
        problems.append(
            Problem(
                f"{_label(q)}: {text[:40]!r} is not {_expected(q.answer_type)}",
                f"q.{q.code}",
                f"{text[:40]!r} is not an answer here: give {_expected(q.answer_type)}.",
            )
        )
        return None


def _ask(answer_type: AnswerType) -> str:
    """What a page says beside a question left unanswered."""
    return {
        AnswerType.JUDGEMENT: "Answer this question: choose one of insufficient, sufficient, good, excellent or not applicable.",
        AnswerType.YES_NO: "Answer this question: choose yes, no or not applicable.",
        AnswerType.COUNT: f"Answer this question: enter a whole number from 0 to {MAX_COUNT:,}.",
        AnswerType.TEXT: "Answer this question.",
    }[answer_type]


def _expected(answer_type: AnswerType) -> str:
    return {
        AnswerType.JUDGEMENT: "one of insufficient, sufficient, good, excellent, not applicable",
        AnswerType.YES_NO: "yes, no or not applicable",
        AnswerType.COUNT: f"a whole number from 0 to {MAX_COUNT:,}",
        AnswerType.TEXT: "some text",
    }[answer_type]


def _actions(
    items: list[ActionIn], staff: set[str], on: date, problems: list[Problem]
) -> list[CleanAction]:
    """D3: every action point has text, an owner, a priority order and a deadline."""
    clean, priorities = [], set()
    for n, a in enumerate(items, start=1):
        if not any([a.text.strip(), a.owner_email.strip(), a.priority, a.deadline]):
            continue  # an empty row of the form
        where, at = f"action point {n}", f"action.{n}"
        ok = True
        if not a.text.strip():
            problems.append(
                Problem(
                    f"{where}: the action is missing: say what is to be done",
                    f"{at}.text",
                    "Say what is to be done.",
                )
            )
            ok = False
        owner = a.owner_email.strip().lower()
        if owner not in staff:
            problems.append(
                Problem(
                    f"{where}: owner {a.owner_email!r} is not an active member of staff's email",
                    f"{at}.owner",
                    "Choose who does it from the staff list.",
                )
            )
            ok = False
        if a.priority is None or not 1 <= a.priority <= MAX_ACTIONS or a.priority in priorities:
            problems.append(
                Problem(
                    f"{where}: priority must be 1, 2, 3... once each (the order to do them in)",
                    f"{at}.priority",
                    "Give each action point its own priority, 1, 2, 3... (1 is done first).",
                )
            )
            ok = False
        else:
            priorities.add(a.priority)
        deadline = _date(a.deadline)
        if deadline is None:
            problems.append(
                Problem(
                    f"{where}: a deadline is required, YYYY-MM-DD (D3)",
                    f"{at}.deadline",
                    "Enter the deadline agreed at feedback (D3).",
                )
            )
            ok = False
        elif deadline < on or (deadline - on).days > MAX_ACTION_DAYS:
            problems.append(
                Problem(
                    f"{where}: deadline {deadline} must be between {on} and six months later",
                    f"{at}.deadline",
                    f"The deadline must be between {on:%-d %B %Y} and six months later.",
                )
            )
            ok = False
        if ok and a.priority is not None and deadline is not None:  # ok: both are set
            clean.append(CleanAction(a.priority, a.text.strip(), owner, deadline))
    return sorted(clean, key=lambda a: a.priority)


def _date(value: date | str | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10]) if value else None
    except ValueError:
        return None
