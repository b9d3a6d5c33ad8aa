"""The audit form in the Prefect UI: a pydantic model built from the audit's question set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model
from sqlmodel import Session, col, select

from models import Audit, Case, Question, Staff
from models.base import id_of
from models.enums import AnswerType
from models.errors import InvalidInput
from tasks.recording.form import MAX_NEEDS, ActionIn, Answer, AuditForm, NeedIn
from tasks.recording.needs import themes_of
from tasks.recording.record import question_set_of

JUDGEMENTS = Literal["insufficient", "sufficient", "good", "excellent", "not applicable"]
YES_NO = Literal["yes", "no", "not applicable"]
SUFFICIENCY = Literal["sufficient", "not sufficient", "not applicable"]


class ActionPointInput(BaseModel):
    priority: int = Field(1, ge=1, description="1 = do first")
    text: str = Field("", description="What is to be done")
    owner_email: str = Field("", description="Staff email of who does it")
    deadline: date | None = Field(None, description="Agreed deadline (D3)")


class SupportNeedInput(BaseModel):
    """A4 (§5): a support or training need; its theme is one of the service's list."""

    theme: str = Field("", max_length=200, description="The need's theme (the service's list)")
    scope: Literal["individual", "team"] = Field(
        "individual", description="individual: the case manager; team: the whole team"
    )
    review_on: date | None = Field(None, description="Review by (within six months)")
    text: str = Field("", max_length=2_000, description="What support or training is needed")


@dataclass(frozen=True)
class FormSpec:
    audit_id: int
    case_ref: str
    kind: str
    tool: str
    due_on: date
    auditor_email: str
    three_way: bool
    questions: list[tuple[str, str, AnswerType, bool, str]]  # code, text, type, required, guidance
    themes: tuple[str, ...] = ()  # A4: the support-need themes a need may be recorded under


def form_spec(session: Session, audit_id: int) -> FormSpec:
    audit = session.get(Audit, audit_id)
    if audit is None:
        raise InvalidInput(f"there is no audit {audit_id}")
    case = session.get(Case, audit.case_id) if audit.case_id else None
    qs = question_set_of(session, audit)
    questions = session.exec(
        select(Question)
        .where(Question.question_set_id == audit.question_set_id)
        .order_by(col(Question.position))
    ).all()
    auditor = session.get(Staff, audit.auditor_id)
    if auditor is None:
        raise InvalidInput(f"audit {audit_id}'s auditor {audit.auditor_id} is missing")
    return FormSpec(
        id_of(audit),
        case.case_ref if case else "-",
        audit.kind.label,
        f"{qs.title} v{qs.version}",
        audit.due_on,
        auditor.email,
        audit.three_way_meeting,
        [(q.code, q.text, q.answer_type, q.required, q.guidance) for q in questions],
        tuple(themes_of()),
    )


def input_model(spec: FormSpec, base: type[BaseModel]) -> type[BaseModel]:
    """Every question a field (judgements and yes/no as drop-downs, evidence beside each)."""
    fields: dict[str, Any] = {}
    for code, text, answer_type, required, guidance in spec.questions:
        kind: Any = {
            AnswerType.JUDGEMENT: JUDGEMENTS,
            AnswerType.YES_NO: YES_NO,
            AnswerType.SUFFICIENCY: SUFFICIENCY,
            AnswerType.COUNT: int,
            AnswerType.TEXT: str,
        }[answer_type]
        title = text if required else f"{text} (optional)"
        fields[code] = (kind | None, Field(None, title=title, description=guidance[:600] or None))
        if answer_type is not AnswerType.TEXT:
            fields[f"{code}__evidence"] = (str, Field("", title="Evidence"))
    fields["action_points"] = (
        list[ActionPointInput],
        Field(default_factory=list, title="Action points (in priority order)"),
    )
    need: type[BaseModel] = SupportNeedInput
    if spec.themes:  # the theme a drop-down of the service's list
        need = create_model(
            "SupportNeedInput",
            __base__=SupportNeedInput,
            theme=(
                str,
                Field(
                    "",
                    max_length=200,
                    description="The need's theme",
                    json_schema_extra={"enum": ["", *spec.themes]},
                ),
            ),
        )
    fields["support_needs"] = (
        list.__class_getitem__(need),
        Field(
            default_factory=list,
            max_length=MAX_NEEDS,
            title="Support or training needs (§5), each with a review date",
        ),
    )
    fields["good_practice"] = (
        list[str],
        Field(default_factory=list, title="Examples of good practice"),
    )
    fields["high_risk"] = (
        str,
        Field("", title="High-risk issue (sent at once to the line manager and service manager)"),
    )
    fields["recorded_in_cms"] = (
        bool,
        Field(False, title="I have recorded on the case-management system that it is done"),
    )
    fields["recorded_by"] = (str, Field(spec.auditor_email, title="Your staff email"))
    return create_model(f"Audit{spec.audit_id}Form", __base__=base, **fields)


def description(spec: FormSpec, problems: list[str]) -> str:
    """The markdown shown above the form: the case, the deadline, and what was wrong last time."""
    lines = [
        f"## {spec.kind} audit of case {spec.case_ref}",
        "",
        f"Tool: {spec.tool}. Deadline: **{spec.due_on:%A %-d %B %Y}**."
        + (" A three-way feedback meeting is needed." if spec.three_way else ""),
        "",
        "Guidance for each question is shown under it (Appendix 1).",
    ]
    if problems:
        lines += ["", "### Please correct these and submit again", ""] + [
            f"- {p}" for p in problems
        ]
    return "\n".join(lines)


def to_form(spec: FormSpec, answer: BaseModel) -> AuditForm:
    data = answer.model_dump()
    answers = {
        code: Answer(value=data.get(code), evidence=data.get(f"{code}__evidence", "") or "")
        for code, *_ in spec.questions
    }
    return AuditForm(
        audit_id=spec.audit_id,
        recorded_by=data.get("recorded_by") or "",
        answers=answers,
        action_points=[ActionIn(**a) for a in data.get("action_points") or []],
        support_needs=[
            NeedIn(**(n | {"theme": str(n.get("theme") or "")}))
            for n in data.get("support_needs") or []
        ],
        good_practice=data.get("good_practice") or [],
        high_risk=data.get("high_risk") or "",
        recorded_in_cms=bool(data.get("recorded_in_cms")),
    )
