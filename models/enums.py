"""Enumerations of the domain (SPEC §1), stored as their string values."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from typing import Self


class LabelledEnum(StrEnum):
    """A string enum whose members carry a human label and accepted spellings."""

    @classmethod
    def labels(cls) -> dict[str, str]:
        return {m.value: _LABELS.get((cls.__name__, m.value), m.value) for m in cls}

    @property
    def label(self) -> str:
        return _LABELS.get((type(self).__name__, self.value), self.value)

    @classmethod
    def parse(cls, raw: str) -> Self:
        """Accept the value, its label or a known alias, ignoring case, spaces and punctuation."""
        table = _spellings(cls)
        member = table.get(raw) or table.get(_norm(raw))
        if not isinstance(member, cls):  # None: no such spelling (the table holds only cls's)
            raise ValueError(raw)
        return member

    @classmethod
    def expected(cls) -> str:
        return ", ".join(f"{v} ({lbl})" if lbl != v else v for v, lbl in cls.labels().items())


_NOT_ALNUM = re.compile(r"[\W_]+")


@cache
def _spellings(enum: type[LabelledEnum]) -> dict[str, LabelledEnum]:
    """Every accepted spelling of every member, normalised, built once per enumeration."""
    table: dict[str, LabelledEnum] = {}
    for member in enum:
        for spelling in (
            member.value,
            member.label,
            *_ALIASES.get((enum.__name__, member.value), ()),
        ):
            table.setdefault(_norm(spelling), member)
            table.setdefault(spelling, member)  # exact spellings skip normalising: imports are hot
    return table


def _norm(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


class Role(LabelledEnum):
    CASE_MANAGER = "case_manager"
    OPERATIONAL_MANAGER = "operational_manager"
    SERVICE_MANAGER = "service_manager"
    QA_MANAGER = "qa_manager"
    PERFORMANCE_ANALYST = "performance_analyst"
    WORKFORCE_DEVELOPMENT_LEAD = "workforce_development_lead"
    HEAD_OF_SERVICE = "head_of_service"


class OrderType(LabelledEnum):
    REFERRAL_ORDER = "referral_order"
    YRO = "yro"
    DTO_CUSTODY = "dto_custody"
    DTO_LICENCE = "dto_licence"
    COMMUNITY_OTHER = "community_other"
    BAIL_ISS = "bail_iss"
    REMAND = "remand"
    OUT_OF_COURT = "out_of_court"

    @property
    def family(self) -> str:
        """The S5 mix group: Referral Order, YRO, DTO (custody and licence) or other."""
        if self in (OrderType.DTO_CUSTODY, OrderType.DTO_LICENCE):
            return "DTO"
        if self is OrderType.REFERRAL_ORDER:
            return "Referral Order"
        if self is OrderType.YRO:
            return "YRO"
        return "Other"


class Gender(LabelledEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    NOT_KNOWN = "not_known"


class SocialCareStatus(LabelledEnum):
    NONE = "none"
    CHILD_IN_NEED = "child_in_need"
    CHILD_PROTECTION = "child_protection"
    LOOKED_AFTER = "looked_after"
    CARE_LEAVER = "care_leaver"


class RiskLevel(LabelledEnum):
    """ROSH and vulnerability levels (Asset / AssetPlus)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


class MappaLevel(LabelledEnum):
    LEVEL_1 = "level_1"
    LEVEL_2 = "level_2"
    LEVEL_3 = "level_3"


class AuditKind(LabelledEnum):
    CASE_FILE = "case_file"
    SUPERVISION_FILE = "supervision_file"
    OBSERVATION = "observation"
    THEMED = "themed"
    PEER = "peer"
    MODERATION = "moderation"  # A5: a completed audit re-marked blind by a moderator
    SELF = "self"  # A2: a case manager's audit of their own case
    INSPECTION = "inspection"  # H3: a case of a mock inspection, with the inspection-style tool


# Management audits (S10 governs them). Moderations (A5) and self-audits (A2) are kept apart
# from their figures: a re-mark would count a case twice, and a self-audit is not a manager's.
MANAGEMENT_KINDS = (
    AuditKind.CASE_FILE,
    AuditKind.SUPERVISION_FILE,
    AuditKind.OBSERVATION,
    AuditKind.THEMED,
    AuditKind.PEER,
    AuditKind.INSPECTION,
)
APART = (AuditKind.MODERATION, AuditKind.SELF)


class AuditCategory(LabelledEnum):
    COMPLIANCE = "compliance"
    PERFORMANCE = "performance"
    PROCESS = "process"
    SYSTEM = "system"


