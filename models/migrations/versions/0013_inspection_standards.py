"""H1-H3: the inspection-style tool's key questions (a standard, sufficient / not sufficient)
and the mock inspection's audits and runs

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# (table, constraint, column, values before this revision, value added)
CHECKS = [
    ('question', 'ck_question_answer_type', 'answer_type',
     ['judgement', 'yes_no', 'count', 'text'], 'sufficiency'),
    ('audit', 'ck_audit_audit_kind', 'kind',
     ['case_file', 'supervision_file', 'observation', 'themed', 'peer', 'moderation', 'self'],
     'inspection'),
    ('audit', 'ck_audit_selection_method', 'selection_method',
     ['compliance_queue', 'random', 'team_rotation', 'themed', 'targeted',
      'observation_programme', 'peer_audit_day', 'moderation', 'reaudit', 'self_audit'],
     'mock_inspection'),
    ('samplingrun', 'ck_samplingrun_sampling_kind', 'kind',
     ['monthly', 'quarterly', 'themed', 'targeted', 'observation', 'peer_audit_day',
      'moderation', 'reaudit', 'self_audit'], 'mock_inspection'),
]


def _check(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _widen(batch_op, column: str, before: list[str], after: list[str]) -> None:
    """A stored enumeration is a VARCHAR as long as its longest value: fit it to the new list."""
    old, new = max(map(len, before)), max(map(len, after))
    if old != new:
        batch_op.alter_column(column, existing_type=sa.String(length=old),
                              type_=sa.String(length=new), existing_nullable=False)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.add_column(sa.Column('standard', sa.String(length=10), nullable=False,
                                      server_default=''))
    for table, name, column, values, added in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            _widen(batch_op, column, values, values + [added])
            batch_op.create_check_constraint(op.f(name), _check(column, values + [added]))


def downgrade() -> None:
    """Downgrade schema: refused while anything uses the inspection-style tool or a mock
    inspection, which the older schema cannot hold (delete those first)."""
    bind = op.get_bind()
    for table, _, column, _, added in CHECKS:
        used = bind.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :v"),
                            {"v": added}).scalar()
        if used:
            raise RuntimeError(f"cannot downgrade: {used} {table} rows have {column} = {added!r}")
    for table, name, column, values, added in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            _widen(batch_op, column, values + [added], values)
            batch_op.create_check_constraint(op.f(name), _check(column, values))
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_column('standard')
