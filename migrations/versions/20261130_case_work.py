"""case work: 承办人, how a case closed, saved queue views

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 04:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not a batch rebuild: rebuilding follow_up_case fails on SQLite when rows refer to it.
    # SQLite adds a nullable column with its foreign key in one ALTER TABLE; PostgreSQL adds
    # the constraint after the column.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'ALTER TABLE follow_up_case ADD COLUMN assignee_id INTEGER'
            ' CONSTRAINT fk_follow_up_case_assignee_id_staff_user REFERENCES staff_user (id)'
        )
    else:
        op.add_column('follow_up_case', sa.Column('assignee_id', sa.Integer(), nullable=True))
        op.create_foreign_key(
            'fk_follow_up_case_assignee_id_staff_user',
            'follow_up_case',
            'staff_user',
            ['assignee_id'],
            ['id'],
        )
    op.add_column('follow_up_case', sa.Column('close_reason', sa.String(length=16), nullable=True))
    op.create_index(
        'ix_follow_up_case_assignee_state', 'follow_up_case', ['assignee_id', 'state']
    )
    op.create_table(
        'case_view',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('query', sa.String(length=500), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['staff_user.id'], name='fk_case_view_user_id_staff_user'
        ),
        sa.PrimaryKeyConstraint('id', name='pk_case_view'),
        sa.UniqueConstraint('user_id', 'name', name='uq_case_view_user_name'),
    )
    with op.batch_alter_table('case_view', schema=None) as batch_op:
        batch_op.create_index('ix_case_view_user_id', ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_view', schema=None) as batch_op:
        batch_op.drop_index('ix_case_view_user_id')
    op.drop_table('case_view')
    with op.batch_alter_table('follow_up_case', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_case_assignee_state')
        if op.get_bind().dialect.name != 'sqlite':  # on SQLite it goes with the column
            batch_op.drop_constraint(
                'fk_follow_up_case_assignee_id_staff_user', type_='foreignkey'
            )
        batch_op.drop_column('close_reason')
        batch_op.drop_column('assignee_id')
