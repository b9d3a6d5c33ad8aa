"""an email written as an .eml file (no SMTP host) is `written`, not `sent`

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Messages marked `sent` before this revision keep that status: which of them were only written
as files cannot be told apart afterwards.
"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAME = 'ck_emailmessage_email_status'
BEFORE = "status IN ('pending', 'sending', 'sent', 'failed')"
AFTER = "status IN ('pending', 'sending', 'sent', 'written', 'failed')"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('emailmessage', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_='check')
        batch_op.create_check_constraint(op.f(NAME), AFTER)


def downgrade() -> None:
    """Downgrade schema: `written` messages become `sent` again, as they were counted before."""
    op.execute("UPDATE emailmessage SET status = 'sent' WHERE status = 'written'")
    with op.batch_alter_table('emailmessage', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_='check')
        batch_op.create_check_constraint(op.f(NAME), BEFORE)
