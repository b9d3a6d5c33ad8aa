"""Question sets as versioned data files (App. 3, App. 4, themed variants for S7), loaded at init."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlmodel import Session, select

from models import Question, QuestionSet
from models.base import id_of
from models.enums import AnswerType, QuestionSetKind
from models.errors import DataFileError

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=80)]


class QuestionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    section: str = Field(min_length=1, max_length=120)
    text: str = Field(min_length=1)
    answer: AnswerType
    guidance: str = ""
    required: bool = True
    # H1: a key question names its inspection standard ("2.1") and is answered sufficient or not.
    standard: str = Field(default="", pattern=r"^(\d{1,2}\.\d{1,2})?$")

    @model_validator(mode="after")
    def _key_question(self) -> QuestionSpec:
        if bool(self.standard) != (self.answer is AnswerType.SUFFICIENCY):
            raise ValueError(
                "a key question has both 'standard' and 'answer: sufficiency'; other questions neither"
            )
        return self


class AddedQuestion(QuestionSpec):
    after: Code | None = Field(default=None, description="code of the question it follows")


class QuestionSetFile(BaseModel):
    """A question set, or a variant (`base: code@version`) that drops and adds questions."""

    model_config = ConfigDict(extra="forbid")

    code: Code
    version: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=200)
    kind: QuestionSetKind
    source: str = ""
    base: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]*@\d+$")
    questions: list[QuestionSpec] = []
    drop: list[Code] = []
    add: list[AddedQuestion] = []

    @model_validator(mode="after")
    def _shape(self) -> QuestionSetFile:
        if self.base is None and not self.questions:
            raise ValueError("a base question set needs 'questions'")
        if self.base is not None and self.questions:
            raise ValueError("a variant lists 'drop' and 'add', not 'questions'")
        if self.base is None and (self.drop or self.add):
            raise ValueError("'drop' and 'add' are only for a variant with a 'base'")
        return self


@dataclass(frozen=True)
class ResolvedSet:
    code: str
    version: int
    title: str
    kind: QuestionSetKind
    source: str
    base: str | None
    questions: tuple[QuestionSpec, ...]

    @property
    def key(self) -> str:
        return f"{self.code}@{self.version}"

    @property
    def checksum(self) -> str:
        payload = json.dumps(
            [
                self.title,
                self.kind.value,
                self.base,
                [_dump(q) for q in self.questions],
            ],
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


def _dump(question: QuestionSpec) -> dict[str, object]:
    """A question as its checksum sees it: without `standard` when empty, so the sets stored
    before key questions existed keep their checksums."""
    data = question.model_dump(mode="json")
    if not data["standard"]:
        del data["standard"]
    return data


def read_question_sets(directory: Path) -> dict[str, ResolvedSet]:
    """Every `*.yaml` in `directory`, variants resolved against their base, keyed `code@version`."""
    files: dict[str, tuple[Path, QuestionSetFile]] = {}
    for path in sorted(directory.glob("*.yaml")):
        spec = _parse(path)
        key = f"{spec.code}@{spec.version}"
        if key in files:
            raise DataFileError(f"{path.name}: {key} is also defined in {files[key][0].name}")
        files[key] = (path, spec)
    resolved: dict[str, ResolvedSet] = {}

    def resolve(key: str, chain: tuple[str, ...] = ()) -> ResolvedSet:
        if key in resolved:
            return resolved[key]
        path, spec = files[key]
        if spec.base is None:
            questions = list(spec.questions)
        else:
            if spec.base not in files:
                raise DataFileError(
                    f"{path.name}: field 'base': no question set {spec.base} in {directory}"
                )
            if spec.base in chain:
                raise DataFileError(f"{path.name}: field 'base': {spec.base} is its own ancestor")
            questions = _apply_variant(path.name, resolve(spec.base, (*chain, key)), spec)
        _check_unique(path.name, questions)
        resolved[key] = ResolvedSet(
            spec.code, spec.version, spec.title, spec.kind, spec.source, spec.base, tuple(questions)
        )
        return resolved[key]

    for key in files:
        resolve(key)
    return resolved


def _parse(path: Path) -> QuestionSetFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataFileError(f"{path.name}: not valid YAML: {exc}") from None
    try:
        return QuestionSetFile.model_validate(data)
    except ValidationError as exc:
        raise DataFileError.invalid(path.name, exc) from None


def _apply_variant(name: str, base: ResolvedSet, spec: QuestionSetFile) -> list[QuestionSpec]:
    codes = [q.code for q in base.questions]
    for code in spec.drop:
        if code not in codes:
            raise DataFileError(f"{name}: field 'drop': {base.key} has no question {code!r}")
    questions = [q for q in base.questions if q.code not in spec.drop]
    for added in spec.add:
        question = QuestionSpec(**added.model_dump(exclude={"after"}))
        if added.after is None:
            questions.append(question)
            continue
        positions = [i for i, q in enumerate(questions) if q.code == added.after]
        if not positions:
            raise DataFileError(
                f"{name}: field 'add.{added.code}.after': no question {added.after!r}"
            )
        questions.insert(positions[0] + 1, question)
    return questions


def _check_unique(name: str, questions: list[QuestionSpec]) -> None:
    seen: set[str] = set()
    for q in questions:
        if q.code in seen:
            raise DataFileError(f"{name}: question code {q.code!r} appears twice")
        seen.add(q.code)


@dataclass
class SyncResult:
    loaded: list[str]
    unchanged: list[str]


def sync_question_sets(session: Session, directory: Path) -> SyncResult:
    """Store every question set not yet in the database; a changed stored version is an error."""
    sets = read_question_sets(directory)
    stored = {f"{s.code}@{s.version}": s for s in session.exec(select(QuestionSet))}
    result = SyncResult([], [])
    # Bases before variants, so a variant can point at its base's row.
    for key in sorted(sets, key=lambda k: (sets[k].base is not None, k)):
        spec = sets[key]
        if key in stored:
            if stored[key].checksum != spec.checksum:
                raise DataFileError(
                    f"question set {key} differs from the version stored on "
                    f"{stored[key].loaded_at:%Y-%m-%d}: audits may already use it, so save the "
                    f"change as version {spec.version + 1} instead"
                )
            result.unchanged.append(key)
            continue
        row = QuestionSet(
            code=spec.code,
            version=spec.version,
            title=spec.title,
            kind=spec.kind,
            source=spec.source,
            checksum=spec.checksum,
            base_id=stored[spec.base].id if spec.base else None,
        )
        session.add(row)
        session.flush()
        stored[key] = row
        session.add_all(
            Question(
                question_set_id=id_of(row),
                code=q.code,
                position=i,
                section=q.section,
                text=q.text,
                answer_type=q.answer,
                guidance=q.guidance.strip(),
                required=q.required,
                standard=q.standard,
            )
            for i, q in enumerate(spec.questions, start=1)
        )
        result.loaded.append(key)
    session.flush()
    return result