class SelectionMethod(LabelledEnum):
    COMPLIANCE_QUEUE = "compliance_queue"
    RANDOM = "random"
    TEAM_ROTATION = "team_rotation"
    THEMED = "themed"
    TARGETED = "targeted"
    OBSERVATION_PROGRAMME = "observation_programme"
    PEER_AUDIT_DAY = "peer_audit_day"
    MODERATION = "moderation"
    REAUDIT = "reaudit"
    SELF_AUDIT = "self_audit"
    MOCK_INSPECTION = "mock_inspection"  # H3


class SamplingKind(LabelledEnum):
    """What a sampling run draws (S9): the month's sample, a themed (S7) or targeted (S8) one."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    THEMED = "themed"
    TARGETED = "targeted"
    OBSERVATION = "observation"
    PEER_AUDIT_DAY = "peer_audit_day"
    MODERATION = "moderation"
    REAUDIT = "reaudit"
    SELF_AUDIT = "self_audit"
    MOCK_INSPECTION = "mock_inspection"  # H3


class AuditStatus(LabelledEnum):
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    NOT_DONE = "not_done"
    WITHDRAWN = "withdrawn"


class Judgement(LabelledEnum):
    INSUFFICIENT = "insufficient"
    SUFFICIENT = "sufficient"
    GOOD = "good"
    EXCELLENT = "excellent"
    NOT_APPLICABLE = "not_applicable"


class YesNo(LabelledEnum):
    YES = "yes"
    NO = "no"
    NOT_APPLICABLE = "not_applicable"


class Sufficiency(LabelledEnum):
    """H1: an inspection-style key question's answer, stored as the Judgement of the same value."""

    SUFFICIENT = "sufficient"
    INSUFFICIENT = "insufficient"
    NOT_APPLICABLE = "not_applicable"


class AnswerType(LabelledEnum):
    JUDGEMENT = "judgement"
    YES_NO = "yes_no"
    COUNT = "count"
    TEXT = "text"
    SUFFICIENCY = "sufficiency"  # H1: sufficient / not sufficient, with evidence


class QuestionSetKind(LabelledEnum):
    CASE_AUDIT = "case_audit"
    OBSERVATION = "observation"


