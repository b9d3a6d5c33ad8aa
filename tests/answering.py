"""An audit's questions answered plainly, for tests that record audits through the one
recording path and care only about some of the answers."""

from __future__ import annotations

from sqlmodel import Session

from models import Audit
from models.enums import AnswerType
from tasks.recording.form import Answer
from tasks.recording.record import questions_for

PLAIN = {AnswerType.YES_NO: "yes", AnswerType.COUNT: "1", AnswerType.TEXT: "Seen on file"}


def plain_answers(
    session: Session,
    audit: Audit,
    given: dict[str, str] | None = None,
    judgement: str = "good",
    evidence: str = "",
) -> dict[str, Answer]:
    """Every question of the audit's tool answered: as `given` says (question code: value),
    else a judgement of `judgement`, "yes", "1" or "Seen on file" by the kind of question."""
    plain = PLAIN | {AnswerType.JUDGEMENT: judgement}
    return {
        q.code: Answer(value=(given or {}).get(q.code, plain[q.answer_type]), evidence=evidence)
        for q in questions_for(session, audit)
    }
