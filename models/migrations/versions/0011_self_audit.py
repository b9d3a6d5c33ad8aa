"""A2 self-audit: a case manager's audit of their own case

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# (table, constraint, column, values before this revision, value added)
CHECKS = [
    ('audit', 'ck_audit_audit_kind', 'kind',
     ['case_file', 'supervision_file', 'observation', 'themed', 'peer', 'moderation'], 'self'),
    ('audit', 'ck_audit_selection_method', 'selection_method',
     ['compliance_queue', 'random', 'team_rotation', 'themed', 'targeted',
      'observation_programme', 'peer_audit_day', 'moderation', 'reaudit'], 'self_audit'),
    ('samplingrun', 'ck_samplingrun_sampling_kind', 'kind',
     ['monthly', 'quarterly', 'themed', 'targeted', 'observation', 'peer_audit_day',
      'moderation', 'reaudit'], 'self_audit'),
]


def _check(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    """Upgrade schema."""
    for table, name, column, values, added in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            batch_op.create_check_constraint(op.f(name), _check(column, values + [added]))


def downgrade() -> None:
    """Downgrade schema: self-audits, their findings and their runs are deleted first."""
    selves = "SELECT id FROM audit WHERE kind = 'self'"
    op.execute(f"DELETE FROM deadlinerequest WHERE action_id IN "
               f"(SELECT id FROM actionpoint WHERE audit_id IN ({selves}))")
    for table in ('finding', 'actionpoint', 'goodpractice', 'highriskissue', 'auditevent',
                  'auditdraft', 'acknowledgement', 'samplingselection'):
        op.execute(f"DELETE FROM {table} WHERE audit_id IN ({selves})")
    op.execute("UPDATE audit SET moderates_id = NULL WHERE moderates_id IN "
               f"(SELECT id FROM ({selves}) AS s)")
    op.execute("UPDATE audit SET reaudits_id = NULL WHERE reaudits_id IN "
               f"(SELECT id FROM ({selves}) AS s)")
    op.execute("DELETE FROM audit WHERE kind = 'self'")
    op.execute("DELETE FROM samplingrejection WHERE run_id IN "
               "(SELECT id FROM samplingrun WHERE kind = 'self_audit')")
    op.execute("DELETE FROM samplingrun WHERE kind = 'self_audit'")
    for table, name, column, values, _ in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            batch_op.create_check_constraint(op.f(name), _check(column, values))
