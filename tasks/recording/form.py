"""A completed audit form as plain data, and the one validation every way of recording uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from models.enums import AnswerType, Judgement, NeedScope, Sufficiency, YesNo
from models.errors import YotqaError

MAX_ACTION_DAYS = 183  # an action point's deadline within six months of recording
MAX_ACTIONS = 50  # action points on one audit, so priorities run 1 to 50
MAX_NEEDS = 20  # support or training needs recorded with one audit (A4)
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


class NeedIn(BaseModel):
    """A4: a support or training need identified with the audit (§5 Methods)."""

    model_config = ConfigDict(extra="forbid")

    theme: Annotated[str, Field(max_length=200)] = ""
    text: Annotated[str, Field(max_length=2_000)] = ""
    scope: Annotated[str, Field(max_length=40)] = ""
    review_on: date | Annotated[str, Field(max_length=40)] | None = None


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
    support_needs: list[NeedIn] = Field(default_factory=list, max_length=MAX_NEEDS)


class Problem(str):
    """One problem with a form, as the sentence every path shows; `field` names the form field it
    belongs to (`q.<code>`, `action.<n>.text|owner|priority|deadline`, `recorded_by`), if any."""

    field: str  # also need.<n>.theme|scope|review_on|text (A4)
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
class CleanNeed:
    theme: str
    text: str
    scope: NeedScope
    review_on: date


@dataclass(frozen=True)
class CleanForm:
    audit_id: int
    recorded_by: str
    answers: list[CleanAnswer]
    actions: list[CleanAction]
    good_practice: list[str]
    high_risk: str
    recorded_in_cms: bool
    needs: list[CleanNeed] = field(default_factory=list)


def _label(q: QuestionView) -> str:
    short = q.text if len(q.text) <= 70 else q.text[:67] + "..."
    return f"question {q.code} ({short})"


def validate(
    form: AuditForm,
    questions: list[QuestionView],
    staff_emails: set[str],
    on: date,
    themes: Sequence[str],
) -> tuple[CleanForm | None, list[Problem]]:
    """Check a form against its question set (and its needs against the service's `themes`);
    return the clean form, or every problem found."""
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
    needs = _needs(form.support_needs, themes, on, problems)
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
        needs,
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
        if q.answer_type is AnswerType.SUFFICIENCY:
            answer = Sufficiency.parse(text)
            if answer is not Sufficiency.NOT_APPLICABLE and not evidence:
                problems.append(
                    Problem(
                        f"{_label(q)}: a key question's answer needs its evidence (H1)",
                        f"e.{q.code}",
                        "Say what in the case file shows this answer.",
                    )
                )
                return None
            return CleanAnswer(q.code, judgement=Judgement(answer.value), evidence=evidence)
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
        AnswerType.SUFFICIENCY: "Answer this question: choose sufficient, not sufficient or not applicable.",
    }[answer_type]


def _expected(answer_type: AnswerType) -> str:
    return {
        AnswerType.JUDGEMENT: "one of insufficient, sufficient, good, excellent, not applicable",
        AnswerType.YES_NO: "yes, no or not applicable",
        AnswerType.COUNT: f"a whole number from 0 to {MAX_COUNT:,}",
        AnswerType.TEXT: "some text",
        AnswerType.SUFFICIENCY: "sufficient, not sufficient or not applicable",
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


def _needs(
    items: list[NeedIn], themes: Sequence[str], on: date, problems: list[Problem]
) -> list[CleanNeed]:
    """A4: each need has a theme from the service's list, whom it is for, and a review date
    (within six months, as an action point's deadline); an empty row is passed over."""
    known = {t.casefold().strip(): t for t in themes}
    clean = []
    for n, need in enumerate(items, start=1):
        if not any([need.theme.strip(), need.text.strip(), need.review_on]):
            continue  # an empty row (its scope may come pre-chosen)
        where, at, ok = f"support need {n}", f"need.{n}", True
        theme = known.get(need.theme.casefold().strip())
        if theme is None:
            shown = ", ".join(themes[:6]) + (", ..." if len(themes) > 6 else "")
            problems.append(
                Problem(
                    f"{where}: theme {need.theme[:60]!r} is not one of the service's support "
                    f"needs ({shown}; the list is models/data/support_needs.yaml)",
                    f"{at}.theme",
                    "Choose the need's theme from the list.",
                )
            )
            ok = False
        try:
            scope = NeedScope.parse(need.scope.strip() or "individual")
        except ValueError:
            problems.append(
                Problem(
                    f"{where}: scope {need.scope[:40]!r} is not individual or team",
                    f"{at}.scope",
                    "Say whether the need is the case manager's or the whole team's.",
                )
            )
            ok = False
        review_on = _date(need.review_on)
        if review_on is None:
            problems.append(
                Problem(
                    f"{where}: a review date is required, YYYY-MM-DD (§5: timescales are monitored)",
                    f"{at}.review_on",
                    "Enter the date the need is to be reviewed by.",
                )
            )
            ok = False
        elif review_on <= on or (review_on - on).days > MAX_ACTION_DAYS:
            problems.append(
                Problem(
                    f"{where}: review date {review_on} must be after {on} and within six months",
                    f"{at}.review_on",
                    f"The review date must be after {on:%-d %B %Y} and within six months.",
                )
            )
            ok = False
        if ok and theme is not None and review_on is not None:
            clean.append(CleanNeed(theme, need.text.strip(), scope, review_on))
    return clean


def _date(value: date | str | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10]) if value else None
    except ValueError:
        return None
