"""Audit forms saved part-way (a two-hour audit survives a closed tab): one draft per audit."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from models import AuditDraft
from models.types import utcnow


def load_draft(session: Session, audit_id: int) -> AuditDraft | None:
    return session.exec(select(AuditDraft).where(AuditDraft.audit_id == audit_id)).first()


def save_draft(
    session: Session, audit_id: int, staff_id: int, fields: dict[str, str]
) -> AuditDraft:
    """Keep the form's fields as typed, replacing the last draft; commits."""
    for _ in range(2):  # a second tab may have saved the first draft a moment ago
        draft = session.exec(
            select(AuditDraft).where(AuditDraft.audit_id == audit_id).with_for_update()
        ).first()
        if draft is None:
            draft = AuditDraft(audit_id=audit_id, staff_id=staff_id, fields=fields)
        else:
            draft.fields, draft.staff_id, draft.saved_at = dict(fields), staff_id, utcnow()
        session.add(draft)
        try:
            session.commit()
            return draft
        except sa.exc.IntegrityError:
            session.rollback()
    raise RuntimeError(f"the draft of audit {audit_id} could not be saved")
