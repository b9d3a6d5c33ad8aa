"""The audit form as a web page: what the page shows, and the page's fields read back as the one
`AuditForm` every way of recording validates (L2). Plain functions over plain data: no HTTP."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col, select

from models import (
    ActionPoint,
    Audit,
    Case,
    HighRiskIssue,
    Question,
    QuestionSet,
    Staff,
    SupportNeed,
)
from models.base import id_of
from models.enums import AnswerType, AuditKind, Judgement, NeedScope, Role, Sufficiency, YesNo
from models.settings import Settings
from tasks.recording.form import MAX_NEEDS, AuditForm, Problem
from tasks.recording.needs import themes_of

MAX_ROWS = 50  # action points on one form (as AuditForm allows)
MIN_NEED_ROWS = 2  # A4: support-need rows the page shows at least
NEED_PARTS = ("theme", "scope", "review_on", "text")
SCOPES = [(s.value, s.label) for s in NeedScope]  # A4: "The case manager", "The whole team"
CHOICES = {
    AnswerType.JUDGEMENT: [(j.value, j.label) for j in Judgement],
    AnswerType.YES_NO: [(y.value, y.label) for y in YesNo],
    AnswerType.SUFFICIENCY: [(a.value, a.label) for a in Sufficiency],
}
_ROW_FIELD = re.compile(r"action\.(\d+)\.(text|owner|deadline|priority)")
_NEED_FIELD = re.compile(r"need\.(\d+)\.(theme|scope|review_on|text)")


@dataclass(frozen=True)
class QuestionField:
    code: str
    text: str
    answer_type: str  # judgement, yes_no, count, text
    required: bool
    guidance: str
    choices: list[tuple[str, str]]


@dataclass
class FormPage:
    """Everything the audit form page shows (case reference only: E5, L3)."""

    audit_id: int
    case_ref: str
    kind: str
    tool: str
    due_on: date
    three_way: bool
    reason: str
    default_owner: str
    moderation: bool = False  # A5: re-marked blind, so no action points or needs of its own
    sections: list[tuple[str, list[QuestionField]]] = field(default_factory=list)
    staff: list[tuple[str, str]] = field(default_factory=list)  # (email, "name, role")
    themes: list[str] = field(default_factory=list)  # A4: the service's support-need themes


def _audit(session: Session, audit_id: int) -> Audit:
    audit = session.get(Audit, audit_id)
    if audit is None:
        raise LookupError(f"there is no audit {audit_id}")
    return audit


def form_page(session: Session, audit_id: int, settings: Settings | None = None) -> FormPage:
    audit = _audit(session, audit_id)
    case = session.get(Case, audit.case_id) if audit.case_id else None
    tool = session.get(QuestionSet, audit.question_set_id)
    subject = session.get(Staff, audit.subject_staff_id)
    page = FormPage(
        audit_id=id_of(audit),
        case_ref=case.case_ref if case else "-",
        kind=audit.kind.label,
        tool=f"{tool.title}, version {tool.version}" if tool else "",
        due_on=audit.due_on,
        three_way=audit.three_way_meeting,
        reason=audit.selection_reason,
        default_owner=subject.email if subject else "",
        moderation=audit.kind is AuditKind.MODERATION,
    )
    if not page.moderation:
        page.themes = themes_of(settings)
    sections: dict[str, list[QuestionField]] = {}
    for q in session.exec(
        select(Question)
        .where(Question.question_set_id == audit.question_set_id)
        .order_by(col(Question.position))
    ):
        sections.setdefault(q.section or "Questions", []).append(
            QuestionField(
                q.code,
                q.text,
                q.answer_type.value,
                q.required,
                q.guidance.strip(),
                CHOICES.get(q.answer_type, []),
            )
        )
    page.sections = list(sections.items())
    page.staff = [
        (s.email, f"{s.name}, {s.role.label.lower()}")
        for s in session.exec(
            select(Staff).where(Staff.active == sa.true()).order_by(col(Staff.name))
        )
    ]
    return page


def action_rows(fields: dict[str, str]) -> int:
    """How many action-point rows the page holds: as many as were sent, at least one."""
    try:
        shown = int(fields.get("rows", "1"))
    except ValueError:
        shown = 1
    used = [int(m.group(1)) for k in fields if (m := _ROW_FIELD.fullmatch(k))]
    return max(1, min(MAX_ROWS, max([shown, *used])))


def need_rows(fields: dict[str, str]) -> int:
    """How many support-need rows the page holds (A4): as many as were sent, at least two."""
    try:
        shown = int(fields.get("need_rows", str(MIN_NEED_ROWS)))
    except ValueError:
        shown = MIN_NEED_ROWS
    used = [int(m.group(1)) for k in fields if (m := _NEED_FIELD.fullmatch(k))]
    return max(MIN_NEED_ROWS, min(MAX_NEEDS, max([shown, *used])))


def kept_fields(page: FormPage, fields: dict[str, str]) -> dict[str, str]:
    """The page's own fields, as typed (for a draft or to show again); anything else is dropped
    (a moderation's page has no support needs, so none are kept for it)."""
    names = {"good_practice", "high_risk", "recorded_in_cms"}
    for _, questions in page.sections:
        for q in questions:
            names.update({f"q.{q.code}", f"e.{q.code}"})
    rows = action_rows(fields)
    for n in range(1, rows + 1):
        names.update(f"action.{n}.{part}" for part in ("text", "owner", "deadline", "priority"))
    needs = need_rows(fields)
    if not page.moderation:
        for n in range(1, needs + 1):
            names.update(f"need.{n}.{part}" for part in NEED_PARTS)
    # Kept whole (the body limit bounds them): validation refuses what is too long beside its
    # field, rather than recording it cut short.
    kept = {k: str(v) for k, v in fields.items() if k in names}
    kept["rows"] = str(rows)
    if not page.moderation:
        kept["need_rows"] = str(needs)
    return kept


def form_from_fields(
    page: FormPage, fields: dict[str, str], recorded_by: str
) -> tuple[AuditForm | None, list[Problem]]:
    """The page's fields as an AuditForm (validated against the question set after), or the
    problems that stop it being one at all (a text too long), each naming its field.

    Every row of action points (and of support needs, A4) keeps its place, an empty one as a
    blank, so the validation's "action point N" ("support need N") is the page's row N."""
    answers = {
        q.code: {
            "value": fields.get(f"q.{q.code}", "").strip() or None,
            "evidence": fields.get(f"e.{q.code}", ""),
        }
        for _, questions in page.sections
        for q in questions
    }
    actions: list[dict[str, object]] = []
    for n in range(1, action_rows(fields) + 1):
        raw = {
            p: fields.get(f"action.{n}.{p}", "").strip()
            for p in ("text", "owner", "deadline", "priority")
        }
        if not (raw["text"] or raw["deadline"]):
            actions.append({})  # an empty row: its owner and priority come pre-filled
            continue
        actions.append(
            {
                "priority": int(p)
                if (p := raw["priority"][:6]).isascii() and p.isdigit()
                else None,
                "text": raw["text"],
                "owner_email": raw["owner"],
                "deadline": raw["deadline"] or None,
            }
        )
    needs: list[dict[str, object]] = []
    for n in range(1, (0 if page.moderation else need_rows(fields)) + 1):
        raw = {p: fields.get(f"need.{n}.{p}", "").strip() for p in NEED_PARTS}
        if not (raw["theme"] or raw["text"] or raw["review_on"]):
            needs.append({})  # an empty row: its scope comes pre-chosen
            continue
        needs.append({**raw, "review_on": raw["review_on"] or None})
    data = {
        "audit_id": page.audit_id,
        "recorded_by": recorded_by,
        "answers": answers,
        "action_points": actions,
        "good_practice": [
            g.strip() for g in fields.get("good_practice", "").splitlines() if g.strip()
        ],
        "high_risk": fields.get("high_risk", ""),
        "recorded_in_cms": fields.get("recorded_in_cms") == "yes",
        "support_needs": needs,
    }
    try:
        return AuditForm.model_validate(data), []
    except ValidationError as exc:
        return None, [_pydantic_problem(e["loc"], e["msg"]) for e in exc.errors()]


def _pydantic_problem(loc: tuple[object, ...], message: str) -> Problem:
    if loc[:1] == ("answers",) and len(loc) >= 3:
        target = "q" if loc[2] == "value" else "e"
        return Problem(f"question {loc[1]}: {message}", f"{target}.{loc[1]}", f"{message}.")
    if loc[:1] == ("action_points",) and len(loc) >= 3 and isinstance(loc[1], int):
        part = {"owner_email": "owner"}.get(str(loc[2]), str(loc[2]))
        return Problem(
            f"action point {loc[1] + 1}: {message}", f"action.{loc[1] + 1}.{part}", f"{message}."
        )
    if loc[:1] == ("support_needs",) and len(loc) >= 3 and isinstance(loc[1], int):
        return Problem(
            f"support need {loc[1] + 1}: {message}", f"need.{loc[1] + 1}.{loc[2]}", f"{message}."
        )
    if loc[:1] in (("good_practice",), ("high_risk",)):
        return Problem(f"{loc[0]}: {message}", str(loc[0]), f"{message}.")
    return Problem(f"{'.'.join(str(p) for p in loc) or 'form'}: {message}")


@dataclass(frozen=True)
class Receipt:
    audit_id: int
    case_ref: str
    recorded_at: str
    actions: int
    case_manager: str
    line_manager: str
    high_risk_to: list[str]
    needs: int = 0  # A4: support needs recorded with it
    reviewers: list[str] = field(default_factory=list)  # who reviews them


def receipt(session: Session, audit_id: int) -> Receipt:
    """What the auditor is told once the audit is recorded: when, and who was sent what."""
    from tasks.links import when

    audit = _audit(session, audit_id)
    case = session.get(Case, audit.case_id) if audit.case_id else None
    subject = session.get(Staff, audit.subject_staff_id)
    manager = (
        session.get(Staff, subject.line_manager_id) if subject and subject.line_manager_id else None
    )
    actions = session.execute(
        sa.select(sa.func.count())
        .select_from(ActionPoint)
        .where(col(ActionPoint.audit_id) == audit_id)
    ).scalar_one()
    needs = list(session.exec(select(SupportNeed).where(SupportNeed.audit_id == audit_id)))
    reviewers = [
        reviewer.name
        for owner_id in dict.fromkeys(n.owner_id for n in needs)
        if (reviewer := session.get(Staff, owner_id)) is not None
    ]
    risk = session.exec(select(HighRiskIssue).where(HighRiskIssue.audit_id == audit_id)).first()
    to = []
    if risk is not None:
        to = [manager.name] if manager else []
        to += [
            s.name
            for s in session.exec(
                select(Staff).where(Staff.role == Role.SERVICE_MANAGER, Staff.active == sa.true())
            )
            if s.name not in to
        ]
    return Receipt(
        audit_id,
        case.case_ref if case else "-",
        when(audit.recorded_at),
        int(actions),
        subject.name if subject else "",
        manager.name if manager and manager.id != (subject.id if subject else None) else "",
        to,
        len(needs),
        reviewers,
    )


def field_labels(page: FormPage) -> dict[str, str]:
    """What the page calls each field, for the list of problems at its top."""
    labels = {"good_practice": "Good practice", "high_risk": "High-risk issue"}
    n = 0
    for _, questions in page.sections:
        for q in questions:
            n += 1
            labels[f"q.{q.code}"] = f"Question {n}"
            labels[f"e.{q.code}"] = f"Evidence for question {n}"
    for row in range(1, MAX_NEEDS + 1):
        labels.update({f"need.{row}.{part}": f"Support need {row}" for part in NEED_PARTS})
    return labels


def summary_line(problem: Problem, labels: dict[str, str]) -> str:
    """A problem as the top of the page lists it: 'Question 5: Answer this question: ...'."""
    label = labels.get(problem.field)
    if label is None and problem.field.startswith("action."):
        label = f"Action point {problem.field.split('.')[1]}"
    if label is None and problem.field.startswith("need."):
        label = f"Support need {problem.field.split('.')[1]}"
    return f"{label}: {problem.short}" if label else str(problem)