class ActionStatus(LabelledEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class NeedScope(LabelledEnum):
    """A4: a support or training need is one person's, or their team's."""

    INDIVIDUAL = "individual"
    TEAM = "team"


class NeedStatus(LabelledEnum):
    """A4: a need is open until its review finds it met (a review may set a later date instead);
    a case manager's own need closes when they leave."""

    OPEN = "open"
    MET = "met"
    CLOSED = "closed"


class FeedbackSource(LabelledEnum):
    VIEWPOINT_SURVEY = "viewpoint_survey"
    EXIT_SURVEY = "exit_survey"
    COMPLAINT = "complaint"
    COMPLIMENT = "compliment"
    PROFESSIONAL_FEEDBACK = "professional_feedback"
    CASE_MANAGEMENT_REVIEW = "case_management_review"


class EmailStatus(LabelledEnum):
    """E6: pending until sent; `sending` while a sender holds it; failed when permanent;
    `written` when it was only written as an .eml file because no SMTP host is set."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    WRITTEN = "written"
    FAILED = "failed"


class ImportKind(LabelledEnum):
    STAFF = "staff"
    CASES = "cases"
    FEEDBACK = "feedback"


_LABELS: dict[tuple[str, str], str] = {
    ("NeedScope", "individual"): "The case manager",
    ("NeedScope", "team"): "The whole team",
    ("NeedStatus", "open"): "Open",
    ("NeedStatus", "met"): "Met",
    ("NeedStatus", "closed"): "Closed (the case manager left)",
    ("Role", "case_manager"): "Case manager",
    ("Role", "operational_manager"): "Operational (team) manager",
    ("Role", "service_manager"): "Service manager",
    ("Role", "qa_manager"): "Quality assurance manager",
    ("Role", "performance_analyst"): "Performance analyst",
    ("Role", "workforce_development_lead"): "Workforce development lead",
    ("Role", "head_of_service"): "Head of service",
    ("OrderType", "referral_order"): "Referral Order",
    ("OrderType", "yro"): "YRO",
    ("OrderType", "dto_custody"): "DTO (custody)",
    ("OrderType", "dto_licence"): "DTO (licence)",
    ("OrderType", "community_other"): "Other community penalty",
    ("OrderType", "bail_iss"): "Bail supervision / ISS",
    ("OrderType", "remand"): "Remand",
    ("OrderType", "out_of_court"): "Out-of-court disposal",
    ("Gender", "male"): "Male",
    ("Gender", "female"): "Female",
    ("Gender", "other"): "Other",
    ("Gender", "not_known"): "Not known",
    ("SocialCareStatus", "none"): "None",
    ("SocialCareStatus", "child_in_need"): "Child in need",
    ("SocialCareStatus", "child_protection"): "Child protection plan",
    ("SocialCareStatus", "looked_after"): "Looked-after child",
    ("SocialCareStatus", "care_leaver"): "Care leaver",
    ("RiskLevel", "low"): "Low",
    ("RiskLevel", "medium"): "Medium",
    ("RiskLevel", "high"): "High",
    ("RiskLevel", "very_high"): "Very high",
    ("MappaLevel", "level_1"): "Level 1",
    ("MappaLevel", "level_2"): "Level 2",
    ("MappaLevel", "level_3"): "Level 3",
    ("AuditKind", "case_file"): "Case file",
    ("AuditKind", "supervision_file"): "Supervision file",
    ("AuditKind", "observation"): "Observation",
    ("AuditKind", "themed"): "Themed dip test",
    ("AuditKind", "peer"): "Peer audit",
    ("AuditKind", "moderation"): "Moderation",
    ("AuditKind", "self"): "Self-audit",
    ("AuditKind", "inspection"): "Mock inspection",
    ("Sufficiency", "sufficient"): "Sufficient",
    ("Sufficiency", "insufficient"): "Not sufficient",
    ("Sufficiency", "not_applicable"): "Not applicable",
    ("Judgement", "insufficient"): "Insufficient",
    ("Judgement", "sufficient"): "Sufficient",
    ("Judgement", "good"): "Good",
    ("Judgement", "excellent"): "Excellent",
    ("Judgement", "not_applicable"): "Not applicable",
    ("YesNo", "yes"): "Yes",
    ("YesNo", "no"): "No",
    ("YesNo", "not_applicable"): "Not applicable",
    ("AnswerType", "judgement"): "Judgement",
    ("AnswerType", "yes_no"): "Yes / no",
    ("AnswerType", "count"): "Count",
    ("AnswerType", "text"): "Text",
    ("AnswerType", "sufficiency"): "Sufficient / not sufficient",
    ("FeedbackSource", "viewpoint_survey"): "Viewpoint survey",
    ("FeedbackSource", "exit_survey"): "Exit survey",
    ("FeedbackSource", "complaint"): "Complaint",
    ("FeedbackSource", "compliment"): "Compliment",
    ("FeedbackSource", "professional_feedback"): "Professional feedback",
    ("FeedbackSource", "case_management_review"): "Case management review",
}

# Spellings seen in case-management extracts, accepted on import.
_ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Role", "operational_manager"): ("team manager", "operational manager"),
    ("Role", "qa_manager"): ("QA manager", "QA lead"),
    ("OrderType", "referral_order"): ("RO",),
    ("OrderType", "yro"): ("Youth Rehabilitation Order",),
    ("OrderType", "dto_custody"): ("DTO", "Detention and Training Order", "DTO custody"),
    ("OrderType", "dto_licence"): ("DTO licence", "licence", "DTO license"),
    ("OrderType", "community_other"): ("other community", "community penalty"),
    ("OrderType", "bail_iss"): ("bail", "bail supervision", "ISS", "bail ISS"),
    ("OrderType", "remand"): ("remanded", "remand to youth detention"),
    ("OrderType", "out_of_court"): (
        "OOCD",
        "out of court",
        "youth caution",
        "youth conditional caution",
        "community resolution",
    ),
    ("Gender", "male"): ("M", "boy"),
    ("Gender", "female"): ("F", "girl"),
    ("Gender", "not_known"): ("unknown", "not stated", "U"),
    ("SocialCareStatus", "none"): ("no", "not known to social care", "n/a"),
    ("SocialCareStatus", "child_in_need"): ("CIN",),
    ("SocialCareStatus", "child_protection"): ("CP", "CPP", "child protection"),
    ("SocialCareStatus", "looked_after"): ("LAC", "CLA", "looked after", "child looked after"),
    ("MappaLevel", "level_1"): ("1", "L1"),
    ("MappaLevel", "level_2"): ("2", "L2"),
    ("MappaLevel", "level_3"): ("3", "L3"),
    ("RiskLevel", "very_high"): ("VH",),
    ("RiskLevel", "high"): ("H",),
    ("RiskLevel", "medium"): ("M", "med"),
    ("RiskLevel", "low"): ("L",),
    ("Judgement", "not_applicable"): ("N/A", "NA"),
    ("YesNo", "not_applicable"): ("N/A", "NA"),
    ("Sufficiency", "not_applicable"): ("N/A", "NA"),
    ("Sufficiency", "insufficient"): ("not sufficient", "no"),
    ("Sufficiency", "sufficient"): ("yes",),
    ("YesNo", "yes"): ("Y",),
    ("YesNo", "no"): ("N",),
}
