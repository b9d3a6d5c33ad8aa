"""E5 for packs: free text reaches a pack only after every young person's name is removed."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlmodel import Session, col

from models import Case

NAME_REMOVED = "[name removed]"


class Redactor:
    """Removes the young people's names the caseload holds (whole names and their parts)."""

    def __init__(self, session: Session) -> None:
        words: set[str] = set()
        for (name,) in session.execute(
            sa.select(col(Case.young_person_name)).where(col(Case.young_person_name) != "")
        ):
            words.add(name.strip())
            words.update(part for part in re.split(r"[\s,]+", name) if len(part) >= 3)
        ordered = sorted((w for w in words if w), key=len, reverse=True)
        self._pattern = (
            re.compile(r"\b(?:" + "|".join(map(re.escape, ordered)) + r")\b") if ordered else None
        )

    def __call__(self, text: str) -> str:
        return self._pattern.sub(NAME_REMOVED, text) if self._pattern and text else text
