"""The domain of SPEC §1 as SQLModel tables; importing this package registers every table."""

from models.audits import (
    ActionPoint,
    Audit,
    Finding,
    GoodPractice,
    HighRiskIssue,
    Question,
    QuestionSet,
)
from models.feedback import Feedback, ImprovementPlan, PlanActivity, PlanObjective, PlanOutcome
from models.installation import Installation
from models.links import Link
from models.monthly import ExceptionFinding
from models.outbox import EmailMessage
from models.packs import PackSnapshot
from models.people import Case, CaseAllocation, ImportRun, Staff, Team
from models.recording import (
    Acknowledgement,
    AuditDraft,
    AuditEvent,
    ChaseStep,
    DeadlineRequest,
)
from models.sampling import SamplingRejection, SamplingRun, SamplingSelection
from models.support import SupportNeed

__all__ = [
    "Acknowledgement",
    "ActionPoint",
    "Audit",
    "AuditDraft",
    "AuditEvent",
    "ChaseStep",
    "Case",
    "EmailMessage",
    "ExceptionFinding",
    "CaseAllocation",
    "DeadlineRequest",
    "Feedback",
    "Finding",
    "GoodPractice",
    "HighRiskIssue",
    "ImportRun",
    "ImprovementPlan",
    "Installation",
    "Link",
    "PackSnapshot",
    "PlanActivity",
    "PlanObjective",
    "PlanOutcome",
    "Question",
    "QuestionSet",
    "SamplingRejection",
    "SamplingRun",
    "SamplingSelection",
    "Staff",
    "SupportNeed",
    "Team",
]
