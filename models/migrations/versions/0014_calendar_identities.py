"""O5: calendars that update: the installation's own id (in every calendar UID) and a sequence
on audits and action points, raised when their calendar entry changes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

"""
from typing import Sequence, Union
import uuid
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: the id is made here, once, so every worker sharing the database uses it."""
    installation = op.create_table(
        'installation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uid', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_installation_one_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_installation')),
    )
    op.bulk_insert(installation, [
        {'id': 1, 'uid': uuid.uuid4().hex, 'created_at': datetime.now(timezone.utc)},
    ])
    for table in ('audit', 'actionpoint'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('calendar_sequence', sa.Integer(), nullable=False,
                                          server_default='0'))


def downgrade() -> None:
    """Downgrade schema: the calendar entries sent since keep their UIDs in people's calendars;
    upgrading again makes a new id, so later updates would not replace them."""
    for table in ('actionpoint', 'audit'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('calendar_sequence')
    op.drop_table('installation')
