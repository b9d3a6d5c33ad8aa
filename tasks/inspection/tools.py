"""H1: which audit tool audits a case: the 2012 framework's, or the inspection-style one, whose
court or out-of-court set is picked by the case's disposal."""

from __future__ import annotations

from models.enums import OrderType

DEFAULT_TOOL = "case-audit"  # the 2012 framework's tool (App. 3)
INSPECTION_TOOL = "inspection"  # inspection-court, or inspection-out-of-court by disposal
TOOLS = ("2012", INSPECTION_TOOL)  # what `--tool` accepts for a themed sample
# The disposals an inspection reads as cases. Bail and remand are not disposals: a case held on
# them keeps the 2012 tool, and a mock inspection leaves it out.
COURT = frozenset(
    {
        OrderType.REFERRAL_ORDER.value,
        OrderType.YRO.value,
        OrderType.DTO_CUSTODY.value,
        OrderType.DTO_LICENCE.value,
        OrderType.COMMUNITY_OTHER.value,
    }
)
CUSTODY = frozenset({OrderType.DTO_CUSTODY.value, OrderType.DTO_LICENCE.value})
OUT_OF_COURT = frozenset({OrderType.OUT_OF_COURT.value})


def set_code(tool: str, order_type: str) -> str:
    """The question set a case is audited with: `tool` itself, or for the inspection-style tool
    the court or out-of-court set by the case's disposal (the 2012 tool for bail or remand)."""
    if tool != INSPECTION_TOOL:
        return tool
    if order_type in OUT_OF_COURT:
        return "inspection-out-of-court"
    if order_type in COURT:
        return "inspection-court"
    return DEFAULT_TOOL
