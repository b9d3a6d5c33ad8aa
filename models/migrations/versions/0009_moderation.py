"""A5 moderation: an audit may re-mark another blind; new audit kind, selection and sampling kind

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# (table, constraint, column, values before this revision)
CHECKS = [
    ('audit', 'ck_audit_audit_kind', 'kind',
     ['case_file', 'supervision_file', 'observation', 'themed', 'peer']),
    ('audit', 'ck_audit_selection_method', 'selection_method',
     ['compliance_queue', 'random', 'team_rotation', 'themed', 'targeted',
      'observation_programme', 'peer_audit_day']),
    ('samplingrun', 'ck_samplingrun_sampling_kind', 'kind',
     ['monthly', 'quarterly', 'themed', 'targeted', 'observation', 'peer_audit_day']),
]


def _check(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    """Upgrade schema."""
    for table, name, column, values in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            batch_op.create_check_constraint(op.f(name), _check(column, values + ['moderation']))
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moderates_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_moderates_id'), ['moderates_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_audit_moderates_id_audit'), 'audit', ['moderates_id'], ['id']
        )


def downgrade() -> None:
    """Downgrade schema: moderation audits, their runs and findings are deleted first."""
    moderation = "SELECT id FROM audit WHERE kind = 'moderation'"
    for table in ('finding', 'actionpoint', 'goodpractice', 'highriskissue', 'auditevent',
                  'auditdraft', 'acknowledgement', 'samplingselection'):
        op.execute(f"DELETE FROM {table} WHERE audit_id IN ({moderation})")
    op.execute("DELETE FROM audit WHERE kind = 'moderation'")
    op.execute("DELETE FROM samplingrejection WHERE run_id IN "
               "(SELECT id FROM samplingrun WHERE kind = 'moderation')")
    op.execute("DELETE FROM samplingrun WHERE kind = 'moderation'")
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_moderates_id_audit'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_audit_moderates_id'))
        batch_op.drop_column('moderates_id')
    for table, name, column, values in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            batch_op.create_check_constraint(op.f(name), _check(column, values))
