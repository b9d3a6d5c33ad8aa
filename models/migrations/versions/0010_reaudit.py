"""A1 re-audit: an audit may re-audit another after its action points are done

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# (table, constraint, column, values before this revision)
CHECKS = [
    ('audit', 'ck_audit_selection_method', 'selection_method',
     ['compliance_queue', 'random', 'team_rotation', 'themed', 'targeted',
      'observation_programme', 'peer_audit_day', 'moderation']),
    ('samplingrun', 'ck_samplingrun_sampling_kind', 'kind',
     ['monthly', 'quarterly', 'themed', 'targeted', 'observation', 'peer_audit_day',
      'moderation']),
]


def _check(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    """Upgrade schema."""
    for table, name, column, values in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            batch_op.create_check_constraint(op.f(name), _check(column, values + ['reaudit']))
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reaudits_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_reaudits_id'), ['reaudits_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_audit_reaudits_id_audit'), 'audit', ['reaudits_id'], ['id']
        )


def downgrade() -> None:
    """Downgrade schema: re-audits stay as the audits they are, no longer linked or so marked."""
    op.execute("UPDATE audit SET selection_method = 'random' WHERE selection_method = 'reaudit'")
    op.execute(
        "UPDATE samplingrun SET kind = 'targeted', theme = 're-audit' WHERE kind = 'reaudit'"
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_reaudits_id_audit'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_audit_reaudits_id'))
        batch_op.drop_column('reaudits_id')
    for table, name, column, values in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            batch_op.create_check_constraint(op.f(name), _check(column, values))
